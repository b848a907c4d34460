//! The messages between the embedder and a worker process, and their encoding.
//!
//! A message travels as one frame: a little-endian `u32` length, then the payload, which starts
//! with a tag byte. Numbers are LEB128 varints or little-endian `f64`s; strings are a varint
//! length and UTF-8 bytes. Both sides decode what the other sent as untrusted input (the
//! worker runs attacker code and may be compromised): every length is checked against the
//! bytes left before anything is allocated, nesting is bounded by `MAX_DEPTH`, and a malformed
//! frame is an error, never a panic.

use std::time::Duration;

use baml_sandbox::{
    ConsoleLevel, ErrorValue, HostError, RegExp, SandboxError, TypedArrayKind, Value, MAX_DEPTH,
};

/// The largest frame accepted by default (see `max_frame`).
pub const MAX_FRAME: usize = 1 << 31;

/// The largest frame worth accepting for a sandbox with this memory limit: any value it can
/// copy (its copy budget is four times the limit, and a copy encodes in about as many bytes as
/// it takes) plus room for the message around it.
pub fn max_frame(memory_limit: u64) -> usize {
    let budget = u64::try_from(baml_sandbox::copy_budget(
        usize::try_from(memory_limit).unwrap_or(usize::MAX),
    ))
    .unwrap_or(u64::MAX);
    usize::try_from(budget.saturating_mul(2).saturating_add(1 << 20))
        .unwrap_or(MAX_FRAME)
        .min(MAX_FRAME)
}

/// Options the worker creates its sandbox with.
#[derive(Debug, Clone, PartialEq)]
pub struct Create {
    pub memory_limit_bytes: u64,
    pub timeout: Duration,
    pub max_stack_bytes: u64,
    pub globals: Vec<(String, Value)>,
    pub host_functions: Vec<String>,
    pub console: bool,
    pub baml_functions: Vec<String>,
}

/// From the embedder to a worker.
#[derive(Debug, Clone, PartialEq)]
pub enum ToWorker {
    Create(Create),
    Eval {
        id: u64,
        code: String,
        timeout: Duration,
        filename: Option<String>,
    },
    Abort {
        id: u64,
    },
    /// The answer to a host or BAML call.
    Reply {
        call: u64,
        result: Result<Value, HostError>,
    },
    Partial {
        call: u64,
        value: Value,
    },
    /// The embedder delivered this many more `console` lines (in order): their bytes no longer
    /// count against the sandbox's cap of bytes waiting for the embedder.
    ConsoleTaken {
        lines: u64,
    },
    Dispose,
    /// First message to a worker that is to host a group's shared runtime: its socket then
    /// only carries `Member` messages, each with the worker's end of a member's own socket
    /// (`SCM_RIGHTS`), which speaks this protocol from `Create` on.
    Group {
        memory_limit_bytes: u64,
        max_stack_bytes: u64,
    },
    /// A member's socket rides along with this message (see `Group`).
    Member,
    /// Answer `Pong` as soon as the loop or a running turn's interrupt handler reads this: a
    /// worker that answers is not stuck in code that ignores deadlines.
    Ping,
}

/// From the embedder to a group's worker: this many bytes (`Member`'s frame), sent with one
/// descriptor each.
pub const MEMBER_FRAME: [u8; 5] = [1, 0, 0, 0, 9];

/// From a worker to the embedder.
#[derive(Debug, Clone, PartialEq)]
pub enum FromWorker {
    Done {
        id: u64,
        result: Result<Value, SandboxError>,
    },
    HostCall {
        call: u64,
        index: u64,
        args: Vec<Value>,
    },
    BamlCall {
        call: u64,
        index: u64,
        args: Vec<Value>,
        stream: bool,
    },
    /// A BAML call is no longer wanted (its evaluation ended).
    Cancel {
        call: u64,
    },
    Console {
        level: ConsoleLevel,
        text: String,
    },
    /// Bytes the QuickJS heap uses now (after a turn).
    Memory {
        used: u64,
    },
    /// The sandbox could not be created; the worker exits after sending it.
    Failed {
        error: SandboxError,
    },
    /// Evaluation `id`'s script started running (the watchdog's view of what may run).
    Started {
        id: u64,
    },
    /// The answer to `Ping`.
    Pong,
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed message: {0}")]
pub struct WireError(pub &'static str);

// ---------------------------------------------------------------------------------------------
// Encoding

/// Appends frames to a buffer.
#[derive(Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder::default()
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Takes the encoded bytes, leaving the encoder empty.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Drops the first `n` bytes (they were written out). Once all are, a big buffer is
    /// given back (a connection idle between messages holds no memory for them).
    pub fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
        if self.buf.is_empty() && self.buf.capacity() > 4096 {
            self.buf = Vec::new();
        }
    }

