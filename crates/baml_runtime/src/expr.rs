//! Expression functions: a `function` whose body is BAML expressions (`let`, `if`, `for`,
//! `while`, arithmetic, class values, calls), evaluated here over JSON values. Calls to LLM
//! functions inside run as the same tokio futures as any call; calls to other expression
//! functions and class methods recurse.
//!
//! Semantics follow BAML's VM where we measured them (@boundaryml/baml 0.226.2): integers are
//! 64-bit and divide and take remainders truncating toward zero; an operation with a float is a
//! float; `+` joins strings; top-level `let`s are values every function sees.
//!
//! Every evaluation is bounded: at most [`MAX_STEPS`] steps (a `while (true) {}` ends with an
//! error, not a busy tokio thread), calls nested at most [`MAX_DEPTH`] deep, and the thread is
//! yielded every [`YIELD_EVERY`] steps so other calls and a cancellation get their turn.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use baml_ir::ir::ExprFunction;
use baml_parser::ast::{Block, Expr, Stmt};
use baml_parser::Span;
use serde_json::{Map, Number, Value as Json};

use crate::{CallError, CallOptions, Runtime, Usage};

/// The most steps (expressions and statements evaluated) one call may take.
pub const MAX_STEPS: u64 = 2_000_000;
/// The deepest expression-function calls may nest.
pub const MAX_DEPTH: usize = 32;
/// The deepest evaluation may nest, counting every expression, statement and block on the way
/// (each level takes a few KB of the thread's stack, and a tokio worker has 2 MiB).
pub const MAX_NESTING: usize = 128;
const YIELD_EVERY: u64 = 4096;

/// How evaluation leaves an expression or statement other than with a value.
enum Flow {
    Error(CallError),
    Return(Json),
    Break,
    Continue,
}

impl From<CallError> for Flow {
    fn from(e: CallError) -> Self {
        Flow::Error(e)
    }
}

type Eval<'b, T> = Pin<Box<dyn Future<Output = Result<T, Flow>> + Send + 'b>>;

pub(crate) struct Interp<'a> {
    rt: &'a Runtime,
    opts: &'a CallOptions,
    steps: u64,
    depth: usize,
    nesting: usize,
    /// Tokens of the LLM calls made so far.
    pub(crate) usage: Usage,
    /// Values of the top-level `let`s, once evaluated.
    globals: Option<HashMap<String, Json>>,
}

/// Variables by scope, innermost last.
struct Scopes(Vec<HashMap<String, Json>>);

impl Scopes {
    fn get(&self, name: &str) -> Option<&Json> {
        self.0.iter().rev().find_map(|s| s.get(name))
    }
    fn get_mut(&mut self, name: &str) -> Option<&mut Json> {
        self.0.iter_mut().rev().find_map(|s| s.get_mut(name))
    }
    fn define(&mut self, name: &str, v: Json) {
        if let Some(top) = self.0.last_mut() {
            top.insert(name.to_string(), v);
        }
    }
}

fn stmt_span(s: &Stmt) -> Span {
    match s {
        Stmt::Let(l) => l.span,
        Stmt::Assign { span, .. }
        | Stmt::For { span, .. }
        | Stmt::While { span, .. }
        | Stmt::Return(_, span)
        | Stmt::Break(span)
        | Stmt::Continue(span) => *span,
        Stmt::Expr(e) => e.span(),
    }
}

fn int(n: i64) -> Json {
    Json::Number(Number::from(n))
}

fn float(f: f64) -> Result<Json, String> {
    Number::from_f64(f)
        .map(Json::Number)
        .ok_or_else(|| format!("the result is not a finite number ({f})"))
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(n) if n.is_f64() => "float",
        Json::Number(_) => "int",
        Json::String(_) => "string",
        Json::Array(_) => "list",
        Json::Object(_) => "object",
    }
}

/// Equality as BAML's `==`: numbers by value (`1 == 1.0`), everything else structurally.
fn equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

