//! Where the time of creating and freeing a sandbox goes (release build):
//! `cargo run --release -p baml_sandbox --example create_cost`
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::too_many_lines)]

use std::sync::Arc;
use std::time::Instant;

use baml_sandbox::{
    ConsoleLevel, ConsoleLine, EvalOptions, Host, Reply, Sandbox, SandboxHandle, SandboxOptions,
    ThreadPool, Value,
};

struct NoHost;
impl Host for NoHost {
    fn call(&self, _: usize, _: Vec<Value>, reply: Reply) {
        reply(Ok(Value::Null));
    }
    fn console(&self, _: ConsoleLevel, _: ConsoleLine) {}
}

/// Evaluates `code` and waits for it.
fn eval(s: &Sandbox, code: &str) {
    let (tx, rx) = std::sync::mpsc::channel();
    s.evaluate(
        code.to_string(),
        EvalOptions {
            timeout: None,
            filename: None,
            on_start: None,
        },
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    rx.recv().unwrap().unwrap();
}

/// A fresh realm's heap, and what the first use of each lazily created web global costs.
fn web_globals(host: &Arc<dyn Host>, pool: &Arc<ThreadPool>) {
    let s = Sandbox::new(&SandboxOptions::default(), host.clone(), pool.clone()).unwrap();
    println!("heap of a fresh realm: {} bytes", s.memory_usage().0);
    s.dispose();
    let n = 200;
    for (name, code) in [
        ("nothing (1)", "1"),
        ("URL", "new URL('https://a.com/?q=1').searchParams.get('q')"),
        ("TextEncoder", "new TextEncoder().encode('x').length"),
        ("structuredClone", "structuredClone({ a: [1] }).a.length"),
        ("crypto", "crypto.randomUUID().length"),
        ("setInterval", "clearInterval(setInterval(() => {}, 1))"),
    ] {
        let (mut first, mut again, mut heap) = (0.0, 0.0, 0);
        for _ in 0..n {
            let s = Sandbox::new(&SandboxOptions::default(), host.clone(), pool.clone()).unwrap();
            eval(&s, "1");
            let before = s.memory_usage().0;
            let t = Instant::now();
            eval(&s, code);
            first += t.elapsed().as_secs_f64();
            heap = s.memory_usage().0.saturating_sub(before);
            let t = Instant::now();
            eval(&s, code);
            again += t.elapsed().as_secs_f64();
            s.dispose();
        }
        println!(
            "first use of {name}: {:.1} µs (then {:.1} µs), heap +{heap} bytes",
            first * 1e6 / f64::from(n),
            again * 1e6 / f64::from(n)
        );
    }
}

fn main() {
    let pool = Arc::new(ThreadPool::new("create-cost"));
    let host: Arc<dyn Host> = Arc::new(NoHost);
    let n = 5000;
    if std::env::var("BAML_WEB_GLOBALS").is_ok() {
        web_globals(&host, &pool);
        return;
    }
    if let Ok(count) = std::env::var("BAML_ONLY_SANDBOX") {
        // `BAML_ONLY_SANDBOX=2000` for a count that suits `valgrind --tool=callgrind`, whose
        // instruction counts compare builds on a busy machine.
        for _ in 0..count.parse::<u32>().unwrap_or(20_000) {
            Sandbox::new(&SandboxOptions::default(), host.clone(), pool.clone())
                .unwrap()
                .dispose();
        }
        return;
    }
    for _ in 0..2 {
        let t = Instant::now();
        for _ in 0..n {
            let r = rquickjs::Runtime::new().unwrap();
            let c = rquickjs::Context::full(&r).unwrap();
            drop(c);
            drop(r);
        }
        println!(
            "bare rquickjs runtime + full context: {:.1} µs",
            t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
        let t = Instant::now();
        for _ in 0..n {
            drop(rquickjs::Runtime::new().unwrap());
        }
        println!(
            "bare runtime alone: {:.1} µs",
            t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
        let r = rquickjs::Runtime::new().unwrap();
        let t = Instant::now();
        for _ in 0..n {
            drop(rquickjs::Context::full(&r).unwrap());
        }
        println!(
            "full context on a live runtime: {:.1} µs",
            t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
        let t = Instant::now();
        for _ in 0..n {
            drop(rquickjs::Context::base(&r).unwrap());
        }
        println!(
            "base context on a live runtime: {:.1} µs",
            t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
        macro_rules! each {
            ($($i:ident),*) => {$(
                let t = Instant::now();
                for _ in 0..n {
                    drop(rquickjs::Context::custom::<rquickjs::context::intrinsic::$i>(&r).unwrap());
                }
                println!("  base + {}: {:.1} µs", stringify!($i), t.elapsed().as_secs_f64() * 1e6 / f64::from(n));
            )*};
        }
        each!(
            Date,
            Eval,
            RegExp,
            Json,
            Proxy,
            MapSet,
            TypedArrays,
            Promise,
            WeakRef,
            Performance
        );
        drop(r);
        let t = Instant::now();
        for _ in 0..n {
            let s = Sandbox::new(&SandboxOptions::default(), host.clone(), pool.clone()).unwrap();
            s.dispose();
        }
        println!(
            "Sandbox::new + dispose: {:.1} µs",
            t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
        let t = Instant::now();
        let mut keep = Vec::new();
        for _ in 0..n {
            keep.push(
                Sandbox::new(&SandboxOptions::default(), host.clone(), pool.clone()).unwrap(),
            );
        }
        let created = t.elapsed();
        let t = Instant::now();
        for s in &keep {
            s.dispose();
        }
        println!(
            "  of which new: {:.1} µs, dispose: {:.1} µs",
            created.as_secs_f64() * 1e6 / f64::from(n),
            t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
    }
}
