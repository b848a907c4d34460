//! What sandboxed code does to break out of its limits: re-entry through natives, built-ins
//! that run long in C, forged host errors, and embedder input at the edges.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::{Duration, Instant};

use baml_sandbox::{HostError, Sandbox, SandboxError, SandboxOptions, Value};
use common::{num, Harness, HostFn, TestHost};

fn simple() -> Harness {
    Harness::new(SandboxOptions::default(), vec![])
}

fn string(s: &str) -> Value {
    Value::String(s.into())
}

#[test]
fn recursion_through_natives_is_a_stack_overflow_not_a_crash() {
    let echo: HostFn =
        Box::new(|args, reply| reply(Ok(args.into_iter().next().unwrap_or(Value::Undefined))));
    let h = Harness::new(
        SandboxOptions {
            console: true,
            ..Default::default()
        },
        vec![("echo", echo)],
    );
    let cases = [
        "function f() { return JSON.stringify({ toJSON: f }) } f()",
        "function f() { return JSON.stringify([1], () => f()) } f()",
        "function f() { return JSON.stringify({ get a() { return f() } }) } f()",
        "function f() { return echo({ get a() { return f() } }) } f()",
        "function f() { return [3, 2, 1].sort(() => f()) } f()",
        "function f() { return Array.prototype.map.call([1], f) } f()",
        "function f() { return String({ toString: f }) } f()",
        "function f() { return new Proxy({}, { get: f }).x } f()",
        "function f() { return Object.keys(new Proxy({}, { ownKeys: f })) } f()",
        "function f() { return `${{ [Symbol.toPrimitive]: f }}` } f()",
        "function f() { return Reflect.apply(f, null, []) } f()",
        "function f() { return JSON.parse('[1]', () => f()) } f()",
    ];
    for code in cases {
        let started = Instant::now();
        assert_eq!(h.eval(code), Err(SandboxError::Stack), "{code}");
        assert!(started.elapsed() < Duration::from_secs(10), "{code}");
        assert_eq!(h.eval("1 + 1").unwrap(), num(2.0), "usable after {code}");
    }
    // `console` formatting shows what a getter throws as a missing value, overflow included:
    // the recursion unwinds level by level and the script goes on.
    let code =
        "function f() { console.log({ toString: f }, { get a() { return f() } }); return 1 } f()";
    assert_eq!(h.eval(code).unwrap(), num(1.0));
    // Caught, it is an ordinary RangeError.
    assert_eq!(
        h.eval("function f() { return JSON.stringify({ toJSON: f }) } try { f() } catch (e) { e instanceof RangeError }").unwrap(),
        Value::Bool(true)
    );
}

#[test]
fn the_result_copy_cannot_renew_the_stack_either() {
    let h = simple();
    // A getter run while the result is copied out recurses through the copy.
    let r = h.eval("function f() { return { get a() { return f() } } } f()");
    assert!(
        matches!(r, Err(SandboxError::Stack | SandboxError::Result { .. })),
        "{r:?}"
    );
    assert_eq!(h.eval("1 + 1").unwrap(), num(2.0));
}

#[test]
fn small_stack_limits_hold_through_re_entry() {
    let h = Harness::new(
        SandboxOptions {
            max_stack_bytes: 64 << 10,
            ..Default::default()
        },
        vec![],
    );
    assert_eq!(
        h.eval("function f() { return JSON.stringify({ toJSON: f }) } f()"),
        Err(SandboxError::Stack)
    );
    assert_eq!(
        h.eval("function g(n) { return n ? g(n - 1) : 0 } g(1e6)"),
        Err(SandboxError::Stack)
    );
    assert_eq!(
        h.eval("function g(n) { return n ? g(n - 1) + 1 : 0 } g(100)")
            .unwrap(),
        num(100.0)
    );
}

