//! Guards on built-ins that can run long inside C.
//!
//! QuickJS polls its interrupt handler every ~10,000 calls or loop iterations of bytecode, and
//! never inside a built-in written in C. Two things follow:
//! - a loop over `arr.indexOf(x)` on a big array checks the deadline once per 10,000 calls of
//!   ~10 ms each, so a 200 ms timeout was noticed after ~100 s;
//! - the generic `Array.prototype` methods walk `length` indices of any array-like, so
//!   `Array.prototype.reverse.call({ length: 2 ** 53 - 1 })` runs for hours without a poll
//!   (`fill`, which writes every index, runs out of memory first and is left alone).
//!
//! So these built-ins are replaced by a native wrapper (a QuickJS C function holding the
//! original) that first checks the turn's deadline, abort and dispose, then (for the generic
//! array methods) refuses with a `RangeError` an array-like whose `length` is longer than any
//! dense array this sandbox's heap could hold (such an object is sparse and walking it takes
//! time, not memory), then calls the original. A wrapper has the original's `name` and
//! `length`; the cost is about 0.1 µs per call.
//!
//! What this does not cover, and only a process boundary contains: a single call that is long
//! within those bounds (sorting millions of elements, a quadratic string search, `**` on huge
//! BigInts, a Proxy `ownKeys` trap returning tens of thousands of keys), and a `length` getter
//! that answers differently to the check and to the built-in. An in-process evaluation still
//! settles at its deadline (the timer does it, see `Inner::expire_overdue`); the thread running
//! the call stays busy until it returns.

use std::ffi::{c_int, CString};

use rquickjs::{object::Property, qjs, Ctx, Function, Object, Value as JsValue};

use crate::throw::{throw, throw_interrupted, ErrorKind};

/// Wrapper flag: check `this.length` against the sandbox's bound.
const CHECK_LENGTH: c_int = 1;
/// Wrapper flag: check the `length` of every object argument too (`concat` spreads them).
const CHECK_ARGUMENTS: c_int = 2;

/// Generic `Array.prototype` methods that walk `length` indices.
const ARRAY_GENERIC: &[&str] = &[
    "copyWithin",
    "every",
    "filter",
    "find",
    "findIndex",
    "findLast",
    "findLastIndex",
    "flat",
    "flatMap",
    "forEach",
    "includes",
    "indexOf",
    "join",
    "lastIndexOf",
    "map",
    "reduce",
    "reduceRight",
    "reverse",
    "shift",
    "slice",
    "some",
    "sort",
    "splice",
    "toLocaleString",
    "toReversed",
    "toSorted",
    "toSpliced",
    "toString",
    "unshift",
    "with",
];

/// String methods whose time grows with the strings' lengths (the heap bounds those).
const STRING_METHODS: &[&str] = &[
    "indexOf",
    "lastIndexOf",
    "includes",
    "split",
    "replace",
    "replaceAll",
    "repeat",
    "padStart",
    "padEnd",
    "normalize",
    "localeCompare",
    "concat",
    "startsWith",
    "endsWith",
];

/// `%TypedArray%.prototype` methods that walk the elements in C.
const TYPED_ARRAY_METHODS: &[&str] = &[
    "sort",
    "toSorted",
    "indexOf",
    "lastIndexOf",
    "includes",
    "join",
    "fill",
    "set",
    "copyWithin",
    "reverse",
    "toReversed",
    "slice",
    "with",
];

/// Static functions that walk an object's properties or an input in C.
const OBJECT_STATICS: &[&str] = &[
    "keys",
    "values",
    "entries",
    "assign",
    "getOwnPropertyNames",
    "getOwnPropertySymbols",
    "getOwnPropertyDescriptors",
    "fromEntries",
    "groupBy",
    "freeze",
    "seal",
];

/// Whether `v` is an object whose `length` is longer than any array the heap could hold;
/// `Err` if reading it threw.
unsafe fn too_long(ctx: *mut qjs::JSContext, v: qjs::JSValue) -> Result<Option<i64>, ()> {
    // SAFETY: `v` is a live value of `ctx`.
    if !unsafe { qjs::JS_IsObject(v) } {
        return Ok(None);
    }
    let mut len: i64 = 0;
    // SAFETY: as above.
    if unsafe { qjs::JS_GetLength(ctx, v, &raw mut len) } < 0 {
        return Err(());
    }
    let max = crate::stack::max_elements();
    Ok(u64::try_from(len).is_ok_and(|n| n > max).then_some(len))
}

