//! Structured-clone kinds crossing the sandbox boundary both ways, and what is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]
mod common;

use std::time::Duration;

use baml_sandbox::{ErrorValue, RegExp, SandboxError, SandboxOptions, TypedArrayKind, Value};
use common::{num, Harness, HostFn};

fn s(text: &str) -> Value {
    Value::String(text.into())
}

/// Evaluates `code` in a block of its own (the realm persists, and tests reuse names).
fn ev(h: &Harness, code: &str) -> Result<Value, SandboxError> {
    h.eval(&format!("{{ {code} }}"))
}

fn refused(h: &Harness, code: &str) -> (String, String) {
    match ev(h, code) {
        Err(SandboxError::Result { path, reason }) => (path, reason),
        other => panic!("{code}: {other:?}"),
    }
}

#[test]
fn results_of_each_kind() {
    let h = Harness::simple();
    assert_eq!(
        h.eval("new Map([['a', 1], [{k: 2}, [3]]])").unwrap(),
        Value::Map(vec![
            (s("a"), num(1.0)),
            (
                Value::Object(vec![("k".into(), num(2.0))]),
                Value::Array(vec![num(3.0)])
            ),
        ])
    );
    assert_eq!(
        h.eval("new Set([1, 'x', 1])").unwrap(),
        Value::Set(vec![num(1.0), s("x")])
    );
    assert_eq!(
        h.eval("new Uint8Array([1, 2, 255]).buffer").unwrap(),
        Value::ArrayBuffer(vec![1, 2, 255])
    );
    assert_eq!(
        h.eval("new Uint16Array([1, 258])").unwrap(),
        Value::TypedArray {
            kind: TypedArrayKind::Uint16,
            bytes: vec![1, 0, 2, 1]
        }
    );
    // Only the bytes a view sees.
    assert_eq!(
        h.eval("new Uint8Array([1, 2, 3, 4, 5]).subarray(1, 3)")
            .unwrap(),
        Value::TypedArray {
            kind: TypedArrayKind::Uint8,
            bytes: vec![2, 3]
        }
    );
    assert_eq!(
        h.eval("new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2)")
            .unwrap(),
        Value::TypedArray {
            kind: TypedArrayKind::DataView,
            bytes: vec![8, 7]
        }
    );
    for (ctor, kind, size) in [
        ("Int8Array", TypedArrayKind::Int8, 1),
        ("Uint8ClampedArray", TypedArrayKind::Uint8Clamped, 1),
        ("Int16Array", TypedArrayKind::Int16, 2),
        ("Int32Array", TypedArrayKind::Int32, 4),
        ("Uint32Array", TypedArrayKind::Uint32, 4),
        ("Float16Array", TypedArrayKind::Float16, 2),
        ("Float32Array", TypedArrayKind::Float32, 4),
        ("Float64Array", TypedArrayKind::Float64, 8),
        ("BigInt64Array", TypedArrayKind::BigInt64, 8),
        ("BigUint64Array", TypedArrayKind::BigUint64, 8),
    ] {
        match h.eval(&format!("new {ctor}(3)")).unwrap() {
            Value::TypedArray { kind: k, bytes } => {
                assert_eq!(k, kind, "{ctor}");
                assert_eq!(bytes.len(), 3 * size, "{ctor}");
            }
            other => panic!("{ctor}: {other:?}"),
        }
    }
    assert_eq!(
        h.eval("/a+b/gi").unwrap(),
        Value::RegExp(Box::new(RegExp {
            source: "a+b".into(),
            flags: "gi".into()
        }))
    );
    match h
        .eval("new TypeError('bad', { cause: new Map([[1, 2]]) })")
        .unwrap()
    {
        Value::Error(e) => {
            assert_eq!(e.name, "TypeError");
            assert_eq!(e.message, "bad");
            assert!(e.stack.is_some());
            assert_eq!(e.cause, Some(Value::Map(vec![(num(1.0), num(2.0))])));
        }
        other => panic!("{other:?}"),
    }
    match ev(&h, "const e = new Error('m'); e.name = 'Custom'; e").unwrap() {
        Value::Error(e) => {
            assert_eq!(
                (e.name.as_str(), e.message.as_str(), e.cause.is_none()),
                ("Custom", "m", true)
            );
        }
        other => panic!("{other:?}"),
    }
    // Class instances and proxies keep their own enumerable properties, as before.
    assert_eq!(
        ev(
            &h,
            "class P { constructor() { this.x = 1 } }; [new P(), new Proxy(new Map([[1, 1]]), {})]"
        )
        .unwrap(),
        Value::Array(vec![
            Value::Object(vec![("x".into(), num(1.0))]),
            Value::Object(vec![])
        ])
    );
}

