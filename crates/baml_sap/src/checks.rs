//! `@check` and `@assert` expressions, evaluated with minijinja against `this`.

use std::sync::OnceLock;

use minijinja::{Environment, Value};

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(Environment::new)
}

/// Whether `expr` holds for `this`; an expression that fails to evaluate does not hold.
pub fn evaluate(expr: &str, this: &serde_json::Value) -> bool {
    let Ok(compiled) = env().compile_expression(expr) else {
        return false;
    };
    compiled
        .eval(minijinja::context! { this => Value::from_serialize(this) })
        .is_ok_and(|v| v.is_true())
}
