const test = require('ava')
const { BamlRuntime, BamlContext } = require('..')

const rt = BamlRuntime.fromFiles({})
const make = (opts) => new BamlContext(rt, opts)

test('completion values, copies and top-level await', async (t) => {
  const ctx = make()
  t.is(await ctx.evaluate('1 + 1'), 2)
  t.is(await ctx.evaluate('const x = await Promise.resolve(20); x + 1'), 21)
  t.is(await ctx.evaluate('Promise.resolve("awaited")'), 'awaited')
  t.is(await ctx.evaluate('undefined'), undefined)
  t.is(await ctx.evaluate('null'), null)
  t.deepEqual(await ctx.evaluate('({ a: [1, "two", true, null], nested: { d: new Date(86400000) } })'), {
    a: [1, 'two', true, null],
    nested: { d: new Date(86400000) },
  })
  t.true((await ctx.evaluate('new Date(5)')) instanceof Date)
  const special = await ctx.evaluate('[NaN, Infinity, -Infinity, -0]')
  t.true(Number.isNaN(special[0]))
  t.is(special[1], Infinity)
  t.is(special[2], -Infinity)
  t.true(Object.is(special[3], -0))
  t.deepEqual(await ctx.evaluate('({ f() {}, s: Symbol("x"), kept: 1 })'), { kept: 1 })
  t.deepEqual(await ctx.evaluate('[() => 1, Symbol()]'), [null, null])
  ctx.dispose()
})

test('big copies (built from JSON text in Node) keep every value small copies keep', async (t) => {
  // The same values once alone (small copy) and 600 times in one array (big copy): every
  // element of the big one must equal the small one, undefined, NaN, -0, dates, awkward
  // strings and keys included; the same for host function arguments.
  const one = String.raw`({
    u: undefined, n: null, t: true, f: false, i: 42, neg: -7.25, tiny: 5e-324, big: 1.7976931348623157e308,
    nan: NaN, inf: Infinity, ninf: -Infinity, nz: -0, d: new Date(86400000), bad: new Date(NaN),
    s: 'quote " back \\ nl \n tab \t nul \0 bell \u0007 uni \u00e9\u4e2d\ud83d\ude00 lone \ud800 sep \u2028',
    ['__proto__']: { inner: [undefined, NaN, [-0]] }, '': 'empty key', 'k"\\': 1, 10: 'ten', 2: 'two',
    arr: [1, , 3], nested: [[[[{ deep: new Date(1) }]]]],
  })`
  let seen
  const ctx = make({ hostFunctions: { capture: (x) => { seen = x; return x.length } } })
  const small = await ctx.evaluate(one)
  const big = await ctx.evaluate(`Array.from({ length: 600 }, () => ${one})`)
  t.is(big.length, 600)
  const same = (a, b) => {
    t.deepEqual(Object.keys(a), Object.keys(b))
    t.deepEqual(a, b)
    for (const k of ['nan', 'nz', 'u']) t.true(Object.is(a[k], b[k]), k)
    t.true(Object.is(a.nested[0][0][0][0].deep.getTime(), 1))
    t.true(Number.isNaN(a.bad.getTime()))
    t.true(Object.is(a.__proto__.inner[2][0], -0))
    t.true(Object.hasOwn(a, '__proto__'))
    t.is(Object.getPrototypeOf(a), Object.prototype)
    t.true('u' in a)
  }
  same(small, small)
  for (const item of [big[0], big[599]]) same(item, small)
  t.is(await ctx.evaluate(`await capture(Array.from({ length: 600 }, () => ${one}))`), 600)
  same(seen[300], small)
  // Runs of equal special values in a big sparse array, broken by others.
  const runs = await ctx.evaluate(
    'const r = Array(1000); r[5] = NaN; r[6] = NaN; r[7] = -0; r[8] = new Date(3); r[9] = new Date(3); r[10] = Infinity; r[11] = -Infinity; r[12] = new Date(NaN); r[500] = 1; r',
  )
  t.is(runs.length, 1000)
  t.true(runs.slice(0, 5).every((x) => x === undefined) && 4 in runs)
  t.true(Number.isNaN(runs[5]) && Number.isNaN(runs[6]))
  t.true(Object.is(runs[7], -0))
  t.deepEqual([runs[8], runs[9]], [new Date(3), new Date(3)])
  t.not(runs[8], runs[9])
  t.deepEqual([runs[10], runs[11]], [Infinity, -Infinity])
  t.true(runs[12] instanceof Date && Number.isNaN(runs[12].getTime()))
  t.true(runs.slice(13, 500).every((x) => x === undefined))
  t.is(runs[500], 1)
  t.true(runs.slice(501).every((x) => x === undefined) && 999 in runs)
  // A big array of nothing but undefined.
  const u = await ctx.evaluate('Array(1000).fill(undefined)')
  t.is(u.length, 1000)
  t.true(u.every((x) => x === undefined) && 999 in u)
  ctx.dispose()
})

