//! Copying values between Node and `baml_sandbox::Value`, with the same rules both ways:
//! JSON's shapes plus `undefined`, NaN, the infinities and `Date`; cycles, BigInt and values
//! nested deeper than `MAX_DEPTH` are refused with the path that caused it.
//!
//! A copy from Node is bounded like a copy out of the sandbox: it may take at most the
//! sandbox's copy budget (`baml_sandbox::copy_budget`, four times its memory limit), charged
//! before anything is allocated. An array's slots are charged from its `length` before any is
//! read, so a sparse array of length 2^32 - 1 is refused at once instead of being walked.

use baml_sandbox::{push_path, Value, MAX_DEPTH};

use crate::errors::failure;
use napi::bindgen_prelude::*;
use napi::{JsDate, JsString, KeyCollectionMode, KeyConversion, KeyFilter};

/// Why a Node value could not be copied.
pub(crate) struct CopyError {
    pub path: String,
    pub reason: String,
}

const VALUE_BYTES: u64 = std::mem::size_of::<Value>() as u64;
const PROP_BYTES: u64 = std::mem::size_of::<(String, Value)>() as u64;

struct Copier<'env> {
    env: &'env Env,
    ancestors: Vec<Object<'env>>,
    left: u64,
    budget: u64,
    /// No string longer than this can fit in the sandbox at all.
    longest: u64,
}

fn fail(path: &str, reason: impl Into<String>) -> CopyError {
    CopyError {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

impl Copier<'_> {
    fn charge(&mut self, path: &str, bytes: u64) -> std::result::Result<(), CopyError> {
        if bytes > self.left {
            return Err(fail(
                path,
                format!(
                    "the copy would take more than {} bytes (4 times the sandbox's memory limit)",
                    self.budget
                ),
            ));
        }
        self.left -= bytes;
        Ok(())
    }
}

/// Copies a Node value (globals, host-function results) into a `Value` for a sandbox with
/// memory limit `limit`: at most its copy budget in all (see the module docs), and no string
/// longer than the limit itself (measured before it is copied).
pub(crate) fn from_node<'env>(
    env: &'env Env,
    v: &Unknown<'env>,
    path: &str,
    limit: usize,
) -> std::result::Result<Value, CopyError> {
    let budget = baml_sandbox::copy_budget(limit) as u64;
    let mut copier = Copier {
        env,
        ancestors: Vec::new(),
        left: budget,
        budget,
        longest: limit as u64,
    };
    copier.charge(path, VALUE_BYTES)?;
    from_rec(&mut copier, v, path, 0)
}

fn text(s: JsString<'_>) -> Result<String> {
    s.into_utf8()?.into_owned()
}

fn skipped(t: ValueType) -> bool {
    matches!(t, ValueType::Function | ValueType::Symbol)
}

fn from_rec<'env>(
    copier: &mut Copier<'env>,
    v: &Unknown<'env>,
    path: &str,
    depth: usize,
) -> std::result::Result<Value, CopyError> {
    let env = copier.env;
    let unreadable = |e: Error| fail(path, format!("it cannot be read: {}", failure(env, &e)));
    let t = v.get_type().map_err(unreadable)?;
    Ok(match t {
        ValueType::Undefined | ValueType::Function | ValueType::Symbol => Value::Undefined,
        ValueType::Null => Value::Null,
        ValueType::Boolean => Value::Bool(v.coerce_to_bool().map_err(unreadable)?),
        ValueType::Number => Value::Number(
            v.coerce_to_number()
                .and_then(|n| n.get_double())
                .map_err(unreadable)?,
        ),
        ValueType::String => {
            let js = v.coerce_to_string().map_err(unreadable)?;
            // Its length in UTF-16 units (known at once) is a lower bound of its UTF-8 bytes
            // (which take a pass over the string): refuse a huge string without that pass.
            let units = js.utf16_len().map_err(unreadable)? as u64;
            let len = if units > copier.longest {
                units
            } else {
                js.utf8_len().map_err(unreadable)? as u64
            };
            if len > copier.longest {
                return Err(fail(
                    path,
                    format!(
                        "a string of {len} bytes does not fit in the sandbox's memory limit of {} bytes",
                        copier.longest
                    ),
                ));
            }
            copier.charge(path, len)?;
            Value::String(text(js).map_err(unreadable)?)
        }
        ValueType::BigInt => return Err(fail(path, "BigInt values cannot be copied")),
        ValueType::Object => {
            if depth >= MAX_DEPTH {
                return Err(fail(path, format!("nested deeper than {MAX_DEPTH} levels")));
            }
            let obj = v.coerce_to_object().map_err(unreadable)?;
            for a in &copier.ancestors {
                if copier.env.strict_equals(*a, obj).map_err(unreadable)? {
                    return Err(fail(path, "cyclic reference"));
                }
            }
            if v.is_date().map_err(unreadable)? {
                // SAFETY-free: the value was just checked to be a Date.
                let date = JsDate::from_unknown(*v).map_err(unreadable)?;
                return Ok(Value::Date(date.value_of().map_err(unreadable)?));
            }
            copier.ancestors.push(obj);
            let out = if v.is_array().map_err(unreadable)? {
                copy_array(copier, &obj, path, depth)?
            } else {
                copy_object(copier, &obj, path, depth)?
            };
            copier.ancestors.pop();
            out
        }
        _ => return Err(fail(path, "this kind of value cannot be copied")),
    })
}

