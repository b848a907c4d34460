//! `BamlContext`: one sandbox, driven from Node.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use baml_sandbox::{
    EvalOptions, Sandbox, SandboxError, SandboxHandle, SandboxOptions, Value, DEFAULT_MAX_STACK,
    DEFAULT_MEMORY_LIMIT, MAX_MEMORY_LIMIT, MAX_STACK_LIMIT, MIN_MEMORY_LIMIT, MIN_STACK_LIMIT,
};
use napi::bindgen_prelude::*;
use napi::{KeyCollectionMode, KeyConversion, KeyFilter};
use napi_derive::napi;

use crate::abort::{self, Listener};
use crate::baml_calls::{BamlBinding, UsageCounters};
use crate::convert::{from_node, prepare, to_node, Prepared, ValueCount};
use crate::errors::{failure, js_number, sandbox_error, throw, throw_invalid, JsErr};
use crate::host::{HostFn, NodeFunctions, NodeHost};
use crate::mailbox::{mailbox, Job, Mailbox, SpinSource};
use crate::options::{
    self, ContextOptions, EvaluateOptions, Isolation, CONTEXT_KEYS, EVALUATE_KEYS,
};
use crate::promise::Deferred;
use crate::runtime::BamlRuntime;

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

/// A sandboxed JavaScript context: its own QuickJS runtime, global scope, memory, stack and
/// time limits, and no access to the host beyond the `hostFunctions` you give it.
#[napi]
pub struct BamlContext {
    sandbox: Arc<dyn SandboxHandle>,
    /// A worker process's socket, polled while Node's thread spins for an answer.
    spin: Option<Arc<dyn SpinSource>>,
    functions: Arc<NodeFunctions>,
    baml: Arc<BamlBinding>,
    mailbox: Arc<Mailbox>,
    timeout: Duration,
}

/// The own enumerable string keys of an object option and their values.
fn entries<'env>(
    env: &Env,
    object: &Object<'env>,
    name: &str,
) -> std::result::Result<Vec<(String, Unknown<'env>)>, String> {
    let keys = object
        .get_all_property_names(
            KeyCollectionMode::OwnOnly,
            KeyFilter::Enumerable,
            KeyConversion::NumbersToStrings,
        )
        .map_err(|e| {
            format!(
                "the keys of option {name} cannot be listed: {}",
                failure(env, &e)
            )
        })?;
    let len = keys.get_array_length().map_err(|e| e.reason.clone())?;
    let mut out = Vec::with_capacity(len as usize);
    for i in 0..len {
        let key: Unknown = keys.get_element(i).map_err(|e| e.reason.clone())?;
        if !key.get_type().is_ok_and(|t| t == ValueType::String) {
            continue; // a symbol
        }
        let key = key
            .coerce_to_string()
            .and_then(|s| s.into_utf8()?.into_owned())
            .map_err(|e| e.reason.clone())?;
        let value: Unknown = object
            .get_named_property(&key)
            .map_err(|e| format!("option {name}.{key} cannot be read: {}", failure(env, &e)))?;
        out.push((key, value));
    }
    Ok(out)
}

/// The fewest bytes a copied value takes in a QuickJS heap: its strings' bytes and 16 per
/// value (QuickJS's own value size), without recursion.
fn footprint(v: &Value) -> u64 {
    let mut total: u64 = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total = total.saturating_add(16);
        match v {
            Value::String(s) => total = total.saturating_add(s.len() as u64),
            Value::Array(items) => stack.extend(items.iter()),
            Value::Object(props) => {
                for (k, item) in props {
                    total = total.saturating_add(k.len() as u64);
                    stack.push(item);
                }
            }
            _ => {}
        }
    }
    total
}

/// A new sandbox, and the socket to poll while spinning for its answers (process isolation).
type Created = (Arc<dyn SandboxHandle>, Option<Arc<dyn SpinSource>>);

