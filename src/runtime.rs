//! `BamlRuntime`: a loaded BAML project shared by every context.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use std::collections::BTreeMap;
use std::ptr;
use std::sync::{Mutex, PoisonError};

use napi::sys;

use crate::abort::{add_listener, remove_listener, ListenerRefs};
use crate::errors::{call_error, invalid_arg, load_error, throw, validation_error};
use crate::main_thread::poster;
use crate::util::{
    call, clear_exception, delete_ref, deref, get, own_keys, reference, to_bool, to_rust_string,
    type_of, undefined, Env as RawEnv, Raw, Sendable,
};

/// One BAML function as `functions()` lists it.
#[napi(object)]
pub struct BamlFunctionInfo {
    pub name: String,
    pub params: Vec<BamlParamInfo>,
    pub return_type: String,
}

/// One parameter: its name and its BAML type as written.
#[napi(object)]
pub struct BamlParamInfo {
    pub name: String,
    pub r#type: String,
}

/// Options of `callFunction()`.
#[expect(
    dead_code,
    reason = "declares the TypeScript interface; options are read field by field"
)]
#[napi(object, object_to_js = false)]
pub struct CallOptions {
    /// Values for `env.NAME` in client options, over the runtime's `env`.
    pub env: Option<HashMap<String, String>>,
    /// Aborting it drops the HTTP request and rejects with `code: 'BAML_ABORTED'`.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<String>,
    /// Use this client (a name from the project, or `"provider/model"`) instead of the function's.
    pub client: Option<String>,
    /// Ask the provider to stream its answer (server-sent events).
    pub stream: Option<bool>,
    /// Streams the answer and calls this with partial results (snapshots of the result so far;
    /// one still waiting for Node is replaced by a newer one).
    #[napi(ts_type = "(partial: unknown) => void")]
    pub on_partial: Option<String>,
}

/// Options of `renderRequest()`.
#[expect(
    dead_code,
    reason = "declares the TypeScript interface; options are read field by field"
)]
#[napi(object, object_to_js = false)]
pub struct RenderRequestOptions {
    /// The request of a streaming call.
    pub stream: Option<bool>,
    /// Values for `env.NAME` in client options, over the runtime's `env`.
    pub env: Option<HashMap<String, String>>,
    /// Use this client instead of the function's.
    pub client: Option<String>,
}

/// Options of `parse()`.
#[napi(object)]
pub struct ParseOptions {
    /// Parse an unfinished stream: values not yet complete are left out or null.
    pub partial: Option<bool>,
}

/// A set of `.baml` sources, parsed and validated once and shared by every `BamlContext`.
/// Immutable and safe to share between contexts and calls.
#[napi]
pub struct BamlRuntime {
    pub(crate) inner: Arc<baml_runtime::Runtime>,
}

fn load(
    env: &Env,
    result: std::result::Result<baml_runtime::Runtime, baml_runtime::LoadError>,
) -> Result<BamlRuntime> {
    match result {
        Ok(rt) => Ok(BamlRuntime {
            inner: Arc::new(rt),
        }),
        Err(e) => Err(unsafe { throw(env.raw(), load_error(env.raw(), &e)) }),
    }
}

#[napi]
impl BamlRuntime {
    /// Loads `.baml` sources given as `{ "relative/path.baml": source }`. Throws an `Error` with
    /// `code: 'BAML_SYNTAX'` and every `diagnostics` entry (`file`, `line`, `column`, `message`).
    /// `env` supplies `env.NAME` references in client options.
    #[napi(factory, catch_unwind)]
    pub fn from_files(
        napi_env: Env,
        files: HashMap<String, String>,
        env: Option<HashMap<String, String>>,
    ) -> Result<BamlRuntime> {
        let mut files: Vec<(String, String)> = files.into_iter().collect();
        files.sort();
        load(
            &napi_env,
            baml_runtime::Runtime::from_files(files, env.unwrap_or_default()),
        )
    }

    /// Loads every `*.baml` file under `dir`, recursively.
    #[napi(factory, catch_unwind)]
    pub fn from_directory(
        napi_env: Env,
        dir: String,
        env: Option<HashMap<String, String>>,
    ) -> Result<BamlRuntime> {
        load(
            &napi_env,
            baml_runtime::Runtime::from_directory(Path::new(&dir), env.unwrap_or_default()),
        )
    }

