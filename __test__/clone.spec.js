// Structured-clone kinds (Map, Set, ArrayBuffer, typed arrays, DataView, RegExp, Error) crossing
// the sandbox boundary both ways, in both isolation modes, and what is refused with its path.
const test = require('ava')
const { BamlRuntime, BamlContext } = require('..')

const rt = BamlRuntime.fromFiles({})
const MODES = [
  ['thread', { isolation: 'thread' }],
  ['process', {}],
]

// Sandbox source of a value, and the same value built in Node.
const KINDS = [
  ['Map', `new Map([['a', 1], [2, { x: [3, new Date(5)] }], [{ k: 1 }, new Set([1])]])`,
    () => new Map([['a', 1], [2, { x: [3, new Date(5)] }], [{ k: 1 }, new Set([1])]])],
  ['Set', `new Set([1, 'two', null, undefined, [3]])`, () => new Set([1, 'two', null, undefined, [3]])],
  ['ArrayBuffer', `new Uint8Array([1, 2, 255]).buffer`, () => new Uint8Array([1, 2, 255]).buffer],
  ['Uint8Array', `new Uint8Array([1, 2, 255])`, () => new Uint8Array([1, 2, 255])],
  ['Int8Array', `new Int8Array([-1, 2])`, () => new Int8Array([-1, 2])],
  ['Uint8ClampedArray', `new Uint8ClampedArray([300, -5])`, () => new Uint8ClampedArray([300, -5])],
  ['Int16Array', `new Int16Array([-2, 513])`, () => new Int16Array([-2, 513])],
  ['Uint16Array', `new Uint16Array([65535])`, () => new Uint16Array([65535])],
  ['Int32Array', `new Int32Array([-5, 1e9])`, () => new Int32Array([-5, 1e9])],
  ['Uint32Array', `new Uint32Array([4e9])`, () => new Uint32Array([4e9])],
  ['Float32Array', `new Float32Array([1.5, NaN])`, () => new Float32Array([1.5, NaN])],
  ['Float64Array', `new Float64Array([0.1, -Infinity])`, () => new Float64Array([0.1, -Infinity])],
  ['BigInt64Array', `new BigInt64Array([-1n, 2n ** 62n])`, () => new BigInt64Array([-1n, 2n ** 62n])],
  ['BigUint64Array', `new BigUint64Array([2n ** 64n - 1n])`, () => new BigUint64Array([2n ** 64n - 1n])],
  ['DataView', `new DataView(new Uint8Array([9, 8, 7]).buffer)`, () => new DataView(new Uint8Array([9, 8, 7]).buffer)],
  ['RegExp', `/a+\\/b/gimsuy`, () => /a+\/b/gimsuy],
  ['in a plain object', `({ m: new Map([[1, 2]]), r: /x/g, list: [new Set(), new ArrayBuffer(2)] })`,
    () => ({ m: new Map([[1, 2]]), r: /x/g, list: [new Set(), new ArrayBuffer(2)] })],
]

const bytesOf = (v) => Array.from(new Uint8Array(ArrayBuffer.isView(v) ? v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) : v))

/** Deep equality that also compares the bytes of buffers and views (and their kind). */
function same(t, actual, expected, label) {
  t.is(Object.prototype.toString.call(actual), Object.prototype.toString.call(expected), label)
  if (expected instanceof ArrayBuffer || ArrayBuffer.isView(expected)) {
    t.is(actual.constructor, expected.constructor, label)
    t.deepEqual(bytesOf(actual), bytesOf(expected), label)
    return
  }
  t.deepEqual(actual, expected, label)
}

// Evaluates `src` in a block of its own: the realm persists, and the tests reuse names.
const ev = (ctx, src) => ctx.evaluate(`{ ${src} }`)

async function refused(t, promise, path, reason) {
  const err = await t.throwsAsync(promise)
  t.is(err.code, 'SANDBOX_RESULT', err.message)
  t.is(err.path, path, err.message)
  if (reason) t.regex(err.message, reason)
  return err
}

