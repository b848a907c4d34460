// Step 3: runtime.parse() reads model output as a function's return type, as BAML's parser does.
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const util = require('node:util')
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

// Cases where we knowingly differ from BAML, each with its reason in KNOWN_DIFFERENCES.md
// ("Parsing"); the same list is checked by crates/baml_sap/tests/conformance.rs.
// The vectors are JSON: compare through JSON too (-0 is recorded as 0).
const asRecorded = (v) => (v === undefined ? v : JSON.parse(JSON.stringify(v)))

const KNOWN = new Set(['alias-check-partial_595', 'alias-check-partial_601'])

test('the vectors recorded from BAML give BAML\'s answers through runtime.parse', (t) => {
  const recorded = JSON.parse(fs.readFileSync(path.join(vectorsDir, 'baml_vectors.json'), 'utf8'))
  t.true(recorded.length >= 805)
  const failures = []
  for (const v of recorded) {
    if (v.load_error) {
      // BAML rejects the project itself; so must we.
      t.throws(() => runtimeFor(v), undefined, v.name)
      continue
    }
    const rt = runtimeFor(v)
    let got
    try {
      got = { value: rt.parse('ConformanceFn', v.raw, { partial: Boolean(v.partial) }) }
    } catch (e) {
      got = { error: e.code }
    }
    const agrees = v.expect_error ? got.error === 'BAML_VALIDATION' : util.isDeepStrictEqual(asRecorded(got.value), v.expected)
    if (KNOWN.has(v.name)) {
      t.false(agrees, `${v.name} is a known difference but now matches BAML: remove it from KNOWN`)
    } else if (!agrees) {
      failures.push(`${v.name}: expected ${v.expect_error ? 'an error' : JSON.stringify(v.expected)}, got ${JSON.stringify(got)}`)
    }
  }
  t.deepEqual(failures, [], `${failures.length} of ${recorded.length} vectors differ from BAML:\n${failures.join('\n')}`)
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
