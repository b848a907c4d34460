//! `ctx.output_format`: the text that tells the model what shape to answer in.
//!
//! This follows BAML's v0 runtime (`@boundaryml/baml` 0.226.2) to the character; the cases in
//! `tests/output_format/cases.json` were recorded from it. The work happens in three steps,
//! as in BAML:
//!
//! 1. The return type is normalised the way BAML's IR holds it: type aliases are resolved
//!    (aliases that are part of a cycle stay named, as "structural recursive aliases"), unions
//!    are flattened and deduplicated with `null` moved last, and a union of one type is that type.
//! 2. The classes, enums and recursive aliases reachable from it are collected by BAML's
//!    depth-first walk (its order decides the order of hoisted definitions). Classes that are
//!    part of a reference cycle (found with Tarjan's algorithm over the whole project, as BAML
//!    does) are always hoisted: shown once, by name.
//! 3. The text is assembled: hoisted enums, hoisted classes, recursive aliases, the prefix
//!    ("Answer in JSON using this schema:") and the schema itself.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use baml_ir::ir::Class as IrClass;
use baml_ir::types::Literal;
use baml_ir::{Ir, Type};
use serde_json::{Map, Value as Json};

/// A string option that can be left unset (BAML picks), set, or switched off with `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Setting {
    /// Not given: BAML's default.
    #[default]
    Unset,
    /// Given as `null` (`none`).
    Null,
    /// Given a value (non-strings are converted the way minijinja prints them).
    Value(String),
}

impl Setting {
    fn value(&self) -> Option<&str> {
        match self {
            Setting::Value(v) => Some(v),
            Setting::Unset | Setting::Null => None,
        }
    }
}

/// `hoist_classes`: which classes are shown once, by name, before the schema.
/// Recursive classes are hoisted whatever this says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HoistClasses {
    /// `"auto"`, `false` or not given: only recursive classes.
    #[default]
    Auto,
    /// `true`: every class.
    All,
    /// A list of class names (in this order, after the recursive ones); each must be one of
    /// the classes the return type uses.
    Only(Vec<String>),
}

/// `map_style`: how maps are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MapStyle {
    /// `"angle"`: `map<string, int>`.
    #[default]
    Angle,
    /// `"object"`: `{string: int}`.
    Object,
}

/// Options of `ctx.output_format(...)`; `Default` is what `{{ ctx.output_format }}` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFormatOptions {
    /// `prefix`: the text before the schema. Unset: chosen by the return type ("Answer as an
    /// int", "Answer in JSON using this schema:\n", ...); `null`: none.
    pub prefix: Setting,
    /// `or_splitter`: between the arms of a union (default `" or "`).
    pub or_splitter: String,
    /// `enum_value_prefix`: before each value in an enum's listing. Unset: `"- "`; `null`: none.
    pub enum_value_prefix: Setting,
    /// `always_hoist_enums`: list every enum before the schema and refer to it by name (by
    /// default only enums with more than 6 values or with a described value are).
    pub always_hoist_enums: bool,
    /// `hoist_classes`.
    pub hoist_classes: HoistClasses,
    /// `hoisted_class_prefix`: the word in front of hoisted definitions and in the prefix
    /// ("Answer in JSON using this {word}:"). Unset, `null` or empty: none, and "schema" in
    /// the prefix.
    pub hoisted_class_prefix: Setting,
    /// `map_style`.
    pub map_style: MapStyle,
    /// `quote_class_fields`: write field names in double quotes.
    pub quote_class_fields: bool,
    /// `render_null_as`: how `null` is written. Unset or `null`: `null`.
    pub render_null_as: Setting,
}

impl Default for OutputFormatOptions {
    fn default() -> Self {
        Self {
            prefix: Setting::Unset,
            or_splitter: DEFAULT_OR_SPLITTER.to_string(),
            enum_value_prefix: Setting::Unset,
            always_hoist_enums: false,
            hoist_classes: HoistClasses::Auto,
            hoisted_class_prefix: Setting::Unset,
            map_style: MapStyle::Angle,
            quote_class_fields: false,
            render_null_as: Setting::Unset,
        }
    }
}

const DEFAULT_OR_SPLITTER: &str = " or ";
const DEFAULT_TYPE_WORD: &str = "schema";
/// Enums with more values than this are listed before the schema instead of inline.
const INLINE_ENUM_MAX_VALUES: usize = 6;
/// Inline enum unions longer than this (in bytes) are written as a block inside a list.
const INLINE_LIST_ENUM_MAX_LEN: usize = 15;
/// Schemas nest at most this deep (BAML itself would overflow its stack somewhere).
const MAX_DEPTH: usize = 256;

/// The keyword arguments `ctx.output_format` accepts, in the order BAML lists them.
const OPTION_NAMES: &str = "'prefix', 'always_hoist_enums', 'enum_value_prefix', 'or_splitter', \
    'hoisted_class_prefix', 'hoist_classes', 'map_style', 'quote_class_fields', and 'render_null_as'";

