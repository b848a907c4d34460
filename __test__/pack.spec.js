// What the npm packages contain: `npm pack --dry-run` of the main package and of every
// platform package lists exactly the intended files (scripts/release-local.js writes the
// platform packages; their binaries are stand-ins here, the layout is what is checked).
const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { PLATFORMS, platformFiles, writePlatformPackage } = require('../scripts/release-local.js')

const ROOT = path.join(__dirname, '..')
const main = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))

function packed(dir) {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`npm pack --dry-run failed: ${r.stderr}`)
  return JSON.parse(r.stdout)[0].files.map((f) => f.path).sort()
}

test('the main package holds the JavaScript, the types, the CLI, the testing helper, README and LICENSE', (t) => {
  t.deepEqual(packed(ROOT), [
    'LICENSE', 'README.md', 'binding.d.ts', 'binding.js', 'builders.js', 'cli.js', 'index.d.ts', 'index.js', 'package.json', 'testing.d.ts', 'testing.js',
  ])
  t.deepEqual(Object.keys(main.exports).sort(), ['.', './package.json', './testing'])
  t.is(main.bin['baml-quickjs'], 'cli.js')
  t.is(main.optionalDependencies, undefined, 'platform packages are added to the packed copy only')
  // napi-rs builds a platform package for each of these targets.
  t.deepEqual([...main.napi.targets].sort(), Object.keys(PLATFORMS).sort())
})

for (const [target, platform] of Object.entries(PLATFORMS)) {
  const holds = platform.os === 'linux' ? 'addon, worker and mock server' : 'addon and mock server (no worker: process isolation is Linux-only)'
  test(`the ${platform.name} package holds its ${holds}, for ${platform.os}/${platform.cpu}${platform.libc ? `/${platform.libc}` : ''} only`, (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-pack-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    writePlatformPackage(target, platform, dir, '9.8.7', main)
    for (const f of platformFiles(platform)) fs.writeFileSync(path.join(dir, f), 'stand-in')
    fs.writeFileSync(path.join(dir, 'stray.txt'), 'left out')
    t.deepEqual(packed(dir), [...platformFiles(platform), 'README.md', 'package.json'].sort())
    const exe = platform.os === 'win32' ? '.exe' : ''
    const expected = [`baml-quickjs.${platform.name}.node`, ...(platform.os === 'linux' ? ['baml-quickjs-worker'] : []), `mock_llm${exe}`]
    t.deepEqual([...platformFiles(platform)].sort(), expected.sort())
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
    t.is(pkg.name, `baml-quickjs-${platform.name}`)
    t.is(pkg.version, '9.8.7')
    t.deepEqual(pkg.os, [platform.os])
    t.deepEqual(pkg.cpu, [platform.cpu])
    t.deepEqual(pkg.libc, platform.libc ? [platform.libc] : undefined)
    t.is(pkg.main, `baml-quickjs.${platform.name}.node`)
  })
}

test('the committed linux-x64-gnu package.json is what the release script writes', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-pack-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  writePlatformPackage('x86_64-unknown-linux-gnu', PLATFORMS['x86_64-unknown-linux-gnu'], dir, main.version, main)
  t.is(fs.readFileSync(path.join(ROOT, 'npm', 'linux-x64-gnu', 'package.json'), 'utf8'), fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
})
