// The crash corpus harness (issue 14). Not a spec itself (ava runs only *.spec.js).
//
// Required by __test__/security/crash-*.spec.js, it registers one ava test per case and
// isolation mode; run as a script (`node _crash.js`, the case as JSON on stdin) it is the child
// process that runs one case and prints one `CRASH-RESULT {json}` line.
//
// Every case runs in a fresh Node process with a hard wall-clock kill, once per isolation mode
// it applies to. In the child:
//   - the runtime, the attacked context(s) (the case's options plus `isolation`) and a
//     bystander context (same mode) are created and warmed up;
//   - a 5 ms interval records the longest gap between its ticks (and Node's RSS), from just
//     before the attack until it settles ("attack gap"), then again through the checks
//     afterwards and dispose() ("after gap");
//   - the bystander evaluates a small timer + loop script concurrently with the attack and must
//     answer 42 (and again after the attack): other contexts are unaffected;
//   - the attack runs (`ctx.evaluate(code, { timeoutMs })`, or the case's own `run(H)`), its
//     outcome is recorded: the value, or the error's code, reason, message and fields, and the
//     elapsed time;
//   - the attacked context is checked afterwards: `1 + 1` is 2, or after SANDBOX_CRASHED it is
//     disposed and rejects with SANDBOX_CRASHED or SANDBOX_DISPOSED (in 'process' mode also
//     after SANDBOX_TIMEOUT, when the watchdog killed a worker still busy past the deadline);
//   - everything is disposed, the worker processes the child saw are listed, and the child
//     exits by itself (an exit that hangs or aborts is a failure too).
// In the parent (the spec): Node survived (exit 0, no signal), the outcome's code is one the
// case expects in that mode, the elapsed time is within the case's bound, both gaps are under
// GAP_LIMIT_MS, the bystander got its value, no worker process or zombie is left, and the
// case's own `check` holds. A failure prints the child's stderr and its JSON.
//
// A case (all fields optional except `name` and one of `code`, `run`, `construct`):
//   name        the test title
//   modes       ['process', 'thread'] (default both); 'process' alone for engine failures
//               that only process isolation contains (say why in a comment)
//   expect      the codes accepted, for both modes (an array) or per mode
//               ({ process: [...], thread: [...] }). 'value' means the evaluation resolved;
//               'SANDBOX_ERROR:RangeError' means SANDBOX_ERROR with that jsName.
//   value       when the evaluation resolves, the value it must resolve with (deepEqual)
//   options     ContextOptions for the attacked context (JSON), or `(H) => options` (runs in
//               the child; see "functions" below). `isolation` is added by the harness.
//   hostFunctions  `(H) => ({ name: fn })`, runs in the child
//   onConsole   `(H) => (level, message) => ...`, runs in the child (default: recorded)
//   baml        true: the runtime is the corpus's BAML project (BAML_SOURCE), pointed at the
//               spec's mock LLM server (see useMock)
//   mockScript  the mock's script for this case (default DEFAULT_MOCK_SCRIPT); '$SECRET' in it
//               is replaced by the run's secret
//   code        the attack: evaluated in the attacked context(s)
//   timeoutMs   evaluate()'s timeoutMs (default 10,000)
//   tenants     run `code` in this many attacked contexts at once (default 1)
//   run         `async (H) => value`: a custom attack instead of `code` (runs in the child);
//               its value or error is the outcome
//   construct   true: the attack is the constructor itself (`new BamlContext(rt, options)`):
//               the outcome is what it threw, or 'value' if it returned
//   maxMs       upper bound of the elapsed time (number, or per mode). Default: timeoutMs +
//               TIME_MARGIN_MS when a timeout or crash is expected, else DEFAULT_MAX_MS
//   after       false (or { thread: false }): skip the check of the attacked context
//               afterwards (say why)
//   afterTimeoutMs  the timeout of that check's `1 + 1` (default 5000)
//   bystander   false, or { code, delayMs, maxMs }: the bystander's script (must resolve with
//               an object whose `v` is 42), its start delay and its bound
//   childCheck  `async (H) => any`: runs in the child after the attack; its value is
//               `r.childCheck` in the parent
//   check       `(r, ok, mode, t) => void`: the parent's own checks; `ok(cond, message)`
//   expectExit  the exit code the child must end with (cases that call process.exit)
//   killWith    'SIGKILL' | 'SIGTERM': the parent kills the child when it prints the
//               CRASH-WORKERS line (see H.announceWorkers) and checks its workers are gone
//   wantWorkers true: in 'process' mode at least one worker process must have been seen
//   hardKillMs  the child's wall-clock limit (default HARD_KILL_MS)
//   gapLimitMs  a looser bound on the attack's gap (only for embedder input read synchronously
//               by the constructor; say why)
//
// Functions given to the child (options, hostFunctions, onConsole, run, childCheck) are sent as
// source text and revived there with eval: they must be self-contained arrow functions or
// function expressions (no closures over the spec file; use `H` and `require`). `H` holds:
// rt, ctx (the attacked context), ctxs (all of them), BamlRuntime, BamlContext, mode,
// mockUrl, mockPort, closedPort, secret, state (a scratch object), logs (console output),
// opts(extra) (context options with this mode's isolation), sleep(ms), settle(promise)
// (an outcome object, never throws), descendants() (this process's descendant processes),
// announceWorkers() (prints CRASH-WORKERS with them), require.
'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')

