//! Where an idle context's memory goes: QuickJS's own breakdown of a fresh runtime and realm at
//! each step of creating a sandbox's realm.
//! `cargo run -p baml_sandbox --example memory_cost`
#![allow(clippy::unwrap_used, clippy::print_stdout, unused_assignments)]

use rquickjs::{qjs, Context, Runtime};

fn usage(rt: &Runtime, ctx: &Context) -> qjs::JSMemoryUsage {
    ctx.with(|c| unsafe {
        let raw = qjs::JS_GetRuntime(c.as_raw().as_ptr());
        qjs::JS_RunGC(raw);
        let mut u: qjs::JSMemoryUsage = std::mem::zeroed();
        qjs::JS_ComputeMemoryUsage(raw, &raw mut u);
        u
    });
    let _ = rt;
    ctx.with(|c| unsafe {
        let raw = qjs::JS_GetRuntime(c.as_raw().as_ptr());
        let mut u: qjs::JSMemoryUsage = std::mem::zeroed();
        qjs::JS_ComputeMemoryUsage(raw, &raw mut u);
        u
    })
}

fn show(label: &str, u: &qjs::JSMemoryUsage) {
    println!(
        "{label:<34} malloc {:>7} B in {:>5} blocks | atoms {:>5} ({:>6} B) strings {:>4} ({:>6} B) objects {:>5} ({:>6} B) props {:>5} ({:>6} B) shapes {:>4} ({:>6} B) funcs {:>4} ({:>6} B) cfuncs {:>4}",
        u.malloc_size, u.malloc_count, u.atom_count, u.atom_size, u.str_count, u.str_size,
        u.obj_count, u.obj_size, u.prop_count, u.prop_size, u.shape_count, u.shape_size,
        u.js_func_count, u.js_func_size, u.c_func_count
    );
}

fn main() {
    let rt = Runtime::new().unwrap();
    let ctx = Context::base(&rt).unwrap();
    show("runtime + base context", &usage(&rt, &ctx));
    let full = Context::full(&rt).unwrap();
    show("+ a full context", &usage(&rt, &full));
    drop(full);
    let base2 = Context::base(&rt).unwrap();
    show("+ a second base context", &usage(&rt, &base2));
    drop(base2);
    let c = Context::base(&rt).unwrap();
    let mut last = usage(&rt, &ctx).malloc_size;
    macro_rules! step {
        ($($f:ident),*) => {$(
            c.with(|x| unsafe { qjs::$f(x.as_raw().as_ptr()) });
            let u = usage(&rt, &c);
            println!("{:<34} +{} B", stringify!($f), u.malloc_size - last);
            last = u.malloc_size;
        )*};
    }
    println!(
        "a second base context              +{} B",
        last - usage(&rt, &ctx).malloc_size + 0
    );
    step!(
        JS_AddIntrinsicDate,
        JS_AddIntrinsicEval,
        JS_AddIntrinsicRegExp,
        JS_AddIntrinsicJSON,
        JS_AddIntrinsicProxy,
        JS_AddIntrinsicPromise,
        JS_AddIntrinsicMapSet,
        JS_AddIntrinsicTypedArrays,
        JS_AddIntrinsicWeakRef,
        JS_AddPerformance
    );
    show("all intrinsics", &usage(&rt, &c));
    drop(c);
    drop(ctx);
    drop(rt);
    struct NoHost;
    impl baml_sandbox::Host for NoHost {
        fn call(&self, _: usize, _: Vec<baml_sandbox::Value>, reply: baml_sandbox::Reply) {
            reply(Ok(baml_sandbox::Value::Null));
        }
        fn console(&self, _: baml_sandbox::ConsoleLevel, _: baml_sandbox::ConsoleLine) {}
    }
    let pool = std::sync::Arc::new(baml_sandbox::ThreadPool::new("m"));
    let host: std::sync::Arc<dyn baml_sandbox::Host> = std::sync::Arc::new(NoHost);
    let s = baml_sandbox::Sandbox::new(
        &baml_sandbox::SandboxOptions::default(),
        host.clone(),
        pool.clone(),
    )
    .unwrap();
    use baml_sandbox::SandboxHandle;
    println!("Sandbox (default options): {} B", s.memory_usage().0);
    let opts = baml_sandbox::SandboxOptions {
        console: true,
        baml_functions: vec!["ExtractResume".into()],
        host_functions: vec!["f".into()],
        ..Default::default()
    };
    let s2 = baml_sandbox::Sandbox::new(&opts, host, pool).unwrap();
    println!(
        "Sandbox (console, one b function, one host fn): {} B",
        s2.memory_usage().0
    );
}
