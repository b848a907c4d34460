//! Sandboxes sharing one QuickJS runtime (`SharedRuntime`): each its own realm, one heap and
//! one thread for the group. Isolation between members, limits ending one member's runaway
//! code with the right error while the others go on, disposal of one member mid-run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::many_single_char_names,
    clippy::cast_precision_loss
)]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use baml_sandbox::{
    SandboxError, SandboxHandle, SandboxOptions, SharedOptions, SharedRuntime, Value,
};
use common::{num, pool, Harness};

fn group(limit: usize) -> SharedRuntime {
    SharedRuntime::new(
        &SharedOptions {
            memory_limit_bytes: limit,
            ..SharedOptions::default()
        },
        pool(),
    )
    .unwrap()
}

fn member(g: &SharedRuntime) -> Harness {
    Harness::shared(g, SandboxOptions::default(), vec![]).unwrap()
}

fn string(s: &str) -> Value {
    Value::String(s.to_string())
}

#[test]
fn members_do_not_see_each_others_globals_or_prototypes() {
    let g = group(64 << 20);
    let a = member(&g);
    let b = member(&g);
    a.eval("globalThis.secret = 'a'; var v = 1; Array.prototype.evil = () => 'pwned'; Object.prototype.polluted = true; JSON.parse = () => 'hijacked'; 1").unwrap();
    assert_eq!(b.eval("typeof secret").unwrap(), string("undefined"));
    assert_eq!(b.eval("typeof v").unwrap(), string("undefined"));
    assert_eq!(b.eval("typeof [].evil").unwrap(), string("undefined"));
    assert_eq!(
        b.eval("({}).polluted === undefined").unwrap(),
        Value::Bool(true)
    );
    assert_eq!(b.eval("JSON.parse('[1]').length").unwrap(), num(1.0));
    // The realms' built-ins are distinct objects.
    assert_eq!(a.eval("[].evil()").unwrap(), string("pwned"));
    // A lazily created built-in is created per realm too.
    a.eval("Map.prototype.get = () => 'a map'; 1").unwrap();
    assert_eq!(b.eval("new Map([[1, 2]]).get(1)").unwrap(), num(2.0));
}

#[test]
fn errors_and_timers_stay_in_their_member() {
    let g = group(64 << 20);
    let a = member(&g);
    let b = member(&g);
    let e = a.eval("throw new TypeError('from a')").unwrap_err();
    assert!(
        matches!(e, SandboxError::Js { ref message, .. } if message.contains("from a")),
        "{e:?}"
    );
    assert_eq!(b.eval("1 + 1").unwrap(), num(2.0));
    // A timer set by a fires in a, with a's globals.
    let ra = a.start(
        "globalThis.who = 'a'; await new Promise(r => setTimeout(() => r(globalThis.who), 20))",
        None,
    );
    let rb = b.start(
        "globalThis.who = 'b'; await new Promise(r => setTimeout(() => r(globalThis.who), 10))",
        None,
    );
    assert_eq!(
        ra.recv_timeout(Duration::from_secs(10)).unwrap().unwrap(),
        string("a")
    );
    assert_eq!(
        rb.recv_timeout(Duration::from_secs(10)).unwrap().unwrap(),
        string("b")
    );
    // Clearing an id from the other realm does nothing to this one's timer.
    let ra = a.start(
        "await new Promise(r => { globalThis.t = setTimeout(() => r('fired'), 30) })",
        None,
    );
    b.eval("for (let i = 0; i < 100; i++) clearTimeout(i); 1")
        .unwrap();
    assert_eq!(
        ra.recv_timeout(Duration::from_secs(10)).unwrap().unwrap(),
        string("fired")
    );
}

#[test]
fn a_busy_loop_in_one_member_times_out_and_the_others_go_on() {
    let g = group(64 << 20);
    let a = member(&g);
    let b = member(&g);
    let t = Instant::now();
    let ra = a.start("for (;;) {}", Some(Duration::from_millis(200)));
    let r = ra.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(r, Err(SandboxError::Timeout { .. })), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // The group's thread is free again; a is usable too.
    assert_eq!(b.eval("'b ok'").unwrap(), string("b ok"));
    assert_eq!(a.eval("'a ok'").unwrap(), string("a ok"));
}

