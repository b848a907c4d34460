//! The options of every entry point: their TypeScript types (these structs, through napi-rs)
//! and their validation, in one place.
//!
//! Each options object is read by napi-rs into its struct (so the declaration and the reading
//! cannot drift apart), after a check that it names no key the struct does not have (a
//! misspelt `timeoutMs` must not silently run on the default). Every failure is a `TypeError`
//! with `code: 'ERR_INVALID_ARG_VALUE'` naming the option.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::failure;

/// Where a context's QuickJS runtime lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolation {
    /// A supervised worker process (the default; Linux only).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Process,
    /// The addon's sandbox threads, in this process.
    Thread,
}

/// Options of a `BamlContext` (all optional).
#[napi(object, object_to_js = false)]
pub struct ContextOptions<'env> {
    /// QuickJS heap limit in bytes, at least 1 MiB. Default 64 MiB.
    pub memory_limit_bytes: Option<f64>,
    /// Wall-clock limit of each `evaluate()`, awaits included. Default 30000.
    pub timeout_ms: Option<f64>,
    /// Stack limit in bytes, from 64 KiB to 4 MiB. Default 512 KiB.
    pub max_stack_bytes: Option<f64>,
    /// Copied into the global scope, with structured-clone semantics (README "Copies").
    #[napi(ts_type = "Record<string, unknown>")]
    pub globals: Option<Object<'env>>,
    /// Node functions callable from the sandbox as globals; they may return a Promise.
    #[napi(ts_type = "Record<string, (...args: any[]) => unknown>")]
    pub host_functions: Option<Object<'env>>,
    /// Receives the sandbox's `console.*` output.
    #[napi(
        ts_type = "(level: 'log' | 'info' | 'warn' | 'error' | 'debug', message: string) => void"
    )]
    pub on_console: Option<Function<'env, FnArgs<(String, String)>, Unknown<'static>>>,
    /// Values for `env.NAME` in BAML clients, over the runtime's.
    pub env: Option<HashMap<String, String>>,
    /// `'process'` (default): the runtime lives in a supervised, confined worker process, so
    /// nothing sandboxed code does (or an engine bug) can crash or block Node. `'thread'`: it
    /// lives on the addon's sandbox threads in this process (faster to reach; for trusted code).
    #[napi(ts_type = "'process' | 'thread'")]
    pub isolation: Option<String>,
    /// Records every BAML call the sandbox makes (one collector or several).
    #[napi(ts_type = "Collector | Collector[]")]
    pub collector: Option<Unknown<'env>>,
    /// Called on Node's thread after each BAML call the sandbox made has finished (succeeded
    /// or failed), with its log. What it throws becomes a process warning.
    #[napi(ts_type = "(log: FunctionLog) => void")]
    pub on_baml_call: Option<Function<'env, crate::collector::FunctionLog, Unknown<'static>>>,
    /// Types added at run time (a `TypeBuilder`).
    /// Lets Node download media URLs that sandboxed code passes where a provider takes that
    /// media only inline (google-ai images, OpenAI audio, anthropic PDFs, ...). Default false:
    /// such a call rejects with `BAML_INVALID_ARGUMENT` (pass `{ base64, media_type }`).
    pub download_media: Option<bool>,
    #[napi(ts_type = "import('./index').TypeBuilder")]
    pub tb: Option<serde_json::Value>,
    /// Clients defined at run time (a `ClientRegistry`); its primary is the client used.
    #[napi(ts_type = "import('./index').ClientRegistry")]
    pub client_registry: Option<serde_json::Value>,
    /// `'none'` (default): the context has a QuickJS runtime of its own. `'runtime'`: it
    /// shares one with other contexts (its `group`, or else this `BamlRuntime`'s default group):
    /// lighter, but one heap limit and one thread for the group (see `ContextGroup`). Without
    /// a `group`, the default group of the context's `isolation`; with one, the group's
    /// isolation is the context's.
    #[napi(ts_type = "'none' | 'runtime'")]
    pub sharing: Option<String>,
    /// The group whose runtime this context shares (implies `sharing: 'runtime'`).
    #[napi(ts_type = "ContextGroup")]
    pub group: Option<Unknown<'env>>,
}

