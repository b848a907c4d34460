//! Where an idle context's memory goes: QuickJS's own breakdown of a fresh runtime and realm,
//! what each group of built-ins adds to a realm, and the heap of whole sandboxes (our
//! allocator's count, which also holds what QuickJS's arenas keep empty).
//! `cargo run -p baml_sandbox --example memory_cost`
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;

use baml_sandbox::{
    ConsoleLevel, ConsoleLine, Host, Reply, Sandbox, SandboxHandle, SandboxOptions, ThreadPool,
    Value,
};
use rquickjs::{qjs, Context, Runtime};

struct NoHost;
impl Host for NoHost {
    fn call(&self, _: usize, _: Vec<Value>, reply: Reply) {
        reply(Ok(Value::Null));
    }
    fn console(&self, _: ConsoleLevel, _: ConsoleLine) {}
}

/// QuickJS's breakdown of the runtime of `ctx`, after a collection.
fn usage(ctx: &Context) -> qjs::JSMemoryUsage {
    ctx.with(|c| {
        // SAFETY: the runtime of a live context this thread holds.
        unsafe {
            let raw = qjs::JS_GetRuntime(c.as_raw().as_ptr());
            qjs::JS_RunGC(raw);
            let mut u: qjs::JSMemoryUsage = std::mem::zeroed();
            qjs::JS_ComputeMemoryUsage(raw, &raw mut u);
            u
        }
    })
}

fn show(label: &str, u: &qjs::JSMemoryUsage) {
    println!(
        "{label:<28} {:>7} B in {:>5} blocks | atoms {:>4} ({:>6} B) objects {:>4} ({:>6} B) props {:>5} ({:>6} B) shapes {:>4} ({:>6} B) C functions {:>4}",
        u.malloc_size, u.malloc_count, u.atom_count, u.atom_size, u.obj_count, u.obj_size,
        u.prop_count, u.prop_size, u.shape_count, u.shape_size, u.c_func_count
    );
}

type AddFn = unsafe extern "C" fn(*mut qjs::JSContext) -> std::ffi::c_int;

fn main() {
    let rt = Runtime::new().unwrap();
    let first = Context::base(&rt).unwrap();
    show("runtime + base realm", &usage(&first));
    let full = Context::full(&rt).unwrap();
    show("+ a full realm", &usage(&full));
    drop(full);
    let before = usage(&first).malloc_size;
    let base = Context::base(&rt).unwrap();
    let mut last = usage(&base).malloc_size;
    println!("a second base realm: +{} B", last - before);
    let groups: [(&str, AddFn); 10] = [
        ("Date", qjs::JS_AddIntrinsicDate),
        ("eval", qjs::JS_AddIntrinsicEval),
        ("RegExp", qjs::JS_AddIntrinsicRegExp),
        ("JSON", qjs::JS_AddIntrinsicJSON),
        ("Proxy", qjs::JS_AddIntrinsicProxy),
        ("Promise", qjs::JS_AddIntrinsicPromise),
        ("Map/Set", qjs::JS_AddIntrinsicMapSet),
        ("typed arrays", qjs::JS_AddIntrinsicTypedArrays),
        ("WeakRef", qjs::JS_AddIntrinsicWeakRef),
        ("performance", qjs::JS_AddPerformance),
    ];
    for (name, add) in groups {
        // SAFETY: a live realm of the runtime this thread holds.
        base.with(|x| unsafe { add(x.as_raw().as_ptr()) });
        let now = usage(&base).malloc_size;
        println!("  + {name}: +{} B", now - last);
        last = now;
    }
    show("base realm + every group", &usage(&base));
    drop(base);
    drop(first);
    drop(rt);

    let pool = Arc::new(ThreadPool::new("memory-cost"));
    let host: Arc<dyn Host> = Arc::new(NoHost);
    let plain = Sandbox::new(&SandboxOptions::default(), host.clone(), pool.clone()).unwrap();
    println!(
        "heap of a sandbox (default options): {} B",
        plain.memory_usage().0
    );
    let options = SandboxOptions {
        console: true,
        baml_functions: vec!["ExtractResume".into()],
        host_functions: vec!["f".into()],
        ..Default::default()
    };
    let busy = Sandbox::new(&options, host, pool).unwrap();
    println!(
        "heap of a sandbox (console, a BAML function, a host function): {} B",
        busy.memory_usage().0
    );
}
