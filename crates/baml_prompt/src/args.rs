//! Function arguments: JSON from the caller checked and coerced to the parameter types, the
//! way BAML's generated clients do before rendering a prompt.

use std::fmt::Write as _;

use baml_ir::types::{Literal, Media};
use baml_ir::{Ir, Type};
use serde_json::Value as Json;

/// An argument value that knows its BAML type (so prompts can show aliases and floats).
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<ArgValue>),
    Map(Vec<(String, ArgValue)>),
    Class {
        name: String,
        /// `(field name, value)` in declaration order.
        fields: Vec<(String, ArgValue)>,
    },
    Enum {
        name: String,
        value: String,
    },
    Media(MediaValue),
}

/// An image, audio, pdf or video argument.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaValue {
    pub kind: Media,
    pub source: MediaSource,
    /// `image/png`, ... when known.
    pub media_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MediaSource {
    Url(String),
    Base64(String),
}

/// Why an argument was refused (`BAML_INVALID_ARGUMENT`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ArgError {
    pub message: String,
}

/// Checks `args` (by parameter name) against `params` and coerces them. Missing optional
/// parameters are left out (a prompt then renders them as nothing); unknown names are ignored.
pub fn coerce_args(
    ir: &Ir,
    function: &str,
    params: &[baml_ir::ir::Param],
    args: &serde_json::Map<String, Json>,
) -> Result<Vec<(String, ArgValue)>, ArgError> {
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(params.len());
    for p in params {
        match args.get(&p.name) {
            Some(v) => {
                let mut path = p.name.clone();
                match coerce(ir, &p.ty, v, &mut path, 0).and_then(|v| asserts(&p.checks, v, &path))
                {
                    Ok(v) => out.push((p.name.clone(), v)),
                    Err(e) => problems.push(e),
                }
            }
            None if p.ty.is_optional() => {}
            None => problems.push(format!(
                "missing required argument `{}` (expected {})",
                p.name, p.ty
            )),
        }
    }
    // Arguments that are not parameters are ignored, as BAML does.
    if problems.is_empty() {
        Ok(out)
    } else {
        let mut message = format!("invalid arguments for function `{function}`: ");
        for (i, p) in problems.iter().enumerate() {
            if i > 0 {
                message.push_str("; ");
            }
            message.push_str(p);
        }
        Err(ArgError { message })
    }
}

const MAX_DEPTH: usize = 200;

fn describe(v: &Json) -> String {
    let kind = match v {
        Json::Null => return "null".into(),
        Json::Bool(b) => return format!("boolean {b}"),
        Json::Number(n) => return format!("number {n}"),
        Json::String(s) => {
            let mut short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                short.push('…');
            }
            return format!("string {short:?}");
        }
        Json::Array(a) => format!("an array of {}", a.len()),
        Json::Object(_) => "an object".into(),
    };
    kind
}

fn mismatch(ty: &Type, v: &Json, path: &str) -> String {
    format!("`{path}`: expected {ty}, got {}", describe(v))
}

