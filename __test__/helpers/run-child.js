// Runs a script in a fresh Node process (so RSS measurements are not polluted by other
// specs) and returns the JSON it prints on its last line.
const { execFileSync } = require('node:child_process')
const path = require('node:path')

function runChild(source, { timeoutMs = 120_000 } = {}) {
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', source], {
    cwd: path.join(__dirname, '..', '..'),
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines = out.trim().split('\n')
  return JSON.parse(lines[lines.length - 1])
}

module.exports = { runChild }
