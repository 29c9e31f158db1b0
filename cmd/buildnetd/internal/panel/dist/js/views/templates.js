// Templates (in the Config tab): the package templates of GET /templates
// with their params, and for admins an Apply form per template
// (POST /templates/{name}/apply). Errors show next to the form: a bad or
// missing value (400) marks the params it names, a name clash (409) the
// name, an invalid resulting configuration (422) its message.
import { can } from '../api.js';
import { h, render } from '../util.js';

// idPart makes a string usable in an element id.
const idPart = (s) => String(s).replace(/[^A-Za-z0-9_-]/g, '_');

// substitute fills {param} placeholders the way the daemon does for a
// preview ({{ is a literal {); unknown ones stay as written.
export function substitute(s, values) {
  return String(s || '').replace(/\{\{|\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name) => {
    if (!name) return '{';
    const v = values[name];
    return v === undefined || v === '' ? `{${name}}` : v;
  });
}

// patternRE compiles a param's pattern, anchored like the daemon's
// (RE2 and JavaScript agree on the common syntax); null when JavaScript
// cannot compile it, and the daemon alone checks it.
function patternRE(p) {
  if (!p) return null;
  try { return new RegExp(`^(?:${p})$`, 'u'); } catch { return null; }
}

// namedParams returns the params an apply error message names.
export function namedParams(message, params) {
  const names = new Set();
  const msg = String(message || '');
  let m = /missing values? for ([A-Za-z0-9_, ]+?)(?::|$)/.exec(msg);
  if (m) for (const n of m[1].split(/,\s*/)) names.add(n.trim());
  for (const x of msg.matchAll(/value "(?:[^"\\]|\\.)*" for ([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(x[1]);
  m = /unknown parameter ([A-Za-z_][A-Za-z0-9_]*)/.exec(msg);
  if (m) names.add(m[1]);
  return params.filter((p) => names.has(p.name)).map((p) => p.name);
}

export function createTemplates(root, { api, store, onApplied }) {
  const admin = can('admin');
  const list = h('div', { class: 'tpl-list', id: 'templates-list' }, h('p', { class: 'empty' }, 'Loading…'));
  const reload = h('button', { type: 'button', class: 'btn btn-sm', onclick: () => load() }, 'Reload');
  root.append(h('section', { class: 'card tpl-card', 'aria-labelledby': 'templates-title' },
    h('div', { class: 'card-head' }, h('h2', { id: 'templates-title' }, 'Templates'),
      h('span', { class: 'muted small' }, admin ? 'add packages from a template' : 'applying needs the admin role'),
      h('span', { class: 'spacer' }), reload),
    list));

  let loaded = false;

  async function load() {
    try {
      const r = await api.templates();
      loaded = true;
      const ts = (r && r.templates) || [];
      render(list, ts.length ? ts.map(template) : h('p', { class: 'empty' }, 'No templates.'));
    } catch (err) {
      render(list, h('p', { class: 'error-text', role: 'alert' }, `Cannot list the templates: ${err.message || err}`));
    }
  }

  function template(t) {
    const tid = `tpl-${idPart(t.name)}`;
    const params = t.params || [];
    const inputs = new Map();
    const hints = new Map();
    const preview = h('p', { class: 'small muted tpl-preview', id: `${tid}-preview` });
    const result = h('div', { class: 'tpl-result', id: `${tid}-result`, 'aria-live': 'polite' });

    const values = () => {
      const v = {};
      for (const [name, input] of inputs) if (input.value.trim() !== '') v[name] = input.value.trim();
      return v;
    };
    const updatePreview = () => {
      const v = {};
      for (const p of params) v[p.name] = p.default || '';
      Object.assign(v, values());
      const pkgs = (t.packages || []).map((p) => `${substitute(p.name, v)} at ${substitute(p.path, v)}`);
      preview.textContent = pkgs.length ? `Adds ${pkgs.join(', ')}. Create the folder first.` : '';
    };
    const mark = (name, msg) => {
      const input = inputs.get(name);
      if (!input) return;
      input.setAttribute('aria-invalid', msg ? 'true' : 'false');
      const hint = hints.get(name);
      hint.err.textContent = msg || '';
      hint.err.hidden = !msg;
    };

    const rows = params.map((p) => {
      const id = `${tid}-param-${idPart(p.name)}`;
      const desc = [p.description, p.pattern ? `pattern: ${p.pattern}` : '', p.default !== undefined && p.default !== '' ? `default: ${p.default}` : ''].filter(Boolean).join(' · ');
      const err = h('span', { class: 'field-error', id: `${id}-error`, hidden: true });
      const hint = h('span', { class: 'small muted', id: `${id}-hint` }, desc);
      hints.set(p.name, { err });
      if (!admin) {
        return h('li', { class: 'tpl-param' },
          h('code', {}, p.name), p.required ? h('span', { class: 'req', title: 'required' }, ' *') : null, ' ', hint);
      }
      const input = h('input', {
        type: 'text', id, name: p.name, autocomplete: 'off', spellcheck: 'false',
        placeholder: p.default || '', required: !!p.required, 'aria-required': p.required ? 'true' : 'false',
        'aria-describedby': `${id}-hint ${id}-error`, dataset: { param: p.name },
      });
      input.addEventListener('input', () => { mark(p.name, ''); updatePreview(); });
      inputs.set(p.name, input);
      return h('div', { class: 'tpl-field' },
        h('label', { for: id }, h('code', {}, p.name), p.required ? h('span', { class: 'req' }, ' *', h('span', { class: 'sr-only' }, ' (required)')) : h('span', { class: 'muted small' }, ' optional')),
        input, hint, err);
    });

    let form = null;
    if (admin) {
      const apply = h('button', { type: 'submit', class: 'btn btn-sm btn-primary', 'data-need': 'admin', dataset: { templateApply: t.name } }, 'Apply');
      form = h('form', { class: 'tpl-form', id: `${tid}-form`, novalidate: true, 'aria-label': `Apply the template ${t.name}` },
        rows, preview, h('div', { class: 'row' }, apply, h('span', { class: 'muted small' }, '* required')), result);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        render(result);
        // checked here first; the daemon checks again
        let bad = false;
        for (const p of params) {
          const v = inputs.get(p.name).value.trim();
          let msg = '';
          if (p.required && !v) msg = 'required';
          else if (v && p.pattern) {
            const re = patternRE(p.pattern);
            if (re && !re.test(v)) msg = `must match ${p.pattern}`;
          }
          mark(p.name, msg);
          if (msg && !bad) { inputs.get(p.name).focus(); bad = true; }
        }
        if (bad) return;
        apply.disabled = true;
        try {
          const res = await api.applyTemplate(t.name, values());
          const added = (res && res.change && res.change.added) || [];
          render(result, h('div', { class: 'ok-box', role: 'status', id: `${tid}-ok` },
            h('div', {},
              h('strong', {}, added.length ? `Added ${added.length === 1 ? 'package' : 'packages'} ${added.join(', ')}` : 'Applied; no package was added'),
              ` from ${res.template || t.name}. `,
              added.length ? h('button', { type: 'button', class: 'link', onclick: () => onApplied && onApplied(added, true) }, 'Show in Packages') : null)));
          for (const input of inputs.values()) input.value = '';
          updatePreview();
          store.reloadPackages();
          if (onApplied) onApplied(added, false);
        } catch (err) {
          const title = {
            400: 'Bad value', 404: 'No such template', 409: 'Name already in use', 422: 'Invalid configuration',
          }[err.status] || 'Cannot apply';
          render(result, h('div', { class: 'error-box', role: 'alert', id: `${tid}-error`, dataset: { status: String(err.status || '') } },
            h('strong', {}, title), h('div', { class: 'error-text' }, err.message || String(err))));
          const named = err.status === 409 ? ['name'] : namedParams(err.message, params);
          for (const n of named) mark(n, err.status === 409 ? 'already in use' : 'see the error below');
          if (named.length && inputs.get(named[0])) inputs.get(named[0]).focus();
        } finally {
          apply.disabled = false;
        }
      });
      updatePreview();
    }

    return h('article', { class: 'tpl', dataset: { template: t.name }, 'aria-labelledby': `${tid}-title` },
      h('div', { class: 'row' },
        h('h3', { class: 'tpl-name mono', id: `${tid}-title` }, t.name),
        h('span', { class: 'badge badge-tier' }, t.source || 'bundled')),
      t.description ? h('p', { class: 'small tpl-desc' }, t.description) : null,
      admin ? form : h('ul', { class: 'tpl-params' }, rows));
  }

  return {
    show() { if (!loaded) load(); },
    load,
  };
}
