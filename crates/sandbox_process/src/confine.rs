//! Confinement of a worker process that runs untrusted JavaScript (Linux, `x86_64` and `aarch64`).
//!
//! JavaScript running in `QuickJS` cannot make system calls by itself: everything it does goes
//! through the host functions the embedder gives it. What this module defends against is the
//! case where a bug in the interpreter (a use-after-free, an out-of-bounds write) lets the
//! script take over the native code of the process. From then on the attacker can make any
//! system call the process can make, so [`confine`] shrinks that set to what the worker needs
//! to talk to its parent over the descriptors it keeps, allocate memory, wait and exit.
//!
//! # What [`confine`] does, in order, and why
//!
//! 1. **Builds the seccomp programs first.** Building allocates and can fail; doing it before
//!    any irreversible step means an error leaves the process as it was.
//! 2. **Checks that every descriptor to keep is open**, so a caller's mistake is an error here
//!    rather than a worker that cannot talk to its parent later.
//! 3. **Loads the local time zone** (a `localtime_r` call): glibc reads `/etc/localtime` (or
//!    `$TZ`) on first use, the first use is `QuickJS`'s `Date`, and once `open` is refused
//!    glibc silently falls back to UTC for good.
//! 4. **Closes every other descriptor** (`close_range`, else the list in `/proc/self/fd`, else
//!    every number below `RLIMIT_NOFILE`). An inherited descriptor (a log file, a socket, a
//!    directory) is a capability the seccomp filter cannot take away, because `read`/`write`
//!    are allowed on any descriptor. Done before steps 7 and 9: a process that is not dumpable
//!    cannot list its own `/proc/self/fd` (unless root), and the filter refuses `open`.
//! 5. **Clears `READ_IMPLIES_EXEC` from the personality** if a parent set it (`setarch -X`):
//!    with it, every readable mapping is also executable, which would defeat the `PROT_EXEC`
//!    rules below.
//! 6. **`PR_SET_NO_NEW_PRIVS`**: needed to install a filter without `CAP_SYS_ADMIN`, and makes
//!    sure no exec (already forbidden) could ever gain privileges through set-uid bits or file
//!    capabilities.
//! 7. **`PR_SET_DUMPABLE 0`**: other processes of the same user can no longer `ptrace` the
//!    worker or read its memory through `/proc/<pid>/mem`, and no core dump is written.
//! 8. **Resource limits, soft = hard** (lowering a hard limit cannot be undone without
//!    `CAP_SYS_RESOURCE`, and `prlimit`/`setrlimit` are refused afterwards anyway):
//!    `RLIMIT_NOFILE` to [`Limits::open_files`] (no descriptor numbers to grow into),
//!    `RLIMIT_FSIZE 0` (no growing any regular file through a kept descriptor; `SIGXFSZ` is
//!    ignored so that such a write fails with `EFBIG` instead of killing the worker: keep
//!    sockets, pipes or `/dev/null`, not log files),
//!    `RLIMIT_CORE 0` (no core dump with the sandbox's data in it), `RLIMIT_MEMLOCK 0` (no
//!    pinning memory), `RLIMIT_NPROC 0` (no process or thread for a non-root user; for root,
//!    or any process with `CAP_SYS_RESOURCE` or `CAP_SYS_ADMIN`, the kernel ignores this
//!    limit, so there the seccomp filter is what forbids them) and, when
//!    [`Limits::address_space_bytes`] is set, `RLIMIT_AS` (a runaway allocation fails cleanly:
//!    `malloc` returns null, `Vec::try_reserve` returns `Err`, instead of the machine's OOM
//!    killer choosing a victim).
//! 9. **A seccomp-bpf allowlist**, applied to every thread of the process (`TSYNC`). It is
//!    three stacked filters because each filter built with `seccompiler` has one action for
//!    the system calls it lists and one for all others, and the kernel runs every filter on
//!    every system call and keeps the most severe answer (kill > errno > allow):
//!    - *kill*: `execve`, `execveat`, `ptrace`, `process_vm_readv`, `process_vm_writev`, and
//!      `mmap`/`mprotect`/`pkey_mprotect` asking for `PROT_EXEC`, kill the whole process
//!      (`SIGSYS`). Nothing in the worker calls them once it runs scripts (no JIT, no exec, no
//!      debugger), so a call is the signature of an exploit: the first steps of turning a
//!      memory-corruption bug into running chosen code or reaching into another process. The
//!      parent sees the worker die by `SIGSYS` and can report it as such.
//!    - *clone3*: `clone3` fails with `ENOSYS`. Its flags are in memory that seccomp cannot
//!      read, so it cannot be allowed selectively; `ENOSYS` (rather than `EPERM`) is what makes
//!      glibc fall back to `clone`, whose flags are visible and which is refused too.
//!    - *allow*: the list in `allow_rules`, each with its reason; every other system call
//!      fails with `EPERM`. An error rather than a kill, because libc and std try things and
//!      cope with a refusal (std's panic backtrace opens `/proc/self/maps` and the executable;
//!      `fs::metadata` tries `statx`). This filter is installed last since it refuses
//!      `seccomp` itself; it lists `clone3` as allowed so that the *clone3* filter's `ENOSYS`
//!      is the answer (between two errno answers the kernel keeps the one of the newest
//!      filter, which would otherwise be this one's `EPERM`).
//!
//!    In all three, a system call made with another architecture's convention (`int 0x80` on
//!    `x86_64`) kills the process, and x32 system call numbers match no rule (so `EPERM`).
//!
//! After [`confine`] returns the process cannot open files, create sockets or connect (it can
//! only receive descriptors the embedder sends over a kept socket: a group's worker gets its
//! members' sockets so, up to [`Limits::open_files`]), exec,
//! fork or create threads, signal other processes, `ptrace`, raise its limits or map
//! executable memory. It can still read and write the descriptors it kept, allocate and free
//! memory, poll with a timeout, read clocks and sleep, use futexes (std's `Mutex`, `Condvar`,
//! `Once`), call `getrandom`, catch a panic, exit, and `abort()` (`SIGABRT` to itself).
//!
//! [`die_with_parent`] is separate: it must run before [`confine`], because `prctl` is refused
//! afterwards.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::RawFd;

