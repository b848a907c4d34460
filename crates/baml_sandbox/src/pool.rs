//! The sandbox threads of in-process contexts.
//!
//! Turns never run on the embedder's thread (Node's), and never on the async runtime's worker
//! threads (a busy loop there would starve every other tenant's timers and HTTP calls). They
//! run here, on threads with [`SANDBOX_THREAD_STACK`] bytes of stack.
//!
//! - The pool grows when every thread is busy: at once up to one thread per CPU, and past that
//!   when work has waited [`STARVED`] for a thread. So a turn that runs long (up to its
//!   deadline) holds one thread and delays no other context by more than that, while a burst
//!   of short work (freeing a thousand disposed runtimes) does not start a thousand threads.
//!   Idle threads exit after a while.
//! - A thread that finishes its work spins for a short while before it parks, so the next
//!   turn (a host function's answer, the next `evaluate()`) does not pay a wake-up of a
//!   sleeping thread, which costs tens of microseconds on small VMs whose idle CPUs halt. At
//!   most one thread spins at a time.
//! - One timer thread fires every context's timers (`setTimeout`, deadlines).
//! - Sandbox threads run at a lower scheduling priority ([`NICE`]): on a machine whose CPUs
//!   are all busy running sandboxed code, Node's own thread still gets its share first.
//!
//! [`SANDBOX_THREAD_STACK`]: crate::SANDBOX_THREAD_STACK

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::driver::{Driver, Task, TimerFn, TimerKey, Timers};
use crate::options::SANDBOX_THREAD_STACK;

/// The niceness of sandbox threads (0 is normal, 19 the lowest priority): with a few busy
/// sandboxes per CPU, a thread at nice 0 (Node's) still gets nearly a CPU of its own.
pub const NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority to [`NICE`] (Linux: niceness is per
/// thread). Best effort: a refusal leaves it as it was.
pub fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid);
        if let Ok(tid) = libc::id_t::try_from(tid) {
            libc::setpriority(libc::PRIO_PROCESS, tid, NICE);
        }
    }
}

/// Grows the process's descriptor table to at least `slots` entries now, if the limit allows
/// (best effort, Unix). The kernel grows the table by doubling as descriptors are opened, and
/// in a threaded process each growth waits for an RCU grace period (10-40 ms measured here on 2
/// vCPUs), during which every thread opening a descriptor waits too. Done once at load, the
/// sockets of a flood of BAML calls never make Node's thread wait there (a 38 ms event-loop
/// stall in a file open was measured before).
pub fn reserve_descriptors(slots: u32) {
    #[cfg(unix)]
    // SAFETY: plain syscalls on a descriptor we own (stdin's duplicate, closed at once).
    unsafe {
        let Ok(top) = libc::c_int::try_from(slots.saturating_sub(1)) else {
            return;
        };
        let fd = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, top);
        if fd >= 0 {
            libc::close(fd);
        }
    }
    #[cfg(not(unix))]
    let _ = slots;
}

/// How long a thread with nothing to do spins before it parks.
const SPIN: Duration = Duration::from_micros(60);
/// How long a parked thread waits for work before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(20);
/// The most sandbox threads one pool runs. Past it, turns wait for a free thread.
pub const MAX_POOL_THREADS: usize = 512;
/// How long queued work waits for a busy pool before another thread is started for it (once
/// the pool has a thread per CPU).
const STARVED: Duration = Duration::from_millis(2);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A parked thread, and whether it was handed work.
struct Parked {
    thread: Thread,
    notified: AtomicBool,
}

#[derive(Default)]
struct Queue {
    tasks: VecDeque<Arc<dyn Task>>,
    idle: Vec<Arc<Parked>>,
    threads: usize,
    /// A starvation check is armed on the timer thread.
    check_armed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// `queue.tasks.len()`, readable without the lock by a spinning thread.
    queued: AtomicUsize,
    spinning: AtomicUsize,
    timers: Mutex<TimerState>,
    timer_wake: Condvar,
    name: String,
    /// Threads started at once when every thread is busy (one per CPU).
    eager: usize,
}

#[derive(Default)]
struct TimerState {
    timers: Timers,
    thread_started: bool,
}

/// The thread pool driver for in-process sandboxes (see the module docs).
#[derive(Clone)]
pub struct ThreadPool {
    shared: Arc<Shared>,
}

impl ThreadPool {
    /// A pool whose threads are named `name`.
    pub fn new(name: &str) -> ThreadPool {
        ThreadPool {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                queued: AtomicUsize::new(0),
                spinning: AtomicUsize::new(0),
                timers: Mutex::new(TimerState::default()),
                timer_wake: Condvar::new(),
                name: name.to_string(),
                eager: std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            }),
        }
    }

    /// Threads the pool runs now (busy, spinning or parked).
    pub fn threads(&self) -> usize {
        lock(&self.shared.queue).threads
    }
}

impl Driver for ThreadPool {
    fn schedule(&self, task: Arc<dyn Task>) {
        let shared = &self.shared;
        let mut queue = lock(&shared.queue);
        queue.tasks.push_back(task);
        shared.queued.store(queue.tasks.len(), Ordering::SeqCst);
        // A spinning thread takes it (it re-checks the queue after it stops spinning); but a
        // spinner takes one task, and may have taken another meanwhile: check back shortly.
        if shared.spinning.load(Ordering::SeqCst) > 0 {
            self.arm_starvation_check(queue);
            return;
        }
        if let Some(parked) = queue.idle.pop() {
            drop(queue);
            parked.notified.store(true, Ordering::Release);
            parked.thread.unpark();
            return;
        }
        if queue.threads >= MAX_POOL_THREADS {
            return;
        }
        if queue.threads >= shared.eager {
            // Busy, but maybe only for microseconds: check again shortly.
            self.arm_starvation_check(queue);
            return;
        }
        queue.threads += 1;
        drop(queue);
        spawn_thread(shared);
    }