const REPO = path.join(__dirname, '..', '..')

/** Node's 5 ms interval must never wait longer than this between two ticks. */
const GAP_LIMIT_MS = 50
/**
 * Slack on every time bound: the issue asks for "the limit plus 100 ms"; a loaded 2-core CI
 * machine (ava runs spec files side by side) gets another 150 ms.
 */
const TIME_MARGIN_MS = 250
/** Bound on attacks that should end by themselves quickly (stack, memory, refusals). */
const DEFAULT_MAX_MS = 5000
/** The default evaluate() timeout of an attack that should not time out. */
const DEFAULT_TIMEOUT_MS = 10_000
/** The child is SIGKILLed after this long. */
const HARD_KILL_MS = 60_000
/** The bystander's evaluate must settle within this (it sleeps 100 ms and loops briefly). */
const BYSTANDER_MAX_MS = 3000
/** A worker process must be gone this long after the context, or Node, that used it. */
const WORKER_GONE_MS = 2000
/** Crash children running at once across all crash-*.spec.js files (the CI machine has 2 cores). */
const SLOTS = Number(process.env.CRASH_CORPUS_SLOTS) || 1

// 'shared' (each context in a thread-isolated ContextGroup of its own) and 'group' (each in a
// process-isolated ContextGroup of its own: the group's worker) run when asked for:
// CRASH_MODES=process,thread,shared,group. Not by default: another pass over every case makes
// the suite half again as long, and the other spec files ava runs beside it see more load.
const MODES = (process.env.CRASH_MODES || 'process,thread').split(',').filter(Boolean)
/** The isolation a mode's contexts have: a group's cases expect what its isolation does. */
const baseMode = (mode) => ({ shared: 'thread', group: 'process' })[mode] ?? mode
const MiB = 1024 * 1024

const DEFAULT_BYSTANDER = `
  const t0 = Date.now()
  await new Promise((r) => setTimeout(r, 100))
  const late = Date.now() - t0 - 100
  let s = 0
  for (let i = 0; i < 1e5; i++) s += i % 7
  ;({ v: 6 * 7, late, s })`

/** The corpus's BAML project. ${MOCK} is the mock's base URL, ${CLOSED} a closed port. */
const BAML_SOURCE = `
class Person {
  name string
}

client<llm> Mock {
  provider openai
  options {
    model "mock-model"
    api_key "sk-mock-not-secret"
    base_url "\${MOCK}/v1"
  }
}

client<llm> SecretQuery {
  provider openai-generic
  options {
    model "mock-model"
    base_url "\${MOCK}/v1"
    query_params {
      key env.SECRET
    }
  }
}

client<llm> SecretQueryClosed {
  provider openai-generic
  options {
    model "mock-model"
    base_url "http://127.0.0.1:\${CLOSED}/v1"
    query_params {
      key env.SECRET
    }
  }
}

client<llm> SecretHeader {
  provider openai-generic
  options {
    model "mock-model"
    base_url "\${MOCK}/v1"
    headers {
      "x-api-key" env.SECRET
    }
  }
}

client<llm> SecretHeaderClosed {
  provider openai-generic
  options {
    model "mock-model"
    base_url "http://127.0.0.1:\${CLOSED}/v1"
    headers {
      "x-api-key" env.SECRET
    }
  }
}

client<llm> SecretKey {
  provider openai
  options {
    model "mock-model"
    api_key env.SECRET
    base_url "\${MOCK}/v1"
  }
}

client<llm> SecretKeyClosed {
  provider openai
  options {
    model "mock-model"
    api_key env.SECRET
    base_url "http://127.0.0.1:\${CLOSED}/v1"
  }
}

function Summarize(text: string) -> string {
  client Mock
  prompt #"Summarize: {{ text }}"#
}

function Greet(p: Person) -> string {
  client Mock
  prompt #"Greet: {{ p.name }}"#
}

function Extract(text: string) -> Person {
  client Mock
  prompt #"
    Extract: {{ text }}
    {{ ctx.output_format }}
  "#
}

function Slow(text: string) -> string {
  client Mock
  prompt #"SLOW {{ text }}"#
}

function LeakQuery(text: string) -> string {
  client SecretQuery
  prompt #"LEAKQUERY {{ text }}"#
}

function LeakQueryClosed(text: string) -> string {
  client SecretQueryClosed
  prompt #"LEAKQUERYCLOSED {{ text }}"#
}

function LeakHeader(text: string) -> string {
  client SecretHeader
  prompt #"LEAKHEADER {{ text }}"#
}

function LeakHeaderClosed(text: string) -> string {
  client SecretHeaderClosed
  prompt #"LEAKHEADERCLOSED {{ text }}"#
}

function LeakKey(text: string) -> string {
  client SecretKey
  prompt #"LEAKKEY {{ text }}"#
}

function LeakKeyClosed(text: string) -> string {
  client SecretKeyClosed
  prompt #"LEAKKEYCLOSED {{ text }}"#
}

function LeakPromptQuery(text: string) -> Person {
  client SecretQuery
  prompt #"LEAKPROMPT {{ ctx.client }} {{ ctx }} {{ text }} {{ ctx.output_format }}"#
}

function LeakPromptHeader(text: string) -> Person {
  client SecretHeader
  prompt #"LEAKPROMPT {{ ctx.client }} {{ ctx }} {{ text }} {{ ctx.output_format }}"#
}
`

