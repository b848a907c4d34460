// The wrong-input table of __test__/validation.spec.js, under jest's realm: the same codes,
// the same throw-or-reject behaviour, and errors that are `instanceof Error` here.
const api = require('../..')
const { BAML, cases } = require('../helpers/wrong-inputs.js')
const { outcome } = require('../helpers/outcome.js')

const rt = api.BamlRuntime.fromFiles({ 'resume.baml': BAML })
const ctx = new api.BamlContext(rt, { isolation: 'thread' })
afterAll(() => ctx.dispose())

test.each(cases)('%s: %ss %s', async (name, how, code, message, run) => {
  const got = await outcome(() => run({ ...api, rt, ctx }))
  expect(got.how).toBe(how)
  expect(got.error).toBeInstanceOf(Error)
  expect(got.error.code).toBe(code)
  expect(got.error.message).toMatch(message)
})
