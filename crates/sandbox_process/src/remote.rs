//! A sandbox in a worker process, driven from the embedder with the same calls as one in this
//! process ([`SandboxHandle`]).
//!
//! Every message from the worker is untrusted: the worker runs attacker code and may be
//! compromised. Frames are bounded and decoded defensively (`wire.rs`); calls it asks for are
//! capped as the sandbox caps them (host calls in flight, bytes of `console` lines waiting for
//! the embedder); answers for evaluations it was never given are ignored. Whatever it sends, it
//! can only answer for its own context.
//!
//! The worker is watched: if it closes its socket or dies, or an evaluation is still running
//! past its deadline while the worker burns [`GRACE`] of CPU time without answering (a
//! built-in that never checks the deadline, an engine bug), or is not running at all (stopped),
//! or it does not answer within [`STALL`] of the deadline whatever it does, the worker is
//! killed and reaped and the
//! context's evaluations reject with `SANDBOX_CRASHED`, saying why. CPU time, not wall time:
//! on a loaded machine a worker may wait for a CPU well past its deadline, and that is no
//! reason to kill it (the worker checks its deadlines itself whenever it runs).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use baml_sandbox::{
    copy_budget, CallGuard, ConsoleLine, Done, EvalId, EvalOptions, Host, HostError, Outbox,
    SandboxError, SandboxHandle, SandboxOptions, Value, MAX_HOST_CALLS,
};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::runtime::Handle;

use crate::group::{GroupWorker, ProcessGroup};
use crate::spawn::{Process, Spawner};
use crate::wire::{self, Create, Encoder, FromWorker, ToWorker};

/// How much CPU time a worker may spend past an evaluation's deadline without answering
/// before it is killed. Running code stops within a millisecond of CPU time; what takes longer
/// is winding down: freeing what an interrupted copy had built (5 million values of a result
/// of shared subtrees took 60 ms in a debug build, found by the sandbox fuzzer).
pub const GRACE: Duration = Duration::from_millis(250);
/// How long past a deadline a worker that does not answer is killed, whatever it is doing.
pub const STALL: Duration = Duration::from_secs(5);
/// How often the watchdog looks at a worker that is late.
const WATCH_EVERY: Duration = Duration::from_millis(20);
/// The most a spinning reader (Node's thread) reads at once (see `read_available`).
const SPIN_READ: usize = 4096;
/// What the I/O task reads at once.
const READ_CHUNK: usize = 64 << 10;
/// How long to wait for a dead worker to be reaped, to say how it ended.
const REAP_WAIT: Duration = Duration::from_millis(200);

