//! Running closures on Node's thread from any other thread, through one threadsafe function
//! per environment (one uv wake-up per task, no per-call handle creation).
//!
//! The function is unreferenced while nothing is pending, so an idle addon never keeps Node
//! alive; `hold()`/`release()` reference it while evaluations are in flight.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::sys;

use crate::util::{ok, Env, Fail, R};

pub(crate) type Task = Box<dyn FnOnce(Env) + Send>;

/// Posts tasks to one environment's thread.
pub(crate) struct Poster {
    tsfn: sys::napi_threadsafe_function,
    closed: Arc<AtomicBool>,
}

// SAFETY: a threadsafe function is made to be called from any thread; the handle stays valid
// because the thread count taken at creation is never released (Node keeps the object until it
// drops to zero and answers `napi_closing` after teardown).
unsafe impl Send for Poster {}
unsafe impl Sync for Poster {}

thread_local! {
    static POSTER: RefCell<Option<Arc<Poster>>> = const { RefCell::new(None) };
    static HELD: Cell<usize> = const { Cell::new(0) };
}

unsafe extern "C" fn call_js(
    env: Env,
    _js_cb: sys::napi_value,
    _ctx: *mut c_void,
    data: *mut c_void,
) {
    if data.is_null() {
        return;
    }
    let task = unsafe { Box::from_raw(data.cast::<Task>()) };
    if env.is_null() {
        return; // environment tearing down: drop the task unrun
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || (*task)(env)));
}

unsafe extern "C" fn finalize(_env: Env, data: *mut c_void, _hint: *mut c_void) {
    let closed = unsafe { Arc::from_raw(data.cast::<AtomicBool>()) };
    closed.store(true, Ordering::Release);
}

/// The poster of the calling thread's environment, created on first use.
pub(crate) unsafe fn poster(env: Env) -> R<Arc<Poster>> {
    if let Some(p) = POSTER.with(|p| p.borrow().clone()) {
        return Ok(p);
    }
    let closed = Arc::new(AtomicBool::new(false));
    let mut name = ptr::null_mut();
    let label = "baml-quickjs";
    ok(unsafe {
        sys::napi_create_string_utf8(
            env,
            label.as_ptr().cast(),
            crate::util::len_isize(label.len()),
            &raw mut name,
        )
    })?;
    let mut tsfn = ptr::null_mut();
    let data = Arc::into_raw(closed.clone()).cast_mut().cast::<c_void>();
    let status = unsafe {
        sys::napi_create_threadsafe_function(
            env,
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            data,
            Some(finalize),
            ptr::null_mut(),
            Some(call_js),
            &raw mut tsfn,
        )
    };
    if status != sys::Status::napi_ok {
        drop(unsafe { Arc::from_raw(data.cast::<AtomicBool>()) });
        return Err(Fail);
    }
    unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
    let p = Arc::new(Poster { tsfn, closed });
    POSTER.with(|slot| *slot.borrow_mut() = Some(p.clone()));
    Ok(p)
}

impl Poster {
    /// Queues `task` to run on Node's thread. Dropped unrun if the environment is gone.
    pub(crate) fn post(&self, task: Task) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        let data = Box::into_raw(Box::new(task));
        let status = unsafe {
            sys::napi_call_threadsafe_function(
                self.tsfn,
                data.cast(),
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        };
        if status != sys::Status::napi_ok {
            drop(unsafe { Box::from_raw(data) });
        }
    }

    /// Keeps Node's loop alive until the matching `release` (Node thread only).
    pub(crate) unsafe fn hold(&self, env: Env) {
        let n = HELD.with(|h| {
            h.set(h.get() + 1);
            h.get()
        });
        if n == 1 {
            unsafe { sys::napi_ref_threadsafe_function(env, self.tsfn) };
        }
    }

    pub(crate) unsafe fn release(&self, env: Env) {
        let n = HELD.with(|h| {
            h.set(h.get().saturating_sub(1));
            h.get()
        });
        if n == 0 {
            unsafe { sys::napi_unref_threadsafe_function(env, self.tsfn) };
        }
    }
}
