//! When garbage is collected.
//!
//! QuickJS collects garbage (cycles) on its own whenever the heap grew past a threshold while
//! it creates an object. quickjs-ng's code is not always in a state to be collected at that
//! moment: when growing an object's property table fails for the memory limit, it throws an
//! out-of-memory error, creating that error starts a collection, and the collection walks the
//! half-resized object and crashes (a plain `o["key" + i] = i` loop under a 16 MiB limit was
//! a segmentation fault). So automatic collection is off (an infinite threshold), and the
//! sandbox collects at points where the engine is consistent: from the interrupt handler,
//! which QuickJS calls between bytecodes, when the heap has grown by half since the last
//! collection (QuickJS's own rule), and at the end of a turn likewise.

use std::sync::atomic::Ordering;

use rquickjs::qjs;

use crate::alloc::MemoryStats;

/// No collection below this many bytes (QuickJS's own initial threshold).
pub(crate) const GC_FLOOR: usize = 256 << 10;

/// Collects garbage if the heap grew past the threshold, then sets the next one.
///
/// # Safety
/// `rt` must be the live runtime `memory` counts, held by the calling thread, at a point
/// where QuickJS may collect (the interrupt handler, or between turns).
pub(crate) unsafe fn maybe_collect(rt: *mut qjs::JSRuntime, memory: &MemoryStats) {
    if memory.used.load(Ordering::Relaxed) < memory.next_gc.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: see the function's contract.
    unsafe { qjs::JS_RunGC(rt) };
    let used = memory.used.load(Ordering::Relaxed);
    memory
        .next_gc
        .store((used + used / 2).max(GC_FLOOR), Ordering::Relaxed);
}
