//! Thin wrappers over the raw N-API calls this layer makes. Every function takes the env of
//! the calling (Node) thread; values are only valid within the current handle scope.

use std::ffi::c_void;
use std::ptr;

use napi::sys;

pub(crate) type Raw = sys::napi_value;
pub(crate) type Env = sys::napi_env;

/// A failed N-API call; an exception may be pending.
#[derive(Debug)]
pub(crate) struct Fail;

pub(crate) type R<T> = Result<T, Fail>;

/// A byte length as N-API's `isize` (a Rust allocation never exceeds `isize::MAX`).
pub(crate) fn len_isize(len: usize) -> isize {
    isize::try_from(len).unwrap_or(isize::MAX)
}

/// A count or size as a JavaScript number.
#[expect(
    clippy::cast_precision_loss,
    reason = "JavaScript numbers are f64; sizes stay far below 2^53"
)]
pub(crate) fn js_number(n: usize) -> f64 {
    n as f64
}

pub(crate) fn ok(status: sys::napi_status) -> R<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Fail)
    }
}

/// A raw pointer that may cross threads because it is only dereferenced on Node's thread.
pub(crate) struct Sendable<T>(pub(crate) T);
// SAFETY: see the type's docs; every use site dereferences on the JS thread only.
unsafe impl<T> Send for Sendable<T> {}
unsafe impl<T> Sync for Sendable<T> {}

impl<T: Copy> Sendable<T> {
    /// The pointer (a method, so closures capture the whole `Sendable`).
    pub(crate) fn get(&self) -> T {
        self.0
    }
}

pub(crate) unsafe fn type_of(env: Env, v: Raw) -> sys::napi_valuetype {
    let mut t = 0;
    unsafe { sys::napi_typeof(env, v, &raw mut t) };
    t
}

pub(crate) unsafe fn string(env: Env, s: &str) -> R<Raw> {
    let mut out = ptr::null_mut();
    ok(unsafe {
        sys::napi_create_string_utf8(env, s.as_ptr().cast(), len_isize(s.len()), &raw mut out)
    })?;
    Ok(out)
}

pub(crate) unsafe fn number(env: Env, n: f64) -> R<Raw> {
    let mut out = ptr::null_mut();
    ok(unsafe { sys::napi_create_double(env, n, &raw mut out) })?;
    Ok(out)
}

pub(crate) unsafe fn boolean(env: Env, b: bool) -> R<Raw> {
    let mut out = ptr::null_mut();
    ok(unsafe { sys::napi_get_boolean(env, b, &raw mut out) })?;
    Ok(out)
}

pub(crate) unsafe fn undefined(env: Env) -> Raw {
    let mut out = ptr::null_mut();
    unsafe { sys::napi_get_undefined(env, &raw mut out) };
    out
}

pub(crate) unsafe fn null(env: Env) -> Raw {
    let mut out = ptr::null_mut();
    unsafe { sys::napi_get_null(env, &raw mut out) };
    out
}

pub(crate) unsafe fn object(env: Env) -> R<Raw> {
    let mut out = ptr::null_mut();
    ok(unsafe { sys::napi_create_object(env, &raw mut out) })?;
    Ok(out)
}

pub(crate) unsafe fn get(env: Env, obj: Raw, key: &str) -> R<Raw> {
    let k = unsafe { string(env, key)? };
    let mut out = ptr::null_mut();
    ok(unsafe { sys::napi_get_property(env, obj, k, &raw mut out) })?;
    Ok(out)
}

/// Defines an own, enumerable, writable data property (never runs setters, so `__proto__`
/// is an ordinary key).
pub(crate) unsafe fn define(env: Env, obj: Raw, key: Raw, value: Raw) -> R<()> {
    let desc = sys::napi_property_descriptor {
        utf8name: ptr::null(),
        name: key,
        method: None,
        getter: None,
        setter: None,
        value,
        attributes: sys::PropertyAttributes::writable
            | sys::PropertyAttributes::enumerable
            | sys::PropertyAttributes::configurable,
        data: ptr::null_mut(),
    };
    ok(unsafe { sys::napi_define_properties(env, obj, 1, &raw const desc) })
}

pub(crate) unsafe fn set(env: Env, obj: Raw, key: &str, value: Raw) -> R<()> {
    let k = unsafe { string(env, key)? };
    unsafe { define(env, obj, k, value) }
}

pub(crate) unsafe fn to_rust_string(env: Env, v: Raw) -> R<String> {
    let mut len = 0usize;
    ok(unsafe { sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &raw mut len) })?;
    let mut buf = vec![0u8; len + 1];
    let mut written = 0usize;
    ok(unsafe {
        sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), len + 1, &raw mut written)
    })?;
    buf.truncate(written);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

pub(crate) unsafe fn to_f64(env: Env, v: Raw) -> R<f64> {
    let mut out = 0.0;
    ok(unsafe { sys::napi_get_value_double(env, v, &raw mut out) })?;
    Ok(out)
}

pub(crate) unsafe fn to_bool(env: Env, v: Raw) -> R<bool> {
    let mut out = false;
    ok(unsafe { sys::napi_get_value_bool(env, v, &raw mut out) })?;
    Ok(out)
}

