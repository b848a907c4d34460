//! `BamlRuntime`: a loaded BAML project shared by every context.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::abort::{self, Listener};
use crate::errors::{call_error, load_error, throw, throw_invalid, validation_error, JsErr};
use crate::mailbox::{mailbox, Job};
use crate::options::{
    self, CallOptions, DeclarationOptions, ParseOptions, RenderRequestOptions, CALL_KEYS,
    DECLARATION_KEYS, PARSE_KEYS, RENDER_KEYS,
};
use crate::promise::Deferred;

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

/// A set of `.baml` sources, parsed and validated once and shared by every `BamlContext`.
/// Immutable and safe to share between contexts and calls.
#[napi]
pub struct BamlRuntime {
    pub(crate) inner: Arc<baml_runtime::Runtime>,
    /// The groups of contexts created with `sharing: 'runtime'` and no `group` (one per
    /// isolation), made on first use.
    pub(crate) default_groups: Arc<crate::group::DefaultGroups>,
}

fn load(
    env: &Env,
    result: std::result::Result<baml_runtime::Runtime, baml_runtime::LoadError>,
) -> Result<BamlRuntime> {
    match result {
        Ok(rt) => Ok(BamlRuntime {
            inner: Arc::new(rt),
            default_groups: Arc::default(),
        }),
        Err(e) => Err(throw(env, load_error(env, &e))),
    }
}

