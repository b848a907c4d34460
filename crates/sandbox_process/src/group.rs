//! A group of sandboxes sharing one QuickJS runtime in one worker process (the embedder's
//! side).
//!
//! A [`ProcessGroup`] owns a worker that hosts the group's shared runtime. The worker is told
//! so by the first message on its socket (`Group`); from then on that socket only carries the
//! members' own sockets: for each new member the embedder makes a socket pair and sends the
//! worker's end over it (`SCM_RIGHTS`, one descriptor per message). The member then speaks the
//! one-sandbox protocol over its own socket, driven by a [`RemoteSandbox`](crate::RemoteSandbox)
//! exactly as a context in a worker of its own, watched the same way.
//!
//! What is the group's rather than a member's: the worker's life. A member disposed closes
//! only its own socket (the worker disposes its realm, the others run on). A worker that
//! crashes, breaks the protocol or ignores a deadline is killed, and every member's socket
//! then ends: all its members reject in-flight work with `SANDBOX_CRASHED`, saying why (the
//! member whose deadline it ignored, or "another context of its group"). As a group's runtime
//! in thread isolation is freed with its last member, its worker ends with its last member
//! (after [`LINGER`], in case another joins); a member joining later (or after the worker
//! died) gets a new worker.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use baml_sandbox::SandboxError;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::runtime::Handle;

use crate::spawn::{Process, Spawner};
use crate::wire::{self, Encoder, FromWorker, ToWorker, MEMBER_FRAME};

pub use crate::worker::MAX_MEMBERS;

/// How long a group's worker outlives its last member (see `ProcessGroup::left`).
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(500);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Members' sockets the group's socket did not take yet, in order.
#[derive(Default)]
struct Pending {
    fds: VecDeque<OwnedFd>,
    /// A task is waiting for the socket to take more.
    writer: bool,
}

/// A group's shared runtime and its limits (see the module docs): the worker hosting it now,
/// started with the first member.
pub struct ProcessGroup {
    pub(crate) spawner: Arc<Spawner>,
    pub(crate) handle: Handle,
    memory_limit: usize,
    max_stack: usize,
    /// The worker new members join; `None` once its last member left.
    worker: Mutex<Option<Arc<GroupWorker>>>,
    /// Bytes the group's heap used at the last report of any member.
    memory_used: AtomicU64,
}

/// One worker process hosting a group's runtime, shared by the members that joined it.
pub(crate) struct GroupWorker {
    control: UnixStream,
    pub(crate) process: Arc<Process>,
    spawner: Arc<Spawner>,
    handle: Handle,
    pending: Mutex<Pending>,
    /// Members joined and not ended yet (at most [`MAX_MEMBERS`]); changed under the group's
    /// `worker` lock.
    live: AtomicUsize,
    /// Why the worker was killed, when a member's watchdog (or a protocol violation seen by a
    /// member) killed it: the other members say so.
    killed_for: Mutex<Option<String>>,
    /// The worker's `Failed` answer (it could not set up the group), once read.
    failure: Mutex<Option<SandboxError>>,
    me: Weak<GroupWorker>,
}

impl ProcessGroup {
    /// A group whose members will share a runtime in a worker process (started with the
    /// first member). The limits are checked by the caller (as `SharedOptions::validate` does).
    pub fn new(
        memory_limit: usize,
        max_stack: usize,
        spawner: &Arc<Spawner>,
        handle: &Handle,
    ) -> Arc<ProcessGroup> {
        Arc::new(ProcessGroup {
            spawner: spawner.clone(),
            handle: handle.clone(),
            memory_limit,
            max_stack,
            worker: Mutex::new(None),
            memory_used: AtomicU64::new(0),
        })
    }

    /// The group's memory limit (its heap's, all members together).
    pub fn memory_limit(&self) -> usize {
        self.memory_limit
    }

    /// QuickJS's stack budget for each turn of any member.
    pub fn max_stack(&self) -> usize {
        self.max_stack
    }

