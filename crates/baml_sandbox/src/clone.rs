//! The structured-clone kinds of a copy (`Map`, `Set`, `ArrayBuffer`, typed arrays and
//! `DataView`, `RegExp`, `Error`), in both directions, and the objects no copy may hold
//! (promises, weak collections, boxed primitives): these are refused with their path instead
//! of crossing as `{}`.
//!
//! Sandboxed code may have replaced every method and getter these kinds have. Buffers and typed
//! arrays are therefore read through QuickJS's C API (their bytes, offset and length as the
//! engine holds them); a `Map`'s or `Set`'s entries can only be listed by calling `forEach`,
//! which may be sandboxed code: the callback it gets stops taking entries at the copy's value
//! limit, and forgets everything once the copy ends (see `entries`).

use std::cell::RefCell;
use std::rc::Rc;

use rquickjs::{
    function::{Rest, This},
    object::Property,
    qjs, Ctx, Function, Object, Value as JsValue,
};

use crate::convert::{copy_rec, text, Copier, CopyError, VALUE_BYTES};
use crate::value::{
    map_key_segment, map_value_segment, set_item_segment, ErrorValue, RegExp, TypedArrayKind,
    Value, CAUSE_SEGMENT, MAX_COPY_VALUES,
};

/// QuickJS's class ids (its internal `JS_CLASS_*` enum) for the kinds its API has no test
/// for. Tests check each of them (`clone_refusals` in `tests/cases/sandbox.rs`).
const CLASS_NUMBER: u32 = 4;
const CLASS_STRING: u32 = 5;
const CLASS_BOOLEAN: u32 = 6;
const CLASS_SYMBOL: u32 = 7;
const CLASS_SHARED_ARRAY_BUFFER: u32 = 21;
const CLASS_BIG_INT: u32 = 35;
const CLASS_FINALIZATION_REGISTRY: u32 = 63;

fn shape(reason: impl Into<String>) -> CopyError {
    CopyError::Shape {
        path: String::new(),
        reason: reason.into(),
    }
}

/// The typed array kind of QuickJS's `JSTypedArrayEnum` value.
fn kind_of(code: i32) -> Option<TypedArrayKind> {
    Some(match code {
        0 => TypedArrayKind::Uint8Clamped,
        1 => TypedArrayKind::Int8,
        2 => TypedArrayKind::Uint8,
        3 => TypedArrayKind::Int16,
        4 => TypedArrayKind::Uint16,
        5 => TypedArrayKind::Int32,
        6 => TypedArrayKind::Uint32,
        7 => TypedArrayKind::BigInt64,
        8 => TypedArrayKind::BigUint64,
        9 => TypedArrayKind::Float16,
        10 => TypedArrayKind::Float32,
        11 => TypedArrayKind::Float64,
        _ => return None,
    })
}

/// QuickJS's `JSTypedArrayEnum` value of a typed array kind (`None` for a `DataView`).
fn code_of(kind: TypedArrayKind) -> Option<qjs::JSTypedArrayEnum> {
    Some(match kind {
        TypedArrayKind::Uint8Clamped => qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_UINT8C,
        TypedArrayKind::Int8 => qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_INT8,
        TypedArrayKind::Uint8 => qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_UINT8,
        TypedArrayKind::Int16 => qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_INT16,
        TypedArrayKind::Uint16 => qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_UINT16,
        TypedArrayKind::Int32 => qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_INT32,
        TypedArrayKind::Uint32 => qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_UINT32,
        TypedArrayKind::BigInt64 => qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_BIG_INT64,
        TypedArrayKind::BigUint64 => qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_BIG_UINT64,
        TypedArrayKind::Float16 => qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_FLOAT16,
        TypedArrayKind::Float32 => qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_FLOAT32,
        TypedArrayKind::Float64 => qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_FLOAT64,
        TypedArrayKind::DataView => return None,
    })
}