#[test]
fn refusals_carry_their_path() {
    let h = Harness::simple();
    let cases = [
        ("({a: [1, new WeakMap()]})", "result.a[1]", "a WeakMap"),
        ("({a: new WeakSet()})", "result.a", "a WeakSet"),
        ("({a: new WeakRef({})})", "result.a", "a WeakRef"),
        (
            "({a: new FinalizationRegistry(() => {})})",
            "result.a",
            "a FinalizationRegistry",
        ),
        (
            "({p: Promise.resolve(1)})",
            "result.p",
            "a Promise (await it first)",
        ),
        ("[new Number(1)]", "result[0]", "boxed primitive"),
        ("[new String('s')]", "result[0]", "boxed primitive"),
        ("[new Boolean(false)]", "result[0]", "boxed primitive"),
        ("[Object(Symbol())]", "result[0]", "boxed primitive"),
        ("[Object(1n)]", "result[0]", "boxed primitive"),
        (
            "new Map([[1, {n: 2n}]])",
            "result[entry 0].value.n",
            "BigInt",
        ),
        ("new Map([[10n, 1]])", "result[entry 0].key", "BigInt"),
        ("new Set([1, new WeakMap()])", "result[item 1]", "a WeakMap"),
        (
            "const m = new Map(); m.set('self', m); m",
            "result[entry 0].value",
            "cyclic",
        ),
        (
            "const e = new Error('x'); e.cause = {e}; e",
            "result.cause.e",
            "cyclic",
        ),
        ("new Error('x', { cause: 5n })", "result.cause", "BigInt"),
    ];
    for (code, path, reason) in cases {
        let (p, r) = refused(&h, code);
        assert_eq!(p, path, "{code}: {r}");
        assert!(r.contains(reason), "{code}: {r}");
    }
    if h.eval("typeof SharedArrayBuffer").unwrap() == s("function") {
        let (p, r) = refused(&h, "[new SharedArrayBuffer(4)]");
        assert_eq!(p, "result[0]");
        assert!(r.contains("SharedArrayBuffer"), "{r}");
    }
}

#[test]
fn detached_resized_and_tampered_buffers() {
    let h = Harness::simple();
    let (p, r) = refused(&h, "const b = new ArrayBuffer(8); b.transfer(); ({b})");
    assert_eq!(p, "result.b");
    assert!(r.contains("detached"), "{r}");
    let (p, r) = refused(
        &h,
        "const b = new ArrayBuffer(8); const t = new Uint8Array(b); b.transfer(); [t]",
    );
    assert_eq!(p, "result[0]");
    assert!(r.contains("detached"), "{r}");
    // A view past the end of a buffer that shrank.
    let (p, _) = refused(
        &h,
        "const b = new ArrayBuffer(8, {maxByteLength: 16}); const t = new Uint8Array(b, 4, 4); b.resize(2); [t]",
    );
    assert_eq!(p, "result[0]");
    // A length-tracking view follows its buffer.
    assert_eq!(
        ev(&h, "const b = new ArrayBuffer(4, {maxByteLength: 16}); const t = new Uint8Array(b); b.resize(6); t[5] = 7; t").unwrap(),
        Value::TypedArray { kind: TypedArrayKind::Uint8, bytes: vec![0, 0, 0, 0, 0, 7] }
    );
    // Replaced getters do not change what is read.
    assert_eq!(
        ev(
            &h,
            "const keep = new Uint8Array([3]).buffer; const proto = Object.getPrototypeOf(Uint8Array.prototype);
             for (const k of ['length', 'byteLength', 'byteOffset', 'buffer'])
               Object.defineProperty(proto, k, { get() { return 1e9 } });
             Object.defineProperty(ArrayBuffer.prototype, 'byteLength', { get() { return 1e9 } });
             [new Uint8Array([1, 2]), keep]"
        )
        .unwrap(),
        Value::Array(vec![
            Value::TypedArray { kind: TypedArrayKind::Uint8, bytes: vec![1, 2] },
            Value::ArrayBuffer(vec![3]),
        ])
    );
    // A DataView whose getters lie past its buffer is refused.
    let (p, r) = refused(
        &h,
        "const v = new DataView(new ArrayBuffer(4));
         Object.defineProperty(v, 'byteLength', { get() { return 100 } }); ({v})",
    );
    assert_eq!(p, "result.v");
    assert!(r.contains("past the end"), "{r}");
}