/// Why `ctx.output_format` could not be rendered. The messages are BAML's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputFormatError {
    /// An option has a value of the wrong type, or not one of its choices.
    #[error("Invalid value for {option} (expected {expected}): {reason}")]
    InvalidOption {
        option: &'static str,
        expected: &'static str,
        reason: String,
    },
    /// A keyword argument that is not an option (BAML's message does not name it).
    #[error(
        "output_format() got an unexpected keyword argument (only {OPTION_NAMES} are allowed)"
    )]
    UnknownOption { name: String },
    /// `hoist_classes` names classes the return type does not use.
    #[error("{}", hoist_message(.names))]
    UnknownHoistedClasses { names: Vec<String> },
    /// Media types can be inputs only.
    #[error("type '{media}' is not supported in outputs")]
    MediaInOutput { media: &'static str },
    /// A type name the IR does not define (only with an IR that was not validated).
    #[error("{kind} {name} not found")]
    UnknownType { kind: &'static str, name: String },
    /// The schema nests deeper than [`MAX_DEPTH`].
    #[error("the output schema nests more than {limit} levels deep")]
    TooDeep { limit: usize },
}

fn hoist_message(names: &[String]) -> String {
    let (what, verb) = if names.len() == 1 {
        ("class", "it does")
    } else {
        ("classes", "they do")
    };
    let list = names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!("Cannot hoist {what} {list} because {verb} not exist")
}

impl OutputFormatError {
    /// A stable identifier of the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            OutputFormatError::InvalidOption { .. } => "OUTPUT_FORMAT_INVALID_OPTION",
            OutputFormatError::UnknownOption { .. } => "OUTPUT_FORMAT_UNKNOWN_OPTION",
            OutputFormatError::UnknownHoistedClasses { .. } => "OUTPUT_FORMAT_UNKNOWN_CLASS",
            OutputFormatError::MediaInOutput { .. } => "OUTPUT_FORMAT_MEDIA",
            OutputFormatError::UnknownType { .. } => "OUTPUT_FORMAT_UNKNOWN_TYPE",
            OutputFormatError::TooDeep { .. } => "OUTPUT_FORMAT_TOO_DEEP",
        }
    }

    /// The minijinja error kind BAML raises this error with, so a template error reads as
    /// BAML's ("syntax error: Invalid value for ...", "too many arguments: ...", "could not
    /// serialize to value: Cannot hoist ...").
    pub fn jinja_kind(&self) -> minijinja::ErrorKind {
        match self {
            OutputFormatError::InvalidOption { .. } => minijinja::ErrorKind::SyntaxError,
            OutputFormatError::UnknownOption { .. } => minijinja::ErrorKind::TooManyArguments,
            OutputFormatError::UnknownHoistedClasses { .. }
            | OutputFormatError::MediaInOutput { .. }
            | OutputFormatError::UnknownType { .. }
            | OutputFormatError::TooDeep { .. } => minijinja::ErrorKind::BadSerialization,
        }
    }
}

impl From<OutputFormatError> for minijinja::Error {
    fn from(e: OutputFormatError) -> Self {
        minijinja::Error::new(e.jinja_kind(), e.to_string())
    }
}

// ---- options --------------------------------------------------------------------------------

impl OutputFormatOptions {
    /// From the keyword arguments of a template call, given as a JSON object (strings, bools,
    /// null, numbers, lists, objects).
    ///
    /// As in BAML, values are converted with minijinja's rules: string options accept any value
    /// and use its printed form (`prefix=1` is `"1"`, `or_splitter=null` is `"none"`), bool
    /// options accept only bools, and the options are checked in BAML's order before unknown
    /// keys are reported.
    pub fn from_kwargs(kwargs: &Map<String, Json>) -> Result<Self, OutputFormatError> {
        const KNOWN: [&str; 9] = [
            "prefix",
            "or_splitter",
            "enum_value_prefix",
            "always_hoist_enums",
            "hoisted_class_prefix",
            "hoist_classes",
            "map_style",
            "quote_class_fields",
            "render_null_as",
        ];
        let mut out = Self::default();
        if let Some(v) = kwargs.get("prefix") {
            out.prefix = string_or_null(v);
        }
        if let Some(v) = kwargs.get("or_splitter") {
            out.or_splitter = jinja_string(v);
        }
        if let Some(v) = kwargs.get("enum_value_prefix") {
            out.enum_value_prefix = string_or_null(v);
        }
        if let Some(v) = kwargs.get("always_hoist_enums") {
            out.always_hoist_enums = boolean(v, "always_hoist_enums")?;
        }
        if let Some(v) = kwargs.get("hoisted_class_prefix") {
            out.hoisted_class_prefix = string_or_null(v);
        }
        if let Some(v) = kwargs.get("hoist_classes") {
            out.hoist_classes = hoist_classes(v)?;
        }
        if let Some(v) = kwargs.get("map_style") {
            out.map_style = map_style(v)?;
        }
        if let Some(v) = kwargs.get("quote_class_fields") {
            out.quote_class_fields = boolean(v, "quote_class_fields")?;
        }
        if let Some(v) = kwargs.get("render_null_as") {
            out.render_null_as = string_or_null(v);
        }
        if let Some(name) = kwargs.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(OutputFormatError::UnknownOption { name: name.clone() });
        }
        Ok(out)
    }
}

/// A value as a string option takes it: strings as they are, anything else printed the way
/// BAML's minijinja prints it (`none`, `true`, `1.5`, `[1, "a"]`, `{"a": 1}`).
fn jinja_string(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        v => {
            let mut out = String::new();
            write_jinja(v, &mut out);
            out
        }
    }
}

fn write_jinja(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("none"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => match n.as_f64() {
            Some(f) if !(n.is_i64() || n.is_u64()) => {
                let mut text = f.to_string();
                if f.is_finite() && !text.contains('.') {
                    text.push_str(".0");
                }
                out.push_str(&text);
            }
            _ => out.push_str(&n.to_string()),
        },
        Json::String(s) => {
            let _ = write!(out, "{s:?}");
        }
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jinja(item, out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{k:?}: ");
                write_jinja(item, out);
            }
            out.push('}');
        }
    }
}

