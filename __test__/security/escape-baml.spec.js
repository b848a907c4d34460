// Escape attempts through BAML functions: their arguments, results, errors, streams and the
// `b` object itself. Each runs through `attempt()` (see _harness.js): nothing of Node leaks,
// nothing in Node changes, the context stays usable.
const test = require('ava')
const { BamlRuntime } = require('../..')
const { startMockLlm } = require('../../crates/mock_llm/node.js')
const { attempt, plain, sandboxError } = require('./_harness.js')

const RESUME = '{"name": "Ada", "skills": ["math", "engines"]}'

let mock
let rt

test.before(async () => {
  mock = await startMockLlm()
  rt = BamlRuntime.fromFiles({
    'main.baml': `
class Resume {
  name string
  skills string[]
}

client<llm> Mock {
  provider openai
  options {
    model "mock-model"
    api_key env.LLM_KEY
    base_url "${mock.url}/v1"
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

function Echo(r: Resume) -> string {
  client Mock
  prompt #"Echo: {{ r.name }} {{ r.skills }}"#
}
`,
  })
})

test.after.always(async () => {
  await mock?.stop()
})

const options = () => ({ runtime: rt, context: { env: { LLM_KEY: 'sk-test' } } })

async function reply(text, extra = {}) {
  await mock.script({ default: { text, ...extra } })
}

test.serial('a BAML result is sandbox data: its constructors are the sandbox ones, and mutating it changes nothing outside', async (t) => {
  await reply(RESUME)
  await attempt(t, async ({ ev }) => {
    const r = await ev(`
      const a = await b.ExtractResume('x')
      const facts = [Object.getPrototypeOf(a) === Object.prototype, Array.isArray(a.skills),
        a.constructor.constructor('return typeof process')(), typeof a.skills.constructor.from]
      a.name = 'Mallory'
      a.skills.push('x')
      Object.getPrototypeOf(a).hacked = 1
      const again = await ExtractResume('x')
      delete Object.prototype.hacked
      ;[facts, again]
    `)
    plain(t, r)
    t.deepEqual(r, [[true, true, 'undefined', 'function'], { name: 'Ada', skills: ['math', 'engines'] }])
  }, options())
})

test.serial('a BAML error inside chains to sandbox constructors; its fields are copies; thrown out it is a plain Node error', async (t) => {
  await reply('not a resume at all')
  await attempt(t, async ({ ev }) => {
    const r = await ev(`
      let out
      try { await b.ExtractResume('x') } catch (e) {
        out = [e.name, e instanceof Error, e.constructor === Error || Object.getPrototypeOf(Object.getPrototypeOf(e)) === Error.prototype,
          e.constructor.constructor('return typeof require')(), typeof e.raw_output, e.raw_output]
        e.raw_output = 'changed'
        Object.getPrototypeOf(e).name = 'Hijacked'
      }
      out
    `)
    plain(t, r)
    t.deepEqual(r, ['BamlValidationError', true, true, 'undefined', 'string', 'not a resume at all'])
    const err = await sandboxError(t, ev("await b.ExtractResume('x')"), 'BAML_VALIDATION')
    t.is(err.rawOutput, 'not a resume at all')
    t.regex(err.prompt, /Extract the resume/)
  }, options())
})

test.serial('hostile arguments to a BAML function: getters, proxies, toString and toJSON traps never reach the request', async (t) => {
  await reply('ok')
  await attempt(t, async ({ ev }) => {
    const before = (await mock.requests()).length
    const r = await ev(`
      const out = []
      const tries = [
        () => b.ExtractResume({ toString() { return 'from toString' } }),
        () => b.ExtractResume(new Proxy({}, { get() { throw new Error('trap') } })),
        () => b.ExtractResume(Symbol('s')),
        () => b.ExtractResume(1n),
        () => b.Echo({ name: 'n', skills: new Proxy(['a'], { ownKeys() { throw new Error('keys') } }) }),
        () => b.Echo({ get name() { throw new Error('getter') }, skills: [] }),
        () => b.Echo({ name: 'n', skills: [{ toJSON() { return 'json' } }] }),
      ]
      for (const f of tries) {
        try { await f(); out.push('called') } catch (e) { out.push([e.name, typeof e.code === 'string' ? e.code : 'no code']) }
      }
      out
    `)
    plain(t, r)
    t.is(r.length, 7)
    for (const outcome of r) {
      t.not(outcome, 'called', JSON.stringify(r))
    }
    t.is((await mock.requests()).length, before, 'no request was sent for any of them')
  }, options())
})