test('the realm persists within a context and is invisible across contexts', async (t) => {
  const a = make()
  const b = make()
  await a.evaluate('globalThis.secret = 41; function bump() { return ++secret }')
  t.is(await a.evaluate('bump()'), 42)
  t.is(await b.evaluate('typeof secret'), 'undefined')
  t.is(await b.evaluate('typeof bump'), 'undefined')
  await b.evaluate('Array.prototype.evil = 1')
  t.is(await a.evaluate('[].evil'), undefined)
  t.is([].evil, undefined)
  a.dispose()
  b.dispose()
})

test('100 concurrent evaluate() calls on one context share its realm', async (t) => {
  const ctx = make()
  await ctx.evaluate('globalThis.n = 0')
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) => ctx.evaluate(`await null; n += 1; await new Promise(r => setTimeout(r, ${i % 7})); ${i} * 2`)),
  )
  t.deepEqual(results, Array.from({ length: 100 }, (_, i) => i * 2))
  t.is(await ctx.evaluate('n'), 100)
  ctx.dispose()
})

test('host functions: sync, async, throwing, rejecting, many at once, on Node\'s thread', async (t) => {
  const { isMainThread } = require('node:worker_threads')
  let calls = 0
  let inFlight = 0
  let maxInFlight = 0
  const ctx = make({
    hostFunctions: {
      add: (a, b) => {
        calls++
        t.true(isMainThread)
        return a + b
      },
      fetchUser: async (id) => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        await new Promise((r) => setTimeout(r, 20))
        inFlight--
        return { id, name: `user${id}`, tags: ['a', 'b'] }
      },
      explode: () => {
        throw new TypeError('host says no')
      },
      reject: () => Promise.reject(new Error('rejected in Node')),
      rejectValue: () => Promise.reject('plain string'),
      echo: (...args) => args,
    },
  })
  t.is(await ctx.evaluate('await add(2, 3)'), 5)
  t.deepEqual(await ctx.evaluate('await fetchUser(7)'), { id: 7, name: 'user7', tags: ['a', 'b'] })
  t.is(await ctx.evaluate('try { await explode() } catch (e) { e instanceof Error && e.message }'), 'host says no')
  t.is(await ctx.evaluate('try { await reject() } catch (e) { e.message }'), 'rejected in Node')
  t.is(await ctx.evaluate('try { await rejectValue() } catch (e) { e.message }'), 'plain string')
  const users = await ctx.evaluate('(await Promise.all(Array.from({ length: 50 }, (_, i) => fetchUser(i)))).map(u => u.id)')
  t.deepEqual(users, Array.from({ length: 50 }, (_, i) => i))
  t.true(maxInFlight >= 50, `host calls overlapped: ${maxInFlight}`)
  t.deepEqual(await ctx.evaluate('await echo(1, "s", null, undefined, { d: new Date(0) }, [NaN])'), [1, 's', null, undefined, { d: new Date(0) }, [NaN]])
  const err = await t.throwsAsync(ctx.evaluate('await explode()'))
  t.is(err.code, 'SANDBOX_ERROR')
  t.is(err.message, '<sandbox>:1:6: Error: host says no')
  t.true(calls >= 1)
  ctx.dispose()
})

test('host function arguments and results that cannot be copied are refused', async (t) => {
  const ctx = make({ hostFunctions: { echo: (x) => x, cyclic: () => { const o = {}; o.o = o; return o } } })
  t.regex(await ctx.evaluate('try { await echo((() => { const a = {}; a.a = a; return a })()) } catch (e) { e.message }'), /cyclic/)
  t.regex(await ctx.evaluate('try { await cyclic() } catch (e) { e.message }'), /result\.o.*cyclic/)
  t.regex(await ctx.evaluate('try { await echo(10n) } catch (e) { e.message }'), /BigInt/)
  ctx.dispose()
})

