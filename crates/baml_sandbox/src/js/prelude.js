// Builds `b`, `b.stream` and the global function names from the native call function (realm.rs).
// `call(i, args, onPartial?)` returns the call's promise. Evaluated as an expression before the
// globals are installed, it keeps the built-ins it needs from then on.
((Object, Promise, Symbol, Proxy, TypeError, globalThis) => function (call, names) {
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
  // Reading a name that is not a BAML function says so, with the names there are, instead of
  // the engine's bare "not a function" at the call. Symbols and the names that protocols probe
  // (`then` when awaited, `toJSON`, ...) read as undefined, as on a plain object.
  const listed = names.length === 0 ? 'the project has none'
    : 'the functions are ' + (names.length > 20 ? names.slice(0, 20).join(', ') + ', ... (' + names.length + ' in all)' : names.join(', '));
  // Built without array methods that sandboxed code could replace later.
  const probes = Object.create(null);
  probes.then = probes.toJSON = probes.toString = probes.valueOf = probes.constructor = true;
  probes.inspect = probes.asymmetricMatch = probes.$$typeof = true;
  const strict = (target, path) => new Proxy(target, {
    get(t, key) {
      if (typeof key === 'symbol' || key in t || probes[key] === true) return t[key];
      throw new TypeError(path + '.' + key + ' is not a BAML function; ' + listed);
    },
  });
  Object.defineProperty(b, 'stream', { value: strict(Object.freeze(stream), 'b.stream') });
  Object.freeze(b);
  const strictB = strict(b, 'b');
  Object.defineProperty(globalThis, 'b', { value: strictB, writable: true, configurable: true });
  names.forEach((name) => {
    if (!(name in globalThis)) {
      Object.defineProperty(globalThis, name, { value: b[name], writable: true, configurable: true });
    }
  });
})(Object, Promise, Symbol, Proxy, TypeError, globalThis)
