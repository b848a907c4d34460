// Side-by-side benchmarks: baml-quickjs against quickjs-emscripten (sync release variant),
// isolated-vm and Node's vm module. Run with `npm run bench` (release build).
//
// Every timing is the median of several samples, each the mean of a batch. Memory per live
// context is measured in a fresh process per engine (RSS delta over 1,000 live contexts).
const { execFileSync } = require('node:child_process')
const path = require('node:path')
const os = require('node:os')

const ROOT = path.join(__dirname, '..')
const peers = {}
try { peers.qjs = require(path.join(__dirname, 'node_modules', 'quickjs-emscripten')) } catch {}
try { peers.ivm = require(path.join(__dirname, 'node_modules', 'isolated-vm')) } catch {}
const nodeVm = require('node:vm')
const { BamlRuntime, BamlContext } = require(ROOT)
const { callsSuite, printCalls } = require('./calls.js')

const now = () => process.hrtime.bigint()
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Median over `samples` of the mean µs per op in a batch of `batch` runs of `fn`. */
async function measure(fn, { batch = 200, samples = 15, warmup = 2 } = {}) {
  const results = []
  for (let s = 0; s < samples + warmup; s++) {
    const t0 = now()
    for (let i = 0; i < batch; i++) await fn()
    const us = Number(now() - t0) / 1000 / batch
    if (s >= warmup) results.push(us)
  }
  return median(results)
}

function measureSync(fn, opts) {
  return measure(fn, opts)
}

// ---- engines -------------------------------------------------------------------------------
//
// Each engine has `create()` (creation costs, measured on their own) and `latency()`, which
// sets up one live context and returns `{ eval, host, close }`: `eval` runs `1+1` once, `host`
// runs a script of 100 awaited host calls. The latency rows are measured interleaved: in each
// round every engine runs one batch, in a rotating order, so that all of them see the same
// machine (on a small VM whose idle CPUs halt, a thread hop costs anywhere from 10 to 90 µs
// depending on what else runs; measured one engine after another, that noise decides the
// ratios).

/**
 * baml-quickjs in one isolation mode ('process', the default, or 'thread'), or contexts sharing
 * one QuickJS runtime (`sharing: 'runtime'`): 'shared' in thread isolation, 'group' in process
 * isolation (the group's runtime in a worker process of its own).
 */
function oursSuite(mode) {
  const rt = BamlRuntime.fromFiles({})
  const isolation = { shared: 'thread', group: 'process' }[mode] ?? mode
  const options = mode === 'shared' || mode === 'group' ? { sharing: 'runtime', isolation } : { isolation }
  return {
    async create() {
      // The constructor returns before the runtime exists (it is created off Node's thread, in
      // a worker process or on a sandbox thread): creation as Node's thread pays for it, then
      // creation up to a first answer.
      const create = await measureSync(() => new BamlContext(rt, options).dispose(), { batch: 200 })
      const firstEval = await measure(async () => {
        const c = new BamlContext(rt, options)
        await c.evaluate('1')
        c.dispose()
      }, { batch: mode === 'process' ? 20 : 200 })
      // Cold: no runtime prepared ahead (BAML_QUICKJS_SPARES=0), measured in a child process.
      const coldEval = mode === 'process' ? firstEval : coldFirstEval(options)
      // A request arriving on a quiet machine: 2 ms after the last one, median of 200.
      const spaced = []
      for (let i = 0; i < 200; i++) {
        await new Promise((r) => setTimeout(r, 2))
        const t0 = now()
        const c = new BamlContext(rt, options)
        await c.evaluate('1')
        spaced.push(Number(now() - t0) / 1000)
        c.dispose()
      }
      return { create, firstEval, coldEval, spacedEval: median(spaced) }
    },
    async latency() {
      const ctx = new BamlContext(rt, { ...options, hostFunctions: { f: () => 1 } })
      await ctx.evaluate('1')
      return {
        eval: () => ctx.evaluate('1+1'),
        host: () => ctx.evaluate('for (let i = 0; i < 100; i++) await f(); 1'),
        close: () => ctx.dispose(),
      }
    },
  }
}

