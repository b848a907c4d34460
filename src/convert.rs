//! Copying values between Node and `baml_sandbox::Value`, with the same rules both ways:
//! JSON's shapes plus `undefined`, NaN, the infinities, `Date` and the structured-clone kinds
//! (`clone.rs`); cycles, BigInt, what cannot be cloned and values nested deeper than
//! `MAX_DEPTH` are refused with the path that caused it.
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

pub(crate) const VALUE_BYTES: u64 = std::mem::size_of::<Value>() as u64;
const PROP_BYTES: u64 = std::mem::size_of::<(String, Value)>() as u64;

/// Where a value sits in the copy, rendered only for an error (a copy of a million values
/// would otherwise build a million path strings).
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root(&'a str),
    Index(&'a Path<'a>, u32),
    Key(&'a Path<'a>, &'a str),
    /// A rendered segment: a `Map`'s entry, a `Set`'s item, an error's cause.
    Segment(&'a Path<'a>, &'a str),
}

impl Path<'_> {
    pub(crate) fn render(&self) -> String {
        match self {
            Path::Root(root) => (*root).to_owned(),
            Path::Index(parent, i) => format!("{}[{i}]", parent.render()),
            Path::Key(parent, key) => push_path(&parent.render(), key),
            Path::Segment(parent, seg) => format!("{}{seg}", parent.render()),
        }
    }

    /// This path and its parents, the root first.
    fn chain(&self) -> Vec<Path<'_>> {
        let mut out = vec![*self];
        let mut at = *self;
        while let Path::Index(parent, _) | Path::Key(parent, _) | Path::Segment(parent, _) = at {
            out.push(*parent);
            at = *parent;
        }
        out.reverse();
        out
    }
}

pub(crate) struct Copier<'env> {
    pub(crate) env: &'env Env,
    /// The objects being copied, outermost first (one per level of the current path).
    pub(crate) ancestors: Vec<Object<'env>>,
    left: u64,
    budget: u64,
    /// No string longer than this can fit in the sandbox at all.
    longest: u64,
    /// Values copied so far, with earlier copies of the same group (see
    /// `baml_sandbox::MAX_COPY_VALUES`).
    pub(crate) values: usize,
    /// What the bound applies to, for its message ("the copy", "all globals together").
    pub(crate) whole: &'static str,
    /// Node's prototypes that tell objects apart without running JavaScript, and where the
    /// stack stood when the copy began (see `clone::deep_guard`).
    pub(crate) protos: crate::clone::Protos,
    pub(crate) stack_base: usize,
}

/// Values counted against `MAX_COPY_VALUES` by the copies of one group.
pub(crate) struct ValueCount {
    used: usize,
    whole: &'static str,
}

impl ValueCount {
    /// `whole` names the group in a refusal.
    pub(crate) fn new(whole: &'static str) -> ValueCount {
        ValueCount { used: 0, whole }
    }
}

pub(crate) fn fail(path: &Path<'_>, reason: impl Into<String>) -> CopyError {
    CopyError {
        path: path.render(),
        reason: reason.into(),
    }
}

