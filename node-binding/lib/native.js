'use strict';

// native loads the addon (build/buildnet.node, which finds
// libbuildnet.so beside itself through its RUNPATH). It is loaded once per
// thread; load it on the main thread first (index.js does, when the addon
// exists), so that the signal fix below happens there.

const path = require('node:path');
const { isMainThread } = require('node:worker_threads');

let native;
let loadError;

const signals = new Set(Object.keys(require('node:os').constants.signals));

function noop() {}

function load() {
  if (native || loadError) return native;
  const file = process.env.BUILDNET_ADDON || path.join(__dirname, '..', 'build', 'buildnet.node');
  if (isMainThread) {
    // Go requires every signal handler to have SA_ONSTACK. libuv installs
    // SIGCHLD's lazily, at the first child_process.spawn, without it, and
    // a child of a build then crashes node. Installing it now, before the
    // Go runtime loads, lets Go add the flag; the listener does not keep
    // the process alive.
    process.on('SIGCHLD', noop);
  }
  try {
    native = require(file);
  } catch (err) {
    loadError = err;
    return undefined;
  }
  native.fixSignals();
  if (isMainThread) {
    // Handlers that JS code installs later get the flag too.
    process.on('newListener', (name) => {
      if (typeof name === 'string' && signals.has(name)) setImmediate(native.fixSignals).unref();
    });
  }
  return native;
}

// get returns the addon, or throws a BuildNetError explaining how to build
// it.
function get() {
  const n = load();
  if (n) return n;
  const { BuildNetError } = require('./errors');
  throw new BuildNetError('BN_ERR_NOT_BUILT',
    `the buildnet addon is not built (${loadError && loadError.message}); run \`npm run build\` in node-binding/ (or scripts/ffi.sh addon)`,
    { cause: loadError });
}

module.exports = { load, get };
