//! One sandboxed QuickJS runtime per context.
//!
//! A [`Sandbox`] owns a QuickJS runtime and its single realm, enforces the memory, stack and time
//! limits, copies values in and out ([`Value`]), and reaches its embedder only through the
//! [`Host`] trait (host functions and `console`). It knows nothing of Node: the napi layer
//! implements [`Host`] and drives evaluations with callbacks, and tests can do the same.

mod alloc;
mod convert;
mod error;
mod intrinsics;
mod outbox;
mod sandbox;
#[cfg(target_os = "linux")]
mod slice;
mod value;

pub use error::SandboxError;
pub use outbox::ConsoleLine;
pub use sandbox::{
    CallGuard, ConsoleLevel, Done, EvalId, Host, HostError, Partial, Reply, Sandbox,
    SandboxOptions, DEFAULT_MAX_STACK, DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT, MAX_HOST_CALLS,
    MAX_STACK_LIMIT, MAX_TIMERS,
};
pub use value::{drop_flat, push_path, Value, MAX_DEPTH};
