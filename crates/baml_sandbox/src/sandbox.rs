//! The sandbox handle: one QuickJS runtime and realm, driven in turns by a [`Driver`].
//!
//! The embedder never waits on QuickJS. `evaluate()` queues an event and returns; a turn (on
//! a driver thread, holding the runtime) applies queued events (new scripts, host results,
//! timers), runs the job queue dry and settles finished evaluations (`turn.rs`). Anything that
//! arrives later queues another event and schedules another turn.
//!
//! Every wait is bounded: the interrupt handler stops running bytecode at the earliest deadline
//! or when an evaluation is aborted or the context disposed; a driver timer wakes a turn at the
//! earliest deadline so evaluations that are only *awaiting* time out too.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::alloc::MemoryStats;
use crate::driver::{Driver, TimerKey};
use crate::error::SandboxError;
use crate::group::{Group, SharedRuntime};
use crate::host::{Done, Host, HostError};
use crate::options::SandboxOptions;
use crate::turn::State;
use crate::value::{drop_flat, Value};

/// Identifies one evaluation, for `abort`.
pub type EvalId = u64;

/// Options of one evaluation.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// Overrides the sandbox's timeout.
    pub timeout: Option<Duration>,
    /// The script's name in stack traces (default `<sandbox>`).
    pub filename: Option<String>,
    /// Called when a turn starts running the script (a worker process tells its parent, whose
    /// watchdog must know which evaluations can be running).
    pub on_start: Option<OnStart>,
}

/// See [`EvalOptions::on_start`].
#[derive(Clone)]
pub struct OnStart(pub std::sync::Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for OnStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnStart")
    }
}

/// What an embedder drives, whether the sandbox runs in this process ([`Sandbox`]) or in a
/// worker process: the same calls, the same callbacks.
pub trait SandboxHandle: Send + Sync {
    /// Starts evaluating `code`; `done` is called exactly once, from some thread.
    fn evaluate(&self, code: String, options: EvalOptions, done: Done) -> EvalId;
    /// Stops one evaluation: it rejects with `SANDBOX_ABORTED` now, and running bytecode is
    /// interrupted. Does nothing if it already finished.
    fn abort(&self, id: EvalId);
    /// Rejects every in-flight evaluation with `SANDBOX_DISPOSED` and frees the sandbox, off
    /// the caller's thread.
    fn dispose(&self);
    fn is_disposed(&self) -> bool;
    /// Bytes the QuickJS heap uses (as of the last turn for a remote sandbox), and the limit.
    fn memory_usage(&self) -> (usize, usize);
}