/// `ContextOptions`, validated, with what only Node holds split off.
struct Config {
    sandbox: SandboxOptions,
    functions: Vec<HostFn>,
    console: Option<crate::host::ConsoleFn>,
    env: std::collections::BTreeMap<String, String>,
    isolation: Isolation,
    collectors: Vec<Arc<crate::collector::CollectorState>>,
    on_baml_call: Option<crate::collector::OnCallFn>,
    /// The runtime with the `tb` / `clientRegistry` options' additions, and the registry's
    /// primary client.
    runtime: Option<Overlaid>,
    download_media: bool,
    /// The shared runtime of `sharing: 'runtime'`.
    shared: Option<Sharing>,
}

use crate::group::Shared;
use crate::runtime::Overlaid;

/// The `runtime` argument of the constructor, which must be a `BamlRuntime`.
fn runtime_arg<'env>(
    env: &Env,
    runtime: Unknown<'env>,
) -> std::result::Result<ClassInstance<'env, BamlRuntime>, String> {
    let t = runtime.get_type().map_err(|e| failure(env, &e))?;
    let wrong = || {
        format!(
            "runtime must be a BamlRuntime (from BamlRuntime.fromFiles() or BamlRuntime.fromDirectory()), got {}",
            if t == ValueType::Object { "another object" } else { options::type_name(t) }
        )
    };
    if t != ValueType::Object {
        return Err(wrong());
    }
    ClassInstance::<BamlRuntime>::from_unknown(runtime).map_err(|_| {
        // napi-rs leaves nothing pending for a failed unwrap, but be sure.
        let _ = crate::errors::take_exception(env);
        wrong()
    })
}

/// Why a name cannot be a global of the sandbox: it would replace a standard global, `b`,
/// or a BAML function (which are globals by their names too).
fn reserved(name: &str, runtime: &baml_runtime::Runtime) -> Option<String> {
    if baml_runtime::STANDARD_GLOBALS.contains(&name) {
        return Some(if name == "b" {
            "would replace `b`, the object of BAML functions".to_owned()
        } else {
            format!("would replace the standard global `{name}`")
        });
    }
    runtime
        .ir()
        .function(name)
        .map(|_| format!("would replace the BAML function `{name}` (a global by its name)"))
}

/// The shared runtime `sharing` and `group` ask for: a group's, or the `BamlRuntime`'s
/// default group in an isolation (made once the options are all read).
#[derive(Clone)]
enum Sharing {
    Group(Shared),
    Default(Isolation),
}

impl Sharing {
    fn isolation(&self) -> Isolation {
        match self {
            Sharing::Group(g) => g.isolation(),
            Sharing::Default(i) => *i,
        }
    }
}

/// What `sharing`, `group` and `isolation` ask for, if it is a shared runtime.
fn sharing(o: &ContextOptions<'_>, env: &Env) -> std::result::Result<Option<Sharing>, String> {
    let shared = match (o.sharing.as_deref(), &o.group) {
        (None | Some("none"), None) => return Ok(None),
        (Some("none"), Some(_)) => {
            return Err(
                "option group needs sharing 'runtime' (or no sharing option), got sharing 'none'"
                    .into(),
            )
        }
        (None | Some("runtime"), Some(group)) => {
            let t = group.get_type().map_err(|e| failure(env, &e))?;
            let wrong = || {
                format!(
                    "option group must be a ContextGroup (new ContextGroup()), got {}",
                    if t == ValueType::Object {
                        "another object"
                    } else {
                        options::type_name(t)
                    }
                )
            };
            if t != ValueType::Object {
                return Err(wrong());
            }
            let instance = ClassInstance::<crate::group::ContextGroup>::from_unknown(*group)
                .map_err(|_| {
                    let _ = crate::errors::take_exception(env);
                    wrong()
                })?;
            let shared = instance.shared.clone();
            if let Some(asked) = o.isolation.as_deref() {
                let isolation = options::isolation(Some(asked))?;
                if isolation != shared.isolation() {
                    return Err(format!(
                            "option isolation {asked:?} does not match its group's ({:?}): a context has the isolation of its ContextGroup",
                            isolation_name(shared.isolation())
                        ));
                }
            }
            Sharing::Group(shared)
        }
        (Some("runtime"), None) => Sharing::Default(options::isolation(o.isolation.as_deref())?),
        (Some(other), _) => {
            return Err(format!(
                "option sharing must be 'none' or 'runtime', got {other:?}"
            ))
        }
    };
    for (name, given) in [
        ("memoryLimitBytes", o.memory_limit_bytes.is_some()),
        ("maxStackBytes", o.max_stack_bytes.is_some()),
    ] {
        if given {
            return Err(format!(
                "option {name} belongs to the ContextGroup when contexts share a runtime (sharing 'runtime'): pass it to new ContextGroup({{ {name} }})"
            ));
        }
    }
    Ok(Some(shared))
}

