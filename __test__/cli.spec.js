// The command line: `baml-quickjs run <script.js> --baml <dir> ...` against the mock server.
const test = require('ava')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { startMockLlm } = require('../crates/mock_llm/node.js')

const ROOT = path.join(__dirname, '..')
const CLI = path.join(ROOT, 'cli.js')

function run(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? error.code : 0, stdout, stderr })
    })
  })
}

test('run prints the result as JSON, with env from --env-file', async (t) => {
  const mock = await startMockLlm()
  t.teardown(() => mock.stop())
  await mock.script({
    rules: [
      { contains: 'You extract resumes', replies: [{ text: '{"name": "Ada Lovelace", "skills": ["math"], "years_experience": 10}' }] },
      { contains: 'You judge', replies: [{ text: '{"fit": "STRONG", "reasons": ["math"]}' }] },
    ],
  })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-cli-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const envFile = path.join(dir, '.env')
  fs.writeFileSync(envFile, `# test env\nOPENAI_API_KEY="sk-file"\nexport DEMO_BASE_URL=${mock.url}/v1\n`)
  const out = await run(['run', 'examples/match.js', '--baml', 'examples/baml_src', '--env-file', envFile, '--timeout-ms', '20000'])
  t.is(out.status, 0, out.stderr)
  t.deepEqual(JSON.parse(out.stdout), { name: 'Ada Lovelace', fit: 'STRONG' })
  const reqs = await mock.requests()
  t.is(reqs.length, 2)
  t.true(reqs.every((r) => r.headers.authorization === 'Bearer sk-file'))
})

test('errors go to stderr with their code and a non-zero exit', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bq-cli-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
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
  t.regex(syntax.stderr, /bad\.baml:1:/)
  const usage = await run(['run', script])
  t.is(usage.status, 2)
  t.regex(usage.stderr, /missing --baml/)
  const memory = await run(['run', script, '--baml', 'examples/baml_src', '--memory-limit', 'lots'])
  t.is(memory.status, 2)
  t.regex(memory.stderr, /--memory-limit must be a positive number/)
})
