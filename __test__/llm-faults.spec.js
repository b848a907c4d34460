// Faults on the LLM side, from the mock server: rate limits, server errors, resets, slow and
// hanging servers, malformed and truncated answers, enormous bodies. Each ends with the
// documented error (or a successful retry), from a sandbox and from Node, and never with a
// crash or a hang: every call runs under a watchdog that fails the test instead.
const test = require('ava')
const { BamlRuntime, BamlContext } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

const MiB = 1024 * 1024
const CAP = 64 * MiB // the longest answer body the client accepts

/** Settles like `promise`, or rejects once `ms` pass, so a hang fails the test. */
function watchdog(promise, ms = 10000) {
  let timer
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`watchdog: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}

/** `{ value }` or `{ error }` of `fn()`, with the elapsed time; the watchdog's error is thrown. */
async function outcome(fn, ms) {
  const started = Date.now()
  try {
    return { value: await watchdog(fn(), ms), took: Date.now() - started }
  } catch (error) {
    if (/^watchdog:/.test(error.message)) throw error
    return { error, took: Date.now() - started }
  }
}

function project(url, { retries = 2, requestTimeoutMs = 2000, delayMs = 10 } = {}) {
  return BamlRuntime.fromFiles({
    'main.baml': `client<llm> M {
  provider openai
  retry_policy R
  options {
    model "m"
    api_key "k"
    base_url "${url}/v1"
    http {
      request_timeout_ms ${requestTimeoutMs}
    }
  }
}
retry_policy R {
  max_retries ${retries}
  strategy {
    type constant_delay
    delay_ms ${delayMs}
  }
}
function F(x: string) -> string {
  client M
  prompt #"{{ x }}"#
}
`,
  })
}

let mock
test.before(async () => {
  mock = await startMockLlm()
})
test.after.always(async () => {
  await mock?.stop()
})

// One mock for the file; the tests share its script and records, so they run one at a time.
async function scripted(script) {
  await mock.reset()
  await mock.script(script)
}

/** The mock's records once `done(records)` holds (or after 3 s, for the assertions to fail). */
async function settledRequests(done) {
  const until = Date.now() + 3000
  for (;;) {
    const reqs = await mock.requests()
    if (done(reqs) || Date.now() > until) return reqs
    await new Promise((r) => setTimeout(r, 25))
  }
}

function isBamlHttp(t, error, status) {
  t.truthy(error, 'the call failed')
  if (!error) return
  t.true(error instanceof Error, 'a real Error')
  t.is(error.code, 'BAML_HTTP', error.message)
  t.is(error.statusCode, status)
  t.is(error.clientName, 'M')
}

test.serial('a 429 storm: every retry is sent (no more), then BAML_HTTP with statusCode 429', async (t) => {
  await scripted({ default: { status: 429, retry_after: 0, text: 'slow down' } })
  const rt = project(mock.url, { retries: 3 })
  const ctx = new BamlContext(rt, { timeoutMs: 10000 })
  t.teardown(() => ctx.dispose())
  const inSandbox = await outcome(() => ctx.evaluate("await b.F('x')"))
  isBamlHttp(t, inSandbox.error, 429)
  t.is(inSandbox.error?.jsName, 'BamlClientHttpError')
  t.regex(inSandbox.error?.rawResponse ?? '', /slow down/)
  t.is((await mock.requests()).length, 4, 'one attempt and max_retries 3 retries')
  // Caught inside, with BAML's snake_case fields.
  const caught = await watchdog(ctx.evaluate("try { await b.F('x') } catch (e) { ({ name: e.name, code: e.code, status: e.status_code }) }"))
  t.deepEqual(caught, { name: 'BamlClientHttpError', code: 'BAML_HTTP', status: 429 })
  t.is((await mock.requests()).length, 8)
  const fromNode = await outcome(() => rt.callFunction('F', { x: 'x' }))
  isBamlHttp(t, fromNode.error, 429)
  t.is((await mock.requests()).length, 12)
  t.true((await mock.requests()).every((r) => r.status === 429))
})

test.serial("a 429's Retry-After is waited for before the retry", async (t) => {
  await scripted({ rules: [{ contains: 'x', replies: [{ status: 429, retry_after: 1 }, { text: 'after the wait' }] }] })
  const rt = project(mock.url, { retries: 1 })
  const r = await outcome(() => rt.callFunction('F', { x: 'x' }))
  t.is(r.value, 'after the wait', r.error?.message)
  const [first, second] = await mock.requests()
  t.true(second.received_at_ms - first.received_at_ms >= 990, `retried after ${second.received_at_ms - first.received_at_ms} ms`)
  t.true(r.took < 3000, `${r.took} ms`)
})

test.serial('500s then a success: the retry succeeds, in a sandbox and from Node', async (t) => {
  const rt = project(mock.url, { retries: 2 })
  const ctx = new BamlContext(rt)
  t.teardown(() => ctx.dispose())
  await scripted({ rules: [{ contains: 'x', replies: [{ status: 500 }, { status: 503 }, { text: 'fine' }] }] })
  t.is(await watchdog(ctx.evaluate("await b.F('x')")), 'fine')
  t.deepEqual((await mock.requests()).map((r) => r.status), [500, 503, 200])
  await scripted({ rules: [{ contains: 'x', replies: [{ status: 502 }, { text: 'fine too' }] }] })
  t.is(await watchdog(rt.callFunction('F', { x: 'x' })), 'fine too')
  t.deepEqual((await mock.requests()).map((r) => r.status), [502, 200])
  // One failure more than the policy allows: the last status is reported.
  await scripted({ rules: [{ contains: 'x', replies: [{ status: 500 }, { status: 500 }, { status: 503 }, { text: 'too late' }] }] })
  isBamlHttp(t, (await outcome(() => ctx.evaluate("await b.F('x')"))).error, 503)
  t.is((await mock.requests()).length, 3)
})

test.serial('connection resets: retried, then BAML_HTTP without a status; a reset then a success recovers', async (t) => {
  const rt = project(mock.url, { retries: 2 })
  const ctx = new BamlContext(rt)
  t.teardown(() => ctx.dispose())
  await scripted({ default: { fault: 'reset' } })
  const r = await outcome(() => ctx.evaluate("await b.F('x')"))
  isBamlHttp(t, r.error, null)
  t.regex(r.error?.message ?? '', /reset|connection/i)
  t.is((await mock.requests()).length, 3)
  const n = await outcome(() => rt.callFunction('F', { x: 'x' }))
  isBamlHttp(t, n.error, null)
  await scripted({ rules: [{ contains: 'x', replies: [{ fault: 'reset' }, { text: 'reconnected' }] }] })
  t.is(await watchdog(ctx.evaluate("await b.F('x')")), 'reconnected')
})

test.serial('a slow-loris answer is cut at request_timeout_ms on every attempt (BamlTimeoutError)', async (t) => {
  await scripted({ default: { fault: 'slow_loris', chunk_delay_ms: 50, text: 'a'.repeat(200) } })
  const rt = project(mock.url, { retries: 1, requestTimeoutMs: 400 })
  const ctx = new BamlContext(rt)
  t.teardown(() => ctx.dispose())
  const r = await outcome(() => ctx.evaluate("await b.F('x')"))
  isBamlHttp(t, r.error, null)
  t.is(r.error?.jsName, 'BamlTimeoutError')
  t.regex(r.error?.message ?? '', /request_timeout_ms \(400 ms\)/)
  t.true(r.took >= 790 && r.took < 2000, `two attempts of 400 ms took ${r.took} ms`)
  // The server notices the client left at its next byte.
  const reqs = await settledRequests((q) => q.length === 2 && q.every((x) => x.client_closed))
  t.is(reqs.length, 2)
  t.true(reqs.every((q) => q.client_closed && !q.completed), 'the client left each slow answer')
  const n = await outcome(() => rt.callFunction('F', { x: 'x' }, { onPartial: () => {} }))
  isBamlHttp(t, n.error, null)
  t.true(n.took < 2000, `${n.took} ms`)
})

test.serial('malformed JSON: BAML_HTTP with the raw answer, plain and streamed', async (t) => {
  const rt = project(mock.url, { retries: 1 })
  const ctx = new BamlContext(rt)
  t.teardown(() => ctx.dispose())
  await scripted({ default: { fault: 'malformed_json' } })
  const r = await outcome(() => ctx.evaluate("await b.F('x')"))
  isBamlHttp(t, r.error, 200)
  t.regex(r.error?.message ?? '', /invalid response/)
  t.is(typeof r.error?.rawResponse, 'string')
  t.throws(() => JSON.parse(r.error?.rawResponse), undefined, 'the raw answer is the malformed body')
  t.is((await mock.requests()).length, 2, 'retried once')
  const s = await outcome(() => ctx.evaluate("const s = b.stream.F('x'); for await (const p of s) {} await s.getFinalResponse()"))
  isBamlHttp(t, s.error, 200)
  const n = await outcome(() => rt.callFunction('F', { x: 'x' }, { onPartial: () => {} }))
  isBamlHttp(t, n.error, 200)
  // With an error status, the status wins.
  await scripted({ default: { fault: 'malformed_json', status: 500 } })
  isBamlHttp(t, (await outcome(() => rt.callFunction('F', { x: 'x' }))).error, 500)
})

test.serial('a truncated stream: partials arrive, then BAML_HTTP (b.stream in a sandbox, onPartial from Node)', async (t) => {
  const text = 'the quick brown fox jumps over the lazy dog'
  await scripted({ default: { fault: 'truncated_stream', text, chunk_chars: 3, chunk_delay_ms: 3 } })
  const rt = project(mock.url, { retries: 1 })
  const ctx = new BamlContext(rt)
  t.teardown(() => ctx.dispose())
  const seen = await watchdog(ctx.evaluate(`
    const partials = []
    let error = null
    try {
      for await (const p of b.stream.F('x')) partials.push(p)
    } catch (e) {
      error = { name: e.name, code: e.code, status: e.status_code }
    }
    ;({ partials, error })
  `))
  t.deepEqual(seen.error, { name: 'BamlClientHttpError', code: 'BAML_HTTP', status: null })
  t.true(seen.partials.length >= 2, `${seen.partials.length} partials`)
  t.true(seen.partials.every((p) => text.startsWith(p) && p.length < text.length), 'each partial is a strict prefix')
  t.is((await mock.requests()).length, 2)
  // Uncaught, through getFinalResponse.
  const r = await outcome(() => ctx.evaluate("const s = b.stream.F('x'); for await (const p of s) {} await s.getFinalResponse()"))
  isBamlHttp(t, r.error, null)
  // From Node.
  const partials = []
  const n = await outcome(() => rt.callFunction('F', { x: 'x' }, { onPartial: (p) => partials.push(p) }))
  isBamlHttp(t, n.error, null)
  t.true(partials.length >= 2 && partials.every((p) => text.startsWith(p) && p.length < text.length))
  // A plain answer cut short is refused too.
  isBamlHttp(t, (await outcome(() => rt.callFunction('F', { x: 'x' }))).error, null)
})

/** Runs `fn` while sampling RSS; returns its outcome and the peak growth in MB. */
async function withPeakRss(fn) {
  global.gc?.()
  const base = process.memoryUsage().rss
  let peak = base
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 5)
  try {
    const r = await outcome(fn, 20000)
    peak = Math.max(peak, process.memoryUsage().rss)
    return { ...r, grewMb: (peak - base) / 1e6 }
  } finally {
    clearInterval(sampler)
  }
}

// 200 MB: far past the cap plus what loopback sockets can buffer (tcp_rmem grows to 32 MiB
// here when the client reads fast), so the server is still writing when the client hangs up.
test.serial('an answer larger than 64 MiB is refused with BAML_HTTP, with bounded memory (plain)', async (t) => {
  await scripted({ default: { fault: 'huge_body', huge_bytes: 200e6 } })
  const rt = project(mock.url, { retries: 0, requestTimeoutMs: 20000 })
  const ctx = new BamlContext(rt, { timeoutMs: 20000 })
  t.teardown(() => ctx.dispose())
  for (const [where, fn] of [
    ['sandbox', () => ctx.evaluate("await b.F('x')")],
    ['node', () => rt.callFunction('F', { x: 'x' })],
  ]) {
    const r = await withPeakRss(fn)
    isBamlHttp(t, r.error, null)
    t.regex(r.error?.message ?? '', new RegExp(`larger than ${CAP} bytes`), where)
    t.log(`${where}: ${r.took} ms, peak RSS +${r.grewMb.toFixed(0)} MB`)
    t.true(r.grewMb < 300, `${where}: RSS grew ${r.grewMb} MB`)
    t.true(r.took < 5000, `${where}: ${r.took} ms`)
  }
  const reqs = await settledRequests((q) => q.length === 2 && q.every((x) => x.client_closed))
  t.is(reqs.length, 2)
  t.true(reqs.every((q) => q.client_closed), 'the client hung up past the cap')
  t.is(await ctx.evaluate('1 + 1'), 2)
})

test.serial('a streamed answer larger than 64 MiB is refused with BAML_HTTP, with bounded memory and time', async (t) => {
  await scripted({ default: { fault: 'huge_body', huge_bytes: 200e6 } })
  const rt = project(mock.url, { retries: 0, requestTimeoutMs: 20000 })
  // Partials are copied into the sandbox: it needs room for a few of them.
  const ctx = new BamlContext(rt, { timeoutMs: 20000, memoryLimitBytes: 256 * MiB })
  t.teardown(() => ctx.dispose())
  // Near the cap, the text so far exists a few times over at once (the stream's text, the
  // partial parsed from it, the copy handed to the sandbox or to V8), so the peak is a few
  // times the cap: bounded by the cap, whatever the server sends.
  let partials = 0
  for (const [where, fn, bound] of [
    ['sandbox', () => ctx.evaluate("let n = 0; const s = b.stream.F('x'); for await (const p of s) n++; await s.getFinalResponse()"), 450],
    ['node', () => rt.callFunction('F', { x: 'x' }, { onPartial: () => partials++ }), 400],
  ]) {
    const r = await withPeakRss(fn)
    isBamlHttp(t, r.error, 200)
    // The cap, not request_timeout_ms: re-parsing partials keeps up with the stream.
    t.regex(r.error?.message ?? '', new RegExp(`longer than ${CAP} bytes`), where)
    t.log(`${where}: ${r.took} ms, peak RSS +${r.grewMb.toFixed(0)} MB`)
    t.true(r.grewMb < bound, `${where}: RSS grew ${r.grewMb} MB`)
    t.true(r.took < 10000, `${where}: ${r.took} ms`)
  }
  t.true(partials >= 2, `${partials} partials reached Node`)
  t.is(await ctx.evaluate('1 + 1'), 2)
})

test.serial('a long streamed answer under the cap completes, partials included, in linear time', async (t) => {
  await scripted({ default: { fault: 'huge_body', huge_bytes: 20e6 } })
  const rt = project(mock.url, { retries: 0, requestTimeoutMs: 20000 })
  let partials = 0
  const r = await outcome(() => rt.callFunction('F', { x: 'x' }, { onPartial: () => partials++ }), 20000)
  t.is(r.value?.length, 20e6, r.error?.message)
  t.true(partials >= 2, `${partials} partials`)
  // A plain 20 MB answer takes well under a second; re-parsing the text at every event
  // (quadratic) took over 30 s.
  t.true(r.took < 6000, `${r.took} ms`)
})

test.serial('a hanging server: the evaluation timeout stops the call and the server sees it closed', async (t) => {
  await scripted({ default: { fault: 'hang' } })
  const rt = project(mock.url, { retries: 2, requestTimeoutMs: 60000 })
  const ctx = new BamlContext(rt, { timeoutMs: 300 })
  t.teardown(() => ctx.dispose())
  const r = await outcome(() => ctx.evaluate("await b.F('x')"))
  t.is(r.error?.code, 'SANDBOX_TIMEOUT', r.error?.message)
  t.is(r.error?.timeoutMs, 300)
  t.true(r.took < 1500, `${r.took} ms`)
  const reqs = await settledRequests((q) => q.length === 1 && q[0].client_closed)
  t.is(reqs.length, 1)
  t.true(reqs[0]?.client_closed, 'the request was dropped')
  // Without a sandbox timeout, request_timeout_ms bounds it (every attempt).
  const short = project(mock.url, { retries: 1, requestTimeoutMs: 300 })
  const n = await outcome(() => short.callFunction('F', { x: 'x' }))
  isBamlHttp(t, n.error, null)
  t.true(n.took >= 590 && n.took < 2000, `${n.took} ms`)
  t.is(await ctx.evaluate('1 + 1'), 2)
})
