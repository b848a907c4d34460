//! Copying values across the sandbox boundary.

use rquickjs::{object::Property, qjs, Array, Atom, Ctx, Object, Type, Value as JsValue};

use crate::sandbox::Signals;
use crate::value::{over_deep, push_path, Value, MAX_DEPTH};

/// Why a value could not be copied out of the sandbox.
pub(crate) enum CopyError {
    /// The value's shape cannot be copied (cycle, BigInt, too deep).
    Shape { path: String, reason: String },
    /// The copy would take more than its byte budget (a limit, so a `RangeError` to callers).
    Size { path: String, reason: String },
    /// Sandboxed code (a getter or a Proxy trap) threw while the value was read; the exception
    /// is pending on the context.
    Thrown,
    /// The copy took past the deadline (or the evaluation was stopped): it was abandoned, as
    /// running bytecode would have been interrupted.
    Interrupted,
    /// The turn's stack budget ran out (getters re-entering natives that copy).
    Stack,
}

impl From<rquickjs::Error> for CopyError {
    fn from(e: rquickjs::Error) -> Self {
        match e {
            rquickjs::Error::Exception => CopyError::Thrown,
            // Not an exception (none is pending): reported as what it is, since catching
            // would find nothing and report `undefined` as the thrown value.
            other => CopyError::Shape {
                path: String::new(),
                reason: format!("it cannot be read: {other}"),
            },
        }
    }
}

/// A JavaScript string as Rust text, in full: NUL characters are kept, and a lone surrogate
/// (which JavaScript strings may hold and UTF-8 cannot) becomes U+FFFD, as Node's UTF-8
/// encoding does. rquickjs's own conversions refuse such strings, and cut property names at
/// the first NUL.
pub(crate) fn text(s: &rquickjs::String<'_>) -> rquickjs::Result<String> {
    let ctx = s.ctx().as_raw().as_ptr();
    let mut len = 0usize;
    let ptr = unsafe { qjs::JS_ToCStringLen(ctx, &raw mut len, s.as_raw()) };
    if ptr.is_null() {
        // Out of memory; the exception is pending.
        return Err(rquickjs::Error::Exception);
    }
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    let out = from_wtf8(bytes);
    unsafe { qjs::JS_FreeCString(ctx, ptr) };
    Ok(out)
}

/// QuickJS writes a string as UTF-8, except that a lone surrogate is written as the three
/// bytes UTF-8 would give its code point (`ED A0..BF 80..BF`). Each of those becomes U+FFFD.
fn from_wtf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (valid, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{fffd}');
                let skip = match bad {
                    [0xED, 0xA0..=0xBF, 0x80..=0xBF, ..] => 3,
                    _ => e.error_len().unwrap_or(bad.len()),
                };
                rest = &bad[skip..];
            }
        }
    }
}

/// A property's name as Rust text (see `text`).
pub(crate) fn key_text(key: &Atom<'_>) -> rquickjs::Result<String> {
    text(&key.to_js_string()?)
}

/// A property read as text, if it is a string (a getter may run; a throw reads as `None`).
pub(crate) fn string_prop(obj: &Object<'_>, key: &str) -> Option<String> {
    let v: JsValue = obj.get(key).ok()?;
    v.as_string().and_then(|s| text(s).ok())
}

impl CopyError {
    /// The same error seen from the parent value: `segment` goes in front of the path.
    pub(crate) fn under(self, segment: &str) -> Self {
        match self {
            CopyError::Shape { path, reason } => CopyError::Shape {
                path: format!("{segment}{path}"),
                reason,
            },
            CopyError::Size { path, reason } => CopyError::Size {
                path: format!("{segment}{path}"),
                reason,
            },
            other => other,
        }
    }
}

/// How many bytes a copy may take, for a sandbox with this memory limit. A tree the sandbox
/// can hold always fits (its copy is at most about three times its size in QuickJS); only
/// shared subtrees (`x = [x, x]` repeated) and sparse arrays (`a.length = 2 ** 32 - 1`) can
/// make a copy larger, and those are refused instead of exhausting the process's memory.
pub(crate) fn copy_budget(memory_limit: usize) -> usize {
    memory_limit.saturating_mul(4).max(1 << 20)
}

