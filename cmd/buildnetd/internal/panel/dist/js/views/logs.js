// Logs: real-time output of running builds (package:output events) with ANSI
// colours, filtered by package, searchable, paused or following, and
// downloadable as the lines shown.
import { ansiToHtml, stripAnsi } from '../ansi.js';
import { tierLabel } from '../status.js';
import { debounce, download, fmtClock, fmtMs, h, nameColor, render, shortId } from '../util.js';

const MAX_LINES = 5000;

export function createLogs(root, { store }) {
  const pkgSel = h('select', { id: 'log-package', 'aria-label': 'Package' }, h('option', { value: '' }, 'All packages'));
  const search = h('input', { type: 'search', id: 'log-search', placeholder: 'Search output…', 'aria-label': 'Search the output' });
  const follow = h('button', { type: 'button', class: 'btn active', id: 'log-follow', 'aria-pressed': 'true', title: 'Keep the newest line in view' }, 'Follow');
  const pause = h('button', { type: 'button', class: 'btn', id: 'log-pause', 'aria-pressed': 'false', title: 'Stop updating the view; lines keep being collected' }, 'Pause');
  const stderrOnly = h('input', { type: 'checkbox', id: 'log-stderr' });
  const events = h('input', { type: 'checkbox', id: 'log-events', checked: true });
  const dl = h('button', { type: 'button', class: 'btn', id: 'log-download' }, 'Download');
  const clear = h('button', { type: 'button', class: 'btn', id: 'log-clear' }, 'Clear');
  const view = h('div', { class: 'log-view', id: 'log-view', role: 'log', 'aria-live': 'off', 'aria-label': 'Build output', tabindex: 0 });
  const statusLine = h('div', { class: 'log-status' });
  const badge = document.getElementById('logs-badge');
  root.append(h('div', { class: 'logs' },
    h('div', { class: 'log-toolbar' },
      pkgSel, search,
      h('label', { class: 'check', for: 'log-stderr' }, stderrOnly, 'stderr only'),
      h('label', { class: 'check', for: 'log-events' }, events, 'build events'),
      h('span', { class: 'spacer' }), follow, pause, dl, clear),
    view, statusLine));

  const lines = []; // {n, time, build, pkg, stream, text, sys}
  let seq = 0;
  let following = true;
  let paused = false;
  let pending = 0; // lines that arrived while paused
  let unseen = 0; // lines that arrived while the tab was hidden
  let visible = false;
  let shown = 0;
  const packages = new Set();
  let query = '';

  function matches(l) {
    if (pkgSel.value && l.pkg !== pkgSel.value) return false;
    if (stderrOnly.checked && l.stream !== 'stderr') return false;
    if (l.sys && !events.checked) return false;
    if (query && !l.plain.toLowerCase().includes(query) && !(l.pkg || '').toLowerCase().includes(query)) return false;
    return true;
  }

  function highlight(html) {
    if (!query) return html;
    // mark matches in text only, never inside tags or entities
    if (/[&<>"']/.test(query)) return html;
    const re = new RegExp(query.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi');
    return html.split(/(<[^>]*>|&[#a-z0-9]+;)/i)
      .map((part) => (part.startsWith('<') || part.startsWith('&') ? part : part.replace(re, (m) => `<mark>${m}</mark>`)))
      .join('');
  }

  function lineEl(l) {
    const el = document.createElement('div');
    el.className = `log-line${l.stream === 'stderr' ? ' stderr' : ''}${l.sys ? ' sys' : ''}`;
    el.dataset.n = l.n;
    const t = document.createElement('span');
    t.className = 't';
    t.textContent = fmtClock(l.time);
    const p = document.createElement('span');
    p.className = 'p';
    p.textContent = l.pkg || '';
    p.title = l.build ? `${l.pkg || ''} · build ${l.build}` : (l.pkg || '');
    if (l.pkg) p.style.color = nameColor(l.pkg);
    const m = document.createElement('span');
    m.className = 'm';
    m.innerHTML = highlight(l.html);
    el.append(t, p, m);
    return el;
  }

  function atBottom() {
    return view.scrollHeight - view.scrollTop - view.clientHeight < 30;
  }

  function renderAll() {
    const frag = document.createDocumentFragment();
    let n = 0;
    for (const l of lines) if (matches(l)) { frag.append(lineEl(l)); n++; }
    view.replaceChildren(frag);
    shown = n;
    if (!n) view.append(h('div', { class: 'empty', style: { padding: '6px 12px' } }, lines.length ? 'No line matches the filters.' : 'Waiting for build output… Start a build from the Overview or Packages tab.'));
    pending = 0;
    if (following) view.scrollTop = view.scrollHeight;
    renderStatus();
  }

  function renderStatus() {
    render(statusLine,
      h('span', {}, `${shown} of ${lines.length} lines shown`),
      paused ? h('span', { style: { color: 'var(--st-building)' } }, `paused · ${pending} new line${pending === 1 ? '' : 's'}`) : null,
      lines.length >= MAX_LINES ? h('span', {}, `keeping the last ${MAX_LINES}`) : null);
  }

  function append(l) {
    lines.push(l);
    let dropped = null;
    if (lines.length > MAX_LINES) dropped = lines.shift();
    if (l.pkg && !packages.has(l.pkg)) addPackage(l.pkg);
    if (!visible) {
      if (!l.sys) { unseen++; badge.textContent = unseen > 999 ? '999+' : String(unseen); badge.hidden = false; }
      return;
    }
    if (paused) { if (matches(l)) pending++; renderStatusSoon(); return; }
    if (dropped) {
      const first = view.querySelector(`.log-line[data-n="${dropped.n}"]`);
      if (first) { first.remove(); shown--; }
    }
    if (!matches(l)) { renderStatusSoon(); return; }
    const stick = following || atBottom();
    if (!shown) view.replaceChildren();
    view.append(lineEl(l));
    shown++;
    if (stick && following) view.scrollTop = view.scrollHeight;
    renderStatusSoon();
  }
  const renderStatusSoon = debounce(renderStatus, 100);

  function addPackage(name) {
    packages.add(name);
    const opts = [...packages].sort();
    const cur = pkgSel.value;
    render(pkgSel, h('option', { value: '' }, 'All packages'), opts.map((n) => h('option', { value: n }, n)));
    pkgSel.value = cur;
  }

  function add(ev, text, { sys = false, stream = '' } = {}) {
    append({
      n: ++seq, time: ev.time ? new Date(ev.time) : new Date(), build: ev.build_id || '', pkg: ev.package || '',
      stream: stream || ev.stream || '', html: ansiToHtml(text), plain: stripAnsi(text), sys,
    });
  }

  store.on('event', (ev) => {
    switch (ev.type) {
      case 'package:output':
        add(ev, ev.line ?? '');
        break;
      case 'build:start':
        add(ev, `── build ${shortId(ev.build_id)} started${ev.requester ? ` by ${ev.requester}` : ''}: ${(ev.packages || []).length} package(s) ──`, { sys: true });
        break;
      case 'package:complete': {
        const mark = ev.status === 'success' ? '\x1b[32m✓\x1b[39m' : ev.status === 'failed' ? '\x1b[31m✗\x1b[39m' : '\x1b[35m–\x1b[39m';
        const dur = typeof ev.duration_ms === 'number' ? ` in ${fmtMs(ev.duration_ms)}` : '';
        add(ev, `${mark} ${ev.status}${ev.tier ? ` (${tierLabel(ev.tier)})` : ''}${dur}${ev.error ? `: ${ev.error}` : ''}`, { sys: true });
        break;
      }
      case 'build:complete': {
        const r = ev.result || {};
        const dur = typeof r.duration_ms === 'number' ? ` in ${fmtMs(r.duration_ms)}` : '';
        add(ev, `── build ${shortId(ev.build_id)} ${ev.status || r.status || 'finished'}${dur} ──`, { sys: true });
        break;
      }
      default:
        break;
    }
  });

  function setFollow(on) {
    following = on;
    follow.classList.toggle('active', on);
    follow.setAttribute('aria-pressed', String(on));
    if (on) view.scrollTop = view.scrollHeight;
  }

  function setPaused(on) {
    paused = on;
    pause.classList.toggle('active', on);
    pause.setAttribute('aria-pressed', String(on));
    pause.textContent = on ? 'Resume' : 'Pause';
    if (!on) renderAll();
    else renderStatus();
  }

  follow.addEventListener('click', () => setFollow(!following));
  pause.addEventListener('click', () => setPaused(!paused));
  view.addEventListener('scroll', () => {
    // scrolling up stops following; scrolling back to the end resumes it
    if (following && !atBottom()) setFollow(false);
    else if (!following && atBottom() && !paused) setFollow(true);
  });
  for (const el of [pkgSel, stderrOnly, events]) el.addEventListener('change', renderAll);
  search.addEventListener('input', debounce(() => { query = search.value.trim().toLowerCase(); renderAll(); }, 150));
  clear.addEventListener('click', () => { lines.length = 0; renderAll(); });
  dl.addEventListener('click', () => {
    const text = lines.filter(matches).map((l) => `${l.time.toISOString()} ${l.pkg ? `[${l.pkg}] ` : ''}${l.stream === 'stderr' ? '(stderr) ' : ''}${l.plain}`).join('\n');
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    download(`buildnet-logs${pkgSel.value ? `-${pkgSel.value}` : ''}-${stamp}.log`, `${text}\n`);
  });
  store.on('packages', ({ structural }) => {
    if (structural) for (const n of store.packageNames()) if (!packages.has(n)) addPackage(n);
  });

  return {
    show() {
      visible = true;
      unseen = 0;
      badge.hidden = true;
      renderAll();
    },
    hide() { visible = false; },
    lines,
  };
}
