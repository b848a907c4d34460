// baml-quickjs/testing: a real HTTP server on 127.0.0.1 that speaks the providers' APIs
// (OpenAI, Anthropic, Gemini and the others BAML supports) with scripted replies, latency and
// faults, so that sandboxed code that calls BAML functions can be tested without an API key.
// It runs the mock_llm executable this package ships as a child process; no other dependency.
//
//   const { startMockLlm } = require('baml-quickjs/testing')
//   const mock = await startMockLlm()
//   await mock.script({ rules: [{ contains: 'resume', replies: [{ text: '{"name": "Ada"}' }] }] })
//   // point the client's base_url at `${mock.url}/v1` (e.g. through env), run your code
//   console.log(await mock.requests())
//   await mock.stop()
'use strict'

const { spawn, } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')

const EXE = process.platform === 'win32' ? 'mock_llm.exe' : 'mock_llm'
const PORT_LINE_TIMEOUT_MS = 60_000

/**
 * The mock server's executable as installed: beside this file (a built checkout, or a package
 * whose binaries sit at its root), or in this platform's package (`baml-quickjs-linux-x64-gnu`
 * and its siblings ship it beside the addon). Null if neither has it.
 */
function shippedBinary() {
  const candidates = [path.join(__dirname, EXE)]
  const libc = process.platform === 'linux' ? (isMusl() ? '-musl' : '-gnu') : process.platform === 'win32' ? '-msvc' : ''
  try {
    const pkg = require.resolve(`baml-quickjs-${process.platform}-${process.arch}${libc}/package.json`)
    candidates.push(path.join(path.dirname(pkg), EXE))
  } catch {
    // no platform package installed (a checkout)
  }
  return candidates.find((c) => fs.existsSync(c)) || null
}

function isMusl() {
  try {
    return !process.report.getReport().header.glibcVersionRuntime
  } catch {
    return false
  }
}

/** Resolves with the first stdout line of the child, parsed as JSON. */
function readPortLine(child, binary) {
  return new Promise((resolve, reject) => {
    let buffered = ''
    const done = (err, value) => {
      clearTimeout(timer)
      child.stdout.off('data', onData)
      child.off('exit', onExit)
      child.off('error', onError)
      if (err) reject(err)
      else resolve(value)
    }
    const onData = (chunk) => {
      buffered += chunk
      const newline = buffered.indexOf('\n')
      if (newline < 0) return
      try {
        done(null, JSON.parse(buffered.slice(0, newline)))
      } catch (e) {
        done(new Error(`mock_llm: unexpected first line ${JSON.stringify(buffered.slice(0, newline))}: ${e.message}`))
      }
    }
    const onExit = (code, signal) =>
      done(new Error(`mock_llm (${binary}) exited (${signal || `code ${code}`}) before printing its port`))
    const onError = (e) => done(new Error(`mock_llm: cannot start ${binary}: ${e.message}`))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      done(new Error(`mock_llm (${binary}) did not print its port within ${PORT_LINE_TIMEOUT_MS / 1000} s`))
    }, PORT_LINE_TIMEOUT_MS)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', onData)
    child.once('exit', onExit)
    child.once('error', onError)
  })
}

/**
 * Starts a mock LLM server.
 *
 * @param {object} [opts]
 * @param {string} [opts.binary] path of the mock_llm executable (default: `MOCK_LLM_BIN`, else
 *   the one this package ships)
 * @param {number} [opts.port] port to bind (default: any free port)
 * @param {number} [opts.lifetimeSecs] the server exits after this long (default 1800; 0 = never)
 * @param {boolean} [opts.verbose] log one line per request on stderr
 * @returns {Promise<{url: string, port: number, pid: number,
 *   script(obj: object): Promise<object>, requests(): Promise<object[]>,
 *   stats(): Promise<object>, reset(): Promise<object>, stop(): Promise<void>}>}
 */
async function startMockLlm(opts = {}) {
  const binary = opts.binary || process.env.MOCK_LLM_BIN || shippedBinary()
  if (!binary) {
    throw new Error(
      `baml-quickjs/testing: the mock LLM server (${EXE}) is not in this installation; ` +
        `it ships in the platform package (baml-quickjs-${process.platform}-${process.arch}...). ` +
        'Reinstall without --no-optional, or pass { binary } / set MOCK_LLM_BIN',
    )
  }
  const args = []
  if (opts.port != null) args.push('--port', String(opts.port))
  if (opts.lifetimeSecs != null) args.push('--lifetime-secs', String(opts.lifetimeSecs))
  if (opts.verbose) args.push('--verbose')
  // stdin is a pipe we never write to: when this process dies, the pipe closes and the
  // server exits, so no server outlives its parent.
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  let exited = false
  const exitPromise = new Promise((resolve) => child.once('exit', () => { exited = true; resolve() }))
  const { port, url } = await readPortLine(child, binary)
  // Let the parent exit even if stop() is forgotten; the closed stdin then stops the server.
  child.unref()
  child.stdin.unref?.()
  child.stdout.unref?.()
  child.stdout.resume()

  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
  const call = (method, route, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method,
          path: route,
          agent,
          headers: payload
            ? { 'content-type': 'application/json', 'content-length': payload.length }
            : {},
        },
        (res) => {
          const chunks = []
          res.on('data', (c) => chunks.push(c))
          res.on('error', reject)
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            let parsed
            try {
              parsed = JSON.parse(text)
            } catch {
              return reject(new Error(`mock_llm: ${method} ${route} returned non-JSON: ${text.slice(0, 200)}`))
            }
            if (res.statusCode >= 300) {
              const message = (parsed && parsed.error && parsed.error.message) || text
              return reject(new Error(`mock_llm: ${method} ${route} failed (${res.statusCode}): ${message}`))
            }
            resolve(parsed)
          })
        },
      )
      req.setTimeout(30_000, () => req.destroy(new Error(`mock_llm: ${method} ${route} timed out`)))
      req.on('error', reject)
      req.end(payload)
    })

  return {
    url,
    port,
    pid: child.pid,
    /** Replaces the script: `{ rules: [...], default?: {...} }`. */
    script: (obj) => call('POST', '/__mock/script', obj),
    /** The recorded provider requests, oldest first. */
    requests: () => call('GET', '/__mock/requests'),
    /** `{ requests, in_flight, max_in_flight, connections_open, connections_total, client_closed, uptime_ms }`. */
    stats: () => call('GET', '/__mock/stats'),
    /** Clears rules, records and counters (except the live ones). */
    reset: () => call('POST', '/__mock/reset'),
    /** Kills the server and waits for it to exit. */
    async stop() {
      agent.destroy()
      if (exited) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exitPromise
      clearTimeout(timer)
    },
  }
}

module.exports = { startMockLlm }
