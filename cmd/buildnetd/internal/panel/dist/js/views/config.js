// Config: the workspace configuration from GET /config, read-only and
// pretty-printed with JSON syntax colours.
import { reportError } from '../api.js';
import { escapeHTML, fmtTime, h, toast } from '../util.js';

// highlightJSON escapes the pretty-printed JSON, then wraps tokens in spans.
export function highlightJSON(value) {
  const text = JSON.stringify(value, null, 2) ?? 'null';
  return escapeHTML(text).replace(
    /(&quot;(?:[^&\\]|\\.|&(?!quot;))*?&quot;)(\s*:)?|\b(true|false)\b|\bnull\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g,
    (m, str, colon, bool) => {
      if (str) return colon ? `<span class="k">${str}</span>${colon}` : `<span class="s">${str}</span>`;
      if (bool) return `<span class="b">${m}</span>`;
      if (m === 'null') return `<span class="z">${m}</span>`;
      return `<span class="n">${m}</span>`;
    },
  );
}

export function createConfig(root, { api, store }) {
  const pre = h('pre', { class: 'json', id: 'config-json', tabindex: 0, 'aria-label': 'Workspace configuration' }, 'Loading…');
  const when = h('span', { class: 'muted small' });
  const copy = h('button', { type: 'button', class: 'btn btn-sm' }, 'Copy');
  const reload = h('button', { type: 'button', class: 'btn btn-sm' }, 'Reload');
  root.append(h('div', { class: 'card' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Configuration'), h('span', { class: 'badge badge-tier' }, 'read-only'), when,
      h('span', { class: 'spacer' }), reload, copy),
    pre));

  let config = null;
  let stale = true;
  let visible = false;

  async function load() {
    try {
      config = await api.config();
      stale = false;
      pre.innerHTML = highlightJSON(config);
      when.textContent = `loaded ${fmtTime(new Date())}`;
    } catch (err) {
      reportError(err, 'config');
      if (!config) pre.textContent = 'Could not load the configuration.';
    }
  }

  copy.addEventListener('click', async () => {
    if (!config) return;
    try {
      await navigator.clipboard.writeText(JSON.stringify(config, null, 2));
      toast('Configuration copied', { kind: 'success', timeout: 2500 });
    } catch {
      toast('The browser did not allow copying', { kind: 'error' });
    }
  });
  reload.addEventListener('click', load);
  store.on('config', () => { if (visible) load(); else stale = true; });

  return {
    show() { visible = true; if (stale) load(); },
    hide() { visible = false; },
  };
}
