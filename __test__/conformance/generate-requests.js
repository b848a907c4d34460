// Records the HTTP requests BAML itself builds for our rendering and provider cases.
//
//   cd __test__/conformance && npm install && node generate-requests.js
//
// Writes requests.baml.json in the format of /work/shared/conformance/requests.json:
// each case with `expected: { url, method, headers, body }` (what @boundaryml/baml's
// buildRequest returned for the first attempt on a fresh runtime) or, where BAML
// refuses, `expected_error` (first line of its message) and `error_phase`
// ("load": fromFiles rejected the source, "request": buildRequest rejected the call).
// Nothing here is guessed. (vertex_no_credentials makes BAML print auth errors
// to stderr even with BAML_LOG=off; they are harmless.)
//
// Media arguments are given as plain objects ({ url } or { base64, media_type }),
// which BAML's native buildRequest accepts as it does BamlImage/BamlAudio.
// Some providers (google-ai, vertex-ai, ...) download URL media while building the
// request: the media URLs point at a loopback server this script starts on
// MEDIA_PORT, serving MEDIA below; a test runner must serve the same bytes there.
process.env.BAML_LOG = 'off'
// Credentials and regions must come from the per-call env only: make sure the
// process environment cannot leak into the recorded requests.
for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE',
  'GOOGLE_APPLICATION_CREDENTIALS', 'GOOGLE_CLOUD_PROJECT', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'GOOGLE_API_KEY', 'GEMINI_API_KEY',
  'AZURE_OPENAI_API_KEY', 'OPENROUTER_API_KEY', 'BOUNDARY_API_KEY']) delete process.env[k]
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const { BamlRuntime } = require('@boundaryml/baml/native')

const MEDIA_PORT = 4019
const MEDIA_BASE = `http://127.0.0.1:${MEDIA_PORT}`
// A 1x1 PNG, a few bytes of "MP3" and a tiny PDF, served with these content types.
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='
const MP3_B64 = 'SUQzBAAAAAAAI1RTU0UAAAAPAAADTGF2ZjU4Ljc2LjEwMAAAAAAAAAAAAAAA'
const MP4_B64 = 'AAAAIGZ0eXBpc29tAAACAGlzb21pc28yYXZjMW1wNDEAAAAIZnJlZQ=='
const PDF_B64 = 'JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK'
const MEDIA = {
  '/cat.png': ['image/png', PNG_B64],
  '/hello.mp3': ['audio/mpeg', MP3_B64],
  '/doc.pdf': ['application/pdf', PDF_B64],
  '/clip.mp4': ['video/mp4', MP4_B64],
}

// ---------------------------------------------------------------------------
// Helpers to write .baml sources.

const env = (name) => ({ $env: name })
// A bare identifier (a client name in a strategy list).
const id = (name) => ({ $id: name })
// Renders a JS value as a BAML client-option value.
function lit(v, indent) {
  const pad = '  '.repeat(indent)
  if (v === null) return 'null'
  if (typeof v === 'object' && v.$env) return `env.${v.$env}`
  if (typeof v === 'object' && v.$id) return v.$id
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return `[${v.map((x) => lit(x, indent)).join(', ')}]`
  if (Object.keys(v).length === 0) return '{}'
  // Keys that are not identifiers (digits first) must be quoted.
  const key = (k) => (/^[A-Za-z_][\w.-]*$/.test(k) ? k : JSON.stringify(k))
  const lines = Object.entries(v).map(([k, x]) => `${pad}  ${key(k)} ${lit(x, indent + 1)}`)
  return `{\n${lines.join('\n')}\n${pad}}`
}
// client<llm> block. `top` holds block-level entries such as retry_policy.
function client(name, provider, options, top = {}) {
  const head = Object.entries(top).map(([k, x]) => `  ${k} ${x}\n`).join('')
  return `client<llm> ${name} {\n  provider ${provider}\n${head}  options ${lit(options, 1)}\n}`
}
const retryPolicy = (name, body) => `retry_policy ${name} {\n${body.map((l) => `  ${l}`).join('\n')}\n}`
const indentPrompt = (p) => p.trim().split('\n').map((l) => (l ? `    ${l}` : '')).join('\n')
const clientName = (block) => [...block.matchAll(/client<llm> (\w+)/g)].map((m) => m[1]).pop()

// Shared clients.
const OPENAI = client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test' })
const ANTHROPIC = client('Claude', 'anthropic', { model: 'claude-3-5-haiku-latest', api_key: 'sk-ant-test' })
const GOOGLE = client('Gemini', 'google-ai', { model: 'gemini-2.0-flash', api_key: 'g-test' })
const GENERIC = client('LocalModel', 'openai-generic', { base_url: 'http://127.0.0.1:4012/v1', model: 'local-1', api_key: 'sk-test' })
const OLLAMA = client('Llama', 'ollama', { model: 'llama3.2' })
const AZURE = client('AzureGpt', 'azure-openai', { resource_name: 'acme', deployment_id: 'gpt-4o', api_version: '2024-06-01', api_key: 'az-test' })
const RESPONSES = client('GptResponses', 'openai-responses', { model: 'gpt-4.1', api_key: 'sk-test' })
const VERTEX = client('VertexGemini', 'vertex-ai', { model: 'gemini-2.0-flash', location: 'us-central1', project_id: 'acme-prod', query_params: { key: 'vx-test' } })
const OPENROUTER = client('Router', 'openrouter', { model: 'openai/gpt-4o-mini', api_key: 'or-test' })
const BEDROCK = client('Bedrock', 'aws-bedrock', { model: 'anthropic.claude-3-haiku-20240307-v1:0', region: 'us-east-1' })
const PROVIDERS = { openai: OPENAI, anthropic: ANTHROPIC, google: GOOGLE, generic: GENERIC, ollama: OLLAMA, azure: AZURE, responses: RESPONSES, vertex: VERTEX, bedrock: BEDROCK }

// Shared declarations.
const S = {
  person: 'class Person {\n  name string\n  age int\n}',
  sentiment: 'enum Sentiment {\n  POSITIVE\n  NEGATIVE\n  NEUTRAL\n}',
  color: 'enum Color {\n  Red @alias("crimson")\n  Green\n  Blue @alias("navy blue") @description("The color of the sea")\n}',
  address: 'class Address {\n  street string\n  city string\n  zip string?\n}',
  ticket: [
    'enum Priority {\n  LOW\n  HIGH @description("Needs action today")\n}',
    'class Assignee {\n  name string\n  email string?\n}',
    'class Ticket {\n  title string\n  priority Priority\n  assignee Assignee\n  labels map<string, string>\n  estimate int | float | null @description("Hours")\n}',
  ].join('\n\n'),
  tree: 'class TreeNode {\n  label string\n  children TreeNode[]\n}',
  json: 'type JsonValue = int | float | bool | string | null | JsonValue[] | map<string, JsonValue>',
}

const cases = []
// One case. `client` is a client block (or several, the last one is used) or a
// quoted shorthand such as '"openai/gpt-4o"'.
function add(name, { decls = '', client: cl = OPENAI, fn = 'Run', params = '', ret = 'string', prompt, args = {}, stream = false, env: e = {}, extra = '' }) {
  const parts = []
  if (decls) parts.push(decls)
  const useClient = cl.startsWith('"') ? cl : clientName(cl)
  if (!cl.startsWith('"')) parts.push(cl)
  if (extra) parts.push(extra)
  parts.push(`function ${fn}(${params}) -> ${ret} {\n  client ${useClient}\n  prompt #"\n${indentPrompt(prompt)}\n  "#\n}`)
  if (cases.some((c) => c.name === name)) throw new Error(`duplicate case ${name}`)
  cases.push({ name, files: { 'main.baml': parts.join('\n\n') + '\n' }, function: fn, args, stream, env: e })
}

// ---------------------------------------------------------------------------
// ctx.output_format for each type shape (default options).

const out = (name, decls, ret, extra = {}) => add(`output_${name}`, {
  decls, ret, fn: 'Extract', params: 'text: string', args: { text: 'Ada Lovelace, 36, wrote the first program.' },
  prompt: 'Extract from the text below.\n{{ text }}\n\n{{ ctx.output_format }}', ...extra,
})
out('string', '', 'string')
out('int', '', 'int')
out('float', '', 'float')
out('bool', '', 'bool')
out('literal_string', '', '"approved"')
out('literal_int', '', '42')
out('literal_bool', '', 'true')
out('literal_union_strings', '', '"low" | "medium" | "high"')
out('literal_union_ints', '', '1 | 2 | 3')
out('literal_union_mixed_kinds', '', '"none" | 0 | false')
out('enum_plain', S.sentiment, 'Sentiment')
out('enum_alias_description_skip', 'enum Category {\n  Refund @alias("money_back") @description("Customer wants money back")\n  Bug @description("Something is broken")\n  Spam @skip\n  Other\n}', 'Category')
out('enum_block_alias', 'enum Tier {\n  FREE\n  PRO @alias("professional")\n  @@alias("PlanTier")\n}', 'Tier')
out('enum_many_values', `enum Country {\n${['US', 'CA', 'MX', 'BR', 'AR', 'GB', 'FR', 'DE', 'IT', 'ES', 'JP', 'CN', 'IN', 'AU', 'NZ'].map((v) => `  ${v}`).join('\n')}\n}`, 'Country')
out('enum_block_description', 'enum Mood {\n  HAPPY\n  SAD\n  @@description("How the writer feels")\n}', 'Mood')
out('class_basic', S.person, 'Person')
out('class_field_alias_description', 'class Profile {\n  full_name string @alias("name") @description("First and last name")\n  years int @alias("age")\n  bio string @description("One sentence")\n}', 'Profile')
out('class_field_skip', 'class Contact {\n  name string\n  internal_id string? @skip\n  phone string?\n}', 'Contact')
out('class_field_skip_required_refused', 'class Contact {\n  name string\n  internal_id string @skip\n}', 'Contact')
out('class_block_alias_description', 'class Invoice {\n  total float\n  currency string\n  @@alias("Bill")\n  @@description("An invoice found in the text")\n}', 'Invoice')
out('class_nested', `${S.address}\n\nclass Company {\n  name string\n  hq Address\n}`, 'Company')
out('class_optional_fields', 'class Event {\n  title string\n  date string?\n  attendees int?\n  notes string[]?\n}', 'Event')
out('class_list_of_classes', 'class LineItem {\n  sku string\n  qty int\n}\n\nclass Order {\n  id string\n  items LineItem[]\n}', 'Order')
out('class_map_string_key', 'class Inventory {\n  warehouse string\n  stock map<string, int>\n}', 'Inventory')
out('class_map_enum_key', `${S.sentiment}\n\nclass Tally {\n  counts map<Sentiment, int>\n}`, 'Tally')
out('class_map_literal_key', 'class Scores {\n  by_level map<"easy" | "hard", float>\n}', 'Scores')
out('class_recursive', S.tree, 'TreeNode')
out('class_mutually_recursive', 'class Folder {\n  name string\n  files File[]\n}\n\nclass File {\n  name string\n  parent Folder?\n}', 'Folder')
out('class_enum_field', `${S.color}\n\nclass Car {\n  model string\n  color Color\n}`, 'Car')
out('class_many_fields', 'class Listing {\n  id string\n  title string\n  price float\n  bedrooms int\n  bathrooms float\n  furnished bool\n  address string\n  tags string[]\n}', 'Listing')
out('class_reused_twice', `${S.address}\n\nclass Employee {\n  name string\n  home Address\n  work Address\n}`, 'Employee')
out('class_dynamic', 'class Attributes {\n  color string\n  @@dynamic\n}', 'Attributes')
out('class_checks_asserts', 'class Rating {\n  stars int @check(in_range, {{ this >= 1 and this <= 5 }})\n  comment string @assert(not_empty, {{ this|length > 0 }})\n}', 'Rating')
out('class_literal_fields', 'class Shape {\n  kind "circle"\n  radius float\n  filled true\n}', 'Shape')
out('class_union_field', 'class Measure {\n  value int | float | string\n  unit "cm" | "in"\n}', 'Measure')
out('class_description_multiline', 'class Recipe {\n  name string @description(#"\n    The dish name.\n    Title case.\n  "#)\n  minutes int\n}', 'Recipe')
out('list_string', '', 'string[]')
out('list_int', '', 'int[]')
out('list_enum', S.sentiment, 'Sentiment[]')
out('list_class', S.person, 'Person[]')
out('list_nested_int', '', 'int[][]')
out('list_union', '', '(int | string)[]')
out('optional_string', '', 'string?')
out('optional_class', S.person, 'Person?')
out('optional_list', '', 'string[]?')
out('union_primitives', '', 'int | string')
out('union_three_primitives', '', 'int | float | bool')
out('union_classes', 'class Email {\n  to string\n  subject string\n}\n\nclass Meeting {\n  title string\n  minutes int\n}', 'Email | Meeting')
out('union_with_null', '', 'string | null')
out('union_class_or_list', S.person, 'Person | Person[]')
out('union_enum_or_string', S.sentiment, 'Sentiment | string')
out('alias_plain', 'type Email = string', 'Email[]')
out('alias_class', `${S.person}\n\ntype Team = Person[]`, 'Team')
out('alias_recursive_json', S.json, 'JsonValue')
out('alias_named_json_refused', 'type Json = string | Json[]', 'Json')
out('alias_with_check', 'type Age = int @check(adult, {{ this >= 18 }})', 'Age')
out('map_top_string_int', '', 'map<string, int>')
out('map_top_string_class', S.person, 'map<string, Person>')
out('map_top_enum_key', S.sentiment, 'map<Sentiment, string>')
out('class_enum_and_class_list_hoisting', `${S.color}\n\n${S.person}\n\nclass Garage {\n  owner Person\n  previous_owners Person[]\n  colors Color[]\n}`, 'Garage')
out('no_output_format_in_prompt', S.person, 'Person', { prompt: 'Extract the person from: {{ text }}' })
out('google_class', S.person, 'Person', { client: GOOGLE })
out('anthropic_enum', S.sentiment, 'Sentiment', { client: ANTHROPIC })