#[test]
fn limits_out_of_range_are_refused_before_anything_is_built() {
    let host = std::sync::Arc::new(TestHost::default());
    let bad = [
        (
            SandboxOptions {
                memory_limit_bytes: 20_000,
                ..Default::default()
            },
            "memoryLimitBytes",
        ),
        (
            SandboxOptions {
                memory_limit_bytes: 0,
                ..Default::default()
            },
            "memoryLimitBytes",
        ),
        (
            SandboxOptions {
                memory_limit_bytes: (1 << 20) - 1,
                ..Default::default()
            },
            "memoryLimitBytes",
        ),
        (
            SandboxOptions {
                max_stack_bytes: 1024,
                ..Default::default()
            },
            "maxStackBytes",
        ),
        (
            SandboxOptions {
                max_stack_bytes: 64 << 20,
                ..Default::default()
            },
            "maxStackBytes",
        ),
        (
            SandboxOptions {
                timeout: Duration::ZERO,
                ..Default::default()
            },
            "timeoutMs",
        ),
    ];
    for (opts, option) in bad {
        match Sandbox::new(&opts, host.clone(), common::pool()) {
            Err(SandboxError::InvalidOption { option: o, message }) => {
                assert_eq!(o, option);
                assert!(message.contains(option), "{message}");
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("{option} accepted"),
        }
    }
    // The smallest accepted limit gives a working sandbox.
    let h = Harness::new(
        SandboxOptions {
            memory_limit_bytes: 1 << 20,
            max_stack_bytes: 64 << 10,
            ..Default::default()
        },
        vec![],
    );
    assert_eq!(
        h.eval("[1, 2, 3].map((x) => x * 2).join()").unwrap(),
        string("2,4,6")
    );
    assert!(matches!(
        h.eval("{ const a = []; for (;;) a.push('x'.repeat(1000) + a.length) }"),
        Err(SandboxError::Memory { .. })
    ));
    assert_eq!(h.eval("1 + 1").unwrap(), num(2.0));
}

#[test]
fn generic_array_methods_refuse_huge_array_likes() {
    let h = simple();
    for method in [
        "reverse",
        "copyWithin",
        "splice",
        "unshift",
        "indexOf",
        "lastIndexOf",
        "includes",
        "join",
        "forEach",
        "sort",
        "concat",
    ] {
        let code = format!("try {{ Array.prototype.{method}.call({{ length: 2 ** 53 - 1 }}, 0, 1); 'returned' }} catch (e) {{ e.name }}");
        let started = Instant::now();
        assert_eq!(
            h.eval_with(&code, Some(Duration::from_secs(5))).unwrap(),
            string("RangeError"),
            "{method}"
        );
        assert!(started.elapsed() < Duration::from_secs(1), "{method}");
    }
    // `concat` spreads its arguments: a huge spreadable argument is refused too.
    assert_eq!(h.eval("try { [].concat({ [Symbol.isConcatSpreadable]: true, length: 2 ** 53 - 1 }); 'returned' } catch (e) { e.name }").unwrap(), string("RangeError"));
    assert_eq!(
        h.eval("[1].concat([2], 3, { length: 1, 0: 'x' }).length")
            .unwrap(),
        num(4.0)
    );
    // A sparse array whose length no dense array could reach, too.
    assert_eq!(h.eval("const a = []; a.length = 2 ** 32 - 1; try { a.reverse(); 'returned' } catch (e) { e.name }").unwrap(), string("RangeError"));
    // Ordinary use is unchanged.
    assert_eq!(
        h.eval("[3, 1, 2].sort().reverse().concat([0]).join('-')")
            .unwrap(),
        string("3-2-1-0")
    );
    assert_eq!(
        h.eval("Array.prototype.map.call({ length: 2, 0: 'a', 1: 'b' }, (x) => x + x).join()")
            .unwrap(),
        string("aa,bb")
    );
    assert_eq!(h.eval("[Array.prototype.indexOf.name, Array.prototype.indexOf.length, String(Array.prototype.reverse).includes('native code')]").unwrap(),
        Value::Array(vec![string("indexOf"), num(1.0), Value::Bool(true)]));
    assert_eq!(
        h.eval("new Uint8Array([3, 1, 2]).sort().join()").unwrap(),
        string("1,2,3")
    );
}

#[test]
fn a_loop_of_long_built_in_calls_stops_at_the_deadline() {
    let h = simple();
    let started = Instant::now();
    let r = h.eval_with(
        "const a = new Array(2e6).fill(1); for (;;) a.indexOf(2)",
        Some(Duration::from_millis(200)),
    );
    assert_eq!(r, Err(SandboxError::Timeout { timeout_ms: 200 }));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(h.eval("1 + 1").unwrap(), num(2.0));
}

#[test]
fn an_evaluation_stuck_in_one_long_built_in_still_settles_at_its_deadline() {
    let h = Harness::new(
        SandboxOptions {
            memory_limit_bytes: 512 << 20,
            ..Default::default()
        },
        vec![],
    );
    // Sorting strings in C polls nothing; the evaluation rejects at the deadline anyway.
    h.eval("globalThis.big = Array.from({ length: 3e6 }, (_, i) => String((i * 7919) % 3e6)); 0")
        .unwrap();
    let started = Instant::now();
    let r = h.eval_with(
        "big.sort(); big.sort((a, b) => 0); 'sorted'",
        Some(Duration::from_millis(100)),
    );
    assert_eq!(r, Err(SandboxError::Timeout { timeout_ms: 100 }));
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    // The context is usable again once the call returned.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match h.eval_with("1 + 1", Some(Duration::from_secs(5))) {
            Ok(v) => {
                assert_eq!(v, num(2.0));
                break;
            }
            Err(e) => assert!(Instant::now() < until, "{e:?}"),
        }
    }
}

