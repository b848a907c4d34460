//! `ContextGroup`: contexts that share one QuickJS runtime (`sharing: 'runtime'`), in a
//! worker process of the group's own (`isolation: 'process'`, the default on Linux) or on the
//! addon's sandbox threads (`'thread'`).

use std::sync::{Arc, OnceLock};

use baml_sandbox::{SharedOptions, SharedRuntime, DEFAULT_MAX_STACK, DEFAULT_SHARED_MEMORY_LIMIT};
use baml_sandbox::{MAX_MEMORY_LIMIT, MAX_STACK_LIMIT, MIN_MEMORY_LIMIT, MIN_STACK_LIMIT};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::context::MemoryUsage;
use crate::errors::{js_number, sandbox_error, throw, throw_invalid};
use crate::options::{self, GroupOptions, Isolation, GROUP_KEYS};

/// Where a group's shared runtime lives.
#[derive(Clone)]
pub(crate) enum Shared {
    /// On the addon's sandbox threads, in this process.
    Thread(SharedRuntime),
    /// In a worker process of the group's own.
    #[cfg(target_os = "linux")]
    Process(Arc<sandbox_process::ProcessGroup>),
}

impl Shared {
    pub(crate) fn memory_limit(&self) -> usize {
        match self {
            Shared::Thread(s) => s.memory_limit(),
            #[cfg(target_os = "linux")]
            Shared::Process(g) => g.memory_limit(),
        }
    }

    pub(crate) fn max_stack(&self) -> usize {
        match self {
            Shared::Thread(s) => s.max_stack(),
            #[cfg(target_os = "linux")]
            Shared::Process(g) => g.max_stack(),
        }
    }

    pub(crate) fn isolation(&self) -> Isolation {
        match self {
            Shared::Thread(_) => Isolation::Thread,
            #[cfg(target_os = "linux")]
            Shared::Process(_) => Isolation::Process,
        }
    }

    pub(crate) fn memory_usage(&self) -> (usize, usize) {
        match self {
            Shared::Thread(s) => s.memory_usage(),
            #[cfg(target_os = "linux")]
            Shared::Process(g) => g.memory_usage(),
        }
    }
}

/// The groups of contexts created with `sharing: 'runtime'` and no `group` (one per
/// isolation), made on first use.
#[derive(Default)]
pub(crate) struct DefaultGroups {
    thread: OnceLock<Shared>,
    #[cfg(target_os = "linux")]
    process: OnceLock<Shared>,
}

impl DefaultGroups {
    /// The default group in `isolation`, made now if there is none.
    pub(crate) fn get(&self, isolation: Isolation) -> std::result::Result<Shared, SharedError> {
        let slot = match isolation {
            Isolation::Thread => &self.thread,
            #[cfg(target_os = "linux")]
            Isolation::Process => &self.process,
            #[cfg(not(target_os = "linux"))]
            Isolation::Process => {
                return Err(SharedError::Invalid(
                    "process isolation is Linux-only".into(),
                ))
            }
        };
        if let Some(g) = slot.get() {
            return Ok(g.clone());
        }
        let g = new_shared(&SharedOptions::default(), isolation)?;
        Ok(slot.get_or_init(|| g).clone())
    }
}

/// Why a group could not be made: bad options (`ERR_INVALID_ARG_VALUE`) or a sandbox error
/// (the worker could not be started).
pub(crate) enum SharedError {
    Invalid(String),
    Sandbox(baml_sandbox::SandboxError),
}

impl From<String> for SharedError {
    fn from(m: String) -> Self {
        SharedError::Invalid(m)
    }
}

/// Contexts that share one QuickJS runtime: one heap and memory limit, one stack budget and
/// one thread for the group, each context with its own realm (global scope, built-ins,
/// prototypes), evaluations, timeouts and timers. For memory-constrained hosts running code of
/// one tenant: a context costs about half as much, but a runaway context holds up the others
/// until its timeout ends it, and one that fills the heap makes the others' allocations fail.
/// In process isolation (the default on Linux) the runtime lives in a worker process of the
/// group's own: if it is killed, all the group's contexts fail together.
/// Pass it as `new BamlContext(runtime, { group })`.
#[napi]
pub struct ContextGroup {
    pub(crate) shared: Shared,
}

