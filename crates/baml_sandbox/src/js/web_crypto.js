// `crypto` with `getRandomValues` and `randomUUID` (WebCrypto; no `subtle`). The natives are in
// `web/crypto.rs`; errors are `DOMException`s named as browsers name them.
(function (fill, uuid) {
  'use strict';
  // Looked up when first needed: where the global object was frozen, `DOMException` cannot
  // be created, and only the errors fall back to plain ones.
  let DOMExceptionCtor = null;
  const domError = (message, name) => {
    if (DOMExceptionCtor === null) {
      try {
        DOMExceptionCtor = globalThis.DOMException;
      } catch {
        DOMExceptionCtor = undefined;
      }
    }
    if (typeof DOMExceptionCtor === 'function') {
      try {
        return new DOMExceptionCtor(message, name);
      } catch {}
    }
    const e = new Error(message);
    e.name = name;
    return e;
  };
  class Crypto {
    getRandomValues(array) {
      if (arguments.length < 1) {
        throw new TypeError("Failed to execute 'getRandomValues' on 'Crypto': 1 argument required, but only 0 present.");
      }
      switch (fill(array)) {
        case 0:
          return array;
        case 1:
          throw new TypeError("Failed to execute 'getRandomValues' on 'Crypto': parameter 1 is not of type 'ArrayBufferView'.");
        case 2:
          throw domError("Failed to execute 'getRandomValues' on 'Crypto': The provided ArrayBufferView is of type 'Float', which is not an integer array type.", 'TypeMismatchError');
        case 3:
          throw domError("Failed to execute 'getRandomValues' on 'Crypto': The ArrayBufferView's byte length exceeds the number of bytes of entropy available via this API (65536).", 'QuotaExceededError');
        default:
          throw domError('the random number generator failed', 'OperationError');
      }
    }

    randomUUID() {
      const id = uuid();
      if (id === null) throw domError('the random number generator failed', 'OperationError');
      return id;
    }
  }
  Reflect.defineProperty(Crypto.prototype, Symbol.toStringTag, {
    __proto__: null, value: 'Crypto', writable: false, enumerable: false, configurable: true,
  });
  const crypto = new Crypto();
  return { __proto__: null, crypto };
})