#[expect(clippy::too_many_lines, reason = "one match arm per BAML type")]
fn coerce(
    ir: &Ir,
    ty: &Type,
    v: &Json,
    path: &mut String,
    depth: usize,
) -> Result<ArgValue, String> {
    if depth > MAX_DEPTH {
        return Err(format!("`{path}`: nested too deeply"));
    }
    match ty {
        Type::String => match v {
            Json::String(s) => Ok(ArgValue::String(s.clone())),
            _ => Err(mismatch(ty, v, path)),
        },
        Type::Int => match v {
            // JavaScript numbers: integers beyond about 2^53 are not exact, and BAML refuses them.
            Json::Number(n) => n
                .as_i64()
                .filter(|i| i.unsigned_abs() < 9_000_000_000_000_000)
                .or_else(|| {
                    n.as_f64().and_then(|f| {
                        if f.fract() == 0.0 && f.abs() < 9.0e15 {
                            #[expect(
                                clippy::cast_possible_truncation,
                                reason = "checked integral and in range"
                            )]
                            Some(f as i64)
                        } else {
                            None
                        }
                    })
                })
                .map(ArgValue::Int)
                .ok_or_else(|| mismatch(ty, v, path)),
            _ => Err(mismatch(ty, v, path)),
        },
        Type::Float => match v {
            Json::Number(n) => n
                .as_f64()
                .map(ArgValue::Float)
                .ok_or_else(|| mismatch(ty, v, path)),
            _ => Err(mismatch(ty, v, path)),
        },
        Type::Bool => match v {
            Json::Bool(b) => Ok(ArgValue::Bool(*b)),
            _ => Err(mismatch(ty, v, path)),
        },
        Type::Null => match v {
            Json::Null => Ok(ArgValue::Null),
            _ => Err(mismatch(ty, v, path)),
        },
        Type::Literal(lit) => {
            let ok = match (lit, v) {
                (Literal::String(s), Json::String(x)) => s == x,
                (Literal::Int(i), Json::Number(n)) => n.as_i64() == Some(*i),
                (Literal::Bool(b), Json::Bool(x)) => b == x,
                _ => false,
            };
            if ok {
                coerce(ir, &literal_base(lit), v, path, depth + 1)
            } else {
                Err(mismatch(ty, v, path))
            }
        }
        Type::Media(kind) => media(kind, v, path),
        Type::Enum(name) => {
            let Some(e) = ir.enum_(name) else {
                return Err(format!("`{path}`: unknown enum {name}"));
            };
            match v {
                Json::String(s) if e.values.iter().any(|x| &x.name == s) => Ok(ArgValue::Enum {
                    name: name.clone(),
                    value: s.clone(),
                }),
                Json::String(s) => {
                    let names: Vec<&str> = e.values.iter().map(|x| x.name.as_str()).collect();
                    Err(format!(
                        "`{path}`: {s:?} is not a value of enum {name} (values: {})",
                        names.join(", ")
                    ))
                }
                _ => Err(mismatch(ty, v, path)),
            }
        }
        Type::Class(name) => {
            let Some(class) = ir.class(name) else {
                return Err(format!("`{path}`: unknown class {name}"));
            };
            let Json::Object(obj) = v else {
                return Err(mismatch(ty, v, path));
            };
            let mut fields = Vec::with_capacity(class.fields.len());
            let mut problems = Vec::new();
            for f in &class.fields {
                let len = path.len();
                let _ = write!(path, ".{}", f.name);
                match obj.get(&f.name) {
                    Some(x) => match coerce(ir, &f.ty, x, path, depth + 1)
                        .and_then(|x| asserts(&f.checks, x, path))
                    {
                        Ok(x) => fields.push((f.name.clone(), x)),
                        Err(e) => problems.push(e),
                    },
                    None if f.ty.is_optional() => {}
                    None => problems.push(format!(
                        "`{path}`: missing required field (expected {})",
                        f.ty
                    )),
                }
                path.truncate(len);
            }
            if class.dynamic {
                for (k, x) in obj {
                    if !class.fields.iter().any(|f| &f.name == k) {
                        fields.push((k.clone(), untyped(x, depth + 1)?));
                    }
                }
            }
            if problems.is_empty() {
                asserts(
                    &class.checks,
                    ArgValue::Class {
                        name: name.clone(),
                        fields,
                    },
                    path,
                )
            } else {
                Err(problems.join("; "))
            }
        }
        Type::Alias(name) => match ir.alias(name) {
            Some(a) => {
                coerce(ir, &a.ty, v, path, depth + 1).and_then(|x| asserts(&a.checks, x, path))
            }
            None => Err(format!("`{path}`: unknown type {name}")),
        },
        Type::List(item) => {
            let Json::Array(items) = v else {
                return Err(mismatch(ty, v, path));
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, x) in items.iter().enumerate() {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                out.push(coerce(ir, item, x, path, depth + 1)?);
                path.truncate(len);
            }
            Ok(ArgValue::List(out))
        }
        Type::Map(key, value) => {
            let Json::Object(obj) = v else {
                return Err(mismatch(ty, v, path));
            };
            let mut out = Vec::with_capacity(obj.len());
            for (k, x) in obj {
                let len = path.len();
                let _ = write!(path, "[{k:?}]");
                let key_ok = match coerce(ir, key, &Json::String(k.clone()), path, depth + 1) {
                    Ok(_) => true,
                    Err(e) => return Err(format!("{e} (a map key)")),
                };
                if key_ok {
                    out.push((k.clone(), coerce(ir, value, x, path, depth + 1)?));
                }
                path.truncate(len);
            }
            Ok(ArgValue::Map(out))
        }
        Type::Optional(inner) => match v {
            Json::Null => Ok(ArgValue::Null),
            _ => coerce(ir, inner, v, path, depth + 1),
        },
        Type::Union(arms) => {
            // The first arm that accepts the value wins; an exact primitive match is preferred
            // (an integer stays an int when `int | float`).
            let mut errors = Vec::new();
            for arm in arms {
                match coerce(ir, arm, v, path, depth + 1) {
                    Ok(x) => return Ok(x),
                    Err(e) => errors.push(e),
                }
            }
            Err(format!("`{path}`: expected {ty}, got {}", describe(v)))
        }
    }
}

