//! From syntax trees to the IR: collect declarations, resolve names, validate.

use std::collections::{HashMap, HashSet};

use baml_parser::ast::{self, Attribute, Item, TypeExpr, Value};
use baml_parser::{Diagnostic, Span};

use crate::ir::{
    Check, Class, Client, Enum, EnumValue, ExprFunction, Field, Function, FunctionClient, Global,
    Ir, Param, RetryPolicy, RetryStrategy, SourceAt, StreamAttrs, TemplateString, Test, TypeAlias,
};
use crate::types::{Literal, Media, Type};

/// Providers a `client<llm>` may name.
pub const PROVIDERS: &[&str] = &[
    "openai",
    "openai-generic",
    "openai-responses",
    "azure-openai",
    "anthropic",
    "google-ai",
    "vertex-ai",
    "aws-bedrock",
    "ollama",
    "openrouter",
    "fallback",
    "round-robin",
    "baml-fallback",
    "baml-round-robin",
    "baml-openai-chat",
    "baml-anthropic-chat",
    "baml-ollama-chat",
    "baml-azure-chat",
    "baml-google-ai-chat",
];

const PRIMITIVES: &[&str] = &[
    "string", "int", "float", "bool", "null", "image", "audio", "pdf", "video",
];

/// Attributes allowed on each kind of declaration.
const CLASS_ATTRS: &[&str] = &[
    "alias",
    "description",
    "dynamic",
    "assert",
    "check",
    "stream.done",
    "stream.not_null",
];
const FIELD_ATTRS: &[&str] = &[
    "alias",
    "description",
    "skip",
    "check",
    "assert",
    "stream.done",
    "stream.not_null",
    "stream.with_state",
];
const ENUM_ATTRS: &[&str] = &[
    "alias",
    "description",
    "dynamic",
    "assert",
    "check",
    "stream.done",
    "stream.not_null",
    "stream.with_state",
];
const VALUE_ATTRS: &[&str] = &["alias", "description", "skip", "check", "assert"];

/// Words a class field may not be named (as BAML 0.226 rejects them).
const FIELD_KEYWORDS: &[&str] = &[
    "string", "int", "float", "bool", "null", "true", "false", "image", "audio", "video", "pdf",
    "class", "enum", "function", "self", "this", "return", "while", "for", "in", "let", "break",
    "continue", "else", "import", "export", "struct", "with", "const", "mut", "pub", "use", "env",
];

/// Attributes that may be given once per declaration or field (checks and asserts may
/// repeat, and so may the `@stream.*` ones: BAML accepts those twice).
fn duplicate_attrs(cx: &mut Ctx<'_>, attrs: &[Attribute]) {
    let mut seen: HashSet<(&str, bool)> = HashSet::new();
    for a in attrs {
        if matches!(
            a.name.as_str(),
            "alias" | "description" | "skip" | "dynamic"
        ) && !seen.insert((a.name.as_str(), a.block))
        {
            let at = if a.block { "@@" } else { "@" };
            cx.err(
                a.span,
                format!("`{at}{}` is given twice here; it may be given once", a.name),
            );
        }
    }
}

/// Type names no declaration may take.
const RESERVED: &[&str] = &[
    "string",
    "int",
    "float",
    "bool",
    "null",
    "image",
    "audio",
    "pdf",
    "video",
    "map",
    "true",
    "false",
    "Json",
    "Int",
    "BigInt",
    "Float",
    "Boolean",
    "String",
    "Bytes",
    "BamlClient",
];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Class,
    Enum,
    Alias,
}

struct Ctx<'a> {
    diags: Vec<Diagnostic>,
    types: HashMap<&'a str, Kind>,
}

impl Ctx<'_> {
    fn err(&mut self, span: Span, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(span, message));
    }
}

/// Builds the IR from parsed files. Returns the IR (as far as it could be built) and every
/// problem found.
pub fn build(files: &[ast::Ast]) -> (Ir, Vec<Diagnostic>) {
    let items: Vec<&Item> = files.iter().flat_map(|f| f.items.iter()).collect();
    let mut cx = Ctx {
        diags: Vec::new(),
        types: HashMap::new(),
    };

    collect_names(&mut cx, &items);
    let clients: HashSet<&str> = items
        .iter()
        .filter_map(|i| {
            if let Item::Client(c) = i {
                Some(c.name.name.as_str())
            } else {
                None
            }
        })
        .collect();
    let policies: HashSet<&str> = items
        .iter()
        .filter_map(|i| {
            if let Item::RetryPolicy(p) = i {
                Some(p.name.name.as_str())
            } else {
                None
            }
        })
        .collect();

    let mut ir = Ir::default();
    let mut alias_exprs: Vec<(&ast::AliasDecl, Type)> = Vec::new();
    for item in &items {
        match item {
            Item::Class(c) => {
                ir.classes.push(class(&mut cx, c));
                for m in &c.methods {
                    ir.expr_functions
                        .extend(expr_function(&mut cx, m, Some(&c.name.name)));
                }
            }
            Item::Enum(e) => ir.enums.push(enum_decl(&mut cx, e)),
            Item::TypeAlias(a) => {
                let ty = resolve(&mut cx, &a.ty);
                let checks = checks_of(&mut cx, &a.attrs, "type alias", &["check", "assert"]);
                alias_exprs.push((a, ty.clone()));
                ir.aliases.push(TypeAlias {
                    name: a.name.name.clone(),
                    ty,
                    checks,
                });
            }
            Item::Function(f) if f.body.is_some() => {
                ir.expr_functions.extend(expr_function(&mut cx, f, None));
            }
            Item::Function(f) => {
                if let Some(func) = function(&mut cx, f, &clients) {
                    ir.functions.push(func);
                }
            }
            Item::Let(l) => ir.globals.push(Global {
                name: l.name.name.clone(),
                value: l.value.clone(),
            }),
            Item::Client(c) => {
                if let Some(client) = client(&mut cx, c, &policies, &clients) {
                    ir.clients.push(client);
                }
            }
            Item::RetryPolicy(p) => {
                if let Some(p) = retry_policy(&mut cx, p) {
                    ir.retry_policies.push(p);
                }
            }
            Item::TemplateString(t) => {
                let params = params(&mut cx, &t.params, &t.name.name);
                ir.templates.push(TemplateString {
                    name: t.name.name.clone(),
                    params,
                    body: t.body.value.clone(),
                    body_at: SourceAt {
                        span: t.body.span,
                        ..SourceAt::default()
                    },
                });
            }
            Item::Test(t) => ir.tests.push(test(&mut cx, t)),
            Item::Generator(g) => generator(&mut cx, g),
            // Merged into their class or enum by `load` before building.
            Item::DynamicClass(_) | Item::DynamicEnum(_) => {}
        }
    }
    ir.reindex();
    check_alias_cycles(&mut cx, &alias_exprs, &ir);
    check_class_cycles(&mut cx, &items, &ir);
    check_params_unchecked(&mut cx, &items, &ir);
    check_tests(&mut cx, &items);
    check_fallback_cycles(&mut cx, &items, &ir);
    check_expr_names(&mut cx, &items, &ir);
    (ir, cx.diags)
}

