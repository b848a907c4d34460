//! Turns started on the embedder's thread run there for a slice, then move to a worker.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::{Duration, Instant};

use baml_sandbox::{SandboxError, SandboxOptions, Value};
use common::{num, Harness, HostFn};

fn inline() -> Harness {
    let add: HostFn = Box::new(|args, reply| {
        let sum: f64 = args
            .iter()
            .map(|a| if let Value::Number(n) = a { *n } else { 0.0 })
            .sum();
        reply(Ok(Value::Number(sum)));
    });
    Harness::with_mode(SandboxOptions::default(), vec![("add", add)], true)
}

#[test]
fn short_work_completes_in_the_slice() {
    let h = inline();
    let t = Instant::now();
    let rx = h.start("1 + 1", None);
    // The turn ran on this thread: the result is already there when evaluate returns.
    assert_eq!(
        rx.try_recv().expect("settled within the slice").unwrap(),
        num(2.0)
    );
    assert!(t.elapsed() < Duration::from_millis(50));
    assert_eq!(h.eval("await add(1, 2)").unwrap(), num(3.0));
}

#[test]
fn long_work_moves_to_a_worker_without_blocking_the_caller() {
    let h = inline();
    let t = Instant::now();
    let rx = h.start(
        "let x = 0; for (let i = 0; i < 3e7; i++) x += i % 3; x",
        None,
    );
    let returned_after = t.elapsed();
    assert!(
        returned_after < Duration::from_millis(100),
        "evaluate blocked the caller for {returned_after:?}"
    );
    let v = rx.recv_timeout(Duration::from_mins(1)).unwrap().unwrap();
    assert_eq!(v, num(3e7));
    assert!(t.elapsed() > returned_after, "the rest ran elsewhere");
}

#[test]
fn limits_hold_after_moving() {
    let h = inline();
    let t = Instant::now();
    let rx = h.start("for (;;) {}", Some(Duration::from_millis(200)));
    assert!(t.elapsed() < Duration::from_millis(100));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        Err(SandboxError::Timeout { timeout_ms: 200 })
    );
    assert_eq!(
        h.eval("function f() { return f() + 1 } f()"),
        Err(SandboxError::Stack)
    );
    assert_eq!(h.eval("'fine'").unwrap(), Value::String("fine".into()));
}

#[test]
fn many_contexts_moving_at_once() {
    let hs: Vec<Harness> = (0..8).map(|_| inline()).collect();
    let rxs: Vec<_> = hs
        .iter()
        .map(|h| h.start("let s = 0; for (let i = 0; i < 2e6; i++) s += 1; s", None))
        .collect();
    for rx in rxs {
        assert_eq!(
            rx.recv_timeout(Duration::from_mins(1)).unwrap().unwrap(),
            num(2e6)
        );
    }
}
