// Crash corpus, class 4: Node blocked, built-ins that never poll (issue 14). QuickJS polls its
// interrupt handler every ~10,000 bytecode steps and never inside a C built-in: a default
// sort of a million elements, the generic Array methods on a huge array-like, a quadratic
// string search, a typed-array sort, a Proxy with 50,000 keys. Whatever the sandbox runs,
// Node's 5 ms interval never waits 50 ms and the bystander context answers.
//   'process': the evaluation ends as SANDBOX_TIMEOUT (or SANDBOX_CRASHED: the worker that
//              ignored its deadline was killed) within timeoutMs + TIME_MARGIN_MS; a refusal
//              of an absurd array-like (SANDBOX_ERROR RangeError) is fine too.
//   'thread':  SANDBOX_TIMEOUT, on time for what the sandbox can stop; the few that can only
//              be stopped late (a single long C call: `LATE` below) get THREAD_LATE_MS more.
//              An engine failure that no in-process deadline can stop runs in 'process' mode
//              only (said case by case).
// See _crash.js for what every case asserts besides its code.
const test = require('ava')
const { defineCases, useMock, TIME_MARGIN_MS, MiB } = require('./_crash.js')

const mock = useMock(test)

/** Extra time in 'thread' mode for a case whose single C call outlives the deadline. */
const THREAD_LATE_MS = 3000
const STOPPED = { process: ['SANDBOX_TIMEOUT', 'SANDBOX_CRASHED'], thread: ['SANDBOX_TIMEOUT'] }
const late = (timeoutMs) => ({ process: timeoutMs + TIME_MARGIN_MS, thread: timeoutMs + TIME_MARGIN_MS + THREAD_LATE_MS })
const big = { memoryLimitBytes: 256 * MiB }

/** A generic Array.prototype method on an array-like of length 2^53 - 1. */
function hugeArrayLike(method, call, extra = []) {
  return {
    name: `never polls: Array.prototype.${method} on an array-like of length 2^53 - 1`,
    code: call,
    timeoutMs: 500,
    // Refusing the absurd length at once (RangeError) is the best outcome; otherwise the
    // deadline must stop it.
    expect: {
      process: ['SANDBOX_ERROR:RangeError', 'SANDBOX_TIMEOUT', 'SANDBOX_CRASHED', ...extra],
      thread: ['SANDBOX_ERROR:RangeError', 'SANDBOX_TIMEOUT', ...extra],
    },
  }
}