/// Copies `obj` if it is one of the structured-clone kinds (`Some`), refuses it if no copy may
/// hold it, and leaves it to the caller (`None`) if it is an array or an ordinary object (class
/// instances and proxies included). `depth` and the cycle check were done by the caller.
#[inline(never)]
pub(crate) fn copy_kind<'js>(
    obj: &Object<'js>,
    depth: usize,
    copier: &mut Copier<'_, 'js>,
) -> Result<Option<Value>, CopyError> {
    let raw = obj.as_raw();
    // SAFETY: class tests on a live value.
    let class = unsafe { qjs::JS_GetClassID(raw) };
    let refused = |what: &str| Err(shape(format!("cannot be copied: {what}")));
    unsafe {
        if qjs::JS_IsPromise(raw) {
            return refused("a Promise (await it first)");
        }
        if qjs::JS_IsWeakMap(raw) {
            return refused("a WeakMap");
        }
        if qjs::JS_IsWeakSet(raw) {
            return refused("a WeakSet");
        }
        if qjs::JS_IsWeakRef(raw) {
            return refused("a WeakRef");
        }
    }
    match class {
        CLASS_FINALIZATION_REGISTRY => return refused("a FinalizationRegistry"),
        CLASS_SHARED_ARRAY_BUFFER => return refused("a SharedArrayBuffer"),
        CLASS_NUMBER | CLASS_STRING | CLASS_BOOLEAN | CLASS_SYMBOL | CLASS_BIG_INT => {
            return refused("a boxed primitive (new Number(1), Object('s')): copy the primitive");
        }
        _ => {}
    }
    // SAFETY: as above.
    let (map, set, regexp, error, buffer, view, typed) = unsafe {
        (
            qjs::JS_IsMap(raw),
            qjs::JS_IsSet(raw),
            qjs::JS_IsRegExp(raw),
            qjs::JS_IsError(raw),
            qjs::JS_IsArrayBuffer(raw),
            qjs::JS_IsDataView(raw),
            qjs::JS_GetTypedArrayType(raw),
        )
    };
    if map || set {
        copier.ancestors.push(obj.clone());
        let out = copy_collection(obj, map, depth, copier);
        copier.ancestors.pop();
        return out.map(Some);
    }
    if buffer {
        let bytes = buffer_bytes(obj, 0, None, copier)?;
        return Ok(Some(Value::ArrayBuffer(bytes)));
    }
    if let Some(kind) = kind_of(typed) {
        return typed_array(obj, kind, copier).map(Some);
    }
    if view {
        return data_view(obj, copier).map(Some);
    }
    if regexp {
        let source = string_of(obj, "source")?;
        let flags = string_of(obj, "flags")?;
        copier.charge((source.len() + flags.len()) as u64)?;
        return Ok(Some(Value::RegExp(Box::new(RegExp { source, flags }))));
    }
    if error {
        copier.ancestors.push(obj.clone());
        let out = copy_error(obj, depth, copier);
        copier.ancestors.pop();
        return out.map(Some);
    }
    Ok(None)
}

/// A property that must be a string (a regular expression's `source`, `flags`).
#[inline(never)]
fn string_of(obj: &Object<'_>, key: &str) -> Result<String, CopyError> {
    let v: JsValue = crate::stack::beyond_copy(obj.ctx(), || obj.get(key))?;
    match v.as_string() {
        Some(s) => Ok(text(s)?),
        None => Err(shape(format!(
            "cannot be copied: its {key} is not a string"
        ))),
    }
}

/// The bytes `[offset, offset + len)` of an `ArrayBuffer` (all of them for `len: None`), read
/// as QuickJS holds them. A detached buffer, or a view past the end of its (resized) buffer,
/// is refused.
#[inline(never)]
fn buffer_bytes(
    buffer: &Object<'_>,
    offset: usize,
    len: Option<usize>,
    copier: &mut Copier<'_, '_>,
) -> Result<Vec<u8>, CopyError> {
    let ctx = buffer.ctx().as_raw().as_ptr();
    let mut size: qjs::size_t = 0;
    // SAFETY: `buffer` is live; the pointer is used before any JavaScript can run (which could
    // detach or resize the buffer).
    let ptr = unsafe { qjs::JS_GetArrayBuffer(ctx, &raw mut size, buffer.as_raw()) };
    let size = usize::try_from(size).unwrap_or(0);
    if ptr.is_null() {
        // Detached (QuickJS threw a TypeError, which is not the sandbox's to see).
        let _ = buffer.ctx().catch();
        return Err(shape("cannot be copied: its ArrayBuffer is detached"));
    }
    let len = len.unwrap_or(size.saturating_sub(offset));
    if offset.checked_add(len).is_none_or(|end| end > size) {
        return Err(shape(
            "cannot be copied: it views bytes past the end of its ArrayBuffer",
        ));
    }
    copier.charge(len as u64)?;
    // SAFETY: `[offset, offset + len)` lies within the buffer's `size` bytes, checked above.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.add(offset), len) };
    Ok(bytes.to_vec())
}