test.serial('polluted prototypes and a replaced JSON inside do not change the request or the parsed result', async (t) => {
  await reply(RESUME)
  await attempt(t, async ({ ev }) => {
    const before = (await mock.requests()).length
    const r = await ev(`
      Object.prototype.injected = 'yes'
      Array.prototype.extra = 'yes'
      JSON.stringify = () => '"owned"'
      JSON.parse = () => ({ name: 'owned', skills: [] })
      String.prototype.toString = () => 'owned'
      const a = await b.ExtractResume('plain text')
      delete Object.prototype.injected
      delete Array.prototype.extra
      a
    `)
    plain(t, r)
    t.deepEqual(r, { name: 'Ada', skills: ['math', 'engines'] })
    const reqs = await mock.requests()
    t.is(reqs.length, before + 1)
    const body = JSON.stringify(reqs[reqs.length - 1].body)
    t.regex(body, /plain text/)
    t.notRegex(body, /injected|owned|extra/)
  }, options())
})

test.serial('b.stream: partials are fresh copies; a hostile iterator protocol and early return end cleanly', async (t) => {
  // Chunks 3 ms apart: a sandbox that falls behind a stream sees only the newest partial.
  await reply(RESUME, { chunk_chars: 5, chunk_delay_ms: 3 })
  await attempt(t, async ({ ev }) => {
    const r = await ev(`
      const s = b.stream.ExtractResume('x')
      const seen = []
      for await (const p of s) {
        seen.push(JSON.stringify(p))
        p.name = 'mutated'
        if (p.skills) p.skills.push('injected')
      }
      const final = await s.getFinalResponse()
      const s2 = b.stream.ExtractResume('x')
      s2[Symbol.asyncIterator] = function () { return { next: () => { throw new Error('mine') } } }
      let broke
      try { for await (const p of s2) {} } catch (e) { broke = e.message }
      const s3 = b.stream.ExtractResume('x')
      for await (const p of s3) break
      ;[final, broke, seen.length > 1, seen.every((j) => !j.includes('injected') && !j.includes('mutated'))]
    `)
    plain(t, r)
    t.deepEqual(r, [{ name: 'Ada', skills: ['math', 'engines'] }, 'mine', true, true])
  }, options())
})

test.serial('the b object: frozen, its functions are sandbox natives, replacing it affects only this context', async (t) => {
  await reply(RESUME)
  await attempt(t, async ({ ev }) => {
    const r = await ev(`
      const facts = [Object.isFrozen(b), Object.isFrozen(b.stream), b.ExtractResume.constructor('return typeof process')(),
        Function.prototype.toString.call(b.ExtractResume).includes('NODE_SOURCE_MARKER'),
        Object.getPrototypeOf(b) === null]
      try { b.ExtractResume = () => 'replaced' } catch (e) {}
      globalThis.ExtractResume = async () => ({ name: 'fake', skills: [] })
      globalThis.b = { ExtractResume: async () => ({ name: 'fake', skills: [] }) }
      ;[facts, (await b.ExtractResume('x')).name]
    `)
    t.deepEqual(r, [[true, true, 'undefined', false, true], 'fake'])
  }, options())
  // A fresh context has the real functions.
  await attempt(t, async ({ ev }) => {
    t.deepEqual(await ev("await b.ExtractResume('x')"), { name: 'Ada', skills: ['math', 'engines'] })
  }, options())
})

test.serial('a BAML call cannot read or spend another context\'s key: env is per context and never readable inside', async (t) => {
  await reply('ok')
  await attempt(t, async ({ ev }) => {
    const before = (await mock.requests()).length
    const r = await ev(`[typeof env, typeof LLM_KEY, typeof process, JSON.stringify(b).includes('sk-'), await b.Echo({ name: 'a', skills: [] })]`)
    t.deepEqual(r, ['undefined', 'undefined', 'undefined', false, 'ok'])
    const reqs = await mock.requests()
    t.is(reqs.length, before + 1)
    t.is(reqs[reqs.length - 1].headers.authorization, 'Bearer sk-test')
  }, options())
})
