// The build logic shared by every package of the BuildNet example monorepo:
// a tiny, dependency-free bundler. Plain Node, nothing to install. Each
// package's build.js calls it with its own specifics:
//
//   require('../../tools/build-package')({
//     dir: __dirname,                                  // the package directory
//     name: 'core',
//     dependencies: { shared: '../../packages/shared' },
//     sleepMs: 150,
//     afterBuild(exported, { emit, fail }) { ... },   // optional
//   });
//
// It reads src/**/*.js (CommonJS), checks that every require() is either a
// file of the package, a declared workspace dependency or a Node built-in,
// and writes:
//   dist/index.js       one self-contained bundle (dependencies are required
//                       from their own dist/, so they must be built first)
//   dist/manifest.json  the inputs with their sizes and hashes, and a content
//                       hash of the whole build (no timestamps: the same
//                       inputs always give the same bytes)
// NODE_ENV=production strips comments and indentation.
// Put the text BUILD_FAIL in any source file to make the build fail.
//
// BuildNet lists this file under global_inputs in .buildnet/config.json, so
// editing it rebuilds every package.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { builtinModules } = require('node:module');

const GREEN = '\x1b[32m';
const RED = '\x1b[31m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

// sleep blocks for ms milliseconds: the real work here is tiny, and a build
// that takes a moment is easier to follow in the BuildNet panel.
function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function listSources(dir, prefix = '') {
  const out = [];
  const entries = fs.readdirSync(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...listSources(path.join(dir, entry.name), rel));
    else if (entry.isFile() && entry.name.endsWith('.js')) out.push(rel);
  }
  return out;
}

// stripComments removes block comments and whole-line // comments (a
// plain regex job: good enough for this example's sources).
function stripComments(code) {
  return code
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('//'))
    .join('\n');
}