impl Copier<'_> {
    pub(crate) fn charge(
        &mut self,
        path: &Path<'_>,
        bytes: u64,
    ) -> std::result::Result<(), CopyError> {
        if bytes > self.left {
            return Err(self.limit(
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

    /// Counts one value against `MAX_COPY_VALUES`.
    pub(crate) fn count(&mut self, path: &Path<'_>) -> std::result::Result<(), CopyError> {
        self.values += 1;
        if self.values > baml_sandbox::MAX_COPY_VALUES {
            return Err(self.limit(
                path,
                format!(
                    "{} would hold more than {} values (the most one copy between Node and the sandbox may hold)",
                    self.whole,
                    baml_sandbox::MAX_COPY_VALUES
                ),
            ));
        }
        Ok(())
    }

    /// A limit reached at `path`: reported as a cycle if the objects above it repeat (cycles
    /// are found here, when a copy has to stop anyway, not by comparing every object with all
    /// of its ancestors as it is copied: a cyclic value always ends here, at the depth limit
    /// if nothing else stops it first).
    pub(crate) fn limit(&self, path: &Path<'_>, reason: String) -> CopyError {
        self.cycle(path).unwrap_or_else(|| fail(path, reason))
    }

    /// The first object of the current path that is also one of its own ancestors, as a
    /// "cyclic reference" at its path.
    fn cycle(&self, path: &Path<'_>) -> Option<CopyError> {
        let chain = path.chain();
        for (j, later) in self.ancestors.iter().enumerate() {
            for earlier in &self.ancestors[..j] {
                if self.env.strict_equals(*earlier, *later).unwrap_or(false) {
                    let at = chain.get(j).copied().unwrap_or(*path);
                    return Some(fail(&at, "cyclic reference"));
                }
            }
        }
        None
    }
}

/// Copies a Node value (globals, host-function results) into a `Value` for a sandbox with
/// memory limit `limit`: at most its copy budget in all (see the module docs), at most
/// `MAX_COPY_VALUES` values with the values copied before it in the same group (`values`,
/// counted up here), and no string longer than the limit itself (measured before it is
/// copied).
pub(crate) fn from_node<'env>(
    env: &'env Env,
    v: &Unknown<'env>,
    path: &str,
    limit: usize,
    values: &mut ValueCount,
) -> std::result::Result<Value, CopyError> {
    let budget = baml_sandbox::copy_budget(limit) as u64;
    let root = Path::Root(path);
    let t = match v.get_type() {
        Ok(t) => t,
        Err(e) => {
            return Err(fail(
                &root,
                format!("it cannot be read: {}", failure(env, &e)),
            ))
        }
    };
    let mut copier = Copier {
        env,
        ancestors: Vec::new(),
        left: budget,
        budget,
        longest: limit as u64,
        values: values.used,
        whole: values.whole,
        // Read here, in the copy's outermost handle scope (each element has a scope of its
        // own), and only for an object: a dozen property reads that a number or a string
        // (most host results) never needs.
        protos: if t == ValueType::Object {
            crate::clone::Protos::read(env)
        } else {
            crate::clone::Protos::default()
        },
        stack_base: crate::clone::stack_position(),
    };
    let out = copier
        .charge(&root, VALUE_BYTES)
        .and_then(|()| from_rec(&mut copier, v, t, &root, 0));
    values.used = copier.values;
    out
}

pub(crate) fn text(s: JsString<'_>) -> Result<String> {
    s.into_utf8()?.into_owned()
}

fn skipped(t: ValueType) -> bool {
    matches!(t, ValueType::Function | ValueType::Symbol)
}

/// Runs `f` in a handle scope of its own: the handles a copy creates for one element are
/// released with it, not kept (and scanned by every garbage collection) until the copy ends.
pub(crate) fn scoped<T>(
    env: &Env,
    path: &Path<'_>,
    f: impl FnOnce() -> std::result::Result<T, CopyError>,
) -> std::result::Result<T, CopyError> {
    env.run_in_scope(|| Ok(f())).unwrap_or_else(|e| {
        Err(fail(
            path,
            format!("it cannot be read: {}", failure(env, &e)),
        ))
    })
}

/// Copies `v`, whose type the caller read (`t`).
pub(crate) fn from_rec<'env>(
    copier: &mut Copier<'env>,
    v: &Unknown<'env>,
    t: ValueType,
    path: &Path<'_>,
    depth: usize,
) -> std::result::Result<Value, CopyError> {
    let env = copier.env;
    let unreadable = |e: Error| fail(path, format!("it cannot be read: {}", failure(env, &e)));
    copier.count(path)?;
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
            let obj = v.coerce_to_object().map_err(unreadable)?;
            if depth >= MAX_DEPTH {
                copier.ancestors.push(obj);
                let error = copier.limit(path, format!("nested deeper than {MAX_DEPTH} levels"));
                copier.ancestors.pop();
                return Err(error);
            }
            let array = v.is_array().map_err(unreadable)?;
            if !array && v.is_date().map_err(unreadable)? {
                // SAFETY-free: the value was just checked to be a Date.
                let date = JsDate::from_unknown(*v).map_err(unreadable)?;
                return Ok(Value::Date(date.value_of().map_err(unreadable)?));
            }
            if !array {
                if let Some(out) = crate::clone::from_kind(copier, v, obj, path, depth)? {
                    return Ok(out);
                }
            }
            copier.ancestors.push(obj);
            let out = if array {
                copy_array(copier, &obj, path, depth)
            } else {
                copy_object(copier, &obj, path, depth)
            };
            copier.ancestors.pop();
            out?
        }
        _ => return Err(fail(path, "this kind of value cannot be copied")),
    })
}

