//! Lenient parsing of what a model wrote into JSON-like values.
//!
//! Models wrap JSON in prose and markdown, leave out quotes, add comments and trailing commas,
//! put unescaped quotes inside strings, and (while streaming) stop mid-value. The fixing parser
//! accepts all of that, never fails, and marks values that the text left unfinished. It works on
//! bytes with an explicit stack depth bound, so hostile input cannot overflow the stack, and each
//! step consumes input, so it always terminates in time linear in the input.

/// A value as the model wrote it.
#[derive(Debug, Clone, PartialEq)]
pub enum JValue {
    String(String, bool),
    /// The number's text (coerced later: `12`, `1.5`, `-3e2`).
    Number(String, bool),
    Bool(bool),
    Null,
    Object(Vec<(String, JValue)>, bool),
    Array(Vec<JValue>, bool),
}

impl JValue {
    /// Whether the text finished this value (the `bool` of strings, numbers, objects, arrays).
    pub fn complete(&self) -> bool {
        match self {
            JValue::String(_, c)
            | JValue::Number(_, c)
            | JValue::Object(_, c)
            | JValue::Array(_, c) => *c,
            JValue::Bool(_) | JValue::Null => true,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            JValue::String(..) => "a string",
            JValue::Number(..) => "a number",
            JValue::Bool(_) => "a boolean",
            JValue::Null => "null",
            JValue::Object(..) => "an object",
            JValue::Array(..) => "an array",
        }
    }

    /// The value as BAML prints a parsed value when a string is wanted: `{a: 1}`, `[1, 2]`.
    pub fn display(&self) -> String {
        match self {
            JValue::String(s, _) | JValue::Number(s, _) => s.clone(),
            JValue::Bool(b) => b.to_string(),
            JValue::Null => "null".into(),
            JValue::Object(fields, _) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.display()))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
            JValue::Array(items, _) => format!(
                "[{}]",
                items
                    .iter()
                    .map(JValue::display)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Writes compact JSON text of the value into `out`, stopping once it holds `limit` bytes.
    pub fn preview(&self, out: &mut String, limit: usize) {
        if out.len() >= limit {
            return;
        }
        match self {
            JValue::String(s, _) => {
                let end = s.char_indices().nth(limit).map_or(s.len(), |(i, _)| i);
                out.push_str(&serde_json::Value::String(s[..end].to_string()).to_string());
            }
            JValue::Object(fields, _) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if out.len() >= limit {
                        break;
                    }
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    v.preview(out, limit);
                }
                out.push('}');
            }
            JValue::Array(items, _) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if out.len() >= limit {
                        break;
                    }
                    if i > 0 {
                        out.push(',');
                    }
                    v.preview(out, limit);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_json_text()),
        }
        if out.len() > limit {
            let mut end = limit;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
        }
    }

    /// Compact JSON text of the value (for strings made from other values).
    pub fn to_json_text(&self) -> String {
        match self {
            JValue::String(s, _) => serde_json::Value::String(s.clone()).to_string(),
            JValue::Number(n, _) => n.clone(),
            JValue::Bool(b) => b.to_string(),
            JValue::Null => "null".into(),
            JValue::Object(fields, _) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}:{}",
                            serde_json::Value::String(k.clone()),
                            v.to_json_text()
                        )
                    })
                    .collect();
                format!("{{{}}}", parts.join(","))
            }
            JValue::Array(items, _) => {
                let parts: Vec<String> = items.iter().map(JValue::to_json_text).collect();
                format!("[{}]", parts.join(","))
            }
        }
    }
}

/// How deep objects and arrays may nest before the rest is read as text.
const MAX_DEPTH: usize = 256;

#[derive(Clone, Copy, PartialEq)]
pub enum Ctx {
    Top,
    /// A value in an object.
    Object,
    Array,
    /// An object's key.
    Key,
}

