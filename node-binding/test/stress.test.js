'use strict';

// The stress test: test/stress/stress.js, run BN_STRESS_RUNS times
// (default 20) in fresh node processes. Each run builds while node's own
// child processes run and events stream, with worker threads started and
// ended (some mid-build). No run may crash.

const test = require('node:test');
const assert = require('node:assert/strict');

const { runStress } = require('./stress/run');

test('stress: builds, child processes, events and workers never crash', () => {
  const runs = Number(process.env.BN_STRESS_RUNS ?? 20);
  const { passed, failures } = runStress(runs, () => {});
  assert.deepEqual(failures, []);
  assert.equal(passed, runs);
});
