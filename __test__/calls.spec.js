// callFunction() end to end against the project's mock LLM server (a real HTTP server on
// 127.0.0.1): every provider plain and streamed, retries, backoff, fallback, round-robin,
// timeouts, finish-reason filters, validation errors and abort.
const test = require('ava')
const { BamlRuntime } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

const PERSON = '{"name": "Ann", "age": 36}'

/** A client block; `extra` lines go into its options. */
function client(name, provider, baseUrl, model, { extra = [], retry } = {}) {
  const opts = [`model "${model}"`, 'api_key "sk-test"', `base_url "${baseUrl}"`, ...extra]
  if (provider === 'azure-openai') opts.splice(0, 1, 'api_version "2024-06-01"')
  return [
    `client<llm> ${name} {`,
    `  provider ${provider}`,
    ...(retry ? [`  retry_policy ${retry}`] : []),
    '  options {',
    ...opts.map((o) => `    ${o}`),
    '  }',
    '}',
  ].join('\n')
}

function project(clients, { extra = '' } = {}) {
  return BamlRuntime.fromFiles({
    'main.baml': `
class Person {
  name string
  age int
}

${clients.join('\n\n')}

${extra}

function Extract(text: string) -> Person {
  client ${clients[0].split(' ')[1]}
  prompt #"
    {{ _.role("system") }}
    Extract the person.
    {{ _.role("user") }}
    {{ text }}
    {{ ctx.output_format }}
  "#
}
`,
  })
}

async function withMock(t) {
  const mock = await startMockLlm()
  t.teardown(() => mock.stop())
  return mock
}

const PROVIDERS = [
  ['openai', (u) => `${u}/v1`, '/v1/chat/completions'],
  ['openai-generic', (u) => `${u}/v1`, '/v1/chat/completions'],
  ['ollama', (u) => `${u}/v1`, '/v1/chat/completions'],
  ['azure-openai', (u) => `${u}/openai/deployments/dep-1`, '/openai/deployments/dep-1/chat/completions?api-version=2024-06-01'],
  ['anthropic', (u) => u, '/v1/messages'],
  ['google-ai', (u) => `${u}/v1beta`, '/v1beta/models/m-1:generateContent'],
  ['openai-responses', (u) => `${u}/v1`, '/v1/responses'],
]

for (const [provider, base, path] of PROVIDERS) {
  test(`${provider}: a plain call and a streamed call`, async (t) => {
    const mock = await withMock(t)
    const rt = project([client('C', provider, base(mock.url), 'm-1')])
    await mock.script({ default: { text: `Here you go:\n${PERSON}`, chunk_chars: 6, chunk_delay_ms: 10 } })
    t.deepEqual(await rt.callFunction('Extract', { text: 'Ann is 36' }), { name: 'Ann', age: 36 })
    const partials = []
    const streamed = await rt.callFunction('Extract', { text: 'Ann is 36' }, { onPartial: (p) => partials.push(p) })
    t.deepEqual(streamed, { name: 'Ann', age: 36 })
    t.true(partials.length >= 2, `only ${partials.length} partials`)
    const reqs = await mock.requests()
    t.is(reqs.length, 2)
    t.is(reqs[0].stream, false)
    t.is(reqs[1].stream, true)
    t.is(reqs[0].path, path)
    t.true(reqs.every((r) => JSON.stringify(r.body).includes('Ann is 36')))
  })
}

test('a slow onPartial gets the newest partials, in order, not every one the stream produced', async (t) => {
  const mock = await withMock(t)
  const rt = project([client('C', 'openai', `${mock.url}/v1`, 'm-1')])
  const name = 'A'.repeat(300)
  await mock.script({ default: { text: `{"name": "${name}", "age": 36}`, chunk_chars: 1 } })
  const lengths = []
  const final = await rt.callFunction('Extract', { text: 'x' }, {
    onPartial: (p) => {
      lengths.push(p.name?.length ?? 0)
      const until = Date.now() + 3
      while (Date.now() < until) {}
    },
  })
  t.deepEqual(final, { name, age: 36 })
  // About 300 distinct partials were produced; one waiting for Node is replaced by the next.
  t.true(lengths.length >= 1 && lengths.length < 150, `${lengths.length} partials delivered`)
  t.true(lengths.every((n, i) => i === 0 || n >= lengths[i - 1]), 'in order')
})

test('max_retries 2 against 500s makes exactly 3 requests, then BAML_HTTP with its fields', async (t) => {
  const mock = await withMock(t)
  const rt = project([client('Main', 'openai', `${mock.url}/v1`, 'm-1', { retry: 'Twice' })], {
    extra: 'retry_policy Twice {\n  max_retries 2\n  strategy {\n    type constant_delay\n    delay_ms 10\n  }\n}',
  })
  await mock.script({ default: { status: 500 } })
  const err = await t.throwsAsync(rt.callFunction('Extract', { text: 'x' }))
  t.is(err.code, 'BAML_HTTP')
  t.is(err.statusCode, 500)
  t.is(err.clientName, 'Main')
  t.is(typeof err.rawResponse, 'string')
  t.is((await mock.requests()).length, 3)
})