// ---------------------------------------------------------------------------
// ctx.output_format(...) options.

const fmt = (name, call, { decls = S.ticket, ret = 'Ticket' } = {}) => add(`format_${name}`, {
  decls, ret, fn: 'FileTicket', params: 'email: string', args: { email: 'The login page is down again. Sam should look today.' },
  prompt: `Turn this email into a ticket.\n{{ email }}\n\n{{ ${call} }}`,
})
fmt('call_no_options', 'ctx.output_format()')
fmt('prefix_string', 'ctx.output_format(prefix="Reply with JSON like:\\n")')
fmt('prefix_null', 'ctx.output_format(prefix=null)')
fmt('prefix_empty', 'ctx.output_format(prefix="")')
fmt('bad_value_prefix_int', 'ctx.output_format(prefix=1)')
fmt('or_splitter', 'ctx.output_format(or_splitter=" | ")')
fmt('enum_value_prefix_string', 'ctx.output_format(enum_value_prefix="* ")')
fmt('enum_value_prefix_null', 'ctx.output_format(enum_value_prefix=null)')
fmt('always_hoist_enums_true', 'ctx.output_format(always_hoist_enums=true)')
fmt('always_hoist_enums_false', 'ctx.output_format(always_hoist_enums=false)')
fmt('hoist_classes_true', 'ctx.output_format(hoist_classes=true)')
fmt('hoist_classes_false', 'ctx.output_format(hoist_classes=false)')
fmt('hoist_classes_auto', 'ctx.output_format(hoist_classes="auto")')
fmt('hoist_classes_list', 'ctx.output_format(hoist_classes=["Assignee"])')
fmt('hoist_classes_list_unknown_name', 'ctx.output_format(hoist_classes=["Nobody"])')
fmt('hoist_classes_empty_list', 'ctx.output_format(hoist_classes=[])')
fmt('hoisted_class_prefix', 'ctx.output_format(hoist_classes=true, hoisted_class_prefix="type")')
fmt('hoisted_class_prefix_null', 'ctx.output_format(hoist_classes=true, hoisted_class_prefix=null)')
fmt('hoisted_class_prefix_recursive', 'ctx.output_format(hoisted_class_prefix="interface")', { decls: S.tree, ret: 'TreeNode' })
fmt('recursive_default', 'ctx.output_format', { decls: S.tree, ret: 'TreeNode' })
fmt('map_style_angle', 'ctx.output_format(map_style="angle")')
fmt('map_style_object', 'ctx.output_format(map_style="object")')
fmt('quote_class_fields_true', 'ctx.output_format(quote_class_fields=true)')
fmt('quote_class_fields_false', 'ctx.output_format(quote_class_fields=false)')
fmt('render_null_as', 'ctx.output_format(render_null_as="None")')
fmt('combined_all', 'ctx.output_format(prefix="Schema:\\n", or_splitter=" OR ", enum_value_prefix="- ", always_hoist_enums=true, hoist_classes=true, hoisted_class_prefix="class", map_style="object", quote_class_fields=true)')
fmt('combined_prefix_splitter_quote', 'ctx.output_format(prefix=null, or_splitter=" / ", quote_class_fields=true)')
fmt('enum_return_prefix_null', 'ctx.output_format(prefix=null)', { decls: S.color, ret: 'Color' })
fmt('enum_return_value_prefix', 'ctx.output_format(enum_value_prefix="> ", always_hoist_enums=true)', { decls: S.color, ret: 'Color' })
fmt('string_return_with_prefix', 'ctx.output_format(prefix="Answer:")', { decls: '', ret: 'string' })
fmt('int_list_or_splitter', 'ctx.output_format(or_splitter=" either ")', { decls: '', ret: '(int | string)[]' })
const PLAIN_ENUM_CLASS = `${S.sentiment}\n\nclass Review {\n  text string\n  sentiment Sentiment\n  tags Sentiment[]\n}`
fmt('plain_enum_in_class_default', 'ctx.output_format', { decls: PLAIN_ENUM_CLASS, ret: 'Review' })
fmt('plain_enum_in_class_always_hoist_true', 'ctx.output_format(always_hoist_enums=true)', { decls: PLAIN_ENUM_CLASS, ret: 'Review' })
fmt('plain_enum_in_class_always_hoist_false', 'ctx.output_format(always_hoist_enums=false)', { decls: PLAIN_ENUM_CLASS, ret: 'Review' })
const BIG_ENUM_CLASS = `enum Weekday {\n${['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'].map((v) => `  ${v}`).join('\n')}\n}\n\nclass Shift {\n  day Weekday\n  off Weekday[]\n}`
fmt('seven_value_enum_in_class', 'ctx.output_format', { decls: BIG_ENUM_CLASS, ret: 'Shift' })
fmt('seven_value_enum_in_class_always_hoist_false', 'ctx.output_format(always_hoist_enums=false)', { decls: BIG_ENUM_CLASS, ret: 'Shift' })
fmt('map_style_object_enum_key', 'ctx.output_format(map_style="object")', { decls: S.sentiment, ret: 'map<Sentiment, int>' })
fmt('error_unknown_option', 'ctx.output_format(style="xml")')
fmt('error_positional_argument', 'ctx.output_format("json")')
fmt('bad_value_map_style_invalid', 'ctx.output_format(map_style="json")')
fmt('bad_value_hoist_classes_int', 'ctx.output_format(hoist_classes=1)')
fmt('bad_value_always_hoist_enums_string', 'ctx.output_format(always_hoist_enums="yes")')
fmt('bad_value_or_splitter_int', 'ctx.output_format(or_splitter=1)')
fmt('bad_value_enum_value_prefix_bool', 'ctx.output_format(enum_value_prefix=true)')
fmt('bad_value_quote_class_fields_string', 'ctx.output_format(quote_class_fields="yes")')
fmt('bad_value_render_null_as_int', 'ctx.output_format(render_null_as=1)')
fmt('error_method_call', 'ctx.output_format.render()')

// ---------------------------------------------------------------------------
// Roles and messages.

