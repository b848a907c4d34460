//! Observability: BAML's `Collector` (a log of function calls with every LLM request they
//! made) and a context's `onBamlCall` callback.
//!
//! A call is recorded off Node's thread, when it finishes: its attempts (see
//! `baml_runtime::CallLog`) become a [`FunctionLog`] with every secret the call could carry
//! taken out (credential headers whole, API keys and env values wherever they appear). The
//! log is pushed to the call's collectors at once, so a collector is up to date when the call's
//! promise settles; `onBamlCall` runs later, on Node's thread, through the mailbox.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use baml_runtime::{AttemptLog, CallError, CallLog, Secrets};
use napi::bindgen_prelude::*;
use napi::JsError;
use napi_derive::napi;
use serde_json::{Map, Value as Json};

use crate::errors::{js_number, message_of, throw_invalid};
use crate::mailbox::{Job, Mailbox};
use crate::options;

/// The most logs one collector keeps; past it the oldest go (its `usage` still counts them).
/// A sandbox can make calls for as long as it lives, and each log holds whole request and
/// response bodies.
pub(crate) const MAX_LOGS: usize = 10_000;

/// About the most bytes of logs one collector keeps (bodies, arguments, results); past it the
/// oldest go, whatever their number. The newest log is always kept.
pub(crate) const MAX_LOG_BYTES: usize = 256 * 1024 * 1024;

/// The most `onBamlCall` calls of one context waiting for Node's thread; past it logs are not
/// handed to it (a process warning says how many were skipped). Sandboxed code can finish
/// calls faster than a slow callback takes them.
pub(crate) const MAX_PENDING_HOOKS: u64 = 10_000;

/// About how many bytes a JSON value takes.
fn json_bytes(v: &Json) -> usize {
    let mut total = 0usize;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total = total.saturating_add(16);
        match v {
            Json::String(s) => total = total.saturating_add(s.len()),
            Json::Array(items) => stack.extend(items.iter()),
            Json::Object(m) => {
                for (k, item) in m {
                    total = total.saturating_add(k.len());
                    stack.push(item);
                }
            }
            _ => {}
        }
    }
    total
}

/// About how many bytes a log takes.
fn log_bytes(log: &FunctionLog) -> usize {
    let mut total = 512usize
        .saturating_add(json_bytes(&log.args))
        .saturating_add(log.result.as_ref().map_or(0, json_bytes))
        .saturating_add(log.raw_llm_response.as_ref().map_or(0, String::len));
    for c in &log.calls {
        total = total.saturating_add(512);
        if let Some(r) = &c.http_request {
            total = total
                .saturating_add(r.url.len())
                .saturating_add(json_bytes(&r.headers))
                .saturating_add(json_bytes(&r.body));
        }
        if let Some(r) = &c.http_response {
            total = total
                .saturating_add(json_bytes(&r.headers))
                .saturating_add(r.body.len());
        }
    }
    total
}

/// When a call or request started and how long it took.
#[napi(object, object_from_js = false, use_nullable = true)]
#[derive(Clone)]
pub struct LogTiming {
    /// Milliseconds since the Unix epoch.
    pub start_time_utc_ms: f64,
    /// Null when it never finished (BAML's shape; every recorded call has finished).
    pub duration_ms: Option<f64>,
}

/// Token counts; null where the provider reported none.
#[napi(object, object_from_js = false, use_nullable = true)]
#[derive(Clone)]
pub struct LogUsage {
    pub input_tokens: Option<f64>,
    pub output_tokens: Option<f64>,
}

/// A collector's running totals.
#[napi(object, object_from_js = false)]
#[derive(Clone)]
pub struct CollectorUsage {
    pub input_tokens: f64,
    pub output_tokens: f64,
}

/// Why a call or one of its requests failed: the `code` and `message` of the error it
/// rejected with (secrets taken out).
#[napi(object, object_from_js = false)]
#[derive(Clone)]
pub struct LogError {
    /// `BAML_HTTP`, `BAML_VALIDATION`, `BAML_FINISH_REASON`, `BAML_INVALID_ARGUMENT` or
    /// `BAML_ABORTED`.
    pub code: String,
    pub message: String,
}

