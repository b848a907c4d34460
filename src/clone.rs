//! The structured-clone kinds (`Map`, `Set`, `ArrayBuffer`, typed arrays and `DataView`,
//! `RegExp`, `Error`) on Node's side: read from Node values (globals, host-function results)
//! and built for Node (results, host-function arguments). Promises, weak collections and
//! boxed primitives are refused with their path, as the sandbox refuses them.
//!
//! N-API tells typed arrays, buffers, data views, errors and promises apart; the other kinds
//! are told apart, listed and built by `HELPER`, a function compiled once per thread that
//! holds the original methods it uses (brand checks, `forEach`, constructors), so a class
//! that overrides `forEach` or `size` does not change what is copied.

use baml_sandbox::{
    map_key_segment, map_value_segment, set_item_segment, ErrorValue, RegExp, TypedArrayKind,
    Value, CAUSE_SEGMENT, MAX_COPY_VALUES,
};
use napi::bindgen_prelude::*;
use napi::sys;

use crate::convert::{fail, from_rec, read, scoped, Copier, CopyError, Path, VALUE_BYTES};
use crate::errors::failure;
use crate::host::ArgList;

/// `(op, a, b, c, d)`: 0 the kind of object `a` (0 ordinary, 1 `Map`, 2 `Set`, 3 `RegExp`,
/// 4 `WeakMap`, 5 `WeakSet`, 6 `WeakRef`, 7 `FinalizationRegistry`, 8 a boxed primitive,
/// 9 `SharedArrayBuffer`); 1 a `Map`'s size; 2 its entries (keys and values alternating);
/// 3 a `Set`'s size; 4 its values; 5 a new `Map` of such entries; 6 a new `Set` of such values;
/// 7 a new `RegExp(a, b)` (`undefined` if Node refuses it); 8 a new error (name, message, stack
/// or `undefined`, `[cause]` or `undefined`; a stack of frames only gets Node's first line,
/// `name: message`); 9 a new `globalThis[a](b)` over buffer `b`
/// (`undefined` if Node has no such constructor); 10 an error's fields
/// `[name, message, stack, hasCause, cause]`; 11 whether `ArrayBuffer` `a` is detached.
const HELPER: &str = r"(function () {
  'use strict';
  const g = globalThis;
  const getProto = Object.getPrototypeOf;
  const hasOwn = Object.hasOwn;
  const OP = Object.prototype;
  const getter = (C, k) => {
    const d = C && Object.getOwnPropertyDescriptor(C.prototype, k);
    return d && d.get;
  };
  const brand = (f, arg) => (f ? (v) => {
    try { f.call(v, arg); return true; } catch { return false; }
  } : () => false);
  const method = (C, k) => C && C.prototype[k];
  const mapSize = getter(Map, 'size');
  const setSize = getter(Set, 'size');
  const isRegExp = brand(getter(RegExp, 'source'));
  const checks = [
    [1, brand(mapSize)],
    [2, brand(setSize)],
    [3, (v) => v !== RegExp.prototype && isRegExp(v)],
    [4, brand(method(g.WeakMap, 'has'), OP)],
    [5, brand(method(g.WeakSet, 'has'), OP)],
    [6, brand(method(g.WeakRef, 'deref'))],
    [7, brand(method(g.FinalizationRegistry, 'unregister'), OP)],
    [8, brand(Number.prototype.valueOf)],
    [8, brand(String.prototype.valueOf)],
    [8, brand(Boolean.prototype.valueOf)],
    [8, brand(Symbol.prototype.valueOf)],
    [8, brand(method(g.BigInt, 'valueOf'))],
    [9, brand(getter(g.SharedArrayBuffer, 'byteLength'))],
  ];
  const mapForEach = Map.prototype.forEach;
  const setForEach = Set.prototype.forEach;
  const mapSet = Map.prototype.set;
  const setAdd = Set.prototype.add;
  const MapC = Map, SetC = Set, RegExpC = RegExp;
  const ERRORS = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };
  const define = (o, k, value) =>
    Object.defineProperty(o, k, { value, writable: true, configurable: true, enumerable: false });
  return function (op, a, b, c, d) {
    switch (op) {
      case 0: {
        const p = getProto(a);
        if (p === OP || p === null) return 0;
        for (const [kind, test] of checks) if (test(a)) return kind;
        return 0;
      }
      case 1: return mapSize.call(a);
      case 2: { const out = []; mapForEach.call(a, (v, k) => { out.push(k, v); }); return out; }
      case 3: return setSize.call(a);
      case 4: { const out = []; setForEach.call(a, (v) => { out.push(v); }); return out; }
      case 5: { const m = new MapC(); for (let i = 0; i + 1 < a.length; i += 2) mapSet.call(m, a[i], a[i + 1]); return m; }
      case 6: { const s = new SetC(); for (let i = 0; i < a.length; i++) setAdd.call(s, a[i]); return s; }
      case 7: try { return new RegExpC(a, b); } catch { return undefined; }
      case 8: {
        const C = hasOwn(ERRORS, a) ? ERRORS[a] : Error;
        const e = d === undefined ? new C(b) : new C(b, { cause: d[0] });
        if (!hasOwn(ERRORS, a)) define(e, 'name', a);
        define(e, 'message', b);
        // QuickJS writes only the frames; Node's stacks (which util.inspect prints) start with
        // the error's name and message.
        if (c === undefined) delete e.stack;
        else define(e, 'stack', c === '' || /^\s+at /.test(c) ? (b === '' ? a : a + ': ' + b) + '\n' + c : c);
        return e;
      }
      case 9: { const C = g[a]; return typeof C === 'function' ? new C(b) : undefined; }
      case 10: return [a.name, a.message, a.stack, hasOwn(a, 'cause'), a.cause];
      case 11: try { new Uint8Array(a); return false; } catch { return true; }
      default: return undefined;
    }
  };
})()";

