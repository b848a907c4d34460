// renderRequest() against requests BAML itself built (@boundaryml/baml 0.226.2 `buildRequest`):
// the shared starter cases and our recorded ones (conformance/generate-requests.js).
const test = require('ava')
const fs = require('node:fs')
const path = require('node:path')
const http = require('node:http')
const util = require('node:util')
const { BamlRuntime } = require('..')

// The media the recorded cases name: generate-requests.js served these bytes on this port when
// BAML downloaded them, so the cases that download (google-ai images, OpenAI audio, anthropic
// PDFs) need them here too.
const MEDIA_PORT = 4019
const MEDIA = {
  '/cat.png': ['image/png', 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='],
  '/hello.mp3': ['audio/mpeg', 'SUQzBAAAAAAAI1RTU0UAAAAPAAADTGF2ZjU4Ljc2LjEwMAAAAAAAAAAAAAAA'],
  '/doc.pdf': ['application/pdf', 'JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK'],
}
let mediaServer
test.before(async () => {
  mediaServer = http.createServer((req, res) => {
    const found = MEDIA[req.url]
    if (!found) {
      res.writeHead(404)
      res.end()
      return
    }
    res.writeHead(200, { 'content-type': found[0] })
    res.end(Buffer.from(found[1], 'base64'))
  })
  await new Promise((resolve, reject) => {
    mediaServer.once('error', reject)
    mediaServer.listen(MEDIA_PORT, '127.0.0.1', resolve)
  })
})
test.after.always(() => new Promise((resolve) => (mediaServer ? mediaServer.close(resolve) : resolve())))

const KEPT = ['content-type', 'authorization', 'x-api-key', 'api-key', 'anthropic-version', 'x-goog-api-key']
// Providers we refuse as unsupported, and cases where we knowingly differ (README, "Differences
// from BAML"); the same list is checked by crates/baml_runtime/tests/requests.rs.
const UNSUPPORTED = []
const KNOWN = new Set([
])

/** Lines that differ between two JSON values, path by path. */
function diff(expected, actual, at = 'body', out = []) {
  if (typeof expected !== typeof actual || Array.isArray(expected) !== Array.isArray(actual) || expected === null || actual === null || typeof expected !== 'object') {
    if (!util.isDeepStrictEqual(expected, actual)) {
      out.push(`  ${at}:\n    expected ${JSON.stringify(expected)}\n    actual   ${JSON.stringify(actual)}`)
    }
    return out
  }
  const keys = new Set([...Object.keys(expected), ...Object.keys(actual)])
  for (const k of keys) diff(expected[k], actual[k], Array.isArray(expected) ? `${at}[${k}]` : `${at}.${k}`, out)
  return out
}

async function check(c) {
  let rt
  try {
    rt = BamlRuntime.fromFiles(c.files)
  } catch (e) {
    if (c.error_phase === 'load') return []
    return [`  we refused to load: ${e.message}`]
  }
  if (c.error_phase === 'load') return [`  BAML refused to load (${c.expected_error}) but we loaded`]
  let req
  try {
    req = await rt.renderRequest(c.function, c.args, { stream: c.stream, env: c.env })
  } catch (e) {
    if (c.error_phase === 'request') {
      return e.code === 'BAML_INVALID_ARGUMENT' ? [] : [`  refused with code ${e.code}, expected BAML_INVALID_ARGUMENT`]
    }
    return [`  we refused (${e.code}): ${e.message}`]
  }
  if (c.error_phase === 'request') return [`  BAML refused (${c.expected_error}) but we built a request`]
  const out = []
  if (req.url !== c.expected.url) out.push(`  url:\n    expected ${c.expected.url}\n    actual   ${req.url}`)
  if (req.method !== c.expected.method) out.push(`  method: expected ${c.expected.method}, actual ${req.method}`)
  for (const [k, v] of Object.entries(c.expected.headers)) {
    if (req.headers[k] !== v) out.push(`  header ${k}: expected ${JSON.stringify(v)}, actual ${JSON.stringify(req.headers[k])}`)
  }
  for (const k of KEPT) {
    if (k in req.headers && !(k in c.expected.headers)) out.push(`  header ${k}: not sent by BAML, we send ${JSON.stringify(req.headers[k])}`)
  }
  return out.concat(diff(c.expected.body, req.body))
}

for (const file of ['requests.shared.json', 'requests.baml.json']) {
  test(`renderRequest equals BAML's request for every case in ${file}`, async (t) => {
    const cases = JSON.parse(fs.readFileSync(path.join(__dirname, 'conformance', file), 'utf8'))
    t.true(cases.length > 40)
    const failures = []
    let compared = 0
    for (const c of cases) {
      if (UNSUPPORTED.some((p) => JSON.stringify(c.files).includes(p))) continue
      const problems = await check(c)
      if (KNOWN.has(c.name)) {
        t.not(problems.length, 0, `${c.name} is a known difference but now matches BAML: remove it from KNOWN`)
        continue
      }
      compared++
      if (problems.length) failures.push(`${c.name}:\n${problems.join('\n')}`)
    }
    t.true(compared > cases.length * 0.8, `only ${compared} of ${cases.length} cases were compared`)
    t.deepEqual(failures, [], `${failures.length} of ${compared} cases differ from BAML:\n\n${failures.join('\n\n')}`)
  })
}

test('renderRequest failures carry a stable code', async (t) => {
  const rt = BamlRuntime.fromFiles({
    'main.baml': 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n  }\n}\nfunction F(n: int) -> string {\n  client C\n  prompt #"{{ n }}"#\n}\n',
  })
  const e1 = await t.throwsAsync(rt.renderRequest('F', { n: 'x' }))
  t.is(e1.code, 'BAML_INVALID_ARGUMENT')
  t.regex(e1.message, /`n`: expected int, got string "x"/)
  const e2 = await t.throwsAsync(rt.renderRequest('Nope', {}))
  t.is(e2.code, 'BAML_INVALID_ARGUMENT')
  t.regex(e2.message, /function `Nope` is not defined/)
  const ok = await rt.renderRequest('F', { n: 3 }, { env: { OPENAI_API_KEY: 'k1' } })
  t.is(ok.headers.authorization, 'Bearer k1')
})
