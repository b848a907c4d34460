//! `render_request` against requests BAML itself built (`buildRequest` of @boundaryml/baml
//! 0.226.2): the shared starter cases and our own recorded ones in `__test__/conformance/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeMap;

use baml_runtime::{CallOptions, Runtime};
use serde_json::Value as Json;

const KEPT: &[&str] = &[
    "content-type",
    "authorization",
    "x-api-key",
    "api-key",
    "anthropic-version",
    "x-goog-api-key",
];

fn load(path: &str) -> Vec<Json> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str::<Vec<Json>>(&text).unwrap()
}

/// Runs one case; `Err` describes the difference.
fn run(case: &Json) -> Result<(), String> {
    let files: Vec<(String, String)> = case["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let env: BTreeMap<String, String> = case["env"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let loaded = Runtime::from_files(files, []);
    let phase = case["error_phase"].as_str();
    let rt = match (loaded, phase) {
        (Err(_), Some("load")) => return Ok(()),
        (Ok(_), Some("load")) => {
            return Err(format!(
                "BAML refused to load ({}) but we loaded",
                case["expected_error"]
            ))
        }
        (Err(e), _) => return Err(format!("we refused to load: {e}")),
        (Ok(rt), _) => rt,
    };
    let args = case["args"].as_object().cloned().unwrap_or_default();
    let opts = CallOptions {
        env,
        client: None,
        ..CallOptions::default()
    };
    let stream = case["stream"].as_bool().unwrap_or(false);
    let got = rt.render_request(case["function"].as_str().unwrap(), &args, &opts, stream);
    let req = match (got, phase) {
        (Err(_), Some("request")) => return Ok(()),
        (Ok(r), Some("request")) => {
            return Err(format!(
                "BAML refused ({}) but we built {}",
                case["expected_error"], r.body
            ))
        }
        (Err(e), _) => return Err(format!("we refused: {e}")),
        (Ok(r), _) => r,
    };
    let exp = &case["expected"];
    let mut diffs = Vec::new();
    if exp["url"].as_str() != Some(req.url.as_str()) {
        diffs.push(format!("url: expected {} got {}", exp["url"], req.url));
    }
    let headers: BTreeMap<&str, &str> = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let exp_headers = exp["headers"].as_object().unwrap();
    for (k, v) in exp_headers {
        if headers.get(k.as_str()).copied() != v.as_str() {
            diffs.push(format!(
                "header {k}: expected {v} got {:?}",
                headers.get(k.as_str())
            ));
        }
    }
    for (k, v) in &headers {
        if KEPT.contains(k) && !exp_headers.contains_key(*k) {
            diffs.push(format!("header {k}: not expected, got {v:?}"));
        }
    }
    if exp["body"] != req.body {
        diffs.push(format!(
            "body:\n  expected {}\n  got      {}",
            exp["body"], req.body
        ));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("\n"))
    }
}

/// Providers baml-quickjs refuses with "not supported" (see README): their cases are skipped.
/// (None since aws-bedrock and vertex-ai were added.)
const UNSUPPORTED: &[&str] = &[];

/// Cases where we knowingly differ from BAML, each with the reason (README, "Differences").
const KNOWN: &[(&str, &str)] = &[
    ("media_image_url_google", "the download happens in render_request_async (this test renders without one); __test__/requests.spec.js checks it against a media server"),
    ("media_image_url_with_media_type_google", "the download happens in render_request_async (this test renders without one); __test__/requests.spec.js checks it against a media server"),
    ("media_audio_url_openai", "the download happens in render_request_async (this test renders without one); __test__/requests.spec.js checks it against a media server"),
    ("media_audio_url_responses", "the download happens in render_request_async (this test renders without one); __test__/requests.spec.js checks it against a media server"),
    ("media_audio_url_generic", "the download happens in render_request_async (this test renders without one); __test__/requests.spec.js checks it against a media server"),
    ("media_pdf_url_anthropic", "the download happens in render_request_async (this test renders without one); __test__/requests.spec.js checks it against a media server"),
    ("media_image_url_vertex", "the download happens in render_request_async (this test renders without one); __test__/requests.spec.js checks it against a media server"),
    ("media_audio_url_vertex", "the download happens in render_request_async (this test renders without one); __test__/requests.spec.js checks it against a media server"),
    ("media_image_url_bedrock", "the download happens in render_request_async (this test renders without one); __test__/requests.spec.js checks it against a media server"),
];

fn run_all(path: &str) -> (usize, Vec<String>) {
    let cases = load(path);
    let mut failures = Vec::new();
    for case in &cases {
        let sources = case["files"].to_string();
        if UNSUPPORTED.iter().any(|p| sources.contains(p)) {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        if KNOWN.iter().any(|(n, _)| *n == name) {
            assert!(
                run(case).is_err(),
                "{name} is listed as a known difference but now matches BAML: remove it from KNOWN"
            );
            continue;
        }
        if let Err(d) = run(case) {
            failures.push(format!("{}:\n{d}", case["name"].as_str().unwrap()));
        }
    }
    (cases.len(), failures)
}

fn check(path: &str) {
    let (n, failures) = run_all(path);
    assert!(
        failures.is_empty(),
        "{} of {n} cases differ from BAML:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn shared_starter_requests() {
    check(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../__test__/conformance/requests.shared.json"
    ));
}

#[test]
fn recorded_requests() {
    check(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../__test__/conformance/requests.baml.json"
    ));
}