use seccompiler::{
    BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

/// Resource limits applied by [`confine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `RLIMIT_AS`: the most virtual memory the process may map, code, stacks and heap
    /// included. `None` leaves the current limit.
    pub address_space_bytes: Option<u64>,
    /// `RLIMIT_NOFILE`: one more than the highest descriptor number the process may get. The
    /// process cannot create descriptors after [`confine`] anyway; keep this small (the
    /// number of kept descriptors plus a couple).
    pub open_files: u64,
}

impl Limits {
    /// The limits of a worker whose sandbox has this memory limit: address space for the
    /// heap, the copies that leave it (up to four times the limit), the messages carrying them,
    /// stacks and code; and descriptors for the socket to the embedder (plus standard error
    /// when kept for debugging) with one to spare.
    pub fn for_memory_limit(memory_limit: u64) -> Limits {
        Limits {
            address_space_bytes: Some(memory_limit.saturating_mul(12).saturating_add(512 << 20)),
            open_files: 8,
        }
    }

    /// The limits of a group's worker: address space as for one sandbox with the group's
    /// memory limit, and descriptors for its first socket and up to `members` members'.
    pub fn for_group(memory_limit: u64, members: usize) -> Limits {
        Limits {
            open_files: (members as u64).saturating_add(16),
            ..Limits::for_memory_limit(memory_limit)
        }
    }
}

