//! The web globals LLM-written code reaches for: `URL`, `URLSearchParams`, `TextEncoder`,
//! `TextDecoder`, `structuredClone` and `crypto` (and BAML's `TypeBuilder`), each created on
//! first use.
//!
//! A realm starts with one lazy data property per name on the global object (as
//! `intrinsics.rs` does for quickjs-ng's costly built-ins): writable, configurable, not
//! enumerable, and costing no object until used. The first use of a name creates its group: a
//! small JavaScript module (`src/js/web_*.js`), compiled through `compile.rs` like any other
//! code and called with the group's Rust natives. The module's exports are kept on the realm's
//! slot object (`intrinsics::slot`, which no script reaches), and each name of the group takes
//! its value from there on its own first use. A delete before first use removes the name.
//!
//! The JavaScript half holds the classes' state in private fields and does the WebIDL
//! conversions (`${x}`), so sandboxed code (a `toString`, a getter, a Proxy) only ever runs
//! there, never while a native holds a pointer into the heap. The natives take primitive
//! strings and buffers, check what they are given, count every working copy they make against
//! the memory limit ([`Charge`]), and poll the interrupt in loops as long as their input. A
//! module is built from the realm's built-ins as they are at first use: code that replaced
//! `Map` or `Array.prototype.push` before then gets globals that use its replacements, which
//! only it can observe.

#![expect(
    clippy::needless_pass_by_value,
    reason = "rquickjs calls natives with their arguments by value"
)]

mod clone;
mod crypto;
mod text;
mod url;

use std::ffi::{c_int, CStr};

use rquickjs::{qjs, Ctx, Function, Object, Value as JsValue};

use crate::throw::{throw, throw_stack_overflow, ErrorKind};

/// A group of web globals: one module, created together.
#[derive(Clone, Copy)]
enum Group {
    Url,
    Text,
    Clone,
    Crypto,
    Builders,
}

/// Every lazily created web global and its group; the index is the accessor's magic.
const NAMES: [(&CStr, Group); 7] = [
    (c"URL", Group::Url),
    (c"URLSearchParams", Group::Url),
    (c"TextEncoder", Group::Text),
    (c"TextDecoder", Group::Text),
    (c"structuredClone", Group::Clone),
    (c"crypto", Group::Crypto),
    (c"TypeBuilder", Group::Builders),
];

/// `TypeBuilder`: the package's own `builders.js`, the file Node's side runs, evaluated here
/// without `module` (see there).
const BUILDERS_SOURCE: &str = concat!(
    "(function () {\nconst module = undefined;\n",
    include_str!("../../../../builders.js"),
    "\nreturn { __proto__: null, TypeBuilder };\n})"
);

const PROP_CONFIGURABLE: c_int = qjs::JS_PROP_CONFIGURABLE.cast_signed();
const PROP_WRITABLE: c_int = qjs::JS_PROP_WRITABLE.cast_signed();

/// Defines the web globals on a fresh realm, as lazy properties.
pub(crate) unsafe fn install(ctx: *mut qjs::JSContext) -> bool {
    // Found once per process, now rather than in the middle of a turn.
    clone::class_ids();
    NAMES.iter().enumerate().all(|(i, (name, _))| {
        // SAFETY: a live realm held by this thread.
        unsafe {
            crate::intrinsics::define_lazy(
                ctx,
                name,
                crate::intrinsics::LAZY_WEB | i,
                PROP_CONFIGURABLE | PROP_WRITABLE,
            )
        }
    })
}

/// The value of web global `NAMES[index]` on its first use (see `intrinsics::lazy_value`).
///
/// # Safety
/// `ctx` must be a live context held by this thread.
pub(crate) unsafe fn lazy_value(
    ctx: *mut qjs::JSContext,
    atom: qjs::JSAtom,
    index: usize,
) -> qjs::JSValue {
    let Some((_, group)) = NAMES.get(index) else {
        return qjs::JS_UNDEFINED;
    };
    let Some(raw) = std::ptr::NonNull::new(ctx) else {
        return qjs::JS_EXCEPTION;
    };
    // SAFETY: see the function's contract.
    unsafe {
        let slot = crate::intrinsics::slot(ctx);
        if qjs::JS_IsException(slot) {
            return slot;
        }
        let rctx = Ctx::from_raw(raw);
        let result = match exports(&rctx, slot, *group) {
            Ok(exports) => qjs::JS_GetProperty(ctx, exports.as_raw(), atom),
            Err(e) => {
                // rquickjs's own errors (a conversion) are not pending exceptions yet.
                if !qjs::JS_HasException(ctx) {
                    let _ = throw(
                        &rctx,
                        ErrorKind::Type,
                        &format!("cannot create a web global: {e}"),
                    );
                }
                qjs::JS_EXCEPTION
            }
        };
        qjs::JS_FreeValue(ctx, slot);
        result
    }
}

