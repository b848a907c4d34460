// Records BAML's own answers for our schema-aligned-parsing cases.
//
//   cd crates/baml_sap/tests/vectors && npm install && node generate.js
//
// Writes baml_vectors.json: each case with `expected` (what @boundaryml/baml's
// parseLlmResponse returned) or `expect_error: true`. Nothing here is guessed.
process.env.BAML_LOG = 'off'
const fs = require('node:fs')
const path = require('node:path')
const { BamlRuntime } = require('@boundaryml/baml/native')

const schemas = {
  none: '',
  cat: 'enum Category {\n  ONE\n  TWO\n  THREE @alias("3rd")\n  HIDDEN @skip\n}',
  color: 'enum Color {\n  Red @alias("crimson")\n  Green\n  Blue @alias("navy blue")\n}',
  person: 'class Person {\n  name string\n  age int?\n  email string @alias("e-mail")\n}',
  point: 'class Point {\n  x float\n  y float\n}',
  wrapper: 'class Point {\n  x float\n  y float\n}\nclass Wrapper {\n  inner Point\n}',
  single: 'class Single {\n  items string[]\n}',
  nested: 'class Item {\n  id int\n  tags string[]\n}\nclass Order {\n  items Item[]\n  total float\n  note string?\n}',
  shape: 'class Circle {\n  kind "circle"\n  radius float\n}\nclass Square {\n  kind "square"\n  side float\n}',
  checked: 'class Score {\n  value int @check(non_negative, {{ this >= 0 }})\n  label string @assert({{ this|length > 0 }})\n}',
  json: 'type JsonValue = int | float | bool | string | null | JsonValue[] | map<string, JsonValue>',
  stream: 'class Story {\n  title string @stream.done\n  body string\n  words int[]\n  author string @stream.not_null\n}',
  state: 'class Task {\n  name string @stream.with_state\n  steps string[]\n}',
  done: 'class Step {\n  n int\n  text string\n  @@stream.done\n}\nclass Plan {\n  steps Step[]\n  summary string?\n}',
  keyed: 'enum Field {\n  Name\n  Email\n}\nclass Form {\n  values map<Field, string>\n}',
}

const cases = []
const add = (group, schema, type, raw, partial = false) => cases.push({ group, schema, type, raw, partial })

