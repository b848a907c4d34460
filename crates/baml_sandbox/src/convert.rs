//! Copying values across the sandbox boundary, and Node-style formatting for `console`.

use rquickjs::{object::Property, qjs, Array, Atom, Ctx, Function, Object, Type, Value as JsValue};

use crate::sandbox::Signals;
use crate::value::{over_deep, push_path, Value, MAX_DEPTH};

/// Why a value could not be copied out of the sandbox.
pub(crate) enum CopyError {
    /// The value's shape cannot be copied (cycle, BigInt, too deep, too large).
    Shape { path: String, reason: String },
    /// Sandboxed code (a getter or a Proxy trap) threw while the value was read; the exception
    /// is pending on the context.
    Thrown,
    /// The copy took past the deadline (or the evaluation was stopped): it was abandoned, as
    /// running bytecode would have been interrupted.
    Interrupted,
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
fn key_text(key: &Atom<'_>) -> rquickjs::Result<String> {
    text(&key.to_js_string()?)
}

/// A property read as text, if it is a string (a getter may run; a throw reads as `None`).
pub(crate) fn string_prop(obj: &Object<'_>, key: &str) -> Option<String> {
    let v: JsValue = obj.get(key).ok()?;
    v.as_string().and_then(|s| text(s).ok())
}

impl CopyError {
    /// The same error seen from the parent value: `segment` goes in front of the path.
    fn under(self, segment: &str) -> Self {
        match self {
            CopyError::Shape { path, reason } => CopyError::Shape {
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
fn array_len(obj: &Object<'_>) -> rquickjs::Result<u64> {
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

struct Copier<'a, 'js> {
    ancestors: Vec<Object<'js>>,
    /// Bytes the copy may still take.
    left: usize,
    budget: usize,
    signals: &'a Signals,
    visited: u32,
}

impl Copier<'_, '_> {
    /// Called for every value: a large copy checks the interrupt handler's conditions (so it
    /// stops at the deadline, and moves off the embedder's thread when the slice ends) as
    /// running bytecode would.
    fn tick(&mut self) -> Result<(), CopyError> {
        self.visited = self.visited.wrapping_add(1);
        if self.visited.is_multiple_of(1024) && self.signals.should_interrupt() {
            return Err(CopyError::Interrupted);
        }
        Ok(())
    }

    fn charge(&mut self, bytes: u64) -> Result<(), CopyError> {
        match usize::try_from(bytes) {
            Ok(b) if b <= self.left => {
                self.left -= b;
                Ok(())
            }
            _ => Err(CopyError::Shape {
                path: String::new(),
                reason: format!(
                    "the copy would take more than {} bytes (4 times the memory limit)",
                    self.budget
                ),
            }),
        }
    }
}

const VALUE_BYTES: u64 = std::mem::size_of::<Value>() as u64;
const PROP_BYTES: u64 = std::mem::size_of::<(String, Value)>() as u64;

/// Copies a sandbox value out, with JSON's rules for functions and symbols and the extra
/// types SPEC.md keeps (`undefined`, NaN and the infinities, `Date`). The copy may take at
/// most `budget` bytes (see `copy_budget`).
pub(crate) fn copy_out(
    value: &JsValue<'_>,
    root: &str,
    budget: usize,
    signals: &Signals,
) -> Result<Value, CopyError> {
    let mut copier = Copier {
        ancestors: Vec::new(),
        left: budget,
        budget,
        signals,
        visited: 0,
    };
    copier
        .charge(VALUE_BYTES)
        .and_then(|()| copy_rec(value, 0, &mut copier))
        .map_err(|e| e.under(root))
}

/// Copies one value. Shape errors carry the path below `value` (the caller prepends).
fn copy_rec<'js>(
    value: &JsValue<'js>,
    depth: usize,
    copier: &mut Copier<'_, 'js>,
) -> Result<Value, CopyError> {
    copier.tick()?;
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
        Type::Array | Type::Object | Type::Promise | Type::Exception | Type::Proxy => {
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
                let get_time: JsValue = obj.get("getTime")?;
                let ms = match get_time.as_function() {
                    Some(f) => f
                        .call::<_, JsValue>((rquickjs::function::This(obj.clone()),))?
                        .as_number()
                        .unwrap_or(f64::NAN),
                    None => f64::NAN,
                };
                return Ok(Value::Date(ms));
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
    build(ctx, value).map_err(InError::Js)
}

/// Builds a value already known to nest at most `MAX_DEPTH` deep (so this recursion is bounded).
fn build<'js>(ctx: &Ctx<'js>, value: &Value) -> rquickjs::Result<JsValue<'js>> {
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
            let raw = unsafe { qjs::JS_NewDate(ctx.as_raw().as_ptr(), *ms) };
            let v = unsafe { JsValue::from_raw(ctx.clone(), raw) };
            if v.is_exception() {
                return Err(rquickjs::Error::Exception);
            }
            v
        }
    })
}

/// Whether `v` is the uncatchable error the interrupt handler stops running code with.
pub(crate) fn is_uncatchable(v: &JsValue<'_>) -> bool {
    unsafe { qjs::JS_IsUncatchableError(v.as_raw()) }
}

/// Formats `console.*` arguments the way Node's `console` does for strings, numbers and
/// JSON-able objects (`util.format`: `%s %d %i %f %j %o %O %c %%`, then the rest inspected),
/// on one line.
///
/// Formatting runs sandboxed code (getters, proxy traps, `toJSON`), which the interrupt
/// handler may stop. Whatever else such code throws is shown as a missing value, but that
/// stop is returned with the text formatted so far: `console.log` must rethrow it, or a loop
/// logging a slow getter would outlive its deadline, abort and dispose forever.
pub(crate) fn format_console<'js>(args: &[JsValue<'js>]) -> (String, Option<JsValue<'js>>) {
    let mut interrupted = None;
    let out = format_args(args, &mut interrupted);
    (out, interrupted)
}

