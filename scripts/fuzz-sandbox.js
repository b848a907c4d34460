'use strict'
// The sandbox fuzzer (issue 14): random programs that mix re-entry, host calls, console,
// timers and BAML calls (against the project's mock LLM server), run in child processes so a
// crash of Node is a finding, not the end of the run.
//
//   node scripts/fuzz-sandbox.js [--seconds N] [--programs N] [--seed S] [--per-child N]
//                                [--mode process|thread|both] [--slack-ms N] [--verbose]
//
// `npm run fuzz:sandbox` runs it for 30 minutes. The addon is whatever `require('..')` loads
// (build it first: `npm run build:debug` or `npm run build`). It exits 1 when anything failed,
// printing every failure with the seed that reproduces it: `--seed S --programs 1 --per-child 1`
// runs that program alone, `--print S` prints its source.
//
// Each child runs `--per-child` programs one after another, alternating isolation modes. A
// program is evaluated in a fresh context with random limits, usually twice at once (the
// second a shorter program: evaluations in flight together share the realm), while Node may
// abort it, dispose the context or evaluate in it again. The child checks, for every program:
//   - every evaluate() settles within its timeout plus the slack (default 4 s: debug builds,
//     a loaded machine), resolving or rejecting with an Error whose `code` is one SPEC.md
//     names; SANDBOX_CRASHED (a worker died) is a finding, since the programs only do what
//     the sandbox must withstand in thread mode too;
//   - afterwards the context answers `1 + 1` (unless the program disposed it);
//   - no string reachable from a result, an error, a console line or a host call's arguments
//     holds the secret the BAML clients send;
//   - Node's 10 ms interval never waits more than 1 s, nor does Node see an uncaught exception
//     or an unhandled rejection;
//   - a bystander context in each mode keeps answering throughout.
// The parent checks that each child exits by itself with code 0 within its bound, and that no
// worker process the child started outlives it.

const path = require('node:path')
const { spawn } = require('node:child_process')

const crash = require('../__test__/security/_crash.js')

const REPO = path.join(__dirname, '..')
const SECRET = 'sk-fuzz-SECRET-7c1d0e'
const CODES = new Set([
  'SANDBOX_ERROR', 'SANDBOX_TIMEOUT', 'SANDBOX_MEMORY', 'SANDBOX_STACK', 'SANDBOX_ABORTED',
  'SANDBOX_DISPOSED', 'SANDBOX_RESULT', 'BAML_VALIDATION', 'BAML_HTTP', 'BAML_FINISH_REASON',
  'BAML_INVALID_ARGUMENT', 'ERR_INVALID_ARG_VALUE',
])
/** Node's interval may wait at most this long between ticks. */
const GAP_LIMIT_MS = 1000
const HEARTBEAT_MS = 10

// ---------------------------------------------------------------------------------------------
// The generator: a deterministic function of the seed.

function rng(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const r = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    chance: (p) => next() < p,
    /** One of `table`'s `[weight, fn]` rows, called with `r`. */
    weighted(table) {
      let total = 0
      for (const [w] of table) total += w
      let x = next() * total
      for (const [w, f] of table) {
        x -= w
        if (x < 0) return f(r)
      }
      return table[table.length - 1][1](r)
    },
  }
  return r
}

/** A mock marker: the mock's script matches these words in the prompt. */
const MARKERS = ['', '', '', 'FZSLOW', 'FZHANG', 'FZ500', 'FZ429', 'FZMAL', 'FZRESET', 'FZTRUNC', 'FZLEN', 'FZHUGE', 'FZJSON']

