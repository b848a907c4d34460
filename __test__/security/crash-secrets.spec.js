// Crash corpus, class 6: secrets (issue 14). With a key in `query_params`, every transport
// error seen inside the sandbox carried the full URL (`?key=...`); the sandbox could cause
// such errors itself (25,000 pending calls exhausted the process's file descriptors, which
// also broke Node's own `fs`). The secret here is a fresh value per run, given through the
// context's `env` option; it goes into query_params, a header and api_key of the corpus's BAML
// clients (see BAML_SOURCE in _crash.js), and the mock echoes it in its error bodies. Inside
// the sandbox the error is caught and every string reachable from it returned: none may hold
// the secret. What Node sees may keep it (it is Node's own secret); that is only logged.
// See _crash.js for what every case asserts besides this.
const test = require('ava')
const { defineCases, useMock } = require('./_crash.js')

const mock = useMock(test)

const SCRIPT = {
  rules: [
    { contains: 'LEAKPROMPT', replies: [{ text: 'not json at all' }] },
    { contains: 'LEAKQUERY', replies: [{ status: 401, text: 'Invalid key $SECRET for /v1/chat/completions?key=$SECRET' }] },
    { contains: 'LEAKHEADER', replies: [{ status: 500, text: 'upstream refused x-api-key: $SECRET' }] },
    { contains: 'LEAKKEY', replies: [{ status: 401, text: 'Incorrect API key provided: $SECRET. Bearer $SECRET' }] },
    { contains: 'SLOW', replies: [{ text: 'slow reply', latency_ms: 3000 }] },
  ],
  default: { text: 'mock reply' },
}

/** Sandbox code: `strings(v)` returns every string reachable from v (own keys, also
 * non-enumerable and symbols, accessors run on v, prototypes, String(), JSON.stringify). */
const STRINGS = `
  const FIELDS = ['message', 'stack', 'name', 'code', 'raw_output', 'prompt', 'detailed_message', 'client_name',
    'status_code', 'raw_response', 'url', 'request', 'response', 'cause', 'errors', 'headers', 'body']
  function strings(root) {
    const out = []
    const seen = new Set()
    const visit = (v, depth, receiver) => {
      if (v === null || v === undefined || depth > 6) return
      const t = typeof v
      if (t === 'string') { out.push(v); return }
      if (t !== 'object' && t !== 'function') { try { out.push(String(v)) } catch (e) {} return }
      if (seen.has(v)) return
      seen.add(v)
      try { out.push(String(v)) } catch (e) {}
      try { out.push(JSON.stringify(v)) } catch (e) {}
      try { out.push(Object.prototype.toString.call(v)) } catch (e) {}
      for (const k of FIELDS) { try { visit(v[k], depth + 1) } catch (e) {} }
      let keys = []
      try { keys = Reflect.ownKeys(v) } catch (e) {}
      for (const k of keys) {
        try { out.push(String(k)) } catch (e) {}
        let d
        try { d = Object.getOwnPropertyDescriptor(v, k) } catch (e) {}
        if (!d) continue
        try { visit('value' in d ? d.value : d.get ? d.get.call(receiver ?? v) : undefined, depth + 1) } catch (e) {}
      }
      try { visit(Object.getPrototypeOf(v), depth + 1, receiver ?? v) } catch (e) {}
    }
    visit(root, 0)
    return out
  }`

/** Sandbox code: calls `call` (an expression), catches, returns what the error shows. */
function caught(call) {
  return `${STRINGS}
    let out
    try { const r = await ${call}; out = { resolved: r } } catch (e) {
      out = { name: String(e && e.name), strings: strings(e), text: String(e) + '\\n' + (e && e.stack) }
    }
    out`
}

/**
 * Sandbox code: starts `n` slow BAML calls on the query_params client (a refusal, thrown or
 * rejected, is counted and read), waits `ms`, and returns what settled by then.
 */
const FLOOD = (n, ms) => `
  const kinds = {}
  const samples = []
  const seen = (e) => {
    const k = e && e.name ? e.name : String(e)
    kinds[k] = (kinds[k] ?? 0) + 1
    if (samples.length < 10 && kinds[k] <= 3) samples.push({ name: k, strings: strings(e) })
  }
  let started = 0
  try {
    for (let i = 0; i < ${n}; i++) {
      b.LeakQuery('x' + i).then(() => { kinds.ok = (kinds.ok ?? 0) + 1 }, seen)
      started++
    }
  } catch (e) { seen(e) }
  await new Promise((r) => setTimeout(r, ${ms}))
  ;({ started, kinds, samples })`

