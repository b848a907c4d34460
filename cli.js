#!/usr/bin/env node
// baml-quickjs command line: run a script in a fresh sandbox next to a BAML project.
//
//   baml-quickjs run <script.js> --baml <dir> [--timeout-ms N] [--memory-limit BYTES]
//                    [--env-file FILE] [--env KEY=VALUE]...
//
// Prints the script's completion value as JSON on stdout. On failure prints the error's
// message and code on stderr and exits with 1 (2 for a usage error).
'use strict'
const fs = require('node:fs')
const path = require('node:path')

const USAGE = `usage: baml-quickjs run <script.js> --baml <dir> [--timeout-ms N] [--memory-limit BYTES] [--env-file FILE] [--env KEY=VALUE]...

Runs <script.js> in a fresh sandbox (top-level await allowed) whose \`b\` object calls the BAML
functions in <dir>, and prints its result as JSON. Environment for \`env.NAME\` in client options
comes only from --env-file and --env (the process environment is not read).`

class UsageError extends Error {}

function parseEnvFile(file) {
  const env = {}
  const text = fs.readFileSync(file, 'utf8')
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (!line || line.startsWith('#')) return
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line)
    if (!m) throw new UsageError(`${file}:${i + 1}: expected KEY=VALUE, found ${JSON.stringify(line)}`)
    let value = m[2]
    const quoted = /^(['"])(.*)\1$/.exec(value)
    if (quoted) value = quoted[1] === '"' ? quoted[2].replace(/\\n/g, '\n').replace(/\\"/g, '"') : quoted[2]
    else value = value.replace(/\s+#.*$/, '')
    env[m[1]] = value
  })
  return env
}

function positiveNumber(flag, text) {
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, got ${JSON.stringify(text)}`)
  return n
}

function parseArgs(argv) {
  const [command, ...rest] = argv
  if (command === '--help' || command === '-h' || command === undefined) throw new UsageError('')
  if (command !== 'run') throw new UsageError(`unknown command ${JSON.stringify(command)}`)
  const opts = { script: null, baml: null, timeoutMs: undefined, memoryLimitBytes: undefined, env: {} }
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]
    const value = () => {
      if (i + 1 >= rest.length) throw new UsageError(`${arg} needs a value`)
      return rest[++i]
    }
    switch (arg) {
      case '--baml': opts.baml = value(); break
      case '--timeout-ms': opts.timeoutMs = positiveNumber(arg, value()); break
      case '--memory-limit': opts.memoryLimitBytes = positiveNumber(arg, value()); break
      case '--env-file': Object.assign(opts.env, parseEnvFile(value())); break
      case '--env': {
        const kv = value()
        const eq = kv.indexOf('=')
        if (eq <= 0) throw new UsageError(`--env expects KEY=VALUE, got ${JSON.stringify(kv)}`)
        opts.env[kv.slice(0, eq)] = kv.slice(eq + 1)
        break
      }
      default:
        if (arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`)
        if (opts.script) throw new UsageError(`one script only (got ${opts.script} and ${arg})`)
        opts.script = arg
    }
  }
  if (!opts.script) throw new UsageError('missing <script.js>')
  if (!opts.baml) throw new UsageError('missing --baml <dir>')
  return opts
}

async function main(argv) {
  let opts
  try {
    opts = parseArgs(argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    if (e.message) process.stderr.write(`baml-quickjs: ${e.message}\n\n`)
    process.stderr.write(USAGE + '\n')
    return e.message ? 2 : 0
  }
  const { BamlRuntime, BamlContext } = require('./index.js')
  let ctx
  try {
    const code = fs.readFileSync(path.resolve(opts.script), 'utf8')
    const runtime = BamlRuntime.fromDirectory(path.resolve(opts.baml), opts.env)
    ctx = new BamlContext(runtime, {
      timeoutMs: opts.timeoutMs,
      memoryLimitBytes: opts.memoryLimitBytes,
      env: opts.env,
      onConsole: (level, message) => process.stderr.write(`[${level}] ${message}\n`),
    })
    const result = await ctx.evaluate(code)
    process.stdout.write(JSON.stringify(result === undefined ? null : result, null, 2) + '\n')
    return 0
  } catch (e) {
    const code = e && e.code ? e.code : 'ERROR'
    process.stderr.write(`baml-quickjs: ${code}: ${e && e.message ? e.message : String(e)}\n`)
    if (e && Array.isArray(e.diagnostics)) {
      for (const d of e.diagnostics) process.stderr.write(`  ${d.file}:${d.line}:${d.column}: ${d.message}\n`)
    }
    return 1
  } finally {
    if (ctx) ctx.dispose()
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (status) => { process.exitCode = status },
    (e) => {
      process.stderr.write(`baml-quickjs: internal error: ${e && e.stack ? e.stack : e}\n`)
      process.exitCode = 1
    },
  )
}

module.exports = { main, parseEnvFile }
