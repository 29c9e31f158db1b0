// Files: the workspace's package sources as a tree (GET /files,
// /files/list), a file's content, its diff against the last commit or
// between two saved versions, and its history. Admins also get an editor
// and can drag a file onto a folder of another package to move it; for
// other roles those controls are not rendered at all (and the daemon
// refuses them anyway).
import { can, reportError } from '../api.js';
import { fmtBytes, fmtTime, h, render, toast } from '../util.js';

export function createFiles(root, { api }) {
  const admin = can('admin');
  const tree = h('div', { class: 'tree', id: 'files-tree', role: 'tree', 'aria-label': 'Package sources' });
  const view = h('div', { class: 'file-view', id: 'file-view' }, h('p', { class: 'empty' }, 'Pick a file.'));
  root.append(h('div', { class: 'files' }, tree, view));

  let loaded = false;
  let current = null; // the file shown: {path, sha256, content, binary}

  function node(entry) {
    const li = h('li', { role: 'treeitem' });
    const label = h('span', {
      class: 'node', tabindex: 0,
      dataset: { path: entry.path, type: entry.type },
      title: entry.type === 'symlink' ? 'symbolic link (not followed)' : entry.path,
    }, `${entry.type === 'dir' ? '▸ ' : entry.type === 'symlink' ? '↪ ' : ''}${entry.name}`);
    li.append(label);
    if (entry.type === 'dir') {
      let open = false;
      const children = h('ul', { role: 'group', hidden: true });
      li.append(children);
      const toggle = async () => {
        open = !open;
        label.textContent = `${open ? '▾ ' : '▸ '}${entry.name}`;
        children.hidden = !open;
        if (open) await expand(entry.path, children);
      };
      label.addEventListener('click', toggle);
      label.addEventListener('keydown', (e) => { if (e.key === 'Enter') toggle(); });
      if (admin) {
        // A folder is a drop target: the dragged file moves into it.
        label.addEventListener('dragover', (e) => { e.preventDefault(); label.classList.add('drop'); });
        label.addEventListener('dragleave', () => label.classList.remove('drop'));
        label.addEventListener('drop', async (e) => {
          e.preventDefault();
          label.classList.remove('drop');
          const from = e.dataTransfer.getData('text/x-buildnet-path');
          if (!from) return;
          await move(from, `${entry.path}/`);
        });
      }
    } else if (entry.type === 'file') {
      label.addEventListener('click', () => open(entry.path, label));
      label.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(entry.path, label); });
      if (admin) {
        label.draggable = true;
        label.addEventListener('dragstart', (e) => {
          e.dataTransfer.setData('text/x-buildnet-path', entry.path);
          e.dataTransfer.effectAllowed = 'move';
        });
      }
    }
    return li;
  }

  async function expand(path, ul) {
    try {
      const res = await api.list(path);
      render(ul, res.entries.length ? res.entries.map(node) : h('li', { class: 'muted' }, 'empty'));
    } catch (err) {
      reportError(err, 'files');
    }
  }

  async function loadRoots() {
    try {
      const res = await api.files();
      const ul = h('ul', {});
      render(tree, ul);
      render(ul, res.entries.map((e) => node({ ...e, name: `${e.package} (${e.path || '.'})` })));
      loaded = true;
    } catch (err) {
      reportError(err, 'files');
    }
  }

  async function move(from, toDir) {
    try {
      const res = await api.moveFile(from, toDir);
      toast(`Moved ${from} to ${res.to}`, { kind: 'success' });
      await loadRoots();
    } catch (err) {
      reportError(err, 'move');
    }
  }

  function diffView(d) {
    if (d.binary) return h('p', {}, d.changed ? 'Binary files differ.' : 'Binary files are identical.');
    if (!d.changed) return h('p', { class: 'muted' }, 'No changes.');
    const pre = h('pre', { class: 'diff', id: 'file-diff' });
    for (const hk of d.hunks) {
      pre.append(h('div', { class: 'hunk' }, `@@ -${hk.old_start},${hk.old_lines} +${hk.new_start},${hk.new_lines} @@`));
      for (const l of hk.lines) {
        pre.append(h('div', { class: l.kind === '+' ? 'add' : l.kind === '-' ? 'del' : 'ctx' }, `${l.kind}${l.text}`));
      }
    }
    return pre;
  }

  async function showDiff(path, from, to, out) {
    try {
      render(out, diffView(await api.diff(path, from, to)));
    } catch (err) {
      render(out, h('p', { class: 'muted' }, err.message));
    }
  }

  async function showHistory(path, out) {
    try {
      const res = await api.history(path);
      const versions = res.versions || [];
      const pick = (id) => h('select', { id }, versions.map((v) => h('option', { value: `version:${v.seq}` }, `#${v.seq} ${fmtTime(v.created_at)} ${v.actor || ''}`)));
      const a = pick('version-a');
      const b = pick('version-b');
      if (versions.length > 1) a.selectedIndex = 1;
      const diffOut = h('div', {});
      render(out,
        h('h3', {}, 'Commits'),
        res.git
          ? (res.commits.length ? h('ul', { id: 'file-commits' }, res.commits.map((c) => h('li', {}, h('span', { class: 'mono' }, c.hash.slice(0, 8)), ` ${c.subject} — ${c.author}, ${fmtTime(c.time)}`)))
            : h('p', { class: 'muted' }, 'Not committed yet.'))
          : h('p', { class: 'muted' }, 'The workspace is not in a git repository.'),
        h('h3', {}, 'Saved versions'),
        versions.length > 1
          ? h('div', { class: 'filters' }, a, b, h('button', { type: 'button', class: 'btn btn-sm', onclick: () => showDiff(path, a.value, b.value, diffOut) }, 'Compare'))
          : h('p', { class: 'muted' }, 'Fewer than two saved versions.'),
        diffOut);
    } catch (err) {
      reportError(err, 'history');
    }
  }

  async function open(path, label) {
    for (const n of tree.querySelectorAll('.node.selected')) n.classList.remove('selected');
    if (label) label.classList.add('selected');
    try {
      const f = await api.file(path);
      current = f;
      const body = h('div', { id: 'file-body' });
      const extra = h('div', { id: 'file-extra' });
      const head = h('div', { class: 'file-head' },
        h('strong', { class: 'mono', id: 'file-path' }, f.path),
        h('span', { class: 'muted small' }, `${f.package} · ${fmtBytes(f.size)} · ${f.mode} · ${fmtTime(f.mod_time)}`),
        h('span', { class: 'spacer' }),
        h('a', { class: 'btn btn-sm', href: api.rawURL(f.path), download: f.path.split('/').pop() }, 'Download'),
        h('button', { type: 'button', class: 'btn btn-sm', id: 'file-diff-git', onclick: () => showDiff(f.path, 'git', 'working', extra) }, 'Diff vs git'),
        h('button', { type: 'button', class: 'btn btn-sm', id: 'file-history', onclick: () => showHistory(f.path, extra) }, 'History'),
        // The editor exists only for admins.
        admin && !f.binary && !f.too_large
          ? h('button', { type: 'button', class: 'btn btn-sm btn-primary', id: 'file-edit', onclick: () => edit(body) }, 'Edit')
          : null);
      if (f.binary) render(body, h('p', { class: 'muted', id: 'file-binary' }, `Binary file, ${fmtBytes(f.size)}: not shown.`));
      else if (f.too_large) render(body, h('p', { class: 'muted' }, `Too large to show (${fmtBytes(f.size)}).`));
      else render(body, h('pre', { id: 'file-content' }, f.content));
      render(view, head, body, extra);
    } catch (err) {
      reportError(err, 'file');
    }
  }

  function edit(body) {
    const f = current;
    const area = h('textarea', { id: 'file-editor', spellcheck: 'false' });
    area.value = f.content;
    const save = h('button', { type: 'button', class: 'btn btn-sm btn-primary', id: 'file-save' }, 'Save');
    const cancel = h('button', { type: 'button', class: 'btn btn-sm', onclick: () => open(f.path) }, 'Cancel');
    save.addEventListener('click', async () => {
      save.disabled = true;
      try {
        await api.saveFile(f.path, area.value, f.sha256);
        toast(`Saved ${f.path}`, { kind: 'success' });
        await open(f.path);
      } catch (err) {
        reportError(err, 'save');
        save.disabled = false;
      }
    });
    render(body, area, h('div', { class: 'row' }, save, cancel));
    area.focus();
  }

  return {
    show() { if (!loaded) loadRoots(); },
    hide() {},
    open,
    move,
  };
}