/** The parent's checks: an error was seen, and no string the sandbox read holds the secret. */
function noSecret(r, ok) {
  const secret = r.secret
  const core = secret.slice('sk-SECRET-'.length)
  const text = JSON.stringify(r.attack?.value?.json ?? null)
  ok(!text.includes(core), `the sandbox read the secret: ${text.slice(Math.max(0, text.indexOf(core) - 200), text.indexOf(core) + 60)}`)
  const b64 = Buffer.from(secret).toString('base64').slice(0, 24)
  ok(!text.includes(b64), 'the sandbox read the secret (base64)')
}

function sawBamlError(r, ok) {
  const v = r.attack?.value?.json
  ok(v && !('resolved' in v), `the call did not fail: ${JSON.stringify(v)?.slice(0, 200)}`)
  ok(v && /^Baml/.test(v.name), `the sandbox saw ${v?.name}, not a BAML error`)
}

function leak(name, call, extra = {}) {
  return {
    name: `secrets: ${name}`,
    baml: true,
    mockScript: SCRIPT,
    options: (H) => ({ env: { SECRET: H.secret }, timeoutMs: 20_000 }),
    code: caught(call),
    expect: ['value'],
    maxMs: 8000,
    check: (r, ok) => {
      sawBamlError(r, ok)
      noSecret(r, ok)
    },
    ...extra,
  }
}

/** Node's own fs and a new TCP connection still work (run in the child after the attack). */
const nodeStillWorks = async (H) => {
  const fs = require('node:fs')
  const net = require('node:net')
  const out = {}
  try {
    out.fs = fs.readFileSync(__filename, 'utf8').length > 0
  } catch (e) {
    out.fs = e.code
  }
  try {
    const fds = []
    for (let i = 0; i < 50; i++) fds.push(fs.openSync(__filename, 'r'))
    fds.forEach((fd) => fs.closeSync(fd))
    out.fds = true
  } catch (e) {
    out.fds = e.code
  }
  out.tcp = await new Promise((resolve) => {
    const s = net.connect(H.mockPort, '127.0.0.1')
    const t = setTimeout(() => {
      s.destroy()
      resolve('timeout')
    }, 5000)
    s.on('connect', () => {
      clearTimeout(t)
      s.end()
      resolve(true)
    })
    s.on('error', (e) => {
      clearTimeout(t)
      resolve(e.code)
    })
  })
  return out
}

const nodeWorked = (r, ok) => {
  const c = r.childCheck ?? {}
  ok(c.fs === true, `Node's fs.readFileSync afterwards: ${c.fs}`)
  ok(c.fds === true, `Node's fs.openSync x50 afterwards: ${c.fds}`)
  ok(c.tcp === true, `a new TCP connection afterwards: ${c.tcp}`)
}