#[test]
fn only_errors_the_host_made_carry_their_origin() {
    let fail: HostFn = Box::new(|_, reply| {
        reply(Err(HostError {
            name: "BamlClientHttpError".into(),
            message: "boom".into(),
            fields: vec![("code".into(), string("BAML_HTTP"))],
            origin: Some(77),
        }));
    });
    let h = Harness::new(SandboxOptions::default(), vec![("fail", fail)]);
    let origin = |r: Result<Value, SandboxError>| match r {
        Err(SandboxError::Js { origin, .. }) => origin,
        other => panic!("{other:?}"),
    };
    assert_eq!(origin(h.eval("await fail()")), Some(77));
    // Caught, mutated and rethrown: still the same object.
    assert_eq!(
        origin(h.eval("try { await fail() } catch (e) { e.code = 'X'; e.message = 'y'; throw e }")),
        Some(77)
    );
    // Kept in a global and thrown by a later evaluation.
    h.eval("try { await fail() } catch (e) { globalThis.kept = e }")
        .unwrap();
    assert_eq!(origin(h.eval("throw kept")), Some(77));
    // Look-alikes are not.
    for forged in [
        "throw Object.assign(new Error('x'), { code: 'BAML_HTTP', status_code: 500 })",
        "throw { code: 'BAML_VALIDATION', name: 'BamlValidationError', message: 'x' }",
        "try { await fail() } catch (e) { throw Object.assign(new Error(e.message), e) }",
        "try { await fail() } catch (e) { throw Object.create(e) }",
        "class BamlValidationError extends Error {}; throw new BamlValidationError('x')",
    ] {
        assert_eq!(origin(h.eval(forged)), None, "{forged}");
    }
}

#[test]
fn busy_tenants_do_not_starve_another_tenants_timer() {
    // Four contexts spin (more than the machine has CPUs); a fifth's 10 ms timer and its
    // evaluation still run on time: the pool starts threads for waiting work.
    let busy: Vec<Harness> = (0..4).map(|_| simple()).collect();
    let pending: Vec<_> = busy
        .iter()
        .map(|h| h.start("for (;;) {}", Some(Duration::from_millis(1500))))
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let h = simple();
    let started = Instant::now();
    assert_eq!(
        h.eval("await new Promise((r) => setTimeout(r, 10)); 'on time'")
            .unwrap(),
        string("on time")
    );
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    for rx in pending {
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            Err(SandboxError::Timeout { timeout_ms: 1500 })
        );
    }
}

