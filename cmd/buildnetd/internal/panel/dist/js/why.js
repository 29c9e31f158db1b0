// Why a package got its tier: reasons (see docs/explain.md) as one line of
// text for tables, and the Why view, a grouped and readable diff of the
// package's inputs: files, environment, commands, global inputs and
// dependencies (nested, each showing why it changed), with the checks
// that let it skip work.
import { reportError } from './api.js';
import { tierLabel } from './status.js';
import { fmtTime, h, render, shortId, toast } from './util.js';

// parseReasons accepts a list of reasons, one reason, or either as stored
// JSON text, and returns a list.
export function parseReasons(r) {
  if (!r) return [];
  if (typeof r === 'string') {
    try { return parseReasons(JSON.parse(r)); } catch { return [{ kind: r }]; }
  }
  if (Array.isArray(r)) return r.filter((x) => x && typeof x === 'object');
  return typeof r === 'object' ? [r] : [];
}

const COMMANDS = { build_cmd: 'build_cmd', pre_build: 'pre_build hook', post_build: 'post_build hook', output_dir: 'output_dir' };

// reasonText renders one reason for people, without its nested reasons:
// "file src/x.ts changed", "env NODE_ENV changed", "dependency shared
// changed".
export function reasonText(r) {
  if (!r) return '';
  switch (r.kind) {
    case 'unchanged_stat': return 'no source changed (stat check)';
    case 'unchanged_content': return 'files touched, contents unchanged';
    case 'cache_hit': return `cache hit (${r.source || 'local'})`;
    case 'no_previous_build': return 'no previous build';
    case 'forced': return 'forced';
    case 'outputs_missing': return 'outputs missing or changed';
    case 'file_added': return `file ${r.path} added`;
    case 'file_removed': return `file ${r.path} removed`;
    case 'file_changed': return `file ${r.path} changed`;
    case 'mode_changed': return `mode of ${r.path} changed`;
    case 'env_changed': return `env ${r.name} changed`;
    case 'command_changed': return `${COMMANDS[r.name] || r.name || 'command'} changed`;
    case 'global_input_changed': return `global input ${r.path} changed`;
    case 'dependency_changed': return `dependency ${r.dependency} changed`;
    case 'dependency_failed': return `dependency ${r.dependency} failed`;
    case 'inputs_changed': return r.message ? `inputs changed: ${r.message}` : 'inputs changed';
    default: {
      const kind = String(r.kind || 'unknown').replace(/_/g, ' ');
      return [kind, r.path || r.name || r.dependency, r.message].filter(Boolean).join(': ');
    }
  }
}

// reasonChain renders a reason with its first nested reason, recursively:
// "dependency core changed: dependency shared changed: file src/x.ts
// changed" (as docs/explain.md renders them).
export function reasonChain(r) {
  const parts = [];
  for (let cur = r, depth = 0; cur && depth < 12; cur = (cur.reasons || [])[0], depth++) parts.push(reasonText(cur));
  return parts.join(': ');
}

// reasonSummary is the first reason in full and how many more there are.
export function reasonSummary(reasons) {
  const rs = parseReasons(reasons);
  if (!rs.length) return '';
  return rs.length > 1 ? `${reasonChain(rs[0])} (+${rs.length - 1} more)` : reasonChain(rs[0]);
}

// The groups of the Why view, in order. kinds: the reason kinds each holds.
export const GROUPS = [
  { id: 'checks', title: 'Cache and skip checks', kinds: ['unchanged_stat', 'unchanged_content', 'cache_hit'] },
  { id: 'decision', title: 'Build decision', kinds: ['no_previous_build', 'forced', 'outputs_missing', 'inputs_changed'] },
  { id: 'files', title: 'Files', kinds: ['file_added', 'file_removed', 'file_changed', 'mode_changed'] },
  { id: 'env', title: 'Environment', kinds: ['env_changed'] },
  { id: 'commands', title: 'Commands', kinds: ['command_changed'] },
  { id: 'global', title: 'Global inputs', kinds: ['global_input_changed'] },
  { id: 'deps', title: 'Dependencies', kinds: ['dependency_changed', 'dependency_failed'] },
  { id: 'other', title: 'Other', kinds: [] },
];

// groupReasons sorts reasons into GROUPS: {groupId: [reasons]}.
export function groupReasons(reasons) {
  const out = {};
  for (const r of parseReasons(reasons)) {
    const g = GROUPS.find((x) => x.kinds.includes(r.kind)) || GROUPS[GROUPS.length - 1];
    (out[g.id] ||= []).push(r);
  }
  if (out.files) out.files.sort((a, b) => String(a.path).localeCompare(String(b.path)));
  return out;
}

const FILE_MARK = { file_added: ['+', 'add'], file_removed: ['−', 'del'], file_changed: ['~', 'mod'], mode_changed: ['±', 'mode'] };

