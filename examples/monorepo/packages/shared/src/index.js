// shared: utilities every other package of the example builds on.
module.exports = {
  ...require('./strings'),
  ...require('./math'),
  ...require('./format'),
};
