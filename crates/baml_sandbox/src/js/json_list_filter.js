// The property-list part of the realm's JSON.stringify guard (json_guard.rs): a function of
// the replacer list giving a replacer function. Evaluated as an expression.
(() => {
  'use strict';
  const isArray = Array.isArray;
  const define = Object.defineProperty;
  return (replacer) => {
    if (!isArray(replacer)) return (key, value) => value;
    const list = [];
    const seen = Object.create(null);
    for (let i = 0; i < replacer.length; i++) {
      const v = replacer[i];
      let key;
      if (typeof v === 'string') key = v;
      else if (typeof v === 'number' || v instanceof String || v instanceof Number) key = String(v);
      else continue;
      if (seen[key] !== true) { seen[key] = true; list[list.length] = key; }
    }
    return function (key, value) {
      if (value === null || typeof value !== 'object' || isArray(value)) return value;
      const target = {};
      const keys = [];
      for (let i = 0; i < list.length; i++) {
        const k = list[i];
        const v = value[k];
        if (v === undefined) continue;
        define(target, k, { value: v, writable: true, enumerable: true, configurable: true });
        keys[keys.length] = k;
      }
      return new Proxy(target, { ownKeys: () => keys });
    };
  };
})()
