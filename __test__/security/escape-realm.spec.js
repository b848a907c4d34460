// Escape corpus, part 1: reaching Node through the realm itself. Constructor chains from every
// kind of function and object, eval/Function, globalThis introspection, module loading,
// prototype pollution, and the stack-trace hooks (after vm2's and SES's classic breakouts:
// `this.constructor.constructor('return process')()` and its many disguises).
const test = require('ava')
const { attempt, plain, sandboxError, NODE_PROBE, NOTHING } = require('./_harness')

test('this.constructor.constructor("return process")() is a ReferenceError in the sandbox', async (t) => {
  await attempt(t, async ({ ev }) => {
    const err = await sandboxError(t, ev('this.constructor.constructor("return process")()'), 'SANDBOX_ERROR')
    t.is(err.jsName, 'ReferenceError')
    t.regex(err.message, /process/)
    t.is(await ev('this.constructor.constructor("return this")() === globalThis'), true)
  })
})

test('the Function constructor reached from every kind of function sees only the sandbox', async (t) => {
  await attempt(t, async ({ ev }) => {
    const r = await ev(`
      const probe = ${JSON.stringify(`return ${NODE_PROBE}`)}
      const kinds = {
        plain: function () {},
        arrow: () => {},
        method: { m() {} }.m,
        getter: Object.getOwnPropertyDescriptor({ get g() { return 1 } }, 'g').get,
        klass: class {},
        bound: function () {}.bind(null),
        async: async function () {},
        asyncArrow: async () => {},
        generator: function* () {},
        asyncGenerator: async function* () {},
        builtin: Array.prototype.map,
        console: console.log,
        timer: setTimeout,
      }
      const out = {}
      for (const [name, f] of Object.entries(kinds)) {
        const F = f.constructor
        let v = F(probe)()
        if (v && typeof v.then === 'function') v = await v
        else if (v && typeof v.next === 'function') {
          let step = v.next()
          if (typeof step.then === 'function') step = await step
          v = step.value
        }
        out[name] = v
      }
      out
    `)
    plain(t, r)
    t.is(Object.keys(r).length, 13)
    for (const [name, v] of Object.entries(r)) t.is(v, NOTHING, name)
  })
})

test('host functions are sandbox natives: no Node source, no Node constructor, no Node prototype', async (t) => {
  await attempt(t, async ({ ev }) => {
    const r = await ev(`[
      echo.toString(), Object.getPrototypeOf(echo) === Function.prototype, echo.constructor === Function,
      echo.constructor(${JSON.stringify(`return ${NODE_PROBE}`)})(),
      Function.prototype.toString.call(capture).includes('NODE_SOURCE_MARKER'),
      typeof echo.prototype, Object.getOwnPropertyNames(echo).sort().join(),
      echo.call.constructor === Function, Reflect.apply(Function.prototype.toString, give, []).includes('given'),
    ]`)
    t.deepEqual(r, [
      'function echo() {\n    [native code]\n}', true, true, NOTHING, false, 'undefined', 'length,name', true, false,
    ])
  })
})

test('objects that came from Node (globals, host results, host errors) chain to sandbox constructors', async (t) => {
  await attempt(t, async ({ ev }) => {
    const r = await ev(`
      const fromHost = await give()
      let caught
      try { await boom() } catch (e) { caught = e }
      const probe = ${JSON.stringify(`return ${NODE_PROBE}`)}
      ;[
        shared.constructor.constructor(probe)(),
        shared.nested.list.constructor.constructor(probe)(),
        fromHost.constructor.constructor(probe)(),
        caught.constructor.constructor(probe)(),
        Object.getPrototypeOf(shared) === Object.prototype,
        Object.getPrototypeOf(fromHost.items) === Array.prototype,
        Object.getPrototypeOf(caught) === Error.prototype,
        shared.nested.when instanceof Date,
      ]
    `)
    t.deepEqual(r, [NOTHING, NOTHING, NOTHING, NOTHING, true, true, true, true])
  })
})

