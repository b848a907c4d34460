//! The allocator behind every sandbox: mimalloc (see below why not the C library's malloc,
//! except in a worker process), with our own byte accounting and limit.
//!
//! QuickJS's built-in limit works too, but when it trips, quickjs-ng sometimes throws `null`
//! (it cannot allocate the error), and by the time the rejection is seen the memory is freed
//! again, so nothing tells a memory bomb from `throw null`. Owning the allocator gives an exact
//! "the limit was hit" flag, and a live byte count that `memoryUsage()` reads without walking
//! the heap.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use rquickjs::allocator::Allocator;

use libmimalloc_sys::{mi_calloc, mi_free, mi_malloc, mi_realloc, mi_usable_size};

// QuickJS's memory comes from mimalloc, not the C library's malloc. With glibc, threads past
// its arena limit (8 per CPU) share arenas, the main one included: 30 busy sandbox threads
// holding the lock of Node's own arena (and preempted there, at their lower priority) made
// Node's thread wait in malloc 41 + 31 + 21 ms in a row, a 100 ms event-loop stall. mimalloc's
// heaps are per thread and its frees from other threads lock-free, so sandboxes never hold a
// lock Node's thread needs. A process of one sandbox (the worker of process isolation) has no
// such neighbour, and there mimalloc's pages per size class and thread cost ~200 KB more than
// the C library's: it calls `use_system_allocator` first.

extern "C" {
    #[link_name = "malloc"]
    fn sys_malloc(size: usize) -> *mut c_void;
    #[link_name = "calloc"]
    fn sys_calloc(count: usize, size: usize) -> *mut c_void;
    #[link_name = "realloc"]
    fn sys_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    #[link_name = "free"]
    fn sys_free(ptr: *mut c_void);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn malloc_usable_size(ptr: *mut c_void) -> usize;
    #[cfg(target_vendor = "apple")]
    fn malloc_size(ptr: *const c_void) -> usize;
    #[cfg(windows)]
    fn _msize(ptr: *mut c_void) -> usize;
}

/// Which allocator this process's sandboxes use, decided once: by `use_system_allocator`, or
/// else by the first allocation (mimalloc). Blocks must be freed by the allocator that made
/// them, so the choice never changes after it is made.
static MODE: AtomicU8 = AtomicU8::new(UNDECIDED);
const UNDECIDED: u8 = 0;
const MIMALLOC: u8 = 1;
const SYSTEM: u8 = 2;

/// Makes every sandbox of this process allocate with the C library's malloc rather than
/// mimalloc: for a process that hosts one sandbox and nothing else. Takes effect only before
/// the first sandbox allocation; returns whether the C library's malloc is the choice.
pub fn use_system_allocator() -> bool {
    match MODE.compare_exchange(UNDECIDED, SYSTEM, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => true,
        Err(mode) => mode == SYSTEM,
    }
}

/// Whether the C library's malloc is in use (fixing the choice to mimalloc if undecided).
fn system() -> bool {
    match MODE.load(Ordering::Relaxed) {
        MIMALLOC => false,
        SYSTEM => true,
        _ => {
            match MODE.compare_exchange(UNDECIDED, MIMALLOC, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => false,
                Err(mode) => mode == SYSTEM,
            }
        }
    }
}

unsafe fn malloc(size: usize) -> *mut c_void {
    if system() {
        unsafe { sys_malloc(size) }
    } else {
        unsafe { mi_malloc(size) }
    }
}

unsafe fn calloc(count: usize, size: usize) -> *mut c_void {
    if system() {
        unsafe { sys_calloc(count, size) }
    } else {
        unsafe { mi_calloc(count, size) }
    }
}

unsafe fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if system() {
        unsafe { sys_realloc(ptr, size) }
    } else {
        unsafe { mi_realloc(ptr, size) }
    }
}

unsafe fn free(ptr: *mut c_void) {
    if system() {
        unsafe { sys_free(ptr) }
    } else {
        unsafe { mi_free(ptr) }
    }
}

