// `baml-quickjs/testing` (SPEC "Testing helper"): the package's own export of the mock LLM
// server, found where an installed package keeps it, with types, and a clear error without it.
const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const ROOT = path.join(__dirname, '..')
const EXE = process.platform === 'win32' ? 'mock_llm.exe' : 'mock_llm'

function builtMock() {
  // The checkout's build, as the repository's own driver finds it.
  for (const profile of ['debug', 'release']) {
    const p = path.join(ROOT, 'target', profile, EXE)
    if (fs.existsSync(p)) return p
  }
  throw new Error('mock_llm is not built (cargo build -p mock_llm)')
}

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-testing-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('the package exports ./testing (CommonJS and ESM) and its types', async (t) => {
  const dir = tempDir(t)
  fs.mkdirSync(path.join(dir, 'node_modules'))
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'baml-quickjs'), 'dir')
  const out = execFileSync(process.execPath, ['-e', `
    const cjs = require('baml-quickjs/testing')
    import('baml-quickjs/testing').then((esm) => {
      console.log(typeof cjs.startMockLlm, esm.startMockLlm === cjs.startMockLlm, typeof require('baml-quickjs').BamlRuntime)
    })
  `], { cwd: dir, encoding: 'utf8' })
  t.is(out.trim(), 'function true function')
  // What a user's TypeScript test sees.
  fs.writeFileSync(path.join(dir, 'use.ts'), `
import { startMockLlm, type MockLlm } from 'baml-quickjs/testing'
async function main(): Promise<string> {
  const mock: MockLlm = await startMockLlm({ lifetimeSecs: 60 })
  await mock.script({ rules: [{ contains: 'resume', replies: [{ text: '{}', latency_ms: 5 }] }], default: { status: 500 } })
  const n: number = (await mock.requests()).length
  await mock.stop()
  return mock.url + n
}
void main
`)
  fs.writeFileSync(path.join(dir, 'bad.ts'), `import { startMockLlm } from 'baml-quickjs/testing'\nvoid startMockLlm({ port: 'x' })\n`)
  const tsc = require.resolve('typescript/bin/tsc')
  const check = (file) => {
    try {
      execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types'), path.join(dir, file)], { cwd: dir, encoding: 'utf8' })
      return ''
    } catch (e) {
      return `${e.stdout}${e.stderr}` || 'failed'
    }
  }
  t.is(check('use.ts'), '')
  t.regex(check('bad.ts'), /error TS2322/)
})