type Helper = FunctionRef<ArgList, Unknown<'static>>;

/// Where this thread's stack stands (roughly: the address of a local).
pub(crate) fn stack_position() -> usize {
    let marker = 0u8;
    std::ptr::from_ref(std::hint::black_box(&marker)) as usize
}

/// Native stack a copy may use below its start before it calls into JavaScript. V8 checks its
/// stack limit (under 1 MiB on Node's thread, JavaScript frames included) when native code
/// calls JavaScript, and a copy recursing 512 levels deep with a call at the bottom could pass
/// it; V8 then fails to build its own `RangeError`. A copy that would call JavaScript this deep
/// is refused instead.
const STACK_FOR_JS: usize = 384 << 10;

/// Refuses to call JavaScript (`HELPER`) once the copy has used `STACK_FOR_JS` of the stack.
fn deep_guard(copier: &Copier<'_>, path: &Path<'_>) -> std::result::Result<(), CopyError> {
    if copier.stack_base.saturating_sub(stack_position()) > STACK_FOR_JS {
        // A cyclic value (from another realm, say) ends here first: say that, as the depth
        // limit would.
        return Err(copier.limit(
            path,
            "nested too deep for Node to tell what kind of object it is (a class instance, Map, Set or RegExp this deep)".to_owned(),
        ));
    }
    Ok(())
}

/// Node's `Object.prototype` and the prototypes of the kinds `HELPER` tells apart, read when
/// a copy begins.
#[derive(Default)]
pub(crate) struct Protos {
    object: Option<sys::napi_value>,
    special: Vec<sys::napi_value>,
}

impl Protos {
    pub(crate) fn read(env: &Env) -> Protos {
        let proto = |name: &str| -> Option<sys::napi_value> {
            let global = env.get_global().ok()?;
            let ctor: Unknown = global.get_named_property(name).ok()?;
            if ctor.get_type().ok()? != ValueType::Function {
                return None;
            }
            let ctor = ctor.coerce_to_object().ok()?;
            let proto: Unknown = ctor.get_named_property("prototype").ok()?;
            Some(proto.raw())
        };
        let special = [
            "Map",
            "Set",
            "RegExp",
            "WeakMap",
            "WeakSet",
            "WeakRef",
            "FinalizationRegistry",
            "Number",
            "String",
            "Boolean",
            "Symbol",
            "BigInt",
            "SharedArrayBuffer",
        ]
        .iter()
        .filter_map(|n| proto(n))
        .collect();
        let object = proto("Object");
        let _ = crate::errors::take_exception(env);
        Protos { object, special }
    }
}