for (const [mode, options] of MODES) {
  test(`${mode}: results of each kind equal Node's structuredClone of the same value`, async (t) => {
    const ctx = new BamlContext(rt, options)
    for (const [label, source, make] of KINDS) {
      same(t, await ctx.evaluate(source), structuredClone(make()), label)
    }
    // Only the bytes a view sees cross (its offset in a larger buffer is not kept).
    same(t, await ctx.evaluate('new Uint8Array([1, 2, 3, 4]).subarray(1, 3)'), new Uint8Array([2, 3]), 'subarray')
    // Many values around them (the big-copy path) keep them too.
    const many = await ctx.evaluate('Array.from({ length: 600 }, (_, i) => i % 100 ? i : new Map([[i, /r/y]]))')
    t.is(many.length, 600)
    t.true(many[200] instanceof Map)
    t.deepEqual(many[200], new Map([[200, /r/y]]))
    t.is(many[201], 201)
    ctx.dispose()
  })

  test(`${mode}: errors keep name, message, stack and cause`, async (t) => {
    const ctx = new BamlContext(rt, options)
    const e = await ctx.evaluate(`function thrower() { return new TypeError('bad', { cause: new RangeError('inner', { cause: { n: 1 } }) }) } thrower()`)
    t.true(e instanceof TypeError)
    t.is(e.name, 'TypeError')
    t.is(e.message, 'bad')
    t.regex(e.stack, /thrower/)
    t.true(e.cause instanceof RangeError)
    t.is(e.cause.message, 'inner')
    t.deepEqual(e.cause.cause, { n: 1 })
    t.deepEqual(Object.keys(e), [])
    const custom = await ctx.evaluate(`const c = new Error('m'); c.name = 'MyError'; [c]`)
    t.true(custom[0] instanceof Error)
    t.is(custom[0].name, 'MyError')
    t.false('cause' in custom[0])
    ctx.dispose()
  })

  test(`${mode}: host functions get and give each kind`, async (t) => {
    const seen = []
    const ctx = new BamlContext(rt, {
      ...options,
      hostFunctions: {
        take: (...args) => { seen.push(...args); return args.length },
        give: (i) => KINDS[i][2](),
        error: () => new SyntaxError('from node', { cause: new Map([['k', new Uint16Array([7])]]) }),
        echo: (x) => x,
      },
    })
    for (const [label, source, make] of KINDS) {
      seen.length = 0
      t.is(await ctx.evaluate(`await take(${source})`), 1, label)
      same(t, seen[0], structuredClone(make()), `argument: ${label}`)
    }
    for (let i = 0; i < KINDS.length; i++) {
      // Given to the sandbox, and back out as a result: the same value.
      same(t, await ctx.evaluate(`await give(${i})`), structuredClone(KINDS[i][2]()), `host result: ${KINDS[i][0]}`)
    }
    t.deepEqual(
      await ctx.evaluate(`const e = await error(); [e instanceof SyntaxError, e.message, e.cause instanceof Map, e.cause.get('k') instanceof Uint16Array, e.cause.get('k')[0], typeof e.stack]`),
      [true, 'from node', true, true, 7, 'string'],
    )
    t.deepEqual(
      await ctx.evaluate(`const m = await give(0); [m instanceof Map, m.get('a'), m.get(2).x[1] instanceof Date, [...m.keys()][2].k]`),
      [true, 1, true, 1],
    )
    // What cannot be copied is refused with its path, both ways.
    t.regex(await ctx.evaluate('try { await take({ a: [1, new WeakMap()] }) } catch (e) { e.message }'), /take argument 0\.a\[1\] cannot be passed to the host: cannot be copied: a WeakMap/)
    t.regex(await ctx.evaluate('try { await echo(new Set([Promise.resolve()])) } catch (e) { e.message }'), /\[item 0\].*a Promise \(await it first\)/)
    ctx.dispose()
  })

  test(`${mode}: host results Node cannot copy are refused with their path`, async (t) => {
    const ctx = new BamlContext(rt, {
      ...options,
      hostFunctions: {
        weak: () => ({ list: [new WeakMap()] }),
        boxed: () => new Map([['n', new Number(1)]]),
        promise: () => ({ p: Promise.resolve(1) }),
      },
    })
    t.regex(await ctx.evaluate('try { await weak() } catch (e) { e.message }'), /result\.list\[0\].*a WeakMap/)
    t.regex(await ctx.evaluate('try { await boxed() } catch (e) { e.message }'), /result\[entry 0\]\.value.*boxed primitive/)
    t.regex(await ctx.evaluate('try { await promise() } catch (e) { e.message }'), /result\.p.*a Promise/)
    ctx.dispose()
  })

  test(`${mode}: globals of each kind`, async (t) => {
    const globals = {}
    KINDS.forEach(([, , make], i) => { globals[`k${i}`] = make() })
    globals.err = new URIError('u', { cause: 1 })
    const ctx = new BamlContext(rt, { ...options, globals })
    t.deepEqual(
      await ctx.evaluate(`[k0 instanceof Map, k0.get(2).x[1] instanceof Date, k1 instanceof Set, k2 instanceof ArrayBuffer, k3 instanceof Uint8Array, k12 instanceof BigInt64Array, k12[0] === -1n, k14 instanceof DataView, k14.getUint8(1), k15 instanceof RegExp, k15.flags, err instanceof URIError, err.cause]`),
      [true, true, true, true, true, true, true, true, 8, true, 'gimsuy', true, 1],
    )
    for (let i = 0; i < KINDS.length; i++) {
      same(t, await ctx.evaluate(`k${i}`), structuredClone(KINDS[i][2]()), `global: ${KINDS[i][0]}`)
    }
    const bad = t.throws(() => new BamlContext(rt, { ...options, globals: { g: { a: [1, new WeakSet()] } } }))
    t.regex(bad.message, /globals\.g\.a\[1\].*a WeakSet/)
    ctx.dispose()
  })

  test(`${mode}: what cannot be cloned is refused with SANDBOX_RESULT and its path`, async (t) => {
    const ctx = new BamlContext(rt, options)
    await refused(t, ev(ctx, '({ a: [1, new WeakMap()] })'), 'result.a[1]', /a WeakMap/)
    await refused(t, ev(ctx, '({ s: new WeakSet() })'), 'result.s', /a WeakSet/)
    await refused(t, ev(ctx, '[new WeakRef({})]'), 'result[0]', /a WeakRef/)
    await refused(t, ev(ctx, '[new FinalizationRegistry(() => {})]'), 'result[0]', /a FinalizationRegistry/)
    await refused(t, ev(ctx, '({ p: Promise.resolve(1) })'), 'result.p', /a Promise \(await it first\)/)
    await refused(t, ev(ctx, '[new Number(1)]'), 'result[0]', /boxed primitive/)
    await refused(t, ev(ctx, 'new Map([[1, { n: 2n }]])'), 'result[entry 0].value.n', /BigInt/)
    await refused(t, ev(ctx, 'new Map([[2n, 1]])'), 'result[entry 0].key', /BigInt/)
    await refused(t, ev(ctx, 'const m = new Map(); m.set(1, [m]); m'), 'result[entry 0].value[0]', /cyclic/)
    await refused(t, ev(ctx, 'new Error("x", { cause: 1n })'), 'result.cause', /BigInt/)
    // Detached (by ArrayBuffer.prototype.transfer) and out-of-bounds buffers.
    await refused(t, ev(ctx, 'const b = new ArrayBuffer(8); b.transfer(); ({ b })'), 'result.b', /detached/)
    await refused(t, ev(ctx, 'const b = new ArrayBuffer(8); const v = new Float64Array(b); b.transfer(); [v]'), 'result[0]', /detached/)
    if (typeof Float16Array !== 'function') {
      // QuickJS has Float16Array; a Node without it cannot build one.
      await refused(t, ev(ctx, 'new Float16Array(2)'), 'result', /Float16Array/)
    } else {
      same(t, await ev(ctx, 'new Float16Array([1.5])'), new Float16Array([1.5]), 'Float16Array')
    }
    t.is(await ev(ctx, '6 * 7'), 42)
    ctx.dispose()
  })

  test(`${mode}: hostile collections and buffers are bounded`, async (t) => {
    const ctx = new BamlContext(rt, { ...options, timeoutMs: 2000 })
    // A forEach that calls back forever is stopped at the value limit.
    await refused(t, ev(ctx, `const m = new Map([[1, 1]]);
      m.forEach = function (cb) { for (;;) { try { cb(1, 2) } catch (e) { if (String(e).includes('no more')) throw e } } };
      ({ m })`), 'result.m', /65536 values/)
    // A forEach that keeps the callback: calling it later takes nothing.
    t.deepEqual(await ev(ctx, `globalThis.kept = null; const s = new Set([1]); s.forEach = function (cb) { kept = cb; cb(new Set([s])) }; [s]`).catch((e) => e.code), 'SANDBOX_RESULT')
    t.is(await ev(ctx, `try { kept(1); 'taken' } catch (e) { e.message }`), 'this copy takes no more entries')
    // Replaced Symbol.iterator and entries do not matter; only forEach is called.
    same(t, await ev(ctx, `const m = new Map([[1, 2]]); m[Symbol.iterator] = m.entries = () => { throw new Error('no') }; m`), new Map([[1, 2]]), 'iterator')
    // Typed arrays whose getters lie are read as QuickJS holds them.
    same(t, await ev(ctx, `const u = new Uint8Array([4, 5]); Object.defineProperty(u, 'length', { get() { return 1e9 } }); Object.defineProperty(Object.getPrototypeOf(Uint8Array.prototype), 'byteLength', { get() { return 1e9 } }); u`), new Uint8Array([4, 5]), 'tampered length')
    // A Map near the value limit crosses; one past it does not.
    const near = await ev(ctx, 'const m = new Map(); for (let i = 0; i < 32000; i++) m.set(i, i); m')
    t.is(near.size, 32000)
    t.is(near.get(31999), 31999)
    await refused(t, ev(ctx, 'const m = new Map(); for (let i = 0; i < 33000; i++) m.set(i, i); ({ m })'), 'result.m', /65536 values/)
    // Nesting through maps counts as depth.
    // Nesting through maps counts as depth: 512 levels cross, more are refused with the path.
    const deep = await t.throwsAsync(ev(ctx, 'let m = 1; for (let i = 0; i < 600; i++) m = new Map([[i, m]]); m'))
    t.is(deep.code, 'SANDBOX_RESULT', deep.message)
    t.regex(deep.message, /nested deeper than 512/)
    t.regex(deep.path, /^result(\[entry 0\]\.value)+$/)
    let depth = 0
    for (let m = await ev(ctx, 'let m = 1; for (let i = 0; i < 255; i++) m = new Set([new Error("e", { cause: m })]); m'); typeof m === 'object'; m = m instanceof Set ? [...m][0] : m.cause) depth++
    t.is(depth, 510)
    t.is(await ev(ctx, '6 * 7'), 42)
    ctx.dispose()
  })
}

