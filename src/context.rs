//! `BamlContext`: one sandbox, driven from Node.

use std::collections::HashMap;
use std::ptr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use baml_sandbox::{
    ConsoleLevel, ConsoleLine, Host, Reply, Sandbox, SandboxError, SandboxOptions, Value,
};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::abort::{add_listener, remove_listener};
use crate::baml_calls::{BamlBinding, UsageCounters};
use crate::convert::{from_node, to_node};
use crate::errors::{invalid_arg, sandbox_error, throw};
use crate::main_thread::{poster, Poster};
use crate::runtime::BamlRuntime;
use crate::util::{
    call, clear_exception, delete_ref, deref, function, get, js_number, message_of, own_keys,
    reference, string, to_bool, to_f64, to_rust_string, type_of, undefined, Env as RawEnv, Raw,
    Sendable,
};

/// Options of a `BamlContext` (all optional).
#[expect(
    dead_code,
    reason = "declares the TypeScript interface; options are read field by field"
)]
#[napi(object, object_to_js = false)]
pub struct ContextOptions {
    /// QuickJS heap limit in bytes. Default 64 MiB.
    pub memory_limit_bytes: Option<f64>,
    /// Wall-clock limit of each `evaluate()`, awaits included. Default 30000.
    pub timeout_ms: Option<f64>,
    /// Stack limit in bytes (at most 4 MiB). Default 512 KiB.
    pub max_stack_bytes: Option<f64>,
    /// Copied (JSON semantics) into the global scope.
    #[napi(ts_type = "Record<string, unknown>")]
    pub globals: Option<HashMap<String, String>>,
    /// Node functions callable from the sandbox as globals; they may return a Promise.
    #[napi(ts_type = "Record<string, (...args: any[]) => unknown>")]
    pub host_functions: Option<HashMap<String, String>>,
    /// Receives the sandbox's `console.*` output.
    #[napi(
        ts_type = "(level: 'log' | 'info' | 'warn' | 'error' | 'debug', message: string) => void"
    )]
    pub on_console: Option<String>,
    /// Values for `env.NAME` in BAML clients, over the runtime's.
    pub env: Option<HashMap<String, String>>,
}

/// Options of one `evaluate()` call.
#[expect(
    dead_code,
    reason = "declares the TypeScript interface; options are read field by field"
)]
#[napi(object, object_to_js = false)]
pub struct EvaluateOptions {
    /// Overrides the context's `timeoutMs` for this evaluation.
    pub timeout_ms: Option<f64>,
    /// Aborting it rejects the evaluation with `code: 'SANDBOX_ABORTED'`.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<String>,
}

/// What `usage()` returns.
#[napi(object)]
pub struct Usage {
    pub calls: f64,
    pub input_tokens: f64,
    pub output_tokens: f64,
}

/// What `memoryUsage()` returns.
#[napi(object)]
pub struct MemoryUsage {
    pub used_bytes: f64,
    pub limit_bytes: f64,
}

/// Node functions the sandbox may call. The references are created, used and deleted on
/// Node's thread only.
struct HostRefs {
    poster: Arc<Poster>,
    functions: Mutex<Vec<Sendable<sys::napi_ref>>>,
    console: Mutex<Option<Sendable<sys::napi_ref>>>,
}

