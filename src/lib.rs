//! The Node binding of baml-quickjs: napi classes over the pure-Rust crates in `crates/`.
//!
//! Only this layer knows about napi. It reads options (`options`), copies values across
//! (`convert`), maps every error to a JS `Error` with a stable `code` in one place (`errors`),
//! and runs Node-side work (host functions, `onConsole`, settling promises) on Node's thread
//! through one mailbox per environment (`mailbox`). Sandboxed code never runs on Node's thread:
//! in-process contexts run on the sandbox thread pool, the others in worker processes.

#![allow(
    clippy::needless_pass_by_value,
    reason = "napi-rs hands arguments over by value; taking them so is the binding's shape"
)]
#![allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "napi-rs ties every value's lifetime to a borrow of its `Env`: `&Env` is the idiom"
)]

mod abort;
mod baml_calls;
mod clone;
mod collector;
mod context;
mod convert;
mod eager;
mod errors;
mod group;
mod host;
mod mailbox;
mod options;
mod promise;
mod runtime;

use std::sync::{Arc, OnceLock};

pub use collector::Collector;
pub use context::BamlContext;
pub use runtime::BamlRuntime;

/// Every Rust allocation of the addon. With glibc's malloc, sandbox and I/O threads past its
/// arena limit shared Node's own arena and its lock; see crates/baml_sandbox/src/alloc.rs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[napi_derive::module_init]
fn init() {
    // BAML calls (HTTP, parsing) run here; sandboxed code never does.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("BAML_QUICKJS_IO_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder.worker_threads(n);
    }
    // The HTTP and parsing of BAML calls that sandboxed code starts run at the sandbox threads'
    // lower priority: however many calls a tenant floods, Node's own thread wins the CPU.
    builder.on_thread_start(baml_sandbox::lower_priority);
    // Room in the descriptor table for every socket BAML calls may hold at once and then
    // some, made now on a thread of its own rather than when a flood of calls opens them.
    let slots =
        u32::try_from((baml_runtime::MAX_REQUESTS + 512).next_power_of_two()).unwrap_or(1024);
    let _ = std::thread::Builder::new()
        .name("baml-quickjs-fds".into())
        .spawn(move || baml_sandbox::reserve_descriptors(slots));
    if let Ok(rt) = builder.enable_all().thread_name("baml-quickjs-io").build() {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}

/// The tokio runtime every BAML call runs on.
pub(crate) fn tokio_handle() -> tokio::runtime::Handle {
    napi::bindgen_prelude::within_runtime_if_available(tokio::runtime::Handle::current)
}

#[cfg(target_os = "linux")]
/// The worker executable: `BAML_QUICKJS_WORKER` if set, else `baml-quickjs-worker` beside the
/// addon's `.node` file (the build puts it there, and so do the npm packages).
fn worker_exe() -> Result<std::path::PathBuf, String> {
    if let Some(path) = std::env::var_os("BAML_QUICKJS_WORKER") {
        return Ok(path.into());
    }
    let marker: fn() -> Arc<baml_sandbox::ThreadPool> = sandbox_pool;
    let library = sandbox_process::spawn::file_containing(marker as *const ())
        .ok_or_else(|| "cannot find the addon's own file".to_string())?;
    let dir = library
        .parent()
        .ok_or_else(|| format!("{} has no directory", library.display()))?;
    Ok(dir.join("baml-quickjs-worker"))
}

/// The spawner of worker processes (process isolation), started on first use.
#[cfg(target_os = "linux")]
pub(crate) fn spawner() -> Result<Arc<sandbox_process::Spawner>, String> {
    static SPAWNER: OnceLock<Result<Arc<sandbox_process::Spawner>, String>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let exe = worker_exe()?;
            sandbox_process::Spawner::new(exe.clone()).map_err(|e| {
                format!(
                    "could not be started: the worker executable {} is missing or unusable ({e}); build it (npm run build) or use isolation: 'thread'",
                    exe.display()
                )
            })
        })
        .clone()
}

/// The sandbox threads of every in-process context.
pub(crate) fn sandbox_pool() -> Arc<baml_sandbox::ThreadPool> {
    static POOL: OnceLock<Arc<baml_sandbox::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| Arc::new(baml_sandbox::ThreadPool::new("baml-quickjs-sandbox")))
        .clone()
}
