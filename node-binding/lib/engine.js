'use strict';

const { EventEmitter } = require('node:events');
const path = require('node:path');

const native = require('./native');
const { BuildNetError, fromNative } = require('./errors');
const { startWatch } = require('./watch');

// toPackages normalises a package selection: undefined or [] means all.
function toPackages(packages) {
  if (packages === undefined || packages === null) return [];
  if (typeof packages === 'string') return [packages];
  if (Array.isArray(packages) && packages.every((p) => typeof p === 'string')) return packages;
  throw new BuildNetError('BN_ERR_INVALID_ARGUMENT', 'packages must be a string or an array of strings');
}

// request builds the JSON request of the C API.
function request(packages, options = {}) {
  const req = { packages: toPackages(packages), requester: options.requester ?? 'node' };
  if (options.force) req.force = true;
  if (options.filters) req.filters = options.filters;
  if (options.priority) req.priority = options.priority;
  return JSON.stringify(req);
}

const parse = (json) => (json === null || json === undefined ? undefined : JSON.parse(json));

/**
 * Engine runs BuildNet in this process, through the native addon over
 * libbuildnet. Builds run on the library's threads: build() never blocks
 * the JS thread nor holds a libuv pool thread.
 *
 * Events: every engine event is emitted under its type ('build:start',
 * 'package:output', 'package:complete', 'build:complete', ...) and under
 * 'event'. A listener that throws raises an uncaught exception, as in any
 * EventEmitter callback.
 */
class Engine extends EventEmitter {
  #native;
  #closed = false;
  #root;
  // Operations waiting for the event that ends them: build id ->
  // callback, and the cache:cleared callbacks in call order. Each holds
  // the process alive (native.hold) until its event has been emitted.
  #awaitBuild = new Map();
  #awaitCleared = [];

  /**
   * @param {string} root workspace root (the folder holding .buildnet/)
   * @param {object} [options] {stateDir, concurrency, env, readOnly}
   */
  constructor(root, options = {}) {
    super();
    if (typeof root !== 'string' || root === '') {
      throw new BuildNetError('BN_ERR_INVALID_ARGUMENT', 'root must be a non-empty string');
    }
    this.#root = path.resolve(root);
    const config = { root: this.#root };
    if (options.stateDir) config.state_dir = path.resolve(options.stateDir);
    if (options.concurrency) config.concurrency = options.concurrency;
    if (options.env) config.env = Object.entries(options.env).map(([k, v]) => `${k}=${v}`);
    if (options.readOnly) config.read_only = true;
    const addon = native.get();
    try {
      this.#native = addon.open(JSON.stringify(config), (json) => this.#dispatch(json));
    } catch (err) {
      throw fromNative(err);
    }
  }

  #dispatch(json) {
    const ev = JSON.parse(json);
    try {
      this.emit(ev.type, ev);
      this.emit('event', ev);
    } finally {
      // Even when a listener throws, the operation waiting for this event
      // goes on.
      if (ev.type === 'build:complete' && this.#awaitBuild.has(ev.build_id)) {
        const done = this.#awaitBuild.get(ev.build_id);
        this.#awaitBuild.delete(ev.build_id);
        done();
      } else if (ev.type === 'cache:cleared' && this.#awaitCleared.length) {
        this.#awaitCleared.shift()();
      } else if (ev.type === 'subscription:dropped') {
        this.#releaseAll();
      }
    }
  }