/** The mock's script unless a case gives its own. */
const DEFAULT_MOCK_SCRIPT = {
  rules: [
    { contains: 'SLOW', replies: [{ text: 'slow reply', latency_ms: 3000 }] },
    { contains: 'Extract:', replies: [{ text: '{"name": "Ada"}' }] },
  ],
  default: { text: 'mock reply' },
}

// ---------------------------------------------------------------------------------------------
// /proc helpers (Linux), used by both sides.

/** `{ pid, ppid, state, comm, start }` of every process, or [] where /proc is missing. */
function processTable() {
  let names
  try {
    names = fs.readdirSync('/proc')
  } catch {
    return []
  }
  const out = []
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue
    const p = readStat(Number(name))
    if (p) out.push(p)
  }
  return out
}

function readStat(pid) {
  let text
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  const close = text.lastIndexOf(')')
  const comm = text.slice(text.indexOf('(') + 1, close)
  const fields = text.slice(close + 2).split(' ')
  // fields[0] is field 3 (state); starttime is field 22.
  return { pid, comm, state: fields[0], ppid: Number(fields[1]), start: fields[19] }
}

/** Every process below `root` (children, their children, ...). */
function descendantsOf(root) {
  const table = processTable()
  const byParent = new Map()
  for (const p of table) {
    if (!byParent.has(p.ppid)) byParent.set(p.ppid, [])
    byParent.get(p.ppid).push(p)
  }
  const out = []
  const queue = [root]
  while (queue.length) {
    const pid = queue.shift()
    for (const c of byParent.get(pid) ?? []) {
      out.push(c)
      queue.push(c.pid)
    }
  }
  return out
}

/**
 * The processes of `seen` (`{ pid, start }`) still there. A zombie whose parent is pid 1 has
 * exited and only waits for init (this container's init does not reap orphans), so it does
 * not count; a zombie of any other parent does (its parent did not reap it).
 */
function stillThere(seen) {
  const left = []
  for (const s of seen) {
    const now = readStat(s.pid)
    if (!now || now.start !== s.start) continue
    if (now.state === 'Z' && now.ppid === 1) continue
    left.push(now)
  }
  return left
}

