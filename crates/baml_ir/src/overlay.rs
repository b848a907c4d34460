//! Run-time additions to a project, as BAML's `TypeBuilder` and `ClientRegistry` make them.
//!
//! Both arrive as BAML source in a file of a reserved name, loaded with the project:
//!
//! - [`TYPE_BUILDER_FILE`] holds new classes and enums, and `dynamic class X { ... }` /
//!   `dynamic enum X { ... }` blocks that add fields or values to a project's `@@dynamic`
//!   class or enum (a field or value of the same name is replaced).
//! - [`CLIENT_REGISTRY_FILE`] holds `client<llm>` (and `retry_policy`) blocks; a client of a
//!   name the project already has replaces it.
//!
//! Everything else is validated as the rest of the project is.

use std::collections::HashSet;

use baml_parser::ast::{Ast, Item};
use baml_parser::Diagnostic;

/// The file name of a type builder's BAML (BAML names it so in its messages).
pub const TYPE_BUILDER_FILE: &str = "TypeBuilder::add_baml";
/// The file name of a client registry's clients.
pub const CLIENT_REGISTRY_FILE: &str = "ClientRegistry";

/// Applies the overlay files among `files` to the other files' declarations, in place.
pub(crate) fn apply(files: &[(String, String)], asts: &mut [Ast], diags: &mut Vec<Diagnostic>) {
    let role = |i: usize| files.get(i).map_or("", |(name, _)| name.as_str());
    // Dynamic blocks, taken out of every file (outside a type builder they are an error).
    let mut dynamic = Vec::new();
    for (i, ast) in asts.iter_mut().enumerate() {
        let items = std::mem::take(&mut ast.items);
        for item in items {
            match item {
                Item::DynamicClass(_) | Item::DynamicEnum(_) if role(i) != TYPE_BUILDER_FILE => {
                    diags.push(Diagnostic::new(
                        item.name().span,
                        format!(
                            "`{} {}` belongs in a TypeBuilder (addBaml), not in a .baml file",
                            item.kind(),
                            item.name().name
                        ),
                    ));
                }
                Item::DynamicClass(_) | Item::DynamicEnum(_) => dynamic.push(item),
                // As BAML: a type builder declares types, a registry clients, nothing else
                // (sandboxed code writes type builders: no functions, clients or templates).
                Item::Class(_) | Item::Enum(_) | Item::TypeAlias(_)
                    if role(i) == TYPE_BUILDER_FILE =>
                {
                    ast.items.push(item);
                }
                Item::Client(_) | Item::RetryPolicy(_) if role(i) == CLIENT_REGISTRY_FILE => {
                    ast.items.push(item);
                }
                _ if role(i) == TYPE_BUILDER_FILE || role(i) == CLIENT_REGISTRY_FILE => {
                    let allowed = if role(i) == TYPE_BUILDER_FILE {
                        "classes, enums, type aliases and dynamic class / dynamic enum blocks"
                    } else {
                        "clients and retry policies"
                    };
                    diags.push(Diagnostic::new(
                        item.name().span,
                        format!(
                            "a {} may declare only {allowed}, not a {} (`{}`)",
                            role(i),
                            item.kind(),
                            item.name().name
                        ),
                    ));
                }
                other => ast.items.push(other),
            }
        }
    }
    for item in dynamic {
        merge(asts, item, diags);
    }
    // Registry clients replace the project's clients of the same name.
    let registry: HashSet<String> = files
        .iter()
        .zip(asts.iter())
        .filter(|((name, _), _)| name == CLIENT_REGISTRY_FILE)
        .flat_map(|(_, ast)| ast.items.iter())
        .filter_map(|item| match item {
            Item::Client(c) => Some(c.name.name.clone()),
            _ => None,
        })
        .collect();
    if !registry.is_empty() {
        for (i, ast) in asts.iter_mut().enumerate() {
            if role(i) != CLIENT_REGISTRY_FILE {
                ast.items.retain(
                    |item| !matches!(item, Item::Client(c) if registry.contains(&c.name.name)),
                );
            }
        }
    }
}

fn is_dynamic(attrs: &[baml_parser::ast::Attribute]) -> bool {
    attrs.iter().any(|a| a.block && a.name == "dynamic")
}

/// Adds a dynamic block's fields or values to its class or enum.
fn merge(asts: &mut [Ast], item: Item, diags: &mut Vec<Diagnostic>) {
    let name = item.name().clone();
    let target = asts.iter_mut().flat_map(|a| a.items.iter_mut()).find(|i| {
        matches!(
            (&item, i),
            (Item::DynamicClass(_), Item::Class(c)) if c.name.name == name.name
        ) || matches!(
            (&item, i),
            (Item::DynamicEnum(_), Item::Enum(e)) if e.name.name == name.name
        )
    });
    let Some(target) = target else {
        let what = if matches!(item, Item::DynamicClass(_)) {
            "class"
        } else {
            "enum"
        };
        diags.push(Diagnostic::new(
            name.span,
            format!(
                "there is no {what} `{}` to extend with `dynamic {what}`",
                name.name
            ),
        ));
        return;
    };
    match (target, item) {
        (Item::Class(class), Item::DynamicClass(extra)) => {
            if !is_dynamic(&class.attrs) {
                diags.push(not_dynamic(&name));
                return;
            }
            for field in extra.fields {
                class.fields.retain(|f| f.name.name != field.name.name);
                class.fields.push(field);
            }
        }
        (Item::Enum(en), Item::DynamicEnum(extra)) => {
            if !is_dynamic(&en.attrs) {
                diags.push(not_dynamic(&name));
                return;
            }
            for value in extra.values {
                en.values.retain(|v| v.name.name != value.name.name);
                en.values.push(value);
            }
        }
        _ => {}
    }
}

fn not_dynamic(name: &baml_parser::ast::Ident) -> Diagnostic {
    Diagnostic::new(
        name.span,
        format!(
            "type `{}` does not have the `@@dynamic` attribute, so a type builder cannot modify it",
            name.name
        ),
    )
}
