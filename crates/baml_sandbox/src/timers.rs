//! `setTimeout` / `setInterval` and their `clear*`: timers fired by the sandbox's driver,
//! applied in turns.
//!
//! Both kinds share one id space and one pending cap, so `clearTimeout` and `clearInterval` are
//! interchangeable (as in browsers and Node). An interval is re-armed before its callback runs
//! (so the callback may clear it), at least [`MIN_INTERVAL`] apart, and
//! [`NESTED_INTERVAL`] apart from its [`NESTING_LEVEL`]th firing on, as browsers clamp: a
//! `setInterval(f, 0)` costs one turn per millisecond at first and one per 4 ms after, never a
//! busy sandbox thread. Each firing is a turn of its own; a never-cleared interval keeps its
//! evaluation pending until the evaluation's deadline, like any pending await.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::{Ctx, Persistent, Value as JsValue};

use crate::alloc::MemoryStats;
use crate::bridge::{Bridge, TimerEntry};
use crate::classify::classify;
use crate::host::ConsoleLevel;
use crate::options::MAX_TIMERS;
use crate::outbox::ConsoleLine;
use crate::sandbox::Event;
use crate::throw::{is_uncatchable, throw, ErrorKind};

/// The shortest period of an interval.
const MIN_INTERVAL: Duration = Duration::from_millis(1);
/// The shortest period of an interval from its [`NESTING_LEVEL`]th firing on.
const NESTED_INTERVAL: Duration = Duration::from_millis(4);
/// From which firing on an interval is clamped to [`NESTED_INTERVAL`] (browsers' nesting level).
const NESTING_LEVEL: u32 = 5;

impl Bridge {
    /// `setTimeout(callback, delay, ...args)`, or `setInterval` when `repeat`.
    pub(crate) fn set_timeout<'js>(
        &self,
        ctx: &Ctx<'js>,
        callback: JsValue<'js>,
        delay: Option<JsValue<'js>>,
        args: Vec<JsValue<'js>>,
        repeat: bool,
    ) -> rquickjs::Result<f64> {
        let what = if repeat { "setInterval" } else { "setTimeout" };
        let Some(callback) = callback.into_function() else {
            return Err(throw(
                ctx,
                ErrorKind::Type,
                &format!("{what}: the callback must be a function"),
            ));
        };
        let ms = delay.and_then(|d| d.as_number()).unwrap_or(0.0);
        let ms = if ms.is_finite() && ms > 0.0 {
            ms.min(2_147_483_647.0)
        } else {
            0.0
        };
        let mut store = self.store.borrow_mut();
        if store.timers.len() >= MAX_TIMERS {
            return Err(throw(
                ctx,
                ErrorKind::Range,
                &format!("{what}: more than {MAX_TIMERS} timers pending"),
            ));
        }
        store.next_id += 1;
        let id = store.next_id;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "ms is clamped to [0, 2^31)"
        )]
        let dur = Duration::from_millis(ms as u64);
        let dur = if repeat { dur.max(MIN_INTERVAL) } else { dur };
        let key = self.arm(id, dur);
        store.timers.insert(
            id,
            TimerEntry {
                callback: Persistent::save(ctx, callback),
                args: args.into_iter().map(|a| Persistent::save(ctx, a)).collect(),
                key,
                period: repeat.then_some(dur),
                fired: 0,
            },
        );
        #[expect(clippy::cast_precision_loss, reason = "ids stay far below 2^53")]
        Ok(id as f64)
    }

    /// Asks the driver to push timer `id`'s event after `dur`.
    fn arm(&self, id: u64, dur: Duration) -> crate::driver::TimerKey {
        let weak = self.inner.clone();
        self.driver.add_timer(
            Instant::now() + dur,
            Box::new(move || {
                if let Some(inner) = weak.upgrade() {
                    inner.push(Event::Timer { id });
                }
            }),
        )
    }

    /// `clearTimeout(id)` and `clearInterval(id)` alike.
    pub(crate) fn clear_timeout(&self, id: Option<JsValue<'_>>) {
        let Some(id) = id.and_then(|v| v.as_number()) else {
            return;
        };
        if !(id.is_finite() && id >= 1.0) {
            return;
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked finite and positive; ids are integers below 2^53"
        )]
        let id = id as u64;
        let entry = self.store.borrow_mut().timers.remove(&id);
        if let Some(t) = entry {
            self.driver.cancel_timer(t.key);
        }
    }

    pub(crate) fn fire_timer(&self, ctx: &Ctx<'_>, id: u64, memory: &Arc<MemoryStats>) {
        let (callback, args) = {
            let mut store = self.store.borrow_mut();
            let Some(entry) = store.timers.get_mut(&id) else {
                return;
            };
            if let Some(period) = entry.period {
                // Re-armed first: the callback may clear it, or throw.
                entry.fired = entry.fired.saturating_add(1);
                let period = if entry.fired >= NESTING_LEVEL {
                    period.max(NESTED_INTERVAL)
                } else {
                    period
                };
                entry.key = self.arm(id, period);
                (entry.callback.clone(), entry.args.clone())
            } else {
                let Some(timer) = store.timers.remove(&id) else {
                    return;
                };
                (timer.callback, timer.args)
            }
        };
        let Ok(callback) = callback.restore(ctx) else {
            return;
        };
        let args: Vec<JsValue> = args
            .into_iter()
            .filter_map(|a| a.restore(ctx).ok())
            .collect();
        let mut rest = rquickjs::function::Args::new(ctx.clone(), args.len());
        for a in args {
            let _ = rest.push_arg(a);
        }
        if callback.call_arg::<JsValue>(rest).is_err() {
            let exc = ctx.catch();
            if !is_uncatchable(&exc) && self.console {
                let err = classify(ctx, &exc, memory, self);
                let text = format!("Uncaught {err}");
                // Over the outbox cap the line is dropped: there is no caller to throw to.
                if let Some(ticket) = self.outbox.reserve(text.len()) {
                    self.host
                        .console(ConsoleLevel::Error, ConsoleLine::new(text, ticket));
                }
            }
        }
    }
}
