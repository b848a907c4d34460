// Soak: many evaluations with BAML calls across contexts created and disposed over time,
// against the mock LLM server. Checks that memory settles and nothing leaks.
//
//   npm run soak                 (200,000 evaluations; SOAK_EVALS=N for another count)
//
// Prints a JSON summary; exits 1 if RSS at the end is more than 10% above RSS after warm-up,
// or if threads or sockets leaked.
const fs = require('node:fs')
const path = require('node:path')
const { BamlRuntime, BamlContext } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

const TOTAL = Number(process.env.SOAK_EVALS || 200_000)
const CONTEXTS = 50
const ROTATE_EVERY = 500 // evaluations per context before it is disposed and replaced
const WARMUP = Math.min(20_000, Math.floor(TOTAL / 10))

const threads = () => fs.readdirSync('/proc/self/task').length
const sockets = () => fs.readdirSync('/proc/self/fd').filter((fd) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')
  } catch {
    return false
  }
}).length
const rssMb = () => process.memoryUsage().rss / 1024 / 1024

async function main() {
  const release = path.join(__dirname, '..', 'target', 'release', 'mock_llm')
  const mock = await startMockLlm(fs.existsSync(release) ? { binary: release } : {})
  await mock.script({
    rules: [{ contains: 'Extract', replies: [{ text: '{"name": "Ann", "tags": ["a", "b"]}' }] }],
    default: { text: 'fine' },
  })
  const runtime = BamlRuntime.fromFiles({
    'main.baml': `class Person {\n  name string\n  tags string[]\n}\nclient<llm> Mock {\n  provider openai\n  options {\n    model "soak"\n    api_key "k"\n    base_url "${mock.url}/v1"\n  }\n}\nfunction Extract(text: string) -> Person {\n  client Mock\n  prompt #"Extract {{ text }} {{ ctx.output_format }}"#\n}\nfunction Echo(text: string) -> string {\n  client Mock\n  prompt #"Echo {{ text }}"#\n}\n`,
  })
  const scripts = [
    `const p = await b.Extract('Ann ' + n); p.tags.length + p.name.length`,
    `(await Promise.all([Echo('x' + n), b.Echo('y')])).join(',').length`,
    `let s = 0; for (let i = 0; i < 200; i++) s += i; s + n`,
    `const parts = []; for await (const x of b.stream.Extract('z')) parts.push(x); parts.length > 0 ? 1 : 0`,
    `JSON.stringify({ n, list: Array.from({ length: 50 }, (_, i) => i) }).length`,
  ]
  const slots = Array.from({ length: CONTEXTS }, () => ({ ctx: new BamlContext(runtime, { timeoutMs: 10_000, globals: { n: 0 } }), runs: 0 }))
  let done = 0
  let failures = 0
  let created = CONTEXTS
  let warm = null
  const started = Date.now()
  const worker = async (slot) => {
    while (done < TOTAL) {
      const i = done++
      try {
        await slot.ctx.evaluate(`n = ${i % 1000};\n{\n${scripts[i % scripts.length]}\n}`)
      } catch (e) {
        failures++
        if (failures <= 5) console.error('evaluation failed:', e.code, e.message)
      }
      if (++slot.runs >= ROTATE_EVERY) {
        slot.ctx.dispose()
        slot.ctx = new BamlContext(runtime, { timeoutMs: 10_000, globals: { n: 0 } })
        slot.runs = 0
        created++
      }
      if (warm === null && done >= WARMUP) {
        global.gc?.()
        warm = { rss: rssMb(), threads: threads(), sockets: sockets() }
      }
    }
  }
  await Promise.all(slots.map(worker))
  for (const s of slots) s.ctx.dispose()
  // tokio's blocking-pool threads (where long sandbox turns finish) exit after 10 s idle.
  await new Promise((r) => setTimeout(r, 11_000))
  global.gc?.()
  await new Promise((r) => setTimeout(r, 200))
  const end = { rss: rssMb(), threads: threads(), sockets: sockets() }
  const stats = await mock.stats()
  await mock.stop()
  const summary = {
    evaluations: TOTAL,
    failures,
    contextsCreated: created,
    seconds: (Date.now() - started) / 1000,
    llmRequests: stats.requests,
    rssAfterWarmupMb: Number(warm.rss.toFixed(1)),
    rssEndMb: Number(end.rss.toFixed(1)),
    rssGrowthPct: Number((((end.rss - warm.rss) / warm.rss) * 100).toFixed(1)),
    threads: { warm: warm.threads, end: end.threads },
    sockets: { warm: warm.sockets, end: end.sockets },
  }
  // Idle keep-alive connections stay pooled (up to the calls that were ever in flight at once,
  // 2 per context here); a leak would grow with the number of requests instead.
  const socketBound = warm.sockets + 2 * CONTEXTS + 10
  summary.sockets.bound = socketBound
  console.log(JSON.stringify(summary, null, 2))
  const ok = failures === 0 && summary.rssGrowthPct <= 10 && end.threads <= warm.threads && end.sockets <= socketBound
  if (!ok) {
    console.error('soak: FAILED (failures, RSS growth > 10%, or leaked threads/sockets)')
    process.exitCode = 1
  } else {
    console.error('soak: ok')
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
