//! Shared runtimes: many sandboxes, each its own realm, in one QuickJS runtime.
//!
//! A [`SharedRuntime`] is one QuickJS runtime (one heap, one memory limit, one stack budget)
//! that sandboxes join with [`Sandbox::spawn_shared`](crate::Sandbox::spawn_shared). Each
//! sandbox keeps its own realm (global object, built-ins, prototypes), its own evaluations,
//! deadlines, timers and host calls; what the group shares is the heap and the thread: the
//! runtime is not thread-safe, so the group's turns run one at a time, in a single task on the
//! driver (a [`Group`] queue of the members with work), never in parallel.
//!
//! What that gives up, against a runtime per sandbox: one memory limit for the group (a member
//! that fills the heap makes allocations fail in whichever member runs next, though only the
//! member whose turn ran out gets `SANDBOX_MEMORY` for it), and one thread (a member in a busy
//! loop holds up the others until its deadline interrupts it). What it keeps: no member sees
//! another's objects (values only cross as copies, and realms share no object), every member's
//! deadlines, aborts and disposal interrupt its own code, and a member is freed while the
//! others run.
//!
//! The runtime's promise job queue is shared by its realms. A turn runs only its own realm's
//! jobs (`JS_ExecutePendingJobOf`, vendored rquickjs-sys), dry; whatever of them is left at
//! the end of a turn (a disposed member's, or jobs of stopped evaluations past the orphan
//! bound) is discarded (`JS_DiscardPendingJobs`); and a job queued for another member while
//! this one ran (a `FinalizationRegistry` cleanup, after a collection in this turn) wakes that
//! member, whose own turn runs it. So no member's code ever runs in another member's turn, on
//! its time.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rquickjs::{qjs, Runtime};

use crate::alloc::{LimitedAllocator, MemoryStats};
use crate::driver::{Driver, Task};
use crate::error::SandboxError;
use crate::options::DEFAULT_MAX_STACK;
use crate::sandbox::{lock, Inner};

extern "C" {
    // The job queue per realm (vendored rquickjs-sys, see vendor/README.md).
    fn JS_DiscardPendingJobs(rt: *mut qjs::JSRuntime, ctx: *mut qjs::JSContext);
    fn JS_IsJobPendingOf(rt: *mut qjs::JSRuntime, ctx: *mut qjs::JSContext) -> bool;
    fn JS_ExecutePendingJobOf(
        rt: *mut qjs::JSRuntime,
        ctx: *mut qjs::JSContext,
        pctx: *mut *mut qjs::JSContext,
    ) -> std::ffi::c_int;
    fn JS_PendingJobContexts(
        rt: *mut qjs::JSRuntime,
        except: *mut qjs::JSContext,
        out: *mut *mut qjs::JSContext,
        max: std::ffi::c_int,
    ) -> std::ffi::c_int;
}

/// Whether realm `ctx` has pending jobs.
///
/// # Safety
/// `rt` must be the live runtime of `ctx`, held by the calling thread.
pub(crate) unsafe fn jobs_pending(rt: *mut qjs::JSRuntime, ctx: *mut qjs::JSContext) -> bool {
    // SAFETY: see the function's contract.
    unsafe { JS_IsJobPendingOf(rt, ctx) }
}

/// Runs realm `ctx`'s first pending job (as `JS_ExecutePendingJob`, for that realm only):
/// 1 if one ran, 0 if there was none, -1 if it threw.
///
/// # Safety
/// As [`jobs_pending`].
pub(crate) unsafe fn run_job(rt: *mut qjs::JSRuntime, ctx: *mut qjs::JSContext) -> std::ffi::c_int {
    let mut job_ctx: *mut qjs::JSContext = std::ptr::null_mut();
    // SAFETY: see the function's contract.
    unsafe { JS_ExecutePendingJobOf(rt, ctx, &raw mut job_ctx) }
}

/// Realms other than `except` with pending jobs (at most 64).
///
/// # Safety
/// `rt` must be a live runtime held by the calling thread.
pub(crate) unsafe fn others_with_jobs(
    rt: *mut qjs::JSRuntime,
    except: *mut qjs::JSContext,
) -> Vec<usize> {
    let mut out = [std::ptr::null_mut::<qjs::JSContext>(); 64];
    // SAFETY: see the function's contract; `out` holds 64 pointers.
    let n = unsafe { JS_PendingJobContexts(rt, except, out.as_mut_ptr(), 64) };
    out.iter()
        .take(usize::try_from(n).unwrap_or(0))
        .map(|c| *c as usize)
        .collect()
}

/// Discards the pending jobs of realm `ctx`.
///
/// # Safety
/// `rt` must be the live runtime of `ctx`, held by the calling thread.
pub(crate) unsafe fn discard_jobs(rt: *mut qjs::JSRuntime, ctx: *mut qjs::JSContext) {
    // SAFETY: see the function's contract.
    unsafe { JS_DiscardPendingJobs(rt, ctx) };
}

/// Default memory limit of a shared runtime: 256 MiB for the whole group.
pub const DEFAULT_SHARED_MEMORY_LIMIT: usize = 256 << 20;

/// Options of a [`SharedRuntime`].
#[derive(Debug, Clone)]
pub struct SharedOptions {
    /// The heap limit of the whole group.
    pub memory_limit_bytes: usize,
    /// QuickJS's stack budget for each turn of any member.
    pub max_stack_bytes: usize,
}

impl Default for SharedOptions {
    fn default() -> Self {
        SharedOptions {
            memory_limit_bytes: DEFAULT_SHARED_MEMORY_LIMIT,
            max_stack_bytes: DEFAULT_MAX_STACK,
        }
    }
}