fn isolation_name(i: Isolation) -> &'static str {
    match i {
        Isolation::Process => "process",
        Isolation::Thread => "thread",
    }
}

/// `memoryLimitBytes` and `maxStackBytes`: the group's in a shared runtime.
fn limits(
    o: &ContextOptions<'_>,
    shared: Option<&Sharing>,
) -> std::result::Result<(usize, usize), String> {
    match shared {
        Some(Sharing::Group(g)) => return Ok((g.memory_limit(), g.max_stack())),
        Some(Sharing::Default(_)) => {
            return Ok((baml_sandbox::DEFAULT_SHARED_MEMORY_LIMIT, DEFAULT_MAX_STACK))
        }
        None => {}
    }
    let memory = match o.memory_limit_bytes {
        Some(n) => options::bytes("memoryLimitBytes", n, MIN_MEMORY_LIMIT, MAX_MEMORY_LIMIT)?,
        None => DEFAULT_MEMORY_LIMIT,
    };
    let stack = match o.max_stack_bytes {
        Some(n) => options::bytes("maxStackBytes", n, MIN_STACK_LIMIT, MAX_STACK_LIMIT)?,
        None => DEFAULT_MAX_STACK,
    };
    Ok((memory, stack))
}

fn read_config(
    options: Option<ContextOptions<'_>>,
    env: &Env,
    runtime: &Arc<baml_runtime::Runtime>,
) -> std::result::Result<Config, String> {
    let mut config = Config {
        sandbox: SandboxOptions::default(),
        functions: Vec::new(),
        console: None,
        env: std::collections::BTreeMap::new(),
        isolation: options::isolation(None)?,
        collectors: Vec::new(),
        on_baml_call: None,
        runtime: None,
        download_media: false,
        shared: None,
    };
    let Some(o) = options else {
        return Ok(config);
    };
    config.shared = sharing(&o, env)?;
    let opts = &mut config.sandbox;
    (opts.memory_limit_bytes, opts.max_stack_bytes) = limits(&o, config.shared.as_ref())?;
    if let Some(ms) = o.timeout_ms {
        opts.timeout = options::timeout("timeoutMs", ms)?;
    }
    let limit = opts.memory_limit_bytes;
    let mut total: u64 = 0;
    let mut values = ValueCount::new("all globals together");
    if let Some(globals) = &o.globals {
        for (key, value) in entries(env, globals, "globals")? {
            if let Some(why) = reserved(&key, runtime) {
                return Err(format!("option globals.{key} {why}; choose another name"));
            }
            let path = baml_sandbox::push_path("globals", &key);
            match from_node(env, &value, &path, limit, &mut values) {
                Ok(v) => {
                    total = total.saturating_add(footprint(&v));
                    opts.globals.push((key, v));
                }
                Err(e) => {
                    return Err(format!(
                        "{} cannot be copied into the sandbox: {}",
                        e.path, e.reason
                    ))
                }
            }
        }
    }
    // What the globals take in the sandbox's heap at the least: more than the limit can
    // never fit (the sandbox would fail to be created; say it now, in both modes).
    if total > limit as u64 {
        return Err(format!(
            "globals take at least {total} bytes, more than the sandbox's memory limit of {limit} bytes"
        ));
    }
    if let Some(functions) = &o.host_functions {
        for (key, value) in entries(env, functions, "hostFunctions")? {
            if let Some(why) = reserved(&key, runtime) {
                return Err(format!(
                    "option hostFunctions.{key} {why}; choose another name"
                ));
            }
            if opts.globals.iter().any(|(g, _)| *g == key) {
                return Err(format!(
                    "option hostFunctions.{key} has the name of a global (globals.{key}); choose another name"
                ));
            }
            if !value.get_type().is_ok_and(|t| t == ValueType::Function) {
                return Err(format!("option hostFunctions.{key} must be a function"));
            }
            let f = Function::<crate::host::ArgList, Unknown>::from_unknown(value)
                .and_then(|f| f.create_ref())
                .map_err(|e| format!("option hostFunctions.{key}: {}", e.reason))?;
            opts.host_functions.push(key);
            config.functions.push(f);
        }
    }
    if let Some(f) = &o.on_console {
        config.console = Some(
            f.create_ref()
                .map_err(|e| format!("option onConsole: {}", e.reason))?,
        );
    }
    opts.console = config.console.is_some();
    config.env = options::env_map(o.env);
    config.isolation = if let Some(shared) = &config.shared {
        shared.isolation()
    } else {
        options::isolation(o.isolation.as_deref())?
    };
    if let Some(c) = &o.collector {
        config.collectors = crate::collector::collectors_from(c)?;
    }
    if let Some(f) = &o.on_baml_call {
        config.on_baml_call = Some(
            f.create_ref()
                .map_err(|e| format!("option onBamlCall: {}", e.reason))?,
        );
    }
    config.download_media = o.download_media.unwrap_or(false);
    config.runtime = builders(o.tb.as_ref(), o.client_registry.as_ref(), runtime)?;
    Ok(config)
}

