// ui: HTML components, built on shared.
const { escapeHtml, h, render } = require('./html');
const { Button, Card, List } = require('./components');

module.exports = { escapeHtml, h, render, Button, Card, List };
