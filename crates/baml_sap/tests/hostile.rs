//! Bounded cost on hostile model output: deep nesting, huge outputs, quadratic traps. Each
//! must finish (no stack overflow, no panic) and grow about linearly with the input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

fn project() -> baml_ir::Ir {
    baml_ir::load(&[(
        "main.baml".into(),
        "class Node {\n  name string\n  kids Node[]\n}\ntype J = int | string | J[] | map<string, J>\nclass Row {\n  a int\n  b string?\n}\nfunction F() -> Node {\n  client \"openai/gpt-4o\"\n  prompt #\"x\"#\n}\nfunction G() -> J {\n  client \"openai/gpt-4o\"\n  prompt #\"x\"#\n}\nfunction H() -> Row[] {\n  client \"openai/gpt-4o\"\n  prompt #\"x\"#\n}\n"
            .into(),
    )])
    .unwrap()
}

/// Parses every input as every function's type, on a thread with a big enough stack for a
/// debug build.
fn parse_all(inputs: Vec<String>) -> Duration {
    parse_as(&["F", "G", "H"], inputs, true)
}

fn parse_as(names: &'static [&'static str], inputs: Vec<String>, both_modes: bool) -> Duration {
    let started = Instant::now();
    let handle = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let ir = project();
            for name in names {
                let ty = ir.function(name).unwrap().ret.clone();
                for input in &inputs {
                    for partial in [false, true]
                        .into_iter()
                        .take(if both_modes { 2 } else { 1 })
                    {
                        let _ = baml_sap::parse(&ir, &ty, input, partial);
                    }
                }
            }
        })
        .unwrap();
    handle.join().expect("parsing panicked");
    started.elapsed()
}

#[test]
fn deep_nesting_does_not_overflow() {
    let deep = 100_000;
    parse_all(vec![
        "[".repeat(deep),
        "{\"a\":".repeat(deep),
        format!("{}1{}", "[".repeat(deep), "]".repeat(deep)),
        format!(
            "{}{}",
            "{\"name\": \"x\", \"kids\": [".repeat(deep),
            "]}".repeat(deep)
        ),
        "```json\n".repeat(10_000),
    ]);
}

#[test]
fn large_outputs_and_traps_stay_linear() {
    let unit = |n: usize| -> Vec<String> {
        vec![
            format!(
                "[{}]",
                (0..n)
                    .map(|i| format!("{{\"a\": {i}, \"b\": \"row {i}\"}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "{a: ,\" ".repeat(n),
            "\"".repeat(n * 8),
            "{".repeat(n * 8),
            format!("{{\"name\": \"{}\"}}", "x\\\"".repeat(n * 2)),
            "Prose with true and false and one two, ".repeat(n / 4 + 1),
            format!("{{\"name\": {}}}", "word, ".repeat(n)),
        ]
    };
    // Warm up, then compare a small and a 16x larger input: the time should grow about 16x,
    // far below the 256x a quadratic parser would take.
    parse_all(unit(250));
    let small = parse_all(unit(500));
    let large = parse_all(unit(8_000));
    let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-4);
    assert!(
        ratio < 64.0,
        "16x more input took {ratio:.1}x longer ({small:?} -> {large:?})"
    );
}

#[test]
fn ten_megabyte_output() {
    let row = "{\"a\": 1, \"b\": \"some text here\"}, ";
    let big = format!("[{}]", row.repeat(10_000_000 / row.len()));
    let took = parse_as(&["H"], vec![big], false);
    assert!(took < Duration::from_mins(2), "10 MB took {took:?}");
}
