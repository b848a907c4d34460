// Crash corpus, class 5: other tenants starved (issue 14). Two contexts running busy loops
// after a BAML reply once held both tokio workers, and another context's 10 ms timer fired
// after 11 s. Here TENANTS contexts (same mode) run busy loops, after awaited BAML calls, host
// calls and timers, or inside C built-ins that never poll, while the bystander context, started
// once they are all busy, sleeps 10 ms: its timer must fire within TIMER_LATE_MS and its
// evaluate() resolve within BYSTANDER_MS, in both modes. Every tenant ends with
// SANDBOX_TIMEOUT (or SANDBOX_CRASHED in 'process' mode) on time. See _crash.js for what every
// case asserts besides this.
const test = require('ava')
const { defineCases, useMock, MiB } = require('./_crash.js')

const mock = useMock(test)

const TENANTS = 4
/** How late the bystander's 10 ms timer may fire. */
const TIMER_LATE_MS = 200
/** The bystander's evaluate() (a 10 ms timer) must resolve within this. */
const BYSTANDER_MS = 500
/** The tenants are given this long; the bystander starts once they are all busy. */
const TENANT_TIMEOUT_MS = 1500
const BYSTANDER_DELAY_MS = 300

const BYSTANDER = {
  delayMs: BYSTANDER_DELAY_MS,
  maxMs: BYSTANDER_MS,
  code: `const t0 = Date.now(); await new Promise((r) => setTimeout(r, 10)); ({ v: 6 * 7, late: Date.now() - t0 - 10 })`,
}

const timerOnTime = (r, ok) => {
  const late = r.bystander?.value?.json?.late
  ok(typeof late === 'number' && late < TIMER_LATE_MS, `the bystander's 10 ms timer fired ${late} ms late (bound ${TIMER_LATE_MS})`)
}

function starve(name, code, extra = {}) {
  return {
    name: `tenants: ${extra.tenants ?? TENANTS} contexts ${name}; another context's 10 ms timer fires on time`,
    tenants: TENANTS,
    code,
    timeoutMs: TENANT_TIMEOUT_MS,
    expect: { process: ['SANDBOX_TIMEOUT', 'SANDBOX_CRASHED'], thread: ['SANDBOX_TIMEOUT'] },
    bystander: BYSTANDER,
    check: timerOnTime,
    ...extra,
  }
}

const cases = [
  starve('in busy loops', 'for (;;) {}'),
  starve('in busy loops after an awaited BAML call', "await b.Summarize('x'); for (;;) {}", { baml: true }),
  starve('in busy loops after 50 concurrent BAML calls', "await Promise.all(Array.from({ length: 50 }, (_, i) => b.Summarize('x' + i))); for (;;) {}", { baml: true }),
  starve('in busy loops after an awaited host function', 'await echo(1); for (;;) {}', {
    hostFunctions: () => ({ echo: (x) => x }),
  }),
  starve('in busy loops after a host function that answers after 50 ms', 'await later(1); for (;;) {}', {
    hostFunctions: () => ({ later: (x) => new Promise((r) => setTimeout(() => r(x), 50)) }),
  }),
  starve('in busy loops inside timer callbacks', 'await new Promise(() => setTimeout(() => { for (;;) {} }, 0))'),
  starve('flooding the microtask queue', 'for (;;) await 0'),
  starve('sorting 2 million doubles again and again (C, never polls)', 'const t = new Float64Array(1 << 21).map(() => Math.random()); for (;;) t.sort()'),
  starve('in busy loops, 8 of them', 'for (;;) {}', { tenants: 8 }),
  {
    ...starve('in busy loops after a BAML call; the bystander makes a BAML call too', "await b.Summarize('x'); for (;;) {}", { baml: true }),
    bystander: {
      delayMs: BYSTANDER_DELAY_MS,
      maxMs: BYSTANDER_MS,
      code: `const t0 = Date.now(); const r = await b.Summarize('bystander'); ({ v: r === 'mock reply' ? 42 : r, late: Date.now() - t0 })`,
    },
  },
  {
    ...starve('each holding a 32 MiB heap in busy loops', "globalThis.keep = Array.from({ length: 2e5 }, (_, i) => ({ i })); for (;;) {}"),
    options: { memoryLimitBytes: 64 * MiB },
  },
]

defineCases(test, cases, { mock })
