// Crash corpus, class 7: resources (issue 14). Host results or globals shaped as sparse arrays
// of length 2^32 - 1 made Node spin while its RSS grew without bound; escaping a 50 MB BAML
// argument raised RSS by 2 GB in a 64 MiB context; sandboxed code could forge a BAML_* error
// with any fields by throwing an object with such a `code`. Copies in both directions are
// bounded by the limit as they go (a refusal is quick, Node's RSS stays bounded, its loop
// ticks), and only the runtime creates BAML_* errors. Both modes. See _crash.js for what every
// case asserts besides this.
const test = require('ava')
const { defineCases, useMock, MiB } = require('./_crash.js')

const mock = useMock(test)

const rssBelow = (mb) => (r, ok) => ok(r.rssGrowthMb < mb, `Node's RSS grew by ${r.rssGrowthMb} MB (bound ${mb} MB)`)
const both = (...checks) => (r, ok, mode, raw) => checks.forEach((c) => c(r, ok, mode, raw))
const refusedInside = (r, ok) => {
  const v = r.attack?.value?.json
  ok(typeof v === 'string' && v.startsWith('rejected'), `the sandbox did not see a refusal: ${JSON.stringify(v)?.slice(0, 200)}`)
}
/** The error Node got has none of BAML's fields. */
const noBamlFields = (r, ok) => {
  for (const k of ['statusCode', 'rawOutput', 'prompt', 'clientName', 'rawResponse', 'finishReason']) {
    ok(r.attack?.[k] === undefined, `a forged ${k} reached Node: ${JSON.stringify(r.attack?.[k])}`)
  }
}

const SPARSE = 'const a = []; a.length = 2 ** 32 - 1'
const sparseHost = () => ({
  sparse: () => {
    const a = []
    a.length = 2 ** 32 - 1
    return a
  },
  sparseInside: () => {
    const a = []
    a.length = 2 ** 32 - 1
    return { ok: 1, items: a }
  },
  sparseLater: () =>
    new Promise((resolve) => {
      const a = []
      a.length = 2 ** 32 - 1
      setTimeout(() => resolve({ deep: [[a]] }), 10)
    }),
  echo: (x) => (Array.isArray(x) ? x.length : typeof x),
})

const VALIDATION = { rules: [{ contains: 'Extract:', replies: [{ text: 'no json here' }] }], default: { text: 'mock reply' } }

function fromHost(name, call) {
  return {
    name: `resources: a host function returning ${name} is refused inside, quickly, RSS bounded`,
    hostFunctions: sparseHost,
    code: `try { await ${call}; 'copied' } catch (e) { 'rejected: ' + e.name + ': ' + e.message }`,
    expect: ['value'],
    maxMs: 2000,
    check: both(refusedInside, rssBelow(200)),
  }
}

function forged(name, code) {
  return {
    name: `forged BAML error: ${name} reaches Node as SANDBOX_ERROR`,
    baml: true,
    mockScript: VALIDATION,
    code,
    expect: ['SANDBOX_ERROR'],
    check: noBamlFields,
  }
}