/// The HTTP request one attempt sent. Credential headers (`authorization`, `x-api-key`,
/// `api-key`, `x-goog-api-key`, anything naming a key, token, secret or cookie) show
/// `[redacted]` (after the scheme, as `Bearer [redacted]`); API keys and env values are
/// replaced by `[redacted]` wherever else they appear (the URL, the body).
#[napi(object, object_from_js = false)]
#[derive(Clone)]
pub struct LlmHttpRequest {
    pub url: String,
    pub method: String,
    #[napi(ts_type = "Record<string, string>")]
    pub headers: Json,
    /// The JSON body.
    #[napi(ts_type = "unknown")]
    pub body: Json,
}

/// What came back: the status, the headers (lower-case names) and the body as text (a
/// stream's raw server-sent events, all of them).
#[napi(object, object_from_js = false)]
#[derive(Clone)]
pub struct LlmHttpResponse {
    pub status: f64,
    #[napi(ts_type = "Record<string, string>")]
    pub headers: Json,
    pub body: String,
}

/// One request to one LLM client (a retry or a fallback step is another).
#[napi(object, object_from_js = false, use_nullable = true)]
#[derive(Clone)]
pub struct LlmCall {
    /// The primitive client asked (`provider/model` for a shorthand).
    pub client_name: String,
    pub provider: String,
    pub timing: LogTiming,
    /// Null when no request could be built (a client configuration error).
    pub http_request: Option<LlmHttpRequest>,
    /// Null when no response arrived (unreachable server, timeout before the head).
    pub http_response: Option<LlmHttpResponse>,
    /// Null when the provider did not answer successfully.
    pub usage: Option<LogUsage>,
    /// Whether this request's answer is the one the call's result (or validation error) was
    /// parsed from.
    pub selected: bool,
    /// Whether the request asked for a stream.
    pub stream: bool,
    /// Why this request failed; null when its answer was used.
    pub error: Option<LogError>,
}

/// One BAML function call.
#[napi(object, object_from_js = false, use_nullable = true)]
#[derive(Clone)]
pub struct FunctionLog {
    /// Unique in this process.
    pub id: String,
    pub function_name: String,
    #[napi(ts_type = "'call' | 'stream'")]
    pub log_type: String,
    /// Where the call came from: `callFunction` or a context's sandbox.
    #[napi(ts_type = "'callFunction' | 'sandbox'")]
    pub source: String,
    /// The arguments by parameter name (secrets taken out).
    #[napi(ts_type = "Record<string, unknown>")]
    pub args: Json,
    pub timing: LogTiming,
    /// Summed over every request that reported tokens (failed attempts included).
    pub usage: LogUsage,
    /// Every request, oldest first.
    pub calls: Vec<LlmCall>,
    /// The request whose answer was parsed, if any.
    pub selected_call: Option<LlmCall>,
    /// The text of the answer that was parsed, if any.
    pub raw_llm_response: Option<String>,
    /// The parsed result (null when the call failed).
    #[napi(ts_type = "unknown")]
    pub result: Option<Json>,
    /// Why the call failed; null when it succeeded.
    pub error: Option<LogError>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ms_since_epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        .floor()
}

fn duration_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn log_error(e: &CallError) -> LogError {
    LogError {
        code: e.code().to_string(),
        message: e.to_string(),
    }
}

fn headers_json(secrets: &Secrets, headers: &[(String, String)]) -> Json {
    let mut out = Map::new();
    for (k, v) in headers {
        let v = secrets.redact_header(k, v);
        match out.get_mut(k) {
            // A repeated header (`set-cookie`): one entry, as Node's own `headers` show it.
            Some(Json::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&v);
            }
            _ => {
                out.insert(k.clone(), Json::String(v));
            }
        }
    }
    Json::Object(out)
}

#[expect(
    clippy::cast_precision_loss,
    reason = "token counts stay far below 2^53"
)]
fn usage_of(u: &baml_runtime::Usage, reported: bool) -> LogUsage {
    LogUsage {
        input_tokens: reported.then_some(u.input_tokens as f64),
        output_tokens: reported.then_some(u.output_tokens as f64),
    }
}

