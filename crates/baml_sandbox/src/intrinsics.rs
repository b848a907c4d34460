//! The realm's built-ins, with the costly and rarely used ones created on first use.
//!
//! A full quickjs-ng realm costs ~100 µs to create, most of it in a few groups of built-ins
//! that sandboxed scripts seldom touch: `Map`/`Set`/`WeakMap`/`WeakSet`, the typed arrays
//! (`ArrayBuffer`, `Uint8Array`, ..., `DataView`, `Atomics`), `WeakRef`/`FinalizationRegistry`,
//! `performance`, `btoa`/`atob`/`DOMException`, and `Date`. Every realm gets the rest at once.
//! Each name of those groups starts as a lazy data property of the global object (the
//! vendored quickjs-ng's `JS_DefineLazyProperty`, its own auto-init mechanism: what any get,
//! descriptor read, freeze or define sees is the built-in itself); the first use of a name
//! creates its whole group (quickjs-ng's own `JS_AddIntrinsic*`) on the realm's slot object
//! (`JS_AddIntrinsicInto`, reachable from no script), and each name of the group takes its
//! value from there when it is first used. A set or delete before first use simply replaces
//! or removes the name. The web globals (`web/`) are lazy the same way.
//!
//! The names come from quickjs-ng itself, once per process, by creating a realm with and
//! without each group and comparing their globals.

use std::ffi::{c_int, c_void, CStr, CString};
use std::sync::OnceLock;

use rquickjs::{qjs, Context, Runtime};

type AddFn = unsafe extern "C" fn(*mut qjs::JSContext) -> c_int;

// QuickJS's property flags as the `c_int` its functions take (all small constants).
const PROP_CONFIGURABLE: c_int = qjs::JS_PROP_CONFIGURABLE.cast_signed();
const PROP_WRITABLE: c_int = qjs::JS_PROP_WRITABLE.cast_signed();
const PROP_ENUMERABLE: c_int = qjs::JS_PROP_ENUMERABLE.cast_signed();

/// The groups created lazily, in bit order.
const LAZY_GROUPS: [AddFn; 6] = [
    qjs::JS_AddIntrinsicMapSet,
    qjs::JS_AddIntrinsicTypedArrays,
    qjs::JS_AddIntrinsicWeakRef,
    qjs::JS_AddPerformance,
    qjs::JS_AddIntrinsicAToB,
    qjs::JS_AddIntrinsicDate,
];

/// The index of `Map`/`Set` in `LAZY_GROUPS`.
pub(crate) const MAP_SET: usize = 0;
/// The index of the typed arrays in `LAZY_GROUPS`.
pub(crate) const TYPED_ARRAYS: usize = 1;
/// The index of `Date` in `LAZY_GROUPS`.
pub(crate) const DATE: usize = 5;

/// The built-ins every realm gets at once, besides the base objects (as `JS_NewContext`
/// would add them, minus the lazy groups).
unsafe fn add_eager(ctx: *mut qjs::JSContext) -> bool {
    unsafe {
        qjs::JS_AddIntrinsicRegExpCompiler(ctx);
        qjs::JS_AddIntrinsicEval(ctx) == 0
            && qjs::JS_AddIntrinsicRegExp(ctx) == 0
            && qjs::JS_AddIntrinsicJSON(ctx) == 0
            && qjs::JS_AddIntrinsicProxy(ctx) == 0
            && qjs::JS_AddIntrinsicPromise(ctx) == 0
    }
}

/// `(group, global name, property flags)` of every lazily created built-in.
fn lazy_names() -> &'static [(usize, CString, c_int)] {
    static NAMES: OnceLock<Vec<(usize, CString, c_int)>> = OnceLock::new();
    NAMES.get_or_init(|| discover().unwrap_or_default())
}

