'use strict';

// 1,000 build calls through the addon must not grow the process's RSS
// beyond a small bound: bench/memory.js, in a fresh process.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

test('1000 builds through the addon keep RSS bounded', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, '..', 'bench', 'memory.js'), '1000', '--json', '--max-growth-mb', '32'], {
    encoding: 'utf8',
    timeout: 300000,
  });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.builds, 1000);
  assert.ok(report.rss_growth_mb <= 32, JSON.stringify(report));
});
