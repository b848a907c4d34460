//! BAML functions called from sandboxed code: `b.F(...)` starts `Runtime::call` as a tokio task
//! (no Node thread involved), its result or BAML error is copied back into the sandbox, and
//! dropping the call's guard (the evaluation ended, the context was disposed) aborts the task,
//! which drops its HTTP request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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

/// What a context needs to run BAML calls.
pub(crate) struct BamlBinding {
    runtime: Arc<Runtime>,
    env: BTreeMap<String, String>,
    /// Per exposed function: its name and parameter names in order.
    functions: Vec<(String, Vec<String>)>,
    pub(crate) usage: Arc<UsageCounters>,
}

thread_local! {
    /// Set while a BAML call's result is handed to its sandbox on a tokio worker: the turn
    /// that applies it may start right here (for one short slice) instead of hopping threads.
    static REPLYING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread is handing over a BAML result (see `REPLYING`).
pub(crate) fn replying() -> bool {
    REPLYING.with(std::cell::Cell::get)
}

fn reply_here(reply: Reply, result: Result<Value, HostError>) {
    REPLYING.with(|r| r.set(true));
    reply(result);
    REPLYING.with(|r| r.set(false));
}

impl BamlBinding {
    pub(crate) fn new(runtime: Arc<Runtime>, env: BTreeMap<String, String>) -> BamlBinding {
        let functions = runtime
            .ir()
            .functions
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    f.params.iter().map(|p| p.name.clone()).collect(),
                )
            })
            .collect();
        BamlBinding {
            runtime,
            env,
            functions,
            usage: Arc::new(UsageCounters::default()),
        }
    }

    /// The names the sandbox exposes, in index order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.functions.iter().map(|(n, _)| n.clone()).collect()
    }

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
        if args.len() > params.len() {
            reply(Err(invalid_argument(format!(
                "{name} takes {} argument(s) ({}), got {}",
                params.len(),
                params.join(", "),
                args.len()
            ))));
            return None;
        }
        let mut named = serde_json::Map::new();
        for (p, v) in params.iter().zip(&args) {
            if *v != Value::Undefined {
                named.insert(p.clone(), to_json(v));
            }
        }
        self.usage.calls.fetch_add(1, Ordering::Relaxed);
        let runtime = self.runtime.clone();
        let usage = self.usage.clone();
        let options = CallOptions {
            env: self.env.clone(),
            client: None,
        };
        let name = name.clone();
        let task = crate::eager::spawn_call(crate::eager::small_args(&named), async move {
            let mut sink = |v: Json| {
                if let Some(p) = &partial {
                    p(from_json(&v));
                }
            };
            let streaming = partial.is_some();
            let result = runtime
                .call(
                    &name,
                    &named,
                    &options,
                    if streaming { Some(&mut sink) } else { None },
                )
                .await;
            match result {
                Ok(out) => {
                    usage
                        .input_tokens
                        .fetch_add(out.usage.input_tokens, Ordering::Relaxed);
                    usage
                        .output_tokens
                        .fetch_add(out.usage.output_tokens, Ordering::Relaxed);
                    reply_here(reply, Ok(from_json(&out.value)));
                }
                Err(e) => reply_here(reply, Err(host_error(&e))),
            }
        });
        Some(Box::new(task))
    }
}

fn invalid_argument(message: String) -> HostError {
    HostError {
        name: "BamlInvalidArgumentError".into(),
        message,
        fields: vec![("code".into(), Value::String("BAML_INVALID_ARGUMENT".into()))],
    }
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
    }
}

/// A copied sandbox value as JSON (dates as their time in ms, `undefined` dropped from objects).
pub(crate) fn to_json(v: &Value) -> Json {
    match v {
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
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Object(props) => Json::Object(
            props
                .iter()
                .filter(|(_, v)| *v != Value::Undefined)
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
        Value::Date(ms) => Json::from(*ms),
    }
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