thread_local! {
    /// What a thread reads a worker's socket into (see `Remote::read`).
    static CHUNK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

const LIVE: u8 = 0;
const DISPOSED: u8 = 1;
const FAILED: u8 = 2;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Since when the worker has been late: the CPU time it had used then, and the wall time
/// (both moved on whenever a group's worker answers a `Ping`).
struct Late {
    cpu: Option<Duration>,
    wall: Instant,
    pongs: u64,
}

struct EvalEntry {
    /// Taken when the evaluation settles here before the worker answered it (its deadline
    /// passed); the entry stays until the worker answers, so the watchdog keeps watching.
    done: Option<Done>,
    deadline: Instant,
    timeout: Duration,
    /// The worker said its script started: only such an evaluation's code can be running.
    started: bool,
}

#[derive(Default)]
struct WriteState {
    out: Encoder,
    /// A task is waiting for the socket to take more.
    writer: bool,
    /// The newest partial of each streaming call not written yet (a partial is a snapshot of
    /// the whole result so far: one that waits is replaced, never queued behind).
    partials: HashMap<u64, Value>,
}

pub(crate) struct Remote {
    /// The worker's socket, watched for reading only: a registration for writing would wake
    /// the I/O driver each time the worker reads what was sent (see `write_loop`). Reads and
    /// writes are plain non-blocking calls on the socket itself, so a thread that spins (Node's)
    /// sees a message as soon as it is there, not once the I/O driver has been woken for it.
    sock: AsyncFd<UnixStream>,
    process: Arc<Process>,
    spawner: Arc<Spawner>,
    host: Arc<dyn Host>,
    handle: Handle,
    limit: usize,
    /// The context's timeout, for evaluations that do not give their own.
    timeout: Duration,
    max_frame: usize,
    /// Bytes read and not yet handled (a partial message): empty, and not holding memory,
    /// between messages. The socket is read into the reading thread's own buffer (`CHUNK`):
    /// one per thread, not per context (a group's thousand members would hold 64 MB).
    read: Mutex<Vec<u8>>,
    write: Mutex<WriteState>,
    evals: Mutex<HashMap<EvalId, EvalEntry>>,
    next_eval: AtomicU64,
    /// BAML calls in flight: dropping a guard cancels its call.
    calls: Mutex<HashMap<u64, Option<CallGuard>>>,
    host_calls: Arc<AtomicUsize>,
    console: Arc<Outbox>,
    memory_used: AtomicU64,
    state: AtomicU8,
    /// What every evaluation rejects with once the context failed.
    failure: Mutex<Option<SandboxError>>,
    /// The deadline the watchdog is armed for.
    watchdog: Mutex<Option<Instant>>,
    /// CPU time the worker had used when an evaluation was first seen late.
    late_since: Mutex<Option<Late>>,
    /// `Pong`s received (see `watch`).
    pongs: AtomicU64,
    me: Weak<Remote>,
    /// A crash is being reported (see `crashed`).
    crashing: std::sync::atomic::AtomicBool,
    /// The group whose shared runtime this context's realm lives in, and the worker hosting
    /// it, shared with the group's other members.
    group: Option<(Arc<ProcessGroup>, Arc<GroupWorker>)>,
}

/// A sandbox in a worker process (see the module docs).
pub struct RemoteSandbox {
    inner: Arc<Remote>,
}

impl RemoteSandbox {
    /// Starts a context in a worker (a spare one if ready). The options are checked here, as
    /// `Sandbox::new` checks them; what only the worker can find out (globals that do not fit
    /// the memory limit) rejects the first evaluation.
    pub fn new(
        options: &SandboxOptions,
        host: Arc<dyn Host>,
        spawner: &Arc<Spawner>,
        handle: &Handle,
    ) -> Result<RemoteSandbox, SandboxError> {
        options.validate()?;
        let worker = spawner
            .worker()
            .map_err(|e| SandboxError::Setup(format!("cannot start a worker process: {e}")))?;
        worker
            .sock
            .set_nonblocking(true)
            .map_err(|e| SandboxError::Setup(format!("cannot set up the worker's socket: {e}")))?;
        Self::start(
            options,
            host,
            (worker.sock, worker.process),
            spawner,
            handle,
            None,
        )
    }

    /// Starts a context in `group`'s worker, its realm in the group's shared runtime: the
    /// group's memory limit and stack budget replace the options'.
    pub fn new_member(
        options: &SandboxOptions,
        host: Arc<dyn Host>,
        group: &Arc<ProcessGroup>,
    ) -> Result<RemoteSandbox, SandboxError> {
        let mut options = options.clone();
        options.memory_limit_bytes = group.memory_limit();
        options.max_stack_bytes = group.max_stack();
        options.validate()?;
        let (sock, worker) = group.join()?;
        let started = Self::start(
            &options,
            host,
            (sock, worker.process.clone()),
            &group.spawner,
            &group.handle,
            Some((group.clone(), worker.clone())),
        );
        if started.is_err() {
            group.left(&worker);
        }
        started
    }

    /// Builds the `Remote` around the worker's socket, sends `Create` and starts reading.
    fn start(
        options: &SandboxOptions,
        host: Arc<dyn Host>,
        (sock, process): (UnixStream, Arc<Process>),
        spawner: &Arc<Spawner>,
        handle: &Handle,
        group: Option<(Arc<ProcessGroup>, Arc<GroupWorker>)>,
    ) -> Result<RemoteSandbox, SandboxError> {
        let sock = {
            let _entered = handle.enter();
            // SAFETY: the stream owns its descriptor, open until the `AsyncFd` drops it.
            unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE) }.map_err(|e| {
                let e = e.into_parts().1;
                SandboxError::Setup(format!("cannot watch the worker's socket: {e}"))
            })?
        };
        let limit = options.memory_limit_bytes;
        let inner = Arc::new_cyclic(|me: &Weak<Remote>| Remote {
            sock,
            process,
            spawner: spawner.clone(),
            host,
            handle: handle.clone(),
            limit,
            timeout: options.timeout,
            max_frame: wire::max_frame(limit as u64),
            read: Mutex::new(Vec::new()),
            write: Mutex::new(WriteState::default()),
            evals: Mutex::new(HashMap::new()),
            next_eval: AtomicU64::new(1),
            calls: Mutex::new(HashMap::new()),
            host_calls: Arc::new(AtomicUsize::new(0)),
            console: {
                // Each line Node has taken is reported to the worker (see `ConsoleTaken`).
                let weak = me.clone();
                Outbox::with_release(
                    copy_budget(limit),
                    Box::new(move || {
                        if let Some(me) = weak.upgrade() {
                            me.send(&ToWorker::ConsoleTaken { lines: 1 });
                        }
                    }),
                )
            },
            memory_used: AtomicU64::new(0),
            state: AtomicU8::new(LIVE),
            failure: Mutex::new(None),
            watchdog: Mutex::new(None),
            late_since: Mutex::new(None),
            pongs: AtomicU64::new(0),
            me: me.clone(),
            crashing: std::sync::atomic::AtomicBool::new(false),
            group,
        });
        inner.send(&ToWorker::Create(Create {
            memory_limit_bytes: limit as u64,
            timeout: options.timeout,
            max_stack_bytes: options.max_stack_bytes as u64,
            globals: options.globals.clone(),
            host_functions: options.host_functions.clone(),
            console: options.console,
            baml_functions: options.baml_functions.clone(),
        }));
        let reader = inner.clone();
        handle.spawn(async move { reader.read_loop().await });
        Ok(RemoteSandbox { inner })
    }

    /// Reads what the worker sent without waiting, and handles it: for a thread that spins
    /// waiting for an answer. Returns whether anything was read. Does nothing if another
    /// thread is reading.
    pub fn poll(&self) -> bool {
        self.inner.read_available(false)
    }

    /// The worker's process id (0 until it has started).
    pub fn pid(&self) -> i32 {
        self.inner.process.pid()
    }
}