/// The length of an array, read without assuming it fits an `i32` (it can be up to 2^32 - 1).
pub(crate) fn array_len(obj: &Object<'_>) -> rquickjs::Result<u64> {
    let len: JsValue = obj.get("length")?;
    let n = len.as_number().unwrap_or(0.0);
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "an array length is an integer in [0, 2^32)"
    )]
    Ok(if n.is_finite() && n > 0.0 {
        n as u64
    } else {
        0
    })
}

pub(crate) struct Copier<'a, 'js> {
    pub(crate) ancestors: Vec<Object<'js>>,
    /// Bytes the copy may still take.
    left: usize,
    budget: usize,
    signals: &'a Signals,
    /// Values copied, including those of earlier copies in the same group (one call's
    /// arguments): at most `MAX_COPY_VALUES`.
    pub(crate) visited: usize,
    /// What the bound applies to, for its message ("the copy", "the arguments together").
    pub(crate) whole: &'static str,
}

impl Copier<'_, '_> {
    /// Called for every value: a large copy checks the interrupt handler's conditions (so it
    /// stops at the deadline, and moves off the embedder's thread when the slice ends) as
    /// running bytecode would.
    pub(crate) fn tick(&mut self) -> Result<(), CopyError> {
        self.visited = self.visited.saturating_add(1);
        if self.visited > crate::value::MAX_COPY_VALUES {
            return Err(CopyError::Size {
                path: String::new(),
                reason: format!(
                    "{} would hold more than {} values (the most one copy between the sandbox and Node may hold)",
                    self.whole,
                    crate::value::MAX_COPY_VALUES
                ),
            });
        }
        if self.visited.is_multiple_of(1024) && self.signals.should_interrupt() {
            return Err(CopyError::Interrupted);
        }
        Ok(())
    }

    pub(crate) fn charge(&mut self, bytes: u64) -> Result<(), CopyError> {
        match usize::try_from(bytes) {
            Ok(b) if b <= self.left => {
                self.left -= b;
                Ok(())
            }
            _ => Err(CopyError::Size {
                path: String::new(),
                reason: format!("the copy would take more than {} bytes", self.budget),
            }),
        }
    }
}

/// Values counted against `MAX_COPY_VALUES` by the copies of one group.
pub(crate) struct ValueCount {
    pub(crate) used: usize,
    /// The group, as the refusal names it.
    pub(crate) whole: &'static str,
}

impl ValueCount {
    pub(crate) fn new(whole: &'static str) -> ValueCount {
        ValueCount { used: 0, whole }
    }
}

pub(crate) const VALUE_BYTES: u64 = std::mem::size_of::<Value>() as u64;
const PROP_BYTES: u64 = std::mem::size_of::<(String, Value)>() as u64;

/// Copies a sandbox value out, with JSON's rules for functions and symbols and the extra
/// types SPEC.md keeps (`undefined`, NaN and the infinities, `Date`), plus the
/// structured-clone kinds and refusals of `clone.rs`. The copy may take at
/// most `budget` bytes (see `copy_budget`), and hold at most `MAX_COPY_VALUES` values with
/// the values copied before it in the same group (`values`, counted up here).
pub(crate) fn copy_out(
    value: &JsValue<'_>,
    root: &str,
    budget: usize,
    signals: &Signals,
    values: &mut ValueCount,
) -> Result<Value, CopyError> {
    let _scope = crate::stack::CopyScope::enter();
    let mut copier = Copier {
        ancestors: Vec::new(),
        left: budget,
        budget,
        signals,
        visited: values.used,
        whole: values.whole,
    };
    let out = copier
        .charge(VALUE_BYTES)
        .and_then(|()| copy_rec(value, 0, &mut copier))
        .map_err(|e| e.under(root));
    values.used = copier.visited;
    out
}

