const { createStore } = require('core');

const initialState = () => ({
  title: 'BuildNet example',
  todos: [
    { id: 1, text: 'Build the workspace', done: true },
    { id: 2, text: 'Edit packages/shared/src/strings.js and build again', done: false },
    { id: 3, text: 'Put BUILD_' + 'FAIL in a source file and watch the dependents get skipped', done: false },
  ],
});

function reducer(state, action) {
  switch (action.type) {
    case 'add':
      return { ...state, todos: [...state.todos, { id: state.todos.length + 1, text: action.text, done: false }] };
    case 'toggle':
      return { ...state, todos: state.todos.map((t) => (t.id === action.id ? { ...t, done: !t.done } : t)) };
    default:
      return state;
  }
}

function createTodoStore(state = initialState()) {
  return createStore(reducer, state);
}

module.exports = { createTodoStore, initialState, reducer };
