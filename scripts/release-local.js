#!/usr/bin/env node
// Builds and packs the npm packages: the main package `baml-quickjs` (JavaScript, types, CLI)
// and one platform package per target with its binaries (the addon, the sandbox worker and the
// mock LLM server), as napi-rs lays them out. Tarballs go to dist/.
//
//   node scripts/release-local.js [--version 0.1.0] [--targets t1,t2] [--no-build] [--debug]
//                                 [--repository URL]
//
// --targets takes Rust target triples (default: this machine's). Building for another target
// needs its toolchain (see README, "Building from source"). --no-build packs what earlier builds
// left in npm/<platform>/. --debug packs this machine's debug build (`npm run build:debug`, as
// `npm test` leaves it) instead of building a release: for testing the packaging quickly (CI),
// never for publishing. The main package lists every packed platform package in
// `optionalDependencies` at the same version (added to the packed copy only: the repository's
// package.json never names packages that a registry may not have).
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const DIST = path.join(ROOT, 'dist')

/** Rust target triple -> napi-rs platform name and the package's os/cpu/libc fields. */
const PLATFORMS = {
  'x86_64-unknown-linux-gnu': { name: 'linux-x64-gnu', os: 'linux', cpu: 'x64', libc: 'glibc' },
  'x86_64-unknown-linux-musl': { name: 'linux-x64-musl', os: 'linux', cpu: 'x64', libc: 'musl' },
  'aarch64-unknown-linux-gnu': { name: 'linux-arm64-gnu', os: 'linux', cpu: 'arm64', libc: 'glibc' },
  'aarch64-unknown-linux-musl': { name: 'linux-arm64-musl', os: 'linux', cpu: 'arm64', libc: 'musl' },
  'x86_64-apple-darwin': { name: 'darwin-x64', os: 'darwin', cpu: 'x64' },
  'aarch64-apple-darwin': { name: 'darwin-arm64', os: 'darwin', cpu: 'arm64' },
  'x86_64-pc-windows-msvc': { name: 'win32-x64-msvc', os: 'win32', cpu: 'x64' },
}

/** The files a platform package ships, by platform (the worker is Linux-only: process isolation). */
function platformFiles(platform) {
  const exe = platform.os === 'win32' ? '.exe' : ''
  const worker = platform.os === 'linux' ? ['baml-quickjs-worker'] : []
  return [`baml-quickjs.${platform.name}.node`, ...worker, `mock_llm${exe}`]
}

function hostTarget() {
  const out = spawnSync('rustc', ['-vV'], { encoding: 'utf8' })
  const m = /^host: (\S+)$/m.exec(out.stdout || '')
  if (!m) throw new Error('cannot tell this machine\'s Rust target (rustc -vV)')
  return m[1]
}

// npm and npx are .cmd scripts on Windows, which Node runs only through a shell.
const SHELL = process.platform === 'win32'

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', shell: SHELL, ...opts })
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`)
}

/**
 * The packages' `repository`: package.json's, else --repository, else this checkout's `origin`
 * remote (the project's public URL is not written into package.json until it has one).
 */
function repository(opts, mainPkg) {
  if (opts.repository) return { type: 'git', url: opts.repository }
  if (mainPkg.repository) return mainPkg.repository
  const r = spawnSync('git', ['remote', 'get-url', 'origin'], { cwd: ROOT, encoding: 'utf8' })
  const url = r.status === 0 ? r.stdout.trim() : ''
  if (url && !url.startsWith('/') && !url.startsWith('file:')) {
    return { type: 'git', url: url.startsWith('git@github.com:') ? `git+https://github.com/${url.slice(15)}` : url }
  }
  console.warn('release-local: no repository URL (package.json has none, there is no public origin remote): pass --repository URL before publishing')
  return undefined
}

function parseArgs(argv) {
  const opts = { version: null, targets: null, build: true, debug: false }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2)
    const value = () => (inline !== undefined ? inline : argv[++i])
    if (flag === '--version') opts.version = value()
    else if (flag === '--targets') opts.targets = value().split(',').filter(Boolean)
    else if (flag === '--no-build') opts.build = false
    else if (flag === '--debug') opts.debug = true
    else if (flag === '--repository') opts.repository = value()
    else throw new Error(`unknown option ${flag} (options: --version, --targets, --no-build, --debug, --repository)`)
  }
  return opts
}

/** Copies this machine's debug build (addon, worker, mock) into npm/<platform>/, stripped. */
function copyDebugBuild(platform, dir) {
  const exe = platform.os === 'win32' ? '.exe' : ''
  const from = {
    [`baml-quickjs.${platform.name}.node`]: path.join(ROOT, `baml-quickjs.${platform.name}.node`),
    'baml-quickjs-worker': path.join(ROOT, 'target', 'debug', 'baml-quickjs-worker'),
    [`mock_llm${exe}`]: path.join(ROOT, 'target', 'debug', `mock_llm${exe}`),
  }
  fs.mkdirSync(dir, { recursive: true })
  for (const name of platformFiles(platform)) {
    if (!fs.existsSync(from[name])) throw new Error(`--debug: no ${path.relative(ROOT, from[name])}: run npm run build:debug and cargo build -p mock_llm first`)
    fs.rmSync(path.join(dir, name), { force: true })
    fs.copyFileSync(from[name], path.join(dir, name))
    fs.chmodSync(path.join(dir, name), 0o755)
    if (process.platform === 'linux') run('strip', ['--strip-debug', path.join(dir, name)])
  }
}

