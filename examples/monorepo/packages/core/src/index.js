// core: the application kernel (events, state, logging), built on shared.
const shared = require('shared');
const { EventBus } = require('./events');
const { createStore } = require('./store');
const { createLogger, LEVELS } = require('./logger');

module.exports = { EventBus, createStore, createLogger, LEVELS, utils: shared };
