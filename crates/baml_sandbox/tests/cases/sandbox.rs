// Included by `tests/sandbox.rs`.

use std::time::{Duration, Instant};

use baml_sandbox::{SandboxError, SandboxHandle, SandboxOptions, Value};
use common::{num, HostFn};

type Harness = common::Harness;

fn simple() -> Harness {
    Harness::new(SandboxOptions::default(), vec![])
}

fn with(options: SandboxOptions, functions: Vec<(&str, HostFn)>) -> Harness {
    Harness::new(options, functions)
}

#[test]
fn completion_value_and_top_level_await() {
    let h = simple();
    assert_eq!(h.eval("1+1").unwrap(), num(2.0));
    assert_eq!(h.eval("let x = await Promise.resolve(20); x + 1").unwrap(), num(21.0));
    assert_eq!(h.eval("Promise.resolve('p')").unwrap(), Value::String("p".into()));
    assert_eq!(h.eval("undefined").unwrap(), Value::Undefined);
    assert_eq!(h.eval("({a: [1, null, 'x'], d: new Date(5)})").unwrap(),
        Value::Object(vec![("a".into(), Value::Array(vec![num(1.0), Value::Null, Value::String("x".into())])), ("d".into(), Value::Date(5.0))]));
    let nan = h.eval("[NaN, Infinity, -Infinity]").unwrap();
    let Value::Array(items) = nan else { panic!() };
    assert!(matches!(items[0], Value::Number(n) if n.is_nan()));
    assert_eq!(items[1], num(f64::INFINITY));
}

#[test]
fn realm_persists() {
    let h = simple();
    h.eval("globalThis.counter = 41").unwrap();
    assert_eq!(h.eval("++counter").unwrap(), num(42.0));
    let other = simple();
    assert_eq!(other.eval("typeof counter").unwrap(), Value::String("undefined".into()));
}

#[test]
fn uncaught_errors() {
    let h = simple();
    match h.eval("throw new TypeError('bad thing')") {
        Err(SandboxError::Js { name, message, stack, .. }) => {
            assert_eq!(name.as_deref(), Some("TypeError"));
            assert_eq!(message, "<sandbox>:1:11: TypeError: bad thing");
            assert!(stack.is_some());
        }
        other => panic!("{other:?}"),
    }
    match h.eval("await null; throw 42") {
        Err(SandboxError::Js { name: None, message, .. }) => assert_eq!(message, "Uncaught 42"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(h.eval("syntax error here"), Err(SandboxError::Js { name: Some(n), .. }) if n == "SyntaxError"));
}

#[test]
fn result_copy_rules() {
    let h = simple();
    match h.eval("const o = {a: {}}; o.a.self = o; o") {
        Err(SandboxError::Result { path, .. }) => assert_eq!(path, "result.a.self"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(h.eval("({n: 10n})"), Err(SandboxError::Result { path, .. }) if path == "result.n"));
    assert!(matches!(h.eval("let d = []; for (let i = 0; i < 10000; i++) d = [d]; d"), Err(SandboxError::Result { .. })));
    assert_eq!(h.eval("({f() {}, s: Symbol(), k: 1})").unwrap(), Value::Object(vec![("k".into(), num(1.0))]));
    assert_eq!(h.eval("[() => 1]").unwrap(), Value::Array(vec![Value::Null]));
}

#[test]
fn timeout_busy_loop_and_pending_await() {
    let h = simple();
    let t = Instant::now();
    assert_eq!(h.eval_with("for(;;){}", Some(Duration::from_millis(100))), Err(SandboxError::Timeout { timeout_ms: 100 }));
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(h.eval_with("for(;;) await 0", Some(Duration::from_millis(100))), Err(SandboxError::Timeout { timeout_ms: 100 }));
    assert_eq!(h.eval_with("await new Promise(() => {})", Some(Duration::from_millis(100))), Err(SandboxError::Timeout { timeout_ms: 100 }));
    assert_eq!(h.eval_with("await 0; while(true){}", Some(Duration::from_millis(100))), Err(SandboxError::Timeout { timeout_ms: 100 }));
    assert_eq!(h.eval("'still usable'").unwrap(), Value::String("still usable".into()));
}

#[test]
fn memory_limit() {
    let h = with(SandboxOptions { memory_limit_bytes: 8 << 20, ..Default::default() }, vec![]);
    let r = h.eval("{ const a = []; for (;;) a.push({x: [1,2,3,4,5,6,7,8]}) }");
    assert_eq!(r, Err(SandboxError::Memory { limit_bytes: 8 << 20 }));
    assert_eq!(h.eval("[1,2,3].length").unwrap(), num(3.0));
}

#[test]
fn stack_overflow() {
    let h = simple();
    assert_eq!(h.eval("function f(n) { return f(n + 1) + 1 } f(0)"), Err(SandboxError::Stack));
    assert_eq!(h.eval("2").unwrap(), num(2.0));
}

#[test]
fn timers() {
    let h = simple();
    let r = h.eval("let order = []; setTimeout(() => order.push('b'), 20); setTimeout((x) => order.push(x), 5, 'a'); \
        const id = setTimeout(() => order.push('never'), 10); clearTimeout(id); \
        await new Promise(r => setTimeout(r, 50)); order.join(',')").unwrap();
    assert_eq!(r, Value::String("a,b".into()));
}

#[test]
fn host_functions_sync_async_and_errors() {
    let add: HostFn = Box::new(|args, reply| {
        let sum: f64 = args.iter().map(|a| if let Value::Number(n) = a { *n } else { 0.0 }).sum();
        reply(Ok(Value::Number(sum)));
    });
    let later: HostFn = Box::new(|args, reply| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            reply(Ok(Value::Array(args)));
        });
    });
    let fail: HostFn = Box::new(|_, reply| reply(Err("nope".into())));
    let h = with(SandboxOptions::default(), vec![("add", add), ("later", later), ("fail", fail)]);
    assert_eq!(h.eval("await add(1, 2, 3)").unwrap(), num(6.0));
    assert_eq!(h.eval("(await Promise.all([later(1), later(2)])).flat()").unwrap(), Value::Array(vec![num(1.0), num(2.0)]));
    assert_eq!(h.eval("try { await fail() } catch (e) { e.message }").unwrap(), Value::String("nope".into()));
    let r = h.eval("const xs = []; for (let i = 0; i < 100; i++) xs.push(add(i)); (await Promise.all(xs)).reduce((a, b) => a + b)");
    assert_eq!(r.unwrap(), num(4950.0));
}

