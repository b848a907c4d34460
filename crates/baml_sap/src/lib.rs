//! Schema-aligned parsing: turning what a model wrote into a value of the declared BAML type.
//!
//! The text is read every plausible way ([`jsonish`]: strict JSON, each markdown fence, JSON
//! found inside prose, the fixing parser over the whole text, the raw text itself); each reading
//! is coerced to the target type with a score for every liberty taken ([`coerce`]), and the best
//! scoring reading wins, as in BAML's own parser.

mod checks;
#[allow(
    clippy::many_single_char_names,
    reason = "v (value), f (field), c (cost) read best short"
)]
mod coerce;
pub mod jsonish;

use baml_ir::ir::Check;
use baml_ir::{Ir, Type};
use serde_json::Value as Json;

use crate::coerce::{cost, Coercer, Fail, Score};
use crate::jsonish::{markdown_blocks, JValue, Parser};

/// The model's output could not be read as the type.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SapError {
    #[error("Failed to parse the model's output as `{ty}`: {path}: {reason}")]
    Validation {
        ty: String,
        path: String,
        reason: String,
    },
}

impl SapError {
    /// The stable error code of SPEC.md.
    pub fn code(&self) -> &'static str {
        "BAML_VALIDATION"
    }
}

/// One way of reading the text, with what that reading costs on top of its coercion.
struct Reading {
    value: JValue,
    cost: Score,
}

/// Every plausible reading of the text, best first. With `text_only`, text that is not strict
/// JSON is read only as itself (BAML matches an enum against the whole text, whatever
/// brackets it holds: `TWO {confident}` is `TWO`).
fn readings(text: &str, partial: bool, text_only: bool) -> Vec<Reading> {
    let mut out = Vec::new();
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str::<Json>(trimmed) {
        let value = match from_json(&v, 0) {
            // A bare number at the end of a stream may still grow.
            JValue::Number(n, _) if partial => JValue::Number(n, false),
            other => other,
        };
        out.push(Reading { value, cost: 0 });
        return out;
    }
    if text_only {
        out.push(Reading {
            value: JValue::String(trimmed.to_string(), !partial),
            cost: 1,
        });
        return out;
    }
    for (_, body, _) in markdown_blocks(text) {
        let values = Parser::new(&body).parse_all();
        push_values(&mut out, values, 0);
    }
    // JSON objects and arrays inside prose.
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(['{', '[']) {
        let start = from + i;
        let mut p = Parser::new(&text[start..]);
        let v = p.value(jsonish::Ctx::Top, 0);
        let consumed = p.pos().max(1);
        if matches!(v, JValue::Object(..) | JValue::Array(..)) {
            found.push(v);
        }
        from = start + consumed;
    }
    if !(trimmed.starts_with(['{', '[']) && found.len() == 1) {
        push_values(&mut out, found, 1);
    }
    let mut whole_is_structure = false;
    if trimmed.starts_with(['{', '[', '"', '\'']) {
        let mut values = Parser::new(trimmed).parse_all();
        // Prose after (or between) objects and arrays is no value of its own.
        if values
            .iter()
            .any(|v| matches!(v, JValue::Object(..) | JValue::Array(..)))
        {
            values.retain(|v| matches!(v, JValue::Object(..) | JValue::Array(..)));
        }
        whole_is_structure = matches!(
            values.as_slice(),
            [JValue::Array(_, true) | JValue::Object(_, true)]
        );
        push_values(&mut out, values, 1);
    }
    // The text itself, read as plain text: as in BAML, only when no object or array was found
    // in it (`[1, 2, 3,]` as `string[]` is `["1", "2", "3"]`, and `{"a": 1}` is no int),
    // except while streaming, where it may still grow (and then, text that is one finished
    // array or object only as a last resort).
    let has_structure = out
        .iter()
        .any(|r| matches!(r.value, JValue::Object(..) | JValue::Array(..)));
    if has_structure && !partial {
        return out;
    }
    out.push(Reading {
        value: JValue::String(trimmed.to_string(), !partial),
        cost: if whole_is_structure {
            cost::RAW_OVER_STRUCTURE
        } else {
            1
        },
    });
    out
}

/// Adds parsed values: each alone, and all of them as a list when there are several.
fn push_values(out: &mut Vec<Reading>, values: Vec<JValue>, cost: Score) {
    if values.len() > 1 {
        out.push(Reading {
            value: JValue::Array(values.clone(), true),
            cost,
        });
    }
    for v in values {
        out.push(Reading { value: v, cost });
    }
}