/// The exports of `group` in this realm, created now if need be.
fn exports<'js>(
    ctx: &Ctx<'js>,
    cache: qjs::JSValue,
    group: Group,
) -> rquickjs::Result<Object<'js>> {
    // SAFETY: `cache` is the live cache object of this realm, held by the calling function.
    let cache =
        unsafe { JsValue::from_raw(ctx.clone(), qjs::JS_DupValue(ctx.as_raw().as_ptr(), cache)) };
    let Some(cache) = cache.into_object() else {
        return Err(throw(ctx, ErrorKind::Type, "cannot create a web global"));
    };
    let key = group as u32;
    if let Some(found) = cache.get::<_, Option<Object>>(key)? {
        return Ok(found);
    }
    if crate::stack::exhausted() {
        return Err(throw_stack_overflow(ctx));
    }
    // The encoding natives create typed arrays: their built-ins must exist first (the other
    // modules reach the built-ins they use through the global object, which creates them).
    if matches!(group, Group::Text) {
        create_typed_arrays(ctx)?;
    }
    let (source, filename, natives) = match group {
        Group::Url => (url::SOURCE, "<url>", url::natives(ctx)?),
        Group::Text => (text::SOURCE, "<encoding>", text::natives(ctx)?),
        Group::Clone => (clone::SOURCE, "<structuredClone>", clone::natives(ctx)?),
        Group::Crypto => (crypto::SOURCE, "<crypto>", crypto::natives(ctx)?),
        Group::Builders => (BUILDERS_SOURCE, "<TypeBuilder>", Vec::new()),
    };
    let module = compile(ctx, source, filename)?;
    let mut args = rquickjs::function::Args::new(ctx.clone(), natives.len());
    for n in natives {
        args.push_arg(n)?;
    }
    let made: Object = module.call_arg(args)?;
    // Defined, not set: the cache has no prototype, but define is what is meant.
    cache.prop(key, rquickjs::object::Property::from(made.clone()))?;
    Ok(made)
}

/// Headroom below the memory limit required to create quickjs-ng's typed arrays for a module.
/// quickjs-ng does not undo a group it failed to finish for want of memory (the realm would
/// keep half of the typed arrays), so the attempt is refused beforehand when the heap is this
/// close to its limit; the script can free memory and try again.
const TYPED_ARRAYS_HEADROOM: usize = 256 << 10;

/// Creates the typed-array built-ins if they do not exist yet.
fn create_typed_arrays(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: a live context held by this thread.
    if unsafe { crate::intrinsics::is_created(raw, crate::intrinsics::TYPED_ARRAYS) } {
        return Ok(());
    }
    let cramped = crate::stack::with_memory(|m| {
        let used = m.used.load(std::sync::atomic::Ordering::Relaxed);
        let cramped = m.limit > 0 && used.saturating_add(TYPED_ARRAYS_HEADROOM) > m.limit;
        if cramped {
            m.hit.store(true, std::sync::atomic::Ordering::Release);
        }
        cramped
    });
    if cramped == Some(true) {
        // SAFETY: a live context.
        unsafe { qjs::JS_ThrowOutOfMemory(raw) };
        return Err(rquickjs::Error::Exception);
    }
    // SAFETY: as above.
    if unsafe { crate::intrinsics::create_group(raw, crate::intrinsics::TYPED_ARRAYS) } {
        return Ok(());
    }
    // SAFETY: as above.
    if unsafe { qjs::JS_HasException(raw) } {
        Err(rquickjs::Error::Exception)
    } else {
        Err(throw(ctx, ErrorKind::Type, "cannot create a web global"))
    }
}

/// Compiles a module's source (a function expression) the guarded way and returns the function.
fn compile<'js>(ctx: &Ctx<'js>, source: &str, filename: &str) -> rquickjs::Result<Function<'js>> {
    let raw = ctx.as_raw().as_ptr();
    let compiled = crate::stack::with_memory(|memory| {
        // SAFETY: inside a turn, on the thread holding the runtime.
        unsafe { crate::compile::compile_script(raw, memory, source.as_bytes(), filename, 0) }
    });
    let function = match compiled {
        Some(Ok(f)) => f,
        Some(Err(crate::compile::CompileError::Thrown)) => return Err(rquickjs::Error::Exception),
        // Outside a turn nothing sandboxed runs; refuse rather than compile unguarded.
        Some(Err(crate::compile::CompileError::Memory)) | None => {
            // SAFETY: a live context.
            unsafe { qjs::JS_ThrowOutOfMemory(raw) };
            return Err(rquickjs::Error::Exception);
        }
    };
    // SAFETY: runs (and releases) the compiled script; the result is an owned reference.
    let value = unsafe { JsValue::from_raw(ctx.clone(), qjs::JS_EvalFunction(raw, function)) };
    if value.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    value
        .into_function()
        .ok_or_else(|| throw(ctx, ErrorKind::Type, "cannot create a web global"))
}

