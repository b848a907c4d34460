// Shared by the escape corpus (__test__/security/*.spec.js). Not a spec itself (ava runs only
// *.spec.js).
//
// Every attempt runs through `attempt()`, which checks the three things each escape test must
// hold:
//   1. nothing of Node leaks: results and errors are plain copies (`plain`, `sandboxError`);
//   2. nothing in Node changed: the own properties of Node's built-ins and prototypes, the
//      names on `globalThis`, the `globals` object given to the context and the object a host
//      function returns are the same before and after;
//   3. the context still evaluates `1 + 1` (or, if the attempt disposed it, rejects with
//      SANDBOX_DISPOSED).
const { BamlRuntime, BamlContext } = require('../..')

const rt = BamlRuntime.fromFiles({})

/** Node objects whose own properties (values, accessors, flags), prototype and extensibility
 * must not change. */
const WATCHED = {
  Object,
  'Object.prototype': Object.prototype,
  Function,
  'Function.prototype': Function.prototype,
  Array,
  'Array.prototype': Array.prototype,
  Promise,
  'Promise.prototype': Promise.prototype,
  Error,
  'Error.prototype': Error.prototype,
  'TypeError.prototype': TypeError.prototype,
  'RangeError.prototype': RangeError.prototype,
  String,
  'String.prototype': String.prototype,
  'Number.prototype': Number.prototype,
  'Boolean.prototype': Boolean.prototype,
  Symbol,
  'Symbol.prototype': Symbol.prototype,
  'Date.prototype': Date.prototype,
  'RegExp.prototype': RegExp.prototype,
  'Map.prototype': Map.prototype,
  'Set.prototype': Set.prototype,
  'WeakRef.prototype': WeakRef.prototype,
  'FinalizationRegistry.prototype': FinalizationRegistry.prototype,
  JSON,
  Reflect,
  Proxy,
  Atomics,
  'SharedArrayBuffer.prototype': SharedArrayBuffer.prototype,
  'Uint8Array.prototype': Uint8Array.prototype,
  'Buffer.prototype': Buffer.prototype,
  // The iterator and generator prototypes reached through instances.
  ArrayIteratorPrototype: Object.getPrototypeOf([][Symbol.iterator]()),
  IteratorPrototype: Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())),
  GeneratorFunctionPrototype: Object.getPrototypeOf(function* () {}),
  AsyncFunctionPrototype: Object.getPrototypeOf(async () => {}),
  console,
}

/** Identity of things an escape would most like to reach or replace. */
const IDENTITIES = {
  process,
  'process.exit': process.exit,
  'process.binding': process.binding,
  'process.dlopen': process.dlopen,
  'process.env': process.env,
  require,
  'require.cache': require.cache,
  'module.constructor._load': module.constructor._load,
  Buffer,
  'Error.prepareStackTrace': Error.prepareStackTrace,
  'Error.captureStackTrace': Error.captureStackTrace,
  'Error.stackTraceLimit': Error.stackTraceLimit,
  setTimeout,
  queueMicrotask,
}

function descriptorsOf(obj) {
  const out = new Map()
  for (const key of Reflect.ownKeys(obj)) {
    const d = Object.getOwnPropertyDescriptor(obj, key)
    out.set(key, d)
  }
  return out
}

/** A snapshot of everything in Node an escape could change. */
function nodeState() {
  const watched = {}
  for (const [name, obj] of Object.entries(WATCHED)) {
    watched[name] = {
      proto: Object.getPrototypeOf(obj),
      extensible: Object.isExtensible(obj),
      props: descriptorsOf(obj),
    }
  }
  return {
    watched,
    identities: { ...IDENTITIES, 'process.exit now': process.exit, 'require now': require },
    globalNames: Reflect.ownKeys(globalThis).map(String).sort(),
    envKeys: Object.keys(process.env).sort().join(),
    objectPrototypeTest: { hacked: {}.hacked, polluted: {}.polluted, isAdmin: {}.isAdmin },
  }
}

