//! Coercing parsed values to a BAML type, scoring every choice the way BAML's parser flags
//! them (lower is better), so the interpretation that fits the type best wins.

use baml_ir::ir::{Check, Class, Field};
use baml_ir::types::{Literal, Type};
use baml_ir::Ir;
use serde_json::{Map, Value as Json};

use crate::jsonish::JValue;

/// How much a coercion bent the data.
pub type Score = u64;

/// Penalties, per BAML's flags.
pub mod cost {
    /// Reading text that parses as one finished array or object as plain text instead.
    pub const RAW_OVER_STRUCTURE: u64 = 100;
    pub const CONVERTED: u64 = 1;
    pub const FROM_PROSE: u64 = 2;
    pub const SINGLE_TO_LIST: u64 = 1;
    pub const IMPLIED_KEY: u64 = 2;
    pub const DROPPED_ITEM: u64 = 4;
    pub const MISSING_OPTIONAL: u64 = 1;
    pub const EXTRA_KEY: u64 = 1;
    pub const STRINGIFIED: u64 = 2;
    pub const INCOMPLETE: u64 = 1;
    /// A value that fits only as an empty default (null, `[]`): far worse than any reading
    /// that found real content.
    pub const NULL_FALLBACK: u64 = 1_000_000_000;
    pub const EMPTY_LIST: u64 = 1_000_000_000;
}

/// A failure and where (`Resume.jobs[2].title`).
#[derive(Debug, Clone)]
pub struct Fail {
    pub path: String,
    pub reason: String,
}

type Res = Result<(Json, Score), Fail>;

pub struct Coercer<'a> {
    pub ir: &'a Ir,
    pub partial: bool,
    /// Coercions under way, by (type, value) identity: a recursive type that reaches the same
    /// value again (`type J = J[] | ...` wrapping a value into a list of itself) fails there
    /// instead of recursing without end.
    active: std::cell::RefCell<std::collections::HashSet<(usize, usize)>>,
    /// Whether the whole text reads as more than plain text (JSON, a fence, a structure), so a
    /// top-level string is one choice among several readings.
    pub ambiguous: std::cell::Cell<bool>,
}

