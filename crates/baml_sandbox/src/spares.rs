//! Runtimes prepared ahead: a few QuickJS runtimes with their realm and built-ins already
//! created, so that a new sandbox (with the default memory limit) starts from one instead of
//! creating it while an evaluation waits.
//!
//! What is prepared is what does not depend on the sandbox's options: the runtime (under its
//! own allocator accounting, with the default limit), a base realm and its built-ins
//! (`intrinsics.rs`). What does (console, timers, host functions, globals, `b`) is installed by
//! the sandbox's first turn as before. A spare is made on a driver thread, never on the
//! embedder's, and is handed over between turns (no frame of it is live); the turn that adopts
//! it moves QuickJS's stack top to its own thread first.
//!
//! The pool holds at most [`SPARES`] runtimes (`BAML_QUICKJS_SPARES` overrides it, `0` turns
//! it off: the benchmark measures cold creation that way). Taking one schedules a refill.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rquickjs::{qjs, Context, Runtime};

use crate::alloc::{LimitedAllocator, MemoryStats};
use crate::driver::{Driver, Task};
use crate::options::DEFAULT_MEMORY_LIMIT;
use crate::sandbox::lock;

/// How many prepared runtimes are kept by default.
pub const SPARES: usize = 4;

/// A runtime with a realm and its built-ins, not yet given to a sandbox.
pub(crate) struct Prepared {
    // Field order is drop order: the realm before its runtime.
    pub(crate) context: Context,
    pub(crate) runtime: Runtime,
    pub(crate) memory: Arc<MemoryStats>,
}

// SAFETY: a prepared runtime is touched by one thread at a time: the driver thread that makes
// it, then (through the pool's mutex) the turn that adopts it; no frame of it is live in
// between, and the adopting turn moves QuickJS's stack top to its own stack first.
unsafe impl Send for Prepared {}

impl Prepared {
    /// Makes one, on the calling (driver) thread.
    fn make() -> Option<Prepared> {
        let memory = MemoryStats::new(DEFAULT_MEMORY_LIMIT);
        let runtime = Runtime::new_with_alloc(LimitedAllocator {
            stats: memory.clone(),
        })
        .ok()?;
        // Garbage is collected at consistent points only (see `gc.rs`).
        runtime.set_gc_threshold(usize::MAX);
        let context = Context::base(&runtime).ok()?;
        // SAFETY: the runtime this thread holds.
        unsafe { crate::intrinsics::install_runtime(context.get_runtime_ptr()) };
        // SAFETY: a fresh realm of the runtime this thread holds.
        let ok = context.with(|ctx| unsafe { crate::intrinsics::install(ctx.as_raw().as_ptr()) });
        ok.then_some(Prepared {
            context,
            runtime,
            memory,
        })
    }

    /// Makes the calling thread's stack QuickJS's reference for this runtime.
    pub(crate) fn adopt_here(&self) {
        // SAFETY: the caller holds the runtime (it was just taken from the pool).
        unsafe { qjs::JS_UpdateStackTop(self.context.get_runtime_ptr()) };
    }
}

struct Pool {
    spares: Mutex<Vec<Prepared>>,
    refilling: AtomicBool,
    target: AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let target = std::env::var("BAML_QUICKJS_SPARES")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(SPARES)
            .min(64);
        Pool {
            spares: Mutex::new(Vec::new()),
            refilling: AtomicBool::new(false),
            target: AtomicUsize::new(target),
        }
    })
}

/// A prepared runtime for a sandbox with this memory limit, if one is ready; a refill is
/// scheduled on `driver` either way.
pub(crate) fn take(memory_limit: usize, driver: &Arc<dyn Driver>) -> Option<Prepared> {
    let pool = pool();
    if pool.target.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let taken = if memory_limit == DEFAULT_MEMORY_LIMIT {
        lock(&pool.spares).pop()
    } else {
        None
    };
    if !pool.refilling.swap(true, Ordering::AcqRel) {
        driver.schedule(Arc::new(Refill));
    }
    taken
}

/// Prepared runtimes ready now.
pub fn spares_ready() -> usize {
    lock(&pool().spares).len()
}

/// Sets how many prepared runtimes are kept (0 turns the pool off and frees them, on the
/// calling thread: call it from a thread allowed to free runtimes).
pub fn set_spares(n: usize) {
    let pool = pool();
    pool.target.store(n.min(64), Ordering::Relaxed);
    let extra: Vec<Prepared> = {
        let mut spares = lock(&pool.spares);
        let keep = spares.len().min(n);
        spares.split_off(keep)
    };
    for p in extra {
        p.adopt_here();
        drop(p);
    }
}

/// Fills the pool up to its target, on a driver thread.
struct Refill;

impl Task for Refill {
    fn run(self: Arc<Self>) {
        let pool = pool();
        loop {
            let target = pool.target.load(Ordering::Relaxed);
            if lock(&pool.spares).len() >= target {
                break;
            }
            let made = std::panic::catch_unwind(Prepared::make).ok().flatten();
            let Some(p) = made else { break };
            let mut spares = lock(&pool.spares);
            if spares.len() < pool.target.load(Ordering::Relaxed) {
                spares.push(p);
            } else {
                drop(spares);
                drop(p);
                break;
            }
        }
        pool.refilling.store(false, Ordering::Release);
    }
}
