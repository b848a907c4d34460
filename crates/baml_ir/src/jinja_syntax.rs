//! Whether the Jinja expression of a `@check` / `@assert` parses, as BAML checks at load for
//! the checks of fields, parameters, return types and tests. Only the syntax: names are not
//! resolved and nothing is evaluated.

/// `Err(reason)` when `src` is not one Jinja expression.
pub fn check_expression(src: &str) -> Result<(), String> {
    let tokens = tokenize(src)?;
    let mut p = P {
        tokens,
        pos: 0,
        depth: 0,
    };
    p.expr()?;
    match p.peek() {
        None => Ok(()),
        Some(t) => Err(format!("unexpected `{}`", t.text())),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Lit,
    Op(&'static str),
}

impl Tok {
    fn text(&self) -> &str {
        match self {
            Tok::Name(n) => n,
            Tok::Lit => "literal",
            Tok::Op(o) => o,
        }
    }
}

const OPS: &[&str] = &[
    "//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[", "]",
    "{", "}", ",", ".", ":", "|", "=",
];

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' || c == b'\'' {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err("unexpected end of string".into()),
                    Some(b'\\') => i += 2,
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            out.push(Tok::Lit);
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                // `1.x` is a number then an attribute: stop before a `.` not followed by a digit.
                if b[i] == b'.' && !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    break;
                }
                i += 1;
            }
            out.push(Tok::Lit);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Name(src[start..i].to_string()));
        } else if let Some(op) = OPS.iter().find(|op| src[i..].starts_with(**op)) {
            out.push(Tok::Op(op));
            i += op.len();
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return Err(format!("unexpected character `{ch}`"));
        }
    }
    Ok(out)
}

struct P {
    tokens: Vec<Tok>,
    pos: usize,
    depth: usize,
}