/** Create, evaluate("1"), dispose, with no prepared runtimes: in a child process (the pool's size is read once). */
function coldFirstEval(options) {
  const script = `const { BamlRuntime, BamlContext } = require(${JSON.stringify(ROOT)}); const rt = BamlRuntime.fromFiles({});
    const now = () => process.hrtime.bigint(); const out = []
    ;(async () => {
      for (let s = 0; s < 17; s++) {
        const t0 = now()
        for (let i = 0; i < 200; i++) { const c = new BamlContext(rt, ${JSON.stringify(options)}); await c.evaluate('1'); c.dispose() }
        if (s >= 2) out.push(Number(now() - t0) / 1000 / 200)
      }
      out.sort((a, b) => a - b)
      console.log(JSON.stringify({ us: out[Math.floor(out.length / 2)] }))
    })()`
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, BAML_QUICKJS_SPARES: '0' } })
  return JSON.parse(out.trim().split('\n').pop()).us
}

/** Peers: create, evaluate, dispose 2 ms after the last request (their `create()` timing function, one at a time). */
async function spacedFirstEval(suite) {
  if (!suite.once) return undefined
  const xs = []
  for (let i = 0; i < 200; i++) {
    await new Promise((r) => setTimeout(r, 2))
    const t0 = now()
    await suite.once()
    xs.push(Number(now() - t0) / 1000)
  }
  return median(xs)
}

function qjsSuite() {
  let QuickJS
  const load = async () => (QuickJS = QuickJS || (await peers.qjs.getQuickJS())) // the sync release variant
  return {
    async create() {
      await load()
      const create = await measureSync(() => QuickJS.newContext().dispose(), { batch: 200 })
      this.once = () => {
        const c = QuickJS.newContext()
        c.unwrapResult(c.evalCode('1')).dispose()
        c.dispose()
      }
      const firstEval = await measureSync(() => {
        const c = QuickJS.newContext()
        c.unwrapResult(c.evalCode('1')).dispose()
        c.dispose()
      }, { batch: 200 })
      return { create, firstEval }
    },
    async latency() {
      await load()
      const vm = QuickJS.newContext()
      const f = vm.newFunction('f', () => {
        const d = vm.newPromise()
        Promise.resolve().then(() => {
          d.resolve(vm.newNumber(1))
          d.dispose()
          vm.runtime.executePendingJobs()
        })
        return d.handle
      })
      vm.setProp(vm.global, 'f', f)
      f.dispose()
      return {
        eval: () => {
          const r = vm.evalCode('1+1')
          const h = vm.unwrapResult(r)
          const v = vm.getNumber(h)
          h.dispose()
          return v
        },
        host: async () => {
          const p = vm.unwrapResult(vm.evalCode('(async () => { for (let i = 0; i < 100; i++) await f(); return 1 })()'))
          const settled = vm.resolvePromise(p)
          p.dispose()
          vm.runtime.executePendingJobs()
          const r = await settled
          vm.unwrapResult(r).dispose()
        },
        close: () => vm.dispose(),
      }
    },
  }
}

function ivmSuite() {
  const ivm = peers.ivm
  return {
    async create() {
      const create = await measureSync(() => {
        const iso = new ivm.Isolate({ memoryLimit: 64 })
        iso.createContextSync()
        iso.dispose()
      }, { batch: 20, samples: 11 })
      this.once = async () => {
        const i = new ivm.Isolate({ memoryLimit: 64 })
        const c = i.createContextSync()
        await c.eval('1')
        i.dispose()
      }
      const firstEval = await measure(this.once, { batch: 20, samples: 11 })
      return { create, firstEval }
    },
    async latency() {
      const iso = new ivm.Isolate({ memoryLimit: 64 })
      const context = iso.createContextSync()
      await context.global.set('f', new ivm.Callback(() => 1, { async: true }))
      return {
        eval: () => context.eval('1+1'),
        host: () => context.eval('(async () => { for (let i = 0; i < 100; i++) await f(); return 1 })()', { promise: true }),
        close: () => iso.dispose(),
      }
    },
  }
}

