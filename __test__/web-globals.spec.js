// The web globals inside the sandbox (URL, URLSearchParams, TextEncoder, TextDecoder,
// structuredClone, crypto, setInterval), in both isolation modes, compared with what Node
// itself answers for the same inputs.
const test = require('ava')
const { BamlRuntime, BamlContext } = require('..')
const { runChild } = require('./helpers/run-child')

const rt = BamlRuntime.fromFiles({})
const MODES = [
  ['process', {}],
  ['thread', { isolation: 'thread' }],
]

// The same function, run by Node and in the sandbox (its source is evaluated there).
const urlCases = [
  ['https://user:pw@example.com:8080/a/b?x=1&y=2#frag'],
  ['../c?q=1', 'https://example.com/a/b/'],
  ['HTTP://EXAMPLE.com:80/./a/../b'],
  ['https://münchen.de/straße?ä=ö'],
  ['http://[::1]:3000/'],
  ['http://192.168.0.1.:80/'],
  ['file:///tmp/a b'],
  ['mailto:someone@example.com'],
  ['data:text/plain,hi there'],
  ['blob:https://a.com/x'],
  ['  https://a.com/\t\n '],
  ['//b.org/path', 'https://a.com'],
  ['?only', 'https://a.com/p?old#h'],
  ['#only', 'https://a.com/p?old#h'],
  ['nope'],
  ['https://'],
  ['http://a b/'],
  ['https://a.com:99999/'],
  ['/relative'],
  ['/x', 'nope'],
  ['https://a.com/%zz/%41?%zz#%'],
  ['https://a.com/p?q=\ud800'],
  ['javascript:alert(1)'],
  ['ws://a.com:80/chat'],
  ['https://EXAMPLE.com/A/../B/./C'],
]
const describeUrls = (cases) => cases.map(([input, base]) => {
  try {
    const u = base === undefined ? new URL(input) : new URL(input, base)
    return [u.href, u.origin, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash]
  } catch (e) {
    return `${e.name}`
  }
})

const paramCases = [
  'a=1&b=2&a=3',
  '?x=%20y+z&empty=&=v&novalue',
  'k=%zz&%F0%9F%98%80=smile',
  'a=1&&&b=2',
  'é=ü&space=a b&plus=a+b',
]
const describeParams = (cases) => cases.map((init) => {
  const p = new URLSearchParams(init)
  const out = [p.toString(), p.size, [...p], p.getAll('a'), p.get('missing')]
  p.append('new key', 'v&w=')
  p.set('a', '9')
  p.delete('b')
  p.sort()
  out.push(p.toString(), [...p.keys()], [...p.values()])
  out.push(new URLSearchParams({ r: '1 2', s: '/?' }).toString())
  out.push(new URLSearchParams([['x', 'y'], ['x', 'z']]).toString())
  const u = new URL('https://a.com/?q=1')
  u.searchParams.append('w', 'a b')
  const first = u.href
  u.search = '?z=2'
  out.push(first, u.searchParams.get('z'), u.searchParams.get('q'))
  return out
})

