// Step 2: loading .baml projects, their diagnostics, functions() and typescriptDeclarations().
const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { BamlRuntime } = require('..')

const project = path.join(__dirname, 'fixtures', 'resume-project')

test('a project loads from a directory (recursively, .baml only) and lists its functions', (t) => {
  const rt = BamlRuntime.fromDirectory(project)
  t.deepEqual(rt.functions(), [
    {
      name: 'ExtractResume',
      params: [
        { name: 'text', type: 'string' },
        { name: 'photo', type: 'image?' },
      ],
      returnType: 'Resume',
    },
    {
      name: 'ClassifyText',
      params: [
        { name: 'text', type: 'string' },
        { name: 'labels', type: 'Label[]' },
      ],
      returnType: 'Label | null',
    },
  ])
})

test('fromFiles gives the same project as fromDirectory', (t) => {
  const files = {
    'main.baml': fs.readFileSync(path.join(project, 'main.baml'), 'utf8'),
    'nested/types.baml': fs.readFileSync(path.join(project, 'nested', 'types.baml'), 'utf8'),
  }
  const a = BamlRuntime.fromFiles(files, { OPENAI_API_KEY: 'sk-test' })
  const b = BamlRuntime.fromDirectory(project)
  t.deepEqual(a.functions(), b.functions())
  t.is(a.typescriptDeclarations(), b.typescriptDeclarations())
})

test('a broken project throws BAML_SYNTAX with every diagnostic', (t) => {
  const err = t.throws(() =>
    BamlRuntime.fromFiles({
      'a.baml': 'class A {\n  name: string\n  owner Persn\n}\n',
      'b.baml': 'function F(x: string) -> image {\n  client Missing\n  prompt #"{{ x }}"#\n}\n',
    }),
  )
  t.true(err instanceof Error)
  t.is(err.code, 'BAML_SYNTAX')
  t.deepEqual(
    err.diagnostics.map((d) => [d.file, d.line, d.column]),
    [
      ['a.baml', 2, 7],
      ['a.baml', 3, 9],
      ['b.baml', 1, 26],
      ['b.baml', 2, 10],
    ],
  )
  t.regex(err.diagnostics[0].message, /without a colon/)
  t.regex(err.diagnostics[1].message, /`Persn` is not defined/)
  t.regex(err.diagnostics[2].message, /cannot return `image`/)
  t.regex(err.diagnostics[3].message, /client `Missing` is not defined/)
  t.regex(err.message, /4 error\(s\)/)
  t.regex(err.message, /a\.baml:2:7/)
})

test('typescriptDeclarations() matches the snapshot and type-checks with tsc', (t) => {
  const rt = BamlRuntime.fromDirectory(project)
  const decls = rt.typescriptDeclarations()
  t.snapshot(decls)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baml-dts-'))
  fs.writeFileSync(path.join(dir, 'baml.d.ts'), decls)
  // Sandboxed code as an LLM would write it against these declarations.
  fs.writeFileSync(
    path.join(dir, 'usage.ts'),
    `
async function main(): Promise<string> {
  const resume: Resume = await b.ExtractResume("Jane Doe")
  const first: Job | undefined = resume.experience[0]
  const level: Seniority = resume.seniority
  const years: number = resume.years.value
  const ok: boolean = resume.years.checks.non_negative.status === "succeeded"
  const label = await b.ClassifyText("buy now", ["spam", "ham"])
  const l: Label | null = label
  for await (const partial of b.stream.ExtractResume("Jane", { url: "https://x/y.png" })) {
    const name: string | null | undefined = partial.name
    const jobs = partial.experience ?? []
    const company: string | null | undefined = jobs[0]?.company
    void name, company
  }
  const final: Resume = await b.stream.ExtractResume("Jane").getFinalResponse()
  const meta: Meta = { a: "x", b: { c: "y" } }
  void first, level, years, ok, l, final, meta
  return resume.name
}
void main
`,
  )
  const tsc = require.resolve('typescript/bin/tsc')
  try {
    execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--typeRoots', path.join(dir, 'no-types'), '--target', 'es2022', '--lib', 'es2022', path.join(dir, 'baml.d.ts'), path.join(dir, 'usage.ts')], {
      encoding: 'utf8',
    })
    t.pass()
  } catch (e) {
    t.fail(`tsc rejected the declarations:\n${e.stdout}`)
  }
  // And a misuse is caught, so the check can fail.
  fs.writeFileSync(path.join(dir, 'misuse.ts'), 'async function m() { const n: number = await b.ExtractResume(42) }\nvoid m\n')
  const misuse = t.throws(() =>
    execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--typeRoots', path.join(dir, 'no-types'), '--target', 'es2022', '--lib', 'es2022', path.join(dir, 'baml.d.ts'), path.join(dir, 'misuse.ts')], { encoding: 'utf8' }),
  )
  t.regex(misuse.stdout, /error TS2345|error TS2322/)
  fs.rmSync(dir, { recursive: true, force: true })
})