/// Reads a group's options.
pub(crate) fn shared_options(
    o: Option<GroupOptions>,
) -> std::result::Result<(SharedOptions, Isolation), String> {
    let mut shared = SharedOptions::default();
    let Some(o) = o else {
        return Ok((shared, options::isolation(None)?));
    };
    shared.memory_limit_bytes = match o.memory_limit_bytes {
        Some(n) => options::bytes("memoryLimitBytes", n, MIN_MEMORY_LIMIT, MAX_MEMORY_LIMIT)?,
        None => DEFAULT_SHARED_MEMORY_LIMIT,
    };
    shared.max_stack_bytes = match o.max_stack_bytes {
        Some(n) => options::bytes("maxStackBytes", n, MIN_STACK_LIMIT, MAX_STACK_LIMIT)?,
        None => DEFAULT_MAX_STACK,
    };
    Ok((shared, options::isolation(o.isolation.as_deref())?))
}

/// A new shared runtime in `isolation`: on the addon's sandbox threads, or in a new worker.
pub(crate) fn new_shared(
    options: &SharedOptions,
    isolation: Isolation,
) -> std::result::Result<Shared, SharedError> {
    options
        .validate()
        .map_err(|e| SharedError::Invalid(e.to_string()))?;
    match isolation {
        Isolation::Thread => SharedRuntime::new(options, crate::sandbox_pool())
            .map(Shared::Thread)
            .map_err(|e| SharedError::Invalid(e.to_string())),
        #[cfg(target_os = "linux")]
        Isolation::Process => {
            let spawner = crate::spawner().map_err(|reason| {
                SharedError::Sandbox(baml_sandbox::SandboxError::Crashed { reason })
            })?;
            Ok(Shared::Process(sandbox_process::ProcessGroup::new(
                options.memory_limit_bytes,
                options.max_stack_bytes,
                &spawner,
                &crate::tokio_handle(),
            )))
        }
        #[cfg(not(target_os = "linux"))]
        Isolation::Process => Err(SharedError::Invalid(
            "process isolation is Linux-only".into(),
        )),
    }
}

/// Throws what made a group fail.
pub(crate) fn throw_shared(env: &Env, e: SharedError) -> Error {
    match e {
        SharedError::Invalid(m) => throw_invalid(env, &m),
        SharedError::Sandbox(e) => throw(env, sandbox_error(env, &e, |_| None)),
    }
}

#[napi]
impl ContextGroup {
    /// A new group. Options: `memoryLimitBytes` (the whole group's heap, default 256 MiB),
    /// `maxStackBytes` (each turn's, default 512 KiB), `isolation` (`'process'`, the default
    /// on Linux: the runtime in a worker process of the group's own; or `'thread'`).
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        #[napi(ts_arg_type = "ContextGroupOptions")] options: Option<Unknown>,
    ) -> Result<Self> {
        let options: Option<GroupOptions> = options::read(&env, "options", options, GROUP_KEYS)
            .map_err(|m| throw_invalid(&env, &m))?;
        let (options, isolation) = shared_options(options).map_err(|m| throw_invalid(&env, &m))?;
        let shared = new_shared(&options, isolation).map_err(|e| throw_shared(&env, e))?;
        Ok(ContextGroup { shared })
    }

    /// Bytes the group's QuickJS heap uses now (all its contexts together), and its limit. In
    /// process isolation, as of the last evaluation of any of its contexts to settle.
    #[napi(catch_unwind)]
    pub fn memory_usage(&self) -> MemoryUsage {
        let (used, limit) = self.shared.memory_usage();
        MemoryUsage {
            used_bytes: js_number(used as u64),
            limit_bytes: js_number(limit as u64),
        }
    }

    /// Where the group's runtime lives: `'process'` or `'thread'`.
    #[napi(getter, ts_return_type = "'process' | 'thread'")]
    pub fn isolation(&self) -> &'static str {
        match self.shared.isolation() {
            Isolation::Process => "process",
            Isolation::Thread => "thread",
        }
    }
}