#[test]
fn memory_bombs_end_with_sandbox_memory_not_an_engine_crash() {
    // Regression: growing one object's property table past the limit made quickjs-ng collect
    // garbage in the middle of the resize and crash (SIGSEGV) the whole process.
    for code in [
        "{ const o = {}; for (let i = 0; ; i++) o['key' + i] = i }",
        "{ const o = []; for (let i = 0; ; i++) o[i * 7] = { i } }",
        "{ const m = new Map(); for (let i = 0; ; i++) m.set('k' + i, [i]) }",
        "{ let s = 'x'; for (;;) s = s + s + 'y' }",
        "{ const a = []; for (;;) a.push(new Array(1000).fill({})) }",
    ] {
        let h = Harness::new(
            SandboxOptions {
                memory_limit_bytes: 16 << 20,
                ..Default::default()
            },
            vec![],
        );
        let r = h.eval(code);
        assert!(
            matches!(r, Err(SandboxError::Memory { .. })),
            "{code}: {r:?}"
        );
        assert_eq!(h.eval("1 + 1").unwrap(), num(2.0), "usable after {code}");
    }
}

#[test]
fn memory_refused_between_awaits_fails_for_memory_not_the_deadline() {
    // QuickJS drops a promise reaction it has no memory to queue: an evaluation whose `await`
    // lost its reaction that way has nothing left to resume it. It must fail for memory, not
    // wait for its deadline. The chunk sizes move where the limit trips (inside the loop, in
    // the reaction's queuing, in the async function's resumption).
    for chunk in [1, 7, 50, 333, 2000] {
        for code in [
            format!(
                "globalThis.all = []; async function f() {{ for (;;) {{ await Promise.resolve(); \
                 for (let i = 0; i < {chunk}; i++) all.push('x'.repeat(20) + i) }} }} await f()"
            ),
            format!(
                "const all = []; await new Promise((res, rej) => {{ const step = () => {{ \
                 for (let i = 0; i < {chunk}; i++) all.push('y'.repeat(16) + i); \
                 Promise.resolve().then(step) }}; step() }})"
            ),
        ] {
            let h = Harness::new(
                SandboxOptions {
                    memory_limit_bytes: 8 << 20,
                    timeout: std::time::Duration::from_secs(20),
                    ..Default::default()
                },
                vec![],
            );
            let t0 = std::time::Instant::now();
            let r = h.eval(&code);
            assert!(
                matches!(r, Err(SandboxError::Memory { .. })),
                "{code}: {r:?} after {:?}",
                t0.elapsed()
            );
            assert_eq!(h.eval("1 + 1").unwrap(), num(2.0), "usable after {code}");
        }
    }
}

#[test]
fn cyclic_garbage_is_collected_during_a_long_turn() {
    // Automatic collection is off (it could run while the engine is inconsistent); the
    // interrupt handler collects instead, so cycles made in a loop never fill the heap.
    let h = Harness::new(
        SandboxOptions {
            memory_limit_bytes: 4 << 20,
            ..Default::default()
        },
        vec![],
    );
    let code = "let n = 0; for (let i = 0; i < 300000; i++) { const a = { i }; const b = { a }; a.b = b; n += b.a.i & 1 } n";
    assert_eq!(h.eval(code).unwrap(), num(150_000.0));
}

