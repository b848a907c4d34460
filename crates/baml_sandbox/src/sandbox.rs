//! The sandbox: one QuickJS runtime and realm, driven in "turns" on tokio's blocking pool.
//!
//! Node never waits on QuickJS. `evaluate()` queues an event and returns; a turn (on a blocking
//! thread, holding the runtime) applies queued events (new scripts, host results, timers), runs
//! the job queue dry and settles finished evaluations. Anything that arrives later (a host
//! function's result, a timer) queues another event and schedules another turn.
//!
//! Every wait is bounded: the interrupt handler stops running bytecode at the earliest deadline
//! or when an evaluation is aborted or the context disposed; a tokio timer wakes a turn at the
//! earliest deadline so evaluations that are only *awaiting* time out too.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use rquickjs::function::{Opt, Rest};
use rquickjs::promise::PromiseState;
use rquickjs::{
    object::Property, qjs, CatchResultExt, Context, Ctx, Exception, Function, Object, Persistent,
    Runtime, Type, Value as JsValue,
};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::alloc::{LimitedAllocator, MemoryStats};
use crate::convert::{
    copy_budget, copy_in, copy_out, format_console, is_uncatchable, string_prop, too_deep_message,
    CopyError, InError,
};
use crate::error::SandboxError;
use crate::outbox::{weight, ConsoleLine, Outbox, Ticket};
use crate::value::{drop_flat, over_deep, push_path, Value};

/// Default `memoryLimitBytes`: 64 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;
/// Default `timeoutMs`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `maxStackBytes`: 512 KiB.
pub const DEFAULT_MAX_STACK: usize = 512 << 10;
/// The largest `maxStackBytes` accepted; turns run on threads with 8 MiB stacks.
pub const MAX_STACK_LIMIT: usize = 4 << 20;
/// Most timers one context may have pending.
pub const MAX_TIMERS: usize = 100_000;
/// Most host-function calls one context may have in flight.
pub const MAX_HOST_CALLS: usize = 100_000;

/// `console` levels, as `onConsole` receives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleLevel {
    Log,
    Info,
    Warn,
    Error,
    Debug,
}

impl ConsoleLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleLevel::Log => "log",
            ConsoleLevel::Info => "info",
            ConsoleLevel::Warn => "warn",
            ConsoleLevel::Error => "error",
            ConsoleLevel::Debug => "debug",
        }
    }
}

/// Completion of a host-function call: the copied result, or the error to reject with.
pub type Reply = Box<dyn FnOnce(Result<Value, HostError>) + Send>;

/// A partial result of a streaming BAML call (called from any thread, in order).
pub type Partial = Box<dyn Fn(Value) + Send + Sync>;

/// Dropping it cancels a BAML call in flight (its HTTP request is dropped).
pub type CallGuard = Box<dyn Send>;

/// What a host call rejects with inside the sandbox: an `Error` with this `name`, `message`
/// and extra own properties (`code`, `raw_output`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct HostError {
    pub name: String,
    pub message: String,
    pub fields: Vec<(String, Value)>,
}

impl From<&str> for HostError {
    fn from(message: &str) -> Self {
        HostError::from(message.to_string())
    }
}

impl From<String> for HostError {
    fn from(message: String) -> Self {
        HostError {
            name: "Error".into(),
            message,
            fields: Vec::new(),
        }
    }
}
/// Completion of an evaluation.
pub type Done = Box<dyn FnOnce(Result<Value, SandboxError>) + Send>;

/// What the sandbox needs from its embedder (the napi layer, or a test).
pub trait Host: Send + Sync + 'static {
    /// Runs host function `index` (of `SandboxOptions::host_functions`) with copied arguments.
    /// Must not block: answer later through `reply`, from any thread.
    fn call(&self, index: usize, args: Vec<Value>, reply: Reply);
    /// Starts BAML function `index` (of `SandboxOptions::baml_functions`) with positional
    /// arguments; with `partial`, the call streams and reports each partial value. Must not
    /// block. The returned guard cancels the call when dropped (after the reply it does
    /// nothing).
    fn baml_call(
        &self,
        index: usize,
        args: Vec<Value>,
        partial: Option<Partial>,
        reply: Reply,
    ) -> Option<CallGuard> {
        let _ = (index, args, partial);
        reply(Err(HostError::from(
            "BAML functions are not available here".to_string(),
        )));
        None
    }
    /// A formatted `console.*` line. Only called when `SandboxOptions::console` is set.
    fn console(&self, level: ConsoleLevel, message: String);
    /// The same, for hosts that deliver lines later (on another thread): the line counts
    /// against the sandbox's bytes waiting for the host until it is dropped, so keep it until
    /// it is delivered. By default it is handed to `console` at once.
    fn console_line(&self, level: ConsoleLevel, line: ConsoleLine) {
        self.console(level, line.to_string());
    }
    /// Whether the calling thread may run turns itself for a short time slice (the embedder's
    /// own thread, to spare it two thread hops per evaluation). Work that outlasts the slice
    /// moves to a worker thread mid-flight, so the caller is never blocked for longer.
    fn may_run_here(&self) -> bool {
        false
    }
}

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

/// Identifies one evaluation, for `Sandbox::abort`.
pub type EvalId = u64;

enum Event {
    Eval {
        id: EvalId,
        code: String,
    },
    HostDone {
        id: u64,
        result: Result<Value, HostError>,
    },
    HostPartial {
        id: u64,
        value: Value,
    },
    Timer {
        id: u64,
    },
    /// Nothing to apply: check deadlines and stopped evaluations.
    Wake,
}

impl Drop for Event {
    /// Values from the host may nest arbitrarily deep (the Rust API builds any tree); they are
    /// refused past `MAX_DEPTH` on the way in, and must not overflow the stack on the way out
    /// either, wherever the event is dropped (applied, or discarded by `dispose`).
    fn drop(&mut self) {
        match self {
            Event::HostDone { result, .. } => {
                match std::mem::replace(result, Ok(Value::Undefined)) {
                    Ok(v) => drop_flat(v),
                    Err(e) => drop_flat(Value::Object(e.fields)),
                }
            }
            Event::HostPartial { value, .. } => {
                drop_flat(std::mem::replace(value, Value::Undefined));
            }
            _ => {}
        }
    }
}

struct EvalEntry {
    done: Option<Done>,
    deadline: Instant,
    timeout: Duration,
    /// Set when the evaluation was stopped from outside a turn (abort, dispose); `done` has
    /// already been called and the turn only has to forget it.
    stopped: bool,
}

/// State shared with the interrupt handler, which may run at any bytecode boundary.
pub(crate) struct Signals {
    epoch: Instant,
    /// While a turn runs in a slice on the embedder's thread: when the slice ends (ns after
    /// `epoch`), and the coroutine to suspend then. `u64::MAX` / null otherwise.
    pub(crate) slice_end_ns: AtomicU64,
    pub(crate) yielder: std::sync::atomic::AtomicPtr<()>,
    /// Nanoseconds after `epoch` at which running bytecode is interrupted.
    deadline_ns: AtomicU64,
    /// Evaluations stopped from outside that a turn has not reaped yet.
    stop_pending: AtomicUsize,
    disposed: AtomicBool,
}

