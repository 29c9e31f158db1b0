#!/usr/bin/env node
// Build script of the "client" package of the BuildNet example monorepo.
// Plain Node, nothing to install: run `node build.js` in this directory
// (BuildNet runs its build_cmd there). The dependencies must be built first.
// The bundler itself is shared by every package: see
// ../../tools/build-package.js.
'use strict';

require('../../tools/build-package')({
  dir: __dirname,
  name: 'client',
  dependencies: { core: '../../packages/core', ui: '../../packages/ui' },
  sleepMs: 180,
  // Pre-render the page with the freshly built bundle.
  afterBuild(app, { emit }) {
    const html = app.renderPage(app.initialState());
    emit('index.html', html);
    console.log(`  pre-rendered index.html (${html.length} bytes)`);
  },
});
