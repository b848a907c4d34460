//! What a stopped evaluation leaves behind: once no evaluation is live, a host result, a timer
//! or a queued job of a stopped one must not resume its code, which would otherwise run on the
//! time of the next evaluation (found by the sandbox fuzzer: `await abortMe(); for (;;) {}`
//! left the context unable to answer `1 + 1` within 5 s).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baml_sandbox::{Reply, SandboxError, SandboxHandle, SandboxOptions, Value};
use common::{num, Harness, HostFn};

type Held = Arc<Mutex<Vec<Reply>>>;

/// A harness whose host function `hold()` keeps its reply until the test releases it, and
/// `count()` counts the calls that got through.
fn holding() -> (Harness, Held, Arc<Mutex<u32>>) {
    let held: Held = Arc::default();
    let count = Arc::new(Mutex::new(0));
    let h = held.clone();
    let keep: HostFn = Box::new(move |_, reply| h.lock().unwrap().push(reply));
    let c = count.clone();
    let counter: HostFn = Box::new(move |_, reply| {
        *c.lock().unwrap() += 1;
        reply(Ok(Value::Null));
    });
    let harness = Harness::new(
        SandboxOptions {
            timeout: Duration::from_secs(10),
            ..SandboxOptions::default()
        },
        vec![("hold", keep), ("count", counter)],
    );
    (harness, held, count)
}

fn wait_held(held: &Held, n: usize) {
    let until = Instant::now() + Duration::from_secs(10);
    while held.lock().unwrap().len() < n {
        assert!(Instant::now() < until, "the sandbox never called hold()");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn release(held: &Held) {
    for reply in held.lock().unwrap().drain(..) {
        reply(Ok(num(1.0)));
    }
}

/// The next evaluation answers at once, not after the busy loop its predecessor left.
fn answers_quickly(h: &Harness) {
    let t0 = Instant::now();
    let r = h.eval_with("1 + 1", Some(Duration::from_secs(3)));
    assert_eq!(r.unwrap(), num(2.0));
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t0.elapsed()
    );
}

#[test]
fn a_host_result_after_an_abort_does_not_resume_the_aborted_code() {
    let (h, held, count) = holding();
    let (id, rx) = h.start_id("await hold(); await count(); for (;;) {}", None);
    wait_held(&held, 1);
    h.sandbox.abort(id);
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        Err(SandboxError::Aborted)
    ));
    release(&held);
    std::thread::sleep(Duration::from_millis(50));
    answers_quickly(&h);
    assert_eq!(*count.lock().unwrap(), 0, "the aborted code resumed");
}

#[test]
fn a_host_result_after_a_timeout_does_not_resume_the_timed_out_code() {
    let (h, held, count) = holding();
    let r = h.eval_with(
        "await hold(); await count(); for (;;) {}",
        Some(Duration::from_millis(100)),
    );
    assert!(matches!(r, Err(SandboxError::Timeout { .. })), "{r:?}");
    release(&held);
    std::thread::sleep(Duration::from_millis(50));
    answers_quickly(&h);
    assert_eq!(*count.lock().unwrap(), 0, "the timed-out code resumed");
}

#[test]
fn a_result_racing_the_abort_never_costs_the_next_evaluation_its_time() {
    // The reply and the abort land in either order, in one turn or two; whichever way, the
    // busy loop after `hold()` must not outlive the aborted evaluation.
    for round in 0..20 {
        let (h, held, _) = holding();
        let (id, rx) = h.start_id("await hold(); for (;;) {}", None);
        wait_held(&held, 1);
        if round % 2 == 0 {
            release(&held);
            h.sandbox.abort(id);
        } else {
            h.sandbox.abort(id);
            release(&held);
        }
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            Err(SandboxError::Aborted)
        ));
        answers_quickly(&h);
    }
}

#[test]
fn timers_and_job_chains_of_an_aborted_evaluation_die_with_it() {
    let (h, held, count) = holding();
    let (id, rx) = h.start_id(
        "setTimeout(() => count(), 50);
         (function again() { Promise.resolve().then(again) })();
         await hold();
         for (;;) {}",
        None,
    );
    // The job chain keeps the turn busy until the abort interrupts it.
    std::thread::sleep(Duration::from_millis(30));
    h.sandbox.abort(id);
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        Err(SandboxError::Aborted)
    ));
    release(&held);
    std::thread::sleep(Duration::from_millis(150));
    answers_quickly(&h);
    assert_eq!(
        *count.lock().unwrap(),
        0,
        "a timer of the aborted evaluation fired"
    );
}

