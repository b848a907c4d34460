//! The one error type of the sandbox, with the stable codes of SPEC.md.

/// Why an evaluation failed.
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
        /// A `BAML_*` code when the exception is a BAML error that escaped (`await b.F()`
        /// without a catch), with BAML's fields (`raw_output`, `status_code`, ...).
        code: Option<String>,
        fields: Vec<(String, crate::Value)>,
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
    /// The sandbox itself could not be set up (bad option, engine allocation failure).
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
        }
    }
}
