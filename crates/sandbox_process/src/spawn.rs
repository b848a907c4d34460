//! Starting and reaping worker processes.
//!
//! Workers are started by one long-lived thread of the embedder's process ("spawner"): a
//! worker asks the kernel to kill it when the thread that started it exits
//! (`PR_SET_PDEATHSIG`), which for this thread means when the embedder's process exits or is
//! killed. They are started with `posix_spawn` (no copy of the embedder's page tables, as a
//! `fork` of a big Node process would make), with an empty environment (no API key in the
//! embedder's environment reaches them), `/dev/null` as standard input and output, and their
//! end of a socket pair as descriptor 3.
//!
//! A few workers are kept started and idle ("spares"), so that a new context does not wait
//! for a process to start. A worker that is done with is killed and reaped by the "reaper"
//! thread, which also reads how a worker that died on its own ended (a signal, an exit code).

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How many started, idle workers are kept ready.
const SPARES: usize = 2;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A worker process: its pid once started, and what to do about it.
pub struct Process {
    pid: AtomicI32,
    /// Set when the process is no longer wanted; the spawner kills it on start if so.
    unwanted: AtomicBool,
    /// Why the process could not be started, or how it ended (once reaped).
    pub(crate) ending: Mutex<Option<String>>,
    reaped: AtomicBool,
}

impl Process {
    fn new() -> Arc<Process> {
        Arc::new(Process {
            pid: AtomicI32::new(0),
            unwanted: AtomicBool::new(false),
            ending: Mutex::new(None),
            reaped: AtomicBool::new(false),
        })
    }

    /// The process id, once the spawner has started it (0 before).
    pub fn pid(&self) -> i32 {
        self.pid.load(Ordering::Acquire)
    }

    /// How the process ended, if it has (or why it never started).
    pub fn ending(&self) -> Option<String> {
        lock(&self.ending).clone()
    }

    pub fn reaped(&self) -> bool {
        self.reaped.load(Ordering::Acquire)
    }

    /// Reaps the process if it has ended; true if so.
    fn try_reap(&self) -> bool {
        let pid = self.pid();
        if pid == 0 || self.reaped() {
            return self.reaped();
        }
        let mut status = 0;
        // SAFETY: plain waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) };
        if r == pid || r < 0 {
            lock(&self.ending).get_or_insert_with(|| describe(status));
            self.reaped.store(true, Ordering::Release);
            return true;
        }
        false
    }
}

/// A started (or starting) worker and the embedder's end of its socket.
pub struct Worker {
    pub sock: UnixStream,
    pub process: Arc<Process>,
}

enum Request {
    /// Start a worker on this socket end.
    Start(OwnedFd, Arc<Process>),
    /// Top up the spares.
    Refill,
}

/// Starts, keeps and reaps worker processes (see the module docs).
pub struct Spawner {
    requests: Mutex<Sender<Request>>,
    spares: Mutex<VecDeque<Worker>>,
    reaper: Mutex<Sender<Arc<Process>>>,
    exe: PathBuf,
}

impl Spawner {
    /// A spawner of `exe` (the worker executable). Fails if it is not an executable file.
    pub fn new(exe: PathBuf) -> std::io::Result<Arc<Spawner>> {
        let meta = std::fs::metadata(&exe)?;
        if !meta.is_file() {
            return Err(std::io::Error::other(format!(
                "{} is not a file",
                exe.display()
            )));
        }
        let (tx, rx) = channel();
        let (reap_tx, reap_rx) = channel();
        let spawner = Arc::new(Spawner {
            requests: Mutex::new(tx),
            spares: Mutex::new(VecDeque::new()),
            reaper: Mutex::new(reap_tx),
            exe,
        });
        let weak = Arc::downgrade(&spawner);
        std::thread::Builder::new()
            .name("baml-quickjs-spawner".into())
            .spawn(move || run_spawner(&weak, &rx))?;
        std::thread::Builder::new()
            .name("baml-quickjs-reaper".into())
            .spawn(move || run_reaper(&reap_rx))?;
        let _ = lock(&spawner.requests).send(Request::Refill);
        Ok(spawner)
    }

    /// A worker for a new context: a spare if one is ready, else one being started now (its
    /// socket is usable at once; what is written waits in the socket until it runs).
    pub fn worker(&self) -> std::io::Result<Worker> {
        // A spare that died meanwhile (killed from outside) is reaped and passed over.
        let spare = loop {
            let spare = lock(&self.spares).pop_front();
            match spare {
                Some(w) if w.process.try_reap() => {}
                other => break other,
            }
        };
        let requests = lock(&self.requests);
        let _ = requests.send(Request::Refill);
        if let Some(w) = spare {
            return Ok(w);
        }
        let (ours, theirs) = UnixStream::pair()?;
        let process = Process::new();
        let _ = requests.send(Request::Start(theirs.into(), process.clone()));
        Ok(Worker {
            sock: ours,
            process,
        })
    }