const CHECK_TEXT = {
  unchanged_stat: 'Stat check passed: no source file\'s size, modification time, inode or mode changed (instant skip; nothing was read).',
  unchanged_content: 'Content check passed: some files were touched, but their contents are the same (hash skip).',
};

const DECISION_TEXT = {
  no_previous_build: 'The package never built successfully before: nothing to compare with.',
  forced: 'The build was forced: the command ran whatever the inputs.',
  outputs_missing: 'The inputs are the same, but the outputs were deleted or changed.',
};

// item renders one reason of a group (not a dependency).
function item(r) {
  const text = reasonText(r);
  if (FILE_MARK[r.kind]) {
    const [mark, cls] = FILE_MARK[r.kind];
    return h('li', { class: `why-file why-${cls}`, dataset: { kind: r.kind } },
      h('span', { class: 'why-mark', 'aria-hidden': 'true' }, mark), ' ', text);
  }
  if (r.kind === 'env_changed') {
    return h('li', { dataset: { kind: r.kind } }, text, h('span', { class: 'muted small' }, ' · the value is never shown or stored'));
  }
  if (r.kind === 'cache_hit') {
    return h('li', { dataset: { kind: r.kind } }, text,
      h('span', { class: 'muted small' }, ` · outputs restored from the ${r.source === 'remote' ? 'remote (shared)' : 'local'} cache`));
  }
  if (CHECK_TEXT[r.kind]) return h('li', { dataset: { kind: r.kind } }, h('span', { class: 'why-ok', 'aria-hidden': 'true' }, '✓ '), CHECK_TEXT[r.kind]);
  if (DECISION_TEXT[r.kind]) return h('li', { dataset: { kind: r.kind } }, text, h('span', { class: 'muted small' }, ` · ${DECISION_TEXT[r.kind]}`));
  return h('li', { dataset: { kind: r.kind } }, text);
}

// dependency renders a dependency reason; a changed dependency is a
// collapsible block with its own reasons, grouped the same way.
function dependency(r, depth) {
  if (r.kind !== 'dependency_changed') return h('li', { class: 'why-dep-failed', dataset: { kind: r.kind, dep: r.dependency } }, reasonText(r));
  const sub = parseReasons(r.reasons);
  const count = sub.length ? `${sub.length} reason${sub.length === 1 ? '' : 's'}` : 'its digest changed';
  return h('li', { dataset: { kind: r.kind, dep: r.dependency } },
    h('details', { class: 'why-dep', open: depth < 3 },
      h('summary', {}, reasonText(r), h('span', { class: 'muted small' }, ` · ${count}`)),
      h('div', { class: 'why-nested' },
        sub.length ? groups(sub, depth + 1) : h('p', { class: 'muted small' }, 'No finer reason was recorded for this dependency.'))));
}

// groups renders reasons grouped; depth 0 is the top level.
export function groups(reasons, depth = 0) {
  const g = groupReasons(reasons);
  const out = [];
  for (const grp of GROUPS) {
    const rs = g[grp.id];
    if (!rs || !rs.length) continue;
    const Heading = depth === 0 ? 'h3' : 'h4';
    out.push(h('section', { class: `why-group why-group-${grp.id}`, dataset: { group: grp.id } },
      h(Heading, { class: 'why-group-title' }, grp.title, h('span', { class: 'why-count' }, String(rs.length))),
      h('ul', { class: grp.id === 'files' ? 'why-list why-files' : 'why-list' },
        rs.map((r) => (grp.id === 'deps' ? (depth > 24 ? h('li', {}, reasonText(r)) : dependency(r, depth)) : item(r))))));
  }
  if (!out.length) out.push(h('p', { class: 'muted' }, 'No input differences.'));
  return out;
}

// copyText puts text on the clipboard, with a fallback for pages the
// Clipboard API refuses.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = h('textarea', { class: 'offscreen', 'aria-hidden': 'true', readonly: true });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    return ok;
  }
}