impl SharedOptions {
    /// The same bounds as a sandbox's own limits, with the same messages (naming the option
    /// and the value given).
    pub fn validate(&self) -> Result<(), SandboxError> {
        crate::options::SandboxOptions {
            memory_limit_bytes: self.memory_limit_bytes,
            max_stack_bytes: self.max_stack_bytes,
            ..Default::default()
        }
        .validate()
    }
}

/// The runtime of a group, touched only by the group's task.
pub(crate) struct SharedRt {
    pub(crate) runtime: Option<Runtime>,
    /// Live realms in `runtime`.
    pub(crate) members: usize,
    /// Realms freed since the last collection at a member's end (see `State::destroy`).
    pub(crate) freed: usize,
    /// The raw runtime, for the interrupt handler (set when its first realm is made: rquickjs
    /// shows it only through a realm).
    pub(crate) raw: Arc<std::sync::atomic::AtomicUsize>,
    /// The members by raw realm: a job queued for one during another's turn (a
    /// `FinalizationRegistry` cleanup after a collection) wakes its own member.
    pub(crate) realms: std::collections::HashMap<usize, std::sync::Weak<Inner>>,
}

// SAFETY: the runtime is only used by the group's task, which runs on one thread at a time
// (see `Group::scheduled`) and leaves no frame behind; each turn moves QuickJS's stack top to
// its own thread first (`stack::enter`). rquickjs's non-atomic reference counts on it are only
// touched by that task (realms and the runtime are created and freed in members' turns).
unsafe impl Send for SharedRt {}

impl SharedRt {
    /// The runtime, created on first use.
    pub(crate) fn runtime(&mut self, group: &Group) -> Result<&Runtime, SandboxError> {
        if self.runtime.is_none() {
            let runtime = Runtime::new_with_alloc(LimitedAllocator {
                stats: group.memory.clone(),
            })
            .map_err(|e| SandboxError::Setup(format!("cannot create runtime: {e}")))?;
            runtime.set_max_stack_size(group.max_stack);
            // Garbage is collected at consistent points only (see `gc.rs`).
            runtime.set_gc_threshold(usize::MAX);
            let heap = group.memory.clone();
            let raw = self.raw.clone();
            runtime.set_interrupt_handler(Some(Box::new(move || {
                let rt = raw.load(Ordering::Relaxed);
                if rt != 0 {
                    // SAFETY: QuickJS calls the handler between bytecodes, on the thread
                    // running a member's turn, with the runtime in a state it may collect in.
                    unsafe { crate::gc::maybe_collect(rt as *mut qjs::JSRuntime, &heap) };
                }
                // The member whose turn runs (outside turns, only our own code runs).
                crate::stack::should_interrupt()
            })));
            self.runtime = Some(runtime);
        }
        self.runtime
            .as_ref()
            .ok_or_else(|| SandboxError::Setup("cannot create runtime".into()))
    }
}

/// A shared runtime's state: its heap accounting, the members with work, and the runtime.
pub(crate) struct Group {
    pub(crate) memory: Arc<MemoryStats>,
    pub(crate) max_stack: usize,
    pub(crate) driver: Arc<dyn Driver>,
    pub(crate) rt: Mutex<SharedRt>,
    ready: Mutex<VecDeque<Arc<Inner>>>,
    /// The group's task is queued or running: at most one runs at a time.
    scheduled: AtomicBool,
    /// A member's turn panicked: the runtime is in an unknown state and is never used again.
    pub(crate) broken: AtomicBool,
}

impl Group {
    /// Queues a member's turn on the group's task.
    pub(crate) fn ready(self: &Arc<Self>, inner: Arc<Inner>) {
        lock(&self.ready).push_back(inner);
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.driver.schedule(self.clone());
        }
    }
}

impl Task for Group {
    fn run(self: Arc<Self>) {
        loop {
            let next = lock(&self.ready).pop_front();
            let Some(inner) = next else {
                self.scheduled.store(false, Ordering::SeqCst);
                // A member queued between the pop and the flag being cleared saw the flag set
                // and did not schedule: take it now, unless another task was started for it.
                if !lock(&self.ready).is_empty() && !self.scheduled.swap(true, Ordering::AcqRel) {
                    continue;
                }
                return;
            };
            let mut rt = lock(&self.rt);
            inner.run_shared(&self, &mut rt);
        }
    }
}

/// Sandboxes that share one QuickJS runtime (see the module docs). Cloning gives another
/// handle to the same group. The runtime is freed with its last member, and created again if
/// a member joins later.
#[derive(Clone)]
pub struct SharedRuntime {
    pub(crate) group: Arc<Group>,
}

impl SharedRuntime {
    pub fn new(
        options: &SharedOptions,
        driver: Arc<dyn Driver>,
    ) -> Result<SharedRuntime, SandboxError> {
        options.validate()?;
        Ok(SharedRuntime {
            group: Arc::new(Group {
                memory: MemoryStats::new(options.memory_limit_bytes),
                max_stack: options.max_stack_bytes,
                driver,
                rt: Mutex::new(SharedRt {
                    runtime: None,
                    members: 0,
                    freed: 0,
                    raw: Arc::default(),
                    realms: std::collections::HashMap::new(),
                }),
                ready: Mutex::new(VecDeque::new()),
                scheduled: AtomicBool::new(false),
                broken: AtomicBool::new(false),
            }),
        })
    }

    /// Bytes the group's heap uses now, and its limit.
    pub fn memory_usage(&self) -> (usize, usize) {
        (
            self.group.memory.used.load(Ordering::Relaxed),
            self.group.memory.limit,
        )
    }

    /// The group's memory limit.
    pub fn memory_limit(&self) -> usize {
        self.group.memory.limit
    }

    /// The group's stack budget per turn.
    pub fn max_stack(&self) -> usize {
        self.group.max_stack
    }
}