/// The value if every `@assert` among `checks` holds for it (BAML refuses an argument that
/// fails one; `@check`s are not allowed on inputs).
fn asserts(checks: &[baml_ir::ir::Check], v: ArgValue, path: &str) -> Result<ArgValue, String> {
    let mut this = None;
    for c in checks.iter().filter(|c| c.assert) {
        let this = this.get_or_insert_with(|| to_json(&v));
        if !holds(&c.expr, this) {
            return Err(format!(
                "`{path}`: failed assert {}",
                c.name.as_deref().unwrap_or(&c.expr)
            ));
        }
    }
    Ok(v)
}

/// Whether the Jinja expression `expr` holds for `this` (one that fails to evaluate does not).
fn holds(expr: &str, this: &Json) -> bool {
    static ENV: std::sync::OnceLock<minijinja::Environment<'static>> = std::sync::OnceLock::new();
    let env = ENV.get_or_init(minijinja::Environment::new);
    env.compile_expression(expr).is_ok_and(|e| {
        e.eval(minijinja::context! { this => minijinja::Value::from_serialize(this) })
            .is_ok_and(|v| v.is_true())
    })
}

/// An argument as JSON for an assert's `this`: fields by name, enums by name.
fn to_json(v: &ArgValue) -> Json {
    match v {
        ArgValue::Null => Json::Null,
        ArgValue::Bool(b) => Json::Bool(*b),
        ArgValue::Int(i) => Json::from(*i),
        ArgValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        ArgValue::String(s) => Json::String(s.clone()),
        ArgValue::List(items) => Json::Array(items.iter().map(to_json).collect()),
        ArgValue::Map(entries)
        | ArgValue::Class {
            fields: entries, ..
        } => Json::Object(
            entries
                .iter()
                .map(|(k, x)| (k.clone(), to_json(x)))
                .collect(),
        ),
        ArgValue::Enum { value, .. } => Json::String(value.clone()),
        ArgValue::Media(m) => match &m.source {
            MediaSource::Url(u) => serde_json::json!({ "url": u }),
            MediaSource::Base64(b) => {
                serde_json::json!({ "base64": b, "media_type": m.media_type })
            }
        },
    }
}

fn literal_base(lit: &Literal) -> Type {
    match lit {
        Literal::String(_) => Type::String,
        Literal::Int(_) => Type::Int,
        Literal::Bool(_) => Type::Bool,
    }
}

/// A value of a dynamic class's extra field: kept as given.
fn untyped(v: &Json, depth: usize) -> Result<ArgValue, String> {
    if depth > MAX_DEPTH {
        return Err("nested too deeply".into());
    }
    Ok(match v {
        Json::Null => ArgValue::Null,
        Json::Bool(b) => ArgValue::Bool(*b),
        Json::Number(n) => n.as_i64().map_or_else(
            || ArgValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            ArgValue::Int,
        ),
        Json::String(s) => ArgValue::String(s.clone()),
        Json::Array(a) => ArgValue::List(
            a.iter()
                .map(|x| untyped(x, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(o) => ArgValue::Map(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), untyped(x, depth + 1)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// `{ url }` or `{ base64, media_type }` (also `mediaType`, BAML's TypeScript spelling).
fn media(kind: &Media, v: &Json, path: &str) -> Result<ArgValue, String> {
    let Json::Object(obj) = v else {
        return Err(format!(
            "`{path}`: expected {} as {{ url }} or {{ base64, media_type }}, got {}",
            kind.name(),
            describe(v)
        ));
    };
    let text = |k: &str| obj.get(k).and_then(Json::as_str).map(str::to_string);
    let media_type = text("media_type").or_else(|| text("mediaType"));
    let source = if let Some(url) = text("url") {
        MediaSource::Url(url)
    } else if let Some(b64) = text("base64") {
        MediaSource::Base64(b64)
    } else {
        return Err(format!(
            "`{path}`: a {} needs a `url` or `base64` string",
            kind.name()
        ));
    };
    Ok(ArgValue::Media(MediaValue {
        kind: kind.clone(),
        source,
        media_type,
    }))
}
