#!/usr/bin/env node
// baml-quickjs command line: run a script in a fresh sandbox next to a BAML project, check a
// project, or print its TypeScript declarations. Exit status: 0 ok, 1 failure, 2 usage error.
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const { parseArgs } = require('node:util')

const HELP = `usage: baml-quickjs <command> [options]

commands:
  run <script.js> --baml <dir>   run the script in a fresh sandbox whose \`b\` object (and globals)
                                 call the BAML functions in <dir>; print its result as JSON
  check <dir>                    load the .baml files in <dir>; print diagnostics or a summary
  types <dir>                    print TypeScript declarations of what sandboxed code sees
  help                           print this help

run options:
  --baml <dir>                   the BAML project (every *.baml under it)
  --timeout-ms <n>               wall clock for the script, awaits included (default 30000)
  --memory-limit <bytes>         sandbox heap limit (default 64 MiB)
  --isolation process|thread     where the sandbox runs (default process)
  --globals <file.json>          a JSON object whose keys become sandbox globals
  --env-file <file>              KEY=VALUE lines for env.NAME in client options (repeatable)
  --dotenv <file>                the same as --env-file, under a name Node never reads itself
  --env KEY=VALUE                one env.NAME value (repeatable; later values win)

options:
  -h, --help                     print this help
  -v, --version                  print the version

Options take their value as --name value or --name=value. env.NAME comes only from --env-file,
--dotenv and --env (the process environment is not read). The script's console output goes to
stderr, so stdout holds only the JSON result.`

/** A command line that cannot be run as written: usage on stderr, exit 2. */
class UsageError extends Error {}
/** An expected failure (a missing file, a bad input file): one line on stderr, exit 1. */
class CliError extends Error {}

const RUN_OPTIONS = {
  baml: { type: 'string' },
  'timeout-ms': { type: 'string' },
  'memory-limit': { type: 'string' },
  isolation: { type: 'string' },
  globals: { type: 'string' },
  'env-file': { type: 'string', multiple: true },
  dotenv: { type: 'string', multiple: true },
  env: { type: 'string', multiple: true },
}
const COMMANDS = { run: RUN_OPTIONS, check: {}, types: {} }
const COMMON_OPTIONS = { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } }

const REASONS = { ENOENT: 'no such file', EISDIR: 'is a directory', EACCES: 'permission denied', ENOTDIR: 'no such file' }

function readText(what, file) {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch (e) {
    throw new CliError(`cannot read ${what} ${file}: ${REASONS[e.code] || e.message}`)
  }
}

