//! One sandboxed QuickJS runtime per context.
//!
//! A [`Sandbox`] owns a QuickJS runtime and its single realm, enforces the memory, stack and
//! time limits, copies values in and out ([`Value`]), and reaches its embedder only through the
//! [`Host`] trait (host functions, BAML calls and `console`). Its turns run where its
//! [`Driver`] puts them: on the sandbox threads of a [`ThreadPool`] in-process, or on a worker
//! process's own loop. It knows nothing of Node: the napi layer and the worker process
//! implement [`Host`] and drive evaluations through [`SandboxHandle`], and tests do the same.

mod alloc;
mod bridge;
mod classify;
mod clone;
mod compile;
mod convert;
mod driver;
mod error;
mod format;
mod gc;
mod group;
mod guards;
mod host;
mod intrinsics;
mod json_guard;
mod options;
mod outbox;
mod pool;
mod realm;
mod sandbox;
mod spares;
mod stack;
mod throw;
mod timers;
mod turn;
mod value;
mod web;

pub use alloc::use_system_allocator;
pub use driver::{Driver, Task, TimerFn, TimerKey, Timers};
pub use error::SandboxError;
pub use group::{SharedOptions, SharedRuntime, DEFAULT_SHARED_MEMORY_LIMIT};
pub use host::{CallGuard, ConsoleLevel, Done, Host, HostError, Partial, Reply};
pub use options::{
    SandboxOptions, DEFAULT_MAX_STACK, DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT, MAX_HOST_CALLS,
    MAX_MEMORY_LIMIT, MAX_STACK_LIMIT, MAX_TIMEOUT_MS, MAX_TIMERS, MIN_MEMORY_LIMIT,
    MIN_STACK_LIMIT, SANDBOX_THREAD_STACK,
};
pub use outbox::{ConsoleLine, Outbox, Ticket};
pub use pool::{lower_priority, reserve_descriptors, ThreadPool, MAX_POOL_THREADS, NICE};
pub use sandbox::{EvalId, EvalOptions, OnStart, Sandbox, SandboxHandle};
pub use spares::{set_spares, spares_ready, SPARES};
pub use value::{
    drop_flat, map_key_segment, map_value_segment, push_path, set_item_segment, ErrorValue, RegExp,
    TypedArrayKind, Value, CAUSE_SEGMENT, MAX_COPY_VALUES, MAX_DEPTH,
};

/// How many bytes one copied value may take for a sandbox with this memory limit (see
/// `convert::copy_budget`); embedders bound their own copies into a sandbox with it.
pub fn copy_budget(memory_limit: usize) -> usize {
    convert::copy_budget(memory_limit)
}
