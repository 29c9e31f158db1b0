// Entry point: tabs, the live connection and the views.
import { api, reportError } from './api.js';
import { Live } from './live.js';
import { Store } from './store.js';
import { toast } from './util.js';
import { createOverview } from './views/overview.js';
import { createPackages } from './views/packages.js';
import { createBuilds } from './views/builds.js';
import { createCache } from './views/cache.js';
import { createConfig } from './views/config.js';
import { createLogs } from './views/logs.js';

const TABS = ['overview', 'packages', 'builds', 'cache', 'config', 'logs'];
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

async function main() {
  setupTabs();
  views.overview = createOverview(tabPanel('overview'), ctx);
  views.packages = createPackages(tabPanel('packages'), ctx);
  views.builds = createBuilds(tabPanel('builds'), ctx);
  views.cache = createCache(tabPanel('cache'), ctx);
  views.config = createConfig(tabPanel('config'), ctx);
  views.logs = createLogs(tabPanel('logs'), ctx);
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
