//! Options of one sandbox and their limits.

use std::time::Duration;

use crate::error::SandboxError;
use crate::value::{over_deep, push_path, Value};

/// Default `memoryLimitBytes`: 64 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;
/// The smallest `memoryLimitBytes` accepted. A realm with its built-ins takes about 300 KB;
/// below this QuickJS cannot even create its runtime, and the embedder gets a clear error
/// instead of an engine failure.
pub const MIN_MEMORY_LIMIT: usize = 1 << 20;
/// The largest `memoryLimitBytes` accepted (1 TiB: beyond any machine this runs on, and small
/// enough that every byte count derived from it fits comfortably in a `u64`/`f64`).
pub const MAX_MEMORY_LIMIT: usize = 1 << 40;
/// Default `timeoutMs`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `timeoutMs` accepted (what a JavaScript timer accepts: 2^31 - 1 ms).
pub const MAX_TIMEOUT_MS: u64 = 2_147_483_647;
/// Default `maxStackBytes`: 512 KiB.
pub const DEFAULT_MAX_STACK: usize = 512 << 10;
/// The smallest `maxStackBytes` accepted: less cannot parse a short script.
pub const MIN_STACK_LIMIT: usize = 64 << 10;
/// The largest `maxStackBytes` accepted; sandbox threads have [`SANDBOX_THREAD_STACK`] bytes of
/// stack, so what Rust code runs past QuickJS's own check always fits.
pub const MAX_STACK_LIMIT: usize = 4 << 20;
/// The stack of every thread that runs sandboxed code: the largest budget, the slack our own
/// recursion may use past it (`stack.rs`), and room to spare. Reserved, not committed: a thread
/// touches only what it uses.
pub const SANDBOX_THREAD_STACK: usize = 16 << 20;
/// Most timers one context may have pending.
pub const MAX_TIMERS: usize = 100_000;
/// Most host-function and BAML calls one context may have in flight.
pub const MAX_HOST_CALLS: usize = 100_000;

/// Options of one sandbox (SPEC.md's `ContextOptions` minus what belongs to BAML).
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub memory_limit_bytes: usize,
    pub timeout: Duration,
    pub max_stack_bytes: usize,
    pub globals: Vec<(String, Value)>,
    pub host_functions: Vec<String>,
    pub console: bool,
    /// BAML functions, exposed as `b.<name>`, `b.stream.<name>` and (where that shadows no
    /// existing global) `<name>`.
    pub baml_functions: Vec<String>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            memory_limit_bytes: DEFAULT_MEMORY_LIMIT,
            timeout: DEFAULT_TIMEOUT,
            max_stack_bytes: DEFAULT_MAX_STACK,
            globals: Vec::new(),
            host_functions: Vec::new(),
            console: false,
            baml_functions: Vec::new(),
        }
    }
}

fn invalid(option: &str, message: String) -> SandboxError {
    SandboxError::InvalidOption {
        option: option.to_string(),
        message,
    }
}

impl SandboxOptions {
    /// Checks every limit and value before anything is built; the error names the option as
    /// the embedder wrote it (`memoryLimitBytes`, `globals.x`...).
    pub fn validate(&self) -> Result<(), SandboxError> {
        if !(MIN_MEMORY_LIMIT..=MAX_MEMORY_LIMIT).contains(&self.memory_limit_bytes) {
            return Err(invalid(
                "memoryLimitBytes",
                format!(
                    "option memoryLimitBytes must be between {MIN_MEMORY_LIMIT} (1 MiB) and {MAX_MEMORY_LIMIT} bytes, got {}",
                    self.memory_limit_bytes
                ),
            ));
        }
        if !(MIN_STACK_LIMIT..=MAX_STACK_LIMIT).contains(&self.max_stack_bytes) {
            return Err(invalid(
                "maxStackBytes",
                format!(
                    "option maxStackBytes must be between {MIN_STACK_LIMIT} (64 KiB) and {MAX_STACK_LIMIT} (4 MiB) bytes, got {}",
                    self.max_stack_bytes
                ),
            ));
        }
        let ms = self.timeout.as_millis();
        if ms == 0 || ms > u128::from(MAX_TIMEOUT_MS) {
            return Err(invalid(
                "timeoutMs",
                format!("option timeoutMs must be between 1 and {MAX_TIMEOUT_MS} ms, got {ms}"),
            ));
        }
        for (key, value) in &self.globals {
            if let Some(path) = over_deep(value, 0) {
                let root = push_path("globals", key);
                return Err(invalid(
                    &root,
                    crate::convert::too_deep_message(&root, &path),
                ));
            }
        }
        Ok(())
    }
}