/// minijinja's name for the kind of a value (in "cannot convert ... to bool").
fn jinja_kind_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "none",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "sequence",
        Json::Object(_) => "map",
    }
}

fn string_or_null(v: &Json) -> Setting {
    match v {
        Json::Null => Setting::Null,
        v => Setting::Value(jinja_string(v)),
    }
}

fn boolean(v: &Json, option: &'static str) -> Result<bool, OutputFormatError> {
    match v {
        Json::Bool(b) => Ok(*b),
        v => Err(OutputFormatError::InvalidOption {
            option,
            expected: "bool",
            reason: format!(
                "invalid operation: cannot convert {} to bool",
                jinja_kind_name(v)
            ),
        }),
    }
}

fn hoist_classes(v: &Json) -> Result<HoistClasses, OutputFormatError> {
    match v {
        Json::Bool(true) => Ok(HoistClasses::All),
        Json::Bool(false) => Ok(HoistClasses::Auto),
        Json::String(s) if s == "auto" => Ok(HoistClasses::Auto),
        Json::Array(items) => Ok(HoistClasses::Only(items.iter().map(jinja_string).collect())),
        _ => Err(OutputFormatError::InvalidOption {
            option: "hoist_classes",
            expected: "one of bool | \"auto\" | string[]",
            reason: "invalid operation: not iterable".to_string(),
        }),
    }
}

fn map_style(v: &Json) -> Result<MapStyle, OutputFormatError> {
    match jinja_string(v).as_str() {
        "angle" => Ok(MapStyle::Angle),
        "object" => Ok(MapStyle::Object),
        _ => Err(OutputFormatError::InvalidOption {
            option: "map_style",
            expected: "one of angle, object",
            reason: "Matching variant not found".to_string(),
        }),
    }
}

// ---- normalised types -----------------------------------------------------------------------

/// A type as BAML's IR holds it when rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ty {
    String,
    Int,
    Float,
    Bool,
    Null,
    Media(&'static str),
    Literal(Literal),
    Class(String),
    Enum(String),
    /// An alias that is part of a cycle of aliases (through lists or maps).
    RecursiveAlias(String),
    List(Box<Ty>),
    Map(Box<Ty>, Box<Ty>),
    /// At least two distinct arms, or one arm and `null`; never nested, no `null` arm.
    Union(Vec<Ty>, bool),
}

impl Ty {
    fn is_primitive(&self) -> bool {
        matches!(
            self,
            Ty::String | Ty::Int | Ty::Float | Ty::Bool | Ty::Null | Ty::Media(_)
        )
    }

    /// BAML's name for a primitive (for "Answer as a/an ...").
    fn primitive_name(&self) -> &'static str {
        match self {
            Ty::String => "string",
            Ty::Int => "int",
            Ty::Float => "float",
            Ty::Bool => "bool",
            Ty::Media(m) => m,
            _ => "null",
        }
    }

    /// Arms of a union with `null` last (`iter_include_null`).
    fn arms(arms: &[Ty], null: bool) -> impl Iterator<Item = &Ty> {
        arms.iter().chain(null.then_some(&Ty::Null))
    }

    /// A union built the way BAML builds one: flattened, deduplicated, `null` last, and a
    /// single type when only one is left.
    fn union(parts: Vec<Ty>) -> Ty {
        let mut arms: Vec<Ty> = Vec::new();
        let mut null = false;
        let mut pending = parts;
        pending.reverse();
        while let Some(t) = pending.pop() {
            match t {
                Ty::Null => null = true,
                Ty::Union(inner, inner_null) => {
                    null |= inner_null;
                    pending.extend(inner.into_iter().rev());
                }
                t => {
                    if !arms.contains(&t) {
                        arms.push(t);
                    }
                }
            }
        }
        match (arms.len(), null) {
            (0, _) => Ty::Null,
            (1, false) => arms.pop().unwrap_or(Ty::Null),
            _ => Ty::Union(arms, null),
        }
    }

    /// A key identifying the type in BAML's walk over reachable types.
    fn key(&self) -> String {
        let mut s = String::new();
        self.write_key(&mut s);
        s
    }

    fn write_key(&self, s: &mut String) {
        match self {
            Ty::Class(n) | Ty::Enum(n) | Ty::RecursiveAlias(n) => s.push_str(n),
            Ty::Literal(Literal::String(v)) => {
                let _ = write!(s, "{v:?}");
            }
            Ty::Literal(Literal::Int(v)) => {
                let _ = write!(s, "{v}");
            }
            Ty::Literal(Literal::Bool(v)) => {
                let _ = write!(s, "{v}");
            }
            Ty::List(t) => {
                s.push('(');
                t.write_key(s);
                s.push_str(")[]");
            }
            Ty::Map(k, v) => {
                s.push_str("map<");
                k.write_key(s);
                s.push_str(", ");
                v.write_key(s);
                s.push('>');
            }
            Ty::Union(arms, null) => {
                s.push('(');
                for (i, a) in Ty::arms(arms, *null).enumerate() {
                    if i > 0 {
                        s.push_str(" | ");
                    }
                    a.write_key(s);
                }
                s.push(')');
            }
            other => s.push_str(other.primitive_name()),
        }
    }
}

/// What the project says about types, computed once per render: alias and class cycles.
struct Schema<'ir> {
    ir: &'ir Ir,
    /// Aliases in a cycle, each cycle in BAML's order.
    alias_cycles: Vec<Vec<&'ir str>>,
    /// For each alias, its cycle (index in `alias_cycles`).
    alias_cycle_of: HashMap<&'ir str, usize>,
    /// Resolved aliases (non-recursive ones) and bodies of recursive ones.
    alias_bodies: HashMap<&'ir str, (Ty, usize)>,
    /// Classes in a reference cycle, each cycle in BAML's order.
    class_cycles: Vec<Vec<&'ir str>>,
    class_cycle_of: HashMap<&'ir str, usize>,
}

