#!/usr/bin/env node
// End-to-end install test: packs the packages (scripts/release-local.js, this machine's
// target), publishes them to a local npm registry (verdaccio, installed in test-install/, on
// 127.0.0.1 with no uplinks), runs `npm install baml-quickjs` from it in an empty folder with no
// cargo or rustc on PATH, and runs there what a user would: a sandboxed script calling a BAML
// function against the packaged mock server in both isolation modes, the CLI through npx, and
// a jest test. The registry is stopped by its PID at the end, whatever happened.
//
//   node scripts/test-install.js [--no-build | --debug]      (npm run test:install)
//
// --no-build publishes the tarballs an earlier run left in dist/; --debug packs the debug build
// `npm test` made instead of building a release (what CI runs). Exits non-zero on failure.
'use strict'
const { spawn, spawnSync } = require('node:child_process')
const net = require('node:net')
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

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Starts verdaccio on 127.0.0.1 with its storage in `dir`; resolves with `{ url, stop }`. */
async function startRegistry(dir) {
  const bin = path.join(ROOT, 'test-install', 'node_modules', 'verdaccio', 'bin', 'verdaccio')
  check(fs.existsSync(bin), 'verdaccio is not installed: npm install --prefix test-install (npm run test:install does)')
  const port = await freePort()
  const config = path.join(dir, 'verdaccio.yaml')
  fs.writeFileSync(config, [
    `storage: ${JSON.stringify(path.join(dir, 'storage'))}`,
    'auth:',
    '  htpasswd:',
    `    file: ${JSON.stringify(path.join(dir, 'htpasswd'))}`,
    '    max_users: 10',
    'uplinks: {}',
    "max_body_size: '200mb'",
    'packages:',
    "  '**':",
    '    access: $all',
    '    publish: $authenticated',
    'log: { type: stdout, format: pretty, level: warn }',
    '',
  ].join('\n'))
  const child = spawn(process.execPath, [bin, '--config', config, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  const url = `http://127.0.0.1:${port}`
  const stop = () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    try {
      process.kill(child.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    check(child.exitCode === null, `verdaccio exited: ${output}`)
    try {
      const res = await fetch(`${url}/-/ping`)
      if (res.ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      stop()
      throw new Error(`verdaccio did not answer within 30 s: ${output}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return { url, pid: child.pid, stop, exited: () => child.exitCode !== null || child.signalCode !== null }
}

/** A user on the registry, and an npm config file holding its token. */
async function npmrcFor(registry, dir) {
  const res = await fetch(`${registry}/-/user/org.couchdb.user:tester`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'tester', password: 'tester-password' }),
  })
  const body = await res.json()
  check(res.ok && body.token, `cannot add a user to the registry: ${JSON.stringify(body)}`)
  const file = path.join(dir, '.npmrc')
  fs.writeFileSync(file, `registry=${registry}/\n//${new URL(registry).host}/:_authToken=${body.token}\n`)
  return file
}

async function main() {
  const build = !process.argv.includes('--no-build')
  if (build) {
    const debug = process.argv.includes('--debug') ? ['--debug'] : []
    const r = run(process.execPath, [path.join(__dirname, 'release-local.js'), ...debug], { cwd: ROOT, stdio: 'inherit' })
    check(r.status === 0, 'release-local failed')
  }
  const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version
  const tarballs = fs.readdirSync(DIST).filter((f) => f.endsWith(`-${version}.tgz`)).map((f) => path.join(DIST, f))
  check(tarballs.some((f) => path.basename(f) === `baml-quickjs-${version}.tgz`), `dist/ has no baml-quickjs-${version}.tgz: run without --no-build`)
  check(tarballs.length >= 2, 'dist/ has no platform package tarball: run without --no-build')

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-install-'))
  let stopRegistry = () => {}
  try {
    const PATH = pathWithoutRust(dir)
    const env = { PATH, HOME: process.env.HOME, npm_config_cache: process.env.npm_config_cache || path.join(os.homedir(), '.npm') }
    const app = path.join(dir, 'user-app')
    fs.mkdirSync(path.join(app, 'baml_src'), { recursive: true })
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'user-app', version: '1.0.0', private: true }))
    fs.writeFileSync(path.join(app, 'baml_src', 'main.baml'), BAML)
    fs.writeFileSync(path.join(app, 'app.js'), APP)
    fs.writeFileSync(path.join(app, 'script.js'), '({ answer: 6 * 7 })\n')
    fs.writeFileSync(path.join(app, 'app.test.js'), JEST_TEST)

    const registry = await startRegistry(dir)
    stopRegistry = registry.stop
    const npmrc = await npmrcFor(registry.url, dir)
    // A cache of its own: every package comes from this registry, none from an earlier install.
    const npmEnv = { ...env, npm_config_userconfig: npmrc, npm_config_cache: path.join(dir, 'npm-cache') }
    // Platform packages first: the main one names them as optional dependencies.
    for (const tgz of [...tarballs].sort((a, b) => b.length - a.length)) {
      const pub = run('npm', ['publish', tgz, '--registry', registry.url], { cwd: dir, env: npmEnv })
      check(pub.status === 0, `npm publish ${path.basename(tgz)} failed:\n${pub.stdout}${pub.stderr}`)
    }
    const install = run('npm', ['install', '--no-audit', '--no-fund', 'baml-quickjs', '--registry', registry.url], { cwd: app, env: npmEnv })
    check(install.status === 0, `npm install failed:\n${install.stdout}${install.stderr}`)
    const installed = fs.readdirSync(path.join(app, 'node_modules')).filter((n) => !n.startsWith('.')).sort()
    check(installed.includes('baml-quickjs') && installed.some((n) => n.startsWith('baml-quickjs-linux-')), `installed: ${installed.join(', ')}`)
    console.log(`installed ${installed.join(', ')} from the local registry ${registry.url}, without a Rust toolchain`)

    const script = run('node', ['app.js'], { cwd: app, env })
    check(script.status === 0 && script.stdout === 'process Ada 36\nthread Ada 36\n', `app.js:\n${script.stdout}${script.stderr}`)
    console.log('ok: a sandboxed BAML call against the packaged mock, in both isolation modes')

    const cli = run('npx', ['--offline', 'baml-quickjs', 'run', 'script.js', '--baml', 'baml_src'], { cwd: app, env })
    check(cli.status === 0 && JSON.parse(cli.stdout).answer === 42, `npx baml-quickjs run:\n${cli.stdout}${cli.stderr}`)
    const types = run('npx', ['--offline', 'baml-quickjs', 'types', 'baml_src'], { cwd: app, env })
    check(types.status === 0 && types.stdout.includes('Extract(text: string, options?: BamlCallOptions): Promise<Person>'), `npx baml-quickjs types:\n${types.stdout}${types.stderr}`)
    console.log('ok: the CLI through npx')

    // jest from this checkout (installing it would need a registry), run in the user's folder.
    const jest = run('node', [path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), '--rootDir', app, '--ci'], { cwd: app, env })
    check(jest.status === 0, `jest:\n${jest.stdout}${jest.stderr}`)
    console.log('ok: a jest test')
  } finally {
    stopRegistry()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().then(
  () => console.log('install test passed'),
  (e) => {
    console.error(`install test failed: ${e.message}`)
    process.exit(1)
  },
)