/// Options of a `ContextGroup` (all optional).
#[napi(object, object_to_js = false)]
pub struct ContextGroupOptions {
    /// The QuickJS heap limit of the whole group, in bytes. Default 256 MiB.
    pub memory_limit_bytes: Option<f64>,
    /// Stack limit of each turn, from 64 KiB to 4 MiB. Default 512 KiB.
    pub max_stack_bytes: Option<f64>,
    /// `'process'` (the default on Linux): the group's runtime lives in a supervised worker
    /// process of its own; `'thread'`: on the addon's sandbox threads, in this process.
    #[napi(ts_type = "'process' | 'thread'")]
    pub isolation: Option<String>,
}
pub(crate) type GroupOptions = ContextGroupOptions;

pub(crate) const GROUP_KEYS: &[(&str, Kind)] = &[
    ("memoryLimitBytes", Kind::Number),
    ("maxStackBytes", Kind::Number),
    ("isolation", Kind::String),
];

/// Options of one `evaluate()` call.
#[napi(object, object_to_js = false)]
pub struct EvaluateOptions<'env> {
    /// Overrides the context's `timeoutMs` for this evaluation.
    pub timeout_ms: Option<f64>,
    /// Aborting it rejects the evaluation with `code: 'SANDBOX_ABORTED'`.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Object<'env>>,
    /// The script's name in stack traces (default `<sandbox>`).
    pub filename: Option<String>,
}

/// Options of `callFunction()`.
#[napi(object, object_to_js = false)]
pub struct CallOptions<'env> {
    /// Values for `env.NAME` in client options, over the runtime's `env`.
    pub env: Option<HashMap<String, String>>,
    /// Aborting it drops the HTTP request and rejects with `code: 'BAML_ABORTED'`.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Object<'env>>,
    /// Use this client (a name from the project, or `"provider/model"`) instead of the function's.
    pub client: Option<String>,
    /// Types added at run time (a `TypeBuilder`).
    #[napi(ts_type = "import('./index').TypeBuilder")]
    pub tb: Option<serde_json::Value>,
    /// Clients defined at run time (a `ClientRegistry`); its primary is the client used.
    #[napi(ts_type = "import('./index').ClientRegistry")]
    pub client_registry: Option<serde_json::Value>,
    /// Ask the provider to stream its answer (server-sent events).
    pub stream: Option<bool>,
    /// Streams the answer and calls this with partial results (snapshots of the result so far;
    /// one still waiting for Node is replaced by a newer one).
    #[napi(ts_type = "(partial: unknown) => void")]
    pub on_partial: Option<Function<'env, serde_json::Value, Unknown<'static>>>,
    /// Records this call (one collector or several).
    #[napi(ts_type = "Collector | Collector[]")]
    pub collector: Option<Unknown<'env>>,
}

/// Options of `renderRequest()`.
#[napi(object, object_to_js = false)]
pub struct RenderRequestOptions {
    /// The request of a streaming call.
    pub stream: Option<bool>,
    /// Values for `env.NAME` in client options, over the runtime's `env`.
    pub env: Option<HashMap<String, String>>,
    /// Use this client instead of the function's.
    pub client: Option<String>,
    /// Types added at run time (a `TypeBuilder`).
    #[napi(ts_type = "import('./index').TypeBuilder")]
    pub tb: Option<serde_json::Value>,
    /// Clients defined at run time (a `ClientRegistry`); its primary is the client used.
    #[napi(ts_type = "import('./index').ClientRegistry")]
    pub client_registry: Option<serde_json::Value>,
}

/// Options of `parse()`.
#[napi(object, object_to_js = false)]
pub struct ParseOptions {
    /// Parse an unfinished stream: values not yet complete are left out or null.
    pub partial: Option<bool>,
}

