//! The script: rules that pick a reply for each provider request, parsed from the JSON that
//! `POST /__mock/script` (or [`crate::MockServer::set_script`]) receives.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

/// Why a script was refused. The message names the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError(pub String);

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid mock script: {}", self.0)
    }
}

impl std::error::Error for ScriptError {}

/// A fault to inject instead of (or in the middle of) a normal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Close the connection without answering, with `SO_LINGER` 0 (the client sees a reset).
    Reset,
    /// A 200 whose body is not valid JSON (for a stream: one event whose data is not JSON).
    MalformedJson,
    /// About half the response, then the connection closes without the terminator.
    TruncatedStream,
    /// The head, then one body byte every `chunk_delay_ms`.
    SlowLoris,
    /// Never answer; wait for the client to leave (bounded by the server's max hang).
    Hang,
    /// A 200 whose content text is `huge_bytes` long, streamed out without buffering.
    HugeBody,
}

impl Fault {
    fn parse(name: &str) -> Result<Self, ScriptError> {
        Ok(match name {
            "reset" => Self::Reset,
            "malformed_json" => Self::MalformedJson,
            "truncated_stream" => Self::TruncatedStream,
            "slow_loris" => Self::SlowLoris,
            "hang" => Self::Hang,
            "huge_body" => Self::HugeBody,
            other => {
                return Err(ScriptError(format!(
                    "unknown fault {other:?} (expected reset, malformed_json, truncated_stream, slow_loris, hang or huge_body)"
                )))
            }
        })
    }
}

/// One scripted answer. Every field is optional in JSON; see the crate docs for their meaning.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply {
    pub text: Option<String>,
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    pub latency_ms: u64,
    pub finish_reason: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub chunk_delay_ms: Option<u64>,
    pub chunk_chars: Option<usize>,
    pub fault: Option<Fault>,
    pub huge_bytes: Option<u64>,
    pub raw_body: Option<Vec<u8>>,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// Default content when nothing is scripted.
pub(crate) const DEFAULT_TEXT: &str = "mock reply";
/// Default streaming chunk size in characters.
pub(crate) const DEFAULT_CHUNK_CHARS: usize = 8;
/// Default size of a `huge_body` reply's text: 50 MB.
pub(crate) const DEFAULT_HUGE_BYTES: u64 = 50_000_000;

impl Reply {
    pub(crate) fn text(&self) -> &str {
        self.text.as_deref().unwrap_or(DEFAULT_TEXT)
    }

    pub(crate) fn status(&self) -> u16 {
        self.status.unwrap_or(200)
    }

    pub(crate) fn chunk_chars(&self) -> usize {
        self.chunk_chars.unwrap_or(DEFAULT_CHUNK_CHARS).max(1)
    }

    fn parse(value: &Value, at: &str) -> Result<Self, ScriptError> {
        let obj = object(value, at)?;
        let mut reply = Reply::default();
        for (key, v) in obj {
            let here = format!("{at}.{key}");
            match key.as_str() {
                "text" => reply.text = Some(string(v, &here)?),
                "status" => {
                    let status = uint(v, &here)?;
                    if !(200..=999).contains(&status) {
                        return Err(ScriptError(format!(
                            "{here}: {status} is not a final HTTP status (200..=999)"
                        )));
                    }
                    reply.status = u16::try_from(status).ok();
                }
                "retry_after" => reply.retry_after = Some(uint(v, &here)?),
                "latency_ms" => reply.latency_ms = uint(v, &here)?,
                "finish_reason" => reply.finish_reason = Some(string(v, &here)?),
                "usage" => {
                    for (k, n) in object(v, &here)? {
                        let field = format!("{here}.{k}");
                        match k.as_str() {
                            "input_tokens" => reply.input_tokens = Some(uint(n, &field)?),
                            "output_tokens" => reply.output_tokens = Some(uint(n, &field)?),
                            _ => return Err(unknown(&field, "input_tokens, output_tokens")),
                        }
                    }
                }
                "chunk_delay_ms" => reply.chunk_delay_ms = Some(uint(v, &here)?),
                "chunk_chars" => {
                    let n = uint(v, &here)?;
                    if n == 0 {
                        return Err(ScriptError(format!("{here} must be at least 1")));
                    }
                    reply.chunk_chars = Some(usize::try_from(n).unwrap_or(usize::MAX));
                }
                "fault" => reply.fault = Some(Fault::parse(&string(v, &here)?)?),
                "huge_bytes" => reply.huge_bytes = Some(uint(v, &here)?),
                "raw_body" => {
                    reply.raw_body = Some(match v {
                        Value::String(s) => s.clone().into_bytes(),
                        other => other.to_string().into_bytes(),
                    });
                }
                "content_type" => reply.content_type = Some(string(v, &here)?),
                "headers" => {
                    for (name, value) in object(v, &here)? {
                        let value = string(value, &format!("{here}.{name}"))?;
                        if !is_token(name) || value.contains(['\r', '\n']) {
                            return Err(ScriptError(format!("{here}.{name}: not a valid header")));
                        }
                        reply.headers.push((name.clone(), value));
                    }
                }
                _ => return Err(unknown(
                    &here,
                    "text, status, retry_after, latency_ms, finish_reason, usage, chunk_delay_ms, \
                         chunk_chars, fault, huge_bytes, raw_body, content_type, headers",
                )),
            }
        }
        Ok(reply)
    }
}

/// What a rule's matchers look at.
pub(crate) struct RequestFacts<'a> {
    pub model: Option<&'a str>,
    pub body: &'a [u8],
    pub path: &'a str,
}

struct Rule {
    model: Option<String>,
    contains: Option<String>,
    path_contains: Option<String>,
    replies: Vec<Arc<Reply>>,
    /// How many replies this rule has handed out; the last reply repeats.
    used: usize,
}

