// The package is usable from ESM with named imports.
import test from 'ava'
import { BamlRuntime, BamlContext, Collector, ContextGroup } from '../index.js'

test('named ESM imports work', async (t) => {
  const ctx = new BamlContext(BamlRuntime.fromFiles({}))
  t.is(await ctx.evaluate('40 + 2'), 42)
  ctx.dispose()
})

test('Collector is a named ESM export', (t) => {
  const c = new Collector('esm')
  t.is(c.name, 'esm')
  t.deepEqual(c.logs, [])
})

test('ContextGroup is a named ESM export', async (t) => {
  const group = new ContextGroup()
  const ctx = new BamlContext(BamlRuntime.fromFiles({}), { group })
  t.is(await ctx.evaluate('6 * 7'), 42)
  t.true(group.memoryUsage().usedBytes > 0)
  ctx.dispose()
})