/// An element or property just read (a getter or Proxy trap may have thrown), and its type.
pub(crate) fn read<'env>(
    env: &Env,
    path: &Path<'_>,
    got: Result<Unknown<'env>>,
) -> std::result::Result<(Unknown<'env>, ValueType), CopyError> {
    let item = got.map_err(|e| fail(path, format!("reading it threw: {}", failure(env, &e))))?;
    let t = item.get_type().map_err(|e| fail(path, failure(env, &e)))?;
    Ok((item, t))
}

fn copy_array<'env>(
    copier: &mut Copier<'env>,
    arr: &Object<'env>,
    path: &Path<'_>,
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
    let env = copier.env;
    for i in 0..len {
        let item_path = Path::Index(path, i);
        let item = scoped(env, &item_path, || {
            let (item, t) = read(env, &item_path, arr.get_element(i))?;
            if skipped(t) {
                copier.count(&item_path)?;
                Ok(Value::Null)
            } else {
                from_rec(copier, &item, t, &item_path, depth + 1)
            }
        })?;
        items.push(item);
    }
    Ok(Value::Array(items))
}

fn copy_object<'env>(
    copier: &mut Copier<'env>,
    obj: &Object<'env>,
    path: &Path<'_>,
    depth: usize,
) -> std::result::Result<Value, CopyError> {
    let env = copier.env;
    let keys = obj
        .get_all_property_names(
            KeyCollectionMode::OwnOnly,
            KeyFilter::Enumerable,
            KeyConversion::NumbersToStrings,
        )
        .map_err(|e| {
            fail(
                path,
                format!("its keys cannot be listed: {}", failure(env, &e)),
            )
        })?;
    let count = keys
        .get_array_length()
        .map_err(|e| fail(path, failure(env, &e)))?;
    copier.charge(path, u64::from(count) * PROP_BYTES)?;
    let mut props = Vec::with_capacity(count.min(1 << 16) as usize);
    for i in 0..count {
        let prop = scoped(env, path, || {
            let key: Unknown = keys
                .get_element(i)
                .map_err(|e| fail(path, failure(env, &e)))?;
            if key.get_type().map_err(|e| fail(path, failure(env, &e)))? != ValueType::String {
                return Ok(None); // a symbol
            }
            let key = key
                .coerce_to_string()
                .map_err(|e| fail(path, failure(env, &e)))?;
            let name = text(key).map_err(|e| fail(path, failure(env, &e)))?;
            let item_path = Path::Key(path, &name);
            copier.charge(&item_path, name.len() as u64)?;
            let (item, t) = read(env, &item_path, obj.get_property(key))?;
            if skipped(t) {
                return Ok(None);
            }
            let child = from_rec(copier, &item, t, &item_path, depth + 1)?;
            Ok(Some((name, child)))
        })?;
        if let Some(prop) = prop {
            props.push(prop);
        }
    }
    Ok(Value::Object(props))
}

/// Copies with at least this many values cross as JSON text (see [`to_node`]).
const JSON_VALUES: usize = 512;

