// Crash corpus, class 8: shutdown (issue 14). `Poster::post` could call a threadsafe function
// Node had already deleted (environment teardown, worker termination). Here contexts are
// disposed while their evaluations run busy loops or C built-ins, while BAML and host calls are
// in flight, from inside their own host functions and console callbacks; Node exits with
// evaluations in flight; worker_threads that own contexts are terminated mid-evaluation while
// host calls and console output are still being posted. The child must end with status 0 (or
// the exit code it chose), never a signal. Both modes. See _crash.js for what every case
// asserts besides this.
const test = require('ava')
const { defineCases, useMock, TIME_MARGIN_MS } = require('./_crash.js')

const mock = useMock(test)

const DISPOSED = ['SANDBOX_DISPOSED']

/** A worker_threads attack: `workerCode` runs in a Worker with `workerData`
 * { repo, mode, mockUrl, baml }; the main thread terminates it after its first message. */
const workerRun = (workerCode, { terminateAfterMs = 100, rounds = 1 } = {}) => ({
  run: new Function(
    'H',
    `return (async () => {
      const { Worker } = require('node:worker_threads')
      const path = require('node:path')
      const results = []
      for (let round = 0; round < ${rounds}; round++) {
        const w = new Worker(${JSON.stringify(workerCode)}, {
          eval: true,
          workerData: { repo: path.join(__dirname, '..', '..'), mode: H.mode, mockUrl: H.mockUrl, baml: require(__filename).BAML_SOURCE },
        })
        let messages = 0
        const first = new Promise((resolve, reject) => {
          w.on('message', () => { messages++; resolve() })
          w.on('error', reject)
          w.on('exit', (code) => resolve('exited ' + code))
        })
        let timer
        const late = new Promise((r) => { timer = setTimeout(() => r('no message in 20 s'), 20000) })
        const early = await Promise.race([first, late])
        clearTimeout(timer)
        await H.sleep(${terminateAfterMs})
        const code = await w.terminate()
        results.push({ early: early ?? 'message', messages: messages > 0, code })
      }
      return results
    })()`,
  ),
})

/** Worker source: a context in the worker runs `code` with host functions and console that
 * post to the main thread. */
const inWorker = (code, extra = '') => `
  const { parentPort, workerData } = require('node:worker_threads')
  const { BamlRuntime, BamlContext } = require(workerData.repo)
  const rt = BamlRuntime.fromFiles({ 'main.baml': workerData.baml.replaceAll('\${MOCK}', workerData.mockUrl).replaceAll('\${CLOSED}', '9') })
  ${extra}
  const ctx = new BamlContext(rt, {
    ...({ shared: { sharing: 'runtime', isolation: 'thread' }, group: { sharing: 'runtime', isolation: 'process' } }[workerData.mode] ?? { isolation: workerData.mode }),
    timeoutMs: 20000,
    hostFunctions: {
      tick: (i) => { parentPort.postMessage({ tick: i }); return i },
      later: (i) => new Promise((r) => setTimeout(() => r(i), 5)),
      bye: () => process.exit(3),
    },
    onConsole: (level, message) => parentPort.postMessage({ level, message }),
  })
  parentPort.postMessage('ready')
  ctx.evaluate(${JSON.stringify(code)}).then(
    (v) => parentPort.postMessage({ done: v }),
    (e) => parentPort.postMessage({ error: e.code }),
  )
`