unsafe extern "C" fn guarded(
    ctx: *mut qjs::JSContext,
    this: qjs::JSValue,
    count: c_int,
    args: *mut qjs::JSValue,
    magic: c_int,
    data: *mut qjs::JSValue,
) -> qjs::JSValue {
    let Some(raw) = std::ptr::NonNull::new(ctx) else {
        return qjs::JS_EXCEPTION;
    };
    if crate::stack::should_interrupt() {
        // SAFETY: QuickJS calls this with a live context held by this thread.
        let ctx = unsafe { Ctx::from_raw(raw) };
        let _ = throw_interrupted(&ctx);
        return qjs::JS_EXCEPTION;
    }
    let mut checked: Vec<qjs::JSValue> = Vec::new();
    if magic & CHECK_LENGTH != 0 {
        checked.push(this);
    }
    if magic & CHECK_ARGUMENTS != 0 && !args.is_null() {
        for i in 0..usize::try_from(count).unwrap_or(0) {
            // SAFETY: QuickJS passes `count` arguments at `args`.
            checked.push(unsafe { *args.add(i) });
        }
    }
    for v in checked {
        // SAFETY: `v` is `this` or an argument, live for the call.
        match unsafe { too_long(ctx, v) } {
            Err(()) => return qjs::JS_EXCEPTION,
            Ok(None) => {}
            Ok(Some(len)) => {
                // SAFETY: QuickJS calls this with a live context held by this thread.
                let ctx = unsafe { Ctx::from_raw(raw) };
                let max = crate::stack::max_elements();
                let _ = throw(
                    &ctx,
                    ErrorKind::Range,
                    &format!(
                        "an array-like of length {len} is longer than any array this sandbox can hold ({max}); generic array methods refuse it"
                    ),
                );
                return qjs::JS_EXCEPTION;
            }
        }
    }
    // SAFETY: `data[0]` is the original function, kept alive by this function object.
    unsafe { qjs::JS_Call(ctx, *data, this, count, args) }
}

/// Replaces `target[name]` by a guarded wrapper keeping its name, length and attributes.
fn wrap<'js>(
    ctx: &Ctx<'js>,
    target: &Object<'js>,
    name: &str,
    flags: c_int,
) -> rquickjs::Result<()> {
    let original: JsValue = target.get(name)?;
    let Some(function) = original.as_function() else {
        return Ok(());
    };
    let length: i32 = function.get::<_, Option<i32>>("length")?.unwrap_or(0);
    let Ok(cname) = CString::new(name) else {
        return Ok(());
    };
    let mut data = [original.as_raw()];
    // SAFETY: plain QuickJS calls; `data` values are duplicated by QuickJS.
    let raw = unsafe {
        qjs::JS_NewCFunctionData2(
            ctx.as_raw().as_ptr(),
            Some(guarded),
            cname.as_ptr(),
            length,
            flags,
            1,
            data.as_mut_ptr(),
        )
    };
    // SAFETY: `raw` is a new reference owned from here on.
    let wrapper = unsafe { JsValue::from_raw(ctx.clone(), raw) };
    if wrapper.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    target.prop(name, Property::from(wrapper).writable().configurable())
}

fn wrap_all<'js>(
    ctx: &Ctx<'js>,
    target: &Object<'js>,
    names: &[&str],
    flags: c_int,
) -> rquickjs::Result<()> {
    for name in names {
        wrap(ctx, target, name, flags)?;
    }
    Ok(())
}

fn prototype_of<'js>(ctx: &Ctx<'js>, constructor: &str) -> rquickjs::Result<Object<'js>> {
    ctx.globals()
        .get::<_, Function>(constructor)?
        .get::<_, Object>("prototype")
}

/// Guards the built-ins every realm gets at once.
pub(crate) fn install(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let array_prototype = prototype_of(ctx, "Array")?;
    wrap_all(ctx, &array_prototype, ARRAY_GENERIC, CHECK_LENGTH)?;
    wrap(
        ctx,
        &array_prototype,
        "concat",
        CHECK_LENGTH | CHECK_ARGUMENTS,
    )?;
    wrap_all(ctx, &prototype_of(ctx, "String")?, STRING_METHODS, 0)?;
    let object: Object = ctx.globals().get("Object")?;
    wrap_all(ctx, &object, OBJECT_STATICS, 0)?;
    let array: Object = ctx.globals().get("Array")?;
    wrap_all(ctx, &array, &["from"], 0)?;
    let reflect: Object = ctx.globals().get("Reflect")?;
    wrap_all(ctx, &reflect, &["ownKeys", "apply"], 0)?;
    let json: Object = ctx.globals().get("JSON")?;
    wrap_all(ctx, &json, &["parse"], 0)?;
    Ok(())
}

/// Guards the typed arrays' shared prototype; called when the lazily created typed-array
/// built-ins come into being (`intrinsics.rs`).
pub(crate) fn install_typed_arrays(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let uint8 = prototype_of(ctx, "Uint8Array")?;
    let Some(shared) = uint8.get_prototype() else {
        return Ok(());
    };
    wrap_all(ctx, &shared, TYPED_ARRAY_METHODS, 0)
}