/// Builds a fresh Node value from a copy. Object keys are own data properties, so `__proto__`
/// stays an ordinary key.
///
/// A big copy is built by V8's `JSON.parse` from text written here, since building it with
/// one N-API call per value blocked Node's thread for most of a second for a million values
/// (a result of shared subtrees, `x = [x, x]` repeated, expands to that within the copy
/// budget). What JSON cannot hold (`undefined`, NaN, the infinities, -0, dates) is written as
/// `null` and patched in afterwards by path.
pub(crate) fn to_node(env: &Env, v: Prepared) -> Result<Unknown<'_>> {
    match v {
        Prepared::Direct(v) => direct(env, &v),
        Prepared::Json(text) => revive(env, text),
    }
}

/// A copy on its way to Node's thread, made ready by the thread that produced it (see
/// [`prepare`]).
pub(crate) enum Prepared {
    /// Few values (freed on Node's thread, cheaply): built with one N-API call each.
    Direct(Value),
    /// Many: the JSON text `REVIVE` parses, written (and the copy freed) off Node's thread.
    Json(String),
}

/// Readies `v` for [`to_node`]: runs on the thread that hands it to Node (a sandbox thread or
/// the I/O thread reading a worker process), so that writing the JSON text of a big copy and
/// freeing the copy never hold Node's thread.
pub(crate) fn prepare(v: Value) -> Prepared {
    if !at_least(&v, JSON_VALUES) || has_clone_kind(&v) {
        return Prepared::Direct(v);
    }
    let mut w = JsonWriter::default();
    w.text.push('[');
    w.value(&v);
    let mut text = w.text;
    text.push_str(",[");
    text.push_str(&w.groups);
    text.push_str("]]");
    baml_sandbox::drop_flat(v);
    Prepared::Json(text)
}

/// Whether `v` holds a structured-clone kind (`Map`, `Set`, a buffer, a regular expression,
/// an error), which the JSON text cannot carry: such a copy is built directly.
fn has_clone_kind(v: &Value) -> bool {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(props) => stack.extend(props.iter().map(|(_, v)| v)),
            Value::Map(_)
            | Value::Set(_)
            | Value::ArrayBuffer(_)
            | Value::TypedArray { .. }
            | Value::RegExp(_)
            | Value::Error(_) => return true,
            _ => {}
        }
    }
    false
}

/// Whether `v` holds at least `n` values (itself included).
fn at_least(v: &Value, n: usize) -> bool {
    let mut seen = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        seen += 1;
        if seen >= n {
            return true;
        }
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(props) => stack.extend(props.iter().map(|(_, v)| v)),
            _ => {}
        }
    }
    false
}

/// Parses `[value, groups]`; each group `[path, slots]` names a container by its path and
/// lists triples for the values JSON could not hold there: in an array `first index, kind,
/// count` (a run of equal values) or `index, 5, ms` (a date); in an object `key, kind, ms`.
const REVIVE: &str = r"(function (text) {
  'use strict';
  const parsed = JSON.parse(text);
  const out = parsed[0];
  const groups = parsed[1];
  const value = (k, ms) => k === 0 ? undefined : k === 1 ? NaN : k === 2 ? Infinity
    : k === 3 ? -Infinity : k === 4 ? -0 : new Date(k === 5 ? ms : NaN);
  for (let g = 0; g < groups.length; g++) {
    const path = groups[g][0];
    const slots = groups[g][1];
    let o = out;
    for (let i = 0; i < path.length; i++) o = o[path[i]];
    const array = Array.isArray(o);
    for (let i = 0; i < slots.length; i += 3) {
      const k = slots[i + 1];
      if (!array || k === 5) {
        o[slots[i]] = value(k, slots[i + 2]);
      } else {
        for (let j = slots[i], end = j + slots[i + 2]; j < end; j++) o[j] = value(k, 0);
      }
    }
  }
  return out;
})";

