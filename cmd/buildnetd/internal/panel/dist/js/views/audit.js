// Audit: the audit log (GET /audit), filtered and searched, with new
// entries arriving live (GET /audit/stream), an NDJSON export, and the
// build history of one user. A non-admin sees its own entries only: the
// daemon filters them.
import { can, reportError } from '../api.js';
import { fmtTime, h, render, shortId } from '../util.js';

const LIVE_MAX = 500;

export function createAudit(root, { api, auth }) {
  const actor = h('input', { type: 'text', id: 'audit-actor', placeholder: 'user or key:ID' });
  const action = h('input', { type: 'text', id: 'audit-action', placeholder: 'build.* or login' });
  const outcome = h('select', { id: 'audit-outcome' },
    h('option', { value: '' }, 'any'), h('option', { value: 'allowed' }, 'allowed'), h('option', { value: 'denied' }, 'denied'));
  const q = h('input', { type: 'search', id: 'audit-q', placeholder: 'search…' });
  const exportLink = h('a', { class: 'btn btn-sm', id: 'audit-export', download: 'buildnet-audit.ndjson' }, 'Export NDJSON');
  const liveState = h('span', { class: 'muted small', id: 'audit-live' }, '');
  const tbody = h('tbody', {});
  const more = h('button', { type: 'button', class: 'btn btn-sm', hidden: true }, 'More');
  const userInput = h('input', { type: 'text', id: 'history-user', placeholder: 'user or key:ID' });
  const history = h('tbody', {});

  if (!can('admin')) actor.disabled = true;
  root.append(
    h('div', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Audit log'), liveState, h('span', { class: 'spacer' }), exportLink),
      h('div', { class: 'filters' },
        h('label', { class: 'field' }, 'Actor', actor), h('label', { class: 'field' }, 'Action', action),
        h('label', { class: 'field' }, 'Outcome', outcome), h('label', { class: 'field' }, 'Search', q)),
      h('table', { class: 'audit-table', id: 'audit-table' },
        h('thead', {}, h('tr', {}, ['Time', 'Actor', 'Role', 'Action', 'Target', 'Outcome', 'Source', 'Session'].map((c) => h('th', { scope: 'col' }, c)))),
        tbody),
      more),
    h('div', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Build history by user')),
      h('div', { class: 'filters' }, h('label', { class: 'field' }, 'User', userInput)),
      h('table', { id: 'user-builds' },
        h('thead', {}, h('tr', {}, ['Build', 'Status', 'Targets', 'Started', 'Duration'].map((c) => h('th', { scope: 'col' }, c)))),
        history)));

  let entries = [];
  let next = '';
  let es = null;
  let visible = false;

  function filters() {
    return { actor: actor.value.trim(), action: action.value.trim(), outcome: outcome.value, q: q.value.trim() };
  }

  function matches(e) {
    const f = filters();
    if (f.actor && e.actor !== f.actor) return false;
    if (f.outcome && e.outcome !== f.outcome) return false;
    if (f.action) {
      if (f.action.endsWith('.*') ? !e.action.startsWith(f.action.slice(0, -1)) : e.action !== f.action) return false;
    }
    if (f.q && !JSON.stringify(e).toLowerCase().includes(f.q.toLowerCase())) return false;
    return true;
  }

  function row(e) {
    return h('tr', { dataset: { seq: String(e.seq), action: e.action, outcome: e.outcome } },
      h('td', { class: 'nowrap' }, fmtTime(e.time)),
      h('td', { class: 'mono' }, e.actor),
      h('td', {}, e.role || '–'),
      h('td', { class: 'mono' }, e.action),
      h('td', { class: 'mono', title: JSON.stringify(e.details || {}) }, e.target || '–'),
      h('td', { class: `outcome-${e.outcome}` }, e.outcome),
      h('td', { class: 'mono' }, e.source_ip || '–'),
      h('td', { class: 'mono' }, e.session ? shortId(e.session) : '–'));
  }

  function draw() {
    if (!entries.length) {
      render(tbody, h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No entries match.')));
    } else {
      render(tbody, entries.map(row));
    }
    more.hidden = !next;
    exportLink.href = api.auditExportURL(filters());
  }

  async function load(append = false) {
    try {
      const res = await api.audit({ ...filters(), limit: 100, cursor: append ? next : '' });
      entries = append ? entries.concat(res.entries) : res.entries;
      next = res.next || '';
      draw();
    } catch (err) {
      reportError(err, 'audit');
    }
  }

  function connect() {
    if (es || typeof EventSource !== 'function') return;
    es = new EventSource('/audit/stream');
    es.onopen = () => { liveState.textContent = '● live'; };
    es.addEventListener('audit', (msg) => {
      let e;
      try { e = JSON.parse(msg.data); } catch { return; }
      if (!matches(e) || entries.some((x) => x.seq === e.seq)) return;
      entries.unshift(e);
      if (entries.length > LIVE_MAX) entries.length = LIVE_MAX;
      tbody.prepend(row(e));
      const empty = tbody.querySelector('.empty');
      if (empty) empty.parentElement.remove();
    });
    es.onerror = () => { liveState.textContent = 'reconnecting…'; };
  }

  async function loadHistory() {
    const who = userInput.value.trim();
    if (!who) { render(history); return; }
    try {
      const res = await api.builds({ requester: who, limit: 50 });
      if (!res.builds.length) {
        render(history, h('tr', {}, h('td', { colspan: 5, class: 'empty' }, `No builds by ${who}.`)));
        return;
      }
      render(history, res.builds.map((b) => h('tr', { dataset: { build: b.id } },
        h('td', { class: 'mono' }, shortId(b.id)),
        h('td', {}, b.status),
        h('td', { class: 'mono' }, (b.targets || []).join(', ') || 'all'),
        h('td', { class: 'nowrap' }, fmtTime(b.started_at || b.created_at)),
        h('td', { class: 'num' }, `${b.duration_ms} ms`))));
    } catch (err) {
      reportError(err, 'builds');
    }
  }

  let timer = 0;
  const reload = () => { clearTimeout(timer); timer = setTimeout(() => load(false), 200); };
  for (const el of [actor, action, q]) el.addEventListener('input', reload);
  outcome.addEventListener('change', reload);
  more.addEventListener('click', () => load(true));
  userInput.addEventListener('change', loadHistory);
  userInput.value = (auth && auth.actor) || '';

  return {
    show() { visible = true; load(false); connect(); loadHistory(); },
    hide() { visible = false; },
    get entries() { return entries; },
    get visible() { return visible; },
  };
}
