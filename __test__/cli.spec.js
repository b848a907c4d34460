// The command line (`cli.js`), run as a user runs it: `node cli.js ...` as a child process, and
// through its shebang as the package's `bin`. BAML calls go to the mock server.
const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { startMockLlm } = require('../crates/mock_llm/node.js')
const { BamlRuntime } = require('../index.js')

const ROOT = path.join(__dirname, '..')
const CLI = path.join(ROOT, 'cli.js')
const EXAMPLES = path.join(ROOT, 'examples', 'baml_src')
const GOOD = path.join(__dirname, 'fixtures', 'resume-project')
const BROKEN = path.join(__dirname, 'fixtures', 'broken-project')
// The shebang is `#!/usr/bin/env node`: put this Node first on PATH so both ways run the same one.
const SHEBANG_ENV = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` }

/** `node cli.js ...args` (or `cli.js ...args` through its shebang with `shebang: true`). */
function run(args, { cwd = ROOT, shebang = false } = {}) {
  const [file, argv] = shebang ? [CLI, args] : [process.execPath, [CLI, ...args]]
  return new Promise((resolve) => {
    execFile(file, argv, { cwd, timeout: 60_000, env: shebang ? SHEBANG_ENV : process.env }, (error, stdout, stderr) => {
      resolve({ status: error ? error.code : 0, stdout, stderr })
    })
  })
}

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-cli-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

const count = (text, part) => text.split(part).length - 1

test('run prints the result as JSON, with env from --env-file', async (t) => {
  const mock = await startMockLlm()
  t.teardown(() => mock.stop())
  await mock.script({
    rules: [
      { contains: 'You extract resumes', replies: [{ text: '{"name": "Ada Lovelace", "skills": ["math"], "years_experience": 10}' }] },
      { contains: 'You judge', replies: [{ text: '{"fit": "STRONG", "reasons": ["math"]}' }] },
    ],
  })
  const envFile = path.join(tempDir(t), '.env')
  fs.writeFileSync(envFile, `# test env\nOPENAI_API_KEY="sk-file"\nexport DEMO_BASE_URL=${mock.url}/v1\n`)
  const out = await run(['run', 'examples/match.js', '--baml', 'examples/baml_src', '--env-file', envFile, '--timeout-ms', '20000'])
  t.is(out.status, 0, out.stderr)
  t.deepEqual(JSON.parse(out.stdout), { name: 'Ada Lovelace', fit: 'STRONG' })
  const reqs = await mock.requests()
  t.is(reqs.length, 2)
  t.true(reqs.every((r) => r.headers.authorization === 'Bearer sk-file'))
})

test('--env-file and its alias --dotenv, as --flag value and --flag=value, through node and the shebang', async (t) => {
  const mock = await startMockLlm()
  t.teardown(() => mock.stop())
  await mock.script({ rules: [{ contains: 'You extract resumes', replies: [{ text: '{"name": "Ada", "skills": [], "years_experience": 1}' }] }] })
  const dir = tempDir(t)
  const script = path.join(dir, 'one.js')
  fs.writeFileSync(script, '(await ExtractResume("Ada")).name')
  const ways = [
    [false, ['--env-file', 'a.env'], 'sk-a'],
    [false, ['--env-file=b.env'], 'sk-b'],
    [false, ['--dotenv', 'c.env'], 'sk-c'],
    [false, ['--dotenv=d.env'], 'sk-d'],
    [true, ['--env-file', 'e.env'], 'sk-e'],
    [true, ['--env-file=f.env'], 'sk-f'],
    [true, ['--dotenv', 'g.env'], 'sk-g'],
    [true, ['--dotenv=h.env'], 'sk-h'],
    // Files apply in command-line order, whichever spelling; --env wins when it comes last.
    [false, ['--dotenv', 'a.env', '--env-file', 'b.env'], 'sk-b'],
    [true, ['--env-file=b.env', '--dotenv=a.env', '--env', 'OPENAI_API_KEY=sk-flag'], 'sk-flag'],
  ]
  for (const [, , key] of ways) {
    const name = `${key.slice(3)}.env`
    if (key !== 'sk-flag') fs.writeFileSync(path.join(dir, name), `OPENAI_API_KEY=${key}\nDEMO_BASE_URL=${mock.url}/v1\n`)
  }
  for (const [shebang, flags, key] of ways) {
    await mock.reset()
    await mock.script({ rules: [{ contains: 'You extract resumes', replies: [{ text: '{"name": "Ada", "skills": [], "years_experience": 1}' }] }] })
    const out = await run(['run', 'one.js', '--baml', EXAMPLES, ...flags], { cwd: dir, shebang })
    const how = `${shebang ? 'shebang' : 'node cli.js'} ${flags.join(' ')}`
    t.is(out.status, 0, `${how}: ${out.stderr}`)
    t.is(JSON.parse(out.stdout), 'Ada', how)
    const reqs = await mock.requests()
    t.is(reqs.length, 1, how)
    t.is(reqs[0].headers.authorization, `Bearer ${key}`, how)
  }
})

