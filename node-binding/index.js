'use strict';

// @buildnet/client: BuildNet for Node.
//
//   const { Engine, Client } = require('@buildnet/client');
//   const engine = new Engine('/path/to/repo');          // in-process, native addon
//   const client = new Client('http://127.0.0.1:9876');  // a running buildnetd
//
// Both have build(), buildAll(), status(), graph(), history(), cacheStats(),
// clearCache(), watch(), close() and emit the same events.

const { isMainThread } = require('node:worker_threads');

const native = require('./lib/native');
const { BuildNetError } = require('./lib/errors');
const { Engine } = require('./lib/engine');
const { Client } = require('./lib/client');
const { globToRegExp } = require('./lib/watch');

// Load the addon now on the main thread, when it is built, so that the Go
// runtime starts there before any worker (see lib/native.js). The Client
// works without it.
if (isMainThread) native.load();

/** version returns libbuildnet's version; it needs the addon. */
function version() {
  return native.get().version();
}

module.exports = { Engine, Client, BuildNetError, version, globToRegExp };
