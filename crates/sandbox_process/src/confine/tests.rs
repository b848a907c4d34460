//! Each test runs a scenario in a child process (this test binary again, with
//! `CONFINE_TEST_SCENARIO` naming the scenario), so the test runner itself is never confined.
//! A scenario prints what it observed on stdout and exits 0 when everything held.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use super::{confine, die_with_parent, ConfineError, Filters, Limits};
use std::fmt::Debug;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

const SCENARIO: &str = "CONFINE_TEST_SCENARIO";
const ARG: &str = "CONFINE_TEST_ARG";
const MIB: usize = 1 << 20;
const GIB: u64 = 1 << 30;
/// Size of the payload sent each way through the kept socket.
const PAYLOAD: usize = 4 * MIB;

// ---------------------------------------------------------------------------------------
// The runner's side.

/// The command that runs `scenario` in a child process.
fn child(scenario: &str) -> Command {
    let module = module_path!();
    let test = module.split_once("::").map_or(module, |(_, rest)| rest);
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        &format!("{test}::scenario_child"),
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(SCENARIO, scenario)
    .env_remove("RUST_BACKTRACE")
    .stdin(Stdio::null());
    cmd
}

fn describe(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd`, asserts it exited 0 after printing "done", returns its stdout.
fn succeeds(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains("\ndone\n"),
        "{}",
        describe(&out)
    );
    stdout
}

/// Runs `cmd`, asserts it was killed by one of `signals` after printing `marker`.
fn killed_by(cmd: &mut Command, signals: &[i32], marker: &str) -> i32 {
    let out = cmd.output().unwrap();
    let signal = out.status.signal();
    assert!(
        signal.is_some_and(|s| signals.contains(&s))
            && String::from_utf8_lossy(&out.stdout).contains(marker),
        "{}",
        describe(&out)
    );
    signal.unwrap_or_default()
}

/// Reads what is available on `fd` within `timeout`: `None` on timeout, empty at EOF.
fn read_within(fd: RawFd, timeout: Duration) -> Option<Vec<u8>> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd.
    if unsafe { libc::poll(&raw mut pfd, 1, ms) } != 1 {
        return None;
    }
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` is writable for its length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(usize::try_from(n).ok()?);
    Some(buf)
}

#[test]
fn filters_build_and_fit() {
    let start = Instant::now();
    let filters = Filters::build(std::process::id()).unwrap();
    eprintln!(
        "building the filters took {} µs",
        start.elapsed().as_micros()
    );
    for (name, program) in [
        ("kill", &filters.kill),
        ("clone3", &filters.clone3),
        ("allow", &filters.allow),
    ] {
        assert!(program.len() < 4096, "{name}: {}", program.len());
        eprintln!("{name} filter: {} BPF instructions", program.len());
    }
}

#[test]
fn opening_files_fails_with_eperm() {
    succeeds(&mut child("files"));
}

#[test]
fn network_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    succeeds(child("network").env(ARG, port.to_string()));
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        io::ErrorKind::WouldBlock,
        "the confined process reached the listener"
    );
}

#[test]
fn processes_and_threads_are_refused() {
    succeeds(&mut child("processes"));
}

#[test]
fn kept_socket_echoes_both_ways() {
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    ours.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let proc = child("echo")
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Blocking mode.
    ours.write_all(b"ping\n").unwrap();
    expect_line(&mut ours, "PING\n");
    // The child switches to non-blocking mode and tells us when it saw WouldBlock.
    expect_line(&mut ours, "nonblocking\n");
    let payload: Vec<u8> = (0..PAYLOAD)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect();
    ours.write_all(&payload).unwrap();
    let mut back = vec![0u8; PAYLOAD];
    ours.read_exact(&mut back).unwrap();
    assert!(back == payload, "the echoed payload differs");
    // Back in blocking mode, the child waits for EOF.
    expect_line(&mut ours, "blocking\n");
    drop(ours);
    let out = proc.wait_with_output().unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("\ndone\n"),
        "{}",
        describe(&out)
    );
}

