// Small DOM and formatting helpers shared by every view.

// h builds an element: h('button', {class: 'btn', onclick: fn}, 'Build').
// Strings become text nodes (never HTML); null, undefined and false are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// svg builds an SVG element the way h builds an HTML one.
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// escapeHTML makes s safe to place in HTML text or a quoted attribute.
export function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// clear empties el and appends children.
export function render(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtBytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = Number(n);
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
  ms = Number(ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

export function fmtPct(x, digits = 0) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  return `${(x * 100).toFixed(digits)}%`;
}

// parseTime returns a Date, or null for a missing or zero Go time.
export function parseTime(t) {
  if (!t || t.startsWith('0001-')) return null;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function fmtAgo(t, now = Date.now()) {
  const d = t instanceof Date ? t : parseTime(t);
  if (!d) return '–';
  const s = Math.round((now - d.getTime()) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function fmtTime(t) {
  const d = t instanceof Date ? t : parseTime(t);
  if (!d) return '–';
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function fmtClock(t) {
  const d = t instanceof Date ? t : parseTime(t);
  if (!d) return '';
  return d.toLocaleTimeString(undefined, { hour12: false });
}

// shortId abbreviates a build id. The engine's ids are
// 20060102-150405.000000-abcdef: the time of day and the random suffix
// are what tells builds apart.
export function shortId(id) {
  if (!id) return '';
  const m = /^\d{8}-(\d{6})(?:\.\d+)?-([0-9a-f]+)$/.exec(id);
  if (m) return `${m[1]}-${m[2]}`;
  return id.length > 14 ? id.slice(0, 14) : id;
}

// debounce delays fn until calls stop for ms.
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// download saves data as a file named name.
export function download(name, data, type = 'text/plain') {
  const blob = data instanceof Blob ? data : new Blob([data], { type });
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// hue gives a stable colour for a name (package tags in the log).
export function nameColor(name) {
  let x = 0;
  for (const c of String(name)) x = (x * 31 + c.codePointAt(0)) >>> 0;
  return `hsl(${x % 360} 65% 68%)`;
}

// toast shows a short message; kind is error, success or info.
export function toast(message, { kind = 'info', title = '', timeout = 6000 } = {}) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const close = h('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss' }, '×');
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('div', { class: 'msg' }, title ? h('strong', {}, title) : null, message), close);
  const remove = () => el.remove();
  close.addEventListener('click', remove);
  box.append(el);
  while (box.children.length > 5) box.firstElementChild.remove();
  if (timeout) setTimeout(remove, timeout);
}

// confirmDialog asks a yes/no question in the page's <dialog>; it resolves
// to true when the user confirms.
export function confirmDialog(title, text, okLabel = 'Confirm') {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  dlg.returnValue = '';
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.showModal();
  });
}