// createWhy makes the Why card: open(model) shows a package's decision,
// where model is {package, build_id, tier, status, digest, reasons, error,
// latest} (latest: build_id is the package's last build).
export function createWhy({ api, onOpenBuild }) {
  const el = h('section', { class: 'card why', id: 'why-view', hidden: true, 'aria-labelledby': 'why-title', tabindex: -1 });
  let model = null;
  let seq = 0;

  function close() {
    el.hidden = true;
    model = null;
    seq++;
  }

  async function loadSince(select, pkg, buildId) {
    try {
      const r = await api.builds({ package: pkg, limit: 30 });
      const builds = ((r && r.builds) || []).filter((b) => b.status !== 'running' && b.status !== 'queued');
      if (model && model.package === pkg && model.latest === undefined) model.latest = !!builds.length && builds[0].id === buildId;
      const opts = [];
      for (const b of builds) {
        if (b.id === buildId) continue;
        const p = (b.packages || []).find((x) => x.name === pkg);
        if (!p) continue;
        opts.push(h('option', { value: b.id, dataset: { digest: p.digest || '' } },
          `${shortId(b.id)} · ${fmtTime(b.started_at || b.created_at)} · ${p.tier ? tierLabel(p.tier) : p.status}`));
      }
      render(select, opts.length ? opts : h('option', { value: '' }, 'no other build of this package'));
      select.disabled = !opts.length;
      // preselect the build just before this one (the list is newest first)
      const at = builds.findIndex((b) => b.id === buildId);
      const before = at >= 0 ? builds.slice(at + 1).find((b) => opts.some((o) => o.value === b.id)) : null;
      if (before) select.value = before.id;
    } catch (err) {
      render(select, h('option', { value: '' }, 'could not list the builds'));
      reportError(err, 'builds');
    }
  }

  async function compare(select, out, back) {
    const since = select.value;
    if (!since || !model) return;
    const my = ++seq;
    const m = model;
    render(out, h('p', { class: 'muted' }, 'Comparing…'));
    try {
      let reasons;
      if (m.latest) {
        reasons = (await api.why(m.package, since)).reasons;
      } else {
        // a past build: compare its manifest with the other build's
        const a = select.selectedOptions[0] && select.selectedOptions[0].dataset.digest;
        if (!a || !m.digest) throw new Error('one of the two builds has no digest for this package (it did not run)');
        reasons = (await api.inputDiff(a, m.digest)).reasons;
      }
      if (my !== seq) return;
      render(out,
        h('div', { class: 'why-since-head' },
          h('strong', {}, `Input differences since build ${shortId(since)}`),
          h('span', { class: 'muted small' }, ` → ${shortId(m.build_id)}`), h('span', { class: 'spacer' }), back),
        h('div', { id: 'why-since-result' }, groups(reasons || [])));
    } catch (err) {
      if (my !== seq) return;
      render(out, h('p', { class: 'error-text', role: 'alert', id: 'why-since-error' }, `Cannot compare: ${err.message || err}`), back);
    }
  }

  function show(m) {
    model = { ...m, reasons: parseReasons(m.reasons) };
    seq++;
    const pkg = model.package;
    const digest = model.digest || '';
    const body = h('div', { id: 'why-body' }, groups(model.reasons));
    const select = h('select', { id: 'why-since', 'aria-label': `An earlier build of ${pkg} to compare with` }, h('option', { value: '' }, 'loading…'));
    select.disabled = true;
    const sinceOut = h('div', { id: 'why-since-out' });
    const back = h('button', { type: 'button', class: 'btn btn-sm', onclick: () => { seq++; render(sinceOut); body.hidden = false; } }, 'Back to this build\'s reasons');
    const cmp = h('button', { type: 'button', class: 'btn btn-sm', id: 'why-compare', onclick: () => { body.hidden = true; compare(select, sinceOut, back); } }, 'Compare');
    const copy = h('button', { type: 'button', class: 'btn btn-sm', id: 'why-copy-digest', 'aria-label': `Copy the digest of ${pkg}`, disabled: !digest, onclick: async () => {
      if (await copyText(digest)) toast('Digest copied', { kind: 'success', timeout: 2500 });
      else toast('The browser did not allow copying', { kind: 'error' });
    } }, 'Copy');
    const first = model.reasons[0];
    render(el,
      h('div', { class: 'detail-head' },
        h('h2', { id: 'why-title', style: { margin: 0 } }, 'Why ', h('span', { class: 'mono' }, pkg), model.tier ? `: ${tierLabel(model.tier)}` : ''),
        model.status ? h('span', { class: `badge badge-${model.status}` }, model.status) : null,
        model.build_id ? h('span', { class: 'muted small' }, 'in build ',
          onOpenBuild ? h('button', { type: 'button', class: 'link mono', title: model.build_id, onclick: () => onOpenBuild(model.build_id) }, shortId(model.build_id)) : h('span', { class: 'mono' }, shortId(model.build_id))) : null,
        h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'btn btn-sm', 'aria-label': 'Close the Why view', onclick: close }, '×')),
      h('p', { class: 'why-summary', id: 'why-summary' },
        first ? [model.tier ? `${tierLabel(model.tier)} because ` : '', reasonChain(first)] : 'No reason was recorded.'),
      model.error ? h('p', { class: 'error-text' }, model.error) : null,
      h('div', { class: 'why-digest row' },
        h('span', { class: 'muted small' }, 'digest'),
        h('code', { id: 'why-digest', class: 'mono truncate', title: digest }, digest || '–'),
        copy),
      h('div', { class: 'row why-compare' },
        h('label', { class: 'muted small', for: 'why-since' }, 'Since build…'), select, cmp),
      body, sinceOut);
    el.hidden = false;
    loadSince(select, pkg, model.build_id);
    el.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    el.focus({ preventScroll: true });
  }

  return {
    el,
    show,
    close,
    get model() { return model; },
  };
}
