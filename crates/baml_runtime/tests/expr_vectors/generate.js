// Records what @boundaryml/baml's VM returns for expression functions: each case is a body, the
// function's signature and arguments; the result (or BAML's error) goes to expr_vectors.json.
// Each case runs in a child process: BAML's compiler aborts the process on some inputs.
//
//   cd crates/baml_runtime/tests/expr_vectors && npm install && node generate.js
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const PRELUDE = `
class Box {
  w int
  function area(self) -> int {
    self.w * self.w
  }
}
class Pair {
  a int
  b string
}
`

// [name, signature, body, args]
const CASES = [
  ['add', '(a: int, b: int) -> int', 'a + b', { a: 2, b: 3 }],
  ['sub_negative', '(a: int, b: int) -> int', 'a - b', { a: 2, b: 5 }],
  ['mul', '(a: int, b: int) -> int', 'a * b', { a: -4, b: 6 }],
  ['div_trunc', '(a: int, b: int) -> int', 'a / b', { a: 7, b: 2 }],
  ['div_neg_trunc', '(a: int, b: int) -> int', 'a / b', { a: -7, b: 2 }],
  ['rem_neg', '(a: int, b: int) -> int', 'a % b', { a: -7, b: 3 }],
  ['rem_pos', '(a: int, b: int) -> int', 'a % b', { a: 7, b: -3 }],
  ['float_add', '(a: float, b: float) -> float', 'a + b', { a: 1.5, b: 2.25 }],
  ['float_div', '(a: float, b: float) -> float', 'a / b', { a: 7.5, b: 2.5 }],
  ['precedence', '(a: int) -> int', 'a + 2 * 3 - 4 / 2', { a: 1 }],
  ['parens', '(a: int) -> int', '(a + 2) * 3', { a: 1 }],
  ['unary_minus', '(a: int) -> int', '-a + 1', { a: 5 }],
  ['not', '(a: bool) -> bool', '!a', { a: true }],
  ['and_or', '(a: bool, b: bool) -> bool', 'a && !b || false', { a: true, b: false }],
  ['compare_lt', '(a: int, b: int) -> bool', 'a < b', { a: 1, b: 2 }],
  ['compare_ge', '(a: int, b: int) -> bool', 'a >= b', { a: 2, b: 2 }],
  ['eq_ints', '(a: int, b: int) -> bool', 'a == b', { a: 3, b: 3 }],
  ['neq_strings', '(a: string, b: string) -> bool', 'a != b', { a: 'x', b: 'y' }],
  ['eq_strings', '(a: string, b: string) -> bool', 'a == b', { a: 'x', b: 'x' }],
  ['concat', '(a: string, b: string) -> string', 'a + b', { a: 'foo', b: 'bar' }],
  ['concat_three', '(a: string) -> string', 'a + "-" + a', { a: 'x' }],
  ['let_chain', '(a: int) -> int', 'let b = a * 2;\n  let c = b + 1;\n  c', { a: 4 }],
  ['reassign', '(a: int) -> int', 'let b = a;\n  b = b + 10;\n  b', { a: 4 }],
  ['plus_eq', '(a: int) -> int', 'let b = a;\n  b += 3;\n  b -= 1;\n  b *= 2;\n  b', { a: 4 }],
  ['if_else', '(a: int) -> string', 'if (a > 0) { "pos" } else { "neg" }', { a: -1 }],
  ['if_else_if', '(a: int) -> string', 'if (a > 10) { "big" } else if (a > 0) { "small" } else { "none" }', { a: 5 }],
  ['early_return', '(a: int) -> int', 'if (a > 2) { return 100; }\n  a', { a: 5 }],
  ['no_early_return', '(a: int) -> int', 'if (a > 2) { return 100; }\n  a', { a: 1 }],
  ['for_sum', '(xs: int[]) -> int', 'let s = 0;\n  for (let x in xs) {\n    s += x;\n  }\n  s', { xs: [1, 2, 3, 4] }],
  ['for_empty', '(xs: int[]) -> int', 'let s = 7;\n  for (let x in xs) {\n    s += x;\n  }\n  s', { xs: [] }],
  ['for_break', '(xs: int[]) -> int', 'let s = 0;\n  for (let x in xs) {\n    if (x > 2) { break; }\n    s += x;\n  }\n  s', { xs: [1, 2, 3, 4] }],
  ['for_continue', '(xs: int[]) -> int', 'let s = 0;\n  for (let x in xs) {\n    if (x == 2) { continue; }\n    s += x;\n  }\n  s', { xs: [1, 2, 3] }],
  ['while_count', '() -> int', 'let i = 0;\n  while (i < 5) { i += 1; }\n  i', {}],
  ['while_break', '() -> int', 'let i = 0;\n  while (true) {\n    i += 1;\n    if (i == 3) { break; }\n  }\n  i', {}],
  ['list_literal', '(a: int) -> int[]', '[a, a + 1, a * 2]', { a: 3 }],
  ['list_index', '(xs: int[]) -> int', 'xs[1]', { xs: [5, 6, 7] }],
  ['list_length', '(xs: int[]) -> int', 'xs.length()', { xs: [5, 6, 7] }],
  ['class_new', '(w: int) -> Box', 'Box { w: w }', { w: 3 }],
  ['class_field', '(w: int) -> int', 'let b = Box { w: w };\n  b.w + 1', { w: 3 }],
  ['class_method', '(w: int) -> int', 'let b = Box { w: w };\n  b.area()', { w: 4 }],
  ['class_field_assign', '(w: int) -> Box', 'let b = Box { w: w };\n  b.w = 9;\n  b', { w: 3 }],
  ['class_two_fields', '(a: int, b: string) -> Pair', 'Pair { a: a * 2, b: b + "!" }', { a: 2, b: 'hi' }],
  ['class_param_field', '(p: Pair) -> string', 'p.b', { p: { a: 1, b: 'x' } }],
  ['nested_block', '(a: int) -> int', 'let b = {\n    let c = a + 1;\n    c * 2\n  };\n  b', { a: 1 }],
  ['call_other', '(a: int) -> int', 'Helper(a) + 1', { a: 2 }],
  ['recursion', '(n: int) -> int', 'if (n <= 1) { 1 } else { n * Self(n - 1) }', { n: 5 }],
  ['div_by_zero', '(a: int, b: int) -> int', 'a / b', { a: 1, b: 0 }],
  ['index_out_of_range', '(xs: int[]) -> int', 'xs[5]', { xs: [1] }],
]

