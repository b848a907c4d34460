//! What one BAML call costs without Node (release build):
//! `cargo run --release -p baml_runtime --example call_cost [calls]`
//!
//! A thread hands `Runtime::call` to a 2-worker tokio runtime and blocks until the answer comes
//! back, one call at a time, against the project's mock LLM server on loopback (started here,
//! zero latency). This is the shape of a call from Node minus Node: compare the result with
//! `callFunction` in `npm run bench` to see what the napi layer adds, and with a plain HTTP
//! client to see what the runtime adds. Prints wall time and process CPU time per call.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use mock_llm::MockServer;

mod common;

fn main() {
    let n: usize = std::env::args().nth(1).map_or(3000, |s| s.parse().unwrap());
    let mock = MockServer::start().unwrap();
    mock.set_script(
        serde_json::json!({ "default": { "text": "{\"name\": \"Ann\", \"age\": 36}" } }),
    )
    .unwrap();
    let url = mock.url();
    let rt = Arc::new(common::extract_runtime(&url));
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut args = serde_json::Map::new();
    args.insert("text".into(), "Ann is 36.".into());
    for round in 0..4 {
        let t = Instant::now();
        let cpu0 = cpu_us();
        for _ in 0..n {
            let (tx, rx) = std::sync::mpsc::channel();
            let rt = rt.clone();
            let args = args.clone();
            tokio.spawn(async move {
                let out = rt
                    .call(
                        "Extract",
                        &args,
                        &baml_runtime::CallOptions::default(),
                        None,
                    )
                    .await;
                let _ = tx.send(out.map(|o| o.value));
            });
            assert!(rx.recv().unwrap().unwrap().is_object());
        }
        if round > 0 {
            #[expect(clippy::cast_precision_loss, reason = "small counts")]
            let per = |x: f64| x / n as f64;
            println!(
                "Runtime::call through a thread hop: {:.1} µs per call, {:.1} µs CPU per call (this process)",
                per(t.elapsed().as_secs_f64() * 1e6),
                per(cpu_us() - cpu0),
            );
        }
    }
}

/// CPU time of this process so far, in µs (Linux; 0 elsewhere). The mock server runs in this
/// process too, so this includes its share.
fn cpu_us() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime, in clock ticks of 10 ms.
    (ticks(11) + ticks(12)) * 10_000.0
}