async function waitGone(seen, ms = WORKER_GONE_MS) {
  const until = Date.now() + ms
  for (;;) {
    const left = stillThere(seen)
    if (left.length === 0 || Date.now() > until) return left
    await new Promise((r) => setTimeout(r, 50))
  }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers.

function clip(s, n = 2000) {
  if (typeof s !== 'string') return s
  return s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s
}

/** A JSON-able summary of a value (small values kept whole). */
function summarize(v) {
  if (v === undefined) return { undefined: true }
  let text
  try {
    text = JSON.stringify(v)
  } catch (e) {
    return { unserializable: String(e && e.message) }
  }
  if (text === undefined) return { unserializable: typeof v }
  if (text.length <= 200_000) return { json: JSON.parse(text) }
  return { clipped: clip(text, 2000), length: text.length }
}

const ERROR_KEYS = [
  'code', 'reason', 'name', 'jsName', 'timeoutMs', 'limitBytes', 'path', 'statusCode', 'clientName',
  'finishReason',
]
const LONG_ERROR_KEYS = ['message', 'jsStack', 'stack', 'rawOutput', 'rawResponse', 'prompt', 'detailedMessage']

function describeError(e) {
  if (e === null || (typeof e !== 'object' && typeof e !== 'function')) {
    return { code: undefined, thrownNonError: String(e) }
  }
  const out = {}
  for (const k of ERROR_KEYS) {
    try {
      if (e[k] !== undefined) out[k] = typeof e[k] === 'string' ? clip(e[k], 500) : e[k]
    } catch {}
  }
  for (const k of LONG_ERROR_KEYS) {
    try {
      if (e[k] !== undefined) out[k] = clip(String(e[k]), 2000)
    } catch {}
  }
  try {
    out.ownKeys = Object.getOwnPropertyNames(e)
  } catch {}
  return out
}

/** Every string reachable from `v` on the Node side (own properties, also non-enumerable). */
function allStrings(v, depth = 0, seen = new Set(), out = []) {
  if (depth > 6 || v === null || v === undefined) return out
  if (typeof v === 'string') {
    out.push(v)
    return out
  }
  if (typeof v !== 'object' && typeof v !== 'function') {
    out.push(String(v))
    return out
  }
  if (seen.has(v)) return out
  seen.add(v)
  try {
    out.push(String(v))
  } catch {}
  for (const k of Reflect.ownKeys(v)) {
    try {
      out.push(String(k))
      allStrings(v[k], depth + 1, seen, out)
    } catch {}
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// The child: runs one case in one mode and prints CRASH-RESULT.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function revive(src) {
  // Direct eval: the revived function sees this module's `require`.
  // eslint-disable-next-line no-eval
  return src == null ? undefined : eval(`(${src})`)
}

/**
 * A resolved value, summarized only when the result is printed (after the gap meter stopped:
 * stringifying a big result in the harness must not count as Node being blocked).
 */
class Lazy {
  constructor(v) {
    this.json = v
  }

  toJSON() {
    return summarize(this.json)
  }
}

/** Resolves with `{ ok, value | error fields, elapsedMs }`; `HUNG` after `hangMs`. */
async function settle(promise, hangMs = 45_000) {
  const t0 = performance.now()
  let timer
  const hung = new Promise((r) => {
    timer = setTimeout(() => r({ ok: false, code: 'HUNG', message: `did not settle within ${hangMs} ms` }), hangMs)
    timer.unref?.()
  })
  const done = Promise.resolve(promise).then(
    (value) => ({ ok: true, value: new Lazy(value) }),
    (error) => ({ ok: false, ...describeError(error) }),
  )
  const out = await Promise.race([done, hung])
  clearTimeout(timer)
  out.elapsedMs = Math.round((performance.now() - t0) * 10) / 10
  return out
}

function closedPort() {
  const net = require('node:net')
  return new Promise((resolve) => {
    const srv = net.createServer()
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

async function childMain() {
  const chunks = []
  for await (const c of process.stdin) chunks.push(c)
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  const kase = input.kase
  const mode = input.mode
  const result = { mode, name: kase.name, secret: input.secret, notes: [] }
  const unhandled = []
  process.on('unhandledRejection', (e) => unhandled.push(clip(String(e && (e.stack || e.message || e)), 500)))

  const { BamlRuntime, BamlContext, ContextGroup } = require(REPO)
  // 'shared' and 'group': each context in a ContextGroup of its own (a shared runtime's code
  // paths, in thread or process isolation), its memory and stack limits moved onto the group.
  const isolate = (o) => {
    if (mode !== 'shared' && mode !== 'group') return { ...o, isolation: mode }
    const { memoryLimitBytes, maxStackBytes, isolation, ...rest } = o
    const groupIsolation = mode === 'shared' ? 'thread' : 'process'
    // A context's default limit, not a group's (256 MiB): the cases' bounds assume it.
    const limits = { isolation: groupIsolation, memoryLimitBytes: memoryLimitBytes ?? 64 * 1024 * 1024 }
    if (maxStackBytes !== undefined) limits.maxStackBytes = maxStackBytes
    let group
    try {
      group = new ContextGroup(limits)
    } catch {
      // Bad limits: let the context's constructor report them as it would.
      return { ...o, isolation: groupIsolation, sharing: 'runtime' }
    }
    return { ...rest, group }
  }
  const seenWorkers = new Map()
  const sampleWorkers = () => {
    for (const p of descendantsOf(process.pid)) {
      seenWorkers.set(`${p.pid}/${p.start}`, { pid: p.pid, start: p.start, comm: p.comm })
    }
  }
  const H = {
    mode,
    mockUrl: input.mockUrl,
    mockPort: input.mockPort,
    secret: input.secret,
    closedPort: await closedPort(),
    BamlRuntime,
    BamlContext,
    require,
    state: {},
    logs: [],
    logCount: 0,
    sleep,
    settle,
    opts: (extra = {}) => isolate(extra),
    descendants: () => descendantsOf(process.pid),
    announceWorkers() {
      sampleWorkers()
      process.stdout.write(`CRASH-WORKERS ${JSON.stringify([...seenWorkers.values()])}\n`)
    },
  }
  H.baml = () =>
    BamlRuntime.fromFiles({
      'main.baml': BAML_SOURCE.replaceAll('${MOCK}', H.mockUrl ?? 'http://127.0.0.1:9').replaceAll('${CLOSED}', String(H.closedPort)),
    })
  H.rt = kase.baml ? H.baml() : BamlRuntime.fromFiles({})

  const options = typeof kase.options === 'string' ? revive(kase.options)(H) : kase.options ?? {}
  const hostFactory = revive(kase.hostFunctions)
  const consoleFactory = revive(kase.onConsole)
  const defaultConsole = (level, message) => {
    H.logCount++
    if (H.logs.length < 50) H.logs.push([level, clip(message, 300)])
  }
  const makeOptions = () => {
    const o = isolate(options)
    const hf = hostFactory ? hostFactory(H) : undefined
    if (hf) o.hostFunctions = hf
    o.onConsole = consoleFactory ? consoleFactory(H) : defaultConsole
    return o
  }

  // The gap meter: a 5 ms interval; `phase()` returns the longest gap since the last call.
  // Where Linux reports it (/proc/<pid>/schedstat of Node's main thread), the longest gap is
  // split into the time Node's thread ran, waited for a CPU while ready to run, and was
  // blocked (asleep or on a lock) — reported in `gapParts`, for diagnosis only.
  const schedstat = () => {
    try {
      const [run, wait] = fs.readFileSync(`/proc/${process.pid}/schedstat`, 'utf8').split(' ').map(Number)
      return { run: run / 1e6, wait: wait / 1e6 }
    } catch {
      return null
    }
  }
  let last = performance.now()
  let lastSched = schedstat()
  let maxGap = 0
  let maxParts = null
  let ticks = 0
  let baseRss = process.memoryUsage.rss()
  let maxRss = baseRss
  const gapParts = (gap, before, after) => {
    if (!before || !after) return null
    const ran = after.run - before.run
    const waited = after.wait - before.wait
    const r = (x) => Math.round(x * 10) / 10
    return { ran: r(ran), waitedForCpu: r(waited), blocked: r(Math.max(0, gap - ran - waited)) }
  }
  const interval = setInterval(() => {
    const now = performance.now()
    const sched = schedstat()
    if (now - last > maxGap) {
      maxGap = now - last
      maxParts = gapParts(maxGap, lastSched, sched)
    }
    last = now
    lastSched = sched
    ticks++
    const rss = process.memoryUsage.rss()
    if (rss > maxRss) maxRss = rss
  }, 5)
  const phase = (name) => {
    const now = performance.now()
    let g = maxGap
    let parts = maxParts
    if (now - last > g) {
      g = now - last
      parts = gapParts(g, lastSched, schedstat())
    }
    if (name) result.gapParts = { ...result.gapParts, [name]: parts }
    maxGap = 0
    maxParts = null
    return Math.round(g * 10) / 10
  }

  // Setup: the bystander first (so an attacked constructor that throws still has one).
  let bystander = null
  if (kase.bystander !== false) {
    bystander = new BamlContext(H.rt, isolate({ timeoutMs: 20_000 }))
    result.bystanderWarm = await settle(bystander.evaluate('0'), 30_000)
  }
  const tenants = kase.tenants ?? 1
  const evalTimeout = kase.timeoutMs ?? DEFAULT_TIMEOUT_MS
  let attack
  if (kase.construct) {
    await sleep(20)
    phase()
    baseRss = maxRss = process.memoryUsage.rss()
    const t0 = performance.now()
    try {
      const o = makeOptions()
      const c = new BamlContext(H.rt, o)
      H.ctx = c
      H.ctxs = [c]
      attack = { ok: true, value: new Lazy('constructed') }
    } catch (e) {
      attack = { ok: false, ...describeError(e) }
    }
    attack.elapsedMs = Math.round((performance.now() - t0) * 10) / 10
    await sleep(20)
  } else {
    H.ctxs = []
    for (let i = 0; i < tenants; i++) {
      try {
        H.ctxs.push(new BamlContext(H.rt, makeOptions()))
      } catch (e) {
        result.setupError = describeError(e)
        break
      }
    }
    H.ctx = H.ctxs[0]
    if (!result.setupError && kase.warmup !== false) {
      result.warm = await Promise.all(H.ctxs.map((c) => settle(c.evaluate('0'), 30_000)))
    }
  }
  sampleWorkers()
  result.workersBefore = [...seenWorkers.values()]

  // The attack, with the bystander beside it.
  let bystanderP = null
  const by = kase.bystander || {}
  if (bystander) {
    bystanderP = (async () => {
      if (by.delayMs) await sleep(by.delayMs)
      return settle(bystander.evaluate(by.code ?? DEFAULT_BYSTANDER, { timeoutMs: 15_000 }), 30_000)
    })()
  }
  if (!kase.construct && !result.setupError) {
    await sleep(10)
    phase()
    baseRss = maxRss = process.memoryUsage.rss()
    if (kase.run) {
      const run = revive(kase.run)
      attack = await settle(run(H), kase.hangMs ?? 50_000)
    } else {
      const outs = await Promise.all(
        H.ctxs.map((c) => settle(c.evaluate(kase.code, { timeoutMs: evalTimeout }), kase.hangMs ?? evalTimeout + 40_000)),
      )
      attack = outs[0]
      if (outs.length > 1) result.tenantOutcomes = outs
    }
  }
  result.attack = attack
  result.gapAttackMs = phase('attack')
  // The attack's own value (tens of MB of result in Node's heap for some cases) is garbage
  // now: V8 collects it here, so that its pause for the test's own data is not counted
  // against the checks and the dispose measured next (it is reported as `gcMs`).
  if (typeof global.gc === 'function') {
    const t0 = performance.now()
    global.gc()
    result.gcMs = Math.round((performance.now() - t0) * 10) / 10
    await sleep(10)
    phase()
  }
  result.ticksAttack = ticks
  result.rssGrowthMb = Math.round((maxRss - baseRss) / MiB)
  sampleWorkers()

  // The attacked context afterwards.
  const afterWanted = kase.after && typeof kase.after === 'object' ? (kase.after[mode] ?? kase.after[baseMode(mode)]) !== false : kase.after !== false
  if (!kase.construct && !result.setupError && afterWanted) {
    result.after = []
    const afterTimeout = kase.afterTimeoutMs ?? 5000
    for (const c of H.ctxs) {
      const a = { disposedBefore: c.disposed }
      const o = await settle(c.evaluate('1 + 1', { timeoutMs: afterTimeout }), afterTimeout + 15_000)
      Object.assign(a, o.ok ? { value: o.value.json } : { code: o.code, message: clip(o.message, 300) })
      a.disposed = c.disposed
      result.after.push(a)
    }
  }
  if (bystanderP) {
    result.bystander = await bystanderP
    result.bystanderAfter = await settle(bystander.evaluate('6 * 7', { timeoutMs: 10_000 }), 30_000)
  }
  if (kase.childCheck) {
    try {
      result.childCheck = await revive(kase.childCheck)(H)
    } catch (e) {
      result.childCheck = { threw: describeError(e) }
    }
  }

  // Dispose everything (each dispose() is synchronous on Node's thread: time it).
  const disposeMs = []
  for (const c of [...(H.ctxs ?? []), bystander].filter(Boolean)) {
    const t0 = performance.now()
    try {
      c.dispose()
    } catch (e) {
      result.disposeError = describeError(e)
    }
    disposeMs.push(Math.round((performance.now() - t0) * 10) / 10)
  }
  result.disposeMs = disposeMs
  await sleep(30)
  result.gapAfterMs = phase('after')
  clearInterval(interval)
  result.logCount = H.logCount
  result.logs = H.logs.slice(0, 5)

  // Zombies: children of this process that exited and were not reaped.
  sampleWorkers()
  const until = Date.now() + WORKER_GONE_MS
  let zombies
  for (;;) {
    zombies = descendantsOf(process.pid).filter((p) => p.state === 'Z')
    if (zombies.length === 0 || Date.now() > until) break
    await sleep(50)
  }
  result.zombies = zombies
  result.workersSeen = [...seenWorkers.values()]
  result.workersAfterDispose = descendantsOf(process.pid).filter((p) => p.state !== 'Z')
  result.unhandled = unhandled
  process.stdout.write(`CRASH-RESULT ${JSON.stringify(result)}\n`)
  // Exit by itself. Something keeping the loop alive is reported as exit code 3.
  setTimeout(() => {
    process.stderr.write('crash child: still alive 15 s after its result (something keeps the loop alive)\n')
    process.exit(3)
  }, 15_000).unref()
}

// ---------------------------------------------------------------------------------------------
// The parent: ava tests.

const LOCK_ROOT = path.join(os.tmpdir(), 'baml-quickjs-crash-corpus')

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e.code === 'EPERM'
  }
}

/** Runs `fn` holding one of SLOTS machine-wide slots (a directory lock with the holder's pid). */
async function withSlot(fn) {
  fs.mkdirSync(LOCK_ROOT, { recursive: true })
  const give = Date.now() + 5 * 60_000
  for (;;) {
    for (let i = 0; i < SLOTS; i++) {
      const dir = path.join(LOCK_ROOT, `slot-${i}`)
      try {
        fs.mkdirSync(dir)
      } catch {
        let holder = 0
        try {
          holder = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'))
        } catch {}
        if (holder && !alive(holder)) fs.rmSync(dir, { recursive: true, force: true })
        continue
      }
      fs.writeFileSync(path.join(dir, 'pid'), String(process.pid))
      try {
        return await fn()
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }
    if (Date.now() > give) return fn()
    await sleep(25 + Math.random() * 50)
  }
}

/** Spawns the child for `kase` in `mode`; resolves with everything it did. */
function spawnChild(kase, mode, extra) {
  const input = {
    mode,
    kase: serializeCase(kase),
    mockUrl: extra.mock?.url,
    mockPort: extra.mock?.port,
    secret: extra.secret,
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', __filename], {
      cwd: REPO,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, CRASH_CORPUS_CHILD: '1' },
    })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    let workers = null
    let killedBy = null
    const started = Date.now()
    const hard = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, kase.hardKillMs ?? HARD_KILL_MS)
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (d) => {
      if (stdout.length < 4 * MiB) stdout += d
      if (kase.killWith && workers === null) {
        const m = /^CRASH-WORKERS (.*)$/m.exec(stdout)
        if (m) {
          workers = JSON.parse(m[1])
          killedBy = kase.killWith
          child.kill(kase.killWith)
        }
      }
    })
    child.stderr.on('data', (d) => {
      if (stderr.length < MiB) stderr += d
    })
    child.on('error', (e) => {
      stderr += `\nspawn error: ${e.message}`
    })
    child.on('close', (status, signal) => {
      clearTimeout(hard)
      const m = /^CRASH-RESULT (.*)$/m.exec(stdout)
      let json = null
      if (m) {
        try {
          json = JSON.parse(m[1])
        } catch (e) {
          stderr += `\nunparsable CRASH-RESULT: ${e.message}`
        }
      }
      if (!workers) {
        const w = /^CRASH-WORKERS (.*)$/m.exec(stdout)
        if (w) workers = JSON.parse(w[1])
      }
      resolve({ status, signal, timedOut, killedBy, stdout, stderr, json, workers, wallMs: Date.now() - started, pid: child.pid })
    })
    child.stdin.end(JSON.stringify(input))
  })
}