/** Asserts that nothing in `after` differs from `before`. */
function assertSameNode(t, before, after) {
  for (const [name, b] of Object.entries(before.watched)) {
    const a = after.watched[name]
    t.is(a.proto, b.proto, `${name}: prototype changed`)
    t.is(a.extensible, b.extensible, `${name}: extensibility changed`)
    t.deepEqual([...a.props.keys()].map(String), [...b.props.keys()].map(String), `${name}: own keys changed`)
    for (const [key, bd] of b.props) {
      const ad = a.props.get(key)
      if (!ad) continue
      const same =
        Object.is(ad.value, bd.value) &&
        ad.get === bd.get &&
        ad.set === bd.set &&
        ad.writable === bd.writable &&
        ad.enumerable === bd.enumerable &&
        ad.configurable === bd.configurable
      if (!same) t.fail(`${name}.${String(key)} changed`)
    }
  }
  for (const [name, v] of Object.entries(before.identities)) {
    t.true(Object.is(after.identities[name], v), `${name} replaced`)
  }
  t.deepEqual(after.globalNames, before.globalNames, "Node's globalThis changed")
  t.is(after.envKeys, before.envKeys, 'process.env changed')
  t.deepEqual(after.objectPrototypeTest, { hacked: undefined, polluted: undefined, isAdmin: undefined })
}

const NODE_ONLY = new Set([process, require, module, Buffer, globalThis, console, process.env])

/**
 * Asserts `v` is a plain copy: primitives (no function, symbol or BigInt), arrays, `Date`s and
 * objects with Object.prototype (or null) as prototype, own data properties only, no Node
 * object anywhere.
 */
const CLONE_PROTOS = new Set([
  Map.prototype, Set.prototype, RegExp.prototype, ArrayBuffer.prototype, DataView.prototype,
  ...[Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
    Float32Array, Float64Array, BigInt64Array, BigUint64Array].map((C) => C.prototype),
  ...[Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError].map((C) => C.prototype),
])

function plain(t, v, path = 'value', seen = new Set()) {
  const type = typeof v
  if (v === null || type === 'undefined' || type === 'boolean' || type === 'number' || type === 'string') {
    return
  }
  t.true(type === 'object', `${path} is a ${type}`)
  if (type !== 'object') return
  t.false(NODE_ONLY.has(v), `${path} is a Node object`)
  t.false(seen.has(v), `${path} is shared or cyclic`)
  seen.add(v)
  const proto = Object.getPrototypeOf(v)
  if (v instanceof Date) {
    t.is(proto, Date.prototype, `${path}: Date prototype`)
    return
  }
  // The structured-clone kinds arrive with their standard prototypes (a Buffer as a plain
  // Uint8Array), holding plain data.
  if (CLONE_PROTOS.has(proto)) {
    if (proto === Map.prototype) {
      for (const [k, x] of v) {
        plain(t, k, `${path}<key>`, seen)
        plain(t, x, `${path}<value>`, seen)
      }
    } else if (proto === Set.prototype) {
      for (const x of v) plain(t, x, `${path}<item>`, seen)
    } else if (v instanceof Error) {
      for (const key of Object.getOwnPropertyNames(v)) {
        const d = Object.getOwnPropertyDescriptor(v, key)
        t.false(Boolean(d.get || d.set), `${path}.${key} is an accessor`)
        t.true(['message', 'stack', 'cause', 'name'].includes(key), `${path}.${key} is unexpected`)
        if (key === 'cause') plain(t, d.value, `${path}.cause`, seen)
      }
    }
    t.deepEqual(Object.getOwnPropertySymbols(v), [], `${path} has symbol keys`)
    return
  }
  t.true(
    proto === Object.prototype || proto === Array.prototype || proto === null,
    `${path} has an unexpected prototype`,
  )
  t.deepEqual(Object.getOwnPropertySymbols(v), [], `${path} has symbol keys`)
  for (const key of Object.getOwnPropertyNames(v)) {
    const d = Object.getOwnPropertyDescriptor(v, key)
    t.false(Boolean(d.get || d.set), `${path}.${key} is an accessor`)
    if (Array.isArray(v) && key === 'length') continue
    plain(t, d.value, `${path}.${key}`, seen)
  }
}

/** Fields an error reaching Node may carry (beyond `message` and `stack`). */
const ERROR_FIELDS = new Set([
  'code', 'jsName', 'jsStack', 'timeoutMs', 'limitBytes', 'path', 'rawOutput', 'prompt', 'statusCode',
  'clientName', 'rawResponse', 'finishReason', 'detailedMessage', 'diagnostics',
])

/**
 * Awaits `promise`, which must reject with a sandbox error of `code` whose every field is a
 * plain copy; returns the error.
 */
async function sandboxError(t, promise, code) {
  let err
  try {
    const v = await promise
    t.fail(`expected ${code}, got ${JSON.stringify(v)}`)
    return undefined
  } catch (e) {
    err = e
  }
  t.true(err instanceof Error, 'a real Error')
  t.is(Object.getPrototypeOf(err), Error.prototype, 'a plain Error')
  t.is(err.code, code, err.message)
  t.is(typeof err.message, 'string')
  for (const key of Object.getOwnPropertyNames(err)) {
    if (key === 'message' || key === 'stack') continue
    t.true(ERROR_FIELDS.has(key), `unexpected field ${key}`)
    plain(t, err[key], `error.${key}`)
  }
  t.deepEqual(Object.getOwnPropertySymbols(err), [])
  return err
}

