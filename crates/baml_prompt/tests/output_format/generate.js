// Records the text BAML itself renders for `ctx.output_format` in every case below.
//
//   cd crates/baml_prompt/tests/output_format && SCARF_ANALYTICS=false npm install && node generate.js
//
// Writes cases.json: for each case the whole .baml source (a function `F` returning `ret`),
// the keyword arguments given to `ctx.output_format(...)` as JSON (`null`: the bare
// `{{ ctx.output_format }}`), and either `expected` (the text BAML rendered) or `error`
// ({ kind, message }: minijinja's error kind and BAML's message, or kind "panic" where BAML
// 0.226.2 panics instead of reporting: it prints a backtrace for the media cases, expected).
// Nothing here is guessed: run it, read the diff.
process.env.BAML_LOG = 'off'
const fs = require('node:fs')
const path = require('node:path')
const { BamlRuntime } = require('@boundaryml/baml/native')

const CLIENT = `client<llm> OfClient {
  provider openai
  options {
    model "gpt-4o"
    api_key "k"
  }
}
`

// Declarations shared by several cases.
const SCHEMAS = {
  none: '',
  enums: `
enum Color {
  Red
  Green @alias("verde")
  Blue @skip
}
enum Big {
  A
  B
  C
  D
  E
  F
  G
}
enum Six {
  A
  B
  C
  D
  E
  F
}
enum Desc {
  X @description("the x")
  Y @alias("why") @description(#"multi
line"#)
  @@alias("Described")
  @@description("enum level desc")
}
enum Short {
  AB
  CD
}
enum Shorter {
  ABCDEF
  GHIJ
}
enum VeryLongEnumNameXYZ {
  V1
  V2
}
enum AllSkipped {
  A @skip
  B @skip
}
enum EmptyDesc {
  A @description("")
  B
}
`,
  classes: `
enum Color {
  Red
  Green @alias("verde")
  Blue @skip
}
enum Big {
  A
  B
  C
  D
  E
  F
  G
}
class Inner {
  v int @description("inner v")
  c Color
}
class Person {
  name string @alias("full_name") @description("The name")
  age int? @skip
  tags string[]
  inner Inner
  inners Inner[]
  color Color
  colors Color[]
  big Big
  m map<string, Inner>
  @@alias("Human")
  @@description(#"A person
over two lines"#)
}
class Empty {
}
class OnlySkipped {
  a int? @skip
}
class Dyn {
  a int
  @@dynamic
}
class Checked {
  a int @check(pos, {{ this > 0 }})
  b string @assert({{ this|length > 0 }})
  c int @check(pos, {{ this > 0 }}) @description("with check")
}
class Texts {
  a int @description(#"two
lines"#)
  b int @description("  padded  ")
  c int @description("")
  @@description("  one line, padded  ")
}
class BlankDesc {
  a int
  @@description("   ")
}
class Bug {
  description string
  severity string
}
class Enhancement {
  title string
  description string
}
class Issue {
  category Bug | Enhancement
  date string
  many (Bug | Enhancement)[]
}
`,
  order: `
class Z {
  a Y
  b X
  e2 E2
  e3 E3
}
class Y {
  y int
  e3 E3
}
class X {
  x int
}
enum E2 {
  K @description("k")
}
enum E3 {
  M @description("m")
}
`,
  recursive: `
class Node {
  data int
  next Node?
  @@alias("N")
  @@description("a node")
}
class LinkedList {
  head Node?
  len int
}
class Tree {
  kids Forest
  leaf Leaf
}
class Forest {
  trees Tree[]
}
class Leaf {
  v int @description("leaf value")
  @@description("A leaf")
}
class P {
  q Q?
}
class Q {
  p P
  items P[]
}
class Outer {
  z Q
  r P
}
class K1 {
  k3 K3
}
class K2 {
  k1 K1?
}
class K3 {
  k2 K2
}
class Entry {
  k K2
  n Node
}
type RecClass = RC?
class RC {
  next RecClass
  v int
}
`,
  misc: `
class SkippedSelf {
  next SkippedSelf? @skip
  v int
}
class Nulls {
  n null
  l null[]
  m map<string, null>
}
`,
  raw: `
class R {
  a int @description(#"
    first
      indented
    last
  "#)
  b int @description(#"  same line  "#)
  c int @description(#"x
    y"#)
  @@description(#"
      Class level
        more
  "#)
}
enum E {
  V @description(#"
    enum value
    desc
  "#)
}
`,
  aliases: `
type Num = int
type MaybeNum = Num?
type U = int | string
type Opt = U?
type JsonV = int | string | bool | float | null | JsonV[] | map<string, JsonV>
type Tree2 = map<string, Tree2>
type L = L[]
type B1 = A1 | int
type A1 = B1[]
type Wrapper = A1[]
type M1 = map<string, M2> | null
type M2 = M1[] | bool
class Holder {
  j JsonV
  n Num
  m MaybeNum
}
class UseBoth {
  m M2
  a A1
  w Wrapper
}
class Foo {
  j JV
  n int
}
type JV = Foo | JV[]
class Bar {
  k int
}
type JW = map<string, JW> | Bar
class UsesJW {
  w JW
}
`,
}