/// Whether `v` is an ordinary object, told without running JavaScript: its prototype chain
/// reaches `null` or Node's `Object.prototype` without passing the prototype of a kind
/// `HELPER` tells apart. Objects of another realm (jest's) are not told apart this way
/// (`false`), nor are very long chains.
fn ordinary(copier: &Copier<'_>, v: &Unknown<'_>) -> bool {
    let env = copier.env.raw();
    let same = |a: sys::napi_value, b: sys::napi_value| {
        let mut eq = false;
        // SAFETY: a plain N-API call on this env's thread.
        unsafe { sys::napi_strict_equals(env, a, b, &raw mut eq) == sys::Status::napi_ok && eq }
    };
    let Some(object) = copier.protos.object else {
        return false;
    };
    let mut at = v.raw();
    for step in 0..32 {
        let mut proto = std::ptr::null_mut();
        let mut kind = 0;
        // SAFETY: plain N-API calls on this env's thread.
        let read = unsafe {
            sys::napi_get_prototype(env, at, &raw mut proto) == sys::Status::napi_ok
                && sys::napi_typeof(env, proto, &raw mut kind) == sys::Status::napi_ok
        };
        if !read {
            let _ = crate::errors::take_exception(copier.env);
            return false;
        }
        // `null` right away is `Object.create(null)`; after other prototypes, a chain of
        // another realm, which ends in its own `Object.prototype` and then `null`.
        if kind == sys::ValueType::napi_null {
            return step == 0;
        }
        if same(proto, object) {
            return true;
        }
        if copier.protos.special.iter().any(|p| same(proto, *p)) {
            return false;
        }
        at = proto;
    }
    false
}

thread_local! {
    /// `HELPER`, compiled once per thread (each Node environment has its own thread).
    static HELPERS: std::cell::RefCell<Option<(usize, Helper)>> =
        const { std::cell::RefCell::new(None) };
}

/// Calls `HELPER` with `op` and `args`.
fn helper<'env>(env: &'env Env, op: u32, args: &[sys::napi_value]) -> Result<Unknown<'env>> {
    let key = env.raw() as usize;
    let cached = HELPERS.with(|r| {
        r.borrow()
            .as_ref()
            .filter(|(k, _)| *k == key)
            .and_then(|(_, f)| f.borrow_back(env).ok())
    });
    let f = if let Some(f) = cached {
        f
    } else {
        let f: Function<ArgList, Unknown> = env.run_script(HELPER)?;
        let stored = f.create_ref()?;
        HELPERS.with(|r| *r.borrow_mut() = Some((key, stored)));
        f
    };
    let mut list = Vec::with_capacity(args.len() + 1);
    list.push(op.into_unknown(env)?.raw());
    list.extend_from_slice(args);
    let out = f.call(ArgList(list))?;
    // SAFETY: the value was just returned on this env's thread.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), out.raw()) })
}

fn number(v: &Unknown<'_>) -> Result<f64> {
    v.coerce_to_number()?.get_double()
}

/// The typed array kind of N-API's `napi_typedarray_type`.
fn kind_of(code: i32) -> Option<TypedArrayKind> {
    Some(match code {
        0 => TypedArrayKind::Int8,
        1 => TypedArrayKind::Uint8,
        2 => TypedArrayKind::Uint8Clamped,
        3 => TypedArrayKind::Int16,
        4 => TypedArrayKind::Uint16,
        5 => TypedArrayKind::Int32,
        6 => TypedArrayKind::Uint32,
        7 => TypedArrayKind::Float32,
        8 => TypedArrayKind::Float64,
        9 => TypedArrayKind::BigInt64,
        10 => TypedArrayKind::BigUint64,
        11 => TypedArrayKind::Float16,
        _ => return None,
    })
}