/// Registers every declaration's name, reporting duplicates, reserved names and names that
/// do not start with an uppercase letter. Classes, enums, aliases, functions, template strings,
/// clients and retry policies share one namespace; generators have their own; test names only
/// need to be unique per function (checked with the tests).
fn collect_names<'a>(cx: &mut Ctx<'a>, items: &[&'a Item]) {
    let mut seen: HashMap<(u8, String), &Item> = HashMap::new();
    for item in items {
        let name = item.name();
        let space = match item {
            Item::Test(_) => continue,
            Item::Generator(_) => 1,
            Item::Let(_) => 2,
            _ => 0,
        };
        // Expression functions may have lowercase names (`function add(a: int, b: int)`).
        let lowercase_ok = matches!(item, Item::Function(f) if f.body.is_some());
        if space == 0 && RESERVED.contains(&name.name.as_str()) {
            cx.err(
                name.span,
                format!(
                    "`{}` is a reserved type name and cannot be declared",
                    name.name
                ),
            );
            continue;
        }
        if space == 0 && !lowercase_ok && !name.name.starts_with(|c: char| c.is_ascii_uppercase()) {
            cx.err(
                name.span,
                format!(
                    "{} name `{}` must start with an uppercase letter",
                    item.kind(),
                    name.name
                ),
            );
        }
        if let Some(prev) = seen.get(&(space, name.name.clone())) {
            cx.err(
                name.span,
                format!(
                    "{} `{}` is already defined (as a {})",
                    item.kind(),
                    name.name,
                    prev.kind()
                ),
            );
            continue;
        }
        seen.insert((space, name.name.clone()), item);
        let kind = match item {
            Item::Class(_) => Kind::Class,
            Item::Enum(_) => Kind::Enum,
            Item::TypeAlias(_) => Kind::Alias,
            _ => continue,
        };
        cx.types.insert(&name.name, kind);
    }
}

// ---- types ---------------------------------------------------------------------------------

fn resolve(cx: &mut Ctx<'_>, t: &TypeExpr) -> Type {
    match t {
        TypeExpr::Named(id) => match id.name.as_str() {
            "string" => Type::String,
            "int" => Type::Int,
            "float" => Type::Float,
            "bool" => Type::Bool,
            "null" => Type::Null,
            "image" => Type::Media(Media::Image),
            "audio" => Type::Media(Media::Audio),
            "pdf" => Type::Media(Media::Pdf),
            "video" => Type::Media(Media::Video),
            name => match cx.types.get(name) {
                Some(Kind::Class) => Type::Class(name.to_string()),
                Some(Kind::Enum) => Type::Enum(name.to_string()),
                Some(Kind::Alias) => Type::Alias(name.to_string()),
                None => {
                    let hint = suggest(
                        name,
                        cx.types.keys().copied().chain(PRIMITIVES.iter().copied()),
                    );
                    cx.err(id.span, format!("type `{name}` is not defined{hint}"));
                    Type::String
                }
            },
        },
        TypeExpr::StringLit(s, _) => Type::Literal(Literal::String(s.clone())),
        TypeExpr::IntLit(n, _) => Type::Literal(Literal::Int(*n)),
        TypeExpr::BoolLit(b, _) => Type::Literal(Literal::Bool(*b)),
        TypeExpr::Optional(inner, _) => Type::Optional(Box::new(resolve(cx, inner))),
        TypeExpr::List(inner, _) => Type::List(Box::new(resolve(cx, inner))),
        TypeExpr::Group(inner, _) => resolve(cx, inner),
        TypeExpr::Union(arms, _) => Type::Union(arms.iter().map(|a| resolve(cx, a)).collect()),
        TypeExpr::Map(k, v, _) => {
            let key = resolve(cx, k);
            if !valid_map_key(cx, &key) {
                cx.err(
                    k.span(),
                    format!(
                        "map keys must be `string`, an enum, or string literals; found `{key}`"
                    ),
                );
            }
            Type::Map(Box::new(key), Box::new(resolve(cx, v)))
        }
    }
}

fn valid_map_key(cx: &Ctx<'_>, t: &Type) -> bool {
    match t {
        Type::String | Type::Enum(_) | Type::Literal(Literal::String(_)) => true,
        Type::Union(arms) => arms.iter().all(|a| valid_map_key(cx, a)),
        Type::Alias(name) => cx.types.contains_key(name.as_str()), // checked where the alias is known
        _ => false,
    }
}

/// ", did you mean `X`?" for a close name.
fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let lower = name.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map_or_else(String::new, |(_, c)| format!("; did you mean `{c}`?"))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

// ---- attributes ----------------------------------------------------------------------------

fn string_arg(cx: &mut Ctx<'_>, a: &Attribute) -> Option<String> {
    if let [Value::String(t)] = a.args.as_slice() {
        Some(if t.raw {
            dedent_trim(&t.value)
        } else {
            t.value.clone()
        })
    } else {
        let at = if a.block { "@@" } else { "@" };
        cx.err(
            a.span,
            format!(
                "`{at}{}` takes one string argument, e.g. `{at}{}(\"...\")`",
                a.name, a.name
            ),
        );
        None
    }
}

/// BAML's dedent: the common leading whitespace of the non-blank lines removed from every line,
/// and whitespace-only lines emptied (raw string arguments, prompts and template bodies).
pub fn dedent(text: &str) -> String {
    let width = text
        .split('\n')
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.chars().take_while(|c| c.is_whitespace()).count())
        .min()
        .unwrap_or(0);
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                l.chars().skip(width).collect()
            }
        })
        .collect();
    lines.join("\n")
}

/// A raw string argument as BAML reads it: dedented, then trimmed.
fn dedent_trim(text: &str) -> String {
    dedent(text).trim().to_string()
}

fn no_args(cx: &mut Ctx<'_>, a: &Attribute) {
    if !a.args.is_empty() {
        let at = if a.block { "@@" } else { "@" };
        cx.err(a.span, format!("`{at}{}` takes no arguments", a.name));
    }
}

fn check_of(cx: &mut Ctx<'_>, a: &Attribute) -> Option<Check> {
    let assert = a.name == "assert";
    let at = if a.block { "@@" } else { "@" };
    match a.args.as_slice() {
        [Value::String(name), Value::Jinja(expr, _)] => Some(Check {
            name: Some(name.value.clone()),
            expr: expr.clone(),
            assert,
        }),
        [Value::Jinja(expr, _)] if assert => Some(Check {
            name: None,
            expr: expr.clone(),
            assert,
        }),
        [Value::Jinja(_, _)] => {
            cx.err(
                a.span,
                format!("`{at}check` needs a name: `{at}check(name, {{{{ expression }}}})`"),
            );
            None
        }
        _ => {
            cx.err(
                a.span,
                format!("`{at}{}` takes a name and a Jinja expression: `{at}{}(name, {{{{ this > 0 }}}})`", a.name, a.name),
            );
            None
        }
    }
}

