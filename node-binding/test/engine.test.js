'use strict';

// Tests of the in-process Engine (N-API addon over libbuildnet).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { once } = require('node:events');
const { execFileSync } = require('node:child_process');
const { Worker } = require('node:worker_threads');

const { Engine, BuildNetError, version, globToRegExp } = require('..');
const { bindingDir, copyMonorepo, makeWorkspace, runNode, tiers } = require('./support/helpers');

// goBuild builds root with the Go API (examples/embed, built by pretest)
// and returns {package: tier}.
function goBuild(root) {
  const out = execFileSync(path.join(bindingDir, 'build', 'embed'), [root], { encoding: 'utf8' });
  const result = {};
  for (const line of out.split('\n')) {
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+\d+ms$/.exec(line);
    if (m) result[m[1]] = m[3];
  }
  return result;
}

test('version', () => {
  assert.equal(version(), '0.1.0');
});

test('a build through the addon gives the same tiers as the Go API', async () => {
  const viaGo = copyMonorepo();
  const viaNode = copyMonorepo();
  const go1 = goBuild(viaGo);
  const go2 = goBuild(viaGo);

  const engine = new Engine(viaNode);
  try {
    const node1 = tiers(await engine.buildAll());
    const node2 = tiers(await engine.buildAll());
    assert.deepEqual(node1, go1);
    assert.deepEqual(node2, go2);
    assert.equal(Object.keys(node1).length, 6);
    assert.ok(Object.values(node1).every((t) => t === 'full_build'), JSON.stringify(node1));
    assert.ok(Object.values(node2).every((t) => t === 'instant_skip'), JSON.stringify(node2));
  } finally {
    engine.close();
  }
  // The Go API sees what the addon recorded: nothing to do.
  assert.ok(Object.values(goBuild(viaNode)).every((t) => t === 'instant_skip'));
  // The outputs are the real ones, built by node subprocesses of the Go
  // runtime living inside this node process.
  assert.ok(fs.existsSync(path.join(viaNode, 'apps', 'api', 'dist', 'routes.json')));
});

test('events arrive while the build runs', async () => {
  // The command waits for a file that only the JS listener of its first
  // output line creates: if events were delivered at the end of the build,
  // it would time out and fail.
  const root = makeWorkspace([{
    name: 'gate',
    cmd: 'echo waiting; i=0; while [ ! -f go ]; do i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.05; done; echo released; mkdir -p dist',
  }]);
  const engine = new Engine(root);
  try {
    const seen = [];
    engine.on('event', (ev) => seen.push(ev));
    engine.on('package:output', (ev) => {
      if (ev.line === 'waiting') fs.writeFileSync(path.join(root, 'gate', 'go'), '');
    });
    const completed = once(engine, 'build:complete');
    const result = await engine.build('gate');
    assert.equal(result.status, 'success', JSON.stringify(result));
    const [complete] = await completed;
    assert.equal(complete.build_id, result.id);
    assert.equal(complete.result.status, 'success');

    const types = seen.filter((ev) => ev.build_id === result.id).map((ev) => ev.type === 'package:output' ? ev.line : ev.type);
    assert.deepEqual(types.filter((t) => t !== 'package:running'),
      ['build:start', 'package:start', 'waiting', 'released', 'package:complete', 'build:complete']);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].seq > seen[i - 1].seq, 'seq increases');
  } finally {
    engine.close();
  }
});

