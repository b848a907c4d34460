//! CPU cost of the parts of one BAML call that are not I/O (release build):
//! `cargo run --release -p baml_runtime --example cpu_parts`
//!
//! Renders the request the way a call does (`render_request`: prepare, resolve the client,
//! render the prompt, build the body), serializes the body, decodes a typical OpenAI answer and
//! parses its text into the return type, each in a loop, and prints the time per iteration.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

mod common;

const ANSWER: &str = r#"{"id":"chatcmpl-mock1","object":"chat.completion","created":1795567752,"model":"x","choices":[{"index":0,"message":{"role":"assistant","content":"{\"name\": \"Ann\", \"age\": 36}","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":4,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_mock"}"#;

fn time(label: &str, n: u32, mut f: impl FnMut()) {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    println!(
        "{label:<40} {:>8.2} µs",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
}

fn main() {
    // Nothing listens there: nothing is sent.
    let rt = common::extract_runtime("http://127.0.0.1:9");
    let mut args = serde_json::Map::new();
    args.insert("text".into(), "Ann is 36.".into());
    let opts = baml_runtime::CallOptions::default();
    let n = 20_000;
    time("render_request (prepare..build body)", n, || {
        black_box(rt.render_request("Extract", &args, &opts, false).unwrap());
    });
    let req = rt.render_request("Extract", &args, &opts, false).unwrap();
    time("serialize body", n, || {
        black_box(serde_json::to_vec(&req.body).unwrap());
    });
    time("decode answer", n, || {
        black_box(
            baml_llm::response::parse_response(
                baml_llm::response::Api::ChatCompletions,
                ANSWER.as_bytes(),
            )
            .unwrap(),
        );
    });
    let ir = rt.ir();
    let ty = ir.function("Extract").unwrap().ret.clone();
    time("parse output (SAP)", n, || {
        black_box(baml_sap::parse(ir, &ty, "{\"name\": \"Ann\", \"age\": 36}", false).unwrap());
    });
}
