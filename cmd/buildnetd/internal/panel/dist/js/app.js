// Entry point: tabs, the live connection and the views.
import { api, auth, reportError } from './api.js';
import { Live } from './live.js';
import { Store } from './store.js';
import { toast } from './util.js';
import { createOverview } from './views/overview.js';
import { createPackages } from './views/packages.js';
import { createBuilds } from './views/builds.js';
import { createCache } from './views/cache.js';
import { createActivity } from './views/activity.js';
import { createConfig } from './views/config.js';
import { createLogs } from './views/logs.js';
import { createFiles } from './views/files.js';
import { createAudit } from './views/audit.js';

const TABS = ['overview', 'packages', 'builds', 'cache', 'activity', 'config', 'logs', 'files', 'audit'];
const STATUS_EVERY_MS = 5000;

const store = new Store();
const ctx = { store, api, selectTab: null };
const views = {};
let current = '';

function tabButton(name) { return document.getElementById(`tab-${name}`); }
function tabPanel(name) { return document.getElementById(`panel-${name}`); }

function selectTab(name, { focus = false, updateHash = true } = {}) {
  if (!TABS.includes(name)) name = 'overview';
  if (name === current) return;
  if (current && views[current]) views[current].hide?.();
  for (const t of TABS) {
    const selected = t === name;
    const btn = tabButton(t);
    btn.setAttribute('aria-selected', String(selected));
    btn.tabIndex = selected ? 0 : -1;
    tabPanel(t).hidden = !selected;
  }
  current = name;
  if (focus) tabButton(name).focus();
  if (updateHash && window.location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  views[name].show?.();
}
ctx.selectTab = selectTab;
ctx.openBuild = (id) => { selectTab('builds'); views.builds.open(id); };
// openWhy shows why a package got its tier in its last build.
ctx.openWhy = (pkg) => { selectTab('builds'); return views.builds.why(pkg); };

function setupTabs() {
  const list = document.querySelector('[role="tablist"]');
  list.addEventListener('click', (e) => {
    const btn = e.target.closest('[role="tab"]');
    if (btn) selectTab(btn.id.slice(4));
  });
  list.addEventListener('keydown', (e) => {
    const i = TABS.indexOf(current);
    let next = null;
    if (e.key === 'ArrowRight') next = TABS[(i + 1) % TABS.length];
    else if (e.key === 'ArrowLeft') next = TABS[(i - 1 + TABS.length) % TABS.length];
    else if (e.key === 'Home') next = TABS[0];
    else if (e.key === 'End') next = TABS[TABS.length - 1];
    if (next) { e.preventDefault(); selectTab(next, { focus: true }); }
  });
  window.addEventListener('hashchange', () => {
    // only tab names route; other fragments (the skip link's #main) do not
    const name = window.location.hash.slice(1);
    if (TABS.includes(name)) selectTab(name, { updateHash: false });
  });
}

function setLive(state, detail) {
  const dot = document.getElementById('live-dot');
  const label = document.getElementById('live-label');
  dot.dataset.state = state;
  const text = { ws: 'live', sse: 'live (SSE)', connecting: 'connecting…', offline: 'offline' }[state] || state;
  label.textContent = text;
  document.getElementById('live').title = detail ? `${text}: ${detail}` : text;
}

// showUser shows who is logged in and lets the page hide what the role
// cannot do (body[data-role], see panel.css).
function showUser(a) {
  document.body.dataset.role = a.role;
  document.body.dataset.auth = 'in';
  document.getElementById('whoami').hidden = false;
  document.getElementById('whoami-name').textContent = a.name && a.kind === 'key' ? `key ${a.name}` : a.name || a.actor;
  const role = document.getElementById('whoami-role');
  role.textContent = a.role;
  role.dataset.role = a.role;
}

// login resolves once someone is logged in: with the login kept for this
// browser session, by refreshing the cookie of an earlier one, or through
// the login form (an API key, or a user and password).
async function login() {
  const kept = auth.get();
  if (kept && kept.csrf) {
    try {
      const me = await api.me();
      const a = { ...kept, role: me.role, actor: me.actor, name: me.name, kind: me.kind };
      auth.set(a);
      return a;
    } catch { /* log in again */ }
  }
  // A login made in another tab of this browser left its CSRF token in a
  // readable cookie; the access token is in an HttpOnly one.
  const csrf = (document.cookie.split('; ').find((c) => c.startsWith('bn_csrf=')) || '').slice('bn_csrf='.length);
  if (csrf) {
    auth.set({ csrf });
    try {
      const me = await api.me();
      const a = { csrf: (auth.get() || {}).csrf || csrf, session: me.session, role: me.role, actor: me.actor, name: me.name, kind: me.kind };
      auth.set(a);
      return a;
    } catch { auth.set(null); }
  }
  document.body.dataset.auth = 'out';
  const form = document.getElementById('login');
  const err = document.getElementById('login-error');
  form.hidden = false;
  document.getElementById('login-key').focus();
  return new Promise((resolve) => {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      const key = document.getElementById('login-key').value.trim();
      const user = document.getElementById('login-user').value.trim();
      const password = document.getElementById('login-password').value;
      if (!key && !(user && password)) {
        err.textContent = 'Enter an API key, or a user and password.';
        return;
      }
      const submit = document.getElementById('login-submit');
      submit.disabled = true;
      try {
        const j = await api.login(key ? { key } : { user, password });
        const a = { csrf: j.csrf_token, session: j.session, role: j.role, actor: j.actor, name: j.name, kind: j.kind };
        auth.set(a);
        form.hidden = true;
        document.getElementById('login-password').value = '';
        document.getElementById('login-key').value = '';
        resolve(a);
      } catch (e2) {
        err.textContent = e2.message || String(e2);
      } finally {
        submit.disabled = false;
      }
    });
  });
}

