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

// request calls the API and returns the decoded JSON (or text for text/*).
export async function request(method, path, { query, body, signal } = {}) {
  const init = { method, headers: { Accept: 'application/json' }, signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url(path, query), init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', `cannot reach the daemon (${err && err.message ? err.message : err})`);
  }
  const type = res.headers.get('Content-Type') || '';
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
};
