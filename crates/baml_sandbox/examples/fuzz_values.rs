//! A fuzzer for copying values across the sandbox boundary (stable Rust, no sanitizers needed):
//! `cargo run --release -p baml_sandbox --example fuzz_values -- <seconds> [seed]`.
//!
//! Each round builds one sandbox and runs one of three kinds of input:
//! - `roundtrip`: a random `Value` tree (nesting around and far past `MAX_DEPTH`, long strings,
//!   every Unicode plane, NaN, ±Infinity, -0, extreme numbers, valid and invalid dates,
//!   `__proto__`/`then`/numeric/empty/NUL/duplicate keys, maps with repeated and object keys,
//!   sets, buffers and typed arrays of every kind with any bytes, regular expressions, errors
//!   with and without stack and cause) goes in as a global and comes back out
//!   as the result or, wrapped in a few arrays, as a host function's argument and result. The
//!   copy must equal `model`, the documented rules written down once: -0 becomes 0 (integral
//!   numbers enter as integers), dates are time-clipped, a repeated key keeps its first position
//!   and its last value, and integer-like keys come first in ascending order (a map's repeated
//!   key likewise, a set's repeated value is dropped). Depth is counted the same way in and out
//!   (every object is a level; `MAX_DEPTH` of them fit):
//!   a global nested deeper is refused by `Sandbox::new`, an argument by a `TypeError` ("cannot
//!   be passed to the host"), a host result by a `TypeError` ("cannot be copied into the
//!   sandbox"), each message naming the path of the first over-deep value in full.
//! - `host`: random values are a host function's result (`give()`) and a failed call's error
//!   fields (`fail()`, one level below the error); what the sandbox sees must equal `model` of
//!   them, or the `TypeError` refusing one nested too deep.
//! - `hostile`: a random program builds hostile values (proxies with throwing or lying traps,
//!   getters that mutate or throw, cycles, BigInt, symbols, functions, sparse and typed arrays,
//!   Map/Set, Date subclasses, millions of keys, nesting past the limit, strings near the length
//!   limit, toJSON/valueOf traps, revoked proxies, polluted prototypes) and returns, throws,
//!   logs or passes them to host functions, sometimes aborted or disposed midway. It must
//!   settle within its timeout plus a grace period, exactly once, with a value or an error with
//!   one of the documented codes (never "Uncaught undefined", an exception lost on the way,
//!   unless the program threw `undefined` itself), and the sandbox must stay usable and under
//!   its memory limit.
//!   Where a host function echoes its arguments back, the result must equal `model` of them.
//!
//! Rounds run in a child process, so a crash (abort, stack overflow) is caught too: the parent
//! saves the round the child was running and starts another child. Every finding is saved under
//! `target/fuzz-findings/values-*.txt` with its seed and round, and `--replay <seed> <round>`
//! runs that round again. The exit code is non-zero if anything was found.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::too_many_lines,
    clippy::float_cmp,
    reason = "a development tool: it reports on stdout, and its arithmetic is on small counts"
)]

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baml_sandbox::{
    drop_flat, map_key_segment, map_value_segment, push_path, set_item_segment, ConsoleLevel,
    ConsoleLine, Driver, ErrorValue, EvalOptions, Host, HostError, RegExp, Reply, Sandbox,
    SandboxError, SandboxHandle, SandboxOptions, ThreadPool, TypedArrayKind, Value, CAUSE_SEGMENT,
    MAX_DEPTH,
};

/// How long past its timeout an evaluation may take to settle (the machine may be busy).
const GRACE: Duration = Duration::from_secs(20);
/// A round that takes this long is a hang, whatever it was doing.
const ROUND_HANG: Duration = Duration::from_mins(3);
/// Resident memory of the child past which memory growth is reported.
const RSS_LIMIT: u64 = 6 << 30;

// ---------------------------------------------------------------------------------------------
// Randomness

struct Rng(u64);

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(splitmix(seed) | 1)
    }
    /// xorshift64*.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

// ---------------------------------------------------------------------------------------------
// Random values

const NUMBERS: &[f64] = &[
    0.0,
    -0.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MIN_POSITIVE,
    5e-324,
    -5e-324,
    f64::MAX,
    f64::MIN,
    9_007_199_254_740_992.0,
    9_007_199_254_740_994.0,
    -9_007_199_254_740_992.0,
    2_147_483_647.0,
    2_147_483_648.0,
    -2_147_483_648.0,
    -2_147_483_649.0,
    4_294_967_295.0,
    4_294_967_296.0,
    0.1,
    1e21,
    1e-7,
    1.5,
    -1.5,
    123_456_789.123,
];

fn gen_number(rng: &mut Rng) -> f64 {
    match rng.below(4) {
        0 => *rng.pick(NUMBERS),
        1 => rng.below(2001) as f64 - 1000.0,
        // Any bit pattern: NaNs with payloads, subnormals, huge and tiny values.
        2 => f64::from_bits(rng.next()),
        _ => (rng.next() as f64 / u64::MAX as f64 - 0.5) * 10f64.powi(rng.below(40) as i32 - 20),
    }
}

const DATES: &[f64] = &[
    0.0,
    -0.0,
    f64::NAN,
    8.64e15,
    8.640_000_000_000_001e15,
    -8.64e15,
    -8.640_000_000_000_001e15,
    1.5,
    -1.5,
    0.999,
    f64::INFINITY,
    f64::MAX,
    1_700_000_000_000.0,
];

fn gen_date(rng: &mut Rng) -> f64 {
    if rng.chance(2, 3) {
        *rng.pick(DATES)
    } else {
        gen_number(rng)
    }
}

const SPECIAL_CHARS: &[char] = &[
    '\0',
    '\u{1}',
    '\u{7f}',
    '\u{80}',
    '\u{ff}',
    '\u{100}',
    '\u{2028}',
    '\u{2029}',
    '\u{fdd0}',
    '\u{fefe}',
    '\u{feff}',
    '\u{fffd}',
    '\u{fffe}',
    '\u{ffff}',
    '\u{10000}',
    '\u{1f600}',
    '\u{e0001}',
    '\u{10ffff}',
    '\\',
    '"',
    '\'',
    '\n',
];

/// One character of the chosen class: 0 ASCII, 1 Latin-1, 2 BMP, 3 astral, 4 special, 5 any.
fn gen_char(rng: &mut Rng, class: usize) -> char {
    let class = if class == 5 { rng.below(5) } else { class };
    let code = match class {
        0 => rng.below(0x80) as u32,
        1 => 0x80 + rng.below(0x80) as u32,
        2 => {
            let c = rng.below(0x1_0000) as u32;
            if (0xD800..0xE000).contains(&c) {
                c + 0x800
            } else {
                c
            }
        }
        3 => 0x1_0000 + rng.below(0x10_0000) as u32,
        _ => return *rng.pick(SPECIAL_CHARS),
    };
    char::from_u32(code).unwrap_or('\u{fffd}')
}

/// A string of at most about `left` bytes (taken from `left`).
fn gen_string(rng: &mut Rng, left: &mut usize) -> String {
    let class = rng.below(6);
    let len = match rng.below(20) {
        0 => 0,
        1..=13 => 1 + rng.below(16),
        14..=17 => rng.below(1000),
        18 => rng.below(64 << 10),
        _ => rng.below(8 << 20),
    };
    let len = len.min(*left / 4);
    *left = left.saturating_sub(len * 4);
    if len > 4096 {
        // Long strings repeat a random chunk, so building them stays cheap.
        let chunk: String = (0..64).map(|_| gen_char(rng, class)).collect();
        return chunk.chars().cycle().take(len).collect();
    }
    (0..len).map(|_| gen_char(rng, class)).collect()
}

const KEYS: &[&str] = &[
    "__proto__",
    "constructor",
    "toJSON",
    "then",
    "prototype",
    "valueOf",
    "toString",
    "hasOwnProperty",
    "__defineGetter__",
    "length",
    "",
    "0",
    "1",
    "2",
    "10",
    "01",
    "-0",
    "-1",
    "1.5",
    "1e3",
    " 1",
    "2147483646",
    "2147483647",
    "2147483648",
    "4294967294",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "NaN",
    "Infinity",
    "undefined",
    "a",
    "b",
    "ключ",
    "\u{1f511}",
    "\0",
    "a.b",
    "[0]",
    "a\"b",
];

fn gen_key(rng: &mut Rng) -> String {
    if rng.chance(2, 3) {
        (*rng.pick(KEYS)).to_string()
    } else {
        let mut left = 64;
        gen_string(rng, &mut left)
    }
}

const CHAIN_DEPTHS: &[usize] = &[
    2, 100, 509, 510, 511, 512, 513, 514, 600, 1000, 5000, 20_000, 100_000,
];

/// A chain of `depth` nested containers around a random leaf.
fn gen_chain(rng: &mut Rng, depth: usize, left: &mut usize) -> Value {
    let mut v = gen_leaf(rng, left);
    let style = rng.below(4);
    for i in 0..depth {
        let s = if style == 3 { rng.below(3) } else { style };
        v = match s {
            0 => Value::Array(vec![v]),
            1 => Value::Object(vec![(gen_key(rng), v)]),
            _ => Value::Array(vec![Value::Number(i as f64), v]),
        };
    }
    *left = left.saturating_sub(depth * 64);
    v
}