test('exponential backoff waits 100 ms then 200 ms between attempts', async (t) => {
  const mock = await withMock(t)
  const rt = project([client('Main', 'openai', `${mock.url}/v1`, 'm-1', { retry: 'Exp' })], {
    extra: 'retry_policy Exp {\n  max_retries 2\n  strategy {\n    type exponential_backoff\n    delay_ms 100\n    multiplier 2\n    max_delay_ms 5000\n  }\n}',
  })
  await mock.script({ rules: [{ model: 'm-1', replies: [{ status: 503 }, { status: 503 }, { text: PERSON }] }] })
  t.deepEqual(await rt.callFunction('Extract', { text: 'x' }), { name: 'Ann', age: 36 })
  const at = (await mock.requests()).map((r) => r.received_at_ms)
  t.is(at.length, 3)
  const gaps = [at[1] - at[0], at[2] - at[1]]
  t.true(gaps[0] >= 95 && gaps[0] < 350, `first gap ${gaps[0]} ms`)
  t.true(gaps[1] >= 190 && gaps[1] < 450, `second gap ${gaps[1]} ms`)
})

test('a 429 with Retry-After is honoured before the next attempt', async (t) => {
  const mock = await withMock(t)
  const rt = project([client('Main', 'openai', `${mock.url}/v1`, 'm-1', { retry: 'Quick' })], {
    extra: 'retry_policy Quick {\n  max_retries 1\n  strategy {\n    type constant_delay\n    delay_ms 10\n  }\n}',
  })
  await mock.script({ rules: [{ model: 'm-1', replies: [{ status: 429, retry_after: 1 }, { text: PERSON }] }] })
  t.deepEqual(await rt.callFunction('Extract', { text: 'x' }), { name: 'Ann', age: 36 })
  const at = (await mock.requests()).map((r) => r.received_at_ms)
  t.true(at[1] - at[0] >= 950, `retried after ${at[1] - at[0]} ms`)
})

test('fallback moves from a 429 to the next client', async (t) => {
  const mock = await withMock(t)
  const rt = project(
    [
      'client<llm> Both {\n  provider fallback\n  options {\n    strategy [Busy, Backup]\n  }\n}',
      client('Busy', 'openai', `${mock.url}/v1`, 'busy'),
      client('Backup', 'anthropic', mock.url, 'backup'),
    ],
  )
  await mock.script({ rules: [{ model: 'busy', replies: [{ status: 429 }] }, { model: 'backup', replies: [{ text: PERSON }] }] })
  t.deepEqual(await rt.callFunction('Extract', { text: 'x' }), { name: 'Ann', age: 36 })
  t.deepEqual((await mock.requests()).map((r) => r.model), ['busy', 'backup'])
})

test('round-robin rotates from its start', async (t) => {
  const mock = await withMock(t)
  const rt = project([
    'client<llm> Rotation {\n  provider round-robin\n  options {\n    strategy [A, B, C]\n    start 1\n  }\n}',
    client('A', 'openai', `${mock.url}/v1`, 'a'),
    client('B', 'openai', `${mock.url}/v1`, 'b'),
    client('C', 'openai', `${mock.url}/v1`, 'c'),
  ])
  await mock.script({ default: { text: PERSON } })
  for (let i = 0; i < 4; i++) await rt.callFunction('Extract', { text: 'x' })
  t.deepEqual((await mock.requests()).map((r) => r.model), ['b', 'c', 'a', 'b'])
})

test('request_timeout_ms stops a slow provider and the connection is dropped', async (t) => {
  const mock = await withMock(t)
  const rt = project([client('Slow', 'openai', `${mock.url}/v1`, 'm-1', { extra: ['http {', '  request_timeout_ms 200', '}'] })])
  await mock.script({ default: { text: PERSON, latency_ms: 5000 } })
  const started = Date.now()
  const err = await t.throwsAsync(rt.callFunction('Extract', { text: 'x' }))
  t.is(err.code, 'BAML_HTTP')
  t.is(err.statusCode, null)
  t.regex(err.message, /request_timeout_ms/)
  t.true(Date.now() - started < 2000)
  await eventually(t, async () => (await mock.requests())[0]?.client_closed === true)
})