impl HostRefs {
    /// Takes every reference out (to delete on Node's thread).
    fn take_all(&self) -> Vec<Sendable<sys::napi_ref>> {
        let functions = std::mem::take(
            &mut *self
                .functions
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let console = self
            .console
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        functions.into_iter().chain(console).collect()
    }

    /// Deletes every reference (Node thread only).
    unsafe fn clear(&self, env: RawEnv) {
        for r in self.take_all() {
            unsafe { delete_ref(env, r.0) };
        }
    }
}

impl Drop for HostRefs {
    fn drop(&mut self) {
        let refs = self.take_all();
        if !refs.is_empty() {
            self.poster.post(Box::new(move |env| {
                for r in refs {
                    unsafe { delete_ref(env, r.0) };
                }
            }));
        }
    }
}

struct NodeHost {
    refs: Arc<HostRefs>,
    /// The thread of the environment that created the context.
    node_thread: std::thread::ThreadId,
    /// The runtime's BAML functions, called on tokio (never on Node's thread).
    baml: Arc<BamlBinding>,
}

impl Host for NodeHost {
    fn may_run_here(&self) -> bool {
        std::thread::current().id() == self.node_thread || crate::baml_calls::replying()
    }

    fn call(&self, index: usize, args: Vec<Value>, reply: Reply) {
        let refs = self.refs.clone();
        self.refs.poster.post(Box::new(move |env| unsafe {
            run_host_function(env, &refs, index, &args, reply);
        }));
    }

    fn baml_call(
        &self,
        index: usize,
        args: Vec<Value>,
        partial: Option<baml_sandbox::Partial>,
        reply: Reply,
    ) -> Option<baml_sandbox::CallGuard> {
        self.baml.call(index, args, partial, reply)
    }

    fn console(&self, level: ConsoleLevel, message: String) {
        self.post_console(level, message);
    }

    /// The line (and the room it takes in the sandbox's outbox) is kept until Node has it.
    fn console_line(&self, level: ConsoleLevel, line: ConsoleLine) {
        self.post_console(level, line);
    }
}

impl NodeHost {
    fn post_console<M: std::ops::Deref<Target = str> + Send + 'static>(
        &self,
        level: ConsoleLevel,
        message: M,
    ) {
        let refs = self.refs.clone();
        self.refs.poster.post(Box::new(move |env| unsafe {
            let Some(r) = refs
                .console
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map(|r| r.0)
            else {
                return;
            };
            let (Ok(f), Ok(l), Ok(m)) = (
                deref(env, r),
                string(env, level.as_str()),
                string(env, &message),
            ) else {
                return;
            };
            if call(env, f, undefined(env), &[l, m]).is_err() {
                clear_exception(env);
            }
        }));
    }
}

type ReplySlot = Arc<Mutex<Option<Reply>>>;

/// References to an evaluation's `signal` and its abort listener, for removing the listener.
type ListenerSlot = Arc<Mutex<Option<(Sendable<sys::napi_ref>, Sendable<sys::napi_ref>)>>>;

/// A validated positive byte count option as `usize`.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "validated finite, positive and at most 1e15"
)]
fn whole_bytes(n: f64) -> usize {
    n as usize
}

fn take_reply(slot: &ReplySlot) -> Option<Reply> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// Runs host function `index` on Node's thread and answers `reply` with its (awaited) result.
unsafe fn run_host_function(
    env: RawEnv,
    refs: &HostRefs,
    index: usize,
    args: &[Value],
    reply: Reply,
) {
    let fref = refs
        .functions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(index)
        .map(|r| r.0);
    let Some(f) = fref.and_then(|r| unsafe { deref(env, r) }.ok()) else {
        reply(Err("the context was disposed".into()));
        return;
    };
    let mut js_args = Vec::with_capacity(args.len());
    for a in args {
        if let Ok(v) = unsafe { to_node(env, a) } {
            js_args.push(v);
        } else {
            unsafe { clear_exception(env) };
            reply(Err(
                "host function arguments could not be copied into Node".into()
            ));
            return;
        }
    }
    let Ok(result) = (unsafe { call(env, f, undefined(env), &js_args) }) else {
        let message = unsafe { clear_exception(env) }.map_or_else(
            || "host function failed".into(),
            |e| unsafe { message_of(env, e) },
        );
        reply(Err(message.into()));
        return;
    };
    let mut is_promise = false;
    unsafe { sys::napi_is_promise(env, result, &raw mut is_promise) };
    if !is_promise {
        reply(copy_result(env, result).map_err(Into::into));
        return;
    }
    let slot: ReplySlot = Arc::new(Mutex::new(Some(reply)));
    let on_ok = unsafe {
        function(
            env,
            "onFulfilled",
            slot.clone(),
            |env, slot: &ReplySlot, v| {
                if let Some(reply) = take_reply(slot) {
                    reply(copy_result(env, v).map_err(Into::into));
                }
            },
        )
    };
    let on_err = unsafe {
        function(
            env,
            "onRejected",
            slot.clone(),
            |env, slot: &ReplySlot, v| {
                if let Some(reply) = take_reply(slot) {
                    reply(Err(message_of(env, v).into()));
                }
            },
        )
    };
    let attached = match (on_ok, on_err, unsafe { get(env, result, "then") }) {
        (Ok(a), Ok(b), Ok(then)) => unsafe { call(env, then, result, &[a, b]) }.is_ok(),
        _ => false,
    };
    if !attached {
        unsafe { clear_exception(env) };
        if let Some(reply) = take_reply(&slot) {
            reply(Err("cannot await the host function's promise".into()));
        }
    }
}

