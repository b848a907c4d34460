//! Expression functions: the body of a `function` that is BAML expressions rather than
//! `client` / `prompt`, top-level `let`, and class methods. Statements end with `;`; the last
//! expression of a block, without `;`, is its value. Conditions of `if` / `while` and the
//! header of `for` are in parentheses, as BAML requires.

use super::{is_ident_char, is_ident_start, Parser, MAX_NESTING};
use crate::ast::{Block, Expr, Ident, LetDecl, Stmt, Text};
use crate::span::Span;

/// Binary operators by precedence, loosest first.
const LEVELS: &[&[&str]] = &[
    &["||"],
    &["&&"],
    &["==", "!="],
    &["<=", ">=", "<", ">"],
    &["+", "-"],
    &["*", "/", "%"],
];

const ASSIGN_OPS: &[&str] = &["+=", "-=", "*=", "/=", "%=", "="];

impl Parser<'_> {
    fn expr_ws(&mut self) {
        let _ = self.skip_trivia();
    }

    /// The keyword `word` (not a prefix of a longer name) at the cursor.
    fn at_word(&self, word: &str) -> bool {
        self.at(word)
            && !self.src[self.pos + word.len()..]
                .chars()
                .next()
                .is_some_and(is_ident_char)
    }

    fn expect_expr_char(&mut self, c: char, context: &str) -> bool {
        self.expr_ws();
        if self.eat(c) {
            return true;
        }
        let here = self.span_here();
        let found = self.found();
        self.error(here, format!("expected `{c}` {context}, found {found}"));
        false
    }

    /// `{ stmts tail? }`; the cursor is at `{`. On an error the rest of the block is skipped.
    pub(super) fn expr_block(&mut self) -> Option<Block> {
        let start = self.pos;
        if !self.eat('{') {
            return None;
        }
        if self.depth >= MAX_NESTING {
            let here = self.span_here();
            self.error(
                here,
                format!("expression nested more than {MAX_NESTING} levels deep"),
            );
            self.pos = start;
            self.skip_block();
            return None;
        }
        self.depth += 1;
        let block = self.block_rest(start);
        self.depth -= 1;
        if block.is_none() {
            self.pos = start;
            self.skip_block();
        }
        block
    }

    fn block_rest(&mut self, start: usize) -> Option<Block> {
        let mut stmts = Vec::new();
        let mut tail = None;
        loop {
            self.expr_ws();
            match self.peek() {
                None => {
                    self.error(
                        Span::new(self.file, start, start + 1),
                        "block is never closed with `}`",
                    );
                    self.ran_to_eof = true;
                    return None;
                }
                Some('}') => {
                    self.pos += 1;
                    return Some(Block {
                        stmts,
                        tail,
                        span: self.span(start),
                    });
                }
                Some(';') => {
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            if let Some(t) = tail.take() {
                // An expression without `;` that is not the last thing in the block.
                let t: Expr = *t;
                if is_block_like(&t) {
                    stmts.push(Stmt::Expr(t));
                } else {
                    let here = self.span_here();
                    let found = self.found();
                    self.error(
                        here,
                        format!("expected `;` after the expression before {found}"),
                    );
                    return None;
                }
            }
            match self.stmt()? {
                (Stmt::Expr(e), false) => tail = Some(Box::new(e)),
                (s, _) => stmts.push(s),
            }
        }
    }

    /// One statement; the flag says whether it was closed (by `;` or by being a loop).
    fn stmt(&mut self) -> Option<(Stmt, bool)> {
        let start = self.pos;
        if self.at_word("let") {
            let d = self.let_decl()?;
            return Some((Stmt::Let(d), true));
        }
        if self.at_word("return") {
            self.pos += "return".len();
            self.expr_ws();
            let value = if matches!(self.peek(), Some(';' | '}')) {
                None
            } else {
                Some(self.expr()?)
            };
            self.end_stmt("`return`")?;
            return Some((Stmt::Return(value, self.span(start)), true));
        }
        for (word, make) in [
            ("break", Stmt::Break as fn(Span) -> Stmt),
            ("continue", Stmt::Continue),
        ] {
            if self.at_word(word) {
                self.pos += word.len();
                self.end_stmt(&format!("`{word}`"))?;
                return Some((make(self.span(start)), true));
            }
        }
        if self.at_word("for") {
            return self.for_stmt(start).map(|s| (s, true));
        }
        if self.at_word("while") {
            self.pos += 5;
            let cond = self.paren_cond("while")?;
            let body = self.body_block("the `while` loop")?;
            return Some((
                Stmt::While {
                    cond,
                    body,
                    span: self.span(start),
                },
                true,
            ));
        }
        let e = self.expr()?;
        self.expr_ws();
        for op in ASSIGN_OPS {
            if self.at(op) && !(*op == "=" && self.at("==")) {
                self.pos += op.len();
                let value = self.expr()?;
                self.end_stmt("the assignment")?;
                return Some((
                    Stmt::Assign {
                        target: e,
                        op: (*op).to_string(),
                        value,
                        span: self.span(start),
                    },
                    true,
                ));
            }
        }
        if self.eat(';') {
            return Some((Stmt::Expr(e), true));
        }
        Some((Stmt::Expr(e), false))
    }

    /// `for (let var in iterable) { body }`; the cursor is at `for`.
    fn for_stmt(&mut self, start: usize) -> Option<Stmt> {
        self.pos += 3;
        if !self.expect_expr_char('(', "around the `for` loop header: `for (let x in xs)`") {
            return None;
        }
        self.expr_ws();
        if !self.at_word("let") {
            let here = self.span_here();
            let found = self.found();
            self.error(
                here,
                format!(
                    "expected `let` in the `for` loop header (`for (let x in xs)`), found {found}"
                ),
            );
            return None;
        }
        self.pos += 3;
        self.expr_ws();
        let Some(var) = self.ident() else {
            let here = self.span_here();
            self.error(here, "expected the loop variable after `for (let`");
            return None;
        };
        self.expr_ws();
        if !self.at_word("in") {
            let here = self.span_here();
            let found = self.found();
            self.error(
                here,
                format!("expected `in` after the loop variable, found {found}"),
            );
            return None;
        }
        self.pos += 2;
        let iterable = self.expr()?;
        if !self.expect_expr_char(')', "to close the `for` loop header") {
            return None;
        }
        let body = self.body_block("the `for` loop")?;
        Some(Stmt::For {
            var,
            iterable,
            body,
            span: self.span(start),
        })
    }

    fn end_stmt(&mut self, what: &str) -> Option<()> {
        self.expr_ws();
        if self.eat(';') || self.peek() == Some('}') {
            return Some(());
        }
        let here = self.span_here();
        let found = self.found();
        self.error(here, format!("expected `;` after {what}, found {found}"));
        None
    }

    /// `let name (: Type)? = value;`; the cursor is at `let`.
    pub(super) fn let_decl(&mut self) -> Option<LetDecl> {
        let start = self.pos;
        self.pos += 3;
        self.expr_ws();
        let Some(name) = self.ident() else {
            let here = self.span_here();
            let found = self.found();
            self.error(here, format!("expected a name after `let`, found {found}"));
            return None;
        };
        self.expr_ws();
        let ty = if self.eat(':') {
            self.expr_ws();
            let ty = self.type_expr()?;
            // Attributes inside a parenthesized type of a `let` are not kept.
            self.group_attrs.clear();
            Some(ty)
        } else {
            None
        };
        if !self.expect_expr_char('=', &format!("and a value after `let {}`", name.name)) {
            return None;
        }
        let value = self.expr()?;
        self.expr_ws();
        if !self.eat(';') {
            let here = self.span_here();
            let found = self.found();
            self.error(
                here,
                format!("expected `;` to end `let {}`, found {found}", name.name),
            );
            return None;
        }
        Some(LetDecl {
            name,
            ty,
            value,
            span: self.span(start),
        })
    }

    fn paren_cond(&mut self, what: &str) -> Option<Expr> {
        self.expr_ws();
        if !self.eat('(') {
            let here = self.span_here();
            self.error(
                here,
                format!(
                    "expected `(` around the `{what}` condition: `{what} (condition) {{ ... }}`"
                ),
            );
            return None;
        }
        let cond = self.expr()?;
        if !self.expect_expr_char(')', &format!("to close the `{what}` condition")) {
            return None;
        }
        Some(cond)
    }

    fn body_block(&mut self, what: &str) -> Option<Block> {
        self.expr_ws();
        if self.peek() != Some('{') {
            let here = self.span_here();
            let found = self.found();
            self.error(
                here,
                format!("expected `{{` to open the body of {what}, found {found}"),
            );
            return None;
        }
        self.expr_block()
    }

    pub(super) fn expr(&mut self) -> Option<Expr> {
        if self.depth >= MAX_NESTING {
            let here = self.span_here();
            self.error(
                here,
                format!("expression nested more than {MAX_NESTING} levels deep"),
            );
            return None;
        }
        self.depth += 1;
        let e = self.binary(0);
        self.depth -= 1;
        e
    }

    fn binary(&mut self, level: usize) -> Option<Expr> {
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let start = self.pos;
        let mut left = self.binary(level + 1)?;
        loop {
            self.expr_ws();
            let Some(op) = ops.iter().find(|op| {
                self.at(op)
                    // `a = b`, `a += b` are assignments, not comparisons or sums.
                    && !ASSIGN_OPS.iter().any(|a| a.len() > op.len() && self.at(a))
            }) else {
                return Some(left);
            };
            // `<` / `>` must not take the first character of `<=` / `>=` (found first anyway).
            self.pos += op.len();
            self.expr_ws();
            let right = self.binary(level + 1)?;
            left = Expr::Binary(
                (*op).to_string(),
                Box::new(left),
                Box::new(right),
                self.span(start),
            );
        }
    }

    fn unary(&mut self) -> Option<Expr> {
        self.expr_ws();
        let start = self.pos;
        if self.peek() == Some('!') && !self.at("!=") {
            self.pos += 1;
            let e = self.unary()?;
            return Some(Expr::Unary("!".into(), Box::new(e), self.span(start)));
        }
        if self.peek() == Some('-') && !self.peek2().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            let e = self.unary()?;
            return Some(Expr::Unary("-".into(), Box::new(e), self.span(start)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Option<Expr> {
        let start = self.pos;
        let mut e = self.primary()?;
        loop {
            // Postfix operators stay on the same line as what they apply to.
            self.skip_spaces();
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    let Some(name) = self.ident() else {
                        let here = self.span_here();
                        let found = self.found();
                        self.error(
                            here,
                            format!("expected a field name after `.`, found {found}"),
                        );
                        return None;
                    };
                    e = Expr::Field(Box::new(e), name, self.span(start));
                }
                Some('(') => {
                    self.pos += 1;
                    let args = self.expr_list(')', "call arguments")?;
                    e = Expr::Call {
                        callee: Box::new(e),
                        args,
                        span: self.span(start),
                    };
                }
                Some('[') => {
                    self.pos += 1;
                    let index = self.expr()?;
                    if !self.expect_expr_char(']', "to close the index") {
                        return None;
                    }
                    e = Expr::Index(Box::new(e), Box::new(index), self.span(start));
                }
                _ => return Some(e),
            }
        }
    }

    /// Comma-separated expressions up to `close` (a trailing comma is allowed); the cursor is
    /// past the opening bracket.
    fn expr_list(&mut self, close: char, what: &str) -> Option<Vec<Expr>> {
        let mut out = Vec::new();
        loop {
            self.expr_ws();
            if self.eat(close) {
                return Some(out);
            }
            out.push(self.expr()?);
            self.expr_ws();
            if self.eat(',') {
                continue;
            }
            if self.eat(close) {
                return Some(out);
            }
            let here = self.span_here();
            let found = self.found();
            self.error(
                here,
                format!("expected `,` or `{close}` in {what}, found {found}"),
            );
            return None;
        }
    }

    fn primary(&mut self) -> Option<Expr> {
        self.expr_ws();
        let start = self.pos;
        match self.peek() {
            Some('"') => self.string_lit().map(Expr::String),
            Some('#') if self.raw_string_start().is_some() => self.raw_string().map(Expr::String),
            Some('(') => {
                self.pos += 1;
                let e = self.expr()?;
                if !self.expect_expr_char(')', "to close the parenthesis") {
                    return None;
                }
                Some(e)
            }
            Some('[') => {
                self.pos += 1;
                let items = self.expr_list(']', "the list")?;
                Some(Expr::Array(items, self.span(start)))
            }
            Some('{') if self.map_follows() => {
                self.pos += 1;
                self.map_entries(start)
            }
            Some('{') => self.expr_block().map(Expr::Block),
            Some(c) if c.is_ascii_digit() || c == '-' => self.number_expr(),
            Some(c) if is_ident_start(c) => {
                if self.at_word("if") {
                    return self.if_expr();
                }
                let id = self.ident()?;
                match id.name.as_str() {
                    "true" => return Some(Expr::Bool(true, id.span)),
                    "false" => return Some(Expr::Bool(false, id.span)),
                    "null" => return Some(Expr::Null(id.span)),
                    _ => {}
                }
                let save = self.pos;
                self.skip_spaces();
                if self.peek() == Some('{') && id.name.starts_with(|c: char| c.is_ascii_uppercase())
                {
                    self.pos += 1;
                    return self.new_expr(id, start);
                }
                self.pos = save;
                Some(Expr::Ident(id))
            }
            _ => {
                let here = self.span_here();
                let found = self.found();
                self.error(here, format!("expected an expression, found {found}"));
                None
            }
        }
    }

    fn number_expr(&mut self) -> Option<Expr> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || c == '_' || c == '.')
        {
            // `xs.0`-style access is not a thing; a `.` followed by a name ends the number.
            if self.peek() == Some('.') && !self.peek2().is_some_and(|c| c.is_ascii_digit()) {
                break;
            }
            self.pos += 1;
        }
        let text = self.src[start..self.pos].replace('_', "");
        let span = self.span(start);
        if let Ok(n) = text.parse::<i64>() {
            return Some(Expr::Int(n, span));
        }
        if let Ok(f) = text.parse::<f64>() {
            return Some(Expr::Float(f, span));
        }
        self.error(span, format!("`{text}` is not a number"));
        None
    }

    fn if_expr(&mut self) -> Option<Expr> {
        let start = self.pos;
        self.pos += 2;
        let cond = self.paren_cond("if")?;
        let then = self.body_block("the `if`")?;
        let save = self.pos;
        self.expr_ws();
        let otherwise = if self.at_word("else") {
            self.pos += 4;
            self.expr_ws();
            if self.at_word("if") {
                Some(Box::new(self.if_expr()?))
            } else {
                Some(Box::new(Expr::Block(self.body_block("the `else`")?)))
            }
        } else {
            self.pos = save;
            None
        };
        Some(Expr::If {
            cond: Box::new(cond),
            then,
            otherwise,
            span: self.span(start),
        })
    }

    /// `{` followed by `}` or by a key (string or name) and `:` starts a map, not a block.
    fn map_follows(&self) -> bool {
        let rest = self.rest()[1..].trim_start();
        if rest.starts_with('}') {
            // `{}` is an empty block in statement position; as a value BAML reads it as
            // an empty map, which is what an expression position wants.
            return true;
        }
        let key_len = if let Some(quoted) = rest.strip_prefix('"') {
            quoted.find('"').map(|i| i + 2)
        } else {
            let n = rest.chars().take_while(|c| is_ident_char(*c)).count();
            (n > 0).then_some(n)
        };
        key_len.is_some_and(|n| {
            let after = rest[n..].trim_start();
            after.starts_with(':') && !after.starts_with("::")
        })
    }

    fn map_entries(&mut self, start: usize) -> Option<Expr> {
        let mut entries = Vec::new();
        loop {
            self.expr_ws();
            if self.eat('}') {
                return Some(Expr::Map(entries, self.span(start)));
            }
            let key_start = self.pos;
            let key = if self.peek() == Some('"') {
                Expr::String(self.string_lit()?)
            } else if let Some(id) = self.ident() {
                Expr::String(Text {
                    value: id.name,
                    span: self.span(key_start),
                    raw: false,
                })
            } else {
                let here = self.span_here();
                let found = self.found();
                self.error(here, format!("expected a map key, found {found}"));
                return None;
            };
            if !self.expect_expr_char(':', "after the map key") {
                return None;
            }
            let value = self.expr()?;
            entries.push((key, value));
            self.expr_ws();
            if !self.eat(',') && self.peek() != Some('}') {
                let here = self.span_here();
                let found = self.found();
                self.error(
                    here,
                    format!("expected `,` or `}}` in the map, found {found}"),
                );
                return None;
            }
        }
    }

    /// `Class { field: value, ... }`; the cursor is past `{`.
    fn new_expr(&mut self, class: Ident, start: usize) -> Option<Expr> {
        let mut fields = Vec::new();
        loop {
            self.expr_ws();
            if self.eat('}') {
                return Some(Expr::New {
                    class,
                    fields,
                    span: self.span(start),
                });
            }
            let Some(name) = self.ident() else {
                let here = self.span_here();
                let found = self.found();
                self.error(
                    here,
                    format!("expected a field of `{}`, found {found}", class.name),
                );
                return None;
            };
            if !self.expect_expr_char(':', &format!("after field `{}`", name.name)) {
                return None;
            }
            let value = self.expr()?;
            fields.push((name, value));
            self.expr_ws();
            if !self.eat(',') && self.peek() != Some('}') {
                let here = self.span_here();
                let found = self.found();
                self.error(
                    here,
                    format!(
                        "expected `,` or `}}` in `{} {{ ... }}`, found {found}",
                        class.name
                    ),
                );
                return None;
            }
        }
    }
}

/// Expressions that end with a block and so need no `;` when followed by more statements.
fn is_block_like(e: &Expr) -> bool {
    matches!(e, Expr::If { .. } | Expr::Block(_))
}