/// The runtime with the `tb` and `clientRegistry` options' additions, if there are any.
fn builders(
    tb: Option<&serde_json::Value>,
    registry: Option<&serde_json::Value>,
    runtime: &Arc<baml_runtime::Runtime>,
) -> std::result::Result<Option<Overlaid>, String> {
    if tb.is_none() && registry.is_none() {
        return Ok(None);
    }
    let what = if tb.is_some() { "tb" } else { "clientRegistry" };
    crate::runtime::overlaid(runtime, tb, registry)
        .map(Some)
        .map_err(|e| format!("option {what}: {e}"))
}

#[napi]
impl BamlContext {
    /// Creates a sandbox that can call `runtime`'s BAML functions.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        #[napi(ts_arg_type = "BamlRuntime")] runtime: Unknown,
        #[napi(ts_arg_type = "ContextOptions")] options: Option<Unknown>,
    ) -> Result<Self> {
        let runtime = runtime_arg(&env, runtime).map_err(|m| throw_invalid(&env, &m))?;
        let options: Option<ContextOptions> = options::read(&env, "options", options, CONTEXT_KEYS)
            .map_err(|m| throw_invalid(&env, &m))?;
        let Config {
            sandbox: mut opts,
            functions,
            console,
            env: ctx_env,
            isolation,
            collectors,
            on_baml_call,
            runtime: overlaid,
            download_media,
            shared,
        } = read_config(options, &env, &runtime.inner).map_err(|m| throw_invalid(&env, &m))?;
        let shared = match shared {
            None => None,
            Some(Sharing::Group(g)) => Some(g),
            Some(Sharing::Default(isolation)) => Some(
                runtime
                    .default_groups
                    .get(isolation)
                    .map_err(|e| crate::group::throw_shared(&env, e))?,
            ),
        };
        let mailbox = mailbox(&env)?;
        let overlaid = overlaid.unwrap_or_else(|| Overlaid {
            runtime: runtime.inner.clone(),
            primary: None,
            overlay: baml_runtime::Overlay::default(),
        });
        let baml = Arc::new(
            BamlBinding::new(overlaid.runtime, ctx_env, opts.memory_limit_bytes)
                .with_builders(overlaid.primary, runtime.inner.clone(), overlaid.overlay)
                .with_media_downloads(download_media)
                .with_observers(crate::collector::Observers::new(
                    collectors,
                    on_baml_call,
                    mailbox.clone(),
                )),
        );
        opts.baml_functions = baml.names();
        let functions = Arc::new(NodeFunctions::new(functions, console));
        let host = Arc::new(NodeHost {
            mailbox: mailbox.clone(),
            functions: functions.clone(),
            baml: baml.clone(),
            memory_limit: opts.memory_limit_bytes,
            hot: Arc::default(),
        });
        let timeout = opts.timeout;
        let created: std::result::Result<Created, SandboxError> = match (isolation, shared) {
            (_, Some(Shared::Thread(shared))) => Sandbox::spawn_shared(opts, host, &shared)
                .map(|s| (Arc::new(s) as Arc<dyn SandboxHandle>, None)),
            #[cfg(target_os = "linux")]
            (_, Some(Shared::Process(group))) => {
                let spin_slot = host.hot.clone();
                sandbox_process::RemoteSandbox::new_member(&opts, host, &group).map(|remote| {
                    let remote = Arc::new(remote);
                    let spin: Arc<dyn SpinSource> = remote.clone();
                    let _ = spin_slot.set(Arc::downgrade(&spin));
                    (remote as Arc<dyn SandboxHandle>, Some(spin))
                })
            }
            (Isolation::Thread, None) => Sandbox::spawn(opts, host, crate::sandbox_pool())
                .map(|s| (Arc::new(s) as Arc<dyn SandboxHandle>, None)),
            #[cfg(not(target_os = "linux"))]
            (Isolation::Process, None) => unreachable!("options::isolation refuses it"),
            #[cfg(target_os = "linux")]
            (Isolation::Process, None) => crate::spawner()
                .map_err(|reason| SandboxError::Crashed { reason })
                .and_then(|spawner| {
                    let spin_slot = host.hot.clone();
                    let remote = Arc::new(sandbox_process::RemoteSandbox::new(
                        &opts,
                        host,
                        &spawner,
                        &crate::tokio_handle(),
                    )?);
                    let spin: Arc<dyn SpinSource> = remote.clone();
                    let _ = spin_slot.set(Arc::downgrade(&spin));
                    Ok((remote as Arc<dyn SandboxHandle>, Some(spin)))
                }),
        };
        let (sandbox, spin) = match created {
            Ok(c) => c,
            Err(e) => {
                functions.clear();
                return Err(throw(&env, sandbox_error(&env, &e, |_| None)));
            }
        };
        Ok(BamlContext {
            sandbox,
            spin,
            functions,
            baml,
            mailbox,
            timeout,
        })
    }

    /// Runs `code` as a script (top-level `await` allowed) and resolves with its completion
    /// value, copied out of the sandbox. Bad arguments reject with `ERR_INVALID_ARG_VALUE`.
    #[napi(ts_return_type = "Promise<unknown>", catch_unwind)]
    pub fn evaluate<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "string")] code: Unknown<'env>,
        #[napi(ts_arg_type = "EvaluateOptions")] options: Option<Unknown<'env>>,
    ) -> Result<Unknown<'env>> {
        let (deferred, promise) = Deferred::new(env)?;
        let reject_with = |deferred: Deferred, e: Result<Unknown<'env>>| -> Result<Unknown<'env>> {
            deferred.reject(env, &e?);
            Ok(promise)
        };
        let code = match code.get_type()? {
            ValueType::String => code.coerce_to_string()?.into_utf8()?.into_owned()?,
            other => {
                let m = format!("code must be a string, got {}", options::type_name(other));
                return reject_with(deferred, JsErr::invalid_arg(env, &m).map(JsErr::value));
            }
        };
        let options: Option<EvaluateOptions> =
            match options::read(env, "evaluate options", options, EVALUATE_KEYS) {
                Ok(o) => o,
                Err(m) => {
                    return reject_with(deferred, JsErr::invalid_arg(env, &m).map(JsErr::value))
                }
            };
        let mut eval = EvalOptions {
            timeout: Some(self.timeout),
            filename: None,
            on_start: None,
        };
        let mut signal = None;
        if let Some(o) = options {
            if let Some(ms) = o.timeout_ms {
                match options::timeout("timeoutMs", ms) {
                    Ok(t) => eval.timeout = Some(t),
                    Err(m) => {
                        return reject_with(deferred, JsErr::invalid_arg(env, &m).map(JsErr::value))
                    }
                }
            }
            if let Some(name) = o.filename {
                match options::filename(name) {
                    Ok(name) => eval.filename = Some(name),
                    Err(m) => {
                        return reject_with(deferred, JsErr::invalid_arg(env, &m).map(JsErr::value))
                    }
                }
            }
            signal = o.signal;
        }
        if signal.as_ref().is_some_and(abort::aborted) {
            return reject_with(
                deferred,
                sandbox_error(env, &SandboxError::Aborted, |_| None),
            );
        }
        self.mailbox.hold(env);
        // Filled below once the abort listener exists; taken when the evaluation settles.
        let listener: Arc<Mutex<Option<Listener>>> = Arc::new(Mutex::new(None));
        let settled = Arc::new(AtomicBool::new(false));
        let done_listener = listener.clone();
        let done_settled = settled.clone();
        let mailbox = self.mailbox.clone();
        let baml = self.baml.clone();
        // An evaluation in flight keeps its sandbox alive even if the BamlContext object is
        // garbage-collected meanwhile; the reference goes once the promise is settled.
        let keep_alive = self.sandbox.clone();
        let id = self.sandbox.evaluate(
            code,
            eval,
            Box::new(move |result| {
                // Readied here, off Node's thread (see `convert::prepare`).
                let result = result.map(prepare);
                let job_mailbox = mailbox.clone();
                mailbox.post(Job::Settle(Box::new(move |env| {
                    settle(env, deferred, result, &baml);
                    drop(keep_alive);
                    done_settled.store(true, Ordering::Release);
                    job_mailbox.release(env);
                    let listener = done_listener
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .take();
                    if let Some(l) = listener {
                        l.remove(env);
                    }
                })));
            }),
        );
        if let Some(signal) = &signal {
            let weak: Weak<dyn SandboxHandle> = Arc::downgrade(&self.sandbox);
            let added = abort::listen(env, signal, move || {
                if let Some(sandbox) = weak.upgrade() {
                    sandbox.abort(id);
                }
            });
            match added {
                Ok(l) if !settled.load(Ordering::Acquire) => {
                    *listener.lock().unwrap_or_else(PoisonError::into_inner) = Some(l);
                }
                Ok(l) => l.remove(env),
                Err(_) => self.sandbox.abort(id),
            }
        }
        self.mailbox
            .spin_for(env, self.spin.clone(), |_| settled.load(Ordering::Acquire));
        Ok(promise)
    }

    /// BAML calls made by this context and the tokens they used.
    #[napi(catch_unwind)]
    pub fn usage(&self) -> Usage {
        let usage: &UsageCounters = &self.baml.usage;
        let n = |c: &std::sync::atomic::AtomicU64| js_number(c.load(Ordering::Relaxed));
        Usage {
            calls: n(&usage.calls),
            input_tokens: n(&usage.input_tokens),
            output_tokens: n(&usage.output_tokens),
        }
    }

    /// Bytes the sandbox's QuickJS heap uses now, and its limit.
    #[napi(catch_unwind)]
    pub fn memory_usage(&self) -> MemoryUsage {
        let (used, limit) = self.sandbox.memory_usage();
        MemoryUsage {
            used_bytes: js_number(used as u64),
            limit_bytes: js_number(limit as u64),
        }
    }

    /// Frees the sandbox. In-flight evaluations reject with `code: 'SANDBOX_DISPOSED'`, and so
    /// does every later `evaluate()`. Calling it again does nothing.
    #[napi(catch_unwind)]
    pub fn dispose(&self) {
        self.sandbox.dispose();
        self.functions.clear();
        if let Some(o) = &self.baml.observers {
            o.clear();
        }
    }

    /// Whether `dispose()` was called (or the context's worker process died).
    #[napi(getter, catch_unwind)]
    pub fn disposed(&self) -> bool {
        self.sandbox.is_disposed()
    }
}

fn settle(
    env: &Env,
    deferred: Deferred,
    result: std::result::Result<Prepared, SandboxError>,
    baml: &BamlBinding,
) {
    let outcome = match result {
        Ok(v) => {
            let built = to_node(env, v);
            match built {
                Ok(js) => {
                    deferred.resolve(env, &js);
                    return;
                }
                Err(e) => sandbox_error(
                    env,
                    &SandboxError::Result {
                        path: "result".into(),
                        reason: format!(
                            "it cannot be built in Node: {}",
                            crate::errors::failure(env, &e)
                        ),
                    },
                    |_| None,
                ),
            }
        }
        Err(e) => sandbox_error(env, &e, |origin| baml.genuine(origin)),
    };
    if let Ok(err) = outcome {
        deferred.reject(env, &err);
    }
}
