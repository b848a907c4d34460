//! The worker process: one sandbox, or the members of one group sharing a QuickJS runtime,
//! driven by its own single-threaded loop, reaching the embedder only through its sockets.
//!
//! The loop reads messages, runs the sandboxes' turns itself, fires their timers, and writes
//! what the turns produced (results, host and BAML calls, `console` lines) in one batch. While
//! a turn runs, QuickJS's interrupt handler calls back here (`poll_while_running`) about every
//! millisecond: the loop reads its sockets then, so an abort or a dispose stops running code
//! at once, and flushes what the turn wrote so far. After it writes, the loop spins on its
//! sockets for a short while before it sleeps in `poll`, so that an answer arriving within
//! microseconds (a host function's result) does not pay for waking a sleeping process.
//!
//! The first socket (descriptor 3) decides what the worker is. Its first message is either
//! `Create` (one sandbox, that socket its connection) or `Group` (a shared runtime: that
//! socket then carries `Member` messages, each with the worker's end of a new member's own
//! socket passed along with it, over which that member speaks the one-sandbox protocol). The
//! worker confines itself on that first message, before any sandboxed code runs.
//!
//! The worker holds no secret: it never sees API keys or the environment, and BAML calls are
//! messages to the embedder, which makes the HTTP requests.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use baml_sandbox::{
    CallGuard, ConsoleLevel, ConsoleLine, Driver, EvalOptions, Host, OnStart, Partial, Reply,
    Sandbox, SandboxError, SandboxHandle, SandboxOptions, SharedOptions, SharedRuntime, Task,
    TimerFn, TimerKey, Timers, Value,
};

use crate::wire::{self, Create, Encoder, FromWorker, ToWorker};

/// How long the loop spins on its sockets after writing before it sleeps.
const SPIN: Duration = Duration::from_micros(100);
/// How often a running turn reads the sockets (abort, dispose) and flushes what it wrote.
const POLL_EVERY: Duration = Duration::from_millis(1);
/// Past this many unwritten bytes, writing blocks until the embedder reads.
const OUT_CAP: usize = 8 << 20;
/// The most members a group's worker serves at once (its descriptor limit follows).
pub const MAX_MEMBERS: usize = 4096;
/// Descriptors received in one `recvmsg`: the embedder sends one per message.
const FDS_PER_READ: usize = 4;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the loop, the driver (called from the interrupt handler) and every connection share.
struct Loop {
    ready: Mutex<VecDeque<Arc<dyn Task>>>,
    timers: Mutex<Timers>,
    next_poll: Mutex<Instant>,
    /// A sandbox is being created on this thread (its set-up runs JS): the interrupt handler
    /// reads nothing then, or a message could be applied to a sandbox that does not exist yet.
    creating: AtomicBool,
    /// The first socket's connection first, then a group's members.
    conns: Mutex<Vec<Arc<Conn>>>,
    /// Descriptors received on the first socket, in order: each `Member` message takes one.
    fds: Mutex<VecDeque<OwnedFd>>,
    /// The shared runtime, once `Group` made this a group's worker.
    group: OnceLock<SharedRuntime>,
    /// What a socket is read into.
    chunk: Mutex<Vec<u8>>,
    /// Standard error stays open (for debugging the worker itself).
    keep_stderr: bool,
    me: Weak<Loop>,
}

/// One socket to the embedder and the sandbox it drives (none on a group's first socket).
struct Conn {
    sock: UnixStream,
    /// Descriptor 3: read with `recvmsg`, since a group's members' sockets arrive over it.
    first: bool,
    out: Mutex<Encoder>,
    input: Mutex<Vec<u8>>,
    max_frame: AtomicU64,
    /// The parent's evaluation ids and the sandbox's.
    evals: Mutex<HashMap<u64, u64>>,
    /// Replies (and partial callbacks) of host and BAML calls waiting for the embedder.
    replies: Mutex<HashMap<u64, Reply>>,
    partials: Mutex<HashMap<u64, Arc<Partial>>>,
    next_call: AtomicU64,
    sandbox: OnceLock<Sandbox>,
    /// The embedder closed the socket, asked to dispose, or broke the protocol.
    closing: AtomicBool,
    last_memory: AtomicU64,
    /// `console` lines sent and not yet delivered by the embedder: their bytes stay counted
    /// in the sandbox's outbox (its cap throws a `RangeError`) until the embedder says so.
    console_held: Mutex<VecDeque<ConsoleLine>>,
}

