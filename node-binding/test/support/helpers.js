'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const bindingDir = path.resolve(__dirname, '..', '..');
const repoRoot = path.resolve(bindingDir, '..');

// tmpdir returns a fresh temporary directory removed after the process.
const made = [];
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});
function tmpdir(prefix = 'bn-node-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

// copyMonorepo copies examples/monorepo without state or outputs.
function copyMonorepo() {
  const dst = tmpdir('bn-mono-');
  fs.cpSync(path.join(repoRoot, 'examples', 'monorepo'), dst, {
    recursive: true,
    filter: (src) => {
      const rel = path.relative(path.join(repoRoot, 'examples', 'monorepo'), src);
      return !/(^|\/)dist(\/|$)/.test(rel) && !/^\.buildnet\/(cache|state\.db)/.test(rel);
    },
  });
  return dst;
}

// makeWorkspace writes a workspace of shell-command packages:
// packages: [{name, cmd, deps, files: {rel: content}}].
function makeWorkspace(packages) {
  const root = tmpdir('bn-ws-');
  for (const p of packages) {
    fs.mkdirSync(path.join(root, p.name), { recursive: true });
    fs.writeFileSync(path.join(root, p.name, 'src.txt'), `${p.name}\n`);
  }
  fs.mkdirSync(path.join(root, '.buildnet'));
  const config = {
    version: 1,
    packages: packages.map((p) => ({ name: p.name, path: p.name, build_cmd: p.cmd, dependencies: p.deps ?? [] })),
  };
  fs.writeFileSync(path.join(root, '.buildnet', 'config.json'), JSON.stringify(config, null, 2));
  return root;
}

// runNode runs a script in a child node process from the binding's
// directory, so that require('..') style paths work.
function runNode(script, { timeout = 60000, env = {} } = {}) {
  const r = spawnSync(process.execPath, ['-e', script], {
    cwd: bindingDir,
    encoding: 'utf8',
    timeout,
    env: { ...process.env, ...env },
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, error: r.error };
}

// tiers maps package name to tier.
const tiers = (result) => Object.fromEntries(result.packages.map((p) => [p.name, p.tier]));

module.exports = { bindingDir, repoRoot, tmpdir, copyMonorepo, makeWorkspace, runNode, tiers };