// Numbers.
for (const raw of ['42', '-7', '3.7', '3.2', '-4.5', '1e3', '"12"', '12,111', '$1,234.50', '1/5', '45%', 'approximately 42', '  7  ', 'seven', '12 apples', '1, 2, 3', 'null', 'true', '[5]', '{"value": 3}', '**8**', 'The answer is 12.', '0x1A', '1_000', '', '  ']) {
  add('int', 'none', 'int', raw)
  add('float', 'none', 'float', raw)
}
// Booleans.
for (const raw of ['true', 'false', 'True', 'FALSE', '"true"', '**True**', 'yes', 'no', '1', '0', 'The answer is true.', 'It is not false, it is true', 'true or false', 'Answer: false', '[true]', '{"answer": true}', 'maybe']) {
  add('bool', 'none', 'bool', raw)
}
// Strings.
for (const raw of ['hello', '"quoted"', "'single'", '{"a": 1}', '[1, 2]', '42', 'null', 'Null', '```\ncode\n```', '  padded  ', 'multi\nline']) {
  add('string', 'none', 'string', raw)
  add('string?', 'none', 'string?', raw)
}
// Enums.
for (const raw of ['ONE', 'one', 'One', '"TWO"', 'TWO.', '`THREE`', '3rd', '3RD', 'HIDDEN', 'The answer is ONE', 'one or two', '**two** is right, definitely two, not one', 'FOUR', 'ONE\nTWO\nTWO', '["ONE"]', '{"category": "TWO"}', 'category: TWO', 'null']) {
  add('enum', 'cat', 'Category', raw)
}
for (const raw of ['red', 'CRIMSON', 'navy blue', 'Navy-Blue', 'It looks crimson to me', 'green and blue', 'I see Green!']) {
  add('enum-alias', 'color', 'Color', raw)
}
// Literals.
for (const raw of ['"a"', 'a', 'A', 'b', '"c"', 'The answer is b']) add('literal', 'none', '"a" | "b"', raw)
for (const raw of ['1', '2', '"2"', '3', 'two']) add('literal-int', 'none', '1 | 2', raw)
// Lists.
for (const raw of ['[1, 2, 3]', '1', '["1", "2"]', '[1, "x", 3]', '[]', '', 'not a list', '[1, 2, 3,]', '[[1], [2]]', '1, 2, 3', '```json\n[4, 5]\n```', 'Numbers: [6, 7] and [8]']) {
  add('list', 'none', 'int[]', raw)
}
for (const raw of ['[["a"], ["b", "c"]]', '["a"]', 'a', '[["a"], "b"]']) add('list-nested', 'none', 'string[][]', raw)
// Classes.
for (const raw of [
  '{"name": "Ada", "age": 36, "email": "ada@x"}',
  '{"name": "Ada", "e-mail": "ada@x"}',
  '{"Name": "Ada", "EMAIL": "ada@x"}',
  '{"name": "Ada"}',
  '{"name": "Ada", "email": "a", "extra": true}',
  '{"name": 12, "email": "a"}',
  '{"name": "Ada", "age": "36", "email": "a"}',
  '{"name": "Ada", "age": "unknown", "email": "a"}',
  '{name: Ada, email: ada@x}',
  "{'name': 'Ada', 'email': 'a',}",
  'Here you go: {"name": "Ada", "email": "a"} hope it helps',
  '```json\n{"name": "Ada", "email": "a"}\n```',
  '```\n{"name": "Ada", "email": "a"}\n```\n```json\n{"name": "Bob", "email": "b"}\n```',
  '[{"name": "Ada", "email": "a"}]',
  'Ada',
  '{"name": "Ada", "email": null}',
  '{"name": "Ada", "email": "a", "age": 36.6}',
  '{"person": {"name": "Ada", "email": "a"}}',
  '{\n  // comment\n  "name": "Ada", /* inline */ "email": "a"\n}',
  '{"name": "Ada\nLovelace", "email": "a"}',
  '{"name": """Ada""", "email": "a"}',
  '{"name": "Ada "the first" Lovelace", "email": "a"}',
  '{"name": "Ada", "email": "a"} {"name": "Bob", "email": "b"}',
  '{"name": "Ada", "email": "a"',
]) {
  add('class', 'person', 'Person', raw)
}
for (const raw of ['{"x": 1, "y": 2}', '{"x": "1.5", "y": -2}', '{"x": 1}', '[1, 2]', '{"point": {"x": 1, "y": 2}}']) {
  add('class-point', 'point', 'Point', raw)
  add('class-wrapper', 'wrapper', 'Wrapper', raw)
}
for (const raw of ['{"items": ["a", "b"]}', '{"items": "a"}', '["a", "b"]', '{"other": ["a"]}', '"a"', '{"items": []}']) {
  add('class-single', 'single', 'Single', raw)
}
for (const raw of [
  '{"items": [{"id": 1, "tags": ["a"]}, {"id": "2", "tags": "b"}], "total": "19.99"}',
  '{"items": [{"id": 1, "tags": []}, {"id": "x", "tags": []}], "total": 5}',
  '{"items": {"id": 1, "tags": ["a"]}, "total": 1, "note": "fast"}',
  '{"items": [], "total": "$1,200.50"}',
  'Order:\n```json\n{"items": [{"id": 3, "tags": ["z"]}], "total": 3}\n```',
]) {
  add('class-nested', 'nested', 'Order', raw)
}
// Unions.
for (const raw of ['1', '"1"', 'one', '1.5', 'true', '[1]', 'null']) {
  add('union-prim', 'none', 'int | string', raw)
  add('union-opt', 'none', 'int | null', raw)
}
for (const raw of ['{"kind": "circle", "radius": 2}', '{"kind": "square", "side": 3}', '{"radius": 2}', '{"side": 3}', '{"kind": "square", "radius": 2}', '[{"kind": "circle", "radius": 1}, {"kind": "square", "side": 1}]']) {
  add('union-class', 'shape', 'Circle | Square', raw)
  add('union-class-list', 'shape', '(Circle | Square)[]', raw)
}
// Maps.
for (const raw of ['{"a": 1, "b": 2}', '{"a": "1", "b": "x"}', '{}', '[1, 2]', '{a: 1, b: 2,}', '{"a": 1.5}']) add('map', 'none', 'map<string, int>', raw)
for (const raw of ['{"values": {"Name": "Ada", "Email": "a"}}', '{"values": {"name": "Ada", "phone": "1"}}']) add('map-enum', 'keyed', 'Form', raw)
// Recursive alias.
for (const raw of ['{"a": [1, 2, {"b": null}], "c": "x"}', '[1, "two", true, null, 3.5]', 'hello', '42']) add('alias', 'json', 'JsonValue', raw)
// Checks.
for (const raw of ['{"value": 5, "label": "ok"}', '{"value": -5, "label": "ok"}', '{"value": 5, "label": ""}']) add('checks', 'checked', 'Score', raw)
// Markdown and fixing.
for (const raw of [
  '```json\n{"x": 1, "y": 2}\n```',
  '```json\n{"x": 1, "y": 2',
  'text\n```\n{"x": 1, "y": 2}\n```\ntext',
  '```python\nprint(1)\n```\n```json\n{"x": 3, "y": 4}\n```',
  '{"x": 1, "y": 2,}',
  "{'x': 1, 'y': 2}",
  '{x: 1, y: 2}',
  '{"x": 1 "y": 2}',
  '{"x": 1, // one\n "y": 2}',
  '{"x": 1, "y": 2}}',
  'The point is {"x": 1, "y": 2}.',
]) {
  add('fixing', 'point', 'Point', raw)
}
// Partial (streaming).
for (const raw of ['{"x": 1, "y": 2', '{"x": 1.5', '{"x": 1', '{"x"', '{', '', '{"x": 1, "y": 2}']) add('partial-point', 'point', 'Point', raw, true)
for (const raw of ['[1, 2, 3', '[1, 2, 3]', '[1, 2, 3.', '[', '[1, "2']) add('partial-list', 'none', 'int[]', raw, true)
for (const raw of [
  '{"title": "The Sea", "body": "It was a dark', '{"title": "The S', '{"title": "The Sea", "body": "x", "words": [1, 2', '{"title": "The Sea", "body": "x", "author": "Ann"',
  '{"title": "The Sea", "body": "x", "author": "Ann", "words": [3]}', '{"body": "only body"',
]) add('partial-stream', 'stream', 'Story', raw, true)
for (const raw of ['{"name": "Wri', '{"name": "Write", "steps": ["a"', '{"steps": []', '{"name": "Write", "steps": ["a", "b"]}']) add('partial-state', 'state', 'Task', raw, true)
for (const raw of ['{"steps": [{"n": 1, "text": "a"}, {"n": 2, "text": "b', '{"steps": [{"n": 1, "text": "a"}], "summary": "do', '{"steps": [{"n": 1']) add('partial-done', 'done', 'Plan', raw, true)
for (const raw of ['{"name": "Ada", "age": 3', '{"name": "Ad', '{"name": "Ada", "email": "a', '["x"']) add('partial-class', 'person', 'Person', raw, true)
for (const raw of ['ON', 'ONE', 'TW']) add('partial-enum', 'cat', 'Category', raw, true)

function record() {
  const out = []
  for (const [i, c] of cases.entries()) {
    const baml = schemas[c.schema]
    const src = `${baml}\nfunction F() -> ${c.type} {\n  client "openai/gpt-4o"\n  prompt #"x"#\n}\n`
    const rt = BamlRuntime.fromFiles('baml_src', { 'baml_src/main.baml': src }, {})
    const ctx = rt.createContextManager()
    const name = `${c.group}_${String(i).padStart(3, '0')}`
    const vector = { name, source: 'recorded from @boundaryml/baml 0.226.2 parseLlmResponse', baml, output_type: c.type, raw: c.raw }
    if (c.partial) vector.partial = true
    try {
      vector.expected = rt.parseLlmResponse('F', c.raw, c.partial, ctx, null, null, {})
    } catch (e) {
      vector.expect_error = true
    }
    vector.verified = true
    out.push(vector)
  }
  return out
}

const vectors = record()
fs.writeFileSync(path.join(__dirname, 'baml_vectors.json'), JSON.stringify(vectors, null, 2) + '\n')
console.log(`recorded ${vectors.length} vectors (${vectors.filter((v) => v.expect_error).length} errors)`)