/// Options of `typescriptDeclarations()`: what the embedder adds to its sandboxes, as
/// TypeScript text.
#[napi(object, object_to_js = false)]
pub struct DeclarationOptions {
    /// Host functions by name, each typed as the Node function is (a function type such as
    /// `(id: string) => User`); sandboxed code sees it return a Promise of the result.
    pub host_functions: Option<HashMap<String, String>>,
    /// Types added at run time (a `TypeBuilder`).
    #[napi(ts_type = "import('./index').TypeBuilder")]
    pub tb: Option<serde_json::Value>,
    /// Clients defined at run time (a `ClientRegistry`); its primary is the client used.
    #[napi(ts_type = "import('./index').ClientRegistry")]
    pub client_registry: Option<serde_json::Value>,
    /// Globals by name, each with the TypeScript type of its value.
    pub globals: Option<HashMap<String, String>>,
}

/// What an option's value must be.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Number,
    String,
    Boolean,
    Function,
    /// Any object, arrays included (`collector`: one or several).
    Object,
    /// An object that is not an array, used as a map from names to values.
    Record,
    /// An `AbortSignal` (anything with a boolean `aborted` and an `addEventListener` method).
    Signal,
    /// An object (not an array) whose own values are all strings (`env`).
    Strings,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Boolean => "a boolean",
            Kind::Function => "a function",
            Kind::Object => "an object",
            Kind::Record => "an object of name: value (not an array)",
            Kind::Signal => "an AbortSignal",
            Kind::Strings => "an object of strings (not an array)",
        }
    }
}

/// Reads an options argument (`undefined` and `null` give `None`) into `T`, refusing keys
/// not in `known` and values not of their kind. The error is the message of the
/// `ERR_INVALID_ARG_VALUE` to throw (or, for Promise-returning methods, reject with).
pub(crate) fn read<T: FromNapiValue>(
    env: &Env,
    what: &str,
    value: Option<Unknown<'_>>,
    known: &[(&str, Kind)],
) -> std::result::Result<Option<T>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let fail = |e: Error| failure(env, &e);
    match value.get_type().map_err(fail)? {
        ValueType::Undefined | ValueType::Null => return Ok(None),
        ValueType::Object => {}
        other => {
            return Err(format!(
                "{what} must be an object, got {}",
                type_name(other)
            ))
        }
    }
    let object = value.coerce_to_object().map_err(fail)?;
    let keys = Object::keys(&object)
        .map_err(|e| format!("the keys of {what} cannot be listed: {}", failure(env, &e)))?;
    for key in keys {
        let Some((_, kind)) = known.iter().find(|(k, _)| *k == key) else {
            let names: Vec<&str> = known.iter().map(|(k, _)| *k).collect();
            return Err(format!(
                "unknown option {key:?} in {what}; the options are {}",
                names.join(", ")
            ));
        };
        let v: Unknown = object
            .get_named_property(&key)
            .map_err(|e| format!("option {key} cannot be read: {}", failure(env, &e)))?;
        check_kind(env, &key, &v, *kind)?;
    }
    T::from_unknown(value)
        .map(Some)
        .map_err(|e| format!("bad {what}: {}", failure(env, &e)))
}

fn check_kind(
    env: &Env,
    key: &str,
    v: &Unknown<'_>,
    kind: Kind,
) -> std::result::Result<(), String> {
    let fail = |e: Error| failure(env, &e);
    let t = v.get_type().map_err(fail)?;
    if matches!(t, ValueType::Undefined) {
        return Ok(());
    }
    let ok = match kind {
        Kind::Number => t == ValueType::Number,
        Kind::String => t == ValueType::String,
        Kind::Boolean => t == ValueType::Boolean,
        Kind::Function => t == ValueType::Function,
        Kind::Object => t == ValueType::Object,
        Kind::Record => t == ValueType::Object && !v.is_array().unwrap_or(false),
        Kind::Signal => {
            if t != ValueType::Object {
                return Err(format!(
                    "option {key} must be an object (an AbortSignal), got {}",
                    type_name(t)
                ));
            }
            let object = v.coerce_to_object().map_err(fail)?;
            let member = |name: &str| {
                object
                    .get_named_property::<Unknown>(name)
                    .and_then(|m| m.get_type())
                    .map_err(|e| {
                        format!("option {key}.{name} cannot be read: {}", failure(env, &e))
                    })
            };
            if member("aborted")? != ValueType::Boolean
                || member("addEventListener")? != ValueType::Function
                || member("removeEventListener")? != ValueType::Function
            {
                return Err(format!(
                    "option {key} must be an AbortSignal (with a boolean `aborted` and addEventListener/removeEventListener methods), as AbortController#signal is"
                ));
            }
            true
        }
        Kind::Strings => {
            if t == ValueType::Object && !v.is_array().unwrap_or(false) {
                strings(env, &format!("option {key}"), v)?;
                true
            } else {
                false
            }
        }
    };
    if ok {
        Ok(())
    } else {
        let got = if v.is_array().unwrap_or(false) {
            "an array"
        } else {
            type_name(t)
        };
        Err(format!(
            "option {key} must be {}, got {got}",
            kind.describe()
        ))
    }
}

