'use strict';

const { EventEmitter } = require('node:events');

const { BuildNetError, fromHTTP } = require('./errors');
const { startWatch } = require('./watch');
const { toPackages } = require('./engine');

// Events that are EventEmitter bookkeeping, not daemon events.
const internal = new Set(['newListener', 'removeListener', 'error', 'connect', 'disconnect', 'close']);

/**
 * Client talks to a running buildnetd over HTTP, with Node's own fetch. It
 * has the Engine's method names and events: daemon events (read from the
 * daemon's Server-Sent Events stream, GET /events) are emitted under their
 * type and under 'event'. The stream is opened when the first event
 * listener is added, reconnects (resuming from the last event id) when it
 * drops, and keeps the process alive until close().
 *
 * Errors are BuildNetErrors with the same codes as the Engine's, plus
 * `status` (HTTP) and `serverCode` (the daemon's own code).
 */
class Client extends EventEmitter {
  #base;
  #apiKey;
  #timeoutMs;
  #requester;
  #stream = null; // {controller, ready: Promise}
  #lastEventId = null;
  #closed = false;
  #retryMs;

  /**
   * @param {string} [url] daemon address, default http://127.0.0.1:9876
   * @param {object} [options] {apiKey, requester, timeoutMs, retryMs}
   */
  constructor(url = 'http://127.0.0.1:9876', options = {}) {
    super();
    this.#base = new URL(url);
    if (!this.#base.pathname.endsWith('/')) this.#base.pathname += '/';
    this.#apiKey = options.apiKey;
    this.#requester = options.requester ?? 'node';
    this.#timeoutMs = options.timeoutMs ?? 0;
    this.#retryMs = options.retryMs ?? 1000;
    this.on('newListener', (name) => {
      if (typeof name === 'string' && !internal.has(name) && !this.#closed) this.connect().catch(() => {});
    });
  }

  /** url is the daemon's base address. */
  get url() {
    return this.#base.href.replace(/\/$/, '');
  }

  #headers(extra = {}) {
    const h = { Accept: 'application/json', ...extra };
    if (this.#apiKey) h.Authorization = `Bearer ${this.#apiKey}`;
    return h;
  }

  async #request(method, path, { body, query, text = false } = {}) {
    if (this.#closed) throw new BuildNetError('BN_ERR_CLOSED', 'buildnet: client closed');
    const url = new URL(path.replace(/^\//, ''), this.#base);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v instanceof Date ? v.toISOString() : String(v));
    }
    const init = { method, headers: this.#headers() };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    if (this.#timeoutMs > 0) init.signal = AbortSignal.timeout(this.#timeoutMs);
    let res;
    try {
      res = await fetch(url, init);
    } catch (err) {
      throw new BuildNetError('BN_ERR_UNAVAILABLE', `buildnet: ${method} ${url.pathname}: ${err.cause?.message ?? err.message}`, { cause: err });
    }
    const raw = await res.text();
    if (!res.ok) {
      let parsed;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = { error: { message: raw.trim() } };
      }
      throw fromHTTP(res.status, parsed);
    }
    if (text) return raw;
    return raw === '' ? undefined : JSON.parse(raw);
  }

  // ---------------------------------------------------------------- builds

  #buildPath(packages) {
    const list = toPackages(packages);
    if (list.length === 1) return { path: `build/${encodeURIComponent(list[0])}`, body: {} };
    return { path: 'build', body: list.length ? { packages: list } : {} };
  }

  /**
   * build builds packages (a name or a list, with their dependencies) on
   * the daemon and resolves with the result (the shape of
   * `buildnetd build --json`), whatever the build's outcome. It rejects
   * when the build cannot run (unknown package, daemon unreachable).
   */
  async build(packages, options = {}) {
    const { path, body } = this.#buildPath(packages);
    if (options.force) body.force = true;
    if (options.priority) body.priority = options.priority;
    if (this.#stream) await this.#stream.ready.catch(() => {});
    return this.#request('POST', path, { body, query: { wait: 'true' } });
  }

  /** buildAll builds every package. */
  async buildAll(options) {
    return this.build(undefined, options);
  }

  /**
   * start starts a build and resolves with {id, result}: result resolves
   * with the build result when the daemon's build:complete event for it
   * arrives (the event stream is opened if needed).
   */
  async start(packages, options = {}) {
    await this.connect();
    const { path, body } = this.#buildPath(packages);
    if (options.force) body.force = true;
    const early = new Map();
    const grab = (ev) => early.set(ev.build_id, ev);
    this.on('build:complete', grab);
    let id;
    try {
      ({ id } = await this.#request('POST', path, { body }));
    } catch (err) {
      this.off('build:complete', grab);
      throw err;
    }
    const result = new Promise((resolve) => {
      const done = (ev) => {
        this.off('build:complete', grab);
        this.off('build:complete', onComplete);
        resolve(ev.result);
      };
      const onComplete = (ev) => ev.build_id === id && done(ev);
      if (early.has(id)) return done(early.get(id));
      this.on('build:complete', onComplete);
    });
    return { id, result };
  }

  /** cancel cancels a running build. */
  async cancel(buildId) {
    await this.#request('POST', `builds/${encodeURIComponent(buildId)}/cancel`);
  }

  // ---------------------------------------------------------------- queries

  /** health returns {status, version, workspace, uptime_s}. */
  health() {
    return this.#request('GET', 'health');
  }

  /** status returns the daemon's status (see GET /status). */
  status() {
    return this.#request('GET', 'status');
  }

  /** graph returns {nodes, edges}. */
  graph() {
    return this.#request('GET', 'graph');
  }

  /**
   * history lists recorded builds, newest first: {builds, next}. query:
   * {package, tier, status, requester, since, until, q, limit, cursor}.
   */
  history(query = {}) {
    return this.#request('GET', 'builds', { query });
  }

  /** cacheStats returns the daemon's cache statistics. */
  cacheStats() {
    return this.#request('GET', 'cache/stats');
  }

  /** clearCache empties the daemon's cache. */
  async clearCache() {
    await this.#request('POST', 'cache/clear');
  }

  /** log returns a build's captured output as text. */
  log(buildId, { pkg, ansi = true } = {}) {
    return this.#request('GET', `builds/${encodeURIComponent(buildId)}/log`, { query: { package: pkg, ansi: ansi ? undefined : 'false' }, text: true });
  }

  /**
   * watch rebuilds on the daemon when files matching globs change. The
   * files are watched locally, under options.root or else the daemon's
   * workspace (from GET /health): the daemon must run on this machine.
   * fn(err, result, files) gets each build's outcome. Returns {close(),
   * ready}, where ready resolves once files are watched.
   */
  watch(globs, fn, options = {}) {
    let inner = null;
    let closed = false;
    const ready = (async () => {
      const root = options.root ?? (await this.health()).workspace;
      if (!closed) inner = startWatch(this, root, globs, fn, options);
    })();
    ready.catch((err) => fn(err));
    const w = {
      ready,
      close() {
        closed = true;
        if (inner) inner.close();
      },
    };
    this.once('close', () => w.close());
    return w;
  }

  // ---------------------------------------------------------------- events

  /**
   * connect opens the event stream, if it is not open, and resolves once
   * the daemon has accepted it. Adding an event listener calls it.
   */
  connect() {
    if (this.#closed) return Promise.reject(new BuildNetError('BN_ERR_CLOSED', 'buildnet: client closed'));
    if (!this.#stream) {
      const controller = new AbortController();
      let signalReady;
      let failReady;
      const ready = new Promise((resolve, reject) => {
        signalReady = resolve;
        failReady = reject;
      });
      ready.catch(() => {});
      this.#stream = { controller, ready };
      this.#pump(controller.signal, signalReady, failReady);
    }
    return this.#stream.ready;
  }

  async #pump(signal, signalReady, failReady) {
    let first = true;
    while (!signal.aborted) {
      try {
        const headers = this.#headers({ Accept: 'text/event-stream' });
        if (this.#lastEventId) headers['Last-Event-ID'] = this.#lastEventId;
        const res = await fetch(new URL('events', this.#base), { headers, signal });
        if (!res.ok) {
          let body;
          try {
            body = await res.json();
          } catch {
            body = undefined;
          }
          throw fromHTTP(res.status, body);
        }
        signalReady();
        first = false;
        this.emit('connect');
        await this.#read(res.body, signal);
      } catch (err) {
        if (signal.aborted) break;
        const e = err instanceof BuildNetError ? err : new BuildNetError('BN_ERR_UNAVAILABLE', `buildnet: event stream: ${err.cause?.message ?? err.message}`, { cause: err });
        if (first) {
          failReady(e);
          first = false;
        }
        if (this.listenerCount('error') > 0) this.emit('error', e);
      }
      if (signal.aborted) break;
      this.emit('disconnect');
      await new Promise((r) => setTimeout(r, this.#retryMs));
    }
  }

  // #read parses a text/event-stream body until it ends.
  async #read(body, signal) {
    const decoder = new TextDecoder();
    let buf = '';
    let event = { type: 'message', data: [], id: null };
    for await (const chunk of body) {
      if (signal.aborted) return;
      buf += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (event.data.length) this.#deliver(event);
          event = { type: 'message', data: [], id: null };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') event.data.push(value);
        else if (field === 'event') event.type = value;
        else if (field === 'id') event.id = value;
        else if (field === 'retry' && /^\d+$/.test(value)) this.#retryMs = Number(value);
      }
    }
  }

  #deliver(raw) {
    if (raw.id !== null) this.#lastEventId = raw.id;
    let ev;
    try {
      ev = JSON.parse(raw.data.join('\n'));
    } catch {
      return;
    }
    const type = ev.type ?? raw.type;
    // A throwing listener must not kill the stream, nor be swallowed.
    try {
      this.emit(type, ev);
      this.emit('event', ev);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }

  /** close closes the event stream and stops watchers. Calling it again does nothing. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#stream) this.#stream.controller.abort();
    this.emit('close');
  }

  /** closed is true once close() was called. */
  get closed() {
    return this.#closed;
  }
}

module.exports = { Client };
