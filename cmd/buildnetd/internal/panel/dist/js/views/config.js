// Config: the workspace configuration from GET /config. Admins edit it as
// JSON (a textarea with line numbers) and save it with PUT /config: the
// JSON is checked in the page first, then the daemon validates it, and an
// error is shown next to the editor with its line (or field) marked.
// Other roles see it read-only, with JSON syntax colours. The view follows
// config:reloaded (warning about unsaved edits) and config:rejected
// events. The Templates card (views/templates.js) sits beside it.
import { can, reportError } from '../api.js';
import { checkJSON, indexOf, locateConfigError, parseConfigError } from '../jsonpos.js';
import { confirmDialog, debounce, escapeHTML, fmtTime, h, render, toast } from '../util.js';
import { copyText } from '../why.js';
import { createTemplates } from './templates.js';

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

// changeSummary lists a {"added","removed","changed","global"} change as
// [label, names] pairs; empty when nothing changed.
export function changeSummary(change) {
  const c = change || {};
  const out = [];
  if ((c.added || []).length) out.push(['Added', c.added]);
  if ((c.removed || []).length) out.push(['Removed', c.removed]);
  if ((c.changed || []).length) out.push(['Changed', c.changed]);
  if (c.global) out.push(['Workspace-wide settings changed', []]);
  return out;
}

// changeText is changeSummary as one line.
export function changeText(change) {
  const s = changeSummary(change);
  return s.length ? s.map(([label, names]) => (names.length ? `${label.toLowerCase()} ${names.join(', ')}` : label.toLowerCase())).join('; ') : 'nothing changed';
}

// The fields the configuration knows (docs/configuration.md); the daemon
// drops others silently, so the editor warns before saving them.
const KNOWN = {
  top: ['version', 'concurrency', 'global_inputs', 'env', 'cache', 'history', 'hash', 'packages', 'alerts'],
  cache: ['dir', 'max_size', 'max_age', 'remote'],
  history: ['builds', 'manifests'],
  package: ['name', 'path', 'build_cmd', 'dependencies', 'sources', 'output_dir', 'env', 'hooks', 'runner'],
  hooks: ['pre_build', 'post_build'],
};

// unknownFields lists the misspelt or unknown fields of a configuration
// as {field, key}.
export function unknownFields(cfg) {
  const out = [];
  const check = (obj, known, prefix) => {
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return;
    for (const k of Object.keys(obj)) if (!known.includes(k)) out.push({ field: prefix ? `${prefix}.${k}` : k, key: k });
  };
  check(cfg, KNOWN.top, '');
  check(cfg.cache, KNOWN.cache, 'cache');
  check(cfg.history, KNOWN.history, 'history');
  (Array.isArray(cfg.packages) ? cfg.packages : []).forEach((p, i) => {
    const name = p && typeof p.name === 'string' ? ` (${p.name})` : '';
    check(p, KNOWN.package, `packages[${i}]${name}`);
    if (p) check(p.hooks, KNOWN.hooks, `packages[${i}]${name}.hooks`);
  });
  return out;
}

const pretty = (cfg) => JSON.stringify(cfg, null, 2);

