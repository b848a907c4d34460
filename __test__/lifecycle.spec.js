// Contexts freed in every state: no QuickJS assertion may abort the process, no evaluation
// may be lost because its context object was garbage-collected.
const test = require('ava')
const { execFileSync } = require('node:child_process')
const path = require('node:path')
const { BamlRuntime, BamlContext } = require('..')

const rt = BamlRuntime.fromFiles({})

test('an evaluation in flight keeps its context alive after the object is dropped', async (t) => {
  t.is(typeof global.gc, 'function', 'ava runs with --expose-gc')
  const start = () => new BamlContext(rt).evaluate('await new Promise(r => setTimeout(r, 200)); "kept"')
  const p = start().catch((e) => e.code)
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 10))
    global.gc()
  }
  t.is(await p, 'kept')
})

test('dispose and garbage collection with every kind of work in flight never abort Node', (t) => {
  // In a child process: a QuickJS assertion would abort it (exit by signal), not throw.
  const script = `
    const { BamlRuntime, BamlContext } = require('.')
    const rt = BamlRuntime.fromFiles({})
    const hostFunctions = { never: () => new Promise(() => {}), later: () => new Promise(r => setTimeout(() => r({ ok: 1 }), 5)) }
    const work = [
      'for (;;) {}',
      'await new Promise(() => {})',
      'setTimeout(() => {}, 100000); await new Promise(r => setTimeout(r, 100000))',
      'await never()',
      'globalThis.ps = Array.from({ length: 100 }, () => later()); await Promise.all(ps)',
      'const a = {}; const b = { a }; a.b = b; a.f = () => b; globalThis.cycle = a; await new Promise(() => {})',
      'const ps = []; for (let i = 0; i < 1000; i++) ps.push(new Promise(() => {})); Promise.race(ps)',
      'new Promise((_, reject) => reject(new Error("unhandled"))); await new Promise(() => {})',
      'class Node_ { constructor() { this.self = this; this.fn = () => this } }; globalThis.n = new Node_(); await 0; for (;;) {}',
    ]
    ;(async () => {
      let settled = 0
      for (let round = 0; round < 3; round++) {
        const disposed = []
        for (const code of work) {
          // Disposed while busy or waiting.
          const c = new BamlContext(rt, { hostFunctions, timeoutMs: 5000 })
          c.evaluate(code).then(() => settled++, () => settled++)
          disposed.push(c)
          // Dropped without dispose: freed by GC after its evaluation times out.
          new BamlContext(rt, { hostFunctions, timeoutMs: 50 }).evaluate(code).then(() => settled++, () => settled++)
        }
        await new Promise(r => setTimeout(r, 20))
        for (const c of disposed) c.dispose()
        await new Promise(r => setTimeout(r, 150))
        global.gc()
      }
      await new Promise(r => setTimeout(r, 200))
      global.gc()
      console.log(JSON.stringify({ settled }))
    })()
  `
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', script], {
    cwd: path.join(__dirname, '..'),
    encoding: 'utf8',
    timeout: 60_000,
  })
  const { settled } = JSON.parse(out.trim().split('\n').pop())
  t.is(settled, 3 * 9 * 2, 'every evaluation settled exactly once')
})
