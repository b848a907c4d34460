// Every SANDBOX_* code from a real trigger, each followed by proof that the context still
// works, while Node's own event loop keeps ticking.
const test = require('ava')
const { BamlRuntime, BamlContext } = require('..')

const rt = BamlRuntime.fromFiles({})

async function expectCode(t, ctx, code, promise, fields = {}) {
  const err = await t.throwsAsync(promise)
  t.true(err instanceof Error, 'a real Error')
  t.is(err.code, code, err.message)
  for (const [k, v] of Object.entries(fields)) t.is(err[k], v, k)
  t.is(await ctx.evaluate('6 * 7'), 42, 'usable afterwards')
  return err
}

/** Counts ticks of a Node interval while `fn` runs: Node must stay responsive. */
async function whileTicking(fn) {
  let ticks = 0
  const timer = setInterval(() => ticks++, 10)
  try {
    await fn()
  } finally {
    clearInterval(timer)
  }
  return ticks
}

test('SANDBOX_TIMEOUT: busy loop, stopped by the interrupt handler, Node keeps ticking', async (t) => {
  const ctx = new BamlContext(rt, { timeoutMs: 600 })
  const started = Date.now()
  const ticks = await whileTicking(() => expectCode(t, ctx, 'SANDBOX_TIMEOUT', ctx.evaluate('for (;;) {}'), { timeoutMs: 600 }))
  const took = Date.now() - started
  t.true(took < 3000, `took ${took} ms`)
  // A blocked Node thread would tick once or not at all; ~60 ticks are expected, and other
  // specs spinning in parallel on two cores can slow the interval down, hence the margin.
  t.true(ticks >= 10, `Node ticked ${ticks} times during the busy loop`)
  ctx.dispose()
})

test('SANDBOX_TIMEOUT: for (;;) await 0', async (t) => {
  const ctx = new BamlContext(rt)
  await expectCode(t, ctx, 'SANDBOX_TIMEOUT', ctx.evaluate('for (;;) await 0', { timeoutMs: 200 }), { timeoutMs: 200 })
  ctx.dispose()
})

test('SANDBOX_TIMEOUT: a busy loop that starts after an await', async (t) => {
  const ctx = new BamlContext(rt)
  await expectCode(t, ctx, 'SANDBOX_TIMEOUT', ctx.evaluate('await null; while (true) {}', { timeoutMs: 200 }))
  ctx.dispose()
})

test('SANDBOX_TIMEOUT: a never-settling host promise (tokio timer)', async (t) => {
  const ctx = new BamlContext(rt, { hostFunctions: { never: () => new Promise(() => {}) } })
  const started = Date.now()
  await expectCode(t, ctx, 'SANDBOX_TIMEOUT', ctx.evaluate('await never()', { timeoutMs: 150 }), { timeoutMs: 150 })
  t.true(Date.now() - started < 1500)
  ctx.dispose()
})

test('SANDBOX_TIMEOUT: a timer longer than the timeout', async (t) => {
  const ctx = new BamlContext(rt, { timeoutMs: 100 })
  await expectCode(t, ctx, 'SANDBOX_TIMEOUT', ctx.evaluate('await new Promise(r => setTimeout(r, 5000))'))
  ctx.dispose()
})

test('SANDBOX_MEMORY: memory bombs of several shapes', async (t) => {
  const limit = 16 * 1024 * 1024
  const ctx = new BamlContext(rt, { memoryLimitBytes: limit })
  const bombs = [
    'const a = []; for (;;) a.push({ x: [1, 2, 3, 4, 5, 6, 7, 8] })',
    'const parts = []; for (let i = 0; ; i++) parts.push("x".repeat(1024) + i)',
    'new Uint8Array(1024 * 1024 * 1024)',
    'const m = new Map(); for (let i = 0; ; i++) m.set(i, [i])',
    'let s = "ab"; for (;;) s = s + s; s.length',
  ]
  for (const bomb of bombs) {
    // In a block: top-level const would keep the bomb alive in the realm, as it should.
    await expectCode(t, ctx, 'SANDBOX_MEMORY', ctx.evaluate(`{ ${bomb} }`), { limitBytes: limit })
  }
  t.true(ctx.memoryUsage().usedBytes < limit / 2, 'garbage collected after the bomb')
  // The next failure is judged on its own: an ordinary error is not reported as memory.
  t.is((await t.throwsAsync(ctx.evaluate('null.x'))).code, 'SANDBOX_ERROR')
  ctx.dispose()
})

