//! What the current thread's turn is: its stack budget, and what natives check while it runs.
//!
//! QuickJS compares the stack pointer against `stack_top - maxStackBytes`. rquickjs's
//! `parallel` feature moved `stack_top` to the current frame on every Rust -> JS call, so a
//! recursion passing through our own natives (`JSON.stringify` -> `toJSON` -> `JSON.stringify`)
//! got a fresh budget at each level until the thread's real stack overflowed. This crate does
//! not use that feature: a turn sets the top once, where it starts ([`enter`]), and nothing
//! moves it until the turn ends. Between two of QuickJS's checks (each call of a JS function),
//! only our own Rust code runs: recursion bounded by `MAX_DEPTH` (copying values) or smaller.
//! That code checks [`exhausted`], which allows it [`RUST_SLACK`] bytes past QuickJS's limit,
//! room for the deepest such recursion of a debug build. Threads that run turns have
//! [`SANDBOX_THREAD_STACK`] bytes: the largest budget plus the slack plus room to spare.
//!
//! [`SANDBOX_THREAD_STACK`]: crate::SANDBOX_THREAD_STACK

use std::cell::Cell;

use rquickjs::qjs;

use crate::alloc::MemoryStats;
use crate::sandbox::Signals;

/// How far past QuickJS's stack limit our own Rust recursion may go (see the module docs):
/// copying a value 512 levels deep takes about 3 MB in a debug build, 0.3 MB optimized.
const RUST_SLACK: usize = 6 << 20;

#[derive(Clone, Copy)]
struct Turn {
    /// The lowest stack address the turn's Rust code may use.
    limit: usize,
    signals: *const Signals,
    memory: *const MemoryStats,
    /// The longest array (or array-like) a dense array could be in this sandbox's heap.
    max_elements: u64,
    /// QuickJS's stack budget for the turn (`maxStackBytes`).
    max_stack: usize,
}

thread_local! {
    static CURRENT: Cell<Option<Turn>> = const { Cell::new(None) };
    /// Where the innermost copy in progress began (see [`beyond_copy`]).
    static COPY_START: Cell<Option<usize>> = const { Cell::new(None) };
    /// How far QuickJS's stack budget is raised now, for JavaScript a copy calls.
    static RAISED: Cell<usize> = const { Cell::new(0) };
    /// QuickJS's stack budget while a realm is created (outside any turn; see [`creating`]).
    static CREATING: Cell<Option<usize>> = const { Cell::new(None) };
    /// The accounting of the realm being created (see [`creating_memory`]).
    static CREATING_MEMORY: Cell<Option<*const MemoryStats>> = const { Cell::new(None) };
}

/// About where the stack pointer is now.
#[inline(never)]
fn stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(std::ptr::addr_of!(marker)) as usize
}