const MOCK_SCRIPT = {
  rules: [
    { contains: 'FZSLOW', replies: [{ text: 'slow', latency_ms: 150 }] },
    { contains: 'FZHANG', replies: [{ fault: 'hang' }] },
    { contains: 'FZ500', replies: [{ status: 500, text: 'server error' }] },
    { contains: 'FZ429', replies: [{ status: 429, text: 'slow down', retry_after: 1 }] },
    { contains: 'FZMAL', replies: [{ fault: 'malformed_json' }] },
    { contains: 'FZRESET', replies: [{ fault: 'reset' }] },
    { contains: 'FZTRUNC', replies: [{ fault: 'truncated_stream', text: '{"name": "Truncated Person"}' }] },
    { contains: 'FZLEN', replies: [{ finish_reason: 'length', text: '{"name": "Cut' }] },
    { contains: 'FZHUGE', replies: [{ fault: 'huge_body', huge_bytes: 3_000_000 }] },
    { contains: 'FZJSON', replies: [{ text: '```json\n{"name": "Fenced", "extra": [1, 2]}\n```' }] },
    { contains: 'Extract:', replies: [{ text: '{"name": "Ada"}' }] },
  ],
  default: { text: 'mock reply' },
}

/** Statements that tamper with built-ins the bridge, or the next evaluation, might use. */
const TAMPERING = [
  'Object.prototype.then = function (res) { res(1) }',
  'Array.prototype[Symbol.iterator] = function* () { yield 1 }',
  'Promise.prototype.then = function () { return 1 }',
  'Object.defineProperty(Object.prototype, "code", { get() { throw 1 }, configurable: true })',
  'Error.prototype.toString = () => { throw 1 }',
  'JSON.stringify = () => { throw 1 }',
  'globalThis.b = null',
  'delete globalThis.console',
  'Object.freeze(Object.prototype)',
  'Symbol.prototype.toString = () => "x"',
]

function str(r) {
  return r.weighted([
    [6, () => JSON.stringify(`${r.pick(MARKERS)} t${r.int(0, 99)}`)],
    [1, () => `'\\ud800'.repeat(${r.int(1, 5)})`],
    [1, () => `'a\\u0000b'`],
    [1, () => `'${r.pick(MARKERS)}'.repeat(${r.pick([10, 1000, 100000])})`],
    [1, () => `String(${r.int(0, 1e6)})`],
  ])
}

function value(r, depth = 0) {
  const leaf = [
    [3, () => String(r.int(-5, 1e6))],
    [1, () => r.pick(['NaN', 'Infinity', '-0', '1e308', 'undefined', 'null', 'true'])],
    [3, () => str(r)],
    [1, () => r.pick(['Symbol("s")', '10n', '() => 1', 'new Date(0)', 'new Date(NaN)', '/x/g', 'new Uint8Array(4)', 'new Error("e")'])],
  ]
  if (depth > 2) return r.weighted(leaf)
  return r.weighted([
    ...leaf,
    [2, () => `[${Array.from({ length: r.int(0, 4) }, () => value(r, depth + 1)).join(', ')}]`],
    [2, () => `({ ${Array.from({ length: r.int(0, 4) }, (_, i) => `k${i}: ${value(r, depth + 1)}`).join(', ')} })`],
    [1, () => `(() => { const o = { a: ${value(r, depth + 1)} }; o.self = o; return o })()`],
    [1, () => `(() => { const a = []; a.length = ${r.pick(['2 ** 32 - 1', '1e6', '100'])}; return a })()`],
    [1, () => `(() => { let x = [1]; for (let i = 0; i < ${r.int(5, 30)}; i++) x = [x, x]; return x })()`],
    [2, () => `({ get g() { ${started(r, depth + 1)}; return ${value(r, depth + 1)} } })`],
    [1, () => `({ get g() { throw ${value(r, depth + 1)} } })`],
    [2, () => `new Proxy(${r.pick(['{}', '[]', '[1, 2]'])}, { ${r.pick(['get', 'ownKeys', 'getOwnPropertyDescriptor', 'has'])}(t, k) { ${started(r, depth + 1)}; ${r.pick(['return Reflect.ownKeys(t)', 'throw 1', 'return 1', 'return undefined'])} } })`],
    [1, () => `({ toJSON() { ${started(r, depth + 1)}; return 1 }, toString() { ${started(r, depth + 1)}; return 's' } })`],
  ])
}

