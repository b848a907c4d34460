//! The worker process: one sandbox, driven by its own single-threaded loop, reaching the
//! embedder only through its socket.
//!
//! The loop reads messages, runs the sandbox's turns itself, fires its timers, and writes what
//! the turns produced (results, host and BAML calls, `console` lines) in one batch. While a
//! turn runs, QuickJS's interrupt handler calls back here (`poll_while_running`) about every
//! millisecond: the loop reads the socket then, so an abort or a dispose stops running code at
//! once, and flushes what the turn wrote so far. After it writes, the loop spins on the socket
//! for a short while before it sleeps in `poll`, so that an answer arriving within microseconds
//! (a host function's result) does not pay for waking a sleeping process.
//!
//! The worker holds no secret: it never sees API keys or the environment, and BAML calls are
//! messages to the embedder, which makes the HTTP requests.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use baml_sandbox::{
    CallGuard, ConsoleLevel, ConsoleLine, Driver, EvalOptions, Host, OnStart, Partial, Reply,
    Sandbox, SandboxError, SandboxHandle, SandboxOptions, Task, TimerFn, TimerKey, Timers, Value,
};

use crate::wire::{self, Create, Encoder, FromWorker, ToWorker};

/// How long the loop spins on its socket after writing before it sleeps.
const SPIN: Duration = Duration::from_micros(100);
/// How often a running turn reads the socket (abort, dispose) and flushes what it wrote.
const POLL_EVERY: Duration = Duration::from_millis(1);
/// Past this many unwritten bytes, writing blocks until the embedder reads.
const OUT_CAP: usize = 8 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by the loop, the driver (called from the interrupt handler) and the host.
struct Shared {
    sock: UnixStream,
    out: Mutex<Encoder>,
    input: Mutex<Vec<u8>>,
    /// What the socket is read into.
    chunk: Mutex<Vec<u8>>,
    max_frame: AtomicU64,
    /// The parent's evaluation ids and the sandbox's.
    evals: Mutex<HashMap<u64, u64>>,
    /// Replies (and partial callbacks) of host and BAML calls waiting for the embedder.
    replies: Mutex<HashMap<u64, Reply>>,
    partials: Mutex<HashMap<u64, Arc<Partial>>>,
    next_call: AtomicU64,
    sandbox: OnceLock<Sandbox>,
    /// The embedder closed the socket, or asked to dispose: the loop ends.
    closing: AtomicBool,
    ready: Mutex<VecDeque<Arc<dyn Task>>>,
    timers: Mutex<Timers>,
    next_poll: Mutex<Instant>,
    last_memory: AtomicU64,
    /// Standard error stays open (for debugging the worker itself).
    keep_stderr: bool,
    /// `console` lines sent and not yet delivered by the embedder: their bytes stay counted
    /// in the sandbox's outbox (its cap throws a `RangeError`) until the embedder says so.
    console_held: Mutex<VecDeque<ConsoleLine>>,
}

/// The sandbox's driver in a worker: turns and timers run on the loop's thread.
struct LoopDriver {
    shared: Weak<Shared>,
}

impl Driver for LoopDriver {
    fn schedule(&self, task: Arc<dyn Task>) {
        if let Some(s) = self.shared.upgrade() {
            lock(&s.ready).push_back(task);
        }
    }

    fn add_timer(&self, at: Instant, fire: TimerFn) -> TimerKey {
        match self.shared.upgrade() {
            Some(s) => lock(&s.timers).add(at, fire),
            None => Timers::default().add(at, fire),
        }
    }

    fn cancel_timer(&self, key: TimerKey) {
        if let Some(s) = self.shared.upgrade() {
            let fire = lock(&s.timers).cancel(key);
            drop(fire);
        }
    }

    fn poll_while_running(&self) {
        let Some(s) = self.shared.upgrade() else {
            return;
        };
        // Not while the sandbox is being created (its set-up runs JS too): a message read then
        // would be applied to a sandbox that does not exist yet.
        if s.sandbox.get().is_none() {
            return;
        }
        {
            let mut next = lock(&s.next_poll);
            let now = Instant::now();
            if now < *next {
                return;
            }
            *next = now + POLL_EVERY;
        }
        s.flush(false);
        s.read_available();
    }
}

