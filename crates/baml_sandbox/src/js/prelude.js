// Builds `b`, `b.stream` and the global function names from the native call function (realm.rs).
// `call(i, args, onPartial?)` returns the call's promise. Evaluated as an expression before the
// globals are installed, it keeps the built-ins it needs from then on.
((Object, Promise, Symbol, globalThis) => function (call, names) {
  'use strict';
  const b = Object.create(null);
  const stream = Object.create(null);
  const makeStream = (i, args) => {
    const queue = [];
    const waiters = [];
    let finished = false;
    let failure = null;
    const settleWaiters = () => {
      while (waiters.length && (queue.length || finished)) {
        const w = waiters.shift();
        if (queue.length) w.resolve({ value: queue.shift(), done: false });
        else if (failure) w.reject(failure.error);
        else w.resolve({ value: undefined, done: true });
      }
    };
    const final = call(i, args, (partial) => {
      queue.push(partial);
      settleWaiters();
    });
    final.then(
      () => { finished = true; settleWaiters(); },
      (error) => { finished = true; failure = { error }; settleWaiters(); },
    );
    const iterator = {
      next() {
        return new Promise((resolve, reject) => {
          waiters.push({ resolve, reject });
          settleWaiters();
        });
      },
      return() {
        finished = true;
        queue.length = 0;
        settleWaiters();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() { return this; },
      getFinalResponse() { return final; },
    };
    return iterator;
  };
  names.forEach((name, i) => {
    const f = { [name]: (...args) => call(i, args) }[name];
    const s = { [name]: (...args) => makeStream(i, args) }[name];
    Object.defineProperty(b, name, { value: f, enumerable: true });
    Object.defineProperty(stream, name, { value: s, enumerable: true });
  });
  Object.defineProperty(b, 'stream', { value: Object.freeze(stream) });
  Object.freeze(b);
  Object.defineProperty(globalThis, 'b', { value: b, writable: true, configurable: true });
  names.forEach((name) => {
    if (!(name in globalThis)) {
      Object.defineProperty(globalThis, name, { value: b[name], writable: true, configurable: true });
    }
  });
})(Object, Promise, Symbol, globalThis)