/// Refuses a view or buffer of no bytes whose buffer (`buffer`) was detached: N-API reports
/// such a buffer as empty, and a copy must not silently change it into an empty one.
fn not_detached(
    copier: &Copier<'_>,
    path: &Path<'_>,
    len: usize,
    buffer: sys::napi_value,
) -> std::result::Result<(), CopyError> {
    if len != 0 || buffer.is_null() {
        return Ok(());
    }
    deep_guard(copier, path)?;
    let env = copier.env;
    let detached = helper(env, 11, &[buffer])
        .and_then(|d| d.coerce_to_bool())
        .map_err(|e| fail(path, format!("it cannot be read: {}", failure(env, &e))))?;
    if detached {
        return Err(fail(path, "cannot be copied: its ArrayBuffer is detached"));
    }
    Ok(())
}

/// Copies the `len` bytes at `data` (a buffer's, as N-API gave them), charged first.
fn bytes_at(
    copier: &mut Copier<'_>,
    path: &Path<'_>,
    data: *const u8,
    len: usize,
) -> std::result::Result<Vec<u8>, CopyError> {
    copier.charge(path, len as u64)?;
    if len == 0 || data.is_null() {
        return Ok(Vec::new());
    }
    // SAFETY: N-API reported `len` readable bytes at `data`; nothing runs in between.
    Ok(unsafe { std::slice::from_raw_parts(data, len) }.to_vec())
}

/// Copies `v` (the object `obj`) if it is one of the structured-clone kinds (`Some`), refuses
/// it if no copy may hold it, and leaves ordinary objects to the caller (`None`). The caller
/// checked the depth, and that `v` is not an array or a date.
#[expect(
    clippy::too_many_lines,
    reason = "one test after the other, each kind's copy beside its test"
)]
pub(crate) fn from_kind<'env>(
    copier: &mut Copier<'env>,
    v: &Unknown<'env>,
    obj: Object<'env>,
    path: &Path<'_>,
    depth: usize,
) -> std::result::Result<Option<Value>, CopyError> {
    let env = copier.env;
    let unreadable = |e: Error| fail(path, format!("it cannot be read: {}", failure(env, &e)));
    let raw_env = env.raw();
    let raw = v.raw();
    if v.is_typedarray().map_err(unreadable)? {
        let (mut code, mut len, mut data, mut offset) = (0i32, 0usize, std::ptr::null_mut(), 0);
        let mut buffer = std::ptr::null_mut();
        // SAFETY: `raw` is a typed array of this env.
        let status = unsafe {
            sys::napi_get_typedarray_info(
                raw_env,
                raw,
                &raw mut code,
                &raw mut len,
                &raw mut data,
                &raw mut buffer,
                &raw mut offset,
            )
        };
        let Some(kind) = kind_of(code).filter(|_| status == sys::Status::napi_ok) else {
            return Err(fail(path, "cannot be copied: this kind of typed array"));
        };
        not_detached(copier, path, len, buffer)?;
        let bytes = bytes_at(
            copier,
            path,
            data.cast::<u8>(),
            len.saturating_mul(kind.element_size()),
        )?;
        return Ok(Some(Value::TypedArray { kind, bytes }));
    }
    if v.is_dataview().map_err(unreadable)? {
        let (mut len, mut data, mut offset) = (0usize, std::ptr::null_mut(), 0usize);
        let mut buffer = std::ptr::null_mut();
        // SAFETY: `raw` is a DataView of this env.
        let status = unsafe {
            sys::napi_get_dataview_info(
                raw_env,
                raw,
                &raw mut len,
                &raw mut data,
                &raw mut buffer,
                &raw mut offset,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(fail(path, "cannot be copied: its DataView cannot be read"));
        }
        not_detached(copier, path, len, buffer)?;
        let bytes = bytes_at(copier, path, data.cast::<u8>(), len)?;
        return Ok(Some(Value::TypedArray {
            kind: TypedArrayKind::DataView,
            bytes,
        }));
    }
    if v.is_arraybuffer().map_err(unreadable)? {
        let (mut data, mut len) = (std::ptr::null_mut(), 0usize);
        // SAFETY: `raw` is an ArrayBuffer of this env.
        let status =
            unsafe { sys::napi_get_arraybuffer_info(raw_env, raw, &raw mut data, &raw mut len) };
        if status != sys::Status::napi_ok {
            return Err(fail(
                path,
                "cannot be copied: its ArrayBuffer cannot be read",
            ));
        }
        not_detached(copier, path, len, raw)?;
        let bytes = bytes_at(copier, path, data.cast::<u8>(), len)?;
        return Ok(Some(Value::ArrayBuffer(bytes)));
    }
    if v.is_promise().map_err(unreadable)? {
        return Err(fail(path, "cannot be copied: a Promise (await it first)"));
    }
    if v.is_error().map_err(unreadable)? {
        deep_guard(copier, path)?;
        copier.ancestors.push(obj);
        let out = from_error(copier, v, path, depth);
        copier.ancestors.pop();
        return out.map(Some);
    }
    if ordinary(copier, v) {
        return Ok(None);
    }
    deep_guard(copier, path)?;
    let kind = helper(env, 0, &[raw])
        .and_then(|k| number(&k))
        .map_err(unreadable)?;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a small kind number"
    )]
    let kind = kind as u32;
    let refused = |what: &str| Err(fail(path, format!("cannot be copied: {what}")));
    match kind {
        1 | 2 => {
            copier.ancestors.push(obj);
            let out = from_collection(copier, v, kind == 1, path, depth);
            copier.ancestors.pop();
            out.map(Some)
        }
        3 => {
            let source: Unknown = obj.get_named_property("source").map_err(unreadable)?;
            let flags: Unknown = obj.get_named_property("flags").map_err(unreadable)?;
            let as_text =
                |u: Unknown<'_>| -> Result<String> { crate::convert::text(u.coerce_to_string()?) };
            let source = as_text(source).map_err(unreadable)?;
            let flags = as_text(flags).map_err(unreadable)?;
            copier.charge(path, (source.len() + flags.len()) as u64)?;
            Ok(Some(Value::RegExp(Box::new(RegExp { source, flags }))))
        }
        4 => refused("a WeakMap"),
        5 => refused("a WeakSet"),
        6 => refused("a WeakRef"),
        7 => refused("a FinalizationRegistry"),
        8 => refused("a boxed primitive (new Number(1), Object('s')): copy the primitive"),
        9 => refused("a SharedArrayBuffer"),
        _ => Ok(None),
    }
}

