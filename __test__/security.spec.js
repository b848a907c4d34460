// Nothing of Node is reachable from the sandbox.
const test = require('ava')
const { BamlRuntime, BamlContext } = require('..')

const rt = BamlRuntime.fromFiles({})

test('no require, process, fetch, module, import() or Node globals', async (t) => {
  const ctx = new BamlContext(rt, { hostFunctions: { f: () => 1 } })
  const kinds = await ctx.evaluate(
    '["require", "process", "fetch", "module", "exports", "Buffer", "global", "__dirname", "setImmediate", "XMLHttpRequest", "WebAssembly"].map(n => typeof globalThis[n])',
  )
  t.deepEqual(kinds, Array(11).fill('undefined'))
  t.is(await ctx.evaluate('try { await import("fs"); "imported" } catch (e) { "rejected" }'), 'rejected')
  t.is(await ctx.evaluate('try { await import("node:child_process"); "imported" } catch (e) { "rejected" }'), 'rejected')
  const err = await t.throwsAsync(ctx.evaluate('import fs from "fs"; 1'))
  t.is(err.code, 'SANDBOX_ERROR')
  ctx.dispose()
})

test('constructor chains give nothing of Node', async (t) => {
  const ctx = new BamlContext(rt, { hostFunctions: { f: () => ({ a: 1 }) }, globals: { g: { x: 1 } } })
  const probes = [
    'this.constructor.constructor("return typeof process")()',
    'f.constructor("return typeof process")()',
    '(await f()).constructor.constructor("return typeof require")()',
    'g.constructor.constructor("return typeof process")()',
    'console.log.constructor("return typeof process")()',
    'setTimeout.constructor("return typeof globalThis.process")()',
    '(async () => {}).constructor("return typeof process")().then ? "promise" : "x"',
  ]
  for (const probe of probes) {
    const r = await ctx.evaluate(probe)
    t.true(r === 'undefined' || r === 'promise', `${probe} -> ${r}`)
  }
  t.is(await ctx.evaluate('Object.getPrototypeOf(f) === Function.prototype'), true)
  t.is(await ctx.evaluate('Object.getPrototypeOf(await f()) === Object.prototype'), true)
  ctx.dispose()
})

test('host function results and thrown errors are sandbox objects', async (t) => {
  const nodeErr = new Error('node error')
  nodeErr.secret = { process }
  const ctx = new BamlContext(rt, {
    hostFunctions: {
      leak: () => ({ process: typeof process, fn: () => process, date: new Date(1) }),
      fail: () => { throw nodeErr },
    },
  })
  t.deepEqual(await ctx.evaluate('Object.keys(await leak())'), ['process', 'date'])
  t.is(await ctx.evaluate('try { await fail() } catch (e) { [e.secret, Object.getPrototypeOf(e) === Error.prototype].join() }'), ',true')
  ctx.dispose()
})

test('the sandbox cannot change Node\'s prototypes or the values it was given', async (t) => {
  const shared = { list: [1] }
  const ctx = new BamlContext(rt, { globals: { shared }, hostFunctions: { take: (x) => { x.mutated = true; return x } } })
  await ctx.evaluate('Object.prototype.hacked = 1; Array.prototype.push = null; JSON.parse = null; shared.list.length = 0')
  t.is({}.hacked, undefined)
  t.is(typeof [].push, 'function')
  t.deepEqual(shared.list, [1])
  const r = await ctx.evaluate('const o = { a: 1 }; const back = await take(o); [o.mutated, back.mutated]')
  t.deepEqual(r, [undefined, true])
  ctx.dispose()
})
