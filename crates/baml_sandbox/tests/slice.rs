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

/// A turn that ends inside its slice must not leave its coroutine's yielder behind: a turn
/// that takes the state lock next on another thread (not in a coroutine) once suspended the
/// finished coroutine from that thread when its own work outlasted the stale slice end, two
/// threads then ran on one stack, and Node died with SIGSEGV (seen in the soak). Turns here
/// start on many threads at once: the test thread, a replying thread and tokio's workers,
/// some short (inside the slice), some long (1 ms of work), for a few seconds.
#[test]
fn a_finished_slice_never_suspends_another_threads_turn() {
    use std::sync::mpsc;
    let (tx, rx) = mpsc::channel::<baml_sandbox::Reply>();
    let tx = std::sync::Mutex::new(tx);
    // Replies come from their own thread, after a few microseconds, in order.
    std::thread::spawn(move || {
        let mut n = 0u32;
        while let Ok(reply) = rx.recv() {
            n = n.wrapping_add(1);
            std::thread::sleep(Duration::from_micros(u64::from(n % 7) * 20));
            reply(Ok(Value::Number(f64::from(n % 5))));
        }
    });
    let later: HostFn = Box::new(move |_args, reply| {
        let _ = tx.lock().unwrap().send(reply);
    });
    let h = Harness::with_mode(SandboxOptions::default(), vec![("later", later)], true);
    let script =
        "(async () => { let s = 0; for (let i = 0; i < 60; i++) { const k = await later(); \
                  s += k; if (k === 0) { const t = Date.now(); while (Date.now() - t < 1) {} } } \
                  return s })()";
    let until = Instant::now() + Duration::from_secs(4);
    let mut rounds = 0;
    while Instant::now() < until {
        let pending: Vec<_> = (0..6).map(|_| h.start(script, None)).collect();
        for rx in pending {
            let v = rx.recv_timeout(Duration::from_mins(1)).unwrap().unwrap();
            assert!(matches!(v, Value::Number(_)), "{v:?}");
        }
        rounds += 1;
    }
    assert!(rounds > 0);
}