test('Error, Promise, Symbol, Proxy and Reflect objects chain only to the sandbox', async (t) => {
  await attempt(t, async ({ ev }) => {
    const r = await ev(`
      const probe = ${JSON.stringify(`return ${NODE_PROBE}`)}
      const viaCtor = (o) => o.constructor.constructor(probe)()
      ;[
        viaCtor(new Error('x')), viaCtor(new TypeError('x')), viaCtor(new AggregateError([])),
        viaCtor(Promise.resolve(1)), viaCtor(echo(1)), Promise.resolve().then.constructor(probe)(),
        viaCtor(Object(Symbol('s'))), Symbol.for.constructor(probe)(),
        viaCtor(new Proxy({}, {})), Proxy.constructor(probe)(), Proxy.revocable.constructor(probe)(),
        Reflect.get.constructor(probe)(), Reflect.construct(Function, [probe])(),
        viaCtor(new Proxy(function () {}, { get: (t, k) => Reflect.get(t, k) })),
        viaCtor(/re/), viaCtor(new Date(0)), viaCtor(new Map()), viaCtor(new Uint8Array(1)),
        viaCtor(new WeakRef({})), viaCtor(new SharedArrayBuffer(8)),
      ]
    `)
    t.is(r.length, 20)
    r.forEach((v, i) => t.is(v, NOTHING, `probe ${i}`))
  })
})

test('eval, indirect eval and new Function work but give only sandbox globals', async (t) => {
  await attempt(t, async ({ ev }) => {
    const r = await ev(`[
      eval(${JSON.stringify(NODE_PROBE)}),
      (0, eval)('this') === globalThis,
      new Function('return this')() === globalThis,
      Function('return typeof globalThis.process')(),
      eval('(function () { return this })()') === globalThis,
      (0, eval)('var leakedVar = 1; typeof require'),
      typeof leakedVar,
      new Function('a', 'b', 'return a + b')(20, 22),
    ]`)
    t.deepEqual(r, [NOTHING, true, true, 'undefined', true, 'undefined', 'number', 42])
    t.is(typeof globalThis.leakedVar, 'undefined', 'sandbox var did not reach Node')
  })
})

test('globalThis holds only ECMAScript built-ins and the sandbox own globals', async (t) => {
  await attempt(t, async ({ ev }) => {
    const names = await ev('Object.getOwnPropertyNames(globalThis).concat(Object.getOwnPropertySymbols(globalThis).map(String))')
    const standard = new Set([
      'AggregateError', 'Array', 'ArrayBuffer', 'AsyncDisposableStack', 'Atomics', 'BigInt', 'BigInt64Array',
      'BigUint64Array', 'Boolean', 'DOMException', 'DataView', 'Date', 'DisposableStack', 'Error', 'EvalError',
      'FinalizationRegistry', 'Float16Array', 'Float32Array', 'Float64Array', 'Function', 'Infinity', 'Int16Array',
      'Int32Array', 'Int8Array', 'InternalError', 'Iterator', 'JSON', 'Map', 'Math', 'NaN', 'Number', 'Object',
      'Promise', 'Proxy', 'RangeError', 'ReferenceError', 'Reflect', 'RegExp', 'Set', 'SharedArrayBuffer', 'String',
      'SuppressedError', 'Symbol', 'SyntaxError', 'TypeError', 'URIError', 'Uint16Array', 'Uint32Array', 'Uint8Array',
      'Uint8ClampedArray', 'WeakMap', 'WeakRef', 'WeakSet', 'atob', 'btoa', 'decodeURI', 'decodeURIComponent',
      'encodeURI', 'encodeURIComponent', 'escape', 'eval', 'globalThis', 'isFinite', 'isNaN', 'parseFloat',
      'parseInt', 'performance', 'queueMicrotask', 'undefined', 'unescape', 'Symbol(Symbol.toStringTag)',
      // the sandbox's own
      'console', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'shared', 'echo', 'give', 'capture',
      'boom', 'nodeThings',
      // the sandbox's web globals (its own implementations, created in the realm on first use)
      'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder', 'structuredClone', 'crypto',
      // BAML's TypeBuilder (builders.js run in the realm, on first use)
      'TypeBuilder',
    ])
    const unexpected = names.filter((n) => !standard.has(n))
    t.deepEqual(unexpected, [])
    for (const node of ['process', 'require', 'module', 'exports', 'Buffer', 'global', 'setImmediate', 'fetch', 'WebAssembly', 'navigator']) {
      t.false(names.includes(node), node)
    }
    // Walking every global's own properties finds no Node object either.
    const walk = await ev(`
      const found = []
      for (const name of Object.getOwnPropertyNames(globalThis)) {
        const v = globalThis[name]
        if ((typeof v === 'object' || typeof v === 'function') && v !== null) {
          for (const k of Reflect.ownKeys(v)) {
            if (['process', 'require', 'module', 'Buffer', 'binding', 'dlopen'].includes(String(k))) found.push(name + '.' + String(k))
          }
        }
      }
      found
    `)
    t.deepEqual(walk, [])
    // The web globals are the sandbox's own objects, chaining to its built-ins.
    const own = await ev(`[
      URL, URLSearchParams, TextEncoder, TextDecoder, structuredClone, crypto.getRandomValues, crypto.randomUUID,
      new URL('https://a.com').toString, new TextEncoder().encode,
    ].map((f) => f.constructor === Function && Object.getPrototypeOf(f) === Function.prototype)
      .concat([Object.getPrototypeOf(Object.getPrototypeOf(crypto)) === Object.prototype,
        Object.getPrototypeOf(new TextEncoder().encode('x')) === Uint8Array.prototype])`)
    t.deepEqual(own, Array(11).fill(true))
  })
})

