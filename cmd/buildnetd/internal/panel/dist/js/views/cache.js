// Cache: stats, the hit ratio over time (sampled from /cache/stats while
// the page is open, kept in memory), the entries browser and clearing.
import { reportError } from '../api.js';
import { lineChart } from '../charts.js';
import { STATUS_COLORS } from '../status.js';
import { confirmDialog, debounce, fmtAgo, fmtBytes, fmtClock, fmtPct, fmtTime, h, render, toast } from '../util.js';

const SAMPLE_MS = 5000;
const MAX_SAMPLES = 720; // an hour at one sample every five seconds
const PAGE = 100;

export function createCache(root, { store, api }) {
  const stats = h('div', { class: 'stats', id: 'cache-stats' });
  const chart = h('div', { id: 'cache-chart' });
  const filter = h('input', { type: 'search', placeholder: 'Filter by package or key…', 'aria-label': 'Filter cache entries', id: 'cache-filter' });
  const tbody = h('tbody', {});
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load more');
  const info = h('span', { class: 'muted small' });
  const clear = h('button', { type: 'button', class: 'btn btn-danger', id: 'cache-clear', 'data-need': 'admin' }, 'Clear cache…');
  const refresh = h('button', { type: 'button', class: 'btn' }, 'Refresh');
  const cols = [
    ['key', 'Key'], ['package', 'Package'], ['size', 'Size'], ['files', 'Files'], ['created_at', 'Created'], ['last_used', 'Last used'],
  ];
  const heads = cols.map(([k, label]) => h('th', { scope: 'col', class: k === 'size' || k === 'files' ? 'num' : '', 'aria-sort': 'none' },
    h('button', { type: 'button', class: 'link', style: { color: 'inherit' }, onclick: () => sortBy(k) }, label)));

  root.append(
    h('div', { class: 'grid grid-2' },
      h('div', { class: 'card' },
        h('div', { class: 'card-head' }, h('h2', {}, 'Cache'), h('span', { class: 'spacer' }), refresh, clear),
        stats),
      h('div', { class: 'card' },
        h('div', { class: 'card-head' }, h('h2', {}, 'Hit ratio'),
          h('span', { class: 'muted small' }, 'sampled every 5 s while this page is open'),
          h('span', { class: 'spacer' }),
          h('span', { class: 'small', style: { color: STATUS_COLORS.built } }, '— overall'),
          h('span', { class: 'small', style: { color: '#58a6ff' } }, '- - per interval')),
        chart)),
    h('div', { class: 'card', style: { marginTop: '14px' } },
      h('div', { class: 'card-head' }, h('h2', {}, 'Entries'), info, h('span', { class: 'spacer' }), filter),
      h('div', { class: 'table-wrap', style: { maxHeight: '520px' } },
        h('table', { id: 'cache-entries' }, h('thead', {}, h('tr', {}, heads)), tbody)),
      h('div', { class: 'row', style: { marginTop: '10px' } }, more)));

  const samples = []; // {t, hits, misses}
  let last = null;
  let sampleFailed = false;
  let entries = [];
  let next = '';
  let visible = false;
  let stale = true;
  let sort = { key: 'last_used', dir: -1 };

  async function sample() {
    try {
      const s = await api.cacheStats();
      last = s;
      samples.push({ t: Date.now(), hits: s.hits || 0, misses: s.misses || 0 });
      if (samples.length > MAX_SAMPLES) samples.shift();
      sampleFailed = false;
      if (visible) { renderStats(); renderChart(); }
    } catch (err) {
      // report once per outage, not every five seconds
      if (visible && !sampleFailed) reportError(err, 'cache stats');
      sampleFailed = true;
    }
  }

  function renderStats() {
    const s = last || (store.status && store.status.cache);
    if (!s) { render(stats, h('p', { class: 'empty' }, 'Loading…')); return; }
    const lookups = (s.hits || 0) + (s.misses || 0);
    const stat = (v, label) => h('div', { class: 'stat' }, h('span', { class: 'stat-value' }, v), h('span', { class: 'stat-label' }, label));
    render(stats,
      stat(String(s.entries ?? 0), 'entries'),
      stat(fmtBytes(s.bytes || 0), 'stored'),
      stat(lookups ? fmtPct((s.hits || 0) / lookups, 1) : '–', 'hit ratio'),
      stat(String(s.hits ?? 0), 'hits'),
      stat(String(s.misses ?? 0), 'misses'),
      stat(String(s.evictions ?? 0), 'evictions'),
      stat(String(s.corrupt ?? 0), 'corrupt'));
  }

  function renderChart() {
    const overall = [];
    const interval = [];
    samples.forEach((s, i) => {
      const n = s.hits + s.misses;
      if (n > 0) overall.push({ x: s.t, y: s.hits / n });
      if (i > 0) {
        const dh = s.hits - samples[i - 1].hits;
        const dn = dh + (s.misses - samples[i - 1].misses);
        if (dn > 0 && dh >= 0) interval.push({ x: s.t, y: dh / dn });
      }
    });
    lineChart(chart, [
      { points: overall, color: STATUS_COLORS.built, label: 'overall hit ratio', fill: true },
      { points: interval, color: '#58a6ff', label: 'hit ratio per interval', dashed: true },
    ], { yMax: 1, yFormat: (v) => fmtPct(v), xFormat: (x) => fmtClock(new Date(x)), empty: 'No cache lookups yet' });
  }

  async function loadEntries(append = false) {
    more.disabled = true;
    try {
      const r = await api.cacheEntries({ limit: PAGE, cursor: append ? next : '' });
      const page = (r && r.entries) || [];
      entries = append ? entries.concat(page) : page;
      next = (r && r.next) || '';
      stale = false;
      renderEntries();
    } catch (err) {
      reportError(err, 'cache entries');
    } finally {
      more.disabled = false;
      more.hidden = !next;
    }
  }

  function sortBy(key) {
    sort = { key, dir: sort.key === key ? -sort.dir : (key === 'package' || key === 'key' ? 1 : -1) };
    renderEntries();
  }

  function renderEntries() {
    const f = filter.value.trim().toLowerCase();
    const shown = entries.filter((e) => !f || String(e.package || '').toLowerCase().includes(f) || String(e.key || '').includes(f));
    const { key, dir } = sort;
    shown.sort((a, b) => {
      let x = a[key];
      let y = b[key];
      if (key === 'created_at' || key === 'last_used') { x = Date.parse(x) || 0; y = Date.parse(y) || 0; }
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    cols.forEach(([k], i) => heads[i].setAttribute('aria-sort', k === key ? (dir > 0 ? 'ascending' : 'descending') : 'none'));
    const totalBytes = entries.reduce((n, e) => n + (e.size || 0), 0);
    info.textContent = entries.length ? `${shown.length} of ${entries.length}${next ? '+' : ''} · ${fmtBytes(totalBytes)}` : '';
    if (!shown.length) {
      render(tbody, h('tr', {}, h('td', { colspan: cols.length, class: 'empty' }, entries.length ? 'No entry matches the filter.' : 'The cache is empty.')));
      return;
    }
    render(tbody, shown.map((e) => h('tr', {},
      h('td', { class: 'mono', title: e.key }, String(e.key || '').slice(0, 16)),
      h('td', { class: 'mono' }, e.package || '–'),
      h('td', { class: 'num' }, fmtBytes(e.size)),
      h('td', { class: 'num' }, e.files ?? '–'),
      h('td', { class: 'nowrap', title: fmtTime(e.created_at) }, fmtAgo(e.created_at)),
      h('td', { class: 'nowrap', title: fmtTime(e.last_used) }, fmtAgo(e.last_used)))));
  }

  clear.addEventListener('click', async () => {
    if (!await confirmDialog('Clear the cache?', 'Every cached build output will be deleted. Later builds will run their commands again.', 'Clear cache')) return;
    clear.disabled = true;
    try {
      await api.cacheClear();
      toast('Cache cleared', { kind: 'success' });
      await Promise.all([sample(), loadEntries(false)]);
    } catch (err) {
      reportError(err, 'clear cache');
    } finally {
      clear.disabled = false;
    }
  });
  refresh.addEventListener('click', () => { sample(); loadEntries(false); });
  more.addEventListener('click', () => loadEntries(true));
  filter.addEventListener('input', debounce(renderEntries, 120));
  store.on('cache', () => { if (visible) { sample(); loadEntries(false); } else stale = true; });
  window.addEventListener('resize', debounce(() => { if (visible) renderChart(); }, 200));

  sample();
  setInterval(sample, SAMPLE_MS);

  return {
    show() {
      visible = true;
      renderStats();
      renderChart();
      sample();
      if (stale) loadEntries(false);
    },
    hide() { visible = false; },
    samples,
  };
}