fn discover() -> Option<Vec<(usize, CString, c_int)>> {
    let rt = Runtime::new().ok()?;
    // The names each group adds to a realm, with their attributes (as `[name, writable,
    // enumerable, configurable]`).
    let globals = |group: Option<usize>| -> Option<Vec<(String, bool, bool, bool)>> {
        let ctx = Context::base(&rt).ok()?;
        ctx.with(|ctx| {
            let raw = ctx.as_raw().as_ptr();
            let ok = unsafe { add_eager(raw) && group.is_none_or(|g| LAZY_GROUPS[g](raw) == 0) };
            if !ok {
                return None;
            }
            // `wec:name`, each of `w`, `e`, `c` a 0 or 1.
            let listed = ctx.eval::<Vec<String>, _>(
                "Object.getOwnPropertyNames(globalThis).map(n => { const d = Object.getOwnPropertyDescriptor(globalThis, n); return `${+!!d.writable}${+!!d.enumerable}${+!!d.configurable}:${n}` })",
            )
            .ok()?;
            listed
                .into_iter()
                .map(|l| {
                    let (attrs, name) = l.split_once(':')?;
                    let bit = |i: usize| attrs.as_bytes().get(i) == Some(&b'1');
                    Some((name.to_string(), bit(0), bit(1), bit(2)))
                })
                .collect()
        })
    };
    let eager: Vec<String> = globals(None)?.into_iter().map(|(n, ..)| n).collect();
    let mut names = Vec::new();
    for group in 0..LAZY_GROUPS.len() {
        for (name, writable, enumerable, configurable) in globals(Some(group))? {
            if !eager.contains(&name) {
                let flags = if writable { PROP_WRITABLE } else { 0 }
                    | if enumerable { PROP_ENUMERABLE } else { 0 }
                    | if configurable { PROP_CONFIGURABLE } else { 0 };
                names.push((group, CString::new(name).ok()?, flags));
            }
        }
    }
    Some(names)
}

/// What a lazy property's opaque word says: a built-in of `lazy_names()` or a web global.
pub(crate) const LAZY_INTRINSIC: usize = 1 << 16;
pub(crate) const LAZY_WEB: usize = 2 << 16;

extern "C" {
    // Lazy properties, the realm's slot, built-ins defined elsewhere (vendored rquickjs-sys).
    fn JS_DefineLazyProperty(
        ctx: *mut qjs::JSContext,
        obj: qjs::JSValue,
        prop: qjs::JSAtom,
        opaque: *mut c_void,
        flags: c_int,
    ) -> c_int;
    fn JS_SetLazyPropertyHandler(
        rt: *mut qjs::JSRuntime,
        handler: Option<
            unsafe extern "C" fn(*mut qjs::JSContext, qjs::JSAtom, *mut c_void) -> qjs::JSValue,
        >,
    );
    fn JS_AddIntrinsicInto(
        ctx: *mut qjs::JSContext,
        add: Option<AddFn>,
        target: qjs::JSValue,
    ) -> c_int;
    fn JS_GetRealmSlot(ctx: *mut qjs::JSContext) -> qjs::JSValue;
    fn JS_SetRealmSlot(ctx: *mut qjs::JSContext, value: qjs::JSValue);
}

/// Sets the runtime's hooks, once, when it is made: the guards of `guards.rs` and the maker
/// of lazy properties' values.
///
/// # Safety
/// `rt` must be a live runtime held by the calling thread.
pub(crate) unsafe fn install_runtime(rt: *mut qjs::JSRuntime) {
    // SAFETY: see the function's contract.
    unsafe {
        crate::guards::install_runtime(rt);
        JS_SetLazyPropertyHandler(rt, Some(lazy_value));
    }
}

/// Defines `name` on the global object as a lazy property (`opaque` says which).
///
/// # Safety
/// `ctx` must be a live context held by this thread.
pub(crate) unsafe fn define_lazy(
    ctx: *mut qjs::JSContext,
    name: &CStr,
    opaque: usize,
    flags: c_int,
) -> bool {
    // SAFETY: see the function's contract.
    unsafe {
        let global = qjs::JS_GetGlobalObject(ctx);
        let atom = qjs::JS_NewAtom(ctx, name.as_ptr());
        let ok = JS_DefineLazyProperty(ctx, global, atom, opaque as *mut c_void, flags) == 0;
        qjs::JS_FreeAtom(ctx, atom);
        qjs::JS_FreeValue(ctx, global);
        ok
    }
}

/// The realm's slot object (made on first use; no script reaches it): the lazy built-ins'
/// groups are created on it, and the web globals' modules are kept there. A new reference.
///
/// # Safety
/// `ctx` must be a live context held by this thread.
pub(crate) unsafe fn slot(ctx: *mut qjs::JSContext) -> qjs::JSValue {
    // SAFETY: see the function's contract.
    unsafe {
        let slot = JS_GetRealmSlot(ctx);
        if qjs::JS_IsObject(slot) {
            return slot;
        }
        let made = qjs::JS_NewObjectProto(ctx, qjs::JS_NULL);
        if qjs::JS_IsException(made) {
            return made;
        }
        JS_SetRealmSlot(ctx, qjs::JS_DupValue(ctx, made));
        made
    }
}

