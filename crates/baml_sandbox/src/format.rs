//! Node-style formatting for `console` (`util.format` and a one-line `util.inspect`).

use rquickjs::{qjs, Atom, Ctx, Function, Object, Type, Value as JsValue};

use crate::convert::{array_len, key_text, string_prop, text};
use crate::throw::is_uncatchable;

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