test('queries: status, graph, history, cacheStats, clearCache, plan, why', async () => {
  const root = makeWorkspace([
    { name: 'lib', cmd: 'echo lib; mkdir -p dist && cp src.txt dist/' },
    { name: 'app', cmd: 'echo app; mkdir -p dist && cp src.txt dist/', deps: ['lib'] },
  ]);
  const engine = new Engine(root, { concurrency: 2 });
  try {
    assert.equal(engine.root, root);
    const plan = await engine.plan();
    assert.equal(plan.dry_run, true);
    assert.deepEqual(tiers(plan), { lib: 'full_build', app: 'full_build' });

    const first = await engine.build('app', { requester: 'node-test' });
    assert.deepEqual(tiers(first), { lib: 'full_build', app: 'full_build' });
    assert.equal(first.requester, 'node-test');

    const graph = await engine.graph();
    assert.deepEqual(graph.edges, [{ from: 'app', to: 'lib' }]);
    assert.deepEqual(graph.nodes.map((n) => n.name), ['app', 'lib']);

    const status = await engine.status();
    assert.equal(status.concurrency, 2);
    assert.deepEqual(status.active_builds, []);
    assert.equal(status.packages.find((p) => p.name === 'app').last_tier, 'full_build');

    const forced = await engine.build(['lib'], { force: true });
    assert.deepEqual(tiers(forced), { lib: 'full_build' });
    const why = await engine.why('lib');
    assert.equal(why.reasons[0].kind, 'forced');

    const page = await engine.history({ limit: 1 });
    assert.equal(page.builds.length, 1);
    assert.equal(page.builds[0].id, forced.id);
    assert.notEqual(page.next, '');
    const rest = await engine.history({ limit: 10, cursor: page.next });
    assert.deepEqual(rest.builds.map((b) => b.id), [first.id]);
    const mine = await engine.history({ requester: 'node-test', since: new Date(Date.now() - 3600e3) });
    assert.deepEqual(mine.builds.map((b) => b.id), [first.id]);

    const stats = await engine.cacheStats();
    assert.ok(stats.entries >= 2, JSON.stringify(stats));
    const cleared = once(engine, 'cache:cleared');
    await engine.clearCache();
    await cleared;
    assert.equal((await engine.cacheStats()).entries, 0);
    // State is kept: nothing to rebuild.
    assert.deepEqual(tiers(await engine.buildAll()), { lib: 'instant_skip', app: 'instant_skip' });
  } finally {
    engine.close();
  }
});

test('errors are BuildNetErrors with a code', async () => {
  assert.throws(() => new Engine('/nonexistent/bn-node'), (err) => err instanceof BuildNetError && err.code === 'BN_ERR_CONFIG' && /nonexistent/.test(err.message));
  assert.throws(() => new Engine(''), { code: 'BN_ERR_INVALID_ARGUMENT' });
  const root = makeWorkspace([{ name: 'api', cmd: 'mkdir -p dist' }]);
  const engine = new Engine(root);
  await assert.rejects(engine.build('apx'), (err) => err instanceof Error && err.code === 'BN_ERR_UNKNOWN_PACKAGE' && /did you mean api/.test(err.message));
  assert.throws(() => engine.start('nope'), { code: 'BN_ERR_UNKNOWN_PACKAGE' });
  await assert.rejects(engine.build(42), { code: 'BN_ERR_INVALID_ARGUMENT' });
  await assert.rejects(engine.build(undefined, { filters: ['...'] }), { code: 'BN_ERR_INVALID_ARGUMENT' });
  await assert.rejects(engine.why('api'), { code: 'BN_ERR_NOT_FOUND' });
  assert.throws(() => engine.cancel('no-such-build'), { code: 'BN_ERR_NOT_FOUND' });
  await assert.rejects(engine.history({ since: 'yesterday' }), { code: 'BN_ERR_INVALID_ARGUMENT' });
  engine.close();
  engine.close(); // idempotent
  assert.equal(engine.closed, true);
  await assert.rejects(engine.buildAll(), { code: 'BN_ERR_CLOSED' });
  await assert.rejects(engine.status(), { code: 'BN_ERR_CLOSED' });
  assert.throws(() => engine.cancel('x'), { code: 'BN_ERR_CLOSED' });

  const ro = new Engine(root, { readOnly: true });
  await assert.rejects(ro.buildAll(), { code: 'BN_ERR_READ_ONLY' });
  await assert.rejects(ro.cacheStats(), { code: 'BN_ERR_READ_ONLY' });
  ro.close();
});

test('cancel, and close with a build running', async () => {
  const root = makeWorkspace([{ name: 'slow', cmd: 'echo started; sleep 300' }]);
  const engine = new Engine(root);
  const started = () => new Promise((resolve) => engine.on('package:output', (ev) => ev.line === 'started' && resolve()));

  let s = started();
  const { id, result } = engine.start('slow');
  await s;
  engine.cancel(id);
  const cancelled = await result;
  assert.equal(cancelled.status, 'cancelled');
  assert.equal(cancelled.id, id);

  s = started();
  const running = engine.buildAll();
  await s;
  engine.close();
  assert.equal((await running).status, 'cancelled');
});

