// The README keeps its promises: every ```js sample runs as written (in a child process, from
// the repository's root, with `baml-quickjs` resolving to this checkout and the demo project's
// client pointed at the mock server), and the errors table lists every code the code can give.
const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { startMockLlm } = require('../crates/mock_llm/node.js')

const ROOT = path.join(__dirname, '..')
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')

function samples() {
  const out = []
  const re = /^```js\n([\s\S]*?)^```/gm
  let m
  while ((m = re.exec(README))) {
    out.push({ line: README.slice(0, m.index).split('\n').length, code: m[1] })
  }
  return out
}

function mockBinary() {
  const exe = process.platform === 'win32' ? 'mock_llm.exe' : 'mock_llm'
  const built = ['debug', 'release'].map((p) => path.join(ROOT, 'target', p, exe)).filter((p) => fs.existsSync(p))
  if (built.length === 0) throw new Error('mock_llm is not built')
  return built.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0]
}

function run(args, env, cwd) {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? error.code ?? error.signal : 0, stdout, stderr })
    })
  })
}

test('the README has JavaScript samples', (t) => {
  t.true(samples().length >= 3)
})

for (const sample of samples()) {
  test(`README sample at line ${sample.line} runs`, async (t) => {
    const mock = await startMockLlm()
    t.teardown(() => mock.stop())
    await mock.script({
      rules: [
        { contains: 'You extract resumes', replies: [{ text: '{"name": "Ada Lovelace", "skills": ["math"], "years_experience": 10}' }] },
        { contains: 'You judge', replies: [{ text: '{"fit": "STRONG", "reasons": ["math"]}' }] },
      ],
    })
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-readme-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    fs.mkdirSync(path.join(dir, 'node_modules'))
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'baml-quickjs'), 'dir')
    // Test-file samples run under their own runner: ava (which needs the sample beside an
    // examples/ of this checkout, since it runs from the sample's folder) or jest.
    const ava = /require\('ava'\)/.test(sample.code)
    const jest = !ava && /^(test|beforeAll)\(/m.test(sample.code)
    const esm = /^import /m.test(sample.code)
    let file
    if (ava) {
      fs.symlinkSync(path.join(ROOT, 'node_modules', 'ava'), path.join(dir, 'node_modules', 'ava'), 'dir')
      fs.symlinkSync(path.join(ROOT, 'examples'), path.join(dir, 'examples'), 'dir')
      file = path.join(dir, 'sample.spec.js')
      fs.writeFileSync(file, sample.code)
    } else if (jest) {
      file = path.join(dir, 'sample.test.js')
      fs.writeFileSync(file, sample.code)
    } else {
      file = path.join(dir, esm ? 'sample.mjs' : 'sample.js')
      fs.writeFileSync(file, esm ? sample.code : `(async () => {\n${sample.code}\n})().catch((e) => { console.error(e); process.exitCode = 1 })\n`)
    }
    // In a checkout the mock server's executable is this build's (an installed package ships it).
    const env = { PATH: process.env.PATH, OPENAI_API_KEY: 'sk-readme', DEMO_BASE_URL: `${mock.url}/v1`, MOCK_LLM_BIN: mockBinary() }
    const out = ava
      ? await run([path.join(ROOT, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), 'sample.spec.js'], env, dir)
      : jest
        ? await run([path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), '--rootDir', dir, '--ci'], env, ROOT)
        : await run([file], env, ROOT)
    if (ava || jest) {
      t.is(out.status, 0, `sample at README line ${sample.line} failed:\n${out.stdout}${out.stderr}`)
      t.regex(`${out.stdout}${out.stderr}`, /1 (test )?passed|Tests:\s+1 passed/)
      return
    }
    t.is(out.status, 0, `sample at README line ${sample.line} failed:\n${out.stderr}`)
    t.notRegex(out.stderr, /Error|warning/i, out.stderr)
    t.true(out.stdout.length > 0, 'a sample shows what it did')
  })
}

test('the errors table lists every code that reaches Node', (t) => {
  const table = README.slice(README.indexOf('Every error that reaches Node is an `Error` with a stable `code`'))
  const listed = new Set([...table.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]))
  const sources = []
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name)
      if (entry.isDirectory()) {
        // The sandbox's own JavaScript (web globals) gives Node's codes to errors thrown inside
        // the sandbox (`ERR_INVALID_URL`); the README lists those with the globals.
        if (entry.name !== 'tests' && entry.name !== 'examples' && entry.name !== 'js') walk(p)
      } else if (/\.(rs|js)$/.test(entry.name)) sources.push(fs.readFileSync(p, 'utf8'))
    }
  }
  walk(path.join(ROOT, 'src'))
  walk(path.join(ROOT, 'crates'))
  sources.push(fs.readFileSync(path.join(ROOT, 'index.js'), 'utf8'))
  const used = new Set()
  for (const text of sources) {
    for (const m of text.matchAll(/["']((?:SANDBOX|BAML|ERR)_[A-Z_]+)["']/g)) {
      // Environment variables, not error codes.
      if (!m[1].startsWith('BAML_QUICKJS_')) used.add(m[1])
    }
  }
  t.true(used.size >= 15, [...used].join(' '))
  const missing = [...used].filter((c) => !listed.has(c))
  t.deepEqual(missing, [], `codes missing from the README errors table: ${missing.join(', ')}`)
})