const FUNCTION_FIELDS = ['options', 'hostFunctions', 'onConsole', 'run', 'childCheck']

function serializeCase(kase) {
  const out = {}
  for (const [k, v] of Object.entries(kase)) {
    if (k === 'check') continue
    if (typeof v === 'function') {
      if (!FUNCTION_FIELDS.includes(k)) throw new Error(`case ${kase.name}: ${k} cannot be a function`)
      out[k] = v.toString()
    } else {
      out[k] = v
    }
  }
  return out
}

function expectedFor(kase, mode) {
  const e = kase.expect
  if (Array.isArray(e)) return e
  // A group expects what its isolation does unless told.
  if (e && typeof e === 'object') return e[mode] ?? e[baseMode(mode)] ?? []
  return []
}

function boundFor(v, mode) {
  if (v === undefined || v === null) return undefined
  return typeof v === 'object' ? v[mode] ?? v[baseMode(mode)] : v
}

function matches(outcome, token) {
  if (token === 'value') return outcome.ok === true
  if (outcome.ok) return false
  const [code, jsName] = token.split(':')
  return outcome.code === code && (!jsName || outcome.jsName === jsName)
}

function outcomeLabel(o) {
  if (!o) return 'no outcome'
  if (o.ok) return `value ${clip(JSON.stringify(o.value), 200)}`
  return `${o.code}${o.jsName ? `:${o.jsName}` : ''} (${clip(o.message ?? o.thrownNonError ?? '', 300)})`
}

