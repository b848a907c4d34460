//! What a sandbox needs from its embedder: host functions, BAML calls and `console` output.
//!
//! The sandbox never calls into Node (or anything else) directly. It hands copies to a [`Host`]
//! and gets answers back through [`Reply`] callbacks, from any thread, whenever they are ready.

use crate::error::SandboxError;
use crate::outbox::ConsoleLine;
use crate::value::Value;

/// `console` levels, as `onConsole` receives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleLevel {
    Log,
    Info,
    Warn,
    Error,
    Debug,
}

impl ConsoleLevel {
    pub const ALL: [ConsoleLevel; 5] = [
        ConsoleLevel::Log,
        ConsoleLevel::Info,
        ConsoleLevel::Warn,
        ConsoleLevel::Error,
        ConsoleLevel::Debug,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleLevel::Log => "log",
            ConsoleLevel::Info => "info",
            ConsoleLevel::Warn => "warn",
            ConsoleLevel::Error => "error",
            ConsoleLevel::Debug => "debug",
        }
    }
}

/// Completion of a host-function or BAML call: the copied result, or the error to reject with.
pub type Reply = Box<dyn FnOnce(Result<Value, HostError>) + Send>;

/// A partial result of a streaming BAML call (called from any thread, in order).
pub type Partial = Box<dyn Fn(Value) + Send + Sync>;

/// Dropping it cancels a BAML call in flight (its HTTP request is dropped).
pub type CallGuard = Box<dyn Send>;

/// Completion of an evaluation.
pub type Done = Box<dyn FnOnce(Result<Value, SandboxError>) + Send>;

/// What a host call rejects with inside the sandbox: an `Error` with this `name`, `message`
/// and extra own properties (`code`, `raw_output`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct HostError {
    pub name: String,
    pub message: String,
    pub fields: Vec<(String, Value)>,
    /// Set by the embedder for errors only it can make (BAML's): the sandbox remembers the
    /// error object it built from this, and if that very object escapes an evaluation uncaught,
    /// the evaluation's [`SandboxError::Js`] carries this id back. An object sandboxed code made
    /// itself, whatever its fields, never does; so a `BAML_*` error cannot be forged.
    pub origin: Option<u64>,
}

impl From<&str> for HostError {
    fn from(message: &str) -> Self {
        HostError::from(message.to_string())
    }
}

impl From<String> for HostError {
    fn from(message: String) -> Self {
        HostError {
            name: "Error".into(),
            message,
            fields: Vec::new(),
            origin: None,
        }
    }
}

/// What the sandbox needs from its embedder (the napi layer, the worker process, or a test).
/// Every method is called on a sandbox thread, in the middle of a turn: it must not block.
pub trait Host: Send + Sync + 'static {
    /// Runs host function `index` (of `SandboxOptions::host_functions`) with copied arguments.
    /// Answer later through `reply`, from any thread.
    fn call(&self, index: usize, args: Vec<Value>, reply: Reply);
    /// Starts BAML function `index` (of `SandboxOptions::baml_functions`) with positional
    /// arguments; with `partial`, the call streams and reports each partial value. The returned
    /// guard cancels the call when dropped (after the reply it does nothing).
    fn baml_call(
        &self,
        index: usize,
        args: Vec<Value>,
        partial: Option<Partial>,
        reply: Reply,
    ) -> Option<CallGuard> {
        let _ = (index, args, partial);
        reply(Err(HostError::from(
            "BAML functions are not available here".to_string(),
        )));
        None
    }
    /// A formatted `console.*` line; only called when `SandboxOptions::console` is set. The
    /// line counts against the sandbox's bytes waiting for the host until it is dropped, so a
    /// host that delivers lines later keeps it until then.
    fn console(&self, level: ConsoleLevel, line: ConsoleLine);
}