/// `args` of `callFunction`/`renderRequest`: an object of arguments by parameter name.
fn args_map(
    args: &Unknown<'_>,
) -> std::result::Result<serde_json::Map<String, serde_json::Value>, String> {
    match args.get_type().map_err(|e| e.reason.clone())? {
        ValueType::Undefined | ValueType::Null => return Ok(serde_json::Map::new()),
        ValueType::Object => {}
        other => {
            return Err(format!(
                "args must be an object of arguments by parameter name, got {}",
                options::type_name(other)
            ))
        }
    }
    match serde_json::Value::from_unknown(*args) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err("args must be an object of arguments by parameter name".into()),
        Err(e) => Err(format!("args cannot be read: {}", e.reason)),
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
        #[napi(ts_arg_type = "Record<string, string>")] files: Unknown,
        #[napi(ts_arg_type = "Record<string, string>")] env: Option<Unknown>,
    ) -> Result<BamlRuntime> {
        let (mut files, env) = (|| {
            let files = options::strings_arg(&napi_env, "files", Some(&files), false)?;
            let env = options::strings_arg(&napi_env, "env", env.as_ref(), true)?;
            Ok::<_, String>((files.unwrap_or_default(), env.unwrap_or_default()))
        })()
        .map_err(|m| throw_invalid(&napi_env, &m))?;
        files.sort();
        load(
            &napi_env,
            baml_runtime::Runtime::from_files(files, env.into_iter().collect::<HashMap<_, _>>()),
        )
    }

    /// Loads every `*.baml` file under `dir`, recursively.
    #[napi(factory, catch_unwind)]
    pub fn from_directory(
        napi_env: Env,
        #[napi(ts_arg_type = "string")] dir: Unknown,
        #[napi(ts_arg_type = "Record<string, string>")] env: Option<Unknown>,
    ) -> Result<BamlRuntime> {
        let (dir, env) = (|| {
            let dir = options::string_arg(&napi_env, "dir", &dir)?;
            if dir.is_empty() {
                return Err("dir must be a directory path, got an empty string".to_owned());
            }
            let env = options::strings_arg(&napi_env, "env", env.as_ref(), true)?;
            Ok::<_, String>((dir, env.unwrap_or_default()))
        })()
        .map_err(|m| throw_invalid(&napi_env, &m))?;
        load(
            &napi_env,
            baml_runtime::Runtime::from_directory(
                Path::new(&dir),
                env.into_iter().collect::<HashMap<_, _>>(),
            ),
        )
    }

    /// The BAML functions: name, parameters (name and BAML type text), return type text.
    #[napi(catch_unwind)]
    pub fn functions(&self) -> Vec<BamlFunctionInfo> {
        let ir = self.inner.ir();
        let info = |name: &str, params: &[baml_runtime::Param], ret: &baml_runtime::Type| {
            BamlFunctionInfo {
                name: name.to_string(),
                params: params
                    .iter()
                    .map(|p| BamlParamInfo {
                        name: p.name.clone(),
                        r#type: p.ty.to_string(),
                    })
                    .collect(),
                return_type: ret.to_string(),
            }
        };
        ir.functions
            .iter()
            .map(|f| info(&f.name, &f.params, &f.ret))
            .chain(
                ir.expr_functions
                    .iter()
                    .filter(|f| f.class.is_none())
                    .map(|f| info(&f.name, &f.params, &f.ret)),
            )
            .collect()
    }

    /// Parses model output text as function `name`'s return type (BAML's `b.parse`; with
    /// `partial: true`, `b.parseStream` for an unfinished stream). Throws `BAML_VALIDATION` with
    /// `rawOutput` when the text cannot be read as that type.
    #[napi(catch_unwind, ts_return_type = "unknown")]
    pub fn parse(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] name: Unknown,
        #[napi(ts_arg_type = "string")] text: Unknown,
        #[napi(ts_arg_type = "ParseOptions")] options: Option<Unknown>,
    ) -> Result<serde_json::Value> {
        let (name, text, options) = (|| {
            let name = options::string_arg(&env, "name", &name)?;
            let text = options::string_arg(&env, "text", &text)?;
            let options: Option<ParseOptions> =
                options::read(&env, "parse options", options, PARSE_KEYS)?;
            Ok::<_, String>((name, text, options))
        })()
        .map_err(|m| throw_invalid(&env, &m))?;
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
            return Err(throw_invalid(&env, &msg));
        };
        baml_sap::parse_checked(
            self.inner.ir(),
            &function.ret,
            &function.ret_checks,
            &text,
            partial,
        )
        .map_err(|e| throw(&env, validation_error(&env, &e, &text)))
    }

    /// Calls BAML function `name` from Node (no sandbox). `args` are by parameter name.
    /// Resolves with the parsed result; rejects with `BAML_HTTP`, `BAML_VALIDATION`,
    /// `BAML_FINISH_REASON`, `BAML_INVALID_ARGUMENT` or `BAML_ABORTED`.
    #[napi(ts_return_type = "Promise<unknown>", catch_unwind)]
    #[allow(
        clippy::too_many_lines,
        reason = "arguments, promise, abort listener and the spawned call in one place; `expect` misfires through the napi macro"
    )]
    pub fn call_function<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "string")] name: Unknown<'env>,
        #[napi(ts_arg_type = "Record<string, unknown>")] args: Unknown<'env>,
        #[napi(ts_arg_type = "CallOptions")] options: Option<Unknown<'env>>,
    ) -> Result<Unknown<'env>> {
        let (deferred, promise) = Deferred::new(env)?;
        let parsed = (|| {
            let name = options::string_arg(env, "name", &name)?;
            let args = args_map(&args)?;
            let opts: Option<CallOptions> = options::read(env, "options", options, CALL_KEYS)?;
            Ok::<_, String>((name, args, opts))
        })();
        let (name, args, opts) = match parsed {
            Ok(p) => p,
            Err(m) => {
                deferred.reject(env, &JsErr::invalid_arg(env, &m)?.value());
                return Ok(promise);
            }
        };
        let (mut call_env, mut client, mut stream, mut signal, mut on_partial) =
            (None, None, false, None, None);
        let (mut tb, mut registry) = (None, None);
        let mut collectors = Vec::new();
        if let Some(o) = opts {
            if let Some(c) = &o.collector {
                match crate::collector::collectors_from(c) {
                    Ok(c) => collectors = c,
                    Err(m) => {
                        deferred.reject(env, &JsErr::invalid_arg(env, &m)?.value());
                        return Ok(promise);
                    }
                }
            }
            call_env = o.env;
            client = o.client;
            tb = o.tb;
            registry = o.client_registry;
            stream = o.stream.unwrap_or(false);
            signal = o.signal;
            on_partial = match o.on_partial {
                Some(f) => Some(f.create_ref()?),
                None => None,
            };
        }
        if signal.as_ref().is_some_and(abort::aborted) {
            deferred.reject(env, &call_error(env, &baml_runtime::CallError::Aborted)?);
            return Ok(promise);
        }
        let rt = match overlaid(&self.inner, tb.as_ref(), registry.as_ref()) {
            Ok(o) => {
                client = client.or(o.primary);
                o.runtime
            }
            Err(e) => {
                deferred.reject(env, &call_error(env, &e)?);
                return Ok(promise);
            }
        };
        let mailbox = mailbox(env)?;
        mailbox.hold(env);
        let (cancel_tx, cancel_rx) = tokio::sync::oneshot::channel::<()>();
        let cancel = Arc::new(Mutex::new(Some(cancel_tx)));
        let listener: Arc<Mutex<Option<Listener>>> = Arc::new(Mutex::new(None));
        let settled = Arc::new(AtomicBool::new(false));
        if let Some(signal) = &signal {
            let trip = cancel.clone();
            if let Ok(l) = abort::listen(env, signal, move || {
                if let Some(tx) = trip.lock().unwrap_or_else(PoisonError::into_inner).take() {
                    let _ = tx.send(());
                }
            }) {
                *listener.lock().unwrap_or_else(PoisonError::into_inner) = Some(l);
            }
        }
        let on_partial = on_partial.map(Arc::new);
        let task_mailbox = mailbox.clone();
        let call_options = baml_runtime::CallOptions {
            env: options::env_map(call_env),
            client,
            ..baml_runtime::CallOptions::default()
        };
        crate::eager::spawn_call(crate::eager::small_args(&args), async move {
            // The newest partial not yet handed to Node: a partial is a snapshot of the whole
            // result so far, so when Node falls behind the stream it gets the newest one, and
            // memory holds one snapshot, not every one produced meanwhile.
            let waiting: Arc<Mutex<Option<serde_json::Value>>> = Arc::default();
            let partial_mailbox = task_mailbox.clone();
            let partial_fn = on_partial.clone();
            let mut sink = |v: serde_json::Value| {
                let Some(f) = &partial_fn else { return };
                let stale = waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .replace(v);
                if stale.is_some() {
                    // A job is already posted; it will take this one.
                    return;
                }
                let f = f.clone();
                let slot = waiting.clone();
                partial_mailbox.post(Job::Call(Box::new(move |env| {
                    let Some(v) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() else {
                        return;
                    };
                    if let Ok(func) = f.borrow_back(env) {
                        let _ = func.call(v);
                    }
                })));
            };
            let streaming = stream || on_partial.is_some();
            let record = !collectors.is_empty();
            let started = (std::time::SystemTime::now(), std::time::Instant::now());
            let work = rt.call_logged(
                &name,
                &args,
                &call_options,
                if streaming { Some(&mut sink) } else { None },
                record,
            );
            let log = tokio::select! {
                r = work => r,
                Ok(()) = cancel_rx => baml_runtime::CallLog {
                    result: Err(baml_runtime::CallError::Aborted),
                    usage: baml_runtime::Usage::default(),
                    attempts: Vec::new(),
                },
            };
            if record {
                let secrets = rt.secrets(&call_options.env);
                let entry = std::sync::Arc::new(crate::collector::function_log(
                    &secrets,
                    &crate::collector::Finished {
                        function: &name,
                        args: &args,
                        stream: streaming,
                        from_sandbox: false,
                        started: started.0,
                        duration: started.1.elapsed(),
                        log: &log,
                    },
                ));
                for c in &collectors {
                    c.push(entry.clone());
                }
            }
            let result = log.result;
            let mailbox = task_mailbox.clone();
            task_mailbox.post(Job::Settle(Box::new(move |env| {
                match result {
                    Ok(out) => match out.value.into_unknown(env) {
                        Ok(v) => deferred.resolve(env, &v),
                        Err(e) => {
                            if let Ok(err) = JsErr::new(
                                env,
                                "SANDBOX_RESULT",
                                &format!("the result cannot be built in Node: {}", e.reason),
                            ) {
                                deferred.reject(env, &err.value());
                            }
                        }
                    },
                    Err(e) => {
                        if let Ok(err) = call_error(env, &e) {
                            deferred.reject(env, &err);
                        }
                    }
                }
                settled.store(true, Ordering::Release);
                drop(on_partial);
                let listener = listener
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(l) = listener {
                    l.remove(env);
                }
                mailbox.release(env);
            })));
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
    pub fn render_request<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "string")] name: Unknown<'env>,
        #[napi(ts_arg_type = "Record<string, unknown>")] args: Unknown<'env>,
        #[napi(ts_arg_type = "RenderRequestOptions")] options: Option<Unknown<'env>>,
    ) -> Result<Unknown<'env>> {
        let (deferred, promise) = Deferred::new(env)?;
        let parsed = (|| {
            let name = options::string_arg(env, "name", &name)?;
            let args = args_map(&args)?;
            let opts: Option<RenderRequestOptions> =
                options::read(env, "options", options, RENDER_KEYS)?;
            Ok::<_, String>((name, args, opts))
        })();
        let (name, args, opts) = match parsed {
            Ok(p) => p,
            Err(m) => {
                deferred.reject(env, &JsErr::invalid_arg(env, &m)?.value());
                return Ok(promise);
            }
        };
        let (call_env, client, stream, tb, registry) = match opts {
            Some(o) => (
                o.env,
                o.client,
                o.stream.unwrap_or(false),
                o.tb,
                o.client_registry,
            ),
            None => (None, None, false, None, None),
        };
        let (rt, primary) = match overlaid(&self.inner, tb.as_ref(), registry.as_ref()) {
            Ok(o) => (o.runtime, o.primary),
            Err(e) => {
                deferred.reject(env, &call_error(env, &e)?);
                return Ok(promise);
            }
        };
        let call_options = baml_runtime::CallOptions {
            env: options::env_map(call_env),
            client: client.or(primary),
            ..baml_runtime::CallOptions::default()
        };
        // Off Node's thread: media URLs a provider takes inline are downloaded first.
        let mailbox = mailbox(env)?;
        mailbox.hold(env);
        let task_mailbox = mailbox.clone();
        crate::tokio_handle().spawn(async move {
            let result = rt
                .render_request_async(&name, &args, &call_options, stream)
                .await
                .map(|req| {
                    let headers: serde_json::Map<String, serde_json::Value> = req
                        .headers
                        .into_iter()
                        .map(|(k, v)| (k, serde_json::Value::String(v)))
                        .collect();
                    serde_json::json!({ "url": req.url, "method": req.method, "headers": headers, "body": req.body })
                });
            let mailbox = task_mailbox.clone();
            task_mailbox.post(Job::Settle(Box::new(move |env| {
                match result.map(|out| out.into_unknown(env)) {
                    Ok(Ok(v)) => deferred.resolve(env, &v),
                    Ok(Err(e)) => {
                        if let Ok(err) = JsErr::new(env, "SANDBOX_RESULT", &e.reason) {
                            deferred.reject(env, &err.value());
                        }
                    }
                    Err(e) => {
                        if let Ok(err) = call_error(env, &e) {
                            deferred.reject(env, &err);
                        }
                    }
                }
                mailbox.release(env);
            })));
        });
        Ok(promise)
    }

    /// TypeScript declarations of what sandboxed code sees: `b` and its types, `console`,
    /// timers and the other sandbox globals, and (as TypeScript text you supply) your host
    /// functions and globals. For editors, type-checking LLM-written code, and LLM prompts.
    #[napi(catch_unwind)]
    pub fn typescript_declarations(
        &self,
        env: Env,
        #[napi(ts_arg_type = "DeclarationOptions")] options: Option<Unknown>,
    ) -> Result<String> {
        let options: Option<DeclarationOptions> =
            options::read(&env, "options", options, DECLARATION_KEYS)
                .map_err(|m| throw_invalid(&env, &m))?;
        let (host_functions, globals, tb, registry) = options
            .map(|o| (o.host_functions, o.globals, o.tb, o.client_registry))
            .unwrap_or_default();
        let rt = overlaid(&self.inner, tb.as_ref(), registry.as_ref())
            .map_err(|e| throw_invalid(&env, &format!("option tb: {e}")))?
            .runtime;
        let named = |what: &str, map: Option<HashMap<String, String>>| {
            let mut out: Vec<(String, String)> = map.unwrap_or_default().into_iter().collect();
            out.sort();
            for (name, _) in &out {
                if !baml_runtime::is_declarable(name) {
                    return Err(format!(
                        "option {what}.{name}: {name:?} is not a name TypeScript can declare (letters, digits, _ and $, not a reserved word)"
                    ));
                }
            }
            Ok(out)
        };
        let host_functions =
            named("hostFunctions", host_functions).map_err(|m| throw_invalid(&env, &m))?;
        let globals = named("globals", globals).map_err(|m| throw_invalid(&env, &m))?;
        Ok(rt.typescript_declarations_with(baml_runtime::Extras {
            host_functions: &host_functions,
            globals: &globals,
        }))
    }
}

/// `rt` with a type builder and client registry (see `builders.js`), the registry's primary
/// client, and the additions themselves.
pub(crate) struct Overlaid {
    pub(crate) runtime: Arc<baml_runtime::Runtime>,
    pub(crate) primary: Option<String>,
    pub(crate) overlay: baml_runtime::Overlay,
}

pub(crate) fn overlaid(
    rt: &Arc<baml_runtime::Runtime>,
    tb: Option<&serde_json::Value>,
    registry: Option<&serde_json::Value>,
) -> std::result::Result<Overlaid, baml_runtime::CallError> {
    if tb.is_none() && registry.is_none() {
        return Ok(Overlaid {
            runtime: Arc::clone(rt),
            primary: None,
            overlay: baml_runtime::Overlay::default(),
        });
    }
    let (overlay, primary) = baml_runtime::overlay_from(rt.ir(), tb, registry)
        .map_err(baml_runtime::CallError::InvalidArgument)?;
    let runtime = rt
        .with_overlay(&overlay)
        .map_err(|e| baml_runtime::CallError::InvalidArgument(e.to_string()))?;
    Ok(Overlaid {
        runtime,
        primary,
        overlay,
    })
}