test('a process that builds and exits does not hang', () => {
  const root = makeWorkspace([{ name: 'one', cmd: 'echo hi; mkdir -p dist' }]);
  // No close(): the engine must not keep the process alive once the build
  // is done, and must not crash at exit.
  const r = runNode(`
    const { Engine } = require('.');
    const e = new Engine(${JSON.stringify(root)});
    e.on('package:output', (ev) => console.log('line', ev.line));
    e.buildAll().then((r) => console.log('result', r.status));
  `, { timeout: 30000 });
  assert.equal(r.error, undefined, 'timed out: the process hung');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /line hi/);
  assert.match(r.stdout, /result success/);

  // A build still running keeps the process alive until it is done.
  const r2 = runNode(`
    const { Engine } = require('.');
    new Engine(${JSON.stringify(root)}).buildAll({ force: true }).then((r) => console.log('result', r.status));
  `, { timeout: 30000 });
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, /result success/);

  // process.exit in the middle of a build is fine too.
  const slow = makeWorkspace([{ name: 'slow', cmd: 'echo started; sleep 300' }]);
  const r3 = runNode(`
    const { Engine } = require('.');
    const e = new Engine(${JSON.stringify(slow)});
    e.on('package:output', () => process.exit(3));
    e.buildAll();
  `, { timeout: 30000 });
  assert.equal(r3.code, 3, r3.stderr);
});

test('an exception in an event listener is not swallowed', () => {
  const root = makeWorkspace([{ name: 'one', cmd: 'echo hi; mkdir -p dist' }]);
  // Unhandled: the process dies with the error, like any uncaught one.
  const r = runNode(`
    const { Engine } = require('.');
    const e = new Engine(${JSON.stringify(root)});
    e.on('package:output', () => { throw new Error('listener boom'); });
    e.buildAll();
    setTimeout(() => console.log('still alive'), 20000).unref();
  `, { timeout: 30000 });
  assert.notEqual(r.code, 0);
  assert.equal(r.signal, null, 'no crash by signal');
  assert.match(r.stderr, /listener boom/);

  // Handled by process.on('uncaughtException'): the build goes on.
  const r2 = runNode(`
    const { Engine } = require('.');
    process.on('uncaughtException', (err) => console.log('caught', err.message));
    const e = new Engine(${JSON.stringify(root)});
    e.on('package:output', () => { throw new Error('listener boom'); });
    e.buildAll({ force: true }).then((r) => { console.log('result', r.status); e.close(); });
  `, { timeout: 30000 });
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, /caught listener boom/);
  assert.match(r2.stdout, /result success/);
});

test('signal handlers get SA_ONSTACK', async () => {
  const native = require('../lib/native').get();
  const os = require('node:os');
  // SIGCHLD is installed before the Go runtime loads (lib/native.js).
  assert.deepEqual(native.signalFlags(os.constants.signals.SIGCHLD), { installed: true, onstack: true });
  // A handler installed by JS later is fixed on the next turn.
  const listener = () => {};
  process.on('SIGUSR2', listener);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(native.signalFlags(os.constants.signals.SIGUSR2), { installed: true, onstack: true });
  process.off('SIGUSR2', listener);
});

test('a storm of SIGCHLDs from Go and node children does not crash node', () => {
  // Go starts 900 build commands while node keeps children of its own
  // running. Without the SA_ONSTACK fixes of lib/native.js this crashed
  // node in most runs ("traceback did not unwind completely", SIGABRT).
  const packages = [];
  for (let i = 0; i < 150; i++) packages.push({ name: `p${i}`, cmd: 'echo x' });
  const root = makeWorkspace(packages);
  const r = runNode(`
    const { spawn } = require('node:child_process');
    const { Engine } = require('.');
    let stop = false;
    const one = () => { if (!stop) spawn('sleep', ['0.02']).on('exit', one); };
    one(); one();
    (async () => {
      const e = new Engine(${JSON.stringify(root)}, { concurrency: 4 });
      for (let i = 0; i < 6; i++) {
        const r = await e.buildAll({ force: true });
        if (r.status !== 'success') throw new Error(r.status);
      }
      e.close();
      stop = true;
      console.log('storm ok');
    })();
  `, { timeout: 120000 });
  assert.equal(r.signal, null, r.stderr.slice(0, 2000));
  assert.equal(r.code, 0, r.stderr.slice(0, 2000));
  assert.match(r.stdout, /storm ok/);
});

