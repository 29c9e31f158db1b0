const { utils } = require('core');

// Routes the API serves itself; plugins add more.
function coreRoutes(app) {
  return [
    { method: 'GET', path: '/', handle: () => ({ status: 200, body: { name: 'example-api', plugins: app.plugins() } }) },
    {
      method: 'GET',
      path: '/slug',
      handle: (query) => ({ status: 200, body: { slug: utils.slugify(query.get('text') || '') } }),
    },
  ];
}

module.exports = { coreRoutes };