function nodeVmSuite() {
  return {
    async create() {
      const create = await measureSync(() => nodeVm.createContext({}), { batch: 50, samples: 11 })
      this.once = () => nodeVm.runInContext('1', nodeVm.createContext({}))
      const firstEval = await measureSync(this.once, { batch: 50, samples: 11 })
      return { create, firstEval }
    },
    async latency() {
      const ctx = nodeVm.createContext({ f: async () => 1 })
      const script = new nodeVm.Script('1+1')
      const hostScript = new nodeVm.Script('(async () => { for (let i = 0; i < 100; i++) await f(); return 1 })()')
      return {
        eval: () => script.runInContext(ctx),
        host: () => hostScript.runInContext(ctx),
        close: () => {},
      }
    },
  }
}

/**
 * The latency rows, interleaved (see above): `rounds` rounds, each running every engine's
 * `eval` 200 times and its `host` script 5 times (500 host calls). Median µs per operation.
 */
async function latencies(engines, rounds = 21) {
  const live = []
  for (const e of engines) live.push(await e.latency())
  const samples = live.map(() => ({ eval: [], host: [] }))
  const batch = async (fn, n) => {
    const t0 = now()
    for (let i = 0; i < n; i++) await fn()
    return Number(now() - t0) / 1000 / n
  }
  for (let round = 0; round < rounds + 2; round++) {
    for (let k = 0; k < live.length; k++) {
      const i = (k + round) % live.length
      const ev = await batch(live[i].eval, 200)
      const host = (await batch(live[i].host, 5)) / 100
      if (round >= 2) {
        samples[i].eval.push(ev)
        samples[i].host.push(host)
      }
    }
  }
  for (const l of live) await l.close()
  return samples.map((s) => ({ eval: median(s.eval), host: median(s.host) }))
}

/**
 * Idle memory per live context, in KB, measured in a fresh process: the growth of the
 * proportional set size (PSS) of Node and every process below it (process mode's workers
 * share their executable's pages, which RSS would count once per worker), or of Node's RSS
 * where /proc/<pid>/smaps_rollup is missing.
 */
function perContextKb(engine) {
  const ours = (options) => `const { BamlRuntime, BamlContext } = require(${JSON.stringify(ROOT)}); const rt = BamlRuntime.fromFiles({});
           const make = async () => { const c = new BamlContext(rt, ${options}); await c.evaluate('1+1'); return c }`
  const src = {
    ours: ours("{ isolation: 'process' }"),
    oursThread: ours("{ isolation: 'thread' }"),
    oursShared: ours("{ sharing: 'runtime', isolation: 'thread' }"),
    oursGroup: ours("{ sharing: 'runtime', isolation: 'process' }"),
    qjs: `const { getQuickJS } = require(${JSON.stringify(path.join(__dirname, 'node_modules', 'quickjs-emscripten'))});
          let Q; const make = async () => { Q = Q || await getQuickJS(); const c = Q.newContext(); c.unwrapResult(c.evalCode('1+1')).dispose(); return c }`,
    ivm: `const ivm = require(${JSON.stringify(path.join(__dirname, 'node_modules', 'isolated-vm'))});
          const make = async () => { const i = new ivm.Isolate({ memoryLimit: 64 }); const c = i.createContextSync(); await c.eval('1+1'); return i }`,
    vm: `const vm = require('node:vm'); const make = async () => { const c = vm.createContext({}); vm.runInContext('1+1', c); return c }`,
  }[engine]
  const script = `${src}
    const fs = require('node:fs')
    const pss = (pid) => { try { return Number(/^Pss:\\s+(\\d+)/m.exec(fs.readFileSync('/proc/' + pid + '/smaps_rollup', 'utf8'))[1]) * 1024 } catch { return null } }
    const tree = () => {
      const kids = new Map()
      for (const d of fs.readdirSync('/proc')) {
        if (!/^\\d+$/.test(d)) continue
        try { const st = fs.readFileSync('/proc/' + d + '/stat', 'utf8'); const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]); if (!kids.has(ppid)) kids.set(ppid, []); kids.get(ppid).push(Number(d)) } catch {}
      }
      const out = [process.pid]
      for (let i = 0; i < out.length; i++) out.push(...(kids.get(out[i]) || []))
      return out
    }
    const used = () => { const own = pss(process.pid); if (own == null) return process.memoryUsage().rss; return tree().reduce((a, p) => a + (pss(p) || 0), 0) }
    ;(async () => {
      const keep = [await make()]; global.gc(); await new Promise(r => setTimeout(r, 300)); global.gc()
      const before = used()
      for (let i = 0; i < 1000; i++) keep.push(await make())
      global.gc(); await new Promise(r => setTimeout(r, 300)); global.gc()
      const after = used()
      console.log(JSON.stringify({ kb: (after - before) / 1000 / 1024, n: keep.length }))
    })()`
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 300_000 })
  return JSON.parse(out.trim().split('\n').pop()).kb
}

