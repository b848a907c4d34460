//! Sandboxes in real worker processes (the `baml-quickjs-worker` binary of this crate).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use baml_sandbox::{
    ConsoleLevel, ConsoleLine, EvalOptions, Host, Reply, SandboxError, SandboxHandle,
    SandboxOptions, Value,
};
use sandbox_process::{RemoteSandbox, Spawner};

type HostFn = Box<dyn Fn(Vec<Value>, Reply) + Send + Sync>;

#[derive(Default)]
struct TestHost {
    functions: Vec<HostFn>,
    console: Mutex<Vec<(ConsoleLevel, String)>>,
}

impl Host for TestHost {
    fn call(&self, index: usize, args: Vec<Value>, reply: Reply) {
        (self.functions[index])(args, reply);
    }
    fn console(&self, level: ConsoleLevel, line: ConsoleLine) {
        self.console.lock().unwrap().push((level, line.to_string()));
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn spawner() -> Arc<Spawner> {
    static S: OnceLock<Arc<Spawner>> = OnceLock::new();
    S.get_or_init(|| Spawner::new(env!("CARGO_BIN_EXE_baml-quickjs-worker").into()).unwrap())
        .clone()
}

struct Harness {
    sandbox: RemoteSandbox,
    host: Arc<TestHost>,
}

impl Harness {
    fn new(mut options: SandboxOptions, functions: Vec<(&str, HostFn)>) -> Harness {
        options.host_functions = functions.iter().map(|(n, _)| (*n).to_string()).collect();
        let host = Arc::new(TestHost {
            functions: functions.into_iter().map(|(_, f)| f).collect(),
            ..Default::default()
        });
        let sandbox =
            RemoteSandbox::new(&options, host.clone(), &spawner(), runtime().handle()).unwrap();
        Harness { sandbox, host }
    }

    fn simple() -> Harness {
        Harness::new(SandboxOptions::default(), vec![])
    }

    fn start(
        &self,
        code: &str,
        timeout: Option<Duration>,
    ) -> std::sync::mpsc::Receiver<Result<Value, SandboxError>> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.sandbox.evaluate(
            code.into(),
            EvalOptions {
                timeout,
                filename: None,
                on_start: None,
            },
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx
    }

    fn eval_with(&self, code: &str, timeout: Option<Duration>) -> Result<Value, SandboxError> {
        self.start(code, timeout)
            .recv_timeout(Duration::from_mins(1))
            .expect("the evaluation never settled")
    }

    fn eval(&self, code: &str) -> Result<Value, SandboxError> {
        self.eval_with(code, None)
    }
}

fn num(n: f64) -> Value {
    Value::Number(n)
}

fn alive(pid: i32) -> bool {
    // A reaped process is gone; a zombie still has a /proc entry with state Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn crash_reason(r: Result<Value, SandboxError>) -> String {
    match r {
        Err(SandboxError::Crashed { reason }) => reason,
        other => panic!("expected SANDBOX_CRASHED, got {other:?}"),
    }
}

#[test]
fn evaluations_run_in_a_worker_with_the_same_rules() {
    let h = Harness::simple();
    assert_eq!(h.eval("1 + 1").unwrap(), num(2.0));
    h.eval("globalThis.counter = 41").unwrap();
    assert_eq!(h.eval("++counter").unwrap(), num(42.0));
    assert_eq!(
        h.eval("let x = await Promise.resolve(20); x + 1").unwrap(),
        num(21.0)
    );
    assert_eq!(
        h.eval("({ a: [1, null, 'x'], d: new Date(5) })").unwrap(),
        Value::Object(vec![
            (
                "a".into(),
                Value::Array(vec![num(1.0), Value::Null, Value::String("x".into())])
            ),
            ("d".into(), Value::Date(5.0)),
        ])
    );
    match h.eval("throw new TypeError('bad thing')") {
        Err(SandboxError::Js { name, message, .. }) => {
            assert_eq!(name.as_deref(), Some("TypeError"));
            assert_eq!(message, "<sandbox>:1:11: TypeError: bad thing");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        h.eval("const o = {}; o.o = o; o"),
        Err(SandboxError::Result { .. })
    ));
    let t = Instant::now();
    assert_eq!(
        h.eval_with("for (;;) {}", Some(Duration::from_millis(100))),
        Err(SandboxError::Timeout { timeout_ms: 100 })
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(
        h.eval_with(
            "await new Promise(() => {})",
            Some(Duration::from_millis(100))
        ),
        Err(SandboxError::Timeout { timeout_ms: 100 })
    );
    let bomb = h.eval("{ const a = []; for (;;) a.push('x'.repeat(1e4)) }");
    assert!(matches!(bomb, Err(SandboxError::Memory { .. })), "{bomb:?}");
    assert_eq!(
        h.eval("function f() { return JSON.stringify({ toJSON: f }) } f()"),
        Err(SandboxError::Stack)
    );
    assert_eq!(h.eval("1 + 1").unwrap(), num(2.0));
    let (used, limit) = h.sandbox.memory_usage();
    assert!(used > 0 && used < limit, "{used} of {limit}");
}

#[test]
fn host_functions_and_console_cross_the_process_boundary() {
    let add: HostFn = Box::new(|args, reply| {
        let sum = args
            .iter()
            .map(|a| if let Value::Number(n) = a { *n } else { 0.0 })
            .sum();
        reply(Ok(Value::Number(sum)));
    });
    let later: HostFn = Box::new(|args, reply| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            reply(Ok(Value::Array(args)));
        });
    });
    let fail: HostFn = Box::new(|_, reply| reply(Err("nope".into())));
    let h = Harness::new(
        SandboxOptions {
            console: true,
            ..Default::default()
        },
        vec![("add", add), ("later", later), ("fail", fail)],
    );
    assert_eq!(h.eval("await add(1, 2, 3)").unwrap(), num(6.0));
    assert_eq!(
        h.eval("let s = 0; for (let i = 0; i < 200; i++) s += await add(i, 1); s")
            .unwrap(),
        num(20100.0)
    );
    assert_eq!(
        h.eval("(await later('x'))[0]").unwrap(),
        Value::String("x".into())
    );
    assert_eq!(
        h.eval("try { await fail() } catch (e) { e.message }")
            .unwrap(),
        Value::String("nope".into())
    );
    assert_eq!(
        h.eval("(await Promise.all([1, 2, 3].map((i) => add(i)))).join()")
            .unwrap(),
        Value::String("1,2,3".into())
    );
    h.eval("console.log('hello', { a: 1 }); console.error('bad')")
        .unwrap();
    let logs = h.host.console.lock().unwrap().clone();
    assert_eq!(
        logs,
        vec![
            (ConsoleLevel::Log, "hello { a: 1 }".into()),
            (ConsoleLevel::Error, "bad".into())
        ]
    );
}

