//! Expression functions evaluated: arithmetic and control flow with BAML's results (measured
//! with @boundaryml/baml 0.226.2's VM), class values and methods, top-level `let`s, calls to LLM
//! functions against the mock, and the bounds that keep a runaway body from holding a thread.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use baml_runtime::{CallOptions, Runtime};
use mock_llm::MockServer;
use serde_json::{json, Map, Value as Json};

const PROJECT: &str = r##"
let base = 10;

class Box {
  w int

  function area(self) -> int {
    self.w * self.w
  }
}

class Person {
  name string
  age int
}

function Div(a: int, b: int) -> int { a / b }
function Mod(a: int, b: int) -> int { a % b }
function Cat(a: string, b: string) -> string { a + b }
function Sum(xs: int[]) -> int {
  let s = 0;
  for (let x in xs) {
    s += x;
  }
  s
}
function Area(w: int) -> int {
  let b = Box { w: w };
  b.area()
}
function Loop() -> int {
  let i = 0;
  while (i < 5) { i += 1; }
  i
}
function Len(xs: int[]) -> int { xs.length() }
function Ret(x: int) -> int {
  if (x > 2) { return 100; }
  x
}
function MkBox(w: int) -> Box { Box { w: w } }
function Grow(w: int) -> Box {
  let b = Box { w: w };
  b.w = b.w + base;
  b
}
function Evens(xs: int[]) -> int[] {
  let out = [];
  for (let x in xs) {
    if (x % 2 == 0) { out = out; }
  }
  [xs[0], xs[1] * 2]
}
function Forever() -> int {
  let i = 0;
  while (true) { i += 1; }
  i
}
function Deep(n: int) -> int { Deep(n + 1) }
function Older(text: string) -> int {
  let p = Extract(text);
  p.age + 1
}
function Extract(text: string) -> Person {
  client Main
  prompt #"{{ text }} {{ ctx.output_format }}"#
}
"##;

fn runtime(url: &str) -> Runtime {
    let client = format!(
        "client<llm> Main {{\n  provider openai\n  options {{\n    model \"m\"\n    api_key \"k\"\n    base_url \"{url}/v1\"\n  }}\n}}\n"
    );
    Runtime::from_files(
        [("main.baml".to_string(), format!("{PROJECT}\n{client}"))],
        [],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn call(rt: &Runtime, f: &str, args: Json) -> Result<Json, String> {
    let args: Map<String, Json> = args.as_object().unwrap().clone();
    rt.call(f, &args, &CallOptions::default(), None)
        .await
        .map(|o| o.value)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_evaluate_as_baml_evaluates_them() {
    let rt = runtime("http://127.0.0.1:9");
    for (f, args, want) in [
        ("Div", json!({ "a": 7, "b": 2 }), json!(3)),
        ("Div", json!({ "a": -7, "b": 2 }), json!(-3)),
        ("Mod", json!({ "a": -7, "b": 3 }), json!(-1)),
        ("Cat", json!({ "a": "x", "b": "y" }), json!("xy")),
        ("Sum", json!({ "xs": [1, 2, 3] }), json!(6)),
        ("Area", json!({ "w": 3 }), json!(9)),
        ("Loop", json!({}), json!(5)),
        ("Len", json!({ "xs": [1, 2] }), json!(2)),
        ("Ret", json!({ "x": 5 }), json!(100)),
        ("Ret", json!({ "x": 1 }), json!(1)),
        ("MkBox", json!({ "w": 2 }), json!({ "w": 2 })),
        ("Grow", json!({ "w": 2 }), json!({ "w": 12 })),
        ("Evens", json!({ "xs": [4, 5] }), json!([4, 10])),
    ] {
        assert_eq!(call(&rt, f, args.clone()).await, Ok(want), "{f}({args})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_located_and_runaway_bodies_end() {
    let rt = runtime("http://127.0.0.1:9");
    let e = call(&rt, "Div", json!({ "a": 1, "b": 0 }))
        .await
        .unwrap_err();
    assert!(
        e.starts_with("main.baml:") && e.contains("division by zero"),
        "{e}"
    );
    let started = Instant::now();
    let e = call(&rt, "Forever", json!({})).await.unwrap_err();
    assert!(e.contains("took more than 2000000 steps"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(50));
    let e = call(&rt, "Deep", json!({ "n": 0 })).await.unwrap_err();
    assert!(
        e.contains("nest more than 32 calls deep")
            || e.contains("nested more than 128 levels deep"),
        "{e}"
    );
    let e = call(&rt, "Sum", json!({})).await.unwrap_err();
    assert!(e.contains("needs its argument `xs`"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_body_does_not_hold_its_thread() {
    // While `Forever` runs on a current-thread runtime, a timer still fires: the evaluator
    // yields, and dropping the call (a timeout) stops it.
    let rt = runtime("http://127.0.0.1:9");
    let started = Instant::now();
    let out =
        tokio::time::timeout(Duration::from_millis(200), call(&rt, "Forever", json!({}))).await;
    assert!(out.is_err(), "timed out");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_functions_called_from_a_body_run_against_the_provider() {
    let mock = MockServer::start().unwrap();
    let rt = runtime(&mock.url());
    mock.set_script(json!({ "default": { "text": "{\"name\": \"Ada\", \"age\": 36}", "usage": { "input_tokens": 7, "output_tokens": 3 } } }))
        .unwrap();
    let args: Map<String, Json> = json!({ "text": "Ada, 36" }).as_object().unwrap().clone();
    let out = rt
        .call("Older", &args, &CallOptions::default(), None)
        .await
        .unwrap();
    assert_eq!(out.value, json!(37));
    assert_eq!((out.usage.input_tokens, out.usage.output_tokens), (7, 3));
    assert_eq!(mock.requests().len(), 1);
}
