// Overview: health, active builds, queue, recent builds, quick actions and
// the daemon host's CPU, memory and disk.
import { reportError } from '../api.js';
import { displayStatus } from '../status.js';
import { confirmDialog, fmtAgo, fmtBytes, fmtMs, fmtPct, fmtTime, h, parseTime, render, shortId, toast } from '../util.js';

export function createOverview(root, ctx) {
  const { store, api, selectTab } = ctx;
  const health = h('div', { class: 'card' });
  const actions = h('div', { class: 'card' });
  const active = h('div', { class: 'card' });
  const queue = h('div', { class: 'card' });
  const recent = h('div', { class: 'card' });
  const host = h('div', { class: 'card' });
  const summary = h('div', { class: 'card' });
  root.append(h('div', { class: 'overview' },
    h('div', { class: 'col' }, summary, active, queue, recent),
    h('div', { class: 'col' }, health, actions, host)));

  let visible = false;
  let recentBuilds = null;
  let ticker = 0;

  function button(label, cls, onclick, attrs = {}) {
    return h('button', { type: 'button', class: `btn ${cls}`, onclick, ...attrs }, label);
  }

  async function run(btn, fn) {
    btn.disabled = true;
    try { await fn(); } catch (err) { reportError(err); } finally { btn.disabled = false; }
  }

  render(actions,
    h('h2', {}, 'Quick actions'),
    h('div', { class: 'row' },
      button('Build all', 'btn-primary', (e) => run(e.currentTarget, async () => {
        const r = await api.buildAll();
        toast(`Build ${shortId(r && r.id)} started`, { kind: 'success' });
      }), { id: 'action-build-all', 'data-need': 'build' }),
      button('Force rebuild all', '', (e) => run(e.currentTarget, async () => {
        if (!await confirmDialog('Force rebuild?', 'Every package will run its build command, ignoring state and cache.', 'Rebuild all')) return;
        const r = await api.buildAll(true);
        toast(`Build ${shortId(r && r.id)} started`, { kind: 'success' });
      }), { 'data-need': 'build' }),
      button('Clear cache', 'btn-danger', (e) => run(e.currentTarget, async () => {
        if (!await confirmDialog('Clear the cache?', 'Every cached build output will be deleted. Later builds will run again.', 'Clear cache')) return;
        await api.cacheClear();
        toast('Cache cleared', { kind: 'success' });
      }), { id: 'action-clear-cache', 'data-need': 'admin' })));

  function renderHealth() {
    const st = store.status;
    const hl = store.health;
    const ok = !!st;
    render(health,
      h('div', { class: 'card-head' }, h('h2', {}, 'Daemon'), h('span', { class: 'spacer' }),
        h('span', { class: ok ? 'health-ok' : 'health-bad' }, ok ? '● healthy' : '● unreachable')),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Version'), h('dd', {}, (st && st.version) || (hl && hl.version) || '–'),
        h('dt', {}, 'Workspace'), h('dd', { class: 'mono' }, (st && st.workspace) || (hl && hl.workspace) || '–'),
        h('dt', {}, 'Uptime'), h('dd', { id: 'daemon-uptime' }, uptime()),
        h('dt', {}, 'Concurrency'), h('dd', {}, st && st.concurrency ? String(st.concurrency) : '–'),
        h('dt', {}, 'Started'), h('dd', {}, st && st.started_at ? fmtTime(st.started_at) : '–')));
  }

  // uptime counts from started_at, so that it ticks between refreshes.
  function uptime() {
    const st = store.status;
    if (!st) return '–';
    const t = parseTime(st.started_at);
    return fmtMs(t ? Math.max(0, Date.now() - t.getTime()) : (st.uptime_s || 0) * 1000);
  }

  function meter(label, frac, text) {
    const cls = frac > 0.9 ? 'bad' : frac > 0.75 ? 'warn' : '';
    const pct = Math.max(0, Math.min(1, frac || 0));
    return h('div', { class: 'meter' },
      h('span', { class: 'muted' }, label),
      h('div', { class: `progress ${cls}`, role: 'progressbar', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(pct * 100) },
        h('span', { style: { width: `${(pct * 100).toFixed(1)}%` } })),
      h('span', { class: 'small nowrap' }, text));
  }

  function renderHost() {
    const x = store.status && store.status.host;
    if (!x) {
      render(host, h('h2', {}, 'Host'), h('p', { class: 'empty' }, 'No host metrics.'));
      return;
    }
    const memUsed = (x.mem_total_bytes || 0) - (x.mem_available_bytes || 0);
    const diskUsed = (x.disk_total_bytes || 0) - (x.disk_free_bytes || 0);
    const cpu = (x.cpu_percent || 0) / 100;
    render(host,
      h('h2', {}, 'Host'),
      meter('CPU', cpu, `${(x.cpu_percent || 0).toFixed(1)}%`),
      meter('Memory', x.mem_total_bytes ? memUsed / x.mem_total_bytes : 0, `${fmtBytes(memUsed)} / ${fmtBytes(x.mem_total_bytes)}`),
      meter('Disk', x.disk_total_bytes ? diskUsed / x.disk_total_bytes : 0, `${fmtBytes(diskUsed)} / ${fmtBytes(x.disk_total_bytes)}`),
      h('dl', { class: 'kv small', style: { marginTop: '10px' } },
        h('dt', {}, 'Load (1 min)'), h('dd', {}, x.load1 !== undefined ? Number(x.load1).toFixed(2) : '–'),
        h('dt', {}, 'Daemon RSS'), h('dd', {}, fmtBytes(x.rss_bytes)),
        h('dt', {}, 'Goroutines'), h('dd', {}, x.goroutines !== undefined ? String(x.goroutines) : '–')));
  }

  function renderSummary() {
    const counts = { built: 0, cached: 0, building: 0, failed: 0, skipped: 0, never: 0 };
    for (const n of store.packages.keys()) counts[store.displayStatusOf(n)]++;
    const c = (store.status && store.status.cache) || {};
    const lookups = (c.hits || 0) + (c.misses || 0);
    const stat = (value, label, id) => h('div', { class: 'stat', id }, h('span', { class: 'stat-value' }, value), h('span', { class: 'stat-label' }, label));
    render(summary,
      h('div', { class: 'stats' },
        stat(String(store.packages.size), 'packages', 'stat-packages'),
        stat(String(counts.built + counts.cached), 'up to date'),
        stat(String(counts.failed), 'failed'),
        stat(String(store.active.size), 'active builds', 'stat-active'),
        stat(String(c.entries ?? '–'), 'cache entries'),
        stat(lookups ? fmtPct((c.hits || 0) / lookups) : '–', 'cache hit ratio')));
  }

  function elapsed(b) {
    const t = parseTime(b.started_at);
    return t ? fmtMs(Date.now() - t.getTime()) : '–';
  }

  function renderActive() {
    const builds = [...store.active.values()];
    const head = h('div', { class: 'card-head' }, h('h2', {}, 'Active builds'),
      builds.length ? h('span', { class: 'badge badge-running' }, String(builds.length)) : null);
    if (!builds.length) {
      render(active, head, h('p', { class: 'empty' }, 'Nothing is building.'));
      return;
    }
    render(active, head, builds.map((b) => {
      const frac = b.total ? b.done / b.total : 0;
      const cancel = h('button', { type: 'button', class: 'btn btn-sm btn-danger', 'data-need': 'build' }, 'Cancel');
      cancel.addEventListener('click', async () => {
        cancel.disabled = true;
        try { await api.cancel(b.id); toast(`Cancelling ${shortId(b.id)}`); } catch (err) { reportError(err, 'cancel'); cancel.disabled = false; }
      });
      return h('div', { class: 'active-build', dataset: { build: b.id } },
        h('div', { class: 'row' },
          h('span', { class: 'mono' }, shortId(b.id)),
          b.requester ? h('span', { class: 'muted small' }, `by ${b.requester}`) : null,
          h('span', { class: 'spacer' }),
          h('span', { class: 'small nowrap', dataset: { elapsed: b.id } }, elapsed(b)),
          h('span', { class: 'small nowrap' }, `${b.done} / ${b.total || '?'} packages`),
          cancel),
        h('div', { class: 'progress', role: 'progressbar', 'aria-label': `Build ${shortId(b.id)} progress`, 'aria-valuemin': 0, 'aria-valuemax': b.total || 0, 'aria-valuenow': b.done },
          h('span', { style: { width: `${(frac * 100).toFixed(1)}%` } })),
        b.running.size ? h('div', { class: 'chips' }, [...b.running].map((n) => h('span', { class: 'chip' }, `⟳ ${n}`))) : null);
    }));
  }

  function renderQueue() {
    const q = [...store.queue.values()];
    render(queue, h('h2', {}, 'Queue'),
      q.length
        ? h('ul', { class: 'recent-list' }, q.map((b) => h('li', {},
          h('span', { class: 'badge badge-queued' }, 'queued'),
          h('span', { class: 'mono' }, shortId(b.id)),
          h('span', { class: 'muted small truncate' }, (b.packages && b.packages.length) ? b.packages.join(', ') : 'all packages'))))
        : h('p', { class: 'empty' }, 'The queue is empty.'));
  }

  function renderRecent() {
    const head = h('div', { class: 'card-head' }, h('h2', {}, 'Recent builds'), h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'link small', onclick: () => selectTab('builds') }, 'All builds →'));
    if (recentBuilds === null) { render(recent, head, h('p', { class: 'empty' }, 'Loading…')); return; }
    if (!recentBuilds.length) { render(recent, head, h('p', { class: 'empty' }, 'No builds yet. Press “Build all”.')); return; }
    render(recent, head, h('ul', { class: 'recent-list' }, recentBuilds.map((b) => {
      const tiers = {};
      for (const p of b.packages || []) {
        const k = displayStatus(p.status, p.tier);
        tiers[k] = (tiers[k] || 0) + 1;
      }
      return h('li', {},
        h('span', { class: `badge badge-${b.status}` }, b.status),
        h('button', { type: 'button', class: 'link mono', onclick: () => ctx.openBuild(b.id) }, shortId(b.id)),
        h('span', { class: 'muted small truncate' }, Object.entries(tiers).map(([k, v]) => `${v} ${k}`).join(' · ') || `${(b.targets || []).join(', ') || 'all'}`),
        h('span', { class: 'spacer' }),
        h('span', { class: 'small muted nowrap' }, b.requester || ''),
        h('span', { class: 'small nowrap' }, fmtMs(b.duration_ms)),
        h('span', { class: 'small muted nowrap' }, fmtAgo(b.finished_at || b.started_at || b.created_at)));
    })));
  }

  async function loadRecent() {
    try {
      const r = await api.builds({ limit: 8 });
      recentBuilds = (r && r.builds) || [];
    } catch (err) {
      if (recentBuilds === null) recentBuilds = [];
      reportError(err, 'builds');
    }
    if (visible) renderRecent();
  }

  function renderAll() {
    renderSummary(); renderHealth(); renderHost(); renderActive(); renderQueue(); renderRecent();
  }

  store.on('status', () => { if (visible) { renderSummary(); renderHealth(); renderHost(); } });
  store.on('active', () => { if (visible) { renderActive(); renderQueue(); renderSummary(); } });
  store.on('packages', () => { if (visible) renderSummary(); });
  store.on('builds', () => { if (visible) loadRecent(); });

  return {
    show() {
      visible = true;
      renderAll();
      loadRecent();
      ticker = setInterval(() => {
        const up = document.getElementById('daemon-uptime');
        if (up) up.textContent = uptime();
        for (const el of root.querySelectorAll('[data-elapsed]')) {
          const b = store.active.get(el.dataset.elapsed);
          if (b) el.textContent = elapsed(b);
        }
      }, 1000);
    },
    hide() { visible = false; clearInterval(ticker); },
  };
}
