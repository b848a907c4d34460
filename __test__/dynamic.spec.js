// TypeBuilder and ClientRegistry against the mock LLM server: from callFunction, renderRequest
// and typescriptDeclarations, and per context (calls from sandboxed code, both isolation
// modes); their mistakes as located errors.
const test = require('ava')
const { BamlRuntime, BamlContext, TypeBuilder, ClientRegistry } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

// The project's own client points at a closed port: a call that reaches the mock went through
// the registry.
const PROJECT = `
client<llm> Main {
  provider openai
  options {
    model "gpt-4o"
    api_key "sk-project"
    base_url "http://127.0.0.1:9/v1"
  }
}

class Person {
  name string
  @@dynamic
}

class Fixed {
  a int
}

enum Mood {
  HAPPY
  @@dynamic
}

function Extract(text: string) -> Person {
  client Main
  prompt #"
    Extract the person.
    {{ text }}
    {{ ctx.output_format }}
  "#
}

function Feel(text: string) -> Mood {
  client Main
  prompt #"
    How does it feel? {{ text }}
    {{ ctx.output_format }}
  "#
}
`

let mock
test.before(async () => {
  mock = await startMockLlm()
})
test.after.always(() => mock?.stop())

function registry(model = 'mock-model') {
  const cr = new ClientRegistry()
  cr.addLlmClient('Mock', 'openai', { model, api_key: 'sk-registry', base_url: `${mock.url}/v1` })
  cr.setPrimary('Mock')
  return cr
}

function personBuilder() {
  const tb = new TypeBuilder()
  const address = tb.addClass('Address')
  address.addProperty('city', tb.string())
  const person = tb.getClass('Person')
  person.addProperty('age', tb.int()).description('in whole years')
  person.addProperty('address', address.type().optional())
  person.addProperty('tags', tb.list(tb.union([tb.literalString('vip'), tb.literalString('new')])))
  return tb
}

test.serial('callFunction with a TypeBuilder and a ClientRegistry: the prompt shows the added fields and the answer parses into them', async (t) => {
  const rt = BamlRuntime.fromFiles({ 'main.baml': PROJECT })
  await mock.reset()
  await mock.script({ default: { text: '{"name": "Ada", "age": "36", "address": {"city": "London"}, "tags": ["vip"]}' } })
  const out = await rt.callFunction('Extract', { text: 'Ada, 36, of London' }, { tb: personBuilder(), clientRegistry: registry('dyn-model') })
  t.deepEqual(out, { name: 'Ada', age: 36, address: { city: 'London' }, tags: ['vip'] })
  const [req] = await mock.requests()
  t.is(req.body.model, 'dyn-model')
  t.is(req.headers.authorization, 'Bearer sk-registry')
  const prompt = JSON.stringify(req.body.messages)
  t.regex(prompt, /\/\/ in whole years/)
  t.regex(prompt, /age: int/)
  t.regex(prompt, /city: string/)
  // Without the builder the same function knows only `name`.
  await mock.script({ default: { text: '{"name": "Ada", "age": 36}' } })
  t.deepEqual(await rt.callFunction('Extract', { text: 'x' }, { clientRegistry: registry() }), { name: 'Ada' })
})

test.serial('enum values added with an alias are parsed by their alias', async (t) => {
  const rt = BamlRuntime.fromFiles({ 'main.baml': PROJECT })
  const tb = new TypeBuilder()
  tb.getEnum('Mood').addValue('GLOOMY').alias('grey').description('a rainy day')
  await mock.reset()
  await mock.script({ default: { text: 'It is grey.' } })
  t.is(await rt.callFunction('Feel', { text: 'rain' }, { tb, clientRegistry: registry() }), 'GLOOMY')
  const [req] = await mock.requests()
  t.regex(JSON.stringify(req.body.messages), /- grey: a rainy day/)
})

test('renderRequest follows the registry: a client of the same name replaces the project\'s, setPrimary picks one', async (t) => {
  const rt = BamlRuntime.fromFiles({ 'main.baml': PROJECT })
  const cr = new ClientRegistry()
  cr.addLlmClient('Main', 'anthropic', { model: 'claude-x', api_key: 'ak' })
  let req = await rt.renderRequest('Extract', { text: 'x' }, { clientRegistry: cr })
  t.is(req.url, 'https://api.anthropic.com/v1/messages')
  t.is(req.body.model, 'claude-x')
  cr.addLlmClient('Other', 'openai', { model: 'o', api_key: 'k', base_url: 'http://127.0.0.1:4/v1' }, null)
  cr.setPrimary('Other')
  req = await rt.renderRequest('Extract', { text: 'x' }, { clientRegistry: cr })
  t.is(req.url, 'http://127.0.0.1:4/v1/chat/completions')
  // An explicit `client` still wins over the primary.
  req = await rt.renderRequest('Extract', { text: 'x' }, { clientRegistry: cr, client: 'Main' })
  t.is(req.body.model, 'claude-x')
})