/** `action` for a function that cannot await (getters, traps, comparators): started, not awaited. */
function started(r, depth) {
  return `void (async () => { ${action(r, depth)} })()${r.chance(0.5) ? '.catch(() => {})' : ''}`
}

/** A statement or expression that does one thing; may await. */
function action(r, depth = 0) {
  if (depth > 3) return r.pick(['1', 'void 0', 'Math.random()'])
  return r.weighted([
    // Host calls: plain, re-entering the context, another context, slow, throwing, big, hostile results.
    [4, () => `await echo(${value(r, depth + 1)})`],
    [2, () => `await reenter(${JSON.stringify(smallProgram(r, depth + 1))})`],
    [1, () => `await other(${JSON.stringify(smallProgram(r, depth + 1))})`],
    [1, () => `await slow(${r.int(0, 300)})`],
    [1, () => `await boom(${value(r, depth + 1)})`],
    [1, () => `await big(${r.pick([10, 1e5, 1e7, 1e8])})`],
    [1, () => `await hostile(${r.int(0, 5)})`],
    [0.2, () => 'await disposeSelf()'],
    [0.5, () => 'await abortMe()'],
    [1, () => `echo(${value(r, depth + 1)}, ${value(r, depth + 1)})`],
    // Console.
    [3, () => `console.${r.pick(['log', 'info', 'warn', 'error', 'debug'])}(${Array.from({ length: r.int(0, 3) }, () => value(r, depth + 1)).join(', ')})`],
    // Timers.
    [2, () => `await new Promise((res) => setTimeout(res, ${r.int(0, 200)}))`],
    [1, () => `setTimeout(async () => { ${action(r, depth + 1)} }, ${r.int(0, 100)})`],
    [1, () => `clearTimeout(setTimeout(() => { throw 1 }, ${r.int(0, 50)}))`],
    [0.5, () => `for (let i = 0; i < ${r.pick([10, 1000, 50000])}; i++) setTimeout(() => {}, ${r.int(0, 5)})`],
    [0.5, () => `setTimeout(${r.pick(['1', '"code"', 'null', '{}'])}, 1)`],
    // BAML.
    [4, () => `await b.Summarize(${str(r)})`],
    [3, () => `await b.Extract(${str(r)})`],
    [1, () => `await b.Greet(${value(r, depth + 1)})`],
    [1, () => `await b.Greet({ name: ${str(r)} })`],
    [1, () => `await Summarize(${str(r)})`],
    [1, () => `await b.${r.pick(['LeakKeyClosed', 'LeakQueryClosed', 'LeakHeaderClosed', 'LeakKey', 'LeakQuery', 'LeakHeader', 'LeakPromptQuery'])}(${str(r)})`],
    [2, () => `await Promise.all(Array.from({ length: ${r.pick([2, 10, 60])} }, (_, i) => b.Summarize(${str(r)} + i)))`],
    [2, () => `{ const s = b.stream.${r.pick(['Summarize', 'Extract'])}(${str(r)}); let n = 0; for await (const p of s) { if (++n > ${r.int(0, 5)}) break; ${action(r, depth + 1)} } }`],
    [1, () => `await b.stream.Extract(${str(r)}).getFinalResponse()`],
    [1, () => `b.Summarize(${str(r)}).then(async () => { ${action(r, depth + 1)} })`],
    [1, () => `await b.Nope?.(1)`],
    [1, () => `await b.Summarize(${r.pick(['', '1, 2, 3', 'undefined', '{ toString() { throw 1 } }'])})`],
    // Engine pressure (bounded by the limits).
    [0.5, () => r.pick(['while (true) {}', 'for (;;) { Math.random() }'])],
    [0.5, () => '(function f() { f() })()'],
    [0.5, () => `{ const a = []; for (;;) a.push('x'.repeat(${r.pick([10, 1e4, 1e6])})) }`],
    [0.5, () => `Array.prototype.${r.pick(['join', 'indexOf', 'includes', 'reverse', 'sort', 'fill', 'lastIndexOf', 'copyWithin'])}.call({ length: ${r.pick(['2 ** 32 - 1', '2 ** 53 - 1', '1e7'])} }, 1)`],
    [0.5, () => `/(a+)+$/.test('a'.repeat(${r.int(10, 40)}) + 'b')`],
    [0.5, () => `'x'.repeat(${r.pick(['2 ** 28', '2 ** 30', '1e6'])})`],
    [0.5, () => `JSON.parse('['.repeat(${r.pick([100, 1e5, 1e6])}))`],
    [0.5, () => `new Array(${r.pick(['1e8', '1e6', '2 ** 31'])}).fill(0)`],
    [0.5, () => `[3, 1, 2].sort((a, c) => { ${started(r, depth + 1)}; return a - c })`],
    [0.3, () => `(2n ** ${r.pick(['1000n', '100000n', '3000000n'])}).toString().length`],
    [0.5, () => `JSON.stringify(${value(r, depth + 1)})`],
    [0.5, () => `structuredClone?.(1)`],
    // Tampering with what the bridge might use.
    [0.5, () => r.pick(TAMPERING)],
    // Throwing.
    [1, () => `throw ${value(r, depth + 1)}`],
    [1, () => `await Promise.reject(${value(r, depth + 1)})`],
  ])
}

