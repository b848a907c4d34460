// `TextEncoder` and `TextDecoder` (WHATWG Encoding Standard; UTF-8, and UTF-16LE for
// decoding). The natives (see `web/text.rs`) take strings and buffers only; options and
// arguments are read here first, so no sandboxed code runs while a native reads a buffer.
(function (encode, encodeInto, decode, bufferKind) {
  'use strict';
  const LABELS = {
    __proto__: null,
    'utf-8': 'utf-8', utf8: 'utf-8', 'unicode-1-1-utf-8': 'utf-8', 'unicode11utf8': 'utf-8',
    'unicode20utf8': 'utf-8', 'x-unicode20utf8': 'utf-8',
    'utf-16le': 'utf-16le', 'utf-16': 'utf-16le', 'ucs-2': 'utf-16le', unicode: 'utf-16le',
    csunicode: 'utf-16le', 'iso-10646-ucs-2': 'utf-16le', unicodefeff: 'utf-16le',
  };
  const DataViewProto = Reflect.getPrototypeOf(new DataView(new ArrayBuffer(0)));
  const getter = (proto, name) => Reflect.getOwnPropertyDescriptor(proto, name).get;
  const dvBuffer = getter(DataViewProto, 'buffer');
  const dvOffset = getter(DataViewProto, 'byteOffset');
  const dvLength = getter(DataViewProto, 'byteLength');
  const U8 = Reflect.getPrototypeOf(new Uint8Array(0)).constructor;
  const apply = Reflect.apply;
  const isObject = (v) => v !== null && (typeof v === 'object' || typeof v === 'function');

  class TextEncoder {
    get encoding() {
      return 'utf-8';
    }

    encode(input = '') {
      return encode(`${input}`);
    }

    encodeInto(source, destination) {
      if (arguments.length < 2) {
        throw new TypeError(`Failed to execute 'encodeInto' on 'TextEncoder': 2 arguments required, but only ${arguments.length} present.`);
      }
      const r = encodeInto(`${source}`, destination);
      return { read: r[0], written: r[1] };
    }
  }

  class TextDecoder {
    #encoding;
    #fatal;
    #ignoreBOM;
    #bomSeen = false;
    #pending = '';

    constructor(label = 'utf-8', options = undefined) {
      // ASCII whitespace only, as the standard trims labels.
      const key = `${label}`.replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, '').toLowerCase();
      const encoding = LABELS[key];
      if (encoding === undefined) {
        const e = new RangeError(`The "${`${label}`.slice(0, 100)}" encoding is not supported`);
        e.code = 'ERR_ENCODING_NOT_SUPPORTED';
        throw e;
      }
      if (options !== undefined && options !== null && !isObject(options)) {
        throw new TypeError("Failed to construct 'TextDecoder': The provided value is not of type 'TextDecoderOptions'.");
      }
      this.#encoding = encoding;
      this.#fatal = isObject(options) ? !!options.fatal : false;
      this.#ignoreBOM = isObject(options) ? !!options.ignoreBOM : false;
    }

    get encoding() {
      return this.#encoding;
    }

    get fatal() {
      return this.#fatal;
    }

    get ignoreBOM() {
      return this.#ignoreBOM;
    }

    decode(input = undefined, options = undefined) {
      if (options !== undefined && options !== null && !isObject(options)) {
        throw new TypeError("Failed to execute 'decode' on 'TextDecoder': The provided value is not of type 'TextDecodeOptions'.");
      }
      const stream = isObject(options) ? !!options.stream : false;
      const kind = bufferKind(input);
      if (kind === 3) {
        input = new U8(apply(dvBuffer, input, []), apply(dvOffset, input, []), apply(dvLength, input, []));
      } else if (kind === 0 && input !== undefined) {
        throw new TypeError("Failed to execute 'decode' on 'TextDecoder': The provided value is not of type '(ArrayBuffer or ArrayBufferView)'");
      }
      let r;
      try {
        r = decode(input, this.#encoding === 'utf-16le', this.#fatal, stream, this.#pending);
      } catch (e) {
        // A fatal error ends the stream.
        this.#pending = '';
        this.#bomSeen = false;
        throw e;
      }
      let text = r[0];
      this.#pending = r[1];
      if (!this.#ignoreBOM && !this.#bomSeen && text.length > 0) {
        this.#bomSeen = true;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      if (!stream) {
        this.#bomSeen = false;
        this.#pending = '';
      }
      return text;
    }
  }

  const tag = (C, name) => Reflect.defineProperty(C.prototype, Symbol.toStringTag, {
    __proto__: null, value: name, writable: false, enumerable: false, configurable: true,
  });
  tag(TextEncoder, 'TextEncoder');
  tag(TextDecoder, 'TextDecoder');
  return { __proto__: null, TextEncoder, TextDecoder };
})
