//! Values that cross the sandbox boundary. Everything that enters or leaves a sandbox is
//! copied into this tree first, so no engine object is ever shared between Node and QuickJS.

/// A copied JavaScript value: what `evaluate()` results, host-function arguments and results,
/// and `globals` are made of.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    /// Own enumerable string-keyed properties, in insertion order.
    Object(Vec<(String, Value)>),
    /// Milliseconds since the epoch (`Date.prototype.getTime()`), NaN for an invalid date.
    Date(f64),
    /// A `Map`'s entries, in insertion order.
    Map(Vec<(Value, Value)>),
    /// A `Set`'s values, in insertion order.
    Set(Vec<Value>),
    /// An `ArrayBuffer`'s bytes.
    ArrayBuffer(Vec<u8>),
    /// A typed array or `DataView`: only the bytes it views (the rest of its buffer, and its
    /// offset in it, are not kept). `bytes.len()` is a multiple of the kind's element size.
    TypedArray {
        kind: TypedArrayKind,
        bytes: Vec<u8>,
    },
    /// A regular expression's `source` and `flags` (its `lastIndex` is not kept).
    RegExp(Box<RegExp>),
    /// An `Error` (any of its subclasses included).
    Error(Box<ErrorValue>),
}

/// The kinds of typed array (and `DataView`), with their JavaScript constructor names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypedArrayKind {
    Int8,
    Uint8,
    Uint8Clamped,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Float16,
    Float32,
    Float64,
    BigInt64,
    BigUint64,
    DataView,
}

impl TypedArrayKind {
    /// Every kind, in the order of their wire codes.
    pub const ALL: [TypedArrayKind; 13] = [
        TypedArrayKind::Int8,
        TypedArrayKind::Uint8,
        TypedArrayKind::Uint8Clamped,
        TypedArrayKind::Int16,
        TypedArrayKind::Uint16,
        TypedArrayKind::Int32,
        TypedArrayKind::Uint32,
        TypedArrayKind::Float16,
        TypedArrayKind::Float32,
        TypedArrayKind::Float64,
        TypedArrayKind::BigInt64,
        TypedArrayKind::BigUint64,
        TypedArrayKind::DataView,
    ];

    /// The global constructor that builds this kind.
    pub fn constructor(self) -> &'static str {
        match self {
            TypedArrayKind::Int8 => "Int8Array",
            TypedArrayKind::Uint8 => "Uint8Array",
            TypedArrayKind::Uint8Clamped => "Uint8ClampedArray",
            TypedArrayKind::Int16 => "Int16Array",
            TypedArrayKind::Uint16 => "Uint16Array",
            TypedArrayKind::Int32 => "Int32Array",
            TypedArrayKind::Uint32 => "Uint32Array",
            TypedArrayKind::Float16 => "Float16Array",
            TypedArrayKind::Float32 => "Float32Array",
            TypedArrayKind::Float64 => "Float64Array",
            TypedArrayKind::BigInt64 => "BigInt64Array",
            TypedArrayKind::BigUint64 => "BigUint64Array",
            TypedArrayKind::DataView => "DataView",
        }
    }

    /// Bytes per element (1 for a `DataView`).
    pub fn element_size(self) -> usize {
        match self {
            TypedArrayKind::Int8
            | TypedArrayKind::Uint8
            | TypedArrayKind::Uint8Clamped
            | TypedArrayKind::DataView => 1,
            TypedArrayKind::Int16 | TypedArrayKind::Uint16 | TypedArrayKind::Float16 => 2,
            TypedArrayKind::Int32 | TypedArrayKind::Uint32 | TypedArrayKind::Float32 => 4,
            TypedArrayKind::Float64 | TypedArrayKind::BigInt64 | TypedArrayKind::BigUint64 => 8,
        }
    }

    /// This kind's stable code (its index in `ALL`), as the worker protocol writes it.
    pub fn code(self) -> u8 {
        #[expect(clippy::cast_possible_truncation, reason = "13 kinds")]
        let code = Self::ALL.iter().position(|k| *k == self).unwrap_or(0) as u8;
        code
    }

    /// The kind with this code.
    pub fn from_code(code: u8) -> Option<TypedArrayKind> {
        Self::ALL.get(usize::from(code)).copied()
    }
}

/// A copied regular expression.
#[derive(Debug, Clone, PartialEq)]
pub struct RegExp {
    pub source: String,
    pub flags: String,
}

/// A copied `Error`: what `structuredClone` keeps of one.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorValue {
    /// `name` as the error had it (`"TypeError"`, or a custom name).
    pub name: String,
    pub message: String,
    /// The `stack` text, if it was a string.
    pub stack: Option<String>,
    /// `cause`, if the error has one (an own property, which may be `undefined`).
    pub cause: Option<Value>,
}

/// The path segment of the key of a `Map`'s entry `i` (`m[entry 3].key`).
pub fn map_key_segment(i: usize) -> String {
    format!("[entry {i}].key")
}

/// The path segment of the value of a `Map`'s entry `i` (`m[entry 3].value`).
pub fn map_value_segment(i: usize) -> String {
    format!("[entry {i}].value")
}

/// The path segment of a `Set`'s value `i` (`s[item 3]`).
pub fn set_item_segment(i: usize) -> String {
    format!("[item {i}]")
}

