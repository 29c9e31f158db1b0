// Positions in JSON text, for the Config tab's editor: where a syntax
// error is, where a field such as packages[2].output_dir is written, and
// what a configuration error message names.

// lineCol turns an index into text (UTF-16 units) into a 1-based line and
// column.
export function lineCol(text, index) {
  const i = Math.max(0, Math.min(index, text.length));
  let line = 1;
  let start = 0;
  for (let k = text.indexOf('\n'); k !== -1 && k < i; k = text.indexOf('\n', k + 1)) {
    line++;
    start = k + 1;
  }
  return { line, col: i - start + 1 };
}

// byteToIndex turns an offset in the UTF-8 encoding of text (what the Go
// daemon counts) into an index into text.
export function byteToIndex(text, offset) {
  let bytes = 0;
  let i = 0;
  for (const ch of text) {
    if (bytes >= offset) break;
    const c = ch.codePointAt(0);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    i += ch.length;
  }
  return i;
}

// JSONPosError is a syntax error at an index of the text.
export class JSONPosError extends Error {
  constructor(message, index) {
    super(message);
    this.name = 'JSONPosError';
    this.index = index;
  }
}

// parseTree parses JSON text into nodes that remember where they are:
// {type, start, end} with members [{key, keyStart, value}] for objects,
// items for arrays and value for scalars. It throws JSONPosError.
export function parseTree(text) {
  let i = 0;
  const fail = (msg) => { throw new JSONPosError(msg, i); };
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const str = () => {
    const start = i;
    i++; // the opening quote
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i];
      if (c === '"') { i++; break; }
      if (c < ' ') fail('control character in a string');
      if (c === '\\') {
        const e = text[i + 1];
        const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e in simple) { out += simple[e]; i += 2; continue; }
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
          continue;
        }
        i++;
        fail('bad escape in a string');
      }
      out += c;
      i++;
    }
    return { type: 'string', start, end: i, value: out };
  };
  const value = () => {
    ws();
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++;
      const members = [];
      ws();
      if (text[i] === '}') { i++; return { type: 'object', start, end: i, members }; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a double-quoted property name');
        const keyStart = i;
        const key = str().value;
        ws();
        if (text[i] !== ':') fail('expected a colon after the property name');
        i++;
        members.push({ key, keyStart, value: value() });
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return { type: 'object', start, end: i, members }; }
        fail("expected ',' or '}' after a property value");
      }
    }
    if (c === '[') {
      i++;
      const items = [];
      ws();
      if (text[i] === ']') { i++; return { type: 'array', start, end: i, items }; }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return { type: 'array', start, end: i, items }; }
        fail("expected ',' or ']' after an array element");
      }
    }
    if (c === '"') return str();
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) fail(i >= text.length ? 'unexpected end of input' : 'unexpected character');
    i += m[0].length;
    const lit = { true: true, false: false, null: null };
    return { type: m[0] in lit ? 'literal' : 'number', start, end: i, value: m[0] in lit ? lit[m[0]] : Number(m[0]) };
  };
  const root = value();
  ws();
  if (i < text.length) fail('unexpected text after the JSON value');
  return root;
}

// checkJSON parses text with JSON.parse. It returns {value} or {error:
// {message, index, line, col}}, the position taken from the browser's
// message when it gives one, else from parseTree.
export function checkJSON(text) {
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    const message = String(err && err.message ? err.message : err);
    let index = -1;
    const pos = /at position (\d+)/.exec(message);
    if (pos) index = Number(pos[1]);
    else {
      const lc = /line (\d+) column (\d+)/.exec(message);
      if (lc) index = indexOf(text, Number(lc[1]), Number(lc[2]));
    }
    if (index < 0) {
      try { parseTree(text); } catch (e2) { if (e2 instanceof JSONPosError) index = e2.index; }
    }
    if (index < 0) index = text.length;
    return { error: { message, index, ...lineCol(text, index) } };
  }
}