function smallProgram(r, depth) {
  return Array.from({ length: r.int(1, 2) }, () => `try { ${action(r, depth + 1)} } catch (e) { 0 }`).join('\n') + `\n${value(r, 3)}`
}

/** A whole program: statements, some guarded, then a completion value. */
function program(seed) {
  const r = rng(seed)
  const lines = []
  const n = r.int(2, 8)
  for (let i = 0; i < n; i++) {
    const a = action(r)
    lines.push(r.chance(0.8) ? `try { ${a} } catch (e) { globalThis.caught = (globalThis.caught ?? 0) + 1 }` : `${a};`)
  }
  if (r.chance(0.3)) {
    lines.push(`await Promise.all([${Array.from({ length: r.int(2, 4) }, () => `(async () => { ${action(r, 1)} })()`).join(', ')}]);`)
  }
  lines.push(r.chance(0.7) ? value(r) : 'globalThis.caught')
  const opts = {
    isolation: r.chance(0.5) ? 'process' : 'thread',
    memoryLimitBytes: r.pick([undefined, 1 << 20, 2 << 20, 8 << 20, 32 << 20]),
    timeoutMs: r.pick([200, 500, 1000, 2000]),
    maxStackBytes: r.pick([undefined, undefined, 65536, 262144, 1 << 20]),
  }
  const extra = {
    second: r.chance(0.6) ? smallProgram(r, 1) : null,
    node: r.weighted([
      [6, () => null],
      [1, () => ({ abortAfterMs: r.int(0, 300) })],
      [1, () => ({ disposeAfterMs: r.int(0, 300) })],
      [1, () => ({ evaluateAfterMs: r.int(0, 100) })],
    ]),
    consoleReenters: r.chance(0.1),
  }
  return { seed, code: lines.join('\n'), opts, extra }
}

// ---------------------------------------------------------------------------------------------
// The child.

const sleep = (ms) => new Promise((res) => setTimeout(res, ms))

