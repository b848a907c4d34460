// Observability: a Collector on callFunction and on a context, and onBamlCall. Runs offline
// against the project's mock LLM server: `node examples/observability.js` (after a build).
// The README section "Observability: Collector and onBamlCall" shows this code.
'use strict'
const { BamlRuntime, BamlContext, Collector } = require('..')
const { startMockLlm } = require('../crates/mock_llm/node.js')

async function main() {
  const mock = await startMockLlm()
  await mock.script({ default: { text: '{"name": "Ada", "age": 36}', usage: { input_tokens: 12, output_tokens: 5 } } })
  const runtime = BamlRuntime.fromFiles({
    'main.baml': `
class Person {
  name string
  age int
}
client<llm> Main {
  provider openai
  options {
    model "gpt-4o-mini"
    api_key env.OPENAI_API_KEY
    base_url "${mock.url}/v1"
  }
}
function Extract(text: string) -> Person {
  client Main
  prompt #"Extract the person: {{ text }} {{ ctx.output_format }}"#
}`,
  })
  const env = { OPENAI_API_KEY: 'sk-example' }

  // One call from Node, recorded.
  const collector = new Collector('example')
  await runtime.callFunction('Extract', { text: 'Ada, 36' }, { env, collector })
  const log = collector.last
  console.log(log.functionName, log.logType, log.usage) // Extract call { inputTokens: 12, outputTokens: 5 }
  const call = log.selectedCall
  console.log(call.httpRequest.url, call.httpRequest.headers.authorization) // .../v1/chat/completions Bearer [redacted]
  console.log(call.httpResponse.status, log.rawLlmResponse) // 200 {"name": "Ada", "age": 36}

  // Every BAML call a sandbox makes, into the same collector and to a callback.
  const ctx = new BamlContext(runtime, {
    env,
    collector,
    onBamlCall: (log) => console.log('sandbox called', log.functionName, log.error ? log.error.code : 'ok'),
  })
  await ctx.evaluate(`
    const s = b.stream.Extract('Ada, 36')
    for await (const partial of s) {}
    await s.getFinalResponse()
  `)
  console.log(collector.logs.map((l) => `${l.source}:${l.logType}`)) // [ 'callFunction:call', 'sandbox:stream' ]
  console.log(collector.usage, ctx.usage()) // { inputTokens: 24, outputTokens: 10 } { calls: 1, inputTokens: 12, outputTokens: 5 }
  await new Promise((resolve) => setImmediate(resolve)) // onBamlCall runs on Node's thread, soon after the call
  ctx.dispose()
  await mock.stop()
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
