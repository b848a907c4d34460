// The mock server for this repository's specs, demo and benchmarks: `baml-quickjs/testing`
// (the root `testing.js`), given this checkout's build of mock_llm.
//
//   const { startMockLlm } = require('./crates/mock_llm/node.js')
//   const mock = await startMockLlm()
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const testing = require('../../testing.js')

const REPO_ROOT = path.resolve(__dirname, '..', '..')
const EXE = process.platform === 'win32' ? 'mock_llm.exe' : 'mock_llm'

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

/** `startMockLlm` of `baml-quickjs/testing`, defaulting to this checkout's build. */
function startMockLlm(opts = {}) {
  const binary = opts.binary || process.env.MOCK_LLM_BIN || findBinary() || buildBinary()
  return testing.startMockLlm({ ...opts, binary })
}

module.exports = { startMockLlm }