thread_local! {
    /// `REVIVE`, compiled once per thread (each Node environment has its own thread).
    static REVIVER: std::cell::RefCell<Option<(usize, FunctionRef<String, Unknown<'static>>)>> =
        const { std::cell::RefCell::new(None) };
}

fn revive(env: &Env, text: String) -> Result<Unknown<'_>> {
    let key = env.raw() as usize;
    let cached = REVIVER.with(|r| {
        r.borrow()
            .as_ref()
            .filter(|(k, _)| *k == key)
            .and_then(|(_, f)| f.borrow_back(env).ok())
    });
    let revive = if let Some(f) = cached {
        f
    } else {
        let f: Function<String, Unknown> = env.run_script(REVIVE)?;
        let stored = f.create_ref()?;
        REVIVER.with(|r| *r.borrow_mut() = Some((key, stored)));
        f
    };
    revive.call(text)
}

/// Writes a copy as JSON: a value JSON cannot hold as `null`, and a slot in its container's
/// group.
#[derive(Default)]
struct JsonWriter<'a> {
    text: String,
    groups: String,
    path: Vec<Segment<'a>>,
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Index(usize),
    Key(&'a str),
}

/// How a value JSON cannot hold is patched in: `(kind, payload)`, or `None` for the others.
fn special(v: &Value) -> Option<(u8, f64)> {
    match v {
        Value::Undefined => Some((0, 0.0)),
        Value::Number(n) if n.is_nan() => Some((1, 0.0)),
        Value::Number(n) if n.is_infinite() => Some((if *n > 0.0 { 2 } else { 3 }, 0.0)),
        Value::Number(n) if *n == 0.0 && n.is_sign_negative() => Some((4, 0.0)),
        Value::Date(ms) if ms.is_finite() => Some((5, *ms)),
        Value::Date(_) => Some((6, 0.0)),
        _ => None,
    }
}

