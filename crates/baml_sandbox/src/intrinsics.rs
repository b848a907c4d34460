//! The realm's built-ins, with the costly and rarely used ones created on first use.
//!
//! A full quickjs-ng realm costs ~100 µs to create, most of it in a few groups of built-ins
//! that sandboxed scripts seldom touch: `Map`/`Set`/`WeakMap`/`WeakSet`, the typed arrays
//! (`ArrayBuffer`, `Uint8Array`, ..., `DataView`, `Atomics`), `WeakRef`/`FinalizationRegistry`,
//! `performance`, `btoa`/`atob`/`DOMException`, and `Date`. Every realm gets the rest at once; each name of those groups starts as a
//! configurable accessor on the global object whose first get or set creates the whole group
//! (quickjs-ng's own `JS_AddIntrinsic*`, which replaces the accessors with the usual data
//! properties). Whatever the script put in place of a name before the group was created (a
//! `function Map() {}`, a `delete`) is kept. The only visible difference is
//! `Object.getOwnPropertyDescriptor(globalThis, "Map")` before first use.
//!
//! The names come from quickjs-ng itself, once per process, by creating a realm with and
//! without each group and comparing their globals.

use std::ffi::{c_int, c_void, CString};
use std::sync::OnceLock;

use rquickjs::{qjs, Context, Runtime};

type AddFn = unsafe extern "C" fn(*mut qjs::JSContext) -> c_int;

// QuickJS's property flags as the `c_int` its functions take (all small constants).
const PROP_CONFIGURABLE: c_int = qjs::JS_PROP_CONFIGURABLE.cast_signed();
const PROP_WRITABLE: c_int = qjs::JS_PROP_WRITABLE.cast_signed();
const PROP_ENUMERABLE: c_int = qjs::JS_PROP_ENUMERABLE.cast_signed();
const PROP_GETSET: c_int = qjs::JS_PROP_GETSET.cast_signed();

/// Lazy names quickjs-ng defines from a function list (`JS_SetPropertyFunctionList`), that is
/// with `JS_DefineAutoInitProperty`, which aborts when the property already exists. Checked
/// against the bundled quickjs-ng by `any_first_action_on_any_lazy_name_is_safe`, which makes
/// every lazy name non-configurable before its group is created.
const AUTO_INIT: [&std::ffi::CStr; 3] = [c"Atomics", c"btoa", c"atob"];

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

/// `(group, global name)` of every lazily created built-in.
fn lazy_names() -> &'static [(usize, CString)] {
    static NAMES: OnceLock<Vec<(usize, CString)>> = OnceLock::new();
    NAMES.get_or_init(|| discover().unwrap_or_default())
}

fn discover() -> Option<Vec<(usize, CString)>> {
    let rt = Runtime::new().ok()?;
    let globals = |group: Option<usize>| -> Option<Vec<String>> {
        let ctx = Context::base(&rt).ok()?;
        ctx.with(|ctx| {
            let raw = ctx.as_raw().as_ptr();
            let ok = unsafe { add_eager(raw) && group.is_none_or(|g| LAZY_GROUPS[g](raw) == 0) };
            if !ok {
                return None;
            }
            ctx.eval::<Vec<String>, _>("Object.getOwnPropertyNames(globalThis)")
                .ok()
        })
    };
    let eager = globals(None)?;
    let mut names = Vec::new();
    for group in 0..LAZY_GROUPS.len() {
        for name in globals(Some(group))? {
            if !eager.contains(&name) {
                names.push((group, CString::new(name).ok()?));
            }
        }
    }
    Some(names)
}

