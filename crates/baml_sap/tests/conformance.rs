//! Schema-aligned parsing vectors recorded from BAML's own runtime (`tests/vectors/*.json`):
//! each `raw` model output, parsed as `output_type`, must give BAML's `expected` value, or fail
//! where BAML failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;

/// JSON equality where numbers compare by value (`42` and `42.0` are one JavaScript number).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn run(file: &str) -> (usize, Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(file);
    let vectors: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut failures = Vec::new();
    for v in &vectors {
        let name = v["name"].as_str().unwrap();
        let src = format!(
            "{}\nfunction ConformanceFn() -> {} {{\n  client \"openai/gpt-4o\"\n  prompt #\"x\"#\n}}\n",
            v["baml"].as_str().unwrap(),
            v["output_type"].as_str().unwrap()
        );
        let loaded = baml_ir::load(&[("main.baml".into(), src)]);
        if v["load_error"].as_bool().unwrap_or(false) {
            // BAML rejects the project itself, so its parser never runs.
            if loaded.is_ok() {
                failures.push(format!("{name}: BAML rejects the .baml, we load it"));
            }
            continue;
        }
        let ir = match loaded {
            Ok(ir) => ir,
            Err(d) => {
                failures.push(format!("{name}: the .baml did not load: {d:?}"));
                continue;
            }
        };
        let f = ir.function("ConformanceFn").unwrap();
        let partial = v["partial"].as_bool().unwrap_or(false);
        let got = baml_sap::parse_checked(
            &ir,
            &f.ret,
            &f.ret_checks,
            v["raw"].as_str().unwrap(),
            partial,
        );
        let expect_error = v["expect_error"].as_bool().unwrap_or(false);
        match (got, expect_error) {
            (Ok(value), false) if same(&value, &v["expected"]) => {}
            (Err(_), true) => {}
            (Ok(value), false) => {
                failures.push(format!("{name}: expected {}, got {value}", v["expected"]));
            }
            (Ok(value), true) => failures.push(format!("{name}: expected an error, got {value}")),
            (Err(e), false) => {
                failures.push(format!("{name}: expected {}, got error {e}", v["expected"]));
            }
        }
    }
    (vectors.len(), failures)
}

#[test]
fn starter_vectors_from_baml() {
    let (count, failures) = run("sap_vectors.json");
    assert_eq!(count, 25);
    assert!(
        failures.is_empty(),
        "{} of {count} vectors differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Cases of `baml_vectors.json` where we still answer differently from BAML, each with its reason
/// under `## Parsing` in `KNOWN_DIFFERENCES.md`. A listed case that starts to agree fails the
/// test, so the list cannot go stale.
const KNOWN: &[&str] = &["alias-check-partial_595", "alias-check-partial_601"];

#[test]
fn our_vectors_recorded_from_baml() {
    let (count, failures) = run("baml_vectors.json");
    assert!(count >= 805, "only {count} vectors");
    let failed: Vec<&str> = failures
        .iter()
        .map(|f| f.split(':').next().unwrap())
        .collect();
    let unexpected: Vec<&String> = failures
        .iter()
        .zip(&failed)
        .filter(|(_, name)| !KNOWN.contains(name))
        .map(|(f, _)| f)
        .collect();
    let now_agree: Vec<&&str> = KNOWN.iter().filter(|k| !failed.contains(k)).collect();
    eprintln!(
        "{} of {count} vectors agree with BAML ({} known differences)",
        count - failures.len(),
        KNOWN.len()
    );
    for f in &failures {
        eprintln!("{f}");
    }
    assert!(
        unexpected.is_empty(),
        "{} vectors differ from BAML and are not listed in KNOWN:\n{}",
        unexpected.len(),
        unexpected
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        now_agree.is_empty(),
        "known differences that now agree with BAML (remove them from KNOWN and KNOWN_DIFFERENCES.md): {now_agree:?}"
    );
}

/// Regression: a long, slightly sloppy list once scored worse than the empty-list default of
/// the raw-text reading, and parsed as `[]`.
#[test]
fn many_found_items_beat_the_empty_default() {
    let ir = baml_ir::load(&[(
        "main.baml".into(),
        "class Item {\n  name string\n  years float\n  tags string[]\n}\nfunction F() -> Item[] {\n  client \"openai/gpt-4o\"\n  prompt #\"x\"#\n}\n".into(),
    )])
    .unwrap();
    let items: Vec<String> = (0..50)
        .map(|i| {
            format!("  {{ name: 'n{i}', \"years\": \"{i}.5\", \"tags\": \"one\", \"extra\": 1, }}")
        })
        .collect();
    let text = format!(
        "Here you go:\n```json\n[\n{}\n]\n```\nDone.",
        items.join(",\n")
    );
    let ty = &ir.function("F").unwrap().ret;
    let value = baml_sap::parse(&ir, ty, &text, false).unwrap();
    assert_eq!(value.as_array().map(Vec::len), Some(50), "{value}");
}