/// A fresh `Seen` for one argument, which hands a stop it saw on to `interrupted`.
fn inspect_arg<'js>(
    arg: &JsValue<'js>,
    depth: usize,
    interrupted: &mut Option<JsValue<'js>>,
) -> String {
    if interrupted.is_some() {
        return "...".into();
    }
    let mut seen = Seen::default();
    let out = inspect(arg, depth, &mut seen);
    if interrupted.is_none() {
        *interrupted = seen.interrupted;
    }
    out
}

fn format_args<'js>(args: &[JsValue<'js>], interrupted: &mut Option<JsValue<'js>>) -> String {
    let mut out = String::new();
    let mut rest = args;
    if let Some(first) = args.first() {
        if let Some(fmt) = first.as_string().and_then(|s| text(s).ok()) {
            rest = &args[1..];
            let mut chars = fmt.chars().peekable();
            while let Some(c) = chars.next() {
                if c != '%' {
                    out.push(c);
                    continue;
                }
                let Some(&spec) = chars.peek() else {
                    out.push('%');
                    break;
                };
                if spec == '%' {
                    chars.next();
                    out.push('%');
                    continue;
                }
                if !matches!(spec, 's' | 'd' | 'i' | 'f' | 'j' | 'o' | 'O' | 'c') || rest.is_empty()
                {
                    out.push('%');
                    continue;
                }
                chars.next();
                let arg = &rest[0];
                rest = &rest[1..];
                match spec {
                    's' => match arg.as_string() {
                        Some(s) => out.push_str(&text(s).unwrap_or_default()),
                        None => out.push_str(&inspect_arg(arg, 1, interrupted)),
                    },
                    'd' | 'i' => {
                        let n = number_of(arg);
                        let n = if spec == 'i' { n.trunc() } else { n };
                        out.push_str(&fmt_number(n));
                    }
                    'f' => out.push_str(&fmt_number(number_of(arg))),
                    'j' => out.push_str(&json_of(arg, interrupted)),
                    'c' => {}
                    _ => out.push_str(&inspect_arg(arg, 0, interrupted)),
                }
            }
        }
    }
    for (i, arg) in rest.iter().enumerate() {
        if i > 0 || !out.is_empty() || args.len() != rest.len() {
            out.push(' ');
        }
        match arg.as_string() {
            Some(s) => out.push_str(&text(s).unwrap_or_default()),
            None => out.push_str(&inspect_arg(arg, 0, interrupted)),
        }
    }
    out
}

