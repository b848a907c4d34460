//! The one error type of the sandbox, with the stable codes of SPEC.md.

/// Why an evaluation (or creating a sandbox) failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// An uncaught exception in sandboxed code.
    #[error("{message}")]
    Js {
        /// The thrown error's `name` (`TypeError`, ...), if it was an Error.
        name: Option<String>,
        message: String,
        stack: Option<String>,
        /// When the exception is the very object the sandbox built from a host error with an
        /// origin (a BAML error that escaped `await b.F()` uncaught): that origin.
        origin: Option<u64>,
    },
    #[error("evaluation timed out after {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("sandbox memory limit of {limit_bytes} bytes exceeded")]
    Memory { limit_bytes: u64 },
    #[error("sandbox stack overflow (maximum call stack size exceeded)")]
    Stack,
    #[error("evaluation aborted")]
    Aborted,
    #[error("the context was disposed")]
    Disposed,
    /// The result could not be copied out of the sandbox.
    #[error("result at {path} cannot be copied out of the sandbox: {reason}")]
    Result { path: String, reason: String },
    /// The worker process holding the sandbox died or was killed; the context is disposed.
    #[error("the sandbox's worker process {reason}; the context was disposed")]
    Crashed { reason: String },
    /// An option is out of range or malformed (`option` names it as the embedder wrote it).
    #[error("{message}")]
    InvalidOption { option: String, message: String },
    /// The sandbox itself could not be set up (an engine allocation failed).
    #[error("{0}")]
    Setup(String),
}

impl SandboxError {
    /// The stable error code of SPEC.md.
    pub fn code(&self) -> &'static str {
        match self {
            SandboxError::Js { .. } | SandboxError::Setup(_) => "SANDBOX_ERROR",
            SandboxError::Timeout { .. } => "SANDBOX_TIMEOUT",
            SandboxError::Memory { .. } => "SANDBOX_MEMORY",
            SandboxError::Stack => "SANDBOX_STACK",
            SandboxError::Aborted => "SANDBOX_ABORTED",
            SandboxError::Disposed => "SANDBOX_DISPOSED",
            SandboxError::Result { .. } => "SANDBOX_RESULT",
            SandboxError::Crashed { .. } => "SANDBOX_CRASHED",
            SandboxError::InvalidOption { .. } => "ERR_INVALID_ARG_VALUE",
        }
    }
}