pub struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str) -> Parser<'a> {
        Parser {
            s: text.as_bytes(),
            text,
            pos: 0,
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at(&self, lit: &str) -> bool {
        self.s[self.pos..].starts_with(lit.as_bytes())
    }

    /// Whitespace and `//` / `/* */` / `#` comments.
    fn skip_ws(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.pos += 1,
                Some(b'/') if self.at("//") => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                Some(b'/') if self.at("/*") => match self.text[self.pos + 2..].find("*/") {
                    Some(i) => self.pos += i + 4,
                    None => self.pos = self.s.len(),
                },
                _ => return,
            }
        }
    }

    /// Whether what follows (after whitespace and comments) closes a value in this context.
    fn terminator_follows(&self, from: usize, ctx: Ctx) -> bool {
        let mut p = Parser {
            s: self.s,
            text: self.text,
            pos: from,
        };
        p.skip_ws();
        match p.peek() {
            None | Some(b'}' | b']') => true,
            // In an object, a comma ends a value only if a key (or the end) follows it:
            // `"comma, "inside", here"` is one string.
            Some(b',') => match ctx {
                Ctx::Object => self.next_is_key(p.pos + 1),
                // In an array, unless unquoted words running into a quote follow (the rest of
                // this string): `["say "hi", ok"]` is one string, `["a", b]` two.
                Ctx::Array => {
                    let rest = &self.s[p.pos + 1..];
                    let word = rest.trim_ascii_start();
                    !(word.first().is_some_and(u8::is_ascii_alphabetic)
                        && word
                            .iter()
                            .find(|c| matches!(c, b',' | b']' | b'"' | b'\n'))
                            .is_some_and(|c| *c == b'"'))
                }
                Ctx::Top | Ctx::Key => true,
            },
            Some(b':') => ctx == Ctx::Key,
            _ => false,
        }
    }

    /// Parses every value in the text, one after another.
    pub fn parse_all(&mut self) -> Vec<JValue> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            if self.pos >= self.s.len() {
                return out;
            }
            let before = self.pos;
            out.push(self.value(Ctx::Top, 0));
            if self.pos == before {
                self.pos += 1;
            }
            // Stray separators between top-level values.
            while matches!(self.peek(), Some(b',' | b'}' | b']')) {
                self.pos += 1;
            }
        }
    }

    /// One value starting at the cursor (which must be at its first character).
    pub fn value(&mut self, ctx: Ctx, depth: usize) -> JValue {
        self.skip_ws();
        match self.peek() {
            None => JValue::String(String::new(), false),
            Some(b'{') if depth < MAX_DEPTH => self.object(depth),
            Some(b'[') if depth < MAX_DEPTH => self.array(depth),
            Some(b'"') if self.at("\"\"\"") => self.triple(b'"'),
            Some(b'`') if self.at("```") => self.triple(b'`'),
            Some(q @ (b'"' | b'\'' | b'`')) => self.quoted(q, ctx),
            Some(c) if c == b'-' || c.is_ascii_digit() => self.number_or_text(ctx),
            Some(_) => self.unquoted(ctx),
        }
    }

    fn object(&mut self, depth: usize) -> JValue {
        self.pos += 1;
        let mut fields = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => return JValue::Object(fields, false),
                Some(b'}') => {
                    self.pos += 1;
                    return JValue::Object(fields, true);
                }
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    // A stray `]`: the object ends here, unfinished.
                    return JValue::Object(fields, false);
                }
                Some(_) => {
                    let before = self.pos;
                    let key = self.key();
                    self.skip_ws();
                    match self.peek() {
                        Some(b':') => self.pos += 1,
                        None => return JValue::Object(fields, false),
                        // A key with no value (`{b}`, `{a, "b": 1}`) is dropped, as BAML does.
                        Some(b'}' | b',') if self.pos > before => continue,
                        _ => {}
                    }
                    self.skip_ws();
                    if self.peek().is_none() {
                        // `{"a": ` then nothing: the key has no value yet.
                        return JValue::Object(fields, false);
                    }
                    let value = self.value(Ctx::Object, depth + 1);
                    fields.push((key, value));
                    if self.pos == before {
                        self.pos += 1;
                    }
                }
            }
        }
    }

    fn key(&mut self) -> String {
        if let Some(q @ (b'"' | b'\'' | b'`')) = self.peek() {
            match self.quoted(q, Ctx::Key) {
                JValue::String(s, _) => s,
                _ => String::new(),
            }
        } else {
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == b':' || c == b'\n' || c == b'}' || c == b',' {
                    break;
                }
                self.pos += 1;
            }
            self.text[start..self.pos].trim().to_string()
        }
    }

    fn array(&mut self, depth: usize) -> JValue {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                // The end, or a stray `}`: the array ends here, unfinished.
                None | Some(b'}') => return JValue::Array(items, false),
                Some(b']') => {
                    self.pos += 1;
                    return JValue::Array(items, true);
                }
                Some(b',') => self.pos += 1,
                Some(_) => {
                    let before = self.pos;
                    items.push(self.value(Ctx::Array, depth + 1));
                    if self.pos == before {
                        self.pos += 1;
                    }
                }
            }
        }
    }

    /// A quoted string. A quote ends it only if what follows closes the value, so quotes the
    /// model forgot to escape stay inside.
    fn quoted(&mut self, q: u8, ctx: Ctx) -> JValue {
        self.pos += 1;
        let mut out = Vec::new();
        let mut inner = 0usize;
        while let Some(c) = self.peek() {
            if c == b'\\' {
                match self.s.get(self.pos + 1).copied() {
                    Some(b'n') => out.push(b'\n'),
                    Some(b't') => out.push(b'\t'),
                    Some(b'r') => out.push(b'\r'),
                    Some(b'b') => out.push(8),
                    Some(b'f') => out.push(12),
                    Some(b'u') => {
                        let hex = self.text.get(self.pos + 2..self.pos + 6).unwrap_or("");
                        if let Some(ch) = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
                        {
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            self.pos += 6;
                            continue;
                        }
                        out.extend_from_slice(b"\\u");
                    }
                    Some(other) => out.push(other),
                    None => {
                        self.pos += 1;
                        break;
                    }
                }
                self.pos += 2;
                continue;
            }
            if c == q {
                // After a quotation opened inside the string, a quote closes that quotation
                // (`"a "quoted", here"`) unless only closing brackets follow, as BAML reads it.
                let closes = if inner.is_multiple_of(2) {
                    self.terminator_follows(self.pos + 1, ctx)
                } else {
                    self.closes_here(self.pos + 1) && !self.comma_after(self.pos + 1)
                };
                if ctx == Ctx::Top || closes {
                    self.pos += 1;
                    return JValue::String(String::from_utf8_lossy(&out).into_owned(), true);
                }
                // An apostrophe inside a word (`it's`) opens no quotation.
                let prev = out.last().copied();
                if !inner.is_multiple_of(2) || !prev.is_some_and(|b| b.is_ascii_alphanumeric()) {
                    inner += 1;
                }
            }
            out.push(c);
            self.pos += 1;
        }
        JValue::String(String::from_utf8_lossy(&out).into_owned(), false)
    }

    /// `"""..."""` or a fenced ```` ``` ```` value: the info string after the opening backticks
    /// is dropped and the code dedented.
    fn triple(&mut self, q: u8) -> JValue {
        let fence = if q == b'"' { "\"\"\"" } else { "```" };
        self.pos += 3;
        let body_start = self.pos;
        let (body, complete) = if let Some(i) = self.text[body_start..].find(fence) {
            self.pos = body_start + i + 3;
            (&self.text[body_start..body_start + i], true)
        } else {
            self.pos = self.s.len();
            (&self.text[body_start..], false)
        };
        let body = if q == b'`' {
            // The first line is an info string (`typescript main.ts`).
            let rest = body.split_once('\n').map_or("", |(_, r)| r);
            dedent(rest)
        } else {
            body.to_string()
        };
        JValue::String(body.trim_end().to_string(), complete)
    }

    fn number_or_text(&mut self, ctx: Ctx) -> JValue {
        let start = self.pos;
        let mut end = self.pos;
        if self.s.get(end) == Some(&b'-') {
            end += 1;
        }
        while self
            .s
            .get(end)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            end += 1;
        }
        let text = &self.text[start..end];
        let numeric = text.parse::<f64>().is_ok();
        let at_end = end >= self.s.len();
        // Inside an object or array a number must be followed by a separator or closer; `1 "y"`
        // is text, not a number and a missing comma.
        let fits = match ctx {
            Ctx::Top => {
                at_end || self.terminator_follows(end, ctx) || self.s[end].is_ascii_whitespace()
            }
            // `-2,000` in an object is one number written with a thousands separator.
            Ctx::Object if self.s.get(end) == Some(&b',') => {
                !self.s.get(end + 1).is_some_and(u8::is_ascii_digit)
                    && self.terminator_follows(end, ctx)
            }
            Ctx::Object | Ctx::Array | Ctx::Key => self.terminator_follows(end, ctx),
        };
        if ctx == Ctx::Object && self.trailing_comma_at(end) {
            // `{"a": 1,}`: BAML reads the last value with its trailing comma, as text.
            return self.unquoted(ctx);
        }
        if numeric && fits {
            self.pos = end;
            // A number the text stops in the middle of may still grow.
            return JValue::Number(text.to_string(), !at_end);
        }
        self.unquoted(ctx)
    }

    /// Text without quotes: a word (`true`, `null`) or a run of text up to where the
    /// surrounding structure resumes.
    fn unquoted(&mut self, ctx: Ctx) -> JValue {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let ends = match (c, ctx) {
                (b',' | b']' | b'\n', Ctx::Array) | (b'}' | b']', Ctx::Top) => true,
                (b'}', Ctx::Object) => self.closes_here(self.pos + 1),
                // A comma right before the closing brace stays in the value (`1,` in
                // `{"a": 1,}`), as BAML reads it.
                (b',', Ctx::Object) if self.s.get(self.pos + 1) == Some(&b'}') => false,
                (b',' | b'\n', Ctx::Object) => self.next_is_key(self.pos + 1),
                _ => false,
            };
            if ends {
                break;
            }
            self.pos += 1;
        }
        let raw = self.text[start..self.pos].trim();
        let complete = self.pos < self.s.len();
        match raw {
            "true" | "True" => JValue::Bool(true),
            "false" | "False" => JValue::Bool(false),
            "null" => JValue::Null,
            _ => JValue::String(raw.to_string(), complete),
        }
    }

    /// Whether spaces, then `,}` follow `from`.
    fn trailing_comma_at(&self, from: usize) -> bool {
        let rest = &self.s[from.min(self.s.len())..];
        let rest = &rest[rest
            .iter()
            .take_while(|c| matches!(c, b' ' | b'\t'))
            .count()..];
        rest.starts_with(b",}")
    }

    /// Whether a comma comes next (after whitespace).
    fn comma_after(&self, from: usize) -> bool {
        let mut p = Parser {
            s: self.s,
            text: self.text,
            pos: from,
        };
        p.skip_ws();
        p.peek() == Some(b',')
    }

    /// After a `}`: only closers, separators or the end follow.
    fn closes_here(&self, from: usize) -> bool {
        let mut p = Parser {
            s: self.s,
            text: self.text,
            pos: from,
        };
        p.skip_ws();
        matches!(p.peek(), None | Some(b',' | b'}' | b']'))
    }

    /// After a `,` or newline inside an object: a `key:` or the object's end follows.
    fn next_is_key(&self, from: usize) -> bool {
        let mut p = Parser {
            s: self.s,
            text: self.text,
            pos: from,
        };
        p.skip_ws();
        match p.peek() {
            None | Some(b'}') => true,
            Some(q @ (b'"' | b'\'')) => {
                let rest = &p.text[p.pos + 1..];
                match rest.find(q as char) {
                    // The text ends inside what may be a key still being written.
                    None => !rest.contains('\n'),
                    Some(i) => {
                        let after = rest[i + 1..].trim_start();
                        (after.starts_with(':') || after.is_empty()) && !rest[..i].contains('\n')
                    }
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let rest = &p.text[p.pos..];
                let word_end = rest
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'))
                    .unwrap_or(rest.len());
                rest[word_end..]
                    .trim_start_matches([' ', '\t'])
                    .starts_with(':')
            }
            _ => false,
        }
    }
}

fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| {
            if l.len() >= indent {
                &l[indent..]
            } else {
                l.trim_start()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Markdown code fences: `(info string, body, closed)`. A fence opens with ``` at the start of
/// a line.
pub fn markdown_blocks(text: &str) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    loop {
        let Some(i) = find_line_fence(rest) else {
            return out;
        };
        let after = &rest[i + 3..];
        let (info, body_start) = match after.find('\n') {
            Some(nl) => (after[..nl].trim().to_string(), i + 3 + nl + 1),
            None => (after.trim().to_string(), rest.len()),
        };
        let body_text = &rest[body_start.min(rest.len())..];
        if let Some(j) = find_line_fence(body_text) {
            out.push((info, body_text[..j].to_string(), true));
            let consumed = body_start + j + 3;
            offset += consumed;
            rest = &text[offset..];
        } else {
            out.push((info, body_text.to_string(), false));
            return out;
        }
    }
}

fn find_line_fence(text: &str) -> Option<usize> {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            return Some(start + (line.len() - trimmed.len()));
        }
        start += line.len();
    }
    None
}
