//! A thrown value as the error SPEC.md names.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rquickjs::{qjs, Ctx, Value as JsValue};

use crate::alloc::MemoryStats;
use crate::bridge::Bridge;
use crate::convert::string_prop;
use crate::error::SandboxError;
use crate::format::format_console;

/// Turns a thrown value into the error SPEC.md names. Reading its `name`, `message` and
/// `stack` may run getters; whatever they throw is cleared.
pub(crate) fn classify<'js>(
    ctx: &Ctx<'js>,
    exc: &JsValue<'js>,
    memory: &Arc<MemoryStats>,
    bridge: &Bridge,
) -> SandboxError {
    if memory.hit.load(Ordering::Acquire) {
        // An allocation was refused for the limit in this turn; quickjs-ng may then throw
        // `null` or an error it could only partly build.
        return SandboxError::Memory {
            limit_bytes: memory.limit as u64,
        };
    }
    let Some(obj) = exc.as_object() else {
        return uncaught(exc);
    };
    // SAFETY: reads the class of a live value.
    let is_error = unsafe { qjs::JS_IsError(exc.as_raw()) };
    let name = string_prop(obj, "name");
    let message = string_prop(obj, "message").unwrap_or_default();
    let stack = string_prop(obj, "stack");
    let _ = ctx.catch();
    let n = name.as_deref().unwrap_or("");
    if is_error && (n == "InternalError" || n == "RangeError") {
        let lower = message.to_ascii_lowercase();
        if lower.contains("out of memory") || lower.contains("string too long") {
            return SandboxError::Memory {
                limit_bytes: memory.limit as u64,
            };
        }
        if lower.contains("stack overflow") || lower.contains("maximum call stack size") {
            return SandboxError::Stack;
        }
    }
    let origin = bridge.origin_of(ctx, exc);
    if !is_error && origin.is_none() {
        return uncaught(exc);
    }
    let head = match (&name, message.is_empty()) {
        (Some(n), false) => format!("{n}: {message}"),
        (Some(n), true) => n.clone(),
        (None, _) => message.clone(),
    };
    SandboxError::Js {
        name,
        message: head,
        stack,
        origin,
    }
}

/// `Uncaught <value>` for a thrown value that is not an Error.
fn uncaught(exc: &JsValue<'_>) -> SandboxError {
    let text = format_console(std::slice::from_ref(exc)).0;
    let _ = exc.ctx().catch();
    SandboxError::Js {
        name: None,
        message: format!("Uncaught {text}"),
        stack: None,
        origin: None,
    }
}
