// api: an HTTP service, built on core and plugin-sdk.
module.exports = require('./server');