impl<'a> Coercer<'a> {
    pub fn new(ir: &'a Ir, partial: bool) -> Coercer<'a> {
        Coercer {
            ir,
            partial,
            active: std::cell::RefCell::default(),
            ambiguous: std::cell::Cell::new(false),
        }
    }
}

/// Recursion bound for types (recursive aliases and classes) and values.
const MAX_DEPTH: usize = 128;

fn fail(path: &str, reason: impl Into<String>) -> Fail {
    Fail {
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn describe(v: &JValue) -> String {
    // A bounded preview: describing a failure must not cost the size of the value.
    let mut out = String::new();
    v.preview(&mut out, 60);
    if out.chars().count() >= 60 {
        out.push_str("...");
    }
    format!("{}: {out}", v.type_name())
}

impl Coercer<'_> {
    pub fn coerce(&self, ty: &Type, v: &JValue, path: &str, depth: usize) -> Res {
        if depth > MAX_DEPTH {
            return Err(fail(path, "nested too deeply"));
        }
        let key = (
            std::ptr::from_ref(ty) as usize,
            std::ptr::from_ref(v) as usize,
        );
        if !self.active.borrow_mut().insert(key) {
            return Err(fail(path, "the type refers to itself for this value"));
        }
        let result = self.coerce_uncached(ty, v, path, depth);
        self.active.borrow_mut().remove(&key);
        result
    }

    fn coerce_uncached(&self, ty: &Type, v: &JValue, path: &str, depth: usize) -> Res {
        match ty {
            Type::String => self.string(v, path),
            Type::Int => self.int(v, path),
            Type::Float => self.float(v, path),
            Type::Bool => self.bool(v, path),
            Type::Null => match v {
                JValue::Null => Ok((Json::Null, 0)),
                _ => Ok((Json::Null, cost::NULL_FALLBACK)),
            },
            Type::Media(m) => Err(fail(path, format!("`{}` cannot be an output", m.name()))),
            Type::Literal(l) => self.literal(l, v, path),
            Type::Enum(name) => self.enum_(name, v, path),
            Type::Class(name) => self.class(name, v, path, depth),
            Type::Alias(name) => {
                let Some(alias) = self.ir.alias(name) else {
                    return Err(fail(path, format!("unknown type `{name}`")));
                };
                let (value, score) = self.coerce(&alias.ty, v, path, depth + 1)?;
                self.apply_checks(&alias.checks, value, score, path, false)
            }
            Type::Optional(inner) => match v {
                JValue::Null => Ok((Json::Null, 0)),
                // A value that does not fit an optional type reads as null, as BAML does (at no
                // cost while the value is still being written).
                _ => self.coerce(inner, v, path, depth + 1).or(Ok((
                    Json::Null,
                    if self.partial && !v.complete() {
                        0
                    } else {
                        cost::NULL_FALLBACK
                    },
                ))),
            },
            Type::List(inner) => self.list(inner, v, path, depth),
            Type::Map(k, val) => self.map(k, val, v, path, depth),
            Type::Union(arms) => self.union(arms, v, path, depth),
        }
    }

    fn string(&self, v: &JValue, path: &str) -> Res {
        match v {
            JValue::String(s, complete) => Ok((
                Json::String(s.clone()),
                u64::from(!complete && !self.partial),
            )),
            JValue::Number(n, _) => Ok((Json::String(n.clone()), cost::CONVERTED)),
            JValue::Bool(b) => Ok((Json::String(b.to_string()), cost::CONVERTED)),
            JValue::Null => Err(fail(path, "expected a string, found null")),
            JValue::Object(..) | JValue::Array(..) => {
                Ok((Json::String(v.display()), cost::STRINGIFIED))
            }
        }
    }

    fn number(&self, v: &JValue, path: &str, what: &str) -> Result<(f64, Score), Fail> {
        if self.partial && matches!(v, JValue::String(_, false)) {
            return Err(fail(path, "the value is still being written"));
        }
        match v {
            JValue::Number(n, complete) => {
                if self.partial && !complete {
                    return Err(fail(path, "number is still being written"));
                }
                n.parse::<f64>()
                    .map(|x| (x, 0))
                    .map_err(|_| fail(path, format!("expected {what}, found {n}")))
            }
            JValue::String(s, _) => parse_number_text(s)
                .map(|(x, c)| (x, c + cost::CONVERTED))
                .ok_or_else(|| fail(path, format!("expected {what}, found {}", describe(v)))),
            // A list where one number was wanted: its first item that is one (not looking into
            // nested lists).
            JValue::Array(items, _) if !items.is_empty() => items
                .iter()
                .filter(|item| !matches!(item, JValue::Array(..)))
                .find_map(|item| self.number(item, path, what).ok())
                .map(|(x, c)| (x, c + cost::CONVERTED))
                .ok_or_else(|| fail(path, format!("expected {what}, found {}", describe(v)))),
            _ => Err(fail(
                path,
                format!("expected {what}, found {}", describe(v)),
            )),
        }
    }

    fn int(&self, v: &JValue, path: &str) -> Res {
        if let JValue::Number(n, complete) = v {
            if let (Err(_), Ok(big)) = (n.parse::<i64>(), n.parse::<u64>()) {
                if !self.partial || *complete {
                    // BAML reads an integer past the i64 range (but within u64) as u64 and
                    // keeps its bits as an i64.
                    return Ok((Json::from(big.cast_signed()), 0));
                }
            }
        }
        let (x, score) = self.number(v, path, "an int")?;
        if !x.is_finite() {
            return Err(fail(path, "expected an int, found a non-finite number"));
        }
        let rounded = x.round();
        let score = if (rounded - x).abs() > f64::EPSILON {
            score + cost::CONVERTED
        } else {
            score
        };
        #[expect(
            clippy::cast_possible_truncation,
            reason = "checked finite; saturates at the i64 range"
        )]
        let n = rounded as i64;
        Ok((Json::from(n), score))
    }