fn gen_leaf(rng: &mut Rng, left: &mut usize) -> Value {
    *left = left.saturating_sub(32);
    match rng.below(9) {
        0 => Value::Undefined,
        1 => Value::Null,
        2 => Value::Bool(rng.chance(1, 2)),
        3 | 4 => Value::Number(gen_number(rng)),
        5 => Value::String(gen_string(rng, left)),
        6 => Value::Date(gen_date(rng)),
        7 => gen_bytes(rng, left),
        _ => gen_clone_leaf(rng, left),
    }
}

/// A random `ArrayBuffer` or typed array (any kind, any bytes: NaN payloads included).
fn gen_bytes(rng: &mut Rng, left: &mut usize) -> Value {
    let n = if rng.chance(1, 20) {
        rng.below(4096)
    } else {
        rng.below(16)
    };
    let bytes: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
    *left = left.saturating_sub(n);
    if rng.chance(1, 3) {
        return Value::ArrayBuffer(bytes);
    }
    let kind = *rng.pick(&TypedArrayKind::ALL);
    let mut bytes = bytes;
    bytes.truncate(bytes.len() / kind.element_size() * kind.element_size());
    Value::TypedArray { kind, bytes }
}

/// Regular expressions written the way `source` gives them back.
const REGEXPS: &[(&str, &str)] = &[
    ("(?:)", ""),
    ("a+b", "g"),
    ("\\d{2,}", "gi"),
    ("a\\/b", "dgimsy"),
    ("[\\u{1f511}-\\u{1f512}]", "u"),
    ("^\\p{L}+$", "v"),
    ("\\0", "y"),
];

const ERROR_NAMES: &[&str] = &[
    "Error",
    "TypeError",
    "RangeError",
    "SyntaxError",
    "URIError",
    "Custom",
    "",
    "__proto__",
];

/// A random `RegExp` or `Error` (with a leaf as its cause, sometimes).
fn gen_clone_leaf(rng: &mut Rng, left: &mut usize) -> Value {
    if rng.chance(1, 3) {
        let (source, flags) = *rng.pick(REGEXPS);
        return Value::RegExp(Box::new(RegExp {
            source: source.into(),
            flags: flags.into(),
        }));
    }
    let mut budget = 256;
    Value::Error(Box::new(ErrorValue {
        name: (*rng.pick(ERROR_NAMES)).to_string(),
        message: gen_string(rng, &mut budget),
        stack: rng.chance(1, 2).then(|| gen_string(rng, &mut budget)),
        cause: if rng.chance(1, 3) {
            Some(gen_leaf(rng, left))
        } else {
            None
        },
    }))
}

