//! Decoding a provider's non-streaming answer.
//!
//! Each wire API is checked the way BAML 0.226 checks it: a field BAML's response types require
//! is required here too (a body BAML rejects is rejected), a field BAML reads as optional is
//! tolerated, and the text, finish reason and token counts are taken from the same places.
//! Messages are our own: they name the field that was wrong and quote the start of the body.
//!
//! Deliberate differences, each because BAML's behaviour there is a bug rather than a contract:
//! Gemini safety ratings and prompt feedback are not checked against a closed list of enum
//! values (BAML 0.226 rejects answers carrying categories newer than its list), and a 2xx body
//! that is a provider error report (`{"error": …}`) is reported with the provider's message
//! instead of as a missing field.

use std::fmt;

use serde_json::{Map, Value};

/// The wire API a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// `POST /chat/completions`: openai, openai-generic, ollama, azure-openai.
    ChatCompletions,
    /// `POST /responses`: openai-responses.
    Responses,
    /// `POST /v1/messages`: anthropic.
    AnthropicMessages,
    /// `generateContent` / `streamGenerateContent`: google-ai, vertex-ai.
    GoogleGenerateContent,
    /// `POST /model/{id}/converse` / `converse-stream`: aws-bedrock.
    BedrockConverse,
}

impl Api {
    fn label(self) -> &'static str {
        match self {
            Api::ChatCompletions => "chat completion",
            Api::Responses => "Responses API",
            Api::AnthropicMessages => "Anthropic Messages",
            Api::GoogleGenerateContent => "Gemini generateContent",
            Api::BedrockConverse => "Bedrock Converse",
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Token counts as the provider reported them; `None` when it did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// One complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmOutput {
    /// The text BAML hands to its output parser.
    pub content: String,
    /// The provider's own value, unnormalised (`"stop"`, `"end_turn"`, `"STOP"`, `"completed"`).
    pub finish_reason: Option<String>,
    /// The model the provider says answered. Gemini reports it as `modelVersion`; BAML itself
    /// shows the configured model name there, which the caller knows and we do not.
    pub model: Option<String>,
    pub usage: Usage,
}

/// Why an answer could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The body (or a stream event's data) is not JSON.
    #[error("{api} response is not valid JSON ({detail}): {excerpt}")]
    NotJson {
        api: Api,
        detail: String,
        excerpt: String,
    },
    /// The JSON lacks a field BAML requires, has one of the wrong type, or has a number of
    /// choices/candidates BAML does not accept.
    #[error("{api} response {problem}: {excerpt}")]
    Shape {
        api: Api,
        problem: String,
        excerpt: String,
    },
    /// The provider reported an error inside a 2xx body or a stream.
    #[error("{api} reported an error: {message}")]
    Provider {
        api: Api,
        message: String,
        excerpt: String,
    },
    /// The answer holds no text where BAML requires some.
    #[error("{api} response {problem}: {excerpt}")]
    NoContent {
        api: Api,
        problem: String,
        excerpt: String,
    },
    /// Gemini refused the prompt (`promptFeedback.blockReason`, no candidates).
    #[error("{api} blocked the prompt ({reason}){}: {excerpt}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Blocked {
        api: Api,
        reason: String,
        message: Option<String>,
        excerpt: String,
    },
    /// The stream ended before the event that marks a complete answer.
    #[error(
        "{api} stream ended before {missing} (after {events} events): the answer is incomplete"
    )]
    Truncated {
        api: Api,
        missing: &'static str,
        events: usize,
    },
    /// A server-sent event grew past the decoder's limit.
    #[error("server-sent event larger than {limit} bytes")]
    EventTooLarge { limit: usize },
}

/// How much of a body an error message quotes.
const EXCERPT_CHARS: usize = 200;
/// The longest message `error_message` returns.
const MESSAGE_CHARS: usize = 1000;

/// Decodes a successful (2xx) non-streaming body.
pub fn parse_response(api: Api, body: &[u8]) -> Result<LlmOutput, ResponseError> {
    let value = parse_json(api, body)?;
    let decoded = match api {
        Api::ChatCompletions => chat_completion(&value),
        Api::Responses => responses(&value),
        Api::AnthropicMessages => anthropic_message(&value),
        Api::GoogleGenerateContent => gemini(&value),
        Api::BedrockConverse => crate::bedrock::parse(&value),
    };
    decoded.map_err(|fail| fail.into_error(api, body))
}