test('maps from Node: nested ones cross, past what Node\'s stack allows they are refused, not fatal', async (t) => {
  let m = 1
  for (let i = 0; i < 100; i++) m = new Map([[i, m]])
  const ctx = new BamlContext(rt, { isolation: 'thread', globals: { m } })
  t.is(await ctx.evaluate('let d = 0; for (let x = m; x instanceof Map; x = [...x.values()][0]) d++; d'), 100)
  ctx.dispose()
  for (let i = 0; i < 500; i++) m = new Map([[i, m]])
  const err = t.throws(() => new BamlContext(rt, { isolation: 'thread', globals: { m } }))
  t.regex(err.message, /globals\.m(\[entry 0\]\.value)+ cannot be copied into the sandbox: (nested too deep for Node|nested deeper than 512)/)
})

test('detached buffers from Node are refused, empty ones cross', async (t) => {
  const { port1 } = new MessageChannel()
  const buffer = new ArrayBuffer(8)
  const view = new Float64Array(buffer)
  const dv = new DataView(buffer)
  port1.postMessage(null, [buffer]) // detaches it
  port1.close()
  t.is(buffer.byteLength, 0)
  for (const [value, path] of [[buffer, 'globals.buf'], [view, 'globals.buf'], [{ x: [dv] }, 'globals.buf.x[0]']]) {
    const err = t.throws(() => new BamlContext(rt, { isolation: 'thread', globals: { buf: value } }))
    t.is(err.message, `${path} cannot be copied into the sandbox: cannot be copied: its ArrayBuffer is detached`)
  }
  const ctx = new BamlContext(rt, { isolation: 'thread', globals: { e: new ArrayBuffer(0), u: new Uint8Array(0) } })
  t.deepEqual(await ctx.evaluate('[e instanceof ArrayBuffer, e.byteLength, u instanceof Uint8Array, u.length]'), [true, 0, true, 0])
  ctx.dispose()
})