function source(name, sig, body) {
  const fname = `F_${name}`
  const b = body.replace(/\bSelf\(/g, `${fname}(`)
  return `${PRELUDE}\nfunction Helper(x: int) -> int { x * 10 }\n\nfunction ${fname}${sig.startsWith('(') ? sig : '(' + sig}{\n  ${b}\n}\n`.replace(`${fname}${sig}{`, `${fname}${sig} {`)
}

const CHILD = `
process.env.BAML_LOG = 'off'
const { BamlRuntime } = require('@boundaryml/baml/native')
const [src, fn, args] = JSON.parse(process.argv[1])
;(async () => {
  let rt
  try { rt = BamlRuntime.fromFiles('baml_src', { 'main.baml': src }, {}) } catch (e) { console.log(JSON.stringify({ load_error: e.message.split('\\n')[0] })); return }
  try {
    const r = await rt.callFunction(fn, args, rt.createContextManager(), null, null, [], {}, {})
    console.log(JSON.stringify({ expected: r.parsed(false) }))
  } catch (e) { console.log(JSON.stringify({ expected_error: e.message.split('\\n')[0] })) }
})()
`

const out = []
for (const [name, sig, body, args] of CASES) {
  const src = source(name, sig, body)
  const fn = `F_${name}`
  const r = spawnSync(process.execPath, ['-e', CHILD, JSON.stringify([src, fn, args])], { cwd: __dirname, encoding: 'utf8', timeout: 60_000 })
  const line = (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{')).pop()
  const rec = line ? JSON.parse(line) : { crashed: (r.stderr || '').split('\n').find((l) => l.includes('panicked')) || `exit ${r.status}` }
  out.push({ name, source: src, function: fn, args, ...rec })
  console.log(name, JSON.stringify(rec))
}
fs.writeFileSync(path.join(__dirname, 'expr_vectors.json'), `${JSON.stringify(out, null, 1)}\n`)
