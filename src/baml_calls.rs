//! BAML functions called from sandboxed code: `b.F(...)` starts `Runtime::call` as a tokio task
//! (no Node thread involved), its result or BAML error is copied back into the sandbox, and
//! dropping the call's guard (the evaluation ended, the context was disposed) aborts the task,
//! which drops its HTTP request.
//!
//! The errors a context's calls failed with are kept (the newest [`GENUINE_ERRORS`]), each under
//! the origin id the sandbox's copy carries: if that very error escapes an evaluation, Node gets
//! it back with its `BAML_*` code and fields, which sandboxed code can therefore not forge.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use baml_runtime::{CallError, CallOptions, Runtime};
use baml_sandbox::{CallGuard, HostError, Partial, Reply, Value};
use serde_json::Value as Json;

/// Calls and tokens of one context (`usage()`).
#[derive(Debug, Default)]
pub(crate) struct UsageCounters {
    pub(crate) calls: AtomicU64,
    pub(crate) input_tokens: AtomicU64,
    pub(crate) output_tokens: AtomicU64,
}

/// How many failed calls' errors a context keeps for `BAML_*` errors that escape (the sandbox
/// remembers as many error objects).
const GENUINE_ERRORS: usize = 256;

/// The most BAML calls one context may have in flight; past it a call rejects at once.
pub(crate) const MAX_CALLS_PER_CONTEXT: usize = 1_000;

/// What a context needs to run BAML calls.
pub(crate) struct BamlBinding {
    runtime: Arc<Runtime>,
    /// The project as loaded, and the context's own additions: a call's type builder is
    /// applied over these.
    base: Arc<Runtime>,
    overlay: baml_runtime::Overlay,
    /// The client every call uses instead of its function's (a client registry's primary).
    client: Option<String>,
    /// Media URLs from sandboxed code are downloaded only if the context allows it.
    media: baml_runtime::MediaPolicy,
    env: BTreeMap<String, String>,
    /// Per exposed function: its name and parameter names in order.
    functions: Vec<(String, Vec<String>)>,
    pub(crate) usage: Arc<UsageCounters>,
    in_flight: Arc<AtomicUsize>,
    next_origin: AtomicU64,
    genuine: Arc<Genuine>,
    /// Taken out of every error the sandbox sees (API keys, env values; see
    /// `baml_runtime::Secrets`).
    secrets: Arc<baml_runtime::Secrets>,
    /// The sandbox's memory limit, and what its calls in flight may take to render: a call's
    /// arguments become JSON, a prompt and an escaped request body in this process, about
    /// [`RENDER_COPIES`] times their size. One call may take at most the memory limit; all
    /// calls in flight [`RENDER_COPIES`] times it (the sandbox lets the arguments of calls in
    /// flight take the memory limit; a worker process that sends more is refused here).
    memory_limit: usize,
    rendering: Arc<baml_sandbox::Outbox>,
    /// The context's collectors and `onBamlCall`, if it has any: calls are then recorded.
    pub(crate) observers: Option<Arc<crate::collector::Observers>>,
}

/// About how many times its arguments' size a call takes while it is rendered and sent.
const RENDER_COPIES: usize = 3;

/// About how many bytes a call's arguments take as text.
fn arg_bytes(args: &[Value]) -> usize {
    let mut total = 0usize;
    let mut stack: Vec<&Value> = args.iter().collect();
    while let Some(v) = stack.pop() {
        total = total.saturating_add(8);
        match v {
            Value::String(s) => total = total.saturating_add(s.len()),
            Value::Array(items) => stack.extend(items.iter()),
            Value::Object(props) => {
                for (k, item) in props {
                    total = total.saturating_add(k.len());
                    stack.push(item);
                }
            }
            Value::Map(entries) => {
                for (k, item) in entries {
                    stack.push(k);
                    stack.push(item);
                }
            }
            _ => {}
        }
    }
    total
}