/// `String(v)`, for error messages; never fails.
pub(crate) unsafe fn display(env: Env, v: Raw) -> String {
    let mut s = ptr::null_mut();
    if unsafe { sys::napi_coerce_to_string(env, v, &raw mut s) } != sys::Status::napi_ok {
        unsafe { clear_exception(env) };
        return "[value]".into();
    }
    unsafe { to_rust_string(env, s) }.unwrap_or_default()
}

/// Takes the pending exception, if any.
pub(crate) unsafe fn clear_exception(env: Env) -> Option<Raw> {
    let mut pending = false;
    unsafe { sys::napi_is_exception_pending(env, &raw mut pending) };
    if !pending {
        return None;
    }
    let mut exc = ptr::null_mut();
    unsafe { sys::napi_get_and_clear_last_exception(env, &raw mut exc) };
    Some(exc)
}

/// The message a thrown or rejected Node value carries: `err.message` for errors, else `String(v)`.
pub(crate) unsafe fn message_of(env: Env, v: Raw) -> String {
    if unsafe { type_of(env, v) } == sys::ValueType::napi_object {
        if let Ok(m) = unsafe { get(env, v, "message") } {
            if unsafe { type_of(env, m) } == sys::ValueType::napi_string {
                if let Ok(s) = unsafe { to_rust_string(env, m) } {
                    return s;
                }
            }
        }
        unsafe { clear_exception(env) };
    }
    unsafe { display(env, v) }
}

pub(crate) unsafe fn reference(env: Env, v: Raw) -> R<sys::napi_ref> {
    let mut r = ptr::null_mut();
    ok(unsafe { sys::napi_create_reference(env, v, 1, &raw mut r) })?;
    Ok(r)
}

pub(crate) unsafe fn deref(env: Env, r: sys::napi_ref) -> R<Raw> {
    let mut out = ptr::null_mut();
    ok(unsafe { sys::napi_get_reference_value(env, r, &raw mut out) })?;
    if out.is_null() {
        Err(Fail)
    } else {
        Ok(out)
    }
}

pub(crate) unsafe fn delete_ref(env: Env, r: sys::napi_ref) {
    unsafe { sys::napi_delete_reference(env, r) };
}

pub(crate) unsafe fn call(env: Env, f: Raw, this: Raw, args: &[Raw]) -> R<Raw> {
    let mut out = ptr::null_mut();
    ok(unsafe { sys::napi_call_function(env, this, f, args.len(), args.as_ptr(), &raw mut out) })?;
    Ok(out)
}

/// A JS function whose calls run `callback` with the first argument; `data` is dropped when
/// the function is garbage-collected.
pub(crate) unsafe fn function<T: 'static>(
    env: Env,
    name: &str,
    data: T,
    callback: unsafe fn(Env, &T, Raw),
) -> R<Raw> {
    struct Payload<T> {
        data: T,
        callback: unsafe fn(Env, &T, Raw),
    }
    unsafe extern "C" fn trampoline<T>(env: Env, info: sys::napi_callback_info) -> Raw {
        let mut count = 1usize;
        let mut args = [ptr::null_mut(); 1];
        let mut data: *mut c_void = ptr::null_mut();
        unsafe {
            sys::napi_get_cb_info(
                env,
                info,
                &raw mut count,
                args.as_mut_ptr(),
                ptr::null_mut(),
                &raw mut data,
            );
        }
        let arg = if count >= 1 {
            args[0]
        } else {
            unsafe { undefined(env) }
        };
        let payload = unsafe { &*data.cast::<Payload<T>>() };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
            (payload.callback)(env, &payload.data, arg);
        }));
        unsafe { undefined(env) }
    }
    unsafe extern "C" fn finalize<T>(_env: Env, data: *mut c_void, _hint: *mut c_void) {
        drop(unsafe { Box::from_raw(data.cast::<Payload<T>>()) });
    }
    let payload = Box::into_raw(Box::new(Payload { data, callback }));
    let mut f = ptr::null_mut();
    let status = unsafe {
        sys::napi_create_function(
            env,
            name.as_ptr().cast(),
            len_isize(name.len()),
            Some(trampoline::<T>),
            payload.cast(),
            &raw mut f,
        )
    };
    if status != sys::Status::napi_ok {
        drop(unsafe { Box::from_raw(payload) });
        return Err(Fail);
    }
    let status = unsafe {
        sys::napi_add_finalizer(
            env,
            f,
            payload.cast(),
            Some(finalize::<T>),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok {
        // Leaking the payload is better than freeing it while the function can still run.
        return Err(Fail);
    }
    Ok(f)
}

/// The own, enumerable, string keys of an object, as Rust strings paired with their JS values.
/// Fails (possibly with an exception pending) if the object refuses to list them (a Proxy).
pub(crate) unsafe fn own_keys(env: Env, obj: Raw) -> R<Vec<(String, Raw)>> {
    let mut keys = ptr::null_mut();
    ok(unsafe {
        sys::napi_get_all_property_names(
            env,
            obj,
            sys::KeyCollectionMode::own_only,
            sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
            sys::KeyConversion::numbers_to_strings,
            &raw mut keys,
        )
    })?;
    let mut len = 0u32;
    ok(unsafe { sys::napi_get_array_length(env, keys, &raw mut len) })?;
    let mut out = Vec::with_capacity(len as usize);
    for i in 0..len {
        let mut k = ptr::null_mut();
        ok(unsafe { sys::napi_get_element(env, keys, i, &raw mut k) })?;
        out.push((unsafe { to_rust_string(env, k) }?, k));
    }
    Ok(out)
}
