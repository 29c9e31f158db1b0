'use strict';

const fs = require('node:fs');
const path = require('node:path');

// globToRegExp compiles a glob relative to the workspace root: `**`
// matches any number of path segments, `*` and `?` stay within one,
// `{a,b}` is an alternative. Paths use forward slashes.
function globToRegExp(glob) {
  let re = '';
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) {
      re += '|';
    } else {
      re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

// Paths never watched: BuildNet's own state, dependencies and VCS data.
const ignored = /(^|\/)(\.buildnet|node_modules|\.git)(\/|$)/;

/**
 * startWatch rebuilds whenever a file under root that matches one of globs
 * changes: changes are debounced, builds never overlap (a change during a
 * build queues one more), and fn(err, result, files) gets each outcome.
 */
function startWatch(target, root, globs, fn, options) {
  const patterns = (Array.isArray(globs) ? globs : [globs]).map(globToRegExp);
  const debounceMs = options.debounceMs ?? 100;
  let timer = null;
  let running = false;
  let again = false;
  let closed = false;
  let changed = new Set();

  const run = () => {
    timer = null;
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    const files = [...changed].sort();
    changed = new Set();
    const opts = { force: options.force, requester: options.requester ?? 'watch' };
    const done = target.build(options.packages, opts);
    done.then((res) => fn(null, res, files), (err) => fn(err, undefined, files))
      .catch((err) => process.nextTick(() => { throw err; })) // a throw in fn is not swallowed
      .finally(() => {
        running = false;
        if (again && !closed) {
          again = false;
          timer = setTimeout(run, debounceMs);
        }
      });
  };

  const watcher = fs.watch(root, { recursive: true }, (event, filename) => {
    if (closed || !filename) return;
    const rel = filename.split(path.sep).join('/');
    if (ignored.test(rel) || !patterns.some((p) => p.test(rel))) return;
    changed.add(rel);
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, debounceMs);
  });
  watcher.on('error', (err) => fn(err));

  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}

module.exports = { globToRegExp, startWatch };
