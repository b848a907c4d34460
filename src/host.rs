//! What sandboxes reach in Node: host functions, `onConsole`, and (off Node's thread) BAML calls.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use baml_sandbox::{CallGuard, ConsoleLevel, ConsoleLine, Host, HostError, Partial, Reply, Value};
use napi::bindgen_prelude::*;
use napi::JsError;

use crate::baml_calls::BamlBinding;
use crate::convert::{from_node, prepare, to_node, Prepared, ValueCount};
use crate::errors::message_of;
use crate::mailbox::{Job, Mailbox};

/// Arguments of a call whose count is known only at run time.
pub(crate) struct ArgList(pub(crate) Vec<napi::sys::napi_value>);

impl JsValuesTupleIntoVec for ArgList {
    fn into_vec(self, _env: napi::sys::napi_env) -> Result<Vec<napi::sys::napi_value>> {
        Ok(self.0)
    }
}

pub(crate) type HostFn = FunctionRef<ArgList, Unknown<'static>>;
pub(crate) type ConsoleFn = FunctionRef<FnArgs<(String, String)>, Unknown<'static>>;

/// The Node functions a context may call. Their references are dropped on Node's thread by
/// `clear` (or, if the context is garbage-collected first, napi-rs routes the release there).
#[derive(Default)]
pub(crate) struct NodeFunctions {
    functions: Mutex<Vec<HostFn>>,
    console: Mutex<Option<ConsoleFn>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl NodeFunctions {
    pub(crate) fn new(functions: Vec<HostFn>, console: Option<ConsoleFn>) -> NodeFunctions {
        NodeFunctions {
            functions: Mutex::new(functions),
            console: Mutex::new(console),
        }
    }

    /// Drops every reference (Node's thread).
    pub(crate) fn clear(&self) {
        let functions = std::mem::take(&mut *lock(&self.functions));
        let console = lock(&self.console).take();
        drop(functions);
        drop(console);
    }
}

pub(crate) struct NodeHost {
    pub(crate) mailbox: Arc<Mailbox>,
    pub(crate) functions: Arc<NodeFunctions>,
    /// The runtime's BAML functions, called on tokio (never on Node's thread).
    pub(crate) baml: Arc<BamlBinding>,
    /// The sandbox's memory limit (bounds what a host function's result may be).
    pub(crate) memory_limit: usize,
    /// The worker process's socket (process isolation): worth polling while Node's thread
    /// spins after a host call, since the sandbox's next message usually follows at once.
    pub(crate) hot: Arc<std::sync::OnceLock<std::sync::Weak<dyn crate::mailbox::SpinSource>>>,
}

impl Host for NodeHost {
    fn call(&self, index: usize, args: Vec<Value>, reply: Reply) {
        if let Some(hot) = self.hot.get() {
            self.mailbox.mark_hot(hot.clone());
        }
        let functions = self.functions.clone();
        let budget = self.memory_limit;
        // Readied here, off Node's thread (see `convert::prepare`).
        let args: Vec<Prepared> = args.into_iter().map(prepare).collect();
        self.mailbox.post(Job::Call(Box::new(move |env| {
            run_host_function(env, &functions, index, args, reply, budget);
        })));
    }

    fn baml_call(
        &self,
        index: usize,
        args: Vec<Value>,
        partial: Option<Partial>,
        reply: Reply,
    ) -> Option<CallGuard> {
        self.baml.call(index, args, partial, reply)
    }

    /// The line (and the room it takes in the sandbox's outbox) is kept until Node has it.
    fn console(&self, level: ConsoleLevel, line: ConsoleLine) {
        let functions = self.functions.clone();
        self.mailbox.post(Job::Call(Box::new(move |env| {
            // Not called under the lock: the callback may dispose the context, which clears it.
            let f = lock(&functions.console)
                .as_ref()
                .and_then(|f| f.borrow_back(env).ok());
            if let Some(f) = f {
                // What the embedder's callback throws is its own business; it must not
                // become a process-wide uncaught exception.
                let _ = f.call(FnArgs::from((level.as_str().to_string(), line.to_string())));
            }
        })));
    }
}

fn copy_result(env: &Env, v: &Unknown<'_>, budget: usize) -> std::result::Result<Value, HostError> {
    from_node(env, v, "result", budget, &mut ValueCount::new("the copy")).map_err(|e| {
        HostError::from(format!(
            "host function {} cannot be copied into the sandbox: {}",
            e.path, e.reason
        ))
    })
}

/// Runs host function `index` on Node's thread and answers `reply` with its (awaited) result.
fn run_host_function(
    env: &Env,
    functions: &NodeFunctions,
    index: usize,
    args: Vec<Prepared>,
    reply: Reply,
    budget: usize,
) {
    let f = lock(&functions.functions)
        .get(index)
        .and_then(|f| f.borrow_back(env).ok());
    let Some(f) = f else {
        reply(Err("the context was disposed".into()));
        return;
    };
    let mut js_args = Vec::with_capacity(args.len());
    for a in args {
        let v = match to_node(env, a) {
            Ok(v) => v,
            Err(e) => {
                reply(Err(format!(
                    "host function arguments could not be copied into Node: {}",
                    crate::errors::failure(env, &e)
                )
                .into()));
                return;
            }
        };
        js_args.push(v.raw());
    }
    let result = match f.call(ArgList(js_args)) {
        Ok(r) => r,
        Err(e) => {
            let thrown = JsError::from(e).into_unknown(*env);
            reply(Err(message_of(&thrown).into()));
            return;
        }
    };
    if !result.is_promise().unwrap_or(false) {
        reply(copy_result(env, &result, budget));
        return;
    }
    let slot: Arc<Mutex<Option<Reply>>> = Arc::new(Mutex::new(Some(reply)));
    let ok_slot = slot.clone();
    let err_slot = slot.clone();
    let attached = PromiseRaw::<Unknown>::from_unknown(result).and_then(|p| {
        p.then(move |ctx| {
            if let Some(reply) = lock(&ok_slot).take() {
                reply(copy_result(&ctx.env, &ctx.value, budget));
            }
            Ok(())
        })?
        .catch(move |ctx: CallbackContext<Unknown>| {
            if let Some(reply) = lock(&err_slot).take() {
                reply(Err(message_of(&ctx.value).into()));
            }
            Ok(())
        })
        .map(|_| ())
    });
    if attached.is_err() {
        if let Some(reply) = lock(&slot).take() {
            reply(Err("cannot await the host function's promise".into()));
        }
    }
}
