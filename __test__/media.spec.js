// Media URLs a provider takes only inline (here google-ai images) are downloaded by Node before
// the request is sent: from callFunction and renderRequest always, from sandboxed code only
// when the context's `downloadMedia` allows it; with BAML's bytes and type, bounded in size.
const test = require('ava')
const http = require('node:http')
const { BamlRuntime, BamlContext } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='

let mock, media, mediaUrl
const fetched = []
test.before(async () => {
  mock = await startMockLlm()
  media = http.createServer((req, res) => {
    fetched.push(req.url)
    if (req.url === '/cat.png') {
      res.writeHead(200, { 'content-type': 'image/png' })
      res.end(Buffer.from(PNG_B64, 'base64'))
    } else if (req.url === '/huge.png') {
      res.writeHead(200, { 'content-type': 'image/png' })
      res.end(Buffer.alloc(21 << 20, 1))
    } else {
      res.writeHead(404)
      res.end()
    }
  })
  await new Promise((resolve) => media.listen(0, '127.0.0.1', resolve))
  mediaUrl = `http://127.0.0.1:${media.address().port}`
})
test.after.always(async () => {
  await mock?.stop()
  await new Promise((resolve) => (media ? media.close(resolve) : resolve()))
})

function runtime() {
  return BamlRuntime.fromFiles({
    'main.baml': `
client<llm> Gemini {
  provider google-ai
  options {
    model "gemini-2.0-flash"
    api_key "g-key"
    base_url "${mock.url}/v1beta"
  }
}

function Describe(img: image) -> string {
  client Gemini
  prompt #"
    {{ _.role("user") }}
    Describe this:
    {{ img }}
  "#
}
`,
  })
}

test.serial('callFunction and renderRequest download the image and send it inline, as BAML does', async (t) => {
  const rt = runtime()
  await mock.reset()
  await mock.script({ default: { text: 'a cat' } })
  t.is(await rt.callFunction('Describe', { img: { url: `${mediaUrl}/cat.png` } }), 'a cat')
  const [req] = await mock.requests()
  t.deepEqual(req.body.contents[0].parts[1], { inline_data: { mime_type: 'image/png', data: PNG_B64 } })
  const built = await rt.renderRequest('Describe', { img: { url: `${mediaUrl}/cat.png` } })
  t.deepEqual(built.body.contents[0].parts[1], { inline_data: { mime_type: 'image/png', data: PNG_B64 } })
  const e = await t.throwsAsync(rt.callFunction('Describe', { img: { url: `${mediaUrl}/huge.png` } }))
  t.is(e.code, 'BAML_INVALID_ARGUMENT')
  t.regex(e.message, /larger than the media download limit/)
})

for (const isolation of ['thread', 'process']) {
  test.serial(`sandboxed code's media URLs are fetched only with downloadMedia: true (${isolation})`, async (t) => {
    const rt = runtime()
    await mock.reset()
    await mock.script({ default: { text: 'a cat' } })
    const strict = new BamlContext(rt, { isolation })
    t.teardown(() => strict.dispose())
    const before = fetched.length
    const out = await strict.evaluate(`
      try { await b.Describe({ url: ${JSON.stringify(`${mediaUrl}/cat.png`)} }); 'called' } catch (e) { e.code + ': ' + e.message }
    `)
    t.regex(out, /^BAML_INVALID_ARGUMENT: .*downloadMedia: true/)
    t.is(fetched.length, before, 'Node fetched nothing for the sandbox')
    t.is((await mock.requests()).length, 0)
    // Inline media from the sandbox needs no download.
    t.is(await strict.evaluate(`await b.Describe({ base64: ${JSON.stringify(PNG_B64)}, media_type: 'image/png' })`), 'a cat')

    const open = new BamlContext(rt, { isolation, downloadMedia: true })
    t.teardown(() => open.dispose())
    t.is(await open.evaluate(`await b.Describe({ url: ${JSON.stringify(`${mediaUrl}/cat.png`)} })`), 'a cat')
    const reqs = await mock.requests()
    t.deepEqual(reqs[reqs.length - 1].body.contents[0].parts[1], { inline_data: { mime_type: 'image/png', data: PNG_B64 } })
  })
}

test('downloadMedia must be a boolean', (t) => {
  t.throws(() => new BamlContext(runtime(), { downloadMedia: 'yes' }), { code: 'ERR_INVALID_ARG_VALUE', message: /downloadMedia/ })
})
