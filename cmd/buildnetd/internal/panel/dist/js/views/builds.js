// Builds: the history with filters, search and paging; a build's per-package
// tiers, durations and reasons; the Why view of a package in a build; a
// chart of build times.
import { reportError } from '../api.js';
import { ansiToHtml } from '../ansi.js';
import { barChart } from '../charts.js';
import { displayStatus, STATUS_COLORS, TIERS, tierLabel } from '../status.js';
import { debounce, fmtAgo, fmtMs, fmtTime, h, render, shortId, toast } from '../util.js';
import { createWhy, parseReasons, reasonSummary } from '../why.js';

const PAGE = 50;
const BUILD_STATUSES = ['running', 'success', 'failed', 'cancelled', 'interrupted', 'queued'];
const BUILD_COLORS = {
  success: STATUS_COLORS.built, failed: STATUS_COLORS.failed, cancelled: STATUS_COLORS.skipped,
  interrupted: STATUS_COLORS.failed, running: STATUS_COLORS.building, queued: STATUS_COLORS.never,
};

function select(id, label, options) {
  const el = h('select', { id, 'aria-label': label },
    h('option', { value: '' }, `any`),
    options.map((o) => h('option', { value: o }, o)));
  return { el, field: h('label', { class: 'field', for: id }, label, el) };
}