#[inline(never)]
fn typed_array(
    obj: &Object<'_>,
    kind: TypedArrayKind,
    copier: &mut Copier<'_, '_>,
) -> Result<Value, CopyError> {
    let ctx = obj.ctx();
    // QuickJS's API gives the byte length a view had when it was made; a view that tracks a
    // resizable buffer's length has the current one only from its getter. That getter may
    // have been replaced: its answer is used only if it is a whole number of elements within
    // the buffer (it can then only choose which of the buffer's bytes are copied). Read first,
    // since it may run JavaScript.
    let claimed: JsValue = crate::stack::beyond_copy(ctx, || obj.get("byteLength"))?;
    let claimed = claimed
        .as_number()
        .filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n < 9.0e15);
    let (mut offset, mut len): (qjs::size_t, qjs::size_t) = (0, 0);
    // SAFETY: `obj` is a live typed array; the returned buffer is a new reference, owned below.
    let raw = unsafe {
        qjs::JS_GetTypedArrayBuffer(
            ctx.as_raw().as_ptr(),
            obj.as_raw(),
            &raw mut offset,
            &raw mut len,
            std::ptr::null_mut(),
        )
    };
    let buffer = unsafe { JsValue::from_raw(ctx.clone(), raw) };
    if buffer.is_exception() {
        let _ = ctx.catch();
        return Err(shape(
            "cannot be copied: its ArrayBuffer is detached, or too small for it",
        ));
    }
    let Some(buffer) = buffer.as_object() else {
        return Err(shape("cannot be copied: it has no ArrayBuffer"));
    };
    let (Ok(offset), Ok(mut len)) = (usize::try_from(offset), usize::try_from(len)) else {
        return Err(shape("cannot be copied: it is too large"));
    };
    let mut size: qjs::size_t = 0;
    // SAFETY: reads the size of a live buffer (null for a detached one, refused below).
    let data =
        unsafe { qjs::JS_GetArrayBuffer(ctx.as_raw().as_ptr(), &raw mut size, buffer.as_raw()) };
    if !data.is_null() {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a non-negative integer below 2^53"
        )]
        let claimed = claimed.map(|n| n as u64);
        #[allow(
            clippy::useless_conversion,
            reason = "size_t is narrower on some targets"
        )]
        let size = u64::try_from(size).unwrap_or(0);
        if let Some(n) = claimed.filter(|n| {
            n % kind.element_size() as u64 == 0 && (offset as u64).saturating_add(*n) <= size
        }) {
            len = usize::try_from(n).unwrap_or(len);
        }
    }
    let bytes = buffer_bytes(buffer, offset, Some(len), copier)?;
    Ok(Value::TypedArray { kind, bytes })
}

/// A `DataView`: QuickJS's API has no reader for its offset and length, so they come from its
/// getters (which sandboxed code may have replaced) and are checked against the buffer as
/// QuickJS holds it. A replaced getter can only choose which of the buffer's bytes are copied.
#[inline(never)]
fn data_view(obj: &Object<'_>, copier: &mut Copier<'_, '_>) -> Result<Value, CopyError> {
    let (buffer, offset, len) = crate::stack::beyond_copy(obj.ctx(), || {
        rquickjs::Result::Ok((
            obj.get::<_, JsValue>("buffer")?,
            obj.get::<_, JsValue>("byteOffset")?,
            obj.get::<_, JsValue>("byteLength")?,
        ))
    })?;
    let whole = |v: &JsValue<'_>| {
        v.as_number()
            .filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n < 9.0e15)
            .and_then(|n| {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "a non-negative integer below 2^53"
                )]
                usize::try_from(n as u64).ok()
            })
    };
    let (Some(buffer), Some(offset), Some(len)) = (buffer.as_object(), whole(&offset), whole(&len))
    else {
        return Err(shape(
            "cannot be copied: a DataView whose buffer, byteOffset or byteLength cannot be read",
        ));
    };
    if !unsafe { qjs::JS_IsArrayBuffer(buffer.as_raw()) } {
        return Err(shape(
            "cannot be copied: a DataView whose buffer is not an ArrayBuffer",
        ));
    }
    let bytes = buffer_bytes(buffer, offset, Some(len), copier)?;
    Ok(Value::TypedArray {
        kind: TypedArrayKind::DataView,
        bytes,
    })
}

