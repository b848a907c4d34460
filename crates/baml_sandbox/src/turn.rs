//! Turns: what a driver thread runs when a sandbox has work.
//!
//! A turn holds the runtime from start to end on one thread. It applies queued events (new
//! scripts, host results, timers), runs the job queue dry, and settles evaluations whose
//! promise settled or whose deadline passed. The stack budget is set once at its start
//! (`stack.rs`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::promise::PromiseState;
use rquickjs::{qjs, CatchResultExt, Context, Ctx, Persistent, Runtime, Type, Value as JsValue};

use crate::alloc::{LimitedAllocator, MemoryStats};
use crate::bridge::{Bridge, JsStore};
use crate::classify::classify;
use crate::convert::{copy_budget, copy_out, CopyError, ValueCount};
use crate::driver::Task;
use crate::error::SandboxError;
use crate::group::{Group, SharedRt};
use crate::host::{Done, Host};
use crate::options::SandboxOptions;
use crate::outbox::Outbox;
use crate::sandbox::{lock, EvalId, Event, Inner, OnStart, Signals};
use crate::throw::is_uncatchable;
use crate::value::Value;

/// Bound on the jobs one turn runs for stopped evaluations (see `abandon_if_idle`).
const MAX_ORPHAN_JOBS: usize = 100_000;

pub(crate) struct State {
    pub(crate) bridge: Rc<Bridge>,
    // Field order is drop order: the realm before its runtime.
    context: Context,
    /// The runtime, if the realm has its own (`None` in a shared runtime, whose group holds it).
    runtime: Option<Runtime>,
    /// The runtime's raw pointer (own or shared).
    raw_rt: usize,
}

// SAFETY: `State` is only ever used by the thread holding `Inner::state`'s mutex. Its JS-side
// parts (the `Rc<Bridge>` shared with closures living in the runtime, persistent values, the
// runtime itself) are touched only inside a turn (or creation, or destruction), which runs start
// to end on one thread and leaves no frame behind; the next turn, possibly on another thread,
// first moves QuickJS's stack top to its own stack (`stack::enter`). QuickJS keeps no other
// per-thread state. A realm in a shared runtime is used only by its group's task, which holds
// the group's runtime too (`group.rs`).
unsafe impl Send for State {}

/// The shared runtime a realm is created in or freed from, held by the group's task.
pub(crate) type SharedSlot<'a> = Option<(&'a Group, &'a mut SharedRt)>;

impl State {
    pub(crate) fn new(
        options: &SandboxOptions,
        inner: &Arc<Inner>,
        host: Arc<dyn Host>,
        memory: Arc<MemoryStats>,
        signals: Arc<Signals>,
        mut shared: SharedSlot<'_>,
        prepared: Option<crate::spares::Prepared>,
    ) -> Result<State, SandboxError> {
        let built_ins = prepared.is_some();
        let (runtime, context) = match (shared.as_mut(), prepared) {
            (None, Some(p)) => {
                p.adopt_here();
                p.runtime.set_max_stack_size(options.max_stack_bytes);
                let crate::spares::Prepared {
                    context, runtime, ..
                } = p;
                (Some(runtime), context)
            }
            (None, None) => {
                let runtime = Runtime::new_with_alloc(LimitedAllocator {
                    stats: memory.clone(),
                })
                .map_err(|e| SandboxError::Setup(format!("cannot create runtime: {e}")))?;
                runtime.set_max_stack_size(options.max_stack_bytes);
                // Garbage is collected at consistent points only (see `gc.rs`).
                runtime.set_gc_threshold(usize::MAX);
                let context = Context::base(&runtime)
                    .map_err(|e| SandboxError::Setup(format!("cannot create context: {e}")))?;
                (Some(runtime), context)
            }
            (Some((group, slot)), _) => (None, shared_realm(group, slot, inner, &memory)?),
        };
        let raw_rt = context.get_runtime_ptr() as usize;
        // SAFETY: the runtime this thread holds (setting it again on a shared one is harmless).
        unsafe { crate::intrinsics::install_runtime(context.get_runtime_ptr()) };
        let mut state = State {
            bridge: Rc::new(Bridge {
                inner: Arc::downgrade(inner),
                host,
                driver: inner.driver.clone(),
                store: std::cell::RefCell::new(JsStore::default()),
                console: options.console,
                copy_budget: copy_budget(options.memory_limit_bytes),
                signals: signals.clone(),
                outbox: Outbox::new(copy_budget(options.memory_limit_bytes)),
                baml_budget: options.memory_limit_bytes / 3,
                baml_outbox: Outbox::new(options.memory_limit_bytes),
            }),
            context,
            runtime,
            raw_rt,
        };
        // SAFETY: a fresh realm of the runtime this thread holds.
        let installed = if built_ins
            || state.context.with(|ctx| {
                let _headroom = crate::alloc::Headroom::new(&memory, crate::alloc::SETUP_HEADROOM);
                // SAFETY: a fresh realm of the runtime this thread holds.
                unsafe { crate::intrinsics::install(ctx.as_raw().as_ptr()) }
            }) {
            state.context.with(|ctx| {
                let _creating = crate::stack::creating(options.max_stack_bytes, &memory);
                crate::realm::install(&ctx, &state.bridge, options)
                    .catch(&ctx)
                    .map_err(|e| e.to_string())
            })
        } else {
            Err("cannot create the realm's built-ins".to_string())
        };
        // Set up only now: creation runs our own code alone, which must not be interrupted by
        // the deadline of an evaluation queued meanwhile (see `Sandbox::spawn`). A shared
        // runtime's handler asks the running turn instead (`group.rs`).
        if let Some(runtime) = &mut state.runtime {
            let sig = signals;
            let heap = memory;
            runtime.set_interrupt_handler(Some(Box::new(move || {
                // SAFETY: QuickJS calls the handler between bytecodes, on the thread running the
                // turn, with the runtime in a state it may collect in.
                unsafe { crate::gc::maybe_collect(raw_rt as *mut qjs::JSRuntime, &heap) };
                sig.should_interrupt()
            })));
        }
        if let Err(message) = installed {
            let oom = inner.memory.hit.swap(false, Ordering::AcqRel);
            state.destroy(&inner.driver, &inner.memory, shared.map(|(_, slot)| slot));
            return Err(if oom {
                SandboxError::Memory {
                    limit_bytes: options.memory_limit_bytes as u64,
                }
            } else {
                SandboxError::Setup(format!("cannot set up the sandbox: {message}"))
            });
        }
        Ok(state)
    }