async function childMain(args) {
  const { BamlRuntime, BamlContext } = require(REPO)
  const failures = []
  const fail = (p, what, detail) => {
    failures.push({ seed: p.seed, isolation: p.opts.isolation, what, detail: crash.allStrings(detail).join(' ').slice(0, 1500) })
  }
  process.on('uncaughtException', (e) => failures.push({ seed: current?.seed, what: 'uncaught exception in Node', detail: String(e && e.stack) }))
  process.on('unhandledRejection', (e) => failures.push({ seed: current?.seed, what: 'unhandled rejection in Node', detail: String(e && (e.stack || e)) }))
  let current = null

  const files = {
    'main.baml': crash.BAML_SOURCE.replaceAll('${MOCK}', args.mock).replaceAll('${CLOSED}', String(args.closed)),
  }
  const rt = BamlRuntime.fromFiles(files, { SECRET })
  const leaks = (x) => crash.allStrings(x).some((s) => s.includes(SECRET))

  // Heartbeat: Node's own loop.
  let last = performance.now()
  let maxGap = 0
  const beat = setInterval(() => {
    const now = performance.now()
    maxGap = Math.max(maxGap, now - last)
    last = now
  }, HEARTBEAT_MS)

  const modes = args.mode === 'both' ? ['process', 'thread'] : [args.mode]
  const bystanders = modes.map((m) => new BamlContext(rt, { isolation: m, timeoutMs: 30_000 }))
  const others = Object.fromEntries(modes.map((m) => [m, new BamlContext(rt, { isolation: m, timeoutMs: 30_000 })]))
  let bystanderBeats = 0
  let stopBystanders = false
  const bystanderLoops = bystanders.map(async (ctx, i) => {
    while (!stopBystanders) {
      const t0 = performance.now()
      let v
      try {
        v = await ctx.evaluate('await new Promise((r) => setTimeout(r, 20)); 6 * 7', { timeoutMs: 20_000 })
      } catch (e) {
        v = e
      }
      const took = performance.now() - t0
      if (v !== 42 || took > 5000 + args.slackMs) {
        failures.push({ seed: current?.seed, what: `bystander (${modes[i]}) answered ${String(v && (v.code || v.message) || v)} after ${Math.round(took)} ms` })
      }
      bystanderBeats++
      await sleep(30)
    }
  })

  const stats = { programs: 0, maxGapMs: 0, evaluates: 0, outcomes: {}, hostCalls: 0, consoleLines: 0, maxSettleOverMs: 0 }
  for (let i = 0; i < args.count; i++) {
    const p = program(args.seed + i)
    if (args.mode !== 'both') p.opts.isolation = args.mode
    current = p
    if (args.verbose) process.stderr.write(`program ${p.seed} (${p.opts.isolation})\n`)
    maxGap = 0
    await runProgram(p, { BamlContext, rt, others, stats, fail, leaks, slackMs: args.slackMs })
    if (maxGap > GAP_LIMIT_MS) fail(p, `Node's ${HEARTBEAT_MS} ms interval waited ${Math.round(maxGap)} ms`, '')
    stats.maxGapMs = Math.max(stats.maxGapMs, Math.round(maxGap))
    stats.programs++
  }
  current = null
  stopBystanders = true
  await Promise.all(bystanderLoops)
  for (const c of [...bystanders, ...Object.values(others)]) c.dispose()
  clearInterval(beat)
  if (maxGap > GAP_LIMIT_MS) failures.push({ what: `Node's ${HEARTBEAT_MS} ms interval waited ${Math.round(maxGap)} ms (disposing)` })
  stats.maxGapMs = Math.max(stats.maxGapMs, Math.round(maxGap))
  stats.bystanderBeats = bystanderBeats
  stats.workers = crash.descendantsOf(process.pid).filter((d) => d.comm.startsWith('baml-quickjs')).map(({ pid, start }) => ({ pid, start }))
  process.stdout.write(`FUZZ-RESULT ${JSON.stringify({ stats, failures })}\n`)
}