// ---- BAML loading ----------------------------------------------------------------------------

/** A synthetic project of about `lines` lines: classes, enums, aliases, clients, functions, tests. */
function syntheticProject(lines) {
  const files = {}
  let total = 0
  let i = 0
  while (total < lines) {
    const src = `/// Entity number ${i}.
class Entity${i} {
  id string @description("Identifier of entity ${i}")
  name string @alias("display_name")
  score float? @check(in_range, {{ this >= 0 and this <= 1 }})
  tags string[]
  kind Kind${i}
  parent Entity${i}?
  meta map<string, string | int>
  status "active" | "archived" | "deleted"
}

enum Kind${i} {
  Small @alias("s")
  Medium
  Large @description("Largest")
}

type Lookup${i} = map<string, Entity${i}[]>

client<llm> Client${i} {
  provider openai
  retry_policy Retry${i}
  options {
    model "gpt-4o-mini"
    api_key env.OPENAI_API_KEY
    temperature 0.2
  }
}

retry_policy Retry${i} {
  max_retries 2
  strategy {
    type exponential_backoff
    delay_ms 200
  }
}

function Extract${i}(text: string, hints: string[]?) -> Entity${i}[] {
  client Client${i}
  prompt #"
    {{ _.role("user") }}
    Extract every entity from {{ text }}.
    {{ ctx.output_format }}
  "#
}

test Extract${i}Test {
  functions [Extract${i}]
  args {
    text "An example"
  }
}
`
    files[`part${Math.floor(i / 20)}/entity${i}.baml`] = src
    total += src.split('\n').length
    i++
  }
  return { files, lines: total }
}

async function loadSuite() {
  const { files, lines } = syntheticProject(5000)
  const ms = (await measure(() => BamlRuntime.fromFiles(files), { batch: 1, samples: 21, warmup: 3 })) / 1000
  return { lines, ms }
}

// ---- schema-aligned parsing ------------------------------------------------------------------

const PARSE_BAML = `class Job {
  company string
  title string
  start_year int?
  highlights string[]
}
enum Seniority {
  Junior
  Mid
  Senior @alias("senior-level")
}
class Resume {
  name string
  email string?
  seniority Seniority
  years float
  jobs Job[]
}
function Parse() -> Resume[] {
  client "openai/gpt-4o"
  prompt #"x"#
}
`

/** A model answer of about `bytes` bytes: prose, a fenced list of resumes, some sloppiness. */
function modelOutput(bytes) {
  const items = []
  let size = 0
  for (let i = 0; size < bytes; i++) {
    const item = `  {
    "name": "Candidate ${i}",
    'email': "c${i}@example.com",
    "seniority": "${['Junior', 'mid', 'senior-level'][i % 3]}",
    "years": "${(i % 20) + 0.5}",
    "jobs": [
      { "company": "Acme ${i}", "title": "Engineer", "start_year": ${2000 + (i % 20)}, "highlights": ["shipped ${i}", "led team"], },
      { company: "Beta", title: "Intern", "highlights": "one thing" }
    ],
  }`
    items.push(item)
    size += item.length + 2
  }
  return `Here are the candidates I found:\n\n\`\`\`json\n[\n${items.join(',\n')}\n]\n\`\`\`\n\nLet me know if you need anything else.`
}

