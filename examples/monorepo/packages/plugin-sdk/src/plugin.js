const { utils } = require('core');

// definePlugin validates a plugin description and fills in defaults.
function definePlugin(spec) {
  if (!spec || typeof spec.name !== 'string' || spec.name === '') {
    throw new TypeError('definePlugin: a plugin needs a name');
  }
  if (typeof spec.setup !== 'function') {
    throw new TypeError(`definePlugin: plugin ${spec.name} needs a setup(api) function`);
  }
  return Object.freeze({
    id: utils.slugify(spec.name),
    name: spec.name,
    version: spec.version || '0.0.0',
    setup: spec.setup,
  });
}

module.exports = { definePlugin };