/** Builds the addon, the worker and the mock server for `target`, into npm/<platform>/. */
function build(target, platform, dir) {
  const host = target === hostTarget()
  // Types are generated by every build; this one's go to dist/ (binding.d.ts is committed).
  const dts = path.relative(dir, path.join(DIST, 'binding.d.ts'))
  // Other Linux targets cross-compile with zig (cargo-zigbuild; `pip install ziglang` and
  // `cargo install cargo-zigbuild`, plus `rustup target add <target>`).
  const cross = !host && platform.os === 'linux' && process.platform === 'linux'
  run('npx', ['napi', 'build', '--platform', '--release', '--target', target, '--output-dir', dir, '--no-js', '--dts', dts, ...(cross ? ['-x'] : [])])
  const cargo = cross ? ['zigbuild'] : ['build']
  if (platform.os === 'linux') run('cargo', [...cargo, '--release', '--target', target, '-p', 'sandbox_process', '--bin', 'baml-quickjs-worker'])
  run('cargo', [...cargo, '--release', '--target', target, '-p', 'mock_llm', '--bin', 'mock_llm'])
  for (const name of platformFiles(platform).filter((f) => !f.endsWith('.node'))) {
    fs.copyFileSync(path.join(ROOT, 'target', target, 'release', name), path.join(dir, name))
    fs.chmodSync(path.join(dir, name), 0o755)
  }
  // Debug info is most of a release binary; strip it where this machine's strip can.
  if (process.platform === 'linux' && platform.os === 'linux') {
    // binutils' strip reads only its own architecture; llvm-strip (if present) reads any.
    const strip = host ? 'strip' : ['llvm-strip', `${target.split('-')[0]}-linux-gnu-strip`].find((s) => spawnSync('sh', ['-c', `command -v ${s}`]).status === 0)
    if (strip) for (const name of platformFiles(platform)) run(strip, ['--strip-debug', path.join(dir, name)])
    else console.warn(`release-local: no strip for ${target}: its binaries keep their debug info`)
  }
}

/** Writes npm/<platform>/package.json and README.md for `version`. */
function writePlatformPackage(target, platform, dir, version, main) {
  const pkg = {
    name: `baml-quickjs-${platform.name}`,
    version,
    description: `The ${target} binaries of baml-quickjs (the addon, its sandbox worker and the mock LLM server)`,
    os: [platform.os],
    cpu: [platform.cpu],
    ...(platform.libc ? { libc: [platform.libc] } : {}),
    main: `baml-quickjs.${platform.name}.node`,
    files: platformFiles(platform),
    license: main.license,
    repository: main.repository,
    engines: main.engines,
  }
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
  fs.writeFileSync(
    path.join(dir, 'README.md'),
    `# baml-quickjs-${platform.name}\n\nThe \`${target}\` binaries of [baml-quickjs](${main.homepage}): installed by \`npm install baml-quickjs\` on that platform, never on its own.\n`,
  )
}

function pack(dir) {
  const r = spawnSync('npm', ['pack', '--json', '--pack-destination', DIST], { cwd: dir, encoding: 'utf8', shell: SHELL })
  if (r.status !== 0) throw new Error(`npm pack in ${dir} failed:\n${r.stderr}`)
  const [info] = JSON.parse(r.stdout)
  return { file: path.join(DIST, info.filename), size: info.size, files: info.files.map((f) => f.path) }
}

function main() {
  const opts = parseArgs(process.argv.slice(2))
  const mainPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  mainPkg.repository = repository(opts, mainPkg)
  const version = opts.version || mainPkg.version
  const targets = opts.targets || [hostTarget()]
  fs.mkdirSync(DIST, { recursive: true })
  const packed = []
  const optional = {}
  for (const target of targets) {
    const platform = PLATFORMS[target]
    if (!platform) throw new Error(`no platform package for ${target} (known: ${Object.keys(PLATFORMS).join(', ')})`)
    const dir = path.join(ROOT, 'npm', platform.name)
    if (opts.debug) {
      if (target !== hostTarget()) throw new Error(`--debug packs this machine's build only (${hostTarget()}), not ${target}`)
      copyDebugBuild(platform, dir)
    } else if (opts.build) build(target, platform, dir)
    const missing = platformFiles(platform).filter((f) => !fs.existsSync(path.join(dir, f)))
    if (missing.length) throw new Error(`npm/${platform.name} lacks ${missing.join(', ')}: build it first (without --no-build)`)
    writePlatformPackage(target, platform, dir, version, mainPkg)
    packed.push(pack(dir))
    optional[`baml-quickjs-${platform.name}`] = version
  }
  // The main package, staged with its version and optional dependencies.
  const stage = path.join(DIST, 'stage')
  fs.rmSync(stage, { recursive: true, force: true })
  fs.mkdirSync(stage, { recursive: true })
  for (const f of mainPkg.files) fs.copyFileSync(path.join(ROOT, f), path.join(stage, f))
  const staged = { ...mainPkg, version, optionalDependencies: optional }
  delete staged.devDependencies
  delete staged.scripts
  fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(staged, null, 2)}\n`)
  packed.unshift(pack(stage))
  fs.rmSync(stage, { recursive: true, force: true })
  for (const p of packed) console.log(`${path.relative(ROOT, p.file)}  ${(p.size / 1024).toFixed(0)} KiB  (${p.files.join(', ')})`)
}

if (require.main === module) {
  try {
    main()
  } catch (e) {
    console.error(`release-local: ${e.message}`)
    process.exit(1)
  }
}

module.exports = { PLATFORMS, platformFiles, writePlatformPackage }