/// The sandbox's host in a worker: everything becomes a message to the embedder.
struct WireHost {
    shared: Weak<Shared>,
}

/// Cancels a BAML call when the sandbox drops it (its evaluation ended).
struct CancelGuard {
    call: u64,
    shared: Weak<Shared>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        let Some(s) = self.shared.upgrade() else {
            return;
        };
        let waiting = lock(&s.replies).remove(&self.call);
        lock(&s.partials).remove(&self.call);
        if waiting.is_some() {
            s.send(&FromWorker::Cancel { call: self.call });
        }
    }
}

impl Host for WireHost {
    fn call(&self, index: usize, args: Vec<Value>, reply: Reply) {
        let Some(s) = self.shared.upgrade() else {
            return;
        };
        let call = s.next_call.fetch_add(1, Ordering::Relaxed);
        lock(&s.replies).insert(call, reply);
        s.send(&FromWorker::HostCall {
            call,
            index: index as u64,
            args,
        });
    }

    fn baml_call(
        &self,
        index: usize,
        args: Vec<Value>,
        partial: Option<Partial>,
        reply: Reply,
    ) -> Option<CallGuard> {
        let s = self.shared.upgrade()?;
        let call = s.next_call.fetch_add(1, Ordering::Relaxed);
        lock(&s.replies).insert(call, reply);
        let stream = partial.is_some();
        if let Some(p) = partial {
            lock(&s.partials).insert(call, Arc::new(p));
        }
        s.send(&FromWorker::BamlCall {
            call,
            index: index as u64,
            args,
            stream,
        });
        Some(Box::new(CancelGuard {
            call,
            shared: self.shared.clone(),
        }))
    }

    fn console(&self, level: ConsoleLevel, line: ConsoleLine) {
        if let Some(s) = self.shared.upgrade() {
            s.send(&FromWorker::Console {
                level,
                text: line.to_string(),
            });
            lock(&s.console_held).push_back(line);
        }
    }
}

impl Shared {
    fn send(&self, m: &FromWorker) {
        let full = {
            let mut out = lock(&self.out);
            out.from_worker(m);
            out.len() > OUT_CAP
        };
        if full {
            self.flush(true);
        }
    }

    /// Writes what is queued. Without `block`, stops when the socket is full; with it, waits
    /// until the queue is back under `OUT_CAP` (the embedder reads, or kills this process).
    fn flush(&self, block: bool) {
        let mut out = lock(&self.out);
        while !out.is_empty() {
            match (&self.sock).write(out.bytes()) {
                Ok(0) => {
                    self.closing.store(true, Ordering::Release);
                    out.clear();
                    return;
                }
                Ok(n) => out.consume(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if !block || out.len() <= OUT_CAP {
                        return;
                    }
                    wait_for(&self.sock, libc::POLLOUT, None);
                }
                Err(_) => {
                    self.closing.store(true, Ordering::Release);
                    out.clear();
                    return;
                }
            }
        }
    }

    /// Reads what the socket has without waiting and applies every complete message. Returns
    /// whether anything was read.
    fn read_available(self: &Arc<Self>) -> bool {
        let mut got = false;
        let mut chunk = lock(&self.chunk);
        loop {
            match (&self.sock).read(&mut chunk) {
                Ok(0) => {
                    self.closing.store(true, Ordering::Release);
                    break;
                }
                Ok(n) => {
                    got = true;
                    lock(&self.input).extend_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.closing.store(true, Ordering::Release);
                    break;
                }
            }
        }
        if got {
            self.apply_input();
        }
        got
    }

