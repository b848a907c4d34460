// Code mode: typescriptDeclarations() with the tsconfig the README gives type-checks a sandbox
// script that uses everything the sandbox offers (and refuses a wrong argument type), and the
// same script, with its types stripped, runs in a context against the mock server.
const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const ts = require('typescript')
const { BamlRuntime, BamlContext } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

const ROOT = path.join(__dirname, '..')
const TSC = require.resolve('typescript/bin/tsc')

function readmeTsconfig() {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const m = /<!-- code-mode tsconfig -->\s*```json\n([\s\S]*?)```/.exec(readme)
  if (!m) throw new Error('README has no code-mode tsconfig block')
  return JSON.parse(m[1])
}

const extras = {
  hostFunctions: { lookupUser: '(id: string) => { name: string; age: number }' },
  globals: { input: '{ text: string; limit: number }' },
}

const SCRIPT = `
const user = await lookupUser("u1")
const age: number = user.age
const resume: Resume = await b.ExtractResume(input.text)
const skills: string[] = resume.skills
let partials = 0
for await (const partial of b.stream.ExtractResume(input.text)) {
  const name: string | null | undefined = partial.name
  void name
  partials++
}
const fit: Fit = (await MatchJob("job", input.text)).fit
const waited: number = await new Promise<number>((resolve) => setTimeout(() => resolve(input.limit), 1))
const ticks = await new Promise<number>((resolve) => {
  let n = 0
  const id = setInterval(() => { if (++n === 2) { clearInterval(id); resolve(n) } }, 1)
})
console.log("checked", user.name, skills.length)
const url = new URL("https://example.com/a?b=1")
const bytes: Uint8Array = new TextEncoder().encode(url.searchParams.get("b") ?? "")
const copy = structuredClone({ at: new Date(0) })
const uuid: string = crypto.randomUUID()
try {
  await b.MatchJob("job", "text")
} catch (e) {
  const err = e as BamlError
  void err.raw_output
}
;({ name: user.name, age, resumeName: resume.name, partials: partials > 0, fit, waited, ticks, bytes: bytes.length, copy: copy.at.getTime(), uuid: uuid.length })
`

function typecheck(dir, script) {
  fs.writeFileSync(path.join(dir, 'script.ts'), script)
  try {
    execFileSync(process.execPath, [TSC, '-p', path.join(dir, 'tsconfig.json')], { encoding: 'utf8', cwd: dir })
    return { ok: true, out: '' }
  } catch (e) {
    return { ok: false, out: `${e.stdout}${e.stderr}` }
  }
}

test('the README tsconfig type-checks a script using b, b.stream, a host function, a global, console and timers; a wrong argument type fails', (t) => {
  const rt = BamlRuntime.fromDirectory(path.join(ROOT, 'examples', 'baml_src'))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-code-mode-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'baml-sandbox.d.ts'), rt.typescriptDeclarations(extras))
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(readmeTsconfig()))
  const good = typecheck(dir, SCRIPT)
  t.true(good.ok, good.out)
  const badHost = typecheck(dir, 'const u = await lookupUser(42)\nvoid u\n')
  t.false(badHost.ok)
  t.regex(badHost.out, /script\.ts\(1,\d+\): error TS2345: Argument of type 'number' is not assignable to parameter of type 'string'/)
  const badBaml = typecheck(dir, 'const r: number = await b.ExtractResume("x")\nvoid r\n')
  t.regex(badBaml.out, /error TS2322/)
  const badGlobal = typecheck(dir, 'const n: string = input.limit\nvoid n\n')
  t.regex(badGlobal.out, /error TS2322/)
  const noDom = typecheck(dir, 'document.title = "x"\n')
  t.regex(noDom.out, /Cannot find name 'document'/)
})

test('the declarations keep /// docs as JSDoc and declare what the sandbox has', (t) => {
  const rt = BamlRuntime.fromFiles({
    'a.baml': `
/// A person's resume.
class Resume {
  /// Full name, as written.
  name string
}

/// Reads a resume.
/// Two lines of docs.
function ExtractResume(text: string) -> Resume {
  client "openai/gpt-4o-mini"
  prompt #"{{ text }} {{ ctx.output_format }}"#
}
`,
  })
  const dts = rt.typescriptDeclarations(extras)
  t.regex(dts, /\/\*\* A person's resume\. \*\/\ninterface Resume/)
  t.regex(dts, /\/\*\* Full name, as written\. \*\/\n {2}name: string/)
  t.regex(dts, /\/\*\*\n \* Reads a resume\.\n \* Two lines of docs\.\n \*\/\ndeclare const ExtractResume/)
  t.regex(dts, / {2}\/\*\*\n {3}\* Reads a resume\./)
  for (const name of ['console', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder', 'structuredClone', 'crypto']) {
    t.regex(dts, new RegExp(`declare (const|function|var) ${name}\\b`), name)
  }
  t.regex(dts, /declare const lookupUser: BamlHostFunction<\(id: string\) => \{ name: string; age: number \}>/)
  t.regex(dts, /declare var input: \{ text: string; limit: number \}/)
  t.notRegex(rt.typescriptDeclarations(), /lookupUser/)
  t.throws(() => rt.typescriptDeclarations({ globals: { 'not valid': 'number' } }), { code: 'ERR_INVALID_ARG_VALUE', message: /"not valid" is not a name TypeScript can declare/ })
})

test('the checked script, types stripped, runs in a sandbox and gives what its types say', async (t) => {
  const mock = await startMockLlm()
  t.teardown(() => mock.stop())
  await mock.script({
    rules: [
      { contains: 'You extract resumes', replies: [{ text: '{"name": "Ada", "skills": ["math"], "years_experience": 3}' }] },
      { contains: 'Job: job\nCandidate: text', replies: [{ text: 'not json' }] },
      { contains: 'You judge', replies: [{ text: '{"fit": "STRONG", "reasons": ["math"]}' }] },
    ],
  })
  const rt = BamlRuntime.fromDirectory(path.join(ROOT, 'examples', 'baml_src'))
  const js = ts.transpileModule(SCRIPT, { compilerOptions: readmeTsconfig().compilerOptions }).outputText.replace(/^export \{\};\s*$/m, '')
  const logs = []
  const ctx = new BamlContext(rt, {
    isolation: 'thread',
    env: { OPENAI_API_KEY: 'sk-test', DEMO_BASE_URL: `${mock.url}/v1` },
    globals: { input: { text: 'Ada, mathematician', limit: 7 } },
    hostFunctions: { lookupUser: (id) => ({ name: `user ${id}`, age: 36 }) },
    onConsole: (level, message) => logs.push([level, message]),
  })
  t.teardown(() => ctx.dispose())
  const out = await ctx.evaluate(js, { filename: 'script.js' })
  t.deepEqual(out, { name: 'user u1', age: 36, resumeName: 'Ada', partials: true, fit: 'STRONG', waited: 7, ticks: 2, bytes: 1, copy: 0, uuid: 36 })
  t.deepEqual(logs, [['log', 'checked user u1 1']])
})