fn llm_call(secrets: &Secrets, a: &AttemptLog) -> LlmCall {
    LlmCall {
        client_name: a.client.clone(),
        provider: a.provider.clone(),
        timing: LogTiming {
            start_time_utc_ms: ms_since_epoch(a.started),
            duration_ms: Some(duration_ms(a.duration)),
        },
        http_request: a.request.as_ref().map(|r| LlmHttpRequest {
            url: secrets.redact(&r.url).into_owned(),
            method: r.method.to_string(),
            headers: headers_json(secrets, &r.headers),
            body: secrets.redact_json(&r.body),
        }),
        http_response: a.response.as_ref().map(|r| LlmHttpResponse {
            status: f64::from(r.status),
            headers: headers_json(secrets, &r.headers),
            body: secrets
                .redact(&String::from_utf8_lossy(&r.body))
                .into_owned(),
        }),
        usage: a.usage.as_ref().map(|u| LogUsage {
            input_tokens: u.input_tokens.map(js_number),
            output_tokens: u.output_tokens.map(js_number),
        }),
        selected: a.selected,
        stream: a.stream,
        error: a
            .error
            .as_ref()
            .map(|e| log_error(&secrets.redact_error(e.clone()))),
    }
}

/// What a finished call is recorded with.
pub(crate) struct Finished<'a> {
    pub(crate) function: &'a str,
    pub(crate) args: &'a Map<String, Json>,
    pub(crate) stream: bool,
    pub(crate) from_sandbox: bool,
    pub(crate) started: SystemTime,
    pub(crate) duration: Duration,
    pub(crate) log: &'a CallLog,
}

/// The log of a finished call, every secret of `secrets` taken out.
pub(crate) fn function_log(secrets: &Secrets, call: &Finished<'_>) -> FunctionLog {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let calls: Vec<LlmCall> = call
        .log
        .attempts
        .iter()
        .map(|a| llm_call(secrets, a))
        .collect();
    let reported = call.log.attempts.iter().any(|a| a.usage.is_some());
    let (result, error, raw) = match &call.log.result {
        Ok(out) => (
            Some(secrets.redact_json(&out.value)),
            None,
            Some(out.raw_output.clone()),
        ),
        Err(e) => {
            let e = secrets.redact_error(e.clone());
            let raw = match &e {
                CallError::Validation { raw_output, .. } => Some(raw_output.clone()),
                _ => None,
            };
            (None, Some(log_error(&e)), raw)
        }
    };
    FunctionLog {
        id: format!("fl-{}-{id}", std::process::id()),
        function_name: call.function.to_string(),
        log_type: if call.stream { "stream" } else { "call" }.to_string(),
        source: if call.from_sandbox {
            "sandbox"
        } else {
            "callFunction"
        }
        .to_string(),
        args: if secrets.is_empty() {
            Json::Object(call.args.clone())
        } else {
            Json::Object(
                call.args
                    .iter()
                    .map(|(k, v)| (secrets.redact(k).into_owned(), secrets.redact_json(v)))
                    .collect(),
            )
        },
        timing: LogTiming {
            start_time_utc_ms: ms_since_epoch(call.started),
            duration_ms: Some(duration_ms(call.duration)),
        },
        usage: usage_of(&call.log.usage, reported),
        // Filled in when the log is handed out (see `shown`): kept once, not twice, meanwhile.
        selected_call: None,
        calls,
        raw_llm_response: raw.map(|r| secrets.redact(&r).into_owned()),
        result,
        error,
    }
}

/// Logs with their sizes in bytes (see [`log_bytes`]), and the sizes' total.
type Kept = (VecDeque<(Arc<FunctionLog>, usize)>, usize);

/// A kept log as JavaScript sees it: with `selectedCall` filled in.
fn shown(log: &FunctionLog) -> FunctionLog {
    let mut out = log.clone();
    out.selected_call = out.calls.iter().find(|c| c.selected).cloned();
    out
}

/// A collector's state, shared by the calls that record into it.
#[derive(Default)]
pub(crate) struct CollectorState {
    logs: Mutex<Kept>,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
}

