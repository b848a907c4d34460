//! `@check` and `@assert` expressions, evaluated with minijinja against `this`.

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior, Value};

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // As in BAML, a name or attribute that does not exist is an error, not a falsy value.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env
    })
}

/// Whether `expr` holds for `this`. An expression that fails to evaluate, or gives something
/// other than a boolean, is an error (BAML fails the parse rather than guess).
pub fn evaluate(expr: &str, this: &serde_json::Value) -> Result<bool, String> {
    let compiled = env()
        .compile_expression(expr)
        .map_err(|e| format!("cannot read the check `{expr}`: {e}"))?;
    let v = compiled
        .eval(minijinja::context! { this => Value::from_serialize(this) })
        .map_err(|e| format!("the check `{expr}` failed to evaluate: {e}"))?;
    if v.kind() == minijinja::value::ValueKind::Bool {
        Ok(v.is_true())
    } else {
        Err(format!("the check `{expr}` gave {v}, not a boolean"))
    }
}