test('startMockLlm finds the executable shipped beside it, serves scripted replies and stops', async (t) => {
  const dir = tempDir(t)
  // An installed package's layout: testing.js with mock_llm beside it.
  fs.copyFileSync(path.join(ROOT, 'testing.js'), path.join(dir, 'testing.js'))
  fs.copyFileSync(builtMock(), path.join(dir, EXE))
  fs.chmodSync(path.join(dir, EXE), 0o755)
  const saved = process.env.MOCK_LLM_BIN
  delete process.env.MOCK_LLM_BIN
  t.teardown(() => {
    if (saved !== undefined) process.env.MOCK_LLM_BIN = saved
  })
  const { startMockLlm } = require(path.join(dir, 'testing.js'))
  const mock = await startMockLlm()
  t.regex(mock.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  await mock.script({ rules: [{ contains: 'hello', replies: [{ text: 'hi there', usage: { input_tokens: 3, output_tokens: 2 } }] }] })
  const res = await fetch(`${mock.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }),
  })
  const body = await res.json()
  t.is(body.choices[0].message.content, 'hi there')
  t.is(body.usage.prompt_tokens, 3)
  const requests = await mock.requests()
  t.is(requests.length, 1)
  t.is(requests[0].headers.authorization, 'Bearer sk-test')
  await mock.stop()
  t.throws(() => process.kill(mock.pid, 0), { code: 'ESRCH' }, 'the server process is gone after stop()')
})

test('without the executable, startMockLlm rejects saying where it ships', async (t) => {
  const dir = tempDir(t)
  fs.copyFileSync(path.join(ROOT, 'testing.js'), path.join(dir, 'testing.js'))
  const saved = process.env.MOCK_LLM_BIN
  delete process.env.MOCK_LLM_BIN
  t.teardown(() => {
    if (saved !== undefined) process.env.MOCK_LLM_BIN = saved
  })
  const { startMockLlm } = require(path.join(dir, 'testing.js'))
  await t.throwsAsync(startMockLlm(), { message: /baml-quickjs\/testing: the mock LLM server \(mock_llm\) is not in this installation; it ships in the platform package \(baml-quickjs-/ })
})

// A package folder holding the entry files and this checkout's binary under `binary` (if any).
function packageLayout(t, binary) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-layout-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const pkg = path.join(dir, 'node_modules', 'baml-quickjs')
  fs.mkdirSync(pkg, { recursive: true })
  for (const f of ['index.js', 'builders.js', 'binding.js', 'package.json']) fs.copyFileSync(path.join(ROOT, f), path.join(pkg, f))
  if (binary) {
    const where = path.join(dir, 'node_modules', binary)
    fs.mkdirSync(where, { recursive: true })
    const built = fs.readdirSync(ROOT).find((f) => f.endsWith('.node'))
    fs.writeFileSync(path.join(where, 'index.js'), `module.exports = require(${JSON.stringify(path.join(ROOT, built))})`)
  }
  return dir
}

function requireIn(dir, env = {}) {
  return require('node:child_process').spawnSync(process.execPath, ['-e', `
    try { const m = require('baml-quickjs'); console.log(typeof m.BamlRuntime.fromFiles) } catch (e) { console.log(e.code); console.log(e.message); process.exit(3) }
  `], { cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8' })
}

function thisPlatform() {
  const libc = process.platform !== 'linux' ? (process.platform === 'win32' ? '-msvc' : '') : process.report.getReport().header.glibcVersionRuntime ? '-gnu' : '-musl'
  return `${process.platform}-${process.arch}${libc}`
}

test('a package without its platform package says which one it looked for', (t) => {
  const r = requireIn(packageLayout(t, null))
  t.is(r.status, 3, r.stderr)
  const [code, message] = r.stdout.split('\n')
  t.is(code, 'ERR_BAML_QUICKJS_NO_BINARY')
  t.true(message.includes(`(${thisPlatform()}): it ships in the package baml-quickjs-${thisPlatform()}`), message)
})

test("the platform package is found by what this Node runs on when napi-rs's loader guesses another libc", (t) => {
  // binding.js asks /usr/bin/ldd first, which names the host's libc (a musl Node on a glibc
  // host guesses gnu). Here its guess finds nothing: it looks for a decoy name.
  const dir = packageLayout(t, `baml-quickjs-${thisPlatform()}`)
  const binding = path.join(dir, 'node_modules', 'baml-quickjs', 'binding.js')
  fs.writeFileSync(binding, fs.readFileSync(binding, 'utf8').replaceAll(`baml-quickjs-${thisPlatform()}'`, "baml-quickjs-decoy'"))
  const r = requireIn(dir)
  t.is(r.status, 0, r.stdout + r.stderr)
  t.is(r.stdout.trim(), 'function')
})

test('NAPI_RS_NATIVE_LIBRARY_PATH naming a missing file is not second-guessed', (t) => {
  const r = require('node:child_process').spawnSync(process.execPath, ['-e', `
    try { require(${JSON.stringify(ROOT)}) } catch (e) { console.log(e.code); console.log(e.message); process.exit(3) }
  `], { env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: path.join(os.tmpdir(), 'no-such-binary.node') }, encoding: 'utf8' })
  t.is(r.status, 3, r.stderr)
  const [code, message] = r.stdout.split('\n')
  t.is(code, 'ERR_BAML_QUICKJS_NO_BINARY')
  t.regex(message, /no native binary for this platform \(([a-z0-9-]+)\): it ships in the package baml-quickjs-\1, which npm installs with baml-quickjs as an optional dependency/)
})