// indexOf turns a 1-based line and column into an index into text.
export function indexOf(text, line, col) {
  let i = 0;
  for (let l = 1; l < line; l++) {
    const k = text.indexOf('\n', i);
    if (k === -1) return text.length;
    i = k + 1;
  }
  return Math.min(text.length, i + Math.max(0, col - 1));
}

// TOP_FIELDS are the configuration's top-level fields: a message prefix
// naming one of them is a field path.
const TOP_FIELDS = ['version', 'concurrency', 'global_inputs', 'env', 'cache', 'history', 'hash', 'packages', 'alerts'];

const SEG = String.raw`[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*(?: \([^)]*\))?`;
const FIELD_RE = new RegExp(String.raw`^(${SEG}(?:\.${SEG})*): ([\s\S]*)$`);

// parseConfigError splits a configuration error message,
// "[file[:line:col]: ][field: ]message", into its parts; an invalid_json
// answer's "(at byte N)" becomes byte.
export function parseConfigError(message) {
  let rest = String(message || '');
  const out = { file: '', line: 0, col: 0, byte: -1, field: '', message: rest };
  const pos = /^(.+?):(\d+):(\d+): ([\s\S]*)$/.exec(rest);
  if (pos) {
    out.file = pos[1];
    out.line = Number(pos[2]);
    out.col = Number(pos[3]);
    rest = pos[4];
  }
  const f = FIELD_RE.exec(rest);
  if (f && TOP_FIELDS.includes(f[1].split(/[.[ ]/)[0])) {
    out.field = f[1];
    rest = f[2];
  }
  const b = /\(at byte (\d+)\)/.exec(rest);
  if (b) out.byte = Number(b[1]);
  // encoding/json's type errors: "... into Go struct field
  // Package.packages.build_cmd of type string", without the index.
  const t = /Go struct field [A-Za-z0-9_]+\.([A-Za-z0-9_.]+) of type (\S+)/.exec(rest);
  if (t && !out.field) {
    out.field = t[1];
    out.goType = t[2];
  }
  out.message = rest;
  return out;
}

// fieldPath turns "packages[2] (api).output_dir" into ['packages', 2,
// 'output_dir'].
export function fieldPath(field) {
  const segs = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\s\([^)]*\)|\./gy;
  let m;
  while (re.lastIndex < field.length && (m = re.exec(field))) {
    if (m[1] !== undefined) segs.push(m[1]);
    else if (m[2] !== undefined) segs.push(Number(m[2]));
  }
  return segs;
}

// locate finds where path is written in the parsed tree: the index of the
// member's key (or the array element), and how much of the path exists.
export function locate(tree, path) {
  let node = tree;
  let index = tree ? tree.start : 0;
  let found = 0;
  for (const seg of path) {
    if (!node) break;
    if (typeof seg === 'number' && node.type === 'array' && seg < node.items.length) {
      node = node.items[seg];
      index = node.start;
    } else if (typeof seg === 'string' && node.type === 'object') {
      // the last one wins, as in encoding/json
      const m = node.members.filter((x) => x.key === seg).pop();
      if (!m) break;
      node = m.value;
      index = m.keyStart;
    } else break;
    found++;
  }
  return { index, node, found, complete: found === path.length };
}

// packageIndex finds the package named name in a parsed configuration.
function packageNode(tree, name, nth = 0) {
  const pk = locate(tree, ['packages']);
  if (!pk.complete || pk.node.type !== 'array') return null;
  let seen = 0;
  for (let i = 0; i < pk.node.items.length; i++) {
    const p = pk.node.items[i];
    if (p.type !== 'object') continue;
    const n = p.members.filter((m) => m.key === 'name').pop();
    if (n && n.value.type === 'string' && n.value.value === name && seen++ === nth) return { i, node: p, nameAt: n.keyStart };
  }
  return null;
}

