#!/usr/bin/env node
// Build script of the "api" package of the BuildNet example monorepo. Plain
// Node, nothing to install: run `node build.js` in this directory (BuildNet
// runs its build_cmd there). The dependencies must be built first. The
// bundler itself is shared by every package: see ../../tools/build-package.js.
'use strict';

require('../../tools/build-package')({
  dir: __dirname,
  name: 'api',
  dependencies: { core: '../../packages/core', 'plugin-sdk': '../../packages/plugin-sdk' },
  sleepMs: 160,
  // Smoke-test the built service and write its route table.
  afterBuild(api, { emit, fail }) {
    const app = api.createApp();
    const res = app.handle('GET', '/health');
    if (res.status !== 200) fail(`smoke test: GET /health answered ${res.status}`);
    console.log(`  smoke test: GET /health → ${res.status}`);
    emit('routes.json', `${JSON.stringify(app.routes(), null, 2)}\n`);
  },
});