/// Bytes a native's working copies hold, counted against the memory limit until dropped.
pub(crate) struct Charge {
    bytes: usize,
}

impl Charge {
    pub(crate) fn new() -> Charge {
        Charge { bytes: 0 }
    }

    /// Counts `bytes` more, or throws QuickJS's out-of-memory error (as the allocator would).
    pub(crate) fn add(&mut self, ctx: &Ctx<'_>, bytes: usize) -> rquickjs::Result<()> {
        let ok = crate::stack::with_memory(|m| {
            if m.charge(bytes) {
                true
            } else {
                m.hit.store(true, std::sync::atomic::Ordering::Release);
                false
            }
        });
        // Outside a turn (never, for these natives) there is nothing to count against.
        if ok == Some(false) {
            // SAFETY: a live context.
            unsafe { qjs::JS_ThrowOutOfMemory(ctx.as_raw().as_ptr()) };
            return Err(rquickjs::Error::Exception);
        }
        if ok.is_some() {
            self.bytes += bytes;
        }
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let bytes = self.bytes;
        crate::stack::with_memory(|m| m.release(bytes));
    }
}

/// A string's UTF-8 bytes as QuickJS encodes them (lone surrogates as three bytes each,
/// `ED A0..BF xx`), valid while the guard lives.
pub(crate) struct Utf8<'a> {
    ctx: *mut qjs::JSContext,
    ptr: *const std::ffi::c_char,
    len: usize,
    _marker: std::marker::PhantomData<&'a ()>,
}

impl Utf8<'_> {
    /// The bytes of `v`, which must be a string (anything else is a `TypeError`: the natives'
    /// JavaScript callers convert first, so no sandboxed code runs here).
    pub(crate) fn of<'js>(ctx: &Ctx<'js>, v: &JsValue<'js>) -> rquickjs::Result<Utf8<'js>> {
        if !v.is_string() {
            return Err(throw(ctx, ErrorKind::Type, "expected a string"));
        }
        let raw = ctx.as_raw().as_ptr();
        let mut len = 0;
        // SAFETY: `v` is a live string of `ctx`; the result is freed by `drop`.
        let ptr = unsafe { qjs::JS_ToCStringLen2(raw, &raw mut len, v.as_raw(), false) };
        if ptr.is_null() {
            return Err(rquickjs::Error::Exception);
        }
        Ok(Utf8 {
            ctx: raw,
            ptr,
            len: usize::try_from(len).unwrap_or(0),
            _marker: std::marker::PhantomData,
        })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: QuickJS returned `len` bytes at `ptr`, alive until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }

    /// The string with every lone surrogate replaced by U+FFFD (a USVString), copied into
    /// Rust memory counted by `charge`.
    pub(crate) fn usv(&self, ctx: &Ctx<'_>, charge: &mut Charge) -> rquickjs::Result<String> {
        charge.add(ctx, self.len)?;
        Ok(usv_string(self.bytes()))
    }
}

impl Drop for Utf8<'_> {
    fn drop(&mut self) {
        // SAFETY: frees what `JS_ToCStringLen2` returned, once.
        unsafe { qjs::JS_FreeCString(self.ctx, self.ptr) };
    }
}

/// Whether `b` (QuickJS's UTF-8) holds a lone surrogate at `i` (`ED A0..BF xx`).
pub(crate) fn surrogate_at(b: &[u8], i: usize) -> bool {
    b[i] == 0xED && b.get(i + 1).is_some_and(|c| *c >= 0xA0)
}

/// QuickJS's UTF-8 (which keeps lone surrogates) as a Rust string, each lone surrogate
/// U+FFFD; both take three bytes, so the length is the same.
pub(crate) fn usv_string(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_owned();
    }
    let mut fixed = bytes.to_vec();
    let mut i = 0;
    while i < fixed.len() {
        if surrogate_at(&fixed, i) && i + 2 < fixed.len() {
            fixed[i..i + 3].copy_from_slice("\u{FFFD}".as_bytes());
            i += 3;
        } else {
            i += 1;
        }
    }
    match String::from_utf8(fixed) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// A new JavaScript array of `items` (defined, so no setter on `Array.prototype` runs).