fn from_collection<'env>(
    copier: &mut Copier<'env>,
    v: &Unknown<'env>,
    map: bool,
    path: &Path<'_>,
    depth: usize,
) -> std::result::Result<Value, CopyError> {
    let env = copier.env;
    let unreadable = |e: Error| fail(path, format!("it cannot be read: {}", failure(env, &e)));
    let per: usize = if map { 2 } else { 1 };
    let size = helper(env, if map { 1 } else { 3 }, &[v.raw()])
        .and_then(|n| number(&n))
        .map_err(unreadable)?;
    // Refused before its entries are listed.
    #[expect(clippy::cast_precision_loss, reason = "value counts far below 2^52")]
    let room = MAX_COPY_VALUES.saturating_sub(copier.values) as f64 / per as f64;
    if size > room {
        return Err(copier.limit(
            path,
            format!(
                "{} would hold more than {MAX_COPY_VALUES} values (the most one copy between Node and the sandbox may hold)",
                copier.whole
            ),
        ));
    }
    let listed = helper(env, if map { 2 } else { 4 }, &[v.raw()]).map_err(unreadable)?;
    let listed = listed.coerce_to_object().map_err(unreadable)?;
    let len = listed.get_array_length().map_err(unreadable)?;
    copier.charge(path, u64::from(len) * VALUE_BYTES)?;
    let mut items = Vec::with_capacity(len.min(1 << 16) as usize);
    for i in 0..len {
        let n = (i as usize) / per;
        let seg = if !map {
            set_item_segment(n)
        } else if i % 2 == 0 {
            map_key_segment(n)
        } else {
            map_value_segment(n)
        };
        let item_path = Path::Segment(path, &seg);
        let item = scoped(env, &item_path, || {
            let (item, t) = read(env, &item_path, listed.get_element(i))?;
            from_rec(copier, &item, t, &item_path, depth + 1)
        })?;
        items.push(item);
    }
    Ok(if map {
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut items = items.into_iter();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            entries.push((k, v));
        }
        Value::Map(entries)
    } else {
        Value::Set(items)
    })
}