const textStrings = ['', 'hello', 'héllo wörld', '😀 emoji', 'a\ud800b', '\udc00', 'x\ud83d', '\u0000\uffff', '日本語テキスト']
const textBytes = [
  [0x68, 0x69],
  [0xef, 0xbb, 0xbf, 0x68, 0x69],
  [0xff, 0xfe, 0x41],
  [0xc3, 0x28],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xc0, 0xaf, 0x61],
  [],
]
const describeText = ([strings, bytes]) => {
  const enc = new TextEncoder()
  const out = { encoded: [], into: [], decoded: [], fatal: [], utf16: [], stream: [] }
  for (const s of strings) {
    out.encoded.push(Array.from(enc.encode(s)))
    const dest = new Uint8Array(4)
    const r = enc.encodeInto(s, dest)
    out.into.push([r.read, r.written, Array.from(dest)])
  }
  for (const b of bytes) {
    const u = new Uint8Array(b)
    out.decoded.push(new TextDecoder().decode(u))
    try {
      out.fatal.push(new TextDecoder('utf-8', { fatal: true }).decode(u))
    } catch (e) {
      out.fatal.push(e.name)
    }
    out.utf16.push(new TextDecoder('utf-16le').decode(u))
    const d = new TextDecoder()
    let text = ''
    for (const byte of b) text += d.decode(new Uint8Array([byte]), { stream: true })
    out.stream.push(text + d.decode())
  }
  out.bom = new TextDecoder('utf-8', { ignoreBOM: true }).decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])).length
  out.labels = ['utf8', ' UTF-8 ', 'unicode-1-1-utf-8', 'utf-16le', 'utf-16'].map((l) => new TextDecoder(l).encoding)
  try {
    new TextDecoder('nope')
  } catch (e) {
    out.badLabel = e.name
  }
  return out
}

const describeClone = () => {
  const shared = { s: 1 }
  const o = {
    n: 1, str: 'x', nul: null, und: undefined, big: 12n, neg0: -0, nan: NaN,
    arr: [1, , 3], date: new Date(12345), re: /a+b/gi, map: new Map([[{ k: 1 }, shared]]), set: new Set([shared, 2]),
    buf: new Uint8Array([1, 2, 3, 4]).buffer, err: new RangeError('bad', { cause: shared }),
    boxed: [Object(1), Object('s'), Object(true)], a: shared, b: shared,
  }
  o.self = o
  o.view = new Uint16Array(o.buf, 2, 1)
  o.dv = new DataView(o.buf, 1, 2)
  const c = structuredClone(o)
  const errors = []
  for (const bad of [() => 1, Symbol('s'), new WeakMap(), { f() {} }, Promise.resolve(), new Proxy({}, {})]) {
    try {
      structuredClone(bad)
      errors.push('cloned')
    } catch (e) {
      errors.push(e.name)
    }
  }
  return {
    distinct: c !== o && c.self === c && c.a === c.b && c.a !== shared,
    values: [c.n, c.str, c.nul, c.und, String(c.big), Object.is(c.neg0, -0), Number.isNaN(c.nan)],
    hole: [c.arr.length, 1 in c.arr],
    date: [c.date instanceof Date, c.date.getTime()],
    re: [c.re instanceof RegExp, c.re.source, c.re.flags],
    map: [c.map instanceof Map, [...c.map.values()][0] === c.a, [...c.map.keys()][0].k],
    set: [c.set.has(c.a), c.set.size],
    buffers: [c.view.buffer === c.buf, c.dv.buffer === c.buf, c.view[0], c.dv.byteOffset, Array.from(new Uint8Array(c.buf))],
    err: [c.err instanceof RangeError, c.err.name, c.err.message, c.err.cause === c.a, typeof c.err.stack],
    boxed: c.boxed.map((b) => [typeof b, b.valueOf()]),
    errors,
  }
}

const describeCrypto = () => {
  const out = []
  out.push(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()))
  for (const make of [() => new Uint8Array(16), () => new Int32Array(4), () => new BigInt64Array(2), () => new Uint8Array(65536)]) {
    const a = make()
    out.push(crypto.getRandomValues(a) === a)
  }
  for (const make of [() => new Uint8Array(65537), () => new Float32Array(4), () => new DataView(new ArrayBuffer(4))]) {
    try {
      crypto.getRandomValues(make())
      out.push('filled')
    } catch (e) {
      out.push(e.name)
    }
  }
  return out
}

// Runs `fn(arg)` in Node and in the sandbox; the sandbox gets the function's source.
// Both answers are compared as JSON text.
async function same(t, ctx, fn, arg) {
  const expected = JSON.parse(JSON.stringify(fn(arg)))
  const got = JSON.parse(await ctx.evaluate(`JSON.stringify((${fn.toString()})(${JSON.stringify(arg)}))`))
  t.deepEqual(got, expected)
}

