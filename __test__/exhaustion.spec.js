// Resource exhaustion from sandboxed code: every attack ends with its documented code within
// the limit plus a small margin, Node's own event loop keeps ticking meanwhile, and the context
// answers `1 + 1` afterwards. Timing-sensitive, so the tests run one at a time.
const test = require('ava')
const { BamlRuntime, BamlContext } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

const rt = BamlRuntime.fromFiles({})
const MiB = 1024 * 1024

/**
 * Runs `fn` while a 10 ms interval ticks on Node's loop. Returns the outcome (`{ value }` or
 * `{ error }`), the elapsed time and the ticks seen: a Node thread blocked by the sandbox would
 * tick once or not at all.
 */
async function measured(fn, code) {
  let ticks = 0
  const timer = setInterval(() => ticks++, 10)
  const started = process.hrtime.bigint()
  let outcome
  try {
    outcome = { value: await fn() }
  } catch (error) {
    outcome = { error }
  } finally {
    clearInterval(timer)
  }
  return { ...outcome, took: Number(process.hrtime.bigint() - started) / 1e6, ticks, code }
}

/** The evaluation fails with `code` (and `fields`); returns the error. */
function failsWith(t, outcome, code, fields = {}) {
  t.truthy(outcome.error, `expected ${code}, got the value ${JSON.stringify(outcome.value)?.slice(0, 100)}`)
  if (!outcome.error) return undefined
  t.true(outcome.error instanceof Error, 'a real Error')
  t.is(outcome.error.code, code, `${outcome.error.message} (${outcome.code})`)
  for (const [k, v] of Object.entries(fields)) t.is(outcome.error[k], v, k)
  return outcome.error
}

async function usableAfter(t, ctx) {
  t.is(await ctx.evaluate('1 + 1'), 2, 'the context is usable afterwards')
}

async function eventually(check, ms = 8000) {
  const until = Date.now() + ms
  for (;;) {
    const last = await check()
    if (last || Date.now() > until) return last
    await new Promise((r) => setTimeout(r, 50))
  }
}

const TIMEOUTS = {
  'a busy loop': 'for (;;) {}',
  'for (;;) await 0': 'for (;;) await 0',
  'a promise that never settles': 'await new Promise(() => {})',
  'catastrophic regex backtracking': "/(a+)+$/.test('a'.repeat(40) + '!')",
  'a busy loop in a timer callback': 'await new Promise((r) => setTimeout(() => { for (;;) {} }, 0))',
  // QuickJS serializes in C; without the JSON.stringify guard this blocked Node for hours.
  'JSON.stringify of a subtree shared 2^40 times': 'var a = [1]; for (let i = 0; i < 40; i++) a = { x: a, y: a }; JSON.stringify(a)',
  'the same with a property-list replacer': 'var a = [1]; for (let i = 0; i < 40; i++) a = { x: a, y: a }; JSON.stringify(a, ["x", "y"])',
}

for (const [name, code] of Object.entries(TIMEOUTS)) {
  test.serial(`SANDBOX_TIMEOUT: ${name}, 300 ms, stopped in time while Node ticks`, async (t) => {
    const ctx = new BamlContext(rt, { timeoutMs: 300 })
    t.teardown(() => ctx.dispose())
    const r = await measured(() => ctx.evaluate(code))
    failsWith(t, r, 'SANDBOX_TIMEOUT', { timeoutMs: 300 })
    t.log(`${name}: ${r.took.toFixed(0)} ms, ${r.ticks} ticks`)
    t.true(r.took >= 290, `not before the limit: ${r.took} ms`)
    t.true(r.took < 1500, `within the limit plus margin: ${r.took} ms`)
    // ~30 ticks are expected; specs running in parallel on two cores slow the interval down.
    t.true(r.ticks >= 10, `Node ticked ${r.ticks} times`)
    await usableAfter(t, ctx)
  })
}