fn expect_line(sock: &mut UnixStream, expected: &str) {
    let mut got = Vec::new();
    let mut byte = [0u8];
    while got.last() != Some(&b'\n') {
        sock.read_exact(&mut byte).unwrap();
        got.push(byte[0]);
    }
    assert_eq!(String::from_utf8_lossy(&got), expected);
}

#[test]
fn memory_within_the_limit_works_and_beyond_it_fails_cleanly() {
    let out = succeeds(&mut child("memory"));
    eprintln!("{out}");
}

#[test]
fn executable_mmap_kills_the_process() {
    let signal = killed_by(&mut child("exec_mmap"), &[libc::SIGSYS], "mapping");
    assert_eq!(signal, libc::SIGSYS);
}

#[test]
fn executable_mprotect_kills_the_process() {
    killed_by(&mut child("exec_mprotect"), &[libc::SIGSYS], "protecting");
}

#[test]
fn exec_kills_the_process() {
    killed_by(&mut child("exec"), &[libc::SIGSYS], "executing");
}

#[test]
fn signals_to_other_processes_are_refused() {
    // The host is the confined process's parent: were the SIGTERM delivered, the host would
    // die of it instead of exiting 0.
    succeeds(&mut child("signals_host"));
}

#[test]
fn abort_still_works() {
    let signal = killed_by(
        &mut child("abort"),
        &[libc::SIGABRT, libc::SIGSYS],
        "aborting",
    );
    eprintln!("abort() after confine ended the process with signal {signal}");
}

#[test]
fn caught_panic_works_with_and_without_stderr() {
    succeeds(child("panic").env(ARG, "keep-stderr"));
    succeeds(child("panic").env(ARG, "close-stderr"));
    succeeds(
        child("panic")
            .env(ARG, "keep-stderr")
            .env("RUST_BACKTRACE", "1")
            .stderr(Stdio::null()),
    );
    let out = succeeds(
        child("panic")
            .env(ARG, "keep-stderr")
            .env("RUST_BACKTRACE", "full"),
    );
    eprintln!("{out}");
}

#[test]
fn clocks_sleep_poll_and_locks_work() {
    succeeds(&mut child("waiting"));
}

#[test]
fn worker_like_thread_confines_and_exits() {
    succeeds(&mut child("thread_exit"));
}

#[test]
fn whole_workload_works() {
    succeeds(&mut child("workload"));
}

#[test]
fn other_descriptors_are_closed() {
    succeeds(&mut child("fds"));
}

#[test]
fn parent_gone_is_reported() {
    succeeds(&mut child("parent_gone"));
}

#[test]
fn limits_and_filters_are_in_place() {
    let mut proc = child("limits")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = proc.stdout.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    while !seen.contains("ready\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = read_within(stdout.as_raw_fd(), left).expect("no ready line in time");
        assert!(!chunk.is_empty(), "EOF before ready: {seen}");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let pid = proc.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    // Not dumpable: /proc/<pid>/fd belongs to root now, so only root can list it.
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|dir| {
        let mut fds: Vec<String> = dir
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        fds.sort();
        fds
    });
    drop(proc.stdin.take());
    assert!(proc.wait().unwrap().success());

    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(field("NoNewPrivs:"), "1");
    assert_eq!(field("Seccomp:"), "2");
    assert_eq!(field("Seccomp_filters:"), "3");
    let limit = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| {
                l[name.len()..]
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    assert_eq!(limit("Max open files"), "8 8");
    assert_eq!(limit("Max file size"), "0 0");
    assert_eq!(limit("Max core file size"), "0 0");
    assert_eq!(limit("Max locked memory"), "0 0");
    assert_eq!(limit("Max processes"), "0 0");
    assert_eq!(limit("Max address space"), format!("{GIB} {GIB}"));
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(fds.unwrap(), ["0", "1", "2"]);
    } else {
        assert_eq!(fds.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
    }
}

#[test]
fn growing_a_regular_file_fails_with_efbig() {
    let path = std::env::temp_dir().join(format!("confine-test-{}.txt", std::process::id()));
    let result = child("regular_file").env(ARG, &path).output().unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        result.status.success() && String::from_utf8_lossy(&result.stdout).contains("\ndone\n"),
        "{}",
        describe(&result)
    );
}