async function runProgram(p, env) {
  const { BamlContext, rt, others, stats, fail, leaks, slackMs } = env
  let ctx = null
  const controllers = new Set()
  const evaluate = (code, timeoutMs) => {
    const ac = new AbortController()
    controllers.add(ac)
    stats.evaluates++
    return ctx.evaluate(code, { timeoutMs, signal: ac.signal, filename: `fuzz-${p.seed}.js` }).finally(() => controllers.delete(ac))
  }
  const hostFunctions = {
    echo: (...a) => {
      stats.hostCalls++
      if (leaks(a)) fail(p, 'the secret reached a host function', a)
      return a[0]
    },
    reenter: async (code) => evaluate(String(code), 300),
    other: async (code) => others[p.opts.isolation]?.evaluate(String(code), { timeoutMs: 300 }) ?? null,
    slow: (ms) => sleep(Math.min(Number(ms) || 0, 2000)).then(() => ms),
    boom: (m) => {
      throw new Error(`boom ${String(typeof m === 'object' ? JSON.stringify(m) : m).slice(0, 100)}`)
    },
    big: (n) => 'z'.repeat(Math.min(Number(n) || 0, 64 << 20)),
    hostile: (k) => {
      switch (k) {
        case 0: return { get x() { throw new Error('getter') } }
        case 1: return { get x() { ctx.evaluate('1').catch(() => {}); return 1 } }
        case 2: return { get x() { ctx.dispose(); return 2 } }
        case 3: return Promise.reject(Symbol('nope'))
        case 4: { const o = {}; o.o = o; return o }
        default: return new Proxy({}, { ownKeys() { throw new Error('trap') } })
      }
    },
    disposeSelf: () => {
      ctx.dispose()
      return 'disposed'
    },
    abortMe: () => {
      for (const ac of controllers) ac.abort()
      return 'aborted'
    },
  }
  const onConsole = (level, message) => {
    stats.consoleLines++
    if (message.includes(SECRET)) fail(p, 'the secret reached onConsole', message)
    if (p.extra.consoleReenters && ctx && !ctx.disposed) evaluate('1', 100).catch(() => {})
  }
  try {
    ctx = new BamlContext(rt, { ...p.opts, hostFunctions, onConsole, globals: { seed: p.seed, nested: { a: [1, 'two'] } } })
  } catch (e) {
    fail(p, 'the constructor threw', e)
    return
  }
  const bound = p.opts.timeoutMs + slackMs
  const check = async (promise, label, timeoutMs) => {
    const t0 = performance.now()
    let timer
    const hung = new Promise((res) => {
      timer = setTimeout(() => res({ hung: true }), timeoutMs + slackMs)
    })
    const out = await Promise.race([
      promise.then((value) => ({ value }), (error) => ({ error })),
      hung,
    ])
    clearTimeout(timer)
    const took = performance.now() - t0
    stats.maxSettleOverMs = Math.max(stats.maxSettleOverMs, Math.round(took - timeoutMs))
    if (out.hung) {
      fail(p, `${label} did not settle within ${timeoutMs} + ${slackMs} ms`, p.code)
      return out
    }
    const key = out.error ? String(out.error?.code) : 'value'
    stats.outcomes[key] = (stats.outcomes[key] ?? 0) + 1
    if (out.error) {
      const e = out.error
      if (!(e instanceof Error) || !CODES.has(e.code)) fail(p, `${label} rejected with code ${String(e?.code)}`, e)
    }
    if (leaks(out.value) || leaks(out.error)) fail(p, `the secret reached Node through ${label}`, out)
    return out
  }
  const main = check(evaluate(p.code, p.opts.timeoutMs), 'the program', p.opts.timeoutMs)
  const second = p.extra.second ? check(evaluate(p.extra.second, p.opts.timeoutMs), 'the second program', p.opts.timeoutMs) : null
  const node = p.extra.node
  let late = null
  if (node) {
    const at = node.abortAfterMs ?? node.disposeAfterMs ?? node.evaluateAfterMs
    await sleep(at)
    if (node.abortAfterMs !== undefined) for (const ac of controllers) ac.abort()
    if (node.disposeAfterMs !== undefined) ctx.dispose()
    if (node.evaluateAfterMs !== undefined && !ctx.disposed) late = check(evaluate('await 0; 40 + 2', 2000), 'a late evaluate', 2000)
  }
  const outs = await Promise.all([main, second, late])
  if (outs.some((o) => o?.hung)) {
    ctx.dispose()
    return
  }
  if (!ctx.disposed) {
    const after = await check(evaluate('1 + 1', 5000), 'the check afterwards', 5000)
    // A program that tampered with the realm's built-ins (Object.prototype.then makes every
    // evaluation's completion a thenable) only has to get an answer, not 2: the realm is its own.
    const tampered = TAMPERING.some((t) => p.code.includes(t) || p.extra.second?.includes(t))
    if (!after.hung && after.value !== 2 && after.error?.code !== 'SANDBOX_DISPOSED' && !tampered) {
      fail(p, 'the context did not answer 1 + 1 afterwards', after.error ?? after.value)
    }
    try {
      ctx.usage()
      ctx.memoryUsage()
    } catch (e) {
      if (!ctx.disposed) fail(p, 'usage() threw', e)
    }
  }
  ctx.dispose()
}