/// The name of a JavaScript value's type, for messages.
pub(crate) fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Object => "an object",
        ValueType::Function => "a function",
        ValueType::BigInt => "a bigint",
        _ => "a value of another kind",
    }
}

/// The keys of `ContextOptions` (as JavaScript writes them) and their kinds.
pub(crate) const CONTEXT_KEYS: &[(&str, Kind)] = &[
    ("memoryLimitBytes", Kind::Number),
    ("timeoutMs", Kind::Number),
    ("maxStackBytes", Kind::Number),
    ("globals", Kind::Record),
    ("hostFunctions", Kind::Record),
    ("onConsole", Kind::Function),
    ("env", Kind::Strings),
    ("isolation", Kind::String),
    ("collector", Kind::Object),
    ("onBamlCall", Kind::Function),
    ("downloadMedia", Kind::Boolean),
    ("tb", Kind::Object),
    ("clientRegistry", Kind::Object),
    ("sharing", Kind::String),
    ("group", Kind::Object),
];
pub(crate) const EVALUATE_KEYS: &[(&str, Kind)] = &[
    ("timeoutMs", Kind::Number),
    ("signal", Kind::Signal),
    ("filename", Kind::String),
];
pub(crate) const CALL_KEYS: &[(&str, Kind)] = &[
    ("env", Kind::Strings),
    ("signal", Kind::Signal),
    ("client", Kind::String),
    ("stream", Kind::Boolean),
    ("onPartial", Kind::Function),
    ("collector", Kind::Object),
    ("tb", Kind::Object),
    ("clientRegistry", Kind::Object),
];
pub(crate) const RENDER_KEYS: &[(&str, Kind)] = &[
    ("stream", Kind::Boolean),
    ("env", Kind::Strings),
    ("client", Kind::String),
    ("tb", Kind::Object),
    ("clientRegistry", Kind::Object),
];
pub(crate) const DECLARATION_KEYS: &[(&str, Kind)] = &[
    ("hostFunctions", Kind::Strings),
    ("globals", Kind::Strings),
    ("tb", Kind::Object),
    ("clientRegistry", Kind::Object),
];
pub(crate) const PARSE_KEYS: &[(&str, Kind)] = &[("partial", Kind::Boolean)];

/// A whole number of bytes in `[min, max]`.
pub(crate) fn bytes(
    name: &str,
    n: f64,
    min: usize,
    max: usize,
) -> std::result::Result<usize, String> {
    #[expect(
        clippy::cast_precision_loss,
        reason = "the bounds are powers of two below 2^53"
    )]
    let (lo, hi) = (min as f64, max as f64);
    if n.is_finite() && n.fract() == 0.0 && n >= lo && n <= hi {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked to be a whole number within usize bounds"
        )]
        return Ok(n as usize);
    }
    Err(format!(
        "option {name} must be a whole number of bytes from {min} to {max}, got {n}"
    ))
}

/// A timeout in milliseconds, from 1 to 2^31 - 1.
pub(crate) fn timeout(name: &str, ms: f64) -> std::result::Result<Duration, String> {
    #[expect(clippy::cast_precision_loss, reason = "2^31 - 1 is exact")]
    let max = baml_sandbox::MAX_TIMEOUT_MS as f64;
    if ms.is_finite() && ms > 0.0 && ms <= max {
        return Ok(Duration::from_secs_f64(ms / 1000.0));
    }
    Err(format!(
        "option {name} must be a number of milliseconds from 1 to {max}, got {ms}"
    ))
}

