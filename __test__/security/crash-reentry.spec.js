// Crash corpus, class 1: the stack limit bypassed through re-entry (issue 14). Recursion that
// passes through the engine's or our own natives (JSON, getters read while a value is copied to
// Node or to BAML, console formatting, Proxy traps, conversions, comparators, timers) must end
// as an uncaught stack overflow, SANDBOX_STACK, in both modes: one stack budget per turn that
// no re-entry renews. Never a crash. Caught, the RangeError leaves the script in control.
// See _crash.js for what every case asserts besides its code.
const test = require('ava')
const { defineCases, useMock } = require('./_crash.js')

const mock = useMock(test)

const TO_JSON = 'function f() { return JSON.stringify({ toJSON: f }) }'
const echo = () => ({ echo: (x) => x, count: (...a) => a.length })

const cases = [
  {
    name: 're-entry: JSON.stringify through toJSON, default options (the public example)',
    code: `${TO_JSON} f()`,
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: JSON.stringify through toJSON with the smallest maxStackBytes (64 KiB)',
    options: { maxStackBytes: 64 * 1024 },
    code: `${TO_JSON} f()`,
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: JSON.stringify through toJSON with the largest maxStackBytes (4 MiB)',
    options: { maxStackBytes: 4 * 1024 * 1024 },
    code: `${TO_JSON} f()`,
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: a JSON.stringify replacer calling back into JSON.stringify',
    code: 'function f() { return JSON.stringify({ a: 1 }, (k, v) => (k === "" ? v : f())) } f()',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: a JSON.parse reviver calling back into JSON.parse',
    code: 'function f() { return JSON.parse("[1]", () => f()) } f()',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: a getter of the result, read while it is copied out to Node, stringifies the result',
    code: 'const o = { get a() { return JSON.stringify(o) } }; o',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: a getter of the result, read while it is copied out to Node, recurses',
    code: 'function f(n) { return f(n + 1) + 1 } ({ x: 1, get a() { return f(0) } })',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: a nested result whose getters return fresh objects with the same getter',
    code: 'function mk() { return { get a() { return mk() } } } mk()',
    // Each level is a fresh object: the copy goes deeper until the stack (or the depth limit of
    // results, SANDBOX_RESULT) stops it.
    expect: ['SANDBOX_STACK', 'SANDBOX_RESULT'],
  },
  {
    name: 're-entry: a host-function argument whose getter calls the host function again',
    hostFunctions: echo,
    code: 'function f() { return echo({ get a() { return f() } }) } f()',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: a getter deep in a host-function argument calling another host function',
    hostFunctions: echo,
    code: 'function f() { return count([1, { b: [{ get a() { return echo(f()) } }] }]) } f()',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: console.log formatting an object whose getter logs it again',
    code: 'const o = { get a() { console.log(o); return 1 } }; console.log(o)',
    // Formatting may swallow what a getter throws (shown as a missing value, as documented in
    // format.rs), so the script may go on and resolve; the stack must still hold.
    expect: ['SANDBOX_STACK', 'value'],
  },
  {
    name: 're-entry: console.log %j calling toJSON, which logs a fresh object with %j',
    code: "function mk() { return { toJSON() { console.log('%j', mk()); return 1 } } } console.log('%j', mk())",
    expect: ['SANDBOX_STACK', 'value'],
  },
  {
    name: 're-entry: toString calling String() on itself',
    code: "const o = { toString() { return String(o) + 'x' } }; console.log('' + o)",
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: Symbol.toPrimitive through a template literal',
    code: 'const o = { [Symbol.toPrimitive]() { return `${o}` } }; `${o}`',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: valueOf through Math.max',
    code: 'const o = { valueOf() { return Math.max(o) } }; +o',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: a Proxy get trap stringifying the Proxy',
    code: 'const p = new Proxy({ a: 1 }, { get(t, k) { return JSON.stringify(p) } }); JSON.stringify(p)',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: a Proxy ownKeys trap calling Object.keys on the Proxy',
    code: 'const p = new Proxy({}, { ownKeys() { return Object.keys(p) } }); Object.keys(p)',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: a Proxy returned as the result, its traps recursing while it is copied out',
    code: 'function f(n) { return f(n + 1) } new Proxy({}, { ownKeys() { return f(0) }, get() { return f(0) } })',
    expect: ['SANDBOX_STACK', 'SANDBOX_RESULT'],
  },
  {
    name: 're-entry: an Array.prototype.sort comparator sorting again',
    code: 'function f() { return [3, 2, 1].sort(() => f()) } f()',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: String.prototype.replace with a replacer function replacing again',
    code: "function f() { return 'a'.replace('a', f) } f()",
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: Reflect.apply and Function.prototype.call as trampolines',
    code: 'function f() { return Reflect.apply(g, null, []) } function g() { return f.call(null) } f()',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: Array.from over an iterable whose iterator calls Array.from',
    code: 'const it = { [Symbol.iterator]() { return Array.from(it)[Symbol.iterator]() } }; Array.from(it)',
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: toJSON recursion inside a setTimeout callback, rejected out',
    code: `${TO_JSON}
      await new Promise((res, rej) => setTimeout(() => { try { res(f()) } catch (e) { rej(e) } }, 0))`,
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: toJSON recursion inside a host-function reply handler',
    hostFunctions: echo,
    code: `${TO_JSON} await echo(1).then(() => f())`,
    expect: ['SANDBOX_STACK'],
  },
  {
    name: 're-entry: a BAML argument whose getter calls the BAML function again',
    baml: true,
    code: 'function f() { return b.Greet({ get name() { return f() } }) } await f()',
    // The deepest call overflows while its argument is read. If b.Greet turns that into a
    // rejection (BAML's client is async), every level above sees a Promise as `name` and
    // rejects with BamlInvalidArgumentError. Either is fine; a crash is not.
    expect: ['SANDBOX_STACK', 'BAML_INVALID_ARGUMENT'],
  },
  {
    name: 're-entry: a BAML argument that is a Proxy whose get trap calls the BAML function again',
    baml: true,
    code: 'function f() { return b.Greet(new Proxy({}, { get: (t, k) => (k === "name" ? f() : undefined) })) } await f()',
    expect: ['SANDBOX_STACK', 'BAML_INVALID_ARGUMENT'],
  },
  {
    name: 're-entry: Error.prepareStackTrace creating errors',
    code: 'Error.prepareStackTrace = () => new Error("again").stack; new Error("x").stack',
    // quickjs-ng may refuse to call prepareStackTrace re-entrantly (then the value resolves).
    expect: ['SANDBOX_STACK', 'value'],
  },
  {
    name: 're-entry: the thrown error\'s message getter overflows while Node reads it',
    code: `${TO_JSON} const e = new Error('x'); Object.defineProperty(e, 'message', { get() { return f() } }); throw e`,
    // Reading name/message/stack of the thrown value may run getters; what they throw is
    // swallowed (SANDBOX_ERROR), or reported as the overflow it is.
    expect: ['SANDBOX_ERROR', 'SANDBOX_STACK'],
  },
  {
    name: 're-entry caught: toJSON recursion caught inside, the script goes on',
    code: `${TO_JSON} let r; try { f(); r = 'no overflow' } catch (e) { r = 'survived' } r`,
    expect: ['value'],
    value: 'survived',
  },
  {
    name: 're-entry caught: a sort comparator overflow caught, then more work',
    code: `function f() { return [3, 2, 1].sort(() => f()) }
      let r; try { f(); r = 'no overflow' } catch (e) { r = 'survived' }
      JSON.stringify([1, 2].sort()) && r`,
    expect: ['value'],
    value: 'survived',
  },
  {
    name: 're-entry caught: a host-argument getter overflow caught, then a host call that works',
    hostFunctions: echo,
    code: `function f() { return echo({ get a() { return f() } }) }
      let r; try { await f(); r = 'no overflow' } catch (e) { r = 'survived' }
      (await echo(r))`,
    expect: ['value'],
    value: 'survived',
  },
]

defineCases(test, cases, { mock })