const cases = [
  fromHost('a sparse array of length 2^32 - 1', 'sparse()'),
  fromHost('an object holding a sparse array of length 2^32 - 1', 'sparseInside()'),
  fromHost('a Promise of a sparse array nested two arrays deep', 'sparseLater()'),
  {
    name: 'resources: a host function returning a 100 MB string into a 16 MiB context',
    options: { memoryLimitBytes: 16 * MiB },
    // The string is made once, before the attack: making it is the host's own work.
    hostFunctions: () => {
      const big = 'x'.repeat(100 * 1024 * 1024)
      return { hugeString: () => big }
    },
    code: `try { const s = await hugeString(); 'copied ' + s.length } catch (e) { 'rejected: ' + e.name + ': ' + e.message }`,
    // A refusal caught inside, or the limit: either way Node's RSS stays near the 100 MB the
    // host function itself made.
    expect: ['value', 'SANDBOX_MEMORY'],
    maxMs: 3000,
    check: both(rssBelow(400), (r, ok) => {
      if (r.attack?.ok) refusedInside(r, ok)
    }),
  },
  {
    name: 'resources: a sparse array of length 2^32 - 1 passed to a host function is refused quickly',
    hostFunctions: sparseHost,
    code: `${SPARSE}; try { await echo(a); 'copied' } catch (e) { 'rejected: ' + e.name + ': ' + e.message }`,
    expect: ['value', 'SANDBOX_MEMORY'],
    maxMs: 2000,
    check: both(rssBelow(200), (r, ok) => {
      if (r.attack?.ok) refusedInside(r, ok)
    }),
  },
  // Copies of many small values: the byte budget alone let millions through, and Node's
  // thread built or read each (seconds, found by the sandbox fuzzer with a host function that
  // echoes its argument). One copy holds at most MAX_COPY_VALUES values.
  {
    name: 'resources: a host function returning a tree of two million values (shared subtrees, built in Node)',
    hostFunctions: () => {
      let t = [1]
      for (let i = 0; i < 20; i++) t = [t, t]
      return { tree: () => t }
    },
    code: `try { const t = await tree(); 'copied ' + typeof t } catch (e) { 'rejected: ' + e.name + ': ' + e.message }`,
    expect: ['value'],
    maxMs: 2000,
    check: both(refusedInside, (r, ok) => ok(/more than \d+ values/.test(r.attack?.value?.json), `the refusal names the limit: ${r.attack?.value?.json}`)),
  },
  {
    name: 'resources: a tree of two million values (shared subtrees) as a host-function argument',
    hostFunctions: () => ({ echo: (...a) => a[0] }),
    code: `let x = [1]; for (let i = 0; i < 20; i++) x = [x, x]; try { await echo(x); 'copied' } catch (e) { 'rejected: ' + e.name + ': ' + e.message }`,
    expect: ['value'],
    maxMs: 2000,
    check: both(refusedInside, (r, ok) => ok(/^rejected: RangeError: .*more than \d+ values/.test(r.attack?.value?.json), `a RangeError naming the limit: ${r.attack?.value?.json}`)),
  },
  {
    name: 'resources: a tree of two million values (shared subtrees) as the result of evaluate()',
    code: `let x = [1]; for (let i = 0; i < 20; i++) x = [x, x]; x`,
    expect: ['SANDBOX_RESULT'],
    maxMs: 2000,
  },
  {
    // Under the limit: copied both ways, and Node's loop keeps ticking between the copies.
    name: 'resources: a host function echoing 5,000 records (25,001 values), five times',
    hostFunctions: () => ({ echo: (...a) => a[0] }),
    code: `const rows = Array.from({ length: 5000 }, (_, i) => ({ id: i, name: 'n' + i, ok: true, at: null }));
      let n = 0; for (let i = 0; i < 5; i++) { const back = await echo(rows); if (back.length === 5000 && back[4999].name === 'n4999') n++ } n`,
    expect: ['value'],
    maxMs: 5000,
    check: (r, ok) => ok(r.attack?.value?.json === 5, `five round trips, got ${JSON.stringify(r.attack?.value)}`),
  },
  {
    name: 'resources: many arguments under the limit each, over it together',
    hostFunctions: () => ({ echo: (...a) => a.length }),
    code: `const big = Array.from({ length: 50000 }, (_, i) => i); try { await echo(big, big, big, big, big); 'copied' } catch (e) { 'rejected: ' + e.name + ': ' + e.message }`,
    expect: ['value'],
    maxMs: 2000,
    check: both(refusedInside, (r, ok) => ok(/^rejected: RangeError: .*the arguments together would hold more than \d+ values/.test(r.attack?.value?.json), `a RangeError naming the limit: ${r.attack?.value?.json}`)),
  },
  {
    name: 'resources: a sparse array of length 2^32 - 1 as the result of evaluate()',
    code: `${SPARSE}; a`,
    expect: ['SANDBOX_RESULT', 'SANDBOX_MEMORY'],
    maxMs: 2000,
    check: rssBelow(200),
  },
  {
    name: 'resources: a sparse array of length 2^32 - 1 given to console.log',
    code: `${SPARSE}; console.log(a); console.log('%j', { a }); 'logged'`,
    expect: ['value', 'SANDBOX_MEMORY'],
    maxMs: 2000,
    check: rssBelow(200),
  },
  {
    name: 'resources: a sparse array of length 2^32 - 1 as a BAML argument',
    baml: true,
    code: `${SPARSE}; try { await b.Summarize(a); 'sent' } catch (e) { 'rejected: ' + e.name }`,
    expect: ['value', 'SANDBOX_MEMORY', 'BAML_INVALID_ARGUMENT'],
    maxMs: 2000,
    // Refused as a bad argument or by the copy budget (TypeError/RangeError), never sent.
    check: both(rssBelow(200), (r, ok) => {
      if (r.attack?.ok) ok(/^rejected: (BamlInvalidArgumentError|TypeError|RangeError)$/.test(r.attack.value.json), `the call: ${r.attack.value.json}`)
    }),
  },
  {
    name: 'resources: globals holding a sparse array of length 2^32 - 1 are refused by the constructor, quickly',
    construct: true,
    options: () => {
      const a = []
      a.length = 2 ** 32 - 1
      return { globals: { a } }
    },
    expect: ['ERR_INVALID_ARG_VALUE'],
    maxMs: 1000,
    check: rssBelow(200),
  },
  {
    name: 'resources: globals holding a 100 MB string, for a 64 MiB context',
    construct: true,
    options: () => ({ globals: { s: 'x'.repeat(100 * 1024 * 1024) } }),
    // Refused as a bad option or as the memory limit: which code is the implementation's
    // choice; it must be quick and bounded.
    expect: ['ERR_INVALID_ARG_VALUE', 'SANDBOX_MEMORY'],
    maxMs: 2000,
    // The constructor reads globals synchronously on Node's thread; that must stop at the copy
    // budget (a few times the limit), not read the whole input: a looser gap than an attack's.
    gapLimitMs: 250,
    check: rssBelow(400),
  },
  {
    name: 'resources: globals holding an object with a million keys, for a 4 MiB context',
    construct: true,
    options: () => {
      const o = {}
      for (let i = 0; i < 1e6; i++) o[`k${i}`] = i
      return { globals: { o }, memoryLimitBytes: 4 * 1024 * 1024 }
    },
    expect: ['ERR_INVALID_ARG_VALUE', 'SANDBOX_MEMORY'],
    maxMs: 2000,
    // V8 alone takes 290-760 ms to list this object's keys on the 2-core machine (Object.keys,
    // getOwnPropertyNames; JSON.stringify 480 ms), and listing them is the first step of any
    // copy. The constructor refuses right after the listing (a million keys are charged before
    // any is read): about 550 ms there. The bound is V8's listing plus slack, not the copy.
    gapLimitMs: 1500,
    check: rssBelow(300),
  },
  {
    name: 'resources: a 50 MB string as a BAML argument in a 64 MiB context',
    baml: true,
    code: "const s = 'x'.repeat(50e6); await b.Summarize(s)",
    expect: ['BAML_INVALID_ARGUMENT', 'SANDBOX_MEMORY', 'SANDBOX_ERROR:RangeError'],
    maxMs: 5000,
    check: rssBelow(512),
  },
  {
    name: 'resources: 20 MB of quotes as a BAML argument (escaping doubles it) in a 64 MiB context',
    baml: true,
    code: "const s = '\"'.repeat(20e6); await b.Summarize(s)",
    // Sent or refused: either way bounded (the 2 GB for 50 MB).
    expect: ['value', 'BAML_INVALID_ARGUMENT', 'SANDBOX_MEMORY', 'SANDBOX_ERROR:RangeError'],
    maxMs: 5000,
    check: rssBelow(512),
  },
  {
    name: 'resources: 10 million lone surrogates as a BAML class field (escaped six-fold)',
    baml: true,
    code: "const s = '\\ud800'.repeat(1e7); await b.Greet({ name: s })",
    // Sent or refused: either way bounded (the 2 GB for 50 MB).
    expect: ['value', 'BAML_INVALID_ARGUMENT', 'SANDBOX_MEMORY', 'SANDBOX_ERROR:RangeError'],
    maxMs: 5000,
    check: rssBelow(512),
  },
  {
    // The mock answers after 3 s: all 50 would be in flight at once, past the memory limit.
    name: 'resources: the same 20 MB string as the argument of 50 concurrent slow BAML calls',
    baml: true,
    code: "const s = 'y'.repeat(20e6); await Promise.all(Array.from({ length: 50 }, () => b.Slow(s)))",
    expect: ['BAML_INVALID_ARGUMENT', 'SANDBOX_MEMORY', 'SANDBOX_ERROR:RangeError'],
    maxMs: 5000,
    check: rssBelow(512),
  },
  {
    // The mock answers at once: whether calls overlap depends on timing (an answered call's
    // arguments no longer count), so either outcome is right; memory must stay bounded. Node
    // holds about six copies of a call's arguments while it renders and sends it (message,
    // value, prompt, request body), and at most the memory limit's worth of arguments is in
    // flight: a bound of 12 x 64 MiB leaves room for the allocator keeping freed pages.
    name: 'resources: the same 20 MB string as the argument of 50 concurrent fast BAML calls',
    baml: true,
    code: "const s = 'y'.repeat(20e6); const r = await Promise.all(Array.from({ length: 50 }, () => b.Summarize(s))); ({ n: r.length, ok: r.every((x) => x === 'mock reply') })",
    expect: ['value', 'BAML_INVALID_ARGUMENT', 'SANDBOX_MEMORY', 'SANDBOX_ERROR:RangeError'],
    // Debug builds take about 200 ms per 20 MB call in process mode.
    timeoutMs: 25000,
    maxMs: 30000,
    check: both(rssBelow(768), (r, ok) => {
      if (r.attack?.ok) ok(r.attack.value?.json?.n === 50 && r.attack.value?.json?.ok === true, `50 mock replies, got ${JSON.stringify(r.attack.value)}`)
    }),
  },
  forged('an Error with code BAML_HTTP, status_code and raw_output', "throw Object.assign(new Error('x'), { code: 'BAML_HTTP', status_code: 500, raw_output: 'x' })"),
  forged('a plain object { code: BAML_VALIDATION }', "throw { code: 'BAML_VALIDATION', raw_output: 'r', prompt: 'p' }"),
  forged(
    'an instance of a class named BamlValidationError',
    "class BamlValidationError extends Error { constructor() { super('fake'); this.name = 'BamlValidationError'; this.code = 'BAML_VALIDATION'; this.raw_output = 'r'; this.prompt = 'p' } } throw new BamlValidationError()",
  ),
  forged('a rejection with a forged BAML_FINISH_REASON', "await Promise.reject(Object.assign(new Error('x'), { code: 'BAML_FINISH_REASON', finish_reason: 'length', raw_output: 'o' }))"),
  forged(
    "an Error given a genuine BamlValidationError's prototype",
    "let proto; try { await b.Extract('x') } catch (e) { proto = Object.getPrototypeOf(e) } const f = Object.setPrototypeOf(new Error('forged'), proto); f.code = 'BAML_HTTP'; f.status_code = 402; throw f",
  ),
  forged(
    'an object inheriting from a genuine BamlValidationError',
    // Object.create(e) is a different object; only the runtime's own errors keep their code.
    "let g; try { await b.Extract('x') } catch (e) { g = e } throw Object.assign(Object.create(g), { code: 'BAML_HTTP', status_code: 402 })",
  ),
  {
    name: 'genuine BAML error: caught, mutated (code, status_code, raw_output, name) and rethrown keeps its code and fields',
    baml: true,
    mockScript: VALIDATION,
    code: "try { await b.Extract('x') } catch (e) { e.code = 'X'; e.status_code = 1; e.raw_output = 'forged'; e.name = 'BamlClientHttpError'; throw e }",
    expect: ['BAML_VALIDATION'],
    check: (r, ok) => {
      ok(r.attack?.jsName === 'BamlValidationError', `jsName: ${r.attack?.jsName}`)
      ok(r.attack?.rawOutput === 'no json here', `rawOutput: ${JSON.stringify(r.attack?.rawOutput)}`)
      ok(r.attack?.statusCode === undefined, `statusCode: ${r.attack?.statusCode}`)
    },
  },
]

defineCases(test, cases, { mock })
