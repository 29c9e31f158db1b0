// The daemon's HTTP API (see api.md). Every call goes to the origin that
// served the panel; errors become ApiError with the server's code.
import { toast } from './util.js';

// ApiError is an error answer: {"error":{"code","message"}}.
export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || (status ? `http_${status}` : 'network');
    this.details = details;
  }
}

function url(path, query) {
  const u = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === '') continue;
    u.searchParams.set(k, String(v));
  }
  return u.pathname + u.search;
}

// The login, kept for the browser session (sessionStorage): who is logged
// in, the role, the session and the CSRF token. The access token itself
// stays in an HttpOnly cookie the page cannot read.
const AUTH_KEY = 'buildnet.auth';

export const auth = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(AUTH_KEY) || 'null'); } catch { return null; }
  },
  set(v) { if (v) sessionStorage.setItem(AUTH_KEY, JSON.stringify(v)); else sessionStorage.removeItem(AUTH_KEY); },
  // onExpired is called when the daemon answers 401 and a refresh fails.
  onExpired: () => {},
};

const RANKS = { read: 1, build: 2, admin: 3 };

// can reports whether the logged-in role allows what needs role.
export function can(role) {
  const a = auth.get();
  return !!a && (RANKS[a.role] || 0) >= (RANKS[role] || 99);
}

let refreshing = null;

// refresh renews the access cookie with the refresh cookie, once at a time.
async function refresh() {
  if (!refreshing) {
    refreshing = fetch('/auth/refresh', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })
      .then(async (res) => {
        if (!res.ok) return false;
        const j = await res.json();
        const a = auth.get() || {};
        auth.set({ ...a, csrf: j.csrf_token, session: j.session, role: j.role, actor: j.actor, name: j.name, kind: j.kind });
        return true;
      })
      .catch(() => false)
      .finally(() => { setTimeout(() => { refreshing = null; }, 0); });
  }
  return refreshing;
}

// request calls the API and returns the decoded JSON (or text for text/*).
// body is sent as JSON; rawBody, a string already in JSON, is sent as it
// is (so that the server's error positions refer to the user's text).
export async function request(method, path, { query, body, rawBody, signal, retried = false } = {}) {
  const init = { method, headers: { Accept: 'application/json' }, signal, credentials: 'same-origin' };
  if (rawBody !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = rawBody;
  } else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const a = auth.get();
  if (a && a.csrf && !['GET', 'HEAD'].includes(method)) init.headers['X-CSRF-Token'] = a.csrf;
  let res;
  try {
    res = await fetch(url(path, query), init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', `cannot reach the daemon (${err && err.message ? err.message : err})`);
  }
  const type = res.headers.get('Content-Type') || '';
  if (res.status === 401 && !path.startsWith('/auth/')) {
    if (!retried && await refresh()) return request(method, path, { query, body, rawBody, signal, retried: true });
    auth.set(null);
    auth.onExpired();
  }
  if (!res.ok) {
    let code = '';
    let message = `${res.status} ${res.statusText}`;
    let details = {};
    if (type.includes('json')) {
      try {
        const j = await res.json();
        if (j && j.error) {
          code = j.error.code || '';
          message = j.error.message || message;
          details = j.error;
        }
      } catch { /* keep the status line */ }
    }
    throw new ApiError(res.status, code, message, details);
  }
  if (res.status === 204) return null;
  if (type.includes('json')) return res.json();
  return res.text();
}

export const get = (path, query, opts) => request('GET', path, { ...opts, query });
export const post = (path, body, query) => request('POST', path, { body, query });
export const put = (path, body, query) => request('PUT', path, { body, query });

// reportError shows err as a toast (ignoring aborted requests).
export function reportError(err, what = '') {
  if (!err || err.name === 'AbortError') return;
  let msg = err.message || String(err);
  const sugg = err.details && Array.isArray(err.details.suggestions) ? err.details.suggestions : [];
  if (sugg.length && !sugg.some((s) => msg.includes(s))) {
    msg += ` (did you mean ${sugg.join(', ')}?)`;
  }
  toast(msg, { kind: 'error', title: [what, err.code].filter(Boolean).join(' · ') });
}

// The endpoints the panel uses.
export const api = {
  health: () => get('/health'),
  status: () => get('/status'),
  graph: () => get('/graph'),
  config: () => get('/config'),
  // putConfig sends the editor's text (valid JSON) as the new configuration.
  putConfig: (text) => request('PUT', '/config', { rawBody: text }),
  templates: () => get('/templates'),
  applyTemplate: (name, values) => post(`/templates/${encodeURIComponent(name)}/apply`, { values }),
  why: (pkg, since) => get(`/why/${encodeURIComponent(pkg)}`, { since }),
  inputDiff: (a, b) => get('/diff', { a, b }),
  builds: (q, opts) => get('/builds', q, opts),
  build: (id) => get(`/builds/${encodeURIComponent(id)}`),
  buildLog: (id, pkg) => get(`/builds/${encodeURIComponent(id)}/log`, { package: pkg }),
  buildLogURL: (id, pkg) => url(`/builds/${encodeURIComponent(id)}/log`, { package: pkg, download: 1 }),
  cancel: (id) => post(`/builds/${encodeURIComponent(id)}/cancel`),
  buildAll: (force = false) => post('/build', force ? { force: true } : {}),
  buildPackage: (name, force = false) => post(`/build/${encodeURIComponent(name)}`, force ? { force: true } : undefined),
  cacheStats: () => get('/cache/stats'),
  cacheEntries: (q) => get('/cache/entries', q),
  cacheClear: () => post('/cache/clear'),
  alerts: () => get('/alerts'),
  login: (creds) => post('/auth/login', { ...creds, cookie: true }),
  logout: () => post('/auth/logout'),
  me: () => get('/auth/me'),
  audit: (q, opts) => get('/audit', q, opts),
  auditExportURL: (q) => url('/audit/export', q),
  files: () => get('/files'),
  list: (path) => get('/files/list', { path }),
  file: (path) => get('/files/content', { path }),
  rawURL: (path) => url('/files/raw', { path }),
  saveFile: (path, content, base) => put('/files/content', { content, base_sha256: base }, { path }),
  moveFile: (from, to) => post('/files/move', { from, to }),
  diff: (path, from, to) => get('/files/diff', { path, from, to }),
  history: (path) => get('/files/history', { path }),
};