    /// Bytes the group's heap used when a member last heard, and its limit.
    pub fn memory_usage(&self) -> (usize, usize) {
        let used = usize::try_from(self.memory_used.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        (used, self.memory_limit)
    }

    pub(crate) fn report_memory(&self, used: u64) {
        self.memory_used.store(used, Ordering::Relaxed);
    }

    /// The process id of the group's worker now (0 if it has none, or it has not started).
    pub fn pid(&self) -> i32 {
        lock(&self.worker).as_ref().map_or(0, |w| w.process.pid())
    }

    /// A socket for a new member, whose other end is on its way to the group's worker (a new
    /// one if the group has none, or its worker died or was killed).
    pub(crate) fn join(&self) -> Result<(UnixStream, Arc<GroupWorker>), SandboxError> {
        let mut slot = lock(&self.worker);
        let usable = slot
            .as_ref()
            .is_some_and(|w| lock(&w.killed_for).is_none() && !w.gone() && w.failed().is_none());
        if !usable {
            *slot = Some(self.start_worker()?);
            self.memory_used.store(0, Ordering::Relaxed);
        }
        let worker = slot
            .clone()
            .ok_or_else(|| SandboxError::Setup("no worker for the group".into()))?;
        if worker.live.load(Ordering::Acquire) >= MAX_MEMBERS {
            return Err(SandboxError::Setup(format!(
                "a ContextGroup in process isolation holds at most {MAX_MEMBERS} contexts at once"
            )));
        }
        let (ours, theirs) = UnixStream::pair()
            .and_then(|(ours, theirs)| {
                ours.set_nonblocking(true)?;
                Ok((ours, theirs))
            })
            .map_err(|e| {
                SandboxError::Setup(format!("cannot make a socket for the context: {e}"))
            })?;
        worker.live.fetch_add(1, Ordering::AcqRel);
        worker.send_member(theirs.into());
        Ok((ours, worker))
    }

    /// A member of `worker` ended (disposed, or failed). With its last member gone, the
    /// worker is ended [`LINGER`] later unless a member joined meanwhile (new members then get
    /// a new one): a group used one request at a time does not start a process per request.
    pub(crate) fn left(self: &Arc<Self>, worker: &Arc<GroupWorker>) {
        let last = {
            let _slot = lock(&self.worker);
            worker.live.fetch_sub(1, Ordering::AcqRel) == 1
        };
        if !last {
            return;
        }
        let group = Arc::downgrade(self);
        let worker = worker.clone();
        self.handle.spawn(async move {
            tokio::time::sleep(LINGER).await;
            let Some(group) = group.upgrade() else {
                // The group is gone: the worker ends with the last reference to it.
                return;
            };
            let mut slot = lock(&group.worker);
            if worker.live.load(Ordering::Acquire) == 0 {
                if slot.as_ref().is_some_and(|w| Arc::ptr_eq(w, &worker)) {
                    *slot = None;
                }
                group.spawner.finish(worker.process.clone(), true);
            }
        });
    }

    fn start_worker(&self) -> Result<Arc<GroupWorker>, SandboxError> {
        let worker = self
            .spawner
            .worker()
            .map_err(|e| SandboxError::Setup(format!("cannot start a worker process: {e}")))?;
        let w = Arc::new_cyclic(|me| GroupWorker {
            control: worker.sock,
            process: worker.process,
            spawner: self.spawner.clone(),
            handle: self.handle.clone(),
            pending: Mutex::new(Pending::default()),
            live: AtomicUsize::new(0),
            killed_for: Mutex::new(None),
            failure: Mutex::new(None),
            me: me.clone(),
        });
        let mut e = Encoder::new();
        e.to_worker(&ToWorker::Group {
            memory_limit_bytes: self.memory_limit as u64,
            max_stack_bytes: self.max_stack as u64,
        });
        // The socket is new and empty: the first message fits whole, blocking or not.
        (&w.control)
            .write_all(e.bytes())
            .and_then(|()| w.control.set_nonblocking(true))
            .map_err(|e| SandboxError::Setup(format!("cannot set up the worker's socket: {e}")))?;
        Ok(w)
    }
}

impl GroupWorker {
    /// Sends a member's socket to the worker, now or once the group's socket takes more.
    fn send_member(&self, fd: OwnedFd) {
        let mut p = lock(&self.pending);
        if p.fds.is_empty() {
            match send_fd(self.control.as_raw_fd(), fd.as_raw_fd()) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // Sent; or the worker is gone, and the member's socket closes with `fd` (the
                // member learns how the worker ended as it reads end-of-file).
                Ok(()) | Err(_) => return,
            }
        }
        p.fds.push_back(fd);
        if p.writer {
            return;
        }
        p.writer = true;
        if let Some(me) = self.me.upgrade() {
            self.handle.spawn(async move { me.write_loop().await });
        }
    }