pub(crate) fn array<'js>(
    ctx: &Ctx<'js>,
    items: impl IntoIterator<Item = JsValue<'js>>,
) -> rquickjs::Result<JsValue<'js>> {
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: a new reference owned from here on.
    let arr = unsafe { JsValue::from_raw(ctx.clone(), qjs::JS_NewArray(raw)) };
    if arr.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    for (i, item) in items.into_iter().enumerate() {
        let index = u32::try_from(i).map_err(|_| throw(ctx, ErrorKind::Range, "too many items"))?;
        // SAFETY: `arr` is a live array; the item's reference passes to QuickJS.
        let r = unsafe {
            qjs::JS_DefinePropertyValueUint32(
                raw,
                arr.as_raw(),
                index,
                qjs::JS_DupValue(raw, item.as_raw()),
                qjs::JS_PROP_C_W_E.cast_signed(),
            )
        };
        if r < 0 {
            return Err(rquickjs::Error::Exception);
        }
    }
    Ok(arr)
}

/// Throws `interrupted` if the turn must stop (for natives' loops over their input).
pub(crate) fn check_interrupt(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    if crate::stack::should_interrupt() {
        return Err(crate::throw::throw_interrupted(ctx));
    }
    Ok(())
}

/// A native function for a module.
pub(crate) fn native<'js, P, F>(ctx: &Ctx<'js>, name: &str, f: F) -> rquickjs::Result<JsValue<'js>>
where
    F: rquickjs::function::IntoJsFunc<'js, P> + 'js,
{
    Ok(Function::new(ctx.clone(), f)?.with_name(name)?.into_value())
}

/// The bytes a buffer source (`ArrayBuffer`, `SharedArrayBuffer` or typed array) views, or
/// `None` for anything else. The slice is valid only until sandboxed code runs again (which
/// may detach or shrink the buffer): callers copy or consume it at once.
///
/// # Safety
/// `v` must be a live value of `ctx`; the caller must not run any JavaScript while it uses the
/// slice.
pub(crate) unsafe fn buffer_bytes<'a>(
    ctx: &Ctx<'_>,
    v: &JsValue<'_>,
) -> rquickjs::Result<Option<&'a mut [u8]>> {
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: the caller vouches for `v`; every reference made is released.
    unsafe {
        let value = v.as_raw();
        if !qjs::JS_IsObject(value) {
            return Ok(None);
        }
        let (buffer, offset, length, element) = if qjs::JS_GetTypedArrayType(value) >= 0 {
            let (mut offset, mut length, mut element) = (0, 0, 0);
            let buffer = qjs::JS_GetTypedArrayBuffer(
                raw,
                value,
                &raw mut offset,
                &raw mut length,
                &raw mut element,
            );
            if qjs::JS_IsException(buffer) {
                return Err(rquickjs::Error::Exception);
            }
            (buffer, offset, Some(length), element.max(1))
        } else {
            (qjs::JS_DupValue(raw, value), 0, None, 1)
        };
        let buffer = JsValue::from_raw(ctx.clone(), buffer);
        let class = qjs::JS_GetClassID(buffer.as_raw());
        let ids = clone::class_ids();
        if length.is_none() && class != ids.array_buffer && class != ids.shared_array_buffer {
            return Ok(None);
        }
        let mut size = 0;
        let data = qjs::JS_GetArrayBuffer(raw, &raw mut size, buffer.as_raw());
        if data.is_null() {
            return Err(rquickjs::Error::Exception);
        }
        let (Ok(offset), Ok(length), Ok(size), Ok(element)) = (
            usize::try_from(offset),
            usize::try_from(length.unwrap_or(size)),
            usize::try_from(size),
            usize::try_from(element),
        ) else {
            return Err(throw(ctx, ErrorKind::Range, "buffer too large"));
        };
        // A view past its buffer's end is refused (QuickJS already refuses a fixed-length
        // one). A view that tracks a resizable buffer keeps the byte length it was created
        // with in what QuickJS reports: cut to the whole elements the buffer holds now.
        if offset > size {
            return Err(throw(
                ctx,
                ErrorKind::Type,
                "the view is outside the bounds of its buffer",
            ));
        }
        let length = length.min((size - offset) / element * element);
        if length == 0 {
            return Ok(Some(&mut []));
        }
        Ok(Some(std::slice::from_raw_parts_mut(
            data.add(offset),
            length,
        )))
    }
}