/// A random tree of about `left` bytes at most.
fn gen_value(rng: &mut Rng, level: usize, left: &mut usize) -> Value {
    if level >= 8 || *left < 512 || rng.chance(2, 5) {
        return gen_leaf(rng, left);
    }
    *left = left.saturating_sub(64);
    match rng.below(10) {
        0..=2 => {
            let n = if rng.chance(1, 30) {
                rng.below(20_000)
            } else {
                rng.below(8)
            };
            let mut items = Vec::new();
            for _ in 0..n {
                if *left < 64 {
                    break;
                }
                items.push(gen_value(rng, level + 1, left));
            }
            Value::Array(items)
        }
        3..=6 => {
            let n = if rng.chance(1, 30) {
                rng.below(5_000)
            } else {
                rng.below(8)
            };
            let mut props: Vec<(String, Value)> = Vec::new();
            for _ in 0..n {
                if *left < 64 {
                    break;
                }
                let key = if !props.is_empty() && rng.chance(1, 6) {
                    props[rng.below(props.len())].0.clone()
                } else if rng.chance(1, 10) {
                    format!("k{}", rng.below(100_000))
                } else {
                    gen_key(rng)
                };
                *left = left.saturating_sub(key.len() + 64);
                props.push((key, gen_value(rng, level + 1, left)));
            }
            Value::Object(props)
        }
        7 if rng.chance(1, 2) => {
            let n = rng.below(8);
            let mut entries = Vec::new();
            for _ in 0..n {
                if *left < 64 {
                    break;
                }
                let key = if rng.chance(1, 2) {
                    gen_leaf(rng, left)
                } else {
                    gen_value(rng, level + 1, left)
                };
                entries.push((key, gen_value(rng, level + 1, left)));
            }
            Value::Map(entries)
        }
        7 => {
            let n = rng.below(8);
            let mut items = Vec::new();
            for _ in 0..n {
                if *left < 64 {
                    break;
                }
                items.push(gen_value(rng, level + 1, left));
            }
            Value::Set(items)
        }
        _ => {
            let depth = *rng.pick(CHAIN_DEPTHS);
            // The deepest chains only where the budget allows (they cost memory in the sandbox).
            let depth = depth.min(*left / 128);
            gen_chain(rng, depth, left)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The model: what a copy in and back out must give

/// Canonical array index per the spec (and QuickJS's `JS_AtomIsArrayIndex`): no leading zeros,
/// below 2^32 - 1. Such keys enumerate first, ascending.
fn array_index(key: &str) -> Option<u32> {
    if key.is_empty() || key.len() > 10 || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if key.len() > 1 && key.starts_with('0') {
        return None;
    }
    let n: u64 = key.parse().ok()?;
    (n < u64::from(u32::MAX)).then_some(n as u32)
}

/// `TimeClip` as `JS_NewDate` applies it.
fn time_clip(ms: f64) -> f64 {
    if (-8.64e15..=8.64e15).contains(&ms) {
        ms.trunc() + 0.0
    } else {
        f64::NAN
    }
}

/// What `copy_out(copy_in(v))` gives for a tree within the depth limit.
fn model(v: &Value) -> Value {
    match v {
        // Integral numbers enter QuickJS as integers, so -0 comes back as 0.
        Value::Number(n) if *n == 0.0 => Value::Number(0.0),
        Value::Date(ms) => Value::Date(time_clip(*ms)),
        Value::Array(items) => Value::Array(items.iter().map(model).collect()),
        Value::Object(props) => {
            // A repeated key keeps its first position and its last value. (Indexed: a copy
            // can have a million keys, and a quadratic model hangs the round.)
            let mut out: Vec<(String, Value)> = Vec::new();
            let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
            for (k, v) in props {
                let v = model(v);
                if let Some(&i) = at.get(k.as_str()) {
                    out[i].1 = v;
                } else {
                    at.insert(k.as_str(), out.len());
                    out.push((k.clone(), v));
                }
            }
            let (mut index, rest): (Vec<_>, Vec<_>) =
                out.into_iter().partition(|(k, _)| array_index(k).is_some());
            index.sort_by_key(|(k, _)| array_index(k));
            index.extend(rest);
            Value::Object(index)
        }
        // A repeated key (SameValueZero: objects never repeat) keeps its first position and
        // its last value; a repeated item of a set is dropped.
        Value::Map(entries) => {
            let mut out: Vec<(Value, Value)> = Vec::new();
            for (k, v) in entries {
                let (k, v) = (model(k), model(v));
                match out.iter().position(|(seen, _)| same_key(seen, &k)) {
                    Some(i) => out[i].1 = v,
                    None => out.push((k, v)),
                }
            }
            Value::Map(out)
        }
        Value::Set(items) => {
            let mut out: Vec<Value> = Vec::new();
            for item in items {
                let item = model(item);
                if !out.iter().any(|seen| same_key(seen, &item)) {
                    out.push(item);
                }
            }
            Value::Set(out)
        }
        Value::Error(e) => Value::Error(Box::new(ErrorValue {
            name: e.name.clone(),
            message: e.message.clone(),
            stack: e.stack.clone(),
            cause: e.cause.as_ref().map(model),
        })),
        other => other.clone(),
    }
}

/// Whether two (modelled) keys are the same `Map` key: SameValueZero for primitives; objects,
/// dates and the other kinds are never equal to another one.
fn same_key(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Undefined, Value::Undefined) | (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        _ => false,
    }
}

/// The path of the first value (in copy order) nested too deep to be copied out, if any.
/// `v` is already in model form (keys deduplicated and in enumeration order).
fn too_deep(v: &Value, path: &str, depth: usize) -> Option<String> {
    match v {
        Value::Array(_)
        | Value::Object(_)
        | Value::Date(_)
        | Value::Map(_)
        | Value::Set(_)
        | Value::ArrayBuffer(_)
        | Value::TypedArray { .. }
        | Value::RegExp(_)
        | Value::Error(_)
            if depth >= MAX_DEPTH =>
        {
            Some(path.to_string())
        }
        Value::Map(entries) => entries.iter().enumerate().find_map(|(i, (k, item))| {
            too_deep(k, &format!("{path}{}", map_key_segment(i)), depth + 1)
                .or_else(|| too_deep(item, &format!("{path}{}", map_value_segment(i)), depth + 1))
        }),
        Value::Set(items) => items.iter().enumerate().find_map(|(i, item)| {
            too_deep(item, &format!("{path}{}", set_item_segment(i)), depth + 1)
        }),
        Value::Error(e) => e
            .cause
            .as_ref()
            .and_then(|c| too_deep(c, &format!("{path}{CAUSE_SEGMENT}"), depth + 1)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| too_deep(item, &format!("{path}[{i}]"), depth + 1)),
        Value::Object(props) => props
            .iter()
            .find_map(|(k, item)| too_deep(item, &push_path(path, k), depth + 1)),
        _ => None,
    }
}

fn same_number(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// The first difference between two trees, as `path: expected X, got Y`.
fn diff(want: &Value, got: &Value, path: &str) -> Option<String> {
    let short = |v: &Value| describe(v, 200);
    match (want, got) {
        (Value::Number(a), Value::Number(b)) | (Value::Date(a), Value::Date(b))
            if same_number(*a, *b) =>
        {
            None
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!(
                    "{path}: expected {} items, got {}",
                    a.len(),
                    b.len()
                ));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| diff(x, y, &format!("{path}[{i}]")))
        }
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
            let kb: Vec<&str> = b.iter().map(|(k, _)| k.as_str()).collect();
            if ka != kb {
                let show = |ks: &[&str]| {
                    let mut s = format!("{:?}", &ks[..ks.len().min(20)]);
                    if ks.len() > 20 {
                        let _ = write!(s, " and {} more", ks.len() - 20);
                    }
                    s
                };
                return Some(format!(
                    "{path}: expected keys {}, got {}",
                    show(&ka),
                    show(&kb)
                ));
            }
            a.iter()
                .zip(b)
                .find_map(|((k, x), (_, y))| diff(x, y, &push_path(path, k)))
        }
        (Value::Map(a), Value::Map(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, ((ka, va), (kb, vb)))| {
                diff(ka, kb, &format!("{path}{}", map_key_segment(i)))
                    .or_else(|| diff(va, vb, &format!("{path}{}", map_value_segment(i))))
            }),
        (Value::Set(a), Value::Set(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| diff(x, y, &format!("{path}{}", set_item_segment(i)))),
        (Value::Error(a), Value::Error(b))
            if a.name == b.name && a.message == b.message && a.stack == b.stack =>
        {
            match (&a.cause, &b.cause) {
                (Some(x), Some(y)) => diff(x, y, &format!("{path}{CAUSE_SEGMENT}")),
                (None, None) => None,
                _ => Some(format!("{path}: a cause on one side only")),
            }
        }
        _ if want == got => None,
        _ => Some(format!(
            "{path}: expected {}, got {}",
            short(want),
            short(got)
        )),
    }
}

/// A readable, bounded rendering of a value for findings.
fn describe(v: &Value, cap: usize) -> String {
    fn rec(v: &Value, out: &mut String, cap: usize) {
        if out.len() >= cap {
            return;
        }
        match v {
            Value::Undefined => out.push_str("undefined"),
            Value::Null => out.push_str("null"),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Number(n) => {
                let _ = write!(out, "{n:?}");
            }
            Value::Date(ms) => {
                let _ = write!(out, "Date({ms:?})");
            }
            Value::String(s) if s.len() > 200 => {
                let head: String = s.chars().take(40).collect();
                let _ = write!(out, "<string of {} bytes: {head:?}...>", s.len());
            }
            Value::String(s) => {
                let _ = write!(out, "{s:?}");
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if out.len() >= cap {
                        let _ = write!(out, "...{} items", items.len());
                        break;
                    }
                    if i > 0 {
                        out.push_str(", ");
                    }
                    rec(item, out, cap);
                }
                out.push(']');
            }
            Value::Object(props) => {
                out.push('{');
                for (i, (k, item)) in props.iter().enumerate() {
                    if out.len() >= cap {
                        let _ = write!(out, "...{} keys", props.len());
                        break;
                    }
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{k:?}: ");
                    rec(item, out, cap);
                }
                out.push('}');
            }
            other => {
                let text: String = format!("{other:?}").chars().take(cap).collect();
                out.push_str(&text);
            }
        }
    }
    let mut out = String::new();
    rec(v, &mut out, cap);
    if out.len() > cap {
        let mut end = cap;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("...");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The host

struct FuzzHost {
    /// `give()` results, in order.
    give: Mutex<VecDeque<Value>>,
    /// `fail()` errors, in order.
    fail: Mutex<VecDeque<HostError>>,
    /// Arguments `echo()` was called with.
    echoed: Mutex<Vec<Vec<Value>>>,
    pool: Option<Arc<ThreadPool>>,
    console_bytes: AtomicUsize,
}

const HOST_FUNCTIONS: &[&str] = &["echo", "give", "fail", "later"];

impl Drop for FuzzHost {
    /// The sandbox holds the host too, and may be the last to let go of it on any of its
    /// threads (8 MiB stacks): values queued and never asked for (a `give()` result in a round
    /// that only calls `fail()`) may nest 100,000 deep, too deep for the derived drop there.
    /// This is the host's own data, so its own job (as it would be an embedder's).
    fn drop(&mut self) {
        let give = self
            .give
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        give.drain(..).for_each(drop_flat);
        let fail = self
            .fail
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        fail.drain(..)
            .for_each(|e| drop_flat(Value::Object(e.fields)));
    }
}

impl Host for FuzzHost {
    fn call(&self, index: usize, args: Vec<Value>, reply: Reply) {
        match HOST_FUNCTIONS[index] {
            "echo" => {
                self.echoed.lock().unwrap().push(args.clone());
                reply(Ok(Value::Array(args)));
            }
            "give" => {
                let v = self.give.lock().unwrap().pop_front();
                reply(Ok(v.unwrap_or(Value::Undefined)));
            }
            "fail" => {
                let e = self.fail.lock().unwrap().pop_front();
                reply(Err(e.unwrap_or_else(|| HostError::from("no error queued"))));
            }
            _ => match &self.pool {
                Some(p) => {
                    p.add_timer(
                        std::time::Instant::now() + Duration::from_millis(1),
                        Box::new(move || reply(Ok(Value::Array(args)))),
                    );
                }
                None => reply(Ok(Value::Array(args))),
            },
        }
    }
    fn console(&self, _level: ConsoleLevel, line: ConsoleLine) {
        self.console_bytes.fetch_add(line.len(), Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile programs

fn pick_str<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

const LEAVES: &[&str] = &[
    "undefined",
    "null",
    "true",
    "0",
    "-0",
    "NaN",
    "Infinity",
    "-Infinity",
    "5e-324",
    "1.7976931348623157e308",
    "2 ** 53 + 2",
    "0.1 + 0.2",
    "'plain'",
    "''",
    "'\\0'",
    "'\\ud800'",
    "'\\udfff'",
    "'a\\ud800b'",
    "'\\ud83d\\ude00'",
    "'\\u{10ffff}'",
    "'\\u2028'",
    "'é'",
    "String.fromCharCode(0xdc00, 0x41)",
    "10n",
    "-(2n ** 100n)",
    "Object(1n)",
    "Symbol('s')",
    "Symbol.iterator",
    "() => 1",
    "class A {}",
    "async function () {}",
    "function* () {}",
    "new Map([[1, 2]])",
    "new Set([1])",
    "new WeakMap()",
    "new Uint8Array(16)",
    "new Float64Array([NaN, -0, Infinity])",
    "new ArrayBuffer(8)",
    "new DataView(new ArrayBuffer(8))",
    "new Date(0)",
    "new Date(NaN)",
    "new Date(8.64e15)",
    "new Date(-0)",
    "new Error('e')",
    "new TypeError('t')",
    "/re/g",
    "globalThis",
    "Math",
    "JSON",
    "Object.prototype",
    "Array.prototype",
    "Date.prototype",
    "Function.prototype",
    "echo",
    "[1, 2].values()",
    "(function () { return arguments })(1, 'a')",
    "new String('abc')",
    "new Number(-0)",
    "Object.create(null)",
    "Promise.resolve(1)",
    "new Proxy({}, {})",
    "new Proxy([1, 2], {})",
    "new Proxy(new Date(0), {})",
    // Structured-clone kinds made hostile: replaced forEach, detached and shrunk buffers,
    // lying getters, causes that cycle.
    "(() => { const m = new Map([[1, 2]]); m.forEach = function (cb) { for (;;) cb(this, this) }; return m })()",
    "(() => { const s = new Set([1]); s.forEach = function (cb) { globalThis.keptCb = cb; cb(s) }; return s })()",
    "(() => { const m = new Map(); m.forEach = function (cb) { for (let i = 0; i < 1e5; i++) try { cb(i, {i}) } catch {} }; return m })()",
    "(() => { const m = new Map([[1, 2]]); m.forEach = () => { throw new Error('no') }; return m })()",
    "(() => { const m = new Map([[1, 2]]); m.forEach = 1; return m })()",
    "(() => { const b = new ArrayBuffer(8); b.transfer(); return b })()",
    "(() => { const b = new ArrayBuffer(8); const v = new Int16Array(b); b.transfer(); return v })()",
    "(() => { const b = new ArrayBuffer(8, { maxByteLength: 64 }); const v = new Uint8Array(b, 4); b.resize(2); return v })()",
    "(() => { const b = new ArrayBuffer(8, { maxByteLength: 64 }); const v = new Float32Array(b); b.resize(64); return v })()",
    "(() => { const v = new Uint8Array(4); Object.defineProperty(v, 'byteLength', { get() { v.buffer.transfer(); return 4 } }); return v })()",
    "(() => { const d = new DataView(new ArrayBuffer(4)); Object.defineProperty(d, 'byteOffset', { get() { return 2 ** 40 } }); return d })()",
    "(() => { const e = new Error('x'); e.cause = e; return e })()",
    "(() => { const e = new RangeError('x', { cause: new Map([[1, new Set([2])]]) }); Object.defineProperty(e, 'message', { get() { throw new Error('m') } }); return e })()",
    "new Float16Array([1.5, NaN])",
    "new BigUint64Array([2n ** 64n - 1n])",
    "new WeakSet()",
    "new WeakRef({})",
    "new FinalizationRegistry(() => {})",
    "new Boolean(false)",
    "Object(Symbol('b'))",
];

const LENGTHS: &[&str] = &["3", "1000", "1e6", "2 ** 24", "2 ** 31 - 1", "2 ** 32 - 1"];

const FAKE_LENGTHS: &[&str] = &[
    "2 ** 32 - 1",
    "-1",
    "NaN",
    "'7'",
    "1e300",
    "Infinity",
    "3.5",
    "{ valueOf() { throw new Error('len') } }",
    "10n",
    "2",
];

const NEST: &[&str] = &[
    "1", "100", "510", "511", "512", "513", "1000", "100000", "1000000",
];

const COUNTS: &[&str] = &["10", "1000", "100000", "1000000", "3000000"];

const STRING_LENGTHS: &[&str] = &[
    "0",
    "10",
    "1e6",
    "2 ** 24",
    "2 ** 27",
    "2 ** 30 - 1",
    "2 ** 30",
    "2 ** 31",
];

/// A statement list for a function body that misbehaves (or returns something).
fn trap(rng: &mut Rng, d: u32) -> String {
    match rng.below(16) {
        0 => "throw new Error('trap')".into(),
        1 => "throw 7".into(),
        2 => "throw null".into(),
        3 => "throw { x: 1 }".into(),
        4 => "for (;;) {}".into(),
        5 | 6 => format!("return {}", expr(rng, d + 1)),
        7 => "return 1".into(),
        8 => "{ const x = []; for (;;) x.push([1, 2, 3]) }".into(),
        9 => "{ const f = (n) => f(n + 1) + 1; return f(0) }".into(),
        10 => "return new Promise(() => {})".into(),
        11 => "delete this.b; this.z = { y: 1 }; for (let i = 0; i < 100; i++) this['n' + i] = i; return 2"
            .into(),
        12 => "return this".into(),
        13 => format!(
            "throw Object.assign(new Error('baml'), {{ code: 'BAML_TRAP', raw_output: {}, status_code: {} }})",
            expr(rng, d + 1),
            expr(rng, d + 1)
        ),
        14 => "globalThis.__n = (globalThis.__n || 0) + 1; if (globalThis.__n > 3) throw new Error('n'); return __n"
            .into(),
        _ => "return '\\ud800'".into(),
    }
}

fn proxy(rng: &mut Rng, d: u32) -> String {
    let target = pick_str(
        rng,
        &[
            "{}",
            "[]",
            "[1, 2, 3]",
            "{ a: 1, b: 2 }",
            "new Date(0)",
            "function () {}",
            "Object.create(null)",
            "new Error('t')",
        ],
    );
    if rng.chance(1, 3) {
        // Lies about every key, with one misbehaving trap.
        return format!(
            "new Proxy({target}, {{ ownKeys: () => ['a', 'b', 'length'], getOwnPropertyDescriptor: () => ({{ value: 1, enumerable: true, configurable: true }}), get(t, k, r) {{ {} }} }})",
            trap(rng, d)
        );
    }
    let mut traps = Vec::new();
    for _ in 0..=rng.below(3) {
        traps.push(match rng.below(12) {
            0 => format!(
                "ownKeys() {{ return {} }}",
                pick_str(
                    rng,
                    &[
                        "['a', 'a']",
                        "['a', 'b']",
                        "Array.from({ length: 100000 }, (_, i) => 'k' + i)",
                        "[Symbol(), 'a']",
                        "['length', '0']",
                        "5",
                        "['__proto__']",
                    ]
                )
            ),
            1 => format!("ownKeys() {{ {} }}", trap(rng, d)),
            2 => format!(
                "getOwnPropertyDescriptor(t, k) {{ return {{ value: {}, enumerable: true, configurable: true }} }}",
                expr(rng, d + 1)
            ),
            3 => format!("getOwnPropertyDescriptor(t, k) {{ {} }}", trap(rng, d)),
            4 | 5 => format!("get(t, k, r) {{ {} }}", trap(rng, d)),
            6 => format!(
                "get(t, k, r) {{ return k === 'length' ? {} : {} }}",
                pick_str(rng, FAKE_LENGTHS),
                expr(rng, d + 1)
            ),
            7 => "get(t, k, r) { return r }".into(),
            8 => "get(t, k) { return new Proxy({}, this) }, ownKeys: () => ['a'], getOwnPropertyDescriptor: () => ({ value: 1, enumerable: true, configurable: true })".into(),
            9 => format!("getPrototypeOf() {{ {} }}", trap(rng, d)),
            10 => format!("has() {{ {} }}", trap(rng, d)),
            _ => "getOwnPropertyDescriptor: () => ({ get() { throw new Error('desc') }, enumerable: true, configurable: true })".into(),
        });
    }
    format!("new Proxy({target}, {{ {} }})", traps.join(", "))
}

/// A JavaScript expression producing a (possibly) hostile value.
fn expr(rng: &mut Rng, d: u32) -> String {
    if d >= 3 || rng.chance(1, 3) {
        return pick_str(rng, LEAVES).to_string();
    }
    let d1 = d + 1;
    match rng.below(26) {
        0 => format!("[{}, {}]", expr(rng, d1), expr(rng, d1)),
        1 => format!(
            "({{ {}: {}, [{:?}]: {}, __proto__: {} }})",
            pick_str(rng, &["a", "then", "toJSON", "constructor", "0", "'4294967295'", "''"]),
            expr(rng, d1),
            pick_str(rng, &["__proto__", "x", "1"]),
            expr(rng, d1),
            pick_str(rng, &["null", "{ inherited: 1 }", "[]", "Date.prototype"])
        ),
        2 | 3 => proxy(rng, d),
        4 => format!(
            "({{ get a() {{ {} }}, b: {}, c: 3 }})",
            trap(rng, d),
            expr(rng, d1)
        ),
        5 => format!(
            "(() => {{ let d = {}; for (let i = 0; i < {}; i++) d = {}; return d }})()",
            expr(rng, d1),
            pick_str(rng, NEST),
            pick_str(
                rng,
                &["[d]", "{ a: d }", "[1, d]", "{ [i]: d }", "new Proxy([d], {})", "{ get a() { return d } }"]
            )
        ),
        6 => format!(
            "(() => {{ const a = [{}]; a.length = {}; return a }})()",
            expr(rng, d1),
            pick_str(rng, LENGTHS)
        ),
        7 => format!(
            "(() => {{ const a = []; a[{}] = {}; return a }})()",
            pick_str(rng, &["1", "1e5", "2 ** 24", "2 ** 32 - 2"]),
            expr(rng, d1)
        ),
        8 => pick_str(
            rng,
            &[
                "(() => { const o = { a: 1 }; o.self = o; return o })()",
                "(() => { const a = [1]; a.push(a); return a })()",
                "(() => { const o = {}; o.x = { y: [o] }; return o })()",
                "(() => { const o = {}; const p = new Proxy(o, {}); o.p = p; return p })()",
                "(() => { const o = {}; Object.defineProperty(o, 'a', { enumerable: true, get() { return o } }); return o })()",
            ],
        )
        .to_string(),
        9 => format!(
            "(() => {{ const o = {{}}; for (let i = 0; i < {}; i++) o[{}] = {}; return o }})()",
            pick_str(rng, COUNTS),
            pick_str(rng, &["'k' + i", "i", "String(-i)", "'\\u{1F600}' + i", "i * 7919 % 100003"]),
            pick_str(rng, &["i", "null", "[i]", "'v'", "-0"])
        ),
        10 => format!(
            "(() => {{ let x = {}; for (let i = 0; i < {}; i++) x = [x, x]; return x }})()",
            expr(rng, d1),
            pick_str(rng, &["5", "10", "20", "30", "60"])
        ),
        11 => format!(
            "new (class extends Date {{ getTime() {{ {} }} }})({})",
            trap(rng, d),
            pick_str(rng, &["0", "NaN", "8.64e15", "-1"])
        ),
        12 => format!(
            "Object.defineProperty(new Date(0), 'getTime', {{ {} }})",
            pick_str(
                rng,
                &[
                    "value: () => 'x'",
                    "value: 5",
                    "get() { throw new Error('g') }",
                    "value: () => 10n",
                    "value: function () { return this }",
                    "value: () => { for (;;) {} }",
                ]
            )
        ),
        13 => pick_str(
            rng,
            &[
                "Object.setPrototypeOf(new Date(0), null)",
                "Object.setPrototypeOf([1, 2], Date.prototype)",
                "Object.setPrototypeOf(new Date(0), Array.prototype)",
                "Object.setPrototypeOf({ a: 1 }, new Proxy({}, { get() { throw new Error('proto') } }))",
                "(() => { const { proxy, revoke } = Proxy.revocable({ a: 1 }, {}); revoke(); return proxy })()",
                "(() => { const { proxy, revoke } = Proxy.revocable([1], {}); revoke(); return [proxy] })()",
                "(() => { const { proxy, revoke } = Proxy.revocable(new Date(0), {}); revoke(); return { d: proxy } })()",
                "(() => { const r = Proxy.revocable({}, { ownKeys() { r.revoke(); return ['a'] }, getOwnPropertyDescriptor: () => ({ value: 1, enumerable: true, configurable: true }) }); return r.proxy })()",
            ],
        )
        .to_string(),
        14 => match rng.below(6) {
            0 => format!("Object.defineProperty({{ v: 1 }}, 'hidden', {{ value: {}, enumerable: false }})", expr(rng, d1)),
            1 => format!("({{ [Symbol('k')]: {}, k: 1 }})", expr(rng, d1)),
            2 => format!("Object.assign(Object.create(null), {{ a: {} }})", expr(rng, d1)),
            3 => format!("Object.freeze([{}])", expr(rng, d1)),
            4 => format!("new (class {{ #x = 1; y = {}; static z = 2 }})()", expr(rng, d1)),
            _ => format!("Object.seal({{ s: {} }})", expr(rng, d1)),
        },
        15 => format!(
            "new {}({})",
            pick_str(rng, &["Uint8Array", "Int32Array", "Float64Array", "BigInt64Array", "Uint8ClampedArray"]),
            pick_str(rng, &["0", "1000", "1e6", "1e7", "2 ** 31"])
        ),
        16 => format!(
            "({{ toJSON() {{ {} }}, valueOf() {{ {} }}, toString() {{ {} }}, [Symbol.toPrimitive]() {{ {} }}, x: {} }})",
            trap(rng, d),
            trap(rng, d),
            trap(rng, d),
            trap(rng, d),
            expr(rng, d1)
        ),
        17 => match rng.below(5) {
            0 => format!("Promise.resolve({})", expr(rng, d1)),
            1 => "new Promise(() => {})".into(),
            2 => format!("({{ then(r) {{ r({}) }} }})", expr(rng, d1)),
            3 => format!("({{ then() {{ {} }} }})", trap(rng, d)),
            _ => format!("[Promise.reject({})]", expr(rng, d1)),
        },
        18 => format!(
            "Object.assign(new Error('m'), {{ code: 'BAML_X', raw_output: {}, prompt: {} }})",
            expr(rng, d1),
            expr(rng, d1)
        ),
        19 => format!(
            "{}.repeat({})",
            pick_str(rng, &["'x'", "'é'", "'\\u{1F600}'", "'\\ud800'", "'ab\\udc00'"]),
            pick_str(rng, STRING_LENGTHS)
        ),
        20 => format!("[() => 1, Symbol(), {}, class {{}}, 10n]", expr(rng, d1)),
        21 => format!(
            "new Array({}).fill({})",
            pick_str(rng, &["10", "1000", "100000", "1e6"]),
            expr(rng, d1)
        ),
        22 => pick_str(
            rng,
            &[
                "(() => { const o = { a: 1, b: 2 }; Object.defineProperty(o, 'a', { enumerable: true, get() { delete o.b; o.c = { d: 1 }; for (let i = 0; i < 100; i++) o['n' + i] = i; return 1 } }); return o })()",
                "(() => { const a = [1, 2, 3]; Object.defineProperty(a, 0, { enumerable: true, get() { a.length = 0; return 1 } }); return a })()",
                "(() => { const a = [1, 2, 3]; Object.defineProperty(a, 0, { enumerable: true, get() { a.length = 2 ** 32 - 1; return 1 } }); return a })()",
                "(() => { const a = [1, 2, 3]; Object.defineProperty(a, 1, { enumerable: true, get() { for (let i = 0; i < 1e5; i++) a.push([i]); return 2 } }); return a })()",
                "(() => { let n = 0; const mk = () => ({ get a() { return ++n < 1e6 ? mk() : 0 } }); return mk() })()",
                "(() => { const o = {}; let d = o; Object.defineProperty(o, 'x', { enumerable: true, get() { d = d.y = {}; return 1 } }); o.y = {}; return o })()",
                "(() => { const a = []; a[5] = 1; Object.defineProperty(Array.prototype, 2, { get() { throw new Error('hole') }, configurable: true }); return a })()",
            ],
        )
        .to_string(),
        23 => format!("new Proxy({}, {{}})", expr(rng, d1)),
        24 => format!(
            "(() => {{ const o = {{}}; o.__proto__ = {}; o['__proto__'] = 1; Object.defineProperty(o, '__proto__', {{ value: {}, enumerable: true }}); return o }})()",
            expr(rng, d1),
            expr(rng, d1)
        ),
        _ => format!(
            "Object.defineProperty({{}}, 'e', {{ enumerable: true, get: () => {} }})",
            expr(rng, d1)
        ),
    }
}

/// Statements that change the realm for good (so no follow-up check is fair).
fn pollution(rng: &mut Rng) -> String {
    let t = trap(rng, 2);
    match rng.below(9) {
        0 => format!("Object.defineProperty(Object.prototype, 'then', {{ get() {{ {t} }}, configurable: true }});"),
        1 => format!("Object.defineProperty(Array.prototype, 0, {{ get() {{ {t} }}, configurable: true }});"),
        2 => format!("Date.prototype.getTime = function () {{ {t} }};"),
        3 => format!("Object.defineProperty(Error.prototype, 'name', {{ get() {{ {t} }}, configurable: true }});"),
        4 => format!("Object.defineProperty(Error.prototype, 'message', {{ get() {{ {t} }}, configurable: true }});"),
        5 => format!("Promise.prototype.then = function () {{ {t} }};"),
        6 => format!("Object.defineProperty(Object.prototype, 'value', {{ get() {{ {t} }}, configurable: true }});"),
        7 => format!("Object.defineProperty(Object.prototype, 'length', {{ get() {{ {t} }}, configurable: true }});"),
        _ => format!("globalThis.echo = function () {{ {t} }};"),
    }
}

struct Program {
    code: String,
    /// The realm was changed for good (prototypes, globals).
    pollutes: bool,
    /// The result is `echo`'s reply: it must equal the model of the arguments echo received.
    echo_oracle: bool,
    /// The program throws (or rejects with) `undefined` itself, so "Uncaught undefined" is
    /// its error and not a lost exception.
    throws_undefined: bool,
}

fn program(rng: &mut Rng) -> Program {
    let mut code = String::new();
    let mut pollutes = false;
    if rng.chance(1, 8) {
        code.push_str(&pollution(rng));
        code.push(' ');
        pollutes = true;
    }
    let e = expr(rng, 0);
    let mut echo_oracle = false;
    let kind = rng.below(14);
    // No other expression evaluates to `undefined` or throws it (traps throw errors, numbers,
    // null and objects), so only these two programs may end with "Uncaught undefined".
    let throws_undefined = e == "undefined" && matches!(kind, 4 | 5);
    let body = match kind {
        0..=2 => e,
        3 => format!("await ({e})"),
        4 => format!("throw ({e})"),
        5 => format!("Promise.reject({e})"),
        6 | 7 => {
            echo_oracle = true;
            format!("await echo({e})")
        }
        8 => format!("try {{ await echo({e}) }} catch (err) {{ err }}"),
        9 => format!(
            "console.log({e}); console.log('%j %o %s %d %i %f %c %O %%', {}, {}, {}, {}); 1",
            expr(rng, 1),
            expr(rng, 1),
            expr(rng, 1),
            expr(rng, 1)
        ),
        10 => format!("await new Promise((r) => setTimeout(() => r({e}), 1))"),
        11 => format!("await b.Fn({e})"),
        12 => format!("const v = ({e}); await later(v, [v])"),
        _ => format!("[{e}, await give()]"),
    };
    code.push_str(&body);
    Program {
        code,
        pollutes,
        echo_oracle,
        throws_undefined,
    }
}

// ---------------------------------------------------------------------------------------------
// Running rounds

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

struct Ctx {
    rt: Arc<ThreadPool>,
}

/// One round's outcome.
struct Round {
    kind: &'static str,
    input: String,
    problems: Vec<String>,
}

type Rx = mpsc::Receiver<Result<Value, SandboxError>>;

fn start(sandbox: &Sandbox, code: &str, timeout: Duration) -> (Rx, u64) {
    let (tx, rx) = mpsc::channel();
    let id = sandbox.evaluate(
        code.to_string(),
        EvalOptions {
            timeout: Some(timeout),
            filename: None,
            on_start: None,
        },
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    (rx, id)
}

/// Waits (bounded) for an evaluation; reports a hang or a second settlement.
fn wait(
    rx: &Rx,
    timeout: Duration,
    problems: &mut Vec<String>,
) -> Option<Result<Value, SandboxError>> {
    if let Ok(r) = rx.recv_timeout(timeout + GRACE) {
        if rx.try_recv().is_ok() {
            problems.push("the done callback was called twice".into());
        }
        Some(r)
    } else {
        problems.push(format!(
            "HANG: not settled within {:?} (timeout {timeout:?})",
            timeout + GRACE
        ));
        None
    }
}

/// Whether an error is one the contract allows here.
fn check_error(
    e: &SandboxError,
    timeout: Duration,
    limit: usize,
    stopped: bool,
    throws_undefined: bool,
    problems: &mut Vec<String>,
) {
    match e {
        SandboxError::Js { name, message, .. } => {
            if message.contains("internal error in the sandbox") {
                let panic = LAST_PANIC.lock().unwrap().take();
                problems.push(format!("PANIC inside a turn: {message} ({panic:?})"));
            } else if name.is_none() && message == "Uncaught undefined" && !throws_undefined {
                // The program did not throw `undefined`: an exception was lost on the way.
                problems.push("an error without its exception (\"Uncaught undefined\")".into());
            }
        }
        SandboxError::Timeout { timeout_ms } => {
            if u128::from(*timeout_ms) != timeout.as_millis() {
                problems.push(format!(
                    "timeout_ms {timeout_ms} for a timeout of {timeout:?}"
                ));
            }
        }
        SandboxError::Memory { limit_bytes } => {
            if *limit_bytes != limit as u64 {
                problems.push(format!("limit_bytes {limit_bytes} for a limit of {limit}"));
            }
        }
        SandboxError::Stack | SandboxError::Result { .. } => {}
        SandboxError::Aborted | SandboxError::Disposed if stopped => {}
        other => problems.push(format!("unexpected error {} ({other})", other.code())),
    }
}

/// Creates a sandbox on a thread with an 8 MiB stack (as the addon's callers have), so a copy
/// that recurses too deep fails here as it would there; the options come back to be dropped
/// on the caller's larger stack.
fn new_sandbox(
    options: SandboxOptions,
    host: Arc<FuzzHost>,
    rt: &Arc<ThreadPool>,
) -> (Result<Sandbox, SandboxError>, SandboxOptions) {
    let rt = rt.clone();
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || {
            let r = Sandbox::new(&options, host, rt.clone());
            (r, options)
        })
        .unwrap()
        .join()
        .unwrap_or_else(|_| {
            let panic = LAST_PANIC.lock().unwrap().take();
            panic!("Sandbox::new panicked: {panic:?}")
        })
}

fn host_for(ctx: &Ctx) -> Arc<FuzzHost> {
    Arc::new(FuzzHost {
        give: Mutex::default(),
        fail: Mutex::default(),
        echoed: Mutex::default(),
        pool: Some(ctx.rt.clone()),
        console_bytes: AtomicUsize::new(0),
    })
}

fn options(rng: &mut Rng, limit: usize) -> SandboxOptions {
    SandboxOptions {
        memory_limit_bytes: limit,
        timeout: Duration::from_secs(5),
        max_stack_bytes: *rng.pick(&[256 << 10, 512 << 10, 4 << 20]),
        host_functions: HOST_FUNCTIONS.iter().map(|s| (*s).to_string()).collect(),
        console: rng.chance(1, 2),
        baml_functions: if rng.chance(1, 2) {
            vec!["Fn".into()]
        } else {
            Vec::new()
        },
        ..SandboxOptions::default()
    }
}

/// What a copy must give: the model of a value, or a `TypeError` with exactly this message.
enum Want {
    Value(Value),
    TypeError(String),
}

/// What sandboxed code sees of `v` coming in from the host as `root` (a result, or an error
/// field one level down): the model, or the refusal naming the first value (in the host's
/// order) nested deeper than `MAX_DEPTH`. A tree that fits on the way in also fits on the way
/// out (the same limit, counted the same way), so nothing that enters is refused as a result.
fn from_host(v: &Value, root: &str, depth: usize) -> Want {
    match too_deep(v, root, depth) {
        Some(path) => Want::TypeError(format!(
            "{path} cannot be copied into the sandbox: nested deeper than {MAX_DEPTH} levels"
        )),
        None => Want::Value(model(v)),
    }
}

fn check_copy(
    what: &str,
    want: &Want,
    got: &Result<Value, SandboxError>,
    problems: &mut Vec<String>,
) {
    match (want, got) {
        (Want::Value(w), Ok(g)) => {
            if let Some(d) = diff(w, g, "result") {
                problems.push(format!("{what}: round trip differs at {d}"));
            }
        }
        (Want::TypeError(w), Err(SandboxError::Js { name, message, .. }))
            if name.as_deref() == Some("TypeError")
                && message.strip_prefix("TypeError: ") == Some(w) => {}
        // Running out of memory on the way in is allowed, whatever the shape.
        (_, Err(SandboxError::Memory { .. })) => {}
        (Want::TypeError(w), Ok(g)) => problems.push(format!(
            "{what}: expected the TypeError {}, got a value: {}",
            describe(&Value::String(w.clone()), 300),
            describe(g, 300)
        )),
        (Want::TypeError(w), Err(e)) => problems.push(format!(
            "{what}: expected the TypeError {}, got {} {}",
            describe(&Value::String(w.clone()), 300),
            e.code(),
            describe(&Value::String(e.to_string()), 300)
        )),
        (Want::Value(_), Err(e)) => problems.push(format!(
            "{what}: unexpected error {}: {}",
            e.code(),
            describe(&Value::String(e.to_string()), 300)
        )),
    }
}

/// `depth` arrays around `v`.
fn wrap(mut v: Value, depth: usize) -> Value {
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

/// (a) A tree in as a global, back out as the result and through `echo`.
fn roundtrip(rng: &mut Rng, ctx: &Ctx, note: &mut dyn FnMut(&str, &str)) -> Round {
    let limit = *rng.pick(&[4 << 20, 16 << 20, 64 << 20]);
    let mut left = limit / 8;
    let v = if rng.chance(1, 6) {
        let depth = *rng.pick(CHAIN_DEPTHS);
        gen_chain(rng, depth, &mut left)
    } else {
        gen_value(rng, 0, &mut left)
    };
    let mut globals = vec![("g".to_string(), v)];
    for _ in 0..rng.below(3) {
        let key = pick_str(
            rng,
            &[
                "__proto__",
                "constructor",
                "undefined",
                "NaN",
                "globalThis",
                "console",
                "echo",
                "setTimeout",
                "b",
                "Object",
                "Promise",
                "Date",
                "Array",
                "then",
                "",
                "0",
                "g",
                "WeakRef",
                "Atomics",
                "Uint8Array",
            ],
        )
        .to_string();
        let mut small = 4096;
        globals.push((key, gen_value(rng, 4, &mut small)));
    }
    let g = globals
        .iter()
        .rev()
        .find(|(k, _)| k == "g")
        .map_or(Value::Undefined, |(_, v)| v.clone());
    let shadows_global = globals.iter().any(|(k, _)| k == "globalThis");
    let read = if shadows_global { "g" } else { "globalThis.g" };
    let how = rng.below(3);
    // Host arguments go out inside a few more arrays, so that a tree that fits as a global
    // may not fit as an argument (or as the host's reply, one level deeper still).
    let wrapped = rng.below(4);
    let arg = format!("{}{read}{}", "[".repeat(wrapped), "]".repeat(wrapped));
    let code = match how {
        0 => read.to_string(),
        1 => format!("await echo({arg})"),
        _ => format!("await later({arg}, 1)"),
    };
    let timeout = Duration::from_secs(10);
    let mut input = format!("memory limit {limit}\ncode: {code}\nglobals:\n");
    for (k, v) in &globals {
        let _ = writeln!(input, "  {k:?}: {}", describe(v, 8 << 10));
    }
    note("roundtrip", &input);
    let mut problems = Vec::new();
    let host = host_for(ctx);
    let mut opts = options(rng, limit);
    let globals_keys: Vec<String> = globals.iter().map(|(k, _)| k.clone()).collect();
    opts.globals = globals;
    // A global nested too deep is refused up front, as the napi layer refuses one from Node:
    // the first such value, in the order the globals and their keys were given.
    let refused = opts.globals.iter().find_map(|(k, v)| {
        too_deep(v, &push_path("globals", k), 0).map(|path| {
            format!(
                "{path} cannot be copied into the sandbox: nested deeper than {MAX_DEPTH} levels"
            )
        })
    });
    let (sandbox, opts) = new_sandbox(opts, host.clone(), &ctx.rt);
    drop(opts);
    let sandbox = match (sandbox, refused) {
        (Err(SandboxError::InvalidOption { message, .. }), Some(want)) if message == want => {
            return Round {
                kind: "roundtrip",
                input,
                problems,
            };
        }
        (r, Some(want)) => {
            problems.push(format!(
                "expected Sandbox::new to refuse {}, got {}",
                describe(&Value::String(want), 300),
                match r {
                    Ok(_) => "a sandbox".to_string(),
                    Err(e) => describe(&Value::String(e.to_string()), 300),
                }
            ));
            return Round {
                kind: "roundtrip",
                input,
                problems,
            };
        }
        (Ok(s), None) => s,
        (Err(SandboxError::Setup(message)), None)
            if message.contains("out of memory")
                || ["undefined", "NaN", "Infinity"]
                    .iter()
                    .any(|k| globals_keys.iter().any(|g| g == k)) =>
        {
            // A global the realm cannot take (`undefined` is read-only), or memory ran out.
            return Round {
                kind: "roundtrip",
                input,
                problems,
            };
        }
        (Err(e), None) => {
            problems.push(format!("Sandbox::new failed with {}: {e}", e.code()));
            return Round {
                kind: "roundtrip",
                input,
                problems,
            };
        }
    };
    let (rx, _) = start(&sandbox, &code, timeout);
    if let Some(got) = wait(&rx, timeout, &mut problems) {
        // `g` entered whole (it fit), so as the result it fits too.
        let g = model(&g);
        if how == 0 {
            check_copy("globalThis.g", &Want::Value(g), &got, &mut problems);
        } else {
            let name = if how == 1 { "echo" } else { "later" };
            let arg = wrap(g, wrapped);
            if let Some(path) = too_deep(&arg, &format!("{name} argument 0"), 0) {
                let want = Want::TypeError(format!(
                    "{path} cannot be passed to the host: nested deeper than {MAX_DEPTH} levels"
                ));
                check_copy("an over-deep host argument", &want, &got, &mut problems);
            } else {
                let reply = if how == 1 {
                    Value::Array(vec![arg.clone()])
                } else {
                    Value::Array(vec![arg.clone(), Value::Number(1.0)])
                };
                check_copy(
                    "host reply",
                    &from_host(&reply, "host function result", 0),
                    &got,
                    &mut problems,
                );
                if how == 1 && !matches!(got, Err(SandboxError::Memory { .. })) {
                    let echoed = host.echoed.lock().unwrap().clone();
                    match echoed.as_slice() {
                        [args] if args.len() == 1 => {
                            if let Some(d) = diff(&arg, &args[0], "argument") {
                                problems.push(format!("echo's argument differs at {d}"));
                            }
                        }
                        _ => problems.push(format!("echo saw {} calls", echoed.len())),
                    }
                }
            }
        }
    }
    follow_up(&sandbox, limit, &mut problems);
    sandbox.dispose();
    Round {
        kind: "roundtrip",
        input,
        problems,
    }
}

/// (b) Values in from the host: a result, and a failed call's error fields.
fn host_values(rng: &mut Rng, ctx: &Ctx, note: &mut dyn FnMut(&str, &str)) -> Round {
    let limit = *rng.pick(&[4 << 20, 16 << 20, 64 << 20]);
    let mut left = limit / 8;
    let given = if rng.chance(1, 4) {
        let depth = *rng.pick(CHAIN_DEPTHS);
        gen_chain(rng, depth, &mut left)
    } else {
        gen_value(rng, 0, &mut left)
    };
    let name = pick_str(rng, &["Error", "TypeError", "BamlError", "", "constructor"]).to_string();
    let mut small = 64 << 10;
    let message = gen_string(rng, &mut small);
    let field_key = pick_str(rng, &["code", "raw_output", "status_code", "detail"]).to_string();
    let field = gen_value(rng, 2, &mut small);
    let failure = HostError {
        name: name.clone(),
        message: message.clone(),
        fields: vec![(field_key.clone(), field.clone())],
        origin: None,
    };
    let how = rng.below(2);
    let code = if how == 0 {
        "await give()".to_string()
    } else {
        format!("try {{ await fail() }} catch (e) {{ [e.name, e.message, e[{field_key:?}]] }}")
    };
    let input = format!(
        "memory limit {limit}\ncode: {code}\ngive: {}\nfail: name {name:?}, message {}, {field_key}: {}\n",
        describe(&given, 8 << 10),
        describe(&Value::String(message.clone()), 300),
        describe(&field, 2 << 10)
    );
    note("host", &input);
    let mut problems = Vec::new();
    let host = host_for(ctx);
    host.give.lock().unwrap().push_back(given.clone());
    host.fail.lock().unwrap().push_back(failure);
    let (sandbox, opts) = new_sandbox(options(rng, limit), host.clone(), &ctx.rt);
    drop(opts);
    let sandbox = match sandbox {
        Ok(s) => s,
        Err(e) => {
            problems.push(format!("Sandbox::new failed with {}: {e}", e.code()));
            return Round {
                kind: "host",
                input,
                problems,
            };
        }
    };
    let timeout = Duration::from_secs(10);
    let (rx, _) = start(&sandbox, &code, timeout);
    if let Some(got) = wait(&rx, timeout, &mut problems) {
        let want = if how == 0 {
            from_host(&given, "host function result", 0)
        } else {
            // A field sits one level below its error (as it does when the error is copied
            // out); one that fits also fits one level below the array returned here.
            // A field too deep makes the call reject with a TypeError instead, which the
            // code catches like the host's error.
            match from_host(&field, &push_path("host function error", &field_key), 1) {
                Want::Value(_) => Want::Value(model(&Value::Array(vec![
                    Value::String(name),
                    Value::String(message),
                    field,
                ]))),
                Want::TypeError(refusal) => Want::Value(Value::Array(vec![
                    Value::String("TypeError".into()),
                    Value::String(refusal),
                    Value::Undefined,
                ])),
            }
        };
        check_copy(
            if how == 0 { "give()" } else { "fail()" },
            &want,
            &got,
            &mut problems,
        );
    }
    follow_up(&sandbox, limit, &mut problems);
    sandbox.dispose();
    drop(host);
    Round {
        kind: "host",
        input,
        problems,
    }
}

/// After a round: the sandbox still answers and stays within its limit.
fn follow_up(sandbox: &Sandbox, limit: usize, problems: &mut Vec<String>) {
    let (used, _) = sandbox.memory_usage();
    if used > limit {
        problems.push(format!("memory use {used} above the limit {limit}"));
    }
    let t = Duration::from_secs(5);
    let (rx, _) = start(sandbox, "1 + 1", t);
    match wait(&rx, t, problems) {
        Some(Ok(Value::Number(2.0)) | Err(SandboxError::Memory { .. })) | None => {}
        Some(other) => problems.push(format!("the sandbox is unusable afterwards: {other:?}")),
    }
}

/// (c) A hostile program.
fn hostile(rng: &mut Rng, ctx: &Ctx, note: &mut dyn FnMut(&str, &str)) -> Round {
    let limit = *rng.pick(&[2 << 20, 8 << 20, 32 << 20, 64 << 20]);
    let timeout = Duration::from_millis(*rng.pick(&[50, 50, 50, 250, 250, 1000]));
    let programs: Vec<Program> = (0..if rng.chance(1, 8) { 2 } else { 1 })
        .map(|_| program(rng))
        .collect();
    // How the round ends: 0 normally, 1 abort, 2 dispose, 3 drop the sandbox, all after a delay.
    let ending = match rng.below(20) {
        0 | 1 => 1,
        2 => 2,
        3 => 3,
        _ => 0,
    };
    let delay = Duration::from_millis(rng.below(30) as u64);
    let mut given = Value::Undefined;
    let mut left = 4096;
    if rng.chance(1, 2) {
        given = gen_value(rng, 3, &mut left);
    }
    let mut input =
        format!("memory limit {limit}, timeout {timeout:?}, ending {ending} after {delay:?}\n");
    for p in &programs {
        let _ = writeln!(input, "code: {}", p.code);
    }
    note("hostile", &input);
    let mut problems = Vec::new();
    let host = host_for(ctx);
    host.give.lock().unwrap().push_back(given);
    let (sandbox, opts) = new_sandbox(options(rng, limit), host.clone(), &ctx.rt);
    drop(opts);
    let sandbox = match sandbox {
        Ok(s) => s,
        Err(e) => {
            problems.push(format!("Sandbox::new failed with {}: {e}", e.code()));
            return Round {
                kind: "hostile",
                input,
                problems,
            };
        }
    };
    let started: Vec<(Rx, u64)> = programs
        .iter()
        .map(|p| start(&sandbox, &p.code, timeout))
        .collect();
    let mut sandbox = Some(sandbox);
    if ending != 0 {
        std::thread::sleep(delay);
        match ending {
            1 => {
                if let Some(s) = &sandbox {
                    s.abort(started[0].1);
                }
            }
            2 => {
                if let Some(s) = &sandbox {
                    s.dispose();
                }
            }
            _ => sandbox = None,
        }
    }
    let stopped = ending != 0;
    let mut all_ok = true;
    for (i, (rx, _)) in started.iter().enumerate() {
        let Some(got) = wait(rx, timeout, &mut problems) else {
            all_ok = false;
            continue;
        };
        match &got {
            Ok(v) => {
                let p = &programs[i];
                // The oracle holds when only this program called echo.
                if p.echo_oracle && !p.pollutes && programs.len() == 1 && !stopped {
                    let echoed = host.echoed.lock().unwrap().clone();
                    if let [args] = echoed.as_slice() {
                        let want =
                            from_host(&Value::Array(args.clone()), "host function result", 0);
                        check_copy("echo reply", &want, &got, &mut problems);
                    } else {
                        problems.push(format!(
                            "echo resolved ({}) after {} calls",
                            describe(v, 200),
                            echoed.len()
                        ));
                    }
                }
            }
            Err(e) => check_error(
                e,
                timeout,
                limit,
                stopped,
                programs[i].throws_undefined,
                &mut problems,
            ),
        }
    }
    if let Some(s) = &sandbox {
        if all_ok && !s.is_disposed() && !programs.iter().any(|p| p.pollutes) {
            follow_up(s, limit, &mut problems);
        }
        s.dispose();
    }
    drop(sandbox);
    Round {
        kind: "hostile",
        input,
        problems,
    }
}

fn round_rng(seed: u64, round: u64) -> Rng {
    Rng::new(seed ^ splitmix(round.wrapping_mul(0xD1B5_4A32_D192_ED03)))
}

fn run_round(ctx: &Ctx, seed: u64, round: u64, note: &mut dyn FnMut(&str, &str)) -> Round {
    let mut rng = round_rng(seed, round);
    match rng.below(10) {
        0..=3 => roundtrip(&mut rng, ctx, note),
        4 | 5 => host_values(&mut rng, ctx, note),
        _ => hostile(&mut rng, ctx, note),
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn findings_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-findings")
}

fn save_finding(kind: &str, seed: u64, round: u64, text: &str) -> PathBuf {
    let dir = findings_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("values-{kind}-{seed}-{round}.txt"));
    std::fs::write(&path, text).unwrap();
    path
}

fn finding_text(seed: u64, round: u64, kind: &str, input: &str, problems: &[String]) -> String {
    format!(
        "replay: cargo run --release -p baml_sandbox --example fuzz_values -- --replay {seed} {round}\nkind: {kind}\nproblems:\n{}\ninput:\n{input}",
        problems.iter().fold(String::new(), |mut out, p| {
            let _ = writeln!(out, "  {p}");
            out
        })
    )
}

fn runtime() -> Arc<ThreadPool> {
    Arc::new(ThreadPool::new("fuzz-values"))
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = format!("{info}");
        *LAST_PANIC
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(msg);
    }));
}

/// The child: runs rounds until `end` (ms since the epoch), printing `@stats` lines.
fn child(seed: u64, end_ms: u64) -> i32 {
    // A round running past ROUND_HANG is saved as a hang and ends the child.
    static ROUND_START_MS: AtomicU64 = AtomicU64::new(0);
    static ROUND_NO: AtomicU64 = AtomicU64::new(0);
    install_panic_hook();
    let rt = runtime();
    let ctx = Ctx { rt: rt.clone() };
    let inflight = findings_dir().join(format!(".values-inflight-{}", std::process::id()));
    std::fs::create_dir_all(findings_dir()).unwrap();
    let watch_file = inflight.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let s = ROUND_START_MS.load(Ordering::Acquire);
        if s != 0 && now_ms().saturating_sub(s) > ROUND_HANG.as_millis() as u64 {
            let input = std::fs::read_to_string(&watch_file).unwrap_or_default();
            let round = ROUND_NO.load(Ordering::Acquire);
            let path = save_finding(
                "hang",
                seed,
                round,
                &finding_text(
                    seed,
                    round,
                    "?",
                    &input,
                    &[format!("HANG: round ran past {ROUND_HANG:?}")],
                ),
            );
            println!("HANG in round {round}: {}", path.display());
            std::process::exit(3);
        }
    });
    let worker = std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || {
            let (mut rounds, mut findings) = (0u64, 0u64);
            let mut slowest = (Duration::ZERO, String::new());
            let mut last_stats = Instant::now();
            let mut kinds = std::collections::BTreeMap::<&'static str, u64>::default();
            while now_ms() < end_ms {
                let round = rounds;
                rounds += 1;
                ROUND_NO.store(round, Ordering::Release);
                ROUND_START_MS.store(now_ms(), Ordering::Release);
                let started = Instant::now();
                let mut note = |kind: &str, input: &str| {
                    let _ = std::fs::write(
                        &inflight,
                        format!("seed {seed} round {round} kind {kind}\n{input}"),
                    );
                };
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_round(&ctx, seed, round, &mut note)
                }));
                ROUND_START_MS.store(0, Ordering::Release);
                let took = started.elapsed();
                let (kind, input, problems) = if let Ok(r) = outcome {
                    (r.kind, r.input, r.problems)
                } else {
                    let panic = LAST_PANIC.lock().unwrap().take();
                    let input = std::fs::read_to_string(&inflight).unwrap_or_default();
                    ("panic", input, vec![format!("PANIC: {panic:?}")])
                };
                *kinds.entry(kind).or_default() += 1;
                if took > slowest.0 {
                    slowest = (took, format!("{kind} round {round} of seed {seed}"));
                }
                if !problems.is_empty() {
                    findings += 1;
                    let path = save_finding(
                        kind,
                        seed,
                        round,
                        &finding_text(seed, round, kind, &input, &problems),
                    );
                    println!("FINDING ({kind}): {} -> {}", problems[0], path.display());
                }
                let rss = rss_bytes();
                if rss > RSS_LIMIT {
                    let path = save_finding(
                        "memory",
                        seed,
                        round,
                        &finding_text(
                            seed,
                            round,
                            kind,
                            &input,
                            &[format!("resident memory {rss} bytes after this round")],
                        ),
                    );
                    println!("MEMORY GROWTH after round {round}: {}", path.display());
                    println!(
                        "@stats {rounds} {} {} {}",
                        findings + 1,
                        slowest.0.as_micros(),
                        slowest.1
                    );
                    std::process::exit(4);
                }
                if last_stats.elapsed() > Duration::from_secs(5) {
                    last_stats = Instant::now();
                    println!(
                        "@stats {rounds} {findings} {} {}",
                        slowest.0.as_micros(),
                        slowest.1
                    );
                }
            }
            println!(
                "@stats {rounds} {findings} {} {}",
                slowest.0.as_micros(),
                slowest.1
            );
            println!("@kinds {kinds:?}");
            findings
        })
        .unwrap();
    let findings = worker.join().unwrap_or(1);
    let _ = std::fs::remove_file(
        findings_dir().join(format!(".values-inflight-{}", std::process::id())),
    );
    // Leave the runtime behind: a sandbox stuck in a turn would block its shutdown.
    std::mem::forget(rt);
    i32::from(findings > 0)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The last `@stats` a child printed.
