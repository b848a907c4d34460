// Contexts that share one QuickJS runtime (`sharing: 'runtime'`, `ContextGroup`): each keeps
// its own realm (globals, prototypes, errors, timers); limits end one member's runaway code
// with the right code while the others go on; disposing one member leaves the others running;
// BAML calls from members run concurrently; bad options are refused with codes.
const test = require('ava')
const { BamlRuntime, BamlContext, ContextGroup } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')
const { runChild } = require('./helpers/run-child.js')

const rt = BamlRuntime.fromFiles({})

function members(n, options = {}) {
  const group = new ContextGroup(options)
  const list = Array.from({ length: n }, () => new BamlContext(rt, { group }))
  return { group, list }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// Every behaviour holds in both isolations: the group's runtime in a worker process of its own
// (the default on Linux), or on the addon's sandbox threads.
const ISOLATIONS = process.platform === 'linux' ? ['process', 'thread'] : ['thread']

for (const isolation of ISOLATIONS) {
  test(`${isolation}: members do not see each other's globals, prototypes or built-ins`, async (t) => {
    const { list: [a, b] } = members(2, { isolation })
    t.teardown(() => { a.dispose(); b.dispose() })
    await a.evaluate(`
      globalThis.secret = 'a'; var declared = 1; let lexical = 2
      Array.prototype.evil = () => 'pwned'; Object.prototype.polluted = true
      JSON.parse = () => 'hijacked'; Math.random = () => 4; Promise.prototype.then = null
      Map.prototype.get = () => 'a map'; structuredClone = null; console.log = null
    `)
    t.deepEqual(
      await b.evaluate(`[typeof secret, typeof declared, typeof lexical, typeof [].evil, ({}).polluted,
        JSON.parse('[1]').length, Math.random() < 1, typeof Promise.prototype.then,
        new Map([[1, 2]]).get(1), structuredClone({ x: 1 }).x, typeof console.log]`),
      ['undefined', 'undefined', 'undefined', 'undefined', undefined, 1, true, 'function', 2, 1, 'function'],
    )
    t.is(await a.evaluate('[].evil()'), 'pwned')
    // The realms' intrinsics are different objects: a value copied between them is a copy.
    t.false(await b.evaluate('Object.isFrozen(Object.prototype)'))
    await a.evaluate('Object.freeze(Object.prototype); 1')
    t.false(await b.evaluate('Object.isFrozen(Object.prototype)'))
  })

  test(`${isolation}: errors, timers and intervals stay in their member`, async (t) => {
    const { list: [a, b] } = members(2, { isolation })
    t.teardown(() => { a.dispose(); b.dispose() })
    const e = await t.throwsAsync(a.evaluate('class Mine extends Error {}; throw new Mine("from a")'))
    t.is(e.code, 'SANDBOX_ERROR')
    t.regex(e.message, /from a/)
    t.is(await b.evaluate('typeof Mine'), 'undefined')
    const [ra, rb] = await Promise.all([
      a.evaluate("globalThis.who = 'a'; await new Promise(r => setTimeout(() => r(globalThis.who), 30))"),
      b.evaluate("globalThis.who = 'b'; await new Promise(r => setTimeout(() => r(globalThis.who), 10))"),
    ])
    t.deepEqual([ra, rb], ['a', 'b'])
    // b clearing every small timer id touches nothing of a's.
    const pending = a.evaluate("await new Promise(r => setTimeout(() => r('fired'), 40))")
    await b.evaluate('for (let i = 0; i < 1000; i++) { clearTimeout(i); clearInterval(i) }; 1')
    t.is(await pending, 'fired')
    // An unhandled rejection in a is a's error only.
    await t.throwsAsync(a.evaluate('await Promise.reject(new RangeError("nope"))'), { code: 'SANDBOX_ERROR' })
    t.is(await b.evaluate('"b fine"'), 'b fine')
  })

  test(`${isolation}: a busy loop in one member times out with SANDBOX_TIMEOUT; the others then run`, async (t) => {
    const { list: [a, b, c] } = members(3, { isolation })
    t.teardown(() => { a.dispose(); b.dispose(); c.dispose() })
    const started = Date.now()
    const loop = a.evaluate('for (;;) {}', { timeoutMs: 200 })
    const waiting = b.evaluate('"b ran"')
    await t.throwsAsync(loop, { code: 'SANDBOX_TIMEOUT' })
    t.true(Date.now() - started < 5000)
    t.is(await waiting, 'b ran')
    t.is(await a.evaluate('"a usable"'), 'a usable')
    // Built-ins that never poll the interrupt handler are bounded too.
    await t.throwsAsync(c.evaluate("for (;;) 'x'.repeat(1000).indexOf('y')", { timeoutMs: 200 }), { code: 'SANDBOX_TIMEOUT' })
    await t.throwsAsync(c.evaluate('Array.prototype.reverse.call({ length: 2 ** 53 - 1 })', { timeoutMs: 200 }), { code: 'SANDBOX_ERROR' })
    t.is(await c.evaluate('1'), 1)
  })

  test(`${isolation}: an abort ends only its member's evaluation`, async (t) => {
    const { list: [a, b] } = members(2, { isolation })
    t.teardown(() => { a.dispose(); b.dispose() })
    const ac = new AbortController()
    const loop = a.evaluate('for (;;) {}', { signal: ac.signal })
    await sleep(30)
    ac.abort()
    await t.throwsAsync(loop, { code: 'SANDBOX_ABORTED' })
    t.is(await b.evaluate('2'), 2)
  })

  test(`${isolation}: memory: bombs in members get SANDBOX_MEMORY at the group limit, the group recovers, and Node survives`, (t) => {
    // In a child process: a memory bomb near a shared heap's limit is where an engine bug
    // would abort the process; the parent sees the child end normally.
    const r = runChild(`
      const { BamlRuntime, BamlContext, ContextGroup } = require('.')
      const rt = BamlRuntime.fromFiles({})
      ;(async () => {
        const group = new ContextGroup({ isolation: '${isolation}', memoryLimitBytes: 16 * 1024 * 1024 })
        const [a, b] = [new BamlContext(rt, { group }), new BamlContext(rt, { group })]
        const out = { limit: group.memoryUsage().limitBytes, memberLimit: a.memoryUsage().limitBytes }
        await b.evaluate('globalThis.kept = [1, 2, 3]; 1')
        const code = (p) => p.then(() => 'ok', (e) => e.code)
        out.bomb = await code(a.evaluate("(() => { const xs = []; for (;;) xs.push('x'.repeat(1000) + xs.length) })()"))
        out.fill = await code(a.evaluate('new Array(1e7).fill(1.5)'))
        // Members made while the heap is full, and bombs from several members at once.
        const more = Array.from({ length: 20 }, () => new BamlContext(rt, { group }))
        out.many = (await Promise.all(more.map((c, i) => code(c.evaluate(\`globalThis.keep = []; for (let k = 0; k < \${1000 * (i + 1)}; k++) keep.push({ k, s: 'y'.repeat(50) }); (() => { const xs = []; for (;;) xs.push([xs.length]) })()\`))))).sort()
        more.forEach((c) => c.dispose())
        out.kept = await b.evaluate('kept.length')
        out.after = await a.evaluate('[1, 2].length')
        await new Promise((r) => setTimeout(r, 50))
        out.used = group.memoryUsage().usedBytes
        console.log(JSON.stringify(out))
      })()
    `)
    t.is(r.limit, 16 * 1024 * 1024)
    t.is(r.memberLimit, 16 * 1024 * 1024)
    t.is(r.bomb, 'SANDBOX_MEMORY')
    t.is(r.fill, 'SANDBOX_MEMORY')
    t.true(r.many.every((c) => c === 'SANDBOX_MEMORY'), JSON.stringify(r.many))
    t.is(r.kept, 3)
    t.is(r.after, 2)
    t.true(r.used < 8 * 1024 * 1024, `${r.used} bytes used`)
  })

  test(`${isolation}: stack: deep recursion in one member gets SANDBOX_STACK`, async (t) => {
    const { list: [a, b] } = members(2, { isolation })
    t.teardown(() => { a.dispose(); b.dispose() })
    await t.throwsAsync(a.evaluate('function f() { return f() + 1 } f()'), { code: 'SANDBOX_STACK' })
    await t.throwsAsync(a.evaluate('function g() { return JSON.stringify({ toJSON: g }) } g()'), { code: 'SANDBOX_STACK' })
    t.is(await b.evaluate('3'), 3)
  })

  test(`${isolation}: disposing one member while the others run leaves them running`, async (t) => {
    const { list: [a, b, c] } = members(3, { isolation })
    t.teardown(() => { b.dispose(); c.dispose() })
    await a.evaluate('globalThis.n = 0; setInterval(() => n++, 1); 1')
    const chain = a.evaluate('let p = Promise.resolve(); for (let i = 0; i < 1000; i++) p = p.then(() => n++); for (;;) {}')
    const steady = b.evaluate('let s = 0; for (let i = 0; i < 20; i++) { await new Promise(r => setTimeout(r, 5)); s += i } s')
    await sleep(30)
    a.dispose()
    await t.throwsAsync(chain, { code: 'SANDBOX_DISPOSED' })
    t.is(await steady, 190)
    t.is(await c.evaluate("'c'"), 'c')
    await t.throwsAsync(a.evaluate('1'), { code: 'SANDBOX_DISPOSED' })
    t.true(a.disposed)
    const d = new BamlContext(rt, { sharing: 'runtime', isolation })
    t.is(await d.evaluate('typeof n'), 'undefined')
    d.dispose()
  })

  test(`${isolation}: host functions re-enter the group mid-evaluation: dispose a member, make one, evaluate in another, dispose their own`, async (t) => {
    const group = new ContextGroup({ isolation })
    const made = []
    let victim, other
    const a = new BamlContext(rt, {
      group,
      hostFunctions: {
        killVictim: () => { victim.dispose(); return victim.disposed },
        makeOne: async () => { const c = new BamlContext(rt, { group }); made.push(c); return c.evaluate('6 * 7') },
        askOther: () => other.evaluate('globalThis.asked = (globalThis.asked ?? 0) + 1'),
        usage: () => group.memoryUsage().limitBytes,
        selfDestruct: () => { a.dispose(); return 'gone' },
      },
    })
    victim = new BamlContext(rt, { group })
    other = new BamlContext(rt, { group })
    t.teardown(() => [a, victim, other, ...made].forEach((c) => c.dispose()))
    // Running, but yielding the group's one thread (a busy loop would hold up a's evaluation
    // until its own deadline).
    const victimRunning = victim.evaluate('for (;;) await new Promise((r) => setTimeout(r, 1))')
    t.deepEqual(
      await a.evaluate('[await killVictim(), await makeOne(), await askOther(), await askOther(), await usage() > 0]'),
      [true, 42, 1, 2, true],
    )
    await t.throwsAsync(victimRunning, { code: 'SANDBOX_DISPOSED' })
    await t.throwsAsync(a.evaluate('await selfDestruct(); for (;;) {}'), { code: 'SANDBOX_DISPOSED' })
    t.is(await other.evaluate('asked'), 2)
    t.is(await made[0].evaluate('typeof asked'), 'undefined')
  })

  test(`${isolation}: host functions and globals are per member`, async (t) => {
    const group = new ContextGroup({ isolation })
    const a = new BamlContext(rt, { group, globals: { name: 'a' }, hostFunctions: { whoami: () => 'host a' } })
    const b = new BamlContext(rt, { group, globals: { name: 'b' } })
    t.teardown(() => { a.dispose(); b.dispose() })
    t.deepEqual(await a.evaluate('[name, await whoami()]'), ['a', 'host a'])
    t.deepEqual(await b.evaluate('[name, typeof whoami]'), ['b', 'undefined'])
  })

  test(`${isolation}: sharing: "runtime" without a group uses the BamlRuntime's default group`, async (t) => {
    const a = new BamlContext(rt, { sharing: 'runtime', isolation })
    const b = new BamlContext(rt, { sharing: 'runtime', isolation })
    t.teardown(() => { a.dispose(); b.dispose() })
    await a.evaluate('globalThis.mine = 1')
    t.is(await b.evaluate('typeof mine'), 'undefined')
    // Both count one heap: the default group's 256 MiB.
    t.is(a.memoryUsage().limitBytes, 256 * 1024 * 1024)
    t.is(a.memoryUsage().usedBytes > 0, true)
  })

  test(`${isolation}: BAML calls from members of one group run concurrently`, async (t) => {
    const mock = await startMockLlm()
    t.teardown(() => mock.stop())
    await mock.script({ default: { text: 'ok', latency_ms: 200 } })
    const brt = BamlRuntime.fromFiles({
      'main.baml': `
  client<llm> Mock {
    provider openai
    options {
      model "m"
      api_key "k"
      base_url "${mock.url}/v1"
    }
  }
  function Echo(x: string) -> string {
    client Mock
    prompt #"{{ x }}"#
  }`,
    })
    const group = new ContextGroup({ isolation })
    const list = Array.from({ length: 5 }, () => new BamlContext(brt, { group }))
    t.teardown(() => list.forEach((c) => c.dispose()))
    const started = Date.now()
    const out = await Promise.all(list.map((c, i) => c.evaluate(`await Promise.all([b.Echo('${i}a'), b.Echo('${i}b')])`)))
    const took = Date.now() - started
    t.deepEqual(out, list.map(() => ['ok', 'ok']))
    t.true(took < 1500, `10 calls of 200 ms took ${took} ms`)
  })

  test(`${isolation}: many members: each is much lighter than a context with its own runtime`, async (t) => {
    const group = new ContextGroup({ isolation })
    const list = Array.from({ length: 300 }, () => new BamlContext(rt, { group }))
    t.teardown(() => list.forEach((c) => c.dispose()))
    const ids = await Promise.all(list.map((c, i) => c.evaluate(`globalThis.id = ${i}; id`)))
    t.deepEqual(ids, list.map((_, i) => i))
    const seen = await Promise.all(list.map((c) => c.evaluate('id')))
    t.deepEqual(seen, ids)
    const perMember = group.memoryUsage().usedBytes / list.length
    const own = new BamlContext(rt, { isolation: 'thread' })
    await own.evaluate('globalThis.id = 1; id')
    const ownBytes = own.memoryUsage().usedBytes
    own.dispose()
    t.log(`${Math.round(perMember)} bytes per member, ${ownBytes} for a context with its own runtime`)
    t.true(perMember < ownBytes * 0.75, `${perMember} vs ${ownBytes}`)
  })
}

if (ISOLATIONS.includes('process')) {
  test('process: the group\'s runtime is in a worker of its own; a member that ignores its deadline costs the group that worker, every member fails with SANDBOX_CRASHED, and contexts outside carry on', async (t) => {
    const group = new ContextGroup({ memoryLimitBytes: 512 * 1024 * 1024 })
    t.is(group.isolation, 'process')
    t.is(new ContextGroup({ isolation: 'thread' }).isolation, 'thread')
    const culprit = new BamlContext(rt, { group })
    const member = new BamlContext(rt, { group })
    const outside = new BamlContext(rt, { isolation: 'process' })
    const sameGroup = new BamlContext(rt, { group })
    t.teardown(() => [culprit, member, outside, sameGroup].forEach((c) => c.dispose()))
    await culprit.evaluate('globalThis.big = Array.from({ length: 3e6 }, (_, i) => String((i * 7919) % 3e6)); 0')
    const waiting = member.evaluate('await new Promise(() => {})')
    // Every evaluation of the group is settled by its own deadline, whatever the worker does.
    await t.throwsAsync(culprit.evaluate('big.sort(); big.sort(); big.sort(); 1', { timeoutMs: 100 }), { code: 'SANDBOX_TIMEOUT' })
    const e = await t.throwsAsync(waiting, { code: 'SANDBOX_CRASHED' })
    t.regex(e.message, /another context of its group did not stop at an evaluation's deadline/)
    const own = await t.throwsAsync(culprit.evaluate('1'), { code: 'SANDBOX_CRASHED' })
    t.regex(own.message, /did not stop at an evaluation's deadline/)
    await t.throwsAsync(sameGroup.evaluate('1'), { code: 'SANDBOX_CRASHED' })
    t.true(culprit.disposed && member.disposed && sameGroup.disposed)
    t.is(await outside.evaluate('1 + 1'), 2)
    // A member made after its group's worker died gets a new one (an empty heap).
    const late = new BamlContext(rt, { group })
    t.teardown(() => late.dispose())
    t.is(await late.evaluate('typeof big'), 'undefined')
    t.true(group.memoryUsage().usedBytes < 16 * 1024 * 1024, `${group.memoryUsage().usedBytes}`)
  })
}

test('bad sharing options are refused with ERR_INVALID_ARG_VALUE', (t) => {
  const group = new ContextGroup()
  const bad = [
    [{ sharing: 'everything' }, /sharing must be 'none' or 'runtime'/],
    [{ sharing: 'none', group }, /group needs sharing 'runtime'/],
    [{ group: {} }, /group must be a ContextGroup/],
    [{ group: rt }, /group must be a ContextGroup/],
    [{ group, memoryLimitBytes: 1 << 24 }, /memoryLimitBytes belongs to the ContextGroup/],
    [{ sharing: 'runtime', maxStackBytes: 1 << 20 }, /maxStackBytes belongs to the ContextGroup/],
    [{ group: new ContextGroup({ isolation: 'thread' }), isolation: 'process' }, /isolation "process" does not match its group's \("thread"\)/],
    [{ sharing: 'runtime', isolation: 'fork' }, /isolation must be 'process' or 'thread'/],
  ]
  for (const [options, message] of bad) {
    const e = t.throws(() => new BamlContext(rt, options), { code: 'ERR_INVALID_ARG_VALUE' })
    t.regex(e.message, message)
  }
  t.throws(() => new ContextGroup({ memoryLimitBytes: 10 }), { code: 'ERR_INVALID_ARG_VALUE', message: /memoryLimitBytes/ })
  t.throws(() => new ContextGroup({ isolation: 'fork' }), { code: 'ERR_INVALID_ARG_VALUE', message: /isolation must be 'process' or 'thread', got "fork"/ })
  t.throws(() => new ContextGroup({ colour: 1 }), { code: 'ERR_INVALID_ARG_VALUE', message: /unknown option "colour"/ })
  t.throws(() => ContextGroup(), { code: 'ERR_CONSTRUCT_CALL_REQUIRED' })
  t.throws(() => ContextGroup.prototype.memoryUsage.call({}), { code: 'ERR_INVALID_THIS' })
})