#[test]
fn a_live_sibling_keeps_the_shared_realm_running() {
    // Evaluations in flight together share the realm: aborting one does not stop the timers
    // and calls the other still awaits.
    let (h, held, count) = holding();
    let (id, rx) = h.start_id("await hold(); 'first'", None);
    let sibling = h.start(
        "await new Promise((r) => setTimeout(r, 100)); await count(); 'second'",
        None,
    );
    wait_held(&held, 1);
    h.sandbox.abort(id);
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        Err(SandboxError::Aborted)
    ));
    assert_eq!(
        sibling
            .recv_timeout(Duration::from_secs(5))
            .unwrap()
            .unwrap(),
        Value::String("second".into())
    );
    assert_eq!(*count.lock().unwrap(), 1);
    release(&held);
    answers_quickly(&h);
}

#[test]
fn a_host_answer_arriving_at_a_full_heap_never_leaves_its_awaiter_hanging() {
    // QuickJS drops a promise reaction it has no memory to queue: the answer is delivered and
    // nothing resumes. How full the heap must be for that depends on the build, so this sweeps
    // the room left (the first heap-filling loop leaves none; `a.length -= k` frees some).
    // Each evaluation must settle soon after the answer, with a value or out of memory.
    for k in (0..=400).step_by(10) {
        let fail: HostFn = Box::new(|_, reply| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                reply(Err(baml_sandbox::HostError::from(
                    "nested evaluation failed",
                )));
            });
        });
        let h = Harness::new(
            SandboxOptions {
                memory_limit_bytes: 1 << 20,
                timeout: Duration::from_secs(10),
                ..SandboxOptions::default()
            },
            vec![("fail", fail)],
        );
        let t0 = Instant::now();
        let r = h.eval_with(
            &format!(
                "const p = fail();
                 const a = [];
                 try {{ for (;;) a.push('x'.repeat(10)) }} catch (e) {{ 0 }}
                 a.length -= {k};
                 let r; try {{ r = await p }} catch (e) {{ r = String(e) }}
                 typeof r"
            ),
            Some(Duration::from_secs(3)),
        );
        assert!(
            matches!(&r, Ok(Value::String(_)) | Err(SandboxError::Memory { .. })),
            "room {k}: {r:?} after {:?}",
            t0.elapsed()
        );
    }
}

#[test]
fn stopping_one_evaluation_never_cuts_short_the_code_of_another() {
    // Found by the sandbox fuzzer: the interrupt meant for A ended whatever code was running,
    // here B's busy loop, and B's script (an async function ended by an uncatchable error)
    // then never settled: B waited for its own deadline. Both ways A can stop.
    for abort in [false, true] {
        let (h, _, _) = holding();
        let (a, a_rx) = h.start_id(
            "await new Promise(() => {})",
            Some(Duration::from_millis(100)),
        );
        let t0 = Instant::now();
        let b = h.start(
            "const t = Date.now(); while (Date.now() - t < 400) {} 'b done'",
            Some(Duration::from_secs(5)),
        );
        if abort {
            std::thread::sleep(Duration::from_millis(50));
            h.sandbox.abort(a);
        }
        let a_result = a_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            matches!(
                a_result,
                Err(SandboxError::Aborted | SandboxError::Timeout { .. })
            ),
            "{a_result:?}"
        );
        assert_eq!(
            b.recv_timeout(Duration::from_secs(10)).unwrap().unwrap(),
            Value::String("b done".into()),
            "abort: {abort}"
        );
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    }
}

#[test]
fn a_busy_loop_left_by_a_stopped_evaluation_ends_with_the_last_live_one() {
    // A's loop outlives A (the realm is shared; nothing tells whose code runs) but not the
    // evaluations beside it: once B times out too, the loop is interrupted.
    let (h, _, _) = holding();
    let t0 = Instant::now();
    let a = h.start("for (;;) {}", Some(Duration::from_millis(100)));
    let b = h.start(
        "await new Promise(() => {})",
        Some(Duration::from_millis(300)),
    );
    assert!(matches!(
        a.recv_timeout(Duration::from_secs(5)).unwrap(),
        Err(SandboxError::Timeout { timeout_ms: 100 })
    ));
    assert!(
        t0.elapsed() < Duration::from_millis(250),
        "A settled on time"
    );
    assert!(matches!(
        b.recv_timeout(Duration::from_secs(5)).unwrap(),
        Err(SandboxError::Timeout { timeout_ms: 300 })
    ));
    answers_quickly(&h);
}
