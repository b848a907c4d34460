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
//! So before each call of these built-ins, QuickJS calls [`guard`] (the vendored quickjs-ng
//! marks their function objects when it makes them, from its own table `js_guarded_funcs`, and
//! calls the runtime's hook for marked ones: see vendor/README.md). The guard checks the turn's
//! deadline, abort and dispose, then (for the generic array methods) refuses with a
//! `RangeError` an array-like whose `length` is longer than any dense array this sandbox's heap
//! could hold (such an object is sparse and walking it takes time, not memory). The built-ins
//! stay QuickJS's own function objects (nothing is wrapped, nothing is made per realm); the
//! cost is one check per call.
//!
//! What this does not cover, and only a process boundary contains: a single call that is long
//! within those bounds (sorting millions of elements, a quadratic string search, `**` on huge
//! BigInts, a Proxy `ownKeys` trap returning tens of thousands of keys), and a `length` getter
//! that answers differently to the check and to the built-in. An in-process evaluation still
//! settles at its deadline (the timer does it, see `Inner::expire_overdue`); the thread running
//! the call stays busy until it returns.

use std::ffi::c_int;

use rquickjs::{qjs, Ctx};

use crate::throw::{throw, throw_interrupted, ErrorKind};

extern "C" {
    /// Sets the hook called before guarded built-ins (vendored rquickjs-sys).
    fn JS_SetCFunctionGuard(
        rt: *mut qjs::JSRuntime,
        guard: Option<
            unsafe extern "C" fn(
                *mut qjs::JSContext,
                c_int,
                qjs::JSValue,
                c_int,
                *mut qjs::JSValue,
            ) -> c_int,
        >,
    );
}

/// Guard flag: check the deadline (every guarded built-in).
const GUARD_CALL: c_int = 1;
/// Guard flag: check `this.length` against the sandbox's bound.
const CHECK_LENGTH: c_int = 2;
/// Guard flag: check the `length` of every object argument too (`concat` spreads them).
const CHECK_ARGUMENTS: c_int = 4;

/// Sets the guard on a runtime, once, when it is made.
///
/// # Safety
/// `rt` must be a live runtime held by the calling thread.
pub(crate) unsafe fn install_runtime(rt: *mut qjs::JSRuntime) {
    // SAFETY: see the function's contract.
    unsafe { JS_SetCFunctionGuard(rt, Some(guard)) };
}

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

/// Called by QuickJS before a guarded built-in runs; -1 (with an exception) stops the call.
unsafe extern "C" fn guard(
    ctx: *mut qjs::JSContext,
    flags: c_int,
    this: qjs::JSValue,
    count: c_int,
    args: *mut qjs::JSValue,
) -> c_int {
    if flags & GUARD_CALL == 0 {
        return 0;
    }
    let Some(raw) = std::ptr::NonNull::new(ctx) else {
        return -1;
    };
    if crate::stack::should_interrupt() {
        // SAFETY: QuickJS calls this with a live context held by this thread.
        let ctx = unsafe { Ctx::from_raw(raw) };
        let _ = throw_interrupted(&ctx);
        return -1;
    }
    let mut checked: Vec<qjs::JSValue> = Vec::new();
    if flags & CHECK_LENGTH != 0 {
        checked.push(this);
    }
    if flags & CHECK_ARGUMENTS != 0 && !args.is_null() {
        for i in 0..usize::try_from(count).unwrap_or(0) {
            // SAFETY: QuickJS passes `count` arguments at `args`.
            checked.push(unsafe { *args.add(i) });
        }
    }
    for v in checked {
        // SAFETY: `v` is `this` or an argument, live for the call.
        match unsafe { too_long(ctx, v) } {
            Err(()) => return -1,
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
                return -1;
            }
        }
    }
    0
}
