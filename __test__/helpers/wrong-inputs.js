// Wrong inputs to every entry point, each with the error it must give: the same table runs
// under ava (__test__/validation.spec.js) and jest (__test__/jest/validation.test.js), so both
// hosts see the same codes and the same throw-or-reject behaviour.
//
// `how` is 'throw' for constructors and synchronous methods and 'reject' for methods that
// return a Promise (SPEC.md: those never throw). `message` is a pattern the message must match:
// it must name what was wrong.
'use strict'

// The client points at a closed port on this machine: no case may reach a network.
const BAML = `
client<llm> Local {
  provider openai
  options {
    model "m"
    api_key "k"
    base_url "http://127.0.0.1:9/v1"
  }
}

class Resume {
  name string
}

/// Reads a resume.
function ExtractResume(text: string) -> Resume {
  client Local
  prompt #"{{ text }} {{ ctx.output_format }}"#
}
`

const INVALID = 'ERR_INVALID_ARG_VALUE'

// Each case gets `{ BamlRuntime, BamlContext, rt, ctx }`: `rt` loaded from BAML above, `ctx`
// a live thread-mode context on it.
const cases = [
  // BamlRuntime.fromFiles
  ['fromFiles()', 'throw', INVALID, /files must be an object of strings, got undefined/, ({ BamlRuntime }) => BamlRuntime.fromFiles()],
  ['fromFiles(null)', 'throw', INVALID, /files .*got null/, ({ BamlRuntime }) => BamlRuntime.fromFiles(null)],
  ['fromFiles(1)', 'throw', INVALID, /files .*got a number/, ({ BamlRuntime }) => BamlRuntime.fromFiles(1)],
  ['fromFiles("x.baml")', 'throw', INVALID, /files .*got a string/, ({ BamlRuntime }) => BamlRuntime.fromFiles('x.baml')],
  ['fromFiles([source])', 'throw', INVALID, /files .*got an array/, ({ BamlRuntime }) => BamlRuntime.fromFiles([BAML])],
  ['fromFiles({ f: 1 })', 'throw', INVALID, /files\.f must be a string, got a number/, ({ BamlRuntime }) => BamlRuntime.fromFiles({ f: 1 })],
  ['fromFiles({ f: null })', 'throw', INVALID, /files\.f must be a string, got null/, ({ BamlRuntime }) => BamlRuntime.fromFiles({ f: null })],
  ['fromFiles(files, env: "x")', 'throw', INVALID, /env must be an object of strings, got a string/, ({ BamlRuntime }) => BamlRuntime.fromFiles({}, 'x')],
  ['fromFiles(files, env: { K: 1 })', 'throw', INVALID, /env\.K must be a string, got a number/, ({ BamlRuntime }) => BamlRuntime.fromFiles({}, { K: 1 })],
  ['fromFiles(files, env: [])', 'throw', INVALID, /env .*got an array/, ({ BamlRuntime }) => BamlRuntime.fromFiles({}, [])],
  ['fromFiles(bad syntax)', 'throw', 'BAML_SYNTAX', /x\.baml:1/, ({ BamlRuntime }) => BamlRuntime.fromFiles({ 'x.baml': 'class {' })],
  // BamlRuntime.fromDirectory
  ['fromDirectory()', 'throw', INVALID, /dir must be a string, got undefined/, ({ BamlRuntime }) => BamlRuntime.fromDirectory()],
  ['fromDirectory(1)', 'throw', INVALID, /dir must be a string, got a number/, ({ BamlRuntime }) => BamlRuntime.fromDirectory(1)],
  ['fromDirectory("")', 'throw', INVALID, /dir must be a directory path/, ({ BamlRuntime }) => BamlRuntime.fromDirectory('')],
  ['fromDirectory(missing)', 'throw', 'BAML_IO', /\/no\/such\/dir/, ({ BamlRuntime }) => BamlRuntime.fromDirectory('/no/such/dir')],
  ['fromDirectory(dir, env: 5)', 'throw', INVALID, /env must be an object of strings, got a number/, ({ BamlRuntime }) => BamlRuntime.fromDirectory('.', 5)],
  // BamlRuntime#parse
  ['parse(1, text)', 'throw', INVALID, /name must be a string, got a number/, ({ rt }) => rt.parse(1, '{}')],
  ['parse(name, 1)', 'throw', INVALID, /text must be a string, got a number/, ({ rt }) => rt.parse('ExtractResume', 1)],
  ['parse(name)', 'throw', INVALID, /text must be a string, got undefined/, ({ rt }) => rt.parse('ExtractResume')],
  ['parse(unknown)', 'throw', INVALID, /unknown BAML function `Nope`.*ExtractResume/, ({ rt }) => rt.parse('Nope', '{}')],
  ['parse options: 1', 'throw', INVALID, /parse options must be an object, got a number/, ({ rt }) => rt.parse('ExtractResume', '{}', 1)],
  ['parse options: { partal }', 'throw', INVALID, /unknown option "partal"/, ({ rt }) => rt.parse('ExtractResume', '{}', { partal: true })],
  ['parse options: { partial: "yes" }', 'throw', INVALID, /option partial must be a boolean, got a string/, ({ rt }) => rt.parse('ExtractResume', '{}', { partial: 'yes' })],
  ['parse(unparseable)', 'throw', 'BAML_VALIDATION', /./, ({ rt }) => rt.parse('ExtractResume', 'no json here')],
  // BamlRuntime#callFunction
  ['callFunction(1, {})', 'reject', INVALID, /name must be a string, got a number/, ({ rt }) => rt.callFunction(1, {})],
  ['callFunction()', 'reject', INVALID, /name must be a string, got undefined/, ({ rt }) => rt.callFunction()],
  ['callFunction(name, "x")', 'reject', INVALID, /args must be an object/, ({ rt }) => rt.callFunction('ExtractResume', 'x')],
  ['callFunction(name, [1])', 'reject', INVALID, /args must be an object/, ({ rt }) => rt.callFunction('ExtractResume', [1])],
  ['callFunction(unknown)', 'reject', 'BAML_INVALID_ARGUMENT', /Nope/, ({ rt }) => rt.callFunction('Nope', {})],
  ['callFunction missing arg', 'reject', 'BAML_INVALID_ARGUMENT', /text/, ({ rt }) => rt.callFunction('ExtractResume', {}, { env: { OPENAI_API_KEY: 'k' } })],
  ['callFunction options: "x"', 'reject', INVALID, /options must be an object, got a string/, ({ rt }) => rt.callFunction('ExtractResume', { text: 't' }, 'x')],
  ['callFunction options: { timeout }', 'reject', INVALID, /unknown option "timeout"/, ({ rt }) => rt.callFunction('ExtractResume', { text: 't' }, { timeout: 5 })],
  ['callFunction env: 1', 'reject', INVALID, /option env must be an object of strings/, ({ rt }) => rt.callFunction('ExtractResume', { text: 't' }, { env: 1 })],
  ['callFunction env: { K: false }', 'reject', INVALID, /option env\.K must be a string, got a boolean/, ({ rt }) => rt.callFunction('ExtractResume', { text: 't' }, { env: { K: false } })],
  ['callFunction client: 1', 'reject', INVALID, /option client must be a string, got a number/, ({ rt }) => rt.callFunction('ExtractResume', { text: 't' }, { client: 1 })],
  ['callFunction stream: "yes"', 'reject', INVALID, /option stream must be a boolean/, ({ rt }) => rt.callFunction('ExtractResume', { text: 't' }, { stream: 'yes' })],
  ['callFunction onPartial: 1', 'reject', INVALID, /option onPartial must be a function/, ({ rt }) => rt.callFunction('ExtractResume', { text: 't' }, { onPartial: 1 })],
  ['callFunction signal: 1', 'reject', INVALID, /option signal must be an object \(an AbortSignal\), got a number/, ({ rt }) => rt.callFunction('ExtractResume', { text: 't' }, { signal: 1 })],
  ['callFunction signal: {}', 'reject', INVALID, /option signal must be an AbortSignal/, ({ rt }) => rt.callFunction('ExtractResume', { text: 't' }, { signal: {} })],
  // BamlRuntime#renderRequest
  ['renderRequest(1)', 'reject', INVALID, /name must be a string, got a number/, ({ rt }) => rt.renderRequest(1, {})],
  ['renderRequest(name, 2)', 'reject', INVALID, /args must be an object/, ({ rt }) => rt.renderRequest('ExtractResume', 2)],
  ['renderRequest options: { steam }', 'reject', INVALID, /unknown option "steam"/, ({ rt }) => rt.renderRequest('ExtractResume', { text: 't' }, { steam: true })],
  ['renderRequest env: [1]', 'reject', INVALID, /option env .*got an array/, ({ rt }) => rt.renderRequest('ExtractResume', { text: 't' }, { env: [1] })],
  ['renderRequest(unknown)', 'reject', 'BAML_INVALID_ARGUMENT', /Nope/, ({ rt }) => rt.renderRequest('Nope', {})],
  // BamlRuntime#typescriptDeclarations
  ['typescriptDeclarations(1)', 'throw', INVALID, /options must be an object, got a number/, ({ rt }) => rt.typescriptDeclarations(1)],
  ['typescriptDeclarations({ host })', 'throw', INVALID, /unknown option "host"/, ({ rt }) => rt.typescriptDeclarations({ host: {} })],
  ['typescriptDeclarations hostFunctions: { f: 1 }', 'throw', INVALID, /hostFunctions\.f must be a string/, ({ rt }) => rt.typescriptDeclarations({ hostFunctions: { f: 1 } })],
  ['typescriptDeclarations globals: "x"', 'throw', INVALID, /option globals must be an object of strings/, ({ rt }) => rt.typescriptDeclarations({ globals: 'x' })],
  // new BamlContext
  ['BamlContext(rt) without new', 'throw', 'ERR_CONSTRUCT_CALL_REQUIRED', /without 'new'/, ({ BamlContext, rt }) => BamlContext(rt)],
  ['new BamlContext()', 'throw', INVALID, /runtime must be a BamlRuntime.*got undefined/, ({ BamlContext }) => new BamlContext()],
  ['new BamlContext(1)', 'throw', INVALID, /runtime must be a BamlRuntime.*got a number/, ({ BamlContext }) => new BamlContext(1)],
  ['new BamlContext({})', 'throw', INVALID, /runtime must be a BamlRuntime.*got another object/, ({ BamlContext }) => new BamlContext({})],
  ['new BamlContext(rt, 1)', 'throw', INVALID, /options must be an object, got a number/, ({ BamlContext, rt }) => new BamlContext(rt, 1)],
  ['options { timeout }', 'throw', INVALID, /unknown option "timeout".*timeoutMs/, ({ BamlContext, rt }) => new BamlContext(rt, { timeout: 10 })],
  ['options { memoryLimit }', 'throw', INVALID, /unknown option "memoryLimit"/, ({ BamlContext, rt }) => new BamlContext(rt, { memoryLimit: 1 << 20 })],
  ['timeoutMs: "10"', 'throw', INVALID, /option timeoutMs must be a number, got a string/, ({ BamlContext, rt }) => new BamlContext(rt, { timeoutMs: '10' })],
  ['timeoutMs: 0', 'throw', INVALID, /option timeoutMs must be a number of milliseconds from 1/, ({ BamlContext, rt }) => new BamlContext(rt, { timeoutMs: 0 })],
  ['timeoutMs: NaN', 'throw', INVALID, /option timeoutMs .*NaN/, ({ BamlContext, rt }) => new BamlContext(rt, { timeoutMs: NaN })],
  ['timeoutMs: Infinity', 'throw', INVALID, /option timeoutMs .*inf/i, ({ BamlContext, rt }) => new BamlContext(rt, { timeoutMs: Infinity })],
  ['memoryLimitBytes: 10', 'throw', INVALID, /option memoryLimitBytes must be a whole number of bytes/, ({ BamlContext, rt }) => new BamlContext(rt, { memoryLimitBytes: 10 })],
  ['memoryLimitBytes: 1.5 MiB + 0.5', 'throw', INVALID, /option memoryLimitBytes must be a whole number/, ({ BamlContext, rt }) => new BamlContext(rt, { memoryLimitBytes: 1.5 * 1024 * 1024 + 0.5 })],
  ['maxStackBytes: 1', 'throw', INVALID, /option maxStackBytes/, ({ BamlContext, rt }) => new BamlContext(rt, { maxStackBytes: 1 })],
  ['maxStackBytes: true', 'throw', INVALID, /option maxStackBytes must be a number, got a boolean/, ({ BamlContext, rt }) => new BamlContext(rt, { maxStackBytes: true })],
  ['globals: [1, 2]', 'throw', INVALID, /option globals must be an object .*got an array/, ({ BamlContext, rt }) => new BamlContext(rt, { globals: [1, 2] })],
  ['globals: "x"', 'throw', INVALID, /option globals must be an object/, ({ BamlContext, rt }) => new BamlContext(rt, { globals: 'x' })],
  ['globals: { JSON: 1 }', 'throw', INVALID, /globals\.JSON would replace the standard global `JSON`/, ({ BamlContext, rt }) => new BamlContext(rt, { globals: { JSON: 1 } })],
  ['globals: { b: {} }', 'throw', INVALID, /globals\.b would replace `b`/, ({ BamlContext, rt }) => new BamlContext(rt, { globals: { b: {} } })],
  ['globals: { ExtractResume: 1 }', 'throw', INVALID, /globals\.ExtractResume would replace the BAML function/, ({ BamlContext, rt }) => new BamlContext(rt, { globals: { ExtractResume: 1 } })],
  ['globals: { n: 1n }', 'throw', INVALID, /globals\.n .*BigInt/, ({ BamlContext, rt }) => new BamlContext(rt, { globals: { n: 1n } })],
  ['globals: cyclic', 'throw', INVALID, /globals\.o.*cyclic/, ({ BamlContext, rt }) => { const o = {}; o.self = o; return new BamlContext(rt, { globals: { o } }) }],
  ['hostFunctions: [f]', 'throw', INVALID, /option hostFunctions must be an object .*got an array/, ({ BamlContext, rt }) => new BamlContext(rt, { hostFunctions: [() => 1] })],
  ['hostFunctions: { f: 1 }', 'throw', INVALID, /option hostFunctions\.f must be a function/, ({ BamlContext, rt }) => new BamlContext(rt, { hostFunctions: { f: 1 } })],
  ['hostFunctions: { b: fn }', 'throw', INVALID, /hostFunctions\.b would replace `b`/, ({ BamlContext, rt }) => new BamlContext(rt, { hostFunctions: { b() {} } })],
  ['hostFunctions: { console: fn }', 'throw', INVALID, /hostFunctions\.console would replace the standard global/, ({ BamlContext, rt }) => new BamlContext(rt, { hostFunctions: { console() {} } })],
  ['hostFunctions: { setTimeout: fn }', 'throw', INVALID, /hostFunctions\.setTimeout would replace/, ({ BamlContext, rt }) => new BamlContext(rt, { hostFunctions: { setTimeout() {} } })],
  ['hostFunctions and globals share a name', 'throw', INVALID, /hostFunctions\.x has the name of a global/, ({ BamlContext, rt }) => new BamlContext(rt, { globals: { x: 1 }, hostFunctions: { x() {} } })],
  ['onConsole: "log"', 'throw', INVALID, /option onConsole must be a function, got a string/, ({ BamlContext, rt }) => new BamlContext(rt, { onConsole: 'log' })],
  ['env: "x"', 'throw', INVALID, /option env must be an object of strings .*got a string/, ({ BamlContext, rt }) => new BamlContext(rt, { env: 'x' })],
  ['env: { K: 1 }', 'throw', INVALID, /option env\.K must be a string, got a number/, ({ BamlContext, rt }) => new BamlContext(rt, { env: { K: 1 } })],
  ['isolation: "vm"', 'throw', INVALID, /option isolation must be 'process' or 'thread'/, ({ BamlContext, rt }) => new BamlContext(rt, { isolation: 'vm' })],
  ['isolation: 1', 'throw', INVALID, /option isolation must be a string, got a number/, ({ BamlContext, rt }) => new BamlContext(rt, { isolation: 1 })],
  // BamlContext#evaluate
  ['evaluate(123)', 'reject', INVALID, /code must be a string, got a number/, ({ ctx }) => ctx.evaluate(123)],
  ['evaluate()', 'reject', INVALID, /code must be a string, got undefined/, ({ ctx }) => ctx.evaluate()],
  ['evaluate(fn)', 'reject', INVALID, /code must be a string, got a function/, ({ ctx }) => ctx.evaluate(() => 1)],
  ['evaluate options: 5', 'reject', INVALID, /evaluate options must be an object, got a number/, ({ ctx }) => ctx.evaluate('1', 5)],
  ['evaluate timeoutMs: -1', 'reject', INVALID, /option timeoutMs must be a number of milliseconds from 1/, ({ ctx }) => ctx.evaluate('1', { timeoutMs: -1 })],
  ['evaluate { timeoutsMs }', 'reject', INVALID, /unknown option "timeoutsMs".*timeoutMs, signal, filename/, ({ ctx }) => ctx.evaluate('1', { timeoutsMs: 1 })],
  ['evaluate filename: 1', 'reject', INVALID, /option filename must be a string, got a number/, ({ ctx }) => ctx.evaluate('1', { filename: 1 })],
  ['evaluate filename: ""', 'reject', INVALID, /option filename must be a non-empty string/, ({ ctx }) => ctx.evaluate('1', { filename: '' })],
  ['evaluate signal: "x"', 'reject', INVALID, /option signal must be an object \(an AbortSignal\), got a string/, ({ ctx }) => ctx.evaluate('1', { signal: 'x' })],
  ['evaluate signal: {}', 'reject', INVALID, /option signal must be an AbortSignal/, ({ ctx }) => ctx.evaluate('1', { signal: {} })],
  ['evaluate syntax error', 'reject', 'SANDBOX_ERROR', /SyntaxError/, ({ ctx }) => ctx.evaluate('let = ;')],
  // Methods called on something else, and constructors used the wrong way.
  ['new BamlRuntime()', 'throw', 'ERR_ILLEGAL_CONSTRUCTOR', /fromFiles\(\) or BamlRuntime\.fromDirectory\(\)/, ({ BamlRuntime }) => new BamlRuntime()],
  ['rt.functions on {}', 'throw', 'ERR_INVALID_THIS', /must be of type BamlRuntime/, ({ rt }) => rt.functions.call({})],
  ['rt.callFunction on null', 'reject', 'ERR_INVALID_THIS', /must be of type BamlRuntime/, ({ rt }) => rt.callFunction.call(null, 'ExtractResume', {})],
  ['const { evaluate } = ctx', 'reject', 'ERR_INVALID_THIS', /must be of type BamlContext/, ({ ctx }) => { const { evaluate } = ctx; return evaluate('1') }],
  ['ctx.usage on a prototype object', 'throw', 'ERR_INVALID_THIS', /must be of type BamlContext/, ({ BamlContext, ctx }) => ctx.usage.call(Object.create(BamlContext.prototype))],
  ['disposed getter on {}', 'throw', 'ERR_INVALID_THIS', /must be of type BamlContext/, ({ BamlContext }) => Object.getOwnPropertyDescriptor(BamlContext.prototype, 'disposed').get.call({})],
  ['Collector() without new', 'throw', 'ERR_CONSTRUCT_CALL_REQUIRED', /Collector cannot be invoked without 'new'/, ({ Collector }) => Collector('c')],
  ['collector.clear on {}', 'throw', 'ERR_INVALID_THIS', /must be of type Collector/, ({ Collector }) => new Collector('c').clear.call({})],
  ['evaluate after dispose', 'reject', 'SANDBOX_DISPOSED', /disposed/, ({ BamlContext, rt }) => { const c = new BamlContext(rt, { isolation: 'thread' }); c.dispose(); return c.evaluate('1') }],
]

module.exports = { BAML, cases }
