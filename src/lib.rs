//! The Node binding of baml-quickjs: napi classes over the pure-Rust crates in `crates/`.
//!
//! Only this layer knows about napi. It turns option objects into Rust options, copies values
//! across (`convert`), maps every error to a JS `Error` with a stable `code` in one place
//! (`errors`), and runs Node-side work (host functions, `onConsole`, settling promises) on
//! Node's thread through one threadsafe function per environment (`main_thread`).

#![allow(
    clippy::needless_pass_by_value,
    reason = "napi-rs hands arguments over by value; taking them so is the binding's shape"
)]

mod abort;
mod baml_calls;
mod context;
mod convert;
mod eager;
mod errors;
mod main_thread;
mod runtime;
mod util;

pub use context::BamlContext;
pub use runtime::BamlRuntime;

#[napi_derive::module_init]
fn init() {
    // Sandboxed code runs on the blocking pool: give those threads room for QuickJS's stack
    // (`maxStackBytes` is capped well below this).
    if let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .thread_name("baml-quickjs")
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}

/// The tokio runtime every context and BAML call runs on.
pub(crate) fn tokio_handle() -> tokio::runtime::Handle {
    napi::bindgen_prelude::within_runtime_if_available(tokio::runtime::Handle::current)
}
