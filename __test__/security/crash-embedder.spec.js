// Crash corpus, class 3: embedder input (issue 14). `memoryLimitBytes: 20000` (anything up to
// ~40 KB) segfaulted in the constructor. Out-of-range limits must throw synchronously with
// `code: 'ERR_INVALID_ARG_VALUE'` and a message naming the option, in both modes; bad
// evaluate() options reject (never throw). Never a crash, and Node's loop and the bystander
// context carry on. See _crash.js for what every case asserts besides its code.
const test = require('ava')
const { defineCases, useMock } = require('./_crash.js')

const mock = useMock(test)

/** `options` as a function of H, from source text (NaN and Infinity do not survive JSON). */
const opts = (text) => new Function('H', `return (${text})`)

/** The constructor refuses `option: valueText` with ERR_INVALID_ARG_VALUE naming the option. */
function invalid(option, valueText) {
  return {
    name: `embedder input: ${option} ${valueText} is refused by the constructor`,
    construct: true,
    options: opts(`{ ${option}: ${valueText} }`),
    expect: ['ERR_INVALID_ARG_VALUE'],
    maxMs: 500,
    check: (r, ok) => ok(String(r.attack?.message).includes(option), `the message does not name ${option}: ${r.attack?.message}`),
  }
}

const cases = [
  invalid('memoryLimitBytes', '20000'),
  invalid('memoryLimitBytes', '1'),
  invalid('memoryLimitBytes', '40000'),
  invalid('memoryLimitBytes', '0.5'),
  invalid('memoryLimitBytes', 'NaN'),
  invalid('memoryLimitBytes', '-1'),
  invalid('memoryLimitBytes', 'Infinity'),
  invalid('memoryLimitBytes', "'64000000'"),
  invalid('maxStackBytes', '1'),
  invalid('maxStackBytes', '1024'),
  invalid('maxStackBytes', 'NaN'),
  invalid('maxStackBytes', '2 ** 40'),
  invalid('timeoutMs', '0'),
  invalid('timeoutMs', '-1'),
  invalid('timeoutMs', 'NaN'),
  invalid('timeoutMs', 'Infinity'),
  {
    name: 'embedder input: an unknown isolation is refused by the constructor',
    run: async (H) => {
      try {
        new H.BamlContext(H.rt, { isolation: 'fork' })
      } catch (e) {
        return Promise.reject(e)
      }
      return 'constructed'
    },
    expect: ['ERR_INVALID_ARG_VALUE'],
    maxMs: 500,
    check: (r, ok) => ok(String(r.attack?.message).includes('isolation'), `the message does not name isolation: ${r.attack?.message}`),
  },
  {
    name: 'embedder input: evaluate() with timeoutMs 0, -1 and NaN rejects (never throws) naming the option',
    run: async (H) => {
      const seen = []
      for (const timeoutMs of [0, -1, NaN, Infinity, 2 ** 53]) {
        let p
        try {
          p = H.ctx.evaluate('1', { timeoutMs })
        } catch (e) {
          seen.push({ timeoutMs: String(timeoutMs), threw: e.code })
          continue
        }
        const o = await H.settle(p)
        seen.push({ timeoutMs: String(timeoutMs), code: o.ok ? 'resolved' : o.code, names: String(o.message).includes('timeoutMs') })
      }
      return seen
    },
    expect: ['value'],
    check: (r, ok) => {
      for (const s of r.attack?.value?.json ?? []) {
        ok(!s.threw, `evaluate({ timeoutMs: ${s.timeoutMs} }) threw synchronously (${s.threw})`)
        ok(s.code === 'ERR_INVALID_ARG_VALUE' && s.names, `evaluate({ timeoutMs: ${s.timeoutMs} }): ${s.code}, names the option: ${s.names}`)
      }
    },
  },
  {
    name: 'embedder input: the smallest memoryLimitBytes (1 MiB) with a BAML runtime and maxStackBytes 4 MiB',
    baml: true,
    options: { memoryLimitBytes: 1024 * 1024, maxStackBytes: 4 * 1024 * 1024 },
    code: 'typeof b.Summarize + ":" + [1, 2, 3].map((x) => x * 2).join()',
    // Creation either works or fails cleanly: the realm may not fit in 1 MiB.
    expect: ['value', 'SANDBOX_MEMORY'],
    warmup: false,
  },
  {
    name: 'embedder input: 200 contexts of 1 MiB created and disposed in a loop, each evaluating',
    run: async (H) => {
      const codes = {}
      for (let i = 0; i < 200; i++) {
        let c
        try {
          c = new H.BamlContext(H.rt, H.opts({ memoryLimitBytes: 1024 * 1024, maxStackBytes: 64 * 1024, timeoutMs: 1 }))
        } catch (e) {
          codes[`ctor ${e.code}`] = (codes[`ctor ${e.code}`] ?? 0) + 1
          continue
        }
        const o = await H.settle(c.evaluate(i % 2 ? '"x".repeat(2e6)' : 'for (;;) {}', { timeoutMs: 5 + (i % 7) }))
        const k = o.ok ? 'value' : o.code
        codes[k] = (codes[k] ?? 0) + 1
        c.dispose()
      }
      return codes
    },
    expect: ['value'],
    maxMs: 30_000,
    check: (r, ok) => {
      const codes = r.attack?.value?.json ?? {}
      for (const k of Object.keys(codes)) ok(['SANDBOX_TIMEOUT', 'SANDBOX_MEMORY'].includes(k), `a context ended with ${k} (${JSON.stringify(codes)})`)
    },
  },
]

defineCases(test, cases, { mock })
