// The panel's shared state: the last /status snapshot, kept current by the
// live events between refreshes. Views subscribe to topics:
//   status    a new /status snapshot (host, cache, everything)
//   packages  some package's display status changed (names in the payload)
//   active    active builds or the queue changed
//   event     every live event (the Logs tab)
//   builds    a build finished: history should be reloaded
//   cache     the cache changed
//   config    the configuration was reloaded (the config:reloaded event)
//   configRejected  a configuration change was refused (config:rejected)
import { api, reportError } from './api.js';
import { displayStatus } from './status.js';
import { debounce } from './util.js';

export class Store {
  constructor() {
    this.status = null;
    this.health = null;
    this.graph = null;
    this.packages = new Map(); // name -> PackageStatus (+ live updates)
    this.building = new Set(); // package names running now
    this.active = new Map(); // build id -> {id, requester, started_at, total, done, running:Set, packages}
    this.queue = new Map(); // build id -> {id, requester, packages, time}
    this.listeners = new Map();
    this.lastStatusError = 0;
    this.refreshSoon = debounce(() => this.refresh().catch(() => {}), 400);
  }

  on(topic, fn) {
    if (!this.listeners.has(topic)) this.listeners.set(topic, new Set());
    this.listeners.get(topic).add(fn);
    return () => this.listeners.get(topic).delete(fn);
  }

  emit(topic, payload) {
    for (const fn of this.listeners.get(topic) || []) {
      try {
        fn(payload);
      } catch (err) {
        reportError(err, `panel (${topic})`);
      }
    }
  }

  packageNames() {
    return [...this.packages.keys()].sort();
  }

  // displayStatusOf says how to show the package now.
  displayStatusOf(name) {
    const p = this.packages.get(name);
    if (!p) return 'never';
    return displayStatus(p.last_status, p.last_tier, this.building.has(name));
  }

  // refresh loads /status; errors show once per minute at most.
  async refresh() {
    try {
      const st = await api.status();
      this.applyStatus(st);
    } catch (err) {
      if (Date.now() - this.lastStatusError > 60000) {
        this.lastStatusError = Date.now();
        reportError(err, 'status');
      }
      throw err;
    }
  }

  async loadGraph() {
    try {
      this.graph = await api.graph();
    } catch (err) {
      if (err.status !== 404) reportError(err, 'graph');
      this.graph = null;
    }
    return this.graph;
  }

  // reloadPackages loads the graph and the status again, after the
  // configuration changed.
  reloadPackages() {
    return this.loadGraph().then(() => this.refresh()).catch(() => {});
  }

  applyStatus(st) {
    this.status = st;
    const before = new Map([...this.packages.keys()].map((n) => [n, this.displayStatusOf(n)]));
    const pk = new Map();
    for (const p of st.packages || []) pk.set(p.name, { ...p });
    this.packages = pk;
    this.active = new Map();
    this.building = new Set();
    for (const b of st.active_builds || []) {
      const running = new Set(b.running || []);
      for (const n of running) this.building.add(n);
      this.active.set(b.id, {
        id: b.id, requester: b.requester || '', started_at: b.started_at,
        total: b.total || 0, done: b.done || 0, running, packages: b.packages || [],
      });
    }
    this.queue = new Map();
    for (const q of st.queue || []) {
      const id = typeof q === 'string' ? q : q.id;
      if (id && !this.active.has(id)) this.queue.set(id, typeof q === 'string' ? { id } : { ...q });
    }
    const changed = [];
    for (const n of new Set([...before.keys(), ...pk.keys()])) {
      if (before.get(n) !== this.displayStatusOf(n)) changed.push(n);
    }
    const structural = before.size !== pk.size || [...pk.keys()].some((n) => !before.has(n));
    this.emit('status', st);
    this.emit('active');
    if (changed.length || structural) this.emit('packages', { names: changed, structural });
  }

  // handleEvent folds one live event into the state.
  handleEvent(ev) {
    const id = ev.build_id;
    switch (ev.type) {
      case 'build:queued':
        if (id && !this.active.has(id)) this.queue.set(id, { id, requester: ev.requester || '', packages: ev.packages || [], time: ev.time });
        this.emit('active');
        break;
      case 'build:start':
        this.queue.delete(id);
        this.active.set(id, {
          id, requester: ev.requester || '', started_at: ev.time,
          total: (ev.packages || []).length, done: 0, running: new Set(), packages: ev.packages || [],
        });
        this.emit('active');
        break;
      case 'package:start': {
        const b = this.active.get(id);
        if (b) b.running.add(ev.package);
        this.building.add(ev.package);
        this.emit('active');
        this.emit('packages', { names: [ev.package] });
        break;
      }
      case 'package:complete': {
        const b = this.active.get(id);
        if (b) { b.running.delete(ev.package); b.done++; }
        this.building.delete(ev.package);
        const p = this.packages.get(ev.package);
        if (p) {
          p.last_status = ev.status;
          p.last_tier = ev.tier || '';
          if (typeof ev.duration_ms === 'number') p.last_duration_ms = ev.duration_ms;
          p.last_built_at = ev.time;
          p.last_build = id;
          if (ev.digest && ev.status === 'success') p.digest = ev.digest;
        }
        this.emit('active');
        this.emit('packages', { names: [ev.package] });
        break;
      }
      case 'build:complete': {
        const b = this.active.get(id);
        this.active.delete(id);
        this.queue.delete(id);
        const names = [];
        if (b) for (const n of b.running) { this.building.delete(n); names.push(n); }
        this.emit('active');
        if (names.length) this.emit('packages', { names });
        this.emit('builds', ev);
        this.emit('cache');
        this.refreshSoon();
        break;
      }
      case 'cache:cleared':
        this.emit('cache');
        this.refreshSoon();
        break;
      case 'config:reloaded':
        this.emit('config', ev);
        this.reloadPackages();
        break;
      case 'config:rejected':
        this.emit('configRejected', ev);
        break;
      default:
        break;
    }
    this.emit('event', ev);
  }
}