fn copy_result(env: RawEnv, v: Raw) -> std::result::Result<Value, String> {
    unsafe { from_node(env, v, "result") }.map_err(|e| {
        format!(
            "host function {} cannot be copied into the sandbox: {}",
            e.path, e.reason
        )
    })
}

/// A sandboxed JavaScript context: its own QuickJS runtime, global scope, memory, stack and
/// time limits, and no access to the host beyond the `hostFunctions` you give it.
#[napi]
pub struct BamlContext {
    sandbox: Arc<Sandbox>,
    refs: Arc<HostRefs>,
    timeout: Duration,
    /// Calls and tokens of the BAML calls this context made.
    usage: Arc<UsageCounters>,
}

/// Reads an optional positive number option.
unsafe fn opt_number(env: RawEnv, options: Raw, key: &str, max: f64) -> Result<Option<f64>> {
    let v = unsafe { get(env, options, key) }.map_err(|_| unsafe {
        throw(env, invalid_arg(env, &format!("cannot read option {key}")))
    })?;
    match unsafe { type_of(env, v) } {
        sys::ValueType::napi_undefined => Ok(None),
        sys::ValueType::napi_number => {
            let n = unsafe { to_f64(env, v) }.unwrap_or(f64::NAN);
            if n.is_finite() && n > 0.0 && n <= max {
                Ok(Some(n))
            } else {
                Err(unsafe {
                    throw(env, invalid_arg(env, &format!("option {key} must be a positive number no larger than {max}, got {n}")))
                })
            }
        }
        _ => Err(unsafe {
            throw(
                env,
                invalid_arg(env, &format!("option {key} must be a number")),
            )
        }),
    }
}

/// Own enumerable string keys of an object option (`undefined` gives none).
unsafe fn entries(env: RawEnv, options: Raw, key: &str) -> Result<Vec<(String, Raw)>> {
    let v = unsafe { get(env, options, key) }.map_err(|_| unsafe {
        throw(env, invalid_arg(env, &format!("cannot read option {key}")))
    })?;
    match unsafe { type_of(env, v) } {
        sys::ValueType::napi_undefined | sys::ValueType::napi_null => return Ok(Vec::new()),
        sys::ValueType::napi_object => {}
        _ => {
            return Err(unsafe {
                throw(
                    env,
                    invalid_arg(env, &format!("option {key} must be an object")),
                )
            })
        }
    }
    let Ok(keys) = (unsafe { own_keys(env, v) }) else {
        let why = unsafe { clear_exception(env) }.map_or_else(String::new, |e| {
            format!(": {}", unsafe { message_of(env, e) })
        });
        return Err(bad_arg(
            env,
            &format!("the keys of option {key} cannot be listed{why}"),
        ));
    };
    let mut out = Vec::with_capacity(keys.len());
    for (name, k) in keys {
        let mut item = ptr::null_mut();
        if unsafe { sys::napi_get_property(env, v, k, &raw mut item) } != sys::Status::napi_ok {
            return Err(napi::Error::new(napi::Status::PendingException, ""));
        }
        out.push((name, item));
    }
    Ok(out)
}

