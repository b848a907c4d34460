//! Node's thread's work queue: everything sandboxes, worker processes and BAML calls hand to
//! Node (settling promises, calling host functions and `onConsole`) goes through one mailbox
//! per environment.
//!
//! - One threadsafe function (napi-rs's, which is safe against environment teardown) wakes
//!   Node when the mailbox goes from empty to not empty; one wake-up drains every job queued
//!   meanwhile.
//! - Waking a sleeping thread costs tens of microseconds on small VMs whose idle CPUs halt, so
//!   Node's thread spins a little where an answer is likely to come at once: right after it
//!   starts an evaluation (`spin_for`), and after it drained jobs (a host function's answer is
//!   usually followed by the sandbox's next call). Whether it spins adapts: while more than a
//!   third of recent spins found a job, spins run their full length; past that, only one in
//!   [`PROBE_EVERY`] does (so a context whose evaluations take long costs no spinning, and one
//!   whose answers come back quickly again is noticed). A spin never runs longer
//!   than [`MAX_SPIN`], and one drain never holds Node's thread longer than [`MAX_DRAIN`].
//! - Jobs that run user JavaScript (host functions, `onConsole`, `onPartial`) run only from the
//!   event loop, never inside a call into the addon: a spin inside `evaluate()` runs
//!   settlements only.
//! - The threadsafe function is unreferenced while nothing is in flight, so an idle addon never
//!   keeps Node alive; `hold()`/`release()` reference it while evaluations or calls are pending.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};

/// The longest a spin waits for a job.
const MAX_SPIN: Duration = Duration::from_micros(60);
/// How often a spin runs for [`MAX_SPIN`] when spinning has not been paying (see
/// `Mailbox::spin`).
const PROBE_EVERY: u32 = 8;
/// What a spin that found a job adds to the score (one that did not takes one off).
const HIT: u32 = 2;
/// The highest score: after a run of spins that paid, this many misses in a row stop spinning.
const MAX_SCORE: u32 = 8;
/// The longest one wake-up keeps Node's thread draining and spinning before it lets the event
/// loop run (and schedules itself again if jobs are left).
const MAX_DRAIN: Duration = Duration::from_millis(2);

/// What a job does on Node's thread.
pub(crate) type JobFn = Box<dyn FnOnce(&Env) + Send>;

pub(crate) enum Job {
    /// Settles a promise: safe anywhere on Node's thread, even inside a call into the addon.
    Settle(JobFn),
    /// Runs user JavaScript: only from the event loop.
    Call(JobFn),
}

/// Something to poll while Node's thread spins: a worker process's socket, read without
/// waiting (its messages become jobs). See `SandboxHandle::poll` in the process crate.
pub(crate) trait SpinSource: Send + Sync {
    /// Reads what is there without blocking; true if anything was read.
    fn poll(&self) -> bool;
}

type Wake = ThreadsafeFunction<(), (), (), Status, false, true, 0>;
/// `setImmediate`, and the function it is given (see `Mailbox::later`).
type Later = (
    FunctionRef<Unknown<'static>, Unknown<'static>>,
    FunctionRef<(), ()>,
);

/// The receiving end of the queue, used on Node's thread only (the mutex around it is never
/// contended), with one job looked at and not yet taken.
struct Inbox {
    rx: Receiver<Job>,
    front: Option<Job>,
}

impl Inbox {
    fn peek(&mut self) -> Option<&Job> {
        if self.front.is_none() {
            self.front = self.rx.try_recv().ok();
        }
        self.front.as_ref()
    }

    fn is_empty(&mut self) -> bool {
        self.peek().is_none()
    }
}

pub(crate) struct Mailbox {
    /// The queue's sending end. Sending takes no lock (std's channel locks only to wake a
    /// receiver blocked in `recv`, and Node's thread only ever uses `try_recv`): a sandbox or
    /// I/O thread, at a lower priority than Node's, preempted while holding a lock Node's
    /// thread wants would stall the event loop until it ran again.
    tx: Sender<Job>,
    inbox: Mutex<Inbox>,
    /// A wake-up is pending: the threadsafe function was called and its callback has not
    /// started draining yet.
    signalled: AtomicBool,
    /// Node's thread is spinning on this mailbox: it sees new jobs without a wake-up.
    spinning: AtomicBool,
    /// Whether spinning pays lately: up by [`HIT`] for a spin that found a job, down by one
    /// for one that did not, within 0..=[`MAX_SCORE`]. Spins run their full length while it
    /// is above zero, that is while more than a third of them pay (see `spin`).
    score: AtomicU32,
    /// Spins since the last full-length one (see `spin`).
    probe: AtomicU32,
    wake: Mutex<Option<Wake>>,
    /// `setImmediate` and a function that drains the mailbox: a drain that used up its time
    /// continues from the event loop's next turn, so timers and I/O run in between (calling
    /// the threadsafe function again from its own callback would run it at once).
    later: Mutex<Option<Later>>,
    /// Sources polled while spinning after a drain (the worker processes that just got an
    /// answer from Node).
    hot: Mutex<Vec<Weak<dyn SpinSource>>>,
}