/** Every assertion of one run; returns the list of failures. */
function verify(kase, mode, r, extraChecks) {
  const failures = []
  const ok = (cond, message) => {
    if (!cond) failures.push(message)
  }
  const expectExit = kase.expectExit ?? 0
  ok(!r.timedOut, `the child was still running after ${kase.hardKillMs ?? HARD_KILL_MS} ms and was killed`)
  if (kase.killWith) {
    ok(r.killedBy === kase.killWith, `the child never printed CRASH-WORKERS (status ${r.status}, signal ${r.signal})`)
  } else {
    ok(r.signal === null, `Node died of ${r.signal}`)
    ok(r.status === expectExit, `Node exited with status ${r.status}, expected ${expectExit}`)
  }
  const j = r.json
  const wantsJson = !kase.killWith && kase.expectExit === undefined
  if (wantsJson) ok(j !== null, 'no CRASH-RESULT line')
  if (j) {
    ok(!j.harnessError, `the harness failed in the child: ${j.harnessError}`)
    ok(!j.setupError, `setting up the attacked context failed: ${JSON.stringify(j.setupError)}`)
    for (const w of j.warm ?? []) ok(w.ok, `warm-up failed: ${outcomeLabel(w)}`)
    const expected = expectedFor(kase, mode)
    const outcomes = j.tenantOutcomes ?? (j.attack ? [j.attack] : [])
    outcomes.forEach((o, i) => {
      const who = outcomes.length > 1 ? `tenant ${i}: ` : ''
      ok(expected.some((tok) => matches(o, tok)), `${who}expected ${expected.join(' | ')}, got ${outcomeLabel(o)}`)
      if (o.ok && kase.value !== undefined) {
        ok(JSON.stringify(o.value.json) === JSON.stringify(kase.value), `${who}resolved with ${JSON.stringify(o.value)}, expected ${JSON.stringify(kase.value)}`)
      }
      if (!o.ok && o.code === 'SANDBOX_CRASHED') {
        ok(typeof o.reason === 'string' && o.reason.length > 0, `${who}SANDBOX_CRASHED without a reason`)
      }
      if (!o.ok && o.code === 'SANDBOX_TIMEOUT' && kase.timeoutMs && !kase.run) {
        ok(o.elapsedMs >= kase.timeoutMs * 0.95 - 5, `${who}SANDBOX_TIMEOUT after ${o.elapsedMs} ms, well before the limit of ${kase.timeoutMs} ms`)
      }
      const expectsLimit = expected.some((tok) => /TIMEOUT|CRASHED/.test(tok))
      const maxMs =
        boundFor(kase.maxMs, mode) ??
        (expectsLimit && kase.timeoutMs ? kase.timeoutMs + TIME_MARGIN_MS : DEFAULT_MAX_MS)
      ok(o.elapsedMs <= maxMs, `${who}settled after ${o.elapsedMs} ms, bound ${maxMs} ms`)
    })
    if (j.after) {
      j.after.forEach((a, i) => {
        const o = outcomes[i] ?? outcomes[0]
        const crashed = o && !o.ok && o.code === 'SANDBOX_CRASHED'
        // In 'process' mode an evaluation settles with SANDBOX_TIMEOUT at its deadline, and a
        // worker still busy past it (a built-in that never polls) is killed a little later:
        // the context is then crashed for the check afterwards.
        const killedAfterTimeout =
          baseMode(mode) === 'process' && o && !o.ok && o.code === 'SANDBOX_TIMEOUT' &&
          a.code === 'SANDBOX_CRASHED' && a.disposed === true && /deadline/.test(a.message ?? '')
        if (killedAfterTimeout) {
          // nothing more to check: the crash names the deadline
        } else if (crashed || a.disposedBefore) {
          ok(a.disposedBefore === true, `context ${i}: not disposed after ${o.code}`)
          ok(a.code === 'SANDBOX_CRASHED' || a.code === 'SANDBOX_DISPOSED', `context ${i} afterwards: expected SANDBOX_CRASHED or SANDBOX_DISPOSED, got ${a.code ?? JSON.stringify(a.value)}`)
        } else {
          ok(a.value === 2, `context ${i} afterwards: 1 + 1 gave ${a.code ? `${a.code} ${a.message}` : JSON.stringify(a.value)}`)
        }
      })
    }
    const gapLimit = kase.gapLimitMs ?? GAP_LIMIT_MS
    const parts = (p) => (p ? `; Node's thread ran ${p.ran} ms, waited ${p.waitedForCpu} ms for a CPU, was blocked ${p.blocked} ms` : '')
    ok(j.gapAttackMs < gapLimit, `Node's 5 ms interval waited ${j.gapAttackMs} ms during the attack (limit ${gapLimit}${parts(j.gapParts?.attack)})`)
    ok(j.gapAfterMs < GAP_LIMIT_MS, `Node's 5 ms interval waited ${j.gapAfterMs} ms after the attack (checks and dispose; limit ${GAP_LIMIT_MS}${parts(j.gapParts?.after)})`)
    if (kase.bystander !== false) {
      const b = j.bystander
      const bMax = kase.bystander?.maxMs ?? BYSTANDER_MAX_MS
      ok(b && b.ok && b.value.json && b.value.json.v === 42, `the bystander context did not answer 42: ${outcomeLabel(b)}`)
      ok(b && b.elapsedMs <= bMax, `the bystander took ${b?.elapsedMs} ms (bound ${bMax})`)
      ok(j.bystanderAfter?.ok && j.bystanderAfter.value.json === 42, `the bystander afterwards: ${outcomeLabel(j.bystanderAfter)}`)
    }
    ok(!j.disposeError, `dispose() threw: ${JSON.stringify(j.disposeError)}`)
    ok((j.zombies ?? []).length === 0, `zombie children left: ${JSON.stringify(j.zombies)}`)
    if (kase.wantWorkers && baseMode(mode) === 'process') {
      ok((j.workersSeen ?? []).length > 0, "no worker process was seen in 'process' mode")
    }
  }
  if (kase.wantWorkers && baseMode(mode) === 'process' && kase.killWith) {
    ok((r.workers ?? []).length > 0, "no worker process was seen in 'process' mode")
  }
  extraChecks(ok)
  if (j && kase.check) kase.check(j, ok, mode, r)
  return failures
}

