// The package is usable from ESM with named imports.
import test from 'ava'
import { BamlRuntime, BamlContext } from '../index.js'

test('named ESM imports work', async (t) => {
  const ctx = new BamlContext(BamlRuntime.fromFiles({}))
  t.is(await ctx.evaluate('40 + 2'), 42)
  ctx.dispose()
})
