//! The one harness every sandbox test uses: a tokio runtime shaped like the addon's
//! (blocking threads with 8 MiB stacks) and a host whose functions are Rust closures.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use baml_sandbox::{ConsoleLevel, Host, Reply, Sandbox, SandboxError, SandboxOptions, Value};

pub type HostFn = Box<dyn Fn(Vec<Value>, Reply) + Send + Sync>;

#[derive(Default)]
pub struct TestHost {
    /// Let whichever thread starts a turn run it in a slice (as Node's thread does).
    pub inline: bool,
    pub functions: Vec<HostFn>,
    pub console: Mutex<Vec<(ConsoleLevel, String)>>,
}

impl Host for TestHost {
    fn call(&self, index: usize, args: Vec<Value>, reply: Reply) {
        (self.functions[index])(args, reply);
    }
    fn console(&self, level: ConsoleLevel, message: String) {
        self.console.lock().unwrap().push((level, message));
    }
    fn may_run_here(&self) -> bool {
        self.inline
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(8 << 20)
        .enable_time()
        .build()
        .unwrap()
}

pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub sandbox: Sandbox,
    pub host: Arc<TestHost>,
}

impl Harness {
    pub fn new(options: SandboxOptions, functions: Vec<(&str, HostFn)>) -> Harness {
        Harness::with_mode(options, functions, false)
    }

    pub fn with_mode(
        options: SandboxOptions,
        functions: Vec<(&str, HostFn)>,
        inline: bool,
    ) -> Harness {
        let rt = runtime();
        let mut options = options;
        options.host_functions = functions.iter().map(|(n, _)| (*n).to_string()).collect();
        let host = Arc::new(TestHost {
            inline,
            functions: functions.into_iter().map(|(_, f)| f).collect(),
            ..Default::default()
        });
        let sandbox = Sandbox::new(&options, host.clone(), rt.handle().clone()).unwrap();
        Harness { rt, sandbox, host }
    }

    pub fn simple() -> Harness {
        Harness::new(SandboxOptions::default(), vec![])
    }

    /// Evaluates and waits (bounded) for the result.
    pub fn eval(&self, code: &str) -> Result<Value, SandboxError> {
        self.eval_with(code, None)
    }

    pub fn eval_with(&self, code: &str, timeout: Option<Duration>) -> Result<Value, SandboxError> {
        let rx = self.start(code, timeout);
        rx.recv_timeout(Duration::from_mins(1))
            .expect("evaluation never settled")
    }

    pub fn start(
        &self,
        code: &str,
        timeout: Option<Duration>,
    ) -> std::sync::mpsc::Receiver<Result<Value, SandboxError>> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.sandbox.evaluate(
            code.to_string(),
            timeout,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx
    }
}

pub fn num(n: f64) -> Value {
    Value::Number(n)
}

/// `depth` arrays nested around `null`.
pub fn chain(depth: usize) -> Value {
    let mut v = Value::Null;
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

/// The path of a value `n` levels down a `chain`.
pub fn zeros(n: usize) -> String {
    "[0]".repeat(n)
}