unsafe fn usable(ptr: *mut c_void) -> usize {
    if !system() {
        return unsafe { mi_usable_size(ptr) };
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return unsafe { malloc_usable_size(ptr) };
    #[cfg(target_vendor = "apple")]
    return unsafe { malloc_size(ptr) };
    #[cfg(windows)]
    return unsafe { _msize(ptr) };
}

/// Live accounting shared between the allocator (under the runtime lock) and readers.
#[derive(Debug)]
pub(crate) struct MemoryStats {
    pub(crate) used: AtomicUsize,
    pub(crate) limit: usize,
    /// Set when an allocation was refused for the limit; cleared by the turn that reports it.
    pub(crate) hit: AtomicBool,
    /// Allocations refused for the limit, ever.
    pub(crate) refusals: AtomicUsize,
    /// Collect garbage once `used` passes this (see `gc.rs`).
    pub(crate) next_gc: AtomicUsize,
    /// Bytes admitted past `limit` while QuickJS compiles code (see `compile.rs`); 0 otherwise.
    pub(crate) allowance: AtomicUsize,
    /// The most `used` has been since the last `reset_peak`.
    pub(crate) peak: AtomicUsize,
}

impl MemoryStats {
    pub(crate) fn new(limit: usize) -> Arc<MemoryStats> {
        Arc::new(MemoryStats {
            used: AtomicUsize::new(0),
            limit,
            hit: AtomicBool::new(false),
            refusals: AtomicUsize::new(0),
            next_gc: AtomicUsize::new(crate::gc::GC_FLOOR),
            allowance: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        })
    }

    fn admit(&self, extra: usize) -> bool {
        let used = self.used.load(Ordering::Relaxed);
        let bound = self
            .limit
            .saturating_add(self.allowance.load(Ordering::Relaxed));
        if self.limit > 0 && used.saturating_add(extra) > bound {
            self.hit.store(true, Ordering::Release);
            self.refusals.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    // `used` and `peak` have one writer at a time: the thread holding the runtime (QuickJS
    // allocates and frees only there, and so do the natives that `charge`), so a load and a
    // store update them; other threads only read. Read-modify-write instructions here cost
    // about 5% of a small evaluation's time, once QuickJS's own arenas were off.
    fn grew(&self, bytes: usize) {
        let now = self.used.load(Ordering::Relaxed) + bytes;
        self.used.store(now, Ordering::Relaxed);
        if now > self.peak.load(Ordering::Relaxed) {
            self.peak.store(now, Ordering::Relaxed);
        }
    }

    fn shrank(&self, bytes: usize) {
        let now = self.used.load(Ordering::Relaxed).saturating_sub(bytes);
        self.used.store(now, Ordering::Relaxed);
    }

    /// Counts `bytes` the sandbox's own Rust code holds for a while (a native's working copy of
    /// its input) as used, if they fit under the limit; [`MemoryStats::release`] gives them back.
    pub(crate) fn charge(&self, bytes: usize) -> bool {
        if !self.admit(bytes) {
            return false;
        }
        self.grew(bytes);
        true
    }

    /// Gives back what [`MemoryStats::charge`] counted.
    pub(crate) fn release(&self, bytes: usize) {
        self.shrank(bytes);
    }

    /// Starts a new peak from the bytes used now.
    #[cfg(test)]
    pub(crate) fn reset_peak(&self) -> usize {
        let now = self.used.load(Ordering::Relaxed);
        self.peak.store(now, Ordering::Relaxed);
        now
    }
}

/// Admits up to `bytes` past the limit while alive (restoring the previous allowance after):
/// for quickjs-ng's own set-up code (a realm, a group of built-ins), whose out-of-memory paths
/// are not safe to take half-way. What it leaves past the limit makes the next allocation of
/// sandboxed code fail as usual.
pub(crate) struct Headroom<'a> {
    memory: &'a MemoryStats,
    before: usize,
}

impl<'a> Headroom<'a> {
    pub(crate) fn new(memory: &'a MemoryStats, bytes: usize) -> Headroom<'a> {
        let before = memory.allowance.load(Ordering::Acquire);
        memory.allowance.store(before.max(bytes), Ordering::Release);
        Headroom { memory, before }
    }
}

impl Drop for Headroom<'_> {
    fn drop(&mut self) {
        self.memory.allowance.store(self.before, Ordering::Release);
    }
}

/// The headroom a realm's creation (base realm and eager built-ins, about 40 KB) and a lazy
/// group's (the typed arrays, the largest, about 20 KB) get past the limit.
pub(crate) const SETUP_HEADROOM: usize = 256 << 10;

pub(crate) struct LimitedAllocator {
    pub(crate) stats: Arc<MemoryStats>,
}

// SAFETY: every method forwards to one allocator for the life of the process (mimalloc, or the
// C library's when chosen before the first allocation), whose pointers satisfy the alignment
// and size contract, and `usable_size` reports that allocator's own usable size.
unsafe impl Allocator for LimitedAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.stats.admit(size) {
            return std::ptr::null_mut();
        }
        let p = unsafe { malloc(size.max(1)) };
        if !p.is_null() {
            self.stats.grew(unsafe { usable(p) });
        }
        p.cast()
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return std::ptr::null_mut();
        };
        if !self.stats.admit(total) {
            return std::ptr::null_mut();
        }
        let p = unsafe { calloc(count.max(1), size.max(1)) };
        if !p.is_null() {
            self.stats.grew(unsafe { usable(p) });
        }
        p.cast()
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        if ptr.is_null() {
            return;
        }
        let size = unsafe { usable(ptr.cast()) };
        self.stats.shrank(size);
        unsafe { free(ptr.cast()) };
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        if new_size == 0 {
            unsafe { self.dealloc(ptr) };
            return std::ptr::null_mut();
        }
        let old = unsafe { usable(ptr.cast()) };
        if new_size > old && !self.stats.admit(new_size - old) {
            return std::ptr::null_mut();
        }
        let p = unsafe { realloc(ptr.cast(), new_size) };
        if !p.is_null() {
            let now = unsafe { usable(p) };
            self.stats.shrank(old);
            self.stats.grew(now);
        }
        p.cast()
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        unsafe { usable(ptr.cast()) }
    }
}