type R = Result<(), String>;

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn at_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }

    fn at_name(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(n)) if n == name)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let yes = self.at_op(op);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn eat_name(&mut self, name: &str) -> bool {
        let yes = self.at_name(name);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_op(&mut self, op: &str) -> R {
        if self.eat_op(op) {
            return Ok(());
        }
        Err(match self.peek() {
            None => format!("unexpected end of input, expected `{op}`"),
            Some(t) => format!("unexpected `{}`, expected `{op}`", t.text()),
        })
    }

    fn name(&mut self) -> R {
        if let Some(Tok::Name(_)) = self.peek() {
            self.pos += 1;
            return Ok(());
        }
        Err("expected a name".into())
    }

    fn expr(&mut self) -> R {
        self.depth += 1;
        if self.depth > 64 {
            return Err("expression nested too deeply".into());
        }
        self.or()?;
        if self.eat_name("if") {
            self.or()?;
            if self.eat_name("else") {
                self.expr()?;
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn or(&mut self) -> R {
        self.and()?;
        while self.eat_name("or") {
            self.and()?;
        }
        Ok(())
    }

    fn and(&mut self) -> R {
        self.not()?;
        while self.eat_name("and") {
            self.not()?;
        }
        Ok(())
    }

    fn not(&mut self) -> R {
        if self.eat_name("not") {
            return self.not();
        }
        self.compare()
    }

    fn compare(&mut self) -> R {
        self.concat()?;
        loop {
            if ["==", "!=", "<", "<=", ">", ">="]
                .iter()
                .any(|op| self.eat_op(op))
                || self.eat_name("in")
            {
                self.concat()?;
            } else if self.at_name("not")
                && matches!(self.tokens.get(self.pos + 1), Some(Tok::Name(n)) if n == "in")
            {
                self.pos += 2;
                self.concat()?;
            } else {
                return Ok(());
            }
        }
    }

    fn concat(&mut self) -> R {
        self.arith()?;
        while self.eat_op("~") {
            self.arith()?;
        }
        Ok(())
    }

    fn arith(&mut self) -> R {
        self.term()?;
        while self.eat_op("+") || self.eat_op("-") {
            self.term()?;
        }
        Ok(())
    }

    fn term(&mut self) -> R {
        self.pow()?;
        while ["*", "//", "/", "%"].iter().any(|op| self.eat_op(op)) {
            self.pow()?;
        }
        Ok(())
    }

    fn pow(&mut self) -> R {
        self.unary()?;
        while self.eat_op("**") {
            self.unary()?;
        }
        Ok(())
    }

    fn unary(&mut self) -> R {
        if self.eat_op("-") || self.eat_op("+") {
            return self.unary();
        }
        self.postfix()
    }

    fn postfix(&mut self) -> R {
        self.primary()?;
        loop {
            if self.eat_op(".") {
                // `x.0` reads an index.
                if matches!(self.peek(), Some(Tok::Lit)) {
                    self.pos += 1;
                } else {
                    self.name()?;
                }
            } else if self.eat_op("[") {
                self.subscript()?;
                self.expect_op("]")?;
            } else if self.eat_op("(") {
                self.args(")")?;
            } else if self.eat_op("|") {
                self.name()?;
                if self.eat_op("(") {
                    self.args(")")?;
                }
            } else if self.eat_name("is") {
                self.eat_name("not");
                self.name()?;
                if self.eat_op("(") {
                    self.args(")")?;
                }
            } else {
                return Ok(());
            }
        }
    }

    fn subscript(&mut self) -> R {
        if !self.at_op(":") {
            self.expr()?;
        }
        for _ in 0..2 {
            if !self.eat_op(":") {
                break;
            }
            if !self.at_op(":") && !self.at_op("]") {
                self.expr()?;
            }
        }
        Ok(())
    }

    /// Call arguments (`name=value` allowed) up to `close`; the opener is consumed.
    fn args(&mut self, close: &str) -> R {
        loop {
            if self.eat_op(close) {
                return Ok(());
            }
            if matches!(self.peek(), Some(Tok::Name(_)))
                && matches!(self.tokens.get(self.pos + 1), Some(Tok::Op("=")))
            {
                self.pos += 2;
            }
            self.expr()?;
            if !self.eat_op(",") {
                return self.expect_op(close);
            }
        }
    }

    fn primary(&mut self) -> R {
        match self.peek().cloned() {
            None => Err("unexpected end of input, expected expression".into()),
            Some(Tok::Lit | Tok::Name(_)) => {
                self.pos += 1;
                Ok(())
            }
            Some(Tok::Op("(")) => {
                self.pos += 1;
                self.args(")")
            }
            Some(Tok::Op("[")) => {
                self.pos += 1;
                loop {
                    if self.eat_op("]") {
                        return Ok(());
                    }
                    self.expr()?;
                    if !self.eat_op(",") {
                        return self.expect_op("]");
                    }
                }
            }
            Some(Tok::Op("{")) => {
                self.pos += 1;
                loop {
                    if self.eat_op("}") {
                        return Ok(());
                    }
                    self.expr()?;
                    self.expect_op(":")?;
                    self.expr()?;
                    if !self.eat_op(",") {
                        return self.expect_op("}");
                    }
                }
            }
            Some(t) => Err(format!("unexpected `{}`", t.text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_expression;

    #[test]
    fn accepts_and_refuses() {
        for ok in [
            "this > 0",
            "this|length < 10",
            "this in [\"a\", \"b\"]",
            "true if this > 0 else false",
            "this.startswith(\"a\")",
            "this|regex_match(\"@\")",
            "not (this.x and this.y) or this[0:2] == 'ab'",
            "this is not none",
            "{'a': 1}['a'] ~ 'x'",
        ] {
            assert_eq!(check_expression(ok), Ok(()), "{ok}");
        }
        for bad in [
            "this >",
            "(this > 0",
            "this >>> 0",
            "this == \"a",
            "",
            "a b",
        ] {
            assert!(check_expression(bad).is_err(), "{bad}");
        }
    }
}