/// Counts a call in flight until dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl BamlBinding {
    pub(crate) fn new(
        runtime: Arc<Runtime>,
        env: BTreeMap<String, String>,
        memory_limit: usize,
    ) -> BamlBinding {
        let ir = runtime.ir();
        let functions = ir
            .functions
            .iter()
            .map(|f| (f.name.clone(), &f.params))
            .chain(
                ir.expr_functions
                    .iter()
                    .filter(|f| f.class.is_none())
                    .map(|f| (f.name.clone(), &f.params)),
            )
            .map(|(name, params)| (name, params.iter().map(|p| p.name.clone()).collect()))
            .collect();
        let secrets = Arc::new(runtime.secrets(&env));
        BamlBinding {
            base: runtime.clone(),
            overlay: baml_runtime::Overlay::default(),
            runtime,
            client: None,
            media: baml_runtime::MediaPolicy {
                download: false,
                ..baml_runtime::MediaPolicy::default()
            },
            env,
            secrets,
            memory_limit,
            rendering: baml_sandbox::Outbox::new(memory_limit.saturating_mul(RENDER_COPIES)),
            functions,
            usage: Arc::new(UsageCounters::default()),
            in_flight: Arc::new(AtomicUsize::new(0)),
            next_origin: AtomicU64::new(1),
            genuine: Arc::default(),
            observers: None,
        }
    }

    /// Records this context's calls into `observers` (see `collector`).
    /// Whether media URLs given by sandboxed code may be downloaded (`downloadMedia`).
    pub(crate) fn with_media_downloads(mut self, allowed: bool) -> BamlBinding {
        self.media.download = allowed;
        self
    }

    /// The context's client registry primary, and the project before the context's additions.
    pub(crate) fn with_builders(
        mut self,
        client: Option<String>,
        base: Arc<Runtime>,
        overlay: baml_runtime::Overlay,
    ) -> BamlBinding {
        self.client = client;
        self.base = base;
        self.overlay = overlay;
        self
    }

    pub(crate) fn with_observers(
        mut self,
        observers: Option<Arc<crate::collector::Observers>>,
    ) -> BamlBinding {
        self.observers = observers;
        self
    }

    /// Records a call that failed before it started (its arguments were refused).
    fn observe_refused(&self, name: &str, args: &[Value], params: &[String], e: &CallError) {
        let Some(observers) = &self.observers else {
            return;
        };
        let named = params
            .iter()
            .zip(args)
            .map(|(p, v)| {
                let json = to_json(v, &baml_sandbox::push_path("", p)).unwrap_or(Json::Null);
                (p.clone(), json)
            })
            .collect();
        let log = baml_runtime::CallLog {
            result: Err(e.clone()),
            usage: baml_runtime::Usage::default(),
            attempts: Vec::new(),
        };
        observers.observe(crate::collector::function_log(
            &self.secrets,
            &crate::collector::Finished {
                function: name,
                args: &named,
                stream: false,
                from_sandbox: true,
                started: std::time::SystemTime::now(),
                duration: std::time::Duration::ZERO,
                log: &log,
            },
        ));
    }

    /// The error a call of this context failed with, by the origin its sandbox copy carries.
    pub(crate) fn genuine(&self, origin: u64) -> Option<Arc<CallError>> {
        self.genuine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|(o, _)| *o == origin)
            .map(|(_, e)| e.clone())
    }

    /// The names the sandbox exposes, in index order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.functions.iter().map(|(n, _)| n.clone()).collect()
    }

    #[expect(
        clippy::too_many_lines,
        reason = "every refusal before a call starts, then the call's task, in one place"
    )]
    pub(crate) fn call(
        &self,
        index: usize,
        args: Vec<Value>,
        partial: Option<Partial>,
        reply: Reply,
    ) -> Option<CallGuard> {
        let Some((name, params)) = self.functions.get(index) else {
            reply(Err(HostError::from("unknown BAML function")));
            return None;
        };
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_CALLS_PER_CONTEXT {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            reply(Err(HostError {
                name: "RangeError".into(),
                message: format!(
                    "more than {MAX_CALLS_PER_CONTEXT} BAML calls in flight in this context"
                ),
                fields: Vec::new(),
                origin: None,
            }));
            return None;
        }
        let counted = InFlight(self.in_flight.clone());
        let cost = arg_bytes(&args).saturating_mul(RENDER_COPIES);
        if cost > self.memory_limit {
            let e = CallError::InvalidArgument(format!(
                "the arguments of {name} take about {} bytes; rendering and sending them would take more than the sandbox's memory limit of {} bytes",
                cost / RENDER_COPIES,
                self.memory_limit
            ));
            let origin = self.next_origin.fetch_add(1, Ordering::Relaxed);
            self.observe_refused(name, &[], params, &e);
            reply(Err(keep_genuine(&self.genuine, &self.secrets, origin, e)));
            return None;
        }
        let Some(rendering) = self.rendering.reserve(cost) else {
            reply(Err(HostError {
                name: "RangeError".into(),
                message: format!(
                    "BAML calls in flight would take more than {} bytes to render ({RENDER_COPIES} times the sandbox's memory limit)",
                    self.rendering.limit()
                ),
                fields: Vec::new(),
                origin: None,
            }));
            return None;
        };
        let (args, call_tb) = match split_options(name, params, args) {
            Ok(split) => split,
            Err(message) => {
                let e = CallError::InvalidArgument(message);
                let origin = self.next_origin.fetch_add(1, Ordering::Relaxed);
                self.observe_refused(name, &[], params, &e);
                reply(Err(keep_genuine(&self.genuine, &self.secrets, origin, e)));
                return None;
            }
        };
        let named = match named_args(name, params, &args) {
            Ok(named) => named,
            Err(message) => {
                let e = CallError::InvalidArgument(message);
                let origin = self.next_origin.fetch_add(1, Ordering::Relaxed);
                self.observe_refused(name, &args, params, &e);
                reply(Err(keep_genuine(&self.genuine, &self.secrets, origin, e)));
                return None;
            }
        };
        self.usage.calls.fetch_add(1, Ordering::Relaxed);
        let runtime = self.runtime.clone();
        let builders = call_tb.map(|tb| (self.base.clone(), self.overlay.clone(), tb));
        let usage = self.usage.clone();
        let options = CallOptions {
            env: self.env.clone(),
            client: self.client.clone(),
            media: self.media,
        };
        let name = name.clone();
        let origin = self.next_origin.fetch_add(1, Ordering::Relaxed);
        let genuine = self.genuine.clone();
        let secrets = self.secrets.clone();
        let observers = self.observers.clone();
        let task = crate::eager::spawn_call(crate::eager::small_args(&named), async move {
            let _counted = counted;
            let _rendering = rendering;
            let mut sink = |v: Json| {
                if let Some(p) = &partial {
                    p(from_json(&v));
                }
            };
            let streaming = partial.is_some();
            let started = (std::time::SystemTime::now(), std::time::Instant::now());
            // A type builder of the call's own: the project loads with it here, off Node's thread.
            let runtime = match builders {
                None => Ok(runtime),
                Some((base, overlay, tb)) => with_call_types(&base, &overlay, &tb),
            };
            let log = match runtime {
                Ok(runtime) => {
                    runtime
                        .call_logged(
                            &name,
                            &named,
                            &options,
                            if streaming { Some(&mut sink) } else { None },
                            observers.is_some(),
                        )
                        .await
                }
                Err(e) => baml_runtime::CallLog {
                    result: Err(e),
                    usage: baml_runtime::Usage::default(),
                    attempts: Vec::new(),
                },
            };
            account(
                &usage,
                observers.as_ref(),
                &secrets,
                &crate::collector::Finished {
                    function: &name,
                    args: &named,
                    stream: streaming,
                    from_sandbox: true,
                    started: started.0,
                    duration: started.1.elapsed(),
                    log: &log,
                },
            );
            match log.result {
                Ok(out) => reply(Ok(from_json(&out.value))),
                Err(e) => reply(Err(keep_genuine(&genuine, &secrets, origin, e))),
            }
        });
        Some(Box::new(task))
    }
}