    async fn write_loop(self: Arc<Self>) {
        let writable = self.control.try_clone().and_then(|dup| {
            // SAFETY: `dup` owns its descriptor, open until the `AsyncFd` drops it.
            unsafe { AsyncFd::register_with_interest(dup, Interest::WRITABLE) }
                .map_err(|e| e.into_parts().1)
        });
        let Ok(writable) = writable else {
            // The members waiting can never reach the worker: their sockets close.
            let dropped = std::mem::take(&mut *lock(&self.pending));
            drop(dropped);
            return;
        };
        loop {
            let Ok(mut ready) = writable.writable().await else {
                let dropped = std::mem::take(&mut *lock(&self.pending));
                drop(dropped);
                return;
            };
            let mut p = lock(&self.pending);
            loop {
                let Some(fd) = p.fds.front() else {
                    p.writer = false;
                    return;
                };
                match send_fd(writable.get_ref().as_raw_fd(), fd.as_raw_fd()) {
                    Ok(()) => {
                        p.fds.pop_front();
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        ready.clear_ready();
                        break;
                    }
                    Err(_) => {
                        p.fds.clear();
                        p.writer = false;
                        return;
                    }
                }
            }
        }
    }

    /// Kills the worker: all its members' sockets end. `reason` is the culprit's.
    pub(crate) fn kill(&self, reason: &str) {
        lock(&self.killed_for).get_or_insert_with(|| reason.to_string());
        self.spawner.finish(self.process.clone(), true);
    }

    /// Whether the worker has ended (its end of the group's socket is closed).
    pub(crate) fn gone(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.control.as_raw_fd(),
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&raw mut p, 1, 0) };
        n > 0 && p.revents & (libc::POLLHUP | libc::POLLERR) != 0
    }

    /// Why another member had the worker killed, if one did.
    pub(crate) fn killed_for(&self) -> Option<String> {
        lock(&self.killed_for).clone()
    }

    /// The worker's `Failed` answer, if it could not set up the group. It writes it before it
    /// exits, so by the time a member's socket reads end-of-file it is there to read.
    pub(crate) fn failed(&self) -> Option<SandboxError> {
        let mut failure = lock(&self.failure);
        if failure.is_none() {
            let mut buf = [0; 4096];
            if let Ok(n) = (&self.control).read(&mut buf) {
                let _ = wire::split_frames(&buf[..n], buf.len(), |payload| {
                    if let Ok(FromWorker::Failed { error }) = wire::decode_from_worker(payload) {
                        // Only these can fail the set-up; anything else is a lie.
                        let error = match error {
                            e @ (SandboxError::Memory { .. } | SandboxError::Setup(_)) => e,
                            other => SandboxError::Setup(other.to_string()),
                        };
                        failure.get_or_insert(error);
                    }
                });
            }
        }
        failure.clone()
    }
}

impl Drop for GroupWorker {
    fn drop(&mut self) {
        // No member holds it and the group has let it go: the worker has nothing more to do.
        self.spawner.finish(self.process.clone(), true);
    }
}

/// Sends `MEMBER_FRAME` with descriptor `fd` over `sock`, without waiting.
fn send_fd(sock: RawFd, fd: RawFd) -> std::io::Result<()> {
    let mut control = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: MEMBER_FRAME.as_ptr().cast_mut().cast(),
        iov_len: MEMBER_FRAME.len(),
    };
    // SAFETY: a zeroed msghdr is valid; the pointers set below outlive the call, and the
    // control message written fits `control` (CMSG_SPACE of one descriptor is 24 bytes).
    let n = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        #[expect(clippy::cast_possible_truncation, reason = "4 bytes")]
        let fd_len = std::mem::size_of::<RawFd>() as u32;
        msg.msg_controllen = libc::CMSG_SPACE(fd_len) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_len) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        libc::sendmsg(
            sock,
            &raw const msg,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // Five bytes go as one buffer, whole or not at all; anything else is a broken socket.
    if usize::try_from(n).ok() != Some(MEMBER_FRAME.len()) {
        return Err(std::io::Error::other(
            "the group's socket took part of a message",
        ));
    }
    Ok(())
}
