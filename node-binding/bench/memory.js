'use strict';

// memory.js measures whether build calls through the addon leak: it runs
// N builds (default 1000) on a small workspace, with an event listener,
// and compares the process's resident set size after a warm-up and at the
// end. Exits 1 when the growth exceeds --max-growth-mb (default 32).
//
//   node --expose-gc bench/memory.js [N] [--max-growth-mb 32] [--json]

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Engine } = require('..');

const args = process.argv.slice(2);
const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 1000);
const maxIdx = args.indexOf('--max-growth-mb');
const maxGrowthMB = maxIdx >= 0 ? Number(args[maxIdx + 1]) : 32;
const json = args.includes('--json');
const warmup = 100;

function workspace() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bn-mem-'));
  const pkgs = [
    { name: 'lib', path: 'lib', build_cmd: 'echo built lib; mkdir -p dist && cp src.txt dist/' },
    { name: 'app', path: 'app', build_cmd: 'echo built app; mkdir -p dist && cp src.txt dist/', dependencies: ['lib'] },
  ];
  for (const p of pkgs) {
    fs.mkdirSync(path.join(root, p.path));
    fs.writeFileSync(path.join(root, p.path, 'src.txt'), p.name);
  }
  fs.mkdirSync(path.join(root, '.buildnet'));
  fs.writeFileSync(path.join(root, '.buildnet', 'config.json'), JSON.stringify({ packages: pkgs }));
  return root;
}

const mb = (b) => Math.round((b / 1048576) * 10) / 10;

function sample() {
  if (global.gc) global.gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

async function main() {
  const root = workspace();
  const engine = new Engine(root);
  let events = 0;
  engine.on('event', () => events++);
  const build = async (i) => {
    // Every 10th build runs the commands; the others skip (instant_skip),
    // which is what most calls of a long-lived process do.
    const r = await engine.buildAll({ force: i % 10 === 0 });
    if (r.status !== 'success') throw new Error(`build ${i}: ${r.status}`);
  };
  for (let i = 0; i < warmup; i++) await build(i);
  const before = sample();
  const t0 = process.hrtime.bigint();
  let mid;
  for (let i = 0; i < n; i++) {
    if (i === n / 2) mid = sample();
    await build(i);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = sample();
  engine.close();
  fs.rmSync(root, { recursive: true, force: true });

  const growth = after.rss - before.rss;
  const report = {
    builds: n,
    seconds: Math.round(seconds * 100) / 100,
    builds_per_s: Math.round(n / seconds),
    events,
    rss_before_mb: mb(before.rss),
    rss_after_mb: mb(after.rss),
    rss_growth_mb: mb(growth),
    // A leak keeps growing; a warm-up (Go heap, SQLite page cache) does
    // not: compare the two halves.
    rss_growth_first_half_mb: mid ? mb(mid.rss - before.rss) : undefined,
    rss_growth_second_half_mb: mid ? mb(after.rss - mid.rss) : undefined,
    heap_used_after_mb: mb(after.heapUsed),
    max_growth_mb: maxGrowthMB,
  };
  if (json) console.log(JSON.stringify(report));
  else for (const [k, v] of Object.entries(report)) console.log(`${k.padEnd(20)} ${v}`);
  if (growth > maxGrowthMB * 1048576) {
    console.error(`RSS grew by ${mb(growth)} MB over ${n} builds (limit ${maxGrowthMB} MB)`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