/// Adds the built-ins to a base realm: the eager ones now, the lazy ones as accessors.
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
    let access: qjs::JSCFunctionMagic = Some(access);
    // SAFETY: QuickJS calls a `JS_CFUNC_generic_magic` function through this very type pun.
    let func = unsafe { std::mem::transmute::<qjs::JSCFunctionMagic, qjs::JSCFunction>(access) };
    unsafe {
        let global = qjs::JS_GetGlobalObject(ctx);
        let mut ok = true;
        for (i, (_, name)) in names.iter().enumerate() {
            let magic = c_int::try_from(i).unwrap_or(c_int::MAX);
            let generic = qjs::JSCFunctionEnum_JS_CFUNC_generic_magic;
            // One function is both getter (no argument) and setter (one): half the objects.
            let getter = qjs::JS_NewCFunction2(ctx, func, name.as_ptr(), 0, generic, magic);
            let setter = qjs::JS_DupValue(ctx, getter);
            let atom = qjs::JS_NewAtom(ctx, name.as_ptr());
            let flags = PROP_CONFIGURABLE;
            ok &= qjs::JS_DefinePropertyGetSet(ctx, global, atom, getter, setter, flags) >= 0;
            qjs::JS_FreeAtom(ctx, atom);
        }
        qjs::JS_FreeValue(ctx, global);
        ok
    }
}

/// Getter (no argument) and setter (one argument) of a lazy global.
unsafe extern "C" fn access(
    ctx: *mut qjs::JSContext,
    _this: qjs::JSValue,
    count: c_int,
    args: *mut qjs::JSValue,
    magic: c_int,
) -> qjs::JSValue {
    let names = lazy_names();
    let Some((group, name)) = usize::try_from(magic).ok().and_then(|i| names.get(i)) else {
        return qjs::JS_UNDEFINED;
    };
    unsafe {
        if !create_group(ctx, *group) {
            if !qjs::JS_HasException(ctx) {
                qjs::JS_ThrowTypeError(ctx, c"%s".as_ptr(), c"cannot create a built-in".as_ptr());
            }
            return qjs::JS_EXCEPTION;
        }
        let global = qjs::JS_GetGlobalObject(ctx);
        let atom = qjs::JS_NewAtom(ctx, name.as_ptr());
        let result = if count >= 1 && !args.is_null() {
            let value = qjs::JS_DupValue(ctx, *args);
            if qjs::JS_SetProperty(ctx, global, atom, value) < 0 {
                qjs::JS_EXCEPTION
            } else {
                qjs::JS_UNDEFINED
            }
        } else if still_accessor(ctx, global, atom) {
            // The script made the accessor non-configurable (`Object.freeze(globalThis)`), so
            // the group could not replace it: getting the property would call this getter
            // again, endlessly.
            let message = format!(
                "cannot create the built-in {}: the global property was made non-configurable",
                name.to_string_lossy()
            );
            if let Ok(message) = CString::new(message) {
                qjs::JS_ThrowTypeError(ctx, c"%s".as_ptr(), message.as_ptr());
            }
            qjs::JS_EXCEPTION
        } else {
            qjs::JS_GetProperty(ctx, global, atom)
        };
        qjs::JS_FreeAtom(ctx, atom);
        qjs::JS_FreeValue(ctx, global);
        result
    }
}

/// Whether the global property `atom` is still an accessor (the lazy one).
///
/// # Safety
/// `ctx` must be a live context held by this thread, `global` its global object.
pub(crate) unsafe fn still_accessor(
    ctx: *mut qjs::JSContext,
    global: qjs::JSValue,
    atom: qjs::JSAtom,
) -> bool {
    unsafe {
        let mut desc = std::mem::zeroed::<qjs::JSPropertyDescriptor>();
        if qjs::JS_GetOwnProperty(ctx, &raw mut desc, global, atom) != 1 {
            return false;
        }
        qjs::JS_FreeValue(ctx, desc.value);
        qjs::JS_FreeValue(ctx, desc.getter);
        qjs::JS_FreeValue(ctx, desc.setter);
        desc.flags & PROP_GETSET != 0
    }
}

/// Whether lazy group `group` exists in this realm already.
///
/// # Safety
/// `ctx` must be a live context held by this thread.
pub(crate) unsafe fn is_created(ctx: *mut qjs::JSContext, group: usize) -> bool {
    let created = unsafe { qjs::JS_GetContextOpaque(ctx) } as usize;
    created & (1usize << group) != 0
}