#[test]
fn an_abort_ends_only_its_members_code() {
    let g = group(64 << 20);
    let a = member(&g);
    let b = member(&g);
    let (id, ra) = a.start_id("for (;;) {}", None);
    std::thread::sleep(Duration::from_millis(50));
    a.sandbox.abort(id);
    let r = ra.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(r, Err(SandboxError::Aborted)), "{r:?}");
    assert_eq!(b.eval("2").unwrap(), num(2.0));
}

#[test]
fn a_memory_bomb_in_one_member_gets_sandbox_memory_and_the_group_recovers() {
    let g = group(16 << 20);
    let a = member(&g);
    let b = member(&g);
    b.eval("globalThis.keep = [1, 2, 3]; 1").unwrap();
    let r = a.eval("(() => { const xs = []; for (;;) xs.push('x'.repeat(1000) + xs.length) })()");
    assert!(matches!(r, Err(SandboxError::Memory { .. })), "{r:?}");
    // The garbage is collected: b runs, and a too.
    assert_eq!(b.eval("keep.length").unwrap(), num(3.0));
    assert_eq!(a.eval("[1, 2].length").unwrap(), num(2.0));
    let (used, limit) = g.memory_usage();
    assert!(used < limit / 2, "used {used} of {limit}");
}

#[test]
fn deep_recursion_in_one_member_gets_sandbox_stack() {
    let g = group(64 << 20);
    let a = member(&g);
    let b = member(&g);
    let r = a.eval("function f() { return f() + 1 } f()");
    assert!(matches!(r, Err(SandboxError::Stack)), "{r:?}");
    let r = a.eval("function g() { return JSON.stringify({ toJSON: g }) } g()");
    assert!(matches!(r, Err(SandboxError::Stack)), "{r:?}");
    assert_eq!(b.eval("3").unwrap(), num(3.0));
}

#[test]
fn disposing_one_member_while_others_run_leaves_them_running() {
    let g = group(64 << 20);
    let a = member(&g);
    let b = member(&g);
    let c = member(&g);
    // a has pending jobs, timers and a busy loop in flight when it is disposed.
    a.eval("globalThis.n = 0; setInterval(() => n++, 1); 1")
        .unwrap();
    let ra = a.start(
        "let p = Promise.resolve(); for (let i = 0; i < 1000; i++) p = p.then(() => n++); for (;;) {}",
        None,
    );
    let rb = b.start(
        "let s = 0; for (let i = 0; i < 20; i++) { await new Promise(r => setTimeout(r, 5)); s += i } s",
        None,
    );
    std::thread::sleep(Duration::from_millis(30));
    a.sandbox.dispose();
    let r = ra.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(r, Err(SandboxError::Disposed)), "{r:?}");
    assert_eq!(
        rb.recv_timeout(Duration::from_secs(10)).unwrap().unwrap(),
        num(190.0)
    );
    assert_eq!(c.eval("'c'").unwrap(), string("c"));
    let r = a.eval("1");
    assert!(matches!(r, Err(SandboxError::Disposed)), "{r:?}");
    // A member created after the disposal works.
    let d = member(&g);
    assert_eq!(d.eval("typeof n").unwrap(), string("undefined"));
}

