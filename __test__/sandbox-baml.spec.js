// BAML functions called from sandboxed code, end to end against the mock LLM server:
// b.F(...) / globals / b.stream, errors inside and outside, concurrency shown by the server,
// cancellation on timeout and dispose, per-context env and usage().
const test = require('ava')
const { BamlRuntime, BamlContext } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

function project(url) {
  return BamlRuntime.fromFiles({
    'main.baml': `
class Resume {
  name string
  skills string[]
}

enum Seniority {
  JUNIOR
  SENIOR
}

client<llm> Mock {
  provider openai
  options {
    model "mock-model"
    api_key env.LLM_KEY
    base_url "${url}/v1"
  }
}

function ExtractResume(text: string) -> Resume {
  client Mock
  prompt #"
    Extract the resume.
    {{ text }}
    {{ ctx.output_format }}
  "#
}

function RateSeniority(resume: Resume) -> Seniority {
  client Mock
  prompt #"
    Rate: {{ resume }}
    {{ ctx.output_format }}
  "#
}

function Summarize(text: string, words: int) -> string {
  client Mock
  prompt #"
    Summarize in {{ words }} words: {{ text }}
  "#
}
`,
  })
}

async function setup(t) {
  const mock = await startMockLlm()
  t.teardown(() => mock.stop())
  await mock.script({
    rules: [
      { contains: 'Extract the resume', replies: [{ text: '```json\n{"name": "Ada", "skills": ["math", "engines"]}\n```', chunk_chars: 7, chunk_delay_ms: 3 }] },
      { contains: 'Rate:', replies: [{ text: 'SENIOR' }] },
      { contains: 'Summarize', replies: [{ text: 'Ada wrote programs.' }] },
    ],
  })
  return { mock, rt: project(mock.url) }
}

async function eventually(t, check, ms = 3000) {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  t.fail('condition not reached in time')
}

test('a script calls three functions, one streamed, and combines typed results', async (t) => {
  const { mock, rt } = await setup(t)
  const ctx = new BamlContext(rt, { env: { LLM_KEY: 'k1' } })
  t.teardown(() => ctx.dispose())
  const out = await ctx.evaluate(`
    const partials = []
    const stream = b.stream.ExtractResume('Ada Lovelace: math, engines')
    for await (const p of stream) partials.push(p)
    const resume = await stream.getFinalResponse()
    const [level, summary] = await Promise.all([RateSeniority(resume), b.Summarize('Ada', 5)]);
    ({ resume, level, summary, partials: partials.length, last: partials[partials.length - 1] })
  `)
  t.deepEqual(out.resume, { name: 'Ada', skills: ['math', 'engines'] })
  t.is(out.level, 'SENIOR')
  t.is(out.summary, 'Ada wrote programs.')
  t.true(out.partials >= 2, `${out.partials} partials`)
  t.deepEqual(out.last, out.resume)
  const reqs = await mock.requests()
  t.is(reqs.length, 3)
  t.true(reqs[0].stream)
  t.regex(JSON.stringify(reqs[1].body), /Ada/)
  t.deepEqual(ctx.usage().calls, 3)
  t.true(ctx.usage().inputTokens > 0 && ctx.usage().outputTokens > 0)
})

test('a BAML error is caught and inspected inside the sandbox', async (t) => {
  const { mock, rt } = await setup(t)
  await mock.script({ default: { text: 'no idea' } })
  const ctx = new BamlContext(rt, { env: { LLM_KEY: 'k1' } })
  t.teardown(() => ctx.dispose())
  const seen = await ctx.evaluate(`
    const out = {}
    try { await b.ExtractResume('x') } catch (e) {
      out.validation = { name: e.name, isError: e instanceof Error, raw: e.raw_output, hasPrompt: e.prompt.includes('Extract the resume'), code: e.code }
    }
    try { await b.Summarize('x', 'five') } catch (e) { out.argument = { name: e.name, code: e.code, message: e.message } }
    out
  `)
  t.deepEqual(seen.validation, { name: 'BamlValidationError', isError: true, raw: 'no idea', hasPrompt: true, code: 'BAML_VALIDATION' })
  t.is(seen.argument.name, 'BamlInvalidArgumentError')
  t.is(seen.argument.code, 'BAML_INVALID_ARGUMENT')
  t.regex(seen.argument.message, /`words`: expected int/)
})

test('an uncaught BAML error reaches Node with its code and fields', async (t) => {
  const { mock, rt } = await setup(t)
  await mock.script({ default: { status: 503 } })
  const ctx = new BamlContext(rt, { env: { LLM_KEY: 'k1' } })
  t.teardown(() => ctx.dispose())
  const err = await t.throwsAsync(ctx.evaluate(`await b.Summarize('x', 3)`))
  t.is(err.code, 'BAML_HTTP')
  t.is(err.statusCode, 503)
  t.is(err.clientName, 'Mock')
  t.is(err.jsName, 'BamlClientHttpError')
  t.is(typeof err.rawResponse, 'string')
  await mock.script({ default: { text: 'nope' } })
  const v = await t.throwsAsync(ctx.evaluate(`await b.ExtractResume('x')`))
  t.is(v.code, 'BAML_VALIDATION')
  t.is(v.rawOutput, 'nope')
  t.regex(v.prompt, /Extract the resume/)
})

