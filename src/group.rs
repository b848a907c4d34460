//! `ContextGroup`: contexts that share one QuickJS runtime (`sharing: 'runtime'`).

use baml_sandbox::{SharedOptions, SharedRuntime, DEFAULT_MAX_STACK, DEFAULT_SHARED_MEMORY_LIMIT};
use baml_sandbox::{MAX_MEMORY_LIMIT, MAX_STACK_LIMIT, MIN_MEMORY_LIMIT, MIN_STACK_LIMIT};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::context::MemoryUsage;
use crate::errors::{js_number, throw_invalid};
use crate::options::{self, GroupOptions, GROUP_KEYS};

/// Contexts that share one QuickJS runtime: one heap and memory limit, one stack budget and
/// one sandbox thread for the group, each context with its own realm (global scope, built-ins,
/// prototypes), evaluations, timeouts and timers. For memory-constrained hosts running code of
/// one tenant: a context costs about half as much, but a runaway context holds up the others
/// until its timeout ends it, and one that fills the heap makes the others' allocations fail.
/// Pass it as `new BamlContext(runtime, { group })`.
#[napi]
pub struct ContextGroup {
    pub(crate) shared: SharedRuntime,
}

/// Reads a group's options.
pub(crate) fn shared_options(
    o: Option<GroupOptions>,
) -> std::result::Result<SharedOptions, String> {
    let mut shared = SharedOptions::default();
    let Some(o) = o else {
        return Ok(shared);
    };
    shared.memory_limit_bytes = match o.memory_limit_bytes {
        Some(n) => options::bytes("memoryLimitBytes", n, MIN_MEMORY_LIMIT, MAX_MEMORY_LIMIT)?,
        None => DEFAULT_SHARED_MEMORY_LIMIT,
    };
    shared.max_stack_bytes = match o.max_stack_bytes {
        Some(n) => options::bytes("maxStackBytes", n, MIN_STACK_LIMIT, MAX_STACK_LIMIT)?,
        None => DEFAULT_MAX_STACK,
    };
    match o.isolation.as_deref() {
        None | Some("thread") => {}
        Some("process") => {
            return Err(
                "option isolation 'process' is not available for a ContextGroup yet: its contexts run in thread isolation (use isolation 'thread', or contexts without a group for process isolation)"
                    .into(),
            )
        }
        Some(other) => {
            return Err(format!("option isolation must be 'thread', got {other:?}"));
        }
    }
    Ok(shared)
}

/// A new shared runtime on the addon's sandbox threads.
pub(crate) fn new_shared(options: &SharedOptions) -> std::result::Result<SharedRuntime, String> {
    SharedRuntime::new(options, crate::sandbox_pool()).map_err(|e| e.to_string())
}

#[napi]
impl ContextGroup {
    /// A new group. Options: `memoryLimitBytes` (the whole group's heap, default 256 MiB),
    /// `maxStackBytes` (each turn's, default 512 KiB), `isolation` (`'thread'`, the only one
    /// groups offer).
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        #[napi(ts_arg_type = "ContextGroupOptions")] options: Option<Unknown>,
    ) -> Result<Self> {
        let options: Option<GroupOptions> = options::read(&env, "options", options, GROUP_KEYS)
            .map_err(|m| throw_invalid(&env, &m))?;
        let shared = shared_options(options)
            .and_then(|o| new_shared(&o))
            .map_err(|m| throw_invalid(&env, &m))?;
        Ok(ContextGroup { shared })
    }

    /// Bytes the group's QuickJS heap uses now (all its contexts together), and its limit.
    #[napi(catch_unwind)]
    pub fn memory_usage(&self) -> MemoryUsage {
        let (used, limit) = self.shared.memory_usage();
        MemoryUsage {
            used_bytes: js_number(used as u64),
            limit_bytes: js_number(limit as u64),
        }
    }
}
