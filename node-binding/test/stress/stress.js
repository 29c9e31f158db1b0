'use strict';

// One stress run: the Go runtime inside node runs builds whose commands
// print a lot, while node itself spawns child processes (SIGCHLD on every
// exit), events stream to JS, and worker threads open engines, build, and
// are terminated, some in the middle of a build. The run must end with
// exit code 0: any crash (a signal on a Go stack, a callback into an
// unloaded addon, a use after free) fails it.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { Worker } = require('node:worker_threads');

const { Engine } = require('../..');
const { makeWorkspace } = require('../support/helpers');

const chatty = (name, deps = []) => ({
  name,
  deps,
  cmd: `for i in $(seq 300); do echo ${name} line $i; done; echo ${name} err >&2; sleep 0.05; mkdir -p dist && cp src.txt dist/`,
});

// many has many tiny packages: each build starts 100 processes from Go,
// whose SIGCHLDs land on whatever thread, Go's included. This is what
// crashes node when a handler lacks SA_ONSTACK (docs/embedding.md).
function many() {
  const packages = [];
  for (let i = 0; i < 100; i++) packages.push({ name: `p${i}`, cmd: 'echo x' });
  return makeWorkspace(packages);
}

function workspace() {
  return makeWorkspace([chatty('a'), chatty('b', ['a']), chatty('c', ['a']), chatty('d', ['b', 'c'])]);
}

// spawnLoop keeps child processes of node's own running until stopped.
function spawnLoop() {
  let stop = false;
  let spawned = 0;
  const one = () => {
    if (stop) return;
    spawned++;
    const child = spawn(spawned % 3 ? 'sh' : process.execPath, spawned % 3 ? ['-c', 'echo x; sleep 0.01'] : ['-e', '0'], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.resume();
    child.on('exit', one);
  };
  for (let i = 0; i < 3; i++) one();
  return () => {
    stop = true;
    return spawned;
  };
}

const workerSource = `
  const { parentPort, workerData } = require('node:worker_threads');
  const { Engine } = require(${JSON.stringify(path.resolve(__dirname, '../../index.js'))});
  const e = new Engine(workerData.root);
  let lines = 0;
  e.on('package:output', () => { lines++; if (lines === 50) parentPort.postMessage({ type: 'streaming' }); });
  e.buildAll({ force: true }).then((r) => {
    parentPort.postMessage({ type: 'done', status: r.status, lines });
    if (workerData.close) e.close();
  });
`;

async function worker(root, { terminateEarly, close }) {
  const w = new Worker(workerSource, { eval: true, workerData: { root, close } });
  const errors = [];
  w.on('error', (err) => errors.push(err));
  const result = await new Promise((resolve) => {
    w.on('message', async (m) => {
      if (m.type === 'streaming' && terminateEarly) {
        resolve('terminated');
        await w.terminate();
      } else if (m.type === 'done') {
        resolve(m.status);
      }
    });
    w.on('exit', () => resolve('exited'));
  });
  await w.terminate();
  assert.deepEqual(errors, []);
  return result;
}

async function main() {
  const stopSpawning = spawnLoop();
  try {
    await run();
  } finally {
    console.log(`${stopSpawning()} children spawned by node`);
  }
}

async function run() {
  const engine = new Engine(workspace(), { concurrency: 2 });
  let events = 0;
  let lines = 0;
  engine.on('event', () => events++);
  engine.on('package:output', () => lines++);

  const roots = [workspace(), workspace(), workspace()];
  const tiny = new Engine(many(), { concurrency: 4 });
  const forkMany = async (round) => {
    if (round !== 1) return;
    const r = await tiny.buildAll({ force: true });
    assert.equal(r.status, 'success');
  };
  for (let round = 0; round < 3; round++) {
    const [r1, r2, w1, w2, w3] = await Promise.all([
      engine.buildAll({ force: true }),
      engine.build('d', { force: round === 1 }),
      worker(roots[0], { terminateEarly: true }),
      worker(roots[1], { terminateEarly: false, close: round % 2 === 0 }),
      worker(roots[2], { terminateEarly: true }),
      forkMany(round),
    ]);
    assert.equal(r1.status, 'success', JSON.stringify(r1));
    assert.equal(r2.status, 'success', JSON.stringify(r2));
    assert.equal(w1, 'terminated');
    assert.ok(['success', 'cancelled', 'failed'].includes(w2), w2);
    assert.equal(w3, 'terminated');
  }
  const third = await engine.buildAll();
  assert.ok(third.packages.every((p) => p.tier === 'instant_skip'));
  engine.close();
  tiny.close();
  assert.ok(lines >= 3 * 4 * 300, `lines ${lines}`);
  console.log(`ok: ${events} events, ${lines} lines`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
