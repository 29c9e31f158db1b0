// Packages: one card per package and the interactive dependency graph
// (cytoscape). A node's colour is its last status/tier; clicking a node
// builds that package, right-clicking it (or a card's Why button) shows why
// it got its tier in its last build; nodes can be dragged; the graph
// exports to SVG and PNG.
import cytoscape from '../../vendor/cytoscape/cytoscape.esm.min.js';
import { reportError } from '../api.js';
import { STATUS_COLORS, STATUS_LABELS, tierLabel } from '../status.js';
import { debounce, download, escapeHTML, fmtAgo, fmtMs, h, render, shortId, toast } from '../util.js';

const NODE_H = 34;
const COL_W = 210;
const ROW_H = 64;
const TEXT_ON = { built: '#04260f', cached: '#032a27', building: '#2b1d00', failed: '#ffffff', skipped: '#ffffff', never: '#ffffff' };
const BORDER = { built: '#2ea043', cached: '#2a9d95', building: '#f0c05a', failed: '#da3633', skipped: '#8957e5', never: '#8b949e' };
const FONT = 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace';

function nodeWidth(label) {
  return Math.max(96, Math.round(label.length * 7.6 + 30));
}

// levels gives each package its depth: 0 without dependencies, else one
// more than its deepest dependency. It prefers the server's /graph levels.
function levels(pkgs, graph) {
  const lv = new Map();
  if (graph && Array.isArray(graph.nodes)) for (const n of graph.nodes) if (typeof n.level === 'number') lv.set(n.name, n.level);
  const deps = new Map(pkgs.map((p) => [p.name, (p.dependencies || []).filter((d) => pkgs.some((q) => q.name === d))]));
  const visit = (n, seen = new Set()) => {
    if (lv.has(n)) return lv.get(n);
    if (seen.has(n)) return 0; // a cycle cannot load, but never loop
    seen.add(n);
    const l = Math.max(-1, ...deps.get(n).map((d) => visit(d, seen))) + 1;
    lv.set(n, l);
    return l;
  };
  for (const p of pkgs) visit(p.name);
  return lv;
}

// layeredPositions places levels in columns, ordering each column by the
// mean row of its dependencies to keep edges short and crossings few.
function layeredPositions(pkgs, graph) {
  const lv = levels(pkgs, graph);
  const cols = [];
  for (const p of pkgs) {
    const l = lv.get(p.name) || 0;
    (cols[l] ||= []).push(p);
  }
  const row = new Map();
  const pos = {};
  const tallest = Math.max(1, ...cols.map((c) => (c ? c.length : 0)));
  cols.forEach((col, l) => {
    if (!col) return;
    const key = (p) => {
      const ds = (p.dependencies || []).filter((d) => row.has(d));
      return ds.length ? ds.reduce((s, d) => s + row.get(d), 0) / ds.length : Number.MAX_SAFE_INTEGER;
    };
    col.sort((a, b) => key(a) - key(b) || a.name.localeCompare(b.name));
    const offset = (tallest - col.length) / 2;
    col.forEach((p, i) => {
      row.set(p.name, i + offset);
      pos[p.name] = { x: l * COL_W, y: (i + offset) * ROW_H };
    });
  });
  return pos;
}

const STYLE = [
  {
    selector: 'node',
    style: {
      shape: 'round-rectangle',
      width: 'data(w)',
      height: NODE_H,
      label: 'data(label)',
      'font-family': FONT,
      'font-size': 12,
      'font-weight': 600,
      'text-valign': 'center',
      'text-halign': 'center',
      'background-color': STATUS_COLORS.never,
      'border-width': 2,
      'border-color': BORDER.never,
      color: TEXT_ON.never,
      'transition-property': 'background-color, border-color',
      'transition-duration': 250,
    },
  },
  ...Object.keys(STATUS_COLORS).map((s) => ({
    selector: `node.st-${s}`,
    style: { 'background-color': STATUS_COLORS[s], 'border-color': BORDER[s], color: TEXT_ON[s] },
  })),
  { selector: 'node.st-building', style: { 'border-width': 3, 'border-style': 'dashed' } },
  { selector: 'node:selected', style: { 'overlay-color': '#58a6ff', 'overlay-opacity': 0.18, 'overlay-padding': 5 } },
  { selector: 'node.hover', style: { 'border-color': '#58a6ff', 'border-width': 3 } },
  { selector: 'node.dim', style: { opacity: 0.25 } },
  {
    selector: 'edge',
    style: {
      width: 1.6,
      'curve-style': 'bezier',
      'line-color': '#484f58',
      'target-arrow-color': '#484f58',
      'target-arrow-shape': 'triangle',
      'arrow-scale': 0.9,
    },
  },
  { selector: 'edge.long', style: { 'curve-style': 'unbundled-bezier', 'control-point-distances': -(ROW_H * 1.4), 'control-point-weights': 0.5 } },
  { selector: 'edge.hl', style: { 'line-color': '#58a6ff', 'target-arrow-color': '#58a6ff', width: 2.4 } },
  { selector: 'edge.dim', style: { opacity: 0.15 } },
];

