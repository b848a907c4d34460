// Crash corpus: unsound thread migration (issue 14). A turn suspended mid-slice, with live
// QuickJS and native frames on its stack (JSON.stringify calling toJSON, sort calling its
// comparator, the copy of a result reading getters, console formatting, Proxy traps), was
// resumed on another thread; a SIGSEGV in that handshake once shipped. Here several contexts
// (same mode) run long callbacks inside natives, interleaved with host calls, timers and
// console output, so that turns are cut and resumed as often as the design allows. Each must
// end with its value or SANDBOX_TIMEOUT, never a crash. Both modes. See _crash.js for what
// every case asserts besides this.
const test = require('ava')
const { defineCases, useMock } = require('./_crash.js')

const mock = useMock(test)

const BURN = 'function burn(n) { let s = 0; for (let k = 0; k < n; k++) s += k % 7; return s }'
const VALUE_OR_TIMEOUT = { process: ['value', 'SANDBOX_TIMEOUT', 'SANDBOX_CRASHED'], thread: ['value', 'SANDBOX_TIMEOUT'] }

const cases = [
  {
    name: 'migration: 6 contexts stringifying objects whose toJSON burns CPU, until the timeout',
    tenants: 6,
    code: `${BURN} const o = Array.from({ length: 200 }, () => ({ toJSON: () => burn(2e4) })); for (;;) JSON.stringify(o)`,
    timeoutMs: 1500,
    expect: { process: ['SANDBOX_TIMEOUT', 'SANDBOX_CRASHED'], thread: ['SANDBOX_TIMEOUT'] },
  },
  {
    name: 'migration: 4 contexts return results with 300 getters of ~1 ms each (read while copied out)',
    tenants: 4,
    code: `${BURN} const r = {}; for (let i = 0; i < 300; i++) Object.defineProperty(r, 'k' + i, { enumerable: true, get: () => burn(3e4) }); r`,
    timeoutMs: 20_000,
    expect: ['value'],
    maxMs: 15_000,
    check: (r, ok) => {
      for (const o of r.tenantOutcomes ?? []) ok(o.ok && Object.keys(o.value.json).length === 300, 'a result lost keys')
    },
  },
  {
    name: 'migration: 6 contexts alternate host calls and sorts whose comparator burns CPU',
    tenants: 6,
    hostFunctions: () => ({ echo: (x) => x }),
    code: `${BURN} let n = 0; for (let i = 0; i < 40; i++) { n += await echo(i); Array.from({ length: 30 }, (_, k) => 30 - k).sort((a, b) => (burn(2e3), a - b)) } n`,
    timeoutMs: 20_000,
    expect: VALUE_OR_TIMEOUT,
    maxMs: 20_000 + 250,
    check: (r, ok) => {
      for (const o of r.tenantOutcomes ?? []) if (o.ok) ok(o.value.json === 780, `a tenant computed ${o.value.json}`)
    },
  },
  {
    name: 'migration: 4 contexts log objects whose getters burn CPU, between timers',
    tenants: 4,
    code: `${BURN} for (let i = 0; i < 100; i++) { console.log('%j', { get a() { return burn(2e4) } }, { get b() { return burn(2e4) } }); await new Promise((r) => setTimeout(r, 0)) } 'logged'`,
    timeoutMs: 20_000,
    expect: VALUE_OR_TIMEOUT,
    maxMs: 20_000 + 250,
  },
  {
    name: 'migration: 4 contexts run Proxy traps inside Object.keys and JSON.stringify, with host calls and a BAML call',
    tenants: 4,
    baml: true,
    hostFunctions: () => ({ echo: (x) => x }),
    code: `${BURN}
      const p = new Proxy({ a: 1, b: 2, c: 3 }, {
        ownKeys: (t) => (burn(2e4), Reflect.ownKeys(t)),
        get: (t, k) => (burn(5e3), Reflect.get(t, k)),
        getOwnPropertyDescriptor: (t, k) => Reflect.getOwnPropertyDescriptor(t, k),
      })
      let n = 0
      for (let i = 0; i < 60; i++) { n += Object.keys(p).length + JSON.stringify(p).length; if (i % 10 === 0) await echo(i); if (i === 30) await b.Summarize('x') }
      n`,
    timeoutMs: 20_000,
    expect: VALUE_OR_TIMEOUT,
    maxMs: 20_000 + 250,
  },
]

defineCases(test, cases, { mock })
