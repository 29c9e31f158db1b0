// A tiny HTML-string renderer: h('p', {class: 'x'}, 'text').

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const VOID = new Set(['br', 'hr', 'img', 'input', 'meta', 'link']);

function h(tag, attrs, ...children) {
  const attributes = Object.entries(attrs || {})
    .filter(([, v]) => v !== false && v != null)
    .map(([k, v]) => (v === true ? ` ${k}` : ` ${k}="${escapeHtml(v)}"`))
    .join('');
  if (VOID.has(tag)) return `<${tag}${attributes}>`;
  const inner = children.flat().map((c) => (c && c.__html ? c.__html : escapeHtml(c ?? ''))).join('');
  return { __html: `<${tag}${attributes}>${inner}</${tag}>` };
}

function render(node) {
  return typeof node === 'string' ? node : node.__html;
}

module.exports = { escapeHtml, h, render };
