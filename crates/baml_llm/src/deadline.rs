//! Request timeouts that share timers.
//!
//! Every request is bounded by `request_timeout_ms` (30 s unless configured). A tokio timer per
//! request is registered when the request starts and removed when it ends, and each
//! registration that is earlier than anything else in the timer wheel wakes the runtime's timer
//! thread: on small VMs that wake-up (a system call and a context switch on another core) costs
//! as much as a fifth of a loopback request.
//!
//! Here requests whose deadlines fall in the same slot share one timer. The slot is the
//! deadline rounded up to a grid of about a sixteenth of the timeout (1 ms to 256 ms), so a
//! timeout fires at most that much late. A slot's timer lives until its deadline even when every
//! request waiting on it has ended: the wheel then always holds a timer earlier than the next
//! request's, which needs no wake-up, and a new timer is made about once per slot.
//!
//! Slots belong to the runtime that made their timer (tests run several runtimes in one
//! process; a runtime that shuts down drops its timers, and requests on another runtime must
//! not wait on those).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Longest grid step: a 30 s timeout fires at most this late.
const MAX_STEP_MS: u64 = 256;

struct Slot {
    fired: AtomicBool,
    notify: Notify,
}

impl Slot {
    async fn wait(&self) {
        let mut notified = pin!(self.notify.notified());
        notified.as_mut().enable();
        if self.fired.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }
}

/// Per runtime: slot deadline in ms after `epoch`, to its slot while anything holds it.
type Live = HashMap<tokio::runtime::Id, BTreeMap<u64, Weak<Slot>>>;

struct Slots {
    epoch: Instant,
    live: Mutex<Live>,
}

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| Slots {
        epoch: Instant::now(),
        live: Mutex::new(HashMap::new()),
    })
}

/// The grid step for a timeout of `ms`: the largest power of two at most `ms / 16`, within
/// 1..=256 ms.
fn step_ms(ms: u64) -> u64 {
    let sixteenth = (ms / 16).max(1);
    (1u64 << sixteenth.ilog2()).min(MAX_STEP_MS)
}

/// The slot a deadline `d` from now falls in, its timer started if it is new. Must run inside a
/// tokio runtime.
fn slot_for(d: Duration) -> Arc<Slot> {
    let slots = slots();
    let now = Instant::now();
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let step = step_ms(ms);
    let since = u64::try_from(now.saturating_duration_since(slots.epoch).as_millis())
        .unwrap_or(u64::MAX / 2);
    let key = since.saturating_add(ms).div_ceil(step).saturating_mul(step);
    let runtime = tokio::runtime::Handle::current();
    let mut all = slots.live.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(slot) = all
        .get(&runtime.id())
        .and_then(|live| live.get(&key))
        .and_then(Weak::upgrade)
    {
        return slot;
    }
    // While the lock is held anyway: forget slots whose deadline has passed, and runtimes with
    // no slot left (a runtime that shut down).
    let live = all.entry(runtime.id()).or_default();
    *live = live.split_off(&since);
    all.retain(|_, live| live.values().any(|w| w.strong_count() > 0));
    let slot = Arc::new(Slot {
        fired: AtomicBool::new(false),
        notify: Notify::new(),
    });
    all.entry(runtime.id())
        .or_default()
        .insert(key, Arc::downgrade(&slot));
    drop(all);
    let at = slots.epoch + Duration::from_millis(key);
    let timer = Fire(slot.clone());
    runtime.spawn(async move {
        tokio::time::sleep_until(at).await;
        drop(timer);
    });
    slot
}

/// Fires its slot when dropped: when the timer ends, and also if the runtime drops the timer
/// task unfinished (shutting down), so that nothing waits on a timer that will never fire.
struct Fire(Arc<Slot>);

impl Drop for Fire {
    fn drop(&mut self) {
        self.0.fired.store(true, Ordering::Release);
        self.0.notify.notify_waiters();
    }
}

/// Runs `work` for at most `d` (and at most one grid step more); `None` if the time ran out
/// first.
pub(crate) async fn timeout<F: Future>(d: Duration, work: F) -> Option<F::Output> {
    let slot = slot_for(d);
    let mut work = pin!(work);
    let mut expired = pin!(slot.wait());
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        expired.as_mut().poll(cx).map(|()| None)
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn grid_steps() {
        assert_eq!(step_ms(0), 1);
        assert_eq!(step_ms(20), 1);
        assert_eq!(step_ms(100), 4);
        assert_eq!(step_ms(1000), 32);
        assert_eq!(step_ms(30_000), 256);
        assert_eq!(step_ms(u64::MAX), 256);
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn expires_after_the_timeout_and_at_most_a_step_late() {
        rt().block_on(async {
            let t = std::time::Instant::now();
            let out = timeout(Duration::from_millis(100), std::future::pending::<()>()).await;
            let took = t.elapsed();
            assert_eq!(out, None);
            assert!(took >= Duration::from_millis(100), "{took:?}");
            assert!(took < Duration::from_millis(100 + 4 + 50), "{took:?}");
        });
    }

    #[test]
    fn finished_work_wins_and_requests_share_a_slot() {
        rt().block_on(async {
            // Three in a row: a slot boundary may fall between two of them, not between both
            // pairs.
            let a = slot_for(Duration::from_secs(30));
            let b = slot_for(Duration::from_secs(30));
            let c = slot_for(Duration::from_secs(30));
            assert!(
                Arc::ptr_eq(&a, &b) || Arc::ptr_eq(&b, &c),
                "30 s timeouts started together share a timer"
            );
            let out = timeout(Duration::from_secs(30), async { 7 }).await;
            assert_eq!(out, Some(7));
        });
    }

    #[test]
    fn runtimes_do_not_share_slots_and_a_dropped_timer_fires() {
        let first = rt();
        let a = first.block_on(async { slot_for(Duration::from_secs(30)) });
        drop(first);
        assert!(
            a.fired.load(Ordering::Acquire),
            "a runtime that shut down fires its slots"
        );
        rt().block_on(async {
            let b = slot_for(Duration::from_secs(30));
            assert!(!Arc::ptr_eq(&a, &b), "another runtime gets its own timer");
            let out = timeout(Duration::from_millis(30), std::future::pending::<()>()).await;
            assert_eq!(out, None);
        });
    }

    #[test]
    fn a_slot_outlives_its_requests_until_its_deadline() {
        rt().block_on(async {
            let weak = Arc::downgrade(&slot_for(Duration::from_millis(40)));
            assert!(weak.upgrade().is_some(), "the timer task holds the slot");
            tokio::time::sleep(Duration::from_millis(80)).await;
            tokio::task::yield_now().await;
            assert!(weak.upgrade().is_none(), "fired and released");
        });
    }
}