#[test]
fn abort_and_dispose_end_the_worker() {
    let h = Harness::simple();
    let rx = h.start("for (;;) {}", None);
    std::thread::sleep(Duration::from_millis(50));
    let id = h
        .sandbox
        .evaluate("1".into(), EvalOptions::default(), Box::new(|_| {}))
        - 1;
    h.sandbox.abort(id);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        Err(SandboxError::Aborted)
    );
    assert_eq!(h.eval("5").unwrap(), num(5.0));
    let pid = h.sandbox.pid();
    assert!(pid > 0 && alive(pid));
    let rx = h.start("await new Promise(() => {})", None);
    h.sandbox.dispose();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        Err(SandboxError::Disposed)
    );
    assert_eq!(h.eval("1"), Err(SandboxError::Disposed));
    let until = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        assert!(
            Instant::now() < until,
            "the worker {pid} outlived dispose()"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_worker_that_dies_costs_only_its_own_context() {
    let victim = Harness::simple();
    let bystander = Harness::simple();
    victim.eval("globalThis.x = 1").unwrap();
    let pending = victim.start("await new Promise(() => {})", None);
    let other = bystander.start("await new Promise((r) => setTimeout(r, 300)); 'fine'", None);
    let pid = victim.sandbox.pid();
    // SAFETY: test code signalling its own child.
    unsafe { libc::kill(pid, libc::SIGABRT) };
    let reason = crash_reason(pending.recv_timeout(Duration::from_secs(5)).unwrap());
    assert!(reason.contains("SIGABRT"), "{reason}");
    assert!(victim.sandbox.is_disposed());
    assert!(matches!(
        victim.eval("1"),
        Err(SandboxError::Crashed { .. })
    ));
    assert_eq!(
        other.recv_timeout(Duration::from_secs(5)).unwrap().unwrap(),
        Value::String("fine".into())
    );
    assert_eq!(bystander.eval("1 + 1").unwrap(), num(2.0));
}

#[test]
fn a_turn_that_ignores_its_deadline_costs_its_worker_on_time() {
    let h = Harness::new(
        SandboxOptions {
            memory_limit_bytes: 512 << 20,
            ..Default::default()
        },
        vec![],
    );
    h.eval("globalThis.big = Array.from({ length: 3e6 }, (_, i) => String((i * 7919) % 3e6)); 0")
        .unwrap();
    let started = Instant::now();
    let r = h.eval_with(
        "big.sort(); big.sort(); big.sort(); 'sorted'",
        Some(Duration::from_millis(100)),
    );
    // The evaluation settles at its deadline, as in thread mode ...
    assert_eq!(r, Err(SandboxError::Timeout { timeout_ms: 100 }));
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    // ... and the worker, still sorting, is killed once it burned GRACE of CPU time past it.
    let mut reason = None;
    while started.elapsed() < Duration::from_secs(5) {
        if h.sandbox.is_disposed() {
            reason = Some(crash_reason(h.eval("1")));
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = started.elapsed();
    let reason = reason.expect("the worker was never killed");
    assert!(reason.contains("deadline"), "{reason}");
    assert!(
        took < Duration::from_millis(100) + sandbox_process::GRACE + Duration::from_millis(250),
        "{took:?}"
    );
}

#[test]
fn a_sandbox_that_cannot_be_created_rejects_its_evaluations() {
    let big = Value::String("x".repeat(3 << 20));
    let h = Harness::new(
        SandboxOptions {
            memory_limit_bytes: 1 << 20,
            globals: vec![("big".into(), big)],
            ..Default::default()
        },
        vec![],
    );
    assert!(matches!(h.eval("1"), Err(SandboxError::Memory { .. })));
    assert!(h.sandbox.is_disposed());
}

#[test]
fn many_workers_at_once() {
    let hs: Vec<Harness> = (0..16).map(|_| Harness::simple()).collect();
    let rxs: Vec<_> = hs
        .iter()
        .enumerate()
        .map(|(i, h)| {
            h.start(
                &format!("await new Promise((r) => setTimeout(r, 20)); {i}"),
                None,
            )
        })
        .collect();
    for (i, rx) in rxs.into_iter().enumerate() {
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(30)).unwrap().unwrap(),
            num(f64::from(u32::try_from(i).unwrap()))
        );
    }
    let pids: Vec<i32> = hs.iter().map(|h| h.sandbox.pid()).collect();
    drop(hs);
    let until = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) {
        assert!(Instant::now() < until, "workers outlived their contexts");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn contexts_used_at_once_after_creation_work() {
    // Regression: an evaluation sent right behind the creation message was read by the
    // interrupt handler while the sandbox was still being created, and dropped.
    for i in 0..40 {
        let h = Harness::new(
            SandboxOptions {
                baml_functions: vec!["F".into()],
                ..Default::default()
            },
            vec![],
        );
        assert_eq!(
            h.eval_with("1 + 1", Some(Duration::from_secs(2))),
            Ok(num(2.0)),
            "context {i}"
        );
        h.sandbox.dispose();
    }
}

#[test]
fn the_worker_is_confined_once_its_sandbox_exists() {
    let h = Harness::simple();
    assert_eq!(h.eval("1 + 1").unwrap(), num(2.0));
    // Only its socket is open.
    assert_confined(h.sandbox.pid(), "8", &["3"]);
}

#[test]
fn a_groups_worker_is_confined_before_its_first_member_runs() {
    let g = group(64 << 20);
    let members: Vec<Harness> = (0..3)
        .map(|_| Harness::member(&g, SandboxOptions::default()))
        .collect();
    for m in &members {
        assert_eq!(m.eval("1 + 1").unwrap(), num(2.0));
    }
    // Its first socket and its members' (received after it was confined), nothing else.
    let limit = (sandbox_process::group::MAX_MEMBERS + 16).to_string();
    let fds = assert_confined(g.pid(), &limit, &[]);
    assert_eq!(fds.len(), 4, "{fds:?}");
    assert!(fds.contains(&"3".to_string()), "{fds:?}");
}

/// Checks that process `pid` is confined (no new privileges, a seccomp filter, no file
/// growth, `open_files` descriptors at most, an empty environment) and, unless `fds` is empty,
/// that exactly those descriptors are open. Returns the open descriptors.
fn assert_confined(pid: i32, open_files: &str, fds: &[&str]) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(field("NoNewPrivs:"), "1");
    assert_eq!(field("Seccomp:"), "2", "filter mode");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let limit = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| {
                l.split_whitespace()
                    .rev()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default()
    };
    assert_eq!(limit("Max file size"), "0");
    assert_eq!(limit("Max open files"), open_files);
    // Its environment is empty: no API key of the embedder's environment reaches it.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    assert!(environ.is_empty(), "{} bytes of environment", environ.len());
    let mut open: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    open.sort();
    if !fds.is_empty() {
        assert_eq!(open, fds, "open descriptors");
    }
    open
}

// Groups: members of one shared runtime in one worker process.

fn group(memory_limit: usize) -> Arc<sandbox_process::ProcessGroup> {
    sandbox_process::ProcessGroup::new(memory_limit, 512 << 10, &spawner(), runtime().handle())
}

impl Harness {
    fn member(group: &Arc<sandbox_process::ProcessGroup>, mut options: SandboxOptions) -> Harness {
        options.host_functions = vec!["twice".into()];
        let host = Arc::new(TestHost {
            functions: vec![Box::new(|args: Vec<Value>, reply: Reply| {
                match args.first() {
                    Some(Value::Number(n)) => reply(Ok(Value::Number(n * 2.0))),
                    _ => reply(Ok(Value::Null)),
                }
            })],
            ..Default::default()
        });
        let sandbox = RemoteSandbox::new_member(&options, host.clone(), group).unwrap();
        Harness { sandbox, host }
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn members_of_a_group_share_one_worker_and_nothing_else() {
    let g = group(64 << 20);
    let a = Harness::member(&g, SandboxOptions::default());
    let b = Harness::member(&g, SandboxOptions::default());
    a.eval("globalThis.secret = 'a'; Object.prototype.polluted = 1; Array.prototype.push = null")
        .unwrap();
    assert_eq!(
        b.eval("[typeof secret, typeof ({}).polluted, typeof [].push].join()")
            .unwrap(),
        Value::String("undefined,undefined,function".into())
    );
    assert_eq!(b.eval("twice(21)").unwrap(), num(42.0));
    assert_eq!(a.eval("twice(secret.length)").unwrap(), num(2.0));
    wait_until("the worker started", || g.pid() > 0);
    assert_eq!(a.sandbox.pid(), g.pid());
    assert_eq!(b.sandbox.pid(), g.pid());
    // One heap: both report the group's usage and limit.
    a.eval("globalThis.hold = 'x'.repeat(4 << 20); 0").unwrap();
    let (used, limit) = b.sandbox.memory_usage();
    assert_eq!(limit, 64 << 20);
    assert!(used >= 4 << 20, "{used}");
    assert_eq!(a.sandbox.memory_usage(), b.sandbox.memory_usage());
    // The group's memory limit, not the options', is the members' (as in thread mode).
    let big = Harness::member(
        &g,
        SandboxOptions {
            memory_limit_bytes: 1 << 20,
            ..Default::default()
        },
    );
    assert_eq!(
        big.eval("'y'.repeat(8 << 20).length").unwrap(),
        num(f64::from(8 << 20))
    );
}

#[test]
fn disposing_a_member_leaves_the_others_and_the_worker_running() {
    let g = group(64 << 20);
    let a = Harness::member(&g, SandboxOptions::default());
    let b = Harness::member(&g, SandboxOptions::default());
    let running = b.start(
        "let n = 0; for (let i = 0; i < 5; i++) { await new Promise((r) => setTimeout(r, 20)); n++ } n",
        None,
    );
    let pending = a.start("await new Promise(() => {})", None);
    std::thread::sleep(Duration::from_millis(30));
    a.sandbox.dispose();
    assert_eq!(
        pending.recv_timeout(Duration::from_secs(5)).unwrap(),
        Err(SandboxError::Disposed)
    );
    assert_eq!(
        running
            .recv_timeout(Duration::from_secs(5))
            .unwrap()
            .unwrap(),
        num(5.0)
    );
    let pid = g.pid();
    assert!(alive(pid));
    // A member joining later gets a fresh realm in the same worker.
    let c = Harness::member(&g, SandboxOptions::default());
    assert_eq!(
        c.eval("typeof n").unwrap(),
        Value::String("undefined".into())
    );
    assert_eq!(c.sandbox.pid(), pid);
    // With no member and no group handle left, the worker is reaped.
    drop((a, b, c, g));
    wait_until("the group's worker is gone", || !alive(pid));
}

#[test]
fn a_member_that_ignores_its_deadline_costs_the_group_its_worker() {
    let g = group(512 << 20);
    let culprit = Harness::member(&g, SandboxOptions::default());
    let bystander = Harness::member(&g, SandboxOptions::default());
    culprit
        .eval("globalThis.big = Array.from({ length: 3e6 }, (_, i) => String((i * 7919) % 3e6)); 0")
        .unwrap();
    let waiting = bystander.start("await new Promise(() => {})", None);
    let started = Instant::now();
    let r = culprit.eval_with(
        "big.sort(); big.sort(); big.sort(); 'sorted'",
        Some(Duration::from_millis(100)),
    );
    assert_eq!(r, Err(SandboxError::Timeout { timeout_ms: 100 }));
    let reason = crash_reason(waiting.recv_timeout(Duration::from_secs(5)).unwrap());
    assert!(
        reason.contains("another context of its group") && reason.contains("deadline"),
        "{reason}"
    );
    assert!(
        started.elapsed()
            < Duration::from_millis(100) + sandbox_process::GRACE + Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    let own = crash_reason(culprit.eval("1"));
    assert!(
        own.contains("did not stop at an evaluation's deadline"),
        "{own}"
    );
    assert!(bystander.sandbox.is_disposed() && culprit.sandbox.is_disposed());
}

#[test]
fn a_member_held_up_by_another_members_live_turn_is_not_a_reason_to_kill() {
    let g = group(64 << 20);
    let busy = Harness::member(&g, SandboxOptions::default());
    let other = Harness::member(&g, SandboxOptions::default());
    assert_eq!(other.eval("1").unwrap(), num(1.0));
    let spinning = busy.start("for (;;) {}", Some(Duration::from_millis(1500)));
    std::thread::sleep(Duration::from_millis(50));
    // Its turn waits for the group's thread: it times out, and the worker, busy with a live
    // evaluation of another member, is left alone.
    assert_eq!(
        other.eval_with("2", Some(Duration::from_millis(100))),
        Err(SandboxError::Timeout { timeout_ms: 100 })
    );
    assert_eq!(
        spinning.recv_timeout(Duration::from_secs(10)).unwrap(),
        Err(SandboxError::Timeout { timeout_ms: 1500 })
    );
    assert_eq!(other.eval("3").unwrap(), num(3.0));
    assert!(!other.sandbox.is_disposed() && !busy.sandbox.is_disposed());
}

#[test]
fn a_group_worker_that_dies_fails_every_member() {
    let g = group(64 << 20);
    let members: Vec<Harness> = (0..5)
        .map(|_| Harness::member(&g, SandboxOptions::default()))
        .collect();
    for m in &members {
        assert_eq!(m.eval("1").unwrap(), num(1.0));
    }
    let pending: Vec<_> = members
        .iter()
        .map(|m| m.start("await new Promise(() => {})", None))
        .collect();
    let pid = g.pid();
    // SAFETY: test code signalling its own child.
    unsafe { libc::kill(pid, libc::SIGABRT) };
    for p in pending {
        let reason = crash_reason(p.recv_timeout(Duration::from_secs(5)).unwrap());
        assert!(reason.contains("SIGABRT"), "{reason}");
    }
    // A member joining after the worker died gets a new one.
    let late = Harness::member(&g, SandboxOptions::default());
    assert_eq!(late.eval("1 + 1").unwrap(), num(2.0));
    assert_ne!(late.sandbox.pid(), pid);
}

#[test]
fn many_members_in_one_worker_evaluate_at_once() {
    let g = group(128 << 20);
    let members: Vec<Harness> = (0..300)
        .map(|_| Harness::member(&g, SandboxOptions::default()))
        .collect();
    let pending: Vec<_> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.start(
                &format!(
                    "globalThis.me = {i}; await new Promise((r) => setTimeout(r, 5)); twice(me)"
                ),
                None,
            )
        })
        .collect();
    for (i, p) in pending.into_iter().enumerate() {
        assert_eq!(
            p.recv_timeout(Duration::from_secs(30)).unwrap().unwrap(),
            num(2.0 * f64::from(u32::try_from(i).unwrap()))
        );
    }
    let pids: std::collections::HashSet<i32> = members.iter().map(|m| m.sandbox.pid()).collect();
    assert_eq!(pids.len(), 1);
}

#[test]
fn members_made_faster_than_the_worker_takes_them_all_arrive_in_order() {
    // Two thousand members in one go, before the worker has read its first message: their
    // sockets wait in the embedder (the group's socket takes a couple of hundred at most).
    let g = group(256 << 20);
    let members: Vec<Harness> = (0..2000)
        .map(|_| Harness::member(&g, SandboxOptions::default()))
        .collect();
    let pending: Vec<_> = members
        .iter()
        .enumerate()
        .map(|(i, m)| m.start(&format!("twice({i})"), None))
        .collect();
    for (i, p) in pending.into_iter().enumerate() {
        let r = p.recv_timeout(Duration::from_mins(2)).unwrap();
        assert_eq!(
            r,
            Ok(num(2.0 * f64::from(u32::try_from(i).unwrap()))),
            "member {i}"
        );
    }
    // Members leave and others join, over and over: the worker's descriptors are given back.
    drop(members);
    for round in 0..3 {
        let batch: Vec<Harness> = (0..1500)
            .map(|_| Harness::member(&g, SandboxOptions::default()))
            .collect();
        // Within the default 30 s timeout: with a collection of the whole heap for each realm
        // freed, disposing the 2,000 before took minutes.
        let last = batch.last().unwrap();
        assert_eq!(last.eval("1 + 1").unwrap(), num(2.0), "round {round}");
    }
}
