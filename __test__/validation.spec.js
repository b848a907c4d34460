// Every entry point refuses wrong inputs with a stable code, by throwing (constructors and
// synchronous methods) or by rejecting (methods that return a Promise, which never throw).
// The table is shared with jest: __test__/jest/validation.test.js runs the same cases.
const test = require('ava')
const api = require('..')
const { BAML, cases } = require('./helpers/wrong-inputs.js')
const { outcome } = require('./helpers/outcome.js')

const rt = api.BamlRuntime.fromFiles({ 'resume.baml': BAML })
const ctx = new api.BamlContext(rt, { isolation: 'thread' })
test.after.always(() => ctx.dispose())

test('the table covers at least 60 wrong inputs', (t) => {
  t.true(cases.length >= 60, `${cases.length} cases`)
})

for (const [name, how, code, message, run] of cases) {
  test(`${name}: ${how}s ${code}`, async (t) => {
    const got = await outcome(() => run({ ...api, rt, ctx }))
    t.is(got.how, how, `${name}: ${got.how} ${got.error && got.error.message}`)
    t.true(got.error instanceof Error, 'an Error')
    t.is(got.error.code, code, got.error.message)
    t.regex(got.error.message, message)
  })
}
