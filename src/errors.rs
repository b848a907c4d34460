//! The one place where Rust errors become JavaScript `Error`s with a stable `code` and
//! structured fields (never JSON in the message).

use baml_runtime::LoadError;
use baml_sandbox::SandboxError;
use napi::sys;

use crate::util::{number, object, set, string, Env, Raw};

/// `new Error(message)` with `code` and extra fields.
pub(crate) unsafe fn error(env: Env, code: &str, message: &str, fields: &[(&str, Raw)]) -> Raw {
    let mut err = std::ptr::null_mut();
    unsafe {
        let (Ok(c), Ok(m)) = (string(env, code), string(env, message)) else {
            return crate::util::undefined(env);
        };
        sys::napi_create_error(env, c, m, &raw mut err);
        for (k, v) in fields {
            let _ = set(env, err, k, *v);
        }
    }
    err
}

/// A `TypeError` for a bad argument or option.
pub(crate) unsafe fn invalid_arg(env: Env, message: &str) -> Raw {
    let mut err = std::ptr::null_mut();
    unsafe {
        let (Ok(c), Ok(m)) = (string(env, "ERR_INVALID_ARG_VALUE"), string(env, message)) else {
            return crate::util::undefined(env);
        };
        sys::napi_create_type_error(env, c, m, &raw mut err);
    }
    err
}

/// Throws `err` and returns the napi error that tells the binding it is already pending.
pub(crate) unsafe fn throw(env: Env, err: Raw) -> napi::Error {
    unsafe { sys::napi_throw(env, err) };
    napi::Error::new(napi::Status::PendingException, "")
}

pub(crate) unsafe fn sandbox_error(env: Env, e: &SandboxError) -> Raw {
    let message = e.to_string();
    unsafe {
        match e {
            SandboxError::Js {
                name,
                stack,
                code,
                fields,
                ..
            } => {
                let js_name = name.as_deref().map_or_else(
                    || crate::util::undefined(env),
                    |n| string(env, n).unwrap_or(std::ptr::null_mut()),
                );
                let js_stack = stack.as_deref().map_or_else(
                    || crate::util::undefined(env),
                    |s| string(env, s).unwrap_or(std::ptr::null_mut()),
                );
                let mut props = vec![("jsName", js_name), ("jsStack", js_stack)];
                // A BAML error that escaped the sandbox keeps its BAML_* code and its fields,
                // named as `callFunction`'s errors name them.
                for (k, v) in fields {
                    let key = match k.as_str() {
                        "raw_output" if code.as_deref() == Some("BAML_HTTP") => "rawResponse",
                        "raw_output" => "rawOutput",
                        "prompt" => "prompt",
                        "status_code" => "statusCode",
                        "client_name" => "clientName",
                        "finish_reason" => "finishReason",
                        "detailed_message" => "detailedMessage",
                        _ => continue,
                    };
                    if let Ok(js) = crate::convert::to_node(env, v) {
                        props.push((key, js));
                    }
                }
                error(env, code.as_deref().unwrap_or(e.code()), &message, &props)
            }
            SandboxError::Timeout { timeout_ms } => error(
                env,
                e.code(),
                &message,
                &[(
                    "timeoutMs",
                    number(
                        env,
                        crate::util::js_number(usize::try_from(*timeout_ms).unwrap_or(usize::MAX)),
                    )
                    .unwrap_or(std::ptr::null_mut()),
                )],
            ),
            SandboxError::Memory { limit_bytes } => error(
                env,
                e.code(),
                &message,
                &[(
                    "limitBytes",
                    number(
                        env,
                        crate::util::js_number(usize::try_from(*limit_bytes).unwrap_or(usize::MAX)),
                    )
                    .unwrap_or(std::ptr::null_mut()),
                )],
            ),
            SandboxError::Result { path, .. } => error(
                env,
                e.code(),
                &message,
                &[("path", string(env, path).unwrap_or(std::ptr::null_mut()))],
            ),
            _ => error(env, e.code(), &message, &[]),
        }
    }
}