export function createBuilds(root, { store, api }) {
  const pkg = select('f-package', 'Package', []);
  const status = select('f-status', 'Status', BUILD_STATUSES);
  const tier = select('f-tier', 'Tier', TIERS);
  const requester = h('input', { type: 'text', id: 'f-requester', placeholder: 'cli, panel, watch…' });
  const q = h('input', { type: 'search', id: 'f-q', placeholder: 'Search builds (id, package, error…)' });
  const reset = h('button', { type: 'button', class: 'btn' }, 'Reset');
  const chart = h('div', { id: 'builds-chart' });
  const tbody = h('tbody', {});
  const more = h('button', { type: 'button', class: 'btn', id: 'builds-more' }, 'Load more');
  const info = h('span', { class: 'muted small' });
  const detail = h('div', { class: 'card detail', id: 'build-detail', hidden: true, 'aria-live': 'polite' });
  const why = createWhy({ api, onOpenBuild: (id) => openBuild(id, { keepWhy: true }) });

  root.append(
    h('div', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Build times'), h('span', { class: 'muted small' }, 'loaded builds, oldest first; colour = status; click a bar for details')),
      chart),
    h('div', { class: 'card', style: { marginTop: '14px' } },
      h('div', { class: 'filters', role: 'search' },
        pkg.field, status.field, tier.field,
        h('label', { class: 'field', for: 'f-requester' }, 'Requester', requester),
        h('label', { class: 'field grow', for: 'f-q' }, 'Search', q),
        reset),
      h('div', { class: 'table-wrap' },
        h('table', { id: 'builds-table' },
          h('caption', { class: 'muted small', style: { captionSide: 'bottom', padding: '6px' } }, info),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Build'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Packages'),
            h('th', { scope: 'col' }, 'Requester'), h('th', { scope: 'col' }, 'Started'), h('th', { scope: 'col', class: 'num' }, 'Duration'))),
          tbody)),
      h('div', { class: 'row', style: { marginTop: '10px' } }, more)),
    detail,
    why.el);

  let builds = [];
  let next = '';
  let selected = '';
  let loading = 0;
  let visible = false;
  let stale = true;
  let abort = null;
  const seenActive = new Set();

  function filters() {
    return {
      package: pkg.el.value, status: status.el.value, tier: tier.el.value,
      requester: requester.value.trim(), q: q.value.trim(),
    };
  }

  async function load(append = false) {
    if (abort) abort.abort();
    const ctrl = new AbortController();
    abort = ctrl;
    const my = ++loading;
    more.disabled = true;
    try {
      const r = await api.builds({ ...filters(), limit: PAGE, cursor: append ? next : '' }, { signal: ctrl.signal });
      if (my !== loading) return;
      const page = (r && r.builds) || [];
      builds = append ? builds.concat(page) : page;
      next = (r && r.next) || '';
      stale = false;
      renderTable();
      renderChart();
    } catch (err) {
      if (err.name !== 'AbortError') reportError(err, 'builds');
    } finally {
      if (my === loading) more.disabled = !next;
    }
  }

  function tierSummary(b) {
    const counts = {};
    for (const p of b.packages || []) {
      const k = displayStatus(p.status, p.tier);
      counts[k] = (counts[k] || 0) + 1;
    }
    return Object.entries(counts).map(([k, v]) => h('span', { class: `badge badge-${k}`, style: { marginRight: '4px' } }, `${v} ${k}`));
  }

  function renderTable() {
    more.hidden = !next;
    more.disabled = !next;
    info.textContent = builds.length ? `${builds.length} build${builds.length === 1 ? '' : 's'} shown${next ? ' · more available' : ''}` : '';
    if (!builds.length) {
      render(tbody, h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No builds match.')));
      return;
    }
    render(tbody, builds.map((b) => {
      const open = () => openBuild(b.id);
      const tr = h('tr', { class: `clickable${b.id === selected ? ' selected' : ''}`, dataset: { build: b.id }, onclick: open },
        h('td', {}, h('button', { type: 'button', class: 'link mono', title: b.id, onclick: (e) => { e.stopPropagation(); open(); } }, shortId(b.id))),
        h('td', {}, h('span', { class: `badge badge-${b.status}` }, b.status)),
        h('td', {}, (b.packages && b.packages.length) ? tierSummary(b) : h('span', { class: 'muted' }, (b.targets || []).join(', ') || 'all')),
        h('td', { class: 'muted' }, b.requester || '–'),
        h('td', { class: 'nowrap', title: fmtTime(b.started_at || b.created_at) }, fmtAgo(b.started_at || b.created_at)),
        h('td', { class: 'num' }, b.status === 'running' ? '…' : fmtMs(b.duration_ms)));
      return tr;
    }));
  }

  function renderChart() {
    const done = builds.filter((b) => b.status !== 'running' && b.status !== 'queued').slice().reverse();
    barChart(chart, done.map((b) => ({
      value: b.duration_ms || 0,
      color: BUILD_COLORS[b.status] || STATUS_COLORS.never,
      title: `${shortId(b.id)} · ${b.status} · ${fmtMs(b.duration_ms)} · ${fmtTime(b.started_at || b.created_at)}`,
      label: fmtTime(b.started_at || b.created_at),
      id: b.id,
    })), { yFormat: fmtMs, onClick: (b) => openBuild(b.id), empty: 'No finished builds yet' });
  }

  async function openBuild(id, { keepWhy = false } = {}) {
    if (!keepWhy && why.model && why.model.build_id !== id) why.close();
    selected = id;
    for (const tr of tbody.querySelectorAll('tr[data-build]')) tr.classList.toggle('selected', tr.dataset.build === id);
    detail.hidden = false;
    render(detail, h('p', { class: 'empty' }, 'Loading…'));
    try {
      const b = await api.build(id);
      if (selected !== id) return;
      renderDetail(b);
      if (!keepWhy) detail.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
      return b;
    } catch (err) {
      reportError(err, `build ${shortId(id)}`);
      render(detail, h('p', { class: 'empty' }, 'Could not load this build.'));
      return null;
    }
  }

  // openWhy shows why p (a package result of build b) got its tier, with
  // the reasons recorded in that build.
  function openWhy(b, p) {
    why.show({
      package: p.name, build_id: b.id, tier: p.tier, status: p.status, digest: p.digest,
      reasons: parseReasons(p.reasons || p.reason), error: p.error,
    });
  }

  // whyOf opens the package's last build and its Why view (from the
  // Packages tab): GET /why/{package}.
  async function whyOf(pkg) {
    try {
      const ex = await api.why(pkg);
      await openBuild(ex.build_id, { keepWhy: true });
      why.show({ ...ex, latest: true });
    } catch (err) {
      reportError(err, `why ${pkg}`);
    }
  }

  function renderDetail(b) {
    const pkgs = b.packages || [];
    const maxMs = Math.max(1, ...pkgs.map((p) => p.duration_ms || 0));
    const logBox = h('div', { class: 'log-box', hidden: true, id: 'build-log' });
    const showLog = async (name) => {
      logBox.hidden = false;
      logBox.textContent = 'Loading…';
      try {
        const text = await api.buildLog(b.id, name);
        const lines = String(text || '').split('\n');
        logBox.innerHTML = lines.map((l) => ansiToHtml(l)).join('\n') || '<span class="ansi-dim">(no output)</span>';
      } catch (err) {
        logBox.textContent = '';
        logBox.hidden = true;
        reportError(err, 'log');
      }
    };
    const cancel = b.status === 'running'
      ? h('button', { type: 'button', class: 'btn btn-sm btn-danger', 'data-need': 'build', onclick: async (e) => {
        e.currentTarget.disabled = true;
        try { await api.cancel(b.id); toast(`Cancelling ${shortId(b.id)}`); } catch (err) { reportError(err, 'cancel'); }
      } }, 'Cancel')
      : null;
    render(detail,
      h('div', { class: 'detail-head' },
        h('h2', { style: { margin: 0 } }, 'Build ', h('span', { class: 'mono' }, b.id)),
        h('span', { class: `badge badge-${b.status}` }, b.status),
        h('span', { class: 'muted small' }, [b.requester ? `by ${b.requester}` : '', b.force ? 'forced' : '', fmtTime(b.started_at || b.created_at), fmtMs(b.duration_ms)].filter(Boolean).join(' · ')),
        h('span', { class: 'spacer' }),
        cancel,
        h('button', { type: 'button', class: 'btn btn-sm', id: 'build-show-log', onclick: () => showLog('') }, 'Show log'),
        h('a', { class: 'btn btn-sm', href: api.buildLogURL(b.id), download: `build-${b.id}.log` }, 'Download log'),
        h('button', { type: 'button', class: 'btn btn-sm', 'aria-label': 'Close build details', onclick: () => { detail.hidden = true; selected = ''; renderTable(); } }, '×')),
      b.error ? h('p', { class: 'error-text' }, b.error) : null,
      h('div', { class: 'table-wrap' }, h('table', { id: 'build-packages' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Package'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Tier'),
          h('th', { scope: 'col' }, 'Duration'), h('th', { scope: 'col' }, 'Reason / error'), h('th', { scope: 'col' }, ''))),
        h('tbody', {}, pkgs.length ? pkgs.map((p) => {
          const st = displayStatus(p.status, p.tier);
          const summary = reasonSummary(p.reasons || p.reason);
          return h('tr', { dataset: { pkg: p.name } },
            h('td', { class: 'mono' }, p.name),
            h('td', {}, h('span', { class: `badge badge-${p.status}` }, p.status)),
            h('td', {}, p.tier ? h('span', { class: `badge badge-${st === 'built' || st === 'cached' ? st : 'tier'}` }, tierLabel(p.tier)) : '–'),
            h('td', {}, h('div', { class: 'bar-cell' },
              h('div', { class: 'bar', style: { width: `${Math.round((120 * (p.duration_ms || 0)) / maxMs)}px`, background: STATUS_COLORS[st] } }),
              h('span', { class: 'small nowrap' }, fmtMs(p.duration_ms)))),
            h('td', { class: 'reason-cell' },
              p.error ? h('div', { class: 'error-text' }, p.error) : null,
              summary ? h('button', { type: 'button', class: 'link why-link small', title: 'Why? Show every reason', onclick: () => openWhy(b, p) }, summary) : (p.error ? null : h('span', { class: 'muted' }, '–'))),
            h('td', { class: 'nowrap' },
              h('button', { type: 'button', class: 'btn btn-sm why-open', onclick: () => openWhy(b, p), 'aria-label': `Why ${p.name} got its tier` }, 'Why'),
              ' ',
              h('button', { type: 'button', class: 'btn btn-sm', onclick: () => showLog(p.name), 'aria-label': `Show the log of ${p.name}` }, 'Log')));
        }) : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No package finished yet.'))))),
      logBox);
  }

  function refreshPackages() {
    const cur = pkg.el.value;
    render(pkg.el, h('option', { value: '' }, 'any'), store.packageNames().map((n) => h('option', { value: n }, n)));
    pkg.el.value = store.packages.has(cur) ? cur : '';
  }

  const reload = debounce(() => load(false), 250);
  for (const el of [pkg.el, status.el, tier.el]) el.addEventListener('change', () => load(false));
  requester.addEventListener('input', reload);
  q.addEventListener('input', reload);
  reset.addEventListener('click', () => {
    pkg.el.value = ''; status.el.value = ''; tier.el.value = ''; requester.value = ''; q.value = '';
    load(false);
  });
  more.addEventListener('click', () => load(true));
  store.on('packages', ({ structural }) => { if (structural) refreshPackages(); });
  store.on('builds', (ev) => {
    if (visible) load(false); else stale = true;
    if (selected && ev && ev.build_id === selected) openBuild(selected, { keepWhy: true });
  });
  store.on('active', () => {
    // a new build appears in the history as running
    const fresh = [...store.active.keys()].filter((id) => !seenActive.has(id));
    for (const id of fresh) seenActive.add(id);
    if (fresh.length) { if (visible) reload(); else stale = true; }
  });
  window.addEventListener('resize', debounce(() => { if (visible) renderChart(); }, 200));

  return {
    show() {
      visible = true;
      refreshPackages();
      if (stale) load(false); else renderChart();
    },
    hide() { visible = false; },
    open: openBuild,
    why: whyOf,
  };
}
