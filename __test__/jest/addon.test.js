// The addon under jest's module registry and realm: jest runs each test file in its own vm
// context with its own globals (Error, Promise, ...), which is where native addons often break
// `instanceof Error` and `rejects.toThrow`. Kept small; run by `npm test`.
const path = require('node:path')
const { BamlRuntime, BamlContext, Collector, ContextGroup } = require('../..')
const { startMockLlm } = require('../../crates/mock_llm/node.js')

let mock
let runtime

beforeAll(async () => {
  mock = await startMockLlm()
  await mock.script({
    rules: [
      { contains: 'You extract resumes', replies: [{ text: '{"name": "Ada", "skills": ["math"], "years_experience": 3}' }] },
      { contains: 'You judge', replies: [{ text: 'not json at all' }] },
    ],
  })
  runtime = BamlRuntime.fromDirectory(path.join(__dirname, '..', '..', 'examples', 'baml_src'))
}, 60_000)

afterAll(async () => {
  await mock.stop()
})

const env = () => ({ OPENAI_API_KEY: 'sk-jest', DEMO_BASE_URL: `${mock.url}/v1` })

test('results arrive as plain values of this realm', async () => {
  const ctx = new BamlContext(runtime, { env: env() })
  const out = await ctx.evaluate(`({ r: await b.ExtractResume('Ada'), list: [1, 2], when: new Date(0) })`)
  ctx.dispose()
  expect(out.r).toEqual({ name: 'Ada', email: null, skills: ['math'], years_experience: 3 })
  expect(Array.isArray(out.list)).toBe(true)
  expect(out.when).toBeInstanceOf(Date)
})

test('rejections are Errors with codes, and rejects.toThrow works', async () => {
  const ctx = new BamlContext(runtime, { env: env() })
  const failing = ctx.evaluate(`await b.MatchJob('job', 'text')`)
  await expect(failing).rejects.toThrow(/Failed to parse|could not|expected/)
  await expect(ctx.evaluate(`await b.MatchJob('job', 'text')`)).rejects.toMatchObject({ code: 'BAML_VALIDATION', rawOutput: 'not json at all' })
  await expect(ctx.evaluate('for (;;) {}', { timeoutMs: 50 })).rejects.toMatchObject({ code: 'SANDBOX_TIMEOUT' })
  const err = await ctx.evaluate('null.x').catch((e) => e)
  expect(err).toBeInstanceOf(Error)
  expect(err.code).toBe('SANDBOX_ERROR')
  ctx.dispose()
})

test('callFunction and BAML_SYNTAX work the same way', async () => {
  const value = await runtime.callFunction('ExtractResume', { text: 'Ada' }, { env: env() })
  expect(value.name).toBe('Ada')
  let thrown
  try {
    BamlRuntime.fromFiles({ 'x.baml': 'class {' })
  } catch (e) {
    thrown = e
  }
  expect(thrown).toBeInstanceOf(Error)
  expect(thrown.code).toBe('BAML_SYNTAX')
  expect(thrown.diagnostics[0]).toMatchObject({ file: 'x.baml', line: 1 })
  await expect(runtime.callFunction('Nope', {})).rejects.toThrow('function `Nope` is not defined')
})

test('a Collector works in this realm: on callFunction and on a context with onBamlCall', async () => {
  const collector = new Collector('jest')
  const value = await runtime.callFunction('ExtractResume', { text: 'Ada' }, { env: env(), collector: [collector] })
  expect(value.name).toBe('Ada')
  expect(collector.last).toMatchObject({ functionName: 'ExtractResume', logType: 'call', error: null })
  expect(collector.logs).toBeInstanceOf(Array)
  expect(collector.last.calls[0].httpRequest.headers.authorization).toBe('Bearer [redacted]')
  const seen = []
  const ctx = new BamlContext(runtime, { env: env(), collector, onBamlCall: (log) => seen.push(log) })
  await ctx.evaluate(`await b.ExtractResume('Ada')`)
  for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
  ctx.dispose()
  expect(collector.logs).toHaveLength(2)
  expect(seen).toHaveLength(1)
  expect(seen[0].calls).toBeInstanceOf(Array)
  expect(seen[0].id).toBe(collector.last.id)
  expect(collector.id(seen[0].id)).toEqual(seen[0])
  expect(collector.clear()).toBe(2)
  expect(() => new Collector(5)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
  await expect(runtime.callFunction('ExtractResume', { text: 'Ada' }, { collector: 1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
})

test('structured-clone kinds arrive as objects of this realm, results and host-function arguments alike', async () => {
  const seen = []
  const ctx = new BamlContext(runtime, {
    hostFunctions: { take: (x) => { seen.push(x); return true } },
    globals: { given: new Map([['k', new Set([1])]]) },
  })
  const source = `({ m: new Map([[1, { a: 2 }]]), s: new Set(['x']), u: new Uint8Array([1, 2]), b: new Uint8Array([3]).buffer,
    v: new DataView(new ArrayBuffer(2)), r: /x+/g, e: new TypeError('t', { cause: new RangeError('c') }) })`
  const out = await ctx.evaluate(source)
  await ctx.evaluate(`await take(${source})`)
  expect(await ctx.evaluate(`given instanceof Map && given.get('k') instanceof Set && given.get('k').has(1)`)).toBe(true)
  ctx.dispose()
  for (const v of [out, seen[0]]) {
    expect(v.m).toBeInstanceOf(Map)
    expect(v.m.get(1)).toEqual({ a: 2 })
    expect(v.s).toBeInstanceOf(Set)
    expect(v.s.has('x')).toBe(true)
    expect(v.u).toBeInstanceOf(Uint8Array)
    expect(Array.from(v.u)).toEqual([1, 2])
    expect(v.b).toBeInstanceOf(ArrayBuffer)
    expect(new Uint8Array(v.b)[0]).toBe(3)
    expect(v.v).toBeInstanceOf(DataView)
    expect(v.r).toBeInstanceOf(RegExp)
    expect(v.r.flags).toBe('g')
    expect(v.e).toBeInstanceOf(TypeError)
    expect(v.e.message).toBe('t')
    expect(v.e.cause).toBeInstanceOf(RangeError)
  }
})

test('a ContextGroup works in this realm: its members share a runtime, not their globals', async () => {
  const rt = BamlRuntime.fromFiles({})
  const group = new ContextGroup({ memoryLimitBytes: 32 * 1024 * 1024 })
  const a = new BamlContext(rt, { group })
  const b = new BamlContext(rt, { group })
  await a.evaluate('globalThis.mine = 1')
  expect(await b.evaluate('typeof mine')).toBe('undefined')
  const usage = group.memoryUsage()
  expect(usage.limitBytes).toBe(32 * 1024 * 1024)
  expect(a.memoryUsage().limitBytes).toBe(32 * 1024 * 1024)
  expect(() => new BamlContext(rt, { group: {} })).toThrow(/must be a ContextGroup/)
  a.dispose()
  b.dispose()
})