test('time_to_first_token_timeout_ms and idle_timeout_ms stop a stalled stream', async (t) => {
  const mock = await withMock(t)
  const rt = project([
    client('Stall', 'openai', `${mock.url}/v1`, 'stall', { extra: ['http {', '  time_to_first_token_timeout_ms 200', '}'] }),
    client('Idle', 'openai', `${mock.url}/v1`, 'idle', { extra: ['http {', '  idle_timeout_ms 200', '}'] }),
  ])
  await mock.script({
    rules: [
      { model: 'stall', replies: [{ text: PERSON, latency_ms: 3000 }] },
      { model: 'idle', replies: [{ text: PERSON, chunk_chars: 4, chunk_delay_ms: 1000 }] },
    ],
  })
  for (const c of ['Stall', 'Idle']) {
    const started = Date.now()
    const err = await t.throwsAsync(rt.callFunction('Extract', { text: 'x' }, { client: c, onPartial: () => {} }))
    t.is(err.code, 'BAML_HTTP')
    t.regex(err.message, c === 'Stall' ? /time_to_first_token_timeout_ms/ : /idle_timeout_ms/)
    t.true(Date.now() - started < 2000, `${c} took ${Date.now() - started} ms`)
  }
})

test('a denied finish reason is BAML_FINISH_REASON and is not retried', async (t) => {
  const mock = await withMock(t)
  const rt = project(
    [client('Main', 'openai', `${mock.url}/v1`, 'm-1', { retry: 'Twice', extra: ['finish_reason_deny_list ["length"]'] })],
    { extra: 'retry_policy Twice {\n  max_retries 2\n}' },
  )
  await mock.script({ default: { text: '{"name": "An', finish_reason: 'length' } })
  const err = await t.throwsAsync(rt.callFunction('Extract', { text: 'x' }))
  t.is(err.code, 'BAML_FINISH_REASON')
  t.is(err.finishReason, 'length')
  t.is(err.rawOutput, '{"name": "An')
  t.is((await mock.requests()).length, 1)
})

test('output that cannot be parsed is BAML_VALIDATION with rawOutput and prompt', async (t) => {
  const mock = await withMock(t)
  const rt = project([client('Main', 'openai', `${mock.url}/v1`, 'm-1')])
  await mock.script({ default: { text: 'I cannot help with that.' } })
  const err = await t.throwsAsync(rt.callFunction('Extract', { text: 'Bob is 12' }))
  t.is(err.code, 'BAML_VALIDATION')
  t.is(err.rawOutput, 'I cannot help with that.')
  t.regex(err.prompt, /Bob is 12/)
})

test('aborting drops the HTTP request and rejects with BAML_ABORTED', async (t) => {
  const mock = await withMock(t)
  const rt = project([client('Main', 'openai', `${mock.url}/v1`, 'm-1')])
  await mock.script({ default: { fault: 'hang' } })
  const ac = new AbortController()
  const pending = rt.callFunction('Extract', { text: 'x' }, { signal: ac.signal })
  await eventually(t, async () => (await mock.stats()).in_flight === 1)
  ac.abort()
  const err = await t.throwsAsync(pending)
  t.is(err.code, 'BAML_ABORTED')
  await eventually(t, async () => (await mock.requests())[0]?.client_closed === true)
  const already = await t.throwsAsync(rt.callFunction('Extract', { text: 'x' }, { signal: AbortSignal.abort() }))
  t.is(already.code, 'BAML_ABORTED')
})

test('per-call env overrides the runtime env for env.NAME', async (t) => {
  const mock = await withMock(t)
  const src = {
    'main.baml': `client<llm> C {\n  provider openai\n  options {\n    model "m"\n    api_key env.MY_KEY\n    base_url "${mock.url}/v1"\n  }\n}\nfunction Echo(s: string) -> string {\n  client C\n  prompt #"{{ s }}"#\n}\n`,
  }
  const rt = BamlRuntime.fromFiles(src, { MY_KEY: 'from-runtime' })
  await mock.script({ default: { text: 'ok' } })
  t.is(await rt.callFunction('Echo', { s: 'a' }), 'ok')
  t.is(await rt.callFunction('Echo', { s: 'b' }, { env: { MY_KEY: 'from-call' } }), 'ok')
  t.deepEqual((await mock.requests()).map((r) => r.headers.authorization), ['Bearer from-runtime', 'Bearer from-call'])
})

test('bad arguments reject with BAML_INVALID_ARGUMENT before any request', async (t) => {
  const mock = await withMock(t)
  const rt = project([client('Main', 'openai', `${mock.url}/v1`, 'm-1')])
  const err = await t.throwsAsync(rt.callFunction('Extract', { text: 42 }))
  t.is(err.code, 'BAML_INVALID_ARGUMENT')
  t.regex(err.message, /`text`: expected string, got number 42/)
  t.is((await mock.requests()).length, 0)
})

async function eventually(t, check, ms = 2000) {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  t.fail('condition not reached in time')
}