/// Best human-readable message from an error (non-2xx) body: the provider's own message when the
/// body has one of the usual error shapes (with its error type or status in parentheses),
/// otherwise the body's text, shortened.
pub fn error_message(api: Api, status: u16, body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        if let Some(message) = provider_error_message(api, &value) {
            return truncate(&message, MESSAGE_CHARS);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        truncate(text, MESSAGE_CHARS)
    }
}

// ---------------------------------------------------------------------------------------------
// Shared with the stream accumulator.

pub(crate) fn parse_json(api: Api, bytes: &[u8]) -> Result<Value, ResponseError> {
    serde_json::from_slice(bytes).map_err(|e| ResponseError::NotJson {
        api,
        detail: e.to_string(),
        excerpt: excerpt(bytes),
    })
}

/// What went wrong, before it is tied to an API and a body.
#[derive(Debug)]
pub(crate) enum Fail {
    Shape(String),
    Provider(String),
    NoContent(String),
    Blocked {
        reason: String,
        message: Option<String>,
    },
}

impl Fail {
    pub(crate) fn into_error(self, api: Api, body: &[u8]) -> ResponseError {
        let excerpt = excerpt(body);
        match self {
            Fail::Shape(problem) => ResponseError::Shape {
                api,
                problem,
                excerpt,
            },
            Fail::Provider(message) => ResponseError::Provider {
                api,
                message,
                excerpt,
            },
            Fail::NoContent(problem) => ResponseError::NoContent {
                api,
                problem,
                excerpt,
            },
            Fail::Blocked { reason, message } => ResponseError::Blocked {
                api,
                reason,
                message,
                excerpt,
            },
        }
    }
}

pub(crate) type Checked<T> = Result<T, Fail>;

/// The start of a body, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    truncate(text.trim(), EXCERPT_CHARS)
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
    }
}

/// The message of a provider error report, if `value` is one: OpenAI and Anthropic
/// `{"error": {"message", "type"|"code"}}`, Gemini `{"error": {"message", "status"}}` (sometimes
/// wrapped in an array), `{"error": "text"}` (Ollama and other compatible servers), or a bare
/// `{"message"}` / `{"detail"}`.
pub(crate) fn provider_error_message(api: Api, value: &Value) -> Option<String> {
    let value = match value {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let obj = value.as_object()?;
    match obj.get("error") {
        Some(Value::Object(error)) => {
            let message = non_empty_str(error.get("message"));
            let kind = match api {
                Api::GoogleGenerateContent => non_empty_str(error.get("status")),
                Api::AnthropicMessages => non_empty_str(error.get("type")),
                Api::ChatCompletions | Api::Responses => {
                    non_empty_str(error.get("code")).or_else(|| non_empty_str(error.get("type")))
                }
                Api::BedrockConverse => None,
            };
            match (message, kind) {
                (Some(message), Some(kind)) => Some(format!("{message} ({kind})")),
                (Some(message), None) => Some(message.to_owned()),
                (None, Some(kind)) => Some(kind.to_owned()),
                (None, None) => None,
            }
        }
        Some(Value::String(message)) if !message.trim().is_empty() => Some(message.clone()),
        _ => non_empty_str(obj.get("message"))
            .or_else(|| non_empty_str(obj.get("detail")))
            .map(str::to_owned),
    }
}

fn non_empty_str(value: Option<&Value>) -> Option<&str> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A top-level `{"error": …}` in a body that lacks the field a real answer always has is an
/// error report, whatever the status code said.
pub(crate) fn reject_error_report(
    api: Api,
    obj: &Map<String, Value>,
    answer_field: &str,
) -> Checked<()> {
    match obj.get("error") {
        Some(error) if !error.is_null() && !obj.contains_key(answer_field) => {
            let message = provider_error_message(api, &Value::Object(obj.clone()))
                .unwrap_or_else(|| error.to_string());
            Err(Fail::Provider(message))
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Field checks. `path` names the object in messages ("choices[0].message"); "" is the body.

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn field_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn missing(path: &str, key: &str) -> Fail {
    Fail::Shape(format!("lacks required field `{}`", field_path(path, key)))
}

fn mistyped(path: &str, key: &str, expected: &str, got: &Value) -> Fail {
    Fail::Shape(format!(
        "has `{}` as {}, expected {expected}",
        field_path(path, key),
        kind(got)
    ))
}

pub(crate) fn as_object<'v>(value: &'v Value, what: &str) -> Checked<&'v Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| Fail::Shape(format!("has {what} as {}, expected an object", kind(value))))
}

/// A field that must be present and not null (serde's behaviour for a non-`Option` field).
fn required<'v>(obj: &'v Map<String, Value>, path: &str, key: &str) -> Checked<&'v Value> {
    match obj.get(key) {
        None => Err(missing(path, key)),
        Some(value) => Ok(value),
    }
}