    fn apply_input(self: &Arc<Self>) {
        // Messages are taken out of the buffer before any is applied: applying one may read
        // the socket again (a turn's interrupt handler).
        let mut messages = Vec::new();
        let mut bad = false;
        {
            let mut input = lock(&self.input);
            let max = usize::try_from(self.max_frame.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
            match wire::split_frames(&input, max, |payload| {
                match wire::decode_to_worker(payload) {
                    Ok(m) => messages.push(m),
                    Err(_) => bad = true,
                }
            }) {
                Ok(used) => {
                    input.drain(..used);
                }
                Err(_) => bad = true,
            }
        }
        if bad {
            // The embedder never sends a malformed frame: something is badly wrong.
            self.closing.store(true, Ordering::Release);
        }
        for m in messages {
            self.apply(m);
        }
    }

    fn apply(self: &Arc<Self>, m: ToWorker) {
        match m {
            ToWorker::Create(c) => self.create(c),
            ToWorker::Eval {
                id,
                code,
                timeout,
                filename,
            } => {
                let Some(sandbox) = self.sandbox.get() else {
                    return;
                };
                let weak = Arc::downgrade(self);
                let started = Arc::downgrade(self);
                let engine_id = sandbox.evaluate(
                    code,
                    EvalOptions {
                        timeout: Some(timeout),
                        filename,
                        on_start: Some(OnStart(Arc::new(move || {
                            if let Some(s) = started.upgrade() {
                                s.send(&FromWorker::Started { id });
                            }
                        }))),
                    },
                    Box::new(move |result| {
                        if let Some(s) = weak.upgrade() {
                            lock(&s.evals).remove(&id);
                            // The heap's size first: the embedder may read it as soon as the
                            // evaluation settles.
                            s.report_memory();
                            s.send(&FromWorker::Done { id, result });
                        }
                    }),
                );
                // A synchronous rejection (disposed) already sent `Done`; nothing to abort.
                lock(&self.evals).insert(id, engine_id);
            }
            ToWorker::Abort { id } => {
                let engine_id = lock(&self.evals).get(&id).copied();
                if let (Some(engine_id), Some(sandbox)) = (engine_id, self.sandbox.get()) {
                    sandbox.abort(engine_id);
                }
            }
            ToWorker::Reply { call, result } => {
                lock(&self.partials).remove(&call);
                let reply = lock(&self.replies).remove(&call);
                match reply {
                    Some(reply) => reply(result),
                    None => drop_result(result),
                }
            }
            ToWorker::Partial { call, value } => {
                let partial = lock(&self.partials).get(&call).cloned();
                match partial {
                    Some(p) => p(value),
                    None => baml_sandbox::drop_flat(value),
                }
            }
            ToWorker::ConsoleTaken { lines } => {
                let mut held = lock(&self.console_held);
                let n = usize::try_from(lines).unwrap_or(usize::MAX).min(held.len());
                let taken: Vec<ConsoleLine> = held.drain(..n).collect();
                drop(held);
                drop(taken);
            }
            ToWorker::Dispose => {
                if let Some(sandbox) = self.sandbox.get() {
                    sandbox.dispose();
                }
                self.closing.store(true, Ordering::Release);
            }
        }
    }

    fn create(self: &Arc<Self>, c: Create) {
        if self.sandbox.get().is_some() {
            return;
        }
        self.max_frame.store(
            wire::max_frame(c.memory_limit_bytes) as u64,
            Ordering::Relaxed,
        );
        let options = SandboxOptions {
            memory_limit_bytes: usize::try_from(c.memory_limit_bytes).unwrap_or(usize::MAX),
            timeout: c.timeout,
            max_stack_bytes: usize::try_from(c.max_stack_bytes).unwrap_or(usize::MAX),
            globals: c.globals,
            host_functions: c.host_functions,
            console: c.console,
            baml_functions: c.baml_functions,
        };
        let host = Arc::new(WireHost {
            shared: Arc::downgrade(self),
        });
        let driver = Arc::new(LoopDriver {
            shared: Arc::downgrade(self),
        });
        let created = options.validate().and_then(|()| {
            let mut keep = vec![self.sock.as_raw_fd()];
            if self.keep_stderr {
                keep.push(2);
            }
            crate::confine::confine(
                &keep,
                &crate::confine::Limits::for_memory_limit(options.memory_limit_bytes as u64),
            )
            .map_err(|e| SandboxError::Setup(format!("cannot confine the worker process: {e}")))?;
            Sandbox::new(&options, host, driver)
        });
        baml_sandbox::drop_flat(Value::Object(options.globals));
        match created {
            Ok(sandbox) => {
                let _ = self.sandbox.set(sandbox);
            }
            Err(error) => {
                self.send(&FromWorker::Failed { error });
                self.closing.store(true, Ordering::Release);
            }
        }
    }

    fn report_memory(&self) {
        if let Some(sandbox) = self.sandbox.get() {
            let used = sandbox.memory_usage().0 as u64;
            if self.last_memory.swap(used, Ordering::Relaxed) != used {
                self.send(&FromWorker::Memory { used });
            }
        }
    }
}

fn drop_result(result: Result<Value, baml_sandbox::HostError>) {
    match result {
        Ok(v) => baml_sandbox::drop_flat(v),
        Err(e) => baml_sandbox::drop_flat(Value::Object(e.fields)),
    }
}

/// Waits until `sock` is readable (or writable, with `POLLOUT`), at most `timeout`.
fn wait_for(sock: &UnixStream, events: i16, timeout: Option<Duration>) -> bool {
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events,
        revents: 0,
    };
    let ms = timeout.map_or(-1, |t| {
        // Round up, so a timer due in 0.4 ms does not spin through zero-timeout polls.
        i32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
    });
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&raw mut pfd, 1, ms) };
    n > 0
}