#[test]
fn a_replaced_for_each_is_bounded() {
    let h = Harness::new(
        SandboxOptions {
            timeout: Duration::from_millis(500),
            ..Default::default()
        },
        vec![],
    );
    // Calls the callback forever (catching what it throws): stopped at the value limit.
    let (p, r) = refused(
        &h,
        "const m = new Map([[1, 1]]);
         m.forEach = function (cb) { for (;;) { try { cb(1, 2) } catch (e) { if (String(e).includes('no more')) throw e } } };
         ({m})",
    );
    assert_eq!(p, "result.m");
    assert!(r.contains("65536 values"), "{r}");
    // Keeps the callback and calls it later: it takes nothing and throws; the realm and the
    // values the callback saw are freed at dispose without an abort.
    assert_eq!(
        ev(
            &h,
            "globalThis.kept = undefined; const s = new Set([1]);
             s.forEach = function (cb) { kept = cb; cb({big: new Array(100).fill('x')}); };
             const first = s; first"
        )
        .unwrap(),
        Value::Set(vec![Value::Object(vec![(
            "big".into(),
            Value::Array(vec![s("x"); 100])
        )])])
    );
    assert_eq!(
        h.eval("try { kept(globalThis, kept); 'no throw' } catch (e) { e.message }")
            .unwrap(),
        s("this copy takes no more entries")
    );
    // A callback that holds its own map would be a cycle the garbage collector cannot see.
    assert!(h
        .eval(
            "{ const m = new Map(); m.forEach = function (cb) { globalThis.cb2 = cb; cb(m, cb); cb(cb, m); }; [m] }"
        )
        .is_err());
    // forEach that never returns: a timeout, as any running code.
    match ev(
        &h,
        "const m = new Map(); m.forEach = () => { for (;;); }; m",
    ) {
        Err(SandboxError::Timeout { .. }) => {}
        other => panic!("{other:?}"),
    }
    // A forEach that is not a function.
    let (p, r) = refused(&h, "const m = new Map(); m.forEach = 1; ({m})");
    assert_eq!(p, "result.m");
    assert!(r.contains("forEach"), "{r}");
    // A forEach that throws: the evaluation rejects with it.
    match ev(
        &h,
        "const m = new Map(); m.forEach = () => { throw new RangeError('mine') }; m",
    ) {
        Err(SandboxError::Js { message, .. }) => assert!(message.contains("mine"), "{message}"),
        other => panic!("{other:?}"),
    }
    drop(h);
}

