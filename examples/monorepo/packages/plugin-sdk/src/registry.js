const { EventBus, createLogger } = require('core');

// PluginRegistry loads plugins and gives each one a small API: a logger,
// the shared event bus and a way to register named hooks.
class PluginRegistry {
  constructor({ sink } = {}) {
    this.bus = new EventBus();
    this.plugins = new Map();
    this.hooks = new Map();
    this.sink = sink;
  }

  use(plugin) {
    if (this.plugins.has(plugin.id)) throw new Error(`plugin ${plugin.id} is already registered`);
    const api = {
      log: createLogger(`plugin:${plugin.id}`, { sink: this.sink }),
      bus: this.bus,
      hook: (name, fn) => {
        if (!this.hooks.has(name)) this.hooks.set(name, []);
        this.hooks.get(name).push(fn);
      },
    };
    plugin.setup(api);
    this.plugins.set(plugin.id, plugin);
    this.bus.emit('plugin:loaded', plugin.id);
    return this;
  }

  run(name, ...args) {
    return (this.hooks.get(name) || []).map((fn) => fn(...args));
  }

  list() {
    return [...this.plugins.values()].map((p) => `${p.name}@${p.version}`);
  }
}

module.exports = { PluginRegistry };
