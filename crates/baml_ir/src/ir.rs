//! The IR: a validated BAML project, every name resolved.

use baml_parser::ast;

use crate::types::Type;

/// A `@check` or `@assert` (on a field, a class, or a type alias).
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Checks are named; asserts may be.
    pub name: Option<String>,
    /// The Jinja expression (without `{{ }}`).
    pub expr: String,
    pub assert: bool,
}

/// Streaming attributes of a field or class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamAttrs {
    pub done: bool,
    pub not_null: bool,
    pub with_state: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    /// The `///` doc comment above it, kept for the TypeScript declarations (as JSDoc).
    pub doc: Option<String>,
    pub ty: Type,
    pub alias: Option<String>,
    pub description: Option<String>,
    pub skip: bool,
    pub checks: Vec<Check>,
    pub stream: StreamAttrs,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub name: String,
    /// The `///` doc comment above it, kept for the TypeScript declarations (as JSDoc).
    pub doc: Option<String>,
    pub alias: Option<String>,
    pub description: Option<String>,
    pub dynamic: bool,
    pub fields: Vec<Field>,
    pub checks: Vec<Check>,
    pub stream_done: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumValue {
    pub name: String,
    /// The `///` doc comment above it, kept for the TypeScript declarations (as JSDoc).
    pub doc: Option<String>,
    pub alias: Option<String>,
    pub description: Option<String>,
    pub skip: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Enum {
    pub name: String,
    /// The `///` doc comment above it, kept for the TypeScript declarations (as JSDoc).
    pub doc: Option<String>,
    pub alias: Option<String>,
    pub description: Option<String>,
    pub dynamic: bool,
    pub values: Vec<EnumValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeAlias {
    pub name: String,
    pub ty: Type,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub ty: Type,
    /// `@assert`s on the parameter's type (`n: int @assert(...)`), checked on the argument.
    pub checks: Vec<Check>,
}

/// Which client a function uses.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionClient {
    Named(String),
    /// `client "provider/model"`.
    Shorthand {
        provider: String,
        model: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    /// The `///` doc comment above it, kept for the TypeScript declarations (as JSDoc).
    pub doc: Option<String>,
    pub params: Vec<Param>,
    pub ret: Type,
    /// `@check`/`@assert` on the return type.
    pub ret_checks: Vec<Check>,
    pub client: FunctionClient,
    pub prompt: String,
    /// Where the prompt's text starts (for template errors).
    pub prompt_at: SourceAt,
}

/// A function whose body is BAML expressions: `function F(x: int) -> int { x + 1 }`, or a
/// method `function m(self) -> T { ... }` of a class.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprFunction {
    pub name: String,
    /// The class of a method (whose first parameter is `self`).
    pub class: Option<String>,
    pub doc: Option<String>,
    pub params: Vec<Param>,
    pub ret: Type,
    /// The body as parsed; names in it are checked to resolve (variables in scope, called
    /// functions declared), but it is not type-checked or evaluated yet.
    pub body: ast::Block,
}

/// A top-level `let name = value;`.
#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    pub name: String,
    pub value: ast::Expr,
}

/// A position in a `.baml` file: the file's path and a 1-based line and column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceAt {
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// The byte range in the file; resolved into the fields above when the project loads.
    pub span: baml_parser::Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub name: String,
    pub provider: String,
    pub retry_policy: Option<String>,
    /// The `options { }` entries as written (values resolved at call time: `env.X`).
    pub options: Vec<ast::ConfigEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RetryStrategy {
    ConstantDelay {
        delay_ms: u64,
    },
    ExponentialBackoff {
        delay_ms: u64,
        multiplier: f64,
        max_delay_ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub name: String,
    pub max_retries: u32,
    pub strategy: RetryStrategy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TemplateString {
    pub name: String,
    pub params: Vec<Param>,
    pub body: String,
    /// Where the body's text starts.
    pub body_at: SourceAt,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub name: String,
    pub functions: Vec<String>,
    pub args: Vec<ast::ConfigEntry>,
    pub checks: Vec<Check>,
}

/// A validated project.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ir {
    pub classes: Vec<Class>,
    pub enums: Vec<Enum>,
    pub aliases: Vec<TypeAlias>,
    pub functions: Vec<Function>,
    pub clients: Vec<Client>,
    pub retry_policies: Vec<RetryPolicy>,
    pub templates: Vec<TemplateString>,
    pub tests: Vec<Test>,
    /// Functions whose body is BAML expressions (and class methods), kept as syntax for an
    /// evaluator; not callable through the LLM path.
    pub expr_functions: Vec<ExprFunction>,
    /// Top-level `let name = value;` bindings, in file order.
    pub globals: Vec<Global>,
    /// Positions by name, so lookups stay O(1) in large projects (see `reindex`).
    index: Index,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Index {
    classes: std::collections::HashMap<String, usize>,
    enums: std::collections::HashMap<String, usize>,
    aliases: std::collections::HashMap<String, usize>,
    functions: std::collections::HashMap<String, usize>,
    clients: std::collections::HashMap<String, usize>,
}

fn positions<T>(
    items: &[T],
    name: impl Fn(&T) -> &str,
) -> std::collections::HashMap<String, usize> {
    let mut map = std::collections::HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        map.entry(name(item).to_string()).or_insert(i);
    }
    map
}

impl Ir {
    /// Rebuilds the name index after the lists changed.
    pub fn reindex(&mut self) {
        self.index = Index {
            classes: positions(&self.classes, |c| &c.name),
            enums: positions(&self.enums, |e| &e.name),
            aliases: positions(&self.aliases, |a| &a.name),
            functions: positions(&self.functions, |f| &f.name),
            clients: positions(&self.clients, |c| &c.name),
        };
    }

    pub fn class(&self, name: &str) -> Option<&Class> {
        self.index
            .classes
            .get(name)
            .and_then(|i| self.classes.get(*i))
    }
    pub fn enum_(&self, name: &str) -> Option<&Enum> {
        self.index.enums.get(name).and_then(|i| self.enums.get(*i))
    }
    pub fn alias(&self, name: &str) -> Option<&TypeAlias> {
        self.index
            .aliases
            .get(name)
            .and_then(|i| self.aliases.get(*i))
    }
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.index
            .functions
            .get(name)
            .and_then(|i| self.functions.get(*i))
    }
    pub fn client(&self, name: &str) -> Option<&Client> {
        self.index
            .clients
            .get(name)
            .and_then(|i| self.clients.get(*i))
    }
}