    fn add_timer(&self, at: Instant, fire: TimerFn) -> TimerKey {
        let shared = &self.shared;
        let mut state = lock(&shared.timers);
        let earlier = state.timers.next_due().is_none_or(|due| at < due);
        let key = state.timers.add(at, fire);
        if !state.thread_started {
            state.thread_started = true;
            let timers = shared.clone();
            let started = std::thread::Builder::new()
                .name(format!("{}-timers", shared.name))
                .spawn(move || run_timers(&timers));
            if started.is_err() {
                state.thread_started = false;
            }
        } else if earlier {
            shared.timer_wake.notify_one();
        }
        key
    }

    fn cancel_timer(&self, key: TimerKey) {
        let fire = lock(&self.shared.timers).timers.cancel(key);
        drop(fire);
    }
}

impl ThreadPool {
    /// Looks again in [`STARVED`] whether queued work found a thread (once at a time).
    fn arm_starvation_check(&self, mut queue: MutexGuard<'_, Queue>) {
        if queue.check_armed {
            return;
        }
        queue.check_armed = true;
        drop(queue);
        let me = self.clone();
        self.add_timer(
            Instant::now() + STARVED,
            Box::new(move || me.check_starved()),
        );
    }

    /// Starts a thread if work has been waiting since the check was armed (see `STARVED`),
    /// and checks again while work is left waiting.
    fn check_starved(&self) {
        let shared = &self.shared;
        let mut queue = lock(&shared.queue);
        queue.check_armed = false;
        if queue.tasks.is_empty() {
            return;
        }
        if let Some(parked) = queue.idle.pop() {
            parked.notified.store(true, Ordering::Release);
            parked.thread.unpark();
        } else if queue.threads < MAX_POOL_THREADS {
            queue.threads += 1;
            drop(queue);
            spawn_thread(shared);
            queue = lock(&shared.queue);
        }
        // More may be waiting behind another long turn.
        if queue.check_armed {
            return;
        }
        queue.check_armed = true;
        drop(queue);
        let me = self.clone();
        self.add_timer(
            Instant::now() + STARVED,
            Box::new(move || me.check_starved()),
        );
    }
}

fn spawn_thread(shared: &Arc<Shared>) {
    let worker = shared.clone();
    let spawned = std::thread::Builder::new()
        .name(shared.name.clone())
        .stack_size(SANDBOX_THREAD_STACK)
        .spawn(move || run_worker(&worker));
    if spawned.is_err() {
        // Out of threads: the task stays queued for a thread that frees up.
        lock(&shared.queue).threads -= 1;
    }
}

fn pop(shared: &Shared) -> Option<Arc<dyn Task>> {
    if shared.queued.load(Ordering::SeqCst) == 0 {
        return None;
    }
    let mut queue = lock(&shared.queue);
    let task = queue.tasks.pop_front();
    shared.queued.store(queue.tasks.len(), Ordering::SeqCst);
    task
}

fn run_worker(shared: &Arc<Shared>) {
    lower_priority();
    loop {
        if let Some(task) = pop(shared) {
            // A panic in a task is the task's to report (sandboxes catch their own); it must
            // not take the thread's siblings' work down with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run()));
            continue;
        }
        if shared.spinning.fetch_add(1, Ordering::SeqCst) == 0 {
            let until = Instant::now() + SPIN;
            let mut spins = 0u32;
            while shared.queued.load(Ordering::SeqCst) == 0 {
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(64) {
                    if Instant::now() >= until {
                        break;
                    }
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
        shared.spinning.fetch_sub(1, Ordering::SeqCst);
        if shared.queued.load(Ordering::SeqCst) > 0 {
            continue;
        }
        let parked = {
            let mut queue = lock(&shared.queue);
            if !queue.tasks.is_empty() {
                continue;
            }
            let parked = Arc::new(Parked {
                thread: std::thread::current(),
                notified: AtomicBool::new(false),
            });
            queue.idle.push(parked.clone());
            parked
        };
        let deadline = Instant::now() + IDLE_EXIT;
        while !parked.notified.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            std::thread::park_timeout(deadline - now);
        }
        if parked.notified.load(Ordering::Acquire) {
            continue;
        }
        let mut queue = lock(&shared.queue);
        if parked.notified.load(Ordering::Acquire) {
            continue;
        }
        queue.idle.retain(|p| !Arc::ptr_eq(p, &parked));
        queue.threads -= 1;
        return;
    }
}

fn run_timers(shared: &Arc<Shared>) {
    let mut state = lock(&shared.timers);
    loop {
        let now = Instant::now();
        let due = state.timers.take_due(now);
        if !due.is_empty() {
            drop(state);
            for fire in due {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(fire));
            }
            state = lock(&shared.timers);
            continue;
        }
        state = match state.timers.next_due() {
            Some(at) => {
                shared
                    .timer_wake
                    .wait_timeout(state, at.saturating_duration_since(now))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared
                .timer_wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}