const cases = [
  {
    name: 'shutdown: dispose() while the evaluation runs a busy loop',
    run: async (H) => {
      const p = H.ctx.evaluate('for (;;) {}', { timeoutMs: 10_000 })
      await H.sleep(100)
      H.ctx.dispose()
      return p
    },
    expect: DISPOSED,
    maxMs: 100 + TIME_MARGIN_MS,
  },
  {
    name: 'shutdown: dispose() while the evaluation sorts in C and ignores polls',
    options: { memoryLimitBytes: 256 * 1024 * 1024 },
    run: async (H) => {
      const p = H.ctx.evaluate('const t = new Float64Array(1 << 22).map(Math.random); for (;;) t.sort()', { timeoutMs: 10_000 })
      await H.sleep(400)
      H.ctx.dispose()
      return p
    },
    expect: DISPOSED,
    maxMs: 400 + TIME_MARGIN_MS,
  },
  {
    name: 'shutdown: dispose() while two slow BAML calls are in flight; their requests are dropped',
    baml: true,
    run: async (H) => {
      const p = H.ctx.evaluate("await Promise.all([b.Slow('a'), b.Slow('b')])", { timeoutMs: 10_000 })
      await H.sleep(300)
      H.ctx.dispose()
      return p
    },
    expect: DISPOSED,
    maxMs: 300 + TIME_MARGIN_MS,
    childCheck: async (H) => {
      // node:http, not fetch: loading undici would block this thread for tens of ms.
      const stats = () =>
        new Promise((resolve, reject) => {
          require('node:http')
            .get(`${H.mockUrl}/__mock/stats`, (res) => {
              let body = ''
              res.on('data', (d) => (body += d))
              res.on('end', () => resolve(JSON.parse(body)))
            })
            .on('error', reject)
        })
      const until = Date.now() + 1500
      let s = await stats()
      while (s.in_flight > 0 && Date.now() < until) {
        await H.sleep(50)
        s = await stats()
      }
      return { inFlight: s.in_flight, clientClosed: s.client_closed }
    },
    check: (r, ok) => ok(r.childCheck?.inFlight === 0, `requests still in flight at the mock 1.5 s after dispose(): ${JSON.stringify(r.childCheck)}`),
  },
  {
    name: 'shutdown: dispose() while host calls are pending; they resolve afterwards',
    hostFunctions: () => ({ later: (x) => new Promise((r) => setTimeout(() => r(x), 300)) }),
    run: async (H) => {
      const p = H.ctx.evaluate('await Promise.all(Array.from({ length: 100 }, (_, i) => later(i)))', { timeoutMs: 10_000 })
      await H.sleep(100)
      H.ctx.dispose()
      const out = await H.settle(p)
      await H.sleep(400) // the host promises settle after dispose
      return out.ok ? out.value.json : Promise.reject(Object.assign(new Error(out.message), out))
    },
    expect: DISPOSED,
    maxMs: 600 + TIME_MARGIN_MS,
  },
  {
    name: 'shutdown: a host function disposes its own context during the evaluation',
    hostFunctions: (H) => ({
      kill: () => {
        H.ctx.dispose()
        return 1
      },
    }),
    code: "await kill(); for (let i = 0; i < 1e6; i++) {} 'survived dispose'",
    timeoutMs: 5000,
    expect: DISPOSED,
  },
  {
    name: 'shutdown: onConsole disposes the context while 100,000 lines are being posted',
    onConsole: (H) => () => H.ctx.dispose(),
    code: "for (let i = 0; i < 1e5; i++) console.log('line ' + i); await new Promise((r) => setTimeout(r, 1000)); 'done'",
    timeoutMs: 10_000,
    expect: DISPOSED,
  },
  {
    name: 'shutdown: dispose() twice, then evaluate() and memoryUsage() on the disposed context',
    run: async (H) => {
      H.ctx.dispose()
      H.ctx.dispose()
      let usage
      try {
        usage = H.ctx.memoryUsage()
      } catch (e) {
        usage = e.code
      }
      H.state.usage = usage
      return H.ctx.evaluate('1')
    },
    expect: DISPOSED,
  },
  {
    name: 'shutdown: process.exit(7) with busy loops, BAML calls and host calls in flight',
    baml: true,
    hostFunctions: () => ({ never: () => new Promise(() => {}) }),
    run: async (H) => {
      const other = new H.BamlContext(H.rt, H.opts({ hostFunctions: { never: () => new Promise(() => {}) } }))
      H.ctx.evaluate('for (;;) {}', { timeoutMs: 30_000 }).catch(() => {})
      other.evaluate("await Promise.all([b.Slow('x'), never(), new Promise((r) => setTimeout(r, 1e6))])", { timeoutMs: 30_000 }).catch(() => {})
      await H.sleep(150)
      process.exit(7)
    },
    expectExit: 7,
  },
  {
    name: 'shutdown: process.exit(9) from a host function, in the middle of a turn',
    hostFunctions: () => ({ bye: () => process.exit(9) }),
    code: 'for (let i = 0; i < 10; i++) await bye()',
    timeoutMs: 10_000,
    expectExit: 9,
  },
  {
    name: 'shutdown: process.exit(11) from onConsole while the sandbox logs in a busy loop',
    onConsole: () => () => process.exit(11),
    code: "for (;;) console.log('spam')",
    timeoutMs: 10_000,
    expectExit: 11,
  },
  {
    name: "shutdown: an uncaught exception in the embedder's code ends Node (status 1) while the sandbox is busy",
    hostFunctions: () => ({
      boom: () => {
        setTimeout(() => {
          throw new Error('embedder bug')
        }, 0)
        return 1
      },
    }),
    code: 'await boom(); for (;;) {}',
    timeoutMs: 10_000,
    expectExit: 1,
  },
  {
    name: 'shutdown: Node exits by itself with live, undisposed contexts holding 32 MiB heaps and far timers',
    run: async (H) => {
      H.state.kept = []
      for (let i = 0; i < 3; i++) {
        const c = new H.BamlContext(H.rt, H.opts())
        await c.evaluate('globalThis.keep = Array.from({ length: 2e5 }, (_, i) => ({ i })); setTimeout(() => {}, 1e9); keep.length')
        H.state.kept.push(c)
      }
      return 'kept'
    },
    expect: ['value'],
  },
  {
    name: 'shutdown: 50 contexts dropped without dispose() and garbage-collected mid-run',
    run: async (H) => {
      for (let i = 0; i < 50; i++) {
        const c = new H.BamlContext(H.rt, H.opts({ hostFunctions: { f: () => i }, onConsole: () => {} }))
        await c.evaluate("console.log('x'); await f()")
      }
      for (let i = 0; i < 3; i++) {
        global.gc?.()
        await H.sleep(20)
      }
      return H.ctx.evaluate('6 * 7')
    },
    expect: ['value'],
    value: 42,
    maxMs: 15_000,
  },
  {
    name: 'shutdown: a worker_threads Worker terminated while its context posts host calls and console output',
    ...workerRun(inWorker("for (let i = 0; ; i++) { await tick(i); console.log('line', i) }")),
    expect: ['value'],
    maxMs: 20_000,
    check: (r, ok) => {
      for (const w of r.attack?.value?.json ?? []) ok(w.messages && w.code === 1, `the worker: ${JSON.stringify(w)}`)
    },
  },
  {
    name: 'shutdown: a worker_threads Worker terminated while its context runs a busy loop',
    ...workerRun(inWorker('for (;;) {}')),
    expect: ['value'],
    maxMs: 20_000,
  },
  {
    name: 'shutdown: a worker_threads Worker terminated while its context has slow BAML calls in flight',
    baml: true,
    ...workerRun(inWorker("await Promise.all([b.Slow('a'), b.Slow('b'), later(1)])"), { terminateAfterMs: 300 }),
    expect: ['value'],
    maxMs: 20_000,
  },
  {
    name: 'shutdown: a worker_threads Worker whose host function calls process.exit() mid-evaluation',
    run: new Function(
      'H',
      `return (async () => {
        const { Worker } = require('node:worker_threads')
        const path = require('node:path')
        const w = new Worker(${JSON.stringify(inWorker('await tick(0); await bye(); for (;;) {}'))}, {
          eval: true,
          workerData: { repo: path.join(__dirname, '..', '..'), mode: H.mode, mockUrl: H.mockUrl, baml: require(__filename).BAML_SOURCE },
        })
        w.on('message', () => {})
        const code = await new Promise((resolve) => w.on('exit', resolve))
        return { code }
      })()`,
    ),
    expect: ['value'],
    value: { code: 3 },
    maxMs: 20_000,
  },
  {
    name: 'shutdown: ten Workers in a row, each terminated while its context posts host calls',
    ...workerRun(inWorker("for (let i = 0; ; i++) { await later(i); await tick(i); console.log(i) }"), { terminateAfterMs: 30, rounds: 10 }),
    expect: ['value'],
    maxMs: 40_000,
    check: (r, ok) => ok((r.attack?.value?.json ?? []).length === 10, 'not ten rounds'),
  },
]

defineCases(test, cases, { mock })
