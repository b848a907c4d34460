//! Promises the addon settles later, on Node's thread.
//!
//! napi-rs's own `JsDeferred` can be settled from any thread, and pays for it with a
//! threadsafe function and an environment cleanup hook per promise: several microseconds and
//! a libuv handle for every `evaluate()`. Every settlement here already runs on Node's thread
//! (through the mailbox, `mailbox.rs`), so this is N-API's plain deferred, kept in one place.

use napi::bindgen_prelude::*;
use napi::sys;

/// A promise's resolver, owned until it is settled on the thread of the env that made it.
pub(crate) struct Deferred {
    raw: sys::napi_deferred,
}

// SAFETY: the raw deferred is only ever used by `resolve`/`reject`, which take the `Env` of the
// thread that created it (jobs of a mailbox run on its own env's thread only). Moving the
// pointer between threads meanwhile touches nothing. A deferred dropped unsettled (its env
// tore down) is leaked: Node frees pending deferreds with the environment.
unsafe impl Send for Deferred {}

impl Deferred {
    /// A new pending promise and its resolver.
    pub(crate) fn new(env: &Env) -> Result<(Deferred, Unknown<'_>)> {
        let mut raw = std::ptr::null_mut();
        let mut promise = std::ptr::null_mut();
        // SAFETY: plain N-API call on the calling (JS) thread's env.
        let status = unsafe { sys::napi_create_promise(env.raw(), &raw mut raw, &raw mut promise) };
        if status != sys::Status::napi_ok {
            return Err(Error::from_reason("cannot create a promise"));
        }
        // SAFETY: `promise` is a live value of this env's current scope.
        Ok((Deferred { raw }, unsafe {
            Unknown::from_raw_unchecked(env.raw(), promise)
        }))
    }

    pub(crate) fn resolve(self, env: &Env, value: &Unknown<'_>) {
        // SAFETY: see the `Send` impl; `value` belongs to `env`.
        unsafe { sys::napi_resolve_deferred(env.raw(), self.raw, value.raw()) };
    }

    pub(crate) fn reject(self, env: &Env, error: &Unknown<'_>) {
        // SAFETY: as `resolve`.
        unsafe { sys::napi_reject_deferred(env.raw(), self.raw, error.raw()) };
    }
}