#[test]
fn time_zone_is_loaded_before_files_are_refused() {
    if !std::path::Path::new("/usr/share/zoneinfo/Asia/Kolkata").exists() {
        eprintln!("no tzdata: skipped");
        return;
    }
    let out = succeeds(child("timezone").env("TZ", "Asia/Kolkata"));
    assert!(out.contains("gmtoff 19800\n"), "{out}");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn other_abis_are_refused() {
    succeeds(&mut child("x32"));
    let signal = killed_by(
        &mut child("int80"),
        &[libc::SIGSYS, libc::SIGSEGV],
        "calling",
    );
    eprintln!("int 0x80 after confine ended the process with signal {signal}");
}

#[test]
fn out_of_memory_aborts() {
    let signal = killed_by(&mut child("oom"), &[libc::SIGABRT], "allocating");
    assert_eq!(signal, libc::SIGABRT);
}

#[test]
fn dies_within_a_second_of_its_parent() {
    // runner → host (not confined) → grandchild (die_with_parent, confined, blocked in a read
    // of the runner's pipe, which stays open). The grandchild and the host share the stdout
    // pipe: its EOF means both are gone.
    let mut host = child("die_host")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let keep_open = host.stdin.take().unwrap();
    let stdout = host.stdout.take().unwrap();
    let fd = stdout.as_raw_fd();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    while !seen.contains("ready ") {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = read_within(fd, left).expect("the grandchild did not get ready");
        assert!(!chunk.is_empty(), "EOF before ready: {seen}");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let killed = Instant::now();
    host.kill().unwrap();
    host.wait().unwrap();
    loop {
        let chunk = read_within(fd, Duration::from_secs(5))
            .expect("the grandchild outlived its parent by 5 s");
        if chunk.is_empty() {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let took = killed.elapsed();
    drop(keep_open);
    assert!(!seen.contains("read returned"), "{seen}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    eprintln!(
        "the grandchild was gone {} µs after its parent",
        took.as_micros()
    );
}

#[test]
fn confine_cost() {
    let mut micros: Vec<u64> = (0..9)
        .map(|_| {
            let out = succeeds(&mut child("cost"));
            out.lines()
                .find_map(|l| l.strip_prefix("confine took "))
                .and_then(|l| l.strip_suffix(" us"))
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    micros.sort_unstable();
    eprintln!(
        "confine(): min {} µs, median {} µs, max {} µs",
        micros[0],
        micros[micros.len() / 2],
        micros[micros.len() - 1]
    );
}

// ---------------------------------------------------------------------------------------
// The child's side.

/// Runs the scenario named by `CONFINE_TEST_SCENARIO`; does nothing in the test runner.
#[test]
fn scenario_child() {
    let Ok(name) = std::env::var(SCENARIO) else {
        return;
    };
    let code = match run_scenario(&name) {
        Ok(()) => {
            say("done");
            0
        }
        Err(e) => {
            say(&format!("FAILED: {e}"));
            1
        }
    };
    std::process::exit(code);
}

fn run_scenario(name: &str) -> Result<(), String> {
    // Start on a line of our own after the harness's output ("\ndone\n" is looked for).
    say("");
    match name {
        "files" => files(),
        "network" => network(),
        "processes" => processes(),
        "echo" => echo(),
        "memory" => memory(),
        "exec_mmap" => exec_mmap(),
        "exec_mprotect" => exec_mprotect(),
        "exec" => exec(),
        "signals_host" => signals_host(),
        "signals" => signals(),
        "abort" => abort(),
        "panic" => panic(),
        "waiting" => waiting(),
        "thread_exit" => thread_exit(),
        "workload" => workload(),
        "fds" => fds(),
        "parent_gone" => parent_gone(),
        "limits" => limits(),
        "die_host" => die_host(),
        "die_grandchild" => die_grandchild(),
        "regular_file" => regular_file(),
        "oom" => oom(),
        "timezone" => timezone(),
        #[cfg(target_arch = "x86_64")]
        "x32" => x32(),
        #[cfg(target_arch = "x86_64")]
        "int80" => int80(),
        "cost" => confined(&[1, 2]),
        other => Err(format!("no scenario {other}")),
    }
}

fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn confined(keep: &[RawFd]) -> Result<(), String> {
    let limits = Limits {
        address_space_bytes: Some(GIB),
        open_files: 8,
    };
    let start = Instant::now();
    confine(keep, &limits).map_err(|e| format!("confine: {e}"))?;
    say(&format!("confine took {} us", start.elapsed().as_micros()));
    Ok(())
}

/// `result` must be an error with `errno` (any error when `None`).
fn refused<T: Debug>(what: &str, result: io::Result<T>, errno: Option<i32>) -> Result<(), String> {
    match result {
        Ok(v) => Err(format!("{what} succeeded: {v:?}")),
        Err(e) if errno.is_none() || e.raw_os_error() == errno => {
            say(&format!("{what}: refused ({e})"));
            Ok(())
        }
        Err(e) => Err(format!("{what}: unexpected error {e}")),
    }
}

/// The result of a libc call returning -1 on error.
fn cvt(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

const EPERM: Option<i32> = Some(libc::EPERM);

fn files() -> Result<(), String> {
    confined(&[1, 2])?;
    refused(
        "open /etc/passwd",
        std::fs::File::open("/etc/passwd"),
        EPERM,
    )?;
    refused(
        "create a file",
        std::fs::File::create("/tmp/confine-test-must-not-exist"),
        EPERM,
    )?;
    refused("read_dir /", std::fs::read_dir("/"), EPERM)?;
    refused(
        "metadata /etc/passwd",
        std::fs::metadata("/etc/passwd"),
        EPERM,
    )
}

fn network() -> Result<(), String> {
    let port: u16 = std::env::var(ARG).unwrap().parse().unwrap();
    confined(&[1, 2])?;
    refused(
        "TcpStream::connect",
        std::net::TcpStream::connect(("127.0.0.1", port)),
        EPERM,
    )?;
    refused(
        "UdpSocket::bind",
        std::net::UdpSocket::bind("127.0.0.1:0"),
        EPERM,
    )?;
    refused(
        "UnixStream::connect",
        UnixStream::connect("/tmp/confine-test.sock"),
        EPERM,
    )?;
    refused("UnixStream::pair", UnixStream::pair(), EPERM)
}

fn processes() -> Result<(), String> {
    confined(&[1, 2])?;
    refused(
        "Command::spawn",
        Command::new("/bin/true").spawn().map(|c| c.id()),
        None,
    )?;
    refused(
        "thread::Builder::spawn",
        std::thread::Builder::new().spawn(|| ()).map(|_| ()),
        None,
    )?;
    // SAFETY: fork is refused; were it not, the child would exit at once.
    let pid = cvt(unsafe { libc::fork() }.into());
    if matches!(pid, Ok(0)) {
        // SAFETY: leaving the forked child without running anything of the parent's.
        unsafe { libc::_exit(0) };
    }
    refused("fork", pid, EPERM)?;
    // SAFETY: clone3 with a null argument; refused before the kernel reads it.
    let rc = cvt(unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) });
    refused("clone3", rc, Some(libc::ENOSYS))
}

fn echo() -> Result<(), String> {
    confined(&[0, 1, 2])?;
    // SAFETY: descriptor 0 is the socket the runner gave us and nothing else owns it.
    let mut sock = unsafe { UnixStream::from_raw_fd(0) };
    // Blocking read and write.
    let mut ping = [0u8; 5];
    sock.read_exact(&mut ping).map_err(|e| e.to_string())?;
    sock.write_all(&ping.to_ascii_uppercase())
        .map_err(|e| e.to_string())?;
    // Non-blocking: nothing to read yet.
    sock.set_nonblocking(true)
        .map_err(|e| format!("set_nonblocking: {e}"))?;
    match sock.read(&mut ping) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        other => return Err(format!("non-blocking read: {other:?}")),
    }
    sock.write_all(b"nonblocking\n")
        .map_err(|e| e.to_string())?;
    let mut payload = vec![0u8; PAYLOAD];
    let mut got = 0;
    while got < PAYLOAD {
        match sock.read(&mut payload[got..]) {
            Ok(0) => return Err("EOF in the payload".into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_for(&sock, libc::POLLIN)?,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let mut sent = 0;
    while sent < PAYLOAD {
        match sock.write(&payload[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_for(&sock, libc::POLLOUT)?,
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    sock.set_nonblocking(false).map_err(|e| e.to_string())?;
    sock.write_all(b"blocking\n").map_err(|e| e.to_string())?;
    match sock.read(&mut ping) {
        Ok(0) => {
            say("EOF");
            Ok(())
        }
        other => Err(format!("expected EOF, got {other:?}")),
    }
}

fn wait_for(sock: &UnixStream, events: i16) -> Result<(), String> {
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    match unsafe { libc::poll(&raw mut pfd, 1, 10_000) } {
        1 => Ok(()),
        0 => Err("poll timed out".into()),
        _ => Err(format!("poll: {}", io::Error::last_os_error())),
    }
}

fn memory() -> Result<(), String> {
    confined(&[1, 2])?;
    for round in 0..2 {
        let start = Instant::now();
        let mut big: Vec<u8> = Vec::new();
        big.try_reserve_exact(256 * MIB)
            .map_err(|e| format!("256 MiB: {e}"))?;
        big.resize(256 * MIB, 1);
        let sum: usize = big.iter().step_by(4096).map(|&b| usize::from(b)).sum();
        drop(big);
        let mut text = String::new();
        let chunk = "x".repeat(MIB);
        while text.len() < 300 * MIB {
            text.push_str(&chunk);
        }
        let len = text.len();
        drop(text);
        let small: Vec<String> = (0..200_000).map(|i| i.to_string()).collect();
        drop(small);
        say(&format!(
            "round {round}: 256 MiB Vec ({sum} pages), {} MiB String, 200k small strings in {:?}",
            len / MIB,
            start.elapsed()
        ));
    }
    let mut huge: Vec<u8> = Vec::new();
    match huge.try_reserve_exact(2 << 30) {
        Ok(()) => Err("reserving 2 GiB under a 1 GiB limit succeeded".into()),
        Err(e) => {
            say(&format!("2 GiB: refused ({e})"));
            Ok(())
        }
    }
}

fn map_page(prot: i32) -> io::Result<*mut libc::c_void> {
    // SAFETY: a fresh anonymous mapping.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(page)
    }
}

fn exec_mmap() -> Result<(), String> {
    confined(&[1, 2])?;
    map_page(libc::PROT_READ | libc::PROT_WRITE).map_err(|e| format!("RW mmap: {e}"))?;
    say("mapping");
    let result = map_page(libc::PROT_READ | libc::PROT_EXEC);
    Err(format!("mmap(PROT_EXEC) returned {result:?}"))
}

fn exec_mprotect() -> Result<(), String> {
    confined(&[1, 2])?;
    let page = map_page(libc::PROT_READ | libc::PROT_WRITE).map_err(|e| e.to_string())?;
    // SAFETY: our own page.
    let rc = unsafe { libc::mprotect(page, 4096, libc::PROT_READ) };
    if rc != 0 {
        return Err(format!(
            "mprotect(PROT_READ): {}",
            io::Error::last_os_error()
        ));
    }
    say("protecting");
    // SAFETY: our own page.
    let rc = unsafe { libc::mprotect(page, 4096, libc::PROT_READ | libc::PROT_EXEC) };
    Err(format!("mprotect(PROT_EXEC) returned {rc}"))
}

fn exec() -> Result<(), String> {
    confined(&[1, 2])?;
    say("executing");
    let path = c"/bin/true";
    let argv = [path.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    // SAFETY: valid, null-terminated arrays.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Err(format!("execve returned: {}", io::Error::last_os_error()))
}

fn signals_host() -> Result<(), String> {
    let out = child("signals").output().map_err(|e| e.to_string())?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if out.status.success() {
        say("the host survived");
        Ok(())
    } else {
        Err(describe(&out))
    }
}

fn signals() -> Result<(), String> {
    // SAFETY: getppid and getpid cannot fail (and are not allowed once confined).
    let (parent, me) = unsafe { (libc::getppid(), libc::getpid()) };
    confined(&[1, 2])?;
    // SAFETY (all calls below): signals are refused except to ourselves, where 0 only probes.
    let kill = |pid, sig| cvt(unsafe { libc::kill(pid, sig) }.into());
    refused("kill(parent, SIGTERM)", kill(parent, libc::SIGTERM), EPERM)?;
    refused("kill(parent, 0)", kill(parent, 0), EPERM)?;
    refused("kill(0, 0)", kill(0, 0), EPERM)?;
    refused("kill(-1, 0)", kill(-1, 0), EPERM)?;
    refused(
        "tgkill(parent, parent, SIGTERM)",
        cvt(unsafe { libc::syscall(libc::SYS_tgkill, parent, parent, libc::SIGTERM) }),
        EPERM,
    )?;
    refused(
        "tkill(parent, SIGTERM)",
        cvt(unsafe { libc::syscall(libc::SYS_tkill, parent, libc::SIGTERM) }),
        EPERM,
    )?;
    kill(me, 0).map_err(|e| format!("kill(self, 0): {e}"))?;
    say("kill(self, 0): allowed");
    Ok(())
}

fn abort() -> Result<(), String> {
    confined(&[1, 2])?;
    say("aborting");
    std::process::abort()
}

fn panic() -> Result<(), String> {
    let keep: &[RawFd] = if std::env::var(ARG).as_deref() == Ok("close-stderr") {
        &[1]
    } else {
        &[1, 2]
    };
    confined(keep)?;
    for i in 0..3 {
        let result = std::panic::catch_unwind(|| {
            assert!(i > 10, "boom {i}");
        });
        if result.is_ok() {
            return Err("no panic".into());
        }
    }
    let payload = std::panic::catch_unwind(|| std::panic::panic_any(42u32)).unwrap_err();
    if payload.downcast_ref::<u32>() != Some(&42) {
        return Err("wrong payload".into());
    }
    say("caught");
    Ok(())
}

fn waiting() -> Result<(), String> {
    confined(&[1, 2])?;
    let start = Instant::now();
    let _ = std::time::SystemTime::now();
    std::thread::sleep(Duration::from_millis(20));
    let slept = start.elapsed();
    if slept < Duration::from_millis(20) {
        return Err(format!("slept {slept:?}"));
    }
    let before = Instant::now();
    // SAFETY: no descriptors, just the timeout.
    let rc = unsafe { libc::poll(std::ptr::null_mut(), 0, 30) };
    if rc != 0 || before.elapsed() < Duration::from_millis(30) {
        return Err(format!("poll: {rc} after {:?}", before.elapsed()));
    }
    let lock = Mutex::new(0u32);
    let cond = Condvar::new();
    *lock.lock().map_err(|e| e.to_string())? += 1;
    let guard = lock.lock().map_err(|e| e.to_string())?;
    let before = Instant::now();
    let (guard, timeout) = cond
        .wait_timeout(guard, Duration::from_millis(50))
        .map_err(|e| e.to_string())?;
    if !timeout.timed_out() || before.elapsed() < Duration::from_millis(50) || *guard != 1 {
        return Err("Condvar::wait_timeout".into());
    }
    drop(guard);
    cond.notify_all();
    let rw = std::sync::RwLock::new(1);
    drop(rw.read().map_err(|e| e.to_string())?);
    drop(rw.write().map_err(|e| e.to_string())?);
    let once = std::sync::OnceLock::new();
    once.get_or_init(|| 5);
    let (tx, rx) = std::sync::mpsc::channel();
    tx.send(3).map_err(|e| e.to_string())?;
    rx.recv_timeout(Duration::from_millis(10))
        .map_err(|e| e.to_string())?;
    if rx.recv_timeout(Duration::from_millis(10)).is_ok() {
        return Err("recv_timeout on an empty channel returned a value".into());
    }
    let mut random = [0u8; 32];
    // SAFETY: `random` is writable for its length.
    let n = unsafe { libc::getrandom(random.as_mut_ptr().cast(), random.len(), 0) };
    if n != 32 {
        return Err(format!("getrandom: {n}"));
    }
    let map: std::collections::HashMap<u32, u32> = (0..100).map(|i| (i, i)).collect();
    say(&format!("waited and locked; {} entries", map.len()));
    Ok(())
}

/// Like the worker: a thread confines itself and runs, the main thread waits in `join`.
fn thread_exit() -> Result<(), String> {
    let handle = std::thread::Builder::new()
        .name("sandbox".into())
        .stack_size(8 * MIB)
        .spawn(|| -> Result<usize, String> {
            confined(&[1, 2])?;
            let v: Vec<u64> = (0..1_000_000).collect();
            Ok(v.len())
        })
        .map_err(|e| e.to_string())?;
    let n = handle.join().map_err(|_| "the thread panicked")??;
    say(&format!("joined the confined thread ({n})"));
    Ok(())
}

/// Everything the worker does, in one confined process (also the run to trace with strace).
fn workload() -> Result<(), String> {
    let (mut a, mut b) = UnixStream::pair().map_err(|e| e.to_string())?;
    confined(&[1, 2, a.as_raw_fd(), b.as_raw_fd()])?;
    a.write_all(b"hello").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 5];
    b.read_exact(&mut buf).map_err(|e| e.to_string())?;
    b.set_nonblocking(true).map_err(|e| e.to_string())?;
    match b.read(&mut buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        other => return Err(format!("non-blocking read: {other:?}")),
    }
    a.write_all(b"again").map_err(|e| e.to_string())?;
    wait_for(&b, libc::POLLIN)?;
    b.read_exact(&mut buf).map_err(|e| e.to_string())?;
    let _ = Instant::now();
    std::thread::sleep(Duration::from_millis(1));
    let mut v: Vec<u8> = Vec::new();
    v.resize(256 * MIB, 7);
    drop(v);
    let lock = Mutex::new(());
    let cond = Condvar::new();
    let _ = cond
        .wait_timeout(
            lock.lock().map_err(|e| e.to_string())?,
            Duration::from_millis(1),
        )
        .map_err(|e| e.to_string())?;
    let _ = std::panic::catch_unwind(|| panic!("caught"));
    drop((a, b));
    say("workload ran");
    Ok(())
}

fn fds() -> Result<(), String> {
    let extra: Vec<std::fs::File> = (0..3)
        .map(|_| std::fs::File::open("/dev/null"))
        .collect::<io::Result<_>>()
        .map_err(|e| e.to_string())?;
    let limits = Limits {
        address_space_bytes: None,
        open_files: 8,
    };
    for bad in [-1, 999] {
        match confine(&[1, bad], &limits) {
            Err(ConfineError::KeepFdNotOpen { fd }) if fd == bad => {}
            other => return Err(format!("confine keeping {bad}: {other:?}")),
        }
    }
    // Nothing was closed by the refused calls.
    let open = |fd: RawFd| {
        // SAFETY: F_GETFD only reads flags.
        unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
    };
    if !extra.iter().all(|f| open(f.as_raw_fd())) {
        return Err("a refused confine closed descriptors".into());
    }
    let numbers: Vec<RawFd> = extra.iter().map(AsRawFd::as_raw_fd).collect();
    confined(&[2, 1, 2])?;
    std::mem::forget(extra);
    for fd in [0].into_iter().chain(numbers) {
        if open(fd) {
            return Err(format!("descriptor {fd} is still open"));
        }
    }
    if !open(1) || !open(2) {
        return Err("a kept descriptor was closed".into());
    }
    Ok(())
}

fn parent_gone() -> Result<(), String> {
    // SAFETY: getppid cannot fail.
    let parent = unsafe { libc::getppid() };
    die_with_parent(parent).map_err(|e| e.to_string())?;
    match die_with_parent(parent + 1) {
        Err(ConfineError::ParentGone { expected, actual })
            if expected == parent + 1 && actual == parent =>
        {
            say("ParentGone reported");
            Ok(())
        }
        other => Err(format!("{other:?}")),
    }
}

fn limits() -> Result<(), String> {
    confined(&[0, 1, 2])?;
    say("ready");
    let mut rest = Vec::new();
    io::stdin()
        .read_to_end(&mut rest)
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn die_host() -> Result<(), String> {
    let mut grandchild = child("die_grandchild");
    grandchild
        .env(ARG, std::process::id().to_string())
        .stdin(Stdio::inherit());
    let _running = grandchild.spawn().map_err(|e| e.to_string())?;
    loop {
        std::thread::park();
    }
}

fn die_grandchild() -> Result<(), String> {
    let parent: libc::pid_t = std::env::var(ARG).unwrap().parse().unwrap();
    die_with_parent(parent).map_err(|e| e.to_string())?;
    confined(&[0, 1])?;
    say(&format!("ready {}", std::process::id()));
    let mut byte = [0u8];
    let result = io::stdin().read(&mut byte);
    say(&format!("read returned {result:?}"));
    Err("the read returned".into())
}

fn regular_file() -> Result<(), String> {
    let path = std::env::var_os(ARG).unwrap();
    let mut file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    confined(&[1, 2, file.as_raw_fd()])?;
    refused(
        "writing a regular file",
        file.write(b"x"),
        Some(libc::EFBIG),
    )
}

fn oom() -> Result<(), String> {
    confined(&[1, 2])?;
    say("allocating");
    let v = vec![1u8; 2 << 30];
    Err(format!("allocated {} bytes", v.len()))
}

fn timezone() -> Result<(), String> {
    confined(&[1, 2])?;
    let t: libc::time_t = 0;
    // SAFETY: a zeroed tm is a valid out-parameter.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers.
    if unsafe { libc::localtime_r(&raw const t, &raw mut tm) }.is_null() {
        return Err("localtime_r failed".into());
    }
    say(&format!("gmtoff {}", tm.tm_gmtoff));
    Ok(())
}

/// x32 numbers (bit 30 set) use the `x86_64` audit arch but match no rule.
#[cfg(target_arch = "x86_64")]
fn x32() -> Result<(), String> {
    const X32: libc::c_long = 0x4000_0000;
    const X32_EXECVE: libc::c_long = 520;
    confined(&[1, 2])?;
    // SAFETY: getpid and execve (x32 numbers 39 and 520); both refused.
    let rc = cvt(unsafe { libc::syscall(X32 | libc::SYS_getpid) });
    refused("x32 getpid", rc, EPERM)?;
    let path = c"/bin/true";
    let argv = [path.as_ptr(), std::ptr::null()];
    // SAFETY: as above.
    let rc = cvt(unsafe { libc::syscall(X32 | X32_EXECVE, path.as_ptr(), argv.as_ptr(), argv[1]) });
    refused("x32 execve", rc, EPERM)
}

/// The i386 convention: another audit arch, which every filter kills.
#[cfg(target_arch = "x86_64")]
fn int80() -> Result<(), String> {
    confined(&[1, 2])?;
    say("calling");
    let mut ret: i64 = 20; // getpid in the i386 table
                           // SAFETY: a system call through the 32-bit gate; it does not touch memory.
    unsafe { std::arch::asm!("int 0x80", inout("rax") ret) };
    Err(format!("int 0x80 returned {ret}"))
}