/// Copies one value. Shape errors carry the path below `value` (the caller prepends).
pub(crate) fn copy_rec<'js>(
    value: &JsValue<'js>,
    depth: usize,
    copier: &mut Copier<'_, 'js>,
) -> Result<Value, CopyError> {
    copier.tick()?;
    if crate::stack::exhausted() {
        return Err(CopyError::Stack);
    }
    let shape = |reason: &str| CopyError::Shape {
        path: String::new(),
        reason: reason.to_owned(),
    };
    Ok(match value.type_of() {
        Type::Uninitialized
        | Type::Undefined
        | Type::Function
        | Type::Constructor
        | Type::Symbol => Value::Undefined,
        Type::Null => Value::Null,
        Type::Bool => Value::Bool(value.as_bool().unwrap_or(false)),
        Type::Int => Value::Number(f64::from(value.as_int().unwrap_or(0))),
        Type::Float => Value::Number(value.as_float().unwrap_or(f64::NAN)),
        Type::String => {
            let s = match value.as_string() {
                Some(s) => text(s)?,
                None => String::new(),
            };
            copier.charge(s.len() as u64)?;
            Value::String(s)
        }
        Type::BigInt => return Err(shape("BigInt values cannot be copied")),
        Type::Module | Type::Unknown => return Err(shape("this kind of value cannot be copied")),
        Type::Promise => return Err(shape("cannot be copied: a Promise (await it first)")),
        Type::Array | Type::Object | Type::Exception | Type::Proxy => {
            let Some(obj) = value.as_object() else {
                return Ok(Value::Undefined);
            };
            if depth >= MAX_DEPTH {
                return Err(shape(&format!("nested deeper than {MAX_DEPTH} levels")));
            }
            if copier.ancestors.iter().any(|a| a == obj) {
                return Err(shape("cyclic reference"));
            }
            if unsafe { qjs::JS_IsDate(value.as_raw()) } {
                // Sandboxed code may have replaced `getTime`: whatever is not a number reads
                // as an invalid date.
                let ms = crate::stack::beyond_copy(obj.ctx(), || -> rquickjs::Result<f64> {
                    let get_time: JsValue = obj.get("getTime")?;
                    Ok(match get_time.as_function() {
                        Some(f) => f
                            .call::<_, JsValue>((rquickjs::function::This(obj.clone()),))?
                            .as_number()
                            .unwrap_or(f64::NAN),
                        None => f64::NAN,
                    })
                })?;
                return Ok(Value::Date(ms));
            }
            if let Some(out) = crate::clone::copy_kind(obj, depth, copier)? {
                return Ok(out);
            }
            copier.ancestors.push(obj.clone());
            let out = if obj.as_array().is_some() {
                copy_array(obj, depth, copier)?
            } else {
                let mut props = Vec::new();
                for atom in obj.keys::<Atom>() {
                    let atom = atom?;
                    let key = key_text(&atom)?;
                    let v: JsValue = obj.get(atom)?;
                    if matches!(
                        v.type_of(),
                        Type::Function | Type::Constructor | Type::Symbol
                    ) {
                        continue;
                    }
                    copier.charge(PROP_BYTES + key.len() as u64)?;
                    let child = copy_rec(&v, depth + 1, copier)
                        .map_err(|e| e.under(&push_path("", &key)))?;
                    props.push((key, child));
                }
                Value::Object(props)
            };
            copier.ancestors.pop();
            out
        }
    })
}

fn copy_array<'js>(
    arr: &Object<'js>,
    depth: usize,
    copier: &mut Copier<'_, 'js>,
) -> Result<Value, CopyError> {
    let len = array_len(arr)?;
    // Every element takes a slot, holes included: charge them all before reading any.
    copier.charge(len.saturating_mul(VALUE_BYTES))?;
    let mut items = Vec::with_capacity(len.min(1 << 16) as usize);
    for i in 0..len {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "array indices are below 2^32"
        )]
        let v: JsValue = arr.get(i as u32)?;
        let item = if matches!(
            v.type_of(),
            Type::Function | Type::Constructor | Type::Symbol
        ) {
            Value::Null
        } else {
            copy_rec(&v, depth + 1, copier).map_err(|e| e.under(&format!("[{i}]")))?
        };
        items.push(item);
    }
    Ok(Value::Array(items))
}