test('a missing env file: one line from --dotenv; --env-file may be stopped by Node itself first', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'ok.js'), '1')
  const alias = await run(['run', 'ok.js', '--baml', EXAMPLES, '--dotenv', 'missing.env'], { cwd: dir })
  t.is(alias.status, 1)
  t.is(alias.stderr, 'baml-quickjs: cannot read env file missing.env: no such file\n')
  t.is(alias.stdout, '')
  // Node 20 (nodejs/node#54232) reads `--env-file X` even after the script's path and exits 9
  // with "node: X: not found" before cli.js runs; a Node that leaves it alone gets our line.
  for (const shebang of [false, true]) {
    const out = await run(['run', 'ok.js', '--baml', EXAMPLES, '--env-file', 'missing.env'], { cwd: dir, shebang })
    t.true(out.status === 1 || out.status === 9, `${out.status}: ${out.stderr}`)
    t.regex(out.stderr, /missing\.env: not found|cannot read env file missing\.env: no such file/)
    t.is(out.stdout, '')
  }
})

test('help goes to stdout with exit 0; no arguments print usage on stderr with exit 2', async (t) => {
  for (const args of [['--help'], ['-h'], ['help'], ['run', '--help']]) {
    const out = await run(args)
    t.is(out.status, 0, args.join(' '))
    t.regex(out.stdout, /^usage: baml-quickjs <command>/, args.join(' '))
    t.regex(out.stdout, /--dotenv <file>/)
    t.is(out.stderr, '', args.join(' '))
  }
  const none = await run([])
  t.is(none.status, 2)
  t.is(none.stdout, '')
  t.regex(none.stderr, /^usage: baml-quickjs <command>/)
  const shebang = await run(['--help'], { shebang: true })
  t.is(shebang.status, 0, shebang.stderr)
  t.regex(shebang.stdout, /^usage: baml-quickjs/)
})

test('--version and -v print the package version', async (t) => {
  const { version } = require('../package.json')
  for (const flag of ['--version', '-v']) {
    const out = await run([flag])
    t.is(out.status, 0)
    t.is(out.stdout, `${version}\n`)
    t.is(out.stderr, '')
  }
})

test('unknown flags, commands and bad values are usage errors (exit 2) that name the culprit', async (t) => {
  const cases = [
    [['run', 'x.js', '--baml', EXAMPLES, '--bogus'], /unknown option --bogus/],
    [['run', 'x.js', '--baml', EXAMPLES, '--bogus=1'], /unknown option --bogus/],
    [['check', GOOD, '--baml', GOOD], /unknown option --baml for check/],
    [['--frobnicate'], /unknown option --frobnicate/],
    [['compile', 'x'], /unknown command "compile"/],
    [['run', 'x.js'], /missing --baml/],
    [['run', 'x.js', '--baml'], /--baml needs a value/],
    [['run', '--baml', EXAMPLES], /run: missing <script\.js>/],
    [['check'], /check: missing <dir>/],
    [['run', 'x.js', '--baml', EXAMPLES, '--memory-limit', 'lots'], /--memory-limit must be a positive number/],
    [['run', 'x.js', '--baml', EXAMPLES, '--isolation=vm'], /--isolation must be process or thread/],
    [['run', 'x.js', '--baml', EXAMPLES, '--env', 'NOEQUALS'], /--env expects KEY=VALUE/],
  ]
  for (const [args, pattern] of cases) {
    const out = await run(args)
    t.is(out.status, 2, args.join(' '))
    t.regex(out.stderr, pattern, args.join(' '))
    t.is(out.stdout, '', args.join(' '))
  }
})

test('--flag=value works like --flag value', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'loop.js'), 'for (;;) {}')
  const started = Date.now()
  const out = await run(['run', 'loop.js', `--baml=${EXAMPLES}`, '--timeout-ms=300', '--memory-limit=8000000', '--isolation=thread'], { cwd: dir })
  t.is(out.status, 1)
  t.regex(out.stderr, /SANDBOX_TIMEOUT/)
  t.true(Date.now() - started < 30_000)
  fs.writeFileSync(path.join(dir, 'big.js'), 'const a = []; for (;;) a.push("x".repeat(1000) + a.length)')
  const memory = await run(['run', 'big.js', `--baml=${EXAMPLES}`, '--memory-limit=4000000'], { cwd: dir })
  t.is(memory.status, 1)
  t.regex(memory.stderr, /SANDBOX_MEMORY/)
})

