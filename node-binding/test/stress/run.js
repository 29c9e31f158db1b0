'use strict';

// run.js runs stress.js N times (default 20), each in a fresh node
// process, and fails if any run crashes or fails.
//
//   node test/stress/run.js [N]

const { spawnSync } = require('node:child_process');
const path = require('node:path');

function runStress(n, log = console.log) {
  let passed = 0;
  const failures = [];
  for (let i = 1; i <= n; i++) {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'stress.js')], { encoding: 'utf8', timeout: 120000 });
    if (r.status === 0) {
      passed++;
      log(`run ${i}: ${r.stdout.trim()}`);
    } else {
      const why = r.error ? r.error.message : r.signal ? `signal ${r.signal}` : `exit ${r.status}`;
      failures.push({ run: i, why, stderr: r.stderr.slice(-4000) });
      log(`run ${i}: FAILED (${why})\n${r.stderr.slice(-4000)}`);
    }
  }
  return { passed, failures };
}

if (require.main === module) {
  const n = Number(process.argv[2] ?? 20);
  const { passed, failures } = runStress(n);
  console.log(`${passed} passed, ${failures.length} failed`);
  process.exitCode = failures.length ? 1 : 0;
}

module.exports = { runStress };