fn from_error<'env>(
    copier: &mut Copier<'env>,
    v: &Unknown<'env>,
    path: &Path<'_>,
    depth: usize,
) -> std::result::Result<Value, CopyError> {
    let env = copier.env;
    let unreadable = |e: Error| fail(path, format!("it cannot be read: {}", failure(env, &e)));
    let fields = helper(env, 10, &[v.raw()]).map_err(unreadable)?;
    let fields = fields.coerce_to_object().map_err(unreadable)?;
    let field = |i: u32| -> std::result::Result<Unknown<'env>, CopyError> {
        fields.get_element::<Unknown>(i).map_err(unreadable)
    };
    let string = |u: Unknown<'env>| -> std::result::Result<Option<String>, CopyError> {
        if u.get_type().map_err(unreadable)? != ValueType::String {
            return Ok(None);
        }
        crate::convert::text(u.coerce_to_string().map_err(unreadable)?)
            .map(Some)
            .map_err(unreadable)
    };
    let name = string(field(0)?)?.unwrap_or_else(|| "Error".to_owned());
    let message = string(field(1)?)?.unwrap_or_default();
    let stack = string(field(2)?)?;
    copier.charge(
        path,
        (std::mem::size_of::<ErrorValue>()
            + name.len()
            + message.len()
            + stack.as_ref().map_or(0, String::len)) as u64,
    )?;
    let has_cause = field(3)?.coerce_to_bool().map_err(unreadable)?;
    let cause = if has_cause {
        let cause_path = Path::Segment(path, CAUSE_SEGMENT);
        let (item, t) = read(env, &cause_path, fields.get_element::<Unknown>(4))?;
        Some(from_rec(copier, &item, t, &cause_path, depth + 1)?)
    } else {
        None
    };
    Ok(Value::Error(Box::new(ErrorValue {
        name,
        message,
        stack,
        cause,
    })))
}

/// Where a value built later goes: an element of an array or a property of an object.
pub(crate) enum Slot {
    Index(u32),
    Key(String),
}

/// One value `HELPER` builds once the walk is over: its operation and arguments, and where
/// it goes.
struct Pending {
    op: u32,
    args: Vec<sys::napi_value>,
    target: Option<(sys::napi_value, Slot)>,
    /// What it is, for an error if Node cannot build it.
    what: String,
}

/// The values of one copy that `HELPER` builds, in the order they were met: a value's
/// contents come before it, so building them in this order, each placed into its container,
/// builds every container from finished values. They are built after the walk because V8
/// checks its stack limit whenever native code calls JavaScript, and a walk 512 levels deep
/// leaves too little of it (V8 then fails to build its own `RangeError`).
#[derive(Default)]
pub(crate) struct Later {
    pending: Vec<Pending>,
}

impl Later {
    fn push(&mut self, op: u32, args: Vec<sys::napi_value>, what: String) -> usize {
        self.pending.push(Pending {
            op,
            args,
            target: None,
            what,
        });
        self.pending.len() - 1
    }

    /// Records that the value of entry `own` (if any) goes into `holder` at `slot`.
    pub(crate) fn place(&mut self, own: Option<usize>, holder: sys::napi_value, slot: Slot) {
        if let Some(p) = own.and_then(|i| self.pending.get_mut(i)) {
            p.target = Some((holder, slot));
        }
    }

    /// Builds every entry, and returns the copy (`out`, or the entry `own` it is).
    pub(crate) fn finish<'env>(
        self,
        env: &'env Env,
        out: Unknown<'env>,
        own: Option<usize>,
    ) -> Result<Unknown<'env>> {
        let mut root = out;
        for (i, p) in self.pending.into_iter().enumerate() {
            let made = helper(env, p.op, &p.args)?;
            if made.get_type()? == ValueType::Undefined {
                return Err(Error::new(Status::GenericFailure, p.what));
            }
            let raw_env = env.raw();
            // SAFETY: plain N-API calls on this env's thread, on values of this copy.
            let status = match &p.target {
                None => sys::Status::napi_ok,
                Some((holder, Slot::Index(at))) => unsafe {
                    sys::napi_set_element(raw_env, *holder, *at, made.raw())
                },
                Some((holder, Slot::Key(key))) => {
                    let key = key.as_str().into_unknown(env)?;
                    unsafe { sys::napi_set_property(raw_env, *holder, key.raw(), made.raw()) }
                }
            };
            if status != sys::Status::napi_ok {
                return Err(Error::new(
                    Status::GenericFailure,
                    "a value could not be placed in its container",
                ));
            }
            if own == Some(i) {
                root = made;
            }
        }
        Ok(root)
    }
}

