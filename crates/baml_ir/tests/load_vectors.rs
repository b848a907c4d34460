//! The load-decision differential set: every case of `load_vectors/load_vectors.json` (recorded
//! from `@boundaryml/baml` by `load_vectors/generate.js`) is accepted by `baml_ir::load` exactly
//! when BAML accepts it, except the cases named in [`KNOWN`] (each with its reason in
//! KNOWN_DIFFERENCES.md, `## Loading`), which must still differ.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

/// Cases where we still decide differently from BAML.
const KNOWN: &[&str] = &[
    // BAML accepts a parameter declared twice; we refuse (which one would a call bind?).
    "fixture_invalid_duplicate_param",
    // BAML accepts `function F(x: string) string {` without `->`; we require the arrow.
    "fixture_invalid_function_missing_arrow",
    // BAML accepts media types in return types; a model's text cannot be parsed into them.
    "fixture_invalid_media_return",
    "fixture_invalid_media_return_nested",
    // BAML accepts an option value with an unclosed `"`; we report it as a typo.
    "fixture_invalid_unclosed_string",
];

#[test]
fn load_decisions_match_baml() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/load_vectors/load_vectors.json"
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = json["cases"].as_array().unwrap();
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    let mut differ = Vec::new();
    let mut agree_known = Vec::new();
    let mut checked = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        if case["crashed"].as_bool() == Some(true) {
            continue;
        }
        checked += 1;
        let baml_accepts = case["accepted"].as_bool().unwrap();
        let mut files: Vec<(String, String)> = case["files"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        files.sort();
        let ours = baml_ir::load(&files);
        let agree = ours.is_ok() == baml_accepts;
        if KNOWN.contains(&name) {
            if agree {
                agree_known.push(name.to_string());
            }
        } else if !agree {
            let detail = match &ours {
                Ok(_) => format!("BAML rejects ({}), we accept", case["error"]),
                Err(d) => format!(
                    "BAML accepts, we reject: {}:{}:{}: {}",
                    d[0].file, d[0].line, d[0].column, d[0].message
                ),
            };
            differ.push(format!("{name}: {detail}"));
        }
    }
    let unknown_names: Vec<&&str> = KNOWN
        .iter()
        .filter(|k| !cases.iter().any(|c| c["name"].as_str() == Some(**k)))
        .collect();
    eprintln!(
        "{checked} cases checked, {} differ unexpectedly, {} known",
        differ.len(),
        KNOWN.len()
    );
    assert!(
        differ.is_empty() && agree_known.is_empty() && unknown_names.is_empty(),
        "differ from BAML (not in KNOWN):\n  {}\nin KNOWN but now agree (remove them):\n  {}\nin KNOWN but not a case: {unknown_names:?}",
        differ.join("\n  "),
        agree_known.join("\n  ")
    );
}