test('typescriptDeclarations follow a TypeBuilder', (t) => {
  const rt = BamlRuntime.fromFiles({ 'main.baml': PROJECT })
  const plain = rt.typescriptDeclarations()
  const typed = rt.typescriptDeclarations({ tb: personBuilder() })
  t.notRegex(plain, /interface Address/)
  t.regex(typed, /interface Address \{[^}]*city: string/)
  t.regex(typed, /age: number/)
  t.regex(typed, /address(\?: Address \| null|: Address \| null)/)
})

for (const isolation of ['thread', 'process']) {
  test.serial(`a context with tb and clientRegistry: sandboxed calls use them (${isolation})`, async (t) => {
    const rt = BamlRuntime.fromFiles({ 'main.baml': PROJECT })
    await mock.reset()
    await mock.script({ default: { text: '{"name": "Bo", "age": 7, "address": null, "tags": []}' } })
    const ctx = new BamlContext(rt, { isolation, tb: personBuilder(), clientRegistry: registry() })
    t.teardown(() => ctx.dispose())
    t.deepEqual(await ctx.evaluate('const p = await b.Extract("Bo"); ({ age: p.age + 1, tags: p.tags })'), { age: 8, tags: [] })
    // Another context of the same runtime, without them, is unchanged.
    const plain = new BamlContext(rt, { isolation, clientRegistry: registry() })
    t.teardown(() => plain.dispose())
    t.deepEqual(await plain.evaluate('await b.Extract("Bo")'), { name: 'Bo' })
  })
}

test('mistakes in a TypeBuilder or ClientRegistry are errors that name them', async (t) => {
  const rt = BamlRuntime.fromFiles({ 'main.baml': PROJECT })
  const fixed = new TypeBuilder()
  fixed.getClass('Fixed').addProperty('b', fixed.int())
  let e = await t.throwsAsync(rt.callFunction('Extract', { text: 'x' }, { tb: fixed }))
  t.is(e.code, 'BAML_INVALID_ARGUMENT')
  t.regex(e.message, /TypeBuilder::add_baml:1:\d+: type `Fixed` does not have the `@@dynamic` attribute/)

  const missing = new TypeBuilder()
  missing.getClass('Person').addProperty('pet', missing.getClass('Pet').type())
  missing.getClass('Pet') // never given properties: an empty class is fine in BAML
  t.truthy(await rt.renderRequest('Extract', { text: 'x' }, { tb: missing }))

  const badBaml = new TypeBuilder()
  badBaml.addBaml('dynamic class Person {\n  pet Unknown\n}')
  e = await t.throwsAsync(rt.renderRequest('Extract', { text: 'x' }, { tb: badBaml }))
  t.is(e.code, 'BAML_INVALID_ARGUMENT')
  t.regex(e.message, /TypeBuilder::add_baml:\d+:\d+: .*Unknown/)

  const cr = new ClientRegistry()
  cr.addLlmClient('Bad', 'no-such-provider', { model: 'm' })
  cr.setPrimary('Bad')
  e = await t.throwsAsync(rt.renderRequest('Extract', { text: 'x' }, { clientRegistry: cr }))
  t.is(e.code, 'BAML_INVALID_ARGUMENT')
  t.regex(e.message, /ClientRegistry:2:\d+: .*no-such-provider/)

  const unknownPrimary = new ClientRegistry()
  unknownPrimary.setPrimary('Nope')
  e = await t.throwsAsync(rt.renderRequest('Extract', { text: 'x' }, { clientRegistry: unknownPrimary }))
  t.regex(e.message, /Nope/)

  // In a context the mistake is found when it is made.
  t.throws(() => new BamlContext(rt, { isolation: 'thread', tb: fixed }), { code: 'ERR_INVALID_ARG_VALUE', message: /option tb: [\s\S]*Fixed/ })
  t.throws(() => rt.typescriptDeclarations({ tb: fixed }), { code: 'ERR_INVALID_ARG_VALUE' })
  // Builders check their own arguments.
  const tb = new TypeBuilder()
  t.throws(() => tb.list('string'), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => tb.getClass('Person').addProperty('x', 'int'), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => new ClientRegistry().addLlmClient('C', 'openai', 'not options'), { code: 'ERR_INVALID_ARG_VALUE' })
  // A name that is not a BAML name cannot smuggle source in.
  const sneaky = new TypeBuilder()
  sneaky.getClass('Person').addProperty('x int\n}\nclass Evil {\n  y', sneaky.int())
  e = await t.throwsAsync(rt.renderRequest('Extract', { text: 'x' }, { tb: sneaky }))
  t.regex(e.message, /is not a BAML name/)
})

test('the same builder contents load once: later calls reuse them', async (t) => {
  const rt = BamlRuntime.fromFiles({ 'main.baml': PROJECT })
  const tb = personBuilder()
  const first = process.hrtime.bigint()
  await rt.renderRequest('Extract', { text: 'x' }, { tb })
  const cold = process.hrtime.bigint() - first
  let warm = 0n
  for (let i = 0; i < 20; i++) {
    const s = process.hrtime.bigint()
    await rt.renderRequest('Extract', { text: 'x' }, { tb: personBuilder() })
    warm += process.hrtime.bigint() - s
  }
  t.log(`cold ${Number(cold) / 1e3} µs, warm ${Number(warm / 20n) / 1e3} µs`)
  const req = await rt.renderRequest('Extract', { text: 'x' }, { tb })
  t.regex(JSON.stringify(req.body), /age: int/)
})

