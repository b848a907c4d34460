//! Copying values between Node and `baml_sandbox::Value`, with the same rules both ways:
//! JSON's shapes plus `undefined`, NaN, the infinities and `Date`; cycles, BigInt and values
//! nested deeper than `MAX_DEPTH` are refused with the path that caused it.

use std::ptr;

use baml_sandbox::{push_path, Value, MAX_DEPTH};
use napi::sys;

use crate::util::{
    boolean, clear_exception, define, null, number, object, ok, own_keys, string, to_bool, to_f64,
    to_rust_string, type_of, undefined, Env, Raw, R,
};

/// Why a Node value could not be copied.
pub(crate) struct CopyError {
    pub path: String,
    pub reason: String,
}

/// Copies a Node value (globals, host-function results) into a `Value`.
pub(crate) unsafe fn from_node(env: Env, v: Raw, path: &str) -> Result<Value, CopyError> {
    let mut ancestors = Vec::new();
    unsafe { from_rec(env, v, path.to_owned(), 0, &mut ancestors) }
}

fn fail(path: String, reason: &str) -> CopyError {
    CopyError {
        path,
        reason: reason.to_owned(),
    }
}

unsafe fn from_rec(
    env: Env,
    v: Raw,
    path: String,
    depth: usize,
    ancestors: &mut Vec<Raw>,
) -> Result<Value, CopyError> {
    let err = |p: &String, r: &str| fail(p.clone(), r);
    Ok(match unsafe { type_of(env, v) } {
        sys::ValueType::napi_undefined
        | sys::ValueType::napi_function
        | sys::ValueType::napi_symbol => Value::Undefined,
        sys::ValueType::napi_null => Value::Null,
        sys::ValueType::napi_boolean => {
            Value::Bool(unsafe { to_bool(env, v) }.map_err(|_| err(&path, "unreadable"))?)
        }
        sys::ValueType::napi_number => {
            Value::Number(unsafe { to_f64(env, v) }.map_err(|_| err(&path, "unreadable"))?)
        }
        sys::ValueType::napi_string => {
            Value::String(unsafe { to_rust_string(env, v) }.map_err(|_| err(&path, "unreadable"))?)
        }
        sys::ValueType::napi_bigint => return Err(err(&path, "BigInt values cannot be copied")),
        sys::ValueType::napi_object => {
            if depth >= MAX_DEPTH {
                return Err(err(
                    &path,
                    &format!("nested deeper than {MAX_DEPTH} levels"),
                ));
            }
            for a in ancestors.iter() {
                let mut same = false;
                unsafe { sys::napi_strict_equals(env, *a, v, &raw mut same) };
                if same {
                    return Err(err(&path, "cyclic reference"));
                }
            }
            let mut is_date = false;
            unsafe { sys::napi_is_date(env, v, &raw mut is_date) };
            if is_date {
                let mut ms = 0.0;
                unsafe { sys::napi_get_date_value(env, v, &raw mut ms) };
                return Ok(Value::Date(ms));
            }
            ancestors.push(v);
            let mut is_array = false;
            unsafe { sys::napi_is_array(env, v, &raw mut is_array) };
            let out = if is_array {
                let mut len = 0u32;
                unsafe { sys::napi_get_array_length(env, v, &raw mut len) };
                let mut items = Vec::with_capacity(len.min(1 << 16) as usize);
                for i in 0..len {
                    let mut item = ptr::null_mut();
                    if unsafe { sys::napi_get_element(env, v, i, &raw mut item) }
                        != sys::Status::napi_ok
                    {
                        unsafe { clear_exception(env) };
                        return Err(err(&format!("{path}[{i}]"), "reading it threw"));
                    }
                    let t = unsafe { type_of(env, item) };
                    items.push(
                        if t == sys::ValueType::napi_function || t == sys::ValueType::napi_symbol {
                            Value::Null
                        } else {
                            unsafe {
                                from_rec(env, item, format!("{path}[{i}]"), depth + 1, ancestors)?
                            }
                        },
                    );
                }
                Value::Array(items)
            } else {
                let Ok(keys) = (unsafe { own_keys(env, v) }) else {
                    unsafe { clear_exception(env) };
                    return Err(err(&path, "its keys cannot be listed"));
                };
                let mut props = Vec::with_capacity(keys.len());
                for (key, k) in keys {
                    let mut item = ptr::null_mut();
                    if unsafe { sys::napi_get_property(env, v, k, &raw mut item) }
                        != sys::Status::napi_ok
                    {
                        unsafe { clear_exception(env) };
                        return Err(err(&push_path(&path, &key), "reading it threw"));
                    }
                    let t = unsafe { type_of(env, item) };
                    if t == sys::ValueType::napi_function || t == sys::ValueType::napi_symbol {
                        continue;
                    }
                    let child = unsafe {
                        from_rec(env, item, push_path(&path, &key), depth + 1, ancestors)?
                    };
                    props.push((key, child));
                }
                Value::Object(props)
            };
            ancestors.pop();
            out
        }
        _ => return Err(err(&path, "this kind of value cannot be copied")),
    })
}

/// Builds a fresh Node value from a copy.
pub(crate) unsafe fn to_node(env: Env, v: &Value) -> R<Raw> {
    Ok(match v {
        Value::Undefined => unsafe { undefined(env) },
        Value::Null => unsafe { null(env) },
        Value::Bool(b) => unsafe { boolean(env, *b)? },
        Value::Number(n) => unsafe { number(env, *n)? },
        Value::String(s) => unsafe { string(env, s)? },
        Value::Date(ms) => {
            let mut out = ptr::null_mut();
            ok(unsafe { sys::napi_create_date(env, *ms, &raw mut out) })?;
            out
        }
        Value::Array(items) => {
            let mut arr = ptr::null_mut();
            ok(unsafe { sys::napi_create_array_with_length(env, items.len(), &raw mut arr) })?;
            for (i, item) in items.iter().enumerate() {
                let x = unsafe { to_node(env, item)? };
                ok(unsafe {
                    sys::napi_set_element(env, arr, u32::try_from(i).unwrap_or(u32::MAX), x)
                })?;
            }
            arr
        }
        Value::Object(props) => {
            let obj = unsafe { object(env)? };
            for (k, item) in props {
                let key = unsafe { string(env, k)? };
                let x = unsafe { to_node(env, item)? };
                unsafe { define(env, obj, key, x)? };
            }
            obj
        }
    })
}