test('import() of Node built-ins, files, data: URLs and QuickJS std/os modules rejects inside', async (t) => {
  await attempt(t, async ({ ev }) => {
    const specs = ['fs', 'node:child_process', 'child_process', '/etc/passwd', './index.js', '../../index.js',
      'data:text/javascript,export default 1', 'std', 'os', 'qjs:std', 'qjs:os', 'bjson']
    const r = await ev(`
      const out = []
      for (const s of ${JSON.stringify(specs)}) {
        try { await import(s); out.push(s + ': imported') } catch (e) { out.push(s + ': ' + e.name) }
      }
      out
    `)
    t.deepEqual(r, specs.map((s) => `${s}: ReferenceError`))
    const err = await sandboxError(t, ev('import fs from "fs"; fs'), 'SANDBOX_ERROR')
    t.is(err.jsName, 'SyntaxError')
    const meta = await sandboxError(t, ev('import.meta.url'), 'SANDBOX_ERROR')
    t.is(meta.jsName, 'SyntaxError')
  })
})

test('require, process and module are unreachable by name, by property and by scope tricks', async (t) => {
  await attempt(t, async ({ ev }) => {
    const r = await ev(`[
      typeof globalThis.require, typeof this.process, Reflect.has(globalThis, 'process'),
      (function () { return typeof this.require })(),
      (() => { try { with ({}) { return typeof process } } catch (e) { return e.name } })(),
      (function () { 'use strict'; return this })(),
      typeof Function('return arguments.callee.caller')() === 'function',
      (() => { try { return typeof module.require } catch (e) { return e.name } })(),
    ]`)
    t.deepEqual(r, ['undefined', 'undefined', false, 'undefined', 'undefined', undefined, false, 'ReferenceError'])
  })
})

test('Object.prototype pollution inside stays inside, and later results are still plain', async (t) => {
  await attempt(t, async ({ ev }) => {
    await ev(`
      Object.prototype.polluted = 'yes'
      Object.prototype.isAdmin = true
      Object.defineProperty(Object.prototype, 'hacked', { get() { return 'getter' }, configurable: true })
      Object.prototype.toString = () => 'owned'
      Object.prototype.constructor = function Evil() {}
      Array.prototype.push = null
      JSON.stringify = () => 'owned'
      Function.prototype.call = () => 'owned'
      Promise.prototype.then = () => 'owned'
    `)
    const r = await ev('({ a: [1, { b: 2 }], d: new Date(5) })')
    plain(t, r)
    t.deepEqual(Object.keys(r), ['a', 'd'])
    t.deepEqual(r.a, [1, { b: 2 }])
    t.is(r.d.getTime(), 5)
    t.is(r.polluted, undefined)
    t.is(Object.prototype.toString.call(r), '[object Object]')
    // Host calls still work and Node sees plain values.
    t.is(await ev('await capture({ x: 1 }, [2])'), 2)
  })
})