/// The Jinja expression of a `@check` / `@assert` must parse (BAML checks this for fields,
/// parameters, return types and tests; not for aliases or class-level `@@assert`).
fn check_jinja_syntax(cx: &mut Ctx<'_>, attrs: &[Attribute]) {
    for a in attrs {
        if a.name != "check" && a.name != "assert" {
            continue;
        }
        for arg in &a.args {
            if let Value::Jinja(expr, span) = arg {
                if let Err(why) = crate::jinja_syntax::check_expression(expr) {
                    cx.err(
                        *span,
                        format!("the expression of `@{}` is not valid Jinja: {why}", a.name),
                    );
                }
            }
        }
    }
}

fn checks_of(cx: &mut Ctx<'_>, attrs: &[Attribute], on: &str, allowed: &[&str]) -> Vec<Check> {
    let mut out = Vec::new();
    for a in attrs {
        if a.name == "check" || a.name == "assert" {
            if let Some(c) = check_of(cx, a) {
                out.push(c);
            }
        } else if !allowed.contains(&a.name.as_str()) {
            let at = if a.block { "@@" } else { "@" };
            cx.err(a.span, format!("`{at}{}` is not allowed on a {on}", a.name));
        }
    }
    out
}

fn unknown_attr(cx: &mut Ctx<'_>, a: &Attribute, on: &str, allowed: &[&str]) {
    let at = if a.block { "@@" } else { "@" };
    let list: Vec<String> = allowed.iter().map(|n| format!("{at}{n}")).collect();
    cx.err(
        a.span,
        format!(
            "`{at}{}` is not allowed on {on}; allowed here: {}",
            a.name,
            list.join(", ")
        ),
    );
}

// ---- declarations --------------------------------------------------------------------------

fn class(cx: &mut Ctx<'_>, c: &ast::ClassDecl) -> Class {
    let mut out = Class {
        doc: c.doc.clone(),
        name: c.name.name.clone(),
        alias: None,
        description: None,
        dynamic: false,
        fields: Vec::new(),
        checks: Vec::new(),
        stream_done: false,
    };
    for a in &c.attrs {
        match a.name.as_str() {
            "alias" => out.alias = string_arg(cx, a),
            "description" => out.description = string_arg(cx, a),
            "dynamic" => {
                no_args(cx, a);
                out.dynamic = true;
            }
            "stream.done" => {
                no_args(cx, a);
                out.stream_done = true;
            }
            // Accepted as BAML does; streaming does not use it yet.
            "stream.not_null" => no_args(cx, a),
            "check" | "assert" => out.checks.extend(check_of(cx, a)),
            _ => unknown_attr(cx, a, "a class", CLASS_ATTRS),
        }
    }
    duplicate_attrs(cx, &c.attrs);
    let mut names: HashMap<&str, Span> = HashMap::new();
    let mut aliases: HashMap<String, Span> = HashMap::new();
    for f in &c.fields {
        if names.insert(&f.name.name, f.name.span).is_some() {
            cx.err(
                f.name.span,
                format!(
                    "field `{}` is declared twice in class `{}`",
                    f.name.name, c.name.name
                ),
            );
            continue;
        }
        let field = field(cx, f);
        let shown = field.alias.clone().unwrap_or_else(|| field.name.clone());
        if let Some(prev) = aliases.insert(shown.clone(), f.span) {
            if prev != f.span && field.alias.is_some() {
                cx.err(
                    f.span,
                    format!(
                        "field alias `{shown}` clashes with another field of class `{}`",
                        c.name.name
                    ),
                );
            }
        }
        out.fields.push(field);
    }
    out
}

fn field(cx: &mut Ctx<'_>, f: &ast::Field) -> Field {
    if FIELD_KEYWORDS.contains(&f.name.name.as_str()) {
        cx.err(
            f.name.span,
            format!(
                "field name `{}` is a BAML keyword; rename the field (and use `@alias(\"{}\")` to keep the name the model sees)",
                f.name.name, f.name.name
            ),
        );
    }
    duplicate_attrs(cx, &f.attrs);
    check_jinja_syntax(cx, &f.attrs);
    let ty = resolve(cx, &f.ty);
    let mut field = Field {
        doc: f.doc.clone(),
        name: f.name.name.clone(),
        ty,
        alias: None,
        description: None,
        skip: false,
        checks: Vec::new(),
        stream: StreamAttrs::default(),
    };
    for a in &f.attrs {
        if a.block {
            continue;
        }
        match a.name.as_str() {
            "alias" => field.alias = string_arg(cx, a),
            "description" => field.description = string_arg(cx, a),
            "skip" => {
                no_args(cx, a);
                field.skip = true;
            }
            "stream.done" => {
                no_args(cx, a);
                field.stream.done = true;
            }
            "stream.not_null" => {
                no_args(cx, a);
                field.stream.not_null = true;
            }
            "stream.with_state" => {
                no_args(cx, a);
                field.stream.with_state = true;
            }
            "check" | "assert" => field.checks.extend(check_of(cx, a)),
            _ => unknown_attr(cx, a, "a class field", FIELD_ATTRS),
        }
    }
    if field.skip && !field.ty.is_optional() {
        cx.err(
            f.span,
            format!(
                "field `{}` has `@skip` but is required: only optional fields can be skipped (make it `{}?`)",
                field.name, field.ty
            ),
        );
    }
    field
}

fn enum_decl(cx: &mut Ctx<'_>, e: &ast::EnumDecl) -> Enum {
    let mut out = Enum {
        doc: e.doc.clone(),
        name: e.name.name.clone(),
        alias: None,
        description: None,
        dynamic: false,
        values: Vec::new(),
    };
    for a in &e.attrs {
        match a.name.as_str() {
            "alias" => out.alias = string_arg(cx, a),
            "description" => out.description = string_arg(cx, a),
            "dynamic" => {
                no_args(cx, a);
                out.dynamic = true;
            }
            // Accepted as BAML does (the checks are not kept in the IR yet).
            "check" | "assert" => {
                let _ = check_of(cx, a);
            }
            // Accepted as BAML does; an enum streams as one value anyway.
            "stream.done" | "stream.not_null" | "stream.with_state" => no_args(cx, a),
            _ => unknown_attr(cx, a, "an enum", ENUM_ATTRS),
        }
    }
    duplicate_attrs(cx, &e.attrs);
    // An enum without values loads, as in BAML (no model output can match it).
    let mut names = HashSet::new();
    for v in &e.values {
        if !names.insert(v.name.name.as_str()) {
            cx.err(
                v.name.span,
                format!(
                    "value `{}` is declared twice in enum `{}`",
                    v.name.name, e.name.name
                ),
            );
            continue;
        }
        let mut value = EnumValue {
            doc: v.doc.clone(),
            name: v.name.name.clone(),
            alias: None,
            description: None,
            skip: false,
        };
        for a in &v.attrs {
            match a.name.as_str() {
                "alias" => value.alias = string_arg(cx, a),
                "description" => value.description = string_arg(cx, a),
                "skip" => {
                    no_args(cx, a);
                    value.skip = true;
                }
                // Accepted as BAML does (not kept in the IR).
                "check" | "assert" => {
                    let _ = check_of(cx, a);
                }
                _ => unknown_attr(cx, a, "an enum value", VALUE_ATTRS),
            }
        }
        duplicate_attrs(cx, &v.attrs);
        if !v.name.name.starts_with(|c: char| c.is_ascii_uppercase()) {
            cx.err(
                v.name.span,
                format!(
                    "enum value `{}` of `{}` must start with an uppercase letter",
                    v.name.name, e.name.name
                ),
            );
        }
        out.values.push(value);
    }
    out
}

