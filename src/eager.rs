//! Starting a BAML call on the calling thread.
//!
//! `tokio::spawn` from Node's thread queues the task and wakes a sleeping worker thread to run
//! it: a system call on Node's thread, then a wake-up latency before the request goes out.
//! [`spawn_call`] instead polls the call once right here: it renders the prompt and writes the
//! request, and the future is handed to tokio only when something wakes it (the answer
//! arriving), on the thread that woke it. A call that cannot go further without waiting never
//! costs a worker wake-up of its own.
//!
//! The first poll runs on the calling thread (Node's, or the tokio worker running a sandbox
//! turn), so two kinds of call are still spawned on tokio's workers as before:
//! - calls started while [`EAGER_MAX`] or more calls are already in flight in the process (a
//!   `Promise.all` of hundreds, a loop firing calls), so that connecting, rendering and
//!   writing them is spread over every core and paced by it;
//! - calls whose arguments hold more than [`SMALL_ARGS`] bytes of text, whose rendering takes
//!   real time;
//! - calls a worker process asked for that Node's thread read while it spun for an answer
//!   (`mailbox::polling_for_node`): Node's thread must not render a thousand prompts.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Wake, Waker};

use tokio::runtime::Handle;

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

enum State {
    /// The first poll is running; `true` once it has been woken meanwhile.
    Polling(bool),
    /// Pending, and nothing has woken it since.
    Parked(Task),
    /// Being handed to tokio (outside the lock: spawning on a runtime that has shut down drops
    /// the task at once, and its drops may wake this very waker).
    Spawning,
    /// Handed to tokio.
    Running(tokio::task::AbortHandle),
    /// Finished, or cancelled.
    Done,
}

struct Shared {
    state: Mutex<State>,
    handle: Handle,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let task = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, State::Spawning) {
                State::Parked(task) => task,
                State::Polling(_) => {
                    *state = State::Polling(true);
                    return;
                }
                other => {
                    *state = other;
                    return;
                }
            }
        };
        self.spawn(task);
    }
}

impl Shared {
    /// Hands `task` to tokio; the state must be `Spawning`. If the call was cancelled
    /// meanwhile (the state is `Done`), the spawned task is aborted.
    fn spawn(&self, task: Task) {
        let running = self.handle.spawn(task).abort_handle();
        let mut state = self.lock();
        if matches!(*state, State::Spawning) {
            *state = State::Running(running);
        } else {
            drop(state);
            running.abort();
        }
    }
}

/// Dropping it cancels the call wherever it is, unless it is [`detach`](EagerGuard::detach)ed.
pub(crate) struct EagerGuard(Arc<Shared>, bool);

impl EagerGuard {
    /// Lets the call run to its end on its own (it holds what it needs).
    pub(crate) fn detach(mut self) {
        self.1 = false;
    }
}

impl Drop for EagerGuard {
    fn drop(&mut self) {
        if !self.1 {
            return;
        }
        let old = std::mem::replace(&mut *self.0.lock(), State::Done);
        match old {
            State::Running(h) => h.abort(),
            // Dropped here, outside the lock: the task's own drops may take time, and may wake
            // its waker (which then finds `Done`).
            State::Parked(task) => drop(task),
            // `Spawning` sees `Done` and aborts what it spawned.
            State::Polling(_) | State::Spawning | State::Done => {}
        }
    }
}

/// Calls are started on the calling thread only while fewer than this many are in flight.
const EAGER_MAX: usize = 8;

/// BAML calls started by [`spawn_call`] and not finished or dropped yet.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Counts a call in flight until it is dropped (finished or cancelled).
struct InFlight;

impl InFlight {
    /// Counts one more; whether fewer than [`EAGER_MAX`] were in flight before it.
    fn start() -> (InFlight, bool) {
        let before = IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        (InFlight, before < EAGER_MAX)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Arguments up to this much text (roughly, in bytes) may be rendered on the calling thread.
const SMALL_ARGS: usize = 16 * 1024;

/// Whether `args` are small enough to render on the calling thread.
pub(crate) fn small_args(args: &serde_json::Map<String, serde_json::Value>) -> bool {
    fn take(budget: &mut usize, n: usize) -> bool {
        budget.checked_sub(n).is_some_and(|left| {
            *budget = left;
            true
        })
    }
    fn fits(v: &serde_json::Value, budget: &mut usize) -> bool {
        use serde_json::Value as J;
        match v {
            J::String(s) => take(budget, s.len()),
            J::Array(items) => take(budget, 8) && items.iter().all(|x| fits(x, budget)),
            J::Object(map) => {
                take(budget, 8)
                    && map
                        .iter()
                        .all(|(k, x)| take(budget, k.len()) && fits(x, budget))
            }
            _ => take(budget, 8),
        }
    }
    let mut budget = SMALL_ARGS;
    args.values().all(|v| fits(v, &mut budget))
}

/// Runs `fut` on this thread until it first waits, then lets the addon's tokio runtime finish
/// it; with `small` false or many calls in flight, spawns it there (see the module docs).
pub(crate) fn spawn_call(
    small: bool,
    fut: impl Future<Output = ()> + Send + 'static,
) -> EagerGuard {
    let handle = crate::tokio_handle();
    // The first poll creates timers and sockets: they need the runtime's context.
    let _in_runtime = handle.enter();
    let (counted, few) = InFlight::start();
    let fut = async move {
        let _counted = counted;
        fut.await;
    };
    if !small || !few || crate::mailbox::polling_for_node() {
        let task = handle.spawn(fut).abort_handle();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::Running(task)),
            handle,
        });
        return EagerGuard(shared, true);
    }
    let shared = Arc::new(Shared {
        state: Mutex::new(State::Polling(false)),
        handle,
    });
    let waker = Waker::from(Arc::clone(&shared));
    let mut task: Task = Box::pin(fut);
    // A panic ends the call as if it had been spawned and panicked there: nothing replies.
    let ready = catch_unwind(AssertUnwindSafe(|| {
        task.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
    }))
    .unwrap_or(true);
    if ready {
        *shared.lock() = State::Done;
        drop(task);
        return EagerGuard(shared, true);
    }
    let woken = {
        let mut state = shared.lock();
        if matches!(*state, State::Polling(true)) {
            *state = State::Spawning;
            Some(task)
        } else {
            *state = State::Parked(task);
            None
        }
    };
    if let Some(task) = woken {
        shared.spawn(task);
    }
    EagerGuard(shared, true)
}