/// The step of [`confine`] or [`die_with_parent`] that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfineError {
    /// A descriptor in `keep_fds` is negative or not open.
    #[error("file descriptor {fd} to keep is not open")]
    KeepFdNotOpen {
        /// The descriptor.
        fd: RawFd,
    },
    /// Closing the descriptors not kept failed.
    #[error("cannot close the inherited file descriptors: {0}")]
    CloseFds(#[source] io::Error),
    /// Clearing `READ_IMPLIES_EXEC` from the personality failed.
    #[error("cannot clear READ_IMPLIES_EXEC from the personality: {0}")]
    Personality(#[source] io::Error),
    /// A `prctl` call failed.
    #[error("prctl({option}) failed: {source}")]
    Prctl {
        /// The option, e.g. `PR_SET_NO_NEW_PRIVS`.
        option: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Ignoring `SIGXFSZ` failed.
    #[error("cannot ignore SIGXFSZ: {0}")]
    IgnoreSigxfsz(#[source] io::Error),
    /// A `setrlimit` call failed.
    #[error("setrlimit({resource}, {value}) failed: {source}")]
    SetRlimit {
        /// The resource, e.g. `RLIMIT_AS`.
        resource: &'static str,
        /// The limit asked for (soft and hard).
        value: u64,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// `seccompiler` refused to build one of the filters (a bug in this module).
    #[error("cannot build the {filter} seccomp filter: {source}")]
    BuildFilter {
        /// Which filter: `kill`, `clone3` or `allow`.
        filter: &'static str,
        /// The error.
        #[source]
        source: BackendError,
    },
    /// Installing one of the filters failed (e.g. the kernel has no seccomp, or another
    /// thread has a filter of its own so `TSYNC` cannot apply).
    #[error("cannot install the {filter} seccomp filter: {source}")]
    InstallFilter {
        /// Which filter: `kill`, `clone3` or `allow`.
        filter: &'static str,
        /// The error.
        #[source]
        source: seccompiler::Error,
    },
    /// The parent had already died (and this process was adopted) when
    /// [`die_with_parent`] asked to die with it.
    #[error("the parent process {expected} is gone (the parent is now {actual})")]
    ParentGone {
        /// The pid the caller expected.
        expected: libc::pid_t,
        /// The parent found instead.
        actual: libc::pid_t,
    },
}

/// Confines the calling process for good. See the [module docs](self) for each step.
///
/// Call it once, before any untrusted code runs, from the thread that will run it. Other
/// threads, if any, get the same filter (`TSYNC`), so they must not need more than the
/// allowlist either: e.g. a thread blocked in `join` can still wake and exit the process.
///
/// # Errors
///
/// The [`ConfineError`] names the step that failed. Only [`ConfineError::BuildFilter`] and
/// [`ConfineError::KeepFdNotOpen`] leave the process untouched; after any other error it may
/// be partly confined: treat it as unusable and exit.
pub fn confine(keep_fds: &[RawFd], limits: &Limits) -> Result<(), ConfineError> {
    let filters = Filters::build(std::process::id())?;
    let mut keep = keep_fds.to_vec();
    keep.sort_unstable();
    keep.dedup();
    for &fd in &keep {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            return Err(ConfineError::KeepFdNotOpen { fd });
        }
    }
    load_time_zone();
    close_other_fds(&keep).map_err(ConfineError::CloseFds)?;
    clear_read_implies_exec()?;
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")?;
    prctl(libc::PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE")?;
    set_rlimit(libc::RLIMIT_NOFILE, limits.open_files, "RLIMIT_NOFILE")?;
    set_rlimit(libc::RLIMIT_FSIZE, 0, "RLIMIT_FSIZE")?;
    // SAFETY: sets a signal's disposition to "ignore"; no handler runs.
    if unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(ConfineError::IgnoreSigxfsz(io::Error::last_os_error()));
    }
    set_rlimit(libc::RLIMIT_CORE, 0, "RLIMIT_CORE")?;
    set_rlimit(libc::RLIMIT_MEMLOCK, 0, "RLIMIT_MEMLOCK")?;
    set_rlimit(libc::RLIMIT_NPROC, 0, "RLIMIT_NPROC")?;
    if let Some(bytes) = limits.address_space_bytes {
        set_rlimit(libc::RLIMIT_AS, bytes, "RLIMIT_AS")?;
    }
    filters.install()
}

/// Asks the kernel to `SIGKILL` this process when its parent dies, then checks that the
/// parent is still `expected_parent`: if it died before the request, the request will never
/// fire and this returns [`ConfineError::ParentGone`] (the caller should exit).
///
/// Call it first thing in the worker, before [`confine`] (which refuses `prctl`). The kernel
/// sends the signal when the *thread* that started this process exits, not only the whole
/// parent process, so the parent must start workers from a thread that lives as long as it.
///
/// # Errors
///
/// [`ConfineError::Prctl`] if the request failed, [`ConfineError::ParentGone`] if the parent
/// is not `expected_parent` any more.
pub fn die_with_parent(expected_parent: libc::pid_t) -> Result<(), ConfineError> {
    let sigkill = libc::c_ulong::try_from(libc::SIGKILL).unwrap_or(9);
    prctl(libc::PR_SET_PDEATHSIG, sigkill, "PR_SET_PDEATHSIG")?;
    // SAFETY: getppid has no arguments and cannot fail.
    let actual = unsafe { libc::getppid() };
    if actual == expected_parent {
        Ok(())
    } else {
        Err(ConfineError::ParentGone {
            expected: expected_parent,
            actual,
        })
    }
}

fn prctl(
    option: libc::c_int,
    value: libc::c_ulong,
    name: &'static str,
) -> Result<(), ConfineError> {
    let unused: libc::c_ulong = 0;
    // SAFETY: these prctl options take integer arguments only.
    if unsafe { libc::prctl(option, value, unused, unused, unused) } == 0 {
        Ok(())
    } else {
        Err(ConfineError::Prctl {
            option: name,
            source: io::Error::last_os_error(),
        })
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type Resource = libc::c_int;

fn set_rlimit(resource: Resource, value: u64, name: &'static str) -> Result<(), ConfineError> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: `limit` is a valid rlimit that outlives the call.
    if unsafe { libc::setrlimit(resource, &raw const limit) } == 0 {
        Ok(())
    } else {
        Err(ConfineError::SetRlimit {
            resource: name,
            value,
            source: io::Error::last_os_error(),
        })
    }
}

/// Makes glibc read the time zone now (failing, it uses UTC, as it would later).
fn load_time_zone() {
    let instant: libc::time_t = 0;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::uninit();
    // SAFETY: valid pointers to a time and to room for the broken-down result.
    unsafe { libc::localtime_r(&raw const instant, tm.as_mut_ptr()) };
}

/// Clears `READ_IMPLIES_EXEC`, under which the kernel adds `PROT_EXEC` to every readable
/// mapping (so the filter, which sees only the arguments, would not notice).
fn clear_read_implies_exec() -> Result<(), ConfineError> {
    const QUERY: libc::c_ulong = 0xffff_ffff;
    // SAFETY: personality(0xffffffff) only reads the current persona.
    let persona = unsafe { libc::personality(QUERY) };
    if persona == -1 {
        return Err(ConfineError::Personality(io::Error::last_os_error()));
    }
    if persona & libc::READ_IMPLIES_EXEC == 0 {
        return Ok(());
    }
    let cleared = libc::c_ulong::from(bits(persona & !libc::READ_IMPLIES_EXEC));
    // SAFETY: sets the persona to the current one less one flag.
    if unsafe { libc::personality(cleared) } == -1 {
        return Err(ConfineError::Personality(io::Error::last_os_error()));
    }
    Ok(())
}

/// Closes every descriptor not in `keep` (sorted, no duplicates, all non-negative).
fn close_other_fds(keep: &[RawFd]) -> io::Result<()> {
    match close_ranges(keep) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
        other => return other,
    }
    // Kernels before 5.9. The directory's own descriptor is in the list but already closed
    // when its turn comes: EBADF is expected and harmless.
    for fd in candidate_fds()? {
        if keep.binary_search(&fd).is_err() {
            // SAFETY: closing a descriptor that no live Rust object of ours will use again:
            // the caller asked for everything but `keep` to be closed.
            unsafe { libc::close(fd) };
        }
    }
    Ok(())
}

/// The open descriptors listed in `/proc/self/fd`, else every number a descriptor can have.
fn candidate_fds() -> io::Result<Vec<RawFd>> {
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        return Ok(dir
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect());
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // Descriptors opened before the soft limit was lowered can lie above it; none lies above
    // fs.nr_open, 2^20 unless an administrator raised it.
    let top = limit.rlim_cur.max(limit.rlim_max).min(1 << 20);
    Ok((0..RawFd::try_from(top).unwrap_or(RawFd::MAX)).collect())
}

/// `close_range` over each gap between kept descriptors (Linux 5.9+).
fn close_ranges(keep: &[RawFd]) -> io::Result<()> {
    let mut first: libc::c_uint = 0;
    for &fd in keep {
        let fd =
            libc::c_uint::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        if fd > first {
            close_range(first, fd - 1)?;
        }
        first = fd + 1;
    }
    close_range(first, libc::c_uint::MAX)
}

fn close_range(first: libc::c_uint, last: libc::c_uint) -> io::Result<()> {
    let flags: libc::c_uint = 0;
    // SAFETY: closes descriptors by number; see `close_other_fds`.
    if unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("the seccomp allowlist is written for x86_64 and aarch64 only");
#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// The three filters, in the order they are installed.
struct Filters {
    kill: BpfProgram,
    clone3: BpfProgram,
    allow: BpfProgram,
}

impl Filters {
    fn build(pid: u32) -> Result<Self, ConfineError> {
        let program = |filter, rules, mismatch, on_match| {
            SeccompFilter::new(rules, mismatch, on_match, ARCH)
                .and_then(BpfProgram::try_from)
                .map_err(|source| ConfineError::BuildFilter { filter, source })
        };
        let rules = |filter, rules: Result<Rules, BackendError>| {
            rules.map_err(|source| ConfineError::BuildFilter { filter, source })
        };
        let eperm = SeccompAction::Errno(errno(libc::EPERM));
        let enosys = SeccompAction::Errno(errno(libc::ENOSYS));
        Ok(Self {
            kill: program(
                "kill",
                rules("kill", kill_rules())?,
                SeccompAction::Allow,
                SeccompAction::KillProcess,
            )?,
            clone3: program(
                "clone3",
                BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
                SeccompAction::Allow,
                enosys,
            )?,
            allow: program(
                "allow",
                rules("allow", allow_rules(pid))?,
                eperm,
                SeccompAction::Allow,
            )?,
        })
    }

    fn install(&self) -> Result<(), ConfineError> {
        for (filter, program) in [
            ("kill", &self.kill),
            ("clone3", &self.clone3),
            ("allow", &self.allow),
        ] {
            seccompiler::apply_filter_all_threads(program)
                .map_err(|source| ConfineError::InstallFilter { filter, source })?;
        }
        Ok(())
    }
}

/// System call number → rules; the call matches if any rule matches (no rule: always).
type Rules = BTreeMap<i64, Vec<SeccompRule>>;

/// The system calls that kill the process: escape attempts, never made by the worker.
fn kill_rules() -> Result<Rules, BackendError> {
    let mut rules = Rules::new();
    for nr in [
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
    ] {
        rules.insert(nr, Vec::new());
    }
    let exec = bits(libc::PROT_EXEC);
    for nr in [libc::SYS_mmap, libc::SYS_mprotect, libc::SYS_pkey_mprotect] {
        rules.insert(nr, vec![rule(vec![masked(2, exec, exec)?])?]);
    }
    Ok(rules)
}

/// The allowlist: what the worker needs once confined. Anything else fails with `EPERM`.
///
/// Descriptors: no call here creates one, so reads and writes can only reach the kept ones.
fn allow_rules(pid: u32) -> Result<Rules, BackendError> {
    let mut rules = Rules::new();
    let mut always = |nr: i64| {
        rules.insert(nr, Vec::new());
    };
    // Reading and writing the kept descriptors (std's `Read`/`Write` on a `UnixStream` use
    // recv/write; the vectored forms readv/writev).
    always(libc::SYS_read);
    always(libc::SYS_write);
    always(libc::SYS_readv);
    always(libc::SYS_writev);
    always(libc::SYS_recvfrom);
    // A group's worker receives its members' sockets over its first one (`SCM_RIGHTS`): the
    // only way a descriptor is added, and only one the embedder chose to send.
    always(libc::SYS_recvmsg);
    // Dropping a kept descriptor.
    always(libc::SYS_close);
    // Waiting for a descriptor with a timeout (glibc's poll is ppoll on aarch64).
    #[cfg(target_arch = "x86_64")]
    always(libc::SYS_poll);
    always(libc::SYS_ppoll);
    // Memory: malloc's heap and mappings (no PROT_EXEC: see the conditions below).
    always(libc::SYS_brk);
    always(libc::SYS_munmap);
    // Clocks (normally answered by the vDSO without a system call) and sleeping.
    always(libc::SYS_clock_gettime);
    always(libc::SYS_clock_getres);
    always(libc::SYS_gettimeofday);
    #[cfg(target_arch = "x86_64")]
    always(libc::SYS_time);
    always(libc::SYS_clock_nanosleep);
    always(libc::SYS_nanosleep);
    // Restarting a sleep or poll interrupted by a signal handler.
    always(libc::SYS_restart_syscall);
    // Spinning locks yield; HashMap seeds and JS's Math.random need randomness.
    always(libc::SYS_sched_yield);
    always(libc::SYS_getrandom);
    // abort() and raise() signal the calling thread: tgkill(getpid(), gettid(), SIGABRT).
    always(libc::SYS_getpid);
    always(libc::SYS_gettid);
    // Signal masks and handlers of this process only: abort() unblocks SIGABRT and resets its
    // handler; std's stack-overflow handler resets itself; thread exit frees its altstack.
    always(libc::SYS_rt_sigprocmask);
    always(libc::SYS_rt_sigaction);
    always(libc::SYS_rt_sigreturn);
    always(libc::SYS_sigaltstack);
    // Exiting a thread and the process.
    always(libc::SYS_exit);
    always(libc::SYS_exit_group);
    // Answered with ENOSYS by the clone3 filter, which is what makes glibc try `clone`.
    always(libc::SYS_clone3);

    let no_exec = masked(2, bits(libc::PROT_EXEC), 0)?;
    rules.insert(libc::SYS_mmap, vec![rule(vec![no_exec.clone()])?]);
    rules.insert(libc::SYS_mprotect, vec![rule(vec![no_exec])?]);
    // realloc of a large block moves it; MREMAP_FIXED (placing it over another mapping) and
    // MREMAP_DONTUNMAP are not needed.
    rules.insert(
        libc::SYS_mremap,
        one_of(3, Width::Long, &[0, bits(libc::MREMAP_MAYMOVE)])?,
    );
    // Giving memory back (free, thread exit) and transparent huge pages. Not the rest:
    // MADV_HWPOISON/MADV_SOFT_OFFLINE (root can poison page-cache pages shared with other
    // processes), MADV_MERGEABLE (KSM, a side channel), ...
    rules.insert(
        libc::SYS_madvise,
        one_of(
            2,
            Width::Int,
            &[
                bits(libc::MADV_DONTNEED),
                bits(libc::MADV_FREE),
                bits(libc::MADV_HUGEPAGE),
                bits(libc::MADV_NOHUGEPAGE),
            ],
        )?,
    );
    // Wait and wake (std's Mutex, Condvar, Once, thread join), private or shared, with either
    // clock. Not the PI, requeue and wake-op commands: no need, and a history of kernel bugs.
    let futex_cmd = !bits(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) & 0xffff_ffff;
    let mut futex = Vec::new();
    for cmd in [
        libc::FUTEX_WAIT,
        libc::FUTEX_WAKE,
        libc::FUTEX_WAIT_BITSET,
        libc::FUTEX_WAKE_BITSET,
    ] {
        futex.push(rule(vec![masked(1, futex_cmd, bits(cmd))?])?);
    }
    rules.insert(libc::SYS_futex, futex);
    // Descriptor flags (e.g. O_NONBLOCK); not F_DUPFD, F_SETOWN, leases, locks...
    rules.insert(
        libc::SYS_fcntl,
        one_of(
            1,
            Width::Int,
            &[
                bits(libc::F_GETFD),
                bits(libc::F_SETFD),
                bits(libc::F_GETFL),
                bits(libc::F_SETFL),
            ],
        )?,
    );
    // std's `set_nonblocking` on a socket is ioctl(FIONBIO); no other ioctl.
    #[allow(
        clippy::unnecessary_cast,
        reason = "FIONBIO is a c_ulong on glibc, a c_int on musl"
    )]
    let fionbio = libc::FIONBIO as u64 & 0xffff_ffff;
    rules.insert(libc::SYS_ioctl, one_of(1, Width::Int, &[fionbio])?);
    // Sending on the kept (connected) socket; no destination address, so a kept datagram
    // socket cannot reach anyone else.
    rules.insert(libc::SYS_sendto, one_of(4, Width::Long, &[0])?);
    // Signals to this process only (abort() and raise() use tgkill; kill and tkill too for
    // completeness). The main thread's id is the pid.
    let pid = u64::from(pid);
    rules.insert(libc::SYS_kill, one_of(0, Width::Int, &[pid])?);
    rules.insert(libc::SYS_tgkill, one_of(0, Width::Int, &[pid])?);
    rules.insert(libc::SYS_tkill, one_of(0, Width::Int, &[pid])?);
    Ok(rules)
}

/// A C `int` as the kernel reads it from a register: its 32 bits.
#[expect(
    clippy::cast_sign_loss,
    reason = "system call arguments are compared as raw bits"
)]
fn bits(value: libc::c_int) -> u64 {
    u64::from(value as u32)
}

/// An errno value for a seccomp action.
fn errno(value: libc::c_int) -> u32 {
    u32::try_from(value).unwrap_or(1)
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, BackendError> {
    SeccompRule::new(conditions)
}

/// How much of a 64-bit argument register the kernel reads, so how much a condition compares.
/// For an `int` argument the kernel reads only the low half and the calling convention leaves
/// the upper half unspecified: comparing all 64 bits would refuse legitimate calls (allow
/// rules) or miss forbidden ones (kill rules).
#[derive(Clone, Copy)]
enum Width {
    /// `int`, `unsigned int`, `pid_t`: the low 32 bits.
    Int,
    /// `unsigned long`, pointers: all 64 bits.
    Long,
}

impl From<Width> for SeccompCmpArgLen {
    fn from(width: Width) -> Self {
        match width {
            Width::Int => SeccompCmpArgLen::Dword,
            Width::Long => SeccompCmpArgLen::Qword,
        }
    }
}

/// `(arg & mask) == value` on an `int` argument (`prot`, the futex operation).
fn masked(arg: u8, mask: u64, value: u64) -> Result<SeccompCondition, BackendError> {
    SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::MaskedEq(mask),
        value,
    )
}

/// One rule per value: argument `arg` equals one of `values`.
fn one_of(arg: u8, width: Width, values: &[u64]) -> Result<Vec<SeccompRule>, BackendError> {
    values
        .iter()
        .map(|&value| {
            rule(vec![SeccompCondition::new(
                arg,
                width.into(),
                SeccompCmpOp::Eq,
                value,
            )?])
        })
        .collect()
}

#[cfg(test)]
mod tests;
