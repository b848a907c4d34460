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
mod context;
mod convert;
mod eager;
mod errors;
mod host;
mod mailbox;
mod options;
mod promise;
mod runtime;

use std::sync::{Arc, OnceLock};

pub use context::BamlContext;
pub use runtime::BamlRuntime;

#[napi_derive::module_init]
fn init() {
    // BAML calls (HTTP, parsing) run here; sandboxed code never does.
    if let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("baml-quickjs-io")
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}

/// The tokio runtime every BAML call runs on.
pub(crate) fn tokio_handle() -> tokio::runtime::Handle {
    napi::bindgen_prelude::within_runtime_if_available(tokio::runtime::Handle::current)
}

/// The sandbox threads of every in-process context.
pub(crate) fn sandbox_pool() -> Arc<baml_sandbox::ThreadPool> {
    static POOL: OnceLock<Arc<baml_sandbox::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| Arc::new(baml_sandbox::ThreadPool::new("baml-quickjs-sandbox")))
        .clone()
}
