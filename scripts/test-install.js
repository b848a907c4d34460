#!/usr/bin/env node
// End-to-end install test: packs the packages (scripts/release-local.js, this machine's
// target), installs the tarballs into an empty folder with no cargo or rustc on PATH, and runs
// there what a user would: a sandboxed script calling a BAML function against the packaged mock
// server in both isolation modes, the CLI through npx, and a jest test.
//
//   node scripts/test-install.js [--no-build]      (npm run test:install)
//
// --no-build installs the tarballs an earlier run left in dist/. Exits non-zero on failure.
// Not yet: a local registry (verdaccio) between the tarballs and `npm install`.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const DIST = path.join(ROOT, 'dist')
const NODE_DIR = path.dirname(process.execPath)

function check(cond, message) {
  if (!cond) throw new Error(message)
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...opts })
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}`)
  return r
}

/** A PATH with node and the system's tools but no Rust toolchain. */
function pathWithoutRust(dir) {
  const bin = path.join(dir, '.bin-no-rust')
  fs.mkdirSync(bin)
  for (const tool of ['node', 'npm', 'npx']) {
    const from = path.join(NODE_DIR, tool)
    if (fs.existsSync(from)) fs.symlinkSync(from, path.join(bin, tool))
  }
  const PATH = [bin, '/usr/bin', '/bin'].join(path.delimiter)
  const probe = run('sh', ['-c', 'command -v cargo || command -v rustc || true'], { env: { PATH } })
  check(probe.stdout.trim() === '', `a Rust toolchain is on the test PATH (${probe.stdout.trim()}): the test needs a machine path without one`)
  return PATH
}

const BAML = `client<llm> Local {
  provider openai
  options {
    model "gpt-4o-mini"
    api_key env.OPENAI_API_KEY
    base_url env.BASE_URL
  }
}

class Person {
  name string
  age int
}

function Extract(text: string) -> Person {
  client Local
  prompt #"Extract the person: {{ text }} {{ ctx.output_format }}"#
}
`

const APP = `const { BamlRuntime, BamlContext } = require('baml-quickjs')
const { startMockLlm } = require('baml-quickjs/testing')
;(async () => {
  const mock = await startMockLlm()
  await mock.script({ default: { text: '{"name": "Ada", "age": 36}' } })
  const rt = BamlRuntime.fromDirectory('baml_src')
  for (const isolation of ['process', 'thread']) {
    const ctx = new BamlContext(rt, { isolation, env: { OPENAI_API_KEY: 'sk', BASE_URL: mock.url + '/v1' } })
    console.log(isolation, await ctx.evaluate('const p = await b.Extract("Ada, 36"); p.name + " " + p.age'))
    ctx.dispose()
  }
  await mock.stop()
})().catch((e) => { console.error(e); process.exit(1) })
`

const JEST_TEST = `const { BamlRuntime, BamlContext } = require('baml-quickjs')
const { startMockLlm } = require('baml-quickjs/testing')
let mock
beforeAll(async () => { mock = await startMockLlm() })
afterAll(() => mock.stop())
test('a sandboxed BAML call against the packaged mock', async () => {
  await mock.script({ default: { text: '{"name": "Bo", "age": 7}' } })
  const ctx = new BamlContext(BamlRuntime.fromDirectory('baml_src'), { env: { OPENAI_API_KEY: 'sk', BASE_URL: mock.url + '/v1' } })
  const out = await ctx.evaluate('await b.Extract("Bo, 7")')
  ctx.dispose()
  expect(out).toEqual({ name: 'Bo', age: 7 })
  await expect(ctx.evaluate('1')).rejects.toMatchObject({ code: 'SANDBOX_DISPOSED' })
})
`

function main() {
  const build = !process.argv.includes('--no-build')
  if (build) {
    const r = run(process.execPath, [path.join(__dirname, 'release-local.js')], { cwd: ROOT, stdio: 'inherit' })
    check(r.status === 0, 'release-local failed')
  }
  const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version
  const tarballs = fs.readdirSync(DIST).filter((f) => f.endsWith(`-${version}.tgz`)).map((f) => path.join(DIST, f))
  check(tarballs.some((f) => path.basename(f) === `baml-quickjs-${version}.tgz`), `dist/ has no baml-quickjs-${version}.tgz: run without --no-build`)
  check(tarballs.length >= 2, 'dist/ has no platform package tarball: run without --no-build')

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-install-'))
  try {
    const PATH = pathWithoutRust(dir)
    const env = { PATH, HOME: process.env.HOME, npm_config_cache: process.env.npm_config_cache || path.join(os.homedir(), '.npm') }
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'user-app', version: '1.0.0', private: true }))
    fs.mkdirSync(path.join(dir, 'baml_src'))
    fs.writeFileSync(path.join(dir, 'baml_src', 'main.baml'), BAML)
    fs.writeFileSync(path.join(dir, 'app.js'), APP)
    fs.writeFileSync(path.join(dir, 'script.js'), '({ answer: 6 * 7 })\n')
    fs.writeFileSync(path.join(dir, 'app.test.js'), JEST_TEST)

    const install = run('npm', ['install', '--no-audit', '--no-fund', '--offline', ...tarballs], { cwd: dir, env })
    check(install.status === 0, `npm install failed:\n${install.stdout}${install.stderr}`)
    console.log(`installed ${tarballs.map((f) => path.basename(f)).join(', ')} without a Rust toolchain`)

    const app = run('node', ['app.js'], { cwd: dir, env })
    check(app.status === 0 && app.stdout === 'process Ada 36\nthread Ada 36\n', `app.js:\n${app.stdout}${app.stderr}`)
    console.log('ok: a sandboxed BAML call against the packaged mock, in both isolation modes')

    const cli = run('npx', ['--offline', 'baml-quickjs', 'run', 'script.js', '--baml', 'baml_src'], { cwd: dir, env })
    check(cli.status === 0 && JSON.parse(cli.stdout).answer === 42, `npx baml-quickjs run:\n${cli.stdout}${cli.stderr}`)
    const types = run('npx', ['--offline', 'baml-quickjs', 'types', 'baml_src'], { cwd: dir, env })
    check(types.status === 0 && types.stdout.includes('Extract(text: string): Promise<Person>'), `npx baml-quickjs types:\n${types.stdout}${types.stderr}`)
    console.log('ok: the CLI through npx')

    // jest from this checkout (installing it would need a registry), run in the user's folder.
    const jest = run('node', [path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), '--rootDir', dir, '--ci'], { cwd: dir, env })
    check(jest.status === 0, `jest:\n${jest.stdout}${jest.stderr}`)
    console.log('ok: a jest test')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

try {
  main()
  console.log('install test passed')
} catch (e) {
  console.error(`install test failed: ${e.message}`)
  process.exit(1)
}
