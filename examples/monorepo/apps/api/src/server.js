const { createLogger } = require('core');
const { PluginRegistry } = require('plugin-sdk');
const { coreRoutes } = require('./routes');
const health = require('./plugins/health');
const metrics = require('./plugins/metrics');

// createApp wires the plugins and returns a transport-independent handler.
function createApp({ sink = () => {} } = {}) {
  const log = createLogger('api', { sink });
  const registry = new PluginRegistry({ sink }).use(health).use(metrics);
  const app = { plugins: () => registry.list() };
  const routes = [...coreRoutes(app), ...registry.run('routes')];

  app.routes = () => routes.map((r) => `${r.method} ${r.path}`);
  app.handle = (method, url) => {
    const { pathname, searchParams } = new URL(url, 'http://localhost');
    const route = routes.find((r) => r.method === method && r.path === pathname);
    registry.bus.emit('request', { method, path: pathname });
    const res = route ? route.handle(searchParams) : { status: 404, body: { error: 'not found' } };
    log.info(`${method} ${pathname}`, { status: res.status });
    return res;
  };
  return app;
}

// start serves the app over HTTP: node -e "require('./dist').start(3000)"
function start(port = 3000) {
  const http = require('node:http');
  const app = createApp({ sink: console.log });
  return http
    .createServer((req, res) => {
      const out = app.handle(req.method, req.url);
      res.writeHead(out.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out.body));
    })
    .listen(port, () => console.log(`api listening on http://localhost:${port}`));
}

module.exports = { createApp, start };