    /// The raw runtime.
    pub(crate) fn raw_rt(&self) -> *mut qjs::JSRuntime {
        self.raw_rt as *mut qjs::JSRuntime
    }

    /// Frees the realm and runtime, after releasing every JS value Rust still holds (a value
    /// alive at `JS_FreeRuntime` trips QuickJS's leak assertion, which aborts the process).
    /// A realm in a shared runtime is freed alone (its pending jobs discarded, its garbage
    /// collected); the runtime goes with its last realm.
    ///
    /// quickjs-ng's own out-of-memory paths can leak a reference too (the crash corpus found
    /// one with async generators and promise chains near the limit): a runtime whose heap
    /// refused an allocation and still holds objects once its realms are freed and collected
    /// is not freed at all, but left behind (at most its limit in bytes, usually much less),
    /// since freeing it would abort the process.
    pub(crate) fn destroy(
        self,
        driver: &Arc<dyn crate::driver::Driver>,
        memory: &MemoryStats,
        shared: Option<&mut SharedRt>,
    ) {
        let rt = self.raw_rt();
        // Freeing runs finalizers and may check the stack: against this thread's stack.
        // SAFETY: the runtime is held by this thread.
        unsafe { qjs::JS_UpdateStackTop(rt) };
        let bridge = self.bridge.clone();
        self.context.with(|_ctx| {
            let mut store = bridge.store.borrow_mut();
            for (_, t) in store.timers.drain() {
                driver.cancel_timer(t.key);
            }
            store.clear();
        });
        drop(bridge);
        let State {
            bridge,
            context,
            runtime,
            ..
        } = self;
        drop(bridge);
        let raw_ctx = context.as_raw().as_ptr() as usize;
        if runtime.is_none() {
            // SAFETY: the shared runtime is held by this thread (the group's task); the jobs
            // of this realm must not outlive it, nor run in another realm's turn.
            unsafe { crate::group::discard_jobs(rt, context.as_raw().as_ptr()) };
        }
        drop(context);
        let runtime = match (runtime, shared) {
            (Some(own), _) => own,
            (None, Some(slot)) => {
                slot.realms.remove(&raw_ctx);
                slot.members = slot.members.saturating_sub(1);
                if slot.members > 0 {
                    // A collection walks the whole heap, every member's: one per realm freed
                    // would make disposing n members cost n² (2,000 members took minutes).
                    // Collected once the realms freed since are a sixteenth of those left, the
                    // garbage waiting is bounded by as much, and a free costs the walk of ~16.
                    slot.freed += 1;
                    if slot.freed.saturating_mul(16) >= slot.members {
                        slot.freed = 0;
                        // SAFETY: as above; collects the freed realms' cycles.
                        unsafe { qjs::JS_RunGC(rt) };
                    }
                    return;
                }
                slot.raw.store(0, Ordering::Relaxed);
                match slot.runtime.take() {
                    Some(r) => r,
                    None => return,
                }
            }
            (None, None) => return,
        };
        // SAFETY: the runtime is held by this thread, and has no realm left.
        if memory.refusals.load(Ordering::Relaxed) > 0 && unsafe { still_holds_objects(rt) } {
            LEFT_BEHIND.fetch_add(1, Ordering::Relaxed);
            std::mem::forget(runtime);
            return;
        }
        // Frees the runtime (whose free collects the garbage first).
        drop(runtime);
    }
}