  // #awaitEvent returns a promise that resolves when release() is called,
  // holding the process alive meanwhile.
  #awaitEvent(register) {
    const addon = native.get();
    addon.hold(this.#native);
    return new Promise((resolve) => {
      let released = false;
      register(() => {
        if (released) return;
        released = true;
        addon.release(this.#native);
        resolve();
      });
    });
  }

  // #releaseAll stops waiting for events that will not come.
  #releaseAll() {
    const pending = [...this.#awaitBuild.values(), ...this.#awaitCleared];
    this.#awaitBuild.clear();
    this.#awaitCleared = [];
    for (const done of pending) done();
  }

  #call(fn, ...args) {
    if (this.#closed) throw new BuildNetError('BN_ERR_CLOSED', 'buildnet: engine closed');
    try {
      return native.get()[fn](this.#native, ...args);
    } catch (err) {
      throw fromNative(err);
    }
  }

  async #query(fn, ...args) {
    try {
      return parse(await this.#call(fn, ...args));
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** root is the absolute workspace root. */
  get root() {
    return this.#root;
  }

  /** closed is true once close() was called. */
  get closed() {
    return this.#closed;
  }

  /**
   * start starts a build and returns its id at once, with a promise of its
   * result. The build's events, build:complete included, have all been
   * emitted when the promise settles.
   */
  start(packages, options) {
    const [id, done] = this.#call('buildStart', request(packages, options));
    const seen = this.#awaitEvent((release) => this.#awaitBuild.set(id, release));
    const result = done.then(
      async (json) => {
        await seen;
        return parse(json);
      },
      (err) => {
        const release = this.#awaitBuild.get(id);
        this.#awaitBuild.delete(id);
        if (release) release();
        throw fromNative(err);
      });
    return { id, result };
  }

  /**
   * build builds packages (a name or a list; with their dependencies) and
   * resolves with the result, whatever the build's outcome: check
   * result.status. It rejects only when the build cannot run (unknown
   * package, closed engine).
   */
  async build(packages, options) {
    return this.start(packages, options).result;
  }

  /** buildAll builds every package. */
  async buildAll(options) {
    return this.build(undefined, options);
  }

  /** cancel cancels a running build; its result has status 'cancelled'. */
  cancel(buildId) {
    this.#call('cancel', buildId);
  }

  /** plan says what a build would do, without doing anything. */
  plan(packages, options) {
    return this.#query('plan', request(packages, options));
  }

  /** why explains the tier a package got in its last build. */
  why(pkg, since) {
    return this.#query('why', pkg, since ?? null);
  }

  /** status reports every package's last outcome and the running builds. */
  status() {
    return this.#query('status');
  }

  /** graph returns {nodes, edges}. */
  graph() {
    return this.#query('graph');
  }

  /**
   * history lists recorded builds, newest first: {builds, next}. query:
   * {package, tier, status, requester, since, until, q, limit, cursor}.
   */
  history(query = {}) {
    const q = { ...query };
    for (const k of ['since', 'until']) if (q[k] instanceof Date) q[k] = q[k].toISOString();
    return this.#query('history', JSON.stringify(q));
  }

  /** cacheStats returns the local cache's statistics. */
  cacheStats() {
    return this.#query('cacheStats');
  }

  /**
   * clearCache empties the local cache (package state is kept); the
   * cache:cleared event has been emitted when it resolves.
   */
  async clearCache() {
    let release;
    const seen = this.#awaitEvent((r) => {
      release = r;
      this.#awaitCleared.push(r);
    });
    try {
      await this.#query('clearCache');
    } catch (err) {
      this.#awaitCleared = this.#awaitCleared.filter((r) => r !== release);
      release();
      throw err;
    }
    await seen;
  }

  /**
   * watch rebuilds when files matching globs (relative to the root)
   * change; fn(err, result, files) gets each build's outcome. Returns
   * {close()}.
   */
  watch(globs, fn, options = {}) {
    if (this.#closed) throw new BuildNetError('BN_ERR_CLOSED', 'buildnet: engine closed');
    const w = startWatch(this, this.#root, globs, fn, options);
    this.once('close', () => w.close());
    return w;
  }

  /**
   * close cancels running builds (their promises resolve with status
   * 'cancelled'), waits for them to be recorded and releases the
   * workspace. It blocks the JS thread for that time, normally a few
   * milliseconds. Calling it again does nothing.
   */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    try {
      // Every queued event is still delivered after this (the addon
      // drains its queue), so the waits above end normally.
      native.get().close(this.#native);
    } catch (err) {
      throw fromNative(err);
    } finally {
      this.emit('close');
    }
  }
}

module.exports = { Engine, toPackages };