    fn frame(&mut self, body: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        body(&mut self.buf);
        let len = u32::try_from(self.buf.len() - start - 4).unwrap_or(u32::MAX);
        self.buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    }

    pub fn to_worker(&mut self, m: &ToWorker) {
        self.frame(|b| match m {
            ToWorker::Create(c) => {
                b.push(1);
                varint(b, c.memory_limit_bytes);
                duration(b, c.timeout);
                varint(b, c.max_stack_bytes);
                varint(b, c.globals.len() as u64);
                for (k, v) in &c.globals {
                    string(b, k);
                    value(b, v);
                }
                strings(b, &c.host_functions);
                b.push(u8::from(c.console));
                strings(b, &c.baml_functions);
            }
            ToWorker::Eval {
                id,
                code,
                timeout,
                filename,
            } => {
                b.push(2);
                varint(b, *id);
                string(b, code);
                duration(b, *timeout);
                opt_string(b, filename.as_deref());
            }
            ToWorker::Abort { id } => {
                b.push(3);
                varint(b, *id);
            }
            ToWorker::Reply { call, result } => {
                b.push(4);
                varint(b, *call);
                match result {
                    Ok(v) => {
                        b.push(0);
                        value(b, v);
                    }
                    Err(e) => {
                        b.push(1);
                        host_error(b, e);
                    }
                }
            }
            ToWorker::Partial { call, value: v } => {
                b.push(5);
                varint(b, *call);
                value(b, v);
            }
            ToWorker::Dispose => b.push(6),
            ToWorker::ConsoleTaken { lines } => {
                b.push(7);
                varint(b, *lines);
            }
            ToWorker::Group {
                memory_limit_bytes,
                max_stack_bytes,
            } => {
                b.push(8);
                varint(b, *memory_limit_bytes);
                varint(b, *max_stack_bytes);
            }
            ToWorker::Member => b.push(9),
            ToWorker::Ping => b.push(10),
        });
    }

    pub fn from_worker(&mut self, m: &FromWorker) {
        self.frame(|b| match m {
            FromWorker::Done { id, result } => {
                b.push(1);
                varint(b, *id);
                match result {
                    Ok(v) => {
                        b.push(0);
                        value(b, v);
                    }
                    Err(e) => {
                        b.push(1);
                        sandbox_error(b, e);
                    }
                }
            }
            FromWorker::HostCall { call, index, args } => {
                b.push(2);
                varint(b, *call);
                varint(b, *index);
                values(b, args);
            }
            FromWorker::BamlCall {
                call,
                index,
                args,
                stream,
            } => {
                b.push(3);
                varint(b, *call);
                varint(b, *index);
                values(b, args);
                b.push(u8::from(*stream));
            }
            FromWorker::Cancel { call } => {
                b.push(4);
                varint(b, *call);
            }
            FromWorker::Console { level, text } => {
                b.push(5);
                b.push(level_byte(*level));
                string(b, text);
            }
            FromWorker::Memory { used } => {
                b.push(6);
                varint(b, *used);
            }
            FromWorker::Started { id } => {
                b.push(8);
                varint(b, *id);
            }
            FromWorker::Pong => b.push(9),
            FromWorker::Failed { error } => {
                b.push(7);
                sandbox_error(b, error);
            }
        });
    }
}

fn varint(b: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            b.push(byte);
            return;
        }
        b.push(byte | 0x80);
    }
}