const cases = [
  leak('query_params key, the base_url a closed port (a transport error)', "b.LeakQueryClosed('x')"),
  leak('query_params key, the provider answers 401 echoing the key and the URL', "b.LeakQuery('x')"),
  leak('an x-api-key header, the provider answers 500 echoing it', "b.LeakHeader('x')"),
  leak('an x-api-key header, the base_url a closed port', "b.LeakHeaderClosed('x')"),
  leak('api_key, the provider answers 401 echoing it', "b.LeakKey('x')"),
  leak('api_key, the base_url a closed port', "b.LeakKeyClosed('x')"),
  leak('query_params key, streamed, the provider answers 401', "(async () => { for await (const p of b.stream.LeakQuery('x')) {} })()"),
  leak(
    'every secret-bearing client at once, every rejection read (Promise.allSettled)',
    "Promise.allSettled([b.LeakQuery('x'), b.LeakQueryClosed('x'), b.LeakHeader('x'), b.LeakHeaderClosed('x'), b.LeakKey('x'), b.LeakKeyClosed('x')]).then((rs) => { const e = new AggregateError(rs.map((r) => r.reason), 'all'); e.name = rs.map((r) => r.reason?.name).join(); throw e })",
    { check: (r, ok) => { ok(/^(BamlClientHttpError,){5}BamlClientHttpError$/.test(r.attack?.value?.json?.name), `not six BAML errors: ${r.attack?.value?.json?.name}`); noSecret(r, ok) } },
  ),
  leak("ctx.client rendered into the prompt of a query_params client, read back from BamlValidationError.prompt", "b.LeakPromptQuery('x')"),
  leak("ctx.client rendered into the prompt of a header client, read back from BamlValidationError.prompt", "b.LeakPromptHeader('x')"),
  {
    name: 'secrets: nothing reachable from globalThis (b, its functions, their sources) holds the key',
    baml: true,
    mockScript: SCRIPT,
    options: (H) => ({ env: { SECRET: H.secret } }),
    code: `${STRINGS}
      const s = strings(globalThis)
      for (const k of Object.getOwnPropertyNames(globalThis)) { try { s.push(String(globalThis[k])) } catch (e) {} }
      try { s.push(String(b), JSON.stringify(b), Object.keys(b).join(), String(b.LeakKey), String(b.stream)) } catch (e) {}
      ({ count: s.length, s })`,
    expect: ['value'],
    check: (r, ok) => {
      ok((r.attack?.value?.json?.count ?? 0) > 100, 'the walk found almost nothing')
      noSecret(r, ok)
    },
  },
  {
    name: 'secrets: an uncaught BAML_HTTP from a query_params client reaches Node with its code, redacted too',
    baml: true,
    mockScript: SCRIPT,
    options: (H) => ({ env: { SECRET: H.secret } }),
    code: "await b.LeakQueryClosed('x')",
    expect: ['BAML_HTTP'],
    check: (r, ok) => {
      // What escapes an evaluation is often shown to whoever wrote the code: Node's error is
      // redacted like the sandbox's.
      const text = JSON.stringify(r.attack ?? {})
      const core = r.secret.slice('sk-SECRET-'.length)
      ok(!text.includes(core), `the error reaching Node carries the secret: ${text.slice(0, 300)}`)
      ok(text.includes('[redacted]'), `the URL's key was not replaced by [redacted]: ${text.slice(0, 300)}`)
    },
  },
  {
    name: 'secrets: 25,000 concurrent slow BAML calls on a query_params client; refusals carry no key; Node fs and TCP work',
    baml: true,
    mockScript: { ...SCRIPT, rules: [{ contains: 'LEAKQUERY', replies: [{ text: 'slow', latency_ms: 4000 }] }, ...SCRIPT.rules] },
    options: (H) => ({ env: { SECRET: H.secret }, memoryLimitBytes: 256 * 1024 * 1024 }),
    code: `${STRINGS} ${FLOOD(25000, 2500)}`,
    timeoutMs: 15_000,
    // Refusing calls past a cap (a RangeError, caught above) and resolving is the expected
    // outcome; running out of time or memory with a code is acceptable.
    expect: ['value', 'SANDBOX_TIMEOUT', 'SANDBOX_MEMORY', 'SANDBOX_ERROR:RangeError'],
    maxMs: 16_000,
    childCheck: nodeStillWorks,
    check: (r, ok) => {
      noSecret(r, ok)
      nodeWorked(r, ok)
    },
  },
  {
    name: 'secrets: 30 contexts with 1,000 slow BAML calls each on a query_params client; Node fs and TCP work',
    baml: true,
    tenants: 30,
    mockScript: { ...SCRIPT, rules: [{ contains: 'LEAKQUERY', replies: [{ text: 'slow', latency_ms: 4000 }] }, ...SCRIPT.rules] },
    options: (H) => ({ env: { SECRET: H.secret }, memoryLimitBytes: 32 * 1024 * 1024 }),
    code: `${STRINGS} ${FLOOD(1000, 2500)}`,
    timeoutMs: 8000,
    expect: ['value', 'SANDBOX_TIMEOUT', 'SANDBOX_ERROR:RangeError'],
    maxMs: 9000,
    bystander: { maxMs: 5000 },
    childCheck: nodeStillWorks,
    check: (r, ok) => {
      const text = JSON.stringify(r.tenantOutcomes ?? [])
      ok(!text.includes(r.secret.slice('sk-SECRET-'.length)), 'a tenant read the secret')
      nodeWorked(r, ok)
    },
  },
  {
    name: 'secrets: 25,000 slow BAML calls awaited uncaught until the timeout; Node fs and TCP work afterwards',
    baml: true,
    mockScript: SCRIPT,
    options: { memoryLimitBytes: 256 * 1024 * 1024 },
    code: "await Promise.all(Array.from({ length: 25000 }, (_, i) => b.Slow('x' + i)))",
    timeoutMs: 3000,
    expect: { process: ['SANDBOX_TIMEOUT', 'SANDBOX_ERROR:RangeError', 'SANDBOX_CRASHED'], thread: ['SANDBOX_TIMEOUT', 'SANDBOX_ERROR:RangeError'] },
    childCheck: nodeStillWorks,
    check: nodeWorked,
  },
]

defineCases(test, cases, { mock })