for (const [mode, options] of MODES) {
  test(`${mode}: URL parses, resolves and fails as Node's does`, async (t) => {
    const ctx = new BamlContext(rt, options)
    await same(t, ctx, describeUrls, urlCases)
    t.is(await ctx.evaluate('[URL.canParse("https://a.com"), URL.canParse("x"), JSON.stringify({ u: new URL("https://a.com") })].join()'),
      [URL.canParse('https://a.com'), URL.canParse('x'), JSON.stringify({ u: new URL('https://a.com') })].join())
    const setters = (base) => {
      const u = new URL(base)
      u.protocol = 'http'
      u.host = 'b.org:81'
      u.pathname = '/x y'
      u.search = 'k=v w'
      u.hash = 'top'
      u.username = 'me'
      u.password = 'p@ss'
      u.port = 'nope'
      return u.href
    }
    await same(t, ctx, setters, 'https://a.com/p?q=1#h')
    ctx.dispose()
  })

  test(`${mode}: URLSearchParams serializes, edits and stays in sync as Node's does`, async (t) => {
    const ctx = new BamlContext(rt, options)
    await same(t, ctx, describeParams, paramCases)
    ctx.dispose()
  })

  test(`${mode}: TextEncoder and TextDecoder give Node's bytes and text`, async (t) => {
    const ctx = new BamlContext(rt, options)
    await same(t, ctx, describeText, [textStrings, textBytes])
    ctx.dispose()
  })

  test(`${mode}: structuredClone copies what Node copies and refuses what Node refuses`, async (t) => {
    const ctx = new BamlContext(rt, options)
    // Node's structuredClone names its refusals DataCloneError too.
    await same(t, ctx, describeClone)
    const err = await ctx.evaluate('try { structuredClone(() => 1) } catch (e) { [e instanceof DOMException, e.name] }')
    t.deepEqual(err, [true, 'DataCloneError'])
    ctx.dispose()
  })

  test(`${mode}: crypto fills integer arrays, refuses the rest, and makes v4 UUIDs`, async (t) => {
    const ctx = new BamlContext(rt, options)
    await same(t, ctx, describeCrypto)
    // Not a view at all: a TypeError as in browsers (WebIDL), where Node 20 says TypeMismatchError.
    t.deepEqual(await ctx.evaluate('[[1, 2], {}, 1].map((v) => { try { crypto.getRandomValues(v) } catch (e) { return e.name } })'),
      ['TypeError', 'TypeError', 'TypeError'])
    const ids = await ctx.evaluate('Array.from({ length: 20 }, () => crypto.randomUUID())')
    t.is(new Set(ids).size, 20)
    ctx.dispose()
  })

  test(`${mode}: setInterval repeats until cleared; a never-cleared one ends in SANDBOX_TIMEOUT`, async (t) => {
    const ctx = new BamlContext(rt, options)
    t.is(await ctx.evaluate(`
      let n = 0
      await new Promise((r) => { const id = setInterval((step) => { n += step; if (n >= 10) { clearInterval(id); r() } }, 0, 2) })
      n`), 10)
    t.is(await ctx.evaluate(`
      let m = 0
      const i = setInterval(() => m++, 1); clearTimeout(i)
      const j = setTimeout(() => m++, 1); clearInterval(j)
      await new Promise((r) => setTimeout(r, 20)); m`), 0)
    const started = Date.now()
    const err = await t.throwsAsync(ctx.evaluate('setInterval(() => {}, 0); await new Promise(() => {})', { timeoutMs: 200 }))
    t.is(err.code, 'SANDBOX_TIMEOUT')
    t.is(err.timeoutMs, 200)
    t.true(Date.now() - started < 5000)
    // The context is usable after the timeout.
    t.is(await ctx.evaluate('new URL("https://a.com/x").pathname'), '/x')
    ctx.dispose()
  })

  test(`${mode}: huge inputs to the globals are memory errors, and the context goes on`, async (t) => {
    const ctx = new BamlContext(rt, { ...options, memoryLimitBytes: 8 * 1024 * 1024 })
    for (const code of [
      '{ const s = "https://a.com/" + "x".repeat(6 << 20); new URL(s).href.length }',
      '{ const a = []; for (let i = 0; i < 1e6; i++) a.push({ i }); structuredClone(a).length }',
      '{ new TextEncoder().encode("\\ud800".repeat(3 << 20)).length }',
    ]) {
      const err = await t.throwsAsync(ctx.evaluate(code))
      t.is(err.code, 'SANDBOX_MEMORY', code)
    }
    t.is(await ctx.evaluate('new TextDecoder().decode(new TextEncoder().encode("ok"))'), 'ok')
    ctx.dispose()
  })
}

