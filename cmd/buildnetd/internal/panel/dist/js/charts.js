// Small SVG charts drawn by hand: a bar chart (build times) and a line chart
// (cache hit ratio). Both size themselves to their container's width.
import { svg } from './util.js';

const PAD = { top: 12, right: 14, bottom: 24, left: 56 };

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function frame(width, height, yMax, yFormat, ticks = 4) {
  const g = svg('g', {});
  const ih = height - PAD.top - PAD.bottom;
  for (let i = 0; i <= ticks; i++) {
    const v = (yMax * i) / ticks;
    const y = PAD.top + ih - (ih * i) / ticks;
    g.append(
      svg('line', { class: i === 0 ? 'axis' : 'grid-line', x1: PAD.left, x2: width - PAD.right, y1: y, y2: y }),
      svg('text', { x: PAD.left - 8, y: y + 3.5, 'text-anchor': 'end' }, yFormat(v)),
    );
  }
  return g;
}

// barChart draws bars = [{value, color, title, label}] oldest first.
export function barChart(container, bars, { height = 190, yFormat = String, onClick = null, empty = 'No data yet' } = {}) {
  const width = Math.max(320, container.clientWidth || 800);
  const root = svg('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
  if (!bars.length) {
    root.append(svg('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle' }, empty));
    container.replaceChildren(root);
    return root;
  }
  const yMax = niceMax(Math.max(...bars.map((b) => b.value)));
  root.append(frame(width, height, yMax, yFormat));
  const iw = width - PAD.left - PAD.right;
  const ih = height - PAD.top - PAD.bottom;
  // bars fill from the left at most 40 px apart, so that a short history
  // does not stretch across the chart
  const slot = Math.min(40, iw / bars.length);
  const bw = Math.max(2, Math.min(28, slot * 0.7));
  bars.forEach((b, i) => {
    const bh = Math.max(1.5, (ih * b.value) / yMax);
    const x = PAD.left + slot * i + (slot - bw) / 2;
    const rect = svg('rect', {
      class: 'bar', x, y: PAD.top + ih - bh, width: bw, height: bh, rx: Math.min(3, bw / 3), fill: b.color,
      style: onClick ? 'cursor:pointer' : null,
    }, svg('title', {}, b.title || String(b.value)));
    if (onClick) rect.addEventListener('click', () => onClick(b, i));
    root.append(rect);
  });
  // first and last labels under the axis
  const first = bars[0].label;
  const last = bars[bars.length - 1].label;
  if (first) root.append(svg('text', { x: PAD.left, y: height - 6 }, first));
  if (last && bars.length > 1) {
    const lx = Math.max(PAD.left + 260, PAD.left + slot * bars.length);
    root.append(svg('text', { x: Math.min(width - PAD.right, lx), y: height - 6, 'text-anchor': 'end' }, last));
  }
  root.setAttribute('aria-label', `Bar chart of ${bars.length} values`);
  container.replaceChildren(root);
  return root;
}

// lineChart draws series = [{points: [{x, y}], color, label}] with x in ms.
export function lineChart(container, series, { height = 190, yMax = null, yFormat = String, xFormat = String, empty = 'No data yet' } = {}) {
  const width = Math.max(320, container.clientWidth || 800);
  const root = svg('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
  const all = series.flatMap((s) => s.points);
  if (all.length < 1) {
    root.append(svg('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle' }, empty));
    container.replaceChildren(root);
    return root;
  }
  const top = yMax ?? niceMax(Math.max(...all.map((p) => p.y)));
  root.append(frame(width, height, top, yFormat));
  const iw = width - PAD.left - PAD.right;
  const ih = height - PAD.top - PAD.bottom;
  let x0 = Math.min(...all.map((p) => p.x));
  let x1 = Math.max(...all.map((p) => p.x));
  if (x1 === x0) { x0 -= 1000; x1 += 1000; }
  const sx = (x) => PAD.left + ((x - x0) / (x1 - x0)) * iw;
  const sy = (y) => PAD.top + ih - (Math.min(top, Math.max(0, y)) / top) * ih;
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join('');
    if (s.fill) {
      const area = `${d}L${sx(s.points[s.points.length - 1].x).toFixed(1)},${sy(0)}L${sx(s.points[0].x).toFixed(1)},${sy(0)}Z`;
      root.append(svg('path', { d: area, fill: s.color, 'fill-opacity': 0.12, stroke: 'none' }));
    }
    root.append(svg('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-linejoin': 'round', 'stroke-dasharray': s.dashed ? '4 4' : null }));
    const lastP = s.points[s.points.length - 1];
    root.append(svg('circle', { cx: sx(lastP.x), cy: sy(lastP.y), r: 3.5, fill: s.color },
      svg('title', {}, `${s.label}: ${yFormat(lastP.y)}`)));
  }
  root.append(
    svg('text', { x: PAD.left, y: height - 6 }, xFormat(x0)),
    svg('text', { x: width - PAD.right, y: height - 6, 'text-anchor': 'end' }, xFormat(x1)),
  );
  root.setAttribute('aria-label', series.map((s) => s.label).join(', '));
  container.replaceChildren(root);
  return root;
}
