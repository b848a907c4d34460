// Expression functions (a `function` whose body is BAML expressions) called from Node and from
// sandboxed code, in both isolation modes, calling an LLM function against the mock; and a
// runaway body ending with an error instead of holding a thread.
const test = require('ava')
const { BamlRuntime, BamlContext } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

let mock
test.before(async () => {
  mock = await startMockLlm()
})
test.after.always(() => mock?.stop())

function runtime() {
  return BamlRuntime.fromFiles({
    'main.baml': `
client<llm> Mock {
  provider openai
  options {
    model "m"
    api_key "k"
    base_url "${mock.url}/v1"
  }
}

class Person {
  name string
  age int
}

function Extract(text: string) -> Person {
  client Mock
  prompt #"Extract the person: {{ text }} {{ ctx.output_format }}"#
}

/// Next year's ages of everyone named in the texts.
function AgesNextYear(texts: string[]) -> int[] {
  let out = [];
  let i = 0;
  for (let t in texts) {
    let p = Extract(t);
    out = out + [p.age];
    i += 1;
  }
  let first = Extract(texts[0]);
  [first.age + 1, i]
}

function Fib(n: int) -> int {
  if (n < 2) { return n; }
  let a = 0;
  let b = 1;
  let k = 1;
  while (k < n) {
    let c = a + b;
    a = b;
    b = c;
    k += 1;
  }
  b
}

function Spin() -> int {
  let i = 0;
  while (true) { i += 1; }
  i
}
`,
  })
}

test.serial('callFunction runs an expression function, its LLM calls included', async (t) => {
  const rt = runtime()
  await mock.reset()
  await mock.script({ default: { text: '{"name": "Ada", "age": 36}' } })
  t.is(await rt.callFunction('Fib', { n: 10 }), 55)
  t.deepEqual(await rt.callFunction('AgesNextYear', { texts: ['Ada, 36', 'Bo, 7'] }), [37, 2])
  t.is((await mock.requests()).length, 3)
  t.true(rt.functions().some((f) => f.name === 'Fib' && f.returnType === 'int' && f.params[0].type === 'int'))
  t.regex(rt.typescriptDeclarations(), /Fib\(n: number, options\?: BamlCallOptions\): Promise<number>/)
})

for (const isolation of ['thread', 'process']) {
  test.serial(`sandboxed code calls expression functions as b.F and as globals (${isolation})`, async (t) => {
    const rt = runtime()
    await mock.reset()
    await mock.script({ default: { text: '{"name": "Ada", "age": 36}' } })
    const ctx = new BamlContext(rt, { isolation })
    t.teardown(() => ctx.dispose())
    t.deepEqual(await ctx.evaluate('[await b.Fib(12), await Fib(5), await b.AgesNextYear(["Ada"])]'), [144, 5, [37, 1]])
  })
}

test('a runaway body ends with BAML_INVALID_ARGUMENT naming where it ran, and Node keeps ticking', async (t) => {
  const rt = runtime()
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  const started = Date.now()
  const e = await t.throwsAsync(rt.callFunction('Spin', {}))
  clearInterval(timer)
  t.is(e.code, 'BAML_INVALID_ARGUMENT')
  t.regex(e.message, /^main\.baml:\d+:\d+: the expression function took more than 2000000 steps/)
  t.true(ticks > 0 || Date.now() - started < 10, 'Node ticked meanwhile')
})