/// Counts a finished call's tokens (whether or not its answer could be used: a validation
/// failure used them too) and records it for the context's observers.
fn account(
    usage: &UsageCounters,
    observers: Option<&Arc<crate::collector::Observers>>,
    secrets: &baml_runtime::Secrets,
    call: &crate::collector::Finished<'_>,
) {
    usage
        .input_tokens
        .fetch_add(call.log.usage.input_tokens, Ordering::Relaxed);
    usage
        .output_tokens
        .fetch_add(call.log.usage.output_tokens, Ordering::Relaxed);
    if let Some(observers) = observers {
        observers.observe(crate::collector::function_log(secrets, call));
    }
}

type Genuine = Mutex<VecDeque<(u64, Arc<CallError>)>>;

/// Keeps `e`, every secret taken out, as the genuine error of call `origin`, and returns the
/// sandbox's copy of it. Node sees the same redacted text when the error escapes an
/// evaluation: what comes out of a sandbox is often shown to whoever wrote its code.
fn keep_genuine(
    genuine: &Genuine,
    secrets: &baml_runtime::Secrets,
    origin: u64,
    e: CallError,
) -> HostError {
    let e = secrets.redact_error(e);
    let mut err = host_error(&e);
    err.origin = Some(origin);
    let mut kept = genuine.lock().unwrap_or_else(PoisonError::into_inner);
    if kept.len() >= GENUINE_ERRORS {
        kept.pop_front();
    }
    kept.push_back((origin, Arc::new(e)));
    err
}

