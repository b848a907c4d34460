//! Compiling code without letting an allocation fail inside QuickJS's compiler.
//!
//! quickjs-ng's parser does not survive a failed allocation: it ignores the result of many of
//! its own (growing the bytecode buffer, the scope array, the label table) and carries on with
//! a corrupt function definition, which then crashes the process in `resolve_variables`,
//! `has_with_scope` or `pop_scope`. The sandbox fuzzer found it in a 1 MiB context: one
//! evaluation filled the heap while another compiled a two-line script; upstream reports of the
//! same class are bellard/quickjs#528 to #532. So the memory limit must never trip inside the
//! compiler. Every way code gets compiled goes through here:
//! - `evaluate()` compiles its script first ([`compile_script`]), then runs it;
//! - the sandbox's `eval` and its four function constructors (`Function`, and the async,
//!   generator and async generator ones reached through prototypes) are native wrappers that
//!   do the same ([`install`]).
//!
//! While the compiler runs, allocations may go past the limit by an allowance: what the source
//! could need at the compiler's worst measured appetite ([`PARSER_BYTES_PER_SOURCE_BYTE`] per
//! byte, with a margin), at least four times the limit plus 4 MiB. Source that could need
//! more than eight times the limit plus 16 MiB is refused beforehand as out of memory (about
//! 39 KB of source for a 1 MiB sandbox, 865 KB for the default 64 MiB). Compiled code that
//! leaves the heap past its limit is dropped at once and the compile fails as out of memory
//! too, so the allowance is a transient overshoot, never memory the sandbox keeps.
//!
//! The wrapped `eval` is always an indirect eval (it sees the global scope, not the caller's
//! local variables), since a direct eval is an opcode that only the original function object
//! triggers.

use std::ffi::{c_int, CString};
use std::sync::atomic::Ordering;

use rquickjs::{qjs, Ctx, Object, Value as JsValue};

use crate::alloc::MemoryStats;

/// The most bytes quickjs-ng's compiler allocated per byte of source in our measurements,
/// doubled, rounded up: 303 for a chain of arrow functions `x=>x=>...`, each three bytes of
/// source and a function definition of about 900 bytes counted as mimalloc sizes them
/// (`compile_appetite` in the tests measures 20 shapes; 263 with the C library's malloc).
pub(crate) const PARSER_BYTES_PER_SOURCE_BYTE: usize = 640;
/// What compiling even an empty script may allocate.
const PARSER_FIXED_BYTES: usize = 256 << 10;
/// The most compiled code may leave the heap past its limit (see `Allowance::over`).
const KEPT_SLACK: usize = 64 << 10;

/// How far past its limit a sandbox's heap may go while `source_len` bytes compile, or `None`
/// if that is more than eight times the limit plus 16 MiB.
pub(crate) fn allowance_for(limit: usize, source_len: usize) -> Option<usize> {
    let need = source_len
        .saturating_mul(PARSER_BYTES_PER_SOURCE_BYTE)
        .saturating_add(PARSER_FIXED_BYTES);
    let floor = limit.saturating_mul(4).saturating_add(4 << 20);
    let cap = limit.saturating_mul(8).saturating_add(16 << 20);
    (need <= cap).then(|| need.max(floor))
}

/// Why code was not compiled.
pub(crate) enum CompileError {
    /// Too long to compile within the limit and its allowance, or the compiled code would not
    /// fit the limit: out of memory (nothing is pending on the context).
    Memory,
    /// The compiler threw (a `SyntaxError`, usually); the exception is pending.
    Thrown,
}

/// Lifts the limit by the allowance while alive.
struct Allowance<'a> {
    memory: &'a MemoryStats,
    before: usize,
}