impl SandboxHandle for RemoteSandbox {
    fn evaluate(&self, code: String, options: EvalOptions, done: Done) -> EvalId {
        let inner = &self.inner;
        let id = inner.next_eval.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = inner.refusal() {
            done(Err(e));
            return id;
        }
        let timeout = options.timeout.unwrap_or(inner.timeout);
        let deadline = Instant::now() + timeout;
        lock(&inner.evals).insert(
            id,
            EvalEntry {
                done: Some(done),
                deadline,
                timeout,
                started: false,
            },
        );
        inner.send(&ToWorker::Eval {
            id,
            code,
            timeout,
            filename: options.filename,
        });
        inner.arm(deadline);
        id
    }

    fn abort(&self, id: EvalId) {
        let done = lock(&self.inner.evals)
            .get_mut(&id)
            .and_then(|e| e.done.take());
        if let Some(done) = done {
            lock(&self.inner.evals).remove(&id);
            done(Err(SandboxError::Aborted));
            self.inner.send(&ToWorker::Abort { id });
        }
    }

    fn dispose(&self) {
        self.inner.end(&SandboxError::Disposed, DISPOSED, true);
    }

    fn is_disposed(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) != LIVE
    }

    fn memory_usage(&self) -> (usize, usize) {
        if let Some((group, _)) = &self.inner.group {
            return group.memory_usage();
        }
        let used =
            usize::try_from(self.inner.memory_used.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        (used, self.inner.limit)
    }
}

impl Drop for RemoteSandbox {
    fn drop(&mut self) {
        self.inner.end(&SandboxError::Disposed, DISPOSED, true);
    }
}

impl Remote {
    /// What an evaluation started now rejects with, if the context is no longer usable.
    fn refusal(&self) -> Option<SandboxError> {
        match self.state.load(Ordering::Acquire) {
            LIVE => None,
            DISPOSED => Some(SandboxError::Disposed),
            _ => Some(
                lock(&self.failure)
                    .clone()
                    .unwrap_or(SandboxError::Disposed),
            ),
        }
    }