const cases = [
  {
    name: 'never polls: a default sort of a million elements, once (256 MiB), resolves while Node ticks',
    options: big,
    code: 'new Array(1e6).fill(7).sort(); "sorted"',
    timeoutMs: 10_000,
    expect: ['value'],
    value: 'sorted',
    maxMs: 8000,
  },
  {
    name: 'never polls: default sorts of a million elements in a loop, 500 ms',
    options: big,
    code: 'for (;;) new Array(1e6).fill(7).sort()',
    timeoutMs: 500,
    expect: STOPPED,
    maxMs: late(500), // LATE: one sort is a single C call (~250 ms in a debug build)
    afterTimeoutMs: 10_000,
  },
  hugeArrayLike('reverse', 'Array.prototype.reverse.call({ length: 2 ** 53 - 1 })'),
  hugeArrayLike('concat', '[].concat({ [Symbol.isConcatSpreadable]: true, length: 2 ** 53 - 1 })'),
  hugeArrayLike('copyWithin', 'Array.prototype.copyWithin.call({ length: 2 ** 53 - 1 }, 0, 1)'),
  hugeArrayLike('splice', 'Array.prototype.splice.call({ length: 2 ** 53 - 1 }, 0, 1)'),
  hugeArrayLike('unshift', 'Array.prototype.unshift.call({ length: 2 ** 53 - 2 }, 1)'),
  // fill writes every index: memory runs out first.
  hugeArrayLike('fill', 'Array.prototype.fill.call({ length: 2 ** 53 - 1 }, 0)', ['SANDBOX_MEMORY']),
  hugeArrayLike('indexOf', 'Array.prototype.indexOf.call({ length: 2 ** 53 - 1 }, 1)'),
  hugeArrayLike('lastIndexOf', 'Array.prototype.lastIndexOf.call({ length: 2 ** 53 - 1 }, 1)'),
  hugeArrayLike('includes', 'Array.prototype.includes.call({ length: 2 ** 53 - 1 }, 1)'),
  hugeArrayLike('join', "Array.prototype.join.call({ length: 2 ** 53 - 1 }, 'sep')", ['SANDBOX_MEMORY']),
  {
    name: 'never polls: a length getter that answers 1 to a check and 2^53 - 1 to the built-in',
    code: 'let n = 0; const o = { get length() { return n++ === 0 ? 1 : 2 ** 53 - 1 } }; Array.prototype.reverse.call(o)',
    timeoutMs: 500,
    expect: { process: ['SANDBOX_ERROR:RangeError', 'SANDBOX_TIMEOUT', 'SANDBOX_CRASHED'], thread: ['SANDBOX_ERROR:RangeError', 'SANDBOX_TIMEOUT'] },
    // In 'thread' mode the evaluation settles at its deadline but its thread may stay in the
    // C loop for hours (an engine failure only process isolation contains): the context is
    // not usable afterwards. Node, the bystander and exit must still be fine.
    after: { thread: false },
  },
  {
    name: 'never polls: a loop over indexOf on a big array, 200 ms (once ignored for 10 s)',
    code: 'const a = new Array(1e6).fill(1); for (;;) a.indexOf(2)',
    timeoutMs: 200,
    expect: STOPPED,
  },
  {
    name: 'never polls: a loop over includes and lastIndexOf on a big typed array, 300 ms',
    code: 'const a = new Float64Array(1 << 21); for (;;) { a.includes(1); a.lastIndexOf(2) }',
    timeoutMs: 300,
    expect: STOPPED,
  },
  {
    name: 'never polls: String indexOf of a long needle in a long haystack (quadratic, hours)',
    // One call of 2^22 x 2^16 compares: nothing in-process can stop it (process mode only).
    modes: ['process'],
    code: "const h = 'a'.repeat(1 << 22), n = 'a'.repeat(1 << 16) + 'b'; h.indexOf(n)",
    timeoutMs: 500,
    expect: ['SANDBOX_TIMEOUT', 'SANDBOX_CRASHED'],
  },
  {
    name: 'never polls: String indexOf, quadratic, a few seconds a call, in a loop',
    code: "const h = 'a'.repeat(1 << 18), n = 'a'.repeat(1 << 12) + 'b'; for (;;) h.indexOf(n)",
    timeoutMs: 500,
    expect: STOPPED,
    maxMs: late(500), // LATE: one call takes ~2 s in a debug build
    afterTimeoutMs: 15_000,
  },
  {
    name: "never polls: 'x'.repeat(2^24).split('') in 64 MiB",
    code: "'x'.repeat(1 << 24).split('').length",
    timeoutMs: 2000,
    expect: { process: ['SANDBOX_MEMORY', 'SANDBOX_TIMEOUT', 'SANDBOX_CRASHED'], thread: ['SANDBOX_MEMORY', 'SANDBOX_TIMEOUT'] },
  },
  {
    name: 'never polls: splitting a 8 MB string into 4 million pieces in a loop (256 MiB)',
    options: big,
    code: "const s = 'x,'.repeat(1 << 22); for (;;) s.split(',')",
    timeoutMs: 500,
    expect: { process: ['SANDBOX_MEMORY', 'SANDBOX_TIMEOUT', 'SANDBOX_CRASHED'], thread: ['SANDBOX_MEMORY', 'SANDBOX_TIMEOUT'] },
    maxMs: late(500), // LATE: one split is a single C call
    afterTimeoutMs: 10_000,
  },
  {
    name: 'never polls: sorting a typed array of 4 million doubles, again and again',
    code: 'const t = new Float64Array(1 << 22); for (let i = 0; i < t.length; i++) t[i] = Math.random(); for (;;) t.sort()',
    timeoutMs: 1000,
    expect: STOPPED,
    maxMs: late(1000), // LATE: one sort is a single C call
    afterTimeoutMs: 10_000,
  },
  {
    name: 'never polls: a Proxy whose ownKeys returns 50,000 keys, Object.keys in a loop',
    code: `const keys = Array.from({ length: 50000 }, (_, i) => 'k' + i)
      const p = new Proxy({}, { ownKeys: () => keys, getOwnPropertyDescriptor: () => ({ value: 1, enumerable: true, configurable: true }) })
      for (;;) Object.keys(p)`,
    timeoutMs: 500,
    expect: STOPPED,
    maxMs: late(500), // LATE: one Object.keys checks the 50,000 keys for duplicates in C
    afterTimeoutMs: 10_000,
  },
  {
    name: 'never polls: BigInt multiplications of 400,000-bit numbers in a loop',
    // The loop polls once per ~10,000 iterations of ~0.1 s each: only a process boundary
    // stops it on time (process mode only).
    modes: ['process'],
    code: 'const a = 7n ** 150000n; for (;;) a * a',
    timeoutMs: 500,
    expect: ['SANDBOX_TIMEOUT', 'SANDBOX_CRASHED'],
  },
  {
    name: 'never polls: catastrophic regex backtracking with alternation',
    code: "/(a|aa)+$/.test('a'.repeat(45) + 'b')",
    timeoutMs: 400,
    expect: STOPPED,
  },
  {
    name: 'never polls: Atomics.wait on a SharedArrayBuffer for 10 s',
    code: 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10000)',
    timeoutMs: 500,
    // QuickJS refuses to block unless the embedder allows it (TypeError); if it blocks, the
    // deadline must still hold.
    expect: { process: ['SANDBOX_ERROR:TypeError', 'SANDBOX_TIMEOUT', 'SANDBOX_CRASHED'], thread: ['SANDBOX_ERROR:TypeError', 'SANDBOX_TIMEOUT'] },
  },
  {
    name: "Node's thread: a 54 MiB heap, 30 awaited host calls (a full GC after each reply once ran on Node's thread)",
    options: { memoryLimitBytes: 128 * MiB },
    hostFunctions: () => ({ echo: (x) => x }),
    code: 'globalThis.keep = []; for (let i = 0; i < 2.5e5; i++) keep.push({ i, a: [i] }); for (let i = 0; i < 30; i++) await echo(i); keep.length',
    timeoutMs: 20_000,
    expect: ['value'],
    value: 250000,
    maxMs: 15_000,
  },
  {
    name: "Node's thread: a 200 MiB heap of small objects collected and disposed",
    options: { memoryLimitBytes: 512 * MiB },
    run: async (H) => {
      const fill = await H.settle(H.ctx.evaluate('globalThis.keep = []; for (let i = 0; i < 1e6; i++) keep.push({ i, s: "v" + i, a: [i, i] }); keep.length', { timeoutMs: 30_000 }))
      if (!fill.ok) return Promise.reject(Object.assign(new Error(fill.message), fill))
      const drop = await H.settle(H.ctx.evaluate('keep = null; [1, 2, 3].map((x) => ({ x })).length', { timeoutMs: 30_000 }))
      const t0 = performance.now()
      H.ctx.dispose()
      return { dropped: drop.ok ? drop.value.json : drop.code, disposeMs: Math.round(performance.now() - t0) }
    },
    after: false, // disposed by run()
    expect: ['value'],
    maxMs: 30_000,
    check: (r, ok) => {
      const v = r.attack?.value?.json
      if (v) ok(v.disposeMs < 50, `dispose() of a 200 MiB heap held Node's thread for ${v.disposeMs} ms`)
    },
  },
]

defineCases(test, cases, { mock })