    fn float(&self, v: &JValue, path: &str) -> Res {
        let (x, score) = self.number(v, path, "a float")?;
        let num = serde_json::Number::from_f64(x)
            .ok_or_else(|| fail(path, "expected a float, found a non-finite number"))?;
        Ok((Json::Number(num), score))
    }

    #[expect(
        clippy::self_only_used_in_recursion,
        reason = "kept a method like its siblings"
    )]
    fn bool(&self, v: &JValue, path: &str) -> Res {
        match v {
            JValue::Bool(b) => Ok((Json::Bool(*b), 0)),
            JValue::String(s, _) => {
                let t = s
                    .trim()
                    .trim_matches(|c: char| {
                        c == '*' || c == '`' || c == '"' || c == '\'' || c == '.' || c == ','
                    })
                    .trim();
                if t.eq_ignore_ascii_case("true") {
                    return Ok((Json::Bool(true), cost::CONVERTED));
                }
                if t.eq_ignore_ascii_case("false") {
                    return Ok((Json::Bool(false), cost::CONVERTED));
                }
                let lower = s.to_ascii_lowercase();
                let t = count_words(&lower, "true");
                let f = count_words(&lower, "false");
                match (t > 0, f > 0) {
                    (true, false) => Ok((Json::Bool(true), cost::FROM_PROSE)),
                    (false, true) => Ok((Json::Bool(false), cost::FROM_PROSE)),
                    (true, true) => Err(fail(
                        path,
                        "expected a bool, but the text says both true and false",
                    )),
                    (false, false) => Err(fail(
                        path,
                        format!("expected a bool, found {}", describe(v)),
                    )),
                }
            }
            // A list where one bool was wanted: its first item that is one (not looking into
            // nested lists).
            JValue::Array(items, _) if !items.is_empty() => items
                .iter()
                .filter(|item| !matches!(item, JValue::Array(..)))
                .find_map(|item| self.bool(item, path).ok())
                .map(|(b, c)| (b, c + cost::CONVERTED))
                .ok_or_else(|| fail(path, format!("expected a bool, found {}", describe(v)))),
            _ => Err(fail(
                path,
                format!("expected a bool, found {}", describe(v)),
            )),
        }
    }

    fn literal(&self, l: &Literal, v: &JValue, path: &str) -> Res {
        match l {
            Literal::String(want) => {
                let names = [(want.as_str(), want.as_str())];
                match v {
                    JValue::String(s, _) => match_names(&names, s)
                        .map(|(n, c)| (Json::String(n.to_string()), c))
                        .map_err(|r| fail(path, format!("expected \"{want}\": {r}"))),
                    _ => Err(fail(
                        path,
                        format!("expected \"{want}\", found {}", describe(v)),
                    )),
                }
            }
            Literal::Int(want) => {
                let (got, c) = self.int(v, path)?;
                if got.as_i64() == Some(*want) {
                    Ok((got, c))
                } else {
                    Err(fail(path, format!("expected {want}, found {got}")))
                }
            }
            Literal::Bool(want) => {
                let (got, c) = self.bool(v, path)?;
                if got.as_bool() == Some(*want) {
                    Ok((got, c))
                } else {
                    Err(fail(path, format!("expected {want}, found {got}")))
                }
            }
        }
    }

    fn enum_(&self, name: &str, v: &JValue, path: &str) -> Res {
        let Some(e) = self.ir.enum_(name) else {
            return Err(fail(path, format!("unknown enum `{name}`")));
        };
        if self.partial && matches!(v, JValue::String(_, false)) {
            // `ON` may still become `ONE` or `ONLINE`.
            return Err(fail(path, "the value is still being written"));
        }
        let text = match v {
            JValue::String(s, _) => s.clone(),
            JValue::Number(n, _) => n.clone(),
            JValue::Array(items, _) if items.len() == 1 => {
                return self
                    .enum_(name, &items[0], path)
                    .map(|(x, c)| (x, c + cost::CONVERTED))
            }
            // `{"category": "TWO"}`: the one value of a one-key object.
            JValue::Object(fields, _) if fields.len() == 1 => {
                return self
                    .enum_(name, &fields[0].1, path)
                    .map(|(x, c)| (x, c + cost::IMPLIED_KEY))
            }

            _ => {
                return Err(fail(
                    path,
                    format!("expected a `{name}` value, found {}", describe(v)),
                ))
            }
        };
        let mut names: Vec<(&str, &str)> = Vec::new();
        // A value with an alias is known to the model by its alias only.
        for value in e.values.iter().filter(|x| !x.skip) {
            names.push((
                value.name.as_str(),
                value.alias.as_deref().unwrap_or(&value.name),
            ));
        }
        match_names(&names, &text)
            .map(|(n, c)| (Json::String(n.to_string()), c))
            .map_err(|r| {
                fail(
                    path,
                    format!(
                        "expected one of {}: {r}",
                        e.values
                            .iter()
                            .filter(|x| !x.skip)
                            .map(|x| x.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    #[expect(
        clippy::unnecessary_wraps,
        reason = "the same signature as every other coercion"
    )]
    fn list(&self, inner: &Type, v: &JValue, path: &str, depth: usize) -> Res {
        match v {
            JValue::Array(items, _) => {
                let mut out = Vec::with_capacity(items.len());
                let mut score = 0;
                for (i, item) in items.iter().enumerate() {
                    match self.coerce(inner, item, &format!("{path}[{i}]"), depth + 1) {
                        Ok((x, c)) => {
                            out.push(x);
                            score += c;
                        }
                        Err(_) if self.partial && !item.complete() => {}
                        Err(_) => score += cost::DROPPED_ITEM,
                    }
                }
                Ok((Json::Array(out), score))
            }
            JValue::Null if self.partial => Ok((Json::Array(Vec::new()), 0)),
            _ => match self.coerce(inner, v, &format!("{path}[0]"), depth + 1) {
                Ok((x, c)) => Ok((Json::Array(vec![x]), c + cost::SINGLE_TO_LIST)),
                // Nothing in the text fits an item: an empty list, as BAML gives.
                Err(_) => Ok((Json::Array(Vec::new()), cost::EMPTY_LIST)),
            },
        }
    }

    fn map(&self, key: &Type, val: &Type, v: &JValue, path: &str, depth: usize) -> Res {
        let JValue::Object(fields, _) = v else {
            return Err(fail(
                path,
                format!("expected a map (an object), found {}", describe(v)),
            ));
        };
        let mut out = Map::new();
        let mut score = 0;
        for (k, x) in fields {
            // BAML keeps the keys as written, whatever the key type.
            let _ = key;
            let key_ok = Some(k.clone());
            let Some(k2) = key_ok else {
                score += cost::DROPPED_ITEM;
                continue;
            };
            match self.coerce(val, x, &format!("{path}[{k:?}]"), depth + 1) {
                Ok((j, c)) => {
                    out.insert(k2, j);
                    score += c;
                }
                Err(_) if self.partial && !x.complete() => {}
                Err(_) => score += cost::DROPPED_ITEM,
            }
        }
        Ok((Json::Object(out), score))
    }

    fn union(&self, arms: &[Type], v: &JValue, path: &str, depth: usize) -> Res {
        // Turning an object or list into a string costs its whole size and scores
        // `STRINGIFIED` at best, so that arm is only tried when nothing else scores below it
        // (keeping the first-arm-wins rule for ties).
        let structured = matches!(v, JValue::Object(..) | JValue::Array(..));
        let mut results: Vec<Option<Res>> = vec![None; arms.len()];
        for (i, arm) in arms.iter().enumerate() {
            if !(structured && *arm == Type::String) {
                results[i] = Some(self.coerce(arm, v, path, depth + 1));
            }
        }
        let best_other = results
            .iter()
            .flatten()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| r.1)
            .min();
        if best_other.is_none_or(|b| b >= cost::STRINGIFIED) {
            for (i, arm) in arms.iter().enumerate() {
                if results[i].is_none() {
                    results[i] = Some(self.coerce(arm, v, path, depth + 1));
                }
            }
        }
        // As in BAML, a string made from a structure, or picked from several readings of the
        // whole text, gives way to any list, object or map that fits, whatever the scores.
        let weak_strings = structured || (path.is_empty() && self.ambiguous.get());
        let mut best: Option<(Json, Score)> = None;
        let mut best_composite: Option<(Json, Score)> = None;
        let mut errors = Vec::new();
        for (arm, result) in arms.iter().zip(results) {
            match result {
                Some(Ok((j, c))) => {
                    if matches!(j, Json::Array(_) | Json::Object(_))
                        && best_composite.as_ref().is_none_or(|(_, b)| c < *b)
                    {
                        best_composite = Some((j.clone(), c));
                    }
                    if best.as_ref().is_none_or(|(_, b)| c < *b) {
                        best = Some((j, c));
                    }
                }
                Some(Err(e)) => errors.push(format!("as `{arm}`: {}", e.reason)),
                None => {}
            }
        }
        if weak_strings && matches!(best, Some((Json::String(_), _))) && best_composite.is_some() {
            best = best_composite;
        }
        best.ok_or_else(|| {
            fail(
                path,
                format!("no member of the union fits ({})", errors.join("; ")),
            )
        })
    }

    fn class(&self, name: &str, v: &JValue, path: &str, depth: usize) -> Res {
        let Some(class) = self.ir.class(name) else {
            return Err(fail(path, format!("unknown class `{name}`")));
        };
        let result = match v {
            JValue::Object(fields, complete) => {
                if self.partial && class.stream_done && !complete {
                    return Err(fail(path, format!("`{name}` is still being written")));
                }
                let direct = self.class_from_object(class, fields, *complete, path, depth);
                let wanted: Vec<&Field> = class.fields.iter().filter(|f| !f.skip).collect();
                let matches_any = fields
                    .iter()
                    .any(|(k, _)| wanted.iter().any(|f| key_matches(f, k)));
                match self.implied(class, v, path, depth) {
                    // An object with none of the class's keys is the value of its only field
                    // (an empty object is the class with nothing in it, if it can be).
                    Some(implied) if !matches_any => match direct {
                        Ok(d) if fields.is_empty() && d.1 <= implied.1 => Ok(d),
                        _ => Ok(implied),
                    },
                    _ => direct,
                }
            }
            // A number or bool for a one-field class is that field (a quoted string is not).
            JValue::Number(..) | JValue::Bool(_) => {
                self.implied(class, v, path, depth).ok_or_else(|| {
                    fail(
                        path,
                        format!("expected an object for `{name}`, found {}", describe(v)),
                    )
                })
            }
            JValue::Array(items, _) => match self.implied(class, v, path, depth) {
                Some(implied) => Ok(implied),
                // A list where one object was wanted: its first item.
                None => match items.first() {
                    Some(first) => self
                        .class(name, first, path, depth + 1)
                        .map(|(x, c)| (x, c + cost::CONVERTED)),
                    None => Err(fail(
                        path,
                        format!("expected an object for `{name}`, found an empty array"),
                    )),
                },
            },
            _ => Err(fail(
                path,
                format!("expected an object for `{name}`, found {}", describe(v)),
            )),
        };
        match result {
            // While streaming, BAML checks a class's own asserts once its object is complete
            // (an item failing one is left out of its list).
            Ok((obj, score)) => self.apply_checks(&class.checks, obj, score, path, v.complete()),
            // While streaming, unfinished text that is not yet an object gives the class with
            // nothing filled in (unless a field must not be null).
            Err(_) if self.partial && !v.complete() && !matches!(v, JValue::Object(..)) => {
                if let Some(f) = class.fields.iter().find(|f| f.stream.not_null) {
                    return Err(fail(
                        &format!("{path}.{}", f.name),
                        "not yet available (@stream.not_null)",
                    ));
                }
                Ok((Self::empty_object(class), cost::NULL_FALLBACK))
            }
            // A class whose fields may all be absent (optional, lists, maps) is read from text
            // with no object in it (a refusal, prose) as that empty object, as BAML does.
            // (A one-field class takes the text as its field's value instead, or fails.)
            Err(_)
                if !matches!(v, JValue::Object(..))
                    && class.fields.iter().filter(|f| !f.skip).count() > 1
                    && class.fields.iter().filter(|f| !f.skip).all(|f| {
                        f.ty.is_optional() || matches!(f.ty, Type::List(_) | Type::Map(..))
                    }) =>
            {
                Ok((Self::empty_object(class), cost::NULL_FALLBACK))
            }
            Err(e) => Err(e),
        }
    }

    /// A class whose only field takes the whole value (BAML's implied key).
    fn implied(
        &self,
        class: &Class,
        v: &JValue,
        path: &str,
        depth: usize,
    ) -> Option<(Json, Score)> {
        let wanted: Vec<&Field> = class.fields.iter().filter(|f| !f.skip).collect();
        let [f] = wanted.as_slice() else { return None };
        let (x, c) = self
            .coerce(&f.ty, v, &format!("{path}.{}", f.name), depth + 1)
            .ok()?;
        let (x, c) = self.apply_checks(&f.checks, x, c, path, false).ok()?;
        let mut obj = Map::new();
        obj.insert(f.name.clone(), x);
        Some((Json::Object(obj), c + cost::IMPLIED_KEY))
    }

    /// The partial form of a class before any of it arrived.
    fn empty_object(class: &Class) -> Json {
        let mut obj = Map::new();
        for f in class.fields.iter().filter(|f| !f.skip) {
            obj.insert(f.name.clone(), empty_value(&f.ty).unwrap_or(Json::Null));
        }
        Json::Object(obj)
    }

    fn class_from_object(
        &self,
        class: &Class,
        fields: &[(String, JValue)],
        complete: bool,
        path: &str,
        depth: usize,
    ) -> Res {
        let mut obj = Map::new();
        let mut score = if complete || self.partial {
            0
        } else {
            cost::INCOMPLETE
        };
        let mut used = vec![false; fields.len()];
        for f in class.fields.iter().filter(|f| !f.skip) {
            let fpath = format!("{path}.{}", f.name);
            let found = fields
                .iter()
                .enumerate()
                .find(|(i, (k, _))| !used[*i] && key_matches(f, k));
            let value = match found {
                Some((i, (_, x))) => {
                    used[i] = true;
                    if self.partial && f.stream.done && !x.complete() {
                        // Not shown until done: an empty list or map, else null.
                        Some(empty_value(&f.ty).unwrap_or(Json::Null))
                    } else {
                        match self.coerce(&f.ty, x, &fpath, depth + 1) {
                            Ok((j, c)) => {
                                score += c;
                                Some(j)
                            }
                            // While streaming, an unfinished value, or a null that may yet be
                            // filled in, is no value yet.
                            Err(_) if self.partial && (!x.complete() || *x == JValue::Null) => None,
                            Err(e) => return Err(e),
                        }
                    }
                }
                None => None,
            };
            let value = match value {
                Some(j) => j,
                None if self.partial => {
                    if f.stream.not_null {
                        return Err(fail(&fpath, "not yet available (@stream.not_null)"));
                    }
                    // A list or map not started yet streams as an empty one, unless it only
                    // streams once done.
                    if f.stream.done {
                        Json::Null
                    } else {
                        empty_value(&f.ty).unwrap_or(Json::Null)
                    }
                }
                None if f.ty.is_optional() => {
                    score += cost::MISSING_OPTIONAL;
                    Json::Null
                }
                // A missing list or map is an empty one.
                None if empty_value(&f.ty).is_some() => {
                    score += cost::MISSING_OPTIONAL;
                    empty_value(&f.ty).unwrap_or(Json::Null)
                }
                None => return Err(fail(&fpath, "is required but missing")),
            };
            let (value, c) = if self.partial && value.is_null() {
                (value, 0)
            } else {
                self.apply_checks(&f.checks, value, 0, &fpath, false)?
            };
            score += c;
            let value = if f.stream.with_state && self.partial {
                let state = match found.map(|(_, (_, x))| x.complete()) {
                    None => "Pending",
                    Some(false) => "Incomplete",
                    Some(true) => "Complete",
                };
                serde_json::json!({ "value": value, "state": state })
            } else {
                value
            };
            obj.insert(f.name.clone(), value);
        }
        score += u64::try_from(used.iter().filter(|u| !**u).count()).unwrap_or(u64::MAX)
            * cost::EXTRA_KEY;
        Ok((Json::Object(obj), score))
    }

    /// Evaluates `@check`s (recorded as `{ value, checks }`) and `@assert`s (errors). While
    /// streaming, asserts wait for the final value unless `finished`.
    pub fn apply_checks(
        &self,
        checks: &[Check],
        value: Json,
        score: Score,
        path: &str,
        finished: bool,
    ) -> Res {
        if checks.is_empty() {
            return Ok((value, score));
        }
        let mut results = Map::new();
        for check in checks {
            if check.assert && self.partial && !finished {
                continue;
            }
            let passed = crate::checks::evaluate(&check.expr, &value).map_err(|r| fail(path, r))?;
            if check.assert {
                if !passed {
                    let name = check
                        .name
                        .as_deref()
                        .map_or(String::new(), |n| format!(" `{n}`"));
                    return Err(fail(
                        path,
                        format!("assert{name} failed: {{{{ {} }}}}", check.expr),
                    ));
                }
            } else if let Some(name) = &check.name {
                results.insert(
                    name.clone(),
                    serde_json::json!({ "name": name, "expression": check.expr, "status": if passed { "succeeded" } else { "failed" } }),
                );
            }
        }
        if results.is_empty() {
            Ok((value, score))
        } else {
            Ok((
                serde_json::json!({ "value": value, "checks": results }),
                score,
            ))
        }
    }
}

/// The value a missing list (`[]`) or map (`{}`) field takes.
fn empty_value(ty: &Type) -> Option<Json> {
    match ty {
        Type::List(_) => Some(Json::Array(Vec::new())),
        Type::Map(..) => Some(Json::Object(Map::new())),
        _ => None,
    }
}

/// Whether an object key names a field (its alias, or its name; case and accents aside).
fn key_matches(f: &Field, key: &str) -> bool {
    // The model knows a field by its alias if it has one, else by its name.
    let want = f.alias.as_deref().unwrap_or(&f.name);
    key == want || key.trim() == want || fold(key.trim()) == fold(want)
}

/// Numbers as people write them: `12,111`, `$1,234.50`, `1/5`, `45%`, `1e3`.
fn parse_number_text(s: &str) -> Option<(f64, Score)> {
    let t = s
        .trim()
        .trim_matches(|c: char| c == '*' || c == '`' || c == '"' || c == '\'');
    let (sign, body) = t.strip_prefix('-').map_or(("", t), |rest| ("-", rest));
    let unsigned = body.trim_start_matches(['$', '€', '£']);
    let signed = if unsigned.len() == body.len() {
        t.to_string()
    } else {
        format!("{sign}{unsigned}")
    };
    let cleaned = signed.trim_end_matches(['.', '%', ',']);
    if let Ok(x) = cleaned.parse::<f64>() {
        return Some((x, u64::from(cleaned.len() != t.len())));
    }
    if let Some(x) = thousands(cleaned) {
        return Some((x, 1));
    }
    if let Some((a, b)) = cleaned.split_once('/') {
        if let (Ok(a), Ok(b)) = (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
            if b != 0.0 {
                return Some((a / b, 1));
            }
        }
    }
    // A single number inside prose.
    let numbers: Vec<&str> = t
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == ','))
        .map(|w| w.trim_matches([',', '.']).trim_end_matches('-'))
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()))
        .collect();
    match numbers.as_slice() {
        [w] => w
            .parse::<f64>()
            .ok()
            .or_else(|| thousands(w))
            .map(|x| (x, cost::FROM_PROSE)),
        _ => None,
    }
}