impl Signals {
    pub(crate) fn at(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether running code must stop now (deadline passed, an evaluation stopped, disposed).
    /// Also where a turn whose slice has ended moves off the embedder's thread.
    pub(crate) fn should_interrupt(&self) -> bool {
        #[cfg(target_os = "linux")]
        crate::slice::maybe_move_off_thread(self);
        if self.stop_pending.load(Ordering::Acquire) > 0 || self.disposed.load(Ordering::Acquire) {
            return true;
        }
        let deadline = self.deadline_ns.load(Ordering::Acquire);
        deadline != u64::MAX && self.at(Instant::now()) >= deadline
    }
}

pub(crate) struct Inner {
    host: Arc<dyn Host>,
    pub(crate) state: Mutex<Option<State>>,
    events: Mutex<VecDeque<Event>>,
    pub(crate) scheduled: AtomicBool,
    evals: Mutex<HashMap<EvalId, EvalEntry>>,
    next_eval: AtomicU64,
    pub(crate) signals: Arc<Signals>,
    pub(crate) handle: Handle,
    memory: Arc<MemoryStats>,
    timeout: Duration,
}

/// JS values Rust holds on to. Touched only while the runtime lock is held (inside `with`),
/// and emptied before the runtime is freed: a value alive at `JS_FreeRuntime` aborts the process.
#[derive(Default)]
struct JsStore {
    /// The promise an evaluation awaits; `true` while it is the script's own promise, which
    /// resolves to `{ value }` (the completion value) rather than to the value.
    evals: HashMap<EvalId, (Persistent<JsValue<'static>>, bool)>,
    calls: HashMap<u64, (Persistent<Function<'static>>, Persistent<Function<'static>>)>,
    /// BAML calls in flight: the guard that cancels each, and its partial-result callback.
    baml: HashMap<u64, (Option<CallGuard>, Option<Persistent<Function<'static>>>)>,
    timers: HashMap<u64, TimerEntry>,
    next_id: u64,
    json: Option<JsonGuard>,
}

/// What the realm's `JSON.stringify` wrapper calls (see `install_json_guard`).
struct JsonGuard {
    native: Persistent<Function<'static>>,
    identity: Persistent<Function<'static>>,
    /// `JSON_LIST_FILTER`, once an array replacer was used.
    list_filter: Option<Persistent<Function<'static>>>,
}

struct TimerEntry {
    callback: Persistent<Function<'static>>,
    args: Vec<Persistent<JsValue<'static>>>,
    task: AbortHandle,
}

/// What the functions installed in the realm (host calls, timers, console) reach.
struct Bridge {
    inner: Weak<Inner>,
    host: Arc<dyn Host>,
    handle: Handle,
    store: RefCell<JsStore>,
    console: bool,
    /// Bytes one copied value (a host-function or BAML argument) may take.
    copy_budget: usize,
    signals: Arc<Signals>,
    /// Bytes handed to the host and not consumed yet (arguments of calls in flight, console
    /// lines not yet delivered).
    outbox: Arc<Outbox>,
}

pub(crate) struct State {
    bridge: Rc<Bridge>,
    /// The deadline a wake-up timer is already armed for.
    armed: Option<(Instant, AbortHandle)>,
    // Field order is drop order: the realm before its runtime.
    context: Context,
    runtime: Runtime,
}

// SAFETY: `State` is only ever used by the thread holding `Inner::state`'s mutex, and all of its
// JS-side parts (the `Rc<Bridge>` shared with closures living in the runtime, the persistent
// values) are only touched while that thread also holds the runtime lock. Moving it between
// threads under the mutex is the same discipline rquickjs's own `parallel` feature relies on.
unsafe impl Send for State {}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One sandboxed JavaScript realm with its own QuickJS runtime.
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl Sandbox {
    /// Creates the runtime and realm and installs globals, host functions, console and timers.
    pub fn new(
        options: &SandboxOptions,
        host: Arc<dyn Host>,
        handle: Handle,
    ) -> Result<Sandbox, SandboxError> {
        if options.max_stack_bytes > MAX_STACK_LIMIT {
            return Err(SandboxError::Setup(format!(
                "maxStackBytes must be at most {MAX_STACK_LIMIT}, got {}",
                options.max_stack_bytes
            )));
        }
        // Refused as the napi layer refuses a global from Node, before anything is built.
        for (key, value) in &options.globals {
            if let Some(path) = over_deep(value, 0) {
                let root = push_path("globals", key);
                return Err(SandboxError::Setup(too_deep_message(&root, &path)));
            }
        }
        let memory = MemoryStats::new(options.memory_limit_bytes);
        let runtime = Runtime::new_with_alloc(LimitedAllocator {
            stats: memory.clone(),
        })
        .map_err(|e| SandboxError::Setup(format!("cannot create runtime: {e}")))?;
        runtime.set_max_stack_size(options.max_stack_bytes);
        let signals = Arc::new(Signals {
            epoch: Instant::now(),
            deadline_ns: AtomicU64::new(u64::MAX),
            slice_end_ns: AtomicU64::new(u64::MAX),
            yielder: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
            stop_pending: AtomicUsize::new(0),
            disposed: AtomicBool::new(false),
        });
        let sig = signals.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || sig.should_interrupt())));
        let context = Context::base(&runtime)
            .map_err(|e| SandboxError::Setup(format!("cannot create context: {e}")))?;
        if !context.with(|ctx| unsafe { crate::intrinsics::install(ctx.as_raw().as_ptr()) }) {
            return Err(SandboxError::Setup(
                "cannot create the realm's built-ins".into(),
            ));
        }
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            Inner {
                host: host.clone(),
                state: Mutex::new(None),
                events: Mutex::new(VecDeque::new()),
                scheduled: AtomicBool::new(false),
                evals: Mutex::new(HashMap::new()),
                next_eval: AtomicU64::new(1),
                signals,
                handle: handle.clone(),
                memory,
                timeout: options.timeout,
            }
            .with_weak(weak)
        });
        let bridge = Rc::new(Bridge {
            inner: Arc::downgrade(&inner),
            host,
            handle,
            store: RefCell::new(JsStore::default()),
            console: options.console,
            copy_budget: copy_budget(options.memory_limit_bytes),
            signals: inner.signals.clone(),
            outbox: Outbox::new(copy_budget(options.memory_limit_bytes)),
        });
        let installed = context.with(|ctx| {
            install(&ctx, &bridge, options)
                .catch(&ctx)
                .map_err(|e| e.to_string())
        });
        let state = State {
            bridge,
            armed: None,
            context,
            runtime,
        };
        if let Err(message) = installed {
            state.destroy();
            return Err(SandboxError::Setup(format!(
                "cannot set up the sandbox: {message}"
            )));
        }
        *lock(&inner.state) = Some(state);
        Ok(Sandbox { inner })
    }

    /// Starts evaluating `code`; `done` is called exactly once, from some thread.
    pub fn evaluate(&self, code: String, timeout: Option<Duration>, done: Done) -> EvalId {
        let inner = &self.inner;
        let id = inner.next_eval.fetch_add(1, Ordering::Relaxed);
        if inner.signals.disposed.load(Ordering::Acquire) {
            done(Err(SandboxError::Disposed));
            return id;
        }
        let timeout = timeout.unwrap_or(inner.timeout);
        let deadline = Instant::now() + timeout;
        {
            let mut evals = lock(&inner.evals);
            evals.insert(
                id,
                EvalEntry {
                    done: Some(done),
                    deadline,
                    timeout,
                    stopped: false,
                },
            );
            inner.refresh_deadline(&evals);
        }
        inner.push(Event::Eval { id, code });
        id
    }

    /// Stops one evaluation: it rejects with `SANDBOX_ABORTED` now, and running bytecode is
    /// interrupted. Does nothing if it already finished.
    pub fn abort(&self, id: EvalId) {
        self.inner.stop(id, SandboxError::Aborted);
    }

    /// Rejects every in-flight evaluation with `SANDBOX_DISPOSED` and frees the runtime
    /// (now if it is idle, otherwise as soon as the running turn is interrupted).
    pub fn dispose(&self) {
        self.inner.dispose();
    }

    pub fn is_disposed(&self) -> bool {
        self.inner.signals.disposed.load(Ordering::Acquire)
    }

    /// Bytes QuickJS has allocated now, and the limit.
    pub fn memory_usage(&self) -> (usize, usize) {
        (
            self.inner.memory.used.load(Ordering::Relaxed),
            self.inner.memory.limit,
        )
    }

    /// Evaluations not yet settled.
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.evals)
            .values()
            .filter(|e| !e.stopped)
            .count()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.inner.dispose();
    }
}

