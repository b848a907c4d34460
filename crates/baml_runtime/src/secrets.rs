//! What must never reach a sandbox: API keys and every other secret a call is made with.
//!
//! Sandboxed code sees the errors of its BAML calls. Those can carry a secret: a transport
//! error names the URL (with `?key=...` when a client puts its key in `query_params`), and a
//! provider may echo the key it refused (`Incorrect API key provided: sk-...`). [`Secrets`] is
//! the set of strings to take out of anything shown to a sandbox: every value of the
//! environment the calls see (the runtime's and the context's `env`, which is where keys are
//! meant to live), and every `api_key`, `query_params` value and credential-like header value
//! written in a client's options (keys written into `.baml` files too).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value as Json;

/// Environment values shorter than this are not treated as secrets (an `env.REGION` of `eu`
/// would otherwise blank out every `eu` in every message); no API key is this short.
const MIN_ENV_SECRET: usize = 8;
/// Option values (keys, query values, credential headers) shorter than this are not either.
const MIN_OPTION_SECRET: usize = 4;

/// What stands in for a secret.
pub const REDACTED: &str = "[redacted]";

/// Strings to redact, longest first (so a key containing another is replaced whole).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Vec<String>,
}

/// Whether a header carries a credential (by its name).
fn credential_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "key",
        "token",
        "secret",
        "auth",
        "cookie",
        "signature",
        "password",
    ]
    .iter()
    .any(|w| n.contains(w))
}

impl Secrets {
    pub(crate) fn new() -> Secrets {
        Secrets::default()
    }

    pub(crate) fn add(&mut self, value: &str, min: usize) {
        if value.chars().count() < min || self.values.iter().any(|v| v == value) {
            return;
        }
        self.values.push(value.to_string());
        // A query value travels percent-encoded in URLs.
        let encoded = percent_encode(value);
        if encoded != value {
            self.values.push(encoded);
        }
    }

    pub(crate) fn add_env(&mut self, env: &BTreeMap<String, String>) {
        for v in env.values() {
            self.add(v, MIN_ENV_SECRET);
        }
    }

    /// Adds the secrets of one client's resolved options.
    pub(crate) fn add_options(&mut self, options: &serde_json::Map<String, Json>) {
        if let Some(Json::String(k)) = options.get("api_key") {
            self.add(k, MIN_OPTION_SECRET);
        }
        if let Some(Json::Object(q)) = options.get("query_params") {
            for v in q.values() {
                if let Json::String(v) = v {
                    self.add(v, MIN_OPTION_SECRET);
                }
            }
        }
        if let Some(Json::Object(h)) = options.get("headers") {
            for (k, v) in h {
                if let Json::String(v) = v {
                    if credential_header(k) {
                        self.add(v, MIN_OPTION_SECRET);
                        // `Bearer sk-...`: the token alone, too.
                        if let Some((_, token)) = v.split_once(' ') {
                            self.add(token, MIN_OPTION_SECRET);
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn finish(mut self) -> Secrets {
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        self
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for s in &self.values {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), REDACTED));
            }
        }
        out
    }

    /// `e` with every secret taken out of its text (message, raw output, prompt).
    pub fn redact_error(&self, e: crate::CallError) -> crate::CallError {
        use crate::CallError as E;
        if self.values.is_empty() {
            return e;
        }
        let r = |s: String| self.redact(&s).into_owned();
        match e {
            E::InvalidArgument(m) => E::InvalidArgument(r(m)),
            E::Http {
                message,
                status,
                client,
                raw_response,
                timeout,
                retry_after,
            } => E::Http {
                message: r(message),
                status,
                client,
                raw_response: raw_response.map(r),
                timeout,
                retry_after,
            },
            E::FinishReason {
                message,
                client,
                finish_reason,
                raw_output,
            } => E::FinishReason {
                message: r(message),
                client,
                finish_reason: r(finish_reason),
                raw_output: r(raw_output),
            },
            E::Validation {
                message,
                raw_output,
                prompt,
            } => E::Validation {
                message: r(message),
                raw_output: r(raw_output),
                prompt: r(prompt),
            },
            E::Aborted => E::Aborted,
        }
    }

    /// A header value as a log may show it: a credential header's value is replaced whole
    /// (keeping an auth scheme such as `Bearer`, so the log still says how the call
    /// authenticated), any other value has its secrets taken out.
    pub fn redact_header(&self, name: &str, value: &str) -> String {
        if credential_header(name) {
            return match value.split_once(' ') {
                Some((scheme, _))
                    if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()) =>
                {
                    format!("{scheme} {REDACTED}")
                }
                _ => REDACTED.to_string(),
            };
        }
        self.redact(value).into_owned()
    }

    /// `v` with every secret taken out of its strings (keys included).
    pub fn redact_json(&self, v: &Json) -> Json {
        if self.values.is_empty() {
            return v.clone();
        }
        match v {
            Json::String(s) => Json::String(self.redact(s).into_owned()),
            Json::Array(items) => Json::Array(items.iter().map(|x| self.redact_json(x)).collect()),
            Json::Object(m) => Json::Object(
                m.iter()
                    .map(|(k, x)| (self.redact(k).into_owned(), self.redact_json(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Percent-encodes what a URL query value cannot hold as is.
fn percent_encode(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn env_values_keys_query_values_and_credential_headers_are_redacted() {
        let mut s = Secrets::new();
        let env: BTreeMap<String, String> = [
            ("KEY".to_string(), "sk-abcdef123456".to_string()),
            ("REGION".to_string(), "eu".to_string()),
        ]
        .into();
        s.add_env(&env);
        let options: serde_json::Map<String, Json> = serde_json::from_str(
            r#"{ "api_key": "literal-key-99", "query_params": { "key": "q/v+al" },
                "headers": { "Authorization": "Bearer tok-777777", "content-type": "application/json" } }"#,
        )
        .unwrap();
        s.add_options(&options);
        let s = s.finish();
        let text = "url http://x/v1?key=q%2Fv%2Bal failed; sk-abcdef123456 and literal-key-99 and Bearer tok-777777; region eu; application/json";
        assert_eq!(
            s.redact(text),
            "url http://x/v1?key=[redacted] failed; [redacted] and [redacted] and [redacted]; region eu; application/json"
        );
        assert!(matches!(s.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn credential_headers_are_redacted_whole_keeping_the_scheme() {
        let mut s = Secrets::new();
        s.add("sk-abcdef123456", 4);
        let s = s.finish();
        assert_eq!(
            s.redact_header("authorization", "Bearer anything-at-all"),
            "Bearer [redacted]"
        );
        assert_eq!(s.redact_header("x-api-key", "unknown-key"), "[redacted]");
        assert_eq!(s.redact_header("x-goog-api-key", "k3y-1 2"), "[redacted]");
        assert_eq!(s.redact_header("api-key", "k"), "[redacted]");
        assert_eq!(
            s.redact_header("content-type", "application/json"),
            "application/json"
        );
        assert_eq!(s.redact_header("x-note", "sk-abcdef123456!"), "[redacted]!");
        let body = serde_json::json!({ "a": ["sk-abcdef123456", 1], "sk-abcdef123456": true });
        assert_eq!(
            s.redact_json(&body),
            serde_json::json!({ "a": ["[redacted]", 1], "[redacted]": true })
        );
    }
}