/// A BAML error as sandboxed code sees it: BAML's class name and snake_case fields, plus `code`.
fn host_error(e: &CallError) -> HostError {
    let s = |v: &str| Value::String(v.to_string());
    let mut fields = vec![("code".to_string(), s(e.code()))];
    match e {
        CallError::Http {
            status,
            client,
            raw_response,
            message,
            ..
        } => {
            fields.push((
                "status_code".into(),
                status.map_or(Value::Null, |c| Value::Number(f64::from(c))),
            ));
            fields.push(("client_name".into(), s(client)));
            fields.push((
                "raw_output".into(),
                raw_response.as_deref().map_or(Value::Null, s),
            ));
            fields.push(("detailed_message".into(), s(message)));
        }
        CallError::FinishReason {
            client,
            finish_reason,
            raw_output,
            message,
        } => {
            fields.push(("finish_reason".into(), s(finish_reason)));
            fields.push(("client_name".into(), s(client)));
            fields.push(("raw_output".into(), s(raw_output)));
            fields.push(("detailed_message".into(), s(message)));
        }
        CallError::Validation {
            raw_output,
            prompt,
            message,
        } => {
            fields.push(("raw_output".into(), s(raw_output)));
            fields.push(("prompt".into(), s(prompt)));
            fields.push(("detailed_message".into(), s(message)));
        }
        _ => {}
    }
    HostError {
        name: e.class_name().into(),
        message: e.to_string(),
        fields,
        origin: None,
    }
}

/// The arguments of BAML function `name` by parameter name, as JSON (`undefined` ones left
/// out), or why they cannot be.
/// The most a type builder passed by sandboxed code may take, as JSON.
const MAX_CALL_TYPES: usize = 64 << 10;

/// Splits BAML's trailing options object (`b.F(x, { tb })`: one argument more than the
/// function has parameters) from the arguments. Sandboxed code may pass a type builder; a
/// client registry is the embedder's to choose.
fn split_options(
    name: &str,
    params: &[String],
    mut args: Vec<Value>,
) -> Result<(Vec<Value>, Option<Json>), String> {
    if args.len() != params.len() + 1 {
        return Ok((args, None));
    }
    let Some(Value::Object(entries)) = args.last() else {
        return Ok((args, None));
    };
    let mut tb = None;
    for (key, v) in entries {
        match key.as_str() {
            "tb" => {
                let json = to_json(v, "options.tb").map_err(|m| format!("{name}: {m}"))?;
                // A sandbox TypeBuilder crosses as its fields; its record is `__baml`.
                let spec = match json {
                    Json::Object(mut o) if o.contains_key("__baml") => {
                        o.remove("__baml").unwrap_or_default()
                    }
                    other => other,
                };
                if serde_json::to_vec(&spec).map_or(usize::MAX, |v| v.len()) > MAX_CALL_TYPES {
                    return Err(format!(
                        "{name}: the type builder takes more than {MAX_CALL_TYPES} bytes"
                    ));
                }
                tb = Some(spec);
            }
            "clientRegistry" => {
                return Err(format!(
                    "{name}: sandboxed code cannot pass a clientRegistry (clients are chosen by the embedder: BamlContext's clientRegistry option)"
                ))
            }
            other => {
                return Err(format!(
                    "{name}: unknown call option {other:?} (sandboxed calls take {{ tb }})"
                ))
            }
        }
    }
    args.pop();
    Ok((args, tb))
}