/// The sandboxes' driver in a worker: turns and timers run on the loop's thread.
struct LoopDriver {
    lp: Weak<Loop>,
}

impl Driver for LoopDriver {
    fn schedule(&self, task: Arc<dyn Task>) {
        if let Some(lp) = self.lp.upgrade() {
            lock(&lp.ready).push_back(task);
        }
    }

    fn add_timer(&self, at: Instant, fire: TimerFn) -> TimerKey {
        match self.lp.upgrade() {
            Some(lp) => lock(&lp.timers).add(at, fire),
            None => Timers::default().add(at, fire),
        }
    }

    fn cancel_timer(&self, key: TimerKey) {
        if let Some(lp) = self.lp.upgrade() {
            let fire = lock(&lp.timers).cancel(key);
            drop(fire);
        }
    }

    fn poll_while_running(&self) {
        let Some(lp) = self.lp.upgrade() else {
            return;
        };
        if lp.creating.load(Ordering::Acquire) {
            return;
        }
        {
            let mut next = lock(&lp.next_poll);
            let now = Instant::now();
            if now < *next {
                return;
            }
            *next = now + POLL_EVERY;
        }
        lp.flush_all(false);
        lp.read_ready(Some(Duration::ZERO));
    }
}

/// A sandbox's host in a worker: everything becomes a message to the embedder.
struct WireHost {
    conn: Weak<Conn>,
}

/// Cancels a BAML call when the sandbox drops it (its evaluation ended).
struct CancelGuard {
    call: u64,
    conn: Weak<Conn>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        let Some(c) = self.conn.upgrade() else {
            return;
        };
        let waiting = lock(&c.replies).remove(&self.call);
        lock(&c.partials).remove(&self.call);
        if waiting.is_some() {
            c.send(&FromWorker::Cancel { call: self.call });
        }
    }
}