/// Makes a lazy property's value (QuickJS calls it on the property's first use).
unsafe extern "C" fn lazy_value(
    ctx: *mut qjs::JSContext,
    atom: qjs::JSAtom,
    opaque: *mut c_void,
) -> qjs::JSValue {
    let word = opaque as usize;
    let index = word & 0xffff;
    match word & !0xffff {
        LAZY_INTRINSIC => {
            let Some((group, _, _)) = lazy_names().get(index) else {
                return qjs::JS_UNDEFINED;
            };
            // SAFETY: QuickJS calls this with a live context held by this thread.
            unsafe {
                if !create_group(ctx, *group) {
                    if !qjs::JS_HasException(ctx) {
                        qjs::JS_ThrowTypeError(
                            ctx,
                            c"%s".as_ptr(),
                            c"cannot create a built-in".as_ptr(),
                        );
                    }
                    return qjs::JS_EXCEPTION;
                }
                let slot = slot(ctx);
                if qjs::JS_IsException(slot) {
                    return slot;
                }
                let value = qjs::JS_GetProperty(ctx, slot, atom);
                qjs::JS_FreeValue(ctx, slot);
                value
            }
        }
        // SAFETY: as above.
        LAZY_WEB => unsafe { crate::web::lazy_value(ctx, atom, index) },
        _ => qjs::JS_UNDEFINED,
    }
}

/// Adds the built-ins to a base realm: the eager ones now, the lazy ones as lazy properties.
pub(crate) unsafe fn install(ctx: *mut qjs::JSContext) -> bool {
    if !unsafe { add_eager(ctx) } {
        return false;
    }
    // The web globals (`web/`), as lazy as quickjs-ng's costly groups.
    if !unsafe { crate::web::install(ctx) } {
        return false;
    }
    let names = lazy_names();
    if names.is_empty() {
        // Discovery failed: create everything now rather than lose built-ins.
        return LAZY_GROUPS.iter().all(|add| unsafe { add(ctx) } == 0);
    }
    names.iter().enumerate().all(|(i, (_, name, flags))| {
        // SAFETY: a live realm held by this thread.
        unsafe { define_lazy(ctx, name, LAZY_INTRINSIC | i, *flags) }
    })
}

/// Whether lazy group `group` exists in this realm already.
///
/// # Safety
/// `ctx` must be a live context held by this thread.
pub(crate) unsafe fn is_created(ctx: *mut qjs::JSContext, group: usize) -> bool {
    let created = unsafe { qjs::JS_GetContextOpaque(ctx) } as usize;
    created & (1usize << group) != 0
}

/// Creates one lazy group in this realm, once, on the realm's slot (the realm's opaque word
/// holds the created groups as bits; nothing else uses it). Its global names take their values
/// from there on first use.
pub(crate) unsafe fn create_group(ctx: *mut qjs::JSContext, group: usize) -> bool {
    let bit = 1usize << group;
    let created = unsafe { qjs::JS_GetContextOpaque(ctx) } as usize;
    if created & bit != 0 {
        return true;
    }
    // SAFETY: a live context held by this thread.
    unsafe {
        let slot = slot(ctx);
        if qjs::JS_IsException(slot) {
            return false;
        }
        qjs::JS_SetContextOpaque(ctx, (created | bit) as *mut c_void);
        // quickjs-ng's set-up of a group is not safe to fail half-way for memory: it may
        // overshoot the limit a little instead (see `alloc::Headroom`).
        let ok = crate::stack::with_any_memory(|m| {
            let _headroom = crate::alloc::Headroom::new(m, crate::alloc::SETUP_HEADROOM);
            JS_AddIntrinsicInto(ctx, Some(LAZY_GROUPS[group]), slot) == 0
        })
        .unwrap_or_else(|| JS_AddIntrinsicInto(ctx, Some(LAZY_GROUPS[group]), slot) == 0);
        qjs::JS_FreeValue(ctx, slot);
        ok
    }
}

/// Creates lazy group `group` (`MAP_SET`, `TYPED_ARRAYS`, `DATE`) now, if it was not yet: a
/// copy coming into the sandbox holds one of its kinds, and QuickJS builds those from the
/// group's prototypes.
pub(crate) unsafe fn create_for_copy(ctx: *mut qjs::JSContext, group: usize) -> bool {
    if lazy_names().is_empty() {
        // Every group was created with the realm.
        return true;
    }
    unsafe { create_group(ctx, group) }
}