for (const isolation of ['thread', 'process']) {
  test.serial(`sandboxed code builds its own TypeBuilder for a call: b.F(x, { tb }), b.stream too (${isolation})`, async (t) => {
    const rt = BamlRuntime.fromFiles({ 'main.baml': PROJECT })
    await mock.reset()
    await mock.script({ default: { text: '{"name": "Bo", "age": 7, "pet": "cat", "address": {"city": "Oslo"}}' } })
    // The context's own tb adds `address`; a call's tb replaces it; the registry stays.
    const ctxTb = new TypeBuilder()
    ctxTb.getClass('Person').addProperty('address', ctxTb.addClass('Address').type().optional())
    ctxTb.getClass('Address').addProperty('city', ctxTb.string())
    const ctx = new BamlContext(rt, { isolation, tb: ctxTb, clientRegistry: registry() })
    t.teardown(() => ctx.dispose())
    const out = await ctx.evaluate(`
      const tb = new TypeBuilder()
      tb.getClass('Person').addProperty('age', tb.int())
      tb.getClass('Person').property('pet').setType(tb.union([tb.literalString('cat'), tb.literalString('dog')])).description('their pet')
      const own = await b.Extract('Bo', { tb })
      const ctxOnly = await b.Extract('Bo')
      const s = b.stream.Extract('Bo', { tb })
      for await (const partial of s) {}
      const streamed = await s.getFinalResponse()
      ;({ own, ctxOnly, streamed })
    `)
    t.deepEqual(out.own, { name: 'Bo', age: 7, pet: 'cat' })
    t.deepEqual(out.ctxOnly, { name: 'Bo', address: { city: 'Oslo' } })
    t.deepEqual(out.streamed, { name: 'Bo', age: 7, pet: 'cat' })
    const reqs = await mock.requests()
    t.true(reqs.every((r) => r.body.model === 'mock-model'))
    t.regex(JSON.stringify(reqs[0].body.messages), /\/\/ their pet/)
  })

  test.serial(`what sandboxed code passes as call options is checked (${isolation})`, async (t) => {
    const rt = BamlRuntime.fromFiles({ 'main.baml': PROJECT })
    const ctx = new BamlContext(rt, { isolation, clientRegistry: registry() })
    t.teardown(() => ctx.dispose())
    const out = await ctx.evaluate(`
      const codes = async (f) => { try { await f(); return 'ok' } catch (e) { return e.code + ': ' + e.message } }
      const tb = new TypeBuilder()
      tb.getClass('Fixed').addProperty('b', tb.int())
      const huge = new TypeBuilder()
      huge.addBaml('class Huge {\\n' + 'x'.repeat(70000) + ' int\\n}')
      const sneaky = new TypeBuilder()
      sneaky.getClass('Person').addProperty('x int\\n}\\nclass Evil {\\n  y', sneaky.int())
      const client = new TypeBuilder()
      client.addBaml('client<llm> Evil {\\n  provider openai\\n  options {\\n    model "m"\\n    api_key env.OPENAI_API_KEY\\n    base_url "http://127.0.0.1:9/v1"\\n  }\\n}')
      ;({
        client: await codes(() => b.Extract('x', { tb: client })),
        fixed: await codes(() => b.Extract('x', { tb })),
        registry: await codes(() => b.Extract('x', { clientRegistry: { clients: [] } })),
        unknown: await codes(() => b.Extract('x', { retries: 3 })),
        huge: await codes(() => b.Extract('x', { tb: huge })),
        sneaky: await codes(() => b.Extract('x', { tb: sneaky })),
        notBuilder: await codes(() => b.Extract('x', { tb: 42 })),
        builderArgs: await codes(async () => new TypeBuilder().list('int')),
      })
    `)
    t.regex(out.fixed, /^BAML_INVALID_ARGUMENT: .*TypeBuilder::add_baml:1:\d+: type `Fixed` does not have the `@@dynamic` attribute/s)
    t.regex(out.registry, /^BAML_INVALID_ARGUMENT: Extract: sandboxed code cannot pass a clientRegistry/)
    t.regex(out.unknown, /^BAML_INVALID_ARGUMENT: Extract: unknown call option "retries"/)
    t.regex(out.huge, /^BAML_INVALID_ARGUMENT: Extract: the type builder takes more than 65536 bytes/)
    t.regex(out.sneaky, /^BAML_INVALID_ARGUMENT: .*is not a BAML name/)
    t.regex(out.client, /^BAML_INVALID_ARGUMENT: .*TypeBuilder::add_baml may declare only classes, enums/s)
    t.regex(out.notBuilder, /^BAML_INVALID_ARGUMENT: .*type builder must be an object/)
    t.regex(out.builderArgs, /^ERR_INVALID_ARG_VALUE: list\(type\) must be a type made by the TypeBuilder/)
  })
}