test('SANDBOX_STACK: deep recursion', async (t) => {
  const ctx = new BamlContext(rt, { maxStackBytes: 256 * 1024 })
  await expectCode(t, ctx, 'SANDBOX_STACK', ctx.evaluate('function f(n) { return f(n + 1) + 1 } f(0)'))
  await expectCode(t, ctx, 'SANDBOX_STACK', ctx.evaluate('const o = {}; o.toString = function () { return String(this) }; String(o)'))
  ctx.dispose()
})

test('SANDBOX_ABORTED: an AbortSignal stops a busy loop and a pending await', async (t) => {
  const ctx = new BamlContext(rt)
  const ac = new AbortController()
  const busy = ctx.evaluate('for (;;) {}', { signal: ac.signal })
  setTimeout(() => ac.abort(), 50)
  await expectCode(t, ctx, 'SANDBOX_ABORTED', busy)
  const ac2 = new AbortController()
  const waiting = ctx.evaluate('await new Promise(() => {})', { signal: ac2.signal })
  setTimeout(() => ac2.abort(), 20)
  await expectCode(t, ctx, 'SANDBOX_ABORTED', waiting)
  await expectCode(t, ctx, 'SANDBOX_ABORTED', ctx.evaluate('1', { signal: AbortSignal.abort() }))
  // A long-lived signal is not left holding listeners after evaluations settle.
  const keep = new AbortController()
  for (let i = 0; i < 50; i++) await ctx.evaluate('1', { signal: keep.signal })
  t.pass()
  ctx.dispose()
})

test('SANDBOX_DISPOSED: dispose during an in-flight host call', async (t) => {
  let release
  let started
  const hostCallStarted = new Promise((r) => { started = r })
  const ctx = new BamlContext(rt, {
    hostFunctions: { slow: () => new Promise((r) => { release = r; started() }) },
  })
  const pending = ctx.evaluate('await slow()')
  await hostCallStarted
  ctx.dispose()
  const err = await t.throwsAsync(pending)
  t.is(err.code, 'SANDBOX_DISPOSED')
  release('too late') // settling after dispose must not crash
  await new Promise((r) => setTimeout(r, 20))
  t.true(ctx.disposed)
})

test('SANDBOX_RESULT: cyclic, BigInt and over-deep results name the path', async (t) => {
  const ctx = new BamlContext(rt)
  const cyc = await expectCode(t, ctx, 'SANDBOX_RESULT', ctx.evaluate('const o = { a: { b: {} } }; o.a.b.back = o; o'))
  t.is(cyc.path, 'result.a.b.back')
  const big = await expectCode(t, ctx, 'SANDBOX_RESULT', ctx.evaluate('({ list: [1, 2n] })'))
  t.is(big.path, 'result.list[1]')
  await expectCode(t, ctx, 'SANDBOX_RESULT', ctx.evaluate('let d = {}; for (let i = 0; i < 5000; i++) d = { d }; d'))
  ctx.dispose()
})

test('SANDBOX_ERROR: uncaught exceptions carry jsName and jsStack', async (t) => {
  const ctx = new BamlContext(rt)
  const err = await expectCode(t, ctx, 'SANDBOX_ERROR', ctx.evaluate('function boom() { throw new TypeError("bad input") }\nboom()'))
  t.is(err.jsName, 'TypeError')
  t.is(err.message, '<sandbox>:1:29: TypeError: bad input')
  t.regex(err.jsStack, /boom/)
  const thrown = await expectCode(t, ctx, 'SANDBOX_ERROR', ctx.evaluate('await null; throw { reason: 1 }'))
  t.is(thrown.message, 'Uncaught { reason: 1 }')
  const syntax = await expectCode(t, ctx, 'SANDBOX_ERROR', ctx.evaluate('let = ;'))
  t.is(syntax.jsName, 'SyntaxError')
  ctx.dispose()
})

test('a timed-out evaluation does not disturb one running beside it', async (t) => {
  const ctx = new BamlContext(rt)
  const slow = ctx.evaluate('await new Promise(r => setTimeout(r, 200)); "finished"', { timeoutMs: 5000 })
  const err = await t.throwsAsync(ctx.evaluate('await new Promise(() => {})', { timeoutMs: 50 }))
  t.is(err.code, 'SANDBOX_TIMEOUT')
  t.is(await slow, 'finished')
  ctx.dispose()
})

test('contexts run in parallel: a busy context does not block another', async (t) => {
  const busy = new BamlContext(rt, { timeoutMs: 1000 })
  const quick = new BamlContext(rt)
  const spinning = busy.evaluate('for (;;) {}').catch((e) => e.code)
  await new Promise((r) => setTimeout(r, 50))
  const started = Date.now()
  t.is(await quick.evaluate('"fast"'), 'fast')
  t.true(Date.now() - started < 500, 'answered while the other context spins')
  t.is(await spinning, 'SANDBOX_TIMEOUT')
  busy.dispose()
  quick.dispose()
})
