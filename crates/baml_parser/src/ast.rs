//! The syntax tree of one `.baml` file: every declaration as written, with spans.

use crate::span::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A parsed file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ast {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Class(ClassDecl),
    Enum(EnumDecl),
    Function(FunctionDecl),
    Client(ClientDecl),
    RetryPolicy(ConfigDecl),
    Generator(ConfigDecl),
    TemplateString(TemplateDecl),
    TypeAlias(AliasDecl),
    Test(TestDecl),
    /// `dynamic class X { ... }` (only in a type builder's BAML): fields added to `X`.
    DynamicClass(ClassDecl),
    /// `dynamic enum X { ... }` (only in a type builder's BAML): values added to `X`.
    DynamicEnum(EnumDecl),
    /// `let name = value;` at the top level of a file.
    Let(LetDecl),
}

impl Item {
    /// The declared name.
    pub fn name(&self) -> &Ident {
        match self {
            Item::Class(d) | Item::DynamicClass(d) => &d.name,
            Item::Enum(d) | Item::DynamicEnum(d) => &d.name,
            Item::Function(d) => &d.name,
            Item::Client(d) => &d.name,
            Item::RetryPolicy(d) | Item::Generator(d) => &d.name,
            Item::TemplateString(d) => &d.name,
            Item::TypeAlias(d) => &d.name,
            Item::Test(d) => &d.name,
            Item::Let(d) => &d.name,
        }
    }

    /// The keyword that declares it, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Item::Class(_) => "class",
            Item::Enum(_) => "enum",
            Item::Function(_) => "function",
            Item::Client(_) => "client",
            Item::RetryPolicy(_) => "retry_policy",
            Item::Generator(_) => "generator",
            Item::TemplateString(_) => "template_string",
            Item::TypeAlias(_) => "type alias",
            Item::Test(_) => "test",
            Item::DynamicClass(_) => "dynamic class",
            Item::DynamicEnum(_) => "dynamic enum",
            Item::Let(_) => "let",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClassDecl {
    pub name: Ident,
    pub doc: Option<String>,
    pub fields: Vec<Field>,
    /// `function name(self, ...) -> T { ... }` methods (expression functions).
    pub methods: Vec<FunctionDecl>,
    /// Block attributes (`@@dynamic`, `@@alias`, ...).
    pub attrs: Vec<Attribute>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: Ident,
    pub doc: Option<String>,
    pub ty: TypeExpr,
    pub attrs: Vec<Attribute>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumDecl {
    pub name: Ident,
    pub doc: Option<String>,
    pub values: Vec<EnumValue>,
    pub attrs: Vec<Attribute>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumValue {
    pub name: Ident,
    pub doc: Option<String>,
    pub attrs: Vec<Attribute>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    /// Attributes on the type (`x: int @assert(...)`).
    pub attrs: Vec<Attribute>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDecl {
    pub name: Ident,
    pub doc: Option<String>,
    pub params: Vec<Param>,
    pub ret: Option<TypeExpr>,
    /// Attributes on the return type (`-> int @check(...)`).
    pub ret_attrs: Vec<Attribute>,
    /// `client Name` or `client "provider/model"`.
    pub client: Option<ClientRef>,
    pub prompt: Option<Text>,
    /// Other `key value` entries in the body (reported by the validator).
    pub other: Vec<ConfigEntry>,
    /// Whether a `{ ... }` body was found (if not, its absence is already reported).
    pub has_body: bool,
    /// The body of an expression function (a body that is not `client` / `prompt`).
    pub body: Option<Block>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientRef {
    Named(Ident),
    /// `"provider/model"` shorthand.
    Shorthand(String, Span),
}

/// A string with where it is and how it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub value: String,
    pub span: Span,
    pub raw: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientDecl {
    /// `llm` in `client<llm>`.
    pub kind: Ident,
    pub name: Ident,
    pub entries: Vec<ConfigEntry>,
    pub span: Span,
}

/// `retry_policy` and `generator` blocks: a name and `key value` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigDecl {
    pub name: Ident,
    pub entries: Vec<ConfigEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TemplateDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Text,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AliasDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub attrs: Vec<Attribute>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestDecl {
    pub name: Ident,
    pub entries: Vec<ConfigEntry>,
    pub attrs: Vec<Attribute>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub key: Ident,
    pub value: Value,
    pub span: Span,
}

/// A value in a config block, an attribute argument or a test argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Quoted, raw or unquoted string.
    String(Text),
    Number(String, Span),
    Bool(bool, Span),
    Null(Span),
    /// `env.NAME`.
    Env(String, Span),
    Array(Vec<Value>, Span),
    Map(Vec<ConfigEntry>, Span),
    /// `{{ jinja expression }}` (attribute arguments).
    Jinja(String, Span),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::String(t) => t.span,
            Value::Number(_, s)
            | Value::Bool(_, s)
            | Value::Null(s)
            | Value::Env(_, s)
            | Value::Array(_, s)
            | Value::Map(_, s)
            | Value::Jinja(_, s) => *s,
        }
    }

    /// The text of a string-like value (string or unquoted identifier).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(t) => Some(&t.value),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// Without the `@`/`@@`: `alias`, `stream.done`, ...
    pub name: String,
    /// `@@` rather than `@`.
    pub block: bool,
    pub args: Vec<Value>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeExpr {
    /// A primitive, a class, an enum or an alias, by name.
    Named(Ident),
    StringLit(String, Span),
    IntLit(i64, Span),
    BoolLit(bool, Span),
    Optional(Box<TypeExpr>, Span),
    List(Box<TypeExpr>, Span),
    Map(Box<TypeExpr>, Box<TypeExpr>, Span),
    Union(Vec<TypeExpr>, Span),
    Group(Box<TypeExpr>, Span),
}

impl TypeExpr {
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named(i) => i.span,
            TypeExpr::StringLit(_, s)
            | TypeExpr::IntLit(_, s)
            | TypeExpr::BoolLit(_, s)
            | TypeExpr::Optional(_, s)
            | TypeExpr::List(_, s)
            | TypeExpr::Map(_, _, s)
            | TypeExpr::Union(_, s)
            | TypeExpr::Group(_, s) => *s,
        }
    }
}

// ---- expression functions ------------------------------------------------------------------

/// A `{ ... }` block of an expression function: statements, then the value of the block
/// (the last expression, written without `;`), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub tail: Option<Box<Expr>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `let name (: Type)? = value;`
    Let(LetDecl),
    /// `target = value;`, `target += value;` (`op` is `=`, `+=`, `-=`, `*=`, `/=`, `%=`).
    Assign {
        target: Expr,
        op: String,
        value: Expr,
        span: Span,
    },
    /// An expression evaluated for its effect (`f(x);`, or an `if` / block without `;`).
    Expr(Expr),
    /// `return value?;`
    Return(Option<Expr>, Span),
    /// `for (let var in iterable) { body }`
    For {
        var: Ident,
        iterable: Expr,
        body: Block,
        span: Span,
    },
    /// `while (cond) { body }`
    While {
        cond: Expr,
        body: Block,
        span: Span,
    },
    Break(Span),
    Continue(Span),
}

