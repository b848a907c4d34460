//! The one place where Rust errors become JavaScript `Error`s with a stable `code` and
//! structured fields (never JSON in the message).

use baml_runtime::{CallError, LoadError};
use baml_sandbox::SandboxError;
use napi::bindgen_prelude::*;
use napi::{JsError, JsTypeError};

/// A JS error value being built: `new Error(message)` (or a `TypeError`) with `code`.
pub(crate) struct JsErr<'env> {
    env: &'env Env,
    obj: Object<'env>,
}

impl<'env> JsErr<'env> {
    pub(crate) fn new(env: &'env Env, code: &str, message: &str) -> Result<JsErr<'env>> {
        let value = JsError::from(Error::new(code, message)).into_unknown(*env);
        Ok(JsErr {
            env,
            obj: value.coerce_to_object()?,
        })
    }

    /// A `TypeError` with `code: 'ERR_INVALID_ARG_VALUE'` (a bad argument or option).
    pub(crate) fn invalid_arg(env: &'env Env, message: &str) -> Result<JsErr<'env>> {
        let value =
            JsTypeError::from(Error::new("ERR_INVALID_ARG_VALUE", message)).into_unknown(*env);
        Ok(JsErr {
            env,
            obj: value.coerce_to_object()?,
        })
    }

    pub(crate) fn set(mut self, key: &str, value: Unknown<'_>) -> Self {
        let _ = self.obj.set_named_property(key, value);
        self
    }

    pub(crate) fn string(self, key: &str, value: &str) -> Self {
        match value.into_unknown(self.env) {
            Ok(v) => self.set(key, v),
            Err(_) => self,
        }
    }

    pub(crate) fn number(self, key: &str, value: f64) -> Self {
        match value.into_unknown(self.env) {
            Ok(v) => self.set(key, v),
            Err(_) => self,
        }
    }

    pub(crate) fn null(self, key: &str) -> Self {
        match Null.into_unknown(self.env) {
            Ok(v) => self.set(key, v),
            Err(_) => self,
        }
    }

    pub(crate) fn value(self) -> Unknown<'env> {
        self.obj.to_unknown()
    }

    /// Throws it; the returned error tells napi-rs an exception is already pending.
    pub(crate) fn throw(self) -> Error {
        match self.env.throw(self.obj) {
            Ok(()) => Error::from_status(Status::PendingException),
            Err(e) => e,
        }
    }
}

/// Throws a `TypeError` with `code: 'ERR_INVALID_ARG_VALUE'`.
pub(crate) fn throw_invalid(env: &Env, message: &str) -> Error {
    match JsErr::invalid_arg(env, message) {
        Ok(e) => e.throw(),
        Err(e) => e,
    }
}

/// Takes the exception JavaScript left pending, if any. Some napi-rs calls (listing keys,
/// reading properties) report a throw from a getter or a Proxy trap as a failed status and
/// leave the exception pending; it must be taken before anything else runs.
pub(crate) fn take_exception(env: &Env) -> Option<Unknown<'_>> {
    let mut pending = false;
    // SAFETY: plain N-API queries on the calling (JS) thread's env.
    unsafe {
        napi::sys::napi_is_exception_pending(env.raw(), &raw mut pending);
        if !pending {
            return None;
        }
        let mut exception = std::ptr::null_mut();
        napi::sys::napi_get_and_clear_last_exception(env.raw(), &raw mut exception);
        Some(Unknown::from_raw_unchecked(env.raw(), exception))
    }
}

/// Why a napi call failed: the message of what JavaScript threw (taking it), else napi-rs's
/// reason.
pub(crate) fn failure(env: &Env, e: &Error) -> String {
    match take_exception(env) {
        Some(thrown) => message_of(&thrown),
        None => e.reason.clone(),
    }
}

/// The message a thrown or rejected value carries: `err.message` for errors, else `String(v)`.
pub(crate) fn message_of(v: &Unknown<'_>) -> String {
    if v.get_type().is_ok_and(|t| t == ValueType::Object) {
        if let Ok(m) = v
            .coerce_to_object()
            .and_then(|o| o.get_named_property::<Unknown>("message"))
        {
            if m.get_type().is_ok_and(|t| t == ValueType::String) {
                if let Ok(s) = m
                    .coerce_to_string()
                    .and_then(|s| s.into_utf8()?.into_owned())
                {
                    return s;
                }
            }
        }
    }
    if let Ok(s) = v
        .coerce_to_string()
        .and_then(|s| s.into_utf8()?.into_owned())
    {
        return s;
    }
    // `String(v)` threw (a symbol, a hostile toString): nothing better to say.
    let _ = take_exception_silently(v);
    "[value]".into()
}

fn take_exception_silently(v: &Unknown<'_>) -> bool {
    // SAFETY-free wrapper: the value's env is the current thread's.
    let env = Env::from_raw(v.value().env);
    take_exception(&env).is_some()
}

/// An integer count as a JavaScript number.
#[expect(
    clippy::cast_precision_loss,
    reason = "JavaScript numbers are f64; counts stay far below 2^53"
)]
pub(crate) fn js_number(n: u64) -> f64 {
    n as f64
}