test.serial('SANDBOX_MEMORY: arrays, strings, objects, typed arrays and ArrayBuffers under 16 MiB', async (t) => {
  const limit = 16 * MiB
  const ctx = new BamlContext(rt, { memoryLimitBytes: limit, timeoutMs: 5000 })
  t.teardown(() => ctx.dispose())
  const bombs = {
    arrays: 'const a = []; for (;;) a.push([1, 2, 3, 4])',
    'doubling string': 'let s = "ab"; for (;;) s = s + s',
    'many strings': 'const a = []; for (let i = 0; ; i++) a.push("x".repeat(100) + i)',
    objects: 'const a = []; for (let i = 0; ; i++) a.push({ i, name: "n" + i, tags: [i] })',
    'one object, many keys': 'const o = {}; for (let i = 0; ; i++) o["k" + i] = i',
    'typed arrays': 'const a = []; for (;;) a.push(new Float64Array(1 << 16))',
    'one large typed array': 'new Uint8Array(1 << 30)',
    ArrayBuffers: 'const a = []; for (;;) a.push(new ArrayBuffer(1 << 20))',
    'one large ArrayBuffer': 'new ArrayBuffer(1 << 30)',
    'Array(n).fill': 'new Array(1 << 26).fill(0)',
    'string repeat': '"x".repeat(1 << 28)',
  }
  for (const [name, bomb] of Object.entries(bombs)) {
    // In a block: a top-level const would keep the bomb alive in the realm, as it should.
    const r = await measured(() => ctx.evaluate(`{ ${bomb} }`), name)
    failsWith(t, r, 'SANDBOX_MEMORY', { limitBytes: limit })
    t.true(r.took < 2000, `${name}: ${r.took} ms`)
    t.true(ctx.memoryUsage().usedBytes < limit / 2, `${name}: collected afterwards`)
    await usableAfter(t, ctx)
  }
})

test.serial('a buffer longer than the engine allows is a RangeError (SANDBOX_ERROR), as in any JS engine', async (t) => {
  const ctx = new BamlContext(rt, { memoryLimitBytes: 16 * MiB })
  t.teardown(() => ctx.dispose())
  for (const code of ['new ArrayBuffer(2 ** 32)', 'new Uint8Array(2 ** 31)']) {
    const err = failsWith(t, await measured(() => ctx.evaluate(code)), 'SANDBOX_ERROR')
    t.is(err?.jsName, 'RangeError')
    t.regex(err?.message ?? '', /invalid array buffer length/)
  }
  await usableAfter(t, ctx)
})

test.serial('SANDBOX_STACK: deep recursion, deep JSON.parse and JSON.stringify, at both stack sizes', async (t) => {
  for (const maxStackBytes of [256 * 1024, 4 * MiB]) {
    const ctx = new BamlContext(rt, { maxStackBytes, timeoutMs: 5000 })
    t.teardown(() => ctx.dispose())
    for (const code of [
      'function f(n) { return f(n + 1) + 1 } f(0)',
      "JSON.parse('['.repeat(1e6))",
      "JSON.parse('{\"a\":'.repeat(1e6))",
      '{ let o = {}; for (let i = 0; i < 1e5; i++) o = { o }; JSON.stringify(o) }',
    ]) {
      const r = await measured(() => ctx.evaluate(code), code)
      failsWith(t, r, 'SANDBOX_STACK')
      t.true(r.took < 2000, `${code} (${maxStackBytes}): ${r.took} ms`)
      await usableAfter(t, ctx)
    }
  }
})