/// `BAML_VALIDATION`: the model's output could not be read as the return type.
pub(crate) unsafe fn validation_error(env: Env, e: &baml_sap::SapError, raw: &str) -> Raw {
    let message = e.to_string();
    unsafe {
        let raw_output = string(env, raw).unwrap_or(std::ptr::null_mut());
        error(
            env,
            e.code(),
            &message,
            &[
                ("rawOutput", raw_output),
                ("prompt", crate::util::undefined(env)),
            ],
        )
    }
}

pub(crate) unsafe fn load_error(env: Env, e: &LoadError) -> Raw {
    let message = e.to_string();
    unsafe {
        match e {
            LoadError::Syntax(diags) => {
                let mut arr = std::ptr::null_mut();
                sys::napi_create_array_with_length(env, diags.len(), &raw mut arr);
                for (i, d) in diags.iter().enumerate() {
                    let Ok(o) = object(env) else { continue };
                    let _ = set(
                        env,
                        o,
                        "file",
                        string(env, &d.file).unwrap_or(std::ptr::null_mut()),
                    );
                    let _ = set(
                        env,
                        o,
                        "line",
                        number(env, f64::from(d.line)).unwrap_or(std::ptr::null_mut()),
                    );
                    let _ = set(
                        env,
                        o,
                        "column",
                        number(env, f64::from(d.column)).unwrap_or(std::ptr::null_mut()),
                    );
                    let _ = set(
                        env,
                        o,
                        "message",
                        string(env, &d.message).unwrap_or(std::ptr::null_mut()),
                    );
                    sys::napi_set_element(env, arr, u32::try_from(i).unwrap_or(u32::MAX), o);
                }
                error(env, e.code(), &message, &[("diagnostics", arr)])
            }
            LoadError::Io { path, .. } => error(
                env,
                e.code(),
                &message,
                &[("path", string(env, path).unwrap_or(std::ptr::null_mut()))],
            ),
            _ => error(env, e.code(), &message, &[]),
        }
    }
}

/// A failed BAML call: `BAML_HTTP`, `BAML_FINISH_REASON`, `BAML_VALIDATION`,
/// `BAML_INVALID_ARGUMENT` or `BAML_ABORTED`, with the fields SPEC.md names.
pub(crate) unsafe fn call_error(env: Env, e: &baml_runtime::CallError) -> Raw {
    use baml_runtime::CallError;
    let message = e.to_string();
    unsafe {
        let s = |v: &str| string(env, v).unwrap_or(std::ptr::null_mut());
        let null = || {
            let mut n = std::ptr::null_mut();
            sys::napi_get_null(env, &raw mut n);
            n
        };
        let name = s(e.class_name());
        match e {
            CallError::Http {
                status,
                client,
                raw_response,
                ..
            } => {
                let status = status.map_or_else(null, |c| {
                    number(env, f64::from(c)).unwrap_or(std::ptr::null_mut())
                });
                let raw = raw_response.as_deref().map_or_else(null, s);
                error(
                    env,
                    e.code(),
                    &message,
                    &[
                        ("statusCode", status),
                        ("clientName", s(client)),
                        ("rawResponse", raw),
                        ("bamlName", name),
                    ],
                )
            }
            CallError::FinishReason {
                client,
                finish_reason,
                raw_output,
                ..
            } => error(
                env,
                e.code(),
                &message,
                &[
                    ("finishReason", s(finish_reason)),
                    ("rawOutput", s(raw_output)),
                    ("clientName", s(client)),
                    ("bamlName", name),
                ],
            ),
            CallError::Validation {
                raw_output, prompt, ..
            } => error(
                env,
                e.code(),
                &message,
                &[
                    ("rawOutput", s(raw_output)),
                    ("prompt", s(prompt)),
                    ("bamlName", name),
                ],
            ),
            _ => error(env, e.code(), &message, &[("bamlName", name)]),
        }
    }
}