impl Inner {
    fn with_weak(self, _weak: &Weak<Inner>) -> Self {
        self
    }

    fn push(self: &Arc<Self>, event: Event) {
        lock(&self.events).push_back(event);
        self.schedule();
    }

    /// Queues a partial result, replacing one of the same call still waiting to be applied:
    /// a partial is a snapshot of the whole result so far, so a sandbox that falls behind a
    /// fast stream sees the newest one, and memory holds one snapshot per call, not every one
    /// the stream produced meanwhile (with a 64 MiB answer, hundreds of MB under load).
    fn push_partial(self: &Arc<Self>, id: u64, value: Value) {
        let stale = {
            let mut events = lock(&self.events);
            let waiting = events.iter_mut().rev().find_map(|e| match e {
                Event::HostPartial {
                    id: queued,
                    value: v,
                } if *queued == id => Some(v),
                _ => None,
            });
            if let Some(v) = waiting {
                Some(std::mem::replace(v, value))
            } else {
                events.push_back(Event::HostPartial { id, value });
                None
            }
        };
        match stale {
            // Already scheduled; freed outside the lock.
            Some(old) => drop_flat(old),
            None => self.schedule(),
        }
    }

    fn schedule(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        #[cfg(target_os = "linux")]
        if self.host.may_run_here() && crate::slice::run_here(self) {
            return;
        }
        let me = self.clone();
        self.handle.spawn_blocking(move || me.run_turn());
    }

    /// Recomputes the interrupt deadline from the live evaluations. Callers hold `evals`.
    fn refresh_deadline(&self, evals: &HashMap<EvalId, EvalEntry>) {
        let min = evals
            .values()
            .filter(|e| !e.stopped)
            .map(|e| e.deadline)
            .min();
        let ns = min.map_or(u64::MAX, |d| self.signals.at(d));
        self.signals.deadline_ns.store(ns, Ordering::Release);
    }

    fn stop(self: &Arc<Self>, id: EvalId, error: SandboxError) {
        let done = {
            let mut evals = lock(&self.evals);
            let Some(entry) = evals.get_mut(&id) else {
                return;
            };
            if entry.stopped {
                return;
            }
            entry.stopped = true;
            self.signals.stop_pending.fetch_add(1, Ordering::AcqRel);
            let done = entry.done.take();
            self.refresh_deadline(&evals);
            done
        };
        if let Some(done) = done {
            done(Err(error));
        }
        self.push(Event::Wake);
    }

    fn dispose(self: &Arc<Self>) {
        if self.signals.disposed.swap(true, Ordering::AcqRel) {
            return;
        }
        let dones: Vec<Done> = {
            let mut evals = lock(&self.evals);
            let dones = evals.values_mut().filter_map(|e| e.done.take()).collect();
            evals.clear();
            self.signals.deadline_ns.store(u64::MAX, Ordering::Release);
            dones
        };
        for done in dones {
            done(Err(SandboxError::Disposed));
        }
        lock(&self.events).clear();
        self.free_if_idle();
    }

