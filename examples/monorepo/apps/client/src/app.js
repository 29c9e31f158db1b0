const { Button, Card, List, h, render } = require('ui');
const { utils } = require('core');

function App(state) {
  const done = state.todos.filter((t) => t.done).length;
  const progress = utils.round((100 * done) / Math.max(1, state.todos.length));
  return h(
    'main',
    { id: utils.slugify(state.title) },
    h('h1', null, state.title),
    Card({
      title: `${done} of ${state.todos.length} done (${progress}%)`,
      body: 'A page rendered at build time from the ui and core packages.',
      footer: Button({ label: 'add a todo' }),
    }),
    List({ items: state.todos }),
  );
}

function renderPage(state) {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${state.title}</title></head>
<body>
${render(App(state))}
</body>
</html>
`;
}

module.exports = { App, renderPage };
