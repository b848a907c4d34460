'use strict'
// Starts the mock_llm binary as a child process and drives its control API, for the ava
// specs, the demo and the benchmarks. No dependencies beyond Node itself.
//
//   const { startMockLlm } = require('./crates/mock_llm/node.js')
//   const mock = await startMockLlm()
//   await mock.script({ rules: [{ model: 'gpt-4o', replies: [{ text: 'hi' }] }] })
//   ... point a client at `${mock.url}/v1` ...
//   console.log(await mock.requests(), await mock.stats())
//   await mock.stop()

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')

const REPO_ROOT = path.resolve(__dirname, '..', '..')
const EXE = process.platform === 'win32' ? 'mock_llm.exe' : 'mock_llm'
const PORT_LINE_TIMEOUT_MS = 60_000

/** The newest of target/debug/mock_llm and target/release/mock_llm, or null. */
function findBinary() {
  let best = null
  for (const profile of ['debug', 'release']) {
    const candidate = path.join(REPO_ROOT, 'target', profile, EXE)
    try {
      const { mtimeMs } = fs.statSync(candidate)
      if (!best || mtimeMs > best.mtimeMs) best = { path: candidate, mtimeMs }
    } catch {
      // not built in this profile
    }
  }
  return best && best.path
}

function buildBinary() {
  const cargo = process.env.CARGO || 'cargo'
  const result = spawnSync(cargo, ['build', '-p', 'mock_llm'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  if (result.error) throw new Error(`mock_llm: cannot run ${cargo} build -p mock_llm: ${result.error.message}`)
  if (result.status !== 0) throw new Error(`mock_llm: cargo build -p mock_llm failed (exit ${result.status})`)
  return path.join(REPO_ROOT, 'target', 'debug', EXE)
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
 * @param {string} [opts.binary] path of the mock_llm binary (default: the newest of
 *   target/debug and target/release; built with `cargo build -p mock_llm` if neither exists)
 * @param {number} [opts.port] port to bind (default: any free port)
 * @param {number} [opts.lifetimeSecs] the server exits after this long (default 1800; 0 = never)
 * @param {boolean} [opts.verbose] log one line per request on stderr
 * @returns {Promise<{url: string, port: number, pid: number,
 *   script(obj: object): Promise<object>, requests(): Promise<object[]>,
 *   stats(): Promise<object>, reset(): Promise<object>, stop(): Promise<void>}>}
 */
async function startMockLlm(opts = {}) {
  const binary = opts.binary || process.env.MOCK_LLM_BIN || findBinary() || buildBinary()
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