pub(crate) enum Event {
    Eval {
        id: EvalId,
        code: String,
        filename: Option<String>,
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
    /// Nothing to apply: check deadlines and stopped evaluations (or free a disposed sandbox).
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

pub(crate) struct EvalEntry {
    pub(crate) done: Option<Done>,
    pub(crate) deadline: Instant,
    pub(crate) timeout: Duration,
    /// Set when the evaluation was stopped from outside a turn (abort, dispose); `done` has
    /// already been called and the turn only has to forget it.
    pub(crate) stopped: bool,
    /// Set when a turn starts its script: before that, no running code can be its own.
    pub(crate) started: bool,
    pub(crate) on_start: Option<OnStart>,
}

/// State shared with the interrupt handler, which may run at any bytecode boundary.
pub(crate) struct Signals {
    epoch: Instant,
    /// Nanoseconds after `epoch` at which running bytecode is interrupted.
    pub(crate) deadline_ns: AtomicU64,
    /// Set while a turn runs jobs that no live evaluation awaits (continuations of stopped
    /// ones): such code stops at its first interrupt check.
    pub(crate) orphans: AtomicBool,
    pub(crate) disposed: AtomicBool,
    driver: Arc<dyn Driver>,
}

impl Signals {
    pub(crate) fn at(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether running code must stop now (see `Inner::refresh_deadline`; or orphaned jobs
    /// running, or disposed).
    pub(crate) fn should_interrupt(&self) -> bool {
        self.driver.poll_while_running();
        if self.orphans.load(Ordering::Acquire) || self.disposed.load(Ordering::Acquire) {
            return true;
        }
        let deadline = self.deadline_ns.load(Ordering::Acquire);
        deadline != u64::MAX && self.at(Instant::now()) >= deadline
    }
}

pub(crate) struct Inner {
    pub(crate) driver: Arc<dyn Driver>,
    pub(crate) state: Mutex<Option<State>>,
    /// What the first turn creates the runtime and realm from (see [`Sandbox::spawn`]).
    pub(crate) setup: Mutex<Option<Setup>>,
    /// Why the runtime could not be created: every evaluation rejects with it.
    pub(crate) failure: Mutex<Option<SandboxError>>,
    events: Mutex<VecDeque<Event>>,
    /// A turn is scheduled or running; cleared by the turn, under the state lock, when it
    /// finds no more events. So at most one turn is ever queued or running.
    pub(crate) scheduled: AtomicBool,
    pub(crate) evals: Mutex<HashMap<EvalId, EvalEntry>>,
    next_eval: AtomicU64,
    pub(crate) signals: Arc<Signals>,
    pub(crate) memory: Arc<MemoryStats>,
    pub(crate) timeout: Duration,
    pub(crate) max_stack: usize,
    /// The deadline timer armed now (see `Inner::arm`).
    pub(crate) armed: Mutex<Option<(Instant, TimerKey)>>,
    /// The shared runtime this sandbox's realm lives in, if it does not have its own.
    pub(crate) group: Option<Arc<Group>>,
}

/// A sandbox's runtime and realm, not created yet.
pub(crate) struct Setup {
    pub(crate) options: SandboxOptions,
    pub(crate) host: Arc<dyn Host>,
    /// A runtime prepared ahead to start from (see `spares.rs`).
    pub(crate) prepared: Option<crate::spares::Prepared>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One sandboxed JavaScript realm with its own QuickJS runtime.
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl Sandbox {
    /// Validates the options, creates the runtime and realm and installs globals, host
    /// functions, console, timers and `b`. Runs on the caller's thread; no sandboxed code runs.
    pub fn new(
        options: &SandboxOptions,
        host: Arc<dyn Host>,
        driver: Arc<dyn Driver>,
    ) -> Result<Sandbox, SandboxError> {
        options.validate()?;
        let inner = Inner::new(options, driver, None, None);
        let state = State::new(
            options,
            &inner,
            host,
            inner.memory.clone(),
            inner.signals.clone(),
            None,
            None,
        )?;
        *lock(&inner.state) = Some(state);
        Ok(Sandbox { inner })
    }

    /// Validates the options and returns at once: the runtime and realm are created by the
    /// driver, ahead of the first evaluation (so an embedder's thread never runs QuickJS, even
    /// to create it, and copying big `globals` in does not hold it). What only creation can
    /// find out (globals that do not fit the memory limit) rejects every evaluation, as a
    /// context in a worker process does.
    pub fn spawn(
        options: SandboxOptions,
        host: Arc<dyn Host>,
        driver: Arc<dyn Driver>,
    ) -> Result<Sandbox, SandboxError> {
        options.validate()?;
        let prepared = crate::spares::take(options.memory_limit_bytes, &driver);
        // A prepared runtime's allocator counts into its own stats (same limit): they are ours.
        let memory = prepared.as_ref().map(|p| p.memory.clone());
        let inner = Inner::new(&options, driver, None, memory);
        *lock(&inner.setup) = Some(Setup {
            options,
            host,
            prepared,
        });
        inner.push(Event::Wake);
        Ok(Sandbox { inner })
    }

    /// As [`Sandbox::spawn`], with the realm in `shared`'s runtime instead of a runtime of its
    /// own (see `group.rs`): the group's memory limit and stack budget replace the options'.
    pub fn spawn_shared(
        mut options: SandboxOptions,
        host: Arc<dyn Host>,
        shared: &SharedRuntime,
    ) -> Result<Sandbox, SandboxError> {
        options.memory_limit_bytes = shared.memory_limit();
        options.max_stack_bytes = shared.max_stack();
        options.validate()?;
        let group = shared.group.clone();
        let inner = Inner::new(&options, group.driver.clone(), Some(group), None);
        *lock(&inner.setup) = Some(Setup {
            options,
            host,
            prepared: None,
        });
        inner.push(Event::Wake);
        Ok(Sandbox { inner })
    }

    /// Evaluations not yet settled.
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.evals)
            .values()
            .filter(|e| !e.stopped)
            .count()
    }
}

impl SandboxHandle for Sandbox {
    fn evaluate(&self, code: String, options: EvalOptions, done: Done) -> EvalId {
        let inner = &self.inner;
        let id = inner.next_eval.fetch_add(1, Ordering::Relaxed);
        if inner.signals.disposed.load(Ordering::Acquire) {
            done(Err(SandboxError::Disposed));
            return id;
        }
        let timeout = options.timeout.unwrap_or(inner.timeout);
        let deadline = Instant::now() + timeout;
        {
            let mut evals = lock(&inner.evals);
            // Under the evaluations' lock, as the turn that records a failure drains them.
            let failed = lock(&inner.failure).clone();
            if let Some(error) = failed {
                drop(evals);
                done(Err(error));
                return id;
            }
            evals.insert(
                id,
                EvalEntry {
                    done: Some(done),
                    deadline,
                    timeout,
                    stopped: false,
                    started: false,
                    on_start: options.on_start,
                },
            );
            inner.refresh_deadline(&evals);
        }
        inner.arm(deadline);
        inner.push(Event::Eval {
            id,
            code,
            filename: options.filename,
        });
        id
    }

    fn abort(&self, id: EvalId) {
        self.inner.stop(id, SandboxError::Aborted);
    }

    fn dispose(&self) {
        self.inner.dispose();
    }

    fn is_disposed(&self) -> bool {
        self.inner.signals.disposed.load(Ordering::Acquire)
    }

    fn memory_usage(&self) -> (usize, usize) {
        (
            self.inner.memory.used.load(Ordering::Relaxed),
            self.inner.memory.limit,
        )
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.inner.dispose();
    }
}

impl Inner {
    fn new(
        options: &SandboxOptions,
        driver: Arc<dyn Driver>,
        group: Option<Arc<Group>>,
        memory: Option<Arc<MemoryStats>>,
    ) -> Arc<Inner> {
        let memory = match (&group, memory) {
            (Some(g), _) => g.memory.clone(),
            (None, Some(m)) => m,
            (None, None) => MemoryStats::new(options.memory_limit_bytes),
        };
        let signals = Arc::new(Signals {
            epoch: Instant::now(),
            deadline_ns: AtomicU64::new(u64::MAX),
            orphans: AtomicBool::new(false),
            disposed: AtomicBool::new(false),
            driver: driver.clone(),
        });
        Arc::new(Inner {
            driver,
            state: Mutex::new(None),
            setup: Mutex::new(None),
            failure: Mutex::new(None),
            events: Mutex::new(VecDeque::new()),
            scheduled: AtomicBool::new(false),
            evals: Mutex::new(HashMap::new()),
            next_eval: AtomicU64::new(1),
            signals,
            memory,
            timeout: options.timeout,
            max_stack: options.max_stack_bytes,
            armed: Mutex::new(None),
            group,
        })
    }

    pub(crate) fn push(self: &Arc<Self>, event: Event) {
        lock(&self.events).push_back(event);
        self.schedule();
    }

    /// Takes every queued event.
    pub(crate) fn take_events(&self) -> Vec<Event> {
        lock(&self.events).drain(..).collect()
    }

    pub(crate) fn has_events(&self) -> bool {
        !lock(&self.events).is_empty()
    }

    /// Queues a partial result, replacing one of the same call still waiting to be applied:
    /// a partial is a snapshot of the whole result so far, so a sandbox that falls behind a
    /// fast stream sees the newest one, and memory holds one snapshot per call, not every one
    /// the stream produced meanwhile (with a 64 MiB answer, hundreds of MB under load).
    pub(crate) fn push_partial(self: &Arc<Self>, id: u64, value: Value) {
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

    pub(crate) fn schedule(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        match &self.group {
            Some(group) => group.ready(self.clone()),
            None => self.driver.schedule(self.clone()),
        }
    }

    /// Recomputes when running code is interrupted: at the latest deadline of the live
    /// evaluations whose script has started, at once if there is none but some evaluation is
    /// in flight (whatever runs then is left over from stopped ones), never without any (the
    /// turn sets its own bound then). Callers hold `evals`.
    ///
    /// Not at the earliest deadline: evaluations in flight together share the realm, and
    /// nothing tells whose code is running. An interrupt ends whatever runs, and an async
    /// function it ends never settles, so interrupting for one evaluation's deadline or abort
    /// could leave another, whose code happened to be running, waiting for its own deadline
    /// with nothing left to wake it. An evaluation whose deadline passes, or that is aborted,
    /// still settles on time (the deadline timer stops it); code it left running goes on, as
    /// one async function's busy loop holds up the others on an event loop, until no
    /// evaluation is live.
    pub(crate) fn refresh_deadline(&self, evals: &HashMap<EvalId, EvalEntry>) {
        let latest = evals
            .values()
            .filter(|e| !e.stopped && e.started)
            .map(|e| e.deadline)
            .max();
        let ns = match latest {
            Some(d) => self.signals.at(d),
            None if evals.is_empty() => u64::MAX,
            None => 0,
        };
        self.signals.deadline_ns.store(ns, Ordering::Release);
    }

    pub(crate) fn stop(self: &Arc<Self>, id: EvalId, error: SandboxError) {
        let done = {
            let mut evals = lock(&self.evals);
            let Some(entry) = evals.get_mut(&id) else {
                return;
            };
            if entry.stopped {
                return;
            }
            entry.stopped = true;
            let done = entry.done.take();
            self.refresh_deadline(&evals);
            done
        };
        if let Some(done) = done {
            done(Err(error));
        }
        self.push(Event::Wake);
    }

    pub(crate) fn dispose(self: &Arc<Self>) {
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
        let dropped = self.take_events();
        drop(dropped);
        if let Some((_, key)) = lock(&self.armed).take() {
            self.driver.cancel_timer(key);
        }
        // The runtime is freed by a turn, on a driver thread (a big heap takes a while to
        // free, and the caller may be Node's thread). A turn running now frees it when it ends.
        self.push(Event::Wake);
    }
}