/// `1,234` or `-1,234,567.89`: commas in the integer part, which BAML drops wherever they are
/// (`1,23` is 123); a comma after the decimal point is not a number.
fn thousands(s: &str) -> Option<f64> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body
        .split_once('.')
        .map_or((body, None), |(a, b)| (a, Some(b)));
    let groups: Vec<&str> = int.split(',').collect();
    let ok = groups.len() > 1
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_digit()))
        && frac.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()));
    if !ok {
        return None;
    }
    s.replace(',', "").parse().ok()
}

fn count_words(haystack: &str, word: &str) -> usize {
    let mut count = 0;
    let mut from = 0;
    while let Some(i) = haystack[from..].find(word) {
        let start = from + i;
        let end = start + word.len();
        let before = haystack[..start].chars().next_back();
        let after = haystack[end..].chars().next();
        if !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric) {
            count += 1;
        }
        from = end;
    }
    count
}

/// Picks one of `(value, name)` for a text: exact, case-insensitive, without punctuation,
/// then the most frequent mention in prose (a tie fails).
fn match_names<'n>(names: &[(&'n str, &'n str)], text: &str) -> Result<(&'n str, Score), String> {
    let t = text.trim();
    if let Some((v, _)) = names.iter().find(|(_, n)| *n == t) {
        return Ok((v, 0));
    }
    // Case and accents aside: `cafe`, `CAFÉ` for `café`.
    let folded = fold(t);
    if let Some((v, _)) = names.iter().find(|(_, n)| fold(n) == folded) {
        return Ok((v, cost::CONVERTED));
    }
    // Surrounding punctuation and markdown aside: `TWO.`, `**two**`, `"TWO"`.
    let core = fold(t.trim_matches(|c: char| !c.is_alphanumeric()));
    if let Some((v, _)) = names.iter().find(|(_, n)| fold(n) == core) {
        return Ok((v, cost::CONVERTED));
    }
    // Mentions in prose (as substrings, like BAML), longest names first so `1040-X` is not
    // also counted as `1040`; the most frequent wins and a tie fails.
    let lower = folded;
    let mut order: Vec<&(&str, &str)> = names.iter().collect();
    order.sort_by_key(|(_, n)| std::cmp::Reverse(n.len()));
    let mut taken = vec![false; lower.len()];
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (v, n) in order {
        let needle = fold(n);
        if needle.is_empty() {
            continue;
        }
        let mut from = 0;
        while let Some(i) = lower[from..].find(&needle) {
            let start = from + i;
            let end = start + needle.len();
            if !taken[start..end].iter().any(|x| *x) {
                taken[start..end].iter_mut().for_each(|x| *x = true);
                match counts.iter_mut().find(|(cv, _)| cv == v) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((v, 1)),
                }
            }
            from = end;
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    match counts.as_slice() {
        [] => Err(format!(
            "found {:?}",
            t.chars().take(60).collect::<String>()
        )),
        [(v, _)] => Ok((v, cost::FROM_PROSE)),
        [(v, a), (_, b), ..] if a > b => Ok((v, cost::FROM_PROSE)),
        [(v, _), (w, _), ..] => Err(format!("the text mentions `{v}` and `{w}` equally often")),
    }
}

/// Base letters of the precomposed Latin letters U+00C0..=U+017F (`.`: no accent to remove, as
/// for `Æ`, `ß`, `Ø`, `Ł`, whose letters do not decompose).
const LATIN_BASE: &str = concat!(
    "AAAAAA.CEEEEIIII",
    ".NOOOOO..UUUUY..",
    "aaaaaa.ceeeeiiii",
    ".nooooo..uuuuy.y",
    "AaAaAaCcCcCcCcDd",
    "..EeEeEeEeEeGgGg",
    "GgGgHh..IiIiIiIi",
    "I...JjKk.LlLlLl.",
    "...NnNnNn...OoOo",
    "Oo..RrRrRrSsSsSs",
    "SsTtTt..UuUuUuUu",
    "UuUuWwYyYZzZzZz.",
);

/// Lowercase text without accents, for matching names the way BAML does (`CAFÉ` is `cafe`).
fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // Combining marks (text that arrives already decomposed) are dropped.
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue;
        }
        let base = u32::from(c)
            .checked_sub(0xC0)
            .and_then(|i| LATIN_BASE.as_bytes().get(usize::try_from(i).ok()?))
            .filter(|b| **b != b'.')
            .map_or(c, |b| char::from(*b));
        out.extend(base.to_lowercase());
    }
    out
}
