// The demo: a sandboxed script (as an LLM might write it) calls two BAML functions concurrently,
// streams one of them, and combines the typed results; then the limits at work.
//
// With OPENAI_API_KEY set it calls OpenAI (gpt-4o-mini); otherwise it starts the project's own
// mock LLM server on 127.0.0.1 (crates/mock_llm) with scripted answers, and says so.
const path = require('node:path')
const { BamlRuntime, BamlContext } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

const RESUME = `Grace Hopper — grace@navy.example
Rear admiral and computer scientist, 40 years of experience.
Built the first compiler (A-0), co-designed COBOL, expert in FORTRAN and assembly.`

const SCRIPT = `
  const job = 'Senior compiler engineer'
  // Both BAML calls run at once, as tokio futures outside this sandbox.
  const stream = b.stream.ExtractResume(resume)
  const matchPromise = b.MatchJob(job, resume)
  let updates = 0
  for await (const partial of stream) {
    updates++
    if (partial.name) console.log('streaming…', JSON.stringify(partial).slice(0, 70))
  }
  const [person, match] = await Promise.all([stream.getFinalResponse(), matchPromise]);
  ({
    candidate: person.name,
    email: person.email,
    skills: person.skills,
    fit: match.fit,
    why: match.reasons,
    streamUpdates: updates,
  })
`

async function llmEnv() {
  if (process.env.OPENAI_API_KEY) {
    console.log('Using OpenAI (OPENAI_API_KEY is set).\n')
    return { env: { OPENAI_API_KEY: process.env.OPENAI_API_KEY, DEMO_BASE_URL: 'https://api.openai.com/v1' }, stop: async () => {} }
  }
  const mock = await startMockLlm()
  console.log(`No OPENAI_API_KEY: using the project's mock LLM server at ${mock.url} with scripted answers.\n`)
  await mock.script({
    rules: [
      {
        contains: 'You extract resumes',
        replies: [{ text: 'Here is the resume:\n```json\n{"name": "Grace Hopper", "email": "grace@navy.example", "skills": ["compilers", "COBOL", "FORTRAN", "assembly"], "years_experience": 40}\n```', chunk_chars: 12, chunk_delay_ms: 15, latency_ms: 120 }],
      },
      {
        contains: 'You judge how well',
        replies: [{ text: '{"fit": "STRONG", "reasons": ["Wrote the first compiler", "Co-designed COBOL", "Decades of experience"]}', latency_ms: 150 }],
      },
    ],
  })
  return { env: { OPENAI_API_KEY: 'sk-mock', DEMO_BASE_URL: `${mock.url}/v1` }, stop: () => mock.stop() }
}

async function main() {
  const llm = await llmEnv()
  try {
    const runtime = BamlRuntime.fromDirectory(path.join(__dirname, 'baml_src'))
    console.log('BAML functions:', runtime.functions().map((f) => `${f.name}(${f.params.map((p) => `${p.name}: ${p.type}`).join(', ')}) -> ${f.returnType}`).join(', '))
    const ctx = new BamlContext(runtime, {
      timeoutMs: 60_000,
      memoryLimitBytes: 32 * 1024 * 1024,
      globals: { resume: RESUME },
      env: llm.env,
      onConsole: (level, message) => console.log(`  [sandbox ${level}] ${message}`),
    })

    console.log('\nRunning a sandboxed script that calls two BAML functions concurrently:')
    const started = Date.now()
    const result = await ctx.evaluate(SCRIPT)
    console.log(`  result after ${Date.now() - started} ms:`, result)
    console.log('  usage:', ctx.usage())

    console.log('\nLimits hold, and the context stays usable:')
    for (const [label, code] of [
      ['busy loop', 'for (;;) {}'],
      ['memory bomb', '{ const a = []; for (;;) a.push(new Array(1e4).fill(0)) }'],
      ['escape attempt', 'this.constructor.constructor("return process")().exit(1)'],
      ['bad argument', 'await b.ExtractResume(42)'],
    ]) {
      const outcome = await ctx.evaluate(code, { timeoutMs: 300 }).then(
        (v) => `returned ${JSON.stringify(v)}`,
        (e) => `${e.code}: ${e.message.split('\n')[0]}`,
      )
      console.log(`  ${label.padEnd(15)} -> ${outcome}`)
    }
    console.log('  afterwards      ->', await ctx.evaluate('resume.length'))
    ctx.dispose()
  } finally {
    await llm.stop()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