/** The Node object given as `globals.shared`, and a deep copy to compare with afterwards. */
function sharedGlobal() {
  const nested = { list: [1, 2, { deep: 'x' }], when: new Date(86400000) }
  return { name: 'shared', nested, flag: true }
}

/** What `give()` returns (the same Node object every call). */
function hostResult() {
  return { id: 7, items: ['a', 'b'], inner: { n: 1 } }
}

function snapshotValue(v) {
  return JSON.stringify(v, (k, x) => (x instanceof Date ? `Date(${x.getTime()})` : x))
}

/**
 * Runs one escape attempt in a fresh context and checks Node afterwards.
 *
 * `body({ ctx, ev, t, calls, logs, shared, given, nodeError })` does the attempt and asserts
 * its outcome. Then: Node's built-ins, globals, `shared` (given as `globals.shared`) and
 * `given` (returned by `give()`) are unchanged, every argument a host function received was a
 * plain copy, and the context evaluates `1 + 1` (or was disposed, if the body disposed it).
 *
 * Host functions inside: `echo(x)` returns x; `give()` returns `given` (one Node object);
 * `capture(...args)` records its arguments in `calls` and returns their count; `boom()` throws
 * `nodeError` (a Node Error carrying process, require, a Buffer and a function);
 * `nodeThings()` returns an object full of Node functions, a Buffer, a Map and a class
 * instance; extra ones from `options.hostFunctions`.
 */
async function attempt(t, body, options = {}) {
  const shared = sharedGlobal()
  const sharedBefore = snapshotValue(shared)
  const given = hostResult()
  const givenBefore = snapshotValue(given)
  const calls = []
  const logs = []
  const nodeError = Object.assign(new Error('node says no'), {
    process,
    require,
    buf: Buffer.from('secret'),
    fn: () => process,
    code: 'ENODE',
  })
  const before = nodeState()
  const ctx = new BamlContext(options.runtime ?? rt, {
    timeoutMs: 3000,
    onConsole: (level, message) => logs.push([level, message]),
    ...options.context,
    globals: { shared, ...options.context?.globals },
    hostFunctions: {
      // NODE_SOURCE_MARKER: the sandbox must never see this source text.
      echo: (x) => x,
      give: () => given,
      capture: (...args) => {
        calls.push(args)
        return args.length
      },
      boom: () => {
        throw nodeError
      },
      nodeThings: () => ({
        process,
        require,
        exit: process.exit,
        buf: Buffer.from('hi'),
        map: new Map([[1, 2]]),
        klass: new (class Secret {
          constructor() {
            this.k = 1
          }
        })(),
        get lazy() {
          return 'from a Node getter'
        },
        sym: Symbol('node'),
        version: process.version,
      }),
      ...options.hostFunctions,
    },
  })
  const ev = (code, opts) => ctx.evaluate(code, opts)
  try {
    await body({ ctx, ev, t, calls, logs, shared, given, nodeError })
    // 2. Node is unchanged.
    assertSameNode(t, before, nodeState())
    t.is(snapshotValue(shared), sharedBefore, 'globals.shared changed in Node')
    t.is(Object.getPrototypeOf(shared), Object.prototype)
    t.is(snapshotValue(given), givenBefore, "the host function's result changed in Node")
    calls.forEach((args, i) => plain(t, args, `capture call ${i}`))
    t.true(typeof nodeError.fn === 'function' && nodeError.process === process, 'the Node error is untouched')
    // 3. The context is still usable (or disposed, if the attempt did that).
    if (ctx.disposed) {
      const err = await t.throwsAsync(ctx.evaluate('1 + 1'))
      t.is(err.code, 'SANDBOX_DISPOSED')
    } else {
      t.is(await ctx.evaluate('1 + 1'), 2, 'the context is usable afterwards')
    }
  } finally {
    ctx.dispose()
  }
}

/** Code that reports, from inside the sandbox, whether anything of Node is in sight. */
const NODE_PROBE = `[typeof process, typeof require, typeof module, typeof exports, typeof Buffer,
  typeof global, typeof __dirname, typeof setImmediate, typeof fetch].join()`
const NOTHING = Array(9).fill('undefined').join()

module.exports = { rt, attempt, plain, sandboxError, nodeState, assertSameNode, NODE_PROBE, NOTHING }