test('200 calls from one Promise.all are in flight at once (seen by the server)', async (t) => {
  const { mock, rt } = await setup(t)
  await mock.script({ default: { text: 'ok', latency_ms: 300 } })
  const ctx = new BamlContext(rt, { env: { LLM_KEY: 'k1' } })
  t.teardown(() => ctx.dispose())
  const n = await ctx.evaluate(`
    const all = await Promise.all(Array.from({ length: 200 }, (_, i) => b.Summarize('doc ' + i, 3)));
    all.filter((x) => x === 'ok').length
  `)
  t.is(n, 200)
  const stats = await mock.stats()
  t.true(stats.max_in_flight >= 100, `max in flight ${stats.max_in_flight}`)
  t.is(stats.requests, 200)
})

test('a timeout cancels the evaluation\'s in-flight calls: the server sees the connections closed', async (t) => {
  const { mock, rt } = await setup(t)
  await mock.script({ default: { fault: 'hang' } })
  const ctx = new BamlContext(rt, { env: { LLM_KEY: 'k1' } })
  t.teardown(() => ctx.dispose())
  const err = await t.throwsAsync(ctx.evaluate(`await Promise.all([b.Summarize('a', 1), b.Summarize('b', 1), b.Summarize('c', 1)])`, { timeoutMs: 300 }))
  t.is(err.code, 'SANDBOX_TIMEOUT')
  await eventually(t, async () => {
    const reqs = await mock.requests()
    return reqs.length === 3 && reqs.every((r) => r.client_closed)
  })
  t.is((await mock.stats()).in_flight, 0)
  await mock.script({ default: { text: 'after' } })
  t.is(await ctx.evaluate(`await b.Summarize('x', 1)`), 'after')
})

test('dispose cancels in-flight calls and rejects the evaluation', async (t) => {
  const { mock, rt } = await setup(t)
  await mock.script({ default: { fault: 'hang' } })
  const ctx = new BamlContext(rt, { env: { LLM_KEY: 'k1' } })
  const pending = ctx.evaluate(`await Promise.all([b.Summarize('a', 1), b.Summarize('b', 1)])`)
  await eventually(t, async () => (await mock.stats()).in_flight === 2)
  ctx.dispose()
  const err = await t.throwsAsync(pending)
  t.is(err.code, 'SANDBOX_DISPOSED')
  await eventually(t, async () => (await mock.requests()).every((r) => r.client_closed))
})

test('two contexts with different env send different keys', async (t) => {
  const { mock, rt } = await setup(t)
  const a = new BamlContext(rt, { env: { LLM_KEY: 'key-a' } })
  const b = new BamlContext(rt, { env: { LLM_KEY: 'key-b' } })
  t.teardown(() => {
    a.dispose()
    b.dispose()
  })
  await Promise.all([a.evaluate(`await b.Summarize('a', 1)`), b.evaluate(`await b.Summarize('b', 1)`)])
  const keys = (await mock.requests()).map((r) => `${r.body.messages[0].content[0].text.slice(-1)}=${r.headers.authorization}`).sort()
  t.deepEqual(keys, ['a=Bearer key-a', 'b=Bearer key-b'])
  t.is(a.usage().calls, 1)
  t.is(b.usage().calls, 1)
})

test('functions are globals unless that shadows a standard global; b is frozen', async (t) => {
  const { rt } = await setup(t)
  const ctx = new BamlContext(rt)
  t.teardown(() => ctx.dispose())
  const out = await ctx.evaluate(`({
    names: Object.keys(b).sort(),
    streams: Object.keys(b.stream).sort(),
    global: typeof ExtractResume,
    frozen: Object.isFrozen(b),
    arity: (() => { try { b.Summarize('a', 1, 2); return 'no error' } catch (e) { return e.name } })(),
  })`)
  t.deepEqual(out.names, ['ExtractResume', 'RateSeniority', 'Summarize'])
  t.deepEqual(out.streams, ['ExtractResume', 'RateSeniority', 'Summarize'])
  t.is(out.global, 'function')
  t.true(out.frozen)
  const extra = await t.throwsAsync(ctx.evaluate(`await b.Summarize('a', 1, 2)`))
  t.is(extra.code, 'BAML_INVALID_ARGUMENT')
  const shadow = BamlRuntime.fromFiles({
    'main.baml': 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n  }\n}\nfunction Map(x: string) -> string {\n  client C\n  prompt #"{{ x }}"#\n}\n',
  })
  const c2 = new BamlContext(shadow)
  t.teardown(() => c2.dispose())
  t.deepEqual(await c2.evaluate(`[typeof new Map().set, typeof b.Map]`), ['function', 'function'])
})