pub(crate) fn req_str<'v>(obj: &'v Map<String, Value>, path: &str, key: &str) -> Checked<&'v str> {
    let value = required(obj, path, key)?;
    value
        .as_str()
        .ok_or_else(|| mistyped(path, key, "a string", value))
}

pub(crate) fn opt_str<'v>(
    obj: &'v Map<String, Value>,
    path: &str,
    key: &str,
) -> Checked<Option<&'v str>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(mistyped(path, key, "a string", other)),
    }
}

pub(crate) fn req_u64(obj: &Map<String, Value>, path: &str, key: &str) -> Checked<u64> {
    let value = required(obj, path, key)?;
    value
        .as_u64()
        .ok_or_else(|| mistyped(path, key, "a non-negative integer", value))
}

pub(crate) fn opt_u64(obj: &Map<String, Value>, path: &str, key: &str) -> Checked<Option<u64>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| mistyped(path, key, "a non-negative integer", value)),
    }
}

/// An index BAML reads as `u32`.
pub(crate) fn req_u32(obj: &Map<String, Value>, path: &str, key: &str) -> Checked<u64> {
    let value = required(obj, path, key)?;
    value
        .as_u64()
        .filter(|n| u32::try_from(*n).is_ok())
        .ok_or_else(|| mistyped(path, key, "a 32-bit non-negative integer", value))
}

fn opt_number(obj: &Map<String, Value>, path: &str, key: &str) -> Checked<()> {
    match obj.get(key) {
        None | Some(Value::Null | Value::Number(_)) => Ok(()),
        Some(other) => Err(mistyped(path, key, "a number", other)),
    }
}

fn opt_bool(obj: &Map<String, Value>, path: &str, key: &str) -> Checked<Option<bool>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(mistyped(path, key, "a boolean", other)),
    }
}

fn opt_i32(obj: &Map<String, Value>, path: &str, key: &str) -> Checked<()> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(value) => match value.as_i64().map(i32::try_from) {
            Some(Ok(_)) => Ok(()),
            _ => Err(mistyped(path, key, "a 32-bit integer", value)),
        },
    }
}

pub(crate) fn req_obj<'v>(
    obj: &'v Map<String, Value>,
    path: &str,
    key: &str,
) -> Checked<&'v Map<String, Value>> {
    let value = required(obj, path, key)?;
    value
        .as_object()
        .ok_or_else(|| mistyped(path, key, "an object", value))
}

pub(crate) fn opt_obj<'v>(
    obj: &'v Map<String, Value>,
    path: &str,
    key: &str,
) -> Checked<Option<&'v Map<String, Value>>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(mistyped(path, key, "an object", other)),
    }
}

pub(crate) fn req_arr<'v>(
    obj: &'v Map<String, Value>,
    path: &str,
    key: &str,
) -> Checked<&'v [Value]> {
    let value = required(obj, path, key)?;
    value
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| mistyped(path, key, "an array", value))
}

fn opt_arr<'v>(obj: &'v Map<String, Value>, path: &str, key: &str) -> Checked<Option<&'v [Value]>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(other) => Err(mistyped(path, key, "an array", other)),
    }
}

