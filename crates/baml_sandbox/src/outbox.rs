//! What a sandbox has handed to its host and the host has not consumed yet: host-function and
//! BAML arguments (until the call answers) and `console` lines (until the host drops them).
//!
//! Copies made for the host live outside the sandbox's heap, so a loop like
//! `for (;;) f(s)` or `for (;;) console.log(s)` with a large `s` would otherwise pile up
//! gigabytes in the process while the host (Node's thread) works through them. The outbox caps
//! those bytes per sandbox; past the cap the call or `console` line throws a `RangeError`.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::value::Value;

pub(crate) struct Outbox {
    bytes: AtomicUsize,
    limit: usize,
}

impl Outbox {
    pub(crate) fn new(limit: usize) -> Arc<Outbox> {
        Arc::new(Outbox {
            bytes: AtomicUsize::new(0),
            limit,
        })
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Reserves `bytes` until the ticket is dropped, or `None` if that would pass the cap.
    pub(crate) fn reserve(self: &Arc<Self>, bytes: usize) -> Option<Ticket> {
        let before = self.bytes.fetch_add(bytes, Ordering::AcqRel);
        if before.saturating_add(bytes) > self.limit {
            self.bytes.fetch_sub(bytes, Ordering::AcqRel);
            return None;
        }
        Some(Ticket {
            outbox: self.clone(),
            bytes,
        })
    }
}

/// Bytes reserved in an outbox, released on drop.
pub(crate) struct Ticket {
    outbox: Arc<Outbox>,
    bytes: usize,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.outbox.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// One formatted `console` line for the host. Its bytes count against the sandbox's outbox
/// until it is dropped, so a host that queues lines should keep each until it is delivered.
pub struct ConsoleLine {
    text: String,
    _ticket: Ticket,
}

impl ConsoleLine {
    pub(crate) fn new(text: String, ticket: Ticket) -> Self {
        ConsoleLine {
            text,
            _ticket: ticket,
        }
    }
}

impl Deref for ConsoleLine {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ConsoleLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ConsoleLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

/// About how many bytes a copied value takes in memory.
pub(crate) fn weight(v: &Value) -> usize {
    let own = std::mem::size_of::<Value>();
    match v {
        Value::String(s) => own + s.len(),
        Value::Array(items) => own + items.iter().map(weight).sum::<usize>(),
        Value::Object(props) => {
            own + props
                .iter()
                .map(|(k, v)| std::mem::size_of::<String>() + k.len() + weight(v))
                .sum::<usize>()
        }
        _ => own,
    }
}