fn arithmetic(op: &str, lhs: &Json, rhs: &Json) -> Result<Json, String> {
    match (op, lhs, rhs) {
        ("+", Json::String(left), Json::String(right)) => {
            return Ok(Json::String(format!("{left}{right}")));
        }
        ("+", Json::Array(left), Json::Array(right)) => {
            return Ok(Json::Array(left.iter().chain(right).cloned().collect()));
        }
        _ => {}
    }
    let (Json::Number(left), Json::Number(right)) = (lhs, rhs) else {
        return Err(format!(
            "`{op}` needs two numbers (or `+` two strings or lists), got {} and {}",
            kind(lhs),
            kind(rhs)
        ));
    };
    if let (Some(li), Some(ri)) = (left.as_i64(), right.as_i64()) {
        let out = match op {
            "+" => li.checked_add(ri),
            "-" => li.checked_sub(ri),
            "*" => li.checked_mul(ri),
            "/" | "%" if ri == 0 => return Err("division by zero".into()),
            "/" => li.checked_div(ri),
            "%" => li.checked_rem(ri),
            _ => return Err(format!("unknown operator `{op}`")),
        };
        return out
            .map(int)
            .ok_or_else(|| format!("integer overflow in `{li} {op} {ri}`"));
    }
    let lf = left.as_f64().unwrap_or(f64::NAN);
    let rf = right.as_f64().unwrap_or(f64::NAN);
    float(match op {
        "+" => lf + rf,
        "-" => lf - rf,
        "*" => lf * rf,
        "/" => lf / rf,
        "%" => lf % rf,
        _ => return Err(format!("unknown operator `{op}`")),
    })
}