    /// The BAML functions: name, parameters (name and BAML type text), return type text.
    #[napi(catch_unwind)]
    pub fn functions(&self) -> Vec<BamlFunctionInfo> {
        self.inner
            .ir()
            .functions
            .iter()
            .map(|f| BamlFunctionInfo {
                name: f.name.clone(),
                params: f
                    .params
                    .iter()
                    .map(|p| BamlParamInfo {
                        name: p.name.clone(),
                        r#type: p.ty.to_string(),
                    })
                    .collect(),
                return_type: f.ret.to_string(),
            })
            .collect()
    }

    /// Parses model output text as function `name`'s return type (BAML's `b.parse`; with
    /// `partial: true`, `b.parseStream` for an unfinished stream). Throws `BAML_VALIDATION` with
    /// `rawOutput` when the text cannot be read as that type.
    #[napi(catch_unwind, ts_return_type = "unknown")]
    pub fn parse(
        &self,
        env: Env,
        name: String,
        text: String,
        #[napi(ts_arg_type = "{ partial?: boolean }")] options: Option<ParseOptions>,
    ) -> Result<serde_json::Value> {
        let partial = options.and_then(|o| o.partial).unwrap_or(false);
        let Some(function) = self.inner.ir().function(&name) else {
            let known: Vec<&str> = self
                .inner
                .ir()
                .functions
                .iter()
                .map(|f| f.name.as_str())
                .collect();
            let msg = format!(
                "unknown BAML function `{name}`; the project has: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
            return Err(unsafe { throw(env.raw(), invalid_arg(env.raw(), &msg)) });
        };
        baml_sap::parse(self.inner.ir(), &function.ret, &text, partial)
            .map_err(|e| unsafe { throw(env.raw(), validation_error(env.raw(), &e, &text)) })
    }

    /// Calls BAML function `name` from Node (no sandbox). `args` are by parameter name.
    /// Resolves with the parsed result; rejects with `BAML_HTTP`, `BAML_VALIDATION`,
    /// `BAML_FINISH_REASON`, `BAML_INVALID_ARGUMENT` or `BAML_ABORTED`.
    #[napi(ts_return_type = "Promise<unknown>", catch_unwind)]
    #[allow(
        clippy::too_many_lines,
        reason = "options, promise, abort listener and the spawned call in one place; `expect` misfires through the napi macro"
    )]
    pub fn call_function(
        &self,
        env: Env,
        name: String,
        #[napi(ts_arg_type = "Record<string, unknown>")] args: serde_json::Value,
        #[napi(ts_arg_type = "CallOptions")] options: Option<Unknown>,
    ) -> Result<Unknown<'static>> {
        let raw_env = env.raw();
        let args = args_map(raw_env, args)?;
        let opts = unsafe { call_options(raw_env, options.as_ref().map(napi::JsValue::raw))? };
        let (deferred, promise) = unsafe { new_promise(raw_env)? };
        if opts.aborted {
            unsafe {
                sys::napi_reject_deferred(
                    raw_env,
                    deferred,
                    call_error(raw_env, &baml_runtime::CallError::Aborted),
                )
            };
            return Ok(promise);
        }
        let poster = unsafe { poster(raw_env) }
            .map_err(|_| napi::Error::from_reason("cannot reach Node's thread"))?;
        unsafe { poster.hold(raw_env) };
        let (cancel_tx, cancel_rx) = tokio::sync::oneshot::channel::<()>();
        let cancel: Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>> =
            Arc::new(Mutex::new(Some(cancel_tx)));
        let listener: Arc<Mutex<Option<ListenerRefs>>> = Arc::new(Mutex::new(None));
        if let Some(signal) = opts.signal {
            match unsafe { add_listener(raw_env, signal, cancel.clone(), trip) } {
                Some(refs) => {
                    *listener
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(refs);
                }
                None => {
                    unsafe { clear_exception(raw_env) };
                }
            }
        }
        let on_partial = match opts.on_partial {
            Some(f) => Some(Sendable(
                unsafe { reference(raw_env, f) }
                    .map_err(|_| napi::Error::from_reason("cannot keep onPartial"))?,
            )),
            None => None,
        };
        let on_partial_ref = on_partial.as_ref().map(Sendable::get).map(Sendable);
        let rt = self.inner.clone();
        let deferred = Sendable(deferred);
        let task_poster = poster.clone();
        let stream_flag = opts.stream;
        let call_options = baml_runtime::CallOptions {
            env: opts.env,
            client: opts.client,
        };
        crate::eager::spawn_call(crate::eager::small_args(&args), async move {
            let partial_poster = task_poster.clone();
            // The newest partial not yet handed to Node: a partial is a snapshot of the whole
            // result so far, so when Node falls behind the stream it gets the newest one, and
            // memory holds one snapshot, not every one produced meanwhile.
            let waiting: Arc<Mutex<Option<serde_json::Value>>> = Arc::default();
            let mut sink = |v: serde_json::Value| {
                if let Some(f) = &on_partial_ref {
                    let stale = waiting
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .replace(v);
                    if stale.is_some() {
                        // A task is already posted; it will take this one.
                        return;
                    }
                    let f = Sendable(f.get());
                    let slot = waiting.clone();
                    partial_poster.post(Box::new(move |env| unsafe {
                        let Some(v) = slot.lock().unwrap_or_else(PoisonError::into_inner).take()
                        else {
                            return;
                        };
                        if let (Ok(func), Ok(arg)) = (
                            deref(env, f.get()),
                            serde_json::Value::to_napi_value(env, v),
                        ) {
                            if call(env, func, undefined(env), &[arg]).is_err() {
                                clear_exception(env);
                            }
                        }
                    }));
                }
            };
            let streaming = stream_flag || on_partial_ref.is_some();
            let work = rt.call(
                &name,
                &args,
                &call_options,
                if streaming { Some(&mut sink) } else { None },
            );
            let result = tokio::select! {
                r = work => r,
                Ok(()) = cancel_rx => Err(baml_runtime::CallError::Aborted),
            };
            let poster = task_poster.clone();
            task_poster.post(Box::new(move |env| unsafe {
                match result {
                    Ok(out) => {
                        if let Ok(v) = serde_json::Value::to_napi_value(env, out.value) {
                            sys::napi_resolve_deferred(env, deferred.get(), v);
                        } else {
                            clear_exception(env);
                            sys::napi_reject_deferred(
                                env,
                                deferred.get(),
                                invalid_arg(env, "the result cannot be built in Node"),
                            );
                        }
                    }
                    Err(e) => {
                        sys::napi_reject_deferred(env, deferred.get(), call_error(env, &e));
                    }
                }
                if let Some(f) = on_partial {
                    delete_ref(env, f.get());
                }
                if let Some((sig, f)) = listener
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
                {
                    remove_listener(env, sig.get(), f.get());
                }
                poster.release(env);
            }));
        })
        .detach();
        Ok(promise)
    }

    /// The HTTP request function `name` would send first (BAML's `buildRequest`), without
    /// sending it: `{ url, method, headers, body }`.
    #[napi(
        ts_return_type = "Promise<{ url: string; method: string; headers: Record<string, string>; body: unknown }>",
        catch_unwind
    )]
    pub fn render_request(
        &self,
        env: Env,
        name: String,
        #[napi(ts_arg_type = "Record<string, unknown>")] args: serde_json::Value,
        #[napi(ts_arg_type = "RenderRequestOptions")] options: Option<Unknown>,
    ) -> Result<Unknown<'static>> {
        let raw_env = env.raw();
        let args = args_map(raw_env, args)?;
        let opts = unsafe { call_options(raw_env, options.as_ref().map(napi::JsValue::raw))? };
        let (deferred, promise) = unsafe { new_promise(raw_env)? };
        let call_options = baml_runtime::CallOptions {
            env: opts.env,
            client: opts.client,
        };
        match self
            .inner
            .render_request(&name, &args, &call_options, opts.stream)
        {
            Ok(req) => {
                let headers: serde_json::Map<String, serde_json::Value> = req
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                let out = serde_json::json!({ "url": req.url, "method": req.method, "headers": headers, "body": req.body });
                match unsafe { serde_json::Value::to_napi_value(raw_env, out) } {
                    Ok(v) => unsafe { sys::napi_resolve_deferred(raw_env, deferred, v) },
                    Err(e) => return Err(e),
                };
            }
            Err(e) => unsafe {
                sys::napi_reject_deferred(raw_env, deferred, call_error(raw_env, &e));
            },
        }
        Ok(promise)
    }

    /// TypeScript declarations of the `b` object that sandboxed code sees.
    #[napi(catch_unwind)]
    pub fn typescript_declarations(&self) -> String {
        self.inner.typescript_declarations()
    }
}