// [name, schema, return type, kwargs (undefined: the bare `{{ ctx.output_format }}`)]
const CASES = [
  // Primitives and their default prefixes.
  ['int', 'none', 'int'],
  ['int_called_without_args', 'none', 'int', {}],
  ['float', 'none', 'float'],
  ['bool', 'none', 'bool'],
  ['string_renders_nothing', 'none', 'string'],
  ['string_called_without_args', 'none', 'string', {}],
  ['null', 'none', 'null'],
  ['null_optional', 'none', 'null?'],
  ['int_with_check', 'none', 'int @check(pos, {{ this > 0 }})'],
  // Literals.
  ['literal_string', 'none', '"hi"'],
  ['literal_string_escapes', 'none', '"a\\\\b \\"q\\""'],
  ['literal_int', 'none', '1'],
  ['literal_bool', 'none', 'true'],
  ['literal_union_strings', 'none', '"a" | "b"'],
  ['literal_union_ints', 'none', '1 | 2'],
  ['literal_union_bools', 'none', 'true | false'],
  ['literal_union_dedup', 'none', '"a" | "a" | "b"'],
  ['literal_duplicate_collapses', 'none', '"a" | "a"'],
  ['literal_optional', 'none', '"a"?'],
  // Unions and optionals.
  ['optional_int', 'none', 'int?'],
  ['optional_string', 'none', 'string?'],
  ['null_first_union', 'none', 'null | int'],
  ['union_null_in_middle', 'none', 'int | null | string'],
  ['optional_union', 'none', '(int | string)?'],
  ['nested_union_flattens', 'none', 'int | (string | bool)'],
  ['nested_optional_flattens', 'none', '(int | null) | string'],
  ['two_optionals', 'none', 'int? | string?'],
  ['duplicate_union_collapses', 'none', 'int | int'],
  ['duplicate_string_union_renders_nothing', 'none', 'string | string'],
  ['duplicate_with_null', 'none', 'int | (int | null)'],
  ['union_float_int', 'none', 'float | int'],
  ['union_int_list', 'none', 'int | string[]'],
  ['duplicate_lists_collapse', 'none', 'int[] | int[]'],
  // Lists.
  ['list_string', 'none', 'string[]'],
  ['list_int_nested', 'none', 'int[][]'],
  ['list_of_union', 'none', '(int | string)[]'],
  ['list_of_optional', 'none', '(int | null)[]'],
  ['list_of_literal_union', 'none', '("a" | "b")[]'],
  ['list_of_literal_or_null', 'none', '("a" | null)[]'],
  ['list_of_int_or_literal', 'none', '(int | "a")[]'],
  ['list_of_list_of_union', 'none', '(int | bool)[][]'],
  ['list_of_map', 'none', 'map<string, int[]>[]'],
  ['optional_list', 'none', 'int[]?'],
  // Maps.
  ['map_default_angle', 'none', 'map<string, int>'],
  ['map_angle_explicit', 'none', 'map<string, int>', { map_style: 'angle' }],
  ['map_object_style', 'none', 'map<string, int>', { map_style: 'object' }],
  ['map_optional_value', 'none', 'map<string, int?>'],
  ['map_literal_keys', 'none', 'map<"a" | "b", int>'],
  ['map_nested_object_style', 'none', 'map<string, map<string, int[]>>', { map_style: 'object' }],
  ['map_optional', 'none', 'map<string, int>?'],
  // Options on primitives.
  ['prefix_custom', 'none', 'int', { prefix: 'Reply with a number: ' }],
  ['prefix_null', 'none', 'int', { prefix: null }],
  ['prefix_empty', 'none', 'int', { prefix: '' }],
  ['prefix_on_string', 'none', 'string', { prefix: 'x' }],
  ['prefix_null_on_string', 'none', 'string', { prefix: null }],
  ['prefix_empty_on_string', 'none', 'string', { prefix: '' }],
  ['prefix_null_list', 'none', 'string[]', { prefix: null }],
  ['prefix_number', 'none', 'int', { prefix: 1 }],
  ['prefix_float', 'none', 'int | string', { prefix: 1.5 }],
  ['prefix_bool', 'none', 'int', { prefix: true }],
  ['prefix_list', 'none', 'int', { prefix: [1, 'a'] }],
  ['prefix_object', 'none', 'int', { prefix: { a: 1 } }],
  ['or_splitter_pipe', 'none', 'int | string | null', { or_splitter: ' | ' }],
  ['or_splitter_null', 'none', 'int | string', { or_splitter: null }],
  ['or_splitter_list', 'none', 'int | string', { or_splitter: ['a'] }],
  ['or_splitter_number', 'none', 'int | string', { or_splitter: 3 }],
  ['render_null_as_nil', 'none', 'int?', { render_null_as: 'nil' }],
  ['render_null_as_on_null', 'none', 'null', { render_null_as: 'nil' }],
  ['render_null_as_empty', 'none', 'int?', { render_null_as: '' }],
  ['render_null_as_empty_on_null', 'none', 'null', { render_null_as: '' }],
  ['render_null_as_null', 'none', 'int?', { render_null_as: null }],
  ['render_null_as_number', 'none', 'int | null', { render_null_as: 1 }],
  ['null_prefix_null', 'none', 'null', { prefix: null }],
  ['options_do_not_touch_int', 'none', 'int', { or_splitter: ' | ', always_hoist_enums: true, hoist_classes: true, quote_class_fields: true, map_style: 'object', enum_value_prefix: '* ' }],
  // Media is not allowed as an output (BAML 0.226.2 panics while rendering).
  ['media_image', 'none', 'image'],
  ['media_audio_list', 'none', 'audio[]', { prefix: 'x' }],
  ['media_pdf_optional', 'none', 'pdf?'],
  ['media_video_in_map', 'none', 'map<string, video>'],
  // Enums.
  ['enum_alias_and_skip', 'enums', 'Color'],
  ['enum_called_without_args', 'enums', 'Color', {}],
  ['enum_prefix_null', 'enums', 'Color', { prefix: null }],
  ['enum_prefix_custom', 'enums', 'Color', { prefix: 'Pick one:\n' }],
  ['enum_value_prefix_null', 'enums', 'Color', { enum_value_prefix: null }],
  ['enum_value_prefix_custom', 'enums', 'Color', { enum_value_prefix: '* ' }],
  ['enum_value_prefix_empty', 'enums', 'Color', { enum_value_prefix: '' }],
  ['enum_value_prefix_number', 'enums', 'Color', { enum_value_prefix: 7 }],
  ['enum_always_hoisted_target', 'enums', 'Color', { always_hoist_enums: true }],
  ['enum_always_hoist_false', 'enums', 'Color[]', { always_hoist_enums: false }],
  ['enum_seven_values_target', 'enums', 'Big'],
  ['enum_seven_values_prefix_null', 'enums', 'Big', { prefix: null }],
  ['enum_seven_values_prefix_custom', 'enums', 'Big', { prefix: 'Choose:\n', enum_value_prefix: '> ' }],
  ['enum_six_values_inline', 'enums', 'Six[]'],
  ['enum_descriptions_target', 'enums', 'Desc'],
  ['enum_descriptions_list', 'enums', 'Desc[]'],
  ['enum_descriptions_optional', 'enums', 'Desc?'],
  ['enum_empty_description_hoists', 'enums', 'EmptyDesc[]'],
  ['enum_inline_list_long', 'enums', 'Color[]'],
  ['enum_inline_list_short', 'enums', 'Short[]'],
  ['enum_inline_list_exactly_16', 'enums', 'Shorter[]'],
  ['enum_inline_list_short_pipe', 'enums', 'Short[]', { or_splitter: ' | ' }],
  ['enum_hoisted_list_long_name', 'enums', 'VeryLongEnumNameXYZ[]', { always_hoist_enums: true }],
  ['enum_hoisted_list', 'enums', 'Short[]', { always_hoist_enums: true }],
  ['enum_optional_inline', 'enums', 'Color?'],
  ['enum_union_inline_and_hoisted', 'enums', 'Color | Big'],
  ['enum_union_always_hoist', 'enums', 'Color | Short', { always_hoist_enums: true, enum_value_prefix: null }],
  ['enum_map_key', 'enums', 'map<Color, int>'],
  ['enum_map_key_hoisted', 'enums', 'map<Desc, Short>'],
  ['enum_all_values_skipped', 'enums', 'AllSkipped'],
  ['enum_duplicate_union', 'enums', 'Short | Short'],
  ['enum_with_literal_list', 'enums', '(Short | "x")[]'],
  // Classes.
  ['class_nested', 'classes', 'Person'],
  ['class_called_without_args', 'classes', 'Person', {}],
  ['class_quote_fields', 'classes', 'Person', { quote_class_fields: true }],
  ['class_quote_fields_false', 'classes', 'Inner', { quote_class_fields: false }],
  ['class_prefix_null', 'classes', 'Inner', { prefix: null }],
  ['class_prefix_custom', 'classes', 'Inner', { prefix: 'JSON please:\n' }],
  ['class_hoist_all', 'classes', 'Person', { hoist_classes: true }],
  ['class_hoist_false', 'classes', 'Inner', { hoist_classes: false }],
  ['class_hoist_auto', 'classes', 'Inner', { hoist_classes: 'auto' }],
  ['class_hoist_subset', 'classes', 'Person', { hoist_classes: ['Inner'] }],
  ['class_hoist_subset_target', 'classes', 'Person', { hoist_classes: ['Person'] }],
  ['class_hoist_subset_empty', 'classes', 'Inner', { hoist_classes: [] }],
  ['class_hoist_subset_duplicates', 'classes', 'Person', { hoist_classes: ['Inner', 'Inner'] }],
  ['class_hoist_unknown', 'classes', 'Person', { hoist_classes: ['Nope'] }],
  ['class_hoist_unknown_two', 'classes', 'Person', { hoist_classes: ['Inner', 'Nope', 'Human'] }],
  ['class_hoist_unreachable', 'classes', 'Inner', { hoist_classes: ['Person'] }],
  ['class_hoist_number_name', 'classes', 'Inner', { hoist_classes: [1] }],
  ['class_hoisted_prefix_without_hoisting', 'classes', 'Inner', { hoisted_class_prefix: 'interface' }],
  ['class_hoisted_prefix_with_hoisting', 'classes', 'Person', { hoist_classes: true, hoisted_class_prefix: 'interface' }],
  ['class_hoisted_prefix_empty', 'classes', 'Inner', { hoist_classes: true, hoisted_class_prefix: '' }],
  ['class_hoisted_prefix_null', 'classes', 'Inner', { hoist_classes: true, hoisted_class_prefix: null }],
  ['class_hoist_and_enums', 'classes', 'Person', { hoist_classes: true, always_hoist_enums: true }],
  ['class_hoist_quote_map_object', 'classes', 'Person', { hoist_classes: ['Inner'], quote_class_fields: true, map_style: 'object' }],
  ['class_hoist_prefix_null', 'classes', 'Inner', { hoist_classes: true, prefix: null }],
  ['class_always_hoist_enums', 'classes', 'Inner', { always_hoist_enums: true }],
  ['class_or_splitter', 'classes', 'Inner', { or_splitter: ' | ' }],
  ['class_empty', 'classes', 'Empty'],
  ['class_empty_list', 'classes', 'Empty[]'],
  ['class_only_skipped_fields', 'classes', 'OnlySkipped'],
  ['class_dynamic', 'classes', 'Dyn'],
  ['class_checks_not_shown', 'classes', 'Checked'],
  ['class_checks_list', 'classes', 'Checked[]'],
  ['class_description_texts', 'classes', 'Texts'],
  ['class_blank_description', 'classes', 'BlankDesc'],
  ['class_description_nested', 'classes', 'Inner[]'],
  ['class_optional', 'classes', 'Inner?'],
  ['class_optional_hoisted', 'classes', 'Inner?', { hoist_classes: true, hoisted_class_prefix: 'type' }],
  ['class_list_hoisted', 'classes', 'Inner[]', { hoist_classes: true, hoisted_class_prefix: 'type' }],
  ['class_map_value', 'classes', 'map<string, Inner>'],
  ['class_map_value_hoisted', 'classes', 'map<Color, Inner>', { hoist_classes: true }],
  ['class_union_top', 'classes', 'Bug | Enhancement'],
  ['class_union_hoisted', 'classes', 'Bug | Enhancement', { hoist_classes: true, hoisted_class_prefix: 'type' }],
  ['class_union_nested', 'classes', 'Issue'],
  ['class_union_list_quoted', 'classes', 'Issue', { quote_class_fields: true, or_splitter: ' | ' }],
  ['class_union_with_int_list', 'classes', '(Inner | int)[]'],
  ['class_union_with_null_list', 'classes', '(Inner | null)[]'],
  ['class_union_with_enum_list', 'classes', '(Inner | Color)[]'],
  ['class_list_list', 'classes', 'Inner[][]'],
  ['class_union_list_or_class', 'classes', 'Inner | Inner[]'],
  ['class_duplicate_union', 'classes', 'Inner | Inner'],
  ['class_map_of_lists', 'classes', 'map<string, Inner[]>'],
  ['class_optional_union', 'classes', '(Bug | Enhancement)?'],
  // Discovery order of classes and enums.
  ['order_hoist_all', 'order', 'Z', { hoist_classes: true }],
  ['order_enums', 'order', 'Z'],
  ['order_subset_given_order', 'order', 'Z', { hoist_classes: ['Y', 'X'] }],
  ['order_union_always_hoist', 'order', 'Z | Y', { always_hoist_enums: true }],
  // Recursive classes are hoisted with their names.
  ['recursive_top', 'recursive', 'Node'],
  ['recursive_nested', 'recursive', 'LinkedList'],
  ['recursive_list', 'recursive', 'Node[]'],
  ['recursive_optional', 'recursive', 'Node?'],
  ['recursive_prefix_null', 'recursive', 'Node', { prefix: null }],
  ['recursive_hoisted_prefix', 'recursive', 'Node', { hoisted_class_prefix: 'type' }],
  ['recursive_subset_including_recursive', 'recursive', 'LinkedList', { hoist_classes: ['Node'] }],
  ['recursive_hoist_all', 'recursive', 'LinkedList', { hoist_classes: true }],
  ['recursive_mutual', 'recursive', 'Tree'],
  ['recursive_mutual_second', 'recursive', 'Forest'],
  ['recursive_mutual_hoist_all', 'recursive', 'Tree', { hoist_classes: true }],
  ['recursive_entered_from_outside', 'recursive', 'Outer'],
  ['recursive_entered_from_outside_hoist_all', 'recursive', 'Outer', { hoist_classes: true }],
  ['recursive_cycle_rotation', 'recursive', 'Entry'],
  ['recursive_cycle_rotation_hoist_all', 'recursive', 'Entry', { hoist_classes: true }],
  ['recursive_union', 'recursive', 'Leaf | Node'],
  ['recursive_through_alias', 'recursive', 'RecClass'],
  ['recursive_through_alias_class', 'recursive', 'RC'],
  ['recursive_quote_fields', 'recursive', 'P', { quote_class_fields: true, hoisted_class_prefix: 'class' }],
  ['null_list', 'none', 'null[]'],
  ['null_map_value', 'none', 'map<string, null>'],
  ['class_null_fields', 'misc', 'Nulls'],
  ['class_null_fields_render_null_as', 'misc', 'Nulls', { render_null_as: 'None' }],
  ['recursive_only_through_skipped_field', 'misc', 'SkippedSelf'],
  ['raw_string_descriptions', 'raw', 'R'],
  ['raw_string_enum_description', 'raw', 'E'],
  // Type aliases.
  ['alias_simple', 'aliases', 'Num'],
  ['alias_optional_chain', 'aliases', 'MaybeNum'],
  ['alias_union_flattens', 'aliases', 'U | bool'],
  ['alias_optional_union', 'aliases', 'Opt'],
  ['alias_optional_of_alias', 'aliases', 'U?'],
  ['alias_list_of_optional_union', 'aliases', 'Opt[]'],
  ['alias_dedups_with_target', 'aliases', 'Num | int'],
  ['alias_recursive_json', 'aliases', 'JsonV'],
  ['alias_recursive_json_prefix', 'aliases', 'JsonV', { hoisted_class_prefix: 'type' }],
  ['alias_recursive_json_prefix_null', 'aliases', 'JsonV', { prefix: null, or_splitter: ' | ', map_style: 'object' }],
  ['alias_recursive_in_class', 'aliases', 'Holder'],
  ['alias_recursive_in_class_prefix', 'aliases', 'Holder', { hoisted_class_prefix: 'type', render_null_as: 'nil' }],
  ['alias_recursive_map', 'aliases', 'Tree2'],
  ['alias_recursive_list_only', 'aliases', 'L'],
  ['alias_recursive_list_of', 'aliases', 'JsonV[]'],
  ['alias_recursive_map_list', 'aliases', 'Tree2[]'],
  ['alias_recursive_union', 'aliases', 'JsonV | Num'],
  ['alias_recursive_map_value', 'aliases', 'map<string, JsonV>'],
  ['alias_recursive_optional', 'aliases', 'JsonV?'],
  ['alias_mutual', 'aliases', 'A1'],
  ['alias_mutual_second', 'aliases', 'B1'],
  ['alias_wrapping_recursive', 'aliases', 'Wrapper'],
  ['alias_two_cycles', 'aliases', 'UseBoth'],
  ['alias_cycle_with_null', 'aliases', 'M1'],
  ['alias_recursive_with_class', 'aliases', 'Foo'],
  ['alias_recursive_with_class_target', 'aliases', 'JV'],
  ['alias_recursive_containing_class', 'aliases', 'UsesJW'],
  ['alias_recursive_containing_class_hoisted', 'aliases', 'UsesJW', { hoist_classes: true }],
  ['alias_recursive_containing_class_target', 'aliases', 'JW'],
  // Bad options.
  ['error_unknown_option', 'none', 'int', { foo: 1 }],
  ['error_unknown_after_valid', 'none', 'int', { prefix: 'a', foo: 2 }],
  ['error_always_hoist_enums_number', 'none', 'int', { always_hoist_enums: 1 }],
  ['error_always_hoist_enums_string', 'none', 'int', { always_hoist_enums: 'true' }],
  ['error_always_hoist_enums_null', 'none', 'int', { always_hoist_enums: null }],
  ['error_quote_class_fields_null', 'none', 'int', { quote_class_fields: null }],
  ['error_quote_class_fields_string', 'none', 'int', { quote_class_fields: 'yes' }],
  ['error_map_style_unknown', 'none', 'int', { map_style: 'curly' }],
  ['error_map_style_number', 'none', 'int', { map_style: 1 }],
  ['error_map_style_null', 'none', 'int', { map_style: null }],
  ['error_hoist_classes_number', 'none', 'int', { hoist_classes: 1 }],
  ['error_hoist_classes_null', 'none', 'int', { hoist_classes: null }],
  ['error_hoist_classes_string', 'none', 'int', { hoist_classes: 'all' }],
  ['error_hoist_classes_auto_uppercase', 'none', 'int', { hoist_classes: 'AUTO' }],
  ['error_hoist_classes_object', 'none', 'int', { hoist_classes: { a: 1 } }],
  ['error_first_bad_option_wins', 'none', 'int', { map_style: 'x', always_hoist_enums: 1 }],
  ['error_map_style_before_quote', 'none', 'int', { quote_class_fields: 1, map_style: 'x' }],
  ['error_bad_value_before_unknown', 'none', 'int', { foo: 1, quote_class_fields: 'no' }],
  ['error_hoist_unknown_on_primitive', 'none', 'int', { hoist_classes: ['Foo', 'Bar'] }],
]