// ---------------------------------------------------------------------------------------------
// The parent.

function parseArgs(argv) {
  const a = { seconds: 60, programs: Infinity, seed: Date.now() % 1e9, perChild: 40, mode: 'both', slackMs: 4000, verbose: false }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const v = argv[i + 1]
    if (k === '--seconds') (a.seconds = Number(v)), i++
    else if (k === '--programs') (a.programs = Number(v)), i++
    else if (k === '--seed') (a.seed = Number(v)), i++
    else if (k === '--per-child') (a.perChild = Number(v)), i++
    else if (k === '--mode') (a.mode = v), i++
    else if (k === '--slack-ms') (a.slackMs = Number(v)), i++
    else if (k === '--verbose') a.verbose = true
    else if (k === '--print') (a.print = Number(v)), i++
    else if (k === '--child') a.child = JSON.parse(v), i++
    else throw new Error(`unknown argument ${k}`)
  }
  if (!['both', 'process', 'thread'].includes(a.mode)) throw new Error(`--mode must be process, thread or both, not ${a.mode}`)
  return a
}

function runChild(childArgs, hardKillMs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [__filename, '--child', JSON.stringify(childArgs)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const seen = new Map()
    const sample = () => {
      for (const d of crash.descendantsOf(child.pid)) seen.set(`${d.pid}/${d.start}`, { pid: d.pid, start: d.start })
    }
    const sampler = setInterval(sample, 200)
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => {
      err += c
      if (childArgs.verbose) process.stderr.write(c)
    })
    const killer = setTimeout(() => child.kill('SIGKILL'), hardKillMs)
    child.on('exit', async (code, signal) => {
      clearTimeout(killer)
      clearInterval(sampler)
      const line = out.split('\n').find((l) => l.startsWith('FUZZ-RESULT '))
      const result = line ? JSON.parse(line.slice('FUZZ-RESULT '.length)) : null
      for (const w of result?.stats.workers ?? []) seen.set(`${w.pid}/${w.start}`, w)
      const left = await new Promise((res) => setTimeout(() => res(crash.stillThere([...seen.values()])), crash.WORKER_GONE_MS))
      resolve({ code, signal, result, stderr: err.slice(-4000), left, workersSeen: seen.size })
    })
  })
}

