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
    pub alias: Option<String>,
    pub description: Option<String>,
    pub skip: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Enum {
    pub name: String,
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
    pub params: Vec<Param>,
    pub ret: Type,
    /// `@check`/`@assert` on the return type.
    pub ret_checks: Vec<Check>,
    pub client: FunctionClient,
    pub prompt: String,
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
}

impl Ir {
    pub fn class(&self, name: &str) -> Option<&Class> {
        self.classes.iter().find(|c| c.name == name)
    }
    pub fn enum_(&self, name: &str) -> Option<&Enum> {
        self.enums.iter().find(|e| e.name == name)
    }
    pub fn alias(&self, name: &str) -> Option<&TypeAlias> {
        self.aliases.iter().find(|a| a.name == name)
    }
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }
    pub fn client(&self, name: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.name == name)
    }
}
