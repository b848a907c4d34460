//! Errors the sandbox itself throws at sandboxed code.

use rquickjs::{object::Property, qjs, Ctx, Exception, Value as JsValue};

/// The kinds of error the sandbox throws.
#[derive(Clone, Copy)]
pub(crate) enum ErrorKind {
    Type,
    Range,
}

/// A new `TypeError` or `RangeError` with `message` in full. QuickJS's own constructors (and
/// rquickjs's `Exception::throw_*`) format the message into 256 bytes, which would cut a long
/// path off before the reason, and cut it at a NUL.
pub(crate) fn new_error<'js>(
    ctx: &Ctx<'js>,
    kind: ErrorKind,
    message: &str,
) -> rquickjs::Result<JsValue<'js>> {
    // SAFETY: plain QuickJS calls on the context this thread holds.
    let raw = unsafe {
        let ctx = ctx.as_raw().as_ptr();
        match kind {
            ErrorKind::Type => qjs::JS_NewTypeError(ctx, c"%s".as_ptr(), c"".as_ptr()),
            ErrorKind::Range => qjs::JS_NewRangeError(ctx, c"%s".as_ptr(), c"".as_ptr()),
        }
    };
    // SAFETY: `raw` is a new reference owned from here on.
    let err = unsafe { JsValue::from_raw(ctx.clone(), raw) };
    if err.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    if let Some(obj) = err.as_object() {
        // Where QuickJS puts it: an own, writable, configurable, non-enumerable property.
        obj.prop("message", Property::from(message).writable().configurable())?;
    }
    Ok(err)
}

/// Throws `new_error(kind, message)` (or, out of memory, whatever that threw).
pub(crate) fn throw(ctx: &Ctx<'_>, kind: ErrorKind, message: &str) -> rquickjs::Error {
    match new_error(ctx, kind, message) {
        Ok(err) => ctx.throw(err),
        Err(e) => e,
    }
}

/// Throws what QuickJS throws for a stack overflow, for Rust code that ran out of the turn's
/// stack budget (see `stack.rs`).
pub(crate) fn throw_stack_overflow(ctx: &Ctx<'_>) -> rquickjs::Error {
    throw(ctx, ErrorKind::Range, "Maximum call stack size exceeded")
}

/// Throws what QuickJS throws when the interrupt handler stops running code: an uncatchable
/// `InternalError: interrupted`.
pub(crate) fn throw_interrupted(ctx: &Ctx<'_>) -> rquickjs::Error {
    let Ok(err) = Exception::from_message(ctx.clone(), "interrupted") else {
        return rquickjs::Error::Exception;
    };
    if err.set("name", "InternalError").is_err() {
        return rquickjs::Error::Exception;
    }
    let value = err.into_value();
    // SAFETY: marks a live error value of this context.
    unsafe { qjs::JS_SetUncatchableError(ctx.as_raw().as_ptr(), value.as_raw()) };
    ctx.throw(value)
}

/// Whether `v` is the uncatchable error the interrupt handler stops running code with.
pub(crate) fn is_uncatchable(v: &JsValue<'_>) -> bool {
    // SAFETY: reads the tag and flag of a live value.
    unsafe { qjs::JS_IsUncatchableError(v.as_raw()) }
}