test('a __proto__ own key in a result, a host argument or a global is an ordinary key in Node', async (t) => {
  await attempt(t, async ({ ev, calls }) => {
    const r = await ev(`JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"isAdmin": true}}}')`)
    t.true(Object.hasOwn(r, '__proto__'))
    t.is(Object.getPrototypeOf(r), Object.prototype)
    t.deepEqual(Object.getOwnPropertyDescriptor(r, '__proto__').value, { polluted: 'yes' })
    t.is(r.polluted, undefined)
    t.is(r.constructor.prototype.isAdmin, true)
    t.is({}.isAdmin, undefined)
    await ev(`await capture(JSON.parse('{"__proto__": {"isAdmin": true}}'))`)
    const [arg] = calls[0]
    t.true(Object.hasOwn(arg, '__proto__'))
    t.is(Object.getPrototypeOf(arg), Object.prototype)
    t.is(arg.isAdmin, undefined)
  }, { context: { globals: { g: JSON.parse('{"__proto__": {"polluted": "via globals"}}') } } })
  await attempt(t, async ({ ev }) => {
    t.deepEqual(await ev('[Object.hasOwn(g, "__proto__"), Object.getPrototypeOf(g) === Object.prototype, g.polluted, ({}).polluted]'),
      [true, true, undefined, undefined])
  }, { context: { globals: { g: JSON.parse('{"__proto__": {"polluted": "via globals"}}') } } })
})

test('Error.prepareStackTrace and CallSite.getFunction only ever show sandbox functions', async (t) => {
  await attempt(t, async ({ ev }) => {
    const r = await ev(`
      const seen = []
      Error.prepareStackTrace = (e, frames) => frames
      Error.stackTraceLimit = Infinity
      const known = new Set()
      const grab = () => {
        for (const f of new Error('x').stack) {
          const fn = f.getFunction()
          seen.push([f.getFunctionName(), typeof fn, known.has(fn), f.isNative(), f.getFileName()])
        }
        return 1
      }
      known.add(grab)
      const getter = () => {
        const o = { get a() { return grab() } }
        known.add(Object.getOwnPropertyDescriptor(o, 'a').get)
        return o
      }
      // Frames taken inside getters that Rust runs while it copies host-call arguments and a
      // result out of the sandbox.
      await capture(getter())
      await echo(getter())
      seen
    `)
    plain(t, r)
    t.is(r.length, 6)
    for (const [name, type, isKnown, isNative, file] of r) {
      t.true(['get a', 'grab', '<eval>'].includes(name), `unexpected frame ${name}`)
      t.is(type, 'function')
      t.is(isNative, false)
      t.is(file, '<sandbox>')
      // Every frame but the script's own is one of the functions above.
      t.is(isKnown, name !== '<eval>', name)
    }
    const viaResult = await ev(`
      seen.length = 0
      ;({ get a() { return grab() } })
    `)
    t.deepEqual(viaResult, { a: 1 })
    const frames = await ev('seen.map((f) => f[0])')
    t.deepEqual(frames.slice(0, 2), ['grab', 'get a'])
    // The same hook on an error that reaches Node: Node gets a string stack.
    // An error that reaches Node while the hook is set: its CallSites never cross (the stack is
    // not a string, so there is none), and a string from the hook crosses as that string.
    const err = await sandboxError(t, ev('throw new Error("with frames")'), 'SANDBOX_ERROR')
    t.is(err.jsStack, undefined)
    const custom = await sandboxError(t, ev('Error.prepareStackTrace = () => "custom stack"; throw new Error("x")'), 'SANDBOX_ERROR')
    t.is(custom.jsStack, 'custom stack')
    // (The harness checks that Node's own Error.prepareStackTrace is still the same function.)
  })
})

test('Error.captureStackTrace and stack getters that throw or loop on an escaping error', async (t) => {
  await attempt(t, async ({ ev }) => {
    const r = await ev(`
      const o = {}
      Error.captureStackTrace(o)
      typeof o.stack
    `)
    t.is(r, 'string')
    const throwing = await sandboxError(t, ev(`{
      const e = new Error('stack thrower')
      Object.defineProperty(e, 'stack', { get() { throw new Error('from the stack getter') } })
      Object.defineProperty(e, 'name', { get() { throw new Error('from the name getter') } })
      throw e
    }`), 'SANDBOX_ERROR')
    t.regex(throwing.message, /stack thrower/)
    const looping = await sandboxError(t, ev(`{
      const e = new Error('stack looper')
      Object.defineProperty(e, 'stack', { get() { for (;;) {} } })
      throw e
    }`, { timeoutMs: 200 }), 'SANDBOX_TIMEOUT')
    t.is(looping.timeoutMs, 200)
  })
})