/// Options of `callFunction` / `renderRequest`.
struct CallOpts {
    env: BTreeMap<String, String>,
    client: Option<String>,
    stream: bool,
    signal: Option<Raw>,
    aborted: bool,
    on_partial: Option<Raw>,
}

fn args_map(
    env: RawEnv,
    args: serde_json::Value,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    match args {
        serde_json::Value::Object(m) => Ok(m),
        serde_json::Value::Null => Ok(serde_json::Map::new()),
        _ => Err(unsafe {
            throw(
                env,
                invalid_arg(env, "args must be an object of arguments by parameter name"),
            )
        }),
    }
}

unsafe fn new_promise(env: RawEnv) -> Result<(sys::napi_deferred, Unknown<'static>)> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    if unsafe { sys::napi_create_promise(env, &raw mut deferred, &raw mut promise) }
        != sys::Status::napi_ok
    {
        return Err(napi::Error::from_reason("cannot create a promise"));
    }
    Ok((deferred, unsafe {
        Unknown::from_raw_unchecked(env, promise)
    }))
}

unsafe fn call_options(env: RawEnv, options: Option<Raw>) -> Result<CallOpts> {
    let mut out = CallOpts {
        env: BTreeMap::new(),
        client: None,
        stream: false,
        signal: None,
        aborted: false,
        on_partial: None,
    };
    let bad = |m: &str| unsafe { throw(env, invalid_arg(env, m)) };
    let Some(options) = options else {
        return Ok(out);
    };
    unsafe {
        match type_of(env, options) {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => return Ok(out),
            sys::ValueType::napi_object => {}
            _ => return Err(bad("options must be an object")),
        }
        let e = get(env, options, "env").unwrap_or(undefined(env));
        match type_of(env, e) {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => {}
            sys::ValueType::napi_object => {
                let keys =
                    own_keys(env, e).map_err(|_| bad("option env must be an object of strings"))?;
                for (k, _) in keys {
                    let v = get(env, e, &k).unwrap_or(undefined(env));
                    if type_of(env, v) != sys::ValueType::napi_string {
                        return Err(bad(&format!("option env.{k} must be a string")));
                    }
                    out.env
                        .insert(k, to_rust_string(env, v).unwrap_or_default());
                }
            }
            _ => return Err(bad("option env must be an object of strings")),
        }
        let c = get(env, options, "client").unwrap_or(undefined(env));
        match type_of(env, c) {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => {}
            sys::ValueType::napi_string => out.client = to_rust_string(env, c).ok(),
            _ => return Err(bad("option client must be a client name")),
        }
        let st = get(env, options, "stream").unwrap_or(undefined(env));
        match type_of(env, st) {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => {}
            sys::ValueType::napi_boolean => out.stream = to_bool(env, st).unwrap_or(false),
            _ => return Err(bad("option stream must be a boolean")),
        }
        let s = get(env, options, "signal").unwrap_or(undefined(env));
        match type_of(env, s) {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => {}
            sys::ValueType::napi_object => {
                out.aborted = get(env, s, "aborted")
                    .and_then(|a| to_bool(env, a))
                    .unwrap_or(false);
                out.signal = Some(s);
            }
            _ => return Err(bad("option signal must be an AbortSignal")),
        }
        let p = get(env, options, "onPartial").unwrap_or(undefined(env));
        match type_of(env, p) {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => {}
            sys::ValueType::napi_function => out.on_partial = Some(p),
            _ => return Err(bad("option onPartial must be a function")),
        }
    }
    Ok(out)
}

type CancelSlot = Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>>;

unsafe fn trip(_env: RawEnv, cancel: &CancelSlot, _arg: Raw) {
    if let Some(tx) = cancel
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
    {
        let _ = tx.send(());
    }
}