/// A `TypeError` with `code: 'ERR_INVALID_ARG_VALUE'`, thrown.
fn bad_arg(env: RawEnv, message: &str) -> napi::Error {
    unsafe { throw(env, invalid_arg(env, message)) }
}

/// `ContextOptions`, read and validated.
#[derive(Default)]
struct ContextConfig {
    sandbox: SandboxOptions,
    functions: Vec<Raw>,
    console: Option<Raw>,
    env: Vec<(String, String)>,
}

unsafe fn read_context_options(env: RawEnv, options: Raw) -> Result<ContextConfig> {
    let mut config = ContextConfig::default();
    match unsafe { type_of(env, options) } {
        sys::ValueType::napi_undefined | sys::ValueType::napi_null => return Ok(config),
        sys::ValueType::napi_object => {}
        _ => return Err(bad_arg(env, "options must be an object")),
    }
    let opts = &mut config.sandbox;
    unsafe {
        if let Some(n) = opt_number(env, options, "memoryLimitBytes", 1e15)? {
            opts.memory_limit_bytes = whole_bytes(n);
        }
        if let Some(n) = opt_number(env, options, "timeoutMs", 2_147_483_647.0)? {
            opts.timeout = Duration::from_secs_f64(n / 1000.0);
        }
        let max_stack = js_number(baml_sandbox::MAX_STACK_LIMIT);
        if let Some(n) = opt_number(env, options, "maxStackBytes", max_stack)? {
            opts.max_stack_bytes = whole_bytes(n);
        }
        for (k, v) in entries(env, options, "globals")? {
            match from_node(env, v, &format!("globals.{k}")) {
                Ok(value) => opts.globals.push((k, value)),
                Err(e) => {
                    let msg = format!("{} cannot be copied into the sandbox: {}", e.path, e.reason);
                    return Err(bad_arg(env, &msg));
                }
            }
        }
        for (k, v) in entries(env, options, "hostFunctions")? {
            if type_of(env, v) != sys::ValueType::napi_function {
                return Err(bad_arg(
                    env,
                    &format!("hostFunctions.{k} must be a function"),
                ));
            }
            opts.host_functions.push(k);
            config.functions.push(v);
        }
        let on_console = get(env, options, "onConsole").unwrap_or(undefined(env));
        match type_of(env, on_console) {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => {}
            sys::ValueType::napi_function => config.console = Some(on_console),
            _ => return Err(bad_arg(env, "option onConsole must be a function")),
        }
        for (k, v) in entries(env, options, "env")? {
            if type_of(env, v) != sys::ValueType::napi_string {
                return Err(bad_arg(env, &format!("env.{k} must be a string")));
            }
            config
                .env
                .push((k, to_rust_string(env, v).unwrap_or_default()));
        }
    }
    Ok(config)
}