/// What an evaluation failed with, as Node sees it. A BAML error that escaped the sandbox
/// (`origin` found among the context's genuine errors by `genuine`) keeps its `BAML_*` code and
/// fields; anything else sandboxed code threw is `SANDBOX_ERROR`.
pub(crate) fn sandbox_error<'env>(
    env: &'env Env,
    e: &SandboxError,
    genuine: impl FnOnce(u64) -> Option<std::sync::Arc<CallError>>,
) -> Result<Unknown<'env>> {
    let message = e.to_string();
    Ok(match e {
        SandboxError::Js {
            name,
            stack,
            origin,
            ..
        } => {
            let baml = origin.and_then(genuine);
            // A genuine BAML error is reported as the runtime made it: whatever sandboxed
            // code changed on the object (its name, its fields) is not Node's business.
            let err = match &baml {
                Some(c) => call_fields(
                    JsErr::new(env, c.code(), &format!("{}: {c}", c.class_name()))?,
                    c,
                    false,
                )
                .string("jsName", c.class_name()),
                None => match name {
                    Some(n) => JsErr::new(env, e.code(), &message)?.string("jsName", n),
                    None => {
                        JsErr::new(env, e.code(), &message)?.set("jsName", ().into_unknown(env)?)
                    }
                },
            };
            match stack {
                Some(s) => err.string("jsStack", s),
                None => err.set("jsStack", ().into_unknown(env)?),
            }
            .value()
        }
        SandboxError::Timeout { timeout_ms } => JsErr::new(env, e.code(), &message)?
            .number("timeoutMs", js_number(*timeout_ms))
            .value(),
        SandboxError::Memory { limit_bytes } => JsErr::new(env, e.code(), &message)?
            .number("limitBytes", js_number(*limit_bytes))
            .value(),
        SandboxError::Result { path, .. } => JsErr::new(env, e.code(), &message)?
            .string("path", path)
            .value(),
        SandboxError::Crashed { reason } => JsErr::new(env, e.code(), &message)?
            .string("reason", reason)
            .value(),
        SandboxError::InvalidOption { .. } => JsErr::invalid_arg(env, &message)?.value(),
        _ => JsErr::new(env, e.code(), &message)?.value(),
    })
}

/// The fields SPEC.md names for a failed BAML call, in camelCase: for `callFunction`'s errors
/// with `bamlName` (BAML's class name), for one that escaped a sandbox with `detailedMessage`
/// (its `jsName` is the class name).
fn call_fields<'env>(err: JsErr<'env>, e: &CallError, direct: bool) -> JsErr<'env> {
    let err = if direct {
        err.string("bamlName", e.class_name())
    } else {
        err
    };
    let detailed = |err: JsErr<'env>, message: &str| {
        if direct {
            err
        } else {
            err.string("detailedMessage", message)
        }
    };
    match e {
        CallError::Http {
            status,
            client,
            raw_response,
            message,
            ..
        } => {
            let err = match status {
                Some(c) => err.number("statusCode", f64::from(*c)),
                None => err.null("statusCode"),
            };
            let err = detailed(err.string("clientName", client), message);
            match raw_response {
                Some(r) => err.string("rawResponse", r),
                None => err.null("rawResponse"),
            }
        }
        CallError::FinishReason {
            client,
            finish_reason,
            raw_output,
            message,
        } => detailed(
            err.string("finishReason", finish_reason)
                .string("rawOutput", raw_output)
                .string("clientName", client),
            message,
        ),
        CallError::Validation {
            raw_output,
            prompt,
            message,
        } => detailed(
            err.string("rawOutput", raw_output).string("prompt", prompt),
            message,
        ),
        _ => err,
    }
}

/// A failed BAML call: `BAML_HTTP`, `BAML_FINISH_REASON`, `BAML_VALIDATION`,
/// `BAML_INVALID_ARGUMENT` or `BAML_ABORTED`, with the fields SPEC.md names.
pub(crate) fn call_error<'env>(env: &'env Env, e: &CallError) -> Result<Unknown<'env>> {
    Ok(call_fields(JsErr::new(env, e.code(), &e.to_string())?, e, true).value())
}

/// `BAML_VALIDATION`: the model's output could not be read as the return type.
pub(crate) fn validation_error<'env>(
    env: &'env Env,
    e: &baml_sap::SapError,
    raw: &str,
) -> Result<Unknown<'env>> {
    Ok(JsErr::new(env, e.code(), &e.to_string())?
        .string("rawOutput", raw)
        .set("prompt", ().into_unknown(env)?)
        .value())
}

pub(crate) fn load_error<'env>(env: &'env Env, e: &LoadError) -> Result<Unknown<'env>> {
    let message = e.to_string();
    Ok(match e {
        LoadError::Syntax(diags) => {
            let mut arr = env.create_array(u32::try_from(diags.len()).unwrap_or(u32::MAX))?;
            for (i, d) in diags.iter().enumerate() {
                let mut o = Object::new(env)?;
                o.set_named_property("file", d.file.as_str())?;
                o.set_named_property("line", f64::from(d.line))?;
                o.set_named_property("column", f64::from(d.column))?;
                o.set_named_property("message", d.message.as_str())?;
                arr.set(u32::try_from(i).unwrap_or(u32::MAX), o)?;
            }
            JsErr::new(env, e.code(), &message)?
                .set("diagnostics", arr.to_unknown())
                .value()
        }
        LoadError::Io { path, .. } => JsErr::new(env, e.code(), &message)?
            .string("path", path)
            .value(),
        _ => JsErr::new(env, e.code(), &message)?.value(),
    })
}

/// Throws `value` (built by one of the functions above).
pub(crate) fn throw(env: &Env, value: Result<Unknown<'_>>) -> Error {
    match value.and_then(|v| env.throw(v)) {
        Ok(()) => Error::from_status(Status::PendingException),
        Err(e) => e,
    }
}