/** ' (ran/waited for a CPU/blocked: a/b/c ms, ...)' for the gaps' parts, when known. */
function gapPartsLabel(parts) {
  const show = (p) => (p ? `${p.ran}/${p.waitedForCpu}/${p.blocked}` : '?')
  if (!parts || (!parts.attack && !parts.after)) return ''
  return ` (ran/waited for a CPU/blocked ${show(parts.attack)} and ${show(parts.after)} ms)`
}

/**
 * Registers the cases: one serial ava test per case and mode.
 * `extra.mock()` returns the spec's mock server (see useMock), if the cases need one.
 */
function defineCases(test, cases, extra = {}) {
  for (const kase of cases) {
    // A case for some modes also runs in the groups of those modes' isolations, when asked for.
    const modes = kase.modes
      ? [...kase.modes, ...MODES.filter((m) => baseMode(m) !== m && kase.modes.includes(baseMode(m)) && !kase.modes.includes(m))]
      : MODES
    for (const mode of modes) {
      test.serial(`[${mode}] ${kase.name}`, async (t) => {
        t.timeout(kase.testTimeoutMs ?? 3 * 60_000)
        const mock = extra.mock?.()
        const secret = `sk-SECRET-${require('node:crypto').randomBytes(12).toString('hex')}`
        if (mock) {
          const script = JSON.parse(JSON.stringify(kase.mockScript ?? DEFAULT_MOCK_SCRIPT).replaceAll('$SECRET', secret))
          await mock.script(script)
        }
        const r = await withSlot(() => spawnChild(kase, mode, { mock, secret }))
        // Worker processes the child saw must be gone once it is (dead or exited).
        const seen = [...(r.json?.workersSeen ?? []), ...(r.workers ?? [])]
        const left = await waitGone(seen)
        r.workersLeft = left
        const failures = verify(kase, mode, r, (ok) => {
          ok(left.length === 0, `worker processes left ${WORKER_GONE_MS} ms after Node ${kase.killWith ? `got ${kase.killWith}` : 'exited'}: ${JSON.stringify(left)}`)
        })
        const o = r.json?.attack
        t.log(
          `${outcomeLabel(o)} in ${o?.elapsedMs ?? '?'} ms; gaps ${r.json?.gapAttackMs ?? '?'}/${r.json?.gapAfterMs ?? '?'} ms${gapPartsLabel(r.json?.gapParts)}; ` +
            `rss +${r.json?.rssGrowthMb ?? '?'} MB; bystander ${r.json?.bystander?.elapsedMs ?? '-'} ms; workers ${r.json?.workersSeen?.length ?? r.workers?.length ?? 0}; ` +
            `exit ${r.status}${r.signal ? ` ${r.signal}` : ''} after ${r.wallMs} ms`,
        )
        if (r.note) t.log(r.note)
        if (failures.length) {
          t.log(`child stderr (tail):\n${r.stderr.slice(-4000) || '(empty)'}`)
          t.log(`child result: ${r.json ? clip(JSON.stringify(r.json), 6000) : clip(r.stdout, 2000) || '(none)'}`)
          t.fail(failures.join('\n'))
        } else {
          t.pass()
        }
      })
    }
  }
}

/** Starts a mock LLM server for the spec file; returns a getter for it. */
function useMock(test) {
  let mock
  test.before(async () => {
    const { startMockLlm } = require('../../crates/mock_llm/node.js')
    mock = await startMockLlm()
  })
  test.after.always(async () => {
    await mock?.stop()
  })
  return () => mock
}

module.exports = {
  MODES,
  defineCases,
  spawnChild,
  verify,
  useMock,
  allStrings,
  descendantsOf,
  stillThere,
  GAP_LIMIT_MS,
  TIME_MARGIN_MS,
  DEFAULT_MAX_MS,
  HARD_KILL_MS,
  WORKER_GONE_MS,
  MiB,
  BAML_SOURCE,
  DEFAULT_MOCK_SCRIPT,
}

if (require.main === module) {
  childMain().catch((e) => {
    process.stdout.write(`CRASH-RESULT ${JSON.stringify({ harnessError: String(e && e.stack) })}\n`)
    process.exitCode = 2
  })
}