/// `let name (: Type)? = value;` in a block or at the top level of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct LetDecl {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Int(i64, Span),
    Float(f64, Span),
    /// A quoted or raw string.
    String(Text),
    Bool(bool, Span),
    Null(Span),
    /// A variable, a function or (before `{`) a class, by name.
    Ident(Ident),
    Array(Vec<Expr>, Span),
    /// `{ "key": value, ... }` (keys are expressions: strings or names).
    Map(Vec<(Expr, Expr)>, Span),
    /// `ClassName { field: value, ... }`
    New {
        class: Ident,
        fields: Vec<(Ident, Expr)>,
        span: Span,
    },
    /// `value.field`
    Field(Box<Expr>, Ident, Span),
    /// `value[index]`
    Index(Box<Expr>, Box<Expr>, Span),
    /// `callee(args)`; the callee is a name or a field (method call).
    Call {
        callee: Box<Expr>,
        args: Vec<Expr>,
        span: Span,
    },
    /// `!x`, `-x`
    Unary(String, Box<Expr>, Span),
    /// `a op b` with op one of `||`, `&&`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `+`, `-`, `*`,
    /// `/`, `%`.
    Binary(String, Box<Expr>, Box<Expr>, Span),
    /// `if (cond) { ... } else ...`; `otherwise` is a block or another `if`.
    If {
        cond: Box<Expr>,
        then: Block,
        otherwise: Option<Box<Expr>>,
        span: Span,
    },
    Block(Block),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::String(t) => t.span,
            Expr::Ident(i) => i.span,
            Expr::Block(b) => b.span,
            Expr::Int(_, s)
            | Expr::Float(_, s)
            | Expr::Bool(_, s)
            | Expr::Null(s)
            | Expr::Array(_, s)
            | Expr::Map(_, s)
            | Expr::New { span: s, .. }
            | Expr::Field(_, _, s)
            | Expr::Index(_, _, s)
            | Expr::Call { span: s, .. }
            | Expr::Unary(_, _, s)
            | Expr::Binary(_, _, _, s)
            | Expr::If { span: s, .. } => *s,
        }
    }
}