    /// Ends the context: every evaluation in flight rejects with `error`, BAML calls are
    /// cancelled, and the worker is reaped (killed first with `kill`).
    fn end(&self, error: &SandboxError, state: u8, kill: bool) {
        if self
            .state
            .compare_exchange(LIVE, state, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        *lock(&self.failure) = Some(error.clone());
        match &self.group {
            // A member's end closes its own socket (the worker disposes its realm); the worker
            // is the group's. One that must die was killed by `crashed`.
            Some((group, worker)) => {
                let _ = self.sock.get_ref().shutdown(std::net::Shutdown::Both);
                group.left(worker);
            }
            None => self.spawner.finish(self.process.clone(), kill),
        }
        let evals: Vec<EvalEntry> = lock(&self.evals).drain().map(|(_, e)| e).collect();
        for done in evals.into_iter().filter_map(|e| e.done) {
            done(Err(error.clone()));
        }
        let calls: Vec<Option<CallGuard>> = lock(&self.calls).drain().map(|(_, g)| g).collect();
        drop(calls);
        let dropped = std::mem::take(&mut *lock(&self.write));
        drop(dropped);
    }

    /// The worker died or broke the protocol: reject everything with `SANDBOX_CRASHED`, saying
    /// how it ended once it is reaped.
    fn crashed(self: &Arc<Self>, reason: Option<String>, kill: bool) {
        // The first cause wins (a killed worker's socket then reads end-of-file, a second one).
        if self.state.load(Ordering::Acquire) != LIVE || self.crashing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        match (&self.group, &reason) {
            (Some((_, worker)), Some(why)) if kill => worker.kill(why),
            // The worker may have closed only this member's socket; once it is gone, reap it
            // to say how it ended.
            (Some((_, worker)), _) => {
                if worker.gone() {
                    self.spawner.finish(self.process.clone(), false);
                }
            }
            (None, _) => self.spawner.finish(self.process.clone(), kill),
        }
        let me = self.clone();
        self.handle.spawn(async move {
            let until = Instant::now() + REAP_WAIT;
            while !me.process.reaped() && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if let Some((_, worker)) = &me.group {
                // The group's worker could not set it up: that, not a crash, is the answer.
                if let Some(error) = worker.failed() {
                    me.end(&error, FAILED, false);
                    return;
                }
            }
            let reason = reason.unwrap_or_else(|| {
                let ending = me
                    .process
                    .ending()
                    .unwrap_or_else(|| "closed its connection".into());
                match me.group.as_ref().and_then(|(_, w)| w.killed_for()) {
                    Some(why) => format!(
                        "was killed: another context of its group {}",
                        why.trim_end_matches(" and was killed")
                    ),
                    None => ending,
                }
            });
            me.end(&SandboxError::Crashed { reason }, FAILED, kill);
        });
    }

    fn send(&self, m: &ToWorker) {
        if self.state.load(Ordering::Acquire) != LIVE {
            return;
        }
        let mut w = lock(&self.write);
        if let ToWorker::Reply { call, .. } = m {
            // The final answer of a streaming call follows its last partial.
            if let Some(p) = w.partials.remove(call) {
                w.out.to_worker(&ToWorker::Partial {
                    call: *call,
                    value: p,
                });
            }
        }
        w.out.to_worker(m);
        self.write_some(&mut w);
    }

    fn send_partial(&self, call: u64, value: Value) {
        if self.state.load(Ordering::Acquire) != LIVE {
            baml_sandbox::drop_flat(value);
            return;
        }
        let mut w = lock(&self.write);
        if w.out.is_empty() && !w.writer {
            w.out.to_worker(&ToWorker::Partial { call, value });
            self.write_some(&mut w);
        } else if let Some(old) = w.partials.insert(call, value) {
            drop(w);
            baml_sandbox::drop_flat(old);
        }
    }

    /// Writes what the socket takes now; the rest waits for a writer task.
    fn write_some(&self, w: &mut WriteState) {
        while !w.out.is_empty() {
            match self.sock.get_ref().write(w.out.bytes()) {
                Ok(0) => break,
                Ok(n) => w.out.consume(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // A closed socket: the reader sees the end and handles it.
                Err(_) => {
                    w.out.clear();
                    return;
                }
            }
        }
        if w.out.is_empty() || w.writer {
            return;
        }
        if w.out.len() > 2 * self.max_frame {
            // The worker stopped reading (stuck, or hostile): it would hold the embedder's
            // memory hostage.
            w.out.clear();
            let reason = Some("stopped reading its messages and was killed".to_string());
            if let Some(me) = self.me() {
                me.crashed(reason, true);
            }
            return;
        }
        w.writer = true;
        if let Some(me) = self.me() {
            self.handle.spawn(async move { me.write_loop().await });
        }
    }

    /// This `Remote` as an `Arc` (tasks need their own).
    fn me(&self) -> Option<Arc<Remote>> {
        self.me.upgrade()
    }

    async fn write_loop(self: Arc<Self>) {
        // Registered for writing only while something waits to be written, on a duplicate of
        // the socket (see `sock`).
        let writable = self.sock.get_ref().try_clone().and_then(|dup| {
            // SAFETY: `dup` owns its descriptor, open until the `AsyncFd` drops it.
            unsafe { AsyncFd::register_with_interest(dup, Interest::WRITABLE) }
                .map_err(|e| e.into_parts().1)
        });
        let Ok(writable) = writable else {
            // Nothing could wait for the socket: what waits to be written would never reach
            // the worker, and its evaluations would hang until their deadlines.
            lock(&self.write).writer = false;
            self.crashed(Some("could not be written to and was killed".into()), true);
            return;
        };
        loop {
            let Ok(mut ready) = writable.writable().await else {
                lock(&self.write).writer = false;
                return;
            };
            let mut w = lock(&self.write);
            loop {
                if w.out.is_empty() {
                    let pending: Vec<(u64, Value)> = w.partials.drain().collect();
                    if pending.is_empty() {
                        w.writer = false;
                        return;
                    }
                    for (call, value) in pending {
                        w.out.to_worker(&ToWorker::Partial { call, value });
                    }
                }
                match writable.get_ref().write(w.out.bytes()) {
                    Ok(0) => {
                        w.writer = false;
                        return;
                    }
                    Ok(n) => w.out.consume(n),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        ready.clear_ready();
                        break;
                    }
                    Err(_) => {
                        w.out.clear();
                        w.writer = false;
                        return;
                    }
                }
            }
        }
    }

    async fn read_loop(self: Arc<Self>) {
        loop {
            // Ended, or its end is being reported (the socket then reads end-of-file forever).
            if self.state.load(Ordering::Acquire) != LIVE || self.crashing.load(Ordering::Acquire) {
                return;
            }
            let Ok(mut ready) = self.sock.readable().await else {
                self.crashed(None, false);
                return;
            };
            // Reads until the socket is drained (or its end); readiness is cleared only as of
            // the event that woke this task, so a message that arrived since wakes it again.
            self.read_available(true);
            ready.clear_ready();
        }
    }

    /// Reads and handles what is there, in order; `wait` for the read lock or give up.
    /// Returns whether anything was read.
    fn read_available(self: &Arc<Self>, wait: bool) -> bool {
        let mut state = if wait {
            lock(&self.read)
        } else {
            match self.read.try_lock() {
                Ok(g) => g,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return false,
            }
        };
        let buf = &mut *state;
        let mut got = false;
        let mut closed = false;
        // A thread that only looks in while it spins (Node's) reads one small chunk: a worker
        // may have sent a thousand messages, and handling them is the I/O task's job (the
        // socket stays readable for it).
        let size = if wait { READ_CHUNK } else { SPIN_READ };
        CHUNK.with_borrow_mut(|chunk| {
            if chunk.len() < size {
                chunk.resize(size, 0);
            }
            let chunk: &mut [u8] = &mut chunk[..size];
            loop {
                match self.sock.get_ref().read(chunk) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => {
                        got = true;
                        buf.extend_from_slice(&chunk[..n]);
                        if n < chunk.len() || !wait {
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
        });
        if got {
            // Handled under the read lock, so two readers never reorder messages.
            let mut messages = Vec::new();
            let mut bad = None;
            match wire::split_frames(
                buf,
                self.max_frame,
                |payload| match wire::decode_from_worker(payload) {
                    Ok(m) => messages.push(m),
                    Err(e) => bad = Some(e),
                },
            ) {
                Ok(used) => {
                    buf.drain(..used);
                    if buf.is_empty() && buf.capacity() > SPIN_READ {
                        *buf = Vec::new();
                    }
                }
                Err(e) => bad = Some(e),
            }
            for m in messages {
                self.handle_message(m);
            }
            if let Some(e) = bad {
                self.crashed(Some(format!("sent a {e} and was killed")), true);
            }
        }
        drop(state);
        if closed {
            self.crashed(None, false);
        }
        got || closed
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one arm per message, each short; splitting it would scatter the protocol"
    )]
    fn handle_message(self: &Arc<Self>, m: FromWorker) {
        match m {
            FromWorker::Done { id, result } => {
                let done = lock(&self.evals).remove(&id).and_then(|e| e.done);
                match done {
                    Some(done) => done(result),
                    // Settled here already (aborted, or its deadline passed first).
                    None => {
                        if let Ok(v) = result {
                            baml_sandbox::drop_flat(v);
                        }
                    }
                }
            }
            FromWorker::HostCall { call, index, args } => {
                let Ok(index) = usize::try_from(index) else {
                    return;
                };
                if self.host_calls.fetch_add(1, Ordering::AcqRel) >= MAX_HOST_CALLS {
                    self.host_calls.fetch_sub(1, Ordering::AcqRel);
                    baml_sandbox::drop_flat(Value::Array(args));
                    self.send(&ToWorker::Reply {
                        call,
                        result: Err(HostError::from(format!(
                            "more than {MAX_HOST_CALLS} host calls in flight"
                        ))),
                    });
                    return;
                }
                let weak = Arc::downgrade(self);
                let counter = self.host_calls.clone();
                self.host.call(
                    index,
                    args,
                    Box::new(move |result| {
                        counter.fetch_sub(1, Ordering::AcqRel);
                        if let Some(me) = weak.upgrade() {
                            me.send(&ToWorker::Reply { call, result });
                        }
                    }),
                );
            }
            FromWorker::BamlCall {
                call,
                index,
                args,
                stream,
            } => {
                let Ok(index) = usize::try_from(index) else {
                    return;
                };
                let weak = Arc::downgrade(self);
                let partial: Option<baml_sandbox::Partial> = stream.then(|| {
                    let weak = weak.clone();
                    Box::new(move |value: Value| match weak.upgrade() {
                        Some(me) => me.send_partial(call, value),
                        None => baml_sandbox::drop_flat(value),
                    }) as baml_sandbox::Partial
                });
                // Registered before the call starts: its answer may come at once.
                lock(&self.calls).insert(call, None);
                let reply_weak = weak.clone();
                let guard = self.host.baml_call(
                    index,
                    args,
                    partial,
                    Box::new(move |result| {
                        if let Some(me) = reply_weak.upgrade() {
                            lock(&me.calls).remove(&call);
                            me.send(&ToWorker::Reply { call, result });
                        }
                    }),
                );
                let mut calls = lock(&self.calls);
                if let Some(slot) = calls.get_mut(&call) {
                    *slot = guard;
                }
            }
            FromWorker::Cancel { call } => {
                let guard = lock(&self.calls).remove(&call);
                drop(guard);
            }
            FromWorker::Console { level, text } => {
                // Lines Node has not taken yet are capped, as the sandbox caps them (a worker
                // that sends more is not the sandbox: its line is dropped, and acknowledged).
                match self.console.reserve(text.len()) {
                    Some(ticket) => self.host.console(level, ConsoleLine::new(text, ticket)),
                    None => self.send(&ToWorker::ConsoleTaken { lines: 1 }),
                }
            }
            FromWorker::Memory { used } => {
                self.memory_used.store(used, Ordering::Relaxed);
                if let Some((group, _)) = &self.group {
                    group.report_memory(used);
                }
            }
            FromWorker::Pong => {
                self.pongs.fetch_add(1, Ordering::Relaxed);
            }
            FromWorker::Started { id } => {
                if let Some(e) = lock(&self.evals).get_mut(&id) {
                    e.started = true;
                }
            }
            FromWorker::Failed { error } => {
                let error = match error {
                    // Only these can fail the creation of a sandbox; anything else is a lie.
                    e @ (SandboxError::Memory { .. } | SandboxError::Setup(_)) => e,
                    other => SandboxError::Setup(other.to_string()),
                };
                self.end(&error, FAILED, true);
            }
        }
    }

    /// Makes sure the watchdog checks at `at` or earlier.
    fn arm(self: &Arc<Self>, at: Instant) {
        {
            let mut armed = lock(&self.watchdog);
            if armed.is_some_and(|a| a <= at && a > Instant::now()) {
                return;
            }
            *armed = Some(at);
        }
        let weak = Arc::downgrade(self);
        self.handle.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            if let Some(me) = weak.upgrade() {
                me.watch(at);
            }
        });
    }

    /// Looks at the worker when a deadline passed (and every `WATCH_EVERY` while it is late):
    /// a worker that burned `GRACE` of CPU time since without answering, or that is `STALL`
    /// late, is killed.
    fn watch(self: &Arc<Self>, fired: Instant) {
        {
            let mut armed = lock(&self.watchdog);
            if *armed == Some(fired) {
                *armed = None;
            }
        }
        let now = Instant::now();
        // Overdue evaluations settle now, as they do in thread mode, whatever the worker is
        // doing; the worker is watched until it answers them (or is killed below).
        let overdue: Vec<(Done, Duration)> = lock(&self.evals)
            .values_mut()
            .filter(|e| e.deadline <= now)
            .filter_map(|e| e.done.take().map(|d| (d, e.timeout)))
            .collect();
        for (done, timeout) in overdue {
            let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            done(Err(SandboxError::Timeout { timeout_ms }));
        }
        // The worker is late once an evaluation is overdue and none it started is live:
        // before that its running code may be a live evaluation's (see `refresh_deadline` in
        // baml_sandbox). One not started yet does not count: its script cannot be what runs.
        let (late, next) = {
            let evals = lock(&self.evals);
            let live = evals.values().any(|e| e.started && e.deadline > now);
            let late = evals
                .values()
                .map(|e| e.deadline)
                .filter(|d| *d <= now)
                .max()
                .filter(|_| !live);
            let next = evals
                .values()
                .map(|e| e.deadline)
                .filter(|d| *d > now)
                .min();
            (late, next)
        };
        let Some(late) = late else {
            *lock(&self.late_since) = None;
            if let Some(next) = next {
                self.arm(next);
            }
            return;
        };
        let cpu = cpu_time(self.process.pid());
        let pongs = self.pongs.load(Ordering::Relaxed);
        let (burned, quiet) = {
            let mut since = lock(&self.late_since);
            // In a group's worker another member's live turn may be what runs, and this
            // member's evaluation is waiting for it: the worker is asked to answer a `Ping`,
            // which it does between any two milliseconds of code that checks deadlines. Only
            // CPU time and wall time since its last answer count against it.
            let answered = since.as_ref().is_some_and(|l| l.pongs != pongs);
            let l = match since.as_mut() {
                Some(l) if !answered => l,
                _ => since.insert(Late {
                    cpu,
                    wall: if answered { now } else { late },
                    pongs,
                }),
            };
            let burned = match (l.cpu, cpu) {
                (Some(before), Some(now_cpu)) => now_cpu.saturating_sub(before),
                // Without a CPU clock to read, wall time past the deadline stands for it.
                _ => now.saturating_duration_since(l.wall),
            };
            (burned, now.saturating_duration_since(l.wall))
        };
        // A stopped worker (SIGSTOP, a tracer) will not answer by itself. One asleep is
        // not taken for stopped: under load its due timer, or its answer waiting in the
        // socket for this side to read, may simply be late; STALL bounds that case.
        let stopped = now.saturating_duration_since(late) >= 2 * WATCH_EVERY
            && stopped(self.process.pid()).unwrap_or(false);
        if stopped {
            self.crashed(
                Some(
                    "did not answer at an evaluation's deadline (it was stopped) and was killed"
                        .into(),
                ),
                true,
            );
        } else if burned >= GRACE {
            self.crashed(
                Some(format!(
                    "did not stop at an evaluation's deadline ({} ms of CPU time past it) and was killed",
                    burned.as_millis()
                )),
                true,
            );
        } else if quiet >= STALL {
            self.crashed(
                Some(format!(
                    "did not answer within {} s of an evaluation's deadline and was killed",
                    STALL.as_secs()
                )),
                true,
            );
        } else {
            if self.group.is_some() {
                self.send(&ToWorker::Ping);
            }
            self.arm(now + WATCH_EVERY);
        }
    }
}

/// Whether a thread of process `pid` is stopped by a signal or a tracer (state `T` or `t`).
fn stopped(pid: i32) -> Option<bool> {
    if pid <= 0 {
        return None;
    }
    let mut any = false;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(text) = std::fs::read_to_string(task.ok()?.path().join("stat")) else {
            continue;
        };
        // The state follows the command name, which is in parentheses and may hold spaces.
        let state = text.rsplit_once(')')?.1.split_whitespace().next()?;
        any |= state == "T" || state == "t";
    }
    Some(any)
}

/// CPU time process `pid` has used: the sum over its threads of `/proc/<pid>/task/*/schedstat`
/// (nanoseconds on CPU; the process's own file counts its main thread only).
fn cpu_time(pid: i32) -> Option<Duration> {
    if pid <= 0 {
        return None;
    }
    let mut total: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
        total = total.saturating_add(ns);
    }
    Some(Duration::from_nanos(total))
}
