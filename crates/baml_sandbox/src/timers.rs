//! `setTimeout` / `clearTimeout`: timers fired by the sandbox's driver, applied in turns.

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

impl Bridge {
    pub(crate) fn set_timeout<'js>(
        &self,
        ctx: &Ctx<'js>,
        callback: JsValue<'js>,
        delay: Option<JsValue<'js>>,
        args: Vec<JsValue<'js>>,
    ) -> rquickjs::Result<f64> {
        let Some(callback) = callback.into_function() else {
            return Err(throw(
                ctx,
                ErrorKind::Type,
                "setTimeout: the callback must be a function",
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
                &format!("setTimeout: more than {MAX_TIMERS} timers pending"),
            ));
        }
        store.next_id += 1;
        let id = store.next_id;
        let weak = self.inner.clone();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "ms is clamped to [0, 2^31)"
        )]
        let dur = Duration::from_millis(ms as u64);
        let key = self.driver.add_timer(
            Instant::now() + dur,
            Box::new(move || {
                if let Some(inner) = weak.upgrade() {
                    inner.push(Event::Timer { id });
                }
            }),
        );
        store.timers.insert(
            id,
            TimerEntry {
                callback: Persistent::save(ctx, callback),
                args: args.into_iter().map(|a| Persistent::save(ctx, a)).collect(),
                key,
            },
        );
        #[expect(clippy::cast_precision_loss, reason = "ids stay far below 2^53")]
        Ok(id as f64)
    }

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
        let Some(timer) = self.store.borrow_mut().timers.remove(&id) else {
            return;
        };
        let Ok(callback) = timer.callback.restore(ctx) else {
            return;
        };
        let args: Vec<JsValue> = timer
            .args
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
