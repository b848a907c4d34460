//! Runtimes prepared ahead (`spares.rs`): a sandbox with the default memory limit starts from
//! one, behaves exactly as one created cold, and counts the prepared heap as its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]
mod common;

use std::time::{Duration, Instant};

use baml_sandbox::{SandboxError, SandboxHandle, SandboxOptions, Value};
use common::{num, Harness};

/// Waits for a prepared runtime; the pool fills when a sandbox is first spawned.
fn wait_for_spares() {
    Harness::spawned(SandboxOptions::default(), vec![])
        .unwrap()
        .sandbox
        .dispose();
    let t = Instant::now();
    while baml_sandbox::spares_ready() == 0 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn sandboxes_from_prepared_runtimes_behave_as_cold_ones() {
    wait_for_spares();
    assert!(baml_sandbox::spares_ready() > 0, "no runtime was prepared");
    let mut made = Vec::new();
    for i in 0..12 {
        let options = SandboxOptions {
            globals: vec![("i".into(), num(f64::from(i)))],
            console: true,
            ..SandboxOptions::default()
        };
        let h = Harness::spawned(options, vec![]).unwrap();
        // Its own realm: globals, lazily created built-ins, limits.
        assert_eq!(
            h.eval("globalThis.mine = i; [i, new Map([[1, 2]]).get(1), typeof URL]")
                .unwrap(),
            Value::Array(vec![
                num(f64::from(i)),
                num(2.0),
                Value::String("function".into())
            ])
        );
        let r = h.eval("function f() { return f() + 1 } f()");
        assert!(matches!(r, Err(SandboxError::Stack)), "{r:?}");
        let r = h.eval_with("for (;;) {}", Some(Duration::from_millis(50)));
        assert!(matches!(r, Err(SandboxError::Timeout { .. })), "{r:?}");
        // Its heap is counted from the start: the prepared realm is in it.
        let (used, limit) = h.sandbox.memory_usage();
        assert!(
            used > 50_000 && limit == baml_sandbox::DEFAULT_MEMORY_LIMIT,
            "{used} {limit}"
        );
        made.push(h);
    }
    for (i, h) in made.iter().enumerate() {
        assert_eq!(h.eval("mine").unwrap(), num(i as f64));
    }
    for h in &made {
        h.sandbox.dispose();
    }
}

#[test]
fn a_memory_limit_still_applies_to_a_prepared_runtime() {
    wait_for_spares();
    let h = Harness::spawned(SandboxOptions::default(), vec![]).unwrap();
    let r = h.eval("(() => { const xs = []; for (;;) xs.push('x'.repeat(4096) + xs.length) })()");
    assert!(matches!(r, Err(SandboxError::Memory { .. })), "{r:?}");
    assert_eq!(h.eval("2").unwrap(), num(2.0));
    // Other limits create their runtime cold, and keep theirs.
    let small = Harness::spawned(
        SandboxOptions {
            memory_limit_bytes: 4 << 20,
            ..SandboxOptions::default()
        },
        vec![],
    )
    .unwrap();
    assert_eq!(small.sandbox.memory_usage().1, 4 << 20);
    let r = small.eval("new Array(1e6).fill(1.5).length");
    assert!(matches!(r, Err(SandboxError::Memory { .. })), "{r:?}");
}

#[test]
fn disposing_before_the_first_turn_frees_the_prepared_runtime() {
    wait_for_spares();
    for _ in 0..20 {
        let h = Harness::spawned(SandboxOptions::default(), vec![]).unwrap();
        h.sandbox.dispose();
        let r = h.eval("1");
        assert!(matches!(r, Err(SandboxError::Disposed)), "{r:?}");
    }
}