impl<'a> JsonWriter<'a> {
    /// Writes a value JSON can hold (the root is never special: it has children).
    fn value(&mut self, v: &'a Value) {
        use std::fmt::Write as _;
        match v {
            // Dates are patched in; the structured-clone kinds never come here (a copy holding
            // one is built directly, see `has_clone_kind`).
            Value::Null
            | Value::Undefined
            | Value::Date(_)
            | Value::Map(_)
            | Value::Set(_)
            | Value::ArrayBuffer(_)
            | Value::TypedArray { .. }
            | Value::RegExp(_)
            | Value::Error(_) => self.text.push_str("null"),
            Value::Bool(b) => self.text.push_str(if *b { "true" } else { "false" }),
            // Finite here: the shortest text that reads back as the same double.
            Value::Number(n) => {
                let _ = write!(self.text, "{n:e}");
            }
            Value::String(s) => string(&mut self.text, s),
            Value::Array(items) => {
                let mut slots: Vec<(Segment<'a>, u8, f64)> = Vec::new();
                self.text.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    self.child(Segment::Index(i), item, &mut slots);
                }
                self.text.push(']');
                // Runs of equal values (the holes of a sparse array) become one triple each:
                // first index, kind, count.
                let mut runs: Vec<(Segment<'a>, u8, f64)> = Vec::new();
                for (at, kind, payload) in slots {
                    if let (Some(last), Segment::Index(i)) = (runs.last_mut(), at) {
                        if let Segment::Index(first) = last.0 {
                            #[expect(
                                clippy::cast_possible_truncation,
                                clippy::cast_sign_loss,
                                reason = "counts of array elements, far below 2^53"
                            )]
                            let count = last.2 as usize;
                            if kind != 5 && last.1 == kind && first + count == i {
                                last.2 += 1.0;
                                continue;
                            }
                        }
                    }
                    runs.push((at, kind, if kind == 5 { payload } else { 1.0 }));
                }
                self.group(&runs);
            }
            Value::Object(props) => {
                let mut slots: Vec<(Segment<'a>, u8, f64)> = Vec::new();
                self.text.push('{');
                for (i, (k, item)) in props.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    string(&mut self.text, k);
                    self.text.push(':');
                    self.child(Segment::Key(k), item, &mut slots);
                }
                self.text.push('}');
                self.group(&slots);
            }
        }
    }

    fn child(&mut self, at: Segment<'a>, item: &'a Value, slots: &mut Vec<(Segment<'a>, u8, f64)>) {
        if let Some((kind, payload)) = special(item) {
            self.text.push_str("null");
            slots.push((at, kind, payload));
        } else {
            self.path.push(at);
            self.value(item);
            self.path.pop();
        }
    }

    /// `[path, [key, kind, payload, ...]]` for a container with special values.
    fn group(&mut self, slots: &[(Segment<'a>, u8, f64)]) {
        use std::fmt::Write as _;
        if slots.is_empty() {
            return;
        }
        if !self.groups.is_empty() {
            self.groups.push(',');
        }
        self.groups.push_str("[[");
        for (i, seg) in self.path.iter().enumerate() {
            if i > 0 {
                self.groups.push(',');
            }
            segment(&mut self.groups, *seg);
        }
        self.groups.push_str("],[");
        for (i, (seg, kind, payload)) in slots.iter().enumerate() {
            if i > 0 {
                self.groups.push(',');
            }
            segment(&mut self.groups, *seg);
            let _ = write!(self.groups, ",{kind},{payload:e}");
        }
        self.groups.push_str("]]");
    }
}

fn segment(out: &mut String, seg: Segment<'_>) {
    use std::fmt::Write as _;
    match seg {
        Segment::Index(i) => {
            let _ = write!(out, "{i}");
        }
        Segment::Key(k) => string(out, k),
    }
}

/// `s` as a JSON string literal.
fn string(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Builds a fresh Node value from a copy, one N-API call per value. The structured-clone
/// kinds that need JavaScript to be built (`Map`, `Set`, typed arrays, `RegExp`, errors) are
/// built after the walk, from the innermost out, so that no JavaScript runs deep in it (see
/// `clone::Later`).
pub(crate) fn direct<'env>(env: &'env Env, v: &Value) -> Result<Unknown<'env>> {
    let mut later = crate::clone::Later::default();
    let (out, own) = build_node(env, v, &mut later)?;
    later.finish(env, out, own)
}

/// Builds `v`; for a kind left to `later`, a placeholder and the index of its entry there.
pub(crate) fn build_node<'env>(
    env: &'env Env,
    v: &Value,
    later: &mut crate::clone::Later,
) -> Result<(Unknown<'env>, Option<usize>)> {
    use crate::clone::Slot;
    Ok((
        match v {
            Value::Undefined => ().into_unknown(env)?,
            Value::Null => Null.into_unknown(env)?,
            Value::Bool(b) => b.into_unknown(env)?,
            Value::Number(n) => n.into_unknown(env)?,
            Value::String(s) => s.as_str().into_unknown(env)?,
            Value::Date(ms) => env.create_date(*ms)?.to_unknown(),
            Value::Array(items) => {
                let mut arr = env.create_array(u32::try_from(items.len()).unwrap_or(u32::MAX))?;
                for (i, item) in items.iter().enumerate() {
                    let i = u32::try_from(i).unwrap_or(u32::MAX);
                    let (value, own) = build_node(env, item, later)?;
                    arr.set(i, value)?;
                    later.place(own, arr.raw(), Slot::Index(i));
                }
                arr.to_unknown()
            }
            Value::Object(props) => {
                let mut obj = Object::new(env)?;
                for (k, item) in props {
                    let (value, own) = build_node(env, item, later)?;
                    obj.define_properties(&[Property::new()
                        .with_utf8_name(k)?
                        .with_value(&value)
                        .with_property_attributes(
                            PropertyAttributes::Writable
                                | PropertyAttributes::Enumerable
                                | PropertyAttributes::Configurable,
                        )])?;
                    later.place(own, obj.raw(), Slot::Key(k.clone()));
                }
                obj.to_unknown()
            }
            Value::Map(_)
            | Value::Set(_)
            | Value::ArrayBuffer(_)
            | Value::TypedArray { .. }
            | Value::RegExp(_)
            | Value::Error(_) => return crate::clone::to_node_kind(env, v, later),
        },
        None,
    ))
}