/// The context's runtime with a call's own type builder (it replaces the context's `tb`; the
/// context's client registry stays).
fn with_call_types(
    base: &Arc<Runtime>,
    overlay: &baml_runtime::Overlay,
    tb: &Json,
) -> Result<Arc<Runtime>, CallError> {
    let (types, _) = baml_runtime::overlay_from(base.ir(), Some(tb), None)
        .map_err(CallError::InvalidArgument)?;
    let overlay = baml_runtime::Overlay {
        types: types.types,
        clients: overlay.clients.clone(),
    };
    base.with_overlay(&overlay)
        .map_err(|e| CallError::InvalidArgument(e.to_string()))
}

fn named_args(
    name: &str,
    params: &[String],
    args: &[Value],
) -> Result<serde_json::Map<String, Json>, String> {
    if args.len() > params.len() {
        return Err(format!(
            "{name} takes {} argument(s) ({}), got {}",
            params.len(),
            params.join(", "),
            args.len()
        ));
    }
    let mut named = serde_json::Map::new();
    for (p, v) in params.iter().zip(args) {
        if *v != Value::Undefined {
            let json =
                to_json(v, &baml_sandbox::push_path("", p)).map_err(|m| format!("{name}: {m}"))?;
            named.insert(p.clone(), json);
        }
    }
    Ok(named)
}

/// A copied sandbox value as JSON (dates as their time in ms, `undefined` dropped from objects,
/// a `Map` with string keys as an object). What BAML has no type for (other maps, sets,
/// buffers, typed arrays, regular expressions, errors) is refused with its path (`path` names
/// `v`), as a message for `BAML_INVALID_ARGUMENT`.
pub(crate) fn to_json(v: &Value, path: &str) -> Result<Json, String> {
    let refuse = |what: &str| {
        Err(format!(
            "argument {} is {what}, which BAML functions do not take",
            path.trim_start_matches('.')
        ))
    };
    Ok(match v {
        Value::Undefined | Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => {
            #[expect(clippy::cast_possible_truncation, reason = "integral and within i64")]
            let int = (n.fract() == 0.0 && n.abs() < 9.0e15).then_some(*n as i64);
            match int {
                Some(i) => Json::from(i),
                None => serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number),
            }
        }
        Value::String(s) => Json::String(s.clone()),
        Value::Array(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to_json(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(props) => Json::Object(
            props
                .iter()
                .filter(|(_, v)| *v != Value::Undefined)
                .map(|(k, v)| Ok((k.clone(), to_json(v, &baml_sandbox::push_path(path, k))?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Date(ms) => Json::from(*ms),
        Value::Map(entries) => {
            let mut out = serde_json::Map::new();
            for (i, (k, item)) in entries.iter().enumerate() {
                let Value::String(k) = k else {
                    return refuse(&format!(
                        "a Map with a key that is not a string (entry {i})"
                    ));
                };
                if *item != Value::Undefined {
                    out.insert(
                        k.clone(),
                        to_json(
                            item,
                            &format!("{path}{}", baml_sandbox::map_value_segment(i)),
                        )?,
                    );
                }
            }
            Json::Object(out)
        }
        Value::Set(_) => return refuse("a Set"),
        Value::ArrayBuffer(_) => return refuse("an ArrayBuffer"),
        Value::TypedArray { kind, .. } => return refuse(&format!("a {}", kind.constructor())),
        Value::RegExp(_) => return refuse("a RegExp"),
        Value::Error(_) => return refuse("an Error"),
    })
}

/// A JSON value as a sandbox value.
pub(crate) fn from_json(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(from_json).collect()),
        Json::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}
