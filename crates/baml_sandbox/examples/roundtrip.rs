//! Round trip of `evaluate("1+1")` on the thread pool, waited for by spinning (as Node's thread
//! spins after it starts an evaluation): what a turn costs without Node in the way.
//!
//! `cargo run --release -p baml_sandbox --example roundtrip`
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use baml_sandbox::{
    ConsoleLevel, ConsoleLine, EvalOptions, Host, Reply, Sandbox, SandboxHandle, SandboxOptions,
    ThreadPool, Value,
};

struct NoHost;
impl Host for NoHost {
    fn call(&self, _index: usize, _args: Vec<Value>, reply: Reply) {
        reply(Ok(Value::Number(1.0)));
    }
    fn console(&self, _level: ConsoleLevel, _line: ConsoleLine) {}
}

fn main() {
    let pool = Arc::new(ThreadPool::new("roundtrip"));
    let options = SandboxOptions {
        host_functions: vec!["f".into()],
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::new(&options, Arc::new(NoHost), pool).unwrap();
    for (code, per) in [
        ("1+1", 1.0),
        ("for (let i = 0; i < 100; i++) await f(); 1", 100.0),
    ] {
        let mut times = Vec::new();
        for _ in 0..3000 {
            let flag = Arc::new(AtomicBool::new(false));
            let f2 = flag.clone();
            let t0 = Instant::now();
            sandbox.evaluate(
                code.into(),
                EvalOptions::default(),
                Box::new(move |r| {
                    assert!(r.is_ok());
                    f2.store(true, Ordering::Release);
                }),
            );
            while !flag.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            times.push(t0.elapsed().as_secs_f64() * 1e6 / per);
        }
        times.sort_by(f64::total_cmp);
        let p = |percent: usize| times[times.len() * percent / 100];
        println!(
            "{code:45} p10 {:.1} µs  p50 {:.1} µs  p90 {:.1} µs",
            p(10),
            p(50),
            p(90)
        );
    }
    std::thread::sleep(Duration::from_millis(10));
}