impl<'ir> Schema<'ir> {
    fn new(ir: &'ir Ir) -> Result<Self, OutputFormatError> {
        let mut schema = Schema {
            ir,
            alias_cycles: Vec::new(),
            alias_cycle_of: HashMap::new(),
            alias_bodies: HashMap::new(),
            class_cycles: Vec::new(),
            class_cycle_of: HashMap::new(),
        };
        schema.find_alias_cycles();
        schema.resolve_aliases()?;
        schema.find_class_cycles()?;
        Ok(schema)
    }

    /// Cycles among aliases (an alias refers to another anywhere in its type).
    fn find_alias_cycles(&mut self) {
        let ir = self.ir;
        let index: HashMap<&str, usize> = ir
            .aliases
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.as_str(), i))
            .collect();
        let graph: Vec<Vec<usize>> = ir
            .aliases
            .iter()
            .map(|a| {
                let mut refs = Vec::new();
                alias_refs(&a.ty, &mut refs);
                refs.iter().filter_map(|r| index.get(r).copied()).collect()
            })
            .collect();
        for cycle in tarjan_cycles(&graph) {
            let n = self.alias_cycles.len();
            let names: Vec<&str> = cycle
                .iter()
                .filter_map(|&i| ir.aliases.get(i).map(|a| a.name.as_str()))
                .collect();
            for name in &names {
                self.alias_cycle_of.entry(name).or_insert(n);
            }
            self.alias_cycles.push(names);
        }
    }

    /// Resolves every alias once, dependencies first, without recursing along alias chains
    /// (a chain of thousands of aliases must not overflow the stack).
    fn resolve_aliases(&mut self) -> Result<(), OutputFormatError> {
        let ir = self.ir;
        for alias in &ir.aliases {
            if self.alias_bodies.contains_key(alias.name.as_str()) {
                continue;
            }
            // Post-order over the aliases this one needs resolved first.
            let mut order: Vec<&'ir str> = Vec::new();
            let mut visiting: HashSet<&'ir str> = HashSet::new();
            let mut stack: Vec<(&'ir str, bool)> = vec![(alias.name.as_str(), false)];
            while let Some((name, expanded)) = stack.pop() {
                if expanded {
                    order.push(name);
                    continue;
                }
                if self.alias_bodies.contains_key(name) || !visiting.insert(name) {
                    continue;
                }
                stack.push((name, true));
                let Some(a) = ir.alias(name) else {
                    continue;
                };
                let mut refs = Vec::new();
                alias_refs(&a.ty, &mut refs);
                for r in refs {
                    // References to recursive aliases stay names: nothing to resolve first.
                    if !self.alias_cycle_of.contains_key(r) {
                        if let Some(target) = ir.alias(r) {
                            stack.push((target.name.as_str(), false));
                        }
                    }
                }
            }
            for name in order {
                if let Some(a) = ir.alias(name) {
                    let body = self.convert_with_height(&a.ty)?;
                    self.alias_bodies.insert(name, body);
                }
            }
        }
        Ok(())
    }

    /// Cycles among classes: a class depends on every class named in its fields (skipped
    /// ones too), looking through aliases (not through recursive ones).
    fn find_class_cycles(&mut self) -> Result<(), OutputFormatError> {
        let ir = self.ir;
        let index: HashMap<&str, usize> = ir
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        let mut graph = Vec::with_capacity(ir.classes.len());
        for class in &ir.classes {
            let mut deps = Vec::new();
            for field in &class.fields {
                self.class_refs(&field.ty, &mut deps)?;
            }
            graph.push(
                deps.iter()
                    .filter_map(|d| index.get(d.as_str()).copied())
                    .collect(),
            );
        }
        for cycle in tarjan_cycles(&graph) {
            let n = self.class_cycles.len();
            let names: Vec<&str> = cycle
                .iter()
                .filter_map(|&i| ir.classes.get(i).map(|c| c.name.as_str()))
                .collect();
            for name in &names {
                self.class_cycle_of.entry(name).or_insert(n);
            }
            self.class_cycles.push(names);
        }
        Ok(())
    }

    /// Classes named in a field type, seeing through aliases as BAML does: an alias counts
    /// with the classes of its resolved type, where recursive aliases stay names.
    fn class_refs(&self, t: &Type, out: &mut Vec<String>) -> Result<(), OutputFormatError> {
        match t {
            Type::Class(n) => out.push(n.clone()),
            Type::Alias(n) => {
                let (body, _) = self
                    .alias_bodies
                    .get(n.as_str())
                    .ok_or_else(|| unknown("Type alias", n))?;
                ty_classes(body, out);
            }
            Type::List(t) | Type::Optional(t) => self.class_refs(t, out)?,
            Type::Map(k, v) => {
                self.class_refs(k, out)?;
                self.class_refs(v, out)?;
            }
            Type::Union(arms) => {
                for a in arms {
                    self.class_refs(a, out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The normalised form of an IR type.
    fn convert(&self, t: &Type) -> Result<Ty, OutputFormatError> {
        self.convert_with_height(t).map(|(t, _)| t)
    }

    /// The normalised form of an IR type and how deep it nests (aliases included), refused
    /// beyond [`MAX_DEPTH`] so that nothing downstream recurses too deep.
    fn convert_with_height(&self, t: &Type) -> Result<(Ty, usize), OutputFormatError> {
        let (ty, height) = match t {
            Type::String => (Ty::String, 0),
            Type::Int => (Ty::Int, 0),
            Type::Float => (Ty::Float, 0),
            Type::Bool => (Ty::Bool, 0),
            Type::Null => (Ty::Null, 0),
            Type::Media(m) => (Ty::Media(m.name()), 0),
            Type::Literal(l) => (Ty::Literal(l.clone()), 0),
            Type::Class(n) => (Ty::Class(n.clone()), 0),
            Type::Enum(n) => (Ty::Enum(n.clone()), 0),
            Type::Alias(n) => {
                if self.alias_cycle_of.contains_key(n.as_str()) {
                    (Ty::RecursiveAlias(n.clone()), 0)
                } else {
                    self.alias_bodies
                        .get(n.as_str())
                        .cloned()
                        .ok_or_else(|| unknown("Type alias", n))?
                }
            }
            Type::List(t) => {
                let (t, h) = self.convert_with_height(t)?;
                (Ty::List(Box::new(t)), h + 1)
            }
            Type::Map(k, v) => {
                let (k, hk) = self.convert_with_height(k)?;
                let (v, hv) = self.convert_with_height(v)?;
                (Ty::Map(Box::new(k), Box::new(v)), hk.max(hv) + 1)
            }
            Type::Optional(t) => {
                let (t, h) = self.convert_with_height(t)?;
                (Ty::union(vec![t, Ty::Null]), h + 1)
            }
            Type::Union(arms) => {
                let mut parts = Vec::with_capacity(arms.len());
                let mut height = 0;
                for a in arms {
                    let (a, h) = self.convert_with_height(a)?;
                    parts.push(a);
                    height = height.max(h);
                }
                (Ty::union(parts), height + 1)
            }
        };
        if height > MAX_DEPTH {
            return Err(OutputFormatError::TooDeep { limit: MAX_DEPTH });
        }
        Ok((ty, height))
    }
}

fn unknown(kind: &'static str, name: &str) -> OutputFormatError {
    OutputFormatError::UnknownType {
        kind,
        name: name.to_string(),
    }
}

/// Aliases named anywhere in `t` (not through other aliases).
fn alias_refs<'t>(t: &'t Type, out: &mut Vec<&'t str>) {
    match t {
        Type::Alias(n) => out.push(n),
        Type::List(t) | Type::Optional(t) => alias_refs(t, out),
        Type::Map(k, v) => {
            alias_refs(k, out);
            alias_refs(v, out);
        }
        Type::Union(arms) => {
            for a in arms {
                alias_refs(a, out);
            }
        }
        _ => {}
    }
}

fn ty_classes(t: &Ty, out: &mut Vec<String>) {
    match t {
        Ty::Class(n) => out.push(n.clone()),
        Ty::List(t) => ty_classes(t, out),
        Ty::Map(k, v) => {
            ty_classes(k, out);
            ty_classes(v, out);
        }
        Ty::Union(arms, _) => {
            for a in arms {
                ty_classes(a, out);
            }
        }
        _ => {}
    }
}

/// The cycles of a graph as BAML's Tarjan implementation reports them: nodes visited in
/// index order, successors in index order; a component counts if it has two or more nodes
/// or a self edge; each starts at its smallest node (then in stack order) and components are
/// sorted by that node. Iterative, so deep graphs do not overflow the stack.
fn tarjan_cycles(graph: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNVISITED: usize = usize::MAX;
    let n = graph.len();
    let succ: Vec<Vec<usize>> = graph
        .iter()
        .map(|s| {
            let mut s: Vec<usize> = s.iter().copied().filter(|&x| x < n).collect();
            s.sort_unstable();
            s.dedup();
            s
        })
        .collect();
    let mut index = vec![UNVISITED; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next = 0;
    let mut components = Vec::new();
    // (node, position in its successor list)
    let mut work: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != UNVISITED {
            continue;
        }
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        work.push((root, 0));
        while let Some(&mut (node, ref mut pos)) = work.last_mut() {
            if let Some(&s) = succ[node].get(*pos) {
                *pos += 1;
                if index[s] == UNVISITED {
                    index[s] = next;
                    low[s] = next;
                    next += 1;
                    stack.push(s);
                    on_stack[s] = true;
                    work.push((s, 0));
                } else if on_stack[s] {
                    low[node] = low[node].min(index[s]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(top) = stack.pop() {
                    on_stack[top] = false;
                    component.push(top);
                    if top == node {
                        break;
                    }
                }
                component.reverse();
                if component.len() > 1 || succ[node].contains(&node) {
                    if let Some(min_at) = component
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, v)| **v)
                        .map(|(i, _)| i)
                    {
                        component.rotate_left(min_at);
                    }
                    components.push(component);
                }
            }
        }
    }
    components.sort_by_key(|c| c.first().copied());
    components
}

// ---- the reachable types --------------------------------------------------------------------

struct EnumDef {
    /// The shown name (alias or name).
    name: String,
    /// Shown value names and descriptions.
    values: Vec<(String, Option<String>)>,
}

struct ClassDef<'ir> {
    class: &'ir IrClass,
    /// Shown field names, types and descriptions (skipped fields left out).
    fields: Vec<(String, Ty, Option<String>)>,
}

/// What the return type uses, in the order BAML's depth-first walk finds it.
struct Content<'ir> {
    enums: Vec<(String, EnumDef)>,
    classes: Vec<(String, ClassDef<'ir>)>,
    recursive_classes: Vec<String>,
    recursive_aliases: Vec<(String, Ty)>,
    /// Positions in `enums` and `classes` by name.
    enum_at: HashMap<String, usize>,
    class_at: HashMap<String, usize>,
    alias_names: HashSet<String>,
}

/// BAML's walk over the types reachable from the return type.
struct Walk<'s, 'ir> {
    schema: &'s Schema<'ir>,
    content: Content<'ir>,
    /// Keys of the enums, classes, maps and unions already visited.
    checked: HashSet<String>,
    class_cycles_added: HashSet<usize>,
    alias_cycles_added: HashSet<usize>,
    stack: Vec<Ty>,
}

impl<'ir> Walk<'_, 'ir> {
    /// Pushes `t` unless it was visited already (BAML checks before pushing, and again when
    /// visiting: the order in which the stack pops decides the order of hoisted definitions).
    fn push(&mut self, t: &Ty) {
        if !self.checked.contains(&t.key()) {
            self.stack.push(t.clone());
        }
    }

    fn run(mut self) -> Result<Content<'ir>, OutputFormatError> {
        while let Some(t) = self.stack.pop() {
            match &t {
                Ty::List(inner) => self.push(inner),
                Ty::Map(k, v) if self.checked.insert(t.key()) => {
                    self.push(k);
                    self.push(v);
                }
                Ty::Union(arms, null) if self.checked.insert(t.key()) => {
                    for a in Ty::arms(arms, *null) {
                        self.push(a);
                    }
                }
                Ty::Enum(name) if self.checked.insert(t.key()) => self.visit_enum(name)?,
                Ty::Class(name) if self.checked.insert(t.key()) => self.visit_class(name)?,
                Ty::RecursiveAlias(name) => self.visit_alias(name)?,
                _ => {}
            }
        }
        Ok(self.content)
    }

    fn visit_enum(&mut self, name: &str) -> Result<(), OutputFormatError> {
        let e = self
            .schema
            .ir
            .enum_(name)
            .ok_or_else(|| unknown("Enum", name))?;
        let values = e
            .values
            .iter()
            .filter(|v| !v.skip)
            .map(|v| {
                (
                    v.alias.clone().unwrap_or_else(|| v.name.clone()),
                    v.description.clone(),
                )
            })
            .collect();
        let shown = e.alias.clone().unwrap_or_else(|| e.name.clone());
        let content = &mut self.content;
        content
            .enum_at
            .insert(name.to_string(), content.enums.len());
        content.enums.push((
            name.to_string(),
            EnumDef {
                name: shown,
                values,
            },
        ));
        Ok(())
    }

    fn visit_class(&mut self, name: &str) -> Result<(), OutputFormatError> {
        let schema = self.schema;
        let class = schema
            .ir
            .class(name)
            .ok_or_else(|| unknown("Class", name))?;
        let mut fields = Vec::with_capacity(class.fields.len());
        for f in class.fields.iter().filter(|f| !f.skip) {
            let ty = schema.convert(&f.ty)?;
            fields.push((
                f.alias.clone().unwrap_or_else(|| f.name.clone()),
                ty,
                f.description.clone(),
            ));
        }
        for (_, ty, _) in &fields {
            self.push(ty);
        }
        let content = &mut self.content;
        if let Some(&cycle) = schema.class_cycle_of.get(name) {
            // A class is in one cycle only, so a cycle is added whole, once.
            if self.class_cycles_added.insert(cycle) {
                for member in schema.class_cycles.get(cycle).into_iter().flatten() {
                    content.recursive_classes.push((*member).to_string());
                }
            }
        }
        content
            .class_at
            .insert(name.to_string(), content.classes.len());
        content
            .classes
            .push((name.to_string(), ClassDef { class, fields }));
        Ok(())
    }

    /// A recursive alias brings its whole cycle, each alias with its definition.
    fn visit_alias(&mut self, name: &str) -> Result<(), OutputFormatError> {
        let schema = self.schema;
        let Some(&cycle) = schema.alias_cycle_of.get(name) else {
            return Ok(());
        };
        if !self.alias_cycles_added.insert(cycle) {
            return Ok(());
        }
        for member in schema.alias_cycles.get(cycle).into_iter().flatten() {
            let (body, _) = schema
                .alias_bodies
                .get(member)
                .ok_or_else(|| unknown("Type alias", member))?;
            self.stack.push(body.clone());
            self.content.alias_names.insert((*member).to_string());
            self.content
                .recursive_aliases
                .push(((*member).to_string(), body.clone()));
        }
        Ok(())
    }
}

impl<'ir> Content<'ir> {
    fn collect(schema: &Schema<'ir>, target: &Ty) -> Result<Self, OutputFormatError> {
        Walk {
            schema,
            content: Content {
                enums: Vec::new(),
                classes: Vec::new(),
                recursive_classes: Vec::new(),
                recursive_aliases: Vec::new(),
                enum_at: HashMap::new(),
                class_at: HashMap::new(),
                alias_names: HashSet::new(),
            },
            checked: HashSet::new(),
            class_cycles_added: HashSet::new(),
            alias_cycles_added: HashSet::new(),
            stack: vec![target.clone()],
        }
        .run()
    }

    fn enum_def(&self, name: &str) -> Result<&EnumDef, OutputFormatError> {
        self.enum_at
            .get(name)
            .and_then(|&i| self.enums.get(i))
            .map(|(_, e)| e)
            .ok_or_else(|| unknown("Enum", name))
    }

    fn class_def(&self, name: &str) -> Result<&ClassDef<'ir>, OutputFormatError> {
        self.class_at
            .get(name)
            .and_then(|&i| self.classes.get(i))
            .map(|(_, c)| c)
            .ok_or_else(|| unknown("Class", name))
    }
}