/// What the `forEach` callback of one copy shares with it.
struct Taken<'js> {
    /// Arguments taken so far; `None` once the copy no longer takes any (it ended, or the
    /// callback was called more often than the copy may hold values).
    items: Option<Vec<(JsValue<'js>, JsValue<'js>)>>,
    /// At most this many entries are taken.
    cap: usize,
    overflowed: bool,
}

/// Lists a `Map`'s entries or a `Set`'s values by calling its `forEach` with a callback that
/// keeps them, then copies them. Sandboxed code may have replaced `forEach`: it may call the
/// callback any number of times (it stops taking entries past the copy's value limit, and
/// throws), keep it and call it later (it then takes nothing and throws), or never return
/// (the interrupt handler stops it, as any running code). Once `forEach` returns, the callback
/// holds no QuickJS value: a Rust closure keeping values alive would be a reference QuickJS's
/// garbage collector cannot see, and such objects left at the runtime's end abort the process.
fn copy_collection<'js>(
    obj: &Object<'js>,
    map: bool,
    depth: usize,
    copier: &mut Copier<'_, 'js>,
) -> Result<Value, CopyError> {
    let per = if map { 2 } else { 1 };
    let items = list_entries(obj, per, copier)?;
    copier.charge((items.len() * per) as u64 * VALUE_BYTES)?;
    if map {
        let mut entries = Vec::with_capacity(items.len());
        for (i, (k, v)) in items.iter().enumerate() {
            let key = copy_rec(k, depth + 1, copier).map_err(|e| e.under(&map_key_segment(i)))?;
            let value =
                copy_rec(v, depth + 1, copier).map_err(|e| e.under(&map_value_segment(i)))?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    } else {
        let mut out = Vec::with_capacity(items.len());
        for (i, (_, v)) in items.iter().enumerate() {
            out.push(copy_rec(v, depth + 1, copier).map_err(|e| e.under(&set_item_segment(i)))?);
        }
        Ok(Value::Set(out))
    }
}

/// The entries `forEach` gives (`(key, value)`; a set's keys are its values), at most as many
/// as the copy may still hold. Kept out of the copy's recursion (its frame is large).
#[inline(never)]
fn list_entries<'js>(
    obj: &Object<'js>,
    per: usize,
    copier: &Copier<'_, 'js>,
) -> Result<Vec<(JsValue<'js>, JsValue<'js>)>, CopyError> {
    let ctx = obj.ctx().clone();
    let cap = MAX_COPY_VALUES.saturating_sub(copier.visited) / per + 1;
    let shared = Rc::new(RefCell::new(Taken {
        items: Some(Vec::new()),
        cap,
        overflowed: false,
    }));
    let for_each: JsValue = obj.get("forEach")?;
    let Some(for_each) = for_each.as_function().cloned() else {
        return Err(shape("cannot be copied: its forEach is not a function"));
    };
    let keep = shared.clone();
    let callback = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, args: Rest<JsValue<'js>>| -> rquickjs::Result<()> {
            let mut taken = keep.borrow_mut();
            let full = taken
                .items
                .as_ref()
                .is_none_or(|items| items.len() >= taken.cap);
            if full {
                if taken.items.take().is_some() {
                    taken.overflowed = true;
                }
                drop(taken);
                return Err(crate::throw::throw(
                    &ctx,
                    crate::throw::ErrorKind::Range,
                    "this copy takes no more entries",
                ));
            }
            let mut args = args.0.into_iter();
            let value = args
                .next()
                .unwrap_or_else(|| JsValue::new_undefined(ctx.clone()));
            let key = args
                .next()
                .unwrap_or_else(|| JsValue::new_undefined(ctx.clone()));
            if let Some(items) = taken.items.as_mut() {
                items.push((key, value));
            }
            Ok(())
        },
    );
    let called = crate::stack::beyond_copy(&ctx, || {
        callback.and_then(|callback| for_each.call::<_, JsValue>((This(obj.clone()), callback)))
    });
    // From here the callback takes nothing, and holds nothing.
    let (items, overflowed) = {
        let mut taken = shared.borrow_mut();
        (taken.items.take(), taken.overflowed)
    };
    drop(shared);
    if overflowed {
        // The exception thrown at `forEach`, if it let it through, is ours, not the sandbox's.
        if called.is_err() {
            let _ = ctx.catch();
        }
        return Err(CopyError::Size {
            path: String::new(),
            reason: format!(
                "{} would hold more than {MAX_COPY_VALUES} values (the most one copy between the sandbox and Node may hold)",
                copier.whole
            ),
        });
    }
    called?;
    Ok(items.unwrap_or_default())
}