    /// Frees the runtime unless a turn holds it; that turn frees it when it sees `disposed`.
    fn free_if_idle(&self) {
        let state = match self.state.try_lock() {
            Ok(mut guard) => guard.take(),
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().take(),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if let Some(state) = state {
            state.destroy();
        }
    }

    fn run_turn(self: Arc<Self>) {
        let guard = lock(&self.state);
        self.run_turn_locked(guard, || {});
    }

    /// Runs turns until no events are left, with the state already locked. Never panics.
    /// `before_unlock` runs while the state is still locked, after the last turn: whatever
    /// describes this turn only (a slice's yielder) must be gone before another thread can
    /// start the next one.
    pub(crate) fn run_turn_locked(
        self: &Arc<Self>,
        mut guard: MutexGuard<'_, Option<State>>,
        before_unlock: impl FnOnce(),
    ) {
        let outcome = catch_unwind(AssertUnwindSafe(|| self.turn(&mut guard)));
        before_unlock();
        if outcome.is_err() {
            // A bug, not a sandbox program's doing: fail loudly but keep Node alive.
            let dones: Vec<Done> = lock(&self.evals)
                .values_mut()
                .filter_map(|e| e.done.take())
                .collect();
            for done in dones {
                done(Err(SandboxError::Js {
                    name: Some("InternalError".into()),
                    message: "internal error in the sandbox; the context was disposed".into(),
                    stack: None,
                    code: None,
                    fields: Vec::new(),
                }));
            }
            self.signals.disposed.store(true, Ordering::Release);
            // The realm is in an unknown state and rquickjs's runtime lock is poisoned:
            // freeing it could abort the process, so it is leaked instead.
            std::mem::forget(guard.take());
            return;
        }
        if self.signals.disposed.load(Ordering::Acquire) {
            if let Some(state) = guard.take() {
                state.destroy();
            }
        }
    }

    fn turn(self: &Arc<Self>, guard: &mut MutexGuard<'_, Option<State>>) {
        loop {
            self.scheduled.store(false, Ordering::Release);
            if self.signals.disposed.load(Ordering::Acquire) {
                if let Some(state) = guard.take() {
                    state.destroy();
                }
                return;
            }
            let events: Vec<Event> = lock(&self.events).drain(..).collect();
            let Some(state) = guard.as_mut() else { return };
            if events.is_empty() {
                return;
            }
            let bridge = state.bridge.clone();
            let oom = state
                .context
                .with(|ctx| self.process(&ctx, &bridge, events));
            // Clear the flag unconditionally: it describes this turn only.
            let hit = self.memory.hit.swap(false, Ordering::AcqRel);
            if oom || hit {
                state.runtime.run_gc();
            }
            self.arm_wakeup(state);
        }
    }

    /// Applies events, runs the job queue and settles evaluations. Returns whether memory ran
    /// out on the way (the caller collects garbage then).
    fn process(self: &Arc<Self>, ctx: &Ctx<'_>, bridge: &Rc<Bridge>, events: Vec<Event>) -> bool {
        let mut oom = false;
        self.reap(bridge);
        self.set_turn_deadline();
        for event in events {
            if self.signals.disposed.load(Ordering::Acquire) {
                return oom;
            }
            let mut event = event;
            match &mut event {
                Event::Eval { id, code } => {
                    oom |= self.start_eval(ctx, bridge, *id, std::mem::take(code));
                }
                Event::HostDone { id, result } => Self::finish_call(ctx, bridge, *id, result),
                Event::HostPartial { id, value } => Self::deliver_partial(ctx, bridge, *id, value),
                Event::Timer { id } => self.fire_timer(ctx, bridge, *id),
                Event::Wake => {}
            }
            self.after_interrupt(bridge);
        }
        loop {
            self.run_jobs(ctx, bridge);
            let (progress, o) = self.settle(ctx, bridge);
            oom |= o;
            if !progress {
                break;
            }
        }
        self.expire(bridge);
        // Evaluations whose script has started (not those only queued: `await a; evaluate(b)`
        // may queue `b` while this turn still runs, and `b` must not inherit `a`'s timers).
        if bridge.store.borrow().evals.is_empty() {
            // Nothing awaits the realm: pending timers die with the last evaluation.
            let timers: Vec<TimerEntry> = bridge
                .store
                .borrow_mut()
                .timers
                .drain()
                .map(|(_, t)| t)
                .collect();
            for t in timers {
                t.task.abort();
            }
            // ... and so do BAML calls in flight: their HTTP requests are dropped.
            let mut store = bridge.store.borrow_mut();
            let ids: Vec<u64> = store.baml.keys().copied().collect();
            for id in ids {
                store.baml.remove(&id);
                store.calls.remove(&id);
            }
        }
        oom
    }

    /// With no evaluation in flight, a turn (host results arriving late) still gets a bound.
    fn set_turn_deadline(&self) {
        let evals = lock(&self.evals);
        if evals.values().all(|e| e.stopped) {
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
        drop(store);
        self.signals
            .stop_pending
            .fetch_sub(stopped.len(), Ordering::AcqRel);
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
    fn after_interrupt(self: &Arc<Self>, bridge: &Bridge) {
        self.reap(bridge);
        self.expire(bridge);
        self.set_turn_deadline();
    }

    fn finish(&self, bridge: &Bridge, id: EvalId, result: Result<Value, SandboxError>) {
        let done = {
            let mut evals = lock(&self.evals);
            let entry = evals.remove(&id);
            self.refresh_deadline(&evals);
            entry.and_then(|mut e| {
                if e.stopped {
                    self.signals.stop_pending.fetch_sub(1, Ordering::AcqRel);
                }
                e.done.take()
            })
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
    ) -> bool {
        if lock(&self.evals).get(&id).is_none_or(|e| e.stopped) {
            return false;
        }
        let mut opts = rquickjs::context::EvalOptions::default();
        opts.global = true;
        opts.strict = false;
        opts.backtrace_barrier = true;
        opts.promise = true;
        opts.filename = Some("<sandbox>".into());
        if let Ok(promise) = ctx.eval_with_options::<JsValue, _>(code, opts) {
            bridge
                .store
                .borrow_mut()
                .evals
                .insert(id, (Persistent::save(ctx, promise), true));
            false
        } else {
            let exc = ctx.catch();
            let err = self.classify(ctx, &exc);
            let oom = matches!(err, SandboxError::Memory { .. });
            if !is_uncatchable(&exc) {
                self.finish(bridge, id, Err(err));
            }
            oom
        }
    }

    /// Runs the job queue dry; an interrupted job settles the evaluations that caused it.
    fn run_jobs(self: &Arc<Self>, ctx: &Ctx<'_>, bridge: &Bridge) {
        let rt = unsafe { qjs::JS_GetRuntime(ctx.as_raw().as_ptr()) };
        loop {
            if self.signals.disposed.load(Ordering::Acquire) {
                return;
            }
            let mut job_ctx: *mut qjs::JSContext = std::ptr::null_mut();
            let res = unsafe { qjs::JS_ExecutePendingJob(rt, &raw mut job_ctx) };
            if res == 0 {
                return;
            }
            if res < 0 {
                // A job threw past its promise machinery; only an interrupt does that.
                let exc = ctx.catch();
                if is_uncatchable(&exc) {
                    self.after_interrupt(bridge);
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
                    ) {
                        Ok(v) => Ok(v),
                        Err(CopyError::Shape { path, reason }) => {
                            Err(SandboxError::Result { path, reason })
                        }
                        Err(CopyError::Thrown) => {
                            let exc = ctx.catch();
                            Err(self.classify(ctx, &exc))
                        }
                        Err(CopyError::Interrupted) => {
                            // Settle what interrupted the copy (timeout, abort, dispose);
                            // if this evaluation is still live, copy its result again.
                            self.after_interrupt(bridge);
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
                    let err = self.classify(ctx, &reason);
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

    /// Turns a thrown value into the error SPEC.md names.
    fn classify<'js>(&self, ctx: &Ctx<'js>, exc: &JsValue<'js>) -> SandboxError {
        if self.memory.hit.load(Ordering::Acquire) {
            // An allocation was refused for the limit in this turn; quickjs-ng may then throw
            // `null` or an error it could only partly build.
            return SandboxError::Memory {
                limit_bytes: self.memory.limit as u64,
            };
        }
        let Some(obj) = exc.as_object() else {
            let text = display_value(exc);
            return SandboxError::Js {
                name: None,
                message: format!("Uncaught {text}"),
                stack: None,
                code: None,
                fields: Vec::new(),
            };
        };
        let is_error = unsafe { qjs::JS_IsError(exc.as_raw()) };
        let name = string_prop(obj, "name");
        let message = string_prop(obj, "message").unwrap_or_default();
        let stack = string_prop(obj, "stack");
        let _ = ctx.catch();
        let n = name.as_deref().unwrap_or("");
        if is_error && (n == "InternalError" || n == "RangeError") {
            let lower = message.to_ascii_lowercase();
            if lower.contains("out of memory") || lower.contains("string too long") {
                return SandboxError::Memory {
                    limit_bytes: self.memory.limit as u64,
                };
            }
            if lower.contains("stack overflow") || lower.contains("maximum call stack size") {
                return SandboxError::Stack;
            }
        }
        if !is_error {
            let text = display_value(exc);
            return SandboxError::Js {
                name: None,
                message: format!("Uncaught {text}"),
                stack: None,
                code: None,
                fields: Vec::new(),
            };
        }
        let head = match (&name, message.is_empty()) {
            (Some(n), false) => format!("{n}: {message}"),
            (Some(n), true) => n.clone(),
            (None, _) => message.clone(),
        };
        // A BAML error thrown through (uncaught `await b.F()`): keep its code and fields.
        let code = string_prop(obj, "code").filter(|c| c.starts_with("BAML_"));
        let mut fields = Vec::new();
        if code.is_some() {
            for key in BAML_ERROR_FIELDS {
                if let Ok(v) = obj.get::<_, JsValue>(*key) {
                    if let Ok(v) = copy_out(&v, key, copy_budget(self.memory.limit), &self.signals)
                    {
                        if v != Value::Undefined {
                            fields.push(((*key).to_string(), v));
                        }
                    }
                }
            }
        }
        let _ = ctx.catch();
        SandboxError::Js {
            name,
            message: head,
            stack,
            code,
            fields,
        }
    }

    fn finish_call(ctx: &Ctx<'_>, bridge: &Bridge, id: u64, result: &Result<Value, HostError>) {
        let (entry, baml) = {
            let mut store = bridge.store.borrow_mut();
            let baml = store.baml.remove(&id).is_some();
            (store.calls.remove(&id), baml)
        };
        let Some((resolve, reject)) = entry else {
            return;
        };
        let (Ok(resolve), Ok(reject)) = (resolve.restore(ctx), reject.restore(ctx)) else {
            return;
        };
        let who = if baml {
            "BAML function"
        } else {
            "host function"
        };
        let copied = match result {
            Ok(v) => copy_in(ctx, v, 0).map_err(|e| (e, format!("{who} result"))),
            Err(e) => host_error(ctx, e)
                .map_err(|(e, field)| (e, push_path(&format!("{who} error"), &field))),
        };
        let outcome = match copied {
            Ok(v) if result.is_ok() => resolve.call::<_, ()>((v,)),
            Ok(e) => reject.call::<_, ()>((e,)),
            // The call rejects instead, as it does for an argument too deep to leave.
            Err((InError::TooDeep(path), root)) => {
                new_error(ctx, ErrorKind::Type, &too_deep_message(&root, &path))
                    .and_then(|e| reject.call::<_, ()>((e,)))
            }
            Err((InError::Js(e), _)) => Err(e),
        };
        if outcome.is_err() {
            let exc = ctx.catch();
            if !is_uncatchable(&exc) {
                // Copying the result in ran out of memory: reject with that instead.
                let _ = reject.call::<_, ()>((exc,));
                let _ = ctx.catch();
            }
        }
    }

    fn deliver_partial(ctx: &Ctx<'_>, bridge: &Bridge, id: u64, value: &Value) {
        let callback = {
            let store = bridge.store.borrow();
            match store.baml.get(&id) {
                Some((_, Some(f))) => f.clone(),
                _ => return,
            }
        };
        let Ok(callback) = callback.restore(ctx) else {
            return;
        };
        let outcome = match copy_in(ctx, value, 0) {
            Ok(v) => callback.call::<_, ()>((v,)),
            // Nothing to reject: the stream goes on without this partial (a final result as
            // deep rejects the call).
            Err(InError::TooDeep(_)) => Ok(()),
            Err(InError::Js(e)) => Err(e),
        };
        if outcome.is_err() {
            let _ = ctx.catch();
        }
    }

    fn fire_timer(self: &Arc<Self>, ctx: &Ctx<'_>, bridge: &Bridge, id: u64) {
        let Some(timer) = bridge.store.borrow_mut().timers.remove(&id) else {
            return;
        };
        let Ok(callback) = timer.callback.restore(ctx) else {
            return;
        };
        let args: Vec<JsValue> = timer
            .args
            .into_iter()
            .filter_map(|a| a.restore(ctx).ok())
            .collect();
        let mut rest = rquickjs::function::Args::new(ctx.clone(), args.len());
        for a in args {
            let _ = rest.push_arg(a);
        }
        if callback.call_arg::<JsValue>(rest).is_err() {
            let exc = ctx.catch();
            if !is_uncatchable(&exc) && bridge.console {
                let err = self.classify(ctx, &exc);
                let text = format!("Uncaught {err}");
                // Over the outbox cap the line is dropped: there is no caller to throw to.
                if let Some(ticket) = bridge.outbox.reserve(text.len()) {
                    bridge
                        .host
                        .console_line(ConsoleLevel::Error, ConsoleLine::new(text, ticket));
                }
            }
        }
    }

    /// Makes sure a turn runs at the earliest deadline, for evaluations that are only awaiting.
    fn arm_wakeup(self: &Arc<Self>, state: &mut State) {
        let earliest = lock(&self.evals)
            .values()
            .filter(|e| !e.stopped)
            .map(|e| e.deadline)
            .min();
        match (earliest, &state.armed) {
            // Nothing awaits a deadline: an armed timer is left to fire (one idle turn) rather
            // than aborted, so that the next evaluation, whose deadline is later, finds it armed.
            // Arming and aborting a timer task for every evaluation cost a spawn, a timer
            // registration and a wake-up of the timer thread each (`dispose` still aborts it).
            (None, _) => {}
            // Armed for this deadline or an earlier one that has not passed yet: it will wake the
            // turn in time. An armed deadline already in the past has fired (or fired early, as
            // timers may round), so it is re-armed rather than trusted.
            (Some(d), Some((armed, _))) if *armed <= d && *armed > Instant::now() => {}
            (Some(d), _) => {
                if let Some((_, task)) = state.armed.take() {
                    task.abort();
                }
                let weak = Arc::downgrade(self);
                let task = self.handle.spawn(async move {
                    tokio::time::sleep_until(d.into()).await;
                    if let Some(inner) = weak.upgrade() {
                        inner.push(Event::Wake);
                    }
                });
                state.armed = Some((d, task.abort_handle()));
            }
        }
    }
}

impl State {
    /// Frees the realm and runtime, after releasing every JS value Rust still holds.
    fn destroy(mut self) {
        if let Some((_, task)) = self.armed.take() {
            task.abort();
        }
        let bridge = self.bridge.clone();
        self.context.with(|_ctx| {
            let mut store = bridge.store.borrow_mut();
            for (_, t) in store.timers.drain() {
                t.task.abort();
            }
            store.evals.clear();
            store.calls.clear();
            store.baml.clear();
            store.json = None;
        });
        drop(bridge);
        // Dropping frees the realm, then the runtime (whose free collects the garbage).
        drop(self);
    }
}

/// The `Error` a failed host call rejects with. Its fields are defined as own data properties
/// (as `copy_in` defines keys), so a `__proto__` field stays a field and a setter sandboxed code
/// put on `Error.prototype` never runs. A field that cannot be copied in is returned with its
/// name; fields sit one level below the error, as they do when it is copied out.
fn host_error<'js>(ctx: &Ctx<'js>, e: &HostError) -> Result<JsValue<'js>, (InError, String)> {
    let js = |e: rquickjs::Error| (InError::Js(e), String::new());
    let err = Exception::from_message(ctx.clone(), &e.message).map_err(js)?;
    // Errors made by `new Error` have an own `stack`; this one was made outside any sandbox
    // frame, so its stack is empty (code reading `e.stack` still gets a string).
    err.prop(
        "stack",
        rquickjs::object::Property::from("")
            .writable()
            .configurable(),
    )
    .map_err(js)?;
    if e.name != "Error" {
        err.prop(
            "name",
            Property::from(e.name.as_str())
                .writable()
                .enumerable()
                .configurable(),
        )
        .map_err(js)?;
    }
    for (k, v) in &e.fields {
        let v = copy_in(ctx, v, 1).map_err(|e| (e, k.clone()))?;
        err.prop(
            k.as_str(),
            Property::from(v).writable().enumerable().configurable(),
        )
        .map_err(js)?;
    }
    Ok(err.into_value())
}

/// The kinds of error the sandbox itself throws at sandboxed code.
#[derive(Clone, Copy)]
enum ErrorKind {
    Type,
    Range,
}

/// A new `TypeError` or `RangeError` with `message` in full. QuickJS's own constructors (and
/// rquickjs's `Exception::throw_*`) format the message into 256 bytes, which would cut a long
/// path off before the reason, and cut it at a NUL.
fn new_error<'js>(
    ctx: &Ctx<'js>,
    kind: ErrorKind,
    message: &str,
) -> rquickjs::Result<JsValue<'js>> {
    let raw = unsafe {
        let ctx = ctx.as_raw().as_ptr();
        match kind {
            ErrorKind::Type => qjs::JS_NewTypeError(ctx, c"%s".as_ptr(), c"".as_ptr()),
            ErrorKind::Range => qjs::JS_NewRangeError(ctx, c"%s".as_ptr(), c"".as_ptr()),
        }
    };
    let err = unsafe { JsValue::from_raw(ctx.clone(), raw) };
    if err.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    if let Some(obj) = err.as_object() {
        // Where QuickJS puts it: an own, writable, configurable, non-enumerable property.
        obj.prop("message", Property::from(message).writable().configurable())?;
    }
    Ok(err)
}

/// Throws `new_error(kind, message)` (or, out of memory, whatever that threw).
fn throw(ctx: &Ctx<'_>, kind: ErrorKind, message: &str) -> rquickjs::Error {
    match new_error(ctx, kind, message) {
        Ok(err) => ctx.throw(err),
        Err(e) => e,
    }
}

/// Throws what QuickJS throws when the interrupt handler stops running code: an uncatchable
/// `InternalError: interrupted`.
fn throw_interrupted(ctx: &Ctx<'_>) -> rquickjs::Error {
    let Ok(err) = Exception::from_message(ctx.clone(), "interrupted") else {
        return rquickjs::Error::Exception;
    };
    if err.set("name", "InternalError").is_err() {
        return rquickjs::Error::Exception;
    }
    let value = err.into_value();
    unsafe { qjs::JS_SetUncatchableError(ctx.as_raw().as_ptr(), value.as_raw()) };
    ctx.throw(value)
}

/// A thrown value as text, for an evaluation that has stopped running (a stop while its
/// getters run is moot: the interrupt handler still says so at the next check).
fn display_value(v: &JsValue<'_>) -> String {
    format_console(std::slice::from_ref(v)).0
}

/// Installs `console`, timers, globals and host functions into a fresh realm.
fn install<'js>(
    ctx: &Ctx<'js>,
    bridge: &Rc<Bridge>,
    options: &SandboxOptions,
) -> rquickjs::Result<()> {
    let global = ctx.globals();
    let console = Object::new(ctx.clone())?;
    for level in [
        ConsoleLevel::Log,
        ConsoleLevel::Info,
        ConsoleLevel::Warn,
        ConsoleLevel::Error,
        ConsoleLevel::Debug,
    ] {
        let b = bridge.clone();
        let f = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<JsValue<'js>>| -> rquickjs::Result<()> {
                if b.console {
                    let (text, interrupted) = format_console(&args.0);
                    if let Some(stop) = interrupted {
                        return Err(ctx.throw(stop));
                    }
                    let ticket = b.reserve(&ctx, text.len(), "console output")?;
                    b.host.console_line(level, ConsoleLine::new(text, ticket));
                }
                Ok(())
            },
        )?
        .with_name(level.as_str())?;
        console.set(level.as_str(), f)?;
    }
    global.prop("console", Property::from(console).writable().configurable())?;

    let b = bridge.clone();
    let set_timeout = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              callback: JsValue<'js>,
              delay: rquickjs::function::Opt<JsValue<'js>>,
              args: Rest<JsValue<'js>>| { b.set_timeout(&ctx, callback, delay.0, args.0) },
    )?
    .with_name("setTimeout")?;
    global.prop(
        "setTimeout",
        Property::from(set_timeout).writable().configurable(),
    )?;
    let b = bridge.clone();
    let clear_timeout = Function::new(
        ctx.clone(),
        move |id: rquickjs::function::Opt<JsValue<'js>>| {
            if let Some(id) = id.0.and_then(|v| v.as_number()) {
                if !(id.is_finite() && id >= 1.0) {
                    return;
                }
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "checked finite and positive; ids are integers below 2^53"
                )]
                let id = id as u64;
                if let Some(t) = b.store.borrow_mut().timers.remove(&id) {
                    t.task.abort();
                }
            }
        },
    )?
    .with_name("clearTimeout")?;
    global.prop(
        "clearTimeout",
        Property::from(clear_timeout).writable().configurable(),
    )?;

    install_json_guard(ctx, bridge)?;

    // The BAML prelude takes the built-ins it uses now, before a global can shadow them (an
    // embedder may well name one `Object` or `globalThis`); it runs after the globals, which
    // decide which function names are free.
    let prelude: Option<Function> = if options.baml_functions.is_empty() {
        None
    } else {
        Some(ctx.eval(BAML_PRELUDE)?)
    };
    install_globals(ctx, &options.globals)?;
    if let Some(prelude) = prelude {
        let b = bridge.clone();
        let call = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<JsValue<'js>>| b.baml_call(&ctx, &args.0),
        )?;
        let names = rquickjs::Array::new(ctx.clone())?;
        for (i, n) in options.baml_functions.iter().enumerate() {
            names.set(i, n.as_str())?;
        }
        prelude.call::<_, ()>((call, names))?;
    }
    for (index, name) in options.host_functions.iter().enumerate() {
        let b = bridge.clone();
        let fname = name.clone();
        let f = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<JsValue<'js>>| {
                b.host_call(&ctx, index, &fname, &args.0)
            },
        )?
        .with_name(name.as_str())?;
        global.prop(name.as_str(), Property::from(f).writable().configurable())?;
    }
    Ok(())
}