    /// Reaps a worker. With `kill`, kills it first (it is no longer wanted); without, reads
    /// how it ended (it closed its socket: it has ended, or will within moments; one that
    /// lingers past 100 ms is killed).
    pub fn finish(&self, process: Arc<Process>, kill: bool) {
        if kill {
            process.unwanted.store(true, Ordering::Release);
        }
        let _ = lock(&self.reaper).send(process);
    }

    /// Workers started and idle now.
    pub fn spares(&self) -> usize {
        lock(&self.spares).len()
    }
}

fn run_spawner(spawner: &std::sync::Weak<Spawner>, requests: &Receiver<Request>) {
    // This thread lives as long as the process: workers die with it (see the module docs).
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    loop {
        let request = match requests.recv_timeout(Duration::from_secs(1)) {
            Ok(r) => r,
            // Now and then, reap spares that died (killed from outside) and replace them.
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let Some(s) = spawner.upgrade() else { return };
                let dead = {
                    let mut spares = lock(&s.spares);
                    let before = spares.len();
                    spares.retain(|w| !w.process.try_reap());
                    before - spares.len()
                };
                if dead == 0 {
                    continue;
                }
                Request::Refill
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let Some(s) = spawner.upgrade() else { return };
        match request {
            Request::Start(theirs, process) => start(&s.exe, me, theirs, &process, &s),
            Request::Refill => {
                while lock(&s.spares).len() < SPARES {
                    let Ok((ours, theirs)) = UnixStream::pair() else {
                        break;
                    };
                    let process = Process::new();
                    start(&s.exe, me, theirs.into(), &process, &s);
                    if process.pid() == 0 {
                        break;
                    }
                    lock(&s.spares).push_back(Worker {
                        sock: ours,
                        process,
                    });
                }
            }
        }
    }
}

/// Starts one worker on `theirs`; on failure records why in `process.ending` (the embedder's
/// end of the socket then reads end-of-file, as if the worker had died at once).
fn start(exe: &std::path::Path, parent: i32, theirs: OwnedFd, process: &Arc<Process>, s: &Spawner) {
    match spawn_worker(exe, parent, &theirs) {
        Ok(pid) => {
            process.pid.store(pid, Ordering::Release);
            if process.unwanted.load(Ordering::Acquire) {
                s.finish(process.clone(), true);
            }
        }
        Err(e) => {
            *lock(&process.ending) = Some(format!("could not be started ({}: {e})", exe.display()));
            process.reaped.store(true, Ordering::Release);
        }
    }
    drop(theirs);
}

fn cstring(s: &str) -> std::io::Result<CString> {
    CString::new(s).map_err(|_| std::io::Error::other("NUL in an argument"))
}

/// `posix_spawn`s the worker with `sock` as its descriptor 3; returns its pid.
#[expect(
    clippy::too_many_lines,
    reason = "one unsafe sequence of posix_spawn set-up calls, each checked, reads best whole"
)]
fn spawn_worker(exe: &std::path::Path, parent: i32, sock: &OwnedFd) -> std::io::Result<i32> {
    use std::os::unix::ffi::OsStrExt;
    let err = |code: i32| std::io::Error::from_raw_os_error(code);
    // Descriptor 3 must be a fresh duplicate (dup2 onto itself would keep close-on-exec).
    let fd = if sock.as_raw_fd() == 3 {
        // SAFETY: plain dup of a valid descriptor; the result is owned below.
        let dup = unsafe { libc::fcntl(sock.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 4) };
        if dup < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `dup` is a new descriptor nobody else owns.
        Some(unsafe { OwnedFd::from_raw_fd(dup) })
    } else {
        None
    };
    let src = fd.as_ref().map_or(sock.as_raw_fd(), AsRawFd::as_raw_fd);
    let path = CString::new(exe.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("NUL in the worker's path"))?;
    let stderr_inherit = std::env::var_os("BAML_QUICKJS_WORKER_STDERR").is_some();
    let mut arg_strings = vec![
        path.clone(),
        cstring("--fd")?,
        cstring("3")?,
        cstring("--parent")?,
        cstring(&parent.to_string())?,
    ];
    if stderr_inherit {
        arg_strings.push(cstring("--keep-stderr")?);
    }
    let mut argv: Vec<*mut libc::c_char> =
        arg_strings.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let mut envp: Vec<*mut libc::c_char> = vec![std::ptr::null_mut()];
    let dev_null = c"/dev/null";
    // SAFETY: the attribute and file-action objects are initialised, used and destroyed here;
    // every pointer passed lives until `posix_spawn` returns.
    unsafe {
        let mut actions = std::mem::MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
        let rc = libc::posix_spawn_file_actions_init(actions.as_mut_ptr());
        if rc != 0 {
            return Err(err(rc));
        }
        let actions_ptr = actions.as_mut_ptr();
        let mut attr = std::mem::MaybeUninit::<libc::posix_spawnattr_t>::uninit();
        let rc = libc::posix_spawnattr_init(attr.as_mut_ptr());
        if rc != 0 {
            libc::posix_spawn_file_actions_destroy(actions_ptr);
            return Err(err(rc));
        }
        let attr_ptr = attr.as_mut_ptr();
        let mut rc = libc::posix_spawn_file_actions_addopen(
            actions_ptr,
            0,
            dev_null.as_ptr(),
            libc::O_RDONLY,
            0,
        );
        if rc == 0 {
            rc = libc::posix_spawn_file_actions_addopen(
                actions_ptr,
                1,
                dev_null.as_ptr(),
                libc::O_WRONLY,
                0,
            );
        }
        if rc == 0 && !stderr_inherit {
            rc = libc::posix_spawn_file_actions_addopen(
                actions_ptr,
                2,
                dev_null.as_ptr(),
                libc::O_WRONLY,
                0,
            );
        }
        if rc == 0 {
            rc = libc::posix_spawn_file_actions_adddup2(actions_ptr, src, 3);
        }
        // Signals: default dispositions and an empty mask (the embedder may ignore SIGPIPE or
        // block signals on this thread).
        let mut all = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        let mut none = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigfillset(all.as_mut_ptr());
        libc::sigemptyset(none.as_mut_ptr());
        if rc == 0 {
            rc = libc::posix_spawnattr_setsigdefault(attr_ptr, all.as_ptr());
        }
        if rc == 0 {
            rc = libc::posix_spawnattr_setsigmask(attr_ptr, none.as_ptr());
        }
        if rc == 0 {
            #[expect(clippy::cast_possible_truncation, reason = "small flag constants")]
            let flags =
                (libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETSIGMASK) as libc::c_short;
            rc = libc::posix_spawnattr_setflags(attr_ptr, flags);
        }
        let mut pid: libc::pid_t = 0;
        if rc == 0 {
            rc = libc::posix_spawn(
                &raw mut pid,
                path.as_ptr(),
                actions_ptr,
                attr_ptr,
                argv.as_mut_ptr(),
                envp.as_mut_ptr(),
            );
        }
        libc::posix_spawn_file_actions_destroy(actions_ptr);
        libc::posix_spawnattr_destroy(attr_ptr);
        if rc != 0 {
            return Err(err(rc));
        }
        Ok(pid)
    }
}