#[test]
fn abort_and_dispose() {
    let h = simple();
    let rx = h.start("for(;;){}", None);
    std::thread::sleep(Duration::from_millis(50));
    // The only evaluation in flight has the next id handed out minus one; abort it by id.
    let id = h.sandbox.evaluate("1".into(), baml_sandbox::EvalOptions::default(), Box::new(|_| {})) - 1;
    h.sandbox.abort(id);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Err(SandboxError::Aborted));
    assert_eq!(h.eval("5").unwrap(), num(5.0));
    let rx = h.start("await new Promise(() => {})", None);
    std::thread::sleep(Duration::from_millis(20));
    h.sandbox.dispose();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Err(SandboxError::Disposed));
    assert_eq!(h.eval("1"), Err(SandboxError::Disposed));
}

#[test]
fn concurrent_evaluations_share_the_realm() {
    let h = simple();
    h.eval("globalThis.n = 0").unwrap();
    let rxs: Vec<_> = (0..100).map(|i| h.start(&format!("await null; n += 1; {i}"), None)).collect();
    for (i, rx) in rxs.into_iter().enumerate() {
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap(), num(f64::from(u32::try_from(i).unwrap())));
    }
    assert_eq!(h.eval("n").unwrap(), num(100.0));
}

#[test]
fn console_formatting() {
    let h = with(SandboxOptions { console: true, ..Default::default() }, vec![]);
    h.eval("console.log('a', 1, {b: [1, 'x']}, null); console.warn('%s=%d', 'n', 42); console.error([])").unwrap();
    let lines = h.host.console.lock().unwrap().clone();
    let msgs: Vec<_> = lines.iter().map(|(l, m)| format!("{}:{m}", l.as_str())).collect();
    assert_eq!(msgs, vec!["log:a 1 { b: [ 1, 'x' ] } null", "warn:n=42", "error:[]"]);
}

#[test]
fn globals_are_copies_and_proto_is_a_plain_key() {
    let opts = SandboxOptions {
        globals: vec![("cfg".into(), Value::Object(vec![("__proto__".into(), Value::Object(vec![("polluted".into(), Value::Bool(true))]))]))],
        ..Default::default()
    };
    let h = with(opts, vec![]);
    assert_eq!(h.eval("({}).polluted === undefined && cfg.polluted === undefined && Object.keys(cfg).join()").unwrap(), Value::String("__proto__".into()));
}

#[test]
fn no_host_reachable() {
    let h = simple();
    let r = h.eval("[typeof require, typeof process, typeof fetch, this.constructor.constructor('return typeof process')()].join()").unwrap();
    assert_eq!(r, Value::String("undefined,undefined,undefined,undefined".into()));
    let r = h.eval("try { await import('fs'); 'imported' } catch (e) { 'rejected' }").unwrap();
    assert_eq!(r, Value::String("rejected".into()));
}