pub(crate) fn isolation(value: Option<&str>) -> std::result::Result<Isolation, String> {
    match value {
        #[cfg(target_os = "linux")]
        None | Some("process") => Ok(Isolation::Process),
        // The confined worker exists on Linux only; elsewhere contexts run on sandbox threads.
        #[cfg(not(target_os = "linux"))]
        None => Ok(Isolation::Thread),
        #[cfg(not(target_os = "linux"))]
        Some("process") => Err(format!(
            "option isolation 'process' is implemented on Linux only (this is {}); use 'thread'",
            std::env::consts::OS
        )),
        Some("thread") => Ok(Isolation::Thread),
        Some(other) => Err(format!(
            "option isolation must be 'process' or 'thread', got {other:?}"
        )),
    }
}

/// An `env` option as an ordered map.
pub(crate) fn env_map(env: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    env.unwrap_or_default().into_iter().collect()
}

/// Checks that the own enumerable values of `v` (an object) are all strings and reads them;
/// `what` names it in messages ("option env", "files").
pub(crate) fn strings(
    env: &Env,
    what: &str,
    v: &Unknown<'_>,
) -> std::result::Result<Vec<(String, String)>, String> {
    let fail = |e: Error| failure(env, &e);
    let object = v.coerce_to_object().map_err(fail)?;
    let mut out = Vec::new();
    for k in Object::keys(&object).map_err(fail)? {
        let item: Unknown = object
            .get_named_property(&k)
            .map_err(|e| format!("{what}.{k} cannot be read: {}", failure(env, &e)))?;
        let t = item.get_type().map_err(fail)?;
        if t != ValueType::String {
            return Err(format!("{what}.{k} must be a string, got {}", type_name(t)));
        }
        out.push((k, string_value(&item).map_err(fail)?));
    }
    Ok(out)
}

fn string_value(v: &Unknown<'_>) -> Result<String> {
    v.coerce_to_string()?.into_utf8()?.into_owned()
}

/// A required string argument (`name` names it in the message).
pub(crate) fn string_arg(
    env: &Env,
    name: &str,
    v: &Unknown<'_>,
) -> std::result::Result<String, String> {
    match v.get_type().map_err(|e| failure(env, &e))? {
        ValueType::String => string_value(v).map_err(|e| failure(env, &e)),
        other => Err(format!("{name} must be a string, got {}", type_name(other))),
    }
}

/// An argument that must be an object of strings (not an array): `files`, `env`. `undefined`
/// and `null` give `None` when the argument is optional.
pub(crate) fn strings_arg(
    env: &Env,
    name: &str,
    v: Option<&Unknown<'_>>,
    optional: bool,
) -> std::result::Result<Option<Vec<(String, String)>>, String> {
    let t = match v {
        Some(v) => v.get_type().map_err(|e| failure(env, &e))?,
        None => ValueType::Undefined,
    };
    match (v, t) {
        (_, ValueType::Undefined | ValueType::Null) if optional => Ok(None),
        (Some(v), ValueType::Object) if !v.is_array().unwrap_or(false) => {
            strings(env, name, v).map(Some)
        }
        (Some(v), ValueType::Object) if v.is_array().unwrap_or(false) => Err(format!(
            "{name} must be an object of strings (not an array), got an array"
        )),
        _ => Err(format!(
            "{name} must be an object of strings, got {}",
            type_name(t)
        )),
    }
}

/// The longest `filename` accepted (it appears in every stack frame and message).
const MAX_FILENAME: usize = 1024;

/// An `evaluate()` filename: what stack traces and messages show as the script's name.
pub(crate) fn filename(name: String) -> std::result::Result<String, String> {
    if name.is_empty() || name.len() > MAX_FILENAME || name.contains(['\n', '\r', '\0']) {
        return Err(format!(
            "option filename must be a non-empty string of at most {MAX_FILENAME} bytes without line breaks, got {:?}",
            name.chars().take(64).collect::<String>()
        ));
    }
    Ok(name)
}