impl CollectorState {
    pub(crate) fn push(&self, log: Arc<FunctionLog>) {
        let count = |n: Option<f64>| {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "token counts are whole, non-negative and far below 2^53"
            )]
            let n = n.unwrap_or(0.0) as u64;
            n
        };
        self.input_tokens
            .fetch_add(count(log.usage.input_tokens), Ordering::Relaxed);
        self.output_tokens
            .fetch_add(count(log.usage.output_tokens), Ordering::Relaxed);
        let size = log_bytes(&log);
        let mut guard = lock(&self.logs);
        let (logs, bytes) = &mut *guard;
        while !logs.is_empty()
            && (logs.len() >= MAX_LOGS || bytes.saturating_add(size) > MAX_LOG_BYTES)
        {
            if let Some((_, n)) = logs.pop_front() {
                *bytes = bytes.saturating_sub(n);
            }
        }
        logs.push_back((log, size));
        *bytes = bytes.saturating_add(size);
    }
}

/// Records BAML function calls: pass it as `{ collector }` to `callFunction` or to a
/// `BamlContext` (which then records every BAML call its sandbox makes). Modelled on BAML's
/// `Collector`. It keeps the newest 10,000 logs.
#[napi]
pub struct Collector {
    name: String,
    pub(crate) state: Arc<CollectorState>,
}

#[napi]
impl Collector {
    /// A new, empty collector. `name` (default `"default"`) is for your own bookkeeping.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        #[napi(ts_arg_type = "string | null")] name: Option<Unknown>,
    ) -> Result<Self> {
        let name = match name {
            None => "default".to_string(),
            Some(v) => match v.get_type()? {
                ValueType::Undefined | ValueType::Null => "default".to_string(),
                ValueType::String => v.coerce_to_string()?.into_utf8()?.into_owned()?,
                other => {
                    let m = format!("name must be a string, got {}", options::type_name(other));
                    return Err(throw_invalid(&env, &m));
                }
            },
        };
        Ok(Collector {
            name,
            state: Arc::default(),
        })
    }

    /// The name given to the constructor.
    #[napi(getter, catch_unwind)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Every call recorded (at most the newest 10,000), oldest first.
    #[napi(getter, catch_unwind)]
    pub fn logs(&self) -> Vec<FunctionLog> {
        lock(&self.state.logs)
            .0
            .iter()
            .map(|(l, _)| shown(l))
            .collect()
    }

    /// The newest call recorded, or null.
    #[napi(getter, catch_unwind)]
    pub fn last(&self) -> Option<FunctionLog> {
        lock(&self.state.logs).0.back().map(|(l, _)| shown(l))
    }

    /// Tokens of every call recorded since creation or the last `clear()`.
    #[napi(getter, catch_unwind)]
    pub fn usage(&self) -> CollectorUsage {
        CollectorUsage {
            input_tokens: js_number(self.state.input_tokens.load(Ordering::Relaxed)),
            output_tokens: js_number(self.state.output_tokens.load(Ordering::Relaxed)),
        }
    }

    /// The call with this `id`, or null.
    #[napi(catch_unwind)]
    pub fn id(&self, id: String) -> Option<FunctionLog> {
        lock(&self.state.logs)
            .0
            .iter()
            .rev()
            .find(|(l, _)| l.id == id)
            .map(|(l, _)| shown(l))
    }

    /// Forgets every log and resets `usage`; returns how many logs there were.
    #[napi(catch_unwind)]
    pub fn clear(&self) -> u32 {
        let mut logs = lock(&self.state.logs);
        let n = logs.0.len();
        *logs = (VecDeque::new(), 0);
        self.state.input_tokens.store(0, Ordering::Relaxed);
        self.state.output_tokens.store(0, Ordering::Relaxed);
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// The collectors of a `collector` option: one `Collector` or an array of them.
pub(crate) fn collectors_from(
    v: &Unknown<'_>,
) -> std::result::Result<Vec<Arc<CollectorState>>, String> {
    let bad = || "option collector must be a Collector or an array of Collectors".to_string();
    let one = |v: Unknown<'_>| -> std::result::Result<Arc<CollectorState>, String> {
        match v.get_type() {
            Ok(ValueType::Object) => ClassInstance::<Collector>::from_unknown(v)
                .map(|c| c.state.clone())
                .map_err(|_| bad()),
            Ok(t) => Err(format!("{}, got {}", bad(), options::type_name(t))),
            Err(_) => Err(bad()),
        }
    };
    match v.get_type() {
        Ok(ValueType::Undefined | ValueType::Null) => return Ok(Vec::new()),
        Ok(ValueType::Object) => {}
        Ok(t) => return Err(format!("{}, got {}", bad(), options::type_name(t))),
        Err(_) => return Err(bad()),
    }
    if v.is_array().unwrap_or(false) {
        let array = Array::from_unknown(*v).map_err(|_| bad())?;
        let mut out = Vec::new();
        for i in 0..array.len() {
            let item: Unknown = array.get_element(i).map_err(|_| bad())?;
            out.push(one(item)?);
        }
        return Ok(out);
    }
    Ok(vec![one(*v)?])
}

