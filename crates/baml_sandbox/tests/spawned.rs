//! Sandboxes created with `Sandbox::spawn`: the runtime is created on the pool, ahead of the
//! first evaluation, and what creation finds out rejects every evaluation.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::{Duration, Instant};

use baml_sandbox::{SandboxError, SandboxHandle, SandboxOptions, Value};
use common::{num, Harness};

fn string(s: &str) -> Value {
    Value::String(s.to_string())
}

#[test]
fn a_spawned_sandbox_evaluates_with_its_globals_and_host_functions() {
    let options = SandboxOptions {
        globals: vec![("start".into(), num(40.0))],
        ..SandboxOptions::default()
    };
    let two: common::HostFn = Box::new(|_, reply| reply(Ok(num(2.0))));
    let h = Harness::spawned(options, vec![("two", two)]).unwrap();
    assert_eq!(h.eval("start + await two()").unwrap(), num(42.0));
    // The realm persists across evaluations, as with `Sandbox::new`.
    h.eval("globalThis.kept = 'yes'").unwrap();
    assert_eq!(h.eval("kept").unwrap(), string("yes"));
}

#[test]
fn globals_that_do_not_fit_reject_every_evaluation_with_sandbox_memory() {
    let options = SandboxOptions {
        memory_limit_bytes: 1 << 20,
        globals: vec![("big".into(), string(&"x".repeat(3 << 20)))],
        ..SandboxOptions::default()
    };
    let h = Harness::spawned(options, vec![]).unwrap();
    // Some evaluations queued before creation ends, some after: all of them reject.
    let early: Vec<_> = (0..5).map(|_| h.start("1", None)).collect();
    for rx in early {
        let r = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("never settled");
        assert!(
            matches!(r, Err(SandboxError::Memory { .. })),
            "expected SANDBOX_MEMORY, got {r:?}"
        );
    }
    let late = h.eval("1");
    assert!(
        matches!(late, Err(SandboxError::Memory { .. })),
        "expected SANDBOX_MEMORY, got {late:?}"
    );
}

#[test]
fn bad_options_are_refused_at_once_not_later() {
    let options = SandboxOptions {
        memory_limit_bytes: 20_000,
        ..SandboxOptions::default()
    };
    assert!(matches!(
        Harness::spawned(options, vec![]),
        Err(SandboxError::InvalidOption { .. })
    ));
}

#[test]
fn disposing_before_creation_ends_rejects_with_disposed_and_leaves_nothing_running() {
    let t0 = Instant::now();
    for i in 0..300 {
        let h = Harness::spawned(SandboxOptions::default(), vec![]).unwrap();
        let rx = h.start("while (true) {}", Some(Duration::from_mins(1)));
        if i % 2 == 0 {
            std::thread::yield_now();
        }
        h.sandbox.dispose();
        let r = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("never settled");
        assert_eq!(r, Err(SandboxError::Disposed));
        assert!(h.sandbox.is_disposed());
    }
    // A busy loop left running would hold pool threads for a minute each.
    let h = Harness::spawned(SandboxOptions::default(), vec![]).unwrap();
    assert_eq!(h.eval("1 + 1").unwrap(), num(2.0));
    assert!(t0.elapsed() < Duration::from_secs(30));
}