// dependencyIndex finds where package pkg lists dependency dep.
function dependencyAt(tree, pkg, dep) {
  const p = packageNode(tree, pkg);
  if (!p) return -1;
  const deps = p.node.members.filter((m) => m.key === 'dependencies').pop();
  if (!deps) return p.nameAt;
  if (deps.value.type === 'array') {
    const item = deps.value.items.find((x) => x.type === 'string' && x.value === dep);
    if (item) return item.start;
  }
  return deps.keyStart;
}

// jsonType is the JSON type a Go type decodes from.
function jsonType(goType) {
  if (goType === 'string') return 'string';
  if (goType === 'bool') return 'literal';
  if (goType.startsWith('[]')) return 'array';
  if (/^(u?int|float)/.test(goType) || /ByteSize|Duration/.test(goType)) return 'number';
  return 'object';
}

// locateTyped finds, following path and trying every element of the
// arrays it crosses without an index, the first value whose JSON type
// cannot decode into goType; -1 when there is none.
function locateTyped(tree, path, goType) {
  const want = jsonType(goType);
  const walk = (node, rest, at) => {
    if (!rest.length) return node.type !== want && !(want === 'number' && node.type === 'string' && /ByteSize|Duration/.test(goType)) ? at : -1;
    if (node.type === 'array') {
      for (const item of node.items) {
        const r = walk(item, rest, item.start);
        if (r >= 0) return r;
      }
      return -1;
    }
    if (node.type !== 'object') return -1;
    const m = node.members.filter((x) => x.key === rest[0]).pop();
    return m ? walk(m.value, rest.slice(1), m.keyStart) : -1;
  };
  return walk(tree, path.filter((s) => typeof s === 'string'), tree.start);
}

// locateConfigError says where in text (the configuration being edited)
// the error described by parseConfigError is: {line, col, what} or null.
// Errors that name packages rather than a position (a dependency cycle,
// an unknown dependency, a duplicate name) point at the dependency or
// name concerned; base, the configuration before the edit, if given,
// helps choose the edge of a cycle.
export function locateConfigError(text, info, base = null) {
  let tree;
  try { tree = parseTree(text); } catch { tree = null; }
  if (info.byte >= 0) {
    const index = byteToIndex(text, Math.max(0, info.byte - 1));
    return { ...lineCol(text, index), what: 'position' };
  }
  if (!tree) return null;
  const msg = info.message;
  const at = (index, what) => (index >= 0 ? { ...lineCol(text, index), what } : null);
  let m = /dependency cycle: (.+)$/.exec(msg);
  if (m) {
    // Point at an edge of the cycle that base (the configuration before
    // the edit) did not have: the one that closed it, most likely.
    const names = m[1].split(' -> ');
    const had = (a, b) => !!base && Array.isArray(base.packages)
      && base.packages.some((p) => p && p.name === a && Array.isArray(p.dependencies) && p.dependencies.includes(b));
    let k = 0;
    for (let i = 0; i + 1 < names.length; i++) if (!had(names[i], names[i + 1])) { k = i; break; }
    if (names.length >= 2) return at(dependencyAt(tree, names[k], names[k + 1]), 'cycle');
  }
  m = /package "((?:[^"\\]|\\.)*)" depends on unknown package "((?:[^"\\]|\\.)*)"/.exec(msg);
  if (m) return at(dependencyAt(tree, m[1], m[2]), 'dependency');
  m = /duplicate package name "((?:[^"\\]|\\.)*)"/.exec(msg);
  if (m) {
    const p = packageNode(tree, m[1], 1);
    if (p) return at(p.nameAt, 'name');
  }
  if (info.field && info.goType) {
    const loc = locateTyped(tree, fieldPath(info.field), info.goType);
    if (loc) return at(loc, 'field');
  }
  if (info.field) {
    const loc = locate(tree, fieldPath(info.field));
    if (loc.found > 0) return { ...lineCol(text, loc.index), what: loc.complete ? 'field' : 'parent' };
  }
  return null;
}