fn params(cx: &mut Ctx<'_>, ps: &[ast::Param], owner: &str) -> Vec<Param> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for p in ps {
        if !seen.insert(p.name.name.as_str()) {
            cx.err(
                p.name.span,
                format!("parameter `{}` of `{owner}` is declared twice", p.name.name),
            );
            continue;
        }
        check_jinja_syntax(cx, &p.attrs);
        // `@assert`s are checked on the argument (BAML refuses one that fails them).
        let mut checks = Vec::new();
        for a in &p.attrs {
            match a.name.as_str() {
                "check" => cx.err(
                    a.span,
                    format!("parameter `{}` of `{owner}` has a `@check`: types with checks are not allowed as parameters (use `@assert`)", p.name.name),
                ),
                "assert" => checks.extend(check_of(cx, a)),
                // BAML loads any other attribute on a parameter type and ignores it.
                _ => {}
            }
        }
        out.push(Param {
            name: p.name.name.clone(),
            ty: resolve(cx, &p.ty),
            checks,
        });
    }
    out
}

fn function(cx: &mut Ctx<'_>, f: &ast::FunctionDecl, clients: &HashSet<&str>) -> Option<Function> {
    let params = params(cx, &f.params, &f.name.name);
    let ret = f.ret.as_ref().map(|t| (resolve(cx, t), t.span()));
    if let Some((ty, span)) = &ret {
        if let Some(m) = ty.find_media() {
            cx.err(
                *span,
                format!(
                    "function `{}` cannot return `{}`: media types are only allowed as inputs",
                    f.name.name,
                    m.name()
                ),
            );
        }
    }
    for e in &f.other {
        cx.err(
            e.key.span,
            format!(
                "unknown field `{}` in function `{}`: a function has `client` and `prompt`",
                e.key.name, f.name.name
            ),
        );
    }
    if !f.has_body {
        // The body could not be read; its problems are already reported.
        return None;
    }
    let client = match &f.client {
        None => {
            cx.err(
                f.name.span,
                format!("function `{}` has no `client`", f.name.name),
            );
            None
        }
        Some(ast::ClientRef::Named(id)) => {
            if clients.contains(id.name.as_str()) {
                Some(FunctionClient::Named(id.name.clone()))
            } else {
                let hint = suggest(&id.name, clients.iter().copied());
                cx.err(
                    id.span,
                    format!(
                        "client `{}` is not defined{hint} (declare `client<llm> {}` or use the shorthand `client \"provider/model\"`)",
                        id.name, id.name
                    ),
                );
                None
            }
        }
        Some(ast::ClientRef::Shorthand(text, span)) => shorthand(cx, text, *span),
    };
    let prompt_span = f.prompt.as_ref().map(|p| p.span).unwrap_or_default();
    let prompt = if let Some(p) = &f.prompt {
        if !p.raw {
            cx.err(
                p.span,
                format!(
                    "the prompt of function `{}` must be a block string `#\"...\"#`, not a quoted string",
                    f.name.name
                ),
            );
        }
        Some(p.value.clone())
    } else {
        cx.err(
            f.name.span,
            format!("function `{}` has no `prompt`", f.name.name),
        );
        None
    };
    check_jinja_syntax(cx, &f.ret_attrs);
    let ret_checks = checks_of(
        cx,
        &f.ret_attrs,
        "return type",
        &["stream.done", "stream.not_null", "stream.with_state"],
    );
    Some(Function {
        name: f.name.name.clone(),
        doc: f.doc.clone(),
        params,
        ret_checks,
        ret: ret?.0,
        client: client?,
        prompt: prompt?,
        prompt_at: SourceAt {
            span: prompt_span,
            ..SourceAt::default()
        },
    })
}

fn expr_function(
    cx: &mut Ctx<'_>,
    f: &ast::FunctionDecl,
    class: Option<&str>,
) -> Option<ExprFunction> {
    let owner = class.map_or_else(|| f.name.name.clone(), |c| format!("{c}.{}", f.name.name));
    let params = params(cx, &f.params, &owner);
    let ret = resolve(cx, f.ret.as_ref()?);
    check_jinja_syntax(cx, &f.ret_attrs);
    let _ = checks_of(
        cx,
        &f.ret_attrs,
        "return type",
        &["stream.done", "stream.not_null", "stream.with_state"],
    );
    Some(ExprFunction {
        name: f.name.name.clone(),
        class: class.map(str::to_string),
        doc: f.doc.clone(),
        params,
        ret,
        body: f.body.clone()?,
    })
}

fn shorthand(cx: &mut Ctx<'_>, text: &str, span: Span) -> Option<FunctionClient> {
    match text.split_once('/') {
        Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
            if !PROVIDERS.contains(&provider) {
                cx.err(
                    span,
                    format!(
                        "unknown provider `{provider}` in `{text}`; known providers: {}",
                        PROVIDERS.join(", ")
                    ),
                );
                return None;
            }
            Some(FunctionClient::Shorthand {
                provider: provider.to_string(),
                model: model.to_string(),
            })
        }
        _ => {
            cx.err(
                span,
                format!("client shorthand `{text}` must look like \"provider/model\""),
            );
            None
        }
    }
}