/// Copies `globals` in as properties of the global object.
fn install_globals(ctx: &Ctx<'_>, globals: &[(String, Value)]) -> rquickjs::Result<()> {
    let global = ctx.globals();
    for (key, value) in globals {
        // Depth was checked in `Sandbox::new`; what is left is running out of memory.
        let value = match copy_in(ctx, value, 0) {
            Ok(v) => v,
            Err(InError::Js(e)) => return Err(e),
            Err(InError::TooDeep(path)) => {
                let message = too_deep_message(&push_path("globals", key), &path);
                return Err(throw(ctx, ErrorKind::Type, &message));
            }
        };
        global.prop(
            key.as_str(),
            Property::from(value).writable().enumerable().configurable(),
        )?;
    }
    Ok(())
}

/// Makes `JSON.stringify` interruptible. QuickJS serializes in C without polling its interrupt
/// handler, so `JSON.stringify` of a value sharing one subtree 2^40 times ran for hours past any
/// timeout and, started on Node's thread, blocked Node (the slice cannot end inside C code;
/// running out of memory does not stop the walk either). With a replacer function QuickJS calls
/// back for every value, and every call polls the handler. So the realm's `stringify` is a
/// native wrapper that always passes one: the caller's function, an identity function, or for
/// an array replacer the filter of `JSON_LIST_FILTER`. Output is unchanged; the cost is one call
/// per value. Native, so that a context does not pay for compiling a script at creation.
fn install_json_guard<'js>(ctx: &Ctx<'js>, bridge: &Rc<Bridge>) -> rquickjs::Result<()> {
    let json: Object = ctx.globals().get("JSON")?;
    let native: Function = json.get("stringify")?;
    let identity = Function::new(ctx.clone(), |_key: JsValue<'js>, value: JsValue<'js>| value)?;
    let b = bridge.clone();
    let stringify = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              value: JsValue<'js>,
              replacer: Opt<JsValue<'js>>,
              space: Opt<JsValue<'js>>| { b.stringify(&ctx, value, replacer.0, space.0) },
    )?
    .with_name("stringify")?;
    stringify.set_length(3)?;
    json.prop(
        "stringify",
        Property::from(stringify).writable().configurable(),
    )?;
    bridge.store.borrow_mut().json = Some(JsonGuard {
        native: Persistent::save(ctx, native),
        identity: Persistent::save(ctx, identity),
        list_filter: None,
    });
    Ok(())
}

