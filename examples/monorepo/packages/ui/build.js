#!/usr/bin/env node
// Build script of the "ui" package of the BuildNet example monorepo. Plain
// Node, nothing to install: run `node build.js` in this directory (BuildNet
// runs its build_cmd there). The dependencies must be built first. The
// bundler itself is shared by every package: see ../../tools/build-package.js.
'use strict';

require('../../tools/build-package')({
  dir: __dirname,
  name: 'ui',
  dependencies: { shared: '../../packages/shared' },
  sleepMs: 130,
});