/// Each element of an array field as an object, with its path.
fn objects<'v>(
    items: &'v [Value],
    path: &str,
    key: &str,
) -> Checked<Vec<(String, &'v Map<String, Value>)>> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let item_path = format!("{}[{i}]", field_path(path, key));
            let obj = as_object(item, &format!("`{item_path}`"))?;
            Ok((item_path, obj))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// OpenAI chat completions (BAML: openai/types.rs `ChatCompletionGeneric`, `CompletionUsage`).

const OPENAI_ROLES: [&str; 5] = ["system", "user", "assistant", "tool", "function"];

fn openai_role(obj: &Map<String, Value>, path: &str, required_role: bool) -> Checked<()> {
    let role = if required_role {
        Some(req_str(obj, path, "role")?)
    } else {
        opt_str(obj, path, "role")?
    };
    match role {
        Some(role) if !OPENAI_ROLES.contains(&role) => Err(Fail::Shape(format!(
            "has `{}` = {role:?}, expected one of {}",
            field_path(path, "role"),
            OPENAI_ROLES.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// The fields every chat completion (whole or chunk) shares. Returns the model.
pub(crate) fn openai_envelope(obj: &Map<String, Value>) -> Checked<&str> {
    opt_str(obj, "", "id")?;
    opt_number(obj, "", "created")?;
    opt_str(obj, "", "system_fingerprint")?;
    opt_str(obj, "", "object")?;
    req_str(obj, "", "model")
}

/// `usage` of chat completions and of the Responses API: BAML requires all three counts once the
/// object is there (`input_tokens`/`output_tokens` are accepted for the first two).
pub(crate) fn openai_usage(obj: &Map<String, Value>, path: &str) -> Checked<Option<Usage>> {
    let Some(usage) = opt_obj(obj, path, "usage")? else {
        return Ok(None);
    };
    let path = field_path(path, "usage");
    let input = aliased_u64(usage, &path, "prompt_tokens", "input_tokens")?;
    let output = aliased_u64(usage, &path, "completion_tokens", "output_tokens")?;
    req_u64(usage, &path, "total_tokens")?;
    Ok(Some(Usage {
        input_tokens: Some(input),
        output_tokens: Some(output),
    }))
}

fn aliased_u64(obj: &Map<String, Value>, path: &str, key: &str, alias: &str) -> Checked<u64> {
    if obj.contains_key(key) || !obj.contains_key(alias) {
        req_u64(obj, path, key)
    } else {
        req_u64(obj, path, alias)
    }
}

fn openai_logprobs(choice: &Map<String, Value>, path: &str) -> Checked<()> {
    let Some(logprobs) = opt_obj(choice, path, "logprobs")? else {
        return Ok(());
    };
    let path = field_path(path, "logprobs");
    let Some(tokens) = opt_arr(logprobs, &path, "content")? else {
        return Ok(());
    };
    for (token_path, token) in objects(tokens, &path, "content")? {
        req_str(token, &token_path, "token")?;
        req_number(token, &token_path, "logprob")?;
        for (top_path, top) in objects(
            req_arr(token, &token_path, "top_logprobs")?,
            &token_path,
            "top_logprobs",
        )? {
            req_str(top, &top_path, "token")?;
            req_number(top, &top_path, "logprob")?;
        }
    }
    Ok(())
}

fn req_number(obj: &Map<String, Value>, path: &str, key: &str) -> Checked<()> {
    match required(obj, path, key)? {
        Value::Number(_) => Ok(()),
        other => Err(mistyped(path, key, "a number", other)),
    }
}

fn chat_completion(value: &Value) -> Checked<LlmOutput> {
    let obj = as_object(value, "the body")?;
    reject_error_report(Api::ChatCompletions, obj, "choices")?;
    let model = openai_envelope(obj)?;
    let usage = openai_usage(obj, "")?;
    let choices = objects(req_arr(obj, "", "choices")?, "", "choices")?;
    let mut first = None;
    for (path, choice) in &choices {
        req_u32(choice, path, "index")?;
        let message_path = field_path(path, "message");
        let message = req_obj(choice, path, "message")?;
        openai_role(message, &message_path, true)?;
        let content = opt_str(message, &message_path, "content")?;
        let finish_reason = opt_str(choice, path, "finish_reason")?;
        openai_logprobs(choice, path)?;
        first.get_or_insert((content, finish_reason));
    }
    // BAML takes exactly one choice; `n > 1` is an error there, not "use the first".
    let (Some((content, finish_reason)), 1) = (first, choices.len()) else {
        return Err(Fail::Shape(format!(
            "has {} choices, expected exactly one",
            choices.len()
        )));
    };
    Ok(LlmOutput {
        // `content: null` (a tool call or a refusal) is an empty answer, as in BAML.
        content: content.unwrap_or_default().to_owned(),
        finish_reason: finish_reason.map(str::to_owned),
        model: Some(model.to_owned()),
        usage: usage.unwrap_or_default(),
    })
}

/// One streamed chat completion chunk, checked. BAML reads only the first choice of a chunk.
pub(crate) struct ChatChunk<'v> {
    pub(crate) model: &'v str,
    pub(crate) first_choice: Option<(Option<&'v str>, Option<&'v str>)>,
    pub(crate) usage: Option<Usage>,
}

pub(crate) fn chat_chunk(obj: &Map<String, Value>) -> Checked<ChatChunk<'_>> {
    let model = openai_envelope(obj)?;
    let usage = openai_usage(obj, "")?;
    let mut first_choice = None;
    for (path, choice) in objects(req_arr(obj, "", "choices")?, "", "choices")? {
        req_u64(choice, &path, "index")?;
        let finish_reason = opt_str(choice, &path, "finish_reason")?;
        let delta_path = field_path(&path, "delta");
        let delta = req_obj(choice, &path, "delta")?;
        openai_role(delta, &delta_path, false)?;
        let content = opt_str(delta, &delta_path, "content")?;
        first_choice.get_or_insert((content, finish_reason));
    }
    Ok(ChatChunk {
        model,
        first_choice,
        usage,
    })
}

// ---------------------------------------------------------------------------------------------
// OpenAI Responses API (BAML: openai/types.rs `ResponsesApiResponse`, response_handler.rs).

/// A Responses API `response` object, checked.
pub(crate) struct ResponsesBody<'v> {
    pub(crate) status: &'v str,
    pub(crate) model: &'v str,
    pub(crate) output: Vec<(String, &'v Map<String, Value>)>,
    pub(crate) usage: Option<Usage>,
    pub(crate) error: Option<&'v Value>,
    pub(crate) incomplete_reason: Option<&'v str>,
}

pub(crate) fn responses_body<'v>(
    obj: &'v Map<String, Value>,
    path: &str,
) -> Checked<ResponsesBody<'v>> {
    req_str(obj, path, "id")?;
    req_str(obj, path, "object")?;
    opt_number(obj, path, "created_at")?;
    let status = req_str(obj, path, "status")?;
    let model = req_str(obj, path, "model")?;
    let output = objects(req_arr(obj, path, "output")?, path, "output")?;
    for (item_path, item) in &output {
        req_str(item, item_path, "type")?;
        for key in ["id", "status", "role", "call_id", "name", "arguments"] {
            opt_str(item, item_path, key)?;
        }
        for (part_path, part) in response_parts(item, item_path)? {
            req_str(part, &part_path, "type")?;
            opt_str(part, &part_path, "text")?;
            opt_arr(part, &part_path, "annotations")?;
            opt_arr(part, &part_path, "logprobs")?;
        }
    }
    let usage = openai_usage(obj, path)?;
    let incomplete_reason = match opt_obj(obj, path, "incomplete_details")? {
        None => None,
        Some(details) => Some(req_str(
            details,
            &field_path(path, "incomplete_details"),
            "reason",
        )?),
    };
    let error = obj.get("error").filter(|e| !e.is_null());
    Ok(ResponsesBody {
        status,
        model,
        output,
        usage,
        error,
        incomplete_reason,
    })
}

/// An output item's content parts (`null` and absent are no parts).
fn response_parts<'v>(
    item: &'v Map<String, Value>,
    item_path: &str,
) -> Checked<Vec<(String, &'v Map<String, Value>)>> {
    match opt_arr(item, item_path, "content")? {
        None => Ok(Vec::new()),
        Some(parts) => objects(parts, item_path, "content"),
    }
}

impl ResponsesBody<'_> {
    /// The text of a whole response, as BAML picks it: the first output item that yields
    /// something — a message's first content part's text, or a function call as JSON; reasoning,
    /// tool-call and unknown items are skipped.
    pub(crate) fn text(&self) -> String {
        self.output
            .iter()
            .find_map(|(_, item)| match item.get("type").and_then(Value::as_str) {
                Some("message") => item
                    .get("content")
                    .and_then(Value::as_array)
                    .and_then(|parts| parts.first())
                    .and_then(|part| part.get("text"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                Some("function_call") => {
                    let name = item.get("name").and_then(Value::as_str)?;
                    let arguments = item.get("arguments").and_then(Value::as_str)?;
                    let mut call = Map::new();
                    call.insert("type".into(), "function_call".into());
                    call.insert("name".into(), name.into());
                    call.insert("arguments".into(), arguments.into());
                    call.insert(
                        "call_id".into(),
                        item.get("call_id").cloned().unwrap_or(Value::Null),
                    );
                    Some(Value::Object(call).to_string())
                }
                _ => None,
            })
            .unwrap_or_default()
    }

    /// What a streamed `response.completed` / `response.incomplete` puts in place of the deltas:
    /// the first output item's first part's text (only the first item, unlike `text`).
    pub(crate) fn first_item_text(&self) -> Option<&str> {
        self.output
            .first()
            .and_then(|(_, item)| item.get("content"))
            .and_then(Value::as_array)
            .and_then(|parts| parts.first())
            .and_then(|part| part.get("text"))
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
    }
}

fn responses(value: &Value) -> Checked<LlmOutput> {
    let obj = as_object(value, "the body")?;
    reject_error_report(Api::Responses, obj, "output")?;
    let body = responses_body(obj, "")?;
    Ok(LlmOutput {
        content: body.text(),
        // Not streaming, BAML reports the status (`completed`, `incomplete`, `failed`) and does
        // not fail on it.
        finish_reason: Some(body.status.to_owned()),
        model: Some(body.model.to_owned()),
        usage: body.usage.unwrap_or_default(),
    })
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages (BAML: anthropic/types.rs `AnthropicMessageResponse`, response_handler.rs).

/// A Messages API `message` object, checked.
pub(crate) struct AnthropicBody<'v> {
    pub(crate) model: &'v str,
    /// The first `text` block; BAML ignores the others.
    pub(crate) first_text: Option<&'v str>,
    pub(crate) stop_reason: Option<&'v str>,
    pub(crate) usage: Usage,
}

pub(crate) fn anthropic_body<'v>(
    obj: &'v Map<String, Value>,
    path: &str,
) -> Checked<AnthropicBody<'v>> {
    req_str(obj, path, "id")?;
    req_str(obj, path, "role")?;
    req_str(obj, path, "type")?;
    let model = req_str(obj, path, "model")?;
    let mut first_text = None;
    for (block_path, block) in objects(req_arr(obj, path, "content")?, path, "content")? {
        match req_str(block, &block_path, "type")? {
            "text" => {
                let text = req_str(block, &block_path, "text")?;
                first_text.get_or_insert(text);
            }
            "tool_use" => {
                opt_str(block, &block_path, "id")?;
                req_str(block, &block_path, "name")?;
                required(block, &block_path, "input")?;
            }
            "redacted_thinking" => {
                req_str(block, &block_path, "data")?;
            }
            // `thinking`, server tools and future block types: not part of the answer.
            _ => {}
        }
    }
    let stop_reason = opt_str(obj, path, "stop_reason")?;
    opt_str(obj, path, "stop_sequence")?;
    let usage_path = field_path(path, "usage");
    let usage = req_obj(obj, path, "usage")?;
    let usage = Usage {
        input_tokens: Some(req_u64(usage, &usage_path, "input_tokens")?),
        output_tokens: Some(req_u64(usage, &usage_path, "output_tokens")?),
    };
    Ok(AnthropicBody {
        model,
        first_text,
        stop_reason,
        usage,
    })
}

