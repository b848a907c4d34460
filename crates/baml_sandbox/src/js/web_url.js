// `URL` and `URLSearchParams` (WHATWG URL Standard). Parsing and the setters are the `url`
// crate's, through natives that take strings only (see `web/url.rs`): conversions of arguments
// (`${x}`, iteration of an init) happen here, where sandboxed code may run. State lives in
// private fields, so a tampered prototype or `Object.prototype` setter cannot reach it, and
// the pair list is walked by index (not through a replaceable `Array.prototype[Symbol.iterator]`).
(function (parse, set, formParse, formEncode) {
  'use strict';
  const HREF = 0, ORIGIN = 10, SEARCH = 8;
  const FIELDS = { protocol: 1, username: 2, password: 3, host: 4, hostname: 5, port: 6,
    pathname: 7, search: 8, hash: 9 };
  // Node's wording: `TypeError: Invalid URL`, with the input (cut to keep errors small).
  const invalid = (input) => {
    const shown = input.length > 200 ? `${input.slice(0, 200)}...` : input;
    const e = new TypeError(`Invalid URL: ${shown}`);
    e.code = 'ERR_INVALID_URL';
    e.input = shown;
    return e;
  };
  const required = (what, n, given) => {
    if (given < n) {
      throw new TypeError(`${what}: ${n} argument${n > 1 ? 's' : ''} required, but only ${given} present.`);
    }
  };
  const pairList = (flat) => {
    const list = [];
    for (let i = 0; i + 1 < flat.length; i += 2) list[list.length] = [flat[i], flat[i + 1]];
    return list;
  };
  const serialize = (list) => {
    let out = '';
    for (let i = 0; i < list.length; i++) {
      if (i > 0) out += '&';
      out += `${formEncode(list[i][0])}=${formEncode(list[i][1])}`;
    }
    return out;
  };

  // Reach into each other's private state (set up by the static blocks below).
  let urlSetQuery, paramsReset, paramsLink;

  class URLSearchParams {
    #list = [];
    #url = null;

    constructor(init = '') {
      if (init !== null && (typeof init === 'object' || typeof init === 'function')) {
        const iterator = init[Symbol.iterator];
        if (iterator !== undefined && iterator !== null) {
          if (typeof iterator !== 'function') {
            throw new TypeError("Failed to construct 'URLSearchParams': The provided value is not iterable.");
          }
          for (const pair of init) {
            if (pair === null || (typeof pair !== 'object' && typeof pair !== 'function')) {
              throw new TypeError("Failed to construct 'URLSearchParams': The provided value cannot be converted to a sequence.");
            }
            const items = [];
            for (const item of pair) items[items.length] = `${item}`;
            if (items.length !== 2) {
              throw new TypeError("Failed to construct 'URLSearchParams': Sequence initializer must only contain pair elements");
            }
            this.#list[this.#list.length] = items;
          }
        } else {
          const keys = Reflect.ownKeys(init);
          for (let i = 0; i < keys.length; i++) {
            const key = keys[i];
            if (typeof key !== 'string') continue;
            const desc = Reflect.getOwnPropertyDescriptor(init, key);
            if (desc === undefined || !desc.enumerable) continue;
            this.#list[this.#list.length] = [key, `${init[key]}`];
          }
        }
      } else {
        let s = `${init}`;
        if (s.length > 0 && s[0] === '?') s = s.slice(1);
        this.#list = pairList(formParse(s));
      }
    }

    #update() {
      if (this.#url !== null) urlSetQuery(this.#url, serialize(this.#list));
    }

    get size() {
      return this.#list.length;
    }

    append(name, value) {
      required("Failed to execute 'append' on 'URLSearchParams'", 2, arguments.length);
      // Converted first: a `toString` may replace the list (through the URL's `href`).
      const pair = [`${name}`, `${value}`];
      this.#list[this.#list.length] = pair;
      this.#update();
    }

    delete(name, value = undefined) {
      required("Failed to execute 'delete' on 'URLSearchParams'", 1, arguments.length);
      name = `${name}`;
      const match = value === undefined ? null : `${value}`;
      const kept = [];
      for (let i = 0; i < this.#list.length; i++) {
        const pair = this.#list[i];
        if (pair[0] !== name || (match !== null && pair[1] !== match)) kept[kept.length] = pair;
      }
      this.#list = kept;
      this.#update();
    }

    get(name) {
      required("Failed to execute 'get' on 'URLSearchParams'", 1, arguments.length);
      name = `${name}`;
      for (let i = 0; i < this.#list.length; i++) if (this.#list[i][0] === name) return this.#list[i][1];
      return null;
    }

    getAll(name) {
      required("Failed to execute 'getAll' on 'URLSearchParams'", 1, arguments.length);
      name = `${name}`;
      const out = [];
      for (let i = 0; i < this.#list.length; i++) {
        if (this.#list[i][0] === name) out[out.length] = this.#list[i][1];
      }
      return out;
    }

    has(name, value = undefined) {
      required("Failed to execute 'has' on 'URLSearchParams'", 1, arguments.length);
      name = `${name}`;
      const match = value === undefined ? null : `${value}`;
      for (let i = 0; i < this.#list.length; i++) {
        const pair = this.#list[i];
        if (pair[0] === name && (match === null || pair[1] === match)) return true;
      }
      return false;
    }

    set(name, value) {
      required("Failed to execute 'set' on 'URLSearchParams'", 2, arguments.length);
      name = `${name}`;
      value = `${value}`;
      const kept = [];
      let found = false;
      for (let i = 0; i < this.#list.length; i++) {
        const pair = this.#list[i];
        if (pair[0] !== name) {
          kept[kept.length] = pair;
        } else if (!found) {
          found = true;
          kept[kept.length] = [name, value];
        }
      }
      if (!found) kept[kept.length] = [name, value];
      this.#list = kept;
      this.#update();
    }

    sort() {
      // Stable, by UTF-16 code units of the names (merge sort: no built-in to tamper with).
      const sortRange = (a) => {
        if (a.length < 2) return a;
        const mid = a.length >> 1;
        const left = sortRange(a.slice(0, mid));
        const right = sortRange(a.slice(mid));
        const out = [];
        let i = 0, j = 0;
        while (i < left.length && j < right.length) {
          out[out.length] = right[j][0] < left[i][0] ? right[j++] : left[i++];
        }
        while (i < left.length) out[out.length] = left[i++];
        while (j < right.length) out[out.length] = right[j++];
        return out;
      };
      this.#list = sortRange(this.#list);
      this.#update();
    }

    forEach(callback, thisArg = undefined) {
      required("Failed to execute 'forEach' on 'URLSearchParams'", 1, arguments.length);
      if (typeof callback !== 'function') {
        throw new TypeError("Failed to execute 'forEach' on 'URLSearchParams': parameter 1 is not of type 'Function'.");
      }
      for (let i = 0; i < this.#list.length; i++) {
        const pair = this.#list[i];
        callback.call(thisArg, pair[1], pair[0], this);
      }
    }

    *entries() {
      for (let i = 0; i < this.#list.length; i++) yield [this.#list[i][0], this.#list[i][1]];
    }

    *keys() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0];
    }

    *values() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1];
    }

    toString() {
      return serialize(this.#list);
    }

    static {
      paramsReset = (params, query) => {
        params.#list = pairList(formParse(query));
      };
      paramsLink = (params, url) => {
        params.#url = url;
      };
    }
  }

  class URL {
    #c;
    #params = null;

    constructor(url, base = undefined) {
      required("Failed to construct 'URL'", 1, arguments.length);
      url = `${url}`;
      if (base !== undefined) base = `${base}`;
      const c = parse(url, base);
      if (c === null) throw invalid(url);
      this.#c = c;
    }

    static canParse(url, base = undefined) {
      required("Failed to execute 'canParse' on 'URL'", 1, arguments.length);
      url = `${url}`;
      if (base !== undefined) base = `${base}`;
      return parse(url, base) !== null;
    }

    static parse(url, base = undefined) {
      required("Failed to execute 'parse' on 'URL'", 1, arguments.length);
      try {
        return new URL(url, base);
      } catch {
        return null;
      }
    }

    #set(field, value) {
      const c = set(this.#c[HREF], field, `${value}`);
      if (c === null) return;
      const before = this.#c[SEARCH];
      this.#c = c;
      if (this.#params !== null && c[SEARCH] !== before) paramsReset(this.#params, c[SEARCH].slice(1));
    }

    get href() { return this.#c[HREF]; }
    set href(value) {
      value = `${value}`;
      const c = parse(value, undefined);
      if (c === null) throw invalid(value);
      this.#c = c;
      if (this.#params !== null) paramsReset(this.#params, c[SEARCH].slice(1));
    }
    get origin() { return this.#c[ORIGIN]; }
    get protocol() { return this.#c[FIELDS.protocol]; }
    set protocol(v) { this.#set(FIELDS.protocol, v); }
    get username() { return this.#c[FIELDS.username]; }
    set username(v) { this.#set(FIELDS.username, v); }
    get password() { return this.#c[FIELDS.password]; }
    set password(v) { this.#set(FIELDS.password, v); }
    get host() { return this.#c[FIELDS.host]; }
    set host(v) { this.#set(FIELDS.host, v); }
    get hostname() { return this.#c[FIELDS.hostname]; }
    set hostname(v) { this.#set(FIELDS.hostname, v); }
    get port() { return this.#c[FIELDS.port]; }
    set port(v) { this.#set(FIELDS.port, v); }
    get pathname() { return this.#c[FIELDS.pathname]; }
    set pathname(v) { this.#set(FIELDS.pathname, v); }
    get search() { return this.#c[FIELDS.search]; }
    set search(v) { this.#set(FIELDS.search, v); }
    get hash() { return this.#c[FIELDS.hash]; }
    set hash(v) { this.#set(FIELDS.hash, v); }

    get searchParams() {
      if (this.#params === null) {
        const params = new URLSearchParams(this.#c[SEARCH]);
        paramsLink(params, this);
        this.#params = params;
      }
      return this.#params;
    }

    toString() { return this.#c[HREF]; }
    toJSON() { return this.#c[HREF]; }

    static {
      urlSetQuery = (url, query) => {
        // The URL's query becomes exactly the serialization (null when empty), as the
        // standard's "update steps" do; `set` with a leading '?' keeps it as given.
        const c = set(url.#c[HREF], SEARCH, query === '' ? '' : `?${query}`);
        if (c !== null) url.#c = c;
      };
    }
  }

  const hidden = (target, key, value) =>
    Reflect.defineProperty(target, key, { __proto__: null, value, writable: false, enumerable: false, configurable: true });
  hidden(URL.prototype, Symbol.toStringTag, 'URL');
  hidden(URLSearchParams.prototype, Symbol.toStringTag, 'URLSearchParams');
  Reflect.defineProperty(URLSearchParams.prototype, Symbol.iterator, {
    __proto__: null,
    value: URLSearchParams.prototype.entries,
    writable: true,
    enumerable: false,
    configurable: true,
  });
  return { __proto__: null, URL, URLSearchParams };
})