fn duration(b: &mut Vec<u8>, d: Duration) {
    varint(b, u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
}

fn string(b: &mut Vec<u8>, s: &str) {
    varint(b, s.len() as u64);
    b.extend_from_slice(s.as_bytes());
}

fn opt_string(b: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => b.push(0),
        Some(s) => {
            b.push(1);
            string(b, s);
        }
    }
}

fn strings(b: &mut Vec<u8>, items: &[String]) {
    varint(b, items.len() as u64);
    for s in items {
        string(b, s);
    }
}

fn values(b: &mut Vec<u8>, items: &[Value]) {
    varint(b, items.len() as u64);
    for v in items {
        value(b, v);
    }
}

const UNDEFINED: u8 = 0;
const NULL: u8 = 1;
const FALSE: u8 = 2;
const TRUE: u8 = 3;
const NUMBER: u8 = 4;
const STRING: u8 = 5;
const ARRAY: u8 = 6;
const OBJECT: u8 = 7;
const DATE: u8 = 8;
/// A count of entries, then each entry's key and value.
const MAP: u8 = 9;
/// A count, then the values.
const SET: u8 = 10;
/// The bytes (a varint length, then the bytes).
const ARRAY_BUFFER: u8 = 11;
/// The kind's code (`TypedArrayKind::code`), then the bytes it views.
const TYPED_ARRAY: u8 = 12;
/// `source`, then `flags`.
const REGEXP: u8 = 13;
/// `name`, `message`, optional `stack`, then a boolean: whether a `cause` value follows.
const ERROR: u8 = 14;