fn anthropic_message(value: &Value) -> Checked<LlmOutput> {
    let obj = as_object(value, "the body")?;
    reject_error_report(Api::AnthropicMessages, obj, "content")?;
    let body = anthropic_body(obj, "")?;
    let Some(text) = body.first_text else {
        return Err(Fail::NoContent(
            "contains no text block (BAML requires one)".to_owned(),
        ));
    };
    Ok(LlmOutput {
        content: text.to_owned(),
        finish_reason: body.stop_reason.map(str::to_owned),
        model: Some(body.model.to_owned()),
        usage: body.usage,
    })
}

// ---------------------------------------------------------------------------------------------
// Gemini generateContent (BAML: google/types.rs `GoogleResponse`, response_handler.rs).

/// A `GenerateContentResponse` (whole, or one streamed chunk), checked.
pub(crate) struct GeminiBody<'v> {
    pub(crate) candidates: Vec<GeminiCandidate<'v>>,
    pub(crate) usage: Usage,
    pub(crate) model_version: Option<&'v str>,
}

pub(crate) struct GeminiCandidate<'v> {
    /// `None` when the candidate has no `content` (typically a safety stop).
    pub(crate) parts: Option<Vec<(&'v str, bool)>>,
    pub(crate) finish_reason: Option<&'v str>,
}