/// Why a value could not be copied into the sandbox.
pub(crate) enum InError {
    /// Nested deeper than `MAX_DEPTH`, at this path below the value.
    TooDeep(String),
    /// QuickJS ran out of memory; the exception is pending.
    Js(rquickjs::Error),
}

/// Why the value at `root` (a global, a host function's result) was refused: its value at
/// `path` below is nested too deep. The napi layer words its own refusals the same way.
pub(crate) fn too_deep_message(root: &str, path: &str) -> String {
    format!("{root}{path} cannot be copied into the sandbox: nested deeper than {MAX_DEPTH} levels")
}

/// Builds a fresh sandbox value from a copy that sits `depth` levels down in what sandboxed
/// code will see. Object keys are defined as own data properties, so a `__proto__` key stays
/// an ordinary key and never reaches a prototype. A tree nested deeper than `MAX_DEPTH` is
/// refused before anything is built, as it would be on the way out.
pub(crate) fn copy_in<'js>(
    ctx: &Ctx<'js>,
    value: &Value,
    depth: usize,
) -> Result<JsValue<'js>, InError> {
    if let Some(path) = over_deep(value, depth) {
        return Err(InError::TooDeep(path));
    }
    let _scope = crate::stack::CopyScope::enter();
    build(ctx, value).map_err(InError::Js)
}

/// Builds a value already known to nest at most `MAX_DEPTH` deep (so this recursion is bounded).
fn build<'js>(ctx: &Ctx<'js>, value: &Value) -> rquickjs::Result<JsValue<'js>> {
    if crate::stack::exhausted() {
        return Err(crate::throw::throw_stack_overflow(ctx));
    }
    Ok(match value {
        Value::Undefined => JsValue::new_undefined(ctx.clone()),
        Value::Null => JsValue::new_null(ctx.clone()),
        Value::Bool(b) => JsValue::new_bool(ctx.clone(), *b),
        Value::Number(n) => JsValue::new_number(ctx.clone(), *n),
        Value::String(s) => rquickjs::String::from_str(ctx.clone(), s)?.into_value(),
        Value::Array(items) => {
            let arr = Array::new(ctx.clone())?;
            for (i, item) in items.iter().enumerate() {
                arr.set(i, build(ctx, item)?)?;
            }
            arr.into_value()
        }
        Value::Object(props) => {
            let obj = Object::new(ctx.clone())?;
            for (k, v) in props {
                obj.prop(
                    k.as_str(),
                    Property::from(build(ctx, v)?)
                        .writable()
                        .enumerable()
                        .configurable(),
                )?;
            }
            obj.into_value()
        }
        Value::Date(ms) => {
            // `Date` is created on first use (`intrinsics.rs`): a date copied in needs its
            // prototype.
            // SAFETY: the context this thread holds.
            let raw_ctx = ctx.as_raw().as_ptr();
            if !unsafe { crate::intrinsics::create_for_copy(raw_ctx, crate::intrinsics::DATE) } {
                return Err(if unsafe { qjs::JS_HasException(raw_ctx) } {
                    rquickjs::Error::Exception
                } else {
                    crate::throw::throw(ctx, crate::throw::ErrorKind::Type, "cannot create Date")
                });
            }
            let raw = unsafe { qjs::JS_NewDate(ctx.as_raw().as_ptr(), *ms) };
            let v = unsafe { JsValue::from_raw(ctx.clone(), raw) };
            if v.is_exception() {
                return Err(rquickjs::Error::Exception);
            }
            v
        }
        Value::Map(_)
        | Value::Set(_)
        | Value::ArrayBuffer(_)
        | Value::TypedArray { .. }
        | Value::RegExp(_)
        | Value::Error(_) => crate::clone::build_kind(ctx, value, build)?,
    })
}
