#!/usr/bin/env node
// Builds the sandbox worker executable (crates/sandbox_process, bin baml-quickjs-worker) and
// puts it beside the addon's .node file, where the addon looks for it. `--release` for an
// optimized build (what `npm run build` makes); debug otherwise.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const release = process.argv.includes('--release')
if (process.platform !== 'linux') {
  // Process isolation (the confined worker) is Linux-only; contexts elsewhere use threads.
  console.log(`build-worker: no sandbox worker on ${process.platform} (process isolation is Linux-only)`)
  process.exit(0)
}
const args = ['build', '-p', 'sandbox_process', '--bin', 'baml-quickjs-worker']
if (release) args.push('--release')
const cargo = process.env.CARGO || 'cargo'
const built = spawnSync(cargo, args, { cwd: root, stdio: 'inherit' })
if (built.error) throw new Error(`cannot run ${cargo}: ${built.error.message}`)
if (built.status !== 0) process.exit(built.status || 1)
const name = process.platform === 'win32' ? 'baml-quickjs-worker.exe' : 'baml-quickjs-worker'
const from = path.join(root, 'target', release ? 'release' : 'debug', name)
const to = path.join(root, name)
// Replaced, not overwritten in place: a running worker keeps its old file.
fs.rmSync(to, { force: true })
fs.copyFileSync(from, to)
fs.chmodSync(to, 0o755)