impl<'a> Allowance<'a> {
    fn new(memory: &'a MemoryStats, source_len: usize) -> Option<Allowance<'a>> {
        let Some(allowance) = allowance_for(memory.limit, source_len) else {
            memory.hit.store(true, Ordering::Release);
            return None;
        };
        let before = memory.allowance.swap(allowance, Ordering::AcqRel);
        Some(Allowance { memory, before })
    }

    /// Whether the heap is past what compiled code may leave it at: the limit plus a little
    /// (a sixteenth of it, at most 64 KiB), so that a heap filled to within a few KiB of its
    /// limit by data still reachable can compile the small script that lets go of it (the
    /// first allocation past the limit fails as usual).
    fn over(&self) -> bool {
        let slack = (self.memory.limit / 16).min(KEPT_SLACK);
        self.memory.limit > 0
            && self.memory.used.load(Ordering::Relaxed) > self.memory.limit.saturating_add(slack)
    }
}

impl Drop for Allowance<'_> {
    fn drop(&mut self) {
        self.memory.allowance.store(self.before, Ordering::Release);
    }
}

/// Compiles `source` as a global script (`flags` adds to `JS_EVAL_TYPE_GLOBAL`) without
/// running it, under the allowance. Returns the compiled function (an owned reference).
///
/// # Safety
/// `ctx` must be a live context of the runtime this thread holds, allocating through `memory`.
pub(crate) unsafe fn compile_script(
    ctx: *mut qjs::JSContext,
    memory: &MemoryStats,
    source: &[u8],
    filename: &str,
    flags: u32,
) -> Result<qjs::JSValue, CompileError> {
    // QuickJS reads the source up to its length but wants a NUL after it; NULs inside are
    // source characters like any other.
    let mut text = Vec::with_capacity(source.len() + 1);
    text.extend_from_slice(source);
    text.push(0);
    let filename = CString::new(filename.replace('\0', "")).unwrap_or_default();
    let flags = qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY | flags;
    let Some(allowance) = Allowance::new(memory, source.len()) else {
        return Err(CompileError::Memory);
    };

    // SAFETY: `text` holds `source.len()` bytes and a NUL; the caller vouches for `ctx`.
    let compiled = unsafe {
        qjs::JS_Eval(
            ctx,
            text.as_ptr().cast(),
            source.len() as _,
            filename.as_ptr(),
            c_int::try_from(flags).unwrap_or(0),
        )
    };
    if is_exception(compiled) {
        if allowance.over() {
            memory.hit.store(true, Ordering::Release);
        }
        return Err(CompileError::Thrown);
    }
    if allowance.over() {
        // Garbage of earlier code may be what is over: collect before deciding.
        // SAFETY: `compiled` is held (the collector keeps it); `ctx` is live.
        unsafe { qjs::JS_RunGC(qjs::JS_GetRuntime(ctx)) };
    }
    if allowance.over() {
        // SAFETY: `compiled` is an owned reference.
        unsafe { qjs::JS_FreeValue(ctx, compiled) };
        memory.hit.store(true, Ordering::Release);
        return Err(CompileError::Memory);
    }
    drop(allowance);
    Ok(compiled)
}

fn is_exception(v: qjs::JSValue) -> bool {
    // SAFETY: reads the tag of a value.
    unsafe { qjs::JS_IsException(v) }
}

/// Throws QuickJS's own out-of-memory error (catchable, like any other it throws).
unsafe fn throw_out_of_memory(ctx: *mut qjs::JSContext) -> qjs::JSValue {
    // SAFETY: the caller's live context.
    unsafe { qjs::JS_ThrowOutOfMemory(ctx) }
}

/// The memory of the turn running on this thread (wrappers run only inside turns).
fn turn_memory<R>(f: impl FnOnce(&MemoryStats) -> R) -> Option<R> {
    crate::stack::with_memory(f)
}

/// `eval(x)`: `x` itself unless it is a string, else the completion value of `x` run as a
/// global script.
unsafe extern "C" fn guarded_eval(
    ctx: *mut qjs::JSContext,
    _this: qjs::JSValue,
    count: c_int,
    args: *mut qjs::JSValue,
    _magic: c_int,
    _data: *mut qjs::JSValue,
) -> qjs::JSValue {
    if count < 1 || args.is_null() {
        return qjs::JS_UNDEFINED;
    }
    // SAFETY: QuickJS passes `count` arguments at `args`.
    let source = unsafe { *args };
    // SAFETY: reads the tag of a live value.
    if !unsafe { qjs::JS_IsString(source) } {
        // SAFETY: returns a new reference to the argument.
        return unsafe { qjs::JS_DupValue(ctx, source) };
    }
    // SAFETY: `ctx` is live; the bytes are copied before the string is released.
    let Some(bytes) = (unsafe { utf8(ctx, source) }) else {
        return qjs::JS_EXCEPTION;
    };
    let compiled = turn_memory(|memory| {
        // SAFETY: inside a turn, on the thread holding the runtime.
        unsafe { compile_script(ctx, memory, &bytes, "<eval>", 0) }
    });
    match compiled {
        Some(Ok(function)) => {
            // SAFETY: runs (and releases) the compiled script.
            unsafe { qjs::JS_EvalFunction(ctx, function) }
        }
        Some(Err(CompileError::Thrown)) => qjs::JS_EXCEPTION,
        // Outside a turn nothing sandboxed runs; refuse rather than compile unguarded.
        Some(Err(CompileError::Memory)) | None => unsafe { throw_out_of_memory(ctx) },
    }
}