fn number_of(v: &JsValue<'_>) -> f64 {
    if let Some(n) = v.as_number() {
        return n;
    }
    v.as_string()
        .and_then(|s| text(s).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

/// Values `%j` serializes at most; past that, the argument is shown as `%o` shows it.
///
/// QuickJS's `JSON.stringify` never consults the interrupt handler, and once its output buffer
/// fails (out of memory) it keeps walking without writing: `x = [x, x]` repeated 40 times would
/// hold the thread for hours, past any deadline. An identity replacer makes it call us once per
/// value, which counts them, and lets QuickJS check the interrupt handler on the way.
const JSON_BUDGET: usize = 1_000_000;

fn json_of<'js>(v: &JsValue<'js>, interrupted: &mut Option<JsValue<'js>>) -> String {
    if interrupted.is_some() {
        return "...".into();
    }
    let ctx = v.ctx();
    let left = std::rc::Rc::new(std::cell::Cell::new(JSON_BUDGET));
    let count = left.clone();
    let replacer = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, _key: JsValue<'js>, value: JsValue<'js>| {
            if count.get() == 0 {
                return Err(rquickjs::Exception::throw_range(&ctx, "too large for %j"));
            }
            count.set(count.get() - 1);
            Ok(value)
        },
    );
    let stringified = replacer.and_then(|r| ctx.json_stringify_replacer(v.clone(), r));
    match stringified {
        Ok(Some(s)) => text(&s).unwrap_or_default(),
        Ok(None) => "undefined".into(),
        Err(_) => {
            let exc = ctx.catch();
            if is_uncatchable(&exc) {
                *interrupted = Some(exc);
                "...".into()
            } else if left.get() == 0 {
                inspect_arg(v, 0, interrupted)
            } else {
                "[Circular]".into()
            }
        }
    }
}

/// JavaScript's Number-to-String for the common cases.
pub(crate) fn fmt_number(n: f64) -> String {
    if n.is_nan() {
        "NaN".into()
    } else if n.is_infinite() {
        if n > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else if n == 0.0 {
        if n.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        }
    } else if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{n:.0}")
    } else {
        let s = format!("{n}");
        if n.abs() >= 1e21 || (n.abs() < 1e-6) {
            // Rust prints these in full; JavaScript switches to exponent notation.
            let e = format!("{n:e}");
            match e.split_once('e') {
                Some((m, exp)) if exp.starts_with('-') => format!("{m}e{exp}"),
                Some((m, exp)) => format!("{m}e+{exp}"),
                None => e,
            }
        } else {
            s
        }
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn is_ident(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c == '_' || c == '$' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c == '$' || c.is_alphanumeric())
}

const INSPECT_DEPTH: usize = 2;
const INSPECT_ITEMS: usize = 100;
/// Values one `console` argument may show in all, so formatting stays cheap whatever is logged.
const INSPECT_BUDGET: usize = 10_000;

/// What `inspect` has on its path (for cycles), how many values it may still show, and the
/// interrupt handler's stop if sandboxed code it ran was stopped (then it shows no more).
struct Seen<'js> {
    path: Vec<Object<'js>>,
    budget: usize,
    interrupted: Option<JsValue<'js>>,
}

impl Default for Seen<'_> {
    fn default() -> Self {
        Seen {
            path: Vec::new(),
            budget: INSPECT_BUDGET,
            interrupted: None,
        }
    }
}

impl<'js> Seen<'js> {
    /// Clears what sandboxed code threw (if anything), keeping the interrupt handler's stop.
    fn caught(&mut self, ctx: &Ctx<'js>) {
        let exc = ctx.catch();
        if is_uncatchable(&exc) && self.interrupted.is_none() {
            self.interrupted = Some(exc);
        }
    }
}