#[napi]
impl BamlContext {
    /// Creates a sandbox that can call `runtime`'s BAML functions.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        runtime: &BamlRuntime,
        #[napi(ts_arg_type = "ContextOptions")] options: Option<Unknown>,
    ) -> Result<Self> {
        let raw_env = env.raw();
        let poster = unsafe { poster(raw_env) }
            .map_err(|_| napi::Error::from_reason("cannot create the Node callback queue"))?;
        let ContextConfig {
            sandbox: mut opts,
            functions,
            console,
            env: ctx_env,
        } = match options.as_ref().map(napi::JsValue::raw) {
            Some(o) => unsafe { read_context_options(raw_env, o)? },
            None => ContextConfig::default(),
        };
        opts.console = console.is_some();
        let refs = Arc::new(HostRefs {
            poster,
            functions: Mutex::new(Vec::new()),
            console: Mutex::new(None),
        });
        unsafe {
            let mut fs = refs
                .functions
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for f in functions {
                fs.push(Sendable(reference(raw_env, f).map_err(|_| {
                    napi::Error::from_reason("cannot reference a host function")
                })?));
            }
            if let Some(c) = console {
                *refs.console.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(Sendable(reference(raw_env, c).map_err(|_| {
                        napi::Error::from_reason("cannot reference onConsole")
                    })?));
            }
        }
        let timeout = opts.timeout;
        let baml = Arc::new(BamlBinding::new(
            runtime.inner.clone(),
            ctx_env.iter().cloned().collect(),
        ));
        opts.baml_functions = baml.names();
        let usage = baml.usage.clone();
        let host = Arc::new(NodeHost {
            refs: refs.clone(),
            node_thread: std::thread::current().id(),
            baml,
        });
        let sandbox = Sandbox::new(&opts, host, crate::tokio_handle()).map_err(|e| unsafe {
            refs.clear(raw_env);
            throw(raw_env, sandbox_error(raw_env, &e))
        })?;
        Ok(BamlContext {
            sandbox: Arc::new(sandbox),
            refs,
            timeout,
            usage,
        })
    }

    /// Runs `code` as a script (top-level `await` allowed) and resolves with its completion
    /// value, copied out of the sandbox.
    #[napi(ts_return_type = "Promise<unknown>", catch_unwind)]
    pub fn evaluate(
        &self,
        env: Env,
        code: String,
        #[napi(ts_arg_type = "EvaluateOptions")] options: Option<Unknown>,
    ) -> Result<Unknown<'static>> {
        let raw_env = env.raw();
        let mut timeout = self.timeout;
        let mut signal = None;
        if let Some(options) = options.as_ref().map(napi::JsValue::raw) {
            match unsafe { type_of(raw_env, options) } {
                sys::ValueType::napi_undefined | sys::ValueType::napi_null => {}
                sys::ValueType::napi_object => unsafe {
                    if let Some(n) = opt_number(raw_env, options, "timeoutMs", 2_147_483_647.0)? {
                        timeout = Duration::from_secs_f64(n / 1000.0);
                    }
                    let s = get(raw_env, options, "signal").unwrap_or(undefined(raw_env));
                    match type_of(raw_env, s) {
                        sys::ValueType::napi_undefined | sys::ValueType::napi_null => {}
                        sys::ValueType::napi_object => signal = Some(s),
                        _ => {
                            return Err(throw(
                                raw_env,
                                invalid_arg(raw_env, "option signal must be an AbortSignal"),
                            ))
                        }
                    }
                },
                _ => {
                    return Err(unsafe {
                        throw(
                            raw_env,
                            invalid_arg(raw_env, "evaluate options must be an object"),
                        )
                    })
                }
            }
        }
        let mut deferred = ptr::null_mut();
        let mut promise = ptr::null_mut();
        if unsafe { sys::napi_create_promise(raw_env, &raw mut deferred, &raw mut promise) }
            != sys::Status::napi_ok
        {
            return Err(napi::Error::from_reason("cannot create a promise"));
        }
        let out = unsafe { Unknown::from_raw_unchecked(raw_env, promise) };
        if let Some(s) = signal {
            let aborted = unsafe { get(raw_env, s, "aborted").and_then(|a| to_bool(raw_env, a)) }
                .unwrap_or(false);
            if aborted {
                unsafe {
                    sys::napi_reject_deferred(
                        raw_env,
                        deferred,
                        sandbox_error(raw_env, &SandboxError::Aborted),
                    )
                };
                return Ok(out);
            }
        }
        let poster = self.refs.poster.clone();
        unsafe { poster.hold(raw_env) };
        // Filled below once the abort listener exists; emptied when the evaluation settles.
        let listener: ListenerSlot = Arc::new(Mutex::new(None));
        let listener_done = listener.clone();
        let deferred = Sendable(deferred);
        let done_poster = poster.clone();
        // An evaluation in flight keeps its sandbox alive even if the BamlContext object is
        // garbage-collected meanwhile; the reference goes once the promise is settled.
        let keep_alive = self.sandbox.clone();
        let id = self.sandbox.evaluate(
            code,
            Some(timeout),
            Box::new(move |result| {
                let poster = done_poster.clone();
                done_poster.post(Box::new(move |env| unsafe {
                    settle(env, deferred.get(), result);
                    drop(keep_alive);
                    poster.release(env);
                    if let Some((sig, f)) = listener_done
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .take()
                    {
                        remove_listener(env, sig.get(), f.get());
                    }
                }));
            }),
        );
        if let Some(s) = signal {
            let weak: Weak<Sandbox> = Arc::downgrade(&self.sandbox);
            let added = unsafe { add_listener(raw_env, s, (weak, id), abort_evaluation) };
            if let Some(refs) = added {
                *listener.lock().unwrap_or_else(PoisonError::into_inner) = Some(refs);
            } else {
                unsafe { clear_exception(raw_env) };
                self.sandbox.abort(id);
            }
        }
        Ok(out)
    }

    /// BAML calls made by this context and the tokens they used.
    #[napi(catch_unwind)]
    pub fn usage(&self) -> Usage {
        let n = |c: &std::sync::atomic::AtomicU64| {
            js_number(
                usize::try_from(c.load(std::sync::atomic::Ordering::Relaxed)).unwrap_or(usize::MAX),
            )
        };
        Usage {
            calls: n(&self.usage.calls),
            input_tokens: n(&self.usage.input_tokens),
            output_tokens: n(&self.usage.output_tokens),
        }
    }

    /// Bytes the sandbox's QuickJS heap uses now, and its limit.
    #[napi(catch_unwind)]
    pub fn memory_usage(&self) -> MemoryUsage {
        let (used, limit) = self.sandbox.memory_usage();
        MemoryUsage {
            used_bytes: js_number(used),
            limit_bytes: js_number(limit),
        }
    }

    /// Frees the sandbox. In-flight evaluations reject with `code: 'SANDBOX_DISPOSED'`, and so
    /// does every later `evaluate()`. Calling it again does nothing.
    #[napi(catch_unwind)]
    pub fn dispose(&self, env: Env) {
        self.sandbox.dispose();
        unsafe { self.refs.clear(env.raw()) };
    }

    /// Whether `dispose()` was called.
    #[napi(getter, catch_unwind)]
    pub fn disposed(&self) -> bool {
        self.sandbox.is_disposed()
    }
}

unsafe fn settle(
    env: RawEnv,
    deferred: sys::napi_deferred,
    result: std::result::Result<Value, SandboxError>,
) {
    match result {
        Ok(v) => {
            if let Ok(js) = unsafe { to_node(env, &v) } {
                unsafe { sys::napi_resolve_deferred(env, deferred, js) }
            } else {
                unsafe {
                    clear_exception(env);
                    let e = SandboxError::Result {
                        path: "result".into(),
                        reason: "it cannot be built in Node".into(),
                    };
                    sys::napi_reject_deferred(env, deferred, sandbox_error(env, &e))
                }
            }
        }
        Err(e) => unsafe { sys::napi_reject_deferred(env, deferred, sandbox_error(env, &e)) },
    };
}

type AbortTarget = (Weak<Sandbox>, u64);

unsafe fn abort_evaluation(_env: RawEnv, target: &AbortTarget, _arg: Raw) {
    if let Some(sandbox) = target.0.upgrade() {
        sandbox.abort(target.1);
    }
}