/// A new realm in a group's shared runtime (made on first use), registered with the group.
fn shared_realm(
    group: &Group,
    slot: &mut SharedRt,
    inner: &Arc<Inner>,
    memory: &MemoryStats,
) -> Result<Context, SandboxError> {
    // A realm made in a group's nearly full heap would run quickjs-ng's set-up into its
    // out-of-memory paths, which are not safe half-way: refuse it beforehand, and let the
    // set-up itself overshoot a little rather than fail.
    let used = memory.used.load(Ordering::Relaxed);
    if memory.limit > 0 && used.saturating_add(crate::alloc::SETUP_HEADROOM / 2) > memory.limit {
        memory.hit.store(true, Ordering::Release);
        return Err(SandboxError::Memory {
            limit_bytes: memory.limit as u64,
        });
    }
    let runtime = slot.runtime(group)?.clone();
    let rt = slot.raw.load(Ordering::Relaxed) as *mut qjs::JSRuntime;
    if !rt.is_null() {
        // The runtime last ran on some thread's stack, maybe another's: QuickJS checks the
        // stack against its top, so move it here (a fresh runtime's is).
        // SAFETY: the group's task holds the runtime.
        unsafe { qjs::JS_UpdateStackTop(rt) };
    }
    let context = {
        let _headroom = crate::alloc::Headroom::new(memory, crate::alloc::SETUP_HEADROOM);
        Context::base(&runtime)
    }
    .map_err(|e| {
        if memory.hit.swap(false, Ordering::AcqRel) {
            SandboxError::Memory {
                limit_bytes: memory.limit as u64,
            }
        } else {
            SandboxError::Setup(format!("cannot create context: {e}"))
        }
    })?;
    slot.members += 1;
    slot.raw
        .store(context.get_runtime_ptr() as usize, Ordering::Relaxed);
    slot.realms
        .insert(context.as_raw().as_ptr() as usize, Arc::downgrade(inner));
    Ok(context)
}

/// Runtimes left behind because freeing them would have aborted (see `State::destroy`).
pub(crate) static LEFT_BEHIND: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Whether a runtime whose realms are all freed still holds objects or functions after a
/// collection (or jobs, whose values `JS_FreeRuntime` would release first: not counted, so a
/// runtime with jobs left counts as holding objects).
///
/// # Safety
/// `rt` must be a live runtime held by this thread, with no context left.
unsafe fn still_holds_objects(rt: *mut qjs::JSRuntime) -> bool {
    // SAFETY: the caller vouches for `rt`.
    unsafe {
        if qjs::JS_IsJobPending(rt) {
            return true;
        }
        qjs::JS_RunGC(rt);
        let mut usage: qjs::JSMemoryUsage = std::mem::zeroed();
        qjs::JS_ComputeMemoryUsage(rt, &raw mut usage);
        usage.obj_count > 0 || usage.js_func_count > 0
    }
}

impl Task for Inner {
    fn run(self: Arc<Self>) {
        self.run_turns(None);
    }
}

impl Inner {
    /// Runs this member's turns, from its group's task (which holds the shared runtime).
    pub(crate) fn run_shared(self: Arc<Self>, group: &Group, slot: &mut SharedRt) {
        if group.broken.load(Ordering::Acquire) {
            self.fail_internal();
            // The runtime is in an unknown state: the realm is never freed (as the runtime).
            std::mem::forget(lock(&self.state).take());
            self.scheduled.store(false, Ordering::Release);
            return;
        }
        self.run_turns(Some((group, slot)));
    }