fn copy_array<'env>(
    copier: &mut Copier<'env>,
    arr: &Object<'env>,
    path: &str,
    depth: usize,
) -> std::result::Result<Value, CopyError> {
    let len = arr.get_array_length().map_err(|e| {
        fail(
            path,
            format!("its length cannot be read: {}", failure(copier.env, &e)),
        )
    })?;
    // Every element takes a slot, holes included: charge them all before reading any.
    copier.charge(path, u64::from(len) * VALUE_BYTES)?;
    let mut items = Vec::with_capacity(len.min(1 << 16) as usize);
    for i in 0..len {
        let item_path = format!("{path}[{i}]");
        let item: Unknown = arr.get_element(i).map_err(|e| {
            fail(
                &item_path,
                format!("reading it threw: {}", failure(copier.env, &e)),
            )
        })?;
        let t = item
            .get_type()
            .map_err(|e| fail(&item_path, failure(copier.env, &e)))?;
        items.push(if skipped(t) {
            Value::Null
        } else {
            from_rec(copier, &item, &item_path, depth + 1)?
        });
    }
    Ok(Value::Array(items))
}

fn copy_object<'env>(
    copier: &mut Copier<'env>,
    obj: &Object<'env>,
    path: &str,
    depth: usize,
) -> std::result::Result<Value, CopyError> {
    let keys = obj
        .get_all_property_names(
            KeyCollectionMode::OwnOnly,
            KeyFilter::Enumerable,
            KeyConversion::NumbersToStrings,
        )
        .map_err(|e| {
            fail(
                path,
                format!("its keys cannot be listed: {}", failure(copier.env, &e)),
            )
        })?;
    let count = keys
        .get_array_length()
        .map_err(|e| fail(path, failure(copier.env, &e)))?;
    copier.charge(path, u64::from(count) * PROP_BYTES)?;
    let mut props = Vec::with_capacity(count.min(1 << 16) as usize);
    for i in 0..count {
        let key: Unknown = keys
            .get_element(i)
            .map_err(|e| fail(path, failure(copier.env, &e)))?;
        if key
            .get_type()
            .map_err(|e| fail(path, failure(copier.env, &e)))?
            != ValueType::String
        {
            continue; // a symbol
        }
        let key = key
            .coerce_to_string()
            .map_err(|e| fail(path, failure(copier.env, &e)))?;
        let name = text(key).map_err(|e| fail(path, failure(copier.env, &e)))?;
        let item_path = push_path(path, &name);
        copier.charge(&item_path, name.len() as u64)?;
        let item: Unknown = obj.get_property(key).map_err(|e| {
            fail(
                &item_path,
                format!("reading it threw: {}", failure(copier.env, &e)),
            )
        })?;
        let t = item
            .get_type()
            .map_err(|e| fail(&item_path, failure(copier.env, &e)))?;
        if skipped(t) {
            continue;
        }
        let child = from_rec(copier, &item, &item_path, depth + 1)?;
        props.push((name, child));
    }
    Ok(Value::Object(props))
}

/// Builds a fresh Node value from a copy. Object keys are defined as own data properties, so
/// `__proto__` stays an ordinary key.
pub(crate) fn to_node<'env>(env: &'env Env, v: &Value) -> Result<Unknown<'env>> {
    Ok(match v {
        Value::Undefined => ().into_unknown(env)?,
        Value::Null => Null.into_unknown(env)?,
        Value::Bool(b) => b.into_unknown(env)?,
        Value::Number(n) => n.into_unknown(env)?,
        Value::String(s) => s.as_str().into_unknown(env)?,
        Value::Date(ms) => env.create_date(*ms)?.to_unknown(),
        Value::Array(items) => {
            let mut arr = env.create_array(u32::try_from(items.len()).unwrap_or(u32::MAX))?;
            for (i, item) in items.iter().enumerate() {
                arr.set(u32::try_from(i).unwrap_or(u32::MAX), to_node(env, item)?)?;
            }
            arr.to_unknown()
        }
        Value::Object(props) => {
            let mut obj = Object::new(env)?;
            for (k, item) in props {
                let value = to_node(env, item)?;
                obj.define_properties(&[Property::new()
                    .with_utf8_name(k)?
                    .with_value(&value)
                    .with_property_attributes(
                        PropertyAttributes::Writable
                            | PropertyAttributes::Enumerable
                            | PropertyAttributes::Configurable,
                    )])?;
            }
            obj.to_unknown()
        }
    })
}