pub(crate) type OnCallFn = FunctionRef<FunctionLog, Unknown<'static>>;

/// What watches a context's BAML calls: its collectors and its `onBamlCall`.
pub(crate) struct Observers {
    collectors: Vec<Arc<CollectorState>>,
    on_call: Mutex<Option<OnCallFn>>,
    mailbox: Arc<Mailbox>,
    /// `onBamlCall` calls posted and not yet run, and logs skipped since the last warning.
    pending: AtomicU64,
    skipped: AtomicU64,
}

impl Observers {
    pub(crate) fn new(
        collectors: Vec<Arc<CollectorState>>,
        on_call: Option<OnCallFn>,
        mailbox: Arc<Mailbox>,
    ) -> Option<Arc<Observers>> {
        if collectors.is_empty() && on_call.is_none() {
            return None;
        }
        Some(Arc::new(Observers {
            collectors,
            on_call: Mutex::new(on_call),
            mailbox,
            pending: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }))
    }

    /// Records a finished call (any thread): into the collectors at once, and to `onBamlCall`
    /// on Node's thread.
    pub(crate) fn observe(self: &Arc<Self>, log: FunctionLog) {
        let log = Arc::new(log);
        for c in &self.collectors {
            c.push(log.clone());
        }
        if lock(&self.on_call).is_none() {
            return;
        }
        if self.pending.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING_HOOKS {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let this = self.clone();
        self.mailbox.post(Job::Call(Box::new(move |env| {
            this.pending.fetch_sub(1, Ordering::AcqRel);
            let skipped = this.skipped.swap(0, Ordering::Relaxed);
            if skipped > 0 {
                warn(
                    env,
                    &format!("it fell behind: {skipped} call log(s) were not handed to it"),
                );
            }
            // Not called under the lock: the callback may dispose the context.
            let f = lock(&this.on_call)
                .as_ref()
                .and_then(|f| f.borrow_back(env).ok());
            if let Some(f) = f {
                call_on_baml_call(env, &f, shown(&log));
            }
        })));
    }

    /// Drops `onBamlCall` (Node's thread, when the context is disposed).
    pub(crate) fn clear(&self) {
        let f = lock(&self.on_call).take();
        drop(f);
    }
}

/// Calls `onBamlCall`. What it throws, or the rejection of the promise it returns, becomes a
/// process warning (`process.emitWarning`, type `BamlQuickjsWarning`, code
/// `BAML_ON_CALL_FAILED`): the embedder's
/// callback failing must neither reach the sandbox nor become an uncaught exception.
fn call_on_baml_call(env: &Env, f: &Function<'_, FunctionLog, Unknown<'static>>, log: FunctionLog) {
    match f.call(log) {
        Ok(result) => {
            if result.is_promise().unwrap_or(false) {
                let caught = PromiseRaw::<Unknown>::from_unknown(result).and_then(|p| {
                    p.catch(|ctx: CallbackContext<Unknown>| {
                        warn(&ctx.env, &message_of(&ctx.value));
                        Ok(())
                    })
                    .map(|_| ())
                });
                if caught.is_err() {
                    warn(env, "its promise could not be awaited");
                }
            }
        }
        Err(e) => {
            let thrown = JsError::from(e).into_unknown(*env);
            warn(env, &message_of(&thrown));
        }
    }
}

fn warn(env: &Env, message: &str) {
    let emitted = (|| -> Result<()> {
        let process: Object = env.get_global()?.get_named_property("process")?;
        let emit: Function<FnArgs<(String, String, String)>, Unknown> =
            process.get_named_property("emitWarning")?;
        emit.call(FnArgs::from((
            format!("onBamlCall failed: {message}"),
            "BamlQuickjsWarning".to_string(),
            "BAML_ON_CALL_FAILED".to_string(),
        )))?;
        Ok(())
    })();
    if emitted.is_err() {
        let _ = crate::errors::take_exception(env);
    }
}
