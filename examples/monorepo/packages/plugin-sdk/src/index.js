// plugin-sdk: what a plugin author needs, built on core.
const { definePlugin } = require('./plugin');
const { PluginRegistry } = require('./registry');

const SDK_VERSION = '1.0.0';

module.exports = { definePlugin, PluginRegistry, SDK_VERSION };
