// ANSI SGR escape sequences → HTML spans. The text is HTML-escaped first;
// the only markup produced is <span> with fixed class names or an inline
// colour built from numbers, so a build's output can never inject HTML.
//
// Supported: 0 reset, 1 bold, 2 dim, 3 italic, 4 underline, 22/23/24 resets,
// 30–37/90–97 and 40–47/100–107 colours, 39/49 default colours,
// 38;5;n / 48;5;n (256 colours) and 38;2;r;g;b / 48;2;r;g;b (true colour).
// Other escape sequences (cursor moves, erase line, OSC titles) are dropped.

// CSI (parameters, intermediates, final byte), OSC (to BEL or ST), or a
// lone two-byte escape.
const ESC_RE = /\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]?/g;

const CONTROL_RE = /[\x00-\x08\x0b-\x1f\x7f]/g;

// escapeText drops control characters (other than tab and newline) left
// over after the escape sequences were taken out, then escapes HTML.
function escapeText(s) {
  return s.replace(CONTROL_RE, '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// The xterm 256-colour palette as rgb triples (16–255; 0–15 use classes).
function color256(n) {
  if (n < 16) return null;
  if (n < 232) {
    const i = n - 16;
    const steps = [0, 95, 135, 175, 215, 255];
    return [steps[Math.floor(i / 36)], steps[Math.floor(i / 6) % 6], steps[i % 6]];
  }
  const v = 8 + (n - 232) * 10;
  return [v, v, v];
}

const clampByte = (x) => Math.max(0, Math.min(255, Number.parseInt(x, 10) || 0));

function newState() {
  return { bold: false, dim: false, italic: false, underline: false, fg: null, bg: null };
}

// A colour is {cls: 0..15} or {rgb: [r,g,b]}.
function applyCodes(st, params) {
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number.parseInt(p, 10)));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) Object.assign(st, newState());
    else if (c === 1) st.bold = true;
    else if (c === 2) st.dim = true;
    else if (c === 3) st.italic = true;
    else if (c === 4) st.underline = true;
    else if (c === 22) { st.bold = false; st.dim = false; }
    else if (c === 23) st.italic = false;
    else if (c === 24) st.underline = false;
    else if (c >= 30 && c <= 37) st.fg = { cls: c - 30 };
    else if (c >= 90 && c <= 97) st.fg = { cls: c - 90 + 8 };
    else if (c === 39) st.fg = null;
    else if (c >= 40 && c <= 47) st.bg = { cls: c - 40 };
    else if (c >= 100 && c <= 107) st.bg = { cls: c - 100 + 8 };
    else if (c === 49) st.bg = null;
    else if (c === 38 || c === 48) {
      let col = null;
      if (codes[i + 1] === 5 && i + 2 < codes.length) {
        const n = clampByte(codes[i + 2]);
        col = n < 16 ? { cls: n } : { rgb: color256(n) };
        i += 2;
      } else if (codes[i + 1] === 2 && i + 4 < codes.length) {
        col = { rgb: [clampByte(codes[i + 2]), clampByte(codes[i + 3]), clampByte(codes[i + 4])] };
        i += 4;
      } else {
        break; // malformed: ignore the rest of this sequence
      }
      if (c === 38) st.fg = col; else st.bg = col;
    }
  }
}

function openSpan(st) {
  const cls = [];
  const style = [];
  if (st.bold) cls.push('ansi-bold');
  if (st.dim) cls.push('ansi-dim');
  if (st.italic) cls.push('ansi-italic');
  if (st.underline) cls.push('ansi-underline');
  if (st.fg) {
    if (st.fg.rgb) style.push(`color:rgb(${st.fg.rgb.join(',')})`);
    else cls.push(`ansi-fg-${st.fg.cls}`);
  }
  if (st.bg) {
    if (st.bg.rgb) style.push(`background-color:rgb(${st.bg.rgb.join(',')})`);
    else cls.push(`ansi-bg-${st.bg.cls}`);
  }
  if (!cls.length && !style.length) return '';
  let tag = '<span';
  if (cls.length) tag += ` class="${cls.join(' ')}"`;
  if (style.length) tag += ` style="${style.join(';')}"`;
  return `${tag}>`;
}

// visibleText keeps what a terminal would show of a line overwritten with
// carriage returns (progress bars): the part after the last one.
function visibleText(line) {
  const cr = line.lastIndexOf('\r', line.length - 2);
  return cr >= 0 ? line.slice(cr + 1) : line;
}

// ansiToHtml converts one line (or several) of terminal output to safe HTML.
export function ansiToHtml(text) {
  const s = visibleText(String(text ?? ''));
  const st = newState();
  let out = '';
  let open = false;
  let last = 0;
  ESC_RE.lastIndex = 0;
  for (let m = ESC_RE.exec(s); m; m = ESC_RE.exec(s)) {
    if (m.index > last) out += escapeText(s.slice(last, m.index));
    last = ESC_RE.lastIndex;
    if (m[2] !== 'm' || /[<=>?]/.test(m[1])) continue; // not SGR: drop it
    applyCodes(st, m[1]);
    if (open) { out += '</span>'; open = false; }
    const tag = openSpan(st);
    if (tag) { out += tag; open = true; }
  }
  if (last < s.length) out += escapeText(s.slice(last));
  if (open) out += '</span>';
  return out;
}

// stripAnsi removes every escape sequence from text.
export function stripAnsi(text) {
  return visibleText(String(text ?? '')).replace(ESC_RE, '').replace(CONTROL_RE, '');
}