/// Encodes a value without recursing (values may nest up to `MAX_DEPTH`, and those made by
/// Rust code deeper still; the decoder refuses what is too deep).
fn value(b: &mut Vec<u8>, v: &Value) {
    enum Item<'a> {
        Value(&'a Value),
        Key(&'a str),
    }
    let mut stack: Vec<Item<'_>> = vec![Item::Value(v)];
    while let Some(item) = stack.pop() {
        let v = match item {
            Item::Key(k) => {
                string(b, k);
                continue;
            }
            Item::Value(v) => v,
        };
        match v {
            Value::Undefined => b.push(UNDEFINED),
            Value::Null => b.push(NULL),
            Value::Bool(false) => b.push(FALSE),
            Value::Bool(true) => b.push(TRUE),
            Value::Number(n) => {
                b.push(NUMBER);
                b.extend_from_slice(&n.to_le_bytes());
            }
            Value::String(s) => {
                b.push(STRING);
                string(b, s);
            }
            Value::Date(ms) => {
                b.push(DATE);
                b.extend_from_slice(&ms.to_le_bytes());
            }
            Value::Array(items) => {
                b.push(ARRAY);
                varint(b, items.len() as u64);
                stack.extend(items.iter().rev().map(Item::Value));
            }
            Value::Object(props) => {
                b.push(OBJECT);
                varint(b, props.len() as u64);
                for (k, item) in props.iter().rev() {
                    stack.push(Item::Value(item));
                    stack.push(Item::Key(k));
                }
            }
            Value::Map(entries) => {
                b.push(MAP);
                varint(b, entries.len() as u64);
                for (k, item) in entries.iter().rev() {
                    stack.push(Item::Value(item));
                    stack.push(Item::Value(k));
                }
            }
            Value::Set(items) => {
                b.push(SET);
                varint(b, items.len() as u64);
                stack.extend(items.iter().rev().map(Item::Value));
            }
            Value::ArrayBuffer(bytes) => {
                b.push(ARRAY_BUFFER);
                varint(b, bytes.len() as u64);
                b.extend_from_slice(bytes);
            }
            Value::TypedArray { kind, bytes } => {
                b.push(TYPED_ARRAY);
                b.push(kind.code());
                varint(b, bytes.len() as u64);
                b.extend_from_slice(bytes);
            }
            Value::RegExp(r) => {
                b.push(REGEXP);
                string(b, &r.source);
                string(b, &r.flags);
            }
            Value::Error(e) => {
                b.push(ERROR);
                string(b, &e.name);
                string(b, &e.message);
                opt_string(b, e.stack.as_deref());
                b.push(u8::from(e.cause.is_some()));
                if let Some(cause) = &e.cause {
                    stack.push(Item::Value(cause));
                }
            }
        }
    }
}

fn fields(b: &mut Vec<u8>, fields: &[(String, Value)]) {
    varint(b, fields.len() as u64);
    for (k, v) in fields {
        string(b, k);
        value(b, v);
    }
}

fn host_error(b: &mut Vec<u8>, e: &HostError) {
    string(b, &e.name);
    string(b, &e.message);
    fields(b, &e.fields);
    match e.origin {
        None => b.push(0),
        Some(o) => {
            b.push(1);
            varint(b, o);
        }
    }
}

fn level_byte(level: ConsoleLevel) -> u8 {
    match level {
        ConsoleLevel::Log => 0,
        ConsoleLevel::Info => 1,
        ConsoleLevel::Warn => 2,
        ConsoleLevel::Error => 3,
        ConsoleLevel::Debug => 4,
    }
}

fn sandbox_error(b: &mut Vec<u8>, e: &SandboxError) {
    match e {
        SandboxError::Js {
            name,
            message,
            stack,
            origin,
        } => {
            b.push(1);
            opt_string(b, name.as_deref());
            string(b, message);
            opt_string(b, stack.as_deref());
            match origin {
                None => b.push(0),
                Some(o) => {
                    b.push(1);
                    varint(b, *o);
                }
            }
        }
        SandboxError::Timeout { timeout_ms } => {
            b.push(2);
            varint(b, *timeout_ms);
        }
        SandboxError::Memory { limit_bytes } => {
            b.push(3);
            varint(b, *limit_bytes);
        }
        SandboxError::Stack => b.push(4),
        SandboxError::Aborted => b.push(5),
        SandboxError::Disposed => b.push(6),
        SandboxError::Result { path, reason } => {
            b.push(7);
            string(b, path);
            string(b, reason);
        }
        SandboxError::Crashed { reason } => {
            b.push(8);
            string(b, reason);
        }
        SandboxError::InvalidOption { option, message } => {
            b.push(9);
            string(b, option);
            string(b, message);
        }
        SandboxError::Setup(message) => {
            b.push(10);
            string(b, message);
        }
        // `SandboxError` is non-exhaustive; a variant this protocol does not know yet crosses
        // as a setup error with its message.
        #[allow(unreachable_patterns, reason = "future variants")]
        other => {
            b.push(10);
            string(b, &other.to_string());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Reads one frame's payload.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, WireError>;

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn u8(&mut self) -> R<u8> {
        let b = *self.bytes.get(self.pos).ok_or(WireError("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if n > self.left() {
            return Err(WireError("truncated"));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn varint(&mut self) -> R<u64> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(WireError("varint too long"))
    }

    /// A count of items each taking at least one byte: never more than the bytes left.
    fn count(&mut self) -> R<usize> {
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.left() => Ok(n),
            _ => Err(WireError("count past the end of the frame")),
        }
    }

    fn f64(&mut self) -> R<f64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    fn bool(&mut self) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError("bad boolean")),
        }
    }

    fn string(&mut self) -> R<String> {
        let n = self.count()?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| WireError("string is not UTF-8"))
    }

    fn opt_string(&mut self) -> R<Option<String>> {
        if self.bool()? {
            Ok(Some(self.string()?))
        } else {
            Ok(None)
        }
    }

    fn opt_u64(&mut self) -> R<Option<u64>> {
        if self.bool()? {
            Ok(Some(self.varint()?))
        } else {
            Ok(None)
        }
    }

    fn duration(&mut self) -> R<Duration> {
        Ok(Duration::from_micros(self.varint()?))
    }

    fn strings(&mut self) -> R<Vec<String>> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.string()?);
        }
        Ok(out)
    }

    fn values(&mut self) -> R<Vec<Value>> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.value(0)?);
        }
        Ok(out)
    }

    fn fields(&mut self) -> R<Vec<(String, Value)>> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.string()?;
            out.push((k, self.value(0)?));
        }
        Ok(out)
    }

    /// A value whose outermost container sits `depth` levels down, without recursing:
    /// containers are built bottom-up from an explicit stack. Containers nested deeper than
    /// `MAX_DEPTH` are refused, as the sandbox refuses them.
    #[expect(
        clippy::too_many_lines,
        reason = "one decoder over one explicit stack: a match arm per kind"
    )]
    fn value(&mut self, depth: usize) -> R<Value> {
        enum Open {
            Array(Vec<Value>, usize),
            Object(Vec<(String, Value)>, usize, Option<String>),
            /// Keys and values alternating, and how many entries.
            Map(Vec<Value>, usize),
            Set(Vec<Value>, usize),
            /// An error waiting for its cause.
            Error(Box<ErrorValue>),
        }
        /// Drops what was opened, flat (values may nest deep).
        fn drop_open(open: Vec<Open>) {
            for o in open {
                match o {
                    Open::Array(items, _) | Open::Map(items, _) | Open::Set(items, _) => {
                        baml_sandbox::drop_flat(Value::Array(items));
                    }
                    Open::Object(props, ..) => baml_sandbox::drop_flat(Value::Object(props)),
                    Open::Error(e) => baml_sandbox::drop_flat(Value::Error(e)),
                }
            }
        }
        let mut open: Vec<Open> = Vec::new();
        loop {
            // Read the next key if the innermost open container is an object.
            if let Some(Open::Object(props, n, key)) = open.last_mut() {
                if props.len() < *n && key.is_none() {
                    *key = Some(self.string()?);
                }
            }
            let leaf = match self.u8()? {
                UNDEFINED => Value::Undefined,
                NULL => Value::Null,
                FALSE => Value::Bool(false),
                TRUE => Value::Bool(true),
                NUMBER => Value::Number(self.f64()?),
                STRING => Value::String(self.string()?),
                DATE => Value::Date(self.f64()?),
                ARRAY | OBJECT | MAP | SET | ARRAY_BUFFER | TYPED_ARRAY | REGEXP | ERROR
                    if depth + open.len() >= MAX_DEPTH =>
                {
                    // Every object counts as a level, as in the sandbox, which refuses such
                    // values itself; the drop is flat.
                    drop_open(open);
                    return Err(WireError("value nested too deep"));
                }
                MAP => {
                    let n = self.count()?;
                    // Each entry takes at least two bytes.
                    if n > self.left() / 2 {
                        drop_open(open);
                        return Err(WireError("count past the end of the frame"));
                    }
                    if n != 0 {
                        open.push(Open::Map(Vec::with_capacity((2 * n).min(1 << 16)), n));
                        continue;
                    }
                    Value::Map(Vec::new())
                }
                SET => {
                    let n = self.count()?;
                    if n != 0 {
                        open.push(Open::Set(Vec::with_capacity(n.min(1 << 16)), n));
                        continue;
                    }
                    Value::Set(Vec::new())
                }
                ARRAY_BUFFER => {
                    let n = self.count()?;
                    Value::ArrayBuffer(self.take(n)?.to_vec())
                }
                TYPED_ARRAY => {
                    let kind = TypedArrayKind::from_code(self.u8()?)
                        .ok_or(WireError("bad typed array kind"))?;
                    let n = self.count()?;
                    if n % kind.element_size() != 0 {
                        return Err(WireError("typed array bytes are not whole elements"));
                    }
                    Value::TypedArray {
                        kind,
                        bytes: self.take(n)?.to_vec(),
                    }
                }
                REGEXP => Value::RegExp(Box::new(RegExp {
                    source: self.string()?,
                    flags: self.string()?,
                })),
                ERROR => {
                    let e = Box::new(ErrorValue {
                        name: self.string()?,
                        message: self.string()?,
                        stack: self.opt_string()?,
                        cause: None,
                    });
                    if self.bool()? {
                        open.push(Open::Error(e));
                        continue;
                    }
                    Value::Error(e)
                }
                ARRAY => {
                    let n = self.count()?;
                    open.push(Open::Array(Vec::with_capacity(n.min(1 << 16)), n));
                    // An empty container is complete at once.
                    if n != 0 {
                        continue;
                    }
                    match open.pop() {
                        Some(Open::Array(items, _)) => Value::Array(items),
                        _ => return Err(WireError("internal")),
                    }
                }
                OBJECT => {
                    let n = self.count()?;
                    open.push(Open::Object(Vec::with_capacity(n.min(1 << 16)), n, None));
                    if n != 0 {
                        continue;
                    }
                    match open.pop() {
                        Some(Open::Object(props, ..)) => Value::Object(props),
                        _ => return Err(WireError("internal")),
                    }
                }
                _ => return Err(WireError("bad value tag")),
            };
            // Place the finished value into its parent, closing every container it completes.
            let mut done = leaf;
            loop {
                match open.last_mut() {
                    None => return Ok(done),
                    Some(Open::Array(items, n)) => {
                        items.push(done);
                        if items.len() < *n {
                            break;
                        }
                        let Some(Open::Array(items, _)) = open.pop() else {
                            return Err(WireError("internal"));
                        };
                        done = Value::Array(items);
                    }
                    Some(Open::Object(props, n, key)) => {
                        let k = key.take().ok_or(WireError("internal"))?;
                        props.push((k, done));
                        if props.len() < *n {
                            break;
                        }
                        let Some(Open::Object(props, ..)) = open.pop() else {
                            return Err(WireError("internal"));
                        };
                        done = Value::Object(props);
                    }
                    Some(Open::Map(items, n)) => {
                        items.push(done);
                        if items.len() < 2 * *n {
                            break;
                        }
                        let Some(Open::Map(items, _)) = open.pop() else {
                            return Err(WireError("internal"));
                        };
                        let mut entries = Vec::with_capacity(items.len() / 2);
                        let mut items = items.into_iter();
                        while let (Some(k), Some(v)) = (items.next(), items.next()) {
                            entries.push((k, v));
                        }
                        done = Value::Map(entries);
                    }
                    Some(Open::Set(items, n)) => {
                        items.push(done);
                        if items.len() < *n {
                            break;
                        }
                        let Some(Open::Set(items, _)) = open.pop() else {
                            return Err(WireError("internal"));
                        };
                        done = Value::Set(items);
                    }
                    Some(Open::Error(_)) => {
                        let Some(Open::Error(mut e)) = open.pop() else {
                            return Err(WireError("internal"));
                        };
                        e.cause = Some(done);
                        done = Value::Error(e);
                    }
                }
            }
        }
    }

    fn host_error(&mut self) -> R<HostError> {
        Ok(HostError {
            name: self.string()?,
            message: self.string()?,
            fields: self.fields()?,
            origin: self.opt_u64()?,
        })
    }

    fn sandbox_error(&mut self) -> R<SandboxError> {
        Ok(match self.u8()? {
            1 => SandboxError::Js {
                name: self.opt_string()?,
                message: self.string()?,
                stack: self.opt_string()?,
                origin: self.opt_u64()?,
            },
            2 => SandboxError::Timeout {
                timeout_ms: self.varint()?,
            },
            3 => SandboxError::Memory {
                limit_bytes: self.varint()?,
            },
            4 => SandboxError::Stack,
            5 => SandboxError::Aborted,
            6 => SandboxError::Disposed,
            7 => SandboxError::Result {
                path: self.string()?,
                reason: self.string()?,
            },
            8 => SandboxError::Crashed {
                reason: self.string()?,
            },
            9 => SandboxError::InvalidOption {
                option: self.string()?,
                message: self.string()?,
            },
            10 => SandboxError::Setup(self.string()?),
            _ => return Err(WireError("bad error tag")),
        })
    }

    fn level(&mut self) -> R<ConsoleLevel> {
        Ok(match self.u8()? {
            0 => ConsoleLevel::Log,
            1 => ConsoleLevel::Info,
            2 => ConsoleLevel::Warn,
            3 => ConsoleLevel::Error,
            4 => ConsoleLevel::Debug,
            _ => return Err(WireError("bad console level")),
        })
    }

    fn end(&self) -> R<()> {
        if self.left() == 0 {
            Ok(())
        } else {
            Err(WireError("trailing bytes"))
        }
    }
}