/// The property-list part of the `JSON.stringify` guard (see `install_json_guard`), compiled on
/// first use of an array replacer: a function of the list giving a replacer function that shows
/// each plain object through a proxy listing exactly the listed keys in list order (values read
/// with `Get`, as the specification's `SerializeJSONProperty` does). Sandboxed code that replaced
/// the built-ins it uses by then only changes its own output: QuickJS still calls the replacer
/// for every value, which is what bounds the time.
const JSON_LIST_FILTER: &str = r"(() => {
  'use strict';
  const isArray = Array.isArray;
  const define = Object.defineProperty;
  return (replacer) => {
    if (!isArray(replacer)) return (key, value) => value;
    const list = [];
    const seen = Object.create(null);
    for (let i = 0; i < replacer.length; i++) {
      const v = replacer[i];
      let key;
      if (typeof v === 'string') key = v;
      else if (typeof v === 'number' || v instanceof String || v instanceof Number) key = String(v);
      else continue;
      if (seen[key] !== true) { seen[key] = true; list[list.length] = key; }
    }
    return function (key, value) {
      if (value === null || typeof value !== 'object' || isArray(value)) return value;
      const target = {};
      const keys = [];
      for (let i = 0; i < list.length; i++) {
        const k = list[i];
        const v = value[k];
        if (v === undefined) continue;
        define(target, k, { value: v, writable: true, enumerable: true, configurable: true });
        keys[keys.length] = k;
      }
      return new Proxy(target, { ownKeys: () => keys });
    };
  };
})()";