/// A JavaScript string's UTF-8 bytes (lone surrogates as QuickJS encodes them).
unsafe fn utf8(ctx: *mut qjs::JSContext, v: qjs::JSValue) -> Option<Vec<u8>> {
    let mut len = 0;
    // SAFETY: `v` is a live string value of `ctx`.
    let ptr = unsafe { qjs::JS_ToCStringLen2(ctx, &raw mut len, v, false) };
    let len = usize::try_from(len).ok()?;
    if ptr.is_null() {
        return None;
    }
    // SAFETY: QuickJS returned `len` bytes at `ptr`, valid until freed below.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }.to_vec();
    // SAFETY: frees what `JS_ToCStringLen2` returned.
    unsafe { qjs::JS_FreeCString(ctx, ptr) };
    Some(bytes)
}

/// `Function(...)` and its async and generator siblings: the arguments become strings first
/// (their `toString` is sandboxed code, which must not run under the allowance), then the
/// original builds the function from them under the allowance. Called with `new`, `this` is
/// `new.target`, whose `prototype` the function gets, as the original would give it.
unsafe extern "C" fn guarded_function(
    ctx: *mut qjs::JSContext,
    this: qjs::JSValue,
    count: c_int,
    args: *mut qjs::JSValue,
    _magic: c_int,
    data: *mut qjs::JSValue,
) -> qjs::JSValue {
    let n = usize::try_from(count).unwrap_or(0);
    let mut strings: Vec<qjs::JSValue> = Vec::with_capacity(n);
    let free_all = |strings: &[qjs::JSValue]| {
        for s in strings {
            // SAFETY: each is an owned reference made below.
            unsafe { qjs::JS_FreeValue(ctx, *s) };
        }
    };
    let mut total: usize = 0;
    for i in 0..n {
        // SAFETY: QuickJS passes `count` arguments at `args`.
        let s = unsafe { qjs::JS_ToString(ctx, *args.add(i)) };
        if is_exception(s) {
            free_all(&strings);
            return qjs::JS_EXCEPTION;
        }
        strings.push(s);
        let mut len: i64 = 0;
        // SAFETY: `s` is a live string.
        if unsafe { qjs::JS_GetLength(ctx, s, &raw mut len) } == 0 {
            // UTF-16 units: at most 3 UTF-8 bytes each.
            total =
                total.saturating_add(usize::try_from(len).unwrap_or(usize::MAX).saturating_mul(3));
        }
    }
    let built = turn_memory(|memory| {
        let Some(allowance) = Allowance::new(memory, total) else {
            return Err(());
        };
        // SAFETY: `data[0]` is the original constructor; the arguments are strings, so no
        // sandboxed code runs while the allowance holds.
        let f = unsafe {
            qjs::JS_Call(
                ctx,
                *data,
                qjs::JS_UNDEFINED,
                c_int::try_from(strings.len()).unwrap_or(0),
                strings.as_mut_ptr(),
            )
        };
        if allowance.over() {
            // SAFETY: as in `compile_script`.
            unsafe { qjs::JS_RunGC(qjs::JS_GetRuntime(ctx)) };
        }
        if allowance.over() {
            memory.hit.store(true, Ordering::Release);
            if !is_exception(f) {
                // SAFETY: an owned reference.
                unsafe { qjs::JS_FreeValue(ctx, f) };
            }
            return Err(());
        }
        Ok(f)
    });
    free_all(&strings);
    let Some(Ok(f)) = built else {
        return unsafe { throw_out_of_memory(ctx) };
    };
    if is_exception(f) {
        return f;
    }
    // `new X(...)`, X a subclass: the prototype comes from `new.target`, as in the original.
    // SAFETY: `this` is live for the call.
    if unsafe { qjs::JS_IsConstructor(ctx, this) } {
        // SAFETY: reads `new.target.prototype` (a getter is sandboxed code, run normally).
        let proto = unsafe { qjs::JS_GetPropertyStr(ctx, this, c"prototype".as_ptr()) };
        if is_exception(proto) {
            // SAFETY: an owned reference.
            unsafe { qjs::JS_FreeValue(ctx, f) };
            return qjs::JS_EXCEPTION;
        }
        // SAFETY: both live; each owned reference is released once.
        unsafe {
            let r = if qjs::JS_IsObject(proto) {
                qjs::JS_SetPrototype(ctx, f, proto)
            } else {
                0
            };
            qjs::JS_FreeValue(ctx, proto);
            if r < 0 {
                qjs::JS_FreeValue(ctx, f);
                return qjs::JS_EXCEPTION;
            }
        }
    }
    f
}