fn client(
    cx: &mut Ctx<'_>,
    c: &ast::ClientDecl,
    policies: &HashSet<&str>,
    clients: &HashSet<&str>,
) -> Option<Client> {
    if c.kind.name != "llm" {
        cx.err(
            c.kind.span,
            format!(
                "unknown client kind `{}`: only `client<llm>` exists",
                c.kind.name
            ),
        );
    }
    let mut provider = None;
    let mut retry_policy = None;
    let mut options = Vec::new();
    for e in &c.entries {
        match e.key.name.as_str() {
            "provider" => match e.value.as_str() {
                Some(p) if PROVIDERS.contains(&p) => provider = Some(p.to_string()),
                Some(p) => cx.err(e.value.span(), format!("unknown provider `{p}`; known providers: {}", PROVIDERS.join(", "))),
                None => cx.err(e.value.span(), "`provider` must be a name such as `openai`"),
            },
            "retry_policy" => match e.value.as_str() {
                Some(p) if policies.contains(p) => retry_policy = Some(p.to_string()),
                Some(p) => cx.err(e.value.span(), format!("retry_policy `{p}` is not defined")),
                None => cx.err(e.value.span(), "`retry_policy` must name a retry_policy"),
            },
            "options" => match &e.value {
                Value::Map(entries, _) => options.clone_from(entries),
                other => cx.err(other.span(), "`options` must be a block `{ key value ... }`"),
            },
            other => cx.err(
                e.key.span,
                format!("unknown field `{other}` in client `{}`: expected provider, retry_policy or options", c.name.name),
            ),
        }
    }
    let Some(provider) = provider else {
        if !c.entries.iter().any(|e| e.key.name == "provider") {
            cx.err(
                c.name.span,
                format!("client `{}` has no `provider`", c.name.name),
            );
        }
        return None;
    };
    let composite = matches!(
        provider.as_str(),
        "fallback" | "round-robin" | "baml-fallback" | "baml-round-robin"
    );
    client_options(cx, &c.name.name, &provider, composite, &options);
    if composite {
        match options
            .iter()
            .find(|e| e.key.name == "strategy")
            .map(|e| &e.value)
        {
            Some(Value::Array(items, _)) if !items.is_empty() => {
                for item in items {
                    match item.as_str() {
                        Some(name) if clients.contains(name) || name.contains('/') => {}
                        Some(name) => cx.err(
                            item.span(),
                            format!(
                                "client `{name}` in the strategy of `{}` is not defined",
                                c.name.name
                            ),
                        ),
                        None => cx.err(item.span(), "strategy entries must be client names"),
                    }
                }
            }
            _ => cx.err(
                c.name.span,
                format!(
                    "{provider} client `{}` needs `options {{ strategy [ClientA, ClientB] }}`",
                    c.name.name
                ),
            ),
        }
    }
    Some(Client {
        name: c.name.name.clone(),
        provider,
        retry_policy,
        options,
    })
}

/// The option rules BAML checks at load: the keys a strategy client takes, `http`,
/// `client_response_type` and the role options.
#[expect(clippy::too_many_lines, reason = "one flat list of option rules")]
fn client_options(
    cx: &mut Ctx<'_>,
    name: &str,
    provider: &str,
    composite: bool,
    options: &[ast::ConfigEntry],
) {
    let get = |k: &str| options.iter().find(|e| e.key.name == k);
    if composite {
        let round_robin = provider.ends_with("round-robin");
        for e in options {
            let ok = matches!(e.key.name.as_str(), "strategy" | "http")
                || (round_robin && e.key.name == "start");
            if !ok {
                cx.err(
                    e.key.span,
                    format!(
                        "unknown option `{}` in {provider} client `{name}`: expected strategy{}, http",
                        e.key.name,
                        if round_robin { ", start" } else { "" }
                    ),
                );
            }
        }
    }
    if let Some(http) = get("http") {
        match &http.value {
            Value::Map(entries, _) => {
                for e in entries {
                    let key = e.key.name.as_str();
                    let allowed: &[&str] = if composite {
                        &["total_timeout_ms"]
                    } else {
                        &[
                            "enable_connection_pooling",
                            "connect_timeout_ms",
                            "request_timeout_ms",
                            "time_to_first_token_timeout_ms",
                            "idle_timeout_ms",
                        ]
                    };
                    if !allowed.contains(&key) {
                        cx.err(
                            e.key.span,
                            format!(
                                "unknown `http` option `{key}` in client `{name}`; supported here: {}",
                                allowed.join(", ")
                            ),
                        );
                    } else if key.ends_with("_ms") && number(&e.value).is_none_or(|n| n < 0.0) {
                        cx.err(
                            e.value.span(),
                            format!("`http.{key}` must be a number of milliseconds, 0 or more"),
                        );
                    }
                }
            }
            other => cx.err(other.span(), "`http` must be a block `{ key value ... }`"),
        }
    }
    if let Some(e) = get("client_response_type") {
        const TYPES: &[&str] = &[
            "openai",
            "openai-responses",
            "openai-transcription",
            "anthropic",
            "google",
            "vertex",
        ];
        if !e.value.as_str().is_some_and(|t| TYPES.contains(&t)) {
            cx.err(
                e.value.span(),
                format!("`client_response_type` must be one of {}", TYPES.join(", ")),
            );
        }
    }
    let mut allowed: Vec<String> = vec!["system".into(), "user".into(), "assistant".into()];
    if let Some(e) = get("allowed_roles") {
        match &e.value {
            Value::Array(items, _) if !items.is_empty() => {
                allowed.clear();
                for i in items {
                    match i.as_str() {
                        Some(r) => allowed.push(r.to_string()),
                        None => cx.err(i.span(), "`allowed_roles` entries must be strings"),
                    }
                }
            }
            Value::Array(_, span) => cx.err(*span, "`allowed_roles` must not be empty"),
            other => cx.err(other.span(), "`allowed_roles` must be a list of role names"),
        }
    }
    let listed = |r: &str| allowed.iter().any(|a| a == r);
    if let Some(e) = get("default_role") {
        match e.value.as_str() {
            Some(r) if listed(r) => {}
            Some(r) => cx.err(
                e.value.span(),
                format!("`default_role` `{r}` is not one of the allowed roles ({}); add it to `allowed_roles`", allowed.join(", ")),
            ),
            None => cx.err(e.value.span(), "`default_role` must be a string"),
        }
    }
    if let Some(e) = get("remap_roles") {
        match &e.value {
            Value::Map(entries, _) => {
                for r in entries {
                    if !listed(&r.key.name) {
                        cx.err(
                            r.key.span,
                            format!("`remap_roles` remaps `{}`, which is not one of the allowed roles ({})", r.key.name, allowed.join(", ")),
                        );
                    }
                    if r.value.as_str().is_none() {
                        cx.err(r.value.span(), "`remap_roles` values must be strings");
                    }
                }
            }
            other => cx.err(
                other.span(),
                "`remap_roles` must be a block `{ role \"new name\" ... }`",
            ),
        }
    }
}