async function parseSuite() {
  const ours = BamlRuntime.fromFiles({ 'main.baml': PARSE_BAML })
  let ref = null
  try {
    process.env.BAML_LOG = 'off'
    const { BamlRuntime: Ref } = require(path.join(__dirname, 'node_modules', '@boundaryml', 'baml', 'native'))
    const rt = Ref.fromFiles('baml_src', { 'baml_src/main.baml': PARSE_BAML }, {})
    const ctx = rt.createContextManager()
    ref = (text) => rt.parseLlmResponse('Parse', text, false, ctx, null, null, {})
  } catch {}
  const rows = []
  // BAML's parser grows about quadratically (100 KB took ~4.5 s here), so it is timed up to
  // 100 KB, once there; 1 MB would take minutes per sample.
  for (const [label, bytes, batch, refSamples] of [['1 KB', 1e3, 200, 9], ['10 KB', 1e4, 20, 5], ['100 KB', 1e5, 1, 1], ['1 MB', 1e6, 1, 0]]) {
    const text = modelOutput(bytes)
    const a = ours.parse('Parse', text)
    if (ref && refSamples > 0) {
      const b = ref(text)
      if (JSON.stringify(a) !== JSON.stringify(b)) console.error(`warning: parse results differ at ${label}`)
    }
    const oursUs = await measure(() => ours.parse('Parse', text), { batch, samples: 9 })
    const refUs = ref && refSamples > 0 ? await measure(() => ref(text), { batch: 1, samples: refSamples, warmup: 0 }) : null
    rows.push({ label, bytes: text.length, oursUs, refUs, refSkipped: Boolean(ref) && refSamples === 0 })
  }
  const sweep = []
  for (const bytes of [1e3, 1e4, 1e5, 1e6, 1e7]) {
    const text = modelOutput(bytes)
    const us = await measure(() => ours.parse('Parse', text), { batch: bytes <= 1e4 ? 20 : 1, samples: bytes >= 1e7 ? 3 : 7, warmup: 1 })
    sweep.push({ bytes: text.length, us })
  }
  return { rows, sweep, hasRef: Boolean(ref) }
}

function printParse(parsing) {
  console.log('\nSchema-aligned parsing (a fenced list of resumes with sloppy JSON), median per parse:\n')
  console.log('| output | baml-quickjs | @boundaryml/baml parseLlmResponse | speed-up |')
  console.log('|--------|--------------|-----------------------------------|----------|')
  for (const r of parsing.rows) {
    const ref = r.refUs != null ? fmt(r.refUs, 'µs') : r.refSkipped ? 'not run (minutes)' : 'not installed'
    const ratio = r.refUs == null ? '' : `${(r.refUs / r.oursUs).toFixed(1)}x`
    console.log(`| ${r.label} (${r.bytes} B) | ${fmt(r.oursUs, 'µs')} | ${ref} | ${ratio} |`)
  }
  console.log('\nSize sweep (baml-quickjs): ' + parsing.sweep.map((x) => `${(x.bytes / 1e3).toFixed(0)} KB ${fmt(x.us / 1000, 'ms')} (${(x.us / (x.bytes / 1e3)).toFixed(1)} µs/KB)`).join(', '))
}

// ---- table ---------------------------------------------------------------------------------

