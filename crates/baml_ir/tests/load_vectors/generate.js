// Regenerates load_vectors.json: for each case (a name and its files), whether
// @boundaryml/baml (the version in package.json) accepts the project, and the first line
// of its error when it does not. Run: npm install --no-audit --no-fund && node generate.js
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { BamlRuntime } = require('@boundaryml/baml/native');

if (process.argv[2] === '--one') {
  const files = JSON.parse(fs.readFileSync(0, 'utf8'));
  let accepted = true;
  let error = null;
  try {
    BamlRuntime.fromFiles('baml_src', files, {});
  } catch (e) {
    accepted = false;
    const lines = String((e && e.message) || e).split('\n');
    error = (lines.find((l) => l.trim() !== '') || '').replace(/^BamlError: /, '').trim();
  }
  process.stdout.write(JSON.stringify({ accepted, error }));
  process.exit(0);
}
const { version } = JSON.parse(
  fs.readFileSync(path.join(__dirname, 'node_modules', '@boundaryml', 'baml', 'package.json'), 'utf8'),
);

const cases = require('./cases.js');

// The fixtures of ../fixtures are cases too: each file alone (the cross_file pair together).
const fixtures = path.join(__dirname, '..', 'fixtures');
for (const dir of ['valid', 'invalid']) {
  const names = fs.readdirSync(path.join(fixtures, dir)).filter((n) => n.endsWith('.baml')).sort();
  const cross = {};
  for (const n of names) {
    const text = fs.readFileSync(path.join(fixtures, dir, n), 'utf8');
    if (n.startsWith('cross_file')) cross[n] = text;
    else cases.push({ name: `fixture_${dir}_${n.replace(/\.baml$/, '')}`, files: { [n]: text } });
  }
  if (Object.keys(cross).length) cases.push({ name: `fixture_${dir}_cross_file`, files: cross });
}

const seen = new Set();
const out = [];
for (const c of cases) {
  if (seen.has(c.name)) throw new Error(`duplicate case name ${c.name}`);
  seen.add(c.name);
  const files = typeof c.files === 'string' ? { 'main.baml': c.files } : c.files;
  // One process per case: BAML aborts the whole process on some inputs (a panic in its
  // compiler); such a case is recorded as a crash, and the test skips it.
  const run = spawnSync(process.execPath, [__filename, '--one'], {
    input: JSON.stringify(files),
    encoding: 'utf8',
  });
  let accepted;
  let error = null;
  let crashed = false;
  if (run.status === 0) {
    ({ accepted, error } = JSON.parse(run.stdout));
  } else {
    crashed = true;
    accepted = false;
    const panic = (run.stderr || '').split('\n').find((l) => l.trim() !== '' && !l.startsWith('thread')) || '';
    error = `BAML crashed: ${panic.trim()}`;
  }
  out.push(crashed ? { name: c.name, files, accepted, error, crashed } : { name: c.name, files, accepted, error });
}
fs.writeFileSync(
  path.join(__dirname, 'load_vectors.json'),
  JSON.stringify({ baml_version: version, cases: out }, null, 1) + '\n',
);
const n = out.filter((c) => c.accepted).length;
console.log(`${out.length} cases (${n} accepted, ${out.length - n} rejected) from @boundaryml/baml ${version}`);