test('attacks on the natives end in errors, never in a crashed process', (t) => {
  // In-process contexts in a child: an abort or a panic would kill the child, not ava.
  const r = runChild(`
    const { BamlRuntime, BamlContext } = require('.')
    const rt = BamlRuntime.fromFiles({})
    const attacks = [
      'const b = new ArrayBuffer(8); const u = new Uint8Array(b); new TextDecoder().decode(u, { get stream() { b.transfer(); return true } })',
      'const b = new ArrayBuffer(16, { maxByteLength: 32 }); const u = new Uint8Array(b, 8, 8); new TextEncoder().encodeInto({ toString() { b.resize(4); return "abc" } }, u)',
      'const b = new ArrayBuffer(8); const v = new Uint8Array(b); b.transfer(); crypto.getRandomValues(v)',
      'let v = null; for (let i = 0; i < 100000; i++) v = [v]; structuredClone(v)',
      'let depth = 0; const evil = { toString() { if (++depth < 1000) new URL(evil); return "https://b.com" } }; new URL(evil)',
      'Object.defineProperty(Object.prototype, "href", { set() { throw 1 } }); Array.prototype[Symbol.iterator] = function* () { throw 2 }; new URL("https://a.com/?q=1").searchParams.get("q")',
      'Object.freeze(globalThis); [typeof URL, typeof structuredClone, typeof TextDecoder]',
      'new URLSearchParams({ length: 2 ** 32 - 1 }).size',
      'structuredClone(new Array(2 ** 32 - 1)).length',
      'const p = new URLSearchParams("a=1"); p.forEach(() => { p.delete("a"); p.append("b", "2") }); p.toString()',
      'new URL("https://a.com/" + "%".repeat(1 << 20)).pathname.length',
    ]
    ;(async () => {
      const codes = []
      for (const isolation of ['thread', 'process']) {
        for (const code of attacks) {
          const ctx = new BamlContext(rt, { isolation, memoryLimitBytes: 16 * 1024 * 1024, timeoutMs: 2000 })
          // In a block: what the attack allocates is garbage afterwards.
          const attack = await ctx.evaluate('{ ' + code + ' }').then(() => 'ok', (e) => e.code)
          // The context still works afterwards (its realm as the attack left it).
          const after = await ctx.evaluate('new TextDecoder === undefined ? "" : "alive"').then((v) => v, (e) => e.code)
          codes.push([isolation, attack, after])
          ctx.dispose()
        }
      }
      console.log(JSON.stringify({ codes }))
    })()
  `)
  t.is(r.codes.length, 22)
  for (const [i, [isolation, attack, after]] of r.codes.entries()) {
    const what = `${isolation} attack ${i % 11}: ${attack} then ${after}`
    t.true(['ok', 'SANDBOX_ERROR', 'SANDBOX_STACK', 'SANDBOX_MEMORY', 'SANDBOX_TIMEOUT'].includes(attack), what)
    // Even a frozen global object hands out TextDecoder (its group is made off the global).
    t.is(after, 'alive', what)
  }
})