impl Host for WireHost {
    fn call(&self, index: usize, args: Vec<Value>, reply: Reply) {
        let Some(c) = self.conn.upgrade() else {
            return;
        };
        let call = c.next_call.fetch_add(1, Ordering::Relaxed);
        lock(&c.replies).insert(call, reply);
        c.send(&FromWorker::HostCall {
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
        let c = self.conn.upgrade()?;
        let call = c.next_call.fetch_add(1, Ordering::Relaxed);
        lock(&c.replies).insert(call, reply);
        let stream = partial.is_some();
        if let Some(p) = partial {
            lock(&c.partials).insert(call, Arc::new(p));
        }
        c.send(&FromWorker::BamlCall {
            call,
            index: index as u64,
            args,
            stream,
        });
        Some(Box::new(CancelGuard {
            call,
            conn: self.conn.clone(),
        }))
    }

    fn console(&self, level: ConsoleLevel, line: ConsoleLine) {
        if let Some(c) = self.conn.upgrade() {
            c.send(&FromWorker::Console {
                level,
                text: line.to_string(),
            });
            lock(&c.console_held).push_back(line);
        }
    }
}

impl Conn {
    fn new(sock: UnixStream, first: bool, max_frame: usize) -> Arc<Conn> {
        Arc::new(Conn {
            sock,
            first,
            out: Mutex::new(Encoder::new()),
            input: Mutex::new(Vec::new()),
            max_frame: AtomicU64::new(max_frame as u64),
            evals: Mutex::new(HashMap::new()),
            replies: Mutex::new(HashMap::new()),
            partials: Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(1),
            sandbox: OnceLock::new(),
            closing: AtomicBool::new(false),
            last_memory: AtomicU64::new(u64::MAX),
            console_held: Mutex::new(VecDeque::new()),
        })
    }

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

    /// The connection ends: the embedder closed it, asked to dispose, or broke the protocol.
    /// A member's sandbox is disposed at once (its running code, if any, stops at the next
    /// interrupt); the first socket's end ends the worker.
    fn close(&self) {
        self.closing.store(true, Ordering::Release);
        if !self.first {
            if let Some(sandbox) = self.sandbox.get() {
                sandbox.dispose();
            }
        }
    }

    fn unwritten(&self) -> bool {
        !lock(&self.out).is_empty()
    }

    /// Writes what is queued. Without `block`, stops when the socket is full; with it, waits
    /// until the queue is back under `OUT_CAP` (the embedder reads, or kills this process).
    fn flush(&self, block: bool) {
        let mut out = lock(&self.out);
        while !out.is_empty() {
            match (&self.sock).write(out.bytes()) {
                Ok(0) => {
                    // Not `close`: disposing may send, and `out` is held.
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
                    wait_for(&[self.sock.as_raw_fd()], libc::POLLOUT, None);
                }
                Err(_) => {
                    // Not `close`: disposing may send, and `out` is held.
                    self.closing.store(true, Ordering::Release);
                    out.clear();
                    return;
                }
            }
        }
    }

    /// One read of what the socket has, without waiting: the first socket's with the
    /// descriptors that came along (kept in order for `Member` messages, in a group's worker).
    fn read_once(&self, lp: &Loop, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.first {
            return (&self.sock).read(buf);
        }
        let mut fds = Vec::new();
        let n = recv_with_fds(self.sock.as_raw_fd(), buf, &mut fds)?;
        // Kept even before `Group` is applied: a member's descriptor may come in the same read.
        lock(&lp.fds).extend(fds);
        Ok(n)
    }

    /// Reads what the socket has without waiting and applies every complete message. Returns
    /// whether anything was read, or the socket ended.
    fn read_available(self: &Arc<Self>, lp: &Loop) -> bool {
        let mut got = false;
        let mut ended = false;
        {
            let mut chunk = lock(&lp.chunk);
            loop {
                match self.read_once(lp, &mut chunk) {
                    Ok(0) => {
                        ended = true;
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
                        ended = true;
                        break;
                    }
                }
            }
        }
        if got {
            self.apply_input(lp);
        }
        if ended {
            self.close();
        }
        got || ended
    }

    fn apply_input(self: &Arc<Self>, lp: &Loop) {
        // Messages are taken out of the buffer before any is applied: applying one may read
        // the sockets again (a turn's interrupt handler).
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
                    if input.is_empty() && input.capacity() > 4096 {
                        *input = Vec::new();
                    }
                }
                Err(_) => bad = true,
            }
        }
        if bad {
            // The embedder never sends a malformed frame: something is badly wrong.
            self.close();
        }
        for m in messages {
            self.apply(lp, m);
        }
    }

    fn apply(self: &Arc<Self>, lp: &Loop, m: ToWorker) {
        match m {
            ToWorker::Create(c) => match lp.group.get() {
                Some(group) if !self.first => self.create_member(c, group),
                None if self.first => self.create(lp, c),
                _ => self.close(),
            },
            ToWorker::Group {
                memory_limit_bytes,
                max_stack_bytes,
            } => {
                if self.first && self.sandbox.get().is_none() && lp.group.get().is_none() {
                    self.start_group(lp, memory_limit_bytes, max_stack_bytes);
                } else {
                    self.close();
                }
            }
            ToWorker::Member => {
                let fd = lock(&lp.fds).pop_front();
                match (self.first, lp.group.get(), fd) {
                    (true, Some(group), Some(fd)) => lp.add_member(fd, group),
                    // A member whose descriptor did not arrive (the descriptor limit): its
                    // socket was closed on the way, which its embedder side sees.
                    (true, Some(_), None) => {}
                    _ => self.close(),
                }
            }
            ToWorker::Ping => self.send(&FromWorker::Pong),
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
                            if let Some(c) = started.upgrade() {
                                c.send(&FromWorker::Started { id });
                            }
                        }))),
                    },
                    Box::new(move |result| {
                        if let Some(c) = weak.upgrade() {
                            lock(&c.evals).remove(&id);
                            // The heap's size first: the embedder may read it as soon as the
                            // evaluation settles.
                            c.report_memory();
                            c.send(&FromWorker::Done { id, result });
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
                self.close();
            }
        }
    }

    /// The descriptors this process keeps when it confines itself: this socket, and members'
    /// sockets received already.
    fn keep(&self, lp: &Loop) -> Vec<RawFd> {
        let mut keep = vec![self.sock.as_raw_fd()];
        if lp.keep_stderr {
            keep.push(2);
        }
        keep.extend(lock(&lp.fds).iter().map(AsRawFd::as_raw_fd));
        keep
    }

    fn sandbox_options(c: Create) -> SandboxOptions {
        SandboxOptions {
            memory_limit_bytes: usize::try_from(c.memory_limit_bytes).unwrap_or(usize::MAX),
            timeout: c.timeout,
            max_stack_bytes: usize::try_from(c.max_stack_bytes).unwrap_or(usize::MAX),
            globals: c.globals,
            host_functions: c.host_functions,
            console: c.console,
            baml_functions: c.baml_functions,
        }
    }

    fn create(self: &Arc<Self>, lp: &Loop, c: Create) {
        if self.sandbox.get().is_some() {
            return;
        }
        self.max_frame.store(
            wire::max_frame(c.memory_limit_bytes) as u64,
            Ordering::Relaxed,
        );
        let options = Self::sandbox_options(c);
        let host = Arc::new(WireHost {
            conn: Arc::downgrade(self),
        });
        let driver = Arc::new(LoopDriver { lp: lp.me.clone() });
        // A one-sandbox worker has no use for a descriptor sent along (the embedder sends none).
        lock(&lp.fds).clear();
        let created = options.validate().and_then(|()| {
            crate::confine::confine(
                &self.keep(lp),
                &crate::confine::Limits::for_memory_limit(options.memory_limit_bytes as u64),
            )
            .map_err(|e| SandboxError::Setup(format!("cannot confine the worker process: {e}")))?;
            lp.creating.store(true, Ordering::Release);
            let created = Sandbox::new(&options, host, driver);
            lp.creating.store(false, Ordering::Release);
            created
        });
        baml_sandbox::drop_flat(Value::Object(options.globals));
        match created {
            Ok(sandbox) => {
                let _ = self.sandbox.set(sandbox);
            }
            Err(error) => {
                self.send(&FromWorker::Failed { error });
                self.close();
            }
        }
    }

    /// Makes this worker a group's: confined, with a shared runtime its members join.
    fn start_group(&self, lp: &Loop, memory_limit_bytes: u64, max_stack_bytes: u64) {
        let options = SharedOptions {
            memory_limit_bytes: usize::try_from(memory_limit_bytes).unwrap_or(usize::MAX),
            max_stack_bytes: usize::try_from(max_stack_bytes).unwrap_or(usize::MAX),
        };
        let driver = Arc::new(LoopDriver { lp: lp.me.clone() });
        let started = options.validate().and_then(|()| {
            crate::confine::confine(
                &self.keep(lp),
                &crate::confine::Limits::for_group(memory_limit_bytes, MAX_MEMBERS),
            )
            .map_err(|e| SandboxError::Setup(format!("cannot confine the worker process: {e}")))?;
            SharedRuntime::new(&options, driver)
        });
        match started {
            Ok(group) => {
                let _ = lp.group.set(group);
            }
            Err(error) => {
                self.send(&FromWorker::Failed { error });
                self.close();
            }
        }
    }

    /// A member's sandbox in the group's runtime: created by the group's task, ahead of its
    /// first evaluation.
    fn create_member(self: &Arc<Self>, c: Create, group: &SharedRuntime) {
        if self.sandbox.get().is_some() {
            return;
        }
        let options = Self::sandbox_options(c);
        let host = Arc::new(WireHost {
            conn: Arc::downgrade(self),
        });
        match Sandbox::spawn_shared(options, host, group) {
            Ok(sandbox) => {
                let _ = self.sandbox.set(sandbox);
            }
            Err(error) => {
                self.send(&FromWorker::Failed { error });
                self.close();
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

impl Loop {
    fn conns(&self) -> Vec<Arc<Conn>> {
        lock(&self.conns).clone()
    }

    fn add_member(&self, fd: OwnedFd, group: &SharedRuntime) {
        let sock = UnixStream::from(fd);
        if sock.set_nonblocking(true).is_err() {
            return;
        }
        let conn = Conn::new(sock, false, wire::max_frame(group.memory_limit() as u64));
        lock(&self.conns).push(conn);
    }

    fn flush_all(&self, block: bool) {
        for c in self.conns() {
            c.flush(block);
        }
    }

    /// Reads the sockets that have something (or ended), waiting at most `timeout` (`None`:
    /// until one does). Returns whether anything was read.
    fn read_ready(&self, timeout: Option<Duration>) -> bool {
        let conns = self.conns();
        let mut fds: Vec<libc::pollfd> = conns
            .iter()
            .map(|c| libc::pollfd {
                fd: c.sock.as_raw_fd(),
                events: if c.unwritten() {
                    libc::POLLIN | libc::POLLOUT
                } else {
                    libc::POLLIN
                },
                revents: 0,
            })
            .collect();
        if poll(&mut fds, timeout) == 0 {
            return false;
        }
        let mut got = false;
        for (c, p) in conns.iter().zip(&fds) {
            if p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                got |= c.read_available(self);
            }
        }
        got
    }

    /// After turns: the heap's size to the connections that may want it (one sandbox's, or
    /// in a group the members with evaluations in flight; the others learn it when one of
    /// theirs settles).
    fn report_memory(&self) {
        for c in self.conns() {
            if self.group.get().is_none() || !lock(&c.evals).is_empty() {
                c.report_memory();
            }
        }
    }

    /// Drops the members whose sockets ended (their sandboxes disposed). Returns whether any
    /// was.
    fn drop_closed_members(&self) -> bool {
        let closed: Vec<Arc<Conn>> = {
            let mut conns = lock(&self.conns);
            let (closed, open): (Vec<_>, Vec<_>) = conns
                .drain(..)
                .partition(|c| !c.first && c.closing.load(Ordering::Acquire));
            *conns = open;
            closed
        };
        for c in &closed {
            c.flush(true);
            if let Some(sandbox) = c.sandbox.get() {
                sandbox.dispose();
            }
        }
        !closed.is_empty()
    }

    fn run_ready(&self) -> bool {
        let mut ran = false;
        loop {
            let task = lock(&self.ready).pop_front();
            let Some(task) = task else { break };
            task.run();
            ran = true;
        }
        ran
    }
}

/// `recvmsg` of what `fd` has into `buf`, without waiting, with the descriptors that came
/// along (close-on-exec) added to `fds`.
fn recv_with_fds(fd: RawFd, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> std::io::Result<usize> {
    const SPACE: usize = FDS_PER_READ * std::mem::size_of::<RawFd>();
    // Aligned for `cmsghdr`; CMSG_SPACE of a few descriptors fits in 64 bytes.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is arithmetic.
    #[expect(clippy::cast_possible_truncation, reason = "16 bytes")]
    let space = unsafe { libc::CMSG_SPACE(SPACE as u32) } as usize;
    msg.msg_controllen = space.min(std::mem::size_of_val(&control)) as _;
    // SAFETY: `msg` describes `buf` and `control`, both live and writable.
    let n = unsafe {
        libc::recvmsg(
            fd,
            &raw mut msg,
            libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel filled `msg.msg_control` with `msg_controllen` bytes of well-formed
    // control messages; the CMSG_* walkers stay within them.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let len = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    let raw = std::ptr::read_unaligned(
                        data.add(i * std::mem::size_of::<RawFd>()).cast::<RawFd>(),
                    );
                    fds.push(OwnedFd::from_raw_fd(raw));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

fn drop_result(result: Result<Value, baml_sandbox::HostError>) {
    match result {
        Ok(v) => baml_sandbox::drop_flat(v),
        Err(e) => baml_sandbox::drop_flat(Value::Object(e.fields)),
    }
}

/// `poll` with a timeout rounded up to milliseconds (`None`: no timeout); the number of
/// descriptors with events.
fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> usize {
    let ms = timeout.map_or(-1, |t| {
        // Round up, so a timer due in 0.4 ms does not spin through zero-timeout polls.
        i32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
    });
    // SAFETY: `fds` is a valid array of pollfds for the duration of the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    usize::try_from(n).unwrap_or(0)
}

/// Waits until one of `fds` is readable (or writable, with `POLLOUT`), at most `timeout`.
fn wait_for(fds: &[RawFd], events: i16, timeout: Option<Duration>) -> bool {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    poll(&mut p, timeout) > 0
}

/// Runs the worker on a socket to the embedder until it closes or the sandbox is disposed
/// (for a group's worker: until the group's socket closes). Returns the process's exit code.
pub fn serve(sock: UnixStream, keep_stderr: bool) -> i32 {
    if sock.set_nonblocking(true).is_err() {
        return 2;
    }
    // Runtimes prepared ahead would only cost memory here (spare workers are the
    // process-isolation pool).
    baml_sandbox::set_spares(0);
    let lp = Arc::new_cyclic(|me: &Weak<Loop>| Loop {
        ready: Mutex::new(VecDeque::new()),
        timers: Mutex::new(Timers::default()),
        next_poll: Mutex::new(Instant::now()),
        creating: AtomicBool::new(false),
        conns: Mutex::new(Vec::new()),
        fds: Mutex::new(VecDeque::new()),
        group: OnceLock::new(),
        chunk: Mutex::new(vec![0; 64 << 10]),
        keep_stderr,
        me: me.clone(),
    });
    let first = Conn::new(sock, true, wire::MAX_FRAME);
    lock(&lp.conns).push(first.clone());
    loop {
        // Turns.
        if lp.run_ready() {
            lp.report_memory();
        }
        // Timers.
        let due = lock(&lp.timers).take_due(Instant::now());
        let fired = !due.is_empty();
        for fire in due {
            fire();
        }
        lp.flush_all(false);
        if fired || !lock(&lp.ready).is_empty() {
            continue;
        }
        if first.closing.load(Ordering::Acquire) {
            for c in lp.conns() {
                c.flush(true);
                if let Some(sandbox) = c.sandbox.get() {
                    sandbox.dispose();
                }
            }
            // Let the dispose turns free the runtimes before the process exits (not required,
            // but it keeps a leak check meaningful under a debugger).
            lp.run_ready();
            return 0;
        }
        if lp.drop_closed_members() {
            continue;
        }
        // Wait for input: spin a little, then sleep until the next timer.
        let next_timer = lock(&lp.timers).next_due();
        let spin_until = Instant::now() + SPIN;
        let mut got = false;
        while Instant::now() < spin_until && next_timer.is_none_or(|t| Instant::now() < t) {
            if lp.read_ready(Some(Duration::ZERO)) {
                got = true;
                break;
            }
            std::hint::spin_loop();
        }
        if got {
            continue;
        }
        // Bytes a socket did not take yet are written as soon as it takes more (`read_ready`
        // waits for that too).
        let timeout = next_timer.map(|t| t.saturating_duration_since(Instant::now()));
        lp.read_ready(timeout);
    }
}