#[test]
fn a_disposed_members_jobs_never_run_in_another_members_turn() {
    let g = group(64 << 20);
    let a = member(&g);
    let b = member(&g);
    // a's promise chain would run forever; each link bumps a counter in b's host function if
    // it ever ran in b's turn. Disposing a mid-chain must end it.
    let ticks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t2 = ticks.clone();
    let tick: common::HostFn = Box::new(move |_, reply| {
        t2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        reply(Ok(Value::Null));
    });
    let a2 = Harness::shared(&g, SandboxOptions::default(), vec![("tick", tick)]).unwrap();
    let _r = a2.start("function f() { tick(); return Promise.resolve().then(f) } f(); await new Promise(() => {})", None);
    std::thread::sleep(Duration::from_millis(50));
    a2.sandbox.dispose();
    std::thread::sleep(Duration::from_millis(20));
    let after = ticks.load(std::sync::atomic::Ordering::Relaxed);
    for _ in 0..20 {
        b.eval("{ let x = 0; for (let i = 0; i < 1000; i++) x += i; x }")
            .unwrap();
        a.eval("1").unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(ticks.load(std::sync::atomic::Ordering::Relaxed), after);
}

#[test]
fn the_runtime_is_freed_with_its_last_member_and_made_again() {
    let g = group(64 << 20);
    let a = member(&g);
    a.eval("1").unwrap();
    let (with_one, _) = g.memory_usage();
    assert!(with_one > 0);
    a.sandbox.dispose();
    let t = Instant::now();
    while g.memory_usage().0 != 0 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(g.memory_usage().0, 0, "the runtime was not freed");
    let b = member(&g);
    assert_eq!(b.eval("'again'").unwrap(), string("again"));
}

#[test]
fn many_members_share_the_heap_cheaply_and_stay_apart() {
    let g = group(256 << 20);
    let members: Vec<Harness> = (0..200).map(|_| member(&g)).collect();
    for (i, m) in members.iter().enumerate() {
        m.eval(&format!("globalThis.id = {i}; 1")).unwrap();
    }
    for (i, m) in members.iter().enumerate() {
        assert_eq!(m.eval("id").unwrap(), num(i as f64));
    }
    let (used, _) = g.memory_usage();
    let per = used / members.len();
    // A realm of its own runtime takes about twice this (see the memory_cost example).
    assert!(per < 80_000, "{per} bytes per member");
    for m in &members {
        m.sandbox.dispose();
    }
}

#[test]
fn members_run_their_evaluations_concurrently_with_host_calls() {
    let g = group(64 << 20);
    let slow: common::HostFn = Box::new(|args, reply| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            reply(Ok(args.into_iter().next().unwrap_or(Value::Null)));
        });
    });
    let a = Harness::shared(&g, SandboxOptions::default(), vec![("slow", slow)]).unwrap();
    let t = Instant::now();
    let rs: Vec<_> = (0..10)
        .map(|i| a.start(&format!("await slow({i})"), None))
        .collect();
    for (i, r) in rs.into_iter().enumerate() {
        assert_eq!(
            r.recv_timeout(Duration::from_secs(10)).unwrap().unwrap(),
            num(i as f64)
        );
    }
    assert!(
        t.elapsed() < Duration::from_millis(450),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn bad_group_options_are_refused() {
    let r = SharedRuntime::new(
        &SharedOptions {
            memory_limit_bytes: 1000,
            ..SharedOptions::default()
        },
        pool(),
    );
    assert!(
        matches!(r, Err(SandboxError::InvalidOption { ref option, .. }) if option == "memoryLimitBytes")
    );
}

#[test]
fn a_cleanup_queued_by_a_collection_in_another_members_turn_runs_in_its_own() {
    let g = group(64 << 20);
    let a = member(&g);
    let b = member(&g);
    // a's cleanup callback would spin forever; it must never run on b's time. Its targets
    // are cycles: only a collection frees them, and b's allocations make b's turn collect.
    a.eval(
        "globalThis.reg = new FinalizationRegistry(() => { globalThis.cleaned = true; for (;;) {} }); \
         (function () { for (let i = 0; i < 100; i++) { const o = {}; o.self = o; reg.register(o, i) } })(); 1",
    )
    .unwrap();
    // b allocates enough to make its turn collect a's garbage.
    let t = Instant::now();
    let r = b.eval_with(
        "let xs = []; for (let i = 0; i < 200000; i++) xs.push({ i }); xs = null; 'b done'",
        Some(Duration::from_secs(5)),
    );
    assert_eq!(r.unwrap(), string("b done"));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let r = b.eval_with("'b again'", Some(Duration::from_secs(5)));
    assert_eq!(r.unwrap(), string("b again"));
    // a's own turn runs its cleanup (as orphaned jobs, no evaluation of a is live): a is
    // still usable, and its own evaluation with a deadline ends a spin it starts.
    let r = a.eval_with("for (;;) {}", Some(Duration::from_millis(100)));
    assert!(matches!(r, Err(SandboxError::Timeout { .. })), "{r:?}");
    assert_eq!(a.eval("'a fine'").unwrap(), string("a fine"));
}

#[test]
fn creating_members_past_the_group_limit_fails_them_with_sandbox_memory_not_the_process() {
    // A 1 MiB group holds a handful of realms: the rest fail to be created, with the memory
    // error, and once the first ones are gone new members fit again.
    let g = group(1 << 20);
    let members: Vec<Harness> = (0..40).map(|_| member(&g)).collect();
    let mut ok = 0;
    for m in &members {
        match m.eval("[1, 2, 3].map(x => x * 2).length") {
            Ok(v) => {
                assert_eq!(v, num(3.0));
                ok += 1;
            }
            Err(SandboxError::Memory { .. }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!((3..40).contains(&ok), "{ok} members fit in 1 MiB");
    for m in &members {
        m.sandbox.dispose();
    }
    let t = Instant::now();
    while g.memory_usage().0 > 0 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let again = member(&g);
    assert_eq!(again.eval("'fits'").unwrap(), string("fits"));
}

#[test]
fn a_host_function_that_disposes_members_from_inside_a_turn_does_not_deadlock() {
    let g = group(64 << 20);
    let victim = Arc::new(member(&g));
    let v2 = victim.clone();
    let kill: common::HostFn = Box::new(move |_, reply| {
        // Runs on the group's thread, inside the caller's turn.
        v2.sandbox.dispose();
        reply(Ok(Value::Bool(true)));
    });
    let me: Arc<std::sync::OnceLock<Arc<Harness>>> = Arc::default();
    let me2 = me.clone();
    let suicide: common::HostFn = Box::new(move |_, reply| {
        if let Some(h) = me2.get() {
            h.sandbox.dispose();
        }
        reply(Ok(Value::Null));
    });
    let killer = Arc::new(
        Harness::shared(
            &g,
            SandboxOptions::default(),
            vec![("kill", kill), ("suicide", suicide)],
        )
        .unwrap(),
    );
    let _ = me.set(killer.clone());
    let pending = victim.start("await new Promise(r => setTimeout(r, 10000))", None);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(killer.eval("await kill()").unwrap(), Value::Bool(true));
    let r = pending.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(r, Err(SandboxError::Disposed)), "{r:?}");
    let r = killer.eval_with("await suicide(); 'after'", Some(Duration::from_secs(5)));
    assert!(matches!(r, Err(SandboxError::Disposed)), "{r:?}");
    let other = member(&g);
    assert_eq!(other.eval("'alive'").unwrap(), string("alive"));
}

#[test]
fn many_groups_of_busy_members_all_settle_on_time() {
    // 8 groups of 12 members: in each, some spin until their deadline, some wait on timers,
    // some compute; every evaluation settles with its own result or its own timeout.
    let groups: Vec<SharedRuntime> = (0..8).map(|_| group(64 << 20)).collect();
    let mut started = Vec::new();
    for g in &groups {
        for i in 0..12 {
            let m = member(g);
            let (code, timeout) = match i % 3 {
                0 => ("for (;;) {}", Some(Duration::from_millis(150))),
                1 => (
                    "await new Promise(r => setTimeout(() => r('timer'), 30))",
                    None,
                ),
                _ => ("let s = 0; for (let k = 0; k < 1e5; k++) s += k; s", None),
            };
            let rx = m.start(code, timeout);
            started.push((i % 3, m, rx));
        }
    }
    let t = Instant::now();
    for (kind, _m, rx) in &started {
        let r = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("never settled");
        match kind {
            0 => assert!(matches!(r, Err(SandboxError::Timeout { .. })), "{r:?}"),
            1 => assert_eq!(r.unwrap(), string("timer")),
            _ => assert_eq!(r.unwrap(), num(4_999_950_000.0)),
        }
    }
    // 32 spinning members in 8 groups, 150 ms each, 2 cores: well under what serializing
    // everything would take if one group's spin held up the others' threads.
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

#[test]
fn members_filling_a_small_group_heap_in_turn_fail_with_sandbox_memory_and_leave_it_sound() {
    for round in 0..5 {
        let g = group(2 << 20);
        let members: Vec<Harness> = (0..8).map(|_| member(&g)).collect();
        for (i, m) in members.iter().enumerate() {
            // Each keeps some of what it allocated, so later members find the heap fuller.
            let code = format!(
                "globalThis.keep = []; try {{ for (let k = 0; k < {n}; k++) keep.push({{ k, s: 'x'.repeat(64) + k, m: new Map([[k, [k]]]) }}) }} catch (e) {{}} \
                 (() => {{ const xs = []; for (;;) xs.push([xs.length, {{}}]) }})()",
                n = 500 * (i + round + 1)
            );
            let r = m.eval(&code);
            assert!(
                matches!(r, Err(SandboxError::Memory { .. })),
                "round {round} member {i}: {r:?}"
            );
        }
        for m in &members {
            let r = m.eval("keep = null; [1, 2].map(x => x + 1).join()");
            assert!(
                matches!(&r, Ok(v) if *v == string("2,3"))
                    || matches!(r, Err(SandboxError::Memory { .. })),
                "{r:?}"
            );
        }
        for m in &members {
            m.sandbox.dispose();
        }
    }
}
