// Activity: live charts of the last hour (builds per minute, error rate,
// cache hit ratio), the duration trend of one package over its history,
// and the alert history with each delivery's outcome. Everything comes from
// GET /builds and GET /alerts, reloaded when a build finishes.
import { ApiError, reportError } from '../api.js';
import { barChart, lineChart } from '../charts.js';
import { STATUS_COLORS } from '../status.js';
import { debounce, fmtAgo, fmtClock, fmtMs, fmtPct, fmtTime, h, parseTime, render, shortId } from '../util.js';

const WINDOW_MIN = 60; // minutes of history in the rate charts
const MINUTE = 60000;
const SLIDE_MS = 30000; // redraw so that the window moves on
const TREND_BUILDS = 100;
const TIER_COLORS = {
  full_build: '#58a6ff',
  cache_restore: '#39c5bb',
  hash_skip: '#a371f7',
  instant_skip: '#8b949e',
};

// bucketize counts builds per minute over the window ending at now:
// builds, failures, and cache lookups (a package restored from the cache
// is a hit, one whose command ran is a miss).
export function bucketize(builds, now = Date.now()) {
  const end = Math.floor(now / MINUTE) * MINUTE + MINUTE;
  const start = end - WINDOW_MIN * MINUTE;
  const buckets = [];
  for (let t = start; t < end; t += MINUTE) buckets.push({ t, builds: 0, failed: 0, hits: 0, misses: 0 });
  for (const b of builds) {
    if (!['success', 'failed', 'cancelled', 'interrupted'].includes(b.status)) continue;
    const d = parseTime(b.finished_at) || parseTime(b.started_at) || parseTime(b.created_at);
    if (!d || d.getTime() < start || d.getTime() >= end) continue;
    const k = buckets[Math.floor((d.getTime() - start) / MINUTE)];
    k.builds++;
    if (b.status === 'failed') k.failed++;
    for (const p of b.packages || []) {
      if (p.status !== 'success') continue;
      if (p.tier === 'cache_restore') k.hits++;
      else if (p.tier === 'full_build') k.misses++;
    }
  }
  return buckets;
}