/// A fallback client may not reach itself through the strategies of fallback clients (BAML
/// allows it for round-robin).
fn check_fallback_cycles(cx: &mut Ctx<'_>, items: &[&Item], ir: &Ir) {
    let fallback = |name: &str| {
        ir.clients
            .iter()
            .find(|c| c.name == name && matches!(c.provider.as_str(), "fallback" | "baml-fallback"))
    };
    let strategy = |c: &Client| -> Vec<String> {
        c.options
            .iter()
            .find(|e| e.key.name == "strategy")
            .and_then(|e| match &e.value {
                Value::Array(items, _) => Some(
                    items
                        .iter()
                        .filter_map(|i| i.as_str().map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .unwrap_or_default()
    };
    for item in items {
        let Item::Client(decl) = item else { continue };
        let Some(start) = fallback(&decl.name.name) else {
            continue;
        };
        // Depth-first over fallback clients, looking for a way back to `start`.
        let mut stack: Vec<Vec<String>> = vec![vec![start.name.clone()]];
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(path) = stack.pop() {
            let Some(last) = path.last().and_then(|n| fallback(n)) else {
                continue;
            };
            for next in strategy(last) {
                if next == start.name {
                    cx.err(
                        decl.name.span,
                        format!("fallback client `{}` reaches itself through its strategy ({} -> {next}): fallback clients may not form a cycle", start.name, path.join(" -> ")),
                    );
                    stack.clear();
                    break;
                }
                if fallback(&next).is_some() && seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next);
                    stack.push(p);
                }
            }
        }
    }
}

/// The options BAML validates in a `generator` block.
fn generator(cx: &mut Ctx<'_>, g: &ast::ConfigDecl) {
    const OUTPUT_TYPES: &[&str] = &[
        "python/pydantic",
        "python/pydantic/v1",
        "typescript",
        "typescript/react",
        "ruby/sorbet",
        "rest/openapi",
        "go",
        "rust",
        "boundary-cloud",
    ];
    const KEYS: &[&str] = &[
        "project",
        "on_generate",
        "version",
        "output_type",
        "output_dir",
        "module_format",
        "default_client_mode",
        "client_package_name",
    ];
    let mut has_output_type = false;
    for e in &g.entries {
        let value = e.value.as_str();
        match e.key.name.as_str() {
            "output_type" => {
                has_output_type = true;
                if !value.is_some_and(|v| OUTPUT_TYPES.contains(&v)) {
                    cx.err(
                        e.value.span(),
                        format!(
                            "unknown generator `output_type`; expected one of {}",
                            OUTPUT_TYPES.join(", ")
                        ),
                    );
                }
            }
            "version" if !value.is_some_and(semver) => {
                cx.err(
                    e.value.span(),
                    "generator `version` must be a version such as \"0.226.2\"",
                );
            }
            "default_client_mode" if !matches!(value, Some("sync" | "async")) => {
                cx.err(
                    e.value.span(),
                    "`default_client_mode` must be \"sync\" or \"async\"",
                );
            }
            "module_format" if !matches!(value, Some("cjs" | "esm")) => {
                cx.err(e.value.span(), "`module_format` must be \"cjs\" or \"esm\"");
            }
            k if !KEYS.contains(&k) => cx.err(
                e.key.span,
                format!(
                    "unknown field `{k}` in generator `{}`; expected one of {}",
                    g.name.name,
                    KEYS.join(", ")
                ),
            ),
            _ => {}
        }
    }
    if !has_output_type {
        cx.err(
            g.name.span,
            format!("generator `{}` has no `output_type`", g.name.name),
        );
    }
}

/// `MAJOR.MINOR.PATCH` with an optional `-pre` / `+build` tail.
fn semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn check_duplicate_keys(cx: &mut Ctx<'_>, entries: &[ast::ConfigEntry], what: &str) {
    let mut seen = HashSet::new();
    for e in entries {
        if !seen.insert(e.key.name.as_str()) {
            cx.err(
                e.key.span,
                format!("{what} `{}` is given twice", e.key.name),
            );
        }
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n, _) => n.replace('_', "").parse().ok(),
        _ => None,
    }
}

fn whole(cx: &mut Ctx<'_>, v: &Value, what: &str) -> Option<u64> {
    match number(v) {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked whole and non-negative"
        )]
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n < 1e15 => Some(n as u64),
        _ => {
            cx.err(
                v.span(),
                format!("`{what}` must be a whole number of 0 or more"),
            );
            None
        }
    }
}

fn retry_policy(cx: &mut Ctx<'_>, p: &ast::ConfigDecl) -> Option<RetryPolicy> {
    let mut max_retries = None;
    let mut strategy = RetryStrategy::ConstantDelay { delay_ms: 200 };
    for e in &p.entries {
        match e.key.name.as_str() {
            "max_retries" => {
                max_retries = whole(cx, &e.value, "max_retries")
                    .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
            }
            "strategy" => {
                let Value::Map(entries, _) = &e.value else {
                    cx.err(e.value.span(), "`strategy` must be a block `{ type ... }`");
                    continue;
                };
                let get = |k: &str| entries.iter().find(|x| x.key.name == k).map(|x| &x.value);
                let delay = get("delay_ms")
                    .and_then(|v| whole(cx, v, "delay_ms"))
                    .unwrap_or(200);
                match get("type").and_then(Value::as_str) {
                    Some("constant_delay") => strategy = RetryStrategy::ConstantDelay { delay_ms: delay },
                    Some("exponential_backoff") => {
                        let multiplier = get("multiplier").map_or(Some(1.5), number);
                        if multiplier.is_none() {
                            cx.err(e.value.span(), "`multiplier` must be a number");
                        }
                        let max_delay_ms = get("max_delay_ms").and_then(|v| whole(cx, v, "max_delay_ms")).unwrap_or(10_000);
                        strategy = RetryStrategy::ExponentialBackoff { delay_ms: delay, multiplier: multiplier.unwrap_or(1.5), max_delay_ms };
                    }
                    Some(other) => cx.err(
                        e.value.span(),
                        format!("unknown retry strategy `{other}`: expected constant_delay or exponential_backoff"),
                    ),
                    None => cx.err(e.value.span(), "retry `strategy` needs a `type` (constant_delay or exponential_backoff)"),
                }
            }
            other => cx.err(
                e.key.span,
                format!("unknown field `{other}` in retry_policy `{}`", p.name.name),
            ),
        }
    }
    let Some(max_retries) = max_retries else {
        cx.err(
            p.name.span,
            format!("retry_policy `{}` has no `max_retries`", p.name.name),
        );
        return None;
    };
    Some(RetryPolicy {
        name: p.name.name.clone(),
        max_retries,
        strategy,
    })
}

fn test(cx: &mut Ctx<'_>, t: &ast::TestDecl) -> Test {
    let mut functions = Vec::new();
    let mut args = Vec::new();
    for e in &t.entries {
        match (e.key.name.as_str(), &e.value) {
            ("functions", Value::Array(items, _)) => {
                functions.extend(items.iter().filter_map(|i| i.as_str().map(str::to_string)));
            }
            ("functions", v) => cx.err(
                v.span(),
                "`functions` must be a list `[FunctionA, FunctionB]`",
            ),
            ("args", Value::Map(entries, _)) => {
                check_duplicate_keys(cx, entries, "argument");
                args.clone_from(entries);
            }
            ("args", v) => cx.err(v.span(), "`args` must be a block `{ name value ... }`"),
            (other, _) => cx.err(
                e.key.span,
                format!(
                    "unknown field `{other}` in test `{}`: expected functions or args",
                    t.name.name
                ),
            ),
        }
    }
    check_jinja_syntax(cx, &t.attrs);
    let checks = checks_of(cx, &t.attrs, "test", &[]);
    Test {
        name: t.name.name.clone(),
        functions,
        args,
        checks,
    }
}

// ---- whole-project checks ------------------------------------------------------------------

/// A type alias may refer to itself only through a list or a map.
fn check_alias_cycles(cx: &mut Ctx<'_>, aliases: &[(&ast::AliasDecl, Type)], ir: &Ir) {
    for (decl, ty) in aliases {
        let mut path = vec![decl.name.name.clone()];
        if direct_cycle(ir, ty, &decl.name.name, &mut path) {
            cx.err(
                decl.name.span,
                format!(
                    "type alias `{}` refers to itself without a list or map in between ({}): it would have no finite values",
                    decl.name.name,
                    path.join(" -> ")
                ),
            );
        }
    }
}

