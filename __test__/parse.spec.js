// Step 3: runtime.parse() reads model output as a function's return type, as BAML's parser does.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const { BamlRuntime } = require('..')

const vectorsDir = path.join(__dirname, '..', 'crates', 'baml_sap', 'tests', 'vectors')

function runtimeFor(v) {
  return BamlRuntime.fromFiles({
    'main.baml': `${v.baml}\nfunction ConformanceFn() -> ${v.output_type} {\n  client "openai/gpt-4o"\n  prompt #"x"#\n}\n`,
  })
}

const starter = JSON.parse(fs.readFileSync(path.join(vectorsDir, 'sap_vectors.json'), 'utf8'))

test('all 25 starter vectors recorded from BAML give BAML\'s answers', (t) => {
  t.is(starter.length, 25)
  for (const v of starter) {
    const rt = runtimeFor(v)
    const run = () => rt.parse('ConformanceFn', v.raw, { partial: Boolean(v.partial) })
    if (v.expect_error) {
      const err = t.throws(run, undefined, v.name)
      t.is(err.code, 'BAML_VALIDATION', v.name)
      t.is(err.rawOutput, v.raw, v.name)
    } else {
      t.deepEqual(run(), v.expected, v.name)
    }
  }
})

test('272 more vectors recorded from BAML give BAML\'s answers through runtime.parse', (t) => {
  const recorded = JSON.parse(fs.readFileSync(path.join(vectorsDir, 'baml_vectors.json'), 'utf8'))
  t.true(recorded.length >= 200)
  let checked = 0
  for (const v of recorded) {
    const rt = runtimeFor(v)
    let got
    try {
      got = { value: rt.parse('ConformanceFn', v.raw, { partial: Boolean(v.partial) }) }
    } catch (e) {
      got = { error: e.code }
    }
    if (v.expect_error) t.is(got.error, 'BAML_VALIDATION', v.name)
    else t.deepEqual(got.value, v.expected, v.name)
    checked++
  }
  t.is(checked, recorded.length)
})

test('a failure names the field and why, with the raw output', (t) => {
  const rt = BamlRuntime.fromFiles({
    'main.baml': `class Person {
  name string
  age int
}
function Get() -> Person {
  client "openai/gpt-4o"
  prompt #"x"#
}
`,
  })
  const err = t.throws(() => rt.parse('Get', '{"name": "Ada", "age": "unknown"}'))
  t.true(err instanceof Error)
  t.is(err.code, 'BAML_VALIDATION')
  t.is(err.rawOutput, '{"name": "Ada", "age": "unknown"}')
  t.regex(err.message, /Person\.age/)
  t.regex(err.message, /expected an int/)
  const missing = t.throws(() => rt.parse('Get', '{"name": "Ada"}'))
  t.regex(missing.message, /Person\.age: is required but missing/)
  t.deepEqual(rt.parse('Get', '{"name": "Ada"}', { partial: true }), { name: 'Ada', age: null })
  const unknown = t.throws(() => rt.parse('Nope', '{}'))
  t.is(unknown.code, 'ERR_INVALID_ARG_VALUE')
  t.regex(unknown.message, /unknown BAML function `Nope`.*Get/)
})

test('checks and asserts', (t) => {
  const rt = BamlRuntime.fromFiles({
    'main.baml': `class Score {
  value int @check(non_negative, {{ this >= 0 }})
  label string @assert({{ this|length > 0 }})
}
function Get() -> Score {
  client "openai/gpt-4o"
  prompt #"x"#
}
`,
  })
  t.deepEqual(rt.parse('Get', '{"value": -3, "label": "x"}'), {
    value: { value: -3, checks: { non_negative: { name: 'non_negative', expression: 'this >= 0', status: 'failed' } } },
    label: 'x',
  })
  const err = t.throws(() => rt.parse('Get', '{"value": 1, "label": ""}'))
  t.regex(err.message, /Score\.label: assert failed/)
})
