//! A hand-written recursive-descent parser over characters. BAML is line-oriented inside
//! blocks (one field or option per line), so whitespace is handled by context rather than by a
//! separate token stream. Every loop consumes input or stops, and every error is recorded and
//! recovered from at the next line or block, so any input terminates with all its problems.

use crate::ast::{
    AliasDecl, Ast, Attribute, ClassDecl, ClientDecl, ClientRef, ConfigDecl, ConfigEntry, EnumDecl,
    EnumValue, Field, FunctionDecl, Ident, Item, Param, TemplateDecl, TestDecl, Text, TypeExpr,
    Value,
};
use crate::span::{Diagnostic, Span};

mod expr;

/// Deepest nesting of types, values or parentheses accepted (keeps recursion bounded).
const MAX_NESTING: usize = 64;

/// Parses one file. Never panics; returns the declarations it could read and every problem.
pub fn parse(file: u32, src: &str) -> (Ast, Vec<Diagnostic>) {
    let mut p = Parser {
        src,
        pos: 0,
        file,
        diags: Vec::new(),
        depth: 0,
        ran_to_eof: false,
        group_attrs: Vec::new(),
        self_type: None,
    };
    let ast = p.file();
    (ast, p.diags)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    file: u32,
    diags: Vec<Diagnostic>,
    depth: usize,
    /// Something unclosed already ran to the end of the file; enclosing blocks that are
    /// consequently unclosed are not reported again.
    ran_to_eof: bool,
    /// Attributes written inside a parenthesized type (`(int @check(...))`), taken by the
    /// field, parameter, return type or alias whose type it is.
    group_attrs: Vec<Attribute>,
    /// Inside a class: its name, the type of a method's `self` parameter.
    self_type: Option<String>,
}