/// Runs the worker on a socket to the embedder until it closes or the sandbox is disposed.
/// Returns the process's exit code.
pub fn serve(sock: UnixStream, keep_stderr: bool) -> i32 {
    if sock.set_nonblocking(true).is_err() {
        return 2;
    }
    // One sandbox per worker: runtimes prepared ahead would only cost memory here (spare
    // workers are the process-isolation pool).
    baml_sandbox::set_spares(0);
    let shared = Arc::new(Shared {
        sock,
        out: Mutex::new(Encoder::new()),
        input: Mutex::new(Vec::new()),
        chunk: Mutex::new(vec![0; 64 << 10]),
        max_frame: AtomicU64::new(wire::MAX_FRAME as u64),
        evals: Mutex::new(HashMap::new()),
        replies: Mutex::new(HashMap::new()),
        partials: Mutex::new(HashMap::new()),
        next_call: AtomicU64::new(1),
        sandbox: OnceLock::new(),
        closing: AtomicBool::new(false),
        ready: Mutex::new(VecDeque::new()),
        timers: Mutex::new(Timers::default()),
        next_poll: Mutex::new(Instant::now()),
        last_memory: AtomicU64::new(u64::MAX),
        console_held: Mutex::new(VecDeque::new()),
        keep_stderr,
    });
    loop {
        // Turns.
        let mut ran = false;
        loop {
            let task = lock(&shared.ready).pop_front();
            let Some(task) = task else { break };
            task.run();
            ran = true;
        }
        if ran {
            shared.report_memory();
        }
        // Timers.
        let due = lock(&shared.timers).take_due(Instant::now());
        let fired = !due.is_empty();
        for fire in due {
            fire();
        }
        shared.flush(false);
        if fired || !lock(&shared.ready).is_empty() {
            continue;
        }
        if shared.closing.load(Ordering::Acquire) {
            shared.flush(true);
            if let Some(sandbox) = shared.sandbox.get() {
                sandbox.dispose();
                // Let the dispose turn free the runtime before the process exits (not required,
                // but it keeps a leak check meaningful under a debugger).
                while let Some(task) = lock(&shared.ready).pop_front() {
                    task.run();
                }
            }
            return 0;
        }
        // Wait for input: spin a little, then sleep until the next timer.
        let next_timer = lock(&shared.timers).next_due();
        let spin_until = Instant::now() + SPIN;
        let mut got = false;
        while Instant::now() < spin_until && next_timer.is_none_or(|t| Instant::now() < t) {
            if shared.read_available() {
                got = true;
                break;
            }
            std::hint::spin_loop();
        }
        if got {
            continue;
        }
        let timeout = next_timer.map(|t| t.saturating_duration_since(Instant::now()));
        // Bytes the socket did not take yet are written as soon as it takes more.
        let unwritten = !lock(&shared.out).is_empty();
        let events = if unwritten {
            libc::POLLIN | libc::POLLOUT
        } else {
            libc::POLLIN
        };
        if wait_for(&shared.sock, events, timeout) {
            shared.read_available();
        }
    }
}