fn direct_cycle(ir: &Ir, t: &Type, target: &str, path: &mut Vec<String>) -> bool {
    match t {
        Type::Alias(name) => {
            if name == target {
                path.push(name.clone());
                return true;
            }
            if path.contains(name) || path.len() > 64 {
                return false;
            }
            let Some(alias) = ir.alias(name) else {
                return false;
            };
            path.push(name.clone());
            let found = direct_cycle(ir, &alias.ty, target, path);
            if !found {
                path.pop();
            }
            found
        }
        Type::Optional(inner) => direct_cycle(ir, inner, target, path),
        Type::Union(arms) => arms.iter().any(|a| direct_cycle(ir, a, target, path)),
        _ => false,
    }
}

/// Classes whose every value would have to contain itself (through required fields: not
/// optional, not a list or map, and not a union with a buildable member) could never be built.
/// A fixpoint marks the buildable classes; the rest are reported.
fn check_class_cycles(cx: &mut Ctx<'_>, items: &[&Item], ir: &Ir) {
    let mut buildable: HashSet<&str> = HashSet::new();
    loop {
        let before = buildable.len();
        for c in &ir.classes {
            if !buildable.contains(c.name.as_str())
                && c.fields.iter().all(|f| finite(ir, &f.ty, &buildable, 0))
            {
                buildable.insert(&c.name);
            }
        }
        if buildable.len() == before {
            break;
        }
    }
    for item in items {
        let Item::Class(decl) = item else { continue };
        if ir.class(&decl.name.name).is_some() && !buildable.contains(decl.name.name.as_str()) {
            cx.err(
                decl.name.span,
                format!(
                    "class `{}` could never be built: its required fields always lead back to itself; make one of them optional, a list or a map",
                    decl.name.name
                ),
            );
        }
    }
}

/// Whether a value of this type can be finite, given the classes known to be buildable.
fn finite(ir: &Ir, t: &Type, buildable: &HashSet<&str>, depth: usize) -> bool {
    if depth > 32 {
        return true;
    }
    match t {
        Type::Class(name) => buildable.contains(name.as_str()),
        Type::Alias(name) => ir
            .alias(name)
            .is_none_or(|a| finite(ir, &a.ty, buildable, depth + 1)),
        Type::Union(arms) => arms.iter().any(|a| finite(ir, a, buildable, depth + 1)),
        _ => true,
    }
}

/// Types with `@check`/`@assert` (through an alias) can be outputs only.
fn check_params_unchecked(cx: &mut Ctx<'_>, items: &[&Item], ir: &Ir) {
    for item in items {
        let Item::Function(f) = item else { continue };
        for p in &f.params {
            let ty = ir
                .function(&f.name.name)
                .and_then(|func| func.params.iter().find(|x| x.name == p.name.name))
                .map(|x| &x.ty);
            if let Some(alias) = ty.and_then(|t| checked_alias(ir, t, 0)) {
                cx.err(
                    p.ty.span(),
                    format!(
                        "parameter `{}` of `{}` has a checked type (`{alias}` has a @check): types with checks are not allowed as parameters (use @assert)",
                        p.name.name, f.name.name
                    ),
                );
            }
        }
    }
}

/// The first type (alias, or class with a checked field) inside `t` that carries a `@check`.
/// `@assert`s are fine on inputs; `@check`s produce `Checked` values, outputs only.
fn checked_alias(ir: &Ir, t: &Type, depth: usize) -> Option<String> {
    checked_inside(ir, t, depth, &mut HashSet::new())
}

fn checked_inside(ir: &Ir, t: &Type, depth: usize, seen: &mut HashSet<String>) -> Option<String> {
    if depth > 32 {
        return None;
    }
    let has_check = |checks: &[Check]| checks.iter().any(|c| !c.assert);
    match t {
        Type::Alias(name) => {
            let a = ir.alias(name)?;
            if has_check(&a.checks) {
                return Some(name.clone());
            }
            if !seen.insert(name.clone()) {
                return None;
            }
            checked_inside(ir, &a.ty, depth + 1, seen)
        }
        Type::Class(name) => {
            if !seen.insert(name.clone()) {
                return None;
            }
            let c = ir.class(name)?;
            if has_check(&c.checks) || c.fields.iter().any(|f| has_check(&f.checks)) {
                return Some(name.clone());
            }
            c.fields
                .iter()
                .find_map(|f| checked_inside(ir, &f.ty, depth + 1, seen))
        }
        Type::List(i) | Type::Optional(i) => checked_inside(ir, i, depth + 1, seen),
        Type::Map(_, v) => checked_inside(ir, v, depth + 1, seen),
        Type::Union(arms) => arms
            .iter()
            .find_map(|a| checked_inside(ir, a, depth + 1, seen)),
        _ => None,
    }
}

fn check_tests(cx: &mut Ctx<'_>, items: &[&Item]) {
    let mut per_function: HashSet<(String, String)> = HashSet::new();
    for item in items {
        let Item::Test(t) = item else { continue };
        let Some(functions) = t.entries.iter().find(|e| e.key.name == "functions") else {
            cx.err(
                t.name.span,
                format!("test `{}` has no `functions [...]`", t.name.name),
            );
            continue;
        };
        let Value::Array(names, _) = &functions.value else {
            continue;
        };
        for n in names {
            let Some(name) = n.as_str() else {
                cx.err(n.span(), "test functions must be function names");
                continue;
            };
            // A test may name a function that does not exist: BAML loads such a project
            // (the test fails when it is run).
            if !per_function.insert((name.to_string(), t.name.name.clone())) {
                cx.err(
                    t.name.span,
                    format!(
                        "test `{}` is already defined for function `{name}`",
                        t.name.name
                    ),
                );
            }
        }
    }
}

// ---- expression functions ------------------------------------------------------------------

/// Names that resolve in expression bodies without a declaration.
const EXPR_ROOTS: &[&str] = &["baml", "env", "std"];

/// Every name used in an expression body resolves: variables to a parameter, a `let` before
/// it in an enclosing block, a loop variable or a top-level `let`; called names to a function
/// (BAML does not let expressions call template strings); `Class { ... }` to a class.
fn check_expr_names(cx: &mut Ctx<'_>, items: &[&Item], ir: &Ir) {
    let mut callables: HashSet<&str> = HashSet::new();
    let mut globals: Vec<(String, Option<Prim>)> = Vec::new();
    for item in items {
        match item {
            Item::Function(f) => {
                callables.insert(&f.name.name);
            }
            Item::Let(l) => globals.push((l.name.name.clone(), None)),
            _ => {}
        }
    }
    let classes: HashSet<&str> = ir.classes.iter().map(|c| c.name.as_str()).collect();
    let mut scope = Scope {
        vars: globals,
        callables: &callables,
        classes: &classes,
        errors: Vec::new(),
    };
    for item in items {
        match item {
            Item::Let(l) => {
                scope.expr(&l.value);
            }
            Item::Function(f) => scope.function(f),
            Item::Class(c) => c.methods.iter().for_each(|m| scope.function(m)),
            _ => {}
        }
    }
    for (span, message) in scope.errors {
        cx.err(span, message);
    }
}