/// A one-line `util.inspect`.
#[expect(
    clippy::too_many_lines,
    reason = "one match over every value kind reads best whole"
)]
fn inspect<'js>(v: &JsValue<'js>, depth: usize, seen: &mut Seen<'js>) -> String {
    if seen.budget == 0 || seen.interrupted.is_some() {
        return "...".into();
    }
    seen.budget -= 1;
    let ctx = v.ctx();
    match v.type_of() {
        Type::Uninitialized | Type::Undefined => "undefined".into(),
        Type::Null => "null".into(),
        Type::Bool => v.as_bool().unwrap_or(false).to_string(),
        Type::Int => v.as_int().unwrap_or(0).to_string(),
        Type::Float => fmt_number(v.as_float().unwrap_or(f64::NAN)),
        Type::String => {
            let s = v.as_string().and_then(|s| text(s).ok()).unwrap_or_default();
            if depth == 0 {
                s
            } else {
                quote(&s)
            }
        }
        Type::Symbol => {
            let desc = v
                .as_symbol()
                .and_then(|s| s.description().ok())
                .and_then(|d| d.as_string().and_then(|s| text(s).ok()))
                .unwrap_or_default();
            format!("Symbol({desc})")
        }
        Type::BigInt => {
            let n = v.as_big_int().and_then(|b| b.clone().to_i64().ok());
            n.map_or_else(|| "[BigInt]".into(), |n| format!("{n}n"))
        }
        Type::Function | Type::Constructor => {
            let name = v
                .as_object()
                .and_then(|o| string_prop(o, "name"))
                .unwrap_or_default();
            seen.caught(ctx);
            if name.is_empty() {
                "[Function (anonymous)]".into()
            } else {
                format!("[Function: {name}]")
            }
        }
        Type::Module | Type::Unknown => "[unknown]".into(),
        Type::Array | Type::Object | Type::Promise | Type::Exception | Type::Proxy => {
            let Some(obj) = v.as_object() else {
                return "[object]".into();
            };
            if seen.path.iter().any(|s| s == obj) {
                return "[Circular *1]".into();
            }
            if unsafe { qjs::JS_IsDate(v.as_raw()) } {
                let iso = obj
                    .get::<_, Function>("toISOString")
                    .and_then(|f| f.call::<_, String>((rquickjs::function::This(obj.clone()),)));
                return iso.unwrap_or_else(|_| {
                    seen.caught(ctx);
                    "Invalid Date".into()
                });
            }
            if v.type_of() == Type::Exception {
                let stack = string_prop(obj, "stack");
                let name = string_prop(obj, "name").unwrap_or_else(|| "Error".into());
                let message = string_prop(obj, "message").unwrap_or_default();
                seen.caught(ctx);
                let head = if message.is_empty() {
                    name
                } else {
                    format!("{name}: {message}")
                };
                return match stack {
                    Some(s) if !s.is_empty() => format!("{head}\n{}", s.trim_end()),
                    _ => head,
                };
            }
            if v.type_of() == Type::Promise {
                return "Promise { <pending> }".into();
            }
            let is_array = obj.as_array().is_some();
            if depth > INSPECT_DEPTH {
                return if is_array {
                    "[Array]".into()
                } else {
                    "[Object]".into()
                };
            }
            seen.path.push(obj.clone());
            let mut parts = Vec::new();
            // Each read may run a getter or a trap: what it throws is cleared at once, so that
            // a stop is never overwritten by what the next one throws.
            let read = |seen: &mut Seen<'js>, got: rquickjs::Result<JsValue<'js>>| {
                got.unwrap_or_else(|_| {
                    seen.caught(ctx);
                    JsValue::new_undefined(ctx.clone())
                })
            };
            if is_array {
                let len = array_len(obj).unwrap_or_else(|_| {
                    seen.caught(ctx);
                    0
                });
                for i in 0..len.min(INSPECT_ITEMS as u64) {
                    #[expect(clippy::cast_possible_truncation, reason = "below INSPECT_ITEMS")]
                    let item = read(seen, obj.get(i as u32));
                    parts.push(inspect(&item, depth + 1, seen));
                }
                if len > INSPECT_ITEMS as u64 {
                    parts.push(format!("... {} more items", len - INSPECT_ITEMS as u64));
                }
            } else {
                for atom in obj.keys::<Atom>().take(INSPECT_ITEMS) {
                    let Ok(atom) = atom else {
                        seen.caught(ctx);
                        break;
                    };
                    let key = key_text(&atom).unwrap_or_default();
                    let item = read(seen, obj.get(atom));
                    let k = if is_ident(&key) { key } else { quote(&key) };
                    parts.push(format!("{k}: {}", inspect(&item, depth + 1, seen)));
                }
            }
            seen.path.pop();
            seen.caught(ctx);
            match (is_array, parts.is_empty()) {
                (true, true) => "[]".into(),
                (false, true) => "{}".into(),
                (true, false) => format!("[ {} ]", parts.join(", ")),
                (false, false) => format!("{{ {} }}", parts.join(", ")),
            }
        }
    }
}