thread_local! {
    static MAILBOX: RefCell<Option<Arc<Mailbox>>> = const { RefCell::new(None) };
    /// Node's thread is reading a worker's socket while it spins (see `polling_for_node`).
    static POLLING: Cell<bool> = const { Cell::new(false) };
    /// Operations in flight on this thread's environment (see `hold`).
    static HELD: Cell<usize> = const { Cell::new(0) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether Node's thread is handling what a worker process sent while it spins: work that
/// would normally start on the thread at hand (a BAML call's first poll) goes to tokio
/// instead, since a worker can send a thousand calls in one read.
pub(crate) fn polling_for_node() -> bool {
    POLLING.with(Cell::get)
}

/// The mailbox of the calling thread's environment, created on first use.
pub(crate) fn mailbox(env: &Env) -> Result<Arc<Mailbox>> {
    if let Some(m) = MAILBOX.with(|m| m.borrow().clone()) {
        return Ok(m);
    }
    let (tx, rx) = channel();
    let mailbox = Arc::new(Mailbox {
        tx,
        inbox: Mutex::new(Inbox { rx, front: None }),
        signalled: AtomicBool::new(false),
        spinning: AtomicBool::new(false),
        score: AtomicU32::new(MAX_SCORE),
        probe: AtomicU32::new(0),
        wake: Mutex::new(None),
        later: Mutex::new(None),
        hot: Mutex::new(Vec::new()),
    });
    let noop = env.create_function_from_closure::<(), (), _>("bamlQuickjsWake", |_| Ok(()))?;
    let weak = Arc::downgrade(&mailbox);
    let wake: Wake = noop
        .build_threadsafe_function::<()>()
        .weak::<true>()
        .callee_handled::<false>()
        .build_callback(move |ctx| {
            if let Some(m) = weak.upgrade() {
                m.on_wake(&ctx.env);
            }
            Ok(())
        })?;
    *lock(&mailbox.wake) = Some(wake);
    let weak = Arc::downgrade(&mailbox);
    let drain = env.create_function_from_closure::<(), (), _>("bamlQuickjsDrain", move |ctx| {
        if let Some(m) = weak.upgrade() {
            m.on_wake(ctx.env);
        }
        Ok(())
    })?;
    let set_immediate: Function<Unknown, Unknown> =
        env.get_global()?.get_named_property("setImmediate")?;
    *lock(&mailbox.later) = Some((set_immediate.create_ref()?, drain.create_ref()?));
    MAILBOX.with(|m| *m.borrow_mut() = Some(mailbox.clone()));
    Ok(mailbox)
}

impl Mailbox {
    /// Queues a job for Node's thread (from any thread). Dropped unrun if the environment is
    /// gone.
    pub(crate) fn post(&self, job: Job) {
        // The receiver lives as long as the mailbox.
        let _ = self.tx.send(job);
        if self.spinning.load(Ordering::SeqCst) {
            return;
        }
        self.signal();
    }

    fn signal(&self) {
        if self.signalled.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(wake) = lock(&self.wake).as_ref() {
            wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    /// Marks `source` as worth polling when Node's thread next spins after a drain.
    pub(crate) fn mark_hot(&self, source: Weak<dyn SpinSource>) {
        let mut hot = lock(&self.hot);
        if !hot.iter().any(|h| Weak::ptr_eq(h, &source)) {
            hot.push(source);
        }
    }

    /// Keeps Node's loop alive until the matching `release` (Node thread only).
    pub(crate) fn hold(&self, env: &Env) {
        let n = HELD.with(|h| {
            h.set(h.get() + 1);
            h.get()
        });
        if n == 1 {
            if let Some(wake) = lock(&self.wake).as_mut() {
                #[allow(
                    deprecated,
                    reason = "the mailbox is shared; it is referenced only while work is in flight"
                )]
                let _ = wake.refer(env);
            }
        }
    }

    pub(crate) fn release(&self, env: &Env) {
        let n = HELD.with(|h| {
            h.set(h.get().saturating_sub(1));
            h.get()
        });
        if n == 0 {
            if let Some(wake) = lock(&self.wake).as_mut() {
                #[allow(
                    deprecated,
                    reason = "the mailbox is shared; it is referenced only while work is in flight"
                )]
                let _ = wake.unref(env);
            }
        }
    }

    /// Runs queued jobs; with `calls` false, stops before the first `Call` job. Returns how
    /// many ran, and whether a `Call` job is waiting.
    fn drain(&self, env: &Env, calls: bool, until: Instant) -> (usize, bool) {
        let mut ran = 0;
        loop {
            let job = {
                let mut inbox = lock(&self.inbox);
                match inbox.peek() {
                    None => return (ran, false),
                    Some(Job::Call(_)) if !calls => return (ran, true),
                    Some(_) => inbox.front.take(),
                }
            };
            let Some(Job::Settle(f) | Job::Call(f)) = job else {
                return (ran, false);
            };
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(env)));
            ran += 1;
            if Instant::now() >= until {
                let waiting = !lock(&self.inbox).is_empty();
                return (ran, waiting);
            }
        }
    }

    /// The threadsafe function's callback: drain, then spin for more while it pays.
    fn on_wake(&self, env: &Env) {
        self.signalled.store(false, Ordering::SeqCst);
        let until = Instant::now() + MAX_DRAIN;
        self.drain(env, true, until);
        let hot: Vec<Arc<dyn SpinSource>> = {
            let mut hot = lock(&self.hot);
            let live = hot.drain(..).filter_map(|h| h.upgrade()).collect();
            live
        };
        loop {
            if Instant::now() >= until {
                break;
            }
            if !self.spin(env, &hot, |_| false, true, until) {
                break;
            }
        }
        // Anything posted while no one was spinning or signalled is picked up here.
        if !lock(&self.inbox).is_empty() {
            if Instant::now() >= until {
                self.continue_later(env);
            } else {
                self.signal();
            }
        }
    }

    /// Drains again from the event loop's next turn (see `later`).
    fn continue_later(&self, env: &Env) {
        if self.signalled.swap(true, Ordering::SeqCst) {
            return;
        }
        let scheduled = lock(&self.later)
            .as_ref()
            .is_some_and(|(set_immediate, drain)| {
                match (set_immediate.borrow_back(env), drain.borrow_back(env)) {
                    (Ok(set_immediate), Ok(drain)) => {
                        set_immediate.call(drain.to_unknown()).is_ok()
                    }
                    _ => false,
                }
            });
        if !scheduled {
            self.signalled.store(false, Ordering::SeqCst);
            self.signal();
        }
    }

    /// Spins (adaptively) until a job arrives and runs what it can. Returns whether the spin
    /// found work; `done` ends it early (checked after each drain).
    fn spin(
        &self,
        env: &Env,
        sources: &[Arc<dyn SpinSource>],
        done: impl Fn(&Self) -> bool,
        calls: bool,
        until: Instant,
    ) -> bool {
        // A spin that stopped paying still looks for 2 µs, and one in PROBE_EVERY spins for
        // the full MAX_SPIN, so that the score can rise again when answers come back quickly.
        let budget = if self.score.load(Ordering::Relaxed) > 0
            || self
                .probe
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(PROBE_EVERY)
        {
            MAX_SPIN
        } else {
            Duration::ZERO
        };
        let end = (Instant::now() + budget.max(Duration::from_micros(2))).min(until);
        self.spinning.store(true, Ordering::SeqCst);
        let mut found = false;
        let mut spins = 0u32;
        loop {
            POLLING.with(|p| p.set(true));
            for s in sources {
                s.poll();
            }
            POLLING.with(|p| p.set(false));
            if !lock(&self.inbox).is_empty() {
                let (ran, call_waiting) = self.drain(env, calls, until);
                if ran > 0 {
                    found = true;
                }
                if call_waiting && !calls {
                    break;
                }
                if found && done(self) {
                    break;
                }
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(16) && Instant::now() >= end {
                break;
            }
            std::hint::spin_loop();
        }
        self.spinning.store(false, Ordering::SeqCst);
        self.adapt(found);
        found
    }

    fn adapt(&self, paid: bool) {
        let now = self.score.load(Ordering::Relaxed);
        let next = if paid {
            (now + HIT).min(MAX_SCORE)
        } else {
            now.saturating_sub(1)
        };
        self.score.store(next, Ordering::Relaxed);
    }

    /// Spins on Node's thread inside a call into the addon (after starting an evaluation),
    /// running settlements only, until `done` says the one it waits for ran or the spin
    /// budget is used up. Jobs left over (a host call) wake the loop as usual.
    pub(crate) fn spin_for(
        &self,
        env: &Env,
        source: Option<Arc<dyn SpinSource>>,
        done: impl Fn(&Self) -> bool,
    ) {
        let sources: Vec<Arc<dyn SpinSource>> = source.into_iter().collect();
        let until = Instant::now() + MAX_SPIN;
        self.spin(env, &sources, done, false, until);
        if !lock(&self.inbox).is_empty() {
            self.signal();
        }
    }
}

#[cfg(target_os = "linux")]
impl SpinSource for sandbox_process::RemoteSandbox {
    fn poll(&self) -> bool {
        sandbox_process::RemoteSandbox::poll(self)
    }
}
