// Errors point at the code: `filename` names the script in messages and stacks, BAML and host
// call failures carry the sandboxed call site, a missing b.X is named, in both isolation modes.
const test = require('ava')
const { BamlRuntime, BamlContext } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

const BAML = `
client<llm> Local {
  provider openai
  options {
    model "m"
    api_key "k"
    base_url env.LOCAL_URL
  }
}

class Person {
  name string
}

function Extract(text: string) -> Person {
  client Local
  prompt #"{{ text }} {{ ctx.output_format }}"#
}

function Summarize(text: string) -> string {
  client Local
  prompt #"{{ text }}"#
}
`

let mock
test.before(async () => {
  mock = await startMockLlm()
  await mock.script({ rules: [{ contains: 'broken', replies: [{ text: 'not a person' }] }] })
})
test.after.always(() => mock && mock.stop())

const rt = BamlRuntime.fromFiles({ 'main.baml': BAML })

for (const isolation of ['thread', 'process']) {
  const make = (t, options = {}) => {
    const ctx = new BamlContext(rt, { isolation, env: { LOCAL_URL: `${mock.url}/v1` }, ...options })
    t.teardown(() => ctx.dispose())
    return ctx
  }

  test(`[${isolation}] an uncaught error's message starts with filename:line:column, and jsStack has every frame`, async (t) => {
    const ctx = make(t)
    const code = 'function inner() {\n  null.x\n}\nfunction outer() { inner() }\n\nouter()\n'
    const err = await t.throwsAsync(ctx.evaluate(code, { filename: 'tool/step.js' }), { code: 'SANDBOX_ERROR' })
    t.regex(err.message, /^tool\/step\.js:2:\d+: TypeError: cannot read property 'x' of null$/)
    t.is(err.jsName, 'TypeError')
    t.regex(err.jsStack, /at inner \(tool\/step\.js:2:\d+\)\n\s+at outer \(tool\/step\.js:4:\d+\)\n\s+at <eval> \(tool\/step\.js:6:\d+\)/)
    // The default name, a syntax error, and an error thrown after an await.
    const plain = await t.throwsAsync(ctx.evaluate('\n\nthrow new RangeError("r")'), { code: 'SANDBOX_ERROR' })
    t.regex(plain.message, /^<sandbox>:3:\d+: RangeError: r$/)
    const syntax = await t.throwsAsync(ctx.evaluate('let a = 1\nlet b = ;', { filename: 's.js' }), { code: 'SANDBOX_ERROR' })
    t.regex(syntax.message, /^s\.js:2:\d+: SyntaxError: /)
    const later = await t.throwsAsync(ctx.evaluate('await null\nthrow new Error("later")', { filename: 'a.js' }))
    t.regex(later.message, /^a\.js:2:\d+: Error: later$/)
    // A thrown non-Error has no location to give.
    const value = await t.throwsAsync(ctx.evaluate('throw 42', { filename: 'a.js' }))
    t.is(value.message, 'Uncaught 42')
  })

  test(`[${isolation}] a failed host call rejects with an Error whose stack is where the sandbox called it`, async (t) => {
    const ctx = make(t, { hostFunctions: { fetchUser: () => { throw new Error('no such user') } } })
    const code = 'async function load(id) {\n  return await fetchUser(id)\n}\n' +
      'try { await load(1) } catch (e) { ;[e.message, e.stack, Object.getOwnPropertyNames(e).sort()] }'
    const [message, stack, own] = await ctx.evaluate(code, { filename: 'job.js' })
    t.is(message, 'no such user')
    t.regex(stack, /at load \(job\.js:2:\d+\)/)
    t.deepEqual(own, ['message', 'stack'])
    const err = await t.throwsAsync(ctx.evaluate('\nawait fetchUser(2)', { filename: 'job.js' }), { code: 'SANDBOX_ERROR' })
    t.regex(err.message, /^job\.js:2:\d+: Error: no such user$/)
  })

  test(`[${isolation}] a failed BAML call rejects with an Error whose stack is the sandboxed call site`, async (t) => {
    const ctx = make(t)
    const code = 'async function run() {\n  return await b.Extract("broken")\n}\n' +
      'try { await run() } catch (e) { ;[e.name, e.stack, e.raw_output] }'
    const [name, stack, raw] = await ctx.evaluate(code, { filename: 'agent.js' })
    t.is(name, 'BamlValidationError')
    t.regex(stack, /at run \(agent\.js:2:\d+\)/)
    t.is(raw, 'not a person')
    const bad = await ctx.evaluate('try { await b.Extract(5) } catch (e) { e.stack }', { filename: 'agent.js' })
    t.regex(bad, /at <eval> \(agent\.js:1:\d+\)/)
    // Uncaught, it keeps its BAML code; jsStack shows where.
    const err = await t.throwsAsync(ctx.evaluate('\nawait b.Extract("broken")', { filename: 'agent.js' }), { code: 'BAML_VALIDATION' })
    t.regex(err.jsStack, /agent\.js:2:\d+/)
  })

  test(`[${isolation}] b.X for a function the project does not have names X and the functions there are`, async (t) => {
    const ctx = make(t)
    const err = await t.throwsAsync(ctx.evaluate('await b.ExtractResume("x")', { filename: 'x.js' }), { code: 'SANDBOX_ERROR' })
    t.regex(err.message, /^x\.js:1:\d+: TypeError: b\.ExtractResume is not a BAML function; the functions are Extract, Summarize$/)
    const stream = await ctx.evaluate('try { b.stream.Nope() } catch (e) { e.message }')
    t.is(stream, 'b.stream.Nope is not a BAML function; the functions are Extract, Summarize')
    // What protocols and feature checks read still reads as on a plain object.
    t.deepEqual(await ctx.evaluate('[typeof b.then, typeof b.toJSON, "Extract" in b, "Nope" in b, Object.keys(b).join()]'),
      ['undefined', 'undefined', true, false, 'Extract,Summarize'])
    t.is(await ctx.evaluate('const x = await Promise.resolve(b); typeof x.Extract'), 'function')
  })
}