function parseEnvFile(file, text = readText('env file', file)) {
  const env = {}
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (!line || line.startsWith('#')) return
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line)
    if (!m) throw new CliError(`${file}:${i + 1}: expected KEY=VALUE, found ${JSON.stringify(line)}`)
    let value = m[2]
    const quoted = /^(['"])(.*)\1$/.exec(value)
    if (quoted) value = quoted[1] === '"' ? quoted[2].replace(/\\n/g, '\n').replace(/\\"/g, '"') : quoted[2]
    else value = value.replace(/\s+#.*$/, '')
    env[m[1]] = value
  })
  return env
}

function readGlobals(file) {
  let globals
  try {
    globals = JSON.parse(readText('globals file', file))
  } catch (e) {
    if (e instanceof CliError) throw e
    throw new CliError(`${file}: not JSON: ${e.message}`)
  }
  if (globals === null || typeof globals !== 'object' || Array.isArray(globals)) {
    throw new CliError(`${file}: expected a JSON object whose keys are the globals`)
  }
  return globals
}

function positiveNumber(flag, text) {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number, got ${JSON.stringify(text)}`)
  return n
}

/** Splits argv into `{ command, values, positionals, tokens }`, or a help/version request. */
function parseCommandLine(argv) {
  if (argv.length === 0) throw new UsageError('')
  if (argv[0] === 'help') return { help: true }
  const command = argv[0].startsWith('-') ? undefined : argv[0]
  if (command !== undefined && !Object.hasOwn(COMMANDS, command)) throw new UsageError(`unknown command ${JSON.stringify(command)}`)
  let parsed
  try {
    parsed = parseArgs({
      args: command === undefined ? argv : argv.slice(1),
      options: { ...COMMON_OPTIONS, ...COMMANDS[command] },
      allowPositionals: true,
      tokens: true,
    })
  } catch (e) {
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const name = /'([^']*)'/.exec(e.message)
      throw new UsageError(`unknown option ${name ? name[1] : ''}${command ? ` for ${command}` : ''}`)
    }
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const name = /Option '([^']*?)(?: <value>)?'/.exec(e.message)
      const fault = /does not take/.test(e.message) ? 'takes no value' : 'needs a value'
      throw new UsageError(name ? `${name[1]} ${fault}` : e.message.split('\n')[0])
    }
    throw e
  }
  const { values, positionals, tokens } = parsed
  if (values.help) return { help: true }
  if (values.version) return { version: true }
  if (command === undefined) throw new UsageError('missing command')
  const what = command === 'run' ? '<script.js>' : '<dir>'
  if (positionals.length === 0) throw new UsageError(`${command}: missing ${what}`)
  if (positionals.length > 1) throw new UsageError(`${command}: one ${what} only (got ${positionals.join(', ')})`)
  return { command, target: positionals[0], values, tokens }
}

/** The options of `run`, with every file it names read (env files in command-line order). */
function runOptions({ values, tokens }) {
  if (values.baml === undefined) throw new UsageError('run: missing --baml <dir>')
  if (values.isolation !== undefined && !['process', 'thread'].includes(values.isolation)) {
    throw new UsageError(`--isolation must be process or thread, got ${JSON.stringify(values.isolation)}`)
  }
  const timeoutMs = positiveNumber('timeout-ms', values['timeout-ms'])
  const memoryLimitBytes = positiveNumber('memory-limit', values['memory-limit'])
  const env = {}
  for (const t of tokens) {
    if (t.kind !== 'option') continue
    if (t.name === 'env-file' || t.name === 'dotenv') Object.assign(env, parseEnvFile(t.value))
    if (t.name === 'env') {
      const eq = t.value.indexOf('=')
      if (eq <= 0) throw new UsageError(`--env expects KEY=VALUE, got ${JSON.stringify(t.value)}`)
      env[t.value.slice(0, eq)] = t.value.slice(eq + 1)
    }
  }
  const globals = values.globals === undefined ? undefined : readGlobals(values.globals)
  return { timeoutMs, memoryLimitBytes, isolation: values.isolation, globals, env }
}

/** `file:line:col` of the first sandbox stack frame in `file`, or null. */
function locationIn(jsStack, file) {
  for (const line of String(jsStack || '').split('\n')) {
    const m = /^\s*at (?:.*\()?(.*):(\d+):(\d+)\)?\s*$/.exec(line)
    if (m && m[1] === file) return `${m[1]}:${m[2]}:${m[3]}`
  }
  return null
}

/** Writes a failure on stderr: location, code and message, then diagnostics or the stack. */
function report(e, { script, bamlDir } = {}) {
  const out = (line) => process.stderr.write(line + '\n')
  if (e instanceof CliError) return out(`baml-quickjs: ${e.message}`)
  if (!(e instanceof Error) || typeof e.code !== 'string') return out(`baml-quickjs: internal error: ${e && e.stack ? e.stack : e}`)
  const diagnostics = Array.isArray(e.diagnostics) ? e.diagnostics : []
  // BAML_SYNTAX messages repeat their diagnostics: the first line, then each diagnostic once.
  let message = diagnostics.length ? e.message.split('\n')[0] : e.message
  const where = script ? locationIn(e.jsStack, script) : null
  if (where && message.startsWith(`${where}: `)) message = message.slice(where.length + 2)
  out(`${where || 'baml-quickjs'}: ${e.code}: ${message}`)
  for (const d of diagnostics) {
    const file = bamlDir && !path.isAbsolute(d.file) ? path.join(bamlDir, d.file) : d.file
    out(`${file}:${d.line}:${d.column}: ${d.message}`)
  }
  if (e.jsStack) out(e.jsStack.replace(/\n$/, ''))
}

async function run(target, opts) {
  const { BamlRuntime, BamlContext } = require('./index.js')
  const code = readText('script', target)
  const runtime = BamlRuntime.fromDirectory(opts.bamlDir, opts.env)
  const ctx = new BamlContext(runtime, {
    timeoutMs: opts.timeoutMs,
    memoryLimitBytes: opts.memoryLimitBytes,
    isolation: opts.isolation,
    globals: opts.globals,
    env: opts.env,
    onConsole: (level, message) => process.stderr.write(`[${level}] ${message}\n`),
  })
  try {
    const result = await ctx.evaluate(code, { filename: target })
    process.stdout.write(JSON.stringify(result === undefined ? null : result, null, 2) + '\n')
  } finally {
    ctx.dispose()
  }
}

async function main(argv) {
  let cmd
  try {
    cmd = parseCommandLine(argv)
    if (cmd.help) {
      process.stdout.write(HELP + '\n')
      return 0
    }
    if (cmd.version) {
      process.stdout.write(require('./package.json').version + '\n')
      return 0
    }
    if (cmd.command === 'run') cmd.opts = { ...runOptions(cmd), bamlDir: cmd.values.baml }
  } catch (e) {
    if (e instanceof CliError) {
      report(e)
      return 1
    }
    if (!(e instanceof UsageError)) throw e
    if (e.message) process.stderr.write(`baml-quickjs: ${e.message}\n`)
    process.stderr.write(e.message ? "run 'baml-quickjs --help' for usage\n" : HELP + '\n')
    return 2
  }
  const { command, target, opts } = cmd
  try {
    if (command === 'run') {
      await run(target, opts)
      return 0
    }
    const { BamlRuntime } = require('./index.js')
    const runtime = BamlRuntime.fromDirectory(target)
    if (command === 'types') {
      process.stdout.write(runtime.typescriptDeclarations())
    } else {
      const n = runtime.functions().length
      process.stdout.write(`ok: ${n} function${n === 1 ? '' : 's'}\n`)
    }
    return 0
  } catch (e) {
    report(e, { script: command === 'run' ? target : undefined, bamlDir: command === 'run' ? opts.bamlDir : target })
    return 1
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