// A JSON value as a Jinja expression.
function jinja(v) {
  if (v === null) return 'none'
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return `[${v.map(jinja).join(', ')}]`
  return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${jinja(x)}`).join(', ')}}`
}

function source(schema, ret, kwargs) {
  const call = kwargs === undefined
    ? 'ctx.output_format'
    : `ctx.output_format(${Object.entries(kwargs).map(([k, v]) => `${k}=${jinja(v)}`).join(', ')})`
  // The markers keep BAML's prompt whitespace handling away from the rendered text.
  return `${CLIENT}${SCHEMAS[schema]}
function F() -> ${ret} {
  client OfClient
  prompt #"BEGIN{{ ${call} }}END"#
}
`
}

async function record([name, schema, ret, kwargs]) {
  const src = source(schema, ret, kwargs)
  const out = { name, source: src, kwargs: kwargs === undefined ? null : kwargs }
  const rt = BamlRuntime.fromFiles('baml_src', { 'baml_src/main.baml': src }, {})
  try {
    const req = await rt.buildRequest('F', {}, rt.createContextManager(), null, null, false, {})
    const text = req.body.json().messages[0].content[0].text
    if (!text.startsWith('BEGIN') || !text.endsWith('END')) throw new Error(`${name}: markers lost: ${text}`)
    out.expected = text.slice('BEGIN'.length, -'END'.length)
  } catch (e) {
    const msg = String(e.message)
    const m = /Error occurred while rendering prompt: ([a-z ]+): ([\s\S]*?) \(in prompt:1\)/.exec(msg)
    if (m) out.error = { kind: m[1], message: m[2] }
    else if (msg.includes('Panic in async function')) out.error = { kind: 'panic', message: 'Panic in async function' }
    else throw new Error(`${name}: unexpected failure: ${msg}`)
  }
  return out
}

async function main() {
  const names = new Set()
  const cases = []
  for (const c of CASES) {
    if (names.has(c[0])) throw new Error(`duplicate case ${c[0]}`)
    names.add(c[0])
    cases.push(await record(c))
  }
  fs.writeFileSync(path.join(__dirname, 'cases.json'), `${JSON.stringify(cases, null, 2)}\n`)
  const errors = cases.filter((c) => c.error).length
  process.stderr.write(`wrote ${cases.length} cases (${errors} errors) to cases.json\n`)
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`)
  process.exit(1)
})