export function createPackages(root, { store, api, openWhy }) {
  const container = h('div', { class: 'graph', id: 'graph', role: 'img', 'aria-label': 'Package dependency graph: click a package to build it' });
  const search = h('input', { type: 'search', placeholder: 'Filter packages…', 'aria-label': 'Filter packages', id: 'pkg-filter' });
  const cards = h('div', { class: 'pkg-cards', id: 'pkg-cards' });
  const count = h('span', { class: 'muted small' });
  const btn = (label, onclick, attrs = {}) => h('button', { type: 'button', class: 'btn btn-sm', onclick, ...attrs }, label);
  const toolbar = h('div', { class: 'graph-toolbar' },
    h('h2', { style: { margin: 0 } }, 'Dependency graph'), count,
    h('span', { class: 'spacer' }),
    h('span', { class: 'muted small' }, 'click a package to build it · right-click: why · drag to move'),
    btn('Fit', () => cy && cy.animate({ fit: { padding: 40 } }, { duration: 250 }), { title: 'Fit the graph in view' }),
    btn('Re-layout', () => relayout(true), { title: 'Put the packages back in dependency order' }),
    btn('Export SVG', () => exportSVG(), { id: 'export-svg' }),
    btn('Export PNG', () => exportPNG(), { id: 'export-png' }));
  const legend = h('div', { class: 'legend', 'aria-label': 'Colour legend' },
    Object.keys(STATUS_COLORS).map((s) => h('span', {}, h('span', { class: 'dot', style: { background: STATUS_COLORS[s] } }), STATUS_LABELS[s])));
  root.append(h('div', { class: 'pkg-layout' },
    h('div', { class: 'card graph-card' }, toolbar, container, legend),
    h('div', { class: 'stack' }, search, cards)));

  let cy = null;
  let visible = false;
  let fitted = false;
  let filter = '';

  function pkgList() {
    return store.packageNames().map((n) => store.packages.get(n));
  }

  function elements() {
    const pkgs = pkgList();
    const names = new Set(pkgs.map((p) => p.name));
    const pos = layeredPositions(pkgs, store.graph);
    const lv = levels(pkgs, store.graph);
    const els = [];
    for (const p of pkgs) {
      const status = store.displayStatusOf(p.name);
      els.push({ group: 'nodes', data: { id: p.name, label: p.name, w: nodeWidth(p.name), status }, classes: `st-${status}`, position: pos[p.name] });
    }
    for (const p of pkgs) {
      for (const d of p.dependencies || []) {
        if (!names.has(d)) continue;
        // an edge that skips a level would run through the nodes between
        const long = (lv.get(p.name) || 0) - (lv.get(d) || 0) > 1;
        els.push({ group: 'edges', data: { id: `${d}->${p.name}`, source: d, target: p.name }, classes: long ? 'long' : '' });
      }
    }
    return els;
  }

  async function buildPackage(name, force = false) {
    try {
      const r = await api.buildPackage(name, force);
      toast(`Building ${name}${r && r.id ? ` (${shortId(r.id)})` : ''}`, { kind: 'success', timeout: 3500 });
    } catch (err) {
      reportError(err, `build ${name}`);
    }
  }

  function highlight(node, on) {
    if (!cy) return;
    const hood = node.predecessors().union(node.successors());
    node.toggleClass('hover', on);
    hood.edges().toggleClass('hl', on);
    container.title = on ? tooltip(node.id()) : '';
    const card = cards.querySelector(`[data-pkg="${CSS.escape(node.id())}"]`);
    if (card) card.classList.toggle('highlight', on);
  }

  function tooltip(name) {
    const p = store.packages.get(name);
    if (!p) return name;
    const st = store.displayStatusOf(name);
    const parts = [`${name}: ${STATUS_LABELS[st]}`];
    if (p.last_tier) parts.push(`tier ${tierLabel(p.last_tier)}`);
    if (p.last_duration_ms !== undefined && p.last_status) parts.push(fmtMs(p.last_duration_ms));
    return `${parts.join(' · ')}\nclick to build · right-click for why`;
  }

  function init() {
    cy = cytoscape({
      container,
      elements: elements(),
      style: STYLE,
      layout: { name: 'preset' },
      minZoom: 0.25,
      maxZoom: 2.5,
      boxSelectionEnabled: false,
      autoungrabify: false,
    });
    cy.on('tap', 'node', (e) => buildPackage(e.target.id()));
    container.addEventListener('contextmenu', (e) => e.preventDefault());
    cy.on('cxttap', 'node', (e) => {
      const name = e.target.id();
      if (store.packages.get(name)?.last_status && openWhy) openWhy(name);
    });
    cy.on('mouseover', 'node', (e) => { highlight(e.target, true); container.style.cursor = 'pointer'; });
    cy.on('mouseout', 'node', (e) => { highlight(e.target, false); container.style.cursor = ''; });
    cy.on('grab', 'node', () => { container.style.cursor = 'grabbing'; });
    cy.on('free', 'node', () => { container.style.cursor = ''; });
    applyFilter();
  }

  function relayout(animate) {
    if (!cy) return;
    const pos = layeredPositions(pkgList(), store.graph);
    cy.layout({ name: 'preset', positions: (n) => pos[n.id()], fit: true, padding: 40, animate, animationDuration: 300 }).run();
  }

  function rebuild() {
    if (!cy) return;
    cy.elements().remove();
    cy.add(elements());
    cy.fit(undefined, 40);
    applyFilter();
  }

  function updateNodes(names) {
    if (!cy) return;
    for (const n of names) {
      const node = cy.getElementById(n);
      if (!node || node.empty()) continue;
      const status = store.displayStatusOf(n);
      node.data('status', status);
      node.classes(`st-${status}${node.hasClass('hover') ? ' hover' : ''}${node.hasClass('dim') ? ' dim' : ''}`);
    }
  }

  function applyFilter() {
    if (!cy) return;
    cy.batch(() => {
      cy.elements().removeClass('dim');
      if (!filter) return;
      const hit = cy.nodes().filter((n) => n.id().toLowerCase().includes(filter));
      cy.nodes().not(hit).addClass('dim');
      cy.edges().filter((e) => !hit.contains(e.source()) || !hit.contains(e.target())).addClass('dim');
    });
  }

  function card(p) {
    const st = store.displayStatusOf(p.name);
    const deps = p.dependencies || [];
    return h('article', { class: 'pkg-card', dataset: { pkg: p.name, status: st }, 'aria-label': `Package ${p.name}` },
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'link name', title: 'Show in the graph', onclick: () => focusNode(p.name) }, p.name),
        h('span', { class: 'spacer' }),
        h('span', { class: `badge badge-${st}` }, st === 'skipped' ? p.last_status : STATUS_LABELS[st]),
        p.last_tier && st !== 'building' ? h('span', { class: 'badge badge-tier' }, tierLabel(p.last_tier)) : null),
      h('div', { class: 'meta mono truncate', title: p.path }, p.path || ''),
      h('div', { class: 'meta' }, deps.length ? `depends on ${deps.join(', ')}` : 'no dependencies'),
      p.last_status
        ? h('div', { class: 'meta' }, `last: ${p.last_status} in ${fmtMs(p.last_duration_ms)} · ${fmtAgo(p.last_built_at)}`)
        : h('div', { class: 'meta' }, 'never built'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn btn-sm btn-primary', 'data-need': 'build', onclick: () => buildPackage(p.name), 'aria-label': `Build ${p.name}` }, 'Build'),
        h('button', { type: 'button', class: 'btn btn-sm', 'data-need': 'build', onclick: () => buildPackage(p.name, true), 'aria-label': `Force build ${p.name}` }, 'Force'),
        h('button', {
          type: 'button', class: 'btn btn-sm pkg-why', disabled: !p.last_status || !openWhy, onclick: () => openWhy(p.name),
          'aria-label': `Why ${p.name} got its tier in its last build`, title: p.last_status ? 'Why: the reasons of its last build' : 'never built',
        }, 'Why')));
  }

  function renderCards() {
    const pkgs = pkgList().filter((p) => !filter || p.name.toLowerCase().includes(filter));
    count.textContent = `${store.packages.size} packages`;
    if (!store.packages.size) {
      render(cards, h('p', { class: 'empty' }, store.status ? 'The workspace has no packages.' : 'Loading…'));
      return;
    }
    render(cards, pkgs.length ? pkgs.map(card) : h('p', { class: 'empty' }, 'No package matches the filter.'));
  }

  function updateCards(names) {
    for (const n of names) {
      const old = cards.querySelector(`[data-pkg="${CSS.escape(n)}"]`);
      const p = store.packages.get(n);
      if (old && p) old.replaceWith(card(p));
    }
  }

  function focusNode(name) {
    if (!cy) return;
    const node = cy.getElementById(name);
    if (node.empty()) return;
    cy.$(':selected').unselect();
    node.select();
    cy.animate({ center: { eles: node }, zoom: Math.max(cy.zoom(), 1) }, { duration: 250 });
  }

  // graphSVG draws the graph as it is on screen (positions after dragging).
  function graphSVG() {
    const bb = cy.elements().boundingBox({ includeOverlays: false });
    const pad = 24;
    const x0 = bb.x1 - pad;
    const y0 = bb.y1 - pad;
    const w = Math.ceil(bb.w + 2 * pad);
    const hh = Math.ceil(bb.h + 2 * pad);
    const out = [];
    out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${hh}" viewBox="${x0.toFixed(1)} ${y0.toFixed(1)} ${w} ${hh}">`);
    out.push('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#484f58"/></marker></defs>');
    out.push(`<rect x="${x0.toFixed(1)}" y="${y0.toFixed(1)}" width="${w}" height="${hh}" fill="#0d1117"/>`);
    const f = (p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`;
    for (const e of cy.edges()) {
      // cytoscape's own endpoints (on the node borders) and control points
      const a = e.sourceEndpoint();
      const z = e.targetEndpoint();
      const cps = e.controlPoints() || [];
      let d = `M${f(a)}`;
      if (cps.length === 1) d += `Q${f(cps[0])} ${f(z)}`;
      else if (cps.length >= 2) d += `C${f(cps[0])} ${f(cps[1])} ${f(z)}`;
      else d += `L${f(z)}`;
      out.push(`<path d="${d}" fill="none" stroke="#484f58" stroke-width="1.6" marker-end="url(#arrow)"/>`);
    }
    for (const n of cy.nodes()) {
      const p = n.position();
      const st = n.data('status');
      const w2 = n.data('w');
      out.push(`<g><title>${escapeHTML(`${n.id()}: ${STATUS_LABELS[st] || st}`)}</title>`
        + `<rect x="${(p.x - w2 / 2).toFixed(1)}" y="${(p.y - NODE_H / 2).toFixed(1)}" width="${w2}" height="${NODE_H}" rx="7" fill="${STATUS_COLORS[st] || STATUS_COLORS.never}" stroke="${BORDER[st] || BORDER.never}" stroke-width="2"/>`
        + `<text x="${p.x.toFixed(1)}" y="${p.y.toFixed(1)}" dy="0.35em" text-anchor="middle" font-family='${FONT}' font-size="12" font-weight="600" fill="${TEXT_ON[st] || '#fff'}">${escapeHTML(n.data('label'))}</text></g>`);
    }
    out.push('</svg>');
    return out.join('\n');
  }

  function exportSVG() {
    if (!cy) return;
    download('buildnet-graph.svg', graphSVG(), 'image/svg+xml');
  }

  function exportPNG() {
    if (!cy) return;
    try {
      const blob = cy.png({ output: 'blob', full: true, scale: 2, bg: '#0d1117' });
      download('buildnet-graph.png', blob);
    } catch (err) {
      reportError(err, 'export PNG');
    }
  }

  search.addEventListener('input', debounce(() => {
    filter = search.value.trim().toLowerCase();
    renderCards();
    applyFilter();
  }, 120));

  store.on('packages', ({ names, structural }) => {
    if (structural) {
      rebuild();
      if (visible) renderCards();
      return;
    }
    updateNodes(names);
    if (visible) updateCards(names);
  });
  store.on('status', () => { if (visible && !cy && store.packages.size) show(); });
  window.addEventListener('resize', debounce(() => { if (cy && visible) cy.resize(); }, 150));

  function show() {
    visible = true;
    renderCards();
    if (!store.status) return; // the first /status will call show again
    if (!cy) init();
    cy.resize();
    if (!fitted && cy.nodes().length) {
      cy.fit(undefined, 40);
      if (cy.zoom() > 1.4) { cy.zoom(1.4); cy.center(); }
      fitted = true;
    }
  }

  return {
    show,
    hide() { visible = false; },
    get cy() { return cy; },
    graphSVG: () => (cy ? graphSVG() : ''),
    build: buildPackage,
  };
}
