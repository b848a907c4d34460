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

/// Bytes a sandbox has handed to its host that the host has not consumed yet, with a cap.
pub struct Outbox {
    bytes: AtomicUsize,
    limit: usize,
    /// Called each time a ticket is dropped (a host that must tell someone the bytes are gone).
    on_release: Option<Box<dyn Fn() + Send + Sync>>,
}

impl Outbox {
    pub fn new(limit: usize) -> Arc<Outbox> {
        Arc::new(Outbox {
            bytes: AtomicUsize::new(0),
            limit,
            on_release: None,
        })
    }

    /// An outbox that calls `on_release` whenever one of its tickets is dropped.
    pub fn with_release(limit: usize, on_release: Box<dyn Fn() + Send + Sync>) -> Arc<Outbox> {
        Arc::new(Outbox {
            bytes: AtomicUsize::new(0),
            limit,
            on_release: Some(on_release),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Reserves `bytes` until the ticket is dropped, or `None` if that would pass the cap.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Option<Ticket> {
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
pub struct Ticket {
    outbox: Arc<Outbox>,
    bytes: usize,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.outbox.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        if let Some(f) = &self.outbox.on_release {
            f();
        }
    }
}

/// One formatted `console` line for the host. Its bytes count against the sandbox's outbox
/// until it is dropped, so a host that queues lines should keep each until it is delivered.
pub struct ConsoleLine {
    text: String,
    _ticket: Ticket,
}

impl ConsoleLine {
    /// A line whose bytes stay reserved in `ticket`'s outbox until it is dropped.
    pub fn new(text: String, ticket: Ticket) -> Self {
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
        Value::Array(items) | Value::Set(items) => own + items.iter().map(weight).sum::<usize>(),
        Value::Object(props) => {
            own + props
                .iter()
                .map(|(k, v)| std::mem::size_of::<String>() + k.len() + weight(v))
                .sum::<usize>()
        }
        Value::Map(entries) => {
            own + entries
                .iter()
                .map(|(k, v)| weight(k) + weight(v))
                .sum::<usize>()
        }
        Value::ArrayBuffer(bytes) | Value::TypedArray { bytes, .. } => own + bytes.len(),
        Value::RegExp(r) => own + r.source.len() + r.flags.len(),
        Value::Error(e) => {
            own + std::mem::size_of::<crate::value::ErrorValue>()
                + e.name.len()
                + e.message.len()
                + e.stack.as_ref().map_or(0, String::len)
                + e.cause.as_ref().map_or(0, weight)
        }
        _ => own,
    }
}