/// Builds a structured-clone kind for Node (the caller builds the others): an `ArrayBuffer`
/// at once, the others as an entry of `later` (with a placeholder).
pub(crate) fn to_node_kind<'env>(
    env: &'env Env,
    v: &Value,
    later: &mut Later,
) -> Result<(Unknown<'env>, Option<usize>)> {
    let list = |items: &mut dyn Iterator<Item = &Value>,
                n: usize,
                later: &mut Later|
     -> Result<Unknown<'env>> {
        let mut arr = env.create_array(u32::try_from(n).unwrap_or(u32::MAX))?;
        for (i, item) in items.enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let (value, own) = crate::convert::build_node(env, item, later)?;
            arr.set(i, value)?;
            later.place(own, arr.raw(), Slot::Index(i));
        }
        Ok(arr.to_unknown())
    };
    let placeholder = ().into_unknown(env)?;
    let own = match v {
        Value::Map(entries) => {
            let flat = list(
                &mut entries.iter().flat_map(|(k, v)| [k, v]),
                entries.len() * 2,
                later,
            )?;
            later.push(5, vec![flat.raw()], "a Map".into())
        }
        Value::Set(items) => {
            let flat = list(&mut items.iter(), items.len(), later)?;
            later.push(6, vec![flat.raw()], "a Set".into())
        }
        Value::ArrayBuffer(bytes) => return Ok((buffer(env, bytes)?, None)),
        Value::TypedArray { kind, bytes } => {
            if bytes.len() % kind.element_size() != 0 {
                return Err(Error::new(
                    Status::GenericFailure,
                    format!(
                        "a {} of {} bytes (not whole elements)",
                        kind.constructor(),
                        bytes.len()
                    ),
                ));
            }
            let buf = buffer(env, bytes)?;
            let name = kind.constructor().into_unknown(env)?;
            later.push(
                9,
                vec![name.raw(), buf.raw()],
                format!("a {} (this version of Node has no {0})", kind.constructor()),
            )
        }
        Value::RegExp(r) => {
            let source = r.source.as_str().into_unknown(env)?;
            let flags = r.flags.as_str().into_unknown(env)?;
            later.push(
                7,
                vec![source.raw(), flags.raw()],
                format!(
                    "the regular expression /{}/{} (Node refuses it)",
                    r.source, r.flags
                ),
            )
        }
        Value::Error(e) => {
            let name = e.name.as_str().into_unknown(env)?;
            let message = e.message.as_str().into_unknown(env)?;
            let stack = match &e.stack {
                Some(s) => s.as_str().into_unknown(env)?,
                None => ().into_unknown(env)?,
            };
            let cause = match &e.cause {
                Some(c) => list(&mut std::iter::once(c), 1, later)?,
                None => ().into_unknown(env)?,
            };
            later.push(
                8,
                vec![name.raw(), message.raw(), stack.raw(), cause.raw()],
                "an Error".into(),
            )
        }
        _ => return Ok((placeholder, None)),
    };
    Ok((placeholder, Some(own)))
}

fn buffer<'env>(env: &'env Env, bytes: &[u8]) -> Result<Unknown<'env>> {
    let mut data = std::ptr::null_mut();
    let mut out = std::ptr::null_mut();
    // SAFETY: a new ArrayBuffer of `bytes.len()` bytes; `data` points at them.
    let status = unsafe {
        sys::napi_create_arraybuffer(env.raw(), bytes.len(), &raw mut data, &raw mut out)
    };
    if status != sys::Status::napi_ok {
        return Err(Error::new(
            Status::GenericFailure,
            "an ArrayBuffer could not be created",
        ));
    }
    if !bytes.is_empty() && !data.is_null() {
        // SAFETY: `data` holds `bytes.len()` writable bytes, distinct from `bytes`.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), data.cast::<u8>(), bytes.len());
        }
    }
    // SAFETY: created just above on this env.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), out) })
}