test.serial('millions of timers: refused past 100,000 pending with a RangeError, all cancelled afterwards', async (t) => {
  // The cap is reached in about a second; the timeout only guards against a missing cap.
  const ctx = new BamlContext(rt, { timeoutMs: 20000 })
  t.teardown(() => ctx.dispose())
  const r = await measured(() => ctx.evaluate('for (;;) setTimeout(() => {}, 1e9)'))
  const err = failsWith(t, r, 'SANDBOX_ERROR')
  t.is(err?.jsName, 'RangeError')
  t.regex(err?.message ?? '', /more than 100000 timers pending/)
  t.log(`100,000 timers: ${r.took.toFixed(0)} ms, ${r.ticks} ticks`)
  t.true(r.took < 8000, `${r.took} ms`)
  // Node's 10 ms interval kept ticking while the sandbox worked (at least every 40 ms).
  t.true(r.ticks >= Math.floor(r.took / 40), `Node ticked ${r.ticks} times in ${r.took.toFixed(0)} ms`)
  // The cap is per pending timer: those of the failed evaluation were cancelled with it.
  t.is(await ctx.evaluate('let n = 0; for (let i = 0; i < 1000; i++) setTimeout(() => n++, 0); await new Promise((r) => setTimeout(r, 5)); n'), 1000)
  // Caught inside, the RangeError leaves the script in control, which then times out.
  const caught = await ctx.evaluate('let c = 0; try { for (;;) { setTimeout(() => {}, 1e9); c++ } } catch (e) { [c, e.name] }')
  t.deepEqual(caught, [100000, 'RangeError'])
  await usableAfter(t, ctx)
})

test.serial('the timers of a settled evaluation never reach the next one, even while its turn is still running', async (t) => {
  const ctx = new BamlContext(rt, { timeoutMs: 10000 })
  t.teardown(() => ctx.dispose())
  for (let i = 0; i < 3; i++) {
    // The result's getter queues a 200 ms job: the turn that settled the evaluation keeps
    // running after Node has the result, and the next evaluation is queued meanwhile. It once
    // counted as in flight there, so the 50,000 timers survived into it.
    await ctx.evaluate(`for (let i = 0; i < 50000; i++) setTimeout(() => {}, 1e9);
      ({ get x() { Promise.resolve().then(() => { const t = Date.now(); while (Date.now() - t < 200) {} }); return 1 } })`)
    const made = await ctx.evaluate('var k = 0; try { for (let i = 0; i < 60000; i++) { setTimeout(() => {}, 1e9); k++ } } catch (e) {} k')
    t.is(made, 60000, 'the 100,000-timer cap counts only the running evaluation\'s timers')
  }
})

test.serial('hundreds of thousands of pending host calls: refused past 100,000 in flight', async (t) => {
  let calls = 0
  const ctx = new BamlContext(rt, {
    timeoutMs: 20000,
    hostFunctions: { never: () => { calls++; return new Promise(() => {}) } },
  })
  t.teardown(() => ctx.dispose())
  const r = await measured(() => ctx.evaluate('for (;;) never()'))
  const err = failsWith(t, r, 'SANDBOX_ERROR')
  t.is(err?.jsName, 'RangeError')
  t.regex(err?.message ?? '', /more than 100000 host calls in flight/)
  t.log(`100,000 host calls: ${r.took.toFixed(0)} ms, ${r.ticks} ticks`)
  t.true(r.took < 10000, `${r.took} ms`)
  t.true(r.ticks >= 10, `Node ticked ${r.ticks} times`)
  // Every call up to the cap reached Node, none past it.
  await eventually(() => calls >= 100000, 3000)
  t.is(calls, 100000)
  await usableAfter(t, ctx)
})

test.serial('pending host calls and the timeout: an await on 100,000 of them times out', async (t) => {
  // 100,000 pending calls and Promise.all's bookkeeping take more than the default 64 MiB.
  const ctx = new BamlContext(rt, { memoryLimitBytes: 256 * MiB, hostFunctions: { never: () => new Promise(() => {}) } })
  t.teardown(() => ctx.dispose())
  const r = await measured(() => ctx.evaluate('const ps = []; for (let i = 0; i < 100000; i++) ps.push(never()); await Promise.all(ps)', { timeoutMs: 3000 }))
  failsWith(t, r, 'SANDBOX_TIMEOUT', { timeoutMs: 3000 })
  // The sandbox stops at 3 s, but Node learns it only after running the host calls queued
  // before the timeout (100,000 of them on a loaded VM can take a few seconds).
  t.log(`100,000 host calls then a timeout of 3 s: ${r.took.toFixed(0)} ms, ${r.ticks} ticks`)
  t.true(r.took < 8000, `${r.took} ms`)
  t.true(r.ticks >= 20, `Node ticked ${r.ticks} times`)
  await usableAfter(t, ctx)
})

