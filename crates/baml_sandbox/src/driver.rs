//! Where and when turns run: the [`Driver`] a sandbox is given.
//!
//! A sandbox never picks a thread itself. When it has work (a new script, a host result, a
//! timer), it asks its driver to run it; the driver decides on which thread. In-process
//! contexts use the [`ThreadPool`](crate::ThreadPool) (sandbox threads, never the embedder's);
//! a worker process drives its one sandbox from its own loop. Either way a turn runs start to
//! end on one thread: no live stack ever moves between threads.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// Work a driver runs: a sandbox's pending turns.
pub trait Task: Send + Sync + 'static {
    fn run(self: Arc<Self>);
}

/// What a timer does when it fires (on whatever thread the driver fires timers).
pub type TimerFn = Box<dyn FnOnce() + Send>;

/// Identifies a timer for [`Driver::cancel_timer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerKey(u64);

/// Runs sandboxes' turns and fires their timers.
pub trait Driver: Send + Sync + 'static {
    /// Runs `task` soon, on a thread allowed to run sandboxed code (never the caller's when
    /// the caller is the embedder's own thread).
    fn schedule(&self, task: Arc<dyn Task>);
    /// Calls `fire` at `at` or soon after, unless cancelled first.
    fn add_timer(&self, at: Instant, fire: TimerFn) -> TimerKey;
    /// Cancels a timer; does nothing if it fired already.
    fn cancel_timer(&self, key: TimerKey);
    /// Called from the interrupt handler while sandboxed code runs (often: keep it cheap). A
    /// driver that must notice messages from outside during a long turn (a worker process
    /// reading its socket for an abort) does it here.
    fn poll_while_running(&self) {}
}

/// Timers ordered by due time, with cheap cancellation; the bookkeeping every driver needs.
#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    live: HashMap<u64, TimerFn>,
    next: u64,
}

impl Timers {
    pub fn add(&mut self, at: Instant, fire: TimerFn) -> TimerKey {
        self.next += 1;
        let id = self.next;
        self.heap.push(Reverse((at, id)));
        self.live.insert(id, fire);
        TimerKey(id)
    }

    /// Removes a timer; its callback is returned so that the caller drops it outside any lock.
    pub fn cancel(&mut self, key: TimerKey) -> Option<TimerFn> {
        let fire = self.live.remove(&key.0);
        // Cancelled entries stay in the heap until they reach its top; a context that sets and
        // clears timers in a loop must not grow it without bound.
        if self.heap.len() > 64 && self.heap.len() > 2 * self.live.len() {
            let live = &self.live;
            self.heap.retain(|Reverse((_, id))| live.contains_key(id));
        }
        fire
    }

    /// When the earliest live timer is due.
    pub fn next_due(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.heap.peek() {
            if self.live.contains_key(id) {
                return Some(*at);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes every timer due at `now`, in due order.
    pub fn take_due(&mut self, now: Instant) -> Vec<TimerFn> {
        let mut due = Vec::new();
        while let Some(Reverse((at, id))) = self.heap.peek() {
            if *at > now {
                break;
            }
            let id = *id;
            self.heap.pop();
            if let Some(fire) = self.live.remove(&id) {
                due.push(fire);
            }
        }
        due
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}