const TOP_LEVEL: &[&str] = &[
    "class",
    "enum",
    "function",
    "client",
    "retry_policy",
    "generator",
    "template_string",
    "string_template",
    "type",
    "test",
    "let",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Parser<'_> {
    // ---- low level -----------------------------------------------------------------------

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.rest().chars();
        it.next();
        it.next()
    }

    fn at(&self, s: &str) -> bool {
        self.rest().starts_with(s)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn span(&self, start: usize) -> Span {
        Span::new(self.file, start, self.pos)
    }

    fn span_here(&self) -> Span {
        let end = self.pos + self.peek().map_or(0, char::len_utf8);
        Span::new(self.file, self.pos, end)
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(span, message));
    }

    /// What is at the cursor, for "found ..." in messages.
    fn found(&self) -> String {
        match self.peek() {
            None => "the end of the file".into(),
            Some('\n' | '\r') => "the end of the line".into(),
            Some(_) => {
                let word: String = self
                    .rest()
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .take(24)
                    .collect();
                format!("`{word}`")
            }
        }
    }

    /// Spaces and tabs (and `\r`).
    fn skip_spaces(&mut self) {
        while let Some(' ' | '\t' | '\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Spaces and a trailing `//` comment, up to (not including) the newline.
    fn skip_line_trivia(&mut self) {
        self.skip_spaces();
        if self.at("//") {
            self.skip_to_eol();
        }
    }

    fn skip_to_eol(&mut self) {
        match self.rest().find('\n') {
            Some(i) => self.pos += i,
            None => self.pos = self.src.len(),
        }
    }

    /// Whitespace, newlines and comments. Returns the `///` doc comment right before the
    /// next item, if any.
    fn skip_trivia(&mut self) -> Option<String> {
        let mut doc: Option<String> = None;
        loop {
            let before = self.pos;
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => {
                    if self.peek() == Some('\n') && self.blank_line_follows() {
                        doc = None;
                    }
                    self.pos += 1;
                }
                Some('/') if self.at("///") => {
                    let start = self.pos + 3;
                    self.skip_to_eol();
                    let line = self.src[start..self.pos].trim();
                    doc = Some(match doc {
                        Some(d) => format!("{d}\n{line}"),
                        None => line.to_string(),
                    });
                }
                Some('/') if self.at("//") => {
                    self.skip_to_eol();
                }
                Some('{') if self.at("{//") => {
                    let start = self.pos;
                    if let Some(i) = self.rest().find("//}") {
                        self.pos += i + 3;
                    } else {
                        self.pos = self.src.len();
                        self.ran_to_eof = true;
                        self.error(
                            Span::new(self.file, start, start + 3),
                            "block comment `{//` is never closed with `//}`",
                        );
                    }
                }
                _ => return doc,
            }
            if self.pos == before {
                return doc;
            }
        }
    }

    fn blank_line_follows(&self) -> bool {
        let rest = &self.rest()[1..];
        let line_end = rest.find('\n').unwrap_or(rest.len());
        rest[..line_end].trim().is_empty() && line_end < rest.len()
    }

    /// Whether only spaces or a comment remain on this line.
    fn at_eol(&self) -> bool {
        let rest = self.rest().trim_start_matches([' ', '\t', '\r']);
        rest.is_empty() || rest.starts_with('\n') || rest.starts_with("//")
    }

    fn ident(&mut self) -> Option<Ident> {
        let start = self.pos;
        if !self.peek().is_some_and(is_ident_start) {
            return None;
        }
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        Some(Ident {
            name: self.src[start..self.pos].to_string(),
            span: self.span(start),
        })
    }

    fn expect_ident(&mut self, what: &str) -> Option<Ident> {
        self.skip_spaces();
        let found = self.found();
        let here = self.span_here();
        let id = self.ident();
        if id.is_none() {
            self.error(here, format!("expected {what}, found {found}"));
        }
        id
    }

    fn expect_char(&mut self, c: char, context: &str) -> bool {
        self.skip_spaces();
        if self.eat(c) {
            return true;
        }
        let found = self.found();
        let here = self.span_here();
        self.error(here, format!("expected `{c}` {context}, found {found}"));
        false
    }

    /// Skips a balanced `{ ... }` (or to the end), respecting strings and comments.
    fn skip_block(&mut self) {
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                '"' => {
                    let _ = self.string_lit();
                    continue;
                }
                '#' if self.raw_string_start().is_some() => {
                    let _ = self.raw_string();
                    continue;
                }
                '/' if self.at("//") => {
                    self.skip_to_eol();
                    continue;
                }
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.pos += 1;
                        return;
                    }
                }
                _ => {}
            }
            self.pos += c.len_utf8();
        }
    }

    /// Recovery inside a block: skip the rest of this line (keeping a closing `}` there).
    fn recover_line(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                '\n' | '}' => return,
                '{' => self.skip_block(),
                '"' => {
                    let _ = self.string_lit();
                }
                '#' if self.raw_string_start().is_some() => {
                    let _ = self.raw_string();
                }
                _ => self.pos += c.len_utf8(),
            }
        }
    }

    // ---- strings ------------------------------------------------------------------------

    /// `"..."` with escapes; the cursor is at the quote.
    fn string_lit(&mut self) -> Option<Text> {
        let start = self.pos;
        if !self.eat('"') {
            return None;
        }
        let mut out = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => {
                    self.error(
                        Span::new(self.file, start, self.pos),
                        "string is not closed with `\"` on the same line",
                    );
                    break;
                }
                Some('"') => break,
                Some('\\') => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('0') => out.push('\0'),
                    Some('u') => {
                        let hex: String = self.rest().chars().take(4).collect();
                        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                            Some(ch) if hex.len() == 4 => {
                                out.push(ch);
                                self.pos += 4;
                            }
                            _ => out.push_str("\\u"),
                        }
                    }
                    Some(c) => out.push(c),
                    None => break,
                },
                Some(c) => out.push(c),
            }
        }
        Some(Text {
            value: out,
            span: self.span(start),
            raw: false,
        })
    }

    /// Number of `#` if a raw string starts here (`#"`, `##"`, ...).
    fn raw_string_start(&self) -> Option<usize> {
        // `r#"..."#` is an older spelling of the same raw string.
        let rest = self.rest().strip_prefix('r').unwrap_or(self.rest());
        let hashes = rest.bytes().take_while(|b| *b == b'#').count();
        (hashes > 0 && rest[hashes..].starts_with('"')).then_some(hashes)
    }

    /// `#"..."#` with any number of `#`; the cursor is at the first `#`.
    fn raw_string(&mut self) -> Option<Text> {
        let start = self.pos;
        let hashes = self.raw_string_start()?;
        self.eat('r');
        self.pos += hashes + 1;
        let close = format!("\"{}", "#".repeat(hashes));
        let body_start = self.pos;
        if let Some(i) = self.rest().find(&close) {
            let value = self.src[body_start..body_start + i].to_string();
            self.pos = body_start + i + close.len();
            Some(Text {
                value,
                span: self.span(start),
                raw: true,
            })
        } else {
            self.pos = self.src.len();
            self.ran_to_eof = true;
            self.error(
                Span::new(self.file, start, body_start),
                format!("raw string is never closed with `{close}`"),
            );
            Some(Text {
                value: self.src[body_start..].to_string(),
                span: self.span(start),
                raw: true,
            })
        }
    }

    // ---- values ---------------------------------------------------------------------------

    /// A value: string, raw string, number, bool, null, `env.X`, array, map, `{{ jinja }}`, or
    /// an unquoted string. `stop` lists extra characters that end an unquoted string.
    fn value(&mut self, stop: &[char]) -> Option<Value> {
        self.skip_spaces();
        let start = self.pos;
        if self.depth >= MAX_NESTING {
            let here = self.span_here();
            self.error(
                here,
                format!("values nested more than {MAX_NESTING} levels deep"),
            );
            self.recover_line();
            return None;
        }
        match self.peek()? {
            '"' => self.string_lit().map(Value::String),
            '#' | 'r' if self.raw_string_start().is_some() => self.raw_string().map(Value::String),
            '[' => {
                self.depth += 1;
                let v = self.array(start);
                self.depth -= 1;
                Some(v)
            }
            '{' if self.at("{{") => Some(self.jinja()),
            '{' => {
                self.depth += 1;
                let entries = self.config_block(false);
                self.depth -= 1;
                Some(Value::Map(entries, self.span(start)))
            }
            '\n' | '}' | ']' | ',' => None,
            _ => {
                let text = self.unquoted(stop);
                if text.is_empty() {
                    return None;
                }
                let span = self.span(start);
                Some(match text.as_str() {
                    "true" => Value::Bool(true, span),
                    "false" => Value::Bool(false, span),
                    "null" => Value::Null(span),
                    t if is_number(t) => Value::Number(t.to_string(), span),
                    t if t.starts_with("env.")
                        && t.len() > 4
                        && t[4..].chars().all(is_ident_char) =>
                    {
                        Value::Env(t[4..].to_string(), span)
                    }
                    _ => Value::String(Text {
                        value: text,
                        span,
                        raw: false,
                    }),
                })
            }
        }
    }

    /// An unquoted string: up to the end of the line, a comment, or a stop character.
    fn unquoted(&mut self, stop: &[char]) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            // BAML ends an unquoted string at these characters, and at ` //` (a comment).
            let banned = matches!(
                c,
                '\n' | '#'
                    | '@'
                    | '{'
                    | '('
                    | '['
                    | '<'
                    | '}'
                    | ')'
                    | ']'
                    | '>'
                    | ','
                    | '\''
                    | ';'
                    | '"'
            );
            let comment = c == '/'
                && self.at("//")
                && (self.pos == start || self.src[..self.pos].ends_with([' ', '\t']));
            if banned || comment || stop.contains(&c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        let text = self.src[start..self.pos].trim_end();
        self.pos = start + text.len();
        text.to_string()
    }

    fn jinja(&mut self) -> Value {
        let start = self.pos;
        self.pos += 2;
        let body_start = self.pos;
        if let Some(i) = self.rest().find("}}") {
            let text = self.src[body_start..body_start + i].trim().to_string();
            self.pos = body_start + i + 2;
            Value::Jinja(text, self.span(start))
        } else {
            self.pos = self.src.len();
            self.ran_to_eof = true;
            self.error(
                Span::new(self.file, start, body_start),
                "`{{` is never closed with `}}`",
            );
            Value::Jinja(String::new(), self.span(start))
        }
    }

    fn array(&mut self, start: usize) -> Value {
        self.pos += 1; // [
        let mut items = Vec::new();
        loop {
            self.skip_trivia();
            match self.peek() {
                None => {
                    self.error(
                        Span::new(self.file, start, start + 1),
                        "`[` is never closed with `]`",
                    );
                    break;
                }
                Some(']') => {
                    self.pos += 1;
                    break;
                }
                Some(',') => {
                    self.pos += 1;
                }
                Some(_) => {
                    let before = self.pos;
                    if let Some(v) = self.value(&[',', ']']) {
                        items.push(v);
                    } else {
                        let here = self.span_here();
                        let found = self.found();
                        self.error(here, format!("expected a value or `]`, found {found}"));
                        if self.pos == before {
                            self.pos += self.peek().map_or(1, char::len_utf8);
                        }
                    }
                }
            }
        }
        Value::Array(items, self.span(start))
    }

    /// `{ key value ... }`, one entry per line; the cursor is at `{`. With `allow_attrs`,
    /// `@@attr` lines are accepted (test blocks) and returned as entries named `@@name`.
    fn config_block(&mut self, allow_attrs: bool) -> Vec<ConfigEntry> {
        let open = self.pos;
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            self.skip_trivia();
            let line_start = self.pos;
            match self.peek() {
                None => {
                    if !self.ran_to_eof {
                        self.error(
                            Span::new(self.file, open, open + 1),
                            "`{` is never closed with `}`",
                        );
                    }
                    return entries;
                }
                Some('}') => {
                    self.pos += 1;
                    return entries;
                }
                Some('@') if allow_attrs && self.at("@@") => {
                    if let Some(attr) = self.attribute() {
                        let span = attr.span;
                        entries.push(ConfigEntry {
                            key: Ident {
                                name: format!("@@{}", attr.name),
                                span,
                            },
                            value: Value::Array(attr.args, span),
                            span,
                        });
                    }
                }
                Some(_) => {
                    let key = if self.peek() == Some('"') {
                        self.string_lit().map(|t| Ident {
                            name: t.value,
                            span: t.span,
                        })
                    } else {
                        self.config_key()
                    };
                    let Some(key) = key else {
                        let here = self.span_here();
                        let found = self.found();
                        self.error(here, format!("expected an option name, found {found}"));
                        self.recover_line();
                        if self.pos == line_start {
                            self.pos += self.peek().map_or(1, char::len_utf8);
                        }
                        continue;
                    };
                    self.skip_spaces();
                    // `key: value` is accepted as well as `key value`.
                    if self.eat(':') {
                        self.skip_spaces();
                    }
                    if allow_attrs && key.name == "type_builder" && self.peek() == Some('{') {
                        // Dynamic type definitions for the test: not needed to load the project.
                        self.skip_block();
                        continue;
                    }
                    if self.at_eol() || self.peek() == Some('}') {
                        self.error(key.span, format!("option `{}` has no value", key.name));
                        continue;
                    }
                    let Some(value) = self.value(&['}']) else {
                        let here = self.span_here();
                        let found = self.found();
                        self.error(
                            here,
                            format!("expected a value for `{}`, found {found}", key.name),
                        );
                        self.recover_line();
                        continue;
                    };
                    let span = key.span.to(value.span());
                    entries.push(ConfigEntry { key, value, span });
                    self.skip_spaces();
                    // Entries may be separated by commas as well as newlines, but BAML refuses
                    // a comma after the last entry.
                    if self.peek() == Some(',') {
                        let comma = self.pos;
                        self.pos += 1;
                        let save = self.pos;
                        let _ = self.skip_trivia();
                        if self.peek() == Some('}') {
                            self.error(
                                Span::new(self.file, comma, comma + 1),
                                "a comma after the last entry of a block is not allowed",
                            );
                        }
                        self.pos = save;
                        continue;
                    }
                    self.skip_line_trivia();
                    if !self.at_eol() && self.peek() != Some('}') {
                        let here = self.span_here();
                        self.error(here, "each option goes on its own line: expected a new line after this value");
                        self.recover_line();
                    }
                }
            }
        }
    }

    /// An option name: an identifier, possibly with `-` or `.` inside (`anthropic-version`).
    fn config_key(&mut self) -> Option<Ident> {
        let start = self.pos;
        if !self.peek().is_some_and(is_ident_start) {
            return None;
        }
        while self
            .peek()
            .is_some_and(|c| is_ident_char(c) || c == '-' || c == '.')
        {
            self.pos += 1;
        }
        Some(Ident {
            name: self.src[start..self.pos].to_string(),
            span: self.span(start),
        })
    }

    // ---- types ----------------------------------------------------------------------------

    fn type_expr(&mut self) -> Option<TypeExpr> {
        self.skip_spaces();
        let start = self.pos;
        let first = self.postfix_type()?;
        let mut arms = vec![first];
        loop {
            self.skip_spaces();
            if self.eat('|') {
                self.skip_trivia();
                if let Some(t) = self.postfix_type() {
                    arms.push(t);
                } else {
                    let here = self.span_here();
                    let found = self.found();
                    self.error(here, format!("expected a type after `|`, found {found}"));
                    break;
                }
            } else if self.union_continues_on_next_line() {
                self.skip_trivia();
            } else {
                break;
            }
        }
        if arms.len() == 1 {
            arms.pop()
        } else {
            Some(TypeExpr::Union(arms, self.span(start)))
        }
    }

    /// `A\n  | B`: a union may continue on the next line when that line starts with `|`.
    fn union_continues_on_next_line(&self) -> bool {
        let rest = self.rest().trim_start_matches([' ', '\t', '\r']);
        rest.starts_with('\n')
            && rest.trim_start().starts_with('|')
            && !rest.trim_start().starts_with("||")
    }

    fn postfix_type(&mut self) -> Option<TypeExpr> {
        let start = self.pos;
        let mut t = self.primary_type()?;
        let mut count = 0;
        loop {
            let optional = self.peek() == Some('?');
            if !optional && !self.at("[]") {
                return Some(t);
            }
            count += 1;
            if count > MAX_NESTING {
                let here = self.span_here();
                self.error(
                    here,
                    format!("type nested more than {MAX_NESTING} levels deep"),
                );
                while self.peek() == Some('?') || self.at("[]") {
                    self.pos += if self.peek() == Some('?') { 1 } else { 2 };
                }
                return Some(t);
            }
            if optional {
                self.pos += 1;
                t = TypeExpr::Optional(Box::new(t), self.span(start));
            } else {
                self.pos += 2;
                t = TypeExpr::List(Box::new(t), self.span(start));
            }
        }
    }

    fn primary_type(&mut self) -> Option<TypeExpr> {
        self.skip_spaces();
        let start = self.pos;
        if self.depth >= MAX_NESTING {
            let here = self.span_here();
            self.error(
                here,
                format!("type nested more than {MAX_NESTING} levels deep"),
            );
            return None;
        }
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                self.depth += 1;
                self.skip_trivia();
                let inner = self.type_expr();
                self.depth -= 1;
                self.skip_trivia();
                // `(int @check(name, {{ ... }}))`: attributes of the type inside the group.
                while self.peek() == Some('@') && !self.at("@@") {
                    match self.attribute() {
                        Some(a) => self.group_attrs.push(a),
                        None => break,
                    }
                    self.skip_trivia();
                }
                if !self.eat(')') {
                    let here = self.span_here();
                    let found = self.found();
                    self.error(
                        here,
                        format!("expected `)` to close the type group, found {found}"),
                    );
                }
                inner.map(|t| TypeExpr::Group(Box::new(t), self.span(start)))
            }
            Some('"') => {
                let t = self.string_lit()?;
                Some(TypeExpr::StringLit(t.value, t.span))
            }
            Some(c)
                if c.is_ascii_digit()
                    || (c == '-' && self.peek2().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.pos += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let text = &self.src[start..self.pos];
                let span = self.span(start);
                if let Ok(n) = text.parse::<i64>() {
                    Some(TypeExpr::IntLit(n, span))
                } else {
                    self.error(
                        span,
                        format!("integer literal type `{text}` is out of range"),
                    );
                    None
                }
            }
            Some(c) if is_ident_start(c) => {
                let id = self.ident()?;
                match id.name.as_str() {
                    "true" => Some(TypeExpr::BoolLit(true, id.span)),
                    "false" => Some(TypeExpr::BoolLit(false, id.span)),
                    "map" if self.peek() == Some('<') => {
                        self.pos += 1;
                        self.depth += 1;
                        let key = self.type_expr();
                        self.skip_spaces();
                        let value = if self.eat(',') {
                            self.type_expr()
                        } else {
                            None
                        };
                        self.depth -= 1;
                        self.skip_spaces();
                        if !self.eat('>') || value.is_none() {
                            let here = self.span_here();
                            self.error(here, "expected `map<KeyType, ValueType>`");
                            return None;
                        }
                        Some(TypeExpr::Map(
                            Box::new(key?),
                            Box::new(value?),
                            self.span(start),
                        ))
                    }
                    _ => Some(TypeExpr::Named(id)),
                }
            }
            _ => None,
        }
    }

    // ---- attributes ---------------------------------------------------------------------

    /// `@name(args)` or `@@name(args)`; the cursor is at `@`.
    fn attribute(&mut self) -> Option<Attribute> {
        let start = self.pos;
        let block = self.at("@@");
        self.pos += if block { 2 } else { 1 };
        let name_start = self.pos;
        while self.peek().is_some_and(|c| is_ident_char(c) || c == '.') {
            self.pos += 1;
        }
        let name = self.src[name_start..self.pos].to_string();
        if name.is_empty() {
            let here = self.span_here();
            self.error(here, "expected an attribute name after `@`");
            return None;
        }
        let mut args = Vec::new();
        if self.peek() == Some('(') {
            self.pos += 1;
            loop {
                self.skip_trivia();
                match self.peek() {
                    None => {
                        self.error(
                            Span::new(self.file, start, self.pos),
                            format!("arguments of `@{name}` are never closed with `)`"),
                        );
                        break;
                    }
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    Some(',') => self.pos += 1,
                    Some(_) => {
                        let before = self.pos;
                        if let Some(v) = self.value(&[',', ')']) {
                            args.push(v);
                        } else {
                            let here = self.span_here();
                            let found = self.found();
                            self.error(
                                here,
                                format!("expected an argument of `@{name}`, found {found}"),
                            );
                            if self.pos == before {
                                self.pos += self.peek().map_or(1, char::len_utf8);
                            }
                        }
                    }
                }
            }
        }
        Some(Attribute {
            name,
            block,
            args,
            span: self.span(start),
        })
    }

    /// Field attributes on the rest of the line.
    fn line_attributes(&mut self) -> Vec<Attribute> {
        let mut attrs = Vec::new();
        loop {
            self.skip_spaces();
            if self.peek() == Some('@') && !self.at("@@") {
                if let Some(a) = self.attribute() {
                    attrs.push(a);
                    continue;
                }
            }
            return attrs;
        }
    }

    /// Attributes of a class field or enum value: on its line, and on following lines that
    /// start with `@`. A `@@attr` on the member's line belongs to the enclosing block.
    fn member_attributes(&mut self, block_attrs: &mut Vec<Attribute>) -> Vec<Attribute> {
        let mut attrs = Vec::new();
        loop {
            self.skip_spaces();
            if self.peek() == Some('@') {
                let block = self.at("@@");
                if let Some(a) = self.attribute() {
                    if block {
                        block_attrs.push(a);
                    } else {
                        attrs.push(a);
                    }
                    continue;
                }
                return attrs;
            }
            // `field int\n    @description("...")`: a following line that starts with a
            // single `@` continues this member.
            let save = self.pos;
            self.skip_line_trivia();
            if self.peek() == Some('\n') {
                let _ = self.skip_trivia();
                if self.peek() == Some('@') && !self.at("@@") {
                    continue;
                }
            }
            self.pos = save;
            return attrs;
        }
    }

    // ---- declarations ---------------------------------------------------------------------

    fn file(&mut self) -> Ast {
        let mut ast = Ast::default();
        loop {
            let doc = self.skip_trivia();
            if self.peek().is_none() {
                return ast;
            }
            let start = self.pos;
            let Some(keyword) = self.ident() else {
                let here = self.span_here();
                let found = self.found();
                self.error(here, format!("expected a declaration (class, enum, function, client<llm>, ...), found {found}"));
                self.recover_top_level();
                continue;
            };
            let item = match keyword.name.as_str() {
                "class" => self.class(start, doc).map(Item::Class),
                "enum" => self.enum_decl(start, doc).map(Item::Enum),
                "function" => self.function(start, doc).map(Item::Function),
                "client" => self.client(start).map(Item::Client),
                "retry_policy" => self
                    .config_decl(start, "retry_policy")
                    .map(Item::RetryPolicy),
                "generator" => self.config_decl(start, "generator").map(Item::Generator),
                "template_string" | "string_template" => {
                    self.template(start).map(Item::TemplateString)
                }
                "type" => self.alias(start).map(Item::TypeAlias),
                "test" => self.test(start).map(Item::Test),
                "dynamic" => self.dynamic(start, doc),
                "let" => {
                    self.pos = start;
                    let decl = self.let_decl();
                    if decl.is_none() {
                        self.recover_top_level();
                    }
                    decl.map(Item::Let)
                }
                other => {
                    self.error(
                        keyword.span,
                        format!("unknown declaration `{other}`: expected one of class, enum, function, client<llm>, retry_policy, template_string, type, generator, test, let"),
                    );
                    self.recover_top_level();
                    None
                }
            };
            if let Some(item) = item {
                ast.items.push(item);
            }
            if self.pos == start {
                self.pos += self.peek().map_or(1, char::len_utf8);
            }
        }
    }

    /// Skips to the next line that starts with a declaration keyword (or past a block).
    fn recover_top_level(&mut self) {
        loop {
            self.recover_line();
            if self.peek() == Some('}') {
                self.pos += 1;
            }
            match self.peek() {
                None => return,
                Some('\n') => {
                    self.pos += 1;
                    let word: String = self
                        .rest()
                        .chars()
                        .take_while(|c| is_ident_char(*c))
                        .collect();
                    if TOP_LEVEL.contains(&word.as_str()) {
                        return;
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// `{` after a declaration's header; reports and recovers if missing.
    fn open_block(&mut self, what: &str) -> bool {
        self.skip_trivia();
        if self.peek() == Some('{') {
            return true;
        }
        let here = self.span_here();
        let found = self.found();
        self.error(here, format!("expected `{{` to open {what}, found {found}"));
        self.recover_top_level();
        false
    }

    /// `dynamic class X { ... }` / `dynamic enum X { ... }`, after `dynamic`.
    fn dynamic(&mut self, start: usize, doc: Option<String>) -> Option<Item> {
        self.skip_trivia();
        let here = self.span_here();
        match self.ident() {
            Some(k) if k.name == "class" => self.class(start, doc).map(Item::DynamicClass),
            Some(k) if k.name == "enum" => self.enum_decl(start, doc).map(Item::DynamicEnum),
            _ => {
                let found = self.found();
                self.error(
                    here,
                    format!("expected `class` or `enum` after `dynamic`, found {found}"),
                );
                self.recover_top_level();
                None
            }
        }
    }

    fn class(&mut self, start: usize, doc: Option<String>) -> Option<ClassDecl> {
        let name = self.expect_ident("a class name")?;
        if !self.open_block(&format!("class `{}`", name.name)) {
            return None;
        }
        self.pos += 1;
        let mut fields = Vec::new();
        let mut methods = Vec::new();
        let mut attrs = Vec::new();
        loop {
            let field_doc = self.skip_trivia();
            let line_start = self.pos;
            match self.peek() {
                None => {
                    if !self.ran_to_eof {
                        self.error(
                            name.span,
                            format!("class `{}` is never closed with `}}`", name.name),
                        );
                    }
                    break;
                }
                Some('}') => {
                    self.pos += 1;
                    break;
                }
                Some('@') if self.at("@@") => {
                    if let Some(a) = self.attribute() {
                        attrs.push(a);
                    }
                }
                Some(_) if self.method_follows() => {
                    let method_start = self.pos;
                    self.pos += "function".len();
                    let outer = self.self_type.replace(name.name.clone());
                    let method = self.function(method_start, field_doc);
                    self.self_type = outer;
                    methods.extend(method);
                }
                Some(_) => {
                    if let Some(f) = self.field(field_doc, &mut attrs) {
                        fields.push(f);
                    }
                    if self.pos == line_start {
                        self.pos += self.peek().map_or(1, char::len_utf8);
                    }
                }
            }
        }
        Some(ClassDecl {
            name,
            doc,
            fields,
            methods,
            attrs,
            span: self.span(start),
        })
    }

    /// `function name(` inside a class: a method, not a field named `function`.
    fn method_follows(&self) -> bool {
        let Some(rest) = self.rest().strip_prefix("function") else {
            return false;
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        let n = rest.chars().take_while(|c| is_ident_char(*c)).count();
        n > 0 && rest.len() > n && rest[n..].trim_start().starts_with('(')
    }

    fn field(&mut self, doc: Option<String>, block_attrs: &mut Vec<Attribute>) -> Option<Field> {
        let start = self.pos;
        let Some(name) = self.ident() else {
            let here = self.span_here();
            let found = self.found();
            self.error(here, format!("expected a field name, found {found}"));
            self.recover_line();
            return None;
        };
        self.skip_spaces();
        if self.eat(':') {
            self.error(
                Span::new(self.file, self.pos - 1, self.pos),
                format!(
                    "fields are declared without a colon: write `{} <type>`, not `{}: <type>`",
                    name.name, name.name
                ),
            );
        }
        let Some(ty) = self.type_expr() else {
            let here = self.span_here();
            let found = self.found();
            self.error(
                here,
                format!("expected a type for field `{}`, found {found}", name.name),
            );
            self.recover_line();
            return None;
        };
        // More fields may follow on the same line (`class A { a int b string }`).
        let mut attrs = std::mem::take(&mut self.group_attrs);
        attrs.extend(self.member_attributes(block_attrs));
        Some(Field {
            name,
            doc,
            ty,
            attrs,
            span: self.span(start),
        })
    }

    fn enum_decl(&mut self, start: usize, doc: Option<String>) -> Option<EnumDecl> {
        let name = self.expect_ident("an enum name")?;
        if !self.open_block(&format!("enum `{}`", name.name)) {
            return None;
        }
        self.pos += 1;
        let mut values = Vec::new();
        let mut attrs = Vec::new();
        loop {
            let value_doc = self.skip_trivia();
            let line_start = self.pos;
            match self.peek() {
                None => {
                    if !self.ran_to_eof {
                        self.error(
                            name.span,
                            format!("enum `{}` is never closed with `}}`", name.name),
                        );
                    }
                    break;
                }
                Some('}') => {
                    self.pos += 1;
                    break;
                }
                Some('@') if self.at("@@") => {
                    if let Some(a) = self.attribute() {
                        attrs.push(a);
                    }
                }
                Some(_) => {
                    let vstart = self.pos;
                    if let Some(vname) = self.ident() {
                        let vattrs = self.member_attributes(&mut attrs);
                        self.skip_line_trivia();
                        if !self.at_eol() && self.peek() != Some('}') {
                            let here = self.span_here();
                            let found = self.found();
                            self.error(here, format!("unexpected {found} after enum value `{}`: each value goes on its own line", vname.name));
                            self.recover_line();
                        }
                        values.push(EnumValue {
                            name: vname,
                            doc: value_doc,
                            attrs: vattrs,
                            span: self.span(vstart),
                        });
                    } else {
                        let here = self.span_here();
                        let found = self.found();
                        self.error(here, format!("expected an enum value name, found {found}"));
                        self.recover_line();
                    }
                    if self.pos == line_start {
                        self.pos += self.peek().map_or(1, char::len_utf8);
                    }
                }
            }
        }
        Some(EnumDecl {
            name,
            doc,
            values,
            attrs,
            span: self.span(start),
        })
    }

    /// `(name: Type, ...)`; the cursor is at `(`.
    fn params(&mut self, owner: &str) -> Vec<Param> {
        let open = self.pos;
        self.pos += 1;
        let mut params = Vec::new();
        loop {
            self.skip_trivia();
            match self.peek() {
                None => {
                    self.error(
                        Span::new(self.file, open, open + 1),
                        format!("parameters of `{owner}` are never closed with `)`"),
                    );
                    return params;
                }
                Some(')') => {
                    self.pos += 1;
                    return params;
                }
                Some(',') => self.pos += 1,
                Some('{') => {
                    let here = self.span_here();
                    self.error(
                        here,
                        format!("expected `)` to close the parameters of `{owner}`, found `{{`"),
                    );
                    return params;
                }
                Some(_) => {
                    let start = self.pos;
                    let Some(name) = self.ident() else {
                        let here = self.span_here();
                        let found = self.found();
                        self.error(here, format!("expected a parameter name, found {found}"));
                        self.skip_param();
                        continue;
                    };
                    self.skip_spaces();
                    if name.name == "self" && self.peek() != Some(':') {
                        if let Some(class) = self.self_type.clone() {
                            let span = name.span;
                            params.push(Param {
                                name,
                                ty: TypeExpr::Named(Ident { name: class, span }),
                                attrs: Vec::new(),
                                span,
                            });
                            continue;
                        }
                    }
                    if !self.eat(':') {
                        let here = self.span_here();
                        self.error(
                            here,
                            format!("expected `:` and a type after parameter `{}`", name.name),
                        );
                        self.skip_param();
                        continue;
                    }
                    self.skip_trivia();
                    if let Some(ty) = self.type_expr() {
                        // `@assert` is allowed on parameter types; the validator refuses `@check`.
                        let mut attrs = std::mem::take(&mut self.group_attrs);
                        attrs.extend(self.line_attributes());
                        params.push(Param {
                            name,
                            ty,
                            attrs,
                            span: self.span(start),
                        });
                    } else {
                        let here = self.span_here();
                        let found = self.found();
                        self.error(
                            here,
                            format!(
                                "expected a type for parameter `{}`, found {found}",
                                name.name
                            ),
                        );
                        self.skip_param();
                    }
                }
            }
        }
    }

    fn skip_param(&mut self) {
        // Always make progress, even when already at a stop character.
        if let Some(c) = self.peek() {
            if c != ')' && c != '{' {
                self.pos += c.len_utf8();
            }
        }
        while let Some(c) = self.peek() {
            if c == ',' || c == ')' || c == '{' {
                return;
            }
            self.pos += c.len_utf8();
        }
    }

    #[expect(clippy::too_many_lines, reason = "header, then one of two body forms")]
    fn function(&mut self, start: usize, doc: Option<String>) -> Option<FunctionDecl> {
        let name = self.expect_ident("a function name")?;
        self.skip_spaces();
        let params = if self.peek() == Some('(') {
            self.params(&name.name)
        } else {
            let here = self.span_here();
            self.error(
                here,
                format!(
                    "expected `(` and the parameters of function `{}`",
                    name.name
                ),
            );
            Vec::new()
        };
        // Comments and blank lines may sit around `->`.
        self.skip_trivia();
        let ret = if self.at("->") {
            self.pos += 2;
            self.skip_trivia();
            let t = self.type_expr();
            if t.is_none() {
                let here = self.span_here();
                let found = self.found();
                self.error(
                    here,
                    format!(
                        "expected the return type of function `{}`, found {found}",
                        name.name
                    ),
                );
            }
            t
        } else {
            let here = self.span_here();
            self.error(
                here,
                format!(
                    "expected `->` and the return type of function `{}`",
                    name.name
                ),
            );
            // Read a return type written without the arrow, to carry on with the body.
            if self.peek().is_some_and(is_ident_start) {
                self.type_expr()
            } else {
                None
            }
        };
        let mut ret_attrs = std::mem::take(&mut self.group_attrs);
        ret_attrs.extend(self.line_attributes());
        if !self.open_block(&format!("function `{}`", name.name)) {
            return Some(FunctionDecl {
                name,
                doc,
                params,
                ret,
                ret_attrs,
                client: None,
                prompt: None,
                other: Vec::new(),
                has_body: false,
                body: None,
                span: self.span(start),
            });
        }
        if !self.llm_body_follows() {
            let body = self.expr_block();
            return Some(FunctionDecl {
                name,
                doc,
                params,
                ret,
                ret_attrs,
                client: None,
                prompt: None,
                other: Vec::new(),
                has_body: body.is_some(),
                body,
                span: self.span(start),
            });
        }
        let entries = self.config_block(false);
        let mut client = None;
        let mut prompt = None;
        let mut other = Vec::new();
        for e in entries {
            match (e.key.name.as_str(), e.value) {
                ("client", Value::String(t)) if !t.raw && t.value.contains('/') => {
                    client = Some(ClientRef::Shorthand(t.value, t.span));
                }
                ("client", Value::String(t)) => {
                    client = Some(ClientRef::Named(Ident {
                        name: t.value,
                        span: t.span,
                    }));
                }
                ("prompt", Value::String(t)) => prompt = Some(t),
                (_, value) => other.push(ConfigEntry {
                    key: e.key,
                    value,
                    span: e.span,
                }),
            }
        }
        Some(FunctionDecl {
            name,
            doc,
            params,
            ret,
            ret_attrs,
            client,
            prompt,
            other,
            has_body: true,
            body: None,
            span: self.span(start),
        })
    }

    /// Whether the function body at `{` is `client` / `prompt` entries rather than
    /// expressions: its first word is `client` or `prompt` followed by a value on that line.
    fn llm_body_follows(&self) -> bool {
        let mut rest = &self.rest()[1..];
        loop {
            rest = rest.trim_start();
            if rest.starts_with("//") {
                rest = rest.find('\n').map_or("", |i| &rest[i..]);
            } else {
                break;
            }
        }
        let word: String = rest.chars().take_while(|c| is_ident_char(*c)).collect();
        if word != "client" && word != "prompt" {
            return false;
        }
        let after = &rest[word.len()..];
        let after = after.trim_start_matches([' ', '\t']);
        !(after.is_empty()
            || after.starts_with(['\n', '\r', ';', '=', '(', '.', '[', '+', '-', '*', '/', '}']))
    }

    fn client(&mut self, start: usize) -> Option<ClientDecl> {
        self.skip_spaces();
        let kind = if self.eat('<') {
            let k = self.expect_ident("a client kind such as `llm`");
            self.expect_char('>', "after the client kind");
            k?
        } else {
            // `client Name { ... }` without `<llm>` is an older spelling.
            let here = self.span_here();
            Ident {
                name: "llm".into(),
                span: here,
            }
        };
        let name = self.expect_ident("a client name")?;
        if !self.open_block(&format!("client `{}`", name.name)) {
            return None;
        }
        let entries = self.config_block(false);
        Some(ClientDecl {
            kind,
            name,
            entries,
            span: self.span(start),
        })
    }

    fn config_decl(&mut self, start: usize, what: &str) -> Option<ConfigDecl> {
        let name = self.expect_ident(&format!("a {what} name"))?;
        if !self.open_block(&format!("{what} `{}`", name.name)) {
            return None;
        }
        let entries = self.config_block(false);
        Some(ConfigDecl {
            name,
            entries,
            span: self.span(start),
        })
    }

    fn template(&mut self, start: usize) -> Option<TemplateDecl> {
        let name = self.expect_ident("a template_string name")?;
        self.skip_spaces();
        let params = if self.peek() == Some('(') {
            self.params(&name.name)
        } else {
            Vec::new()
        };
        self.skip_trivia();
        let body = match self.peek() {
            Some('#' | 'r') if self.raw_string_start().is_some() => self.raw_string(),
            _ => {
                let here = self.span_here();
                let found = self.found();
                self.error(here, format!("expected the body of template_string `{}` as a raw string `#\"...\"#`, found {found}", name.name));
                self.recover_top_level();
                None
            }
        }?;
        Some(TemplateDecl {
            name,
            params,
            body,
            span: self.span(start),
        })
    }

    fn alias(&mut self, start: usize) -> Option<AliasDecl> {
        let name = self.expect_ident("a type alias name")?;
        if !self.expect_char('=', &format!("after `type {}`", name.name)) {
            self.recover_top_level();
            return None;
        }
        // `type A =\n  | "x"\n  | "y"`: BAML refuses a leading `|`.
        let save = self.pos;
        self.skip_trivia();
        if self.peek() == Some('|') {
            let here = self.span_here();
            self.error(
                here,
                format!(
                    "a type alias cannot start with `|`: write `type {} = \"x\" | \"y\"` (later lines may start with `|`)",
                    name.name
                ),
            );
            self.recover_top_level();
            return None;
        }
        self.pos = save;
        let Some(ty) = self.type_expr() else {
            let here = self.span_here();
            let found = self.found();
            self.error(
                here,
                format!(
                    "expected a type after `type {} =`, found {found}",
                    name.name
                ),
            );
            self.recover_top_level();
            return None;
        };
        let mut attrs = std::mem::take(&mut self.group_attrs);
        attrs.extend(self.line_attributes());
        self.skip_line_trivia();
        if !self.at_eol() {
            let here = self.span_here();
            let found = self.found();
            self.error(
                here,
                format!("unexpected {found} after type alias `{}`", name.name),
            );
            self.recover_top_level();
        }
        Some(AliasDecl {
            name,
            ty,
            attrs,
            span: self.span(start),
        })
    }

    fn test(&mut self, start: usize) -> Option<TestDecl> {
        let name = self.expect_ident("a test name")?;
        // The old form `test Name() {` (or with parameters, which are ignored as BAML does).
        self.skip_spaces();
        if self.peek() == Some('(') {
            let _ = self.params(&name.name);
        }
        if !self.open_block(&format!("test `{}`", name.name)) {
            return None;
        }
        let mut entries = Vec::new();
        let mut attrs = Vec::new();
        for e in self.config_block(true) {
            if let Some(attr) = e.key.name.strip_prefix("@@") {
                let args = match e.value {
                    Value::Array(a, _) => a,
                    v => vec![v],
                };
                attrs.push(Attribute {
                    name: attr.to_string(),
                    block: true,
                    args,
                    span: e.span,
                });
            } else {
                entries.push(e);
            }
        }
        Some(TestDecl {
            name,
            entries,
            attrs,
            span: self.span(start),
        })
    }
}

fn is_number(t: &str) -> bool {
    let t = t.strip_prefix('-').unwrap_or(t);
    !t.is_empty()
        && t.chars().next().is_some_and(|c| c.is_ascii_digit())
        && t.chars().all(|c| {
            c.is_ascii_digit()
                || c == '.'
                || c == 'e'
                || c == 'E'
                || c == '_'
                || c == '+'
                || c == '-'
        })
        && t.replace('_', "").parse::<f64>().is_ok()
}