// ---- rendering ------------------------------------------------------------------------------

struct Renderer<'a, 'ir> {
    content: &'a Content<'ir>,
    options: &'a OutputFormatOptions,
    hoisted_enums: Hoisted,
    hoisted_classes: Hoisted,
    null: &'a str,
}

/// Names in the order they are shown, with a set for lookups.
#[derive(Default)]
struct Hoisted {
    order: Vec<String>,
    set: HashSet<String>,
}

impl Hoisted {
    fn push(&mut self, name: &str) {
        if self.set.insert(name.to_string()) {
            self.order.push(name.to_string());
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.set.contains(name)
    }
}

/// The text for return type `ty`. An empty string where BAML renders nothing (a `string`
/// return type without a `prefix`).
pub fn render(
    ir: &Ir,
    ty: &Type,
    options: &OutputFormatOptions,
) -> Result<String, OutputFormatError> {
    let schema = Schema::new(ir)?;
    let target = schema.convert(ty)?;
    let content = Content::collect(&schema, &target)?;

    let mut hoisted_enums = Hoisted::default();
    for (name, e) in &content.enums {
        if e.values.len() > INLINE_ENUM_MAX_VALUES
            || e.values.iter().any(|(_, d)| d.is_some())
            || options.always_hoist_enums
        {
            hoisted_enums.push(name);
        }
    }

    let mut hoisted_classes = Hoisted::default();
    for name in &content.recursive_classes {
        hoisted_classes.push(name);
    }
    match &options.hoist_classes {
        HoistClasses::Auto => {}
        HoistClasses::All => {
            for (name, _) in &content.classes {
                hoisted_classes.push(name);
            }
        }
        HoistClasses::Only(names) => {
            let mut missing = Hoisted::default();
            for name in names {
                if content.class_at.contains_key(name) {
                    hoisted_classes.push(name);
                } else {
                    missing.push(name);
                }
            }
            if !missing.order.is_empty() {
                return Err(OutputFormatError::UnknownHoistedClasses {
                    names: missing.order,
                });
            }
        }
    }

    let r = Renderer {
        content: &content,
        options,
        hoisted_enums,
        hoisted_classes,
        null: options.render_null_as.value().unwrap_or("null"),
    };
    r.render(&target)
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some(c) if matches!(c.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

impl Renderer<'_, '_> {
    fn type_word(&self) -> &str {
        match self.options.hoisted_class_prefix.value() {
            Some(p) if !p.is_empty() => p,
            _ => DEFAULT_TYPE_WORD,
        }
    }

    fn is_hoisted_class(&self, name: &str) -> bool {
        self.hoisted_classes.contains(name)
    }

    fn is_hoisted_enum(&self, name: &str) -> bool {
        self.hoisted_enums.contains(name)
    }

    fn prefix(&self, target: &Ty) -> Option<String> {
        match &self.options.prefix {
            Setting::Value(p) => return Some(p.clone()),
            Setting::Null => return None,
            Setting::Unset => {}
        }
        Some(match target {
            Ty::String => return None,
            Ty::Null => format!("Answer ONLY with {}:\n", self.null),
            t if t.is_primitive() => {
                let name = t.primitive_name();
                format!("Answer as {} ", article(name))
            }
            Ty::Literal(_) => "Answer using this specific value:\n".to_string(),
            Ty::Enum(_) => "Answer with any of the categories:\n".to_string(),
            Ty::Class(name) => {
                let end = if self.is_hoisted_class(name) {
                    " "
                } else {
                    "\n"
                };
                format!("Answer in JSON using this {}:{end}", self.type_word())
            }
            Ty::RecursiveAlias(_) => format!("Answer in JSON using this {}: ", self.type_word()),
            Ty::List(_) => "Answer with a JSON Array using this schema:\n".to_string(),
            Ty::Union(arms, _) if arms.len() == 1 => {
                "Answer in JSON using this schema:\n".to_string()
            }
            Ty::Union(..) => "Answer in JSON using any of these schemas:\n".to_string(),
            // Maps (primitives are matched above).
            _ => "Answer in JSON using this schema:\n".to_string(),
        })
    }

    fn enum_listing(&self, e: &EnumDef) -> String {
        let value_prefix = match &self.options.enum_value_prefix {
            Setting::Unset => "- ",
            Setting::Value(p) => p,
            Setting::Null => "",
        };
        let mut out = format!("{}\n----", e.name);
        for (name, description) in &e.values {
            out.push('\n');
            out.push_str(value_prefix);
            out.push_str(name);
            if let Some(d) = description {
                out.push_str(": ");
                out.push_str(&d.replace('\n', "\n  "));
            }
        }
        out
    }

    fn render(&self, target: &Ty) -> Result<String, OutputFormatError> {
        let prefix = self.prefix(target);
        let mut message = match target {
            Ty::String if prefix.is_none() => None,
            Ty::Enum(name) => Some(self.enum_listing(self.content.enum_def(name)?)),
            t => Some(self.schema(t, 0)?),
        };
        if let Ty::Class(name) = target {
            if self.is_hoisted_class(name) {
                message = Some(name.clone());
            }
        }
        let target_is_hoisted_enum = matches!(target, Ty::Enum(n) if self.is_hoisted_enum(n));
        if target_is_hoisted_enum {
            message = None;
        }

        let mut class_defs = Vec::with_capacity(self.hoisted_classes.order.len());
        for name in &self.hoisted_classes.order {
            let body = self.schema(&Ty::Class(name.clone()), 0)?;
            class_defs.push(match self.options.hoisted_class_prefix.value() {
                Some(p) if !p.is_empty() => format!("{p} {name} {body}"),
                _ => format!("{name} {body}"),
            });
        }
        let mut alias_defs = Vec::with_capacity(self.content.recursive_aliases.len());
        for (name, body) in &self.content.recursive_aliases {
            let body = self.schema(body, 0)?;
            alias_defs.push(match self.options.hoisted_class_prefix.value() {
                Some(p) if !p.is_empty() => format!("{p} {name} = {body}"),
                _ => format!("{name} = {body}"),
            });
        }
        let mut enum_defs = Vec::with_capacity(self.hoisted_enums.order.len());
        for name in &self.hoisted_enums.order {
            let listing = self.enum_listing(self.content.enum_def(name)?);
            // A hoisted target enum carries the prefix itself.
            enum_defs.push(match (&prefix, target_is_hoisted_enum) {
                (Some(p), true) => format!("{p}{listing}"),
                _ => listing,
            });
        }

        let mut out = String::new();
        if !enum_defs.is_empty() {
            out.push_str(&enum_defs.join("\n\n"));
            if !target_is_hoisted_enum {
                out.push_str("\n\n");
            }
        }
        if !class_defs.is_empty() {
            out.push_str(&class_defs.join("\n\n"));
            out.push_str("\n\n");
        }
        if !alias_defs.is_empty() {
            out.push_str(&alias_defs.join("\n"));
            out.push_str("\n\n");
        }
        if let Some(p) = prefix {
            if !target_is_hoisted_enum {
                out.push_str(&p);
            }
        }
        if let Some(m) = message {
            out.push_str(&m);
        }
        let trimmed = out.trim_end_matches('\n').len();
        out.truncate(trimmed);
        Ok(out)
    }

    /// A type where it is used: hoisted classes by name, everything else spelled out.
    fn reference(&self, t: &Ty, depth: usize) -> Result<String, OutputFormatError> {
        match t {
            Ty::Class(name) if self.is_hoisted_class(name) => Ok(name.clone()),
            t => self.schema(t, depth),
        }
    }

    /// A type spelled out.
    fn schema(&self, t: &Ty, depth: usize) -> Result<String, OutputFormatError> {
        if depth > MAX_DEPTH {
            return Err(OutputFormatError::TooDeep { limit: MAX_DEPTH });
        }
        let or = self.options.or_splitter.as_str();
        Ok(match t {
            Ty::Null => self.null.to_string(),
            Ty::Media(m) => return Err(OutputFormatError::MediaInOutput { media: m }),
            t if t.is_primitive() => t.primitive_name().to_string(),
            Ty::Literal(Literal::String(s)) => format!("{s:?}"),
            Ty::Literal(Literal::Int(n)) => n.to_string(),
            Ty::Literal(Literal::Bool(b)) => b.to_string(),
            Ty::Enum(name) => {
                let e = self.content.enum_def(name)?;
                if self.is_hoisted_enum(name) {
                    e.name.clone()
                } else {
                    e.values
                        .iter()
                        .map(|(v, _)| format!("'{v}'"))
                        .collect::<Vec<_>>()
                        .join(or)
                }
            }
            Ty::Class(name) => self.class_body(self.content.class_def(name)?, depth)?,
            Ty::RecursiveAlias(name) => name.clone(),
            Ty::List(inner) => {
                let hoisted = match &**inner {
                    Ty::Class(n) => self.is_hoisted_class(n),
                    Ty::RecursiveAlias(n) => self.content.alias_names.contains(n),
                    _ => false,
                };
                let inner_text = self.reference(inner, depth + 1)?;
                let block = !hoisted
                    && match &**inner {
                        t if t.is_primitive() => false,
                        Ty::Enum(_) => inner_text.len() > INLINE_LIST_ENUM_MAX_LEN,
                        Ty::Union(arms, null) => !null && arms.iter().all(|a| !a.is_primitive()),
                        _ => true,
                    };
                if block {
                    format!("[\n  {}\n]", inner_text.replace('\n', "\n  "))
                } else if matches!(**inner, Ty::Union(..)) {
                    format!("({inner_text})[]")
                } else {
                    format!("{inner_text}[]")
                }
            }
            Ty::Union(arms, null) => {
                let mut parts = Vec::with_capacity(arms.len() + 1);
                for a in Ty::arms(arms, *null) {
                    parts.push(self.reference(a, depth + 1)?);
                }
                parts.join(or)
            }
            Ty::Map(k, v) => {
                let k = self.reference(k, depth + 1)?;
                let v = self.reference(v, depth + 1)?;
                match self.options.map_style {
                    MapStyle::Angle => format!("map<{k}, {v}>"),
                    MapStyle::Object => format!("{{{k}: {v}}}"),
                }
            }
            // Primitives are handled above.
            _ => String::new(),
        })
    }

    fn class_body(&self, class: &ClassDef<'_>, depth: usize) -> Result<String, OutputFormatError> {
        let mut out = String::from("{\n");
        if let Some(desc) = &class.class.description {
            let desc = desc.trim();
            if !desc.is_empty() {
                for line in desc.lines() {
                    out.push_str("  // ");
                    out.push_str(line);
                    out.push('\n');
                }
                out.push('\n');
            }
        }
        for (name, ty, description) in &class.fields {
            if let Some(d) = description {
                out.push_str("  // ");
                out.push_str(&d.replace('\n', "\n  // "));
                out.push('\n');
            }
            let ty = self.reference(ty, depth + 1)?.replace('\n', "\n  ");
            if self.options.quote_class_fields {
                let _ = writeln!(out, "  \"{name}\": {ty},");
            } else {
                let _ = writeln!(out, "  {name}: {ty},");
            }
        }
        out.push('}');
        Ok(out)
    }
}
