//! The worker process of baml-quickjs's process isolation: started by the addon, never by hand.
//!
//! `baml-quickjs-worker --fd <n> --parent <pid>`: serves the sandbox protocol on the Unix
//! socket at descriptor `n`, and dies with its parent.

#[cfg(target_os = "linux")]
use std::os::fd::FromRawFd;
#[cfg(target_os = "linux")]
use std::os::unix::net::UnixStream;

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("baml-quickjs-worker: process isolation is Linux-only");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<i32>().ok())
    };
    let (Some(fd), Some(parent)) = (arg("--fd"), arg("--parent")) else {
        eprintln!("baml-quickjs-worker is started by the baml-quickjs addon, not by hand");
        std::process::exit(2);
    };
    // One sandbox per process: the C library's malloc packs it tighter than mimalloc, and
    // there is no Node thread here to share its locks with (see baml_sandbox's alloc.rs).
    baml_sandbox::use_system_allocator();
    let keep_stderr = args.iter().any(|a| a == "--keep-stderr");
    if sandbox_process::confine::die_with_parent(parent).is_err() {
        std::process::exit(3);
    }
    // Sandboxed code yields the CPU to the embedder's threads when both want it (the thread
    // started below inherits the priority).
    baml_sandbox::lower_priority();
    // SAFETY: the addon passes this descriptor to us and nothing else in this process owns it.
    let sock = unsafe { UnixStream::from_raw_fd(fd) };
    // Sandboxed code runs on a thread with a known stack size (the main thread's depends on
    // the environment's `ulimit -s`).
    let code = std::thread::Builder::new()
        .name("sandbox".into())
        .stack_size(baml_sandbox::SANDBOX_THREAD_STACK)
        .spawn(move || sandbox_process::worker::serve(sock, keep_stderr))
        .map_or(4, |t| t.join().unwrap_or(5));
    std::process::exit(code);
}