/// Fields of BAML's error classes, kept when such an error escapes the sandbox.
const BAML_ERROR_FIELDS: &[&str] = &[
    "raw_output",
    "prompt",
    "status_code",
    "client_name",
    "finish_reason",
    "detailed_message",
];

/// Builds `b`, `b.stream` and the global function names from the native call function.
/// `call(i, args, onPartial?)` returns the call's promise. Evaluated before the globals are
/// installed, it keeps the built-ins it needs from then on.
const BAML_PRELUDE: &str = r"((Object, Promise, Symbol, globalThis) => function (call, names) {
  'use strict';
  const b = Object.create(null);
  const stream = Object.create(null);
  const makeStream = (i, args) => {
    const queue = [];
    const waiters = [];
    let finished = false;
    let failure = null;
    const settleWaiters = () => {
      while (waiters.length && (queue.length || finished)) {
        const w = waiters.shift();
        if (queue.length) w.resolve({ value: queue.shift(), done: false });
        else if (failure) w.reject(failure.error);
        else w.resolve({ value: undefined, done: true });
      }
    };
    const final = call(i, args, (partial) => {
      queue.push(partial);
      settleWaiters();
    });
    final.then(
      () => { finished = true; settleWaiters(); },
      (error) => { finished = true; failure = { error }; settleWaiters(); },
    );
    const iterator = {
      next() {
        return new Promise((resolve, reject) => {
          waiters.push({ resolve, reject });
          settleWaiters();
        });
      },
      return() {
        finished = true;
        queue.length = 0;
        settleWaiters();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() { return this; },
      getFinalResponse() { return final; },
    };
    return iterator;
  };
  names.forEach((name, i) => {
    const f = { [name]: (...args) => call(i, args) }[name];
    const s = { [name]: (...args) => makeStream(i, args) }[name];
    Object.defineProperty(b, name, { value: f, enumerable: true });
    Object.defineProperty(stream, name, { value: s, enumerable: true });
  });
  Object.defineProperty(b, 'stream', { value: Object.freeze(stream) });
  Object.freeze(b);
  Object.defineProperty(globalThis, 'b', { value: b, writable: true, configurable: true });
  names.forEach((name) => {
    if (!(name in globalThis)) {
      Object.defineProperty(globalThis, name, { value: b[name], writable: true, configurable: true });
    }
  });
})(Object, Promise, Symbol, globalThis)";

impl Bridge {
    /// Reserves outbox room for `bytes` handed to the host, or throws a `RangeError`.
    fn reserve(&self, ctx: &Ctx<'_>, bytes: usize, what: &str) -> rquickjs::Result<Ticket> {
        self.outbox.reserve(bytes).ok_or_else(|| {
            throw(
                ctx,
                ErrorKind::Range,
                &format!(
                    "{what}: more than {} bytes would be waiting for the host",
                    self.outbox.limit()
                ),
            )
        })
    }

