//! What the examples measure: the function `bench/calls.js` calls, `Extract(text) -> Person`,
//! against an OpenAI-compatible server at `base_url`.

/// The `.baml` source of `Extract`, its `Person` class and a `Mock` client at `base_url`.
pub fn extract_runtime(base_url: &str) -> baml_runtime::Runtime {
    let src = format!(
        r##"
class Person {{
  name string
  age int
}}
client<llm> Mock {{
  provider openai
  options {{
    model "bench"
    api_key "sk-bench"
    base_url "{base_url}/v1"
  }}
}}
function Extract(text: string) -> Person {{
  client Mock
  prompt #"
    Extract the person from the text.
    {{{{ text }}}}
    {{{{ ctx.output_format }}}}
  "#
}}
"##
    );
    baml_runtime::Runtime::from_files([("main.baml".to_string(), src)], [])
        .unwrap_or_else(|e| panic!("the example's source does not load: {e:?}"))
}