/// Ends the turn's budget when dropped (restoring an enclosing one, if any).
pub(crate) struct TurnGuard {
    previous: Option<Turn>,
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Starts a turn here: QuickJS's stack top moves to this frame, Rust recursion below gets the
/// same limit, guarded built-ins (`guards.rs`) check `signals`, and compiling (`compile.rs`)
/// finds `memory`. Both must outlive the guard.
pub(crate) fn enter(
    rt: *mut qjs::JSRuntime,
    max_stack_bytes: usize,
    signals: &Signals,
    memory: &MemoryStats,
) -> TurnGuard {
    // SAFETY: the caller holds the runtime (a turn runs with the sandbox's state locked).
    unsafe { qjs::JS_UpdateStackTop(rt) };
    let turn = Turn {
        limit: stack_pointer().saturating_sub(max_stack_bytes + RUST_SLACK),
        signals: std::ptr::from_ref(signals),
        memory: std::ptr::from_ref(memory),
        // QuickJS stores a dense array's elements as 16-byte values.
        max_elements: (memory.limit / 16) as u64,
        max_stack: max_stack_bytes,
    };
    TurnGuard {
        previous: CURRENT.with(|c| c.replace(Some(turn))),
    }
}

/// Whether Rust code running in a turn has used up the turn's stack budget (and its slack).
pub(crate) fn exhausted() -> bool {
    CURRENT
        .with(Cell::get)
        .is_some_and(|t| stack_pointer() < t.limit)
}

/// Whether the running turn must stop (deadline, abort, dispose); false outside turns.
pub(crate) fn should_interrupt() -> bool {
    // SAFETY: `signals` outlives the turn's guard, which clears it when the turn ends.
    CURRENT
        .with(Cell::get)
        .is_some_and(|t| unsafe { &*t.signals }.should_interrupt())
}

/// The longest array-like a generic built-in may walk in this turn (`u64::MAX` outside turns).
pub(crate) fn max_elements() -> u64 {
    CURRENT.with(Cell::get).map_or(u64::MAX, |t| t.max_elements)
}

/// Runs `f` with the running turn's memory accounting; `None` outside turns.
pub(crate) fn with_memory<R>(f: impl FnOnce(&MemoryStats) -> R) -> Option<R> {
    // SAFETY: `memory` outlives the turn's guard, which clears it when the turn ends.
    CURRENT.with(Cell::get).map(|t| f(unsafe { &*t.memory }))
}

/// The most [`beyond_copy`] raises QuickJS's budget: the slack less room for QuickJS's own
/// native frames between its checks.
const COPY_RAISE: usize = RUST_SLACK - (1 << 20);

/// Marks where a copy (in or out of the sandbox) begins, until dropped.
pub(crate) struct CopyScope {
    previous: Option<usize>,
}

impl CopyScope {
    pub(crate) fn enter() -> CopyScope {
        CopyScope {
            previous: COPY_START.with(|c| c.replace(Some(stack_pointer()))),
        }
    }
}

impl Drop for CopyScope {
    fn drop(&mut self) {
        COPY_START.with(|c| c.set(self.previous));
    }
}

/// Runs `f`, JavaScript that a copy calls (a `Map`'s `forEach`, an error's getters, a
/// constructor), with QuickJS's stack budget raised by the stack the copy's own recursion took
/// since it began: that recursion is Rust's (bounded by `MAX_DEPTH`, and by [`exhausted`]),
/// not the script's, and an unoptimized build takes most of the budget for it 500 levels down.
/// The raise never passes `COPY_RAISE`, so QuickJS's limit stays within the turn's limit plus
/// its slack, as Rust's does: the thread's stack holds both.
pub(crate) fn beyond_copy<R>(ctx: &rquickjs::Ctx<'_>, f: impl FnOnce() -> R) -> R {
    let max_stack = CURRENT
        .with(Cell::get)
        .map(|t| t.max_stack)
        .or_else(|| CREATING.with(Cell::get));
    let (Some(max_stack), Some(start)) = (max_stack, COPY_START.with(Cell::get)) else {
        return f();
    };
    let extra = start.saturating_sub(stack_pointer()).min(COPY_RAISE);
    let previous = RAISED.with(Cell::get);
    if extra <= previous {
        return f();
    }
    // SAFETY: the runtime of the context this thread holds, in its turn.
    let rt = unsafe { qjs::JS_GetRuntime(ctx.as_raw().as_ptr()) };
    let set = |extra: usize| {
        RAISED.with(|r| r.set(extra));
        let size =
            qjs::size_t::try_from(max_stack.saturating_add(extra)).unwrap_or(qjs::size_t::MAX);
        // SAFETY: as above; QuickJS recomputes its limit from the turn's stack top.
        unsafe { qjs::JS_SetMaxStackSize(rt, size) };
    };
    set(extra);
    let out = f();
    set(previous);
    out
}

/// Marks a realm's creation (its `globals` are copied in outside any turn) until dropped:
/// [`beyond_copy`] then knows QuickJS's budget, `max_stack`, and [`creating_memory`] the
/// realm's accounting. `memory` must outlive the guard.
pub(crate) struct Creating {
    previous: Option<usize>,
    previous_memory: Option<*const MemoryStats>,
}

pub(crate) fn creating(max_stack: usize, memory: &MemoryStats) -> Creating {
    Creating {
        previous: CREATING.with(|c| c.replace(Some(max_stack))),
        previous_memory: CREATING_MEMORY.with(|c| c.replace(Some(std::ptr::from_ref(memory)))),
    }
}

impl Drop for Creating {
    fn drop(&mut self) {
        CREATING.with(|c| c.set(self.previous));
        CREATING_MEMORY.with(|c| c.set(self.previous_memory));
    }
}

/// Runs `f` with the accounting of the running turn or, outside turns, of the realm being
/// created; `None` outside both.
pub(crate) fn with_any_memory<R>(f: impl FnOnce(&MemoryStats) -> R) -> Option<R> {
    if let Some(t) = CURRENT.with(Cell::get) {
        // SAFETY: `memory` outlives the turn's guard, which clears it when the turn ends.
        return Some(f(unsafe { &*t.memory }));
    }
    // SAFETY: the creation's guard clears it before `memory` goes.
    CREATING_MEMORY.with(Cell::get).map(|m| f(unsafe { &*m }))
}
