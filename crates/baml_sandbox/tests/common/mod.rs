//! The one harness every sandbox test uses: a thread pool driver like the addon's and a host
//! whose functions are Rust closures.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use baml_sandbox::{
    ConsoleLevel, ConsoleLine, EvalOptions, Host, Reply, Sandbox, SandboxError, SandboxHandle,
    SandboxOptions, ThreadPool, Value,
};

pub type HostFn = Box<dyn Fn(Vec<Value>, Reply) + Send + Sync>;

#[derive(Default)]
pub struct TestHost {
    pub functions: Vec<HostFn>,
    pub console: Mutex<Vec<(ConsoleLevel, String)>>,
}

impl Host for TestHost {
    fn call(&self, index: usize, args: Vec<Value>, reply: Reply) {
        (self.functions[index])(args, reply);
    }
    fn console(&self, level: ConsoleLevel, line: ConsoleLine) {
        self.console.lock().unwrap().push((level, line.to_string()));
    }
}

/// The pool every test's sandboxes run on (as every in-process context of the addon shares one).
pub fn pool() -> Arc<ThreadPool> {
    static POOL: std::sync::OnceLock<Arc<ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| Arc::new(ThreadPool::new("sandbox-test")))
        .clone()
}

pub struct Harness {
    pub sandbox: Sandbox,
    pub host: Arc<TestHost>,
}

impl Harness {
    pub fn new(options: SandboxOptions, functions: Vec<(&str, HostFn)>) -> Harness {
        let mut options = options;
        options.host_functions = functions.iter().map(|(n, _)| (*n).to_string()).collect();
        let host = Arc::new(TestHost {
            functions: functions.into_iter().map(|(_, f)| f).collect(),
            ..Default::default()
        });
        let sandbox = Sandbox::new(&options, host.clone(), pool()).unwrap();
        Harness { sandbox, host }
    }

    /// As `new`, but created the way the addon creates in-process contexts: `Sandbox::spawn`
    /// returns at once and the runtime is created on the pool.
    pub fn spawned(
        options: SandboxOptions,
        functions: Vec<(&str, HostFn)>,
    ) -> Result<Harness, SandboxError> {
        let mut options = options;
        options.host_functions = functions.iter().map(|(n, _)| (*n).to_string()).collect();
        let host = Arc::new(TestHost {
            functions: functions.into_iter().map(|(_, f)| f).collect(),
            ..Default::default()
        });
        let sandbox = Sandbox::spawn(options, host.clone(), pool())?;
        Ok(Harness { sandbox, host })
    }

    /// As `spawned`, with the realm in a shared runtime.
    pub fn shared(
        shared: &baml_sandbox::SharedRuntime,
        options: SandboxOptions,
        functions: Vec<(&str, HostFn)>,
    ) -> Result<Harness, SandboxError> {
        let mut options = options;
        options.host_functions = functions.iter().map(|(n, _)| (*n).to_string()).collect();
        let host = Arc::new(TestHost {
            functions: functions.into_iter().map(|(_, f)| f).collect(),
            ..Default::default()
        });
        let sandbox = Sandbox::spawn_shared(options, host.clone(), shared)?;
        Ok(Harness { sandbox, host })
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
        self.start_id(code, timeout).1
    }

    /// `start`, with the evaluation's id (to abort it).
    pub fn start_id(
        &self,
        code: &str,
        timeout: Option<Duration>,
    ) -> (
        baml_sandbox::EvalId,
        std::sync::mpsc::Receiver<Result<Value, SandboxError>>,
    ) {
        let (tx, rx) = std::sync::mpsc::channel();
        let id = self.sandbox.evaluate(
            code.to_string(),
            EvalOptions {
                timeout,
                filename: None,
                on_start: None,
            },
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        (id, rx)
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