export function createConfig(root, { api, store, selectTab }) {
  const admin = can('admin');
  const when = h('span', { class: 'muted small' });
  const btn = (label, attrs = {}) => h('button', { type: 'button', class: 'btn btn-sm', ...attrs }, label);
  const reload = btn('Reload', { id: 'config-reload', title: 'Load the configuration from the daemon again' });
  const copy = btn('Copy', { id: 'config-copy' });
  const banner = h('div', { class: 'notice', id: 'config-banner', role: 'status', hidden: true });
  const errorBox = h('div', { class: 'error-box', id: 'config-error', role: 'alert', hidden: true });
  const resultBox = h('div', { class: 'ok-box', id: 'config-result', role: 'status', hidden: true });

  // the editor (admins) or the read-only view (everyone else)
  let editor = null;
  let gutter = null;
  let lineMark = null;
  let pre = null;
  let save = null;
  let dirtyNote = null;
  const head = h('div', { class: 'card-head' }, h('h2', {}, 'Configuration'),
    h('span', { class: 'badge badge-tier' }, admin ? 'editable' : 'read-only'), when, h('span', { class: 'spacer' }));
  let body;
  if (admin) {
    editor = h('textarea', {
      id: 'config-editor', class: 'editor-text', wrap: 'off', spellcheck: 'false', autocomplete: 'off', autocapitalize: 'off',
      'aria-label': 'Configuration (JSON)', 'aria-describedby': 'config-error config-help', 'aria-invalid': 'false',
    });
    gutter = h('pre', { class: 'editor-gutter', 'aria-hidden': 'true' });
    lineMark = h('div', { class: 'editor-mark', 'aria-hidden': 'true', hidden: true });
    const format = btn('Format', { id: 'config-format', title: 'Indent the JSON' });
    const revert = btn('Revert', { id: 'config-revert', title: 'Discard your edits' });
    save = h('button', { type: 'button', class: 'btn btn-sm btn-primary', id: 'config-save', 'data-need': 'admin', title: 'Save (Ctrl+S)' }, 'Save');
    dirtyNote = h('span', { class: 'small', id: 'config-dirty' });
    head.append(reload, format, revert, copy, save);
    body = [
      h('div', { class: 'editor', id: 'config-editor-wrap' }, gutter, h('div', { class: 'editor-main' }, lineMark, editor)),
      h('div', { class: 'row editor-foot' }, dirtyNote, h('span', { class: 'spacer' }),
        h('span', { class: 'muted small', id: 'config-help' }, 'Ctrl+S saves. The daemon validates the configuration first: on an error nothing changes.')),
    ];
    format.addEventListener('click', () => {
      const r = checkJSON(editor.value);
      if (r.error) { showJSONError(r.error); return; }
      editor.value = pretty(r.value);
      edited();
    });
    revert.addEventListener('click', () => {
      editor.value = loadedText;
      clearError();
      edited();
    });
    save.addEventListener('click', () => doSave());
    editor.addEventListener('keydown', (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') { e.preventDefault(); doSave(); }
    });
    editor.addEventListener('input', () => edited());
    editor.addEventListener('scroll', () => { gutter.scrollTop = editor.scrollTop; placeMark(); });
  } else {
    pre = h('pre', { class: 'json', id: 'config-json', tabindex: 0, 'aria-label': 'Workspace configuration' }, 'Loading…');
    head.append(reload, copy);
    body = [pre];
  }

  const tplCol = h('div', { class: 'stack' });
  root.append(h('div', { class: 'config-layout' },
    h('section', { class: 'card config-card', 'aria-label': 'Configuration' }, head, banner, errorBox, resultBox, body),
    tplCol));
  const templates = createTemplates(tplCol, {
    api, store,
    onApplied: (added, goto) => {
      if (goto) { selectTab('packages'); return; }
      external(`template applied: added ${added.join(', ') || 'nothing'}`);
    },
  });

  let config = null;
  let loadedText = ''; // the configuration as loaded, pretty-printed
  let pending = null; // a newer configuration not yet shown (unsaved edits)
  let stale = true;
  let visible = false;
  let saving = false;
  let markLine = 0;
  let errorKind = ''; // json (checked in the page), server, rejected

  const dirty = () => !!editor && editor.value !== loadedText;

  function lineHeight() {
    return parseFloat(getComputedStyle(editor).lineHeight) || 19;
  }

  function renderGutter() {
    const n = editor.value.split('\n').length;
    const lines = [];
    for (let i = 1; i <= n; i++) lines.push(i === markLine ? `<span class="err">${i}</span>` : String(i));
    gutter.innerHTML = `${lines.join('\n')}\n`;
    gutter.scrollTop = editor.scrollTop;
  }

  function placeMark() {
    if (!lineMark) return;
    if (!markLine) { lineMark.hidden = true; return; }
    const pad = parseFloat(getComputedStyle(editor).paddingTop) || 0;
    lineMark.hidden = false;
    lineMark.style.top = `${pad + (markLine - 1) * lineHeight() - editor.scrollTop}px`;
    lineMark.style.height = `${lineHeight()}px`;
  }

  function setMark(line) {
    if (!editor) return;
    markLine = line || 0;
    editor.setAttribute('aria-invalid', markLine ? 'true' : 'false');
    renderGutter();
    placeMark();
  }

  // goTo puts the caret at line:col and scrolls it into view.
  function goTo(line, col) {
    if (!editor) return;
    const i = indexOf(editor.value, line, col || 1);
    editor.focus();
    editor.setSelectionRange(i, i);
    const y = (line - 1) * lineHeight();
    if (y < editor.scrollTop || y > editor.scrollTop + editor.clientHeight - 2 * lineHeight()) {
      editor.scrollTop = Math.max(0, y - editor.clientHeight / 3);
    }
    placeMark();
  }

  function clearError() {
    errorKind = '';
    errorBox.hidden = true;
    render(errorBox);
    setMark(0);
  }

  // showError shows an error next to the editor: {kind, title, message,
  // line, col, field, where, actions}.
  function showError(e) {
    errorKind = e.kind;
    const loc = [];
    if (e.line) {
      const label = `line ${e.line}${e.col ? `, column ${e.col}` : ''}`;
      loc.push(editor && !e.elsewhere
        ? h('button', { type: 'button', class: 'link', id: 'config-error-goto', onclick: () => goTo(e.line, e.col) }, `Go to ${label}`)
        : h('span', {}, label));
    }
    if (e.field) loc.push(h('span', {}, 'field ', h('code', { id: 'config-error-field' }, e.field)));
    if (e.where) loc.push(h('span', { class: 'muted' }, e.where));
    render(errorBox,
      h('div', { class: 'row' }, h('strong', {}, e.title), h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'btn btn-sm', 'aria-label': 'Dismiss the error', onclick: clearError }, '×')),
      h('div', { class: 'error-text', id: 'config-error-message' }, e.message),
      loc.length ? h('div', { class: 'row small error-loc', id: 'config-error-loc' }, loc) : null,
      e.actions ? h('div', { class: 'row' }, e.actions) : null);
    errorBox.hidden = false;
    setMark(editor && !e.elsewhere ? e.line : 0);
  }

  function showJSONError(err) {
    showError({ kind: 'json', title: 'Invalid JSON: not saved', message: err.message, line: err.line, col: err.col });
  }

  function showResult(title, change) {
    const parts = changeSummary(change);
    render(resultBox,
      h('div', { class: 'row' }, h('strong', {}, title), h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'btn btn-sm', 'aria-label': 'Dismiss', onclick: () => { resultBox.hidden = true; } }, '×')),
      parts.length
        ? h('ul', { class: 'change-list', id: 'config-change' }, parts.map(([label, names]) => h('li', { dataset: { change: label.split(' ')[0].toLowerCase() } },
          label, names.length ? ': ' : '', names.map((n, i) => [i ? ', ' : '', h('code', {}, n)]))))
        : h('p', { class: 'muted small', id: 'config-change' }, 'Nothing changed.'));
    resultBox.hidden = false;
  }

  function showBanner(kind, content) {
    banner.className = `notice notice-${kind}`;
    render(banner, content);
    banner.hidden = false;
  }

  function updateDirty() {
    if (!dirtyNote) return;
    const d = dirty();
    dirtyNote.textContent = d ? '● unsaved changes' : 'no unsaved changes';
    dirtyNote.className = d ? 'small dirty' : 'small muted';
  }

  const liveCheck = debounce(() => {
    const r = checkJSON(editor.value);
    if (r.error) showJSONError(r.error);
    else if (errorKind === 'json') clearError();
  }, 500);

  function edited() {
    renderGutter();
    updateDirty();
    liveCheck();
  }

  // setConfig shows cfg as the loaded configuration.
  function setConfig(cfg) {
    config = cfg;
    loadedText = pretty(cfg);
    pending = null;
    stale = false;
    when.textContent = `loaded ${fmtTime(new Date())}`;
    if (editor) {
      editor.value = loadedText;
      if (errorKind !== 'rejected') clearError();
      renderGutter();
      updateDirty();
    } else {
      pre.innerHTML = highlightJSON(cfg);
    }
  }

  async function load() {
    try {
      setConfig(await api.config());
      banner.hidden = true;
    } catch (err) {
      reportError(err, 'config');
      if (!config && pre) pre.textContent = 'Could not load the configuration.';
    }
  }

  // external handles a configuration changed elsewhere (a file change,
  // another user, a template): shown at once, unless the editor has
  // unsaved edits, which are kept with a warning.
  async function external(what) {
    if (saving) return;
    if (!visible) { stale = true; return; }
    let cfg;
    try { cfg = await api.config(); } catch (err) { reportError(err, 'config'); return; }
    if (pretty(cfg) === loadedText) { stale = false; return; } // nothing new (our own save)
    if (dirty()) {
      pending = cfg;
      showBanner('warn', [
        h('strong', {}, 'The configuration changed on the daemon'), ` (${what}) while you were editing. `,
        'Your edits are kept; saving them would replace that change. ',
        h('button', { type: 'button', class: 'btn btn-sm', id: 'config-load-new', onclick: () => { setConfig(pending || cfg); banner.hidden = true; } }, 'Load the new configuration (discard my edits)'),
      ]);
      return;
    }
    setConfig(cfg);
    resultBox.hidden = true; // about an earlier save
    showBanner('info', [h('strong', {}, 'Reloaded: '), `the configuration changed on the daemon (${what}).`]);
  }

  async function doSave(force = false) {
    if (!editor || saving) return;
    const text = editor.value;
    const r = checkJSON(text);
    if (r.error) { showJSONError(r.error); goTo(r.error.line, r.error.col); return; }
    if (!r.value || typeof r.value !== 'object' || Array.isArray(r.value)) {
      showError({ kind: 'json', title: 'Not saved', message: 'The configuration must be a JSON object ({ … }).', line: 1, col: 1 });
      return;
    }
    if (!force) {
      const unknown = unknownFields(r.value);
      if (unknown.length) {
        const u = unknown[0];
        const at = locateConfigError(text, { byte: -1, message: '', field: u.field });
        showError({
          kind: 'json', title: 'Unknown field: not saved',
          message: `${unknown.map((x) => x.field).join(', ')}: not a configuration field (check the spelling; see docs/configuration.md). The daemon would drop ${unknown.length === 1 ? 'it' : 'them'}.`,
          line: at ? at.line : 0, col: at ? at.col : 0, field: u.field,
          actions: [h('button', { type: 'button', class: 'btn btn-sm', id: 'config-save-anyway', onclick: () => doSave(true) }, 'Save anyway')],
        });
        return;
      }
    }
    if (pending && !await confirmDialog('Replace the configuration?',
      'The configuration changed on the daemon since you started editing. Saving replaces that change with your version.', 'Replace')) return;
    saving = true;
    save.disabled = true;
    resultBox.hidden = true;
    try {
      const res = await api.putConfig(text);
      saving = false;
      setConfig(res.config || JSON.parse(text));
      banner.hidden = true;
      clearError();
      showResult('Saved.', res.change);
      toast(`Configuration saved: ${changeText(res.change)}`, { kind: 'success', timeout: 3500 });
      store.reloadPackages();
    } catch (err) {
      if (err.status === 422 || err.code === 'invalid_json' || err.code === 'invalid_config') {
        const info = parseConfigError(err.message);
        const at = locateConfigError(text, info, config);
        showError({
          kind: 'server', title: err.code === 'invalid_json' ? 'The daemon could not read the configuration: not saved' : 'Invalid configuration: not saved',
          message: err.message, line: at ? at.line : 0, col: at && at.what !== 'parent' ? at.col : 0, field: info.field,
          where: at && at.what === 'parent' ? '(the field is missing: its closest enclosing field is marked)' : '',
        });
        if (at) goTo(at.line, at.col);
      } else {
        showError({ kind: 'server', title: 'Not saved', message: `${err.message || err}${err.code ? ` (${err.code})` : ''}` });
      }
    } finally {
      saving = false;
      save.disabled = false;
      updateDirty();
    }
  }

  copy.addEventListener('click', async () => {
    const text = editor ? editor.value : config ? pretty(config) : '';
    if (!text) return;
    if (await copyText(text)) toast('Configuration copied', { kind: 'success', timeout: 2500 });
    else toast('The browser did not allow copying', { kind: 'error' });
  });
  reload.addEventListener('click', async () => {
    if (dirty() && !await confirmDialog('Discard your edits?', 'Reloading replaces the editor\'s content with the configuration the daemon uses now.', 'Discard and reload')) return;
    load();
  });
  store.on('config', (ev) => {
    // a configuration was accepted: an earlier refusal of the file is over
    if (errorKind === 'rejected') clearError();
    external(ev && ev.change ? changeText(ev.change) : 'reloaded');
  });
  store.on('configRejected', (ev) => {
    const info = parseConfigError(ev && ev.error);
    showError({
      kind: 'rejected', title: 'The daemon refused a change to the configuration file; it keeps running with the last good one',
      message: (ev && ev.error) || 'unknown error', line: info.line, col: info.col, field: info.field,
      elsewhere: true, where: info.file ? `in ${info.file.split('/').slice(-2).join('/')} on disk` : '',
    });
  });
  window.addEventListener('beforeunload', (e) => { if (dirty()) e.preventDefault(); });
  window.addEventListener('resize', debounce(() => placeMark(), 150));

  return {
    show() {
      visible = true;
      templates.show();
      if (stale && !dirty()) load();
      else if (stale) external('while this tab was hidden');
      placeMark();
    },
    hide() { visible = false; },
    get dirty() { return dirty(); },
    save: doSave,
  };
}
