//! `AbortSignal` listeners: added for an operation in flight, removed once it settles.

use napi::sys;

use crate::util::{
    call, clear_exception, delete_ref, deref, function, get, object, reference, set, string,
    type_of, Env, Raw, Sendable,
};

/// References to a signal and its listener, for the removal.
pub(crate) type ListenerRefs = (Sendable<sys::napi_ref>, Sendable<sys::napi_ref>);

/// `signal.addEventListener('abort', listener, { once: true })` where the listener calls
/// `on_abort(data)`; returns references to both for `remove_listener`.
pub(crate) unsafe fn add_listener<T: 'static>(
    env: Env,
    signal: Raw,
    data: T,
    on_abort: unsafe fn(Env, &T, Raw),
) -> Option<ListenerRefs> {
    unsafe {
        let f = function(env, "onabort", data, on_abort).ok()?;
        let add = get(env, signal, "addEventListener").ok()?;
        if type_of(env, add) != sys::ValueType::napi_function {
            return None;
        }
        let opts = object(env).ok()?;
        let t = crate::util::boolean(env, true).ok()?;
        set(env, opts, "once", t).ok()?;
        let kind = string(env, "abort").ok()?;
        call(env, add, signal, &[kind, f, opts]).ok()?;
        Some((
            Sendable(reference(env, signal).ok()?),
            Sendable(reference(env, f).ok()?),
        ))
    }
}

pub(crate) unsafe fn remove_listener(env: Env, signal: sys::napi_ref, f: sys::napi_ref) {
    unsafe {
        if let (Ok(s), Ok(func)) = (deref(env, signal), deref(env, f)) {
            if let (Ok(remove), Ok(kind)) =
                (get(env, s, "removeEventListener"), string(env, "abort"))
            {
                if call(env, remove, s, &[kind, func]).is_err() {
                    clear_exception(env);
                }
            }
        }
        delete_ref(env, signal);
        delete_ref(env, f);
    }
}