export function createActivity(root, ctx) {
  const { store, api } = ctx;
  const stats = h('div', { class: 'stats', id: 'activity-stats' });
  const buildsChart = h('div', { id: 'chart-builds' });
  const errorsChart = h('div', { id: 'chart-errors' });
  const hitsChart = h('div', { id: 'chart-hits' });
  const trendChart = h('div', { id: 'chart-duration' });
  const pkgSelect = h('select', { id: 'duration-pkg', 'aria-label': 'Package whose durations to show' });
  const trendInfo = h('span', { class: 'muted small', id: 'duration-info' });
  const alertsBody = h('tbody', {});
  const alertsInfo = h('span', { class: 'muted small', id: 'alerts-info' });
  const channelsLine = h('div', { class: 'muted small', id: 'alert-channels', style: { marginTop: '8px' } });
  const legend = (items) => items.map(([label, color]) => h('span', { class: 'small', style: { color } }, label));

  const card = (title, note, body, ...extra) => h('div', { class: 'card' },
    h('div', { class: 'card-head' }, h('h2', {}, title), note ? h('span', { class: 'muted small' }, note) : null, h('span', { class: 'spacer' }), ...extra),
    body);

  root.append(
    h('div', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Last hour')), stats),
    h('div', { class: 'grid grid-2', style: { marginTop: '14px' } },
      card('Builds per minute', 'red: a build failed that minute', buildsChart),
      card('Error rate', 'failed builds per minute', errorsChart)),
    h('div', { class: 'grid grid-2', style: { marginTop: '14px' } },
      card('Cache hit ratio', 'packages restored / packages needing work', hitsChart),
      card('Duration trend', null, h('div', {}, trendChart, trendInfo), pkgSelect,
        ...legend(Object.entries(TIER_COLORS).map(([t, c]) => [`● ${t}`, c])))),
    h('div', { class: 'card', style: { marginTop: '14px' } },
      h('div', { class: 'card-head' }, h('h2', {}, 'Alerts'), alertsInfo),
      h('div', { class: 'table-wrap', style: { maxHeight: '420px' } },
        h('table', { id: 'alerts-table' },
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Rule'), h('th', { scope: 'col' }, 'Alert'),
            h('th', { scope: 'col' }, 'Build'), h('th', { scope: 'col' }, 'Deliveries'))),
          alertsBody)),
      channelsLine));

  let visible = false;
  let builds = [];
  let buckets = bucketize([]);
  let alerts = null; // null: not loaded; {available:false} without /alerts
  let trend = { pkg: '', points: [] };
  let loadedAt = 0;

  async function loadHistory() {
    const since = new Date(Date.now() - WINDOW_MIN * MINUTE).toISOString().replace(/\.\d+Z$/, 'Z');
    const r = await api.builds({ since, limit: 500 });
    builds = (r && r.builds) || [];
    buckets = bucketize(builds);
    loadedAt = Date.now();
  }

  async function loadAlerts() {
    try {
      const r = await api.alerts();
      alerts = { available: true, list: r.alerts || [], rules: r.rules || [], channels: r.channels || [] };
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) alerts = { available: false, list: [], rules: [], channels: [] };
      else throw err;
    }
  }

  async function loadTrend() {
    const pkg = pkgSelect.value;
    if (!pkg) { trend = { pkg: '', points: [] }; return; }
    const r = await api.builds({ package: pkg, limit: TREND_BUILDS });
    const points = [];
    for (const b of (r && r.builds) || []) {
      const p = (b.packages || []).find((x) => x.name === pkg);
      const d = parseTime(b.finished_at) || parseTime(b.created_at);
      if (!p || !d || (p.status !== 'success' && p.status !== 'failed')) continue;
      points.push({ x: d.getTime(), y: p.duration_ms || 0, tier: p.tier || '', status: p.status, build: b.id });
    }
    points.sort((a, b) => a.x - b.x);
    trend = { pkg, points };
  }

  function syncPackages() {
    const names = store.packageNames();
    const cur = pkgSelect.value;
    if (names.join('\n') === [...pkgSelect.options].map((o) => o.value).join('\n')) return;
    render(pkgSelect, names.map((n) => h('option', { value: n }, n)));
    if (names.includes(cur)) pkgSelect.value = cur;
  }

  async function reload({ trendToo = true } = {}) {
    syncPackages();
    const jobs = [loadHistory(), loadAlerts()];
    if (trendToo) jobs.push(loadTrend());
    const results = await Promise.allSettled(jobs);
    for (const r of results) if (r.status === 'rejected') reportError(r.reason, 'activity');
    if (visible) draw();
  }
  const reloadSoon = debounce(() => reload(), 500);

  function draw() {
    drawStats();
    drawRates();
    drawTrend();
    drawAlerts();
  }

  function drawStats() {
    const total = buckets.reduce((n, b) => n + b.builds, 0);
    const failed = buckets.reduce((n, b) => n + b.failed, 0);
    const hits = buckets.reduce((n, b) => n + b.hits, 0);
    const misses = buckets.reduce((n, b) => n + b.misses, 0);
    const since = Date.now() - WINDOW_MIN * MINUTE;
    const recent = alerts ? alerts.list.filter((a) => (parseTime(a.time)?.getTime() || 0) >= since).length : 0;
    const failing = alerts ? alerts.channels.reduce((n, c) => n + (c.failed || 0) + (c.dropped || 0), 0) : 0;
    const stat = (id, v, label) => h('div', { class: 'stat', id }, h('span', { class: 'stat-value' }, v), h('span', { class: 'stat-label' }, label));
    render(stats,
      stat('stat-builds-hour', String(total), 'builds'),
      stat('stat-builds-min', (total / WINDOW_MIN).toFixed(2), 'builds / min'),
      stat('stat-error-rate', total ? fmtPct(failed / total, 1) : '–', 'error rate'),
      stat('stat-hit-ratio', hits + misses ? fmtPct(hits / (hits + misses), 1) : '–', 'cache hit ratio'),
      stat('stat-alerts', alerts && alerts.available ? String(recent) : '–', 'alerts'),
      stat('stat-deliveries-failed', alerts && alerts.available ? String(failing) : '–', 'deliveries failed (since start)'));
  }

  function drawRates() {
    const label = (t) => fmtClock(new Date(t)).slice(0, 5);
    barChart(buildsChart, buckets.map((b) => ({
      value: b.builds,
      color: b.failed ? STATUS_COLORS.failed : STATUS_COLORS.built,
      title: `${label(b.t)}: ${b.builds} build${b.builds === 1 ? '' : 's'}${b.failed ? `, ${b.failed} failed` : ''}`,
      label: label(b.t),
    })), { empty: 'No build in the last hour' });
    const withBuilds = buckets.filter((b) => b.builds > 0);
    lineChart(errorsChart, [{
      points: withBuilds.map((b) => ({ x: b.t, y: b.failed / b.builds })), color: STATUS_COLORS.failed, label: 'error rate', fill: true,
    }], { yMax: 1, yFormat: (v) => fmtPct(v), xFormat: (x) => label(x), empty: 'No build in the last hour' });
    const withLookups = buckets.filter((b) => b.hits + b.misses > 0);
    lineChart(hitsChart, [{
      points: withLookups.map((b) => ({ x: b.t, y: b.hits / (b.hits + b.misses) })), color: TIER_COLORS.cache_restore, label: 'cache hit ratio', fill: true,
    }], { yMax: 1, yFormat: (v) => fmtPct(v), xFormat: (x) => label(x), empty: 'No cache lookup in the last hour' });
  }

  function drawTrend() {
    const series = Object.entries(TIER_COLORS).map(([tier, color]) => ({
      points: trend.points.filter((p) => p.status === 'success' && p.tier === tier), color, label: tier,
    }));
    series.push({ points: trend.points.filter((p) => p.status === 'failed'), color: STATUS_COLORS.failed, label: 'failed', dashed: true });
    lineChart(trendChart, series.filter((s) => s.points.length), {
      yFormat: (v) => fmtMs(v), xFormat: (x) => fmtTime(new Date(x)),
      empty: trend.pkg ? `No finished build of ${trend.pkg} yet` : 'No package',
    });
    const full = trend.points.filter((p) => p.status === 'success' && p.tier === 'full_build').map((p) => p.y).sort((a, b) => a - b);
    const median = full.length ? full[Math.floor((full.length - 1) / 2)] : null;
    trendInfo.textContent = trend.pkg
      ? `${trend.points.length} build${trend.points.length === 1 ? '' : 's'} of ${trend.pkg}${median !== null ? ` · median full build ${fmtMs(median)}` : ''}`
      : '';
  }

  function drawAlerts() {
    if (!alerts) { render(alertsBody, h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'Loading…'))); return; }
    if (!alerts.available) {
      alertsInfo.textContent = '';
      render(alertsBody, h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'This daemon has no alert history (GET /alerts).')));
      channelsLine.textContent = '';
      return;
    }
    alertsInfo.textContent = alerts.rules.length
      ? `${alerts.rules.length} rule${alerts.rules.length === 1 ? '' : 's'} · ${alerts.list.length} alert${alerts.list.length === 1 ? '' : 's'} kept`
      : 'no alert rule configured (see "alerts" in .buildnet/config.json)';
    render(channelsLine, alerts.channels.map((c) => h('span', { class: 'nowrap', style: { marginRight: '14px' }, dataset: { channel: c.name } },
      `${c.name} (${c.type}): ${c.delivered} delivered, ${c.failed} failed, ${c.dropped} dropped, ${c.attempt_errors} failed attempts${c.queued ? `, ${c.queued} queued` : ''}`)));
    if (!alerts.list.length) {
      render(alertsBody, h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No alert has fired.')));
      return;
    }
    render(alertsBody, alerts.list.map((a) => h('tr', { dataset: { rule: a.rule, kind: a.kind } },
      h('td', { class: 'nowrap', title: fmtTime(a.time) }, fmtAgo(a.time)),
      h('td', {}, h('span', { class: 'mono' }, a.rule), h('div', { class: 'muted small' }, a.kind)),
      h('td', {}, h('div', {}, a.title), a.text ? h('div', { class: 'muted small', style: { whiteSpace: 'pre-wrap' } }, a.text) : null),
      h('td', { class: 'mono' }, a.build_id
        ? h('button', { type: 'button', class: 'link mono', onclick: () => ctx.openBuild(a.build_id) }, shortId(a.build_id))
        : '–'),
      h('td', {}, (a.deliveries || []).length
        ? (a.deliveries || []).map((d) => h('div', { class: 'delivery', dataset: { channel: d.channel, status: d.status } },
          h('span', { class: `badge badge-${{ delivered: 'success', failed: 'failed', dropped: 'failed', pending: 'queued' }[d.status] || 'unknown'}` }, d.status),
          ' ', h('span', { class: 'mono' }, d.channel),
          h('span', { class: 'muted small' }, ` · ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`),
          d.error ? h('div', { class: 'muted small delivery-error' }, d.error) : null))
        : h('span', { class: 'muted small' }, 'no channel')))));
  }

  pkgSelect.addEventListener('change', async () => {
    try {
      await loadTrend();
    } catch (err) {
      reportError(err, 'duration trend');
    }
    if (visible) drawTrend();
  });
  store.on('builds', () => reloadSoon());
  store.on('packages', (p) => { if (p && p.structural) syncPackages(); });
  store.on('status', () => syncPackages());
  window.addEventListener('resize', debounce(() => { if (visible) draw(); }, 200));
  setInterval(() => {
    if (!visible) return;
    if (Date.now() - loadedAt > 5 * MINUTE) reload({ trendToo: false });
    else { buckets = bucketize(builds); draw(); }
  }, SLIDE_MS);

  return {
    show() {
      visible = true;
      syncPackages();
      draw();
      reload();
    },
    hide() { visible = false; },
    // data is what the charts show (the browser test reads it).
    data: () => ({ buckets, alerts, trend }),
    reload,
  };
}
