//! `TypeBuilder` and `ClientRegistry` contents (as their JavaScript classes describe them) as
//! BAML source for [`Runtime::with_overlay`](crate::Runtime::with_overlay).
//!
//! A type builder is `{ classes, enums, baml }`:
//! - `classes`: `[{ name, properties: [{ name, type, alias?, description? }] }]`. A class the
//!   project declares is extended (it must be `@@dynamic`); any other name is a new class.
//! - `enums`: `[{ name, alias?, values: [{ name, alias?, description?, skip? }] }]`, likewise.
//! - `baml`: BAML source added as it is (`class`, `enum`, `dynamic class`, `dynamic enum`).
//!
//! A client registry is `{ clients: [{ name, provider, options, retryPolicy? }], primary? }`.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::{Ir, Overlay};

/// The overlay of a type builder and a client registry, and the registry's primary client.
pub fn overlay_from(
    ir: &Ir,
    type_builder: Option<&Json>,
    client_registry: Option<&Json>,
) -> Result<(Overlay, Option<String>), String> {
    let mut overlay = Overlay::default();
    if let Some(tb) = type_builder {
        overlay.types = types_source(ir, tb)?;
    }
    let mut primary = None;
    if let Some(cr) = client_registry {
        let (clients, p) = clients_source(cr)?;
        overlay.clients = clients;
        primary = p;
    }
    Ok((overlay, primary))
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A BAML string literal of `s`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn field<'a>(v: &'a Json, key: &str, what: &str) -> Result<Option<&'a str>, String> {
    match v.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("{what}: {key} must be a string, got {other}")),
    }
}

fn name_of<'a>(v: &'a Json, what: &str) -> Result<&'a str, String> {
    let name = field(v, "name", what)?.ok_or_else(|| format!("{what} has no name"))?;
    if is_ident(name) {
        Ok(name)
    } else {
        Err(format!(
            "{what} name {name:?} is not a BAML name (letters, digits and _, not starting with a digit)"
        ))
    }
}

fn list<'a>(v: &'a Json, key: &str, what: &str) -> Result<&'a [Json], String> {
    match v.get(key) {
        None | Some(Json::Null) => Ok(&[]),
        Some(Json::Array(a)) => Ok(a),
        Some(other) => Err(format!("{what}: {key} must be an array, got {other}")),
    }
}

fn attrs(v: &Json, what: &str, out: &mut String) -> Result<(), String> {
    if let Some(a) = field(v, "alias", what)? {
        let _ = write!(out, " @alias({})", quote(a));
    }
    if let Some(d) = field(v, "description", what)? {
        let _ = write!(out, " @description({})", quote(d));
    }
    Ok(())
}

fn types_source(ir: &Ir, tb: &Json) -> Result<String, String> {
    if !tb.is_object() {
        return Err(format!("a type builder must be an object, got {tb}"));
    }
    let mut out = String::new();
    for class in list(tb, "classes", "the type builder")? {
        let name = name_of(class, "a type builder class")?;
        let what = format!("class {name}");
        let extends = ir.classes.iter().any(|c| c.name == name);
        let _ = writeln!(
            out,
            "{}class {name} {{",
            if extends { "dynamic " } else { "" }
        );
        for prop in list(class, "properties", &what)? {
            let pname = name_of(prop, &format!("a property of {what}"))?;
            let ty = field(prop, "type", &format!("{what}.{pname}"))?
                .ok_or_else(|| format!("{what}.{pname} has no type (setType)"))?;
            if ty.contains(['{', '}', '\n', '\r']) {
                return Err(format!("{what}.{pname}: {ty:?} is not a type"));
            }
            let _ = write!(out, "  {pname} {ty}");
            attrs(prop, &format!("{what}.{pname}"), &mut out)?;
            out.push('\n');
        }
        out.push_str("}\n");
    }
    for en in list(tb, "enums", "the type builder")? {
        let name = name_of(en, "a type builder enum")?;
        let what = format!("enum {name}");
        let extends = ir.enums.iter().any(|e| e.name == name);
        let _ = writeln!(
            out,
            "{}enum {name} {{",
            if extends { "dynamic " } else { "" }
        );
        for value in list(en, "values", &what)? {
            let vname = name_of(value, &format!("a value of {what}"))?;
            let _ = write!(out, "  {vname}");
            attrs(value, &format!("{what}.{vname}"), &mut out)?;
            if value.get("skip").and_then(Json::as_bool) == Some(true) {
                out.push_str(" @skip");
            }
            out.push('\n');
        }
        if let Some(a) = field(en, "alias", &what)? {
            let _ = writeln!(out, "  @@alias({})", quote(a));
        }
        out.push_str("}\n");
    }
    for src in list(tb, "baml", "the type builder")? {
        let src = src.as_str().ok_or_else(|| {
            format!("the type builder's addBaml sources must be strings, got {src}")
        })?;
        out.push_str(src);
        out.push('\n');
    }
    Ok(out)
}

