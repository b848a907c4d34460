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
}

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
/// it. Arrays, objects and dates count as levels, as they do when a copy comes out.
///
/// Only Rust code can build such a tree (values copied out of a sandbox or out of Node are
/// refused past the limit), but it must not crash whoever copies it in: this walk keeps its own
/// stack, and stops at the limit so that the copy that follows recurses at most that deep.
pub(crate) fn over_deep(value: &Value, depth: usize) -> Option<String> {
    /// How a value was reached from its parent.
    enum Step<'a> {
        Index(usize),
        Key(&'a str),
    }
    /// A container on the way down: how it was reached, and its children left to visit
    /// (last first).
    type Frame<'a> = (Option<Step<'a>>, Vec<(Step<'a>, &'a Value)>);
    fn nests(v: &Value) -> bool {
        matches!(v, Value::Array(_) | Value::Object(_) | Value::Date(_))
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
            Value::Array(items) => !items.is_empty(),
            Value::Object(props) => !props.is_empty(),
            _ => false,
        };
        match v {
            Value::Array(items) => stack.extend(items.into_iter().filter(nested)),
            Value::Object(props) => {
                stack.extend(props.into_iter().map(|(_, item)| item).filter(nested));
            }
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