/// A native function named `name` calling `f` with `data`; a constructor if `constructor`.
fn native<'js>(
    ctx: &Ctx<'js>,
    f: qjs::JSCFunctionData,
    name: &str,
    length: c_int,
    data: &mut [qjs::JSValue],
    constructor: bool,
) -> rquickjs::Result<JsValue<'js>> {
    let cname = CString::new(name).unwrap_or_default();
    // SAFETY: plain QuickJS calls; QuickJS duplicates the `data` values.
    let raw = unsafe {
        qjs::JS_NewCFunctionData2(
            ctx.as_raw().as_ptr(),
            f,
            cname.as_ptr(),
            length,
            0,
            c_int::try_from(data.len()).unwrap_or(0),
            data.as_mut_ptr(),
        )
    };
    // SAFETY: `raw` is a new reference owned from here on.
    let value = unsafe { JsValue::from_raw(ctx.clone(), raw) };
    if value.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    if constructor {
        // SAFETY: `value` is a live function object.
        unsafe { qjs::JS_SetConstructorBit(ctx.as_raw().as_ptr(), value.as_raw(), true) };
    }
    Ok(value)
}

/// Replaces the realm's `eval` and function constructors by the guarded wrappers.
pub(crate) fn install(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    let eval: JsValue = globals.get("eval")?;
    let wrapper = native(
        ctx,
        Some(guarded_eval),
        "eval",
        1,
        &mut [eval.as_raw()],
        false,
    )?;
    globals.prop(
        "eval",
        rquickjs::object::Property::from(wrapper)
            .writable()
            .configurable(),
    )?;

    // The four constructors, each reached from its prototype; `Function` is also a global,
    // and the prototype of the other three.
    // One sample of each kind, compiled at once (compiling is most of what this costs).
    let samples: rquickjs::Array =
        ctx.eval("[function () {}, async function () {}, function* () {}, async function* () {}]")?;
    let names = [
        "Function",
        "AsyncFunction",
        "GeneratorFunction",
        "AsyncGeneratorFunction",
    ];
    let mut function_wrapper: Option<Object> = None;
    for (index, name) in names.into_iter().enumerate() {
        let sample: Object = samples.get(index)?;
        let Some(prototype) = sample.get_prototype() else {
            continue;
        };
        let original: JsValue = prototype.get("constructor")?;
        let wrapper = native(
            ctx,
            Some(guarded_function),
            name,
            1,
            &mut [original.as_raw()],
            true,
        )?;
        let wrapper_obj = wrapper
            .as_object()
            .cloned()
            .ok_or(rquickjs::Error::Exception)?;
        wrapper_obj.prop(
            "prototype",
            rquickjs::object::Property::from(prototype.clone()),
        )?;
        if let Some(function) = &function_wrapper {
            wrapper_obj.set_prototype(Some(function))?;
        }
        prototype.prop(
            "constructor",
            rquickjs::object::Property::from(wrapper.clone()).configurable(),
        )?;
        if name == "Function" {
            globals.prop(
                "Function",
                rquickjs::object::Property::from(wrapper)
                    .writable()
                    .configurable(),
            )?;
            function_wrapper = Some(wrapper_obj);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

    use super::*;
    use crate::alloc::LimitedAllocator;

    /// Shapes of source that make the compiler allocate the most per byte.
    #[expect(clippy::format_collect, reason = "test sources, built once")]
    fn shapes() -> Vec<(&'static str, String)> {
        let n = 4000;
        vec![
            (
                "tiny functions",
                (0..n).map(|i| format!("function f{i}(){{}}")).collect(),
            ),
            (
                "arrow closures",
                (0..n).map(|i| format!("var a{i}=()=>{i};")).collect(),
            ),
            (
                "nested blocks",
                format!("{}{}", "{let a;".repeat(200), "}".repeat(200)).repeat(n / 200),
            ),
            (
                "nested functions",
                format!("{}{}", "(function(){".repeat(100), "})()".repeat(100)).repeat(n / 100),
            ),
            (
                "nested arrows",
                format!("{}0{}", "(()=>".repeat(100), ")".repeat(100)).repeat(n / 100),
            ),
            (
                "arrow chain",
                format!("{}0;", "x=>".repeat(100)).repeat(n / 100),
            ),
            ("function expressions", format!("[{}]", "()=>0,".repeat(n))),
            ("empty classes", format!("[{}]", "class{},".repeat(n))),
            (
                "object literal keys",
                format!(
                    "({{{}}})",
                    (0..n).map(|i| format!("k{i}:{i},")).collect::<String>()
                ),
            ),
            (
                "let declarations",
                (0..n).map(|i| format!("let v{i}={i};")).collect(),
            ),
            (
                "string literals",
                (0..n).map(|i| format!("'s{i}';")).collect(),
            ),
            ("calls", "f(1,2);".repeat(n)),
            ("labels and loops", "for(;;){break}".repeat(n)),
            (
                "classes",
                (0..n / 4)
                    .map(|i| format!("class C{i}{{m(){{}} static s(){{}} #p=1}}"))
                    .collect(),
            ),
            ("try blocks", "try{}catch(e){}finally{}".repeat(n)),
            (
                "regexp literals",
                (0..n).map(|i| format!("/a{i}/g;")).collect(),
            ),
            (
                "template literals",
                (0..n).map(|i| format!("`a${{{i}}}b`;")).collect(),
            ),
            (
                "async functions",
                (0..n)
                    .map(|i| format!("async function g{i}(){{await 1}}"))
                    .collect(),
            ),
            (
                "destructuring",
                (0..n).map(|i| format!("var {{a{i},b{i}}}={{}};")).collect(),
            ),
        ]
    }

    /// `PARSER_BYTES_PER_SOURCE_BYTE` is twice the most any shape needs.
    #[test]
    fn compile_appetite() {
        let stats = MemoryStats::new(64 << 20);
        let runtime = rquickjs::Runtime::new_with_alloc(LimitedAllocator {
            stats: stats.clone(),
        })
        .unwrap();
        let context = rquickjs::Context::full(&runtime).unwrap();
        let mut worst = 0.0_f64;
        context.with(|ctx| {
            for (name, source) in shapes() {
                let before = stats.reset_peak();
                let raw = ctx.as_raw().as_ptr();
                // SAFETY: a live context of this thread's runtime.
                let f = unsafe { compile_script(raw, &stats, source.as_bytes(), "t", 0) };
                let Ok(f) = f else {
                    panic!("{name} did not compile: {:?}", ctx.catch());
                };
                let peak = stats.peak.load(Ordering::Relaxed) - before;
                // SAFETY: an owned reference.
                unsafe { qjs::JS_FreeValue(raw, f) };
                let ratio = peak as f64 / source.len() as f64;
                eprintln!(
                    "{name:>20}: {} bytes of source, peak {peak} bytes, {ratio:.1} per byte",
                    source.len()
                );
                worst = worst.max(ratio);
            }
        });
        assert!(
            worst * 2.0 <= PARSER_BYTES_PER_SOURCE_BYTE as f64,
            "the compiler took {worst:.1} bytes per source byte"
        );
    }
}