    fn run_turns(self: Arc<Self>, mut shared: SharedSlot<'_>) {
        let mut guard = lock(&self.state);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.turns(&mut guard, shared.as_mut().map(|(g, s)| (&**g, &mut **s)));
        }));
        if outcome.is_err() {
            // A bug, not a sandbox program's doing: fail loudly but keep the process alive.
            self.fail_internal();
            // The realm is in an unknown state: freeing it could abort the process, so it is
            // leaked instead. The turn stays "scheduled" forever: nothing runs it again. In a
            // shared runtime, the runtime is in an unknown state too: its other members fail
            // the same way at their next turn, and it is never freed.
            std::mem::forget(guard.take());
            if let Some((group, slot)) = shared {
                group.broken.store(true, Ordering::Release);
                std::mem::forget(slot.runtime.take());
            }
            return;
        }
        drop(guard);
    }

    /// Rejects every evaluation with an internal error and marks the sandbox disposed.
    fn fail_internal(&self) {
        let dones: Vec<Done> = lock(&self.evals)
            .values_mut()
            .filter_map(|e| e.done.take())
            .collect();
        for done in dones {
            done(Err(SandboxError::Js {
                name: Some("InternalError".into()),
                message: "internal error in the sandbox; the context was disposed".into(),
                stack: None,
                origin: None,
            }));
        }
        self.signals.disposed.store(true, Ordering::Release);
    }

    /// Runs turns until no events are left. Clears `scheduled` under the state lock, so that a
    /// turn scheduled afterwards waits at most for this one to unlock.
    fn turns(self: &Arc<Self>, guard: &mut Option<State>, mut shared: SharedSlot<'_>) {
        loop {
            if self.signals.disposed.load(Ordering::Acquire) {
                if let Some(state) = guard.take() {
                    state.destroy(
                        &self.driver,
                        &self.memory,
                        shared.as_mut().map(|(_, s)| &mut **s),
                    );
                }
                if let Some(setup) = lock(&self.setup).take() {
                    if let Some(p) = &setup.prepared {
                        p.adopt_here();
                    }
                    crate::value::drop_flat(Value::Object(setup.options.globals));
                }
                let _ = self.take_events();
                self.scheduled.store(false, Ordering::Release);
                return;
            }
            if guard.is_none() {
                let setup = lock(&self.setup).take();
                if let Some(setup) = setup {
                    self.create(guard, setup, shared.as_mut().map(|(g, s)| (&**g, &mut **s)));
                }
            }
            let events = self.take_events();
            if events.is_empty() {
                self.scheduled.store(false, Ordering::SeqCst);
                // An event pushed between the take and the flag being cleared saw `scheduled`
                // still set and did not schedule: take it now, or hand the turn to whoever
                // set the flag again meanwhile.
                if self.has_events() && !self.scheduled.swap(true, Ordering::AcqRel) {
                    continue;
                }
                return;
            }
            let Some(state) = guard.as_mut() else {
                continue;
            };
            let bridge = state.bridge.clone();
            let oom = state.context.with(|ctx| {
                // SAFETY: `ctx` belongs to the runtime this thread holds.
                let rt = unsafe { qjs::JS_GetRuntime(ctx.as_raw().as_ptr()) };
                let _turn = crate::stack::enter(rt, self.max_stack, &self.signals, &self.memory);
                self.process(&ctx, &bridge, events)
            });
            // Clear the flag unconditionally: it describes this turn only.
            let hit = self.memory.hit.swap(false, Ordering::AcqRel);
            if shared.is_some() {
                // The runtime's job queue is the group's: none of this realm's jobs may wait
                // for another member's turn (see `group.rs`).
                state.context.with(|ctx| Self::finish_jobs(&ctx));
            }
            if oom || hit {
                // SAFETY: between turns, on the thread holding the runtime.
                unsafe { qjs::JS_RunGC(state.raw_rt()) };
            } else {
                // SAFETY: between turns, on the thread holding the runtime.
                state.context.with(|ctx| unsafe {
                    crate::gc::maybe_collect(
                        qjs::JS_GetRuntime(ctx.as_raw().as_ptr()),
                        &self.memory,
                    );
                });
            }
            if let Some((_, slot)) = shared.as_ref() {
                Self::wake_members_with_jobs(state, slot);
            }
            self.arm_earliest();
        }
    }

    /// Creates the runtime and realm of a sandbox made by `Sandbox::spawn`; a failure rejects
    /// every evaluation, now and later.
    fn create(
        self: &Arc<Self>,
        guard: &mut Option<State>,
        setup: crate::sandbox::Setup,
        shared: SharedSlot<'_>,
    ) {
        let crate::sandbox::Setup {
            options,
            host,
            prepared,
        } = setup;
        let created = State::new(
            &options,
            self,
            host,
            self.memory.clone(),
            self.signals.clone(),
            shared,
            prepared,
        );
        crate::value::drop_flat(Value::Object(options.globals));
        match created {
            Ok(state) => *guard = Some(state),
            Err(error) => {
                let dones: Vec<Done> = {
                    let mut evals = lock(&self.evals);
                    *lock(&self.failure) = Some(error.clone());
                    let dones = evals.values_mut().filter_map(|e| e.done.take()).collect();
                    evals.clear();
                    self.refresh_deadline(&evals);
                    dones
                };
                for done in dones {
                    done(Err(error.clone()));
                }
            }
        }
    }

    /// Applies events, runs the job queue and settles evaluations. Returns whether memory ran
    /// out on the way (the caller collects garbage then).
    fn process(self: &Arc<Self>, ctx: &Ctx<'_>, bridge: &Rc<Bridge>, events: Vec<Event>) -> bool {
        let mut oom = false;
        let refusals = self.memory.refusals.load(Ordering::Relaxed);
        self.reap(bridge);
        self.set_turn_deadline();
        for event in events {
            if self.signals.disposed.load(Ordering::Acquire) {
                return oom;
            }
            let mut event = event;
            match &mut event {
                Event::Eval { id, code, filename } => {
                    let name = filename.take();
                    oom |= self.start_eval(ctx, bridge, *id, std::mem::take(code), name);
                }
                Event::HostDone { id, result } => {
                    // QuickJS drops a promise reaction it has no memory to queue, silently:
                    // an answer delivered while allocations were refused, after which no job
                    // is queued, may never resume what awaits it.
                    let refusals = self.memory.refusals.load(Ordering::Relaxed);
                    let settled = bridge.finish_call(ctx, *id, result);
                    let refused = self.memory.refusals.load(Ordering::Relaxed) != refusals;
                    // SAFETY: `ctx` belongs to the runtime this thread holds.
                    let raw = ctx.as_raw().as_ptr();
                    let queued =
                        unsafe { crate::group::jobs_pending(qjs::JS_GetRuntime(raw), raw) };
                    if !settled || (refused && !queued) {
                        self.fail_live_for_memory(bridge);
                        oom = true;
                    }
                }
                Event::HostPartial { id, value } => bridge.deliver_partial(ctx, *id, value),
                Event::Timer { id } => bridge.fire_timer(ctx, *id, &self.memory),
                Event::Wake => {}
            }
            self.after_interrupt(ctx, bridge);
        }
        loop {
            self.run_jobs(ctx, bridge);
            let (progress, o) = self.settle(ctx, bridge);
            oom |= o;
            if !progress {
                break;
            }
        }
        if self.memory.refusals.load(Ordering::Relaxed) != refusals && Self::stranded(ctx, bridge) {
            self.fail_live_for_memory(bridge);
            oom = true;
        }
        self.expire(bridge);
        self.abandon_if_idle(ctx, bridge);
        oom
    }

    /// Whether live evaluations wait for something that can no longer come: no job is queued,
    /// no timer armed and no host or BAML call in flight. Asked only after a turn in which the
    /// heap refused an allocation: QuickJS drops a promise reaction it has no memory to queue,
    /// silently, so an `await` whose reaction was lost would otherwise wait for its deadline
    /// (an 8 MiB context filling an array after each BAML call timed out instead of failing
    /// for memory). Only another evaluation of the same context could still resolve what they
    /// await; at the limit, that is not worth waiting for.
    fn stranded(ctx: &Ctx<'_>, bridge: &Bridge) -> bool {
        {
            let store = bridge.store.borrow();
            if store.evals.is_empty() || !store.calls.is_empty() || !store.timers.is_empty() {
                return false;
            }
        }
        let raw = ctx.as_raw().as_ptr();
        // SAFETY: `ctx` belongs to the runtime this thread holds.
        !unsafe { crate::group::jobs_pending(qjs::JS_GetRuntime(raw), raw) }
    }

    /// A call's answer could not reach the realm for want of memory, or may not have: the
    /// evaluations that could be awaiting it fail for memory now rather than hang until their
    /// deadlines (the heap is at its limit; they would hardly get further).
    fn fail_live_for_memory(&self, bridge: &Bridge) {
        let live: Vec<EvalId> = bridge.store.borrow().evals.keys().copied().collect();
        let limit_bytes = self.memory.limit as u64;
        for id in live {
            self.finish(bridge, id, Err(SandboxError::Memory { limit_bytes }));
        }
    }

    /// When no evaluation is live any more, nothing awaits the realm: its timers and calls in
    /// flight die with the last evaluation (BAML requests are dropped, host results ignored),
    /// and jobs already queued for stopped evaluations are run only to their first interrupt
    /// check. Otherwise a host result arriving after an abort or timeout would resume the
    /// stopped code, which could then run on the time of an evaluation started later.
    /// "Live" counts evaluations whose script has started, not those only queued: `await a;
    /// evaluate(b)` may queue `b` while this turn still runs, and `b` must not inherit `a`'s
    /// timers.
    fn abandon_if_idle(&self, ctx: &Ctx<'_>, bridge: &Bridge) {
        if !bridge.store.borrow().evals.is_empty() {
            return;
        }
        let timers = bridge.store.borrow_mut().abandon();
        for key in timers {
            self.driver.cancel_timer(key);
        }
        let raw = ctx.as_raw().as_ptr();
        // SAFETY: `ctx` belongs to the runtime this thread holds.
        let rt = unsafe { qjs::JS_GetRuntime(raw) };
        // SAFETY: as above.
        if !unsafe { crate::group::jobs_pending(rt, raw) } {
            return;
        }
        self.signals.orphans.store(true, Ordering::Release);
        // Each job stops at its first interrupt check, which the runtime's interrupt counter
        // reaches within a bounded number of operations; the bound on jobs covers chains that
        // only ever queue the next job.
        for _ in 0..MAX_ORPHAN_JOBS {
            if self.signals.disposed.load(Ordering::Acquire) {
                break;
            }
            // SAFETY: runs one pending job of this realm, in the runtime this thread holds.
            let res = unsafe { crate::group::run_job(rt, raw) };
            if res == 0 {
                break;
            }
            if res < 0 {
                drop(ctx.catch());
            }
        }
        self.signals.orphans.store(false, Ordering::Release);
        // What the jobs started is as orphaned as they were.
        let timers = bridge.store.borrow_mut().abandon();
        for key in timers {
            self.driver.cancel_timer(key);
        }
    }

    /// In a shared runtime, at the end of a turn: discards whatever is left of this realm's
    /// jobs. A turn runs its jobs dry (`process` loops until settling makes no progress, and
    /// settling without progress queues nothing), so what is left belongs to a disposed realm
    /// or to stopped evaluations past the orphan bound: nothing any live evaluation awaits.
    fn finish_jobs(ctx: &Ctx<'_>) {
        let raw = ctx.as_raw().as_ptr();
        // SAFETY: `ctx` belongs to the runtime this thread holds.
        let rt = unsafe { qjs::JS_GetRuntime(raw) };
        // SAFETY: as above.
        if unsafe { crate::group::jobs_pending(rt, raw) } {
            // SAFETY: as above.
            unsafe { crate::group::discard_jobs(rt, raw) };
        }
    }

    /// In a shared runtime, after a turn and its collection: wakes the members (this one
    /// included) that have jobs queued now (a `FinalizationRegistry` cleanup queued by the
    /// collection), so that each runs its own in its own turn.
    fn wake_members_with_jobs(state: &State, slot: &SharedRt) {
        // SAFETY: the runtime this thread holds; the realm is live.
        let others =
            unsafe { crate::group::others_with_jobs(state.raw_rt(), std::ptr::null_mut()) };
        for ctx in others {
            if let Some(inner) = slot.realms.get(&ctx).and_then(std::sync::Weak::upgrade) {
                inner.push(Event::Wake);
            }
        }
    }

    /// With no evaluation in flight, a turn (host results arriving late) still gets a bound.
    fn set_turn_deadline(&self) {
        let evals = lock(&self.evals);
        if evals.is_empty() {
            let ns = self.signals.at(Instant::now() + self.timeout);
            self.signals.deadline_ns.store(ns, Ordering::Release);
        } else {
            self.refresh_deadline(&evals);
        }
    }

    /// Forgets evaluations stopped from outside (their promises are already rejected).
    fn reap(&self, bridge: &Bridge) {
        let stopped: Vec<EvalId> = {
            let mut evals = lock(&self.evals);
            let ids: Vec<EvalId> = evals
                .iter()
                .filter(|(_, e)| e.stopped)
                .map(|(id, _)| *id)
                .collect();
            for id in &ids {
                evals.remove(id);
            }
            self.refresh_deadline(&evals);
            ids
        };
        if stopped.is_empty() {
            return;
        }
        let mut store = bridge.store.borrow_mut();
        for id in &stopped {
            store.evals.remove(id);
        }
    }

    /// Times out evaluations whose deadline passed.
    fn expire(self: &Arc<Self>, bridge: &Bridge) {
        let now = Instant::now();
        let expired: Vec<(EvalId, Duration)> = lock(&self.evals)
            .iter()
            .filter(|(_, e)| !e.stopped && e.deadline <= now)
            .map(|(id, e)| (*id, e.timeout))
            .collect();
        for (id, timeout) in expired {
            let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            self.finish(bridge, id, Err(SandboxError::Timeout { timeout_ms: ms }));
        }
    }

    /// After running bytecode that may have been interrupted: settle whatever caused it.
    fn after_interrupt(self: &Arc<Self>, ctx: &Ctx<'_>, bridge: &Bridge) {
        self.reap(bridge);
        self.expire(bridge);
        self.set_turn_deadline();
        self.abandon_if_idle(ctx, bridge);
    }

    fn finish(&self, bridge: &Bridge, id: EvalId, result: Result<Value, SandboxError>) {
        let done = {
            let mut evals = lock(&self.evals);
            let entry = evals.remove(&id);
            self.refresh_deadline(&evals);
            entry.and_then(|mut e| e.done.take())
        };
        bridge.store.borrow_mut().evals.remove(&id);
        if let Some(done) = done {
            done(result);
        }
    }

    fn start_eval(
        self: &Arc<Self>,
        ctx: &Ctx<'_>,
        bridge: &Bridge,
        id: EvalId,
        code: String,
        filename: Option<String>,
    ) -> bool {
        let on_start = {
            let mut evals = lock(&self.evals);
            let on_start = match evals.get_mut(&id) {
                Some(e) if !e.stopped => {
                    e.started = true;
                    e.on_start.take()
                }
                _ => return false,
            };
            self.refresh_deadline(&evals);
            on_start
        };
        if let Some(OnStart(f)) = on_start {
            f();
        }
        let filename = filename.unwrap_or_else(|| "<sandbox>".into());
        let raw = ctx.as_raw().as_ptr();
        // Compiled first, under the compiler's memory allowance (`compile.rs`), then run: a
        // script with top-level await runs as an async function and gives its promise.
        // SAFETY: `ctx` is live and this thread holds its runtime; the memory is its own.
        let compiled = unsafe {
            crate::compile::compile_script(
                raw,
                &self.memory,
                code.as_bytes(),
                &filename,
                qjs::JS_EVAL_FLAG_BACKTRACE_BARRIER | qjs::JS_EVAL_FLAG_ASYNC,
            )
        };
        drop(code);
        let ran = match compiled {
            // SAFETY: runs (and releases) the compiled script; the result is a new reference.
            Ok(function) => unsafe {
                let value = qjs::JS_EvalFunction(raw, function);
                let value = JsValue::from_raw(ctx.clone(), value);
                (!value.is_exception()).then_some(value)
            },
            Err(crate::compile::CompileError::Thrown) => None,
            Err(crate::compile::CompileError::Memory) => {
                let limit_bytes = self.memory.limit as u64;
                self.finish(bridge, id, Err(SandboxError::Memory { limit_bytes }));
                return true;
            }
        };
        if let Some(promise) = ran {
            bridge
                .store
                .borrow_mut()
                .evals
                .insert(id, (Persistent::save(ctx, promise), true));
            false
        } else {
            let exc = ctx.catch();
            let err = classify(ctx, &exc, &self.memory, bridge);
            let oom = matches!(err, SandboxError::Memory { .. });
            if !is_uncatchable(&exc) {
                self.finish(bridge, id, Err(err));
            }
            oom
        }
    }

    /// Runs the job queue dry; an interrupted job settles the evaluations that caused it.
    fn run_jobs(self: &Arc<Self>, ctx: &Ctx<'_>, bridge: &Bridge) {
        let raw = ctx.as_raw().as_ptr();
        // SAFETY: `ctx` belongs to the runtime this thread holds.
        let rt = unsafe { qjs::JS_GetRuntime(raw) };
        loop {
            if self.signals.disposed.load(Ordering::Acquire) {
                return;
            }
            // Only this realm's jobs: in a shared runtime another member's may be queued
            // (see `group.rs`); they run in that member's turn.
            // SAFETY: runs one pending job of this realm, in the runtime this thread holds.
            let res = unsafe { crate::group::run_job(rt, raw) };
            if res == 0 {
                return;
            }
            if res < 0 {
                // A job threw past its promise machinery; only an interrupt does that.
                let exc = ctx.catch();
                if is_uncatchable(&exc) {
                    self.after_interrupt(ctx, bridge);
                }
            }
        }
    }

    /// Settles evaluations whose promise settled. Returns (whether any progressed, oom seen).
    fn settle(self: &Arc<Self>, ctx: &Ctx<'_>, bridge: &Bridge) -> (bool, bool) {
        let pending: Vec<(EvalId, Persistent<JsValue<'static>>, bool)> = bridge
            .store
            .borrow()
            .evals
            .iter()
            .map(|(id, (p, script))| (*id, p.clone(), *script))
            .collect();
        let mut progress = false;
        let mut oom = false;
        for (id, p, script) in pending {
            let Ok(value) = p.restore(ctx) else { continue };
            let Some(promise) = value.as_promise() else {
                continue;
            };
            match promise.state() {
                PromiseState::Pending => {}
                PromiseState::Resolved => {
                    let resolved: JsValue = promise
                        .result::<JsValue>()
                        .and_then(Result::ok)
                        .unwrap_or_else(|| JsValue::new_undefined(ctx.clone()));
                    let completion = if script {
                        resolved
                            .as_object()
                            .and_then(|o| o.get::<_, JsValue>("value").ok())
                    } else {
                        Some(resolved)
                    }
                    .unwrap_or_else(|| JsValue::new_undefined(ctx.clone()));
                    if completion.type_of() == Type::Promise {
                        // The completion value is itself a promise: await it.
                        bridge
                            .store
                            .borrow_mut()
                            .evals
                            .insert(id, (Persistent::save(ctx, completion), false));
                        progress = true;
                        continue;
                    }
                    let result = match copy_out(
                        &completion,
                        "result",
                        copy_budget(self.memory.limit),
                        &self.signals,
                        &mut ValueCount::new("the result"),
                    ) {
                        Ok(v) => Ok(v),
                        Err(
                            CopyError::Shape { path, reason } | CopyError::Size { path, reason },
                        ) => Err(SandboxError::Result { path, reason }),
                        Err(CopyError::Thrown) => {
                            let exc = ctx.catch();
                            Err(classify(ctx, &exc, &self.memory, bridge))
                        }
                        Err(CopyError::Stack) => Err(SandboxError::Stack),
                        Err(CopyError::Interrupted) => {
                            // Settle what interrupted the copy (timeout, abort, dispose);
                            // if this evaluation is still live, copy its result again.
                            self.after_interrupt(ctx, bridge);
                            if lock(&self.evals).get(&id).is_some_and(|e| !e.stopped) {
                                progress = true;
                            }
                            continue;
                        }
                    };
                    // A getter that ran out the clock while the result was copied (and was
                    // interrupted) makes this a timeout, not the getter's error.
                    self.expire(bridge);
                    self.finish(bridge, id, result);
                    progress = true;
                }
                PromiseState::Rejected => {
                    let reason: JsValue = match promise.result::<JsValue>() {
                        Some(Err(_)) => ctx.catch(),
                        Some(Ok(v)) => v,
                        None => JsValue::new_undefined(ctx.clone()),
                    };
                    let err = classify(ctx, &reason, &self.memory, bridge);
                    oom |= matches!(err, SandboxError::Memory { .. });
                    // Reading the error's fields may have run getters past the deadline.
                    self.expire(bridge);
                    if !is_uncatchable(&reason) {
                        self.finish(bridge, id, Err(err));
                    }
                    progress = true;
                }
            }
        }
        (progress, oom)
    }

    /// Makes sure the earliest live deadline has a timer (see `arm`).
    pub(crate) fn arm_earliest(self: &Arc<Self>) {
        let earliest = lock(&self.evals)
            .values()
            .filter(|e| !e.stopped)
            .map(|e| e.deadline)
            .min();
        if let Some(d) = earliest {
            self.arm(d);
        }
    }

    /// Makes sure a timer fires at `deadline` or earlier. One that is armed for an earlier
    /// deadline that has not passed yet is left alone: it fires first and re-arms for what is
    /// left (so back-to-back evaluations do not each arm a timer). One armed for a deadline
    /// already past has fired (or fired early, as timers may round) and is replaced.
    pub(crate) fn arm(self: &Arc<Self>, deadline: Instant) {
        let mut armed = lock(&self.armed);
        if let Some((at, _)) = *armed {
            if at <= deadline && at > Instant::now() {
                return;
            }
        }
        if let Some((_, key)) = armed.take() {
            self.driver.cancel_timer(key);
        }
        let weak = Arc::downgrade(self);
        let key = self.driver.add_timer(
            deadline,
            Box::new(move || {
                if let Some(inner) = weak.upgrade() {
                    inner.on_deadline(deadline);
                }
            }),
        );
        *armed = Some((deadline, key));
    }

    /// A deadline timer fired (on the driver's timer thread). Evaluations past their deadline
    /// reject now, whether or not a turn can run: a turn inside a long C built-in cannot, and
    /// its evaluation must still settle on time. The running turn (if any) is interrupted at
    /// its next check and forgets them. Then the next deadline is armed and a turn scheduled.
    fn on_deadline(self: &Arc<Self>, fired: Instant) {
        {
            let mut armed = lock(&self.armed);
            if armed.is_some_and(|(at, _)| at == fired) {
                *armed = None;
            }
        }
        let now = Instant::now();
        let overdue: Vec<(EvalId, Duration)> = lock(&self.evals)
            .iter()
            .filter(|(_, e)| !e.stopped && e.deadline <= now)
            .map(|(id, e)| (*id, e.timeout))
            .collect();
        for (id, timeout) in overdue {
            let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            self.stop(id, SandboxError::Timeout { timeout_ms: ms });
        }
        self.arm_earliest();
        self.push(Event::Wake);
    }
}