const chat = (name, cl, prompt, extra = {}) => add(`roles_${name}`, { client: cl, fn: 'Chat', params: 'question: string', args: { question: 'What is 2 + 2?' }, prompt, ...extra })
const SYS_USER = '{{ _.role("system") }}\nYou are terse.\n{{ _.role("user") }}\n{{ question }}'
const FEW_SHOT = '{{ _.role("system") }}\nYou are terse.\n{{ _.role("user") }}\nWhat is 1 + 1?\n{{ _.role("assistant") }}\n2\n{{ _.role("user") }}\n{{ question }}'
for (const [p, cl] of Object.entries(PROVIDERS)) chat(`few_shot_${p}`, cl, FEW_SHOT)
chat('cache_control_openai_not_allowed', OPENAI, '{{ _.role("user", cache_control={"type": "ephemeral"}) }}\n{{ question }}')
chat('cache_control_openai_allowed', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', allowed_role_metadata: ['cache_control'] }), '{{ _.role("user", cache_control={"type": "ephemeral"}) }}\n{{ question }}')
chat('cache_control_anthropic_not_allowed', ANTHROPIC, '{{ _.role("system", cache_control={"type": "ephemeral"}) }}\nLong manual text.\n{{ _.role("user") }}\n{{ question }}')
chat('cache_control_anthropic_allowed_assistant', client('Claude', 'anthropic', { model: 'claude-3-5-haiku-latest', api_key: 'sk-ant-test', allowed_role_metadata: ['cache_control'] }), '{{ _.role("user") }}\nHi\n{{ _.role("assistant", cache_control={"type": "ephemeral"}) }}\nHello!\n{{ _.role("user") }}\n{{ question }}')
chat('metadata_all_allowed_google', client('Gemini', 'google-ai', { model: 'gemini-2.0-flash', api_key: 'g-test', allowed_role_metadata: 'all' }), '{{ _.role("user", trace_id="t-9", cache_control={"type": "ephemeral"}) }}\n{{ question }}')
chat('metadata_all_allowed_openai', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', allowed_role_metadata: 'all' }), '{{ _.role("user", trace_id="t-9") }}\n{{ question }}')
chat('chat_helper', OPENAI, '{{ _.chat("system") }}\nYou are terse.\n{{ _.chat("user") }}\n{{ question }}')
chat('role_from_loop', ANTHROPIC, '{% for m in history %}\n{{ _.role(m.role) }}\n{{ m.text }}\n{% endfor %}\n{{ _.role("user") }}\n{{ question }}', {
  decls: 'class Turn {\n  role "user" | "assistant"\n  text string\n}', params: 'history: Turn[], question: string',
  args: { history: [{ role: 'user', text: 'Hi' }, { role: 'assistant', text: 'Hello, how can I help?' }], question: 'What is 2 + 2?' },
})
chat('allowed_roles_openai', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', allowed_roles: ['user', 'assistant'] }), SYS_USER)
chat('allowed_roles_custom_role', client('LocalModel', 'openai-generic', { base_url: 'http://127.0.0.1:4012/v1', model: 'local-1', allowed_roles: ['system', 'user', 'assistant', 'tool'] }), '{{ _.role("tool") }}\nweather: sunny\n{{ _.role("user") }}\n{{ question }}')
chat('role_outside_allowed_openai', OPENAI, '{{ _.role("tool") }}\nweather: sunny\n{{ _.role("user") }}\n{{ question }}')
chat('default_role_openai_user', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', default_role: 'user' }), 'No explicit role here. {{ question }}')
chat('default_role_system_anthropic', client('Claude', 'anthropic', { model: 'claude-3-5-haiku-latest', api_key: 'sk-ant-test', default_role: 'system' }), 'No explicit role here. {{ question }}')
chat('default_role_not_in_allowed', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', default_role: 'critic' }), 'No explicit role here. {{ question }}')
chat('remap_roles_openai', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', remap_roles: { assistant: 'model', system: 'developer' } }), FEW_SHOT)
chat('remap_roles_anthropic', client('Claude', 'anthropic', { model: 'claude-3-5-haiku-latest', api_key: 'sk-ant-test', remap_roles: { assistant: 'bot' } }), FEW_SHOT)
chat('whitespace_only_messages', OPENAI, '{{ _.role("system") }}\n   \n{{ _.role("user") }}\n{{ question }}\n{{ _.role("assistant") }}\n\n')
chat('consecutive_same_role_merge_openai', OPENAI, '{{ _.role("user") }}\nFirst part.\n{{ _.role("user") }}\n{{ question }}')
chat('consecutive_same_role_merge_anthropic', ANTHROPIC, '{{ _.role("user") }}\nFirst part.\n{{ _.role("user") }}\n{{ question }}')
const MULTI_SYS = '{{ _.role("system") }}\nRule one.\n{{ _.role("user") }}\n{{ question }}\n{{ _.role("system") }}\nRule two.\n{{ _.role("user") }}\nAnswer now.'
for (const p of ['openai', 'anthropic', 'google', 'bedrock', 'responses', 'vertex']) chat(`multiple_system_${p}`, PROVIDERS[p], MULTI_SYS)
chat('system_only_anthropic', ANTHROPIC, '{{ _.role("system") }}\n{{ question }}')
chat('system_only_google', GOOGLE, '{{ _.role("system") }}\n{{ question }}')
chat('assistant_first_google', GOOGLE, '{{ _.role("assistant") }}\nI can help.\n{{ _.role("user") }}\n{{ question }}')
chat('no_role_anthropic', ANTHROPIC, '{{ question }}')
chat('no_role_google', GOOGLE, '{{ question }}')
chat('text_before_first_role', OPENAI, 'Preamble text.\n{{ _.role("user") }}\n{{ question }}')

// ---------------------------------------------------------------------------
// Template features.

const tpl = (name, prompt, extra = {}) => add(`template_${name}`, { fn: 'Render', params: 'name: string, items: string[]', args: { name: 'Ada', items: ['tea', 'milk', 'bread'] }, prompt, ...extra })
tpl('template_string_call', 'Greeting: {{ Greet(name) }}', { extra: 'template_string Greet(who: string) #"\n  Hello, {{ who }}!\n"#' })
tpl('template_string_nested', '{{ Letter(name, items) }}', { extra: 'template_string Greet(who: string) #"\n  Dear {{ who }},\n"#\n\ntemplate_string Letter(who: string, things: string[]) #"\n  {{ Greet(who) }}\n  Please buy {{ things | join(", ") }}.\n"#' })
tpl('template_string_with_role', '{{ SystemRules() }}\n{{ _.role("user") }}\n{{ name }}', { extra: 'template_string SystemRules() #"\n  {{ _.role("system") }}\n  Be kind.\n"#' })
tpl('ctx_client', 'Client {{ ctx.client.name }} via {{ ctx.client.provider }}.')
tpl('ctx_client_whole', '{{ ctx.client }}')
tpl('ctx_tags', 'Tags: {{ ctx.tags | length }} {{ ctx.tags["baml.language"] }} {{ ctx.tags["baml.runtime"] is defined }}')
tpl('ctx_keys', '{% for k in ctx %}{{ k }};{% endfor %}')
tpl('loop_index', '{% for it in items %}{{ loop.index }}. {{ it }}\n{% endfor %}')
tpl('loop_index0_first_last_length', '{% for it in items %}{{ loop.index0 }}/{{ loop.length }} {{ it }}{% if loop.first %} (first){% endif %}{% if loop.last %} (last){% endif %}\n{% endfor %}')
tpl('loop_else_empty', '{% for it in items %}{{ it }}{% else %}Nothing to buy.{% endfor %}', { args: { name: 'Ada', items: [] } })
tpl('set_and_if', '{% set count = items | length %}{% if count > 2 %}Many ({{ count }}){% elif count == 1 %}One{% else %}Few{% endif %}')
tpl('comments', 'Hello {# this is hidden #}{{ name }}{# another #}!')
tpl('whitespace_control', 'Items:\n{%- for it in items %}\n  - {{ it -}}\n{% endfor %}\nEnd')
tpl('whitespace_default', 'Items:\n{% for it in items %}\n  - {{ it }}\n{% endfor %}\nEnd')
tpl('macro', '{% macro bullet(x) %}* {{ x }}{% endmacro %}{% for it in items %}{{ bullet(it) }}\n{% endfor %}')
tpl('raw_block', '{% raw %}{{ not rendered }}{% endraw %} {{ name }}')
tpl('filter_length_upper_lower_title', '{{ items | length }} {{ name | upper }} {{ name | lower }} {{ "hello world" | title }} {{ "hello" | capitalize }}')
tpl('filter_join_default', '{{ items | join(", ") }} / {{ missing | default("none") }}', { params: 'name: string, items: string[], missing: string?', args: { name: 'Ada', items: ['tea', 'milk'] } })
tpl('filter_tojson', '{{ items | tojson }}')
tpl('filter_json', '{{ items | json }}')
tpl('filter_format_yaml', '{{ items | format(type="yaml") }}')
tpl('filter_format_json', '{{ items | format(type="json") }}')
tpl('filter_format_toon', '{{ people | format(type="toon") }}', { decls: S.person, params: 'people: Person[]', args: { people: [{ name: 'Ada', age: 36 }, { name: 'Alan', age: 41 }] } })
tpl('filter_format_toml', '{{ items | format(type="toml") }}')
tpl('filter_regex_match', '{% if name | regex_match("^A") %}starts with A{% else %}no{% endif %} {{ "abc" | regex_match("b") }} {{ "abc" | regex_match("^b$") }}')
tpl('filter_sum_round_abs', '{{ nums | sum }} {{ 2.567 | round(1) }} {{ -3 | abs }} {{ nums | max }} {{ nums | min }}', { params: 'nums: float[]', args: { nums: [1.5, 2, 3.25] } })
tpl('filter_first_last_sort_unique_reverse', '{{ items | first }} {{ items | last }} {{ items | sort | join(",") }} {{ ["b", "a", "b"] | unique | join(",") }} {{ items | reverse | join(",") }}')
tpl('filter_trim_replace_int_float_string', '[{{ "  pad  " | trim }}] {{ name | replace("A", "E") }} {{ "42" | int + 1 }} {{ "1.5" | float }} {{ 7 | string }}')
tpl('filter_items_dictsort', '{% for k, v in scores | dictsort %}{{ k }}={{ v }};{% endfor %} {% for k, v in scores | items %}{{ k }}:{{ v }} {% endfor %}', { params: 'scores: map<string, int>', args: { scores: { zeta: 1, alpha: 2, mid: 3 } } })
tpl('filter_batch_slice', '{% for row in items | batch(2) %}{{ row | join("+") }};{% endfor %}')
tpl('filter_safe_escape', '{{ "<b>&</b>" }} {{ "<b>&</b>" | safe }} {{ "<b>" | escape }}')
tpl('operators_concat_in_math', '{{ name ~ "!" }} {{ "tea" in items }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 3 }} {{ 1 / 2 }} {{ 3 * 1.0 }}')
tpl('tests_defined_none', '{{ name is defined }} {{ missing is none }} {{ 4 is even }} {{ name is string }}', { params: 'name: string, missing: string?', args: { name: 'Ada' } })
tpl('string_methods', '{{ name.upper() }} {{ "a,b".split(",") }} {{ "x".startswith("x") }}')
tpl('output_format_twice', '{{ ctx.output_format }}\n---\n{{ ctx.output_format(prefix=null) }}', { decls: S.person, ret: 'Person' })
tpl('undefined_variable_renders_empty', 'Hello {{ nobody }}!')
tpl('undefined_attribute_of_string', 'Hello {{ name.first }}!')
tpl('undefined_variable_in_if', '{% if nobody %}yes{% else %}no{% endif %}')
tpl('error_attribute_of_undefined', 'Hello {{ nobody.first }}')
tpl('error_call_undefined_method', 'Hello {{ name.shout() }}')
tpl('error_undefined_function', 'Hello {{ shout(name) }}')
tpl('error_unknown_filter', 'Hello {{ name | shout }}')
tpl('error_syntax_unclosed_expression', 'Hello {{ name')
tpl('error_syntax_missing_endfor', '{% for it in items %}{{ it }}')
tpl('template_string_missing_argument', '{{ Greet() }}', { extra: 'template_string Greet(who: string) #"\n  Hello, {{ who }}!\n"#' })

// ---------------------------------------------------------------------------
// Argument rendering.

const arg = (name, params, args, prompt, extra = {}) => add(`args_${name}`, { fn: 'Describe', params, args, prompt, ...extra })
arg('string_special_chars', 'text: string', { text: 'Line one\nLine "two" with \'quotes\'\ttab \\ backslash' }, 'Text: {{ text }}')
arg('string_unicode', 'text: string', { text: 'Café ☕ naïve — 日本語 🎉' }, 'Text: {{ text }}')
arg('string_empty', 'text: string', { text: '' }, 'Text: [{{ text }}]')
arg('string_html_chars', 'text: string', { text: '<tag attr="x">&amp;</tag>' }, 'Text: {{ text }}')
arg('ints', 'a: int, b: int, c: int', { a: 0, b: -17, c: 2147483648 }, '{{ a }} {{ b }} {{ c }}')
arg('int_max_safe_integer', 'n: int', { n: 9007199254740991 }, '{{ n }}')
arg('floats_whole_and_fraction', 'a: float, b: float, c: float', { a: 1, b: 1.5, c: 2.0 }, '{{ a }} {{ b }} {{ c }}')
arg('floats_extreme', 'a: float, b: float, c: float, d: float', { a: 1e21, b: 0.1 + 0.2, c: 1e-7, d: -0.5 }, '{{ a }} {{ b }} {{ c }} {{ d }}')
arg('floats_large_precise', 'a: float, b: float', { a: 123456789.123, b: 1e16 }, '{{ a }} {{ b }}')
arg('float_math', 'a: float, b: int', { a: 2.5, b: 2 }, '{{ a * b }} {{ a + b }} {{ b / 2 }}')
arg('bools', 'yes: bool, no: bool', { yes: true, no: false }, '{{ yes }} {{ no }}{% if yes %} ok{% endif %}')
arg('null_explicit', 'note: string?', { note: null }, 'Note: [{{ note }}]')
arg('optional_omitted', 'note: string?', {}, 'Note: [{{ note }}]')
arg('optional_present', 'note: string?', { note: 'hi' }, 'Note: [{{ note }}]')
arg('list_strings', 'items: string[]', { items: ['a', 'b "c"', 'd\ne'] }, '{{ items }}')
arg('list_ints_floats', 'a: int[], b: float[]', { a: [1, 2, 3], b: [1, 2.5] }, '{{ a }} {{ b }}')
arg('list_nested', 'grid: int[][]', { grid: [[1, 2], [3]] }, '{{ grid }}')
arg('list_empty', 'items: string[]', { items: [] }, '[{{ items }}]')
arg('map_string_int', 'm: map<string, int>', { m: { b: 2, a: 1 } }, '{{ m }}')
arg('map_loop_items', 'm: map<string, string>', { m: { red: 'stop', green: 'go' } }, '{% for k, v in m.items() %}{{ k }} -> {{ v }}\n{% endfor %}')
arg('class_whole', 'p: Person', { p: { name: 'Ada', age: 36 } }, '{{ p }}', { decls: S.person })
arg('class_fields', 'p: Person', { p: { name: 'Ada', age: 36 } }, '{{ p.name }} is {{ p.age }}', { decls: S.person })
arg('class_nested', 'c: Company', { c: { name: 'Acme', hq: { street: '1 Main St', city: 'Springfield', zip: null } } }, '{{ c }}\n{{ c.hq.city }}', { decls: `${S.address}\n\nclass Company {\n  name string\n  hq Address\n}` })
arg('class_optional_omitted', 'a: Address', { a: { street: '1 Main St', city: 'Springfield' } }, '{{ a }}', { decls: S.address })
arg('class_field_alias', 'p: Profile', { p: { full_name: 'Ada Lovelace', years: 36 } }, '{{ p }}\n{{ p.full_name }}', { decls: 'class Profile {\n  full_name string @alias("name")\n  years int @alias("age")\n}' })
arg('class_list', 'people: Person[]', { people: [{ name: 'Ada', age: 36 }, { name: 'Alan', age: 41 }] }, '{% for p in people %}- {{ p.name }} ({{ p.age }})\n{% endfor %}{{ people }}', { decls: S.person })
arg('class_format_json', 'p: Person', { p: { name: 'Ada', age: 36 } }, '{{ p | format(type="json") }}', { decls: S.person })
arg('class_format_yaml', 'p: Person', { p: { name: 'Ada', age: 36 } }, '{{ p | format(type="yaml") }}', { decls: S.person })
arg('class_tojson', 'p: Person', { p: { name: 'Ada', age: 36 } }, '{{ p | tojson }}', { decls: S.person })
arg('enum_value_and_alias', 'c: Color, d: Color', { c: 'Red', d: 'Green' }, '{{ c }} {{ d }}{% if c == "Red" %} is red{% endif %}', { decls: S.color })
arg('enum_given_as_alias', 'c: Color', { c: 'crimson' }, '{{ c }}', { decls: S.color })
arg('enum_list', 'cs: Color[]', { cs: ['Blue', 'Green'] }, '{{ cs }}', { decls: S.color })
arg('enum_in_class', 'car: Car', { car: { model: 'Mini', color: 'Blue' } }, '{{ car }} {{ car.color }}', { decls: `${S.color}\n\nclass Car {\n  model string\n  color Color\n}` })
arg('union_string_given', 'v: int | string', { v: '7' }, '{{ v }}')
arg('union_int_given', 'v: int | string', { v: 7 }, '{{ v }}')
arg('literal_arg', 'mode: "fast" | "slow"', { mode: 'fast' }, 'Mode {{ mode }}')
arg('map_enum_key', 'm: map<Color, int>', { m: { Red: 1, Blue: 2 } }, '{{ m }}', { decls: S.color })
arg('alias_json_arg', 'data: JsonValue', { data: { a: [1, 2.5, 'x', null, true], b: { c: {} } } }, '{{ data }}', { decls: S.json })
arg('int_for_float_param', 'x: float', { x: 3 }, '{{ x }}')
arg('class_with_extra_field', 'p: Person', { p: { name: 'Ada', age: 36, nickname: 'Countess' } }, '{{ p }}', { decls: S.person })

// Media arguments, per provider.
const IMG_URL = { url: `${MEDIA_BASE}/cat.png` }
const IMG_URL_TYPED = { url: `${MEDIA_BASE}/cat.png`, media_type: 'image/png' }
const IMG_B64 = { base64: PNG_B64, media_type: 'image/png' }
const AUDIO_URL = { url: `${MEDIA_BASE}/hello.mp3` }
const AUDIO_B64 = { base64: MP3_B64, media_type: 'audio/mpeg' }
const PDF_URL = { url: `${MEDIA_BASE}/doc.pdf` }
const PDF_B64_ARG = { base64: PDF_B64, media_type: 'application/pdf' }
const media = (name, cl, type, value, extra = {}) => add(`media_${name}`, {
  client: cl, fn: 'Caption', params: `file: ${type}`, args: { file: value },
  prompt: '{{ _.role("user") }}\nDescribe this:\n{{ file }}\nKeep it short.', ...extra,
})
for (const [p, cl] of Object.entries(PROVIDERS)) {
  media(`image_url_${p}`, cl, 'image', IMG_URL)
  media(`image_base64_${p}`, cl, 'image', IMG_B64)
}
media('image_url_with_media_type_openai', OPENAI, 'image', IMG_URL_TYPED)
media('image_url_with_media_type_google', GOOGLE, 'image', IMG_URL_TYPED)
for (const p of ['openai', 'google', 'vertex', 'responses', 'anthropic', 'generic']) {
  media(`audio_url_${p}`, PROVIDERS[p], 'audio', AUDIO_URL)
  media(`audio_base64_${p}`, PROVIDERS[p], 'audio', AUDIO_B64)
}
for (const p of ['anthropic', 'openai', 'google']) {
  media(`pdf_url_${p}`, PROVIDERS[p], 'pdf', PDF_URL)
  media(`pdf_base64_${p}`, PROVIDERS[p], 'pdf', PDF_B64_ARG)
}
media('image_list_openai', OPENAI, 'image[]', [IMG_URL, IMG_B64], { prompt: 'Compare:\n{% for f in file %}Image {{ loop.index }}: {{ f }}\n{% endfor %}' })
media('image_in_class_anthropic', ANTHROPIC, 'Photo', { caption: 'My cat', img: IMG_B64 }, { decls: 'class Photo {\n  caption string\n  img image\n}', prompt: '{{ file.caption }}\n{{ file.img }}' })
media('image_in_system_message_openai', OPENAI, 'image', IMG_URL, { prompt: '{{ _.role("system") }}\nReference: {{ file }}\n{{ _.role("user") }}\nWhat is it?' })
media('image_whole_class_openai', OPENAI, 'Photo', { caption: 'My cat', img: IMG_URL }, { decls: 'class Photo {\n  caption string\n  img image\n}', prompt: '{{ file }}' })

// ---------------------------------------------------------------------------
// Providers and client options.

const prov = (name, cl, extra = {}) => add(`provider_${name}`, {
  client: cl, fn: 'Summarize', params: 'text: string', args: { text: 'BAML turns prompts into typed functions.' },
  prompt: '{{ _.role("system") }}\nSummarize in five words.\n{{ _.role("user") }}\n{{ text }}', ...extra,
})
for (const [p, cl] of Object.entries(PROVIDERS)) {
  prov(`${p}_basic`, cl)
  prov(`${p}_stream`, cl, { stream: true })
}
// base_url overrides, with and without a trailing slash.
const baseUrl = {
  openai: (u) => client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', base_url: u }),
  anthropic: (u) => client('Claude', 'anthropic', { model: 'claude-3-5-haiku-latest', api_key: 'sk-ant-test', base_url: u }),
  google: (u) => client('Gemini', 'google-ai', { model: 'gemini-2.0-flash', api_key: 'g-test', base_url: u }),
  generic: (u) => client('LocalModel', 'openai-generic', { base_url: u, model: 'local-1', api_key: 'sk-test' }),
  ollama: (u) => client('Llama', 'ollama', { model: 'llama3.2', base_url: u }),
  azure: (u) => client('AzureGpt', 'azure-openai', { base_url: u, api_version: '2024-06-01', api_key: 'az-test' }),
  responses: (u) => client('GptResponses', 'openai-responses', { model: 'gpt-4.1', api_key: 'sk-test', base_url: u }),
  vertex: (u) => client('VertexGemini', 'vertex-ai', { model: 'gemini-2.0-flash', base_url: u, query_params: { key: 'vx-test' } }),
}
for (const [p, mk] of Object.entries(baseUrl)) {
  prov(`${p}_base_url`, mk('http://127.0.0.1:4010/v1'))
  prov(`${p}_base_url_trailing_slash`, mk('http://127.0.0.1:4010/v1/'))
}
prov('openai_base_url_stream', baseUrl.openai('http://127.0.0.1:4010/v1'), { stream: true })
prov('google_base_url_stream', baseUrl.google('http://127.0.0.1:4010/v1beta'), { stream: true })
// Keys from env, present and missing.
const keyed = {
  openai: client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: env('OPENAI_API_KEY') }),
  anthropic: client('Claude', 'anthropic', { model: 'claude-3-5-haiku-latest', api_key: env('ANTHROPIC_API_KEY') }),
  google: client('Gemini', 'google-ai', { model: 'gemini-2.0-flash', api_key: env('GOOGLE_API_KEY') }),
  azure: client('AzureGpt', 'azure-openai', { resource_name: 'acme', deployment_id: 'gpt-4o', api_version: '2024-06-01', api_key: env('AZURE_OPENAI_API_KEY') }),
  generic: client('LocalModel', 'openai-generic', { base_url: env('LOCAL_BASE_URL'), model: 'local-1', api_key: env('LOCAL_KEY') }),
}
const keyEnv = { openai: 'OPENAI_API_KEY', anthropic: 'ANTHROPIC_API_KEY', google: 'GOOGLE_API_KEY', azure: 'AZURE_OPENAI_API_KEY' }
for (const [p, cl] of Object.entries(keyed)) {
  const e = p === 'generic' ? { LOCAL_BASE_URL: 'http://127.0.0.1:4011/v1', LOCAL_KEY: 'lk-env' } : { [keyEnv[p]]: `${p}-env-key` }
  prov(`${p}_env_key_present`, cl, { env: e })
  prov(`${p}_env_key_missing`, cl, { env: {} })
}
prov('openai_default_key_no_api_key_option', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini' }), { env: { OPENAI_API_KEY: 'sk-from-default-env' } })
prov('anthropic_default_key_no_api_key_option', client('Claude', 'anthropic', { model: 'claude-3-5-haiku-latest' }), { env: { ANTHROPIC_API_KEY: 'sk-ant-from-default-env' } })
prov('google_default_key_no_api_key_option', client('Gemini', 'google-ai', { model: 'gemini-2.0-flash' }), { env: { GOOGLE_API_KEY: 'g-from-default-env' } })
prov('generic_no_api_key', client('LocalModel', 'openai-generic', { base_url: 'http://127.0.0.1:4012/v1', model: 'local-1' }))
prov('generic_no_model', client('LocalModel', 'openai-generic', { base_url: 'http://127.0.0.1:4012/v1' }))
prov('openai_no_model', client('Gpt4oMini', 'openai', { api_key: 'sk-test' }))
// Custom headers.
prov('openai_headers', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', headers: { 'X-Request-Source': 'conformance', 'OpenAI-Organization': 'org-123' } }))
prov('anthropic_headers_override_version', client('Claude', 'anthropic', { model: 'claude-3-5-haiku-latest', api_key: 'sk-ant-test', headers: { 'anthropic-version': '2024-01-01', 'anthropic-beta': 'prompt-caching-2024-07-31' } }))
prov('google_headers', client('Gemini', 'google-ai', { model: 'gemini-2.0-flash', api_key: 'g-test', headers: { 'X-Trace': 'abc' } }))
prov('generic_headers_authorization_override', client('LocalModel', 'openai-generic', { base_url: 'http://127.0.0.1:4012/v1', model: 'local-1', api_key: 'sk-test', headers: { Authorization: 'Token custom' } }))
prov('generic_headers_authorization_without_api_key', client('LocalModel', 'openai-generic', { base_url: 'http://127.0.0.1:4012/v1', model: 'local-1', headers: { Authorization: 'Token custom' } }))
prov('headers_env_value', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', headers: { 'X-Tenant': env('TENANT_ID') } }), { env: { TENANT_ID: 'tenant-42' } })
// Passthrough options.
prov('openai_passthrough', client('Gpt4oMini', 'openai', {
  model: 'gpt-4o-mini', api_key: 'sk-test', temperature: 0.2, top_p: 0.9, max_tokens: 256, stop: ['\n\n', 'END'], seed: 7, presence_penalty: 0, frequency_penalty: -0.5, user: 'u-1',
  response_format: { type: 'json_schema', json_schema: { name: 'summary', strict: true, schema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } } },
  tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }], logit_bias: { '50256': -100 },
}))
prov('openai_max_completion_tokens', client('Gpt4oMini', 'openai', { model: 'o3-mini', api_key: 'sk-test', max_completion_tokens: 1000, reasoning_effort: 'low' }))
prov('openai_temperature_null', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', temperature: null }))
prov('openai_stream_options', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', stream_options: { include_usage: false } }), { stream: true })
prov('anthropic_passthrough', client('Claude', 'anthropic', {
  model: 'claude-3-7-sonnet-latest', api_key: 'sk-ant-test', max_tokens: 2048, temperature: 1, top_k: 40, stop_sequences: ['END'],
  thinking: { type: 'enabled', budget_tokens: 1024 }, metadata: { user_id: 'u-1' },
}))
prov('anthropic_max_tokens_null', client('Claude', 'anthropic', { model: 'claude-3-5-haiku-latest', api_key: 'sk-ant-test', max_tokens: null }))
prov('google_generation_config', client('Gemini', 'google-ai', {
  model: 'gemini-2.0-flash', api_key: 'g-test', generationConfig: { temperature: 0.1, maxOutputTokens: 100, responseMimeType: 'application/json' },
  safetySettings: [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' }],
}))
prov('responses_reasoning', client('GptResponses', 'openai-responses', { model: 'o4-mini', api_key: 'sk-test', reasoning: { effort: 'high', summary: 'auto' }, max_output_tokens: 500, text: { format: { type: 'json_object' } } }))
prov('ollama_options', client('Llama', 'ollama', { model: 'llama3.2', options: { num_ctx: 8192, temperature: 0 }, keep_alive: '5m' }))
prov('generic_arbitrary_options', client('LocalModel', 'openai-generic', { base_url: 'http://127.0.0.1:4012/v1', model: 'local-1', api_key: 'sk-test', repetition_penalty: 1.1, chat_template_kwargs: { enable_thinking: false } }))
prov('azure_max_tokens_null', client('AzureGpt', 'azure-openai', { resource_name: 'acme', deployment_id: 'gpt-4o', api_version: '2024-06-01', api_key: 'az-test', max_tokens: null }))
prov('azure_max_completion_tokens', client('AzureGpt', 'azure-openai', { resource_name: 'acme', deployment_id: 'o3-mini', api_version: '2024-12-01-preview', api_key: 'az-test', max_completion_tokens: 500 }))
prov('azure_no_api_version', client('AzureGpt', 'azure-openai', { resource_name: 'acme', deployment_id: 'gpt-4o', api_key: 'az-test' }))
prov('bedrock_inference_configuration', client('Bedrock', 'aws-bedrock', { model_id: 'anthropic.claude-3-haiku-20240307-v1:0', region: 'us-west-2', inference_configuration: { max_tokens: 100, temperature: 0.5, top_p: 0.9, stop_sequences: ['END'] }, additional_model_request_fields: { top_k: 50 } }))
prov('bedrock_no_region', client('Bedrock', 'aws-bedrock', { model: 'anthropic.claude-3-haiku-20240307-v1:0' }))
prov('bedrock_region_from_env', client('Bedrock', 'aws-bedrock', { model: 'anthropic.claude-3-haiku-20240307-v1:0' }), { env: { AWS_REGION: 'eu-west-1' } })
prov('bedrock_credentials_in_options', client('Bedrock', 'aws-bedrock', { model: 'anthropic.claude-3-haiku-20240307-v1:0', region: 'us-east-1', access_key_id: 'AKIATEST', secret_access_key: 'secret' }))
prov('vertex_no_credentials', client('VertexGemini', 'vertex-ai', { model: 'gemini-2.0-flash', location: 'us-central1', project_id: 'acme-prod' }))
prov('vertex_anthropic_model', client('VertexClaude', 'vertex-ai', { model: 'claude-3-5-sonnet-v2@20241022', location: 'us-east5', project_id: 'acme-prod', query_params: { key: 'vx-test' } }))
prov('vertex_global_location', client('VertexGemini', 'vertex-ai', { model: 'gemini-2.0-flash', location: 'global', project_id: 'acme-prod', query_params: { key: 'vx-test' } }))
prov('openai_query_params', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', query_params: { 'api-version': '1', tenant: 'a b' } }))
// http block, streaming support, finish reasons, default role.
prov('http_block', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', http: { connect_timeout_ms: 5000, request_timeout_ms: 30000 } }))
prov('openai_supports_streaming_false', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', supports_streaming: false }), { stream: true })
prov('anthropic_supports_streaming_false', client('Claude', 'anthropic', { model: 'claude-3-5-haiku-latest', api_key: 'sk-ant-test', supports_streaming: false }), { stream: true })
prov('google_supports_streaming_false', client('Gemini', 'google-ai', { model: 'gemini-2.0-flash', api_key: 'g-test', supports_streaming: false }), { stream: true })
prov('finish_reason_allow_list', client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', finish_reason_allow_list: ['stop'] }))
prov('finish_reason_deny_list', client('Claude', 'anthropic', { model: 'claude-3-5-haiku-latest', api_key: 'sk-ant-test', finish_reason_deny_list: ['max_tokens'] }))
prov('default_role_google_no_roles', client('Gemini', 'google-ai', { model: 'gemini-2.0-flash', api_key: 'g-test', default_role: 'user' }), { prompt: '{{ text }}' })
prov('openai_default_no_roles', OPENAI, { prompt: '{{ text }}' })
// Shorthand clients.
const shorthand = (name, spec, e) => prov(`shorthand_${name}`, `"${spec}"`, { env: e })
shorthand('openai_env_present', 'openai/gpt-4o-mini', { OPENAI_API_KEY: 'sk-env' })
shorthand('openai_env_missing', 'openai/gpt-4o-mini', {})
shorthand('anthropic', 'anthropic/claude-3-5-haiku-latest', { ANTHROPIC_API_KEY: 'sk-ant-env' })
shorthand('anthropic_env_missing', 'anthropic/claude-3-5-haiku-latest', {})
shorthand('google_ai', 'google-ai/gemini-2.0-flash', { GOOGLE_API_KEY: 'g-env', GEMINI_API_KEY: 'gemini-env' })
shorthand('google_ai_gemini_key_only', 'google-ai/gemini-2.0-flash', { GEMINI_API_KEY: 'gemini-env' })
shorthand('openai_responses', 'openai-responses/gpt-4.1', { OPENAI_API_KEY: 'sk-env' })
shorthand('ollama', 'ollama/llama3.2', {})
shorthand('azure_openai', 'azure-openai/gpt-4o', { AZURE_OPENAI_API_KEY: 'az-env' })
shorthand('openai_generic', 'openai-generic/local-1', {})
shorthand('aws_bedrock', 'aws-bedrock/anthropic.claude-3-haiku-20240307-v1:0', { AWS_REGION: 'us-east-1' })
shorthand('unknown_provider', 'mistral/mistral-large', {})
prov('shorthand_openai_stream', '"openai/gpt-4o"', { env: { OPENAI_API_KEY: 'sk-env' }, stream: true })

// ---------------------------------------------------------------------------
// Strategy clients: which request buildRequest builds first.

const strat = (name, blocks, extra = {}) => add(`strategy_${name}`, {
  client: blocks.join('\n\n'), fn: 'Translate', params: 'text: string', args: { text: 'Bonjour' },
  prompt: '{{ _.role("user") }}\nTranslate to English: {{ text }}', ...extra,
})
strat('fallback_openai_first', [OPENAI, ANTHROPIC, client('Resilient', 'fallback', { strategy: [id('Gpt4oMini'), id('Claude')] })])
strat('fallback_anthropic_first', [OPENAI, ANTHROPIC, client('Resilient', 'fallback', { strategy: [id('Claude'), id('Gpt4oMini')] })])
strat('fallback_stream', [OPENAI, GOOGLE, client('Resilient', 'fallback', { strategy: [id('Gemini'), id('Gpt4oMini')] })], { stream: true })
strat('fallback_shorthand_member', [OPENAI, client('Resilient', 'fallback', { strategy: ['anthropic/claude-3-5-haiku-latest', id('Gpt4oMini')] })], { env: { ANTHROPIC_API_KEY: 'sk-ant-env' } })
strat('round_robin_start_0', [OPENAI, ANTHROPIC, client('Spread', 'round-robin', { strategy: [id('Gpt4oMini'), id('Claude')], start: 0 })])
strat('round_robin_start_1', [OPENAI, ANTHROPIC, client('Spread', 'round-robin', { strategy: [id('Gpt4oMini'), id('Claude')], start: 1 })])
strat('round_robin_start_out_of_range', [OPENAI, ANTHROPIC, client('Spread', 'round-robin', { strategy: [id('Gpt4oMini'), id('Claude')], start: 5 })])
strat('round_robin_of_fallbacks', [OPENAI, ANTHROPIC, GOOGLE, client('Primary', 'fallback', { strategy: [id('Claude'), id('Gpt4oMini')] }), client('Spread', 'round-robin', { strategy: [id('Primary'), id('Gemini')], start: 0 })])
strat('retry_policy_constant', [retryPolicy('Thrice', ['max_retries 3', 'strategy {', '  type constant_delay', '  delay_ms 100', '}']), client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test' }, { retry_policy: 'Thrice' })])
strat('retry_policy_exponential_on_fallback', [retryPolicy('Backoff', ['max_retries 2', 'strategy {', '  type exponential_backoff', '  delay_ms 200', '  multiplier 1.5', '  max_delay_ms 10000', '}']), OPENAI, ANTHROPIC, client('Resilient', 'fallback', { strategy: [id('Claude'), id('Gpt4oMini')] }, { retry_policy: 'Backoff' })])
strat('fallback_unknown_member', [OPENAI, client('Resilient', 'fallback', { strategy: [id('Missing'), id('Gpt4oMini')] })])

// ---------------------------------------------------------------------------
// Refusals: argument errors (request phase) and load errors.

const bad = (name, params, args, extra = {}) => add(`error_arg_${name}`, { fn: 'Check', params, args, prompt: 'Check {{ params_dump }}'.replace('{{ params_dump }}', params.split(',').map((p) => `{{ ${p.split(':')[0].trim()} }}`).join(' ')), ...extra })
bad('string_for_int', 'n: int', { n: 'three' })
bad('float_for_int', 'n: int', { n: 1.5 })
bad('string_for_float', 'x: float', { x: '1.5' })
bad('int_for_string', 's: string', { s: 42 })
bad('string_for_bool', 'b: bool', { b: 'true' })
bad('missing_required', 'a: string, b: string', { a: 'x' })
bad('null_for_required', 's: string', { s: null })
bad('extra_argument', 's: string', { s: 'x', t: 'y' })
bad('wrong_class_field_type', 'p: Person', { p: { name: 'Ada', age: 'old' } }, { decls: S.person })
bad('missing_class_field', 'p: Person', { p: { name: 'Ada' } }, { decls: S.person })
bad('wrong_enum_value', 'c: Color', { c: 'Purple' }, { decls: S.color })
bad('enum_wrong_case', 'c: Color', { c: 'red' }, { decls: S.color })
bad('list_for_string', 's: string', { s: ['a'] })
bad('string_for_list', 'xs: string[]', { xs: 'a' })
bad('wrong_list_element', 'xs: int[]', { xs: [1, 'two'] })
bad('wrong_literal', 'mode: "fast" | "slow"', { mode: 'medium' })
bad('string_for_map_value', 'm: map<string, int>', { m: { a: 'x' } }, { prompt: 'Check {{ m }}' })
bad('list_for_map', 'm: map<string, int>', { m: [1] }, { prompt: 'Check {{ m }}' })
bad('string_for_class', 'p: Person', { p: 'Ada' }, { decls: S.person })
bad('union_no_match', 'v: int | bool', { v: 'x' })
bad('string_for_image', 'img: image', { img: 'https://example.com/cat.png' })

const load = (name, src) => cases.push({ name: `error_load_${name}`, files: { 'main.baml': src }, function: 'Run', args: {}, stream: false, env: {} })
const fnRun = (body) => `function Run() -> string {\n${body}\n}\n`
load('unknown_provider', `${client('Model', 'not-a-provider', { model: 'x' })}\n\n${fnRun('  client Model\n  prompt #"hi"#')}`)
load('missing_provider', `client<llm> Model {\n  options {\n    model "x"\n  }\n}\n\n${fnRun('  client Model\n  prompt #"hi"#')}`)
load('unknown_client', fnRun('  client Nowhere\n  prompt #"hi"#'))
load('unknown_type', `${OPENAI}\n\nfunction Run() -> Weather {\n  client Gpt4oMini\n  prompt #"hi"#\n}\n`)
load('missing_prompt', `${OPENAI}\n\n${fnRun('  client Gpt4oMini')}`)
load('duplicate_class', `${S.person}\n\n${S.person}\n\n${OPENAI}\n\n${fnRun('  client Gpt4oMini\n  prompt #"hi"#')}`)
load('prompt_syntax_error', `${OPENAI}\n\n${fnRun('  client Gpt4oMini\n  prompt #"{% for x in %}"#')}`)
load('prompt_unknown_variable', `${OPENAI}\n\n${fnRun('  client Gpt4oMini\n  prompt #"{{ nobody }}"#')}`)
load('strategy_missing', `${client('Resilient', 'fallback', {})}\n\n${fnRun('  client Resilient\n  prompt #"hi"#')}`)
load('retry_policy_unknown', `${client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test' }, { retry_policy: 'Nope' })}\n\n${fnRun('  client Gpt4oMini\n  prompt #"hi"#')}`)
load('check_bad_expression', `class R {\n  n int @check(pos, {{ this > }})\n}\n\n${OPENAI}\n\nfunction Run() -> R {\n  client Gpt4oMini\n  prompt #"hi"#\n}\n`)
load('assert_bad_expression', `class R {\n  n int @assert(pos, {{ this > }})\n}\n\n${OPENAI}\n\nfunction Run() -> R {\n  client Gpt4oMini\n  prompt #"hi"#\n}\n`)
load('class_check_bad_expression', `class R {\n  n int\n  @@check(pos, {{ this.n + }})\n}\n\n${OPENAI}\n\nfunction Run() -> R {\n  client Gpt4oMini\n  prompt #"hi"#\n}\n`)
load('check_unknown_filter', `class R {\n  n int @check(pos, {{ this|nosuchfilter }})\n}\n\n${OPENAI}\n\nfunction Run() -> R {\n  client Gpt4oMini\n  prompt #"hi"#\n}\n`)
load('check_unclosed_paren', `class R {\n  n int @check(pos, {{ (this > 1 }})\n}\n\n${OPENAI}\n\nfunction Run() -> R {\n  client Gpt4oMini\n  prompt #"hi"#\n}\n`)
load('param_assert_bad_expression', `${OPENAI}\n\nfunction Run(n: int @assert(pos, {{ n > > 1 }})) -> string {\n  client Gpt4oMini\n  prompt #"hi"#\n}\n`)
load('alias_assert_bad_expression', `type Pos = int @assert(pos, {{ this >= }})\n\n${OPENAI}\n\nfunction Run() -> Pos {\n  client Gpt4oMini\n  prompt #"hi"#\n}\n`)
load('check_valid_complex', `class R {\n  n int @check(pos, {{ this > 0 and this|string|length < 5 and this in [1, 2, 3] }})\n}\n\n${OPENAI}\n\nfunction Run() -> R {\n  client Gpt4oMini\n  prompt #"hi"#\n}\n`)
load('http_unknown_option', `${client('Gpt4oMini', 'openai', { model: 'gpt-4o-mini', api_key: 'sk-test', http: { bogus_ms: 1 } })}\n\n${fnRun('  client Gpt4oMini\n  prompt #"hi"#')}`)

// ---------------------------------------------------------------------------
// Enum arguments compared with strings in templates.

const TONE = 'enum Tone {\n  RED\n  GREEN @alias("verde")\n  BLUE @description("The sky")\n}'
const enumCmp = (name, params, args, prompt, extra = {}) => add(`enum_cmp_${name}`, { fn: 'Paint', params, args, prompt, decls: TONE, ...extra })
enumCmp('if_eq', 'c: Tone', { c: 'RED' }, "{% if c == 'RED' %}red{% else %}other{% endif %}")
enumCmp('expr_eq_ne', 'c: Tone', { c: 'RED' }, "{{ c == 'RED' }} {{ c != 'RED' }} {{ c == 'BLUE' }} {{ c != 'BLUE' }} {{ 'RED' == c }}")
enumCmp('in_list', 'c: Tone', { c: 'BLUE' }, "{{ c in ['RED', 'BLUE'] }} {{ c in ['GREEN'] }} {{ c in 'XBLUEX' }}")
enumCmp('alias_value', 'c: Tone', { c: 'GREEN' }, "[{{ c }}] {{ c == 'GREEN' }} {{ c == 'verde' }}")
enumCmp('alias_given', 'c: Tone', { c: 'verde' }, "[{{ c }}] {{ c == 'GREEN' }} {{ c == 'verde' }}")
enumCmp('class_field', 'p: Pen', { p: { name: 'fine', tone: 'RED' } }, "{% if p.tone == 'RED' %}red pen{% else %}other pen{% endif %} {{ p.tone != 'RED' }}", { decls: `${TONE}\n\nclass Pen {\n  name string\n  tone Tone\n}` })
enumCmp('list', 'cs: Tone[]', { cs: ['RED', 'BLUE'] }, "{% for x in cs %}{{ x }}={{ x == 'RED' }};{% endfor %} {{ 'RED' in cs }} {{ 'GREEN' in cs }} {{ cs | length }}")
enumCmp('enum_to_enum', 'c: Tone, d: Tone', { c: 'RED', d: 'RED' }, '{{ c == d }} {{ c != d }}')
enumCmp('filters', 'c: Tone', { c: 'BLUE' }, '{{ c | lower }} {{ c ~ "!" }} {{ c | string == "BLUE" }} {{ c | string | length }}')
enumCmp('is_string', 'c: Tone', { c: 'BLUE' }, '{{ c is string }} {{ c is mapping }}')
enumCmp('length_error', 'c: Tone', { c: 'BLUE' }, '{{ c | length }}')
enumCmp('attribute', 'c: Tone', { c: 'BLUE' }, '[{{ c.value }}] [{{ c.name }}]')
enumCmp('compare_lowercase', 'c: Tone', { c: 'BLUE' }, "{{ c == 'blue' }} {{ c == 'BLUE ' }}")
enumCmp('set_and_compare', 'c: Tone', { c: 'BLUE' }, "{% set t = c %}{{ t == 'BLUE' }} {% if c %}truthy{% endif %}")
enumCmp('optional_null', 'c: Tone?', { c: null }, "{{ c == 'RED' }} {{ c is none }}")
enumCmp('dict_lookup', 'c: Tone', { c: 'RED' }, "{{ {'RED': 'stop', 'GREEN': 'go'}[c] }}")
enumCmp('map_enum_key_loop', 'm: map<Tone, int>', { m: { RED: 1, BLUE: 2 } }, "{% for k, v in m|items %}{{ k }}:{{ k == 'RED' }} {% endfor %}")
const ROLE_ENUM = 'enum Speaker {\n  User\n  Bot\n}\n\nclass Msg {\n  speaker Speaker\n  text string\n}'
enumCmp('picks_role', 'history: Msg[]', { history: [{ speaker: 'User', text: 'Hi' }, { speaker: 'Bot', text: 'Hello!' }, { speaker: 'User', text: 'Bye' }] },
  "{% for m in history %}\n{% if m.speaker == 'User' %}\n{{ _.role('user') }}\n{% else %}\n{{ _.role('assistant') }}\n{% endif %}\n{{ m.text }}\n{% endfor %}", { decls: ROLE_ENUM })

enumCmp('template_string_arg', 'c: Tone', { c: 'RED' }, '{{ IsRed(c) }}', { extra: 'template_string IsRed(t: Tone) #"\n  {% if t == \'RED\' %}yes{% else %}no{% endif %}\n"#' })
enumCmp('alias_in_list', 'c: Tone', { c: 'GREEN' }, "{{ c in ['verde'] }} {{ c in ['GREEN'] }} {{ c|string == 'verde' }}")
enumCmp('map_values', 'm: map<string, Tone>', { m: { a: 'RED', b: 'GREEN' } }, "{% for k, v in m|items %}{{ k }}={{ v == 'RED' }};{% endfor %}")
enumCmp('and_or', 'c: Tone, d: Tone', { c: 'RED', d: 'GREEN' }, "{{ c == 'RED' and d != 'BLUE' }} {{ c == 'BLUE' or d == 'GREEN' }} {{ not c == 'RED' }}")
enumCmp('join_and_json', 'cs: Tone[]', { cs: ['RED', 'GREEN'] }, "{{ cs | join(',') }} {{ cs | tojson }} {{ cs | format(type='json') }}")
enumCmp('select_equalto', 'cs: Tone[]', { cs: ['RED', 'GREEN', 'RED'] }, "{{ cs | select('equalto', 'RED') | list | length }}")
enumCmp('in_dict_value', 'c: Tone', { c: 'RED' }, "{% set x = {'c': c} %}{{ x.c == 'RED' }} {{ x['c'] != 'GREEN' }}")
enumCmp('union_with_string', 'v: Tone | string', { v: 'RED' }, "{{ v == 'RED' }} [{{ v }}]")
enumCmp('ordering_error', 'c: Tone', { c: 'RED' }, "{{ c < 'S' }}")
enumCmp('global_enum_type', 'c: Tone', { c: 'RED' }, '{{ c == Tone.RED }}')

// ---------------------------------------------------------------------------
// Whitespace: whitespace-only lines and text around role switches.

const ws = (name, prompt, extra = {}) => add(`ws_${name}`, { fn: 'Echo', params: 'q: string', args: { q: 'Why?' }, prompt, ...extra })
ws('only_spaces_line', 'Line one\n   \nLine two {{ q }}')
ws('only_tab_line', 'Line one\n\t\t\nLine two\n \t \nEnd {{ q }}')
ws('trailing_spaces_kept', 'Line one   \nLine two\t\n{{ q }}')
ws('leading_spaces_kept', '  Line one\n    Line two {{ q }}')
ws('space_line_from_expr', 'A\n{{ "   " }}\nB {{ q }}')
ws('space_line_in_loop', '{% for i in [1, 2] %}\n   \n{{ i }}\n{% endfor %}\n{{ q }}')
ws('role_same_line_text', 'Before{{ _.role("user") }}After {{ q }}')
ws('role_inline_sequence', '{{ _.role("user") }} first {{ _.role("user") }} second {{ q }}')
ws('role_user_twice_no_newline', '{{ _.role("user") }}One{{ _.role("user") }}Two{{ q }}')
ws('role_switch_inline', '{{ _.role("system") }}Be brief.{{ _.role("user") }}{{ q }}{{ _.role("assistant") }}Sure.')
ws('role_text_before_and_after', 'Intro text.\n{{ _.role("user") }}\n{{ q }}\n{{ _.role("user") }}\nMore.')
ws('role_whitespace_part_merge', '{{ _.role("user") }}\nA\n{{ _.role("user") }}\n   \n{{ _.role("user") }}\nB {{ q }}')
ws('role_indented', '  {{ _.role("system") }}\n  Rules here.\n  {{ _.role("user") }}\n  {{ q }}')
ws('role_anthropic_merge', '{{ _.role("user") }}\nFirst.\n{{ _.role("user") }}\nSecond {{ q }}', { client: ANTHROPIC })
ws('role_google_merge', '{{ _.role("user") }}\nFirst.\n{{ _.role("user") }}\nSecond {{ q }}', { client: GOOGLE })

ws('template_string_space_lines', '{{ Block(q) }}', { extra: 'template_string Block(x: string) #"\n  First\n     \n  {{ x }}\n"#' })
ws('space_line_before_role', 'Intro\n    \n{{ _.role("user") }}\n{{ q }}')
ws('space_line_at_edges', '   \nMiddle {{ q }}\n   ')
ws('comment_only_line', 'A\n  {# note #}  \nB {{ q }}')
ws('tabs_inside_text_kept', 'a\tb\n\t\tc {{ q }}')
ws('nbsp_only_line', 'A\n\u00a0\u00a0\nB {{ q }}')

ws('generic_user_twice_inline', '{{ _.role("user") }}One{{ _.role("user") }}Two {{ q }}', { client: GENERIC })
ws('generic_user_twice_lines', '{{ _.role("user") }}\nFirst line.\nSecond line.\n{{ _.role("user") }}\n  Indented {{ q }}', { client: GENERIC })
ws('generic_three_parts', '{{ _.role("user") }}\nA\n{{ _.role("user") }}\nB\n{{ _.role("user") }}\nC {{ q }}', { client: GENERIC })
ws('ollama_user_twice', '{{ _.role("user") }}\nFirst.\n{{ _.role("user") }}\nSecond {{ q }}', { client: OLLAMA })
ws('responses_user_twice', '{{ _.role("user") }}\nFirst.\n{{ _.role("user") }}\nSecond {{ q }}', { client: RESPONSES })
ws('generic_image_between_text', '{{ _.role("user") }}\nBefore {{ img }} after {{ q }}', { client: GENERIC, params: 'q: string, img: image', args: { q: 'Why?', img: IMG_B64 } })
ws('generic_system_then_user_no_roles_allowed', '{{ _.role("system") }}\nS\n{{ _.role("user") }}\nU {{ q }}', { client: client('LocalModel', 'openai-generic', { base_url: 'http://127.0.0.1:4012/v1', model: 'local-1', allowed_roles: ['user', 'assistant'] }) })
ws('role_in_loop_same_role', '{% for i in [1, 2, 3] %}{{ _.role("user") }}item {{ i }}\n{% endfor %}{{ q }}')
ws('role_empty_between', '{{ _.role("user") }}{{ _.role("assistant") }}{{ _.role("user") }}\n{{ q }}')

// ---------------------------------------------------------------------------
// Default role for reasoning models.

const reasoning = (name, cl, prompt = 'Just text {{ q }}') => add(`reasoning_role_${name}`, { client: cl, fn: 'Think', params: 'q: string', args: { q: 'Why?' }, prompt })
const oai = (model, more = {}) => client('Reasoner', 'openai', { model, api_key: 'sk-test', ...more })
reasoning('o1', oai('o1'))
reasoning('o1_mini', oai('o1-mini'))
reasoning('o1_preview', oai('o1-preview'))
reasoning('o3', oai('o3'))
reasoning('o3_mini', oai('o3-mini'))
reasoning('o4_mini', oai('o4-mini'))
reasoning('gpt_5', oai('gpt-5'))
reasoning('o1_dated', oai('o1-2024-12-17'))
reasoning('o1_system_role', oai('o1'), '{{ _.role("system") }}\nRules.\n{{ _.role("user") }}\n{{ q }}')
reasoning('o1_default_role_set', oai('o1', { default_role: 'system' }))
reasoning('o3_mini_shorthand', '"openai/o3-mini"')
reasoning('azure_o1', client('Reasoner', 'azure-openai', { resource_name: 'acme', deployment_id: 'o1', api_version: '2024-12-01-preview', api_key: 'az-test' }))
reasoning('generic_o1', client('Reasoner', 'openai-generic', { base_url: 'http://127.0.0.1:4012/v1', model: 'o1' }))
reasoning('responses_o3', client('Reasoner', 'openai-responses', { model: 'o3', api_key: 'sk-test' }))
reasoning('openai_o1_uppercase', oai('O1-mini'))

reasoning('o1_remap_system', oai('o1', { remap_roles: { system: 'developer' } }), '{{ _.role("system") }}\nRules.\n{{ _.role("user") }}\n{{ q }}')
reasoning('o1_default_assistant', oai('o1', { default_role: 'assistant' }), '{{ _.role("system") }}\nRules.\n{{ _.role("user") }}\n{{ q }}')
reasoning('o1_allowed_roles_with_system', oai('o1', { allowed_roles: ['system', 'user', 'assistant'] }), '{{ _.role("system") }}\nRules.\n{{ _.role("user") }}\n{{ q }}')
reasoning('o1_model_from_env', oai(env('MODEL_NAME')), '{{ _.role("system") }}\nRules.\n{{ _.role("user") }}\n{{ q }}')
reasoning('o1_mini_shorthand_system', '"openai/o1-mini"', '{{ _.role("system") }}\nRules.\n{{ _.role("user") }}\n{{ q }}')
reasoning('o1_ctx_client_default_role', oai('o1'), '{{ ctx.client.default_role }} {{ q }}')
reasoning('o1_in_fallback', [OPENAI, oai('o1-mini'), client('Resilient', 'fallback', { strategy: [id('Reasoner'), id('Gpt4oMini')] })].join('\n\n'), '{{ _.role("system") }}\nRules.\n{{ _.role("user") }}\n{{ q }}')
reasoning('o1_ollama', client('Reasoner', 'ollama', { model: 'o1' }), '{{ _.role("system") }}\nRules.\n{{ _.role("user") }}\n{{ q }}')

// ---------------------------------------------------------------------------
// More media: PDFs for openai-responses, video for google-ai.

const VIDEO_URL = { url: `${MEDIA_BASE}/clip.mp4` }
const VIDEO_URL_TYPED = { url: `${MEDIA_BASE}/clip.mp4`, media_type: 'video/mp4' }
const VIDEO_B64 = { base64: MP4_B64, media_type: 'video/mp4' }
media('pdf_url_responses', RESPONSES, 'pdf', PDF_URL)
media('pdf_base64_responses', RESPONSES, 'pdf', PDF_B64_ARG)
media('pdf_url_typed_responses', RESPONSES, 'pdf', { url: `${MEDIA_BASE}/doc.pdf`, media_type: 'application/pdf' })
media('pdf_list_responses', RESPONSES, 'pdf[]', [PDF_URL, PDF_B64_ARG], { prompt: '{{ _.role("user") }}\n{% for f in file %}{{ f }}\n{% endfor %}' })
media('pdf_url_generic', GENERIC, 'pdf', PDF_URL)
media('video_url_google', GOOGLE, 'video', VIDEO_URL)
media('video_url_typed_google', GOOGLE, 'video', VIDEO_URL_TYPED)
media('video_base64_google', GOOGLE, 'video', VIDEO_B64)
media('video_url_openai', OPENAI, 'video', VIDEO_URL)
media('video_url_anthropic', ANTHROPIC, 'video', VIDEO_URL)
media('video_url_responses', RESPONSES, 'video', VIDEO_URL)
media('audio_url_typed_google', GOOGLE, 'audio', { url: `${MEDIA_BASE}/hello.mp3`, media_type: 'audio/mpeg' })
media('pdf_url_typed_google', GOOGLE, 'pdf', { url: `${MEDIA_BASE}/doc.pdf`, media_type: 'application/pdf' })
media('video_url_odd_type_google', GOOGLE, 'video', { url: `${MEDIA_BASE}/clip.mp4`, media_type: 'video/webm' })
media('video_base64_openai', OPENAI, 'video', VIDEO_B64)
media('video_base64_anthropic', ANTHROPIC, 'video', VIDEO_B64)
media('pdf_base64_typed_responses', RESPONSES, 'pdf', { base64: PDF_B64, media_type: 'application/x-pdf' })
media('pdf_url_ollama', OLLAMA, 'pdf', PDF_URL)
media('pdf_url_openrouter', OPENROUTER, 'pdf', PDF_URL)
media('video_url_youtube_google', GOOGLE, 'video', { url: 'https://www.youtube.com/watch?v=dQw4w9WgXcQ' })

// ---------------------------------------------------------------------------
// Input classes with @@assert / @assert / @check.

const PERSON_ASSERT = 'class Adult {\n  name string\n  age int\n  @@assert(grown_up, {{ this.age >= 18 }})\n}'
const inAssert = (name, params, args, prompt, decls = PERSON_ASSERT) => add(`input_assert_${name}`, { fn: 'Greet', params, args, prompt, decls })
inAssert('class_violated', 'p: Adult', { p: { name: 'Kid', age: 7 } }, 'Hi {{ p.name }}')
inAssert('class_satisfied', 'p: Adult', { p: { name: 'Ada', age: 36 } }, 'Hi {{ p.name }}')
inAssert('field_violated', 'p: Named', { p: { name: '' } }, 'Hi [{{ p.name }}]', 'class Named {\n  name string @assert(not_empty, {{ this|length > 0 }})\n}')
inAssert('field_check_violated', 'p: Named', { p: { name: '' } }, 'Hi [{{ p.name }}]', 'class Named {\n  name string @check(not_empty, {{ this|length > 0 }})\n}')
inAssert('nested_violated', 'f: Family', { f: { head: { name: 'Kid', age: 7 } } }, 'Hi {{ f.head.name }}', `${PERSON_ASSERT}\n\nclass Family {\n  head Adult\n}`)
inAssert('list_one_violated', 'ps: Adult[]', { ps: [{ name: 'Ada', age: 36 }, { name: 'Kid', age: 7 }] }, '{% for p in ps %}{{ p.name }} {% endfor %}')
inAssert('optional_null', 'p: Adult?', { p: null }, 'Hi [{{ p }}]')
inAssert('param_assert_violated', 'n: int @assert(positive, {{ this > 0 }})', { n: -1 }, 'n={{ n }}', '')
inAssert('alias_assert_violated', 'n: PosInt', { n: -1 }, 'n={{ n }}', 'type PosInt = int @assert(positive, {{ this > 0 }})')
inAssert('two_asserts_second_violated', 'p: Adult2', { p: { name: 'Ada', age: 36 } }, 'Hi {{ p.name }}', 'class Adult2 {\n  name string\n  age int\n  @@assert(grown_up, {{ this.age >= 18 }})\n  @@assert(short_name, {{ this.name|length < 3 }})\n}')

inAssert('list_param_assert', 'xs: int[] @assert(nonempty, {{ this|length > 0 }})', { xs: [] }, '{{ xs }}', '')
inAssert('list_param_assert_ok', 'xs: int[] @assert(nonempty, {{ this|length > 0 }})', { xs: [1] }, '{{ xs }}', '')
inAssert('enum_field_compare', 'p: Pen', { p: { tone: 'GREEN' } }, '{{ p.tone }}', `${TONE}\n\nclass Pen {\n  tone Tone\n  @@assert(red_only, {{ this.tone == 'RED' }})\n}`)
inAssert('enum_field_compare_ok', 'p: Pen', { p: { tone: 'RED' } }, '{{ p.tone }}', `${TONE}\n\nclass Pen {\n  tone Tone\n  @@assert(red_only, {{ this.tone == 'RED' }})\n}`)
inAssert('aliased_field', 'p: Prof', { p: { full_name: 'x' } }, '{{ p.full_name }}', 'class Prof {\n  full_name string @alias("name")\n  @@assert(long_name, {{ this.full_name|length > 3 }})\n}')
inAssert('map_of_classes', 'm: map<string, Adult>', { m: { a: { name: 'Kid', age: 7 } } }, '{{ m }}')
inAssert('union_arm', 'v: Adult | string', { v: { name: 'Kid', age: 7 } }, '{{ v }}')
inAssert('optional_present_violated', 'p: Adult?', { p: { name: 'Kid', age: 7 } }, 'Hi [{{ p }}]')
inAssert('unnamed_assert', 'n: int @assert({{ this > 0 }})', { n: 0 }, 'n={{ n }}', '')
inAssert('assert_error_in_expression', 'n: int @assert(weird, {{ this.nope.deeper > 0 }})', { n: 5 }, 'n={{ n }}', '')

// ---------------------------------------------------------------------------
// openrouter and the legacy strategy names.

prov('openrouter_basic', OPENROUTER)
prov('openrouter_stream', OPENROUTER, { stream: true })
prov('openrouter_env_key', client('Router', 'openrouter', { model: 'openai/gpt-4o-mini' }), { env: { OPENROUTER_API_KEY: 'or-env' } })
prov('openrouter_env_key_missing', client('Router', 'openrouter', { model: 'openai/gpt-4o-mini' }), { env: {} })
prov('openrouter_base_url', client('Router', 'openrouter', { model: 'anthropic/claude-3.5-haiku', api_key: 'or-test', base_url: 'http://127.0.0.1:4013/api/v1' }))
prov('openrouter_headers_options', client('Router', 'openrouter', { model: 'openai/gpt-4o-mini', api_key: 'or-test', temperature: 0.3, headers: { 'HTTP-Referer': 'https://example.com', 'X-Title': 'conformance' } }))
prov('openrouter_no_model', client('Router', 'openrouter', { api_key: 'or-test' }))
prov('openrouter_shorthand', '"openrouter/openai/gpt-4o-mini"', { env: { OPENROUTER_API_KEY: 'or-env' } })
prov('openrouter_image', OPENROUTER, { params: 'text: string, img: image', args: { text: 'x', img: IMG_B64 }, prompt: '{{ _.role("user") }}\n{{ text }} {{ img }}' })
prov('openrouter_remap_roles', client('Router', 'openrouter', { model: 'openai/gpt-4o-mini', api_key: 'or-test', remap_roles: { system: 'developer' } }))
prov('openrouter_query_params', client('Router', 'openrouter', { model: 'openai/gpt-4o-mini', api_key: 'or-test', query_params: { tenant: 'a' } }))
prov('openrouter_ctx_client', OPENROUTER, { prompt: '{{ ctx.client.provider }} {{ ctx.client.name }} {{ text }}' })
prov('openrouter_o1_model', client('Router', 'openrouter', { model: 'o1-mini', api_key: 'or-test' }))
strat('baml_fallback_retry_policy', [retryPolicy('Twice', ['max_retries 2']), OPENAI, ANTHROPIC, client('Resilient', 'baml-fallback', { strategy: [id('Claude'), id('Gpt4oMini')] }, { retry_policy: 'Twice' })])
strat('baml_fallback_ctx_client', [OPENAI, ANTHROPIC, client('Resilient', 'baml-fallback', { strategy: [id('Claude'), id('Gpt4oMini')] })], { prompt: '{{ ctx.client.name }} {{ ctx.client.provider }} {{ text }}' })
strat('baml_round_robin_shorthand_members', [client('Spread', 'baml-round-robin', { strategy: ['anthropic/claude-3-5-haiku-latest', 'openai/gpt-4o-mini'], start: 1 })], { env: { OPENAI_API_KEY: 'sk-env' } })
strat('baml_fallback_empty_strategy', [client('Resilient', 'baml-fallback', { strategy: [] })])
strat('baml_fallback', [OPENAI, ANTHROPIC, client('Resilient', 'baml-fallback', { strategy: [id('Claude'), id('Gpt4oMini')] })])
strat('baml_fallback_stream', [OPENAI, ANTHROPIC, client('Resilient', 'baml-fallback', { strategy: [id('Gpt4oMini'), id('Claude')] })], { stream: true })
strat('baml_round_robin_start_0', [OPENAI, ANTHROPIC, client('Spread', 'baml-round-robin', { strategy: [id('Gpt4oMini'), id('Claude')], start: 0 })])
strat('baml_round_robin_start_1', [OPENAI, ANTHROPIC, client('Spread', 'baml-round-robin', { strategy: [id('Gpt4oMini'), id('Claude')], start: 1 })])
strat('baml_fallback_of_openrouter', [OPENROUTER, OPENAI, client('Resilient', 'baml-fallback', { strategy: [id('Router'), id('Gpt4oMini')] })])
strat('baml_round_robin_of_baml_fallback', [OPENAI, ANTHROPIC, client('Primary', 'baml-fallback', { strategy: [id('Claude'), id('Gpt4oMini')] }), client('Spread', 'baml-round-robin', { strategy: [id('Primary'), id('Gpt4oMini')], start: 0 })])

// ---------------------------------------------------------------------------
// format(type="toon").

const TOON_DECLS = `${S.person}\n\nclass Team {\n  name string\n  lead Person\n  members Person[]\n  ids int[]\n}\n\nclass Holder {\n  tags string[]\n  n int\n}\n\n${S.color}\n\nclass Aliased {\n  full_name string @alias("name")\n  years int\n}`
const toon = (name, params, x) => add(`toon_${name}`, { fn: 'Show', params, args: { x }, decls: TOON_DECLS, prompt: '{{ x | format(type="toon") }}' })
toon('strings_quoting', 'x: string[]', ['a', 'b c', 'd,e', '', 'true', '12', ' pad', 'x:y', 'q"t', '-dash', 'null', '1.5e3', '05', '- x', '-'])
toon('numbers', 'x: float[]', [1.5, 2, 1e21, -0.0, 1e-7, 123456789.125])
toon('empty_list', 'x: string[]', [])
toon('map_keys', 'x: map<string, string>', { b: 'two', a: 'one', 'k k': 'v', 'c:d': 'e', _x: 'u', 'a.b': 'dot', '1st': 'n' })
toon('map_of_lists', 'x: map<string, string[]>', { tags: ['a', 'b'], none: [] })
toon('class_nested', 'x: Team', { name: 'A', lead: { name: 'Ada', age: 36 }, members: [{ name: 'Ada', age: 36 }, { name: 'Alan', age: 41 }], ids: [1, 2] })
toon('non_uniform_objects', 'x: map<string, int>[]', [{ a: 1 }, { b: 2 }])
toon('list_of_lists', 'x: int[][]', [[1, 2], [3]])
toon('scalars', 'x: string', 'hello, world')
toon('objects_with_lists', 'x: Holder[]', [{ tags: ['a'], n: 1 }, { tags: [], n: 2 }])
toon('escapes', 'x: string[]', ['café', 'a\nb', 'tab\t', '#hash', '[x]', '{y}', 'back\\slash'])
toon('class_alias', 'x: Aliased', { full_name: 'A', years: 3 })
toon('enum_list', 'x: Color[]', ['Red', 'Blue'])
toon('null_and_bools', 'x: (bool | null)[]', [true, null, false])
toon('object_in_list_item', 'x: map<string, Person>[]', [{ p: { name: 'Ada', age: 36 } }])

// ---------------------------------------------------------------------------
// Running the cases through BAML.

const KEEP = new Set(['content-type', 'authorization', 'x-api-key', 'api-key', 'anthropic-version', 'x-goog-api-key'])
// Header names a .baml sets in its `headers { }` blocks, lower-cased.
function declaredHeaders(src) {
  const names = new Set()
  for (const m of src.matchAll(/headers \{\n([\s\S]*?)\n\s*\}/g)) {
    for (const line of m[1].split('\n')) {
      const k = line.trim().split(/\s+/)[0]
      if (k) names.add(k.replace(/^"|"$/g, '').toLowerCase())
    }
  }
  return names
}
function filterHeaders(headers, src) {
  const keep = declaredHeaders(src)
  const out = {}
  for (const k of Object.keys(headers).sort()) {
    const lk = k.toLowerCase()
    if (KEEP.has(lk) || keep.has(lk)) out[lk] = headers[k]
  }
  return out
}
// BAML's message, without the JS "Error: " prefix, trimmed to its first line
// (plus the one-per-argument "  Error: ..." lines of an invalid-argument error).
function errorText(e) {
  const lines = String(e && e.message !== undefined ? e.message : e).replace(/^Error: /, '').split('\n')
  const kept = [lines[0].trimEnd()]
  for (const l of lines.slice(1)) {
    if (/^\s+Error: /.test(l)) kept.push(l.trimEnd())
    else break
  }
  return kept.join('\n')
}

// BAML merges role metadata (cache_control, ...) into message parts from a hash
// map, so the key order of a part varies between runs: the keys of every part
// (elements of `content`, `parts` and `system` arrays) are sorted. Compare bodies
// as parsed JSON. As a further guard each case runs RUNS times on fresh
// runtimes: other objects whose key order varies get sorted keys too, and any
// other difference aborts the script.
const RUNS = 5
function stable(values, where) {
  const [first] = values
  if (first === null || typeof first !== 'object') {
    if (values.some((v) => v !== first)) throw new Error(`${where}: nondeterministic value ${JSON.stringify(values)}`)
    return first
  }
  if (Array.isArray(first)) {
    if (values.some((v) => !Array.isArray(v) || v.length !== first.length)) throw new Error(`${where}: nondeterministic array`)
    return first.map((_, i) => stable(values.map((v) => v[i]), `${where}[${i}]`))
  }
  const orders = values.map((v) => Object.keys(v).join('\0'))
  let keys = Object.keys(first)
  if (orders.some((o) => o !== orders[0])) {
    keys = [...keys].sort()
    if (values.some((v) => Object.keys(v).sort().join('\0') !== keys.join('\0'))) throw new Error(`${where}: nondeterministic keys`)
  }
  return Object.fromEntries(keys.map((k) => [k, stable(values.map((v) => v[k]), `${where}.${k}`)]))
}

async function recordStable(c) {
  const runs = []
  for (let i = 0; i < RUNS; i++) runs.push(await record(c))
  return stable(runs, c.name)
}

function sortParts(v, key) {
  if (Array.isArray(v)) return v.map((x) => sortParts(x, key))
  if (v === null || typeof v !== 'object') return v
  const part = ['content', 'parts', 'system'].includes(key)
  const keys = part ? Object.keys(v).sort() : Object.keys(v)
  return Object.fromEntries(keys.map((k) => [k, sortParts(v[k], k)]))
}

async function record(c) {
  const src = c.files['main.baml']
  const out = { ...c }
  let rt
  try {
    rt = BamlRuntime.fromFiles('baml_src', { 'baml_src/main.baml': src }, {})
  } catch (e) {
    return { ...out, expected_error: errorText(e), error_phase: 'load' }
  }
  try {
    const ctx = rt.createContextManager()
    const req = await rt.buildRequest(c.function, c.args, ctx, null, null, c.stream, c.env)
    return { ...out, expected: { url: req.url, method: req.method, headers: filterHeaders(req.headers, src), body: sortParts(req.body.json(), null) } }
  } catch (e) {
    return { ...out, expected_error: errorText(e), error_phase: 'request' }
  }
}

async function main() {
  const server = http.createServer((req, res) => {
    const m = MEDIA[req.url]
    if (!m) { res.writeHead(404); res.end(); return }
    res.writeHead(200, { 'content-type': m[0] })
    res.end(Buffer.from(m[1], 'base64'))
  })
  await new Promise((resolve) => server.listen(MEDIA_PORT, '127.0.0.1', resolve))
  const results = []
  for (const c of cases) results.push(await recordStable(c))
  server.close()
  fs.writeFileSync(path.join(__dirname, 'requests.baml.json'), JSON.stringify(results, null, 2) + '\n')
  const errors = results.filter((r) => r.expected_error)
  console.log(`recorded ${results.length} cases (${errors.length} refusals: ${errors.filter((r) => r.error_phase === 'load').length} load, ${errors.filter((r) => r.error_phase === 'request').length} request)`)
}

main().catch((e) => { console.error(e); process.exit(1) })