function bamlProject(url) {
  return BamlRuntime.fromFiles({
    'main.baml': `client<llm> M {
  provider openai
  options {
    model "m"
    api_key "k"
    base_url "${url}/v1"
  }
}
function F(x: string) -> string {
  client M
  prompt #"{{ x }}"#
}
`,
  })
}

test.serial('millions of BAML calls against a hanging server: refused past 100,000 in flight, all dropped', async (t) => {
  const mock = await startMockLlm()
  t.teardown(() => mock.stop())
  await mock.script({ default: { fault: 'hang' } })
  const ctx = new BamlContext(bamlProject(mock.url), { timeoutMs: 20000 })
  t.teardown(() => ctx.dispose())
  const rss = process.memoryUsage().rss
  const r = await measured(() => ctx.evaluate("for (let i = 0; ; i++) b.F('x')"))
  const grew = (process.memoryUsage().rss - rss) / 1e6
  const err = failsWith(t, r, 'SANDBOX_ERROR')
  t.is(err?.jsName, 'RangeError')
  t.regex(err?.message ?? '', /more than 100000 calls in flight/)
  t.log(`100,000 BAML calls: ${r.took.toFixed(0)} ms, ${r.ticks} ticks, RSS +${grew.toFixed(0)} MB`)
  t.true(r.took < 10000, `${r.took} ms`)
  t.true(r.ticks >= 10, `Node ticked ${r.ticks} times`)
  await usableAfter(t, ctx)
  // The evaluation settled, so its calls were cancelled: every request the server received
  // (it serves 4,096 connections at once; the rest waited in its backlog) sees its client
  // leave, and nothing is left in flight.
  const stats = await eventually(async () => {
    const s = await mock.stats()
    return s.in_flight === 0 && s.connections_open <= 1 ? s : null
  }, 15000)
  t.truthy(stats, 'the server saw every connection closed')
  const reqs = await mock.requests()
  t.true(reqs.length > 0)
  t.true(reqs.every((q) => q.client_closed && !q.completed), 'each hanging request was dropped by the client')
  // Slots are free again: a new call works.
  await mock.script({ default: { text: 'after' } })
  t.is(await ctx.evaluate("await b.F('x')"), 'after')
})

test.serial('hanging BAML calls are closed when the evaluation times out', async (t) => {
  const mock = await startMockLlm()
  t.teardown(() => mock.stop())
  await mock.script({ default: { fault: 'hang' } })
  const ctx = new BamlContext(bamlProject(mock.url), { timeoutMs: 300 })
  t.teardown(() => ctx.dispose())
  const r = await measured(() => ctx.evaluate("await Promise.all(Array.from({ length: 50 }, (_, i) => b.F('x' + i)))"))
  failsWith(t, r, 'SANDBOX_TIMEOUT', { timeoutMs: 300 })
  t.true(r.took < 1500, `${r.took} ms`)
  t.true(r.ticks >= 10, `Node ticked ${r.ticks} times`)
  const reqs = await eventually(async () => {
    const q = await mock.requests()
    return q.length === 50 && q.every((x) => x.client_closed) ? q : null
  }, 3000)
  t.truthy(reqs, 'the server saw all 50 requests closed by the client')
  t.is((await mock.stats()).in_flight, 0)
  await usableAfter(t, ctx)
})

test.serial('a large result is copied to Node whole, without blocking Node for long', async (t) => {
  const ctx = new BamlContext(rt, { memoryLimitBytes: 64 * MiB, timeoutMs: 10000 })
  t.teardown(() => ctx.dispose())
  const s = await measured(() => ctx.evaluate("'x'.repeat(16 * 1024 * 1024)"))
  t.is(s.value?.length, 16 * MiB)
  t.true(s.took < 3000, `${s.took} ms`)
  // 32,000 objects of one field: 64,001 values, just under the 65,536 a copy may hold.
  const a = await measured(() => ctx.evaluate('Array.from({ length: 32000 }, (_, i) => ({ i }))'))
  t.is(a.value?.length, 32000)
  t.deepEqual(a.value?.[31999], { i: 31999 })
  t.true(a.took < 5000, `${a.took} ms`)
  t.log(`16 MiB string: ${s.took.toFixed(0)} ms; 32,000 objects: ${a.took.toFixed(0)} ms, ${a.ticks} ticks`)
  await usableAfter(t, ctx)
})

