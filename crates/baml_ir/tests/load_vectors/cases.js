// The load-decision cases: a name and the project's files (a string is `main.baml`).
// Names start with the class of rule they probe; BAML's answer is what generate.js records.
'use strict';

const CLIENT = `client<llm> GPT {
  provider openai
  options {
    model "gpt-4o"
    api_key env.OPENAI_API_KEY
  }
}
`;
const LLM_FN = `${CLIENT}
function Summarize(text: string) -> string {
  client GPT
  prompt #"Summarize {{ text }}"#
}
`;

module.exports = [
  // ---- expression functions (BAML accepts these) ----
  { name: 'expr_fn_add', files: 'function AddOne(x: int) -> int { x + 1 }\n' },
  { name: 'expr_fn_let', files: 'function Twice(x: int) -> int {\n  let y = x * 2;\n  y + 1\n}\n' },
  { name: 'expr_fn_lowercase_name', files: 'function add(a: int, b: int) -> int {\n  a + b\n}\n' },
  { name: 'expr_fn_calls_llm', files: `${LLM_FN}\nfunction Pipeline(text: string) -> string {\n  let s = Summarize(text);\n  s\n}\n` },
  { name: 'expr_fn_if_else', files: 'function Sign(x: int) -> string {\n  if (x > 0) {\n    "pos"\n  } else {\n    "neg"\n  }\n}\n' },
  { name: 'expr_fn_else_if', files: 'function Sign(x: int) -> string {\n  if (x > 0) { "pos" } else if (x == 0) { "zero" } else { "neg" }\n}\n' },
  { name: 'expr_fn_for_loop', files: 'function Sum(xs: int[]) -> int {\n  let s = 0;\n  for (let x in xs) {\n    s += x;\n  }\n  s\n}\n' },
  { name: 'expr_fn_while_loop', files: 'function Down(x: int) -> int {\n  while (x > 0) {\n    x -= 1;\n  }\n  x\n}\n' },
  { name: 'expr_fn_return', files: 'function Id(x: int) -> int {\n  return x;\n}\n' },
  { name: 'expr_fn_empty_body', files: 'function Nothing(x: int) -> int {\n}\n' },
  { name: 'expr_fn_precedence', files: 'function P() -> int { 1 + 2 * 3 - (4 / 2) }\n' },
  { name: 'expr_fn_bool_ops', files: 'function B(x: int) -> bool { x == 1 && true || !false }\n' },
  { name: 'expr_fn_string_concat', files: 'function Greet(name: string) -> string { "hello " + name }\n' },
  { name: 'expr_fn_array_literal', files: 'function L() -> int[] { [1, 2, 3] }\n' },
  { name: 'expr_fn_map_literal', files: 'function M() -> map<string, int> { { "a": 1 } }\n' },
  { name: 'expr_fn_class_constructor', files: 'class P {\n  name string\n}\nfunction Make() -> P {\n  P { name: "x" }\n}\n' },
  { name: 'expr_fn_field_access', files: 'class P {\n  name string\n}\nfunction Name(p: P) -> string {\n  p.name\n}\n' },
  { name: 'expr_fn_call_expr_fn', files: 'function Inc(x: int) -> int { x + 1 }\nfunction Inc2(x: int) -> int { Inc(Inc(x)) }\n' },
  { name: 'expr_fn_trailing_semicolon', files: 'function F(x: int) -> int { x + 1; }\n' },
  { name: 'expr_fn_comments', files: 'function F(x: int) -> int {\n  // a comment\n  let y = x; // after\n  y\n}\n' },
  { name: 'expr_top_level_let', files: 'let limit = 5;\n' },
  { name: 'expr_top_level_let_used', files: 'let limit = 5;\nfunction Limit() -> int { limit }\n' },
  { name: 'expr_class_method', files: 'class A {\n  x int\n\n  function double(self) -> int {\n    self.x * 2\n  }\n}\n' },
  // near misses that BAML rejects
  { name: 'expr_fn_unknown_variable', files: 'function F(x: int) -> int { y + 1 }\n' },
  { name: 'expr_fn_unknown_function', files: 'function F(x: int) -> int { G(x) }\n' },
  { name: 'expr_fn_if_without_parens', files: 'function F(x: int) -> string { if x > 0 { "pos" } else { "neg" } }\n' },
  { name: 'expr_fn_for_without_let', files: 'function F(xs: int[]) -> int { let s = 0; for (x in xs) { s += x; } s }\n' },
  { name: 'expr_fn_for_without_parens', files: 'function F(xs: int[]) -> int { let s = 0; for x in xs { s = s + x; } s }\n' },
  { name: 'expr_top_level_let_no_semicolon', files: 'let limit = 5\n' },
  { name: 'expr_fn_dangling_operator', files: 'function F(x: int) -> int { x + }\n' },
  { name: 'expr_fn_return_type_mismatch', files: 'function F(x: int) -> string { x + 1 }\n' },
  { name: 'expr_fn_field_on_int', files: 'function F(x: int) -> int { let y = x; y.foo }\n' },
  { name: 'expr_fn_unknown_param_type', files: 'function F(x: Unknown) -> int { 1 }\n' },
  { name: 'expr_fn_client_without_prompt', files: 'function F(x: int) -> int {\n  client "openai/gpt-4o"\n}\n' },

  // ---- attributes inside a parenthesized type ----
  { name: 'paren_attr_return', files: 'function F(x: int) -> (int @assert(ok, {{ this >= 0 }})) {\n  client "openai/gpt-4o"\n  prompt #"{{ x }}"#\n}\n' },
  { name: 'paren_attr_field', files: 'class A {\n  x (int @check(pos, {{ this > 0 }}))\n}\n' },
  { name: 'paren_attr_param', files: 'function F(x: (int @assert(pos, {{ this > 0 }}))) -> int {\n  client "openai/gpt-4o"\n  prompt #"{{ x }}"#\n}\n' },
  { name: 'paren_attr_in_union', files: 'class A {\n  x (int @check(pos, {{ this > 0 }})) | string\n}\n' },
  { name: 'paren_attr_list', files: 'class A {\n  xs (int @check(pos, {{ this > 0 }}))[]\n}\n' },
  { name: 'paren_attr_description', files: 'class A {\n  x (string @description("inner")) @alias("y")\n}\n' },
  { name: 'paren_attr_unknown_attr', files: 'class A {\n  x (int @frobnicate)\n}\n' },
  { name: 'paren_attr_unclosed', files: 'class A {\n  x (int @check(pos, {{ this > 0 }})\n}\n' },

  // ---- block attributes on classes and enums ----
  { name: 'class_stream_not_null', files: 'class A {\n  x int\n  @@stream.not_null\n}\n' },
  { name: 'class_stream_done', files: 'class A {\n  x int\n  @@stream.done\n}\n' },
  { name: 'class_stream_not_null_with_arg', files: 'class A {\n  x int\n  @@stream.not_null(true)\n}\n' },
  { name: 'class_stream_unknown', files: 'class A {\n  x int\n  @@stream.bogus\n}\n' },
  { name: 'enum_block_assert', files: 'enum E {\n  A\n  B\n  @@assert(not_a, {{ this != "A" }})\n}\n' },
  { name: 'enum_block_check', files: 'enum E {\n  A\n  B\n  @@check(is_b, {{ this == "B" }})\n}\n' },
  { name: 'enum_block_assert_no_name', files: 'enum E {\n  A\n  B\n  @@assert({{ this != "A" }})\n}\n' },
  { name: 'enum_block_check_no_name', files: 'enum E {\n  A\n  B\n  @@check({{ this == "B" }})\n}\n' },
  { name: 'class_block_assert', files: 'class A {\n  x int\n  @@assert(pos, {{ this.x > 0 }})\n}\n' },

  // ---- providers ----
  { name: 'provider_openrouter', files: 'client<llm> R {\n  provider openrouter\n  options {\n    model "openai/gpt-4o"\n  }\n}\n' },
  { name: 'provider_openrouter_shorthand', files: 'function F(x: string) -> string {\n  client "openrouter/openai/gpt-4o"\n  prompt #"{{ x }}"#\n}\n' },
  { name: 'provider_unknown', files: 'client<llm> R {\n  provider frobnicator\n  options {\n    model "x"\n  }\n}\n' },
  { name: 'provider_openai_generic', files: 'client<llm> R {\n  provider openai-generic\n  options {\n    base_url "http://localhost:1234/v1"\n    model "x"\n  }\n}\n' },
  { name: 'provider_openai_responses', files: 'client<llm> R {\n  provider openai-responses\n  options {\n    model "gpt-4o"\n  }\n}\n' },

  // ---- test syntax ----
  { name: 'test_old_syntax_parens', files: `${LLM_FN}\ntest SummarizeTest() {\n  functions [Summarize]\n  args {\n    text "hello"\n  }\n}\n` },
  { name: 'test_old_input_syntax', files: `${LLM_FN}\ntest SummarizeTest {\n  functions [Summarize]\n  input "hello"\n}\n` },
  { name: 'test_old_for_syntax', files: `${LLM_FN}\ntest SummarizeTest for Summarize {\n  input "hello"\n}\n` },
  { name: 'test_new_syntax', files: `${LLM_FN}\ntest SummarizeTest {\n  functions [Summarize]\n  args {\n    text "hello"\n  }\n}\n` },
  { name: 'test_unknown_function', files: `${LLM_FN}\ntest T {\n  functions [Nope]\n  args {\n    text "hello"\n  }\n}\n` },
  { name: 'test_parens_with_params', files: `${LLM_FN}\ntest T(x: int) {\n  functions [Summarize]\n  args {\n    text "hello"\n  }\n}\n` },

  // ---- duplicate attributes ----
  { name: 'dup_attr_alias', files: 'class A {\n  x int @alias("a") @alias("b")\n}\n' },
  { name: 'dup_attr_description', files: 'class A {\n  x int @description("a") @description("b")\n}\n' },
  { name: 'dup_attr_enum_value_alias', files: 'enum E {\n  A @alias("a") @alias("b")\n}\n' },
  { name: 'dup_attr_check_twice_ok', files: 'class A {\n  x int @check(a, {{ this > 0 }}) @check(b, {{ this < 9 }})\n}\n' },
  { name: 'dup_attr_assert_twice_ok', files: 'class A {\n  x int @assert(a, {{ this > 0 }}) @assert(b, {{ this < 9 }})\n}\n' },
  { name: 'dup_attr_skip', files: 'enum E {\n  A @skip @skip\n  B\n}\n' },
  { name: 'dup_attr_class_block_alias', files: 'class A {\n  x int\n  @@alias("a")\n  @@alias("b")\n}\n' },
  { name: 'dup_attr_stream_done', files: 'class A {\n  x int @stream.done @stream.done\n}\n' },
  { name: 'dup_attr_alias_and_description_ok', files: 'class A {\n  x int @alias("a") @description("b")\n}\n' },

  // ---- Jinja inside @check/@assert ----
  { name: 'jinja_check_syntax_error', files: 'class A {\n  x int @check(pos, {{ this > }})\n}\n' },
  { name: 'jinja_assert_unclosed_paren', files: 'class A {\n  x int @assert(pos, {{ (this > 0 }})\n}\n' },
  { name: 'jinja_check_filter_ok', files: 'class A {\n  x string @check(short, {{ this|length < 10 }})\n}\n' },
  { name: 'jinja_check_unknown_var_ok', files: 'class A {\n  x int @check(pos, {{ that > 0 }})\n}\n' },
  { name: 'jinja_assert_bad_token', files: 'class A {\n  x int @assert(pos, {{ this >>> 0 }})\n}\n' },
  { name: 'jinja_check_regex_ok', files: 'class A {\n  x string @check(email, {{ this|regex_match("@") }})\n}\n' },
  { name: 'jinja_block_assert_syntax_error', files: 'class A {\n  x int\n  @@assert(pos, {{ this.x > > 0 }})\n}\n' },

  // ---- strategy clients ----
  { name: 'strategy_fallback_self', files: `${CLIENT}\nclient<llm> F {\n  provider fallback\n  options {\n    strategy [F, GPT]\n  }\n}\n` },
  { name: 'strategy_round_robin_self', files: `${CLIENT}\nclient<llm> R {\n  provider round-robin\n  options {\n    strategy [GPT, R]\n  }\n}\n` },
  { name: 'strategy_cycle_two', files: `${CLIENT}\nclient<llm> A {\n  provider fallback\n  options {\n    strategy [B, GPT]\n  }\n}\nclient<llm> B {\n  provider fallback\n  options {\n    strategy [A]\n  }\n}\n` },
  { name: 'strategy_nested_ok', files: `${CLIENT}\nclient<llm> A {\n  provider fallback\n  options {\n    strategy [B, GPT]\n  }\n}\nclient<llm> B {\n  provider round-robin\n  options {\n    strategy [GPT]\n  }\n}\n` },
  { name: 'strategy_unknown_client', files: `client<llm> F {\n  provider fallback\n  options {\n    strategy [Nope]\n  }\n}\n` },
  { name: 'strategy_empty', files: `client<llm> F {\n  provider fallback\n  options {\n    strategy []\n  }\n}\n` },
  { name: 'strategy_shorthand_member', files: `client<llm> F {\n  provider fallback\n  options {\n    strategy ["openai/gpt-4o"]\n  }\n}\n` },
  { name: 'strategy_http_timeouts_ok', files: `${CLIENT}\nclient<llm> F {\n  provider fallback\n  options {\n    strategy [GPT]\n    http {\n      total_timeout_ms 1000\n    }\n  }\n}\n` },
  { name: 'strategy_http_connect_timeout', files: `${CLIENT}\nclient<llm> F {\n  provider fallback\n  options {\n    strategy [GPT]\n    http {\n      connect_timeout_ms 1000\n    }\n  }\n}\n` },
  { name: 'strategy_http_unknown_key', files: `${CLIENT}\nclient<llm> F {\n  provider fallback\n  options {\n    strategy [GPT]\n    http {\n      bogus 1\n    }\n  }\n}\n` },
  { name: 'strategy_http_negative', files: `${CLIENT}\nclient<llm> F {\n  provider round-robin\n  options {\n    strategy [GPT]\n    http {\n      total_timeout_ms -5\n    }\n  }\n}\n` },
  { name: 'client_http_unknown_key', files: `client<llm> C {\n  provider openai\n  options {\n    model "gpt-4o"\n    http {\n      bogus 1\n    }\n  }\n}\n` },
  { name: 'client_http_timeouts_ok', files: `client<llm> C {\n  provider openai\n  options {\n    model "gpt-4o"\n    http {\n      connect_timeout_ms 1000\n      request_timeout_ms 2000\n    }\n  }\n}\n` },
  { name: 'strategy_round_robin_start', files: `${CLIENT}\nclient<llm> R {\n  provider round-robin\n  options {\n    strategy [GPT]\n    start 0\n  }\n}\n` },
  { name: 'strategy_unknown_option', files: `${CLIENT}\nclient<llm> R {\n  provider fallback\n  options {\n    strategy [GPT]\n    model "x"\n  }\n}\n` },

  // ---- generators ----
  { name: 'gen_ok_typescript', files: 'generator g {\n  output_type "typescript"\n  output_dir "../"\n  version "0.226.2"\n}\n' },
  { name: 'gen_ok_python', files: 'generator g {\n  output_type "python/pydantic"\n  output_dir "../"\n  version "0.226.2"\n  default_client_mode "sync"\n}\n' },
  { name: 'gen_bad_output_type', files: 'generator g {\n  output_type "cobol"\n  output_dir "../"\n  version "0.226.2"\n}\n' },
  { name: 'gen_missing_output_type', files: 'generator g {\n  output_dir "../"\n  version "0.226.2"\n}\n' },
  { name: 'gen_bad_version', files: 'generator g {\n  output_type "typescript"\n  output_dir "../"\n  version "not-a-version"\n}\n' },
  { name: 'gen_other_version', files: 'generator g {\n  output_type "typescript"\n  output_dir "../"\n  version "0.100.0"\n}\n' },
  { name: 'gen_missing_version', files: 'generator g {\n  output_type "typescript"\n  output_dir "../"\n}\n' },
  { name: 'gen_unknown_key', files: 'generator g {\n  output_type "typescript"\n  output_dir "../"\n  version "0.226.2"\n  frobnicate true\n}\n' },
  { name: 'gen_bad_client_mode', files: 'generator g {\n  output_type "typescript"\n  output_dir "../"\n  version "0.226.2"\n  default_client_mode "sometimes"\n}\n' },
  { name: 'gen_missing_output_dir', files: 'generator g {\n  output_type "typescript"\n  version "0.226.2"\n}\n' },
  { name: 'gen_module_format', files: 'generator g {\n  output_type "typescript"\n  output_dir "../"\n  version "0.226.2"\n  module_format "esm"\n}\n' },
  { name: 'gen_bad_module_format', files: 'generator g {\n  output_type "typescript"\n  output_dir "../"\n  version "0.226.2"\n  module_format "amd"\n}\n' },
  { name: 'gen_two_generators', files: 'generator a {\n  output_type "typescript"\n  output_dir "../a"\n  version "0.226.2"\n}\ngenerator b {\n  output_type "python/pydantic"\n  output_dir "../b"\n  version "0.226.2"\n}\n' },
  { name: 'gen_rest_openapi', files: 'generator g {\n  output_type "rest/openapi"\n  output_dir "../"\n  version "0.226.2"\n  on_generate "echo hi"\n}\n' },

  // ---- reserved words ----
  { name: 'reserved_field_if', files: 'class A {\n  if int\n}\n' },
  { name: 'reserved_field_class', files: 'class A {\n  class int\n}\n' },
  { name: 'reserved_field_function', files: 'class A {\n  function int\n}\n' },
  { name: 'reserved_field_self', files: 'class A {\n  self int\n}\n' },
  { name: 'reserved_field_return', files: 'class A {\n  return int\n}\n' },
  { name: 'reserved_field_while', files: 'class A {\n  while int\n}\n' },
  { name: 'reserved_field_def', files: 'class A {\n  def int\n}\n' },
  { name: 'reserved_field_type', files: 'class A {\n  type string\n}\n' },
  { name: 'reserved_field_input', files: 'class A {\n  input string\n}\n' },
  { name: 'reserved_field_string', files: 'class A {\n  string string\n}\n' },
  { name: 'reserved_enum_value_if', files: 'enum E {\n  if\n  B\n}\n' },
  { name: 'reserved_enum_value_true', files: 'enum E {\n  true\n  B\n}\n' },
  { name: 'reserved_enum_value_null', files: 'enum E {\n  null\n  B\n}\n' },
  { name: 'reserved_enum_value_let', files: 'enum E {\n  let\n  B\n}\n' },
  { name: 'reserved_class_name_string', files: 'class string {\n  x int\n}\n' },
  { name: 'reserved_param_if', files: 'function F(if: int) -> int {\n  client "openai/gpt-4o"\n  prompt #"hi"#\n}\n' },

  // ---- client_response_type ----
  { name: 'crt_openai_ok', files: 'client<llm> C {\n  provider openai-generic\n  options {\n    base_url "http://x"\n    model "m"\n    client_response_type "openai"\n  }\n}\n' },
  { name: 'crt_anthropic_ok', files: 'client<llm> C {\n  provider openai-generic\n  options {\n    base_url "http://x"\n    model "m"\n    client_response_type "anthropic"\n  }\n}\n' },
  { name: 'crt_bad', files: 'client<llm> C {\n  provider openai-generic\n  options {\n    base_url "http://x"\n    model "m"\n    client_response_type "cobol"\n  }\n}\n' },
  { name: 'crt_openai_responses_ok', files: 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n    client_response_type "openai-responses"\n  }\n}\n' },
  { name: 'crt_number', files: 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n    client_response_type 3\n  }\n}\n' },
  { name: 'crt_google_ok', files: 'client<llm> C {\n  provider openai-generic\n  options {\n    base_url "http://x"\n    model "m"\n    client_response_type "google"\n  }\n}\n' },

  // ---- roles ----
  { name: 'roles_allowed_ok', files: 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n    allowed_roles ["system", "user", "assistant"]\n    default_role "user"\n  }\n}\n' },
  { name: 'roles_default_not_allowed', files: 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n    allowed_roles ["user"]\n    default_role "system"\n  }\n}\n' },
  { name: 'roles_allowed_not_list', files: 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n    allowed_roles "user"\n  }\n}\n' },
  { name: 'roles_allowed_empty', files: 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n    allowed_roles []\n  }\n}\n' },
  { name: 'roles_remap_ok', files: 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n    remap_roles {\n      assistant "model"\n    }\n  }\n}\n' },
  { name: 'roles_remap_unknown_role', files: 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n    allowed_roles ["user", "assistant"]\n    remap_roles {\n      system "x"\n    }\n  }\n}\n' },
  { name: 'roles_remap_not_map', files: 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n    remap_roles "x"\n  }\n}\n' },
  { name: 'roles_remap_value_number', files: 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n    remap_roles {\n      user 3\n    }\n  }\n}\n' },
  { name: 'roles_allowed_custom', files: 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n    allowed_roles ["user", "tool"]\n    default_role "tool"\n  }\n}\n' },
  { name: 'roles_default_role_number', files: 'client<llm> C {\n  provider openai\n  options {\n    model "m"\n    default_role 3\n  }\n}\n' },

  // ---- ordinary valid projects ----
  { name: 'ok_class_enum_function', files: `${CLIENT}\nenum Mood {\n  HAPPY\n  SAD @alias("sad")\n}\nclass Entry {\n  text string\n  mood Mood\n  tags string[]\n}\nfunction Classify(text: string) -> Entry {\n  client GPT\n  prompt #"\n    {{ ctx.output_format }}\n    {{ _.role("user") }} {{ text }}\n  "#\n}\n` },
  { name: 'ok_union_return', files: `${CLIENT}\nclass A {\n  a int\n}\nclass B {\n  b string\n}\nfunction F(x: string) -> A | B | null {\n  client GPT\n  prompt #"{{ x }}"#\n}\n` },
  { name: 'ok_map_types', files: 'class A {\n  m map<string, int>\n  e map<K, string[]>\n}\nenum K {\n  X\n  Y\n}\n' },
  { name: 'ok_literal_types', files: 'class A {\n  kind "a" | "b"\n  n 1 | 2 | 3\n  flag true\n}\n' },
  { name: 'ok_alias_recursive_json', files: 'type JSON = string | int | float | bool | null | JSON[] | map<string, JSON>\nclass A {\n  data JSON\n}\n' },
  { name: 'ok_template_string_used', files: `${CLIENT}\ntemplate_string Bullet(items: string[]) #"\n  {% for i in items %}- {{ i }}\n  {% endfor %}\n"#\nfunction F(items: string[]) -> string {\n  client GPT\n  prompt #"{{ Bullet(items) }}"#\n}\n` },
  { name: 'ok_retry_policy', files: `retry_policy Exp {\n  max_retries 3\n  strategy {\n    type exponential_backoff\n    delay_ms 200\n    multiplier 1.5\n    max_delay_ms 10000\n  }\n}\nclient<llm> C {\n  provider anthropic\n  retry_policy Exp\n  options {\n    model "claude-3-5-sonnet-latest"\n    api_key env.ANTHROPIC_API_KEY\n  }\n}\n` },
  { name: 'ok_retry_constant', files: 'retry_policy R {\n  max_retries 2\n  strategy {\n    type constant_delay\n    delay_ms 100\n  }\n}\n' },
  { name: 'ok_test_with_class_arg', files: `${CLIENT}\nclass In {\n  a int\n  b string[]\n}\nfunction F(x: In) -> string {\n  client GPT\n  prompt #"{{ x.a }}"#\n}\ntest T1 {\n  functions [F]\n  args {\n    x {\n      a 1\n      b ["p", "q"]\n    }\n  }\n}\n` },
  { name: 'ok_test_with_asserts', files: `${LLM_FN}\ntest T {\n  functions [Summarize]\n  args {\n    text "hi"\n  }\n  @@assert(nonempty, {{ this|length > 0 }})\n  @@check(short, {{ this|length < 100 }})\n}\n` },
  { name: 'ok_dynamic_class', files: 'class A {\n  x int\n  @@dynamic\n}\nenum E {\n  A\n  @@dynamic\n}\n' },
  { name: 'ok_optional_list_nesting', files: 'class A {\n  a int?\n  b int[][]\n  c (int | string)[]\n  d map<string, int?>\n}\n' },
  { name: 'ok_image_audio_params', files: `${CLIENT}\nfunction Describe(img: image, clip: audio, doc: pdf, v: video) -> string {\n  client GPT\n  prompt #"{{ img }} {{ clip }}"#\n}\n` },
  { name: 'ok_multiple_files', files: { 'a.baml': 'class A {\n  b B\n}\n', 'b.baml': 'class B {\n  x int\n}\n' } },
  { name: 'ok_aws_bedrock', files: 'client<llm> B {\n  provider aws-bedrock\n  options {\n    model "anthropic.claude-3"\n  }\n}\n' },
  { name: 'ok_vertex', files: 'client<llm> V {\n  provider vertex-ai\n  options {\n    model "gemini-1.5-pro"\n    location "us-central1"\n  }\n}\n' },
  { name: 'ok_google_ai', files: 'client<llm> G {\n  provider google-ai\n  options {\n    model "gemini-1.5-pro"\n  }\n}\n' },
  { name: 'ok_azure', files: 'client<llm> A {\n  provider azure-openai\n  options {\n    resource_name "r"\n    deployment_id "d"\n    api_version "2024-02-01"\n  }\n}\n' },
  { name: 'ok_ollama', files: 'client<llm> O {\n  provider ollama\n  options {\n    model "llama3"\n  }\n}\n' },
  { name: 'ok_class_descriptions', files: 'class A {\n  x int @description("an x") @alias("ex")\n  y string @description(#"\n    multi\n  "#)\n  @@description("A class")\n}\n' },
  { name: 'ok_enum_skip_description', files: 'enum E {\n  A @description("a")\n  B @skip\n  C @alias("see")\n}\n' },
  { name: 'ok_streaming_attrs', files: 'class A {\n  x string @stream.done\n  y string @stream.not_null\n  z string @stream.with_state\n}\n' },
  { name: 'ok_checks_on_alias', files: 'type Pos = int @check(pos, {{ this > 0 }})\nclass A {\n  p Pos\n}\n' },
  { name: 'ok_function_no_params', files: `${CLIENT}\nfunction Hello() -> string {\n  client GPT\n  prompt #"Say hello"#\n}\n` },
  { name: 'ok_function_shorthand', files: 'function Hello() -> string {\n  client "anthropic/claude-3-haiku-20240307"\n  prompt #"Say hello"#\n}\n' },
  { name: 'ok_function_roles', files: `${CLIENT}\nfunction Chat(q: string) -> string {\n  client GPT\n  prompt #"\n    {{ _.role("system") }} Be kind.\n    {{ _.role("user") }} {{ q }}\n  "#\n}\n` },
  { name: 'ok_client_headers', files: 'client<llm> C {\n  provider openai\n  options {\n    model "gpt-4o"\n    headers {\n      "X-Thing" "v"\n    }\n    temperature 0.2\n    max_tokens 100\n  }\n}\n' },
  { name: 'ok_round_robin', files: `${CLIENT}\nclient<llm> R {\n  provider round-robin\n  options {\n    strategy [GPT, "openai/gpt-4o-mini"]\n  }\n}\n` },
  { name: 'ok_fallback', files: `${CLIENT}\nclient<llm> F {\n  provider fallback\n  options {\n    strategy [GPT]\n  }\n}\n` },
  { name: 'ok_class_recursive_optional', files: 'class Node {\n  value int\n  next Node?\n}\n' },
  { name: 'ok_class_recursive_list', files: 'class Tree {\n  children Tree[]\n}\n' },
  { name: 'ok_comments_everywhere', files: '// top\nclass A { // after brace\n  x int // trailing\n  /// doc\n  y string\n}\n' },
  { name: 'ok_enum_many', files: 'enum Color {\n  Red\n  Green\n  Blue\n  Yellow_2\n}\n' },
  { name: 'ok_class_field_named_like_type', files: 'class A {\n  name string\n  value float\n  ok bool\n}\n' },
  { name: 'ok_int_float_bool_return', files: `${CLIENT}\nfunction N(x: int, y: float, z: bool) -> float {\n  client GPT\n  prompt #"{{ x }} {{ y }} {{ z }}"#\n}\n` },
  { name: 'ok_generator_and_client', files: `generator g {\n  output_type "typescript"\n  output_dir "../"\n  version "0.226.2"\n}\n${CLIENT}` },
  { name: 'ok_alias_chain', files: 'type A = B\ntype B = int | string\nclass C {\n  a A\n}\n' },
  { name: 'ok_test_multiple_functions', files: `${CLIENT}\nfunction F1(text: string) -> string {\n  client GPT\n  prompt #"{{ text }}"#\n}\nfunction F2(text: string) -> string {\n  client GPT\n  prompt #"{{ text }}"#\n}\ntest Both {\n  functions [F1, F2]\n  args {\n    text "x"\n  }\n}\n` },
  { name: 'ok_client_provider_quoted', files: 'client<llm> C {\n  provider "openai"\n  options {\n    model "gpt-4o"\n  }\n}\n' },
  { name: 'ok_template_string_no_params', files: 'template_string Intro #"\n  You are helpful.\n"#\n' },
  { name: 'ok_class_field_union_of_classes', files: 'class A {\n  x int\n}\nclass B {\n  y int\n}\nclass C {\n  v A | B\n}\n' },
  { name: 'ok_enum_and_class_same_file_order', files: 'class Uses {\n  e Later\n}\nenum Later {\n  X\n}\n' },
  { name: 'ok_raw_string_hashes', files: `${CLIENT}\nfunction F() -> string {\n  client GPT\n  prompt ##"a "# b"##\n}\n` },

  // ---- ordinary invalid projects (regressions) ----
  { name: 'bad_unknown_type', files: 'class A {\n  x Nope\n}\n' },
  { name: 'bad_duplicate_class', files: 'class A {\n  x int\n}\nclass A {\n  y int\n}\n' },
  { name: 'bad_duplicate_field', files: 'class A {\n  x int\n  x string\n}\n' },
  { name: 'bad_function_unknown_client', files: 'function F() -> string {\n  client Nope\n  prompt #"hi"#\n}\n' },
  { name: 'bad_retry_unknown', files: 'client<llm> C {\n  provider openai\n  retry_policy Nope\n  options {\n    model "m"\n  }\n}\n' },
  { name: 'bad_class_cycle', files: 'class A {\n  b B\n}\nclass B {\n  a A\n}\n' },
  { name: 'bad_missing_brace', files: 'class A {\n  x int\n' },
];
