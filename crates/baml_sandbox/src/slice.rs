//! Turns on the embedder's own thread, for a time slice.
//!
//! Handing every turn to a worker costs two thread wake-ups per evaluation (tens of µs each on
//! small VMs), far more than `1 + 1` itself. So when the embedder's thread (Node's) starts a
//! turn, it runs it right there, on a separate stack (a coroutine). If the turn is still running
//! when the slice ends, the interrupt handler suspends the coroutine mid-bytecode and a worker
//! thread resumes it: the caller is never blocked for longer than the slice, and no work is
//! lost or repeated.
//!
//! Moving a suspended turn moves the locks it holds (our state mutex and rquickjs's runtime
//! mutex) to another thread. Both are `std::sync::Mutex`, which on Linux is a futex word with no
//! owner, so unlocking from the resuming thread is sound there; this module is Linux-only.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::sandbox::{Inner, Signals};

/// How long a turn may run on the embedder's thread before it moves to a worker.
pub const SLICE: Duration = Duration::from_micros(500);
/// Coroutine stacks: room for QuickJS's stack limit (at most 4 MiB) and Rust frames. Memory is
/// reserved, not committed, and stacks are reused.
const STACK_SIZE: usize = 8 << 20;
const POOLED_STACKS: usize = 8;

static STACKS: Mutex<Vec<DefaultStack>> = Mutex::new(Vec::new());

fn take_stack() -> Option<DefaultStack> {
    if let Some(s) = STACKS.lock().unwrap_or_else(PoisonError::into_inner).pop() {
        return Some(s);
    }
    DefaultStack::new(STACK_SIZE).ok()
}

fn give_stack(stack: DefaultStack) {
    let mut pool = STACKS.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.len() < POOLED_STACKS {
        pool.push(stack);
    }
}

type TurnCoroutine = Coroutine<(), (), bool, DefaultStack>;

/// A suspended turn on its way to a worker.
struct Moving(TurnCoroutine);
// SAFETY: the coroutine's stack holds the turn's frames: our `Arc`s, the two mutex guards
// (sound to release from another thread on Linux, see the module docs) and QuickJS frames,
// which have no thread affinity once `JS_UpdateStackTop` points into the coroutine's own stack.
unsafe impl Send for Moving {}

/// Runs a turn here, in a slice. Returns false if the state was busy (a worker holds it), in
/// which case the caller schedules the turn on a worker as usual.
pub(crate) fn run_here(inner: &Arc<Inner>) -> bool {
    if let Err(TryLockError::WouldBlock) = inner.state.try_lock() {
        return false;
    }
    let Some(stack) = take_stack() else {
        return false;
    };
    let me = inner.clone();
    let mut co: TurnCoroutine =
        Coroutine::with_stack(stack, move |yielder: &Yielder<(), ()>, ()| {
            let guard = match me.state.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return false,
            };
            let signals = &me.signals;
            signals.yielder.store(
                std::ptr::from_ref(yielder).cast_mut().cast(),
                Ordering::Release,
            );
            signals
                .slice_end_ns
                .store(signals.at(Instant::now() + SLICE), Ordering::Release);
            // The yielder is cleared before the state is unlocked: the next turn may start on
            // another thread at once, and its interrupt handler must never find this
            // coroutine's yielder (it would suspend a coroutine it is not running on).
            me.run_turn_locked(guard, || {
                signals.slice_end_ns.store(u64::MAX, Ordering::Release);
                signals
                    .yielder
                    .store(std::ptr::null_mut(), Ordering::Release);
            });
            true
        });
    match co.resume(()) {
        CoroutineResult::Return(ran) => {
            give_stack(co.into_stack());
            if !ran {
                return false;
            }
        }
        CoroutineResult::Yield(()) => {
            let moving = Moving(co);
            inner.handle.spawn_blocking(move || {
                let mut moving = moving;
                while let CoroutineResult::Yield(()) = moving.0.resume(()) {}
                give_stack(moving.0.into_stack());
            });
        }
    }
    true
}

/// Called by the interrupt handler: if this turn runs in a slice that has ended, suspend it
/// here; it continues on a worker thread.
pub(crate) fn maybe_move_off_thread(signals: &Signals) {
    let end = signals.slice_end_ns.load(Ordering::Acquire);
    if end == u64::MAX || signals.at(Instant::now()) < end {
        return;
    }
    signals.slice_end_ns.store(u64::MAX, Ordering::Release);
    let y = signals.yielder.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if !y.is_null() {
        // SAFETY: set by `run_here` to the yielder of the coroutine this handler is running on,
        // and cleared before that coroutine returns.
        let yielder = unsafe { &*y.cast::<Yielder<(), ()>>() };
        yielder.suspend(());
    }
}