impl GeminiCandidate<'_> {
    /// The non-thought parts joined, or `None` if there are none (BAML's `text_content_part`).
    pub(crate) fn text(&self) -> Option<String> {
        let texts: Vec<&str> = self
            .parts
            .as_deref()?
            .iter()
            .filter(|(_, thought)| !thought)
            .map(|(text, _)| *text)
            .collect();
        (!texts.is_empty()).then(|| texts.concat())
    }
}

pub(crate) fn gemini_body(obj: &Map<String, Value>) -> Checked<GeminiBody<'_>> {
    reject_error_report(Api::GoogleGenerateContent, obj, "candidates")?;
    // A blocked prompt has no candidates; say so rather than "lacks candidates".
    let no_candidates = !matches!(obj.get("candidates"), Some(Value::Array(c)) if !c.is_empty());
    if no_candidates {
        let feedback = obj.get("promptFeedback");
        if let Some(reason) = feedback
            .and_then(|f| f.get("blockReason"))
            .and_then(Value::as_str)
        {
            let message = feedback
                .and_then(|f| f.get("blockReasonMessage"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            return Err(Fail::Blocked {
                reason: reason.to_owned(),
                message,
            });
        }
    }
    let mut candidates = Vec::new();
    for (path, candidate) in objects(req_arr(obj, "", "candidates")?, "", "candidates")? {
        opt_i32(candidate, &path, "index")?;
        let finish_reason = opt_str(candidate, &path, "finishReason")?;
        opt_str(candidate, &path, "finishMessage")?;
        let parts = match opt_obj(candidate, &path, "content")? {
            None => None,
            Some(content) => {
                let content_path = field_path(&path, "content");
                opt_str(content, &content_path, "role")?;
                // BAML defaults a missing `parts` to none, but rejects `null`.
                let mut parts = Vec::new();
                if content.contains_key("parts") {
                    for (part_path, part) in objects(
                        req_arr(content, &content_path, "parts")?,
                        &content_path,
                        "parts",
                    )? {
                        // BAML requires `text` on every part: a function call or inline data
                        // without text is rejected.
                        let text = req_str(part, &part_path, "text")?;
                        let thought = opt_bool(part, &part_path, "thought")?.unwrap_or(false);
                        parts.push((text, thought));
                    }
                }
                Some(parts)
            }
        };
        candidates.push(GeminiCandidate {
            parts,
            finish_reason,
        });
    }
    let usage = req_obj(obj, "", "usageMetadata")?;
    opt_u64(usage, "usageMetadata", "totalTokenCount")?;
    let usage = Usage {
        input_tokens: opt_u64(usage, "usageMetadata", "promptTokenCount")?,
        output_tokens: opt_u64(usage, "usageMetadata", "candidatesTokenCount")?,
    };
    let model_version = opt_str(obj, "", "modelVersion")?;
    Ok(GeminiBody {
        candidates,
        usage,
        model_version,
    })
}

fn gemini(value: &Value) -> Checked<LlmOutput> {
    let obj = as_object(value, "the body")?;
    let body = gemini_body(obj)?;
    let [candidate] = body.candidates.as_slice() else {
        return Err(Fail::Shape(format!(
            "has {} candidates, expected exactly one",
            body.candidates.len()
        )));
    };
    if candidate.parts.is_none() {
        return Err(Fail::NoContent(match candidate.finish_reason {
            Some(reason) => format!("has a candidate without content (finishReason {reason})"),
            None => "has a candidate without content".to_owned(),
        }));
    }
    Ok(LlmOutput {
        content: candidate.text().unwrap_or_default(),
        finish_reason: candidate.finish_reason.map(str::to_owned),
        model: body.model_version.map(str::to_owned),
        usage: body.usage,
    })
}
