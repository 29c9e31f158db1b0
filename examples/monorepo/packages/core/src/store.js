const { EventBus } = require('./events');

// createStore keeps a value that only a reducer may change, and tells
// subscribers about every change.
function createStore(reducer, initialState) {
  let state = initialState;
  const bus = new EventBus();
  return {
    getState: () => state,
    dispatch(action) {
      const next = reducer(state, action);
      if (next !== state) {
        state = next;
        bus.emit('change', { state, action });
      }
      return action;
    },
    subscribe: (listener) => bus.on('change', listener),
  };
}

module.exports = { createStore };
