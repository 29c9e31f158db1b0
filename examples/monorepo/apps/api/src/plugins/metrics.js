const { definePlugin } = require('plugin-sdk');

module.exports = definePlugin({
  name: 'Request metrics',
  version: '0.3.0',
  setup(api) {
    const counts = new Map();
    api.bus.on('request', ({ method, path }) => {
      const key = `${method} ${path}`;
      counts.set(key, (counts.get(key) || 0) + 1);
    });
    api.hook('routes', () => ({
      method: 'GET',
      path: '/metrics',
      handle: () => ({ status: 200, body: Object.fromEntries(counts) }),
    }));
  },
});
