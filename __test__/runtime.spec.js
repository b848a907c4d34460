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
  const err = t.throws(() => BamlRuntime.fromFiles({ 'a.baml': '// x\n  class Foo {\n a Missing\n}', 'b.baml': 'function F() -> string {}' }))
  t.true(err instanceof Error)
  t.is(err.code, 'BAML_SYNTAX')
  t.is(err.diagnostics.length, 3)
  t.like(err.diagnostics[0], { file: 'a.baml', line: 3, column: 4 })
  t.like(err.diagnostics[1], { file: 'b.baml', line: 1, column: 10, message: 'function `F` has no `client`' })
  t.like(err.diagnostics[2], { file: 'b.baml', line: 1, column: 10, message: 'function `F` has no `prompt`' })
})

test('a missing directory is reported with its path', (t) => {
  const err = t.throws(() => BamlRuntime.fromDirectory('/definitely/not/here'))
  t.is(err.code, 'BAML_IO')
  t.is(err.path, '/definitely/not/here')
})