#[test]
fn maps_count_against_the_value_limit_and_the_depth() {
    let h = Harness::simple();
    let (p, r) = refused(
        &h,
        "const m = new Map(); for (let i = 0; i < 40000; i++) m.set(i, i); ({m})",
    );
    assert_eq!(p, "result.m");
    assert!(r.contains("65536"), "{r}");
    match ev(
        &h,
        "const m = new Map(); for (let i = 0; i < 30000; i++) m.set(i, i); m",
    )
    .unwrap()
    {
        Value::Map(entries) => assert_eq!(entries.len(), 30000),
        other => panic!("{other:?}"),
    }
    // Listing a map's entries runs forEach (JavaScript) at every level, with the budget the
    // copy's own recursion took given back (`stack::beyond_copy`): the depth limit comes first.
    for code in [
        "let m = 1; for (let i = 0; i < 600; i++) m = new Map([[0, m]]); m",
        "let m = 1; for (let i = 0; i < 600; i++) m = new Set([m]); m",
    ] {
        match ev(&h, code) {
            Err(SandboxError::Result { path, reason }) => {
                assert!(path.starts_with("result["), "{path}");
                assert!(reason.contains("nested deeper"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
    let Value::Map(mut entries) = ev(
        &h,
        "let m = 1; for (let i = 0; i < 511; i++) m = new Map([[0, m]]); m",
    )
    .unwrap() else {
        panic!()
    };
    let mut depth = 1;
    while let Some((_, Value::Map(inner))) = entries.pop() {
        entries = inner;
        depth += 1;
    }
    assert_eq!(depth, 511);
    // Buffer bytes are charged to the byte budget (four times the memory limit).
    let h = Harness::new(
        SandboxOptions {
            memory_limit_bytes: 16 << 20,
            ..Default::default()
        },
        vec![],
    );
    let (_, r) = refused(&h, "const b = new ArrayBuffer(4 << 20); Array(20).fill(b)");
    assert!(r.contains("bytes"), "{r}");
}

fn kinds() -> Value {
    Value::Object(vec![
        (
            "m".into(),
            Value::Map(vec![
                (s("k"), num(1.0)),
                (num(2.0), Value::Set(vec![s("v")])),
            ]),
        ),
        ("s".into(), Value::Set(vec![num(1.0), Value::Null])),
        ("b".into(), Value::ArrayBuffer(vec![1, 2, 3])),
        (
            "t".into(),
            Value::TypedArray {
                kind: TypedArrayKind::Int16,
                bytes: vec![255, 255, 2, 0],
            },
        ),
        (
            "v".into(),
            Value::TypedArray {
                kind: TypedArrayKind::DataView,
                bytes: vec![5],
            },
        ),
        (
            "r".into(),
            Value::RegExp(Box::new(RegExp {
                source: "x+".into(),
                flags: "g".into(),
            })),
        ),
        (
            "e".into(),
            Value::Error(Box::new(ErrorValue {
                name: "RangeError".into(),
                message: "m".into(),
                stack: Some("stack text".into()),
                cause: Some(Value::Error(Box::new(ErrorValue {
                    name: "Custom".into(),
                    message: "inner".into(),
                    stack: None,
                    cause: None,
                }))),
            })),
        ),
    ])
}

const CHECK: &str = "[
  g.m instanceof Map && g.m.get('k') === 1 && g.m.get(2) instanceof Set && g.m.get(2).has('v'),
  g.s instanceof Set && g.s.size === 2 && g.s.has(null),
  g.b instanceof ArrayBuffer && new Uint8Array(g.b).join() === '1,2,3',
  g.t instanceof Int16Array && g.t.join() === '-1,2',
  g.v instanceof DataView && g.v.getUint8(0) === 5,
  g.r instanceof RegExp && g.r.source === 'x+' && g.r.flags === 'g',
  g.e instanceof RangeError && g.e.message === 'm' && g.e.stack === 'stack text'
    && g.e.cause instanceof Error && g.e.cause.name === 'Custom' && g.e.cause.message === 'inner'
    && !Object.keys(g.e).length,
].join()";

#[test]
fn globals_and_host_values_of_each_kind() {
    let echo: HostFn =
        Box::new(|mut args, reply| reply(Ok(args.pop().unwrap_or(Value::Undefined))));
    let give: HostFn = Box::new(|_, reply| reply(Ok(kinds())));
    let opts = SandboxOptions {
        globals: vec![("g".into(), kinds())],
        ..Default::default()
    };
    let h = Harness::new(opts, vec![("echo", echo), ("give", give)]);
    let all = s("true,true,true,true,true,true,true");
    assert_eq!(h.eval(CHECK).unwrap(), all);
    assert_eq!(
        h.eval(&format!("{{ const g = await give(); {CHECK} }}"))
            .unwrap(),
        all
    );
    // Arguments out to the host and back.
    assert_eq!(
        h.eval(&format!(
            "{{ const g = await echo(globalThis.g); {CHECK} }}"
        ))
        .unwrap(),
        all
    );
    // The way out gives back what went in.
    assert_eq!(h.eval("g").unwrap(), {
        let Value::Object(mut props) = kinds() else {
            unreachable!()
        };
        // The stack of the inner error was absent and stays so.
        props.truncate(7);
        Value::Object(props)
    });
    assert_eq!(
        h.eval("try { await echo({a: [1, new WeakMap()]}) } catch (e) { e.name + ': ' + e.message }").unwrap(),
        s("TypeError: echo argument 0.a[1] cannot be passed to the host: cannot be copied: a WeakMap")
    );
}

#[test]
fn deep_maps_sets_and_errors_go_in_as_globals_and_host_results() {
    let mut deep = Value::Null;
    for i in 0..511 {
        deep = match i % 3 {
            0 => Value::Map(vec![(num(f64::from(i)), deep)]),
            1 => Value::Set(vec![deep]),
            _ => Value::Error(Box::new(ErrorValue {
                name: "TypeError".into(),
                message: "e".into(),
                stack: None,
                cause: Some(deep),
            })),
        };
    }
    let given = deep.clone();
    let give: HostFn = Box::new(move |_, reply| reply(Ok(given.clone())));
    let opts = SandboxOptions {
        globals: vec![("g".into(), deep.clone())],
        ..Default::default()
    };
    let h = Harness::new(opts, vec![("give", give)]);
    let count = "(x) => { let d = 0; while (typeof x === 'object' && x !== null) { d++; x = x instanceof Map ? [...x.values()][0] : x instanceof Set ? [...x][0] : x.cause } return d }";
    assert_eq!(h.eval(&format!("({count})(g)")).unwrap(), num(511.0));
    assert_eq!(
        h.eval(&format!("({count})(await give())")).unwrap(),
        num(511.0)
    );
    assert_eq!(h.eval("g").unwrap(), deep);
}
