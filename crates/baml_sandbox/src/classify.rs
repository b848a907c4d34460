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
    // Where it was thrown, first: `file:line:column: TypeError: ...`, as compilers write it.
    let message = match stack.as_deref().and_then(location) {
        Some(at) if origin.is_none() => format!("{at}: {head}"),
        _ => head,
    };
    SandboxError::Js {
        name,
        message,
        stack,
        origin,
    }
}

/// The `file:line:column` of the first frame of a QuickJS stack that has one
/// (`    at f (file.js:3:13)` or `    at file.js:1:5`); frames of natives (`(native)`) have none.
pub(crate) fn location(stack: &str) -> Option<&str> {
    stack.lines().find_map(|line| {
        let frame = line.trim().strip_prefix("at ")?;
        let at = match frame.rfind(" (") {
            Some(i) if frame.ends_with(')') => &frame[i + 2..frame.len() - 1],
            _ => frame,
        };
        let mut parts = at.rsplitn(3, ':');
        let column = parts.next()?;
        let line_no = parts.next()?;
        let file = parts.next()?;
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        (numeric(column)
            && numeric(line_no)
            && !file.is_empty()
            && file != crate::realm::PRELUDE_FILE)
            .then_some(at)
    })
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

#[cfg(test)]
mod tests {
    use super::location;

    #[test]
    fn location_is_the_first_frame_with_one() {
        assert_eq!(
            location("    at f (s.js:1:14)\n    at <eval> (s.js:2:1)\n"),
            Some("s.js:1:14")
        );
        assert_eq!(
            location("    at forEach (native)\n    at <anonymous> (dir/a b.js:10:2)\n"),
            Some("dir/a b.js:10:2")
        );
        assert_eq!(location("    at s.js:3:5\n"), Some("s.js:3:5"));
        assert_eq!(
            location("    at <eval> (C:\\x\\s.js:3:5)\n"),
            Some("C:\\x\\s.js:3:5")
        );
        assert_eq!(location("    at forEach (native)\n"), None);
        assert_eq!(
            location("    at get (<baml>:65:7)\n    at <eval> (s.js:1:7)\n"),
            Some("s.js:1:7")
        );
        assert_eq!(location(""), None);
        assert_eq!(location("at f (s.js:x:1)"), None);
    }
}