async function main() {
  const who = await login();
  showUser(who);
  ctx.auth = who;
  auth.onExpired = () => { if (document.body.dataset.auth !== 'out') window.location.reload(); };
  document.getElementById('logout').addEventListener('click', async () => {
    try { await api.logout(); } catch { /* logged out anyway */ }
    auth.set(null);
    window.location.reload();
  });
  setupTabs();
  views.overview = createOverview(tabPanel('overview'), ctx);
  views.packages = createPackages(tabPanel('packages'), ctx);
  views.builds = createBuilds(tabPanel('builds'), ctx);
  views.cache = createCache(tabPanel('cache'), ctx);
  views.activity = createActivity(tabPanel('activity'), ctx);
  views.config = createConfig(tabPanel('config'), ctx);
  views.logs = createLogs(tabPanel('logs'), ctx);
  views.files = createFiles(tabPanel('files'), ctx);
  views.audit = createAudit(tabPanel('audit'), ctx);
  selectTab(window.location.hash.slice(1) || 'overview', { updateHash: false });

  let wasLive = false;
  const live = new Live({
    onEvent: (ev) => store.handleEvent(ev),
    onState: (state, detail) => {
      setLive(state, detail);
      const isLive = state === 'ws' || state === 'sse';
      // events may have been missed while the stream was down
      if (isLive && wasLive === false) store.refreshSoon();
      if (state === 'offline' && wasLive) toast('Lost the live connection to the daemon; reconnecting…', { kind: 'error', title: 'live' });
      wasLive = isLive;
    },
    onError: (err) => reportError(err, 'live'),
  });
  ctx.live = live;

  await Promise.allSettled([
    api.health().then((hl) => {
      store.health = hl;
      const ws = document.getElementById('workspace');
      ws.textContent = hl.workspace || '';
      if (hl.workspace) document.title = `BuildNet · ${hl.workspace.split('/').filter(Boolean).pop() || hl.workspace}`;
    }),
    store.loadGraph(),
    store.refresh(),
  ]);
  live.start();

  setInterval(() => {
    if (document.visibilityState === 'visible') store.refresh().catch(() => {});
  }, STATUS_EVERY_MS);
  document.body.dataset.ready = 'true';
}

// window.buildnet is a debugging handle (and what the browser test reads).
window.buildnet = { store, views, ctx };
main().catch((err) => reportError(err, 'panel'));
