// client: a web front end, built on core and ui.
const { createTodoStore, initialState } = require('./state');
const { App, renderPage } = require('./app');

module.exports = { App, renderPage, createTodoStore, initialState };
