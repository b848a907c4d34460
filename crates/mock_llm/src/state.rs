//! State shared by every connection: the script, the request log and the counters.
//!
//! Locks are `std::sync::Mutex`es held for a few field updates and never across an `.await`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use serde_json::{json, Value};

use crate::script::Script;
use crate::ServerOptions;

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Everything the server threads and the [`crate::MockServer`] handle share.
pub(crate) struct Shared {
    pub options: ServerOptions,
    pub started: Instant,
    pub script: Mutex<Script>,
    records: Mutex<Records>,
    stats: Mutex<Stats>,
    next_connection: AtomicU64,
    /// vertex-ai access tokens (vertex.rs).
    pub tokens: crate::vertex::Tokens,
}

#[derive(Default)]
struct Records {
    log: VecDeque<Record>,
    /// Sequence numbers are never reused, not even across a reset, so a request that finishes
    /// after a reset cannot update a newer record by mistake.
    next_seq: u64,
}

#[derive(Default, Clone, Copy)]
struct Stats {
    requests: u64,
    in_flight: u64,
    max_in_flight: u64,
    connections_open: u64,
    connections_total: u64,
    client_closed: u64,
}

/// One recorded provider request.
pub(crate) struct Record {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub headers: Value,
    pub body: Value,
    pub model: Option<String>,
    pub stream: bool,
    pub received_at_ms: u64,
    pub completed: bool,
    pub client_closed: bool,
    pub connection_id: u64,
    pub rule: Option<usize>,
    pub status: Option<u16>,
}

impl Record {
    fn to_json(&self) -> Value {
        json!({
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": self.body,
            "model": self.model,
            "stream": self.stream,
            "received_at_ms": self.received_at_ms,
            "completed": self.completed,
            "client_closed": self.client_closed,
            "connection_id": self.connection_id,
            "rule": self.rule,
            "status": self.status,
        })
    }
}

/// How a provider request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The whole response was written.
    Completed,
    /// The client went away before the response was complete.
    ClientClosed,
    /// The server stopped answering on purpose (a fault) or ran out of time.
    Abandoned,
}

impl Shared {
    pub(crate) fn new(options: ServerOptions) -> Self {
        Shared {
            options,
            started: Instant::now(),
            script: Mutex::new(Script::default()),
            records: Mutex::new(Records::default()),
            stats: Mutex::new(Stats::default()),
            next_connection: AtomicU64::new(1),
            tokens: crate::vertex::Tokens::default(),
        }
    }

    pub(crate) fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts a new connection and returns its id.
    pub(crate) fn connection_opened(&self) -> u64 {
        let mut stats = lock(&self.stats);
        stats.connections_open += 1;
        stats.connections_total += 1;
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn connection_closed(&self) {
        let mut stats = lock(&self.stats);
        stats.connections_open = stats.connections_open.saturating_sub(1);
    }

    /// Records a provider request that has been read in full and counts it in flight. The
    /// record's `seq` is filled in here and returned.
    pub(crate) fn begin_request(&self, mut record: Record) -> u64 {
        let seq = {
            let mut records = lock(&self.records);
            records.next_seq += 1;
            let seq = records.next_seq;
            record.seq = seq;
            if records.log.len() >= self.options.max_records.max(1) {
                records.log.pop_front();
            }
            records.log.push_back(record);
            seq
        };
        let mut stats = lock(&self.stats);
        stats.requests += 1;
        stats.in_flight += 1;
        stats.max_in_flight = stats.max_in_flight.max(stats.in_flight);
        seq
    }

    /// Notes the status and the rule that answered a request.
    pub(crate) fn note_reply(&self, seq: u64, rule: Option<usize>, status: u16) {
        self.with_record(seq, |r| {
            r.rule = rule;
            r.status = Some(status);
        });
    }

    /// Ends a request begun with [`Shared::begin_request`]; called exactly once per request.
    pub(crate) fn end_request(&self, seq: u64, outcome: Outcome) {
        self.with_record(seq, |r| {
            r.completed = outcome == Outcome::Completed;
            r.client_closed = outcome == Outcome::ClientClosed;
        });
        let mut stats = lock(&self.stats);
        stats.in_flight = stats.in_flight.saturating_sub(1);
        if outcome == Outcome::ClientClosed {
            stats.client_closed += 1;
        }
    }

    /// Corrects the outcome of a request that was ended as completed too early.
    fn amend_request(&self, seq: u64, outcome: Outcome) {
        self.with_record(seq, |r| {
            r.completed = outcome == Outcome::Completed;
            r.client_closed = outcome == Outcome::ClientClosed;
        });
        if outcome == Outcome::ClientClosed {
            lock(&self.stats).client_closed += 1;
        }
    }

    fn with_record(&self, seq: u64, f: impl FnOnce(&mut Record)) {
        let mut records = lock(&self.records);
        let Some(first) = records.log.front().map(|r| r.seq) else {
            return;
        };
        let Some(index) = seq.checked_sub(first).and_then(|i| usize::try_from(i).ok()) else {
            return;
        };
        if let Some(record) = records.log.get_mut(index) {
            if record.seq == seq {
                f(record);
            }
        }
    }

    pub(crate) fn requests_json(&self) -> Value {
        let records = lock(&self.records);
        Value::Array(records.log.iter().map(Record::to_json).collect())
    }

    pub(crate) fn stats_json(&self) -> Value {
        let stats = *lock(&self.stats);
        json!({
            "requests": stats.requests,
            "in_flight": stats.in_flight,
            "max_in_flight": stats.max_in_flight,
            "connections_open": stats.connections_open,
            "connections_total": stats.connections_total,
            "client_closed": stats.client_closed,
            "uptime_ms": self.elapsed_ms(),
        })
    }

    /// Clears the rules, the log and the counters, except the live ones (`in_flight`,
    /// `connections_open`); `max_in_flight` restarts from the current `in_flight`.
    pub(crate) fn reset(&self) {
        *lock(&self.script) = Script::default();
        lock(&self.records).log.clear();
        let mut stats = lock(&self.stats);
        *stats = Stats {
            in_flight: stats.in_flight,
            max_in_flight: stats.in_flight,
            connections_open: stats.connections_open,
            ..Stats::default()
        };
    }
}

/// Ends a request when dropped, so that `in_flight` stays exact even when a connection task
/// is cancelled (server shutdown) in the middle of an answer.
pub(crate) struct InFlight<'a> {
    shared: &'a Shared,
    pub seq: u64,
    ended: bool,
    /// Ended as completed before the final write, which may still fail.
    early: bool,
}

impl<'a> InFlight<'a> {
    pub(crate) fn new(shared: &'a Shared, seq: u64) -> Self {
        InFlight {
            shared,
            seq,
            ended: false,
            early: false,
        }
    }

    /// Ends the request as completed just before its final write, so that a client that has
    /// read the whole response always finds it recorded as completed (and no longer in
    /// flight). If that write fails, [`InFlight::end`] corrects the record.
    pub(crate) fn completing(&mut self) {
        if !self.ended {
            self.ended = true;
            self.early = true;
            self.shared.end_request(self.seq, Outcome::Completed);
        }
    }

    /// Ends the request (once; a later call only corrects an early completion).
    pub(crate) fn end(&mut self, outcome: Outcome) {
        if !self.ended {
            self.ended = true;
            self.shared.end_request(self.seq, outcome);
        } else if self.early {
            // The final write's result is known now: the early completion stands or is fixed.
            self.early = false;
            if outcome != Outcome::Completed {
                self.shared.amend_request(self.seq, outcome);
            }
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.end(Outcome::Abandoned);
        }
    }
}