/// Decodes one frame's payload (without its length prefix) sent to a worker.
pub fn decode_to_worker(payload: &[u8]) -> R<ToWorker> {
    let mut r = Reader {
        bytes: payload,
        pos: 0,
    };
    let m = match r.u8()? {
        1 => {
            let memory_limit_bytes = r.varint()?;
            let timeout = r.duration()?;
            let max_stack_bytes = r.varint()?;
            let globals = r.fields()?;
            let host_functions = r.strings()?;
            let console = r.bool()?;
            let baml_functions = r.strings()?;
            ToWorker::Create(Create {
                memory_limit_bytes,
                timeout,
                max_stack_bytes,
                globals,
                host_functions,
                console,
                baml_functions,
            })
        }
        2 => ToWorker::Eval {
            id: r.varint()?,
            code: r.string()?,
            timeout: r.duration()?,
            filename: r.opt_string()?,
        },
        3 => ToWorker::Abort { id: r.varint()? },
        4 => {
            let call = r.varint()?;
            let result = if r.bool()? {
                Err(r.host_error()?)
            } else {
                Ok(r.value(0)?)
            };
            ToWorker::Reply { call, result }
        }
        5 => ToWorker::Partial {
            call: r.varint()?,
            value: r.value(0)?,
        },
        6 => ToWorker::Dispose,
        7 => ToWorker::ConsoleTaken { lines: r.varint()? },
        8 => ToWorker::Group {
            memory_limit_bytes: r.varint()?,
            max_stack_bytes: r.varint()?,
        },
        9 => ToWorker::Member,
        10 => ToWorker::Ping,
        _ => return Err(WireError("bad message tag")),
    };
    r.end()?;
    Ok(m)
}

