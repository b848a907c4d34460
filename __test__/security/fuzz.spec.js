// A short run of the sandbox fuzzer (scripts/fuzz-sandbox.js; `npm run fuzz:sandbox` runs it
// for 30 minutes): 60 programs from a fixed seed, in child processes, against the mock LLM
// server. The fuzzer checks every program's outcome, Node's responsiveness, secrets, the
// context afterwards and the worker processes left; this fails if it reports anything.
const test = require('ava')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

test('the sandbox fuzzer finds nothing in 60 programs from seed 7000', (t) => {
  const r = spawnSync(
    process.execPath,
    [path.join(__dirname, '..', '..', 'scripts', 'fuzz-sandbox.js'), '--seed', '7000', '--programs', '60', '--per-child', '30'],
    { encoding: 'utf8', timeout: 600_000 },
  )
  const out = `${r.stdout}\n${r.stderr}`
  t.is(r.signal, null, out)
  t.regex(r.stdout, /programs\s+60 \(/, out)
  t.regex(r.stdout, /failures\s+0\b/, out)
  t.is(r.status, 0, out)
})