const fmt = (v, unit) => (v == null ? 'n/a' : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${unit}`)

async function main() {
  if (process.argv.includes('--only-parse')) {
    return printParse(await parseSuite())
  }
  if (process.argv.includes('--only-calls')) {
    return printCalls(await callsSuite())
  }
  const engines = [
    ['baml-quickjs (process)', oursSuite('process'), 'ours'],
    ['baml-quickjs (thread)', oursSuite('thread'), 'oursThread'],
    ['baml-quickjs (shared)', oursSuite('shared'), 'oursShared'],
    ['baml-quickjs (shared, process)', oursSuite('group'), 'oursGroup'],
    ['quickjs-emscripten', peers.qjs && qjsSuite(), 'qjs'],
    ['isolated-vm', peers.ivm && ivmSuite(), 'ivm'],
    ['node:vm', nodeVmSuite(), 'vm'],
  ]
  const cols = []
  for (const [name, suite, key] of engines) {
    if (!suite) {
      cols.push({ name, missing: true })
      continue
    }
    process.stderr.write(`measuring ${name}: creation, memory...\n`)
    const r = await suite.create()
    r.coldEval = r.coldEval ?? r.firstEval
    r.spacedEval = r.spacedEval ?? (await spacedFirstEval(suite))
    r.kb = perContextKb(key)
    cols.push({ name, ...r })
  }
  process.stderr.write('measuring evaluate and host-call latency, all engines interleaved...\n')
  const present = engines.map(([, suite], i) => [suite, cols[i]]).filter(([suite]) => suite)
  const lat = await latencies(present.map(([suite]) => suite))
  present.forEach(([, col], i) => Object.assign(col, lat[i]))
  const rows = [
    ['create + dispose a context', 'create', 'µs'],
    ['create, evaluate("1"), dispose', 'firstEval', 'µs'],
    ['the same, cold (no runtime prepared ahead)', 'coldEval', 'µs'],
    ['create up to a first answer, requests 2 ms apart (median)', 'spacedEval', 'µs'],
    ['idle memory per live context (1,000 live)', 'kb', 'KB'],
    ['evaluate("1+1") round trip from Node', 'eval', 'µs'],
    ['awaited host-function call (100 per script)', 'host', 'µs'],
  ]
  const header = ['', ...cols.map((c) => c.name)]
  const body = rows.map(([label, key, unit]) => [label, ...cols.map((c) => (c.missing ? 'not installed' : fmt(c[key], unit)))])
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((r) => r[i].length)))
  const line = (r) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |'
  console.log(`\n${os.cpus().length} × ${os.cpus()[0].model}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`)
  console.log(line(header))
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|')
  for (const r of body) console.log(line(r))
  printParse(await parseSuite())
  printCalls(await callsSuite())
  const load = await loadSuite()
  console.log(`\nBAML loading: a ${load.lines}-line project (${Object.keys(syntheticProject(5000).files).length} files) loads in ${load.ms.toFixed(1)} ms (median; target < 50 ms)`)
  const [ours, oursThread, oursShared, oursGroup, qjs, ivm] = cols
  if (!qjs.missing && !ivm.missing) {
    console.log('\nTargets (issue #14, step 7):')
    for (const [label, c] of [['process', ours], ['thread', oursThread]]) {
      console.log(`  ${label}: evaluate round trip vs isolated-vm: ${fmt(c.eval, 'µs')} vs ${fmt(ivm.eval, 'µs')} = ${(ivm.eval / c.eval).toFixed(2)}x faster (target >= 2x)`)
      console.log(`  ${label}: awaited host call vs isolated-vm: ${fmt(c.host, 'µs')} vs ${fmt(ivm.host, 'µs')} = ${(ivm.host / c.host).toFixed(2)}x faster (target >= 2x)`)
    }
    console.log(`  thread: create+dispose vs quickjs-emscripten: ${fmt(oursThread.create, 'µs')} vs ${fmt(qjs.create, 'µs')} (target <= quickjs-emscripten)`)
    console.log(`  idle memory per context: process ${ours.kb.toFixed(0)} KB, thread ${oursThread.kb.toFixed(0)} KB`)
    console.log('\nTargets (step 11, density):')
    console.log(`  idle memory per context, shared runtime: ${oursShared.kb.toFixed(1)} KB in thread isolation, ${oursGroup.kb.toFixed(1)} KB in process isolation (target <= 60 KB)`)
    console.log(`  idle memory per context, a runtime each (thread): ${oursThread.kb.toFixed(1)} KB (target <= 100 KB)`)
    for (const [label, c] of [['process', ours], ['thread', oursThread], ['shared', oursShared], ['shared, process', oursGroup]]) {
      console.log(`  ${label}: create+dispose vs quickjs-emscripten: ${fmt(c.create, 'µs')} vs ${fmt(qjs.create, 'µs')} = ${(qjs.create / c.create).toFixed(2)}x faster; ` +
        `create up to a first answer ${fmt(c.firstEval, 'µs')} (cold ${fmt(c.coldEval, 'µs')}) vs ${fmt(qjs.firstEval, 'µs')} = ${(qjs.firstEval / c.firstEval).toFixed(2)}x (target >= 2x)`)
    }
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