/// The path segment of an error's `cause`.
pub const CAUSE_SEGMENT: &str = ".cause";

/// How deep a copied value may nest before the copy is refused.
pub const MAX_DEPTH: usize = 512;

/// The most values one copy between the sandbox and Node may hold (an evaluation's result,
/// one call's arguments together, a host function's result, all `globals` together). Node's thread builds or reads
/// every value of such a copy, at a fraction of a microsecond each (V8's allocation and
/// garbage collection included): this keeps one copy to a few tens of milliseconds of Node's
/// time, where the byte budget alone (four times the memory limit) allowed millions of values
/// and seconds.
pub const MAX_COPY_VALUES: usize = 1 << 16;

impl Value {
    /// Object property lookup (first match), for tests and option parsing.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(props) => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Where the first value (in copy order) nested deeper than `MAX_DEPTH` sits below `value`,
/// which itself sits `depth` levels down: `Some("")` for `value` itself, `Some("[3].a")` below
/// it. Every object (arrays, plain objects, dates, maps, sets, buffers, regular expressions,
/// errors) counts as a level, as it does when a copy comes out.
///
/// Only Rust code can build such a tree (values copied out of a sandbox or out of Node are
/// refused past the limit), but it must not crash whoever copies it in: this walk keeps its own
/// stack, and stops at the limit so that the copy that follows recurses at most that deep.
pub(crate) fn over_deep(value: &Value, depth: usize) -> Option<String> {
    /// How a value was reached from its parent.
    enum Step<'a> {
        Index(usize),
        Key(&'a str),
        /// Another segment (a `Map`'s entry, a `Set`'s item, a cause).
        Segment(String),
    }
    /// A container on the way down: how it was reached, and its children left to visit
    /// (last first).
    type Frame<'a> = (Option<Step<'a>>, Vec<(Step<'a>, &'a Value)>);
    fn nests(v: &Value) -> bool {
        !matches!(
            v,
            Value::Undefined | Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)
        )
    }
    fn children(v: &Value) -> Vec<(Step<'_>, &Value)> {
        match v {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .rev()
                .map(|(i, item)| (Step::Index(i), item))
                .collect(),
            Value::Object(props) => props
                .iter()
                .rev()
                .map(|(k, item)| (Step::Key(k.as_str()), item))
                .collect(),
            Value::Map(entries) => entries
                .iter()
                .enumerate()
                .rev()
                .flat_map(|(i, (k, item))| {
                    [
                        (Step::Segment(map_value_segment(i)), item),
                        (Step::Segment(map_key_segment(i)), k),
                    ]
                })
                .collect(),
            Value::Set(items) => items
                .iter()
                .enumerate()
                .rev()
                .map(|(i, item)| (Step::Segment(set_item_segment(i)), item))
                .collect(),
            Value::Error(e) => e
                .cause
                .iter()
                .map(|c| (Step::Segment(CAUSE_SEGMENT.to_owned()), c))
                .collect(),
            _ => Vec::new(),
        }
    }

    if !nests(value) {
        return None;
    }
    if depth >= MAX_DEPTH {
        return Some(String::new());
    }
    let mut frames: Vec<Frame<'_>> = vec![(None, children(value))];
    while let Some((_, left)) = frames.last_mut() {
        let Some((step, child)) = left.pop() else {
            frames.pop();
            continue;
        };
        if !nests(child) {
            continue;
        }
        if depth + frames.len() >= MAX_DEPTH {
            let mut path = String::new();
            for s in frames.iter().filter_map(|(s, _)| s.as_ref()).chain([&step]) {
                path = match s {
                    Step::Index(i) => format!("{path}[{i}]"),
                    Step::Key(k) => push_path(&path, k),
                    Step::Segment(seg) => format!("{path}{seg}"),
                };
            }
            return Some(path);
        }
        frames.push((Some(step), children(child)));
    }
    None
}

/// Drops a value without recursing: the derived drop of a tree nested 100,000 deep (which
/// only Rust code can build) would overflow the stack of the thread that happens to drop it.
/// Embedders that build or receive such values drop them with this too.
pub fn drop_flat(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        let nested = |item: &Value| match item {
            Value::Array(items) | Value::Set(items) => !items.is_empty(),
            Value::Object(props) => !props.is_empty(),
            Value::Map(entries) => !entries.is_empty(),
            Value::Error(e) => e.cause.is_some(),
            _ => false,
        };
        match v {
            Value::Array(items) | Value::Set(items) => {
                stack.extend(items.into_iter().filter(nested));
            }
            Value::Object(props) => {
                stack.extend(props.into_iter().map(|(_, item)| item).filter(nested));
            }
            Value::Map(entries) => {
                stack.extend(entries.into_iter().flat_map(|(k, v)| [k, v]).filter(nested));
            }
            Value::Error(e) => stack.extend(e.cause.into_iter().filter(nested)),
            _ => {}
        }
    }
}

/// Appends one path segment the way JavaScript would write it (`.a`, `[3]`, `["a b"]`).
pub fn push_path(path: &str, key: &str) -> String {
    let ident = !key.is_empty()
        && key.chars().enumerate().all(|(i, c)| {
            c == '_' || c == '$' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
        });
    if ident {
        format!("{path}.{key}")
    } else {
        format!("{path}[{key:?}]")
    }
}
