const test = require('ava')
const path = require('node:path')
const { BamlRuntime } = require('..')

test('an empty project loads from files and from a directory', (t) => {
  const a = BamlRuntime.fromFiles({})
  t.deepEqual(a.functions(), [])
  t.regex(a.typescriptDeclarations(), /declare const b/)
  const b = BamlRuntime.fromDirectory(path.join(__dirname, 'fixtures', 'empty-project'))
  t.deepEqual(b.functions(), [])
  const c = BamlRuntime.fromFiles({ 'notes.baml': '// only a comment\n' }, { KEY: 'value' })
  t.deepEqual(c.functions(), [])
})

test('an invalid source throws BAML_SYNTAX with every diagnostic', (t) => {
  // (`function F() -> string {}` is an expression function with an empty body: BAML loads it.)
  const err = t.throws(() => BamlRuntime.fromFiles({ 'a.baml': '// x\n  class Foo {\n a Missing\n}', 'b.baml': 'function F() -> string {\n  prompt #"hi"#\n}\nfunction G() -> int {\n  client "openai/gpt-4o"\n  prompt\n}' }))
  t.true(err instanceof Error)
  t.is(err.code, 'BAML_SYNTAX')
  t.is(err.diagnostics.length, 4)
  t.like(err.diagnostics[0], { file: 'a.baml', line: 3, column: 4, message: 'type `Missing` is not defined' })
  t.like(err.diagnostics[1], { file: 'b.baml', line: 1, column: 10, message: 'function `F` has no `client`' })
  t.like(err.diagnostics[2], { file: 'b.baml', line: 4, column: 10, message: 'function `G` has no `prompt`' })
  t.like(err.diagnostics[3], { file: 'b.baml', line: 6, column: 3, message: 'option `prompt` has no value' })
})

test('a missing directory is reported with its path', (t) => {
  const err = t.throws(() => BamlRuntime.fromDirectory('/definitely/not/here'))
  t.is(err.code, 'BAML_IO')
  t.is(err.path, '/definitely/not/here')
})