/// The guards live in the engine's call path (not in wrappers a script could sidestep): every
/// way of reaching a guarded built-in is checked, in a realm of its own runtime and in a
/// shared one, and pushing `length` past the bound through a getter or a Proxy is caught too.
#[test]
fn every_route_to_a_guarded_built_in_is_checked() {
    let shared =
        baml_sandbox::SharedRuntime::new(&baml_sandbox::SharedOptions::default(), common::pool())
            .unwrap();
    let own = simple();
    let member = Harness::shared(&shared, SandboxOptions::default(), vec![]).unwrap();
    for h in [&own, &member] {
        for route in [
            "Array.prototype.lastIndexOf.call(huge, 0)",
            "Array.prototype.lastIndexOf.apply(huge, [0])",
            "Reflect.apply(Array.prototype.lastIndexOf, huge, [0])",
            "Array.prototype.lastIndexOf.bind(huge)(0)",
            "Function.prototype.call.call(Array.prototype.lastIndexOf, huge, 0)",
            "(() => { const o = Object.create(huge); o.f = Array.prototype.lastIndexOf; return o.f(0) })()",
            "Array.prototype.join.call(new Proxy({}, { get: (t, k) => k === 'length' ? 2 ** 53 - 1 : undefined }))",
            "Array.prototype.reverse.call({ get length() { return 2 ** 53 - 1 } })",
            "[].concat.call([], huge)",
            "Array.prototype.toSorted.call(huge)",
            "(class extends Array {}).prototype.with.call(huge, 0, 1)",
        ] {
            let code = format!(
                "const huge = {{ length: 2 ** 53 - 1, [Symbol.isConcatSpreadable]: true }}; try {{ {route}; 'returned' }} catch (e) {{ e.name }}"
            );
            let started = Instant::now();
            let r = h.eval_with(&format!("{{ {code} }}"), Some(Duration::from_secs(5)));
            assert_eq!(r.unwrap(), string("RangeError"), "{route}");
            assert!(started.elapsed() < Duration::from_secs(1), "{route}");
        }
        // Typed arrays (created on first use) and the statics are guarded for time.
        for code in [
            "const t = new Uint8Array(1 << 20); for (;;) t.indexOf(1)",
            "const o = {}; for (let i = 0; i < 5e4; i++) o['k' + i] = i; for (;;) Object.keys(o)",
            "const s = 'a'.repeat(1 << 20); for (;;) s.lastIndexOf('b')",
            "const j = JSON.stringify(Array(1e5).fill(1)); for (;;) JSON.parse(j)",
        ] {
            let started = Instant::now();
            let r = h.eval_with(code, Some(Duration::from_millis(200)));
            assert_eq!(r, Err(SandboxError::Timeout { timeout_ms: 200 }), "{code}");
            assert!(started.elapsed() < Duration::from_secs(3), "{code}");
        }
        // Unguarded hot paths are untouched: push on an array-like is not refused.
        assert_eq!(
            h.eval("{ const o = { length: 0 }; Array.prototype.push.call(o, 1, 2); o.length }")
                .unwrap(),
            num(2.0)
        );
    }
}

/// The default sort of a million numbers fits the default memory limit, and orders ints as
/// their decimal strings (negative ones, the extremes, prefixes), as the specification says.
#[test]
fn a_default_sort_of_a_million_numbers_fits_and_orders_as_strings() {
    let h = simple();
    assert_eq!(
        h.eval("new Array(1e6).fill(7).sort(); 1").unwrap(),
        num(1.0)
    );
    assert_eq!(
        h.eval("[10, 9, 1, 100, -1, -10, -9, 0, 2, 21, 3, 2147483647, -2147483648, 214748364, 'x', 1.5].sort().join()")
            .unwrap(),
        string("-1,-10,-2147483648,-9,0,1,1.5,10,100,2,21,214748364,2147483647,3,9,x")
    );
}

#[test]
fn the_allocator_cannot_change_once_a_sandbox_allocated() {
    // Blocks must be freed by the allocator that made them: after a sandbox of this process
    // allocated (from mimalloc), asking for the C library's malloc is refused.
    let h = simple();
    assert_eq!(h.eval("[1, 2].join()").unwrap(), string("1,2"));
    assert!(!baml_sandbox::use_system_allocator());
    assert_eq!(
        h.eval("({ a: 'x'.repeat(1000) }).a.length").unwrap(),
        num(1000.0)
    );
}