function formatSize(bytes) {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KB`;
}

// printExports is the default afterBuild: it lists what the bundle exports.
function printExports(exported) {
  console.log(`  exports ${Object.keys(exported).join(', ')}`);
}

// buildPackage builds the package in options.dir:
//   dir           the package directory (pass __dirname)
//   name          the package name, as in the BuildNet config
//   version       defaults to the version in the package's package.json
//   dependencies  workspace packages it requires, name → directory relative
//                 to dir; the bundle loads their dist/index.js
//   sleepMs       how long the build pretends to work, in ms (see sleep)
//   afterBuild    runs once dist/index.js is written and loads, with the
//                 bundle's exports and { distDir, emit, fail }: emit(file,
//                 data) writes dist/<file> and lists it in the manifest,
//                 fail(message) stops the build. Without it, the build
//                 prints the bundle's exports.
// On any error it prints "✗ NAME: message" to stderr and exits with 1.
function buildPackage(options) {
  const started = process.hrtime.bigint();
  const production = process.env.NODE_ENV === 'production';
  const {
    dir,
    name: NAME,
    dependencies = {},
    sleepMs = 150,
    afterBuild = printExports,
  } = options;

  function fail(message) {
    process.stderr.write(`${RED}✗${RESET} ${NAME}: ${message}\n`);
    process.exit(1);
  }

  if (!dir || !NAME) throw new Error('buildPackage: dir and name are required');
  const VERSION = options.version || JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;

  console.log(`${DIM}›${RESET} building ${NAME}${production ? ' (production)' : ''}`);

  // 1. Dependencies must have been built: this bundle loads their dist/.
  const deps = {};
  for (const [dep, depDir] of Object.entries(dependencies)) {
    const bundle = path.join(dir, depDir, 'dist', 'index.js');
    const manifestFile = path.join(dir, depDir, 'dist', 'manifest.json');
    if (!fs.existsSync(bundle) || !fs.existsSync(manifestFile)) {
      fail(`dependency ${dep} is not built (missing ${depDir}/dist/index.js); build ${dep} first`);
    }
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
    deps[dep] = { bundle, hash: manifest.hash };
  }
  if (Object.keys(deps).length > 0) {
    console.log(`  using ${Object.keys(deps).map((d) => `${d}@${deps[d].hash.slice(7, 15)}`).join(', ')}`);
  }

  // 2. Read and check the sources.
  const srcDir = path.join(dir, 'src');
  const files = listSources(srcDir);
  if (!files.includes('index.js')) fail('src/index.js is missing');
  const sources = files.map((file) => ({ file, code: fs.readFileSync(path.join(srcDir, file), 'utf8') }));
  const known = new Set(files);
  const builtins = new Set(builtinModules);
  for (const { file, code } of sources) {
    const lines = code.split('\n');
    const bad = lines.findIndex((line) => line.includes('BUILD_FAIL'));
    if (bad >= 0) fail(`src/${file}:${bad + 1} contains BUILD_FAIL (remove it to fix the build)`);
    for (const [, id] of stripComments(code).matchAll(/require\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      if (id.startsWith('.')) {
        const target = path.posix.join(path.posix.dirname(file), id);
        if (![target, `${target}.js`, `${target}/index.js`].some((f) => known.has(f))) {
          fail(`src/${file} requires '${id}', which does not exist`);
        }
      } else if (!(id in deps) && !builtins.has(id) && !id.startsWith('node:')) {
        fail(`src/${file} requires '${id}', which is not a dependency of ${NAME}`);
      }
    }
  }
  const total = sources.reduce((n, s) => n + Buffer.byteLength(s.code), 0);
  console.log(`  read ${sources.length} sources (${formatSize(total)})`);
  sleep(sleepMs / 2);

  // 3. Bundle.
  function minify(code) {
    if (!production) return code.trimEnd();
    return stripComments(code)
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .join('\n');
  }
  const distDir = path.join(dir, 'dist');
  const depLines = Object.entries(deps).map(
    ([dep, { bundle }]) => `  ${JSON.stringify(dep)}: require(${JSON.stringify(path.relative(distDir, bundle).split(path.sep).join('/'))}),`,
  );
  const moduleLines = sources.map(
    ({ file, code }) => `  ${JSON.stringify(file)}: function (module, exports, require) {\n${minify(code)}\n  },`,
  );
  const bundle = `/* ${NAME} ${VERSION}: generated by build.js, do not edit */
'use strict';
const __deps = ${depLines.length ? `{\n${depLines.join('\n')}\n}` : '{}'};
const __modules = {
${moduleLines.join('\n')}
};
const __cache = {};
function __resolve(from, id) {
  const parts = from.split('/').slice(0, -1);
  for (const seg of id.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg !== '.') parts.push(seg);
  }
  const base = parts.join('/');
  for (const candidate of [base, base + '.js', base + '/index.js']) {
    if (Object.prototype.hasOwnProperty.call(__modules, candidate)) return candidate;
  }
  throw new Error('${NAME}: cannot resolve ' + id + ' from ' + from);
}
function __load(file) {
  if (__cache[file]) return __cache[file].exports;
  const module = { exports: {} };
  __cache[file] = module;
  __modules[file](module, module.exports, (id) => {
    if (Object.prototype.hasOwnProperty.call(__deps, id)) return __deps[id];
    if (id.startsWith('.')) return __load(__resolve(file, id));
    return require(id);
  });
  return module.exports;
}
module.exports = __load('index.js');
`;
  console.log(`  bundled ${sources.length} modules${production ? ' (minified)' : ''}`);
  sleep(sleepMs / 2);

  // 4. Write dist/ and check that the bundle loads.
  const hash = crypto.createHash('sha256');
  hash.update(`${NAME}@${VERSION}\0${production ? 'production' : 'development'}\0`);
  for (const { file, code } of sources) hash.update(`${file}\0${code}\0`);
  for (const [dep, { hash: depHash }] of Object.entries(deps)) hash.update(`${dep}\0${depHash}\0`);
  const manifest = {
    name: NAME,
    version: VERSION,
    mode: production ? 'production' : 'development',
    hash: `sha256:${hash.digest('hex')}`,
    inputs: sources.map(({ file, code }) => ({ path: `src/${file}`, bytes: Buffer.byteLength(code), sha256: sha256(code) })),
    dependencies: Object.fromEntries(Object.entries(deps).map(([dep, { hash: h }]) => [dep, h])),
    outputs: [{ path: 'dist/index.js', bytes: Buffer.byteLength(bundle), sha256: sha256(bundle) }],
  };
  fs.rmSync(distDir, { recursive: true, force: true });
  fs.mkdirSync(distDir, { recursive: true });
  fs.writeFileSync(path.join(distDir, 'index.js'), bundle);
  let exported;
  try {
    exported = require(path.join(distDir, 'index.js'));
  } catch (err) {
    fs.rmSync(distDir, { recursive: true, force: true });
    fail(`the bundle does not load: ${err.message}`);
  }
  const extra = [];
  const emit = (file, data) => {
    fs.writeFileSync(path.join(distDir, file), data);
    extra.push(file);
  };
  afterBuild(exported, { distDir, emit, fail });
  for (const file of extra) {
    const data = fs.readFileSync(path.join(distDir, file));
    manifest.outputs.push({ path: `dist/${file}`, bytes: data.length, sha256: sha256(data) });
  }
  fs.writeFileSync(path.join(distDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`  wrote dist/index.js (${formatSize(Buffer.byteLength(bundle))})${extra.map((f) => `, dist/${f}`).join('')}, dist/manifest.json`);

  const ms = Number((process.hrtime.bigint() - started) / 1000000n);
  console.log(`${GREEN}✓${RESET} built ${NAME} ${DIM}${manifest.hash.slice(7, 19)} in ${ms} ms${RESET}`);
  return manifest;
}

module.exports = buildPackage;
module.exports.buildPackage = buildPackage;