#[test]
fn memory_flag_does_not_leak_into_the_next_evaluation() {
    let h = with(SandboxOptions { memory_limit_bytes: 8 << 20, ..Default::default() }, vec![]);
    assert!(matches!(h.eval("{ const a = []; for (;;) a.push([1, 2, 3]) }"), Err(SandboxError::Memory { .. })));
    match h.eval("null.x") {
        Err(SandboxError::Js { name, .. }) => assert_eq!(name.as_deref(), Some("TypeError")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn console_formatting_is_bounded() {
    let h = with(SandboxOptions { console: true, ..Default::default() }, vec![]);
    let t = Instant::now();
    h.eval("const row = () => Array.from({ length: 100 }, (_, i) => i); \
            const big = Array.from({ length: 100 }, () => Array.from({ length: 100 }, row)); \
            console.log(big, big, big)").unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    let lines = h.host.console.lock().unwrap().clone();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].1.len() < 400_000, "{} bytes", lines[0].1.len());
    assert!(lines[0].1.contains("..."));
}

#[test]
fn lazily_created_builtins_behave_like_eager_ones() {
    let h = simple();
    // The realm has exactly the globals of a full quickjs-ng realm, plus ours.
    let names = h.eval("Object.getOwnPropertyNames(globalThis).sort().join()").unwrap();
    let full = {
        let rt = rquickjs::Runtime::new().unwrap();
        let ctx = rquickjs::Context::full(&rt).unwrap();
        let mut v: Vec<String> = ctx.with(|ctx| ctx.eval("Object.getOwnPropertyNames(globalThis)").unwrap());
        v.extend(
            [
                "console", "setTimeout", "clearTimeout", "setInterval", "clearInterval", "URL", "URLSearchParams",
                "TextEncoder", "TextDecoder", "structuredClone", "crypto", "TypeBuilder",
            ]
            .map(String::from),
        );
        v.sort();
        v.join(",")
    };
    assert_eq!(names, Value::String(full));
    let r = h.eval(
        "const m = new Map([[1, 'a']]); const s = new Set([1, 1, 2]); const u = new Uint8Array([1, 2, 300]); \
         const dv = new DataView(new ArrayBuffer(4)); dv.setInt16(0, -2); \
         [m.get(1), s.size, u[2], dv.getInt16(0), typeof WeakRef, typeof performance.now(), typeof Atomics, \
          new WeakMap() instanceof WeakMap, Object.prototype.toString.call(new Float64Array(1))].join()",
    );
    assert_eq!(r.unwrap(), Value::String("a,2,44,-2,function,number,object,true,[object Float64Array]".into()));
}

#[test]
fn what_a_script_does_to_a_lazy_name_first_is_kept() {
    let h = simple();
    h.eval("function Map() { return 'mine' }; delete globalThis.WeakSet; Uint8Array = 7").unwrap();
    // Touching Set creates the Map/Set group; the script's Map and deletion survive.
    let r = h.eval("[typeof Set, new Set([1]).size, Map(), typeof WeakSet, Uint8Array, typeof Int8Array].join()");
    assert_eq!(r.unwrap(), Value::String("function,1,mine,undefined,7,function".into()));
    // Before first use a lazy name already looks like the built-in's own data property.
    let r = h.eval("const d = Object.getOwnPropertyDescriptor(globalThis, 'WeakRef'); [typeof d.value, d.writable, d.enumerable, d.configurable, 'get' in d, d.value === WeakRef].join()");
    assert_eq!(r.unwrap(), Value::String("function,true,false,true,false,true".into()));
    let r = h.eval("Object.keys(globalThis).includes('Float32Array')");
    assert_eq!(r.unwrap(), Value::Bool(false));
}

#[test]
fn a_non_configurable_lazy_name_keeps_the_scripts_value_and_its_group_works() {
    let h = simple();
    // quickjs-ng defines `Atomics` as an auto-init property and aborts the process if the name
    // exists when its group is made: the group is made elsewhere (the realm's slot), so the
    // script's own non-configurable `Atomics` stays and the typed arrays still come into being.
    h.eval("Object.defineProperty(globalThis, 'Atomics', { value: 1, configurable: false })").unwrap();
    assert_eq!(h.eval("new Uint8Array(3).length").unwrap(), num(3.0));
    assert_eq!(h.eval("Atomics").unwrap(), num(1.0));
    assert_eq!(h.eval("Object.freeze(globalThis); [new Map([[1, 2]]).get(1), typeof btoa, typeof performance.now()].join()").unwrap(), Value::String("2,function,number".into()));
}

#[test]
fn any_first_action_on_any_lazy_name_is_safe() {
    // Every name a fresh realm lacks until first use: the lazy built-ins and web globals.
    let lazy = "['Map', 'Set', 'WeakMap', 'WeakSet', 'ArrayBuffer', 'SharedArrayBuffer', 'Uint8Array', \
        'Uint8ClampedArray', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', \
        'BigInt64Array', 'BigUint64Array', 'Float16Array', 'Float32Array', 'Float64Array', 'DataView', \
        'Atomics', 'WeakRef', 'FinalizationRegistry', 'performance', 'btoa', 'atob', 'DOMException', \
        'Date', 'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder', 'structuredClone', 'crypto', \
        'TypeBuilder'].filter(n => Object.getOwnPropertyNames(globalThis).includes(n))";
    let names = simple().eval(lazy).unwrap();
    let Value::Array(names) = names else { panic!("{names:?}") };
    assert!(names.len() >= 30, "{names:?}");
    let actions = [
        "globalThis[N] = 5",
        "delete globalThis[N]",
        "Object.defineProperty(globalThis, N, { value: 6, configurable: false })",
        "Object.defineProperty(globalThis, N, { get() { return 7 }, configurable: false })",
        "Object.defineProperty(globalThis, N, { enumerable: true })",
        "Object.getOwnPropertyDescriptor(globalThis, N)",
        "Object.freeze(globalThis)",
        "Object.seal(globalThis); delete globalThis[N]",
        "JSON.stringify(Object.getOwnPropertyDescriptors(globalThis))",
        "structuredClone(Object.assign({}, globalThis))",
    ];
    let list: Vec<String> = names.iter().map(|v| if let Value::String(s) = v { s.clone() } else { String::new() }).collect();
    let list = format!("{list:?}");
    for name in &names {
        let Value::String(name) = name else { panic!() };
        for action in actions {
            let h = simple();
            let code = format!(
                "const N = {name:?}; try {{ {action} }} catch {{}}; \
                 for (const n of {list}) {{ try {{ void globalThis[n]; globalThis[n] = globalThis[n] }} catch {{}} }} \
                 typeof N"
            );
            assert_eq!(h.eval(&code).unwrap(), Value::String("string".into()), "{name} / {action}");
            h.sandbox.dispose();
        }
    }
}

#[test]
fn a_second_pending_evaluation_still_times_out() {
    // Regression: after one deadline timer fired, a later evaluation that only awaits was never
    // woken (the stale timer was trusted), so it hung instead of timing out.
    let h = simple();
    for _ in 0..5 {
        let a = h.start("await new Promise(() => {})", Some(Duration::from_millis(30)));
        let b = h.start("await new Promise(() => {})", Some(Duration::from_millis(120)));
        assert_eq!(a.recv_timeout(Duration::from_secs(10)).unwrap(), Err(SandboxError::Timeout { timeout_ms: 30 }));
        assert_eq!(b.recv_timeout(Duration::from_secs(10)).unwrap(), Err(SandboxError::Timeout { timeout_ms: 120 }));
    }
}

#[test]
fn huge_sparse_arrays_and_shared_subtrees_are_refused_not_copied() {
    // Regressions: a length of 2^32 - 1 made rquickjs's `Array::len` panic (then the process
    // aborted freeing the runtime), and `x = [x, x]` repeated made the copy exponential in
    // time and memory, outside the sandbox's limit, on the caller's thread.
    let h = with(SandboxOptions { memory_limit_bytes: 8 << 20, ..Default::default() }, vec![]);
    for code in [
        "{ const a = []; a.length = 2 ** 32 - 1; a }",
        "{ const a = []; a.length = 2 ** 31 - 1; ({ a }) }",
        "{ let x = [1]; for (let i = 0; i < 40; i++) x = [x, x]; x }",
        "{ const s = 'x'.repeat(1 << 20); Array(64).fill(s) }",
    ] {
        let t = Instant::now();
        match h.eval(code) {
            Err(SandboxError::Result { reason, .. }) => assert!(reason.contains("more than"), "{code}: {reason}"),
            other => panic!("{code}: {other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(5), "{code} took {:?}", t.elapsed());
    }
    match h.eval("const b = []; b.length = 2 ** 32 - 1; ({ list: b })") {
        Err(SandboxError::Result { path, .. }) => assert_eq!(path, "result.list"),
        other => panic!("{other:?}"),
    }
    // Throwing one shows it through `console`'s formatter, which read the length the same way.
    assert!(matches!(h.eval("const c = []; c.length = 2 ** 32 - 1; throw c"), Err(SandboxError::Js { .. })));
    // What fits is still copied, sparse or not.
    assert_eq!(h.eval("const d = []; d.length = 3; d").unwrap(), Value::Array(vec![Value::Undefined; 3]));
    assert_eq!(h.eval("1 + 1").unwrap(), num(2.0));
}

#[test]
fn a_getter_that_runs_out_the_clock_while_the_result_is_copied_is_a_timeout() {
    let h = simple();
    let limit = Some(Duration::from_millis(100));
    assert_eq!(h.eval_with("({ get a() { for (;;) {} } })", limit), Err(SandboxError::Timeout { timeout_ms: 100 }));
    assert_eq!(
        h.eval_with("const e = new Error('m'); Object.defineProperty(e, 'name', { get() { for (;;) {} } }); throw e", limit),
        Err(SandboxError::Timeout { timeout_ms: 100 })
    );
    assert_eq!(h.eval("1 + 1").unwrap(), num(2.0));
}

#[test]
fn a_copy_of_a_huge_shared_subtree_stops_at_the_value_limit() {
    // With a large memory limit the copy budget is large too (4 GiB): a shared subtree that
    // expands to 2^41 values stops at MAX_COPY_VALUES, at once, for a result and for a
    // host-function argument (a RangeError the sandbox can catch).
    let echo: HostFn = Box::new(|args, reply| reply(Ok(Value::Array(args))));
    let h = with(SandboxOptions { memory_limit_bytes: 1 << 30, ..Default::default() }, vec![("echo", echo)]);
    let limit = Some(Duration::from_secs(10));
    let tree = "let x = [1]; for (let i = 0; i < 40; i++) x = [x, x];";
    let t = Instant::now();
    match h.eval_with(&format!("{{ {tree} x }}"), limit) {
        Err(SandboxError::Result { reason, .. }) => {
            assert!(reason.contains(&format!("more than {} values", baml_sandbox::MAX_COPY_VALUES)), "{reason}");
        }
        other => panic!("expected SANDBOX_RESULT, got {other:?}"),
    }
    let caught = h.eval_with(&format!("{{ {tree} try {{ await echo(x); 'copied' }} catch (e) {{ e.name + ': ' + e.message }} }}"), limit).unwrap();
    let Value::String(caught) = caught else { panic!("{caught:?}") };
    assert!(caught.starts_with("RangeError: ") && caught.contains("values"), "{caught}");
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    assert_eq!(h.eval("1 + 1").unwrap(), num(2.0));
}

#[test]
fn arguments_waiting_for_the_host_are_capped() {
    // Regression: `for (;;) f(s)` with a 1 MB `s` copied a megabyte per call out of the
    // sandbox's heap, gigabytes within a second while the host worked through them. Calls in
    // flight now hold their arguments' bytes against a cap of 4 times the memory limit.
    let held: std::sync::Arc<std::sync::Mutex<Vec<baml_sandbox::Reply>>> = std::sync::Arc::default();
    let replies = held.clone();
    let never_answers: HostFn = Box::new(move |_, reply| replies.lock().unwrap().push(reply));
    let h = with(SandboxOptions { memory_limit_bytes: 8 << 20, ..Default::default() }, vec![("hold", never_answers)]);
    let r = h.eval("const s = 'x'.repeat(1 << 20); let n = 0; \
        try { for (;;) { hold(s); n++ } } catch (e) { [e.name, e.message.includes('waiting for the host'), n] }").unwrap();
    let Value::Array(items) = r else { panic!("{r:?}") };
    assert_eq!(items[0], Value::String("RangeError".into()));
    assert_eq!(items[1], Value::Bool(true));
    assert!(matches!(items[2], Value::Number(n) if (20.0..=32.0).contains(&n)), "{:?}", items[2]);
    // Answering the calls frees the room again.
    for reply in held.lock().unwrap().drain(..) {
        reply(Ok(Value::Null));
    }
    assert_eq!(h.eval("hold('small'); 'ok'").unwrap(), Value::String("ok".into()));
}

#[test]
fn values_nested_past_the_limit_are_refused_on_the_way_in_not_fatal() {
    // Regression: copying a value in recursed without a limit, so a tree 100,000 deep (which
    // only the Rust API can build) overflowed the stack and aborted the process, as a global,
    // a host function's result or a host error's field. Now each is refused at `MAX_DEPTH`,
    // as on the way out, and the sandbox drops what it was given without recursing.
    use baml_sandbox::{HostError, Sandbox, MAX_DEPTH};
    use baml_sandbox::drop_flat;
    use common::{chain, zeros, TestHost};
    let host = std::sync::Arc::new(TestHost::default());
    for depth in [MAX_DEPTH + 1, 100_000] {
        let opts = SandboxOptions { globals: vec![("ok".into(), num(1.0)), ("deep".into(), chain(depth))], ..Default::default() };
        match Sandbox::new(&opts, host.clone(), common::pool()) {
            Err(SandboxError::InvalidOption { message, .. }) => assert_eq!(
                message,
                format!("globals.deep{} cannot be copied into the sandbox: nested deeper than {MAX_DEPTH} levels", zeros(MAX_DEPTH))
            ),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("a global {depth} deep was accepted"),
        }
        drop_flat(Value::Object(opts.globals));
    }
    // As deep as a result may be: accepted, and it comes back out whole.
    let opts = SandboxOptions { globals: vec![("deep".into(), chain(MAX_DEPTH))], ..Default::default() };
    let h = Harness::new(opts, vec![]);
    assert_eq!(h.eval("let d = deep, n = 0; while (Array.isArray(d)) { d = d[0]; n++ } n").unwrap(), num(512.0));
    drop_flat(h.eval("deep").unwrap());

    // How deep to nest, as a string argument.
    let depth_of = |args: &[Value]| if let Some(Value::String(s)) = args.first() { s.parse::<usize>().unwrap() } else { 0 };
    let give: HostFn = Box::new(move |args, reply| {
        let depth = depth_of(&args);
        reply(Ok(chain(depth)));
    });
    let fail: HostFn = Box::new(move |args, reply| {
        let depth = depth_of(&args);
        reply(Err(HostError { name: "Error".into(), message: "failed".into(), fields: vec![("detail".into(), chain(depth))], origin: None }));
    });
    let h = with(SandboxOptions::default(), vec![("give", give), ("fail", fail)]);
    let caught = |code: &str| match h.eval(code) {
        Ok(Value::Array(items)) => items,
        other => panic!("{code}: {other:?}"),
    };
    for depth in [MAX_DEPTH + 1, 100_000] {
        let r = caught(&format!("try {{ await give('{depth}'); [] }} catch (e) {{ [e.name, e.message] }}"));
        assert_eq!(r, vec![
            Value::String("TypeError".into()),
            Value::String(format!("host function result{} cannot be copied into the sandbox: nested deeper than {MAX_DEPTH} levels", zeros(MAX_DEPTH))),
        ]);
        // A field sits one level below its error, so one level less of it fits.
        let r = caught(&format!("try {{ await fail('{depth}'); [] }} catch (e) {{ [e.name, e.message] }}"));
        assert_eq!(r, vec![
            Value::String("TypeError".into()),
            Value::String(format!("host function error.detail{} cannot be copied into the sandbox: nested deeper than {MAX_DEPTH} levels", zeros(MAX_DEPTH - 1))),
        ]);
    }
    let r = caught(&format!("let d = await give('{MAX_DEPTH}'), n = 0; while (Array.isArray(d)) {{ d = d[0]; n++ }} [n]"));
    assert_eq!(r, vec![num(512.0)]);
    let r = caught(&format!("try {{ await fail('{}') }} catch (e) {{ [e.message, Array.isArray(e.detail)] }}", MAX_DEPTH - 1));
    assert_eq!(r, vec![Value::String("failed".into()), Value::Bool(true)]);
    assert_eq!(h.eval("1 + 1").unwrap(), num(2.0));
}

#[test]
fn a_deep_result_nobody_waits_for_is_dropped_without_recursing() {
    // The reply outlives the sandbox: what it carries is dropped on the replying thread (here
    // a test thread with a small stack), and must not overflow it.
    let held: std::sync::Arc<std::sync::Mutex<Vec<baml_sandbox::Reply>>> = std::sync::Arc::default();
    let replies = held.clone();
    let never_answers: HostFn = Box::new(move |_, reply| replies.lock().unwrap().push(reply));
    let h = with(SandboxOptions::default(), vec![("hold", never_answers)]);
    let rx = h.start("await hold()", None);
    let t = Instant::now();
    while held.lock().unwrap().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(10), "hold() was never called");
        std::thread::sleep(Duration::from_millis(1));
    }
    h.sandbox.dispose();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Err(SandboxError::Disposed));
    let reply = held.lock().unwrap().pop().unwrap();
    reply(Ok(common::chain(100_000)));
}