test('--globals: the keys of a JSON object become sandbox globals', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'g.js'), '({ id: user.id, plan: user.plan, n: limit * 2 })')
  fs.writeFileSync(path.join(dir, 'globals.json'), JSON.stringify({ user: { id: 7, plan: 'pro' }, limit: 21 }))
  for (const isolation of ['process', 'thread']) {
    const out = await run(['run', 'g.js', '--baml', EXAMPLES, '--globals', 'globals.json', `--isolation=${isolation}`], { cwd: dir })
    t.is(out.status, 0, out.stderr)
    t.deepEqual(JSON.parse(out.stdout), { id: 7, plan: 'pro', n: 42 })
  }
  fs.writeFileSync(path.join(dir, 'list.json'), '[1, 2]')
  const list = await run(['run', 'g.js', '--baml', EXAMPLES, '--globals=list.json'], { cwd: dir })
  t.is(list.status, 1)
  t.is(list.stderr, 'baml-quickjs: list.json: expected a JSON object whose keys are the globals\n')
  const missing = await run(['run', 'g.js', '--baml', EXAMPLES, '--globals=nope.json'], { cwd: dir })
  t.is(missing.status, 1)
  t.is(missing.stderr, 'baml-quickjs: cannot read globals file nope.json: no such file\n')
})

test('console output goes to stderr, stdout holds only the JSON result', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'log.js'), 'console.log("hello"); console.error("oops"); ({ done: true })')
  const out = await run(['run', 'log.js', '--baml', EXAMPLES], { cwd: dir })
  t.is(out.status, 0, out.stderr)
  t.deepEqual(JSON.parse(out.stdout), { done: true })
  t.regex(out.stderr, /\[log\] hello/)
  t.regex(out.stderr, /\[error\] oops/)
})

test('check: a good project prints a summary and exits 0', async (t) => {
  const out = await run(['check', GOOD])
  t.is(out.status, 0, out.stderr)
  t.is(out.stdout, `ok: ${BamlRuntime.fromDirectory(GOOD).functions().length} functions\n`)
  t.is(out.stdout, 'ok: 2 functions\n')
  t.is(out.stderr, '')
})

test('check: a broken project prints each diagnostic once as file:line:col and exits 1', async (t) => {
  const out = await run(['check', path.relative(ROOT, BROKEN)])
  t.is(out.status, 1)
  t.is(out.stdout, '')
  const file = path.join('__test__', 'fixtures', 'broken-project', 'main.baml')
  const undefinedType = `${file}:6:30: type \`Strin\` is not defined`
  const duplicate = `${file}:13:3: field \`age\` is declared twice`
  t.is(count(out.stderr, undefinedType), 1, out.stderr)
  t.is(count(out.stderr, duplicate), 1, out.stderr)
  t.regex(out.stderr, /BAML_SYNTAX/)
})

test('types prints the TypeScript declarations', async (t) => {
  const out = await run(['types', GOOD])
  t.is(out.status, 0, out.stderr)
  t.is(out.stdout, BamlRuntime.fromDirectory(GOOD).typescriptDeclarations())
  t.regex(out.stdout, /ExtractResume/)
  const missing = await run(['types', 'no-such-dir'])
  t.is(missing.status, 1)
  t.regex(missing.stderr, /^baml-quickjs: BAML_IO: cannot read no-such-dir/)
  t.notRegex(missing.stderr, /ENOENT/)
})

test('an uncaught error prints script.js:LINE:COL, its code, message and the sandbox stack', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'script.js'), 'const a = 1\nfunction f() {\n  throw new TypeError("boom")\n}\nf()\n')
  for (const [shebang, isolation] of [[false, 'process'], [false, 'thread'], [true, 'process']]) {
    const out = await run(['run', 'script.js', '--baml', EXAMPLES, '--isolation', isolation], { cwd: dir, shebang })
    t.is(out.status, 1)
    t.is(out.stdout, '')
    const lines = out.stderr.split('\n')
    t.regex(lines[0], /^script\.js:3:13: SANDBOX_ERROR: .*boom/)
    t.regex(lines[0], /TypeError/)
    t.true(lines.includes('    at f (script.js:3:13)'), out.stderr)
    t.true(lines.includes('    at <eval> (script.js:5:1)'), out.stderr)
  }
})

test('a missing script is one clear line, never ENOENT twice', async (t) => {
  for (const shebang of [false, true]) {
    const out = await run(['run', 'nope.js', '--baml', EXAMPLES], { shebang })
    t.is(out.status, 1)
    t.is(out.stderr, 'baml-quickjs: cannot read script nope.js: no such file\n')
    t.is(out.stdout, '')
  }
})

test('errors go to stderr with their code and a non-zero exit; .baml diagnostics once each', async (t) => {
  const dir = tempDir(t)
  const script = path.join(dir, 'loop.js')
  fs.writeFileSync(script, 'for (;;) {}')
  const timeout = await run(['run', script, '--baml', 'examples/baml_src', '--timeout-ms', '200'])
  t.is(timeout.status, 1)
  t.regex(timeout.stderr, /SANDBOX_TIMEOUT/)
  t.is(timeout.stdout, '')
  fs.writeFileSync(path.join(dir, 'bad.baml'), 'class {')
  const syntax = await run(['run', script, '--baml', dir])
  t.is(syntax.status, 1)
  t.regex(syntax.stderr, /BAML_SYNTAX/)
  t.is(count(syntax.stderr, `${path.join(dir, 'bad.baml')}:1:7: expected a class name`), 1, syntax.stderr)
})