/// A client option value as BAML source.
fn value(v: &Json, indent: usize, out: &mut String) -> Result<(), String> {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&n.to_string()),
        Json::String(s) => out.push_str(&quote(s)),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                value(item, indent, out)?;
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push_str("{\n");
            for (k, item) in map {
                out.push_str(&"  ".repeat(indent + 1));
                if is_ident(k) {
                    out.push_str(k);
                } else {
                    out.push_str(&quote(k));
                }
                out.push(' ');
                value(item, indent + 1, out)?;
                out.push('\n');
            }
            out.push_str(&"  ".repeat(indent));
            out.push('}');
        }
    }
    Ok(())
}

fn clients_source(cr: &Json) -> Result<(String, Option<String>), String> {
    if !cr.is_object() {
        return Err(format!("a client registry must be an object, got {cr}"));
    }
    let mut out = String::new();
    for client in list(cr, "clients", "the client registry")? {
        let name = name_of(client, "a client registry client")?;
        let what = format!("client {name}");
        let provider =
            field(client, "provider", &what)?.ok_or_else(|| format!("{what} has no provider"))?;
        if provider.is_empty()
            || !provider
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!("{what}: {provider:?} is not a provider name"));
        }
        let _ = writeln!(out, "client<llm> {name} {{\n  provider {provider}");
        if let Some(policy) = field(client, "retryPolicy", &what)? {
            if !is_ident(policy) {
                return Err(format!(
                    "{what}: retry policy {policy:?} is not a BAML name"
                ));
            }
            let _ = writeln!(out, "  retry_policy {policy}");
        }
        match client.get("options") {
            None | Some(Json::Null) => {}
            Some(options @ Json::Object(_)) => {
                out.push_str("  options ");
                value(options, 1, &mut out)?;
                out.push('\n');
            }
            Some(other) => return Err(format!("{what}: options must be an object, got {other}")),
        }
        out.push_str("}\n");
    }
    let primary = field(cr, "primary", "the client registry")?.map(str::to_string);
    Ok((out, primary))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quoting_survives_the_parser_for_any_text() {
        for s in [
            "plain",
            "a \"quote\" and \\ back",
            "line\nbreak\ttab\r",
            "\u{1}\u{1f}",
            "é 日本",
        ] {
            let src = format!("class A {{\n  x string @description({})\n}}\n", quote(s));
            let ir = baml_ir::load(&[("a.baml".into(), src)]).unwrap();
            assert_eq!(ir.classes[0].fields[0].description.as_deref(), Some(s));
        }
    }

    #[test]
    fn names_that_are_not_baml_names_are_refused() {
        let ir = Ir::default();
        let tb = json!({ "classes": [{ "name": "A {\n}", "properties": [] }] });
        assert!(overlay_from(&ir, Some(&tb), None)
            .unwrap_err()
            .contains("is not a BAML name"));
        let cr = json!({ "clients": [{ "name": "C", "provider": "openai\n  x", "options": {} }] });
        assert!(overlay_from(&ir, None, Some(&cr))
            .unwrap_err()
            .contains("not a provider name"));
    }
}
