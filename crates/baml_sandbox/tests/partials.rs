//! Partial results of a streamed BAML call, when the sandbox falls behind the stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::sync::Arc;
use std::time::Duration;

use baml_sandbox::{
    CallGuard, ConsoleLevel, ConsoleLine, EvalOptions, Host, Partial, Reply, Sandbox,
    SandboxHandle, SandboxOptions, Value,
};

/// A BAML function that streams `COUNT` partials (0, 1, ...) as fast as it can from its own
/// thread, then answers `COUNT`.
struct Streaming;

const COUNT: u32 = 2000;

impl Host for Streaming {
    fn call(&self, _index: usize, _args: Vec<Value>, reply: Reply) {
        reply(Err("no host functions".into()));
    }
    fn console(&self, _level: ConsoleLevel, _line: ConsoleLine) {}
    fn baml_call(
        &self,
        _index: usize,
        _args: Vec<Value>,
        partial: Option<Partial>,
        reply: Reply,
    ) -> Option<CallGuard> {
        std::thread::spawn(move || {
            if let Some(p) = partial {
                for i in 0..COUNT {
                    p(Value::Number(f64::from(i)));
                }
            }
            reply(Ok(Value::Number(f64::from(COUNT))));
        });
        None
    }
}

/// Partials waiting to be applied are replaced by newer ones of the same call, so a slow
/// consumer sees fewer, always the newest and in order, and the last one before the final
/// answer. Queuing every one kept each snapshot alive: a streamed 64 MiB answer grew the
/// process by hundreds of MB on a loaded machine.
#[test]
fn a_slow_consumer_gets_the_newest_partials_not_all_of_them() {
    let options = SandboxOptions {
        baml_functions: vec!["Fn".into()],
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::new(&options, Arc::new(Streaming), common::pool()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    sandbox.evaluate(
        "const s = b.stream.Fn(); const seen = []; \
         for await (const p of s) { seen.push(p); const t = Date.now(); while (Date.now() - t < 2) {} } \
         [seen.length, seen.every((v, i) => i === 0 || v > seen[i - 1]), seen[seen.length - 1], \
          await s.getFinalResponse()]"
            .to_string(),
        EvalOptions {
            timeout: Some(Duration::from_secs(30)),
            filename: None,
            on_start: None,
        },
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    let r = rx.recv_timeout(Duration::from_mins(1)).unwrap().unwrap();
    let Value::Array(items) = r else {
        panic!("{r:?}")
    };
    let Value::Number(seen) = items[0] else {
        panic!("{items:?}")
    };
    assert!(
        seen >= 1.0 && seen < f64::from(COUNT) / 2.0,
        "{seen} partials applied"
    );
    assert_eq!(items[1], Value::Bool(true), "in order");
    assert_eq!(
        items[2],
        Value::Number(f64::from(COUNT - 1)),
        "the newest last"
    );
    assert_eq!(items[3], Value::Number(f64::from(COUNT)));
}
