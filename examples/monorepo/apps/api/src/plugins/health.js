const { definePlugin } = require('plugin-sdk');

module.exports = definePlugin({
  name: 'Health',
  version: '1.2.0',
  setup(api) {
    const started = Date.now();
    api.hook('routes', () => ({
      method: 'GET',
      path: '/health',
      handle: () => ({ status: 200, body: { ok: true, uptime_ms: Date.now() - started } }),
    }));
  },
});
