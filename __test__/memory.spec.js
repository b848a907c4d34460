// RSS bounds, measured in fresh Node processes.
const test = require('ava')
const { runChild } = require('./helpers/run-child')

test('1,000 contexts created and disposed do not grow RSS past 32 MB', (t) => {
  const r = runChild(`
    const { BamlRuntime, BamlContext } = require('.')
    const rt = BamlRuntime.fromFiles({})
    const cycle = async (n) => { for (let i = 0; i < n; i++) { const c = new BamlContext(rt, { hostFunctions: { f: () => 1 }, onConsole: () => {} }); await c.evaluate('f(); 1'); c.dispose() } }
    ;(async () => {
      await cycle(300); global.gc(); await new Promise(r => setTimeout(r, 50)); global.gc()
      const before = process.memoryUsage().rss
      await cycle(1000); global.gc(); await new Promise(r => setTimeout(r, 50)); global.gc()
      const after = process.memoryUsage().rss
      console.log(JSON.stringify({ before, after }))
    })()
  `)
  const growthMb = (r.after - r.before) / 1e6
  t.log(`RSS growth over 1,000 contexts: ${growthMb.toFixed(1)} MB`)
  t.true(growthMb < 32, `grew ${growthMb} MB`)
})

test('a memory bomb under a 64 MiB limit raises peak RSS by at most the limit plus 48 MB', (t) => {
  const r = runChild(`
    const { BamlRuntime, BamlContext } = require('.')
    const rt = BamlRuntime.fromFiles({})
    ;(async () => {
      const ctx = new BamlContext(rt, { memoryLimitBytes: 64 * 1024 * 1024 })
      await ctx.evaluate('1')
      const before = process.resourceUsage().maxRSS * 1024
      const codes = []
      for (const bomb of [
        'const a = []; for (;;) a.push(new Array(1000).fill(1.5))',
        'const s = []; for (let i = 0; ; i++) s.push("y".repeat(4096) + i)',
        'const b = []; for (;;) b.push(new Float64Array(1 << 16))',
      ]) {
        codes.push(await ctx.evaluate(bomb).then(() => 'ok', (e) => e.code))
      }
      const after = process.resourceUsage().maxRSS * 1024
      console.log(JSON.stringify({ before, after, codes }))
    })()
  `)
  t.deepEqual(r.codes, ['SANDBOX_MEMORY', 'SANDBOX_MEMORY', 'SANDBOX_MEMORY'])
  const riseMb = (r.after - r.before) / 1e6
  t.log(`peak RSS rise: ${riseMb.toFixed(1)} MB for a 67.1 MB limit`)
  t.true(riseMb <= 67.1 + 48, `peak RSS rose ${riseMb} MB`)
})