#[inline(never)]
fn copy_error<'js>(
    obj: &Object<'js>,
    depth: usize,
    copier: &mut Copier<'_, 'js>,
) -> Result<Value, CopyError> {
    let read = |key: &str| -> Result<Option<String>, CopyError> {
        let v: JsValue = crate::stack::beyond_copy(obj.ctx(), || obj.get(key))?;
        Ok(match v.as_string() {
            Some(s) => Some(text(s)?),
            None => None,
        })
    };
    let name = read("name")?.unwrap_or_else(|| "Error".to_owned());
    let message = read("message")?.unwrap_or_default();
    let stack = read("stack")?;
    copier.charge(
        (std::mem::size_of::<ErrorValue>()
            + name.len()
            + message.len()
            + stack.as_ref().map_or(0, String::len)) as u64,
    )?;
    let raw_ctx = obj.ctx().as_raw().as_ptr();
    // SAFETY: a new atom, freed below; a live object; no descriptor is asked for.
    let has = unsafe {
        let atom = qjs::JS_NewAtom(raw_ctx, c"cause".as_ptr());
        let has = qjs::JS_GetOwnProperty(raw_ctx, std::ptr::null_mut(), obj.as_raw(), atom);
        qjs::JS_FreeAtom(raw_ctx, atom);
        has
    };
    if has < 0 {
        return Err(CopyError::Thrown);
    }
    let cause = if has > 0 {
        let v: JsValue = crate::stack::beyond_copy(obj.ctx(), || obj.get("cause"))?;
        Some(copy_rec(&v, depth + 1, copier).map_err(|e| e.under(CAUSE_SEGMENT))?)
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

/// The names of the error constructors every realm has: an error with one of them is built
/// with that constructor's prototype.
const ERROR_NAMES: [&str; 8] = [
    "Error",
    "TypeError",
    "RangeError",
    "SyntaxError",
    "ReferenceError",
    "EvalError",
    "URIError",
    "AggregateError",
];

/// Builds a structured-clone kind in the sandbox; `build` builds the values it holds (already
/// checked to nest at most `MAX_DEPTH` deep). Global constructors are looked up in the
/// sandbox's realm, whose code may have replaced them: the value is being given to that code
/// anyway.
pub(crate) fn build_kind<'js>(
    ctx: &Ctx<'js>,
    value: &Value,
    build: fn(&Ctx<'js>, &Value) -> rquickjs::Result<JsValue<'js>>,
) -> rquickjs::Result<JsValue<'js>> {
    crate::stack::beyond_copy(ctx, || build_kind_now(ctx, value, build))
}

fn build_kind_now<'js>(
    ctx: &Ctx<'js>,
    value: &Value,
    build: fn(&Ctx<'js>, &Value) -> rquickjs::Result<JsValue<'js>>,
) -> rquickjs::Result<JsValue<'js>> {
    let construct = |name: &str, args: Vec<JsValue<'js>>| -> rquickjs::Result<Object<'js>> {
        let ctor: rquickjs::Constructor = ctx.globals().get(name)?;
        let mut list = rquickjs::function::Args::new(ctx.clone(), args.len());
        list.push_args(args)?;
        let made: JsValue = ctor.construct_args(list)?;
        made.into_object()
            .ok_or_else(|| crate::throw::throw(ctx, crate::throw::ErrorKind::Type, "not an object"))
    };
    let typed = matches!(value, Value::ArrayBuffer(_) | Value::TypedArray { .. });
    if matches!(value, Value::Map(_) | Value::Set(_)) || typed {
        // SAFETY: the context this thread holds.
        let raw = ctx.as_raw().as_ptr();
        let group = if typed {
            crate::intrinsics::TYPED_ARRAYS
        } else {
            crate::intrinsics::MAP_SET
        };
        if !unsafe { crate::intrinsics::create_for_copy(raw, group) } {
            if unsafe { qjs::JS_HasException(raw) } {
                return Err(rquickjs::Error::Exception);
            }
            return Err(crate::throw::throw(
                ctx,
                crate::throw::ErrorKind::Type,
                "cannot create the built-ins this value needs",
            ));
        }
    }
    Ok(match value {
        Value::Map(entries) => {
            let map = construct("Map", Vec::new())?;
            let set: Function = map.get("set")?;
            for (k, v) in entries {
                set.call::<_, JsValue>((This(map.clone()), build(ctx, k)?, build(ctx, v)?))?;
            }
            map.into_value()
        }
        Value::Set(items) => {
            let out = construct("Set", Vec::new())?;
            let add: Function = out.get("add")?;
            for v in items {
                add.call::<_, JsValue>((This(out.clone()), build(ctx, v)?))?;
            }
            out.into_value()
        }
        Value::ArrayBuffer(bytes) => new_buffer(ctx, bytes)?,
        Value::TypedArray { kind, bytes } => {
            if bytes.len() % kind.element_size() != 0 {
                return Err(crate::throw::throw(
                    ctx,
                    crate::throw::ErrorKind::Range,
                    "a typed array's bytes are not a whole number of elements",
                ));
            }
            let buffer = new_buffer(ctx, bytes)?;
            match code_of(*kind) {
                Some(code) => {
                    let mut argv = [buffer.as_raw()];
                    // SAFETY: one live argument; the result is a new reference owned below.
                    let raw = unsafe {
                        qjs::JS_NewTypedArray(ctx.as_raw().as_ptr(), 1, argv.as_mut_ptr(), code)
                    };
                    let v = unsafe { JsValue::from_raw(ctx.clone(), raw) };
                    if v.is_exception() {
                        return Err(rquickjs::Error::Exception);
                    }
                    v
                }
                None => construct("DataView", vec![buffer])?.into_value(),
            }
        }
        Value::RegExp(r) => construct(
            "RegExp",
            vec![
                rquickjs::String::from_str(ctx.clone(), &r.source)?.into_value(),
                rquickjs::String::from_str(ctx.clone(), &r.flags)?.into_value(),
            ],
        )?
        .into_value(),
        Value::Error(e) => build_error(ctx, e, build)?,
        // The caller builds the other kinds.
        _ => JsValue::new_undefined(ctx.clone()),
    })
}