/// The primitive type of an expression, where it is evident without a type checker.
#[derive(Clone, Copy, PartialEq)]
enum Prim {
    Int,
    Float,
    String,
    Bool,
}

impl Prim {
    fn of_type(t: Option<&TypeExpr>) -> Option<Prim> {
        match t {
            Some(TypeExpr::Named(id)) => match id.name.as_str() {
                "int" => Some(Prim::Int),
                "float" => Some(Prim::Float),
                "string" => Some(Prim::String),
                "bool" => Some(Prim::Bool),
                _ => None,
            },
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Prim::Int => "int",
            Prim::Float => "float",
            Prim::String => "string",
            Prim::Bool => "bool",
        }
    }
}

struct Scope<'a> {
    /// Variables in scope, innermost last, with their evident primitive type.
    vars: Vec<(String, Option<Prim>)>,
    callables: &'a HashSet<&'a str>,
    classes: &'a HashSet<&'a str>,
    errors: Vec<(Span, String)>,
}

impl Scope<'_> {
    /// The variable `name` in scope (innermost first), with its evident type.
    fn lookup(&self, name: &str) -> Option<&(String, Option<Prim>)> {
        self.vars.iter().rev().find(|(n, _)| n == name)
    }

    fn function(&mut self, f: &ast::FunctionDecl) {
        let Some(body) = &f.body else { return };
        let mark = self.vars.len();
        self.vars.extend(
            f.params
                .iter()
                .map(|p| (p.name.name.clone(), Prim::of_type(Some(&p.ty)))),
        );
        let got = self.block(body);
        // A body whose value is evidently of another primitive type than the declared one
        // (BAML type-checks bodies fully; this catches the evident cases only).
        if let (Some(want), Some(got), Some(tail)) =
            (Prim::of_type(f.ret.as_ref()), got, &body.tail)
        {
            if want != got {
                self.errors.push((
                    tail.span(),
                    format!(
                        "function `{}` returns `{}` but its body's value is {}",
                        f.name.name,
                        want.name(),
                        got.name()
                    ),
                ));
            }
        }
        self.vars.truncate(mark);
    }

    /// Checks a block; returns the evident type of its value.
    fn block(&mut self, b: &ast::Block) -> Option<Prim> {
        let mark = self.vars.len();
        for s in &b.stmts {
            match s {
                ast::Stmt::Let(l) => {
                    let t = self.expr(&l.value);
                    let t = if l.ty.is_some() {
                        Prim::of_type(l.ty.as_ref())
                    } else {
                        t
                    };
                    self.vars.push((l.name.name.clone(), t));
                }
                ast::Stmt::Assign { target, value, .. } => {
                    self.expr(target);
                    self.expr(value);
                }
                ast::Stmt::Expr(e) | ast::Stmt::Return(Some(e), _) => {
                    self.expr(e);
                }
                ast::Stmt::Return(None, _) | ast::Stmt::Break(_) | ast::Stmt::Continue(_) => {}
                ast::Stmt::For {
                    var,
                    iterable,
                    body,
                    ..
                } => {
                    self.expr(iterable);
                    self.vars.push((var.name.clone(), None));
                    self.block(body);
                    self.vars.pop();
                }
                ast::Stmt::While { cond, body, .. } => {
                    self.expr(cond);
                    self.block(body);
                }
            }
        }
        let t = b.tail.as_ref().and_then(|t| self.expr(t));
        self.vars.truncate(mark);
        t
    }

    fn call(&mut self, callee: &ast::Expr, args: &[ast::Expr]) {
        match callee {
            ast::Expr::Ident(id) => {
                if !self.callables.contains(id.name.as_str()) && self.lookup(&id.name).is_none() {
                    self.errors
                        .push((id.span, format!("function `{}` is not defined", id.name)));
                }
            }
            // A method call: the receiver is checked, the method is not.
            ast::Expr::Field(base, _, _) => {
                self.expr(base);
            }
            other => {
                self.expr(other);
            }
        }
        for a in args {
            self.expr(a);
        }
    }

    /// Checks an expression; returns its evident primitive type.
    fn expr(&mut self, e: &ast::Expr) -> Option<Prim> {
        use ast::Expr as E;
        match e {
            E::Int(..) => Some(Prim::Int),
            E::Float(..) => Some(Prim::Float),
            E::String(_) => Some(Prim::String),
            E::Bool(..) => Some(Prim::Bool),
            E::Null(_) => None,
            E::Ident(id) => {
                if let Some((_, t)) = self.lookup(&id.name) {
                    return *t;
                }
                if !EXPR_ROOTS.contains(&id.name.as_str()) {
                    self.errors
                        .push((id.span, format!("unknown variable `{}`", id.name)));
                }
                None
            }
            E::Array(items, _) => {
                for i in items {
                    self.expr(i);
                }
                None
            }
            E::Map(entries, _) => {
                for (_, v) in entries {
                    self.expr(v);
                }
                None
            }
            E::New { class, fields, .. } => {
                if !self.classes.contains(class.name.as_str()) {
                    self.errors
                        .push((class.span, format!("class `{}` is not defined", class.name)));
                }
                for (_, v) in fields {
                    self.expr(v);
                }
                None
            }
            E::Field(base, name, _) => {
                if let Some(t) = self.expr(base) {
                    self.errors.push((
                        name.span,
                        format!(
                            "`.{}` on a value of type `{}`: only class instances have fields",
                            name.name,
                            t.name()
                        ),
                    ));
                }
                None
            }
            E::Index(base, index, _) => {
                self.expr(base);
                self.expr(index);
                None
            }
            E::Call { callee, args, .. } => {
                self.call(callee, args);
                None
            }
            E::Unary(op, inner, _) => {
                let t = self.expr(inner);
                if op == "!" {
                    Some(Prim::Bool)
                } else {
                    t.filter(|t| matches!(t, Prim::Int | Prim::Float))
                }
            }
            E::Binary(op, a, b, _) => {
                let (a, b) = (self.expr(a), self.expr(b));
                match op.as_str() {
                    "||" | "&&" | "==" | "!=" | "<" | "<=" | ">" | ">=" => Some(Prim::Bool),
                    "+" if a == Some(Prim::String) && b == Some(Prim::String) => Some(Prim::String),
                    _ if a == b && matches!(a, Some(Prim::Int | Prim::Float)) => a,
                    _ => None,
                }
            }
            E::If {
                cond,
                then,
                otherwise,
                ..
            } => {
                self.expr(cond);
                let t = self.block(then);
                let o = otherwise.as_ref().and_then(|o| self.expr(o));
                if t == o {
                    t
                } else {
                    None
                }
            }
            E::Block(b) => self.block(b),
        }
    }
}