/// Creates one lazy group in this realm, once (the realm's opaque word holds the created
/// groups as bits; nothing else uses it).
pub(crate) unsafe fn create_group(ctx: *mut qjs::JSContext, group: usize) -> bool {
    let bit = 1usize << group;
    let created = unsafe { qjs::JS_GetContextOpaque(ctx) } as usize;
    if created & bit != 0 {
        return true;
    }
    unsafe { qjs::JS_SetContextOpaque(ctx, (created | bit) as *mut c_void) };
    unsafe {
        let global = qjs::JS_GetGlobalObject(ctx);
        // Every name of the group goes before it is created: quickjs-ng defines some of them
        // (`Atomics`) as auto-init properties and aborts the process if the name exists. What
        // the script put there itself is put back afterwards, and names it deleted stay gone.
        let mut kept: Vec<(qjs::JSAtom, Option<(qjs::JSValue, c_int)>)> = Vec::new();
        for (g, name) in lazy_names() {
            if *g != group {
                continue;
            }
            let atom = qjs::JS_NewAtom(ctx, name.as_ptr());
            let mut desc = std::mem::zeroed::<qjs::JSPropertyDescriptor>();
            match qjs::JS_GetOwnProperty(ctx, &raw mut desc, global, atom) {
                0 => kept.push((atom, None)),
                1 => {
                    qjs::JS_FreeValue(ctx, desc.getter);
                    qjs::JS_FreeValue(ctx, desc.setter);
                    qjs::JS_DeleteProperty(ctx, global, atom, 0);
                    if desc.flags & PROP_GETSET == 0 {
                        let mask = PROP_CONFIGURABLE | PROP_WRITABLE | PROP_ENUMERABLE;
                        kept.push((atom, Some((desc.value, desc.flags & mask))));
                    } else {
                        qjs::JS_FreeValue(ctx, desc.value);
                        qjs::JS_FreeAtom(ctx, atom);
                    }
                }
                _ => qjs::JS_FreeAtom(ctx, atom),
            }
        }
        // A name the script made non-configurable could not be deleted. Most built-ins then
        // simply fail to replace it, but the ones quickjs-ng defines as auto-init properties
        // abort the process if the name exists: refuse with a TypeError instead.
        let mut blocked = None;
        for (g, name) in lazy_names() {
            if *g == group && blocked.is_none() && AUTO_INIT.contains(&name.as_c_str()) {
                let atom = qjs::JS_NewAtom(ctx, name.as_ptr());
                let mut desc = std::mem::zeroed::<qjs::JSPropertyDescriptor>();
                if qjs::JS_GetOwnProperty(ctx, &raw mut desc, global, atom) == 1 {
                    qjs::JS_FreeValue(ctx, desc.value);
                    qjs::JS_FreeValue(ctx, desc.getter);
                    qjs::JS_FreeValue(ctx, desc.setter);
                    blocked = Some(name);
                }
                qjs::JS_FreeAtom(ctx, atom);
            }
        }
        let ok = match blocked {
            None => LAZY_GROUPS[group](ctx) == 0,
            Some(name) => {
                let message = format!(
                    "cannot create the built-in {}: the global property was made non-configurable",
                    name.to_string_lossy()
                );
                if let Ok(message) = CString::new(message) {
                    qjs::JS_ThrowTypeError(ctx, c"%s".as_ptr(), message.as_ptr());
                }
                qjs::JS_SetContextOpaque(ctx, created as *mut c_void);
                false
            }
        };
        for (atom, value) in kept {
            match value {
                Some((v, flags)) => {
                    qjs::JS_DefinePropertyValue(ctx, global, atom, v, flags);
                }
                None => {
                    qjs::JS_DeleteProperty(ctx, global, atom, 0);
                }
            }
            qjs::JS_FreeAtom(ctx, atom);
        }
        qjs::JS_FreeValue(ctx, global);
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