test('engines in worker threads, terminated mid-build', async () => {
  const root = makeWorkspace([
    { name: 'a', cmd: 'for i in $(seq 50); do echo line $i; done; sleep 0.2; mkdir -p dist' },
    { name: 'b', cmd: 'echo started; sleep 300', deps: ['a'] },
  ]);
  const src = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { Engine } = require(${JSON.stringify(path.join(bindingDir, 'index.js'))});
    const e = new Engine(workerData.root);
    e.on('package:output', (ev) => { if (ev.line === 'started') parentPort.postMessage('started'); });
    e.buildAll().then((r) => parentPort.postMessage(r.status));
  `;
  for (let i = 0; i < 3; i++) {
    const w = new Worker(src, { eval: true, workerData: { root } });
    const [msg] = await once(w, 'message');
    assert.equal(msg, 'started');
    await w.terminate(); // the engine is closed by the env cleanup hook
  }
  // The workspace is usable afterwards: a (cancelled) build was recorded.
  const engine = new Engine(root);
  const h = await engine.history({ limit: 3 });
  assert.equal(h.builds.length, 3);
  assert.ok(h.builds.every((b) => b.status === 'cancelled'), JSON.stringify(h.builds.map((b) => b.status)));
  engine.close();
});

test('globToRegExp', () => {
  const cases = [
    ['src/**/*.ts', 'src/a.ts', true],
    ['src/**/*.ts', 'src/x/y/a.ts', true],
    ['src/**/*.ts', 'src/a.js', false],
    ['src/*.ts', 'src/x/a.ts', false],
    ['**/*.{js,ts}', 'a/b/c.ts', true],
    ['**/*.{js,ts}', 'c.js', true],
    ['pkg/?.txt', 'pkg/a.txt', true],
    ['pkg/?.txt', 'pkg/ab.txt', false],
    ['a.b', 'axb', false],
  ];
  for (const [glob, file, want] of cases) assert.equal(globToRegExp(glob).test(file), want, `${glob} ~ ${file}`);
});

// touchUntil rewrites file every 200 ms until done settles: fs.watch
// may need a moment to watch new directories.
async function touchUntil(file, done) {
  let settled = false;
  done.then(() => { settled = true; }, () => { settled = true; });
  for (let i = 0; i < 100 && !settled; i++) {
    fs.writeFileSync(file, `change ${i}\n`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return done;
}

test('watch rebuilds when matching files change', async () => {
  const root = makeWorkspace([
    { name: 'lib', cmd: 'mkdir -p dist && cp src.txt dist/' },
    { name: 'docs', cmd: 'mkdir -p dist' },
  ]);
  const engine = new Engine(root);
  try {
    await engine.buildAll();
    const calls = [];
    let first;
    const built = new Promise((resolve, reject) => {
      first = engine.watch(['lib/**/*.txt'], (err, result, files) => {
        calls.push({ err, result, files });
        if (err) reject(err);
        else resolve({ result, files });
      }, { debounceMs: 50, packages: ['lib'] });
    });
    fs.writeFileSync(path.join(root, 'docs', 'src.txt'), 'not watched\n');
    const { result, files } = await touchUntil(path.join(root, 'lib', 'src.txt'), built);
    assert.deepEqual(files.filter((f) => f !== 'lib/src.txt'), [], 'only matching files trigger builds');
    assert.equal(result.status, 'success');
    assert.deepEqual(tiers(result), { lib: 'full_build' });
    first.close();
  } finally {
    engine.close(); // closes watchers too
  }
});
