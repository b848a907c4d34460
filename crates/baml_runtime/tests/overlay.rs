//! Type builder and client registry additions (`Runtime::with_overlay`). Expected prompts are
//! what @boundaryml/baml 0.226.2 rendered for the same additions made with its TypeBuilder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use baml_runtime::{CallOptions, Overlay, Runtime};
use serde_json::{json, Map, Value};

const PROJECT: &str = r##"
client<llm> C {
  provider openai
  options {
    model "gpt-4o"
    api_key "k"
  }
}
class User {
  name string
  @@dynamic
}
class Fixed {
  a int
}
enum Color {
  RED
  @@dynamic
}
function F(u: string) -> User {
  client C
  prompt #"{{ u }} {{ ctx.output_format }}"#
}
function G(u: string) -> Color {
  client C
  prompt #"{{ u }} {{ ctx.output_format }}"#
}
"##;

fn runtime() -> Arc<Runtime> {
    Arc::new(Runtime::from_files([("main.baml".to_string(), PROJECT.to_string())], []).unwrap())
}

fn args() -> Map<String, Value> {
    json!({ "u": "x" }).as_object().unwrap().clone()
}

fn prompt(rt: &Runtime, function: &str, client: Option<&str>) -> (String, Value) {
    let opts = CallOptions {
        client: client.map(str::to_string),
        ..CallOptions::default()
    };
    let req = rt.render_request(function, &args(), &opts, false).unwrap();
    (req.url, req.body)
}

fn text(body: &Value) -> &str {
    body["messages"][0]["content"][0]["text"].as_str().unwrap()
}

fn types(src: &str) -> Overlay {
    Overlay {
        types: src.into(),
        clients: String::new(),
    }
}

#[test]
fn dynamic_blocks_add_fields_and_values_as_baml_renders_them() {
    let rt = runtime();
    let tb = types(
        "dynamic class User {\n  email string? @description(\"their mail\")\n  addr Addr[]\n}\nclass Addr {\n  street string\n}\ndynamic enum Color {\n  GREEN @alias(\"verde\") @description(\"leafy\")\n}\n",
    );
    let with = rt.with_overlay(&tb).unwrap();
    let (_, body) = prompt(&with, "F", None);
    assert_eq!(
        text(&body),
        "x Answer in JSON using this schema:\n{\n  name: string,\n  // their mail\n  email: string or null,\n  addr: [\n    {\n      street: string,\n    }\n  ],\n}"
    );
    let (_, body) = prompt(&with, "G", None);
    assert_eq!(
        text(&body),
        "x Answer with any of the categories:\nColor\n----\n- RED\n- verde: leafy"
    );
    // The project itself is unchanged, and the same additions give the same runtime.
    let (_, body) = prompt(&rt, "F", None);
    assert_eq!(
        text(&body),
        "x Answer in JSON using this schema:\n{\n  name: string,\n}"
    );
    assert!(Arc::ptr_eq(&with, &rt.with_overlay(&tb).unwrap()));
    assert!(Arc::ptr_eq(
        &rt,
        &rt.with_overlay(&Overlay::default()).unwrap()
    ));
}

#[test]
fn parsing_follows_the_added_fields() {
    let rt = runtime();
    let with = rt
        .with_overlay(&types("dynamic class User {\n  age int\n}\n"))
        .unwrap();
    let ir = with.ir();
    let ret = &ir.function("F").unwrap().ret;
    let v = baml_sap::parse(ir, ret, r#"{"name": "Ada", "age": "36"}"#, false).unwrap();
    assert_eq!(v, json!({ "name": "Ada", "age": 36 }));
}

#[test]
fn a_class_without_dynamic_cannot_be_extended() {
    let e = runtime()
        .with_overlay(&types("dynamic class Fixed {\n  b int\n}\n"))
        .unwrap_err();
    let s = e.to_string();
    assert!(s.contains("TypeBuilder::add_baml:1:"), "{s}");
    assert!(
        s.contains("`Fixed` does not have the `@@dynamic` attribute"),
        "{s}"
    );
}

#[test]
fn type_builder_mistakes_are_located_errors() {
    let rt = runtime();
    for (src, says) in [
        (
            "dynamic class Nope {\n  b int\n}\n",
            "there is no class `Nope`",
        ),
        ("dynamic enum User {\n  B\n}\n", "there is no enum `User`"),
        ("class User {\n  x int\n}\n", "already defined"),
        ("dynamic class User {\n  b Missing\n}\n", "Missing"),
        (
            "dynamic thing X {}\n",
            "expected `class` or `enum` after `dynamic`",
        ),
    ] {
        let e = rt.with_overlay(&types(src)).unwrap_err().to_string();
        assert!(e.contains(says), "{src}: {e}");
    }
}

#[test]
fn dynamic_blocks_are_refused_in_project_files() {
    let src = format!("{PROJECT}\ndynamic class User {{\n  b int\n}}\n");
    let e = Runtime::from_files([("main.baml".to_string(), src)], []).unwrap_err();
    assert!(e.to_string().contains("belongs in a TypeBuilder"), "{e}");
}

#[test]
fn registry_clients_replace_the_projects_and_can_be_made_primary() {
    let rt = runtime();
    let registry = Overlay {
        types: String::new(),
        clients: "client<llm> C {\n  provider anthropic\n  options {\n    model \"claude-x\"\n    api_key \"ak\"\n  }\n}\nclient<llm> Other {\n  provider openai\n  options {\n    model \"gpt-other\"\n    api_key \"ok\"\n    base_url \"http://127.0.0.1:9/v1\"\n  }\n}\n".into(),
    };
    let with = rt.with_overlay(&registry).unwrap();
    // As BAML: the function's client `C` is now the registry's.
    let (url, body) = prompt(&with, "F", None);
    assert_eq!(url, "https://api.anthropic.com/v1/messages");
    assert_eq!(body["model"], "claude-x");
    // The primary is the call's client.
    let (url, body) = prompt(&with, "F", Some("Other"));
    assert_eq!(url, "http://127.0.0.1:9/v1/chat/completions");
    assert_eq!(body["model"], "gpt-other");
}

#[test]
fn registry_clients_are_validated() {
    let bad = Overlay {
        types: String::new(),
        clients: "client<llm> Bad {\n  provider nope\n  options {\n    model \"m\"\n  }\n}\n"
            .into(),
    };
    let e = runtime().with_overlay(&bad).unwrap_err().to_string();
    assert!(e.contains("ClientRegistry:2:"), "{e}");
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn a_type_builder_declares_types_only_and_a_registry_clients_only() {
    let rt = runtime();
    for src in [
        "function Steal(x: string) -> string {\n  client C\n  prompt #\"{{ x }}\"#\n}\n",
        "client<llm> Evil {\n  provider openai\n  options {\n    model \"m\"\n  }\n}\n",
        "template_string T() #\"x\"#\n",
        "retry_policy R {\n  max_retries 1\n}\n",
    ] {
        let e = rt.with_overlay(&types(src)).unwrap_err().to_string();
        assert!(
            e.contains("TypeBuilder::add_baml may declare only classes, enums"),
            "{src}: {e}"
        );
    }
    let e = rt
        .with_overlay(&Overlay {
            types: String::new(),
            clients: "class Sneaky {\n  a int\n}\n".into(),
        })
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ClientRegistry may declare only clients and retry policies"),
        "{e}"
    );
    // Type aliases are types.
    rt.with_overlay(&types("type Pair = int[]\n")).unwrap();
}