    fn baml_call<'js>(
        &self,
        ctx: &Ctx<'js>,
        args: &[JsValue<'js>],
    ) -> rquickjs::Result<JsValue<'js>> {
        let index = args.first().and_then(JsValue::as_number).unwrap_or(-1.0);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked to be a small non-negative integer"
        )]
        let index = if index >= 0.0 && index.fract() == 0.0 && index < 1e9 {
            index as usize
        } else {
            return Err(throw(ctx, ErrorKind::Type, "bad BAML call"));
        };
        let list: Vec<JsValue<'js>> = match args.get(1).and_then(|a| a.as_array()) {
            Some(a) => a.iter::<JsValue>().collect::<rquickjs::Result<_>>()?,
            None => Vec::new(),
        };
        let on_partial = args.get(2).and_then(|f| f.clone().into_function());
        let (copied, ticket) = self.copy_args(
            ctx,
            &list,
            "argument",
            "a BAML function",
            "BAML function arguments",
        )?;
        let (promise, id) = self.pending_call(ctx, "calls")?;
        self.store.borrow_mut().baml.insert(
            id,
            (
                None,
                on_partial
                    .as_ref()
                    .map(|f| Persistent::save(ctx, f.clone())),
            ),
        );
        let partial: Option<Partial> = on_partial.map(|_| {
            let weak = self.inner.clone();
            Box::new(move |value: Value| {
                if let Some(inner) = weak.upgrade() {
                    if !inner.signals.disposed.load(Ordering::Acquire) {
                        inner.push_partial(id, value);
                        return;
                    }
                }
                drop_flat(value);
            }) as Partial
        });
        let guard = self
            .host
            .baml_call(index, copied, partial, self.reply_for(id, ticket));
        if let Some(entry) = self.store.borrow_mut().baml.get_mut(&id) {
            entry.0 = guard;
        }
        Ok(promise)
    }

    fn set_timeout<'js>(
        &self,
        ctx: &Ctx<'js>,
        callback: JsValue<'js>,
        delay: Option<JsValue<'js>>,
        args: Vec<JsValue<'js>>,
    ) -> rquickjs::Result<f64> {
        let Some(callback) = callback.into_function() else {
            return Err(throw(
                ctx,
                ErrorKind::Type,
                "setTimeout: the callback must be a function",
            ));
        };
        let ms = delay.and_then(|d| d.as_number()).unwrap_or(0.0);
        let ms = if ms.is_finite() && ms > 0.0 {
            ms.min(2_147_483_647.0)
        } else {
            0.0
        };
        let mut store = self.store.borrow_mut();
        if store.timers.len() >= MAX_TIMERS {
            return Err(throw(
                ctx,
                ErrorKind::Range,
                &format!("setTimeout: more than {MAX_TIMERS} timers pending"),
            ));
        }
        store.next_id += 1;
        let id = store.next_id;
        let weak = self.inner.clone();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "ms is clamped to [0, 2^31)"
        )]
        let dur = Duration::from_millis(ms as u64);
        let task = self.handle.spawn(async move {
            tokio::time::sleep(dur).await;
            if let Some(inner) = weak.upgrade() {
                inner.push(Event::Timer { id });
            }
        });
        store.timers.insert(
            id,
            TimerEntry {
                callback: Persistent::save(ctx, callback),
                args: args.into_iter().map(|a| Persistent::save(ctx, a)).collect(),
                task: task.abort_handle(),
            },
        );
        #[expect(clippy::cast_precision_loss, reason = "ids stay far below 2^53")]
        Ok(id as f64)
    }

    fn host_call<'js>(
        &self,
        ctx: &Ctx<'js>,
        index: usize,
        name: &str,
        args: &[JsValue<'js>],
    ) -> rquickjs::Result<JsValue<'js>> {
        let (copied, ticket) = self.copy_args(
            ctx,
            args,
            &format!("{name} argument"),
            "the host",
            &format!("{name} arguments"),
        )?;
        let (promise, id) = self.pending_call(ctx, "host calls")?;
        self.host.call(index, copied, self.reply_for(id, ticket));
        Ok(promise)
    }

    /// The realm's `JSON.stringify`: QuickJS's, always given a replacer function.
    fn stringify<'js>(
        &self,
        ctx: &Ctx<'js>,
        value: JsValue<'js>,
        replacer: Option<JsValue<'js>>,
        space: Option<JsValue<'js>>,
    ) -> rquickjs::Result<JsValue<'js>> {
        // Taken out of the store before calling: replacers and getters run sandboxed code,
        // which may call back here or into the store.
        let (native, identity, filter) = {
            let store = self.store.borrow();
            let Some(g) = store.json.as_ref() else {
                return Err(throw(ctx, ErrorKind::Type, "JSON.stringify is unavailable"));
            };
            (g.native.clone(), g.identity.clone(), g.list_filter.clone())
        };
        let native = native.restore(ctx)?;
        let space = space.unwrap_or_else(|| JsValue::new_undefined(ctx.clone()));
        let replacer = match replacer {
            Some(r) if r.is_function() => r,
            // A proxy may stand for an array: the filter decides (`Array.isArray` sees through).
            Some(r) if r.is_array() || unsafe { qjs::JS_IsProxy(r.as_raw()) } => {
                let factory = if let Some(f) = filter {
                    f.restore(ctx)?
                } else {
                    let f: Function = ctx.eval(JSON_LIST_FILTER)?;
                    if let Some(g) = self.store.borrow_mut().json.as_mut() {
                        g.list_filter = Some(Persistent::save(ctx, f.clone()));
                    }
                    f
                };
                factory.call::<_, JsValue>((r,))?
            }
            _ => identity.restore(ctx)?.into_value(),
        };
        native.call((value, replacer, space))
    }

    /// Copies a call's arguments out (`{label} {i}` names each in errors) and reserves outbox
    /// room for them; a value that cannot cross is a `TypeError` naming it and `target`.
    fn copy_args(
        &self,
        ctx: &Ctx<'_>,
        args: &[JsValue<'_>],
        label: &str,
        target: &str,
        what: &str,
    ) -> rquickjs::Result<(Vec<Value>, Ticket)> {
        let mut copied = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            match copy_out(a, &format!("{label} {i}"), self.copy_budget, &self.signals) {
                Ok(v) => copied.push(v),
                Err(CopyError::Shape { path, reason }) => {
                    return Err(throw(
                        ctx,
                        ErrorKind::Type,
                        &format!("{path} cannot be passed to {target}: {reason}"),
                    ))
                }
                Err(CopyError::Thrown) => return Err(rquickjs::Error::Exception),
                Err(CopyError::Interrupted) => return Err(throw_interrupted(ctx)),
            }
        }
        let ticket = self.reserve(ctx, copied.iter().map(weight).sum(), what)?;
        Ok((copied, ticket))
    }

    /// A new call in flight (host or BAML): its promise and id, or a `RangeError` past
    /// `MAX_HOST_CALLS` (`kind` names them in the message).
    fn pending_call<'js>(
        &self,
        ctx: &Ctx<'js>,
        kind: &str,
    ) -> rquickjs::Result<(JsValue<'js>, u64)> {
        let mut store = self.store.borrow_mut();
        if store.calls.len() >= MAX_HOST_CALLS {
            return Err(throw(
                ctx,
                ErrorKind::Range,
                &format!("more than {MAX_HOST_CALLS} {kind} in flight"),
            ));
        }
        let (promise, resolve, reject) = ctx.promise()?;
        store.next_id += 1;
        let id = store.next_id;
        store.calls.insert(
            id,
            (
                Persistent::save(ctx, resolve),
                Persistent::save(ctx, reject),
            ),
        );
        Ok((promise.into_value(), id))
    }

    /// The reply that hands call `id`'s result to the next turn and frees its arguments' room.
    fn reply_for(&self, id: u64, ticket: Ticket) -> Reply {
        let weak = self.inner.clone();
        Box::new(move |result| {
            drop(ticket);
            // An event from the start, so that a result nobody waits for any more is
            // dropped as flat as one that is applied.
            let event = Event::HostDone { id, result };
            if let Some(inner) = weak.upgrade() {
                if !inner.signals.disposed.load(Ordering::Acquire) {
                    inner.push(event);
                }
            }
        })
    }
}