test.serial('a result of more values than one copy may hold is refused with SANDBOX_RESULT naming the limit', async (t) => {
  const ctx = new BamlContext(rt, { memoryLimitBytes: 64 * MiB, timeoutMs: 10000 })
  t.teardown(() => ctx.dispose())
  // 33,000 objects of one field: 66,001 values. The same data as JSON text is one value.
  const a = await measured(() => ctx.evaluate('Array.from({ length: 33000 }, (_, i) => ({ i }))'))
  failsWith(t, a, 'SANDBOX_RESULT')
  t.regex(a.error?.message ?? '', /more than 65536 values/)
  const text = await measured(() => ctx.evaluate('JSON.stringify(Array.from({ length: 33000 }, (_, i) => ({ i })))'))
  t.is(JSON.parse(text.value).length, 33000)
  await usableAfter(t, ctx)
})

test.serial('globals and host results of more values than one copy may hold are refused, naming the limit', async (t) => {
  // 3 values a row: 25,000 rows are 75,001 values; 10,000 and 12,500 rows fit.
  const rows = Array.from({ length: 25000 }, (_, i) => ({ i, s: 'x' }))
  const err = t.throws(() => new BamlContext(rt, { globals: { a: rows.slice(0, 10000), c: rows } }))
  t.is(err.code, 'ERR_INVALID_ARG_VALUE')
  t.regex(err.message, /globals\.c.*all globals together would hold more than 65536 values/)
  const ctx = new BamlContext(rt, { globals: { a: rows.slice(0, 10000) }, hostFunctions: { rows: () => rows, some: () => rows.slice(0, 12500) } })
  t.teardown(() => ctx.dispose())
  t.is(await ctx.evaluate('a.length + a[9999].i'), 10000 + 9999)
  const refused = await ctx.evaluate('try { await rows(); "copied" } catch (e) { e.name + ": " + e.message }')
  t.regex(refused, /^Error: .*more than 65536 values/)
  t.is(await ctx.evaluate('(await some()).length'), 12500)
})

test.serial('a result that shares one large string many times is refused, not copied out many times over', async (t) => {
  const limit = 16 * MiB
  const ctx = new BamlContext(rt, { memoryLimitBytes: limit, timeoutMs: 5000 })
  t.teardown(() => ctx.dispose())
  global.gc?.()
  const rss = process.memoryUsage().rss
  let peak = rss
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 5)
  // 1 MiB in the sandbox, 1 GiB if copied naively.
  const r = await measured(() => ctx.evaluate("const s = 'x'.repeat(1 << 20); Array(1024).fill(s)"))
  clearInterval(sampler)
  peak = Math.max(peak, process.memoryUsage().rss)
  failsWith(t, r, 'SANDBOX_RESULT')
  t.regex(r.error?.path ?? '', /^result\[\d+\]$/)
  const grewMb = (peak - rss) / 1e6
  t.log(`shared string: ${r.took.toFixed(0)} ms, peak RSS +${grewMb.toFixed(0)} MB`)
  t.true(grewMb < 200, `RSS grew ${grewMb} MB`)
  t.true(r.took < 2000, `${r.took} ms`)
  // A value that doubles by sharing at each of 40 levels (2^40 leaves) ends in time too.
  const dag = await measured(() => ctx.evaluate('let o = [1]; for (let i = 0; i < 40; i++) o = [o, o]; o', { timeoutMs: 1000 }))
  t.true(['SANDBOX_RESULT', 'SANDBOX_TIMEOUT'].includes(dag.error?.code), dag.error?.message)
  t.true(dag.took < 2500, `${dag.took} ms`)
  await usableAfter(t, ctx)
})
