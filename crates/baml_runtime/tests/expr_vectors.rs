//! Expression functions against BAML's own VM: each case of `expr_vectors/expr_vectors.json`
//! (recorded from @boundaryml/baml 0.226.2 by `expr_vectors/generate.js`) evaluates to BAML's
//! value, or fails where BAML failed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use baml_runtime::{CallOptions, Runtime};
use serde_json::{Map, Value as Json};

/// Cases where we knowingly differ, with the reason (also in KNOWN_DIFFERENCES.md).
const KNOWN: &[(&str, &str)] = &[(
    "class_param_field",
    "BAML's VM fails reading a field of a class-typed parameter (`p.b`); we return the field",
)];

fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expression_functions_evaluate_as_bamls_vm() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/expr_vectors/expr_vectors.json"
    );
    let cases: Vec<Json> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let rt = Runtime::from_files(
            [(
                "main.baml".to_string(),
                case["source"].as_str().unwrap().to_string(),
            )],
            [],
        );
        let outcome = match rt {
            Err(e) => Err(format!("did not load: {e}")),
            Ok(rt) => {
                let args: Map<String, Json> = case["args"].as_object().cloned().unwrap_or_default();
                rt.call(
                    case["function"].as_str().unwrap(),
                    &args,
                    &CallOptions::default(),
                    None,
                )
                .await
                .map(|o| o.value)
                .map_err(|e| e.to_string())
            }
        };
        let agrees = match (&outcome, case.get("expected")) {
            (Ok(v), Some(want)) => same(v, want),
            (Err(_), None) => case.get("expected_error").is_some(),
            _ => false,
        };
        if KNOWN.iter().any(|(n, _)| *n == name) {
            assert!(
                !agrees,
                "{name} is a known difference but now agrees: remove it from KNOWN"
            );
        } else if !agrees {
            failures.push(format!(
                "{name}: BAML {}, we {outcome:?}",
                case.get("expected").unwrap_or(&case["expected_error"])
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
