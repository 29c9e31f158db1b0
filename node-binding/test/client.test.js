'use strict';

// Tests of the Client against a real buildnetd (built by pretest into
// build/buildnetd), started here on a free loopback port.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');
const { spawn } = require('node:child_process');

const { Client, BuildNetError } = require('..');
const { bindingDir, copyMonorepo, tiers } = require('./support/helpers');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// startDaemon runs buildnetd on root and resolves once /health answers.
async function startDaemon(t, root) {
  const bin = path.join(bindingDir, 'build', 'buildnetd');
  assert.ok(fs.existsSync(bin), `${bin} is missing: npm test's pretest builds it (scripts/ffi.sh node)`);
  const port = await freePort();
  const proc = spawn(bin, ['start', '--root', root, '--port', String(port), '--listen', '127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = once(proc, 'exit');
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await exited;
    }
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) break;
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok && fs.existsSync(path.join(root, '.buildnet', 'admin.key'))) return url;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`buildnetd did not start: ${stderr}`);
}

test('Client against a real daemon', async (t) => {
  const root = copyMonorepo();
  const url = await startDaemon(t, root);
  // The daemon requires a key: it writes an admin key beside its state.
  const apiKey = fs.readFileSync(path.join(root, '.buildnet', 'admin.key'), 'utf8').trim();
  await assert.rejects(new Client(url).status(), { code: 'BN_ERR_UNAUTHORIZED', status: 401 });
  const client = new Client(url, { apiKey });
  t.after(() => client.close());

  const health = await client.health();
  assert.equal(health.status, 'ok');
  assert.equal(fs.realpathSync(health.workspace), fs.realpathSync(root));

  // buildAll resolves with the result, and build:complete fires.
  const events = [];
  client.on('event', (ev) => events.push(ev));
  const completed = new Promise((resolve) => client.on('build:complete', resolve));
  await client.connect();
  const result = await client.buildAll();
  assert.equal(result.status, 'success', JSON.stringify(result));
  assert.equal(result.packages.length, 6);
  assert.ok(result.packages.every((p) => p.tier === 'full_build'));
  const complete = await completed;
  assert.equal(complete.build_id, result.id);
  assert.equal(complete.result.status, 'success');
  const mine = events.filter((ev) => ev.build_id === result.id);
  assert.equal(mine[0].type, 'build:start');
  assert.ok(mine.some((ev) => ev.type === 'package:output'), 'output lines streamed');
  assert.equal(mine.filter((ev) => ev.type === 'package:complete').length, 6);

  // build('api', {force: true}) rebuilds api (and its dependencies).
  const forced = await client.build('api', { force: true });
  assert.equal(forced.status, 'success');
  assert.deepEqual(tiers(forced), { shared: 'full_build', core: 'full_build', 'plugin-sdk': 'full_build', api: 'full_build' });
  const again = await client.build(['api', 'ui']);
  assert.ok(again.packages.every((p) => p.tier === 'instant_skip'), JSON.stringify(tiers(again)));

  // start() returns an id at once; its result arrives with build:complete.
  const { id, result: started } = await client.start('ui');
  assert.equal((await started).id, id);

  // Queries.
  const graph = await client.graph();
  assert.equal(graph.nodes.length, 6);
  assert.ok(graph.edges.some((e) => e.from === 'api' && e.to === 'plugin-sdk'));
  const status = await client.status();
  assert.ok(Array.isArray(status.packages));
  const history = await client.history({ limit: 2 });
  assert.equal(history.builds.length, 2);
  assert.equal(history.builds[1].id, again.id);
  const stats = await client.cacheStats();
  assert.ok(stats.entries >= 6, JSON.stringify(stats));
  await client.clearCache();
  assert.equal((await client.cacheStats()).entries, 0);

  // watch() watches the daemon's workspace here and builds on the daemon.
  const watched = new Promise((resolve, reject) => {
    const w = client.watch('packages/ui/src/**/*.js', (err, res, files) => {
      w.close();
      if (err) reject(err);
      else resolve({ res, files });
    }, { debounceMs: 50, packages: 'ui' });
    w.ready.then(async () => {
      for (let i = 0; i < 50; i++) {
        fs.appendFileSync(path.join(root, 'packages', 'ui', 'src', 'index.js'), `\n// change ${i}\n`);
        const settled = await Promise.race([watched.then(() => true), new Promise((r) => setTimeout(() => r(false), 300))]);
        if (settled) return;
      }
    });
  });
  const { res: rebuilt, files } = await watched;
  assert.deepEqual(files, ['packages/ui/src/index.js']);
  assert.equal(rebuilt.status, 'success');
  assert.equal(tiers(rebuilt).ui, 'full_build');

  // Errors carry the Engine's codes, plus the daemon's.
  await assert.rejects(client.build('apx'), (err) => err instanceof BuildNetError &&
    err.code === 'BN_ERR_UNKNOWN_PACKAGE' && err.status === 404 && err.serverCode === 'unknown_package' &&
    err.suggestions.includes('api'));
});

test('Client errors without a daemon, and after close', async () => {
  const port = await freePort();
  const client = new Client(`http://127.0.0.1:${port}`);
  await assert.rejects(client.buildAll(), { code: 'BN_ERR_UNAVAILABLE' });
  await assert.rejects(client.connect(), { code: 'BN_ERR_UNAVAILABLE' });
  client.close();
  client.close();
  await assert.rejects(client.status(), { code: 'BN_ERR_CLOSED' });
});

test('Client sends the API key and parses SSE', async (t) => {
  // A stand-in server records the requests: the daemon does not check
  // keys yet.
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url, auth: req.headers.authorization, lastEventId: req.headers['last-event-id'] });
    if (req.url === '/events') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(': connected\nretry: 50\n\n');
      const ev = { seq: 7, type: 'build:complete', build_id: 'b1', result: { id: 'b1', status: 'success', packages: [] } };
      // One event split across writes, with CRLF line ends.
      res.write(`id: 7\r\nevent: build:complete\r\ndata: ${JSON.stringify(ev).slice(0, 20)}`);
      setTimeout(() => res.end(`${JSON.stringify(ev).slice(20)}\r\n\r\n`), 20);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ id: 'b1', status: 'success', packages: [] }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const client = new Client(`http://127.0.0.1:${server.address().port}`, { apiKey: 's3cret' });
  const got = once(client, 'build:complete');
  const [ev] = await got;
  assert.equal(ev.build_id, 'b1');
  await client.build('api', { force: true });
  // The stream ended: the client reconnects, resuming after event 7.
  await once(client, 'connect');
  client.close();
  assert.ok(seen.every((r) => r.auth === 'Bearer s3cret'), JSON.stringify(seen));
  assert.ok(seen.some((r) => r.url === '/build/api?wait=true'));
  assert.ok(seen.some((r) => r.url === '/events' && r.lastEventId === '7'), JSON.stringify(seen));
});