test('thrown non-errors (proxy, symbol, function, hostile toString, null) reach Node as messages only', async (t) => {
  await attempt(t, async ({ ev }) => {
    const cases = [
      ['throw new Proxy({}, { get() { throw new Error("trap") }, ownKeys() { throw new Error("trap") } })', /^Uncaught/],
      ['throw Symbol("sym")', /^Uncaught Symbol\(sym\)$/],
      ['throw function evil() { return process }', /^Uncaught \[Function: evil\]$/],
      ['throw { toString() { throw new Error("no") }, [Symbol.toPrimitive]() { throw new Error("no") } }', /^Uncaught/],
      ['throw null', /^Uncaught null$/],
      ['throw 10n', /^Uncaught 10n$/],
      ['const r = Proxy.revocable(new Error("x"), {}); r.revoke(); throw r.proxy', /^Uncaught/],
    ]
    for (const [code, message] of cases) {
      const err = await sandboxError(t, ev(code), 'SANDBOX_ERROR')
      t.regex(err.message, message, code)
      t.is(err.jsName, undefined, code)
    }
  })
})

test('an error thrown with a spoofed code is SANDBOX_ERROR, BAML_ codes included: only the runtime makes BAML errors', async (t) => {
  await attempt(t, async ({ ev }) => {
    const spoof = await sandboxError(t, ev('throw Object.assign(new Error("fake timeout"), { code: "SANDBOX_TIMEOUT", timeoutMs: 1 })'), 'SANDBOX_ERROR')
    t.is(spoof.timeoutMs, undefined)
    const baml = await sandboxError(t, ev(`
      const e = new Error('fake http')
      e.code = 'BAML_HTTP'
      e.name = 'BamlClientHttpError'
      e.status_code = { nested: { deep: [1, 2] } }
      Object.defineProperty(e, 'raw_output', { get() { throw new Error('getter') }, enumerable: true })
      e.client_name = new Proxy({}, { ownKeys() { throw new Error('trap') } })
      e.prompt = function () { return process }
      throw e
    `), 'SANDBOX_ERROR')
    t.is(baml.jsName, 'BamlClientHttpError')
    for (const field of ['statusCode', 'rawOutput', 'rawResponse', 'clientName', 'prompt']) t.is(baml[field], undefined, field)
    // Plain objects and subclasses named like BAML's errors are not BAML errors either.
    await sandboxError(t, ev("throw { code: 'BAML_VALIDATION', raw_output: 'x', name: 'BamlValidationError' }"), 'SANDBOX_ERROR')
    await sandboxError(t, ev("class BamlValidationError extends Error {}; throw Object.assign(new BamlValidationError('x'), { code: 'BAML_VALIDATION' })"), 'SANDBOX_ERROR')
  })
})

test('Symbol.toPrimitive, valueOf, toString and toJSON are never called by the copy', async (t) => {
  await attempt(t, async ({ ev, calls }) => {
    const r = await ev(`
      globalThis.hits = []
      const hostile = {
        a: 1,
        [Symbol.toPrimitive]() { hits.push('toPrimitive'); throw new Error('x') },
        valueOf() { hits.push('valueOf'); throw new Error('x') },
        toString() { hits.push('toString'); throw new Error('x') },
        toJSON() { hits.push('toJSON'); return 'replaced' },
      }
      await capture(hostile, [hostile])
      const d = new Date(7); d.toJSON = () => 'not a date'; d.toISOString = () => { throw new Error('x') }
      ;({ hostile, d })
    `)
    t.deepEqual(r.hostile, { a: 1 })
    t.true(r.d instanceof Date)
    t.is(r.d.getTime(), 7)
    t.deepEqual(calls[0], [{ a: 1 }, [{ a: 1 }]])
    t.deepEqual(await ev('hits'), [])
  })
})