fn from_json(v: &Json, depth: usize) -> JValue {
    match v {
        Json::Null => JValue::Null,
        Json::Bool(b) => JValue::Bool(*b),
        Json::Number(n) => JValue::Number(n.to_string(), true),
        Json::String(s) => JValue::String(s.clone(), true),
        Json::Array(items) if depth < 512 => JValue::Array(
            items.iter().map(|x| from_json(x, depth + 1)).collect(),
            true,
        ),
        Json::Object(map) if depth < 512 => JValue::Object(
            map.iter()
                .map(|(k, x)| (k.clone(), from_json(x, depth + 1)))
                .collect(),
            true,
        ),
        other => JValue::String(other.to_string(), true),
    }
}

/// Parses `text` as `ty`. With `partial`, the text is an unfinished stream: values it has not
/// finished are left out or null instead of failing (BAML's `parseStream`).
pub fn parse(ir: &Ir, ty: &Type, text: &str, partial: bool) -> Result<Json, SapError> {
    parse_checked(ir, ty, &[], text, partial)
}

/// Parses `text` as a function's return type `ty` with the `@check`s and `@assert`s written on
/// it (`-> int @assert(positive, {{ this > 0 }})`): a check makes the value
/// `{ value, checks }`, a failed assert fails the parse (asserts wait for the final value).
pub fn parse_checked(
    ir: &Ir,
    ty: &Type,
    checks: &[Check],
    text: &str,
    partial: bool,
) -> Result<Json, SapError> {
    parse_inner(ir, ty, checks, text, partial).map(js_numbers)
}

/// Integers beyond 2^53 as the JavaScript numbers BAML returns for them (the nearest double),
/// not integers that only a BigInt could hold.
fn js_numbers(v: Json) -> Json {
    const SAFE: f64 = 9_007_199_254_740_992.0;
    match v {
        Json::Number(n) if !n.is_f64() => match n.as_f64() {
            Some(f) if f.abs() >= SAFE => {
                serde_json::Number::from_f64(f).map_or(Json::Number(n), Json::Number)
            }
            _ => Json::Number(n),
        },
        Json::Array(items) => Json::Array(items.into_iter().map(js_numbers).collect()),
        Json::Object(map) => {
            Json::Object(map.into_iter().map(|(k, v)| (k, js_numbers(v))).collect())
        }
        other => other,
    }
}

fn parse_inner(
    ir: &Ir,
    ty: &Type,
    checks: &[Check],
    text: &str,
    partial: bool,
) -> Result<Json, SapError> {
    let coercer = Coercer::new(ir, partial);
    let checked = |value: Json| {
        coercer
            .apply_checks(checks, value, 0, "", false)
            .map(|(v, _)| v)
            .map_err(|e| SapError::Validation {
                ty: ty.to_string(),
                path: format!("{ty}{}", e.path),
                reason: e.reason,
            })
    };
    if *ty == Type::String {
        // A plain string return type is the model's text exactly as written; BAML does not
        // evaluate its checks or asserts either.
        return Ok(Json::String(text.to_string()));
    }
    // While streaming, a scalar the text may still be writing (`12` may become `123`) is no
    // answer yet for a scalar type.
    let base = match ty {
        Type::Optional(inner) => inner.as_ref(),
        other => other,
    };
    let scalar = matches!(
        base,
        Type::Int | Type::Float | Type::Bool | Type::Enum(_) | Type::Literal(_) | Type::Null
    );
    let mut best: Option<(Json, Score)> = None;
    let mut first_error: Option<Fail> = None;
    let all = readings(text, partial, !partial && matches!(base, Type::Enum(_)));
    coercer
        .ambiguous
        .set(all.len() > 1 || !matches!(all.first().map(|r| &r.value), Some(JValue::String(..))));
    for reading in all {
        if partial
            && scalar
            && matches!(
                reading.value,
                JValue::String(_, false) | JValue::Number(_, false)
            )
        {
            continue;
        }
        match coercer.coerce(ty, &reading.value, "", 0) {
            Ok((value, score)) => {
                let total = score + reading.cost;
                if best.as_ref().is_none_or(|(_, b)| total < *b) {
                    best = Some((value, total));
                }
            }
            Err(e) => {
                if first_error.is_none() {
                    first_error = Some(e);
                }
            }
        }
    }
    if let Some((value, _)) = best {
        return checked(value);
    }
    let e = first_error.unwrap_or(Fail {
        path: String::new(),
        reason: "no value found".into(),
    });
    let path = if e.path.is_empty() {
        format!("{ty}")
    } else {
        format!("{ty}{}", e.path)
    };
    Err(SapError::Validation {
        ty: ty.to_string(),
        path,
        reason: e.reason,
    })
}
