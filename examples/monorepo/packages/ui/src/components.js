const { capitalize, truncate } = require('shared');
const { h } = require('./html');

function Button({ label, kind = 'primary', disabled = false }) {
  return h('button', { class: `btn btn-${kind}`, disabled }, capitalize(label));
}

function Card({ title, body, footer }) {
  return h(
    'section',
    { class: 'card' },
    h('h2', null, title),
    h('p', null, truncate(body, 120)),
    footer ? h('footer', null, footer) : '',
  );
}

function List({ items, empty = 'Nothing here yet.' }) {
  if (items.length === 0) return h('p', { class: 'empty' }, empty);
  return h('ul', null, items.map((item) => h('li', { class: item.done ? 'done' : null }, item.text)));
}

module.exports = { Button, Card, List };