/// How a reaped process ended, in words.
fn describe(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        let name = match sig {
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGABRT => "SIGABRT",
            libc::SIGKILL => "SIGKILL",
            libc::SIGBUS => "SIGBUS",
            libc::SIGILL => "SIGILL",
            libc::SIGFPE => "SIGFPE",
            libc::SIGSYS => "SIGSYS",
            libc::SIGTERM => "SIGTERM",
            _ => "a signal",
        };
        format!("was killed by signal {sig} ({name})")
    } else if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else {
        "ended".into()
    }
}

/// Reaps finished workers: reads how each ended, killing it first if it has not ended within a
/// short while (a worker that closed its socket but runs on, or one not wanted any more).
fn run_reaper(requests: &Receiver<Arc<Process>>) {
    let mut dying: Vec<(Arc<Process>, Instant, bool)> = Vec::new();
    loop {
        let next = if dying.is_empty() {
            requests.recv().ok()
        } else {
            requests.recv_timeout(Duration::from_millis(1)).ok()
        };
        if let Some(p) = next {
            if p.pid() != 0 && !p.reaped() {
                dying.push((p, Instant::now(), false));
            }
        } else if dying.is_empty() {
            return;
        }
        dying.retain_mut(|(p, since, killed)| {
            let pid = p.pid();
            let mut status = 0;
            // SAFETY: plain waitpid on our own child.
            let r = unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) };
            if r == pid || r < 0 {
                let ending = if r == pid {
                    if *killed {
                        "was killed".to_string()
                    } else {
                        describe(status)
                    }
                } else {
                    "ended".to_string()
                };
                lock(&p.ending).get_or_insert(ending);
                p.reaped.store(true, Ordering::Release);
                return false;
            }
            // Wanted dead (dispose, deadline), or it closed its socket and lingers: kill it.
            let unwanted = p.unwanted.load(Ordering::Acquire);
            if !*killed && (unwanted || since.elapsed() > Duration::from_millis(100)) {
                // SAFETY: the pid is our unreaped child, so it cannot have been reused.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                *killed = true;
            }
            true
        });
    }
}

/// The file of the shared library (or executable) that contains `address`: the addon's
/// `.node` file, for finding the worker executable shipped beside it.
pub fn file_containing(address: *const ()) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: `dladdr` only reads the address and fills `info`; `dli_fname` is a C string
    // owned by the dynamic loader, copied out here.
    unsafe {
        if libc::dladdr(address.cast(), info.as_mut_ptr()) == 0 {
            return None;
        }
        let info = info.assume_init();
        if info.dli_fname.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(info.dli_fname);
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes())))
    }
}
