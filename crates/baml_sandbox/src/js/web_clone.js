// `structuredClone(value)` within the realm (HTML's StructuredSerialize/Deserialize, with no
// transfer): primitives, plain objects, arrays, Date, RegExp, Map, Set, ArrayBuffer, typed
// arrays, DataView, errors and boxed primitives; cycles and shared references are kept. The
// walk is plain JavaScript: it polls the interrupt, its memory is the sandbox's, and deep
// nesting overflows the stack as a catchable RangeError. `classOf` (see `web/clone.rs`) tells
// what an object really is.
(function (classOf) {
  'use strict';
  const apply = Reflect.apply;
  const ownKeys = Object.keys;
  const hasOwn = Object.hasOwn;
  const defineProperty = Reflect.defineProperty;
  const getOwnPropertyDescriptor = Reflect.getOwnPropertyDescriptor;
  const getPrototypeOf = Reflect.getPrototypeOf;
  const MapCtor = getPrototypeOf(new Map()).constructor;
  const SetCtor = getPrototypeOf(new Set()).constructor;
  const mapSet = MapCtor.prototype.set;
  const mapGet = MapCtor.prototype.get;
  const mapHas = MapCtor.prototype.has;
  const mapForEach = MapCtor.prototype.forEach;
  const setAdd = SetCtor.prototype.add;
  const setForEach = SetCtor.prototype.forEach;
  const DateCtor = getPrototypeOf(new Date(0)).constructor;
  const getTime = DateCtor.prototype.getTime;
  const RegExpProto = getPrototypeOf(/a/);
  const RegExpCtor = RegExpProto.constructor;
  const getter = (proto, name) => getOwnPropertyDescriptor(proto, name).get;
  const reSource = getter(RegExpProto, 'source');
  const reFlags = getter(RegExpProto, 'flags');
  const ArrayBufferProto = getPrototypeOf(new ArrayBuffer(0));
  const abSlice = ArrayBufferProto.slice;
  const abResizable = getter(ArrayBufferProto, 'resizable');
  const abMax = getter(ArrayBufferProto, 'maxByteLength');
  const abLength = getter(ArrayBufferProto, 'byteLength');
  const ArrayBufferCtor = ArrayBufferProto.constructor;
  const U8 = getPrototypeOf(new Uint8Array(0)).constructor;
  const u8Set = U8.prototype.set;
  const TypedArrayProto = getPrototypeOf(U8.prototype);
  const taBuffer = getter(TypedArrayProto, 'buffer');
  const taOffset = getter(TypedArrayProto, 'byteOffset');
  const taLength = getter(TypedArrayProto, 'length');
  // In the order of quickjs-ng's typed array types (`classOf` returns 100 plus one).
  const TYPED = [Uint8ClampedArray, Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array,
    Uint32Array, BigInt64Array, BigUint64Array, globalThis.Float16Array, Float32Array, Float64Array];
  const DataViewProto = getPrototypeOf(new DataView(new ArrayBuffer(0)));
  const DataViewCtor = DataViewProto.constructor;
  const dvBuffer = getter(DataViewProto, 'buffer');
  const dvOffset = getter(DataViewProto, 'byteOffset');
  const dvLength = getter(DataViewProto, 'byteLength');
  const numberValue = Number.prototype.valueOf;
  const stringValue = String.prototype.valueOf;
  const booleanValue = Boolean.prototype.valueOf;
  const bigintValue = BigInt.prototype.valueOf;
  const ObjectCtor = Object;
  const ERRORS = {
    __proto__: null, Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError,
  };
  // Looked up when first needed: where the global object was frozen, `DOMException` cannot
  // be created, and only the errors fall back to plain ones.
  let DOMExceptionCtor = null;
  const cloneError = (message) => {
    if (DOMExceptionCtor === null) {
      try {
        DOMExceptionCtor = globalThis.DOMException;
      } catch {
        DOMExceptionCtor = undefined;
      }
    }
    if (typeof DOMExceptionCtor === 'function') {
      try {
        return new DOMExceptionCtor(message, 'DataCloneError');
      } catch {}
    }
    const e = new Error(message);
    e.name = 'DataCloneError';
    return e;
  };
  const data = (value) => ({ __proto__: null, value, writable: true, enumerable: true, configurable: true });
  const hidden = (value) => ({ __proto__: null, value, writable: true, enumerable: false, configurable: true });
  const fnToString = Function.prototype.toString;
  const describe = (v) => {
    if (typeof v === 'function') {
      const text = `${apply(fnToString, v, [])}`;
      return text.length > 100 ? `${text.slice(0, 100)}...` : text;
    }
    return 'Symbol()';
  };

  function structuredClone(value, options = undefined) {
    if (arguments.length < 1) {
      throw new TypeError("Failed to execute 'structuredClone': 1 argument required, but only 0 present.");
    }
    if (options !== undefined && options !== null) {
      if (typeof options !== 'object' && typeof options !== 'function') {
        throw new TypeError("Failed to execute 'structuredClone': The provided value is not of type 'StructuredSerializeOptions'.");
      }
      const transfer = options.transfer;
      if (transfer !== undefined) {
        let count = 0;
        for (const _ of transfer) count++;
        if (count > 0) throw cloneError('structuredClone: transferring is not supported in the sandbox');
      }
    }
    const memory = new MapCtor();
    const copyBuffer = (buffer) => {
      if (apply(mapHas, memory, [buffer])) return apply(mapGet, memory, [buffer]);
      let out;
      if (apply(abResizable, buffer, [])) {
        const length = apply(abLength, buffer, []);
        out = new ArrayBufferCtor(length, { maxByteLength: apply(abMax, buffer, []) });
        apply(u8Set, new U8(out), [new U8(buffer)]);
      } else {
        out = apply(abSlice, buffer, [0]);
      }
      apply(mapSet, memory, [buffer, out]);
      return out;
    };
    const walk = (v) => {
      const type = typeof v;
      if (type === 'symbol' || type === 'function') {
        throw cloneError(`${describe(v)} could not be cloned.`);
      }
      if (v === null || type !== 'object') return v;
      if (apply(mapHas, memory, [v])) return apply(mapGet, memory, [v]);
      const kind = classOf(v);
      let out;
      switch (kind) {
        case 1:
        case 2: {
          out = kind === 2 ? new Array(v.length >>> 0) : {};
          apply(mapSet, memory, [v, out]);
          const keys = ownKeys(v);
          for (let i = 0; i < keys.length; i++) {
            const key = keys[i];
            if (!hasOwn(v, key)) continue;
            defineProperty(out, key, data(walk(v[key])));
          }
          return out;
        }
        case 3:
          out = new DateCtor(apply(getTime, v, []));
          break;
        case 4:
          out = new RegExpCtor(apply(reSource, v, []), apply(reFlags, v, []));
          break;
        case 5: {
          out = new MapCtor();
          apply(mapSet, memory, [v, out]);
          const entries = [];
          apply(mapForEach, v, [(val, key) => { entries[entries.length] = key; entries[entries.length] = val; }]);
          for (let i = 0; i < entries.length; i += 2) {
            const key = walk(entries[i]);
            apply(mapSet, out, [key, walk(entries[i + 1])]);
          }
          return out;
        }
        case 6: {
          out = new SetCtor();
          apply(mapSet, memory, [v, out]);
          const items = [];
          apply(setForEach, v, [(val) => { items[items.length] = val; }]);
          for (let i = 0; i < items.length; i++) apply(setAdd, out, [walk(items[i])]);
          return out;
        }
        case 7:
          return copyBuffer(v);
        case 9:
          out = new DataViewCtor(copyBuffer(apply(dvBuffer, v, [])), apply(dvOffset, v, []), apply(dvLength, v, []));
          break;
        case 10: {
          let name = v.name;
          name = name === undefined ? 'Error' : `${name}`;
          const Ctor = ERRORS[name] === undefined ? Error : ERRORS[name];
          out = new Ctor();
          apply(mapSet, memory, [v, out]);
          const message = getOwnPropertyDescriptor(v, 'message');
          if (message !== undefined && 'value' in message) {
            defineProperty(out, 'message', hidden(`${message.value}`));
          }
          const stack = v.stack;
          if (stack !== undefined) defineProperty(out, 'stack', hidden(`${stack}`));
          const cause = getOwnPropertyDescriptor(v, 'cause');
          if (cause !== undefined && 'value' in cause) {
            defineProperty(out, 'cause', hidden(walk(cause.value)));
          }
          return out;
        }
        case 11:
          out = ObjectCtor(apply(booleanValue, v, []));
          break;
        case 12:
          out = ObjectCtor(apply(numberValue, v, []));
          break;
        case 13:
          out = ObjectCtor(apply(stringValue, v, []));
          break;
        case 14:
          out = ObjectCtor(apply(bigintValue, v, []));
          break;
        default: {
          if (kind >= 100 && TYPED[kind - 100] !== undefined) {
            const Ctor = TYPED[kind - 100];
            out = new Ctor(copyBuffer(apply(taBuffer, v, [])), apply(taOffset, v, []), apply(taLength, v, []));
            break;
          }
          const what = kind === -1 && typeof v === 'object' ? `${ObjectCtor.prototype.toString.call(v)}` : 'value';
          throw cloneError(`${what.slice(0, 100)} could not be cloned.`);
        }
      }
      apply(mapSet, memory, [v, out]);
      return out;
    };
    return walk(value);
  }
  return { __proto__: null, structuredClone };
})
