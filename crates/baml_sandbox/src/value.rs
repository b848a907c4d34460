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

impl Value {
    /// Object property lookup (first match), for tests and option parsing.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(props) => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
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