#[test]
fn object_keys_keep_nul_characters() {
    // Regression: keys were read through a C string, so "a\0b" came out as "a" (and the value
    // read was that of "a"), and "\0" as "".
    let key_set = || Value::Object(vec![("a\0b".into(), num(1.0)), ("\0".into(), num(2.0)), (String::new(), num(3.0)), ("a".into(), num(4.0))]);
    let opts = SandboxOptions { globals: vec![("g".into(), key_set())], ..Default::default() };
    let echo: HostFn = Box::new(|args, reply| reply(Ok(Value::Array(args))));
    let h = with(opts, vec![("echo", echo)]);
    assert_eq!(h.eval("Object.keys(g).map((k) => k.length)").unwrap(), Value::Array(vec![num(3.0), num(1.0), num(0.0), num(1.0)]));
    assert_eq!(h.eval("g").unwrap(), key_set());
    assert_eq!(h.eval("({ 'a\\0b': 1, '\\0': 2, '': 3, a: 4 })").unwrap(), key_set());
    assert_eq!(h.eval("(await echo(g))[0]").unwrap(), key_set());
}

#[test]
fn lone_surrogates_cross_as_replacement_characters() {
    // Regression: a string holding a lone surrogate (valid in JavaScript, not in UTF-8) made
    // the copy fail with no exception to report, so the evaluation rejected with
    // "Uncaught undefined"; as a key it became invalid UTF-8 inside a Rust `String`.
    let echo: HostFn = Box::new(|args, reply| reply(Ok(Value::Array(args))));
    let h = with(SandboxOptions { console: true, ..Default::default() }, vec![("echo", echo)]);
    let s = |s: &str| Value::String(s.into());
    assert_eq!(h.eval("'a\\ud800b'").unwrap(), s("a\u{fffd}b"));
    assert_eq!(h.eval("'\\udfff\\ud83d\\ude00\\ud83d'").unwrap(), s("\u{fffd}😀\u{fffd}"));
    assert_eq!(h.eval("({ ['k\\udc00']: ['\\ud800'] })").unwrap(), Value::Object(vec![("k\u{fffd}".into(), Value::Array(vec![s("\u{fffd}")]))]));
    assert_eq!(h.eval("await echo('\\ud800', { ['\\ud800']: 1 })").unwrap(), Value::Array(vec![s("\u{fffd}"), Value::Object(vec![("\u{fffd}".into(), num(1.0))])]));
    match h.eval("throw new RangeError('bad \\ud800')") {
        Err(SandboxError::Js { name, message, .. }) => {
            assert_eq!(name.as_deref(), Some("RangeError"));
            assert_eq!(message, "<sandbox>:1:11: RangeError: bad \u{fffd}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.eval("throw '\\ud800'"), Err(SandboxError::Js { name: None, message: "Uncaught \u{fffd}".into(), stack: None, origin: None }));
    h.eval("console.log('\\ud800', { ['\\udc00']: '\\ud800' })").unwrap();
    assert_eq!(h.host.console.lock().unwrap().last().unwrap().1, "\u{fffd} { '\u{fffd}': '\u{fffd}' }");
}

#[test]
fn a_refusal_with_a_long_path_keeps_its_reason() {
    // Regression: errors thrown at sandboxed code were formatted into QuickJS's 256-byte
    // buffer, so a path 512 levels long cut the message off before it said why.
    let echo: HostFn = Box::new(|args, reply| reply(Ok(Value::Array(args))));
    let h = with(SandboxOptions::default(), vec![("echo", echo)]);
    let r = h.eval("let d = 1; for (let i = 0; i < 600; i++) d = [d]; try { await echo(d) } catch (e) { [e.name, e.message] }").unwrap();
    assert_eq!(r, Value::Array(vec![
        Value::String("TypeError".into()),
        Value::String(format!("echo argument 0{} cannot be passed to the host: nested deeper than 512 levels", common::zeros(512))),
    ]));
}

#[test]
fn host_error_fields_are_own_properties() {
    // Regression: fields were assigned, so a `__proto__` field became the error's prototype,
    // and a setter sandboxed code had put on `Error.prototype` ran (and could throw instead).
    let fail: HostFn = Box::new(|_, reply| reply(Err(baml_sandbox::HostError {
        name: "BamlError".into(),
        message: "m".into(),
        fields: vec![("code".into(), Value::String("X".into())), ("__proto__".into(), Value::Object(vec![("polluted".into(), Value::Bool(true))]))],
        origin: None,
    })));
    let h = with(SandboxOptions::default(), vec![("fail", fail)]);
    h.eval("Object.defineProperty(Error.prototype, 'code', { set() { throw 'setter ran' }, configurable: true })").unwrap();
    let r = h.eval("try { await fail() } catch (e) { [e instanceof Error, e.polluted === undefined, Object.keys(e).join(), e.code, e.name, e.__proto__.polluted] }").unwrap();
    assert_eq!(r, Value::Array(vec![
        Value::Bool(true), Value::Bool(true), Value::String("name,code,__proto__".into()), Value::String("X".into()), Value::String("BamlError".into()), Value::Bool(true),
    ]));
}

#[test]
fn globals_named_like_built_ins_do_not_break_baml_functions() {
    // Regression: the BAML prelude read `Object`, `Promise`, `Symbol` and `globalThis` after
    // the globals were installed, so a global by one of those names made `Sandbox::new` fail
    // ("not a function") for any context with BAML functions.
    let opts = SandboxOptions {
        baml_functions: vec!["Fn".into()],
        globals: ["Object", "globalThis", "Promise", "Symbol"].iter().map(|k| ((*k).to_string(), Value::String((*k).into()))).collect(),
        ..Default::default()
    };
    let h = with(opts, vec![]);
    assert_eq!(h.eval("[typeof b.Fn, typeof b.stream.Fn, typeof Fn, Object, globalThis, Promise, Symbol].join()").unwrap(),
        Value::String("function,function,function,Object,globalThis,Promise,Symbol".into()));
    // Streams use the built-ins kept at setup (this host has no BAML, so the call fails).
    let r = h.eval("const s = b.stream.Fn(); try { for await (const p of s) {} 'no error' } catch (e) { e.message }");
    assert_eq!(r.unwrap(), Value::String("BAML functions are not available here".into()));
}

#[test]
fn console_formatting_stops_at_the_deadline() {
    // Regressions: formatting a `console` argument cleared every exception its getters threw,
    // the interrupt handler's stop included, so `for (;;) console.log(slowGetter)` ran past its
    // deadline (and abort, and dispose) for good; and `%j` handed a shared subtree to QuickJS's
    // `JSON.stringify`, which neither checks the deadline nor stops when its output runs out of
    // memory, so it held the thread for hours.
    let h = with(SandboxOptions { console: true, memory_limit_bytes: 8 << 20, ..Default::default() }, vec![]);
    let limit = Some(Duration::from_millis(200));
    for code in [
        "for (;;) console.log({ get a() { for (;;) {} } })",
        "for (;;) console.log('%j', { get a() { for (;;) {} } })",
        "let x = [1]; for (let i = 0; i < 40; i++) x = [x, x]; for (;;) console.log('%j', x)",
    ] {
        let t = Instant::now();
        let rx = h.start(code, limit);
        let r = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| panic!("{code}: still running after 10 s"));
        assert_eq!(r, Err(SandboxError::Timeout { timeout_ms: 200 }), "{code}");
        assert!(t.elapsed() < Duration::from_secs(3), "{code} took {:?}", t.elapsed());
    }
    // Once: too large to serialize, shown as `%o` would show it.
    h.host.console.lock().unwrap().clear();
    h.eval("let y = [1]; for (let i = 0; i < 40; i++) y = [y, y]; console.log('%j', y); console.log('%j', { a: [1, 'x'] })").unwrap();
    let lines = h.host.console.lock().unwrap().clone();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].1.starts_with("[ [ [ [Array], [Array] ]"), "{}", lines[0].1);
    assert_eq!(lines[1].1, r#"{"a":[1,"x"]}"#);
    assert_eq!(h.eval("1 + 1").unwrap(), num(2.0));
}

/// `JSON.stringify` is replaced by a wrapper that always passes QuickJS a replacer function
/// (so serializing polls the interrupt handler): its output must stay exactly what a standard
/// `JSON.stringify` gives. Expected values are Node's own for the same code.
#[test]
fn json_stringify_output_is_unchanged_by_the_guard() {
    let h = simple();
    let cases: &[(&str, Option<&str>)] = &[
        (
            "JSON.stringify({a: 1, b: 2}, new Proxy(['b'], {}))",
            Some("{\"b\":2}"),
        ),
        ("JSON.stringify({a: 1}, {})", Some("{\"a\":1}")),
        ("JSON.stringify({a: 1, b: [1, \"x\", null, undefined, () => 1, Symbol()], c: undefined, d: new Date(0), e: {toJSON() { return \"tj\" }}})", Some("{\"a\":1,\"b\":[1,\"x\",null,null,null,null],\"d\":\"1970-01-01T00:00:00.000Z\",\"e\":\"tj\"}")),
        ("JSON.stringify({a: 1, b: {c: 2}}, null, 2)", Some("{\n  \"a\": 1,\n  \"b\": {\n    \"c\": 2\n  }\n}")),
        ("JSON.stringify({a: 1, b: {c: 2, d: [1, 2]}}, function (k, v) { return typeof v === \"number\" ? v * 10 + (this.c === 2 ? 1 : 0) : v }, \"--\")", Some("{\n--\"a\": 10,\n--\"b\": {\n----\"c\": 21,\n----\"d\": [\n------10,\n------20\n----]\n--}\n}")),
        ("JSON.stringify({b: 1, a: 2, 1: 3, 0: 4, __proto__x: 5, nested: {a: 1, b: 2, 1: 9}}, [\"nested\", \"1\", \"b\", 0, \"b\", new String(\"a\"), {}, true])", Some("{\"nested\":{\"1\":9,\"b\":2,\"a\":1},\"1\":3,\"b\":1,\"0\":4,\"a\":2}")),
        ("JSON.stringify(Object.assign(Object.create({inh: \"yes\"}), {own: 1}), [\"inh\", \"own\", \"missing\"])", Some("{\"inh\":\"yes\",\"own\":1}")),
        ("JSON.stringify([{a: 1, b: 2}, {b: 3}], [\"b\"])", Some("[{\"b\":2},{\"b\":3}]")),
        ("JSON.stringify(JSON.parse('{\"__proto__\": 1, \"x\": 2}'), [\"__proto__\", \"x\"])", Some("{\"__proto__\":1,\"x\":2}")),
        ("JSON.stringify(\"s\")", Some("\"s\"")),
        ("JSON.stringify(undefined)", None),
        ("JSON.stringify(() => 1)", None),
        ("String(JSON.stringify(1n === 1n))", Some("true")),
        ("JSON.stringify({a: [new Proxy({z: 1, y: 2}, {})]}, [\"a\", \"y\"])", Some("{\"a\":[{\"y\":2}]}")),
        ("JSON.stringify({k: 1}, (k, v) => k === \"\" ? {replaced: true} : v)", Some("{\"replaced\":true}")),
        ("[JSON.stringify.length, JSON.stringify.name, Object.getOwnPropertyDescriptor(JSON, \"stringify\").enumerable].join()", Some("3,stringify,false")),
    ];
    for (code, want) in cases {
        let got = h.eval(code).unwrap_or_else(|e| panic!("{code}: {e}"));
        let want = want.map_or(Value::Undefined, |w| Value::String(w.to_string()));
        assert_eq!(got, want, "{code}");
    }
}

/// Found while fuzzing: QuickJS serializes in C without polling the interrupt handler, so
/// `JSON.stringify` of a value sharing one subtree 2^40 times ran for hours past its timeout,
/// and blocked the thread that started the turn (Node's, inline). With and without an array or
/// function replacer it now stops at the deadline, and the caller is not blocked.
#[test]
fn json_stringify_of_an_exponential_value_stops_at_the_deadline() {
    let h = simple();
    for replacer in ["undefined", "['x', 'y', 'v']", "(k, v) => v"] {
        let code = format!(
            "var a = {{ v: 1 }}; for (let i = 0; i < 40; i++) a = {{ x: a, y: a }}; \
             JSON.stringify(a, {replacer}).length"
        );
        let started = Instant::now();
        let rx = h.start(&code, Some(Duration::from_millis(200)));
        assert!(
            started.elapsed() < Duration::from_millis(150),
            "{replacer}: evaluate blocked its caller for {:?}",
            started.elapsed()
        );
        let r = rx.recv_timeout(Duration::from_secs(30)).expect("never settled");
        assert!(matches!(r, Err(SandboxError::Timeout { .. })), "{replacer}: {r:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{replacer}: {:?}", started.elapsed());
        assert_eq!(h.eval("1 + 1").unwrap(), num(2.0), "{replacer}: usable afterwards");
    }
}