#[derive(Default, Clone)]
struct Stats {
    rounds: u64,
    findings: u64,
    slowest_us: u64,
    slowest_what: String,
}

fn parse_stats(line: &str) -> Option<Stats> {
    let rest = line.strip_prefix("@stats ")?;
    let mut parts = rest.splitn(4, ' ');
    Some(Stats {
        rounds: parts.next()?.parse().ok()?,
        findings: parts.next()?.parse().ok()?,
        slowest_us: parts.next()?.parse().ok()?,
        slowest_what: parts.next().unwrap_or("").to_string(),
    })
}

fn supervise(seconds: u64, seed: u64) -> i32 {
    let started = Instant::now();
    let end_ms = now_ms() + seconds * 1000;
    let exe = std::env::current_exe().unwrap();
    let (mut total, mut crashes) = (Stats::default(), 0u64);
    let mut last_report = Instant::now();
    let mut child_no = 0u64;
    println!("fuzz_values: {seconds} s, seed {seed}");
    while now_ms() + 200 < end_ms {
        let child_seed = seed.wrapping_add(child_no);
        child_no += 1;
        let mut proc = Command::new(&exe)
            .args(["--child", &child_seed.to_string(), &end_ms.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(proc.stdout.take().unwrap());
        let mut last = Stats::default();
        for line in out.lines() {
            let Ok(line) = line else { break };
            if let Some(s) = parse_stats(&line) {
                last = s;
                let rounds = total.rounds + last.rounds;
                if last_report.elapsed() > Duration::from_secs(30) {
                    last_report = Instant::now();
                    let secs = started.elapsed().as_secs_f64();
                    println!(
                        "{:.0} s: {rounds} rounds ({:.0}/s), {} findings, slowest round {:.1} ms",
                        secs,
                        rounds as f64 / secs,
                        total.findings + last.findings + crashes,
                        total.slowest_us.max(last.slowest_us) as f64 / 1000.0
                    );
                }
            } else {
                println!("{line}");
            }
        }
        let status = proc.wait().unwrap();
        total.rounds += last.rounds;
        total.findings += last.findings;
        if last.slowest_us > total.slowest_us {
            total.slowest_us = last.slowest_us;
            total.slowest_what.clone_from(&last.slowest_what);
        }
        match status.code() {
            Some(0 | 1) => {}
            Some(3 | 4) => crashes += 1,
            _ => {
                // Killed by a signal (abort, stack overflow): save the round it was running.
                crashes += 1;
                let inflight = findings_dir().join(format!(".values-inflight-{}", proc.id()));
                let input = std::fs::read_to_string(&inflight).unwrap_or_default();
                let _ = std::fs::remove_file(&inflight);
                let (round, kind) = input
                    .lines()
                    .next()
                    .and_then(|l| {
                        let w: Vec<&str> = l.split(' ').collect();
                        Some((w.get(3)?.parse::<u64>().ok()?, w.get(5)?.to_string()))
                    })
                    .unwrap_or((0, "?".into()));
                let path = save_finding(
                    "crash",
                    child_seed,
                    round,
                    &finding_text(
                        child_seed,
                        round,
                        &kind,
                        &input,
                        &[format!("CRASH: the process ended with {status}")],
                    ),
                );
                println!("CRASH ({status}) in round {round}: {}", path.display());
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let findings = total.findings + crashes;
    println!(
        "done: {} rounds in {secs:.0} s ({:.0} rounds/s), {findings} findings ({crashes} crashes or hangs), slowest round {:.1} ms ({})",
        total.rounds,
        total.rounds as f64 / secs,
        total.slowest_us as f64 / 1000.0,
        total.slowest_what
    );
    i32::from(findings > 0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("--child") => child(args[1].parse().unwrap(), args[2].parse().unwrap()),
        Some("--replay") => {
            install_panic_hook();
            let (seed, round): (u64, u64) = (args[1].parse().unwrap(), args[2].parse().unwrap());
            let rt = runtime();
            let ctx = Ctx { rt: rt.clone() };
            // The same big stack as the child's rounds, for the model of very deep trees.
            let r = std::thread::Builder::new()
                .stack_size(512 << 20)
                .spawn(move || {
                    let r = run_round(&ctx, seed, round, &mut |_, _| {});
                    println!("kind: {}\ninput:\n{}", r.kind, r.input);
                    for p in &r.problems {
                        println!("problem: {p}");
                    }
                    !r.problems.is_empty()
                })
                .unwrap()
                .join()
                .unwrap_or(true);
            std::mem::forget(rt);
            i32::from(r)
        }
        _ => {
            let seconds = args.first().and_then(|a| a.parse().ok()).unwrap_or(60);
            let seed = args
                .get(1)
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| now_ms() ^ u64::from(std::process::id()));
            supervise(seconds, seed)
        }
    };
    std::process::exit(code);
}