impl Rule {
    fn matches(&self, facts: &RequestFacts<'_>) -> bool {
        self.model.as_deref().is_none_or(|m| facts.model == Some(m))
            && self
                .contains
                .as_deref()
                .is_none_or(|needle| contains_bytes(facts.body, needle.as_bytes()))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|needle| facts.path.contains(needle))
    }
}

/// The rules in force and the fallback reply.
#[derive(Default)]
pub(crate) struct Script {
    rules: Vec<Rule>,
    default: Option<Arc<Reply>>,
}

impl Script {
    /// Parses `{ "rules": [...], "default": {...} }`. Unknown fields are refused so that a
    /// typo in a test fails loudly instead of silently matching nothing.
    pub(crate) fn parse(value: &Value) -> Result<Self, ScriptError> {
        let obj = object(value, "script")?;
        let mut script = Script::default();
        for (key, v) in obj {
            match key.as_str() {
                "rules" => {
                    let Value::Array(rules) = v else {
                        return Err(ScriptError("rules: expected an array".into()));
                    };
                    for (i, rule) in rules.iter().enumerate() {
                        script.rules.push(parse_rule(rule, &format!("rules[{i}]"))?);
                    }
                }
                "default" => {
                    if !v.is_null() {
                        script.default = Some(Arc::new(Reply::parse(v, "default")?));
                    }
                }
                _ => return Err(unknown(key, "rules, default")),
            }
        }
        Ok(script)
    }

    /// The number of rules.
    pub(crate) fn len(&self) -> usize {
        self.rules.len()
    }

    /// Picks the reply for a request: the next reply of the first matching rule, else the
    /// default. Returns the index of the rule that answered, if any.
    pub(crate) fn pick(&mut self, facts: &RequestFacts<'_>) -> (Arc<Reply>, Option<usize>) {
        for (i, rule) in self.rules.iter_mut().enumerate() {
            if rule.matches(facts) {
                let idx = rule.used.min(rule.replies.len() - 1);
                rule.used = rule.used.saturating_add(1);
                return (Arc::clone(&rule.replies[idx]), Some(i));
            }
        }
        let reply = self
            .default
            .clone()
            .unwrap_or_else(|| Arc::new(Reply::default()));
        (reply, None)
    }
}

fn parse_rule(value: &Value, at: &str) -> Result<Rule, ScriptError> {
    let obj = object(value, at)?;
    let mut rule = Rule {
        model: None,
        contains: None,
        path_contains: None,
        replies: Vec::new(),
        used: 0,
    };
    let mut has_replies = false;
    for (key, v) in obj {
        let here = format!("{at}.{key}");
        match key.as_str() {
            "model" => rule.model = Some(string(v, &here)?),
            "contains" => rule.contains = Some(string(v, &here)?),
            "path_contains" => rule.path_contains = Some(string(v, &here)?),
            "replies" => {
                let Value::Array(replies) = v else {
                    return Err(ScriptError(format!("{here}: expected an array")));
                };
                has_replies = true;
                for (i, reply) in replies.iter().enumerate() {
                    rule.replies
                        .push(Arc::new(Reply::parse(reply, &format!("{here}[{i}]"))?));
                }
            }
            _ => return Err(unknown(&here, "model, contains, path_contains, replies")),
        }
    }
    if !has_replies || rule.replies.is_empty() {
        return Err(ScriptError(format!(
            "{at}.replies: needs at least one reply"
        )));
    }
    Ok(rule)
}

fn object<'a>(value: &'a Value, at: &str) -> Result<&'a Map<String, Value>, ScriptError> {
    value
        .as_object()
        .ok_or_else(|| ScriptError(format!("{at}: expected an object")))
}

fn string(value: &Value, at: &str) -> Result<String, ScriptError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ScriptError(format!("{at}: expected a string")))
}

fn uint(value: &Value, at: &str) -> Result<u64, ScriptError> {
    value
        .as_u64()
        .ok_or_else(|| ScriptError(format!("{at}: expected a non-negative integer")))
}

fn unknown(at: &str, known: &str) -> ScriptError {
    ScriptError(format!("unknown field {at} (known: {known})"))
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `haystack` contains `needle` (an empty needle is always found).
pub(crate) fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts<'a>(model: &'a str, body: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            model: Some(model),
            body: body.as_bytes(),
            path: "/v1/chat/completions",
        }
    }

    #[test]
    fn rules_are_consumed_in_order_and_the_last_repeats() {
        let mut script = Script::parse(&json!({
            "rules": [
                { "model": "a", "replies": [{ "text": "one" }, { "text": "two" }] },
                { "contains": "needle", "replies": [{ "text": "found" }] }
            ],
            "default": { "text": "fallback" }
        }))
        .unwrap();
        let texts: Vec<String> = (0..3)
            .map(|_| script.pick(&facts("a", "{}")).0.text().to_owned())
            .collect();
        assert_eq!(texts, ["one", "two", "two"]);
        assert_eq!(script.pick(&facts("b", "a needle")).0.text(), "found");
        assert_eq!(script.pick(&facts("b", "{}")).0.text(), "fallback");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        for bad in [
            json!({ "rulez": [] }),
            json!({ "rules": [{ "replies": [] }] }),
            json!({ "rules": [{ "model": "a" }] }),
            json!({ "rules": [{ "replies": [{ "txt": "x" }] }] }),
            json!({ "default": { "fault": "explode" } }),
            json!({ "default": { "status": 99 } }),
            json!({ "default": { "chunk_chars": 0 } }),
        ] {
            assert!(Script::parse(&bad).is_err(), "{bad}");
        }
    }
}