test('Node-side maps bigger than one copy may hold are refused before they are listed', (t) => {
  const huge = new Map()
  for (let i = 0; i < 40000; i++) huge.set(i, i)
  const err = t.throws(() => new BamlContext(rt, { isolation: 'thread', globals: { huge } }))
  t.regex(err.message, /globals\.huge.*65536 values/)
})

test('BAML arguments: a Map with string keys is a map, other kinds are refused with BAML_INVALID_ARGUMENT', async (t) => {
  const { startMockLlm } = require('../crates/mock_llm/node.js')
  const mock = await startMockLlm()
  t.teardown(() => mock.stop())
  await mock.script({ default: { text: 'ok' } })
  const baml = BamlRuntime.fromFiles({
    'main.baml': `
client<llm> Mock {
  provider openai
  options {
    model "mock-model"
    api_key "k"
    base_url "${mock.url}/v1"
  }
}

function Count(m: map<string, int>) -> string {
  client Mock
  prompt #"Count: {{ m }}"#
}
`,
  })
  for (const [mode, options] of MODES) {
    const ctx = new BamlContext(baml, options)
    t.teardown(() => ctx.dispose())
    t.is(await ctx.evaluate(`await b.Count(new Map([['a', 1], ['b', 2]]))`), 'ok', mode)
    const out = await ctx.evaluate(`
      const out = []
      for (const arg of [new Map([[1, 2]]), new Set(['a']), new Uint8Array(2), /x/, new Error('e'), { inner: new ArrayBuffer(1) }]) {
        try { await b.Count(arg); out.push('called') } catch (e) { out.push(e.code + ': ' + e.message) }
      }
      out
    `)
    t.is(out.length, 6)
    for (const line of out) t.regex(line, /^BAML_INVALID_ARGUMENT: .*Count: argument m.* is .*which BAML functions do not take/, mode)
    t.regex(out[0], /a Map with a key that is not a string/)
    t.regex(out[5], /argument m\.inner is an ArrayBuffer/)
  }
})
