// Observability against the mock LLM server: a Collector on callFunction (success, validation
// failure, retries then fallback, streams, several collectors), on a context in both isolation
// modes together with onBamlCall, token usage of streamed calls per provider, a context's
// usage() counting streams, a throwing onBamlCall, and bad option values.
const test = require('ava')
const { BamlRuntime, BamlContext, Collector } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

const PERSON = '{"name": "Ann", "age": 36}'
const KEY = 'sk-collector-secret-0042'

function client(name, provider, baseUrl, model, { extra = [], retry } = {}) {
  const opts = [`model "${model}"`, 'api_key env.LLM_KEY', `base_url "${baseUrl}"`, ...extra]
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

function project(clients, { extra = '', main } = {}) {
  return BamlRuntime.fromFiles(
    {
      'main.baml': `
class Person {
  name string
  age int
}

${clients.join('\n\n')}

${extra}

function Extract(text: string) -> Person {
  client ${main || clients[0].split(' ')[1]}
  prompt #"
    Extract the person.
    {{ text }}
    {{ ctx.output_format }}
  "#
}
`,
    },
    { LLM_KEY: KEY },
  )
}

async function withMock(t) {
  const mock = await startMockLlm()
  t.teardown(() => mock.stop())
  return mock
}

/** Resolves once `check()` holds, or fails the test after `ms`. */
async function eventually(t, check, ms = 3000) {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (check()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  t.fail('condition not reached in time')
}

/** Every string in `v`, for checking that a secret appears nowhere. */
function text(v) {
  return JSON.stringify(v)
}

test('callFunction with a collector: request, response, usage, timing and result of a success', async (t) => {
  const mock = await withMock(t)
  const rt = project([client('Main', 'openai', `${mock.url}/v1`, 'm-1')])
  await mock.script({ default: { text: PERSON, usage: { input_tokens: 11, output_tokens: 4 } } })
  const collector = new Collector('mine')
  t.is(collector.name, 'mine')
  t.is(collector.last, null)
  const before = Date.now()
  t.deepEqual(await rt.callFunction('Extract', { text: 'Ann is 36' }, { collector }), { name: 'Ann', age: 36 })
  t.is(collector.logs.length, 1)
  const log = collector.last
  t.is(log.functionName, 'Extract')
  t.is(log.logType, 'call')
  t.is(log.source, 'callFunction')
  t.deepEqual(log.args, { text: 'Ann is 36' })
  t.deepEqual(log.result, { name: 'Ann', age: 36 })
  t.is(log.error, null)
  t.is(log.rawLlmResponse, PERSON)
  t.deepEqual(log.usage, { inputTokens: 11, outputTokens: 4 })
  t.true(log.timing.startTimeUtcMs >= before - 1000 && log.timing.startTimeUtcMs <= Date.now())
  t.true(log.timing.durationMs >= 0)
  t.is(log.calls.length, 1)
  const call = log.calls[0]
  t.like(call, { clientName: 'Main', provider: 'openai', selected: true, stream: false, error: null })
  t.deepEqual(call.usage, { inputTokens: 11, outputTokens: 4 })
  t.deepEqual(log.selectedCall, call)
  t.is(call.httpRequest.url, `${mock.url}/v1/chat/completions`)
  t.is(call.httpRequest.method, 'POST')
  t.is(call.httpRequest.body.model, 'm-1')
  t.regex(text(call.httpRequest.body.messages), /Ann is 36/)
  // The key is redacted in the header (keeping the scheme) and anywhere else.
  t.is(call.httpRequest.headers.authorization, 'Bearer [redacted]')
  t.is(call.httpRequest.headers['content-type'], 'application/json')
  t.false(text(log).includes(KEY))
  const sent = (await mock.requests())[0]
  t.is(sent.headers.authorization, `Bearer ${KEY}`, 'the real key was sent')
  t.deepEqual(call.httpRequest.body, sent.body)
  t.is(call.httpResponse.status, 200)
  t.regex(call.httpResponse.headers['content-type'], /json/)
  t.is(JSON.parse(call.httpResponse.body).choices[0].message.content, PERSON)
  t.deepEqual(collector.usage, { inputTokens: 11, outputTokens: 4 })
  t.deepEqual(collector.id(log.id), log)
  t.is(collector.id('no-such-id'), null)

  await rt.callFunction('Extract', { text: 'again' }, { collector })
  t.is(collector.logs.length, 2)
  t.not(collector.logs[0].id, collector.logs[1].id)
  t.deepEqual(collector.usage, { inputTokens: 22, outputTokens: 8 })
  t.is(collector.clear(), 2)
  t.deepEqual(collector.logs, [])
  t.deepEqual(collector.usage, { inputTokens: 0, outputTokens: 0 })
})

test('a validation failure is recorded with its error, raw response and tokens', async (t) => {
  const mock = await withMock(t)
  const rt = project([client('Main', 'anthropic', mock.url, 'm-1')])
  await mock.script({ default: { text: 'I cannot find a person.', usage: { input_tokens: 7, output_tokens: 5 } } })
  const collector = new Collector()
  t.is(collector.name, 'default')
  const err = await t.throwsAsync(rt.callFunction('Extract', { text: 'nobody' }, { collector }))
  t.is(err.code, 'BAML_VALIDATION')
  const log = collector.last
  t.is(log.result, null)
  t.is(log.error.code, 'BAML_VALIDATION')
  t.is(log.error.message, err.message)
  t.is(log.rawLlmResponse, 'I cannot find a person.')
  t.deepEqual(log.usage, { inputTokens: 7, outputTokens: 5 })
  t.is(log.calls.length, 1)
  t.true(log.calls[0].selected, 'the answer that failed to parse is the selected one')
  t.is(log.calls[0].error.code, 'BAML_VALIDATION')
  t.is(log.calls[0].httpRequest.headers['x-api-key'], '[redacted]')
  t.is(log.selectedCall.clientName, 'Main')
})

test('HTTP failures, a retry and a fallback show as several calls with the answer selected', async (t) => {
  const mock = await withMock(t)
  const rt = project(
    [
      client('Flaky', 'openai', `${mock.url}/v1`, 'flaky', { retry: 'Twice' }),
      client('Backup', 'google-ai', `${mock.url}/v1beta`, 'backup'),
    ],
    {
      main: 'Both',
      extra: `
retry_policy Twice {
  max_retries 1
  strategy {
    type constant_delay
    delay_ms 5
  }
}
client<llm> Both {
  provider fallback
  options {
    strategy [Flaky, Backup]
  }
}`,
    },
  )
  await mock.script({
    rules: [
      { model: 'flaky', replies: [{ status: 500, text: 'overloaded' }] },
      { model: 'backup', replies: [{ text: PERSON, usage: { input_tokens: 3, output_tokens: 2 } }] },
    ],
  })
  const collector = new Collector()
  t.deepEqual(await rt.callFunction('Extract', { text: 'Ann' }, { collector }), { name: 'Ann', age: 36 })
  const log = collector.last
  t.deepEqual(
    log.calls.map((c) => [c.clientName, c.provider, c.httpResponse && c.httpResponse.status, c.selected]),
    [
      ['Flaky', 'openai', 500, false],
      ['Flaky', 'openai', 500, false],
      ['Backup', 'google-ai', 200, true],
    ],
  )
  t.is(log.calls[0].error.code, 'BAML_HTTP')
  t.regex(log.calls[0].httpResponse.body, /overloaded/)
  t.is(log.calls[0].usage, null)
  t.is(log.calls[2].httpRequest.headers['x-goog-api-key'], '[redacted]')
  t.is(log.selectedCall.clientName, 'Backup')
  t.deepEqual(log.usage, { inputTokens: 3, outputTokens: 2 })
  t.true(log.calls[1].timing.startTimeUtcMs >= log.calls[0].timing.startTimeUtcMs)

  // Every client failing: no call is selected, the log has the error.
  await mock.script({ default: { status: 503, text: 'down' } })
  const err = await t.throwsAsync(rt.callFunction('Extract', { text: 'Ann' }, { collector }))
  t.is(err.code, 'BAML_HTTP')
  const failed = collector.last
  t.is(failed.calls.length, 3)
  t.true(failed.calls.every((c) => !c.selected && c.error.code === 'BAML_HTTP'))
  t.is(failed.selectedCall, null)
  t.is(failed.error.code, 'BAML_HTTP')
  t.is(failed.rawLlmResponse, null)
  t.deepEqual(failed.usage, { inputTokens: null, outputTokens: null })
})

test('a streamed call is logged as a stream with its raw events and usage; several collectors', async (t) => {
  const mock = await withMock(t)
  const rt = project([client('Main', 'openai', `${mock.url}/v1`, 'm-1')])
  await mock.script({ default: { text: PERSON, chunk_chars: 5, usage: { input_tokens: 9, output_tokens: 6 } } })
  const a = new Collector('a')
  const b = new Collector('b')
  const partials = []
  const out = await rt.callFunction('Extract', { text: 'Ann' }, { collector: [a, b], onPartial: (p) => partials.push(p) })
  t.deepEqual(out, { name: 'Ann', age: 36 })
  t.deepEqual(a.last, b.last)
  const log = a.last
  t.is(log.logType, 'stream')
  t.true(log.calls[0].stream)
  t.deepEqual(log.usage, { inputTokens: 9, outputTokens: 6 })
  t.true(log.calls[0].httpRequest.body.stream)
  t.deepEqual(log.calls[0].httpRequest.body.stream_options, { include_usage: true })
  const events = log.calls[0].httpResponse.body.split('\n').filter((l) => l.startsWith('data: '))
  t.true(events.length > 3, log.calls[0].httpResponse.body)
  t.is(events[events.length - 1], 'data: [DONE]')
  t.regex(log.calls[0].httpResponse.headers['content-type'], /text\/event-stream/)
  t.is(log.rawLlmResponse, PERSON)

  await rt.callFunction('Extract', { text: 'Ann' }, { collector: a, stream: true })
  t.is(a.logs.length, 2)
  t.is(b.logs.length, 1)
  t.deepEqual(a.usage, { inputTokens: 18, outputTokens: 12 })
})

// What each provider's stream reports. OpenAI-compatible providers other than `openai` are not
// asked for usage (BAML does not ask either), so their streams carry none unless the client
// adds `stream_options` itself.
const STREAM_USAGE = [
  ['openai', (u) => `${u}/v1`, [], true],
  ['openai-generic', (u) => `${u}/v1`, [], false],
  ['openai-generic', (u) => `${u}/v1`, ['stream_options {', '  include_usage true', '}'], true],
  ['ollama', (u) => `${u}/v1`, [], false],
  ['azure-openai', (u) => `${u}/openai/deployments/m-1`, [], false],
  ['azure-openai', (u) => `${u}/openai/deployments/m-1`, ['stream_options {', '  include_usage true', '}'], true],
  ['anthropic', (u) => u, [], true],
  ['google-ai', (u) => `${u}/v1beta`, [], true],
  ['openai-responses', (u) => `${u}/v1`, [], true],
]

for (const [provider, base, extra, reported] of STREAM_USAGE) {
  const title = `${provider}${extra.length ? ' with stream_options' : ''}`
  test(`stream usage: ${title} ${reported ? 'reports' : 'does not report'} tokens`, async (t) => {
    const mock = await withMock(t)
    const rt = project([client('Main', provider, base(mock.url), 'm-1', { extra })])
    await mock.script({ default: { text: PERSON, chunk_chars: 4, usage: { input_tokens: 12, output_tokens: 5 } } })
    const collector = new Collector()
    t.deepEqual(await rt.callFunction('Extract', { text: 'Ann' }, { collector, stream: true }), { name: 'Ann', age: 36 })
    const log = collector.last
    t.is(log.logType, 'stream')
    if (reported) {
      t.deepEqual(log.usage, { inputTokens: 12, outputTokens: 5 })
      t.deepEqual(log.calls[0].usage, { inputTokens: 12, outputTokens: 5 })
      t.deepEqual(collector.usage, { inputTokens: 12, outputTokens: 5 })
    } else {
      t.deepEqual(log.calls[0].usage, { inputTokens: null, outputTokens: null })
      t.deepEqual(collector.usage, { inputTokens: 0, outputTokens: 0 })
    }
    // The same call from a sandbox counts the same in usage().
    const ctx = new BamlContext(rt, { isolation: 'thread' })
    t.teardown(() => ctx.dispose())
    await ctx.evaluate(`const s = b.stream.Extract('Ann'); for await (const p of s) {} await s.getFinalResponse()`)
    t.deepEqual(ctx.usage(), { calls: 1, inputTokens: reported ? 12 : 0, outputTokens: reported ? 5 : 0 })
  })
}

for (const isolation of ['thread', 'process']) {
  test(`a context's collector and onBamlCall see every call of its sandbox (${isolation})`, async (t) => {
    const mock = await withMock(t)
    const rt = project([client('Main', 'openai', `${mock.url}/v1`, 'm-1')])
    await mock.script({
      rules: [
        { contains: 'nobody', replies: [{ text: 'no person', usage: { input_tokens: 2, output_tokens: 2 } }] },
        { replies: [{ text: PERSON, chunk_chars: 6, usage: { input_tokens: 10, output_tokens: 4 } }] },
      ],
    })
    const collector = new Collector('ctx')
    const seen = []
    const ctx = new BamlContext(rt, {
      isolation,
      collector,
      onBamlCall: (log) => seen.push(log),
    })
    t.teardown(() => ctx.dispose())
    const out = await ctx.evaluate(`
      const s = b.stream.Extract('Ann streamed')
      for await (const p of s) {}
      const streamed = await s.getFinalResponse()
      const plain = await Extract('Ann plain')
      let failed = null
      try { await b.Extract('nobody') } catch (e) { failed = e.name }
      ;({ streamed, plain, failed, hooks: typeof onBamlCall + typeof collector })
    `)
    t.deepEqual(out, {
      streamed: { name: 'Ann', age: 36 },
      plain: { name: 'Ann', age: 36 },
      failed: 'BamlValidationError',
      hooks: 'undefinedundefined',
    })
    // The collector is up to date when the evaluation settles.
    t.deepEqual(
      collector.logs.map((l) => [l.logType, l.source, l.args.text, l.error && l.error.code]),
      [
        ['stream', 'sandbox', 'Ann streamed', null],
        ['call', 'sandbox', 'Ann plain', null],
        ['call', 'sandbox', 'nobody', 'BAML_VALIDATION'],
      ],
    )
    t.deepEqual(collector.usage, { inputTokens: 22, outputTokens: 10 })
    // Tokens of the failed call count in usage() too.
    t.deepEqual(ctx.usage(), { calls: 3, inputTokens: 22, outputTokens: 10 })
    t.true(collector.logs.every((l) => !text(l).includes(KEY)))
    t.is(collector.logs[0].calls[0].httpRequest.headers.authorization, 'Bearer [redacted]')
    await eventually(t, () => seen.length === 3)
    t.deepEqual(
      seen.map((l) => l.id),
      collector.logs.map((l) => l.id),
    )
    t.deepEqual(seen[1], collector.logs[1])
    // A call refused before it starts (too many arguments) is recorded too.
    await t.throwsAsync(ctx.evaluate(`await Extract('a', 'b')`), { code: 'BAML_INVALID_ARGUMENT' })
    t.is(collector.last.error.code, 'BAML_INVALID_ARGUMENT')
    t.deepEqual(collector.last.calls, [])
    await eventually(t, () => seen.length === 4)
  })

  test.serial(`a throwing onBamlCall becomes a process warning and the sandbox carries on (${isolation})`, async (t) => {
    const mock = await withMock(t)
    const rt = project([client('Main', 'openai', `${mock.url}/v1`, 'm-1')])
    await mock.script({ default: { text: PERSON } })
    const warnings = []
    const onWarning = (w) => warnings.push(w)
    process.on('warning', onWarning)
    t.teardown(() => process.off('warning', onWarning))
    let calls = 0
    const ctx = new BamlContext(rt, {
      isolation,
      onBamlCall: () => {
        calls += 1
        if (calls === 1) throw new Error('hook exploded')
        return Promise.reject(new Error('async hook exploded'))
      },
    })
    t.teardown(() => ctx.dispose())
    t.deepEqual(await ctx.evaluate(`await Extract('one')`), { name: 'Ann', age: 36 })
    t.deepEqual(await ctx.evaluate(`await Extract('two')`), { name: 'Ann', age: 36 })
    await eventually(t, () => warnings.length === 2)
    t.deepEqual(
      warnings.map((w) => [w.name, w.code, w.message]),
      [
        ['BamlQuickjsWarning', 'BAML_ON_CALL_FAILED', 'onBamlCall failed: hook exploded'],
        ['BamlQuickjsWarning', 'BAML_ON_CALL_FAILED', 'onBamlCall failed: async hook exploded'],
      ],
    )
    t.is(await ctx.evaluate('1 + 1'), 2)
  })
}

test('an unset env.X base_url is a BAML_HTTP error naming the client, the option and the variable', async (t) => {
  const rt = BamlRuntime.fromFiles({
    'main.baml': `
client<llm> Local {
  provider openai-generic
  options {
    model "m"
    base_url env.LOCAL_LLM_URL
  }
}
function Echo(x: string) -> string {
  client Local
  prompt #"{{ x }}"#
}`,
  })
  const collector = new Collector()
  const err = await t.throwsAsync(rt.callFunction('Echo', { x: 'hi' }, { collector }))
  t.is(err.code, 'BAML_HTTP')
  t.is(err.clientName, 'Local')
  t.regex(err.message, /client `Local`: option base_url is env\.LOCAL_LLM_URL, and LOCAL_LLM_URL is not set/)
  t.notRegex(err.message, /relative URL/)
  t.is(collector.last.calls.length, 1)
  t.is(collector.last.calls[0].httpResponse, null)
  t.is(collector.last.error.code, 'BAML_HTTP')
  // From a sandbox: the same error, by BAML's class name.
  const ctx = new BamlContext(rt, { isolation: 'thread' })
  t.teardown(() => ctx.dispose())
  t.deepEqual(await ctx.evaluate(`try { await Echo('x') } catch (e) { [e.name, e.code, e.client_name] }`), [
    'BamlClientHttpError',
    'BAML_HTTP',
    'Local',
  ])
})

test('bad collector and onBamlCall options are ERR_INVALID_ARG_VALUE naming the option', async (t) => {
  const rt = project([client('Main', 'openai', 'http://127.0.0.1:9/v1', 'm-1')])
  const bad = { code: 'ERR_INVALID_ARG_VALUE' }
  for (const collector of [5, 'c', {}, [new Collector(), {}], [1], () => {}]) {
    const err = await t.throwsAsync(rt.callFunction('Extract', { text: 'x' }, { collector }), bad)
    t.regex(err.message, /collector/)
    t.throws(() => new BamlContext(rt, { collector, isolation: 'thread' }), { ...bad, message: /collector/ })
  }
  for (const onBamlCall of [1, 'f', {}]) {
    t.throws(() => new BamlContext(rt, { onBamlCall, isolation: 'thread' }), { ...bad, message: /onBamlCall/ })
  }
  // onBamlCall belongs to contexts only.
  await t.throwsAsync(rt.callFunction('Extract', { text: 'x' }, { onBamlCall: () => {} }), { ...bad, message: /onBamlCall/ })
  t.throws(() => new Collector(5), { ...bad, message: /name/ })
  // An empty array and undefined mean no collector.
  const ctx = new BamlContext(rt, { collector: [], onBamlCall: undefined, isolation: 'thread' })
  ctx.dispose()
  t.pass()
})

test('the README example (examples/observability.js) runs and prints what it says', (t) => {
  const { execFileSync } = require('node:child_process')
  const path = require('node:path')
  const out = execFileSync(process.execPath, [path.join(__dirname, '..', 'examples', 'observability.js')], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  t.regex(out, /^Extract call \{ inputTokens: 12, outputTokens: 5 \}$/m)
  t.regex(out, /\/v1\/chat\/completions Bearer \[redacted\]$/m)
  t.regex(out, /^200 \{"name": "Ada", "age": 36\}$/m)
  t.regex(out, /^sandbox called Extract ok$/m)
  t.regex(out, /\[ 'callFunction:call', 'sandbox:stream' \]/)
  t.regex(out, /\{ inputTokens: 24, outputTokens: 10 \} \{ calls: 1, inputTokens: 12, outputTokens: 5 \}/)
  t.false(out.includes('sk-example'))
})

test('the Collector and its logs are typed in index.d.ts (tsc --strict), with no any', (t) => {
  const fs = require('node:fs')
  const os = require('node:os')
  const path = require('node:path')
  const { execFileSync } = require('node:child_process')
  const index = path.join(__dirname, '..', 'index').replace(/\\/g, '/')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'collector-dts-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const tsc = require.resolve('typescript/bin/tsc')
  const check = (name, source) => {
    fs.writeFileSync(path.join(dir, name), source)
    return execFileSync(
      process.execPath,
      [tsc, '--noEmit', '--strict', '--target', 'es2022', '--lib', 'es2022,dom', '--moduleResolution', 'node', path.join(dir, name)],
      { encoding: 'utf8' },
    )
  }
  try {
    check(
      'usage.ts',
      `import { BamlRuntime, BamlContext, Collector, FunctionLog, LlmCall } from '${index}'
async function main(rt: BamlRuntime): Promise<number> {
  const c = new Collector('x')
  await rt.callFunction('F', { a: 1 }, { collector: [c, new Collector()] })
  const last: FunctionLog | null = c.last
  if (last === null) return 0
  const kind: 'call' | 'stream' = last.logType
  const calls: LlmCall[] = last.calls
  const status: number | undefined = calls[0]?.httpResponse?.status
  const auth: string | undefined = calls[0]?.httpRequest?.headers['authorization']
  const tokens: number | null = last.usage.inputTokens
  const total: number = c.usage.inputTokens + c.usage.outputTokens
  const code: string | undefined = last.error?.code
  const ctx = new BamlContext(rt, { collector: c, onBamlCall: (log) => { const n: string = log.functionName; void n } })
  void kind, status, auth, tokens, code, ctx, c.id(last.id), c.clear()
  return total
}
void main
`,
    )
  } catch (e) {
    t.fail(`tsc rejected the usage:\n${e.stdout}`)
  }
  const misuse = t.throws(() =>
    check('misuse.ts', `import { Collector } from '${index}'\nconst n: number = new Collector().last.functionName\nvoid n\n`),
  )
  t.regex(misuse.stdout, /possibly 'null'/)
  t.regex(misuse.stdout, /'string' is not assignable to type 'number'/)
  // No `any` in the observability types.
  const dts = fs.readFileSync(path.join(__dirname, '..', 'binding.d.ts'), 'utf8')
  for (const name of ['class Collector', 'interface FunctionLog', 'interface LlmCall', 'interface LlmHttpRequest', 'interface LlmHttpResponse', 'interface LogUsage', 'interface LogTiming', 'interface LogError', 'interface CollectorUsage']) {
    const start = dts.indexOf(`export declare ${name} `) >= 0 ? dts.indexOf(`export declare ${name} `) : dts.indexOf(`export ${name} `)
    t.true(start >= 0, name)
    const body = dts.slice(start, dts.indexOf('\n}', start)).replace(/\/\*[\s\S]*?\*\//g, '')
    t.notRegex(body, /\bany\b/, name)
  }
})