/// Decodes one frame's payload (without its length prefix) sent by a worker.
pub fn decode_from_worker(payload: &[u8]) -> R<FromWorker> {
    let mut r = Reader {
        bytes: payload,
        pos: 0,
    };
    let m = match r.u8()? {
        1 => {
            let id = r.varint()?;
            let result = if r.bool()? {
                Err(r.sandbox_error()?)
            } else {
                Ok(r.value(0)?)
            };
            FromWorker::Done { id, result }
        }
        2 => FromWorker::HostCall {
            call: r.varint()?,
            index: r.varint()?,
            args: r.values()?,
        },
        3 => FromWorker::BamlCall {
            call: r.varint()?,
            index: r.varint()?,
            args: r.values()?,
            stream: r.bool()?,
        },
        4 => FromWorker::Cancel { call: r.varint()? },
        5 => FromWorker::Console {
            level: r.level()?,
            text: r.string()?,
        },
        6 => FromWorker::Memory { used: r.varint()? },
        7 => FromWorker::Failed {
            error: r.sandbox_error()?,
        },
        8 => FromWorker::Started { id: r.varint()? },
        9 => FromWorker::Pong,
        _ => return Err(WireError("bad message tag")),
    };
    r.end()?;
    Ok(m)
}

/// Splits complete frames off the front of `buf`: calls `each` with every payload and
/// returns how many bytes were consumed. A frame longer than `max` is an error.
pub fn split_frames(buf: &[u8], max: usize, mut each: impl FnMut(&[u8])) -> R<usize> {
    let mut pos = 0;
    while buf.len() - pos >= 4 {
        let mut len = [0u8; 4];
        len.copy_from_slice(&buf[pos..pos + 4]);
        let len = u32::from_le_bytes(len) as usize;
        if len > max {
            return Err(WireError("frame too large"));
        }
        if buf.len() - pos - 4 < len {
            break;
        }
        each(&buf[pos + 4..pos + 4 + len]);
        pos += 4 + len;
    }
    Ok(pos)
}