test('globals are copied and a __proto__ key pollutes nothing', async (t) => {
  const globals = JSON.parse('{"config": {"__proto__": {"polluted": true}, "limit": 3}, "list": [1, 2]}')
  const ctx = make({ globals })
  t.is(await ctx.evaluate('({}).polluted'), undefined)
  t.is(await ctx.evaluate('config.polluted'), undefined)
  t.deepEqual(await ctx.evaluate('Object.keys(config)'), ['__proto__', 'limit'])
  await ctx.evaluate('config.limit = 99; list.push(3)')
  t.is(globals.config.limit, 3)
  t.deepEqual(globals.list, [1, 2])
  t.is({}.polluted, undefined)
  const back = await ctx.evaluate('config')
  t.is(Object.getPrototypeOf(back), Object.prototype)
  t.deepEqual(Object.keys(back), ['__proto__', 'limit'])
  t.is(back.polluted, undefined)
  const err = t.throws(() => make({ globals: { bad: 10n } }))
  t.is(err.code, 'ERR_INVALID_ARG_VALUE')
  ctx.dispose()
})

test('console output reaches onConsole, formatted like Node', async (t) => {
  const lines = []
  const ctx = make({ onConsole: (level, message) => lines.push([level, message]) })
  await ctx.evaluate(`
    console.log('hello', 42, { a: [1, 'x'], b: null })
    console.info('%s has %d items', 'cart', 3)
    console.warn(true, undefined)
    console.error(new Date(0))
    console.debug([])
  `)
  await ctx.evaluate('await new Promise(r => setTimeout(r, 5))')
  t.deepEqual(lines, [
    ['log', "hello 42 { a: [ 1, 'x' ], b: null }"],
    ['info', 'cart has 3 items'],
    ['warn', 'true undefined'],
    ['error', '1970-01-01T00:00:00.000Z'],
    ['debug', '[]'],
  ])
  const quiet = make()
  t.is(await quiet.evaluate('console.log("dropped"); 1'), 1)
  ctx.dispose()
  quiet.dispose()
})

test('setTimeout and clearTimeout', async (t) => {
  const ctx = make()
  const order = await ctx.evaluate(`
    const order = []
    setTimeout(() => order.push('late'), 30)
    setTimeout((x) => order.push(x), 5, 'early')
    const id = setTimeout(() => order.push('cancelled'), 10)
    clearTimeout(id)
    await new Promise((r) => setTimeout(r, 60))
    order
  `)
  t.deepEqual(order, ['early', 'late'])
  ctx.dispose()
})

test('usage() and memoryUsage()', async (t) => {
  const ctx = make({ memoryLimitBytes: 32 * 1024 * 1024 })
  t.deepEqual(ctx.usage(), { calls: 0, inputTokens: 0, outputTokens: 0 })
  const before = ctx.memoryUsage()
  t.is(before.limitBytes, 32 * 1024 * 1024)
  // The completion value is left out: 100,000 objects are more values than a result may hold.
  await ctx.evaluate('globalThis.big = Array.from({ length: 100000 }, (_, i) => ({ i })); 0')
  const after = ctx.memoryUsage()
  t.true(after.usedBytes > before.usedBytes + 1_000_000, `${before.usedBytes} -> ${after.usedBytes}`)
  ctx.dispose()
})

test('dispose() rejects in-flight and later evaluations', async (t) => {
  const ctx = make()
  const pending = ctx.evaluate('await new Promise(() => {})')
  t.false(ctx.disposed)
  ctx.dispose()
  t.true(ctx.disposed)
  const err = await t.throwsAsync(pending)
  t.true(err instanceof Error)
  t.is(err.code, 'SANDBOX_DISPOSED')
  t.is((await t.throwsAsync(ctx.evaluate('1'))).code, 'SANDBOX_DISPOSED')
  t.notThrows(() => ctx.dispose())
})

test('bad options are refused with clear errors', (t) => {
  for (const [opts, re] of [
    [{ memoryLimitBytes: -1 }, /memoryLimitBytes/],
    [{ timeoutMs: 'soon' }, /timeoutMs must be a number/],
    [{ maxStackBytes: 64 * 1024 * 1024 }, /maxStackBytes/],
    [{ hostFunctions: { f: 1 } }, /hostFunctions\.f must be a function/],
    [{ onConsole: 'yes' }, /onConsole/],
    [{ env: { K: 1 } }, /env\.K must be a string/],
    [{ globals: new Proxy({}, { ownKeys() { throw new Error('no keys') } }) }, /keys of option globals cannot be listed: no keys/],
    [{ globals: { g: new Proxy({}, { ownKeys() { throw new Error('no keys') } }) } }, /globals\.g cannot be copied/],
  ]) {
    const err = t.throws(() => make(opts))
    t.is(err.code, 'ERR_INVALID_ARG_VALUE')
    t.regex(err.message, re)
  }
})
