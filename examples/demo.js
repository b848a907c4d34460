// The demo: a sandboxed script (as an LLM might write it) that calls host functions
// concurrently, logs through console, and combines the results; then the limits at work.
//
// BAML functions inside the sandbox (`await b.ExtractResume(text)`) arrive with the BAML
// language and LLM clients; until then the demo's tools are plain host functions.
const { BamlRuntime, BamlContext } = require('..')

const runtime = BamlRuntime.fromFiles({})

const inventory = { apples: 12, pears: 0, plums: 40 }

async function main() {
  const ctx = new BamlContext(runtime, {
    timeoutMs: 2000,
    memoryLimitBytes: 32 * 1024 * 1024,
    globals: { shopping: ['apples', 'pears', 'plums'] },
    hostFunctions: {
      // Runs on Node's thread; the sandbox sees only a copy of what it returns.
      stock: async (item) => {
        await new Promise((r) => setTimeout(r, 50))
        return { item, count: inventory[item] ?? 0 }
      },
      price: (item) => ({ apples: 0.5, pears: 0.8, plums: 0.3 })[item] ?? null,
    },
    onConsole: (level, message) => console.log(`  [sandbox ${level}] ${message}`),
  })

  const script = `
    const rows = await Promise.all(shopping.map(async (item) => {
      const [{ count }, unit] = await Promise.all([stock(item), price(item)])
      return { item, count, unit, value: count * unit }
    }))
    console.log('checked', rows.length, 'items concurrently');
    ({ available: rows.filter(r => r.count > 0).map(r => r.item), total: rows.reduce((s, r) => s + r.value, 0) })
  `
  console.log('Running a sandboxed script that calls host functions:')
  const started = Date.now()
  const result = await ctx.evaluate(script)
  console.log(`  result after ${Date.now() - started} ms:`, result)

  console.log('\nLimits hold, and the context stays usable:')
  for (const [label, code] of [
    ['busy loop', 'for (;;) {}'],
    ['memory bomb', '{ const a = []; for (;;) a.push(new Array(1e4).fill(0)) }'],
    ['escape attempt', 'this.constructor.constructor("return process")().exit(1)'],
  ]) {
    const outcome = await ctx.evaluate(code, { timeoutMs: 300 }).then(
      (v) => `returned ${JSON.stringify(v)}`,
      (e) => `${e.code}: ${e.message}`,
    )
    console.log(`  ${label.padEnd(15)} -> ${outcome}`)
  }
  console.log('  afterwards      ->', await ctx.evaluate('shopping.length'))
  ctx.dispose()
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