fn compare(op: &str, a: &Json, b: &Json) -> Result<bool, String> {
    let ord = match (a, b) {
        (Json::Number(x), Json::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .ok_or("numbers that do not compare")?,
        (Json::String(x), Json::String(y)) => x.cmp(y),
        _ => {
            return Err(format!(
                "`{op}` compares two numbers or two strings, got {} and {}",
                kind(a),
                kind(b)
            ))
        }
    };
    Ok(match op {
        "<" => ord.is_lt(),
        "<=" => ord.is_le(),
        ">" => ord.is_gt(),
        _ => ord.is_ge(),
    })
}

impl<'a> Interp<'a> {
    pub(crate) fn new(rt: &'a Runtime, opts: &'a CallOptions) -> Interp<'a> {
        Interp {
            rt,
            opts,
            steps: 0,
            depth: 0,
            nesting: 0,
            usage: Usage::default(),
            globals: None,
        }
    }

    /// An error at `span`, as `file:line:column: message`.
    fn error(&self, span: Span, message: impl std::fmt::Display) -> Flow {
        let at = self
            .rt
            .files()
            .nth(span.file as usize)
            .map(|(path, src)| {
                let (line, column) = baml_parser::line_col(src, span.start);
                format!("{path}:{line}:{column}: ")
            })
            .unwrap_or_default();
        Flow::Error(CallError::InvalidArgument(format!("{at}{message}")))
    }

    async fn step(&mut self, span: Span) -> Result<(), Flow> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.error(
                span,
                format!(
                    "the expression function took more than {MAX_STEPS} steps (an endless loop?)"
                ),
            ));
        }
        if self.steps.is_multiple_of(YIELD_EVERY) {
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// Calls expression function `f` with `args` by parameter name.
    pub(crate) async fn call(
        &mut self,
        f: &'a ExprFunction,
        args: &Map<String, Json>,
    ) -> Result<Json, CallError> {
        match self.invoke(f, args.clone(), f.body.span).await {
            Ok(v) | Err(Flow::Return(v)) => Ok(v),
            Err(Flow::Error(e)) => Err(e),
            Err(Flow::Break | Flow::Continue) => Err(CallError::InvalidArgument(format!(
                "`break` or `continue` outside a loop in `{}`",
                f.name
            ))),
        }
    }

    fn invoke<'b>(
        &'b mut self,
        f: &'a ExprFunction,
        args: Map<String, Json>,
        at: Span,
    ) -> Eval<'b, Json> {
        Box::pin(async move {
            if self.depth >= MAX_DEPTH {
                return Err(self.error(
                    at,
                    format!("expression functions nest more than {MAX_DEPTH} calls deep"),
                ));
            }
            if self.globals.is_none() {
                self.globals = Some(HashMap::new());
                let mut scopes = Scopes(vec![HashMap::new()]);
                for g in &self.rt.ir().globals {
                    let v = self.expr(&g.value, &mut scopes).await?;
                    scopes.define(&g.name, v.clone());
                    if let Some(globals) = &mut self.globals {
                        globals.insert(g.name.clone(), v);
                    }
                }
            }
            let mut frame = self.globals.clone().unwrap_or_default();
            for p in &f.params {
                let v = args.get(&p.name).cloned().unwrap_or(Json::Null);
                if v.is_null() && !p.ty.is_optional() {
                    return Err(
                        self.error(at, format!("`{}` needs its argument `{}`", f.name, p.name))
                    );
                }
                frame.insert(p.name.clone(), v);
            }
            self.depth += 1;
            let mut scopes = Scopes(vec![frame]);
            let out = self.block(&f.body, &mut scopes).await;
            self.depth -= 1;
            match out {
                Err(Flow::Return(v)) => Ok(v),
                other => other,
            }
        })
    }

    fn block<'b>(&'b mut self, b: &'b Block, scopes: &'b mut Scopes) -> Eval<'b, Json> {
        Box::pin(async move {
            self.enter(b.span)?;
            let out = self.block_inner(b, scopes).await;
            self.nesting -= 1;
            out
        })
    }

    fn stmt<'b>(&'b mut self, s: &'b Stmt, scopes: &'b mut Scopes) -> Eval<'b, ()> {
        Box::pin(async move {
            self.enter(stmt_span(s))?;
            let out = self.stmt_inner(s, scopes).await;
            self.nesting -= 1;
            out
        })
    }

    fn expr<'b>(&'b mut self, e: &'b Expr, scopes: &'b mut Scopes) -> Eval<'b, Json> {
        Box::pin(async move {
            self.enter(e.span())?;
            let out = self.expr_inner(e, scopes).await;
            self.nesting -= 1;
            out
        })
    }

    fn enter(&mut self, span: Span) -> Result<(), Flow> {
        if self.nesting >= MAX_NESTING {
            return Err(self.error(
                span,
                format!(
                    "evaluation nested more than {MAX_NESTING} levels deep (calls within calls?)"
                ),
            ));
        }
        self.nesting += 1;
        Ok(())
    }

    fn block_inner<'b>(&'b mut self, b: &'b Block, scopes: &'b mut Scopes) -> Eval<'b, Json> {
        Box::pin(async move {
            scopes.0.push(HashMap::new());
            let out = async {
                for s in &b.stmts {
                    self.stmt(s, scopes).await?;
                }
                match &b.tail {
                    Some(e) => self.expr(e, scopes).await,
                    None => Ok(Json::Null),
                }
            }
            .await;
            scopes.0.pop();
            out
        })
    }

    fn stmt_inner<'b>(&'b mut self, s: &'b Stmt, scopes: &'b mut Scopes) -> Eval<'b, ()> {
        Box::pin(async move {
            match s {
                Stmt::Let(l) => {
                    self.step(l.span).await?;
                    let v = self.expr(&l.value, scopes).await?;
                    scopes.define(&l.name.name, v);
                }
                Stmt::Assign {
                    target,
                    op,
                    value,
                    span,
                } => {
                    self.step(*span).await?;
                    let v = self.expr(value, scopes).await?;
                    let v = if op == "=" {
                        v
                    } else {
                        let old = self.expr(target, scopes).await?;
                        arithmetic(op.trim_end_matches('='), &old, &v)
                            .map_err(|m| self.error(*span, m))?
                    };
                    self.assign(target, v, scopes, *span)?;
                }
                Stmt::Expr(e) => {
                    self.expr(e, scopes).await?;
                }
                Stmt::Return(e, span) => {
                    self.step(*span).await?;
                    let v = match e {
                        Some(e) => self.expr(e, scopes).await?,
                        None => Json::Null,
                    };
                    return Err(Flow::Return(v));
                }
                Stmt::For {
                    var,
                    iterable,
                    body,
                    span,
                } => {
                    let items = match self.expr(iterable, scopes).await? {
                        Json::Array(items) => items,
                        Json::Object(map) => {
                            map.into_iter().map(|(k, _)| Json::String(k)).collect()
                        }
                        other => {
                            return Err(self.error(
                                *span,
                                format!("`for` goes over a list or a map, got {}", kind(&other)),
                            ))
                        }
                    };
                    for item in items {
                        self.step(*span).await?;
                        scopes.0.push(HashMap::from([(var.name.clone(), item)]));
                        let r = self.block(body, scopes).await;
                        scopes.0.pop();
                        match r {
                            Ok(_) | Err(Flow::Continue) => {}
                            Err(Flow::Break) => break,
                            Err(other) => return Err(other),
                        }
                    }
                }
                Stmt::While { cond, body, span } => loop {
                    self.step(*span).await?;
                    match self.expr(cond, scopes).await? {
                        Json::Bool(true) => {}
                        Json::Bool(false) => break,
                        other => {
                            return Err(self.error(
                                *span,
                                format!("a `while` condition must be a bool, got {}", kind(&other)),
                            ))
                        }
                    }
                    match self.block(body, scopes).await {
                        Ok(_) | Err(Flow::Continue) => {}
                        Err(Flow::Break) => break,
                        Err(other) => return Err(other),
                    }
                },
                Stmt::Break(_) => return Err(Flow::Break),
                Stmt::Continue(_) => return Err(Flow::Continue),
            }
            Ok(())
        })
    }

    /// Stores `v` at `target` (a variable, a field or an element of one).
    fn assign(&self, target: &Expr, v: Json, scopes: &mut Scopes, span: Span) -> Result<(), Flow> {
        let mut path = Vec::new();
        let mut at = target;
        let root = loop {
            match at {
                Expr::Ident(id) => break id,
                Expr::Field(inner, name, _) => {
                    path.push(Json::String(name.name.clone()));
                    at = inner;
                }
                Expr::Index(inner, index, _) => {
                    // Only literal indexes are resolved here; others need evaluation first.
                    let key = match index.as_ref() {
                        Expr::Int(n, _) => int(*n),
                        Expr::String(t) => Json::String(t.value.clone()),
                        _ => {
                            return Err(self.error(span, "only a literal index can be assigned to"))
                        }
                    };
                    path.push(key);
                    at = inner;
                }
                _ => return Err(self.error(span, "this cannot be assigned to")),
            }
        };
        let Some(mut slot) = scopes.get_mut(&root.name) else {
            return Err(self.error(root.span, format!("unknown variable `{}`", root.name)));
        };
        for key in path.iter().rev() {
            slot = match (slot, key) {
                (Json::Object(map), Json::String(k)) => map.entry(k.clone()).or_insert(Json::Null),
                (Json::Array(items), Json::Number(n)) => {
                    let len = items.len();
                    let i = n
                        .as_u64()
                        .and_then(|i| usize::try_from(i).ok())
                        .filter(|i| *i < len);
                    match i {
                        Some(i) => &mut items[i],
                        None => {
                            return Err(self
                                .error(span, format!("index {n} is out of range (length {len})")))
                        }
                    }
                }
                (other, _) => {
                    return Err(self.error(span, format!("cannot assign into a {}", kind(other))))
                }
            };
        }
        *slot = v;
        Ok(())
    }

    fn expr_inner<'b>(&'b mut self, e: &'b Expr, scopes: &'b mut Scopes) -> Eval<'b, Json> {
        Box::pin(async move {
            match e {
                Expr::Int(n, _) => Ok(int(*n)),
                Expr::Float(f, span) => float(*f).map_err(|m| self.error(*span, m)),
                Expr::String(t) => Ok(Json::String(t.value.clone())),
                Expr::Bool(b, _) => Ok(Json::Bool(*b)),
                Expr::Null(_) => Ok(Json::Null),
                Expr::Ident(id) => scopes
                    .get(&id.name)
                    .cloned()
                    .ok_or_else(|| self.error(id.span, format!("unknown variable `{}`", id.name))),
                Expr::Array(items, span) => {
                    self.step(*span).await?;
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(self.expr(item, scopes).await?);
                    }
                    Ok(Json::Array(out))
                }
                Expr::Map(entries, span) => {
                    self.step(*span).await?;
                    let mut out = Map::new();
                    for (k, v) in entries {
                        let key = match k {
                            Expr::Ident(id) => id.name.clone(),
                            other => match self.expr(other, scopes).await? {
                                Json::String(s) => s,
                                other => {
                                    return Err(self.error(
                                        *span,
                                        format!("map keys are strings, got {}", kind(&other)),
                                    ))
                                }
                            },
                        };
                        let v = self.expr(v, scopes).await?;
                        out.insert(key, v);
                    }
                    Ok(Json::Object(out))
                }
                Expr::New { fields, span, .. } => {
                    self.step(*span).await?;
                    let mut out = Map::new();
                    for (name, v) in fields {
                        let v = self.expr(v, scopes).await?;
                        out.insert(name.name.clone(), v);
                    }
                    Ok(Json::Object(out))
                }
                Expr::Field(obj, name, span) => match self.expr(obj, scopes).await? {
                    Json::Object(map) => map
                        .get(&name.name)
                        .cloned()
                        .ok_or_else(|| self.error(name.span, format!("no field `{}`", name.name))),
                    other => Err(self.error(
                        *span,
                        format!("a {} has no field `{}`", kind(&other), name.name),
                    )),
                },
                Expr::Index(obj, index, span) => self.index(obj, index, *span, scopes).await,
                Expr::Call { callee, args, span } => {
                    self.call_expr(callee, args, *span, scopes).await
                }
                Expr::Unary(op, inner, span) => self.unary(op, inner, *span, scopes).await,
                Expr::Binary(op, lhs, rhs, span) => self.binary(op, lhs, rhs, *span, scopes).await,
                Expr::If {
                    cond,
                    then,
                    otherwise,
                    span,
                } => {
                    self.step(*span).await?;
                    match self.expr(cond, scopes).await? {
                        Json::Bool(true) => self.block(then, scopes).await,
                        Json::Bool(false) => match otherwise {
                            Some(e) => self.expr(e, scopes).await,
                            None => Ok(Json::Null),
                        },
                        other => Err(self.error(
                            *span,
                            format!("an `if` condition must be a bool, got {}", kind(&other)),
                        )),
                    }
                }
                Expr::Block(b) => self.block(b, scopes).await,
            }
        })
    }

    async fn index(
        &mut self,
        obj: &Expr,
        index: &Expr,
        span: Span,
        scopes: &mut Scopes,
    ) -> Result<Json, Flow> {
        let obj = self.expr(obj, scopes).await?;
        let index = self.expr(index, scopes).await?;
        match (&obj, &index) {
            (Json::Array(items), Json::Number(n)) => n
                .as_i64()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| items.get(i).cloned())
                .ok_or_else(|| {
                    self.error(
                        span,
                        format!("index {n} is out of range (length {})", items.len()),
                    )
                }),
            (Json::Object(map), Json::String(k)) => map
                .get(k)
                .cloned()
                .ok_or_else(|| self.error(span, format!("no key {k:?}"))),
            _ => Err(self.error(
                span,
                format!("cannot index a {} with a {}", kind(&obj), kind(&index)),
            )),
        }
    }

    async fn unary(
        &mut self,
        op: &str,
        inner: &Expr,
        span: Span,
        scopes: &mut Scopes,
    ) -> Result<Json, Flow> {
        self.step(span).await?;
        let v = self.expr(inner, scopes).await?;
        match (op, &v) {
            ("!", Json::Bool(b)) => Ok(Json::Bool(!b)),
            ("-", Json::Number(n)) => match n.as_i64() {
                Some(i) => i
                    .checked_neg()
                    .map(int)
                    .ok_or_else(|| self.error(span, "integer overflow")),
                None => float(-n.as_f64().unwrap_or(f64::NAN)).map_err(|m| self.error(span, m)),
            },
            _ => Err(self.error(span, format!("`{op}` does not apply to a {}", kind(&v)))),
        }
    }

    async fn binary(
        &mut self,
        op: &str,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
        scopes: &mut Scopes,
    ) -> Result<Json, Flow> {
        self.step(span).await?;
        let left = self.expr(lhs, scopes).await?;
        match op {
            "&&" | "||" => {
                let Json::Bool(first) = left else {
                    return Err(
                        self.error(span, format!("`{op}` needs bools, got {}", kind(&left)))
                    );
                };
                if (op == "&&" && !first) || (op == "||" && first) {
                    return Ok(Json::Bool(first));
                }
                match self.expr(rhs, scopes).await? {
                    Json::Bool(second) => Ok(Json::Bool(second)),
                    other => {
                        Err(self.error(span, format!("`{op}` needs bools, got {}", kind(&other))))
                    }
                }
            }
            "==" => Ok(Json::Bool(equal(&left, &self.expr(rhs, scopes).await?))),
            "!=" => Ok(Json::Bool(!equal(&left, &self.expr(rhs, scopes).await?))),
            "<" | "<=" | ">" | ">=" => {
                let right = self.expr(rhs, scopes).await?;
                compare(op, &left, &right)
                    .map(Json::Bool)
                    .map_err(|m| self.error(span, m))
            }
            _ => {
                let right = self.expr(rhs, scopes).await?;
                arithmetic(op, &left, &right).map_err(|m| self.error(span, m))
            }
        }
    }

    async fn call_expr(
        &mut self,
        callee: &Expr,
        args: &[Expr],
        span: Span,
        scopes: &mut Scopes,
    ) -> Result<Json, Flow> {
        self.step(span).await?;
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            values.push(self.expr(a, scopes).await?);
        }
        match callee {
            Expr::Ident(id) => self.call_named(&id.name, None, values, span).await,
            Expr::Field(obj, method, _) => {
                let this = self.expr(obj, scopes).await?;
                match (method.name.as_str(), &this) {
                    ("length", Json::Array(items)) if values.is_empty() => {
                        Ok(int(i64::try_from(items.len()).unwrap_or(i64::MAX)))
                    }
                    ("length", Json::String(s)) if values.is_empty() => {
                        Ok(int(i64::try_from(s.chars().count()).unwrap_or(i64::MAX)))
                    }
                    ("length", Json::Object(m)) if values.is_empty() => {
                        Ok(int(i64::try_from(m.len()).unwrap_or(i64::MAX)))
                    }
                    _ => {
                        self.call_named(&method.name, Some(this), values, span)
                            .await
                    }
                }
            }
            _ => Err(self.error(span, "only functions and methods can be called")),
        }
    }

    /// Calls a function (or, with `this`, a method) by name with positional arguments.
    async fn call_named(
        &mut self,
        name: &str,
        this: Option<Json>,
        mut values: Vec<Json>,
        span: Span,
    ) -> Result<Json, Flow> {
        let ir = self.rt.ir();
        let expr_fn = match &this {
            None => ir
                .expr_functions
                .iter()
                .find(|f| f.name == name && f.class.is_none()),
            Some(obj) => {
                let methods: Vec<&ExprFunction> = ir
                    .expr_functions
                    .iter()
                    .filter(|f| f.name == name && f.class.is_some())
                    .collect();
                // Of the classes with such a method, the one whose fields the value has.
                let fits = |f: &&ExprFunction| {
                    f.class
                        .as_deref()
                        .and_then(|c| ir.class(c))
                        .is_some_and(|c| {
                            obj.as_object().is_some_and(|o| {
                                o.keys().all(|k| c.fields.iter().any(|fd| &fd.name == k))
                            })
                        })
                };
                methods
                    .iter()
                    .copied()
                    .find(fits)
                    .or_else(|| methods.first().copied())
            }
        };
        if let Some(f) = expr_fn {
            if let Some(obj) = this {
                values.insert(0, obj);
            }
            if values.len() > f.params.len() {
                return Err(self.error(
                    span,
                    format!(
                        "`{name}` takes {} argument(s), got {}",
                        f.params.len(),
                        values.len()
                    ),
                ));
            }
            let args: Map<String, Json> = f
                .params
                .iter()
                .map(|p| p.name.clone())
                .zip(values)
                .collect();
            return self.invoke(f, args, span).await;
        }
        if this.is_some() {
            return Err(self.error(span, format!("no method `{name}` on this value")));
        }
        let Some(f) = ir.function(name) else {
            return Err(self.error(span, format!("`{name}` is not a function")));
        };
        if values.len() > f.params.len() {
            return Err(self.error(
                span,
                format!(
                    "`{name}` takes {} argument(s), got {}",
                    f.params.len(),
                    values.len()
                ),
            ));
        }
        let args: Map<String, Json> = f
            .params
            .iter()
            .map(|p| p.name.clone())
            .zip(values)
            .collect();
        let log = self
            .rt
            .call_logged(name, &args, self.opts, None, false)
            .await;
        self.usage.input_tokens += log.usage.input_tokens;
        self.usage.output_tokens += log.usage.output_tokens;
        log.result.map(|out| out.value).map_err(Flow::Error)
    }
}