async function parentMain(a) {
  const { startMockLlm } = require('../crates/mock_llm/node.js')
  const mock = await startMockLlm()
  await mock.script(MOCK_SCRIPT)
  const net = require('node:net')
  const closed = await new Promise((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })
  const started = Date.now()
  const until = started + a.seconds * 1000
  const total = { children: 0, programs: 0, evaluates: 0, hostCalls: 0, consoleLines: 0, outcomes: {}, maxGapMs: 0, maxSettleOverMs: 0, workersSeen: 0 }
  const failures = []
  let seed = a.seed
  console.log(`fuzzing the sandbox from seed ${a.seed}, ${a.programs === Infinity ? `${a.seconds} s` : `${a.programs} programs`}, mode ${a.mode}, mock ${mock.url}`)
  while (Date.now() < until && total.programs < a.programs) {
    const count = Math.min(a.perChild, a.programs - total.programs)
    const childArgs = { seed, count, mock: mock.url, closed, mode: a.mode, slackMs: a.slackMs, verbose: a.verbose }
    const r = await runChild(childArgs, 30_000 + count * (2000 + a.slackMs) * 3)
    total.children++
    const childFailures = r.result?.failures ?? []
    if (r.code !== 0 || r.signal) childFailures.push({ seed: `${seed}..${seed + count - 1}`, what: `the child ended with ${r.signal ?? `exit code ${r.code}`}`, detail: r.stderr })
    if (!r.result && !r.signal && r.code === 0) childFailures.push({ seed: `${seed}..${seed + count - 1}`, what: 'the child printed no result', detail: r.stderr })
    if (r.left.length) childFailures.push({ seed: `${seed}..${seed + count - 1}`, what: `${r.left.length} worker process(es) outlived the child`, detail: JSON.stringify(r.left) })
    failures.push(...childFailures)
    const s = r.result?.stats
    if (s) {
      total.programs += s.programs
      total.evaluates += s.evaluates
      total.hostCalls += s.hostCalls
      total.consoleLines += s.consoleLines
      total.maxGapMs = Math.max(total.maxGapMs, s.maxGapMs)
      total.maxSettleOverMs = Math.max(total.maxSettleOverMs, s.maxSettleOverMs)
      for (const [k, v] of Object.entries(s.outcomes)) total.outcomes[k] = (total.outcomes[k] ?? 0) + v
    } else {
      total.programs += count
    }
    total.workersSeen += r.workersSeen
    seed += count
    const elapsed = Math.round((Date.now() - started) / 1000)
    console.log(`${elapsed} s: ${total.programs} programs, ${total.evaluates} evaluates, ${failures.length} failures`)
    for (const f of childFailures) console.log(`  FAIL seed ${f.seed}${f.isolation ? ` (${f.isolation})` : ''}: ${f.what}${f.detail ? `\n    ${String(f.detail).slice(0, 800).replaceAll('\n', '\n    ')}` : ''}`)
  }
  await mock.stop()
  console.log('\nsummary')
  console.log(`  seeds            ${a.seed}..${seed - 1}`)
  console.log(`  elapsed          ${Math.round((Date.now() - started) / 1000)} s in ${total.children} child processes (${total.workersSeen} worker processes seen)`)
  console.log(`  programs         ${total.programs} (${total.evaluates} evaluates, ${total.hostCalls} host calls, ${total.consoleLines} console lines)`)
  console.log(`  outcomes         ${Object.entries(total.outcomes).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  console.log(`  Node's max gap   ${total.maxGapMs} ms; latest settle past its timeout ${total.maxSettleOverMs} ms`)
  console.log(`  failures         ${failures.length}`)
  process.exitCode = failures.length ? 1 : 0
}

if (require.main === module) {
  const a = parseArgs(process.argv.slice(2))
  if (a.print !== undefined) {
    const p = program(a.print)
    console.log(`// seed ${p.seed}: ${JSON.stringify(p.opts)} ${JSON.stringify(p.extra)}\n${p.code}`)
  } else if (a.child) {
    childMain(a.child).catch((e) => {
      process.stdout.write(`FUZZ-RESULT ${JSON.stringify({ stats: null, failures: [{ what: 'the child harness threw', detail: String(e && e.stack) }] })}\n`)
      process.exitCode = 2
    })
  } else {
    parentMain(a).catch((e) => {
      console.error(e)
      process.exitCode = 2
    })
  }
}

module.exports = { program, MOCK_SCRIPT }