/// Builds an error: the constructor's prototype for a standard name (an own `name`
/// otherwise), and own non-enumerable `message`, `stack` and `cause`, as QuickJS puts them.
fn build_error<'js>(
    ctx: &Ctx<'js>,
    e: &ErrorValue,
    build: fn(&Ctx<'js>, &Value) -> rquickjs::Result<JsValue<'js>>,
) -> rquickjs::Result<JsValue<'js>> {
    // SAFETY: a new reference owned below.
    let raw = unsafe { qjs::JS_NewError(ctx.as_raw().as_ptr()) };
    let err = unsafe { JsValue::from_raw(ctx.clone(), raw) };
    if err.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    let Some(obj) = err.as_object() else {
        return Err(rquickjs::Error::Exception);
    };
    let standard = ERROR_NAMES.contains(&e.name.as_str());
    if standard && e.name != "Error" {
        let ctor: JsValue = ctx.globals().get(e.name.as_str())?;
        if let Some(proto) = ctor
            .as_object()
            .and_then(|c| c.get::<_, Object>("prototype").ok())
        {
            obj.set_prototype(Some(&proto))?;
        }
    }
    let hidden =
        |key: &str, v: JsValue<'js>| obj.prop(key, Property::from(v).writable().configurable());
    if !standard {
        hidden(
            "name",
            rquickjs::String::from_str(ctx.clone(), &e.name)?.into_value(),
        )?;
    }
    hidden(
        "message",
        rquickjs::String::from_str(ctx.clone(), &e.message)?.into_value(),
    )?;
    match &e.stack {
        Some(stack) => hidden(
            "stack",
            rquickjs::String::from_str(ctx.clone(), stack)?.into_value(),
        )?,
        // Not a string: an own `undefined` hides whatever the prototype would give.
        None => hidden("stack", JsValue::new_undefined(ctx.clone()))?,
    }
    if let Some(cause) = &e.cause {
        hidden("cause", build(ctx, cause)?)?;
    }
    Ok(err)
}

fn new_buffer<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> rquickjs::Result<JsValue<'js>> {
    // SAFETY: QuickJS copies `bytes`; the result is a new reference owned below.
    let raw = unsafe {
        qjs::JS_NewArrayBufferCopy(
            ctx.as_raw().as_ptr(),
            bytes.as_ptr(),
            bytes.len() as qjs::size_t,
        )
    };
    let v = unsafe { JsValue::from_raw(ctx.clone(), raw) };
    if v.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    Ok(v)
}
