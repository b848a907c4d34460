//! Response bodies and stream events shaped like the real provider APIs: OpenAI chat
//! completions, OpenAI Responses, Anthropic Messages and Gemini generateContent.

use serde_json::{json, Value};

use crate::http::Piece;

/// Which API a request speaks, from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `…/chat/completions` (OpenAI, openai-generic, ollama, Azure).
    Chat,
    /// `…/responses` (OpenAI Responses).
    Responses,
    /// `…/messages` (Anthropic).
    Anthropic,
    /// `…/models/{model}:generateContent` or `:streamGenerateContent`.
    Gemini {
        /// `streamGenerateContent`.
        stream: bool,
        /// `alt=sse`: server-sent events; otherwise a streamed JSON array.
        sse: bool,
    },
    /// `…/model/{id}/converse` or `…/converse-stream` (Bedrock, bedrock.rs).
    Bedrock { stream: bool },
}

impl Api {
    /// Routes a path (without query) to an API; the query matters only for Gemini's `alt=sse`.
    pub(crate) fn route(path: &str, query: &str) -> Option<Api> {
        if path.contains("/model/") && path.ends_with("/converse") {
            return Some(Api::Bedrock { stream: false });
        }
        if path.contains("/model/") && path.ends_with("/converse-stream") {
            return Some(Api::Bedrock { stream: true });
        }
        if path.contains("/models/")
            && (path.ends_with(":rawPredict") || path.ends_with(":streamRawPredict"))
        {
            return Some(Api::Anthropic);
        }
        if path.ends_with("/chat/completions") {
            Some(Api::Chat)
        } else if path.ends_with("/responses") {
            Some(Api::Responses)
        } else if path.ends_with("/messages") {
            Some(Api::Anthropic)
        } else if path.contains("/models/") && path.ends_with(":generateContent") {
            Some(Api::Gemini {
                stream: false,
                sse: false,
            })
        } else if path.contains("/models/") && path.ends_with(":streamGenerateContent") {
            Some(Api::Gemini {
                stream: true,
                sse: query.split('&').any(|kv| kv == "alt=sse"),
            })
        } else {
            None
        }
    }

    /// The model a path names: Gemini's `{model}` or Azure's deployment.
    pub(crate) fn model_from_path(self, path: &str) -> Option<String> {
        match self {
            Api::Bedrock { .. } => {
                let rest = &path[path.find("/model/")? + "/model/".len()..];
                let id = rest.split('/').next().unwrap_or(rest);
                Some(id.replace("%3A", ":").replace("%3a", ":"))
            }
            Api::Gemini { .. } | Api::Anthropic if path.contains("/models/") => {
                let rest = &path[path.rfind("/models/")? + "/models/".len()..];
                Some(rest.split(':').next().unwrap_or(rest).to_owned())
            }
            Api::Chat => {
                let rest = &path[path.find("/deployments/")? + "/deployments/".len()..];
                Some(rest.split('/').next().unwrap_or(rest).to_owned())
            }
            _ => None,
        }
    }
}

/// The content of a reply: literal text, or `n` filler bytes (`huge_body`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Text<'a> {
    Literal(&'a str),
    Filler(u64),
}

/// A stand-in for the filler inside a serialized body; it is plain ASCII, so it serializes
/// unchanged and can be found and cut out.
const FILLER_MARK: &str = "\u{1}mock_llm_filler\u{1}";

/// Serializes `build(text)`; with filler text, the filler is left as a [`Piece::Filler`].
fn render(text: Text<'_>, build: impl Fn(&str) -> Value) -> Vec<Piece> {
    match text {
        Text::Literal(s) => vec![Piece::Bytes(build(s).to_string().into_bytes())],
        Text::Filler(n) => {
            let serialized = build(FILLER_MARK).to_string();
            // Control characters are escaped by the serializer; look for the escaped form.
            let mark = Value::String(FILLER_MARK.into()).to_string();
            let mark = &mark[1..mark.len() - 1];
            match serialized.split_once(mark) {
                Some((before, after)) => vec![
                    Piece::Bytes(before.as_bytes().to_vec()),
                    Piece::Filler(n),
                    Piece::Bytes(after.as_bytes().to_vec()),
                ],
                None => vec![Piece::Bytes(serialized.into_bytes())],
            }
        }
    }
}

/// Token counts of one answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    pub input: u64,
    pub output: u64,
}

/// The abstract finish reason of a reply, mapped per API.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Finish<'a> {
    Stop,
    Length,
    Other(&'a str),
}

impl<'a> Finish<'a> {
    pub(crate) fn parse(reason: Option<&'a str>) -> Self {
        match reason {
            None | Some("stop") => Finish::Stop,
            Some("length") => Finish::Length,
            Some(other) => Finish::Other(other),
        }
    }

    fn openai(self) -> &'a str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::Other(s) => s,
        }
    }

    pub(crate) fn anthropic(self) -> &'a str {
        match self {
            Finish::Stop => "end_turn",
            Finish::Length => "max_tokens",
            Finish::Other(s) => s,
        }
    }

    fn gemini(self) -> &'a str {
        match self {
            Finish::Stop => "STOP",
            Finish::Length => "MAX_TOKENS",
            Finish::Other(s) => s,
        }
    }

    /// Responses: (`status`, `incomplete_details`).
    fn responses(self) -> (&'static str, Value) {
        match self {
            Finish::Stop => ("completed", Value::Null),
            Finish::Length => ("incomplete", json!({ "reason": "max_output_tokens" })),
            Finish::Other(s) => ("incomplete", json!({ "reason": s })),
        }
    }
}

/// What a response needs to know about the request it answers.
pub(crate) struct Call<'a> {
    pub api: Api,
    pub seq: u64,
    pub model: &'a str,
    /// Unix seconds.
    pub created: u64,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
}

/// A whole reply.
pub(crate) struct Answer<'a> {
    pub text: Text<'a>,
    pub finish: Finish<'a>,
    pub usage: Usage,
}

impl Call<'_> {
    fn chat_usage(usage: Usage) -> Value {
        json!({
            "prompt_tokens": usage.input,
            "completion_tokens": usage.output,
            "total_tokens": usage.input + usage.output,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        })
    }

    fn anthropic_usage(input: u64, output: u64) -> Value {
        json!({
            "input_tokens": input,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output
        })
    }

    fn gemini_usage(usage: Usage) -> Value {
        json!({
            "promptTokenCount": usage.input,
            "candidatesTokenCount": usage.output,
            "totalTokenCount": usage.input + usage.output
        })
    }

    fn response_id(&self) -> String {
        format!("resp_mock{}", self.seq)
    }

    fn item_id(&self) -> String {
        format!("msg_mock{}", self.seq)
    }

    /// A Responses API `response` object.
    fn response_object(
        &self,
        status: &str,
        incomplete: &Value,
        output: &Value,
        usage: &Value,
    ) -> Value {
        json!({
            "id": self.response_id(),
            "object": "response",
            "created_at": self.created,
            "status": status,
            "error": null,
            "incomplete_details": incomplete,
            "instructions": null,
            "max_output_tokens": null,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": true,
            "previous_response_id": null,
            "reasoning": { "effort": null, "summary": null },
            "store": true,
            "temperature": 1.0,
            "text": { "format": { "type": "text" } },
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "user": null,
            "metadata": {}
        })
    }

    fn responses_usage(usage: Usage) -> Value {
        json!({
            "input_tokens": usage.input,
            "input_tokens_details": { "cached_tokens": 0 },
            "output_tokens": usage.output,
            "output_tokens_details": { "reasoning_tokens": 0 },
            "total_tokens": usage.input + usage.output
        })
    }

    fn output_text_part(text: &str) -> Value {
        json!({ "type": "output_text", "annotations": [], "logprobs": [], "text": text })
    }

    fn message_item(&self, status: &str, text: Option<&str>) -> Value {
        let content = match text {
            Some(t) => json!([Self::output_text_part(t)]),
            None => json!([]),
        };
        json!({
            "id": self.item_id(),
            "type": "message",
            "status": status,
            "content": content,
            "role": "assistant"
        })
    }

    fn gemini_chunk(&self, text: &str, finish: Option<&str>, usage: Option<Usage>) -> Value {
        let mut candidate = json!({
            "content": { "parts": [{ "text": text }], "role": "model" },
            "index": 0
        });
        let mut chunk = json!({ "candidates": [] });
        if let (Some(reason), Some(obj)) = (finish, candidate.as_object_mut()) {
            obj.insert("finishReason".into(), reason.into());
        }
        if let Some(obj) = chunk.as_object_mut() {
            obj.insert("candidates".into(), json!([candidate]));
            if let Some(usage) = usage {
                obj.insert("usageMetadata".into(), Self::gemini_usage(usage));
            }
            obj.insert("modelVersion".into(), self.model.into());
            obj.insert("responseId".into(), format!("mock{}", self.seq).into());
        }
        chunk
    }

    /// The non-streaming body.
    pub(crate) fn body(&self, answer: &Answer<'_>) -> Vec<Piece> {
        let usage = answer.usage;
        match self.api {
            Api::Chat => render(answer.text, |text| {
                json!({
                    "id": format!("chatcmpl-mock{}", self.seq),
                    "object": "chat.completion",
                    "created": self.created,
                    "model": self.model,
                    "choices": [{
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": text,
                            "refusal": null,
                            "annotations": []
                        },
                        "logprobs": null,
                        "finish_reason": answer.finish.openai()
                    }],
                    "usage": Self::chat_usage(usage),
                    "service_tier": "default",
                    "system_fingerprint": "fp_mock"
                })
            }),
            Api::Responses => render(answer.text, |text| {
                let (status, incomplete) = answer.finish.responses();
                let item_status = if status == "completed" {
                    "completed"
                } else {
                    "incomplete"
                };
                self.response_object(
                    status,
                    &incomplete,
                    &json!([self.message_item(item_status, Some(text))]),
                    &Self::responses_usage(usage),
                )
            }),
            Api::Anthropic => render(answer.text, |text| {
                json!({
                    "id": format!("msg_mock{}", self.seq),
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [{ "type": "text", "text": text }],
                    "stop_reason": answer.finish.anthropic(),
                    "stop_sequence": null,
                    "usage": Self::anthropic_usage(usage.input, usage.output)
                })
            }),
            Api::Gemini { .. } => render(answer.text, |text| {
                self.gemini_chunk(text, Some(answer.finish.gemini()), Some(usage))
            }),
            Api::Bedrock { .. } => render(answer.text, |text| crate::bedrock::body(text, answer)),
        }
    }

    /// The events of a streamed answer, terminator included, one entry per event. `deltas`
    /// is the answer's text cut into pieces.
    pub(crate) fn stream(&self, answer: &Answer<'_>, deltas: &[Text<'_>]) -> Vec<Vec<Piece>> {
        match self.api {
            Api::Chat => self.chat_stream(answer, deltas),
            Api::Responses => self.responses_stream(answer, deltas),
            Api::Anthropic => self.anthropic_stream(answer, deltas),
            Api::Gemini { sse, .. } => self.gemini_stream(answer, deltas, sse),
            Api::Bedrock { .. } => crate::bedrock::stream(answer, deltas),
        }
    }

    fn chat_chunk(&self, choices: &Value, usage: Option<Value>) -> Value {
        let mut chunk = json!({
            "id": format!("chatcmpl-mock{}", self.seq),
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
            "choices": choices
        });
        if self.include_usage {
            if let Some(obj) = chunk.as_object_mut() {
                obj.insert("usage".into(), usage.unwrap_or(Value::Null));
            }
        }
        chunk
    }

    fn chat_stream(&self, answer: &Answer<'_>, deltas: &[Text<'_>]) -> Vec<Vec<Piece>> {
        let choice = |delta: Value, finish: Value| json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]);
        let mut events = vec![data_event(&self.chat_chunk(
            &choice(
                json!({ "role": "assistant", "content": "", "refusal": null }),
                Value::Null,
            ),
            None,
        ))];
        for delta in deltas {
            events.push(sse(
                None,
                render(*delta, |text| {
                    self.chat_chunk(&choice(json!({ "content": text }), Value::Null), None)
                }),
            ));
        }
        events.push(data_event(&self.chat_chunk(
            &choice(json!({}), answer.finish.openai().into()),
            None,
        )));
        if self.include_usage {
            events.push(data_event(
                &self.chat_chunk(&json!([]), Some(Self::chat_usage(answer.usage))),
            ));
        }
        events.push(vec![Piece::Bytes(b"data: [DONE]\n\n".to_vec())]);
        events
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one block per event, in the order the real API sends them"
    )]
    fn responses_stream(&self, answer: &Answer<'_>, deltas: &[Text<'_>]) -> Vec<Vec<Piece>> {
        let (status, incomplete) = answer.finish.responses();
        let item_status = if status == "completed" {
            "completed"
        } else {
            "incomplete"
        };
        let item_id = self.item_id();
        let mut seq = 0u64;
        let mut next = || {
            seq += 1;
            seq - 1
        };
        let mut events = Vec::new();
        let in_progress =
            self.response_object("in_progress", &Value::Null, &json!([]), &Value::Null);
        for kind in ["response.created", "response.in_progress"] {
            events.push(named_event(
                kind,
                &json!({ "type": kind, "sequence_number": next(), "response": in_progress }),
            ));
        }
        events.push(named_event(
            "response.output_item.added",
            &json!({
                "type": "response.output_item.added",
                "sequence_number": next(),
                "output_index": 0,
                "item": self.message_item("in_progress", None)
            }),
        ));
        events.push(named_event(
            "response.content_part.added",
            &json!({
                "type": "response.content_part.added",
                "sequence_number": next(),
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "part": Self::output_text_part("")
            }),
        ));
        for delta in deltas {
            let n = next();
            events.push(sse(
                Some("response.output_text.delta"),
                render(*delta, |text| {
                    json!({
                        "type": "response.output_text.delta",
                        "sequence_number": n,
                        "item_id": item_id,
                        "output_index": 0,
                        "content_index": 0,
                        "delta": text,
                        "logprobs": []
                    })
                }),
            ));
        }
        let n = next();
        events.push(sse(
            Some("response.output_text.done"),
            render(answer.text, |text| {
                json!({
                    "type": "response.output_text.done",
                    "sequence_number": n,
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "text": text,
                    "logprobs": []
                })
            }),
        ));
        let n = next();
        events.push(sse(
            Some("response.content_part.done"),
            render(answer.text, |text| {
                json!({
                    "type": "response.content_part.done",
                    "sequence_number": n,
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "part": Self::output_text_part(text)
                })
            }),
        ));
        let n = next();
        events.push(sse(
            Some("response.output_item.done"),
            render(answer.text, |text| {
                json!({
                    "type": "response.output_item.done",
                    "sequence_number": n,
                    "output_index": 0,
                    "item": self.message_item(item_status, Some(text))
                })
            }),
        ));
        // Like the real API: a response cut short ends with `response.incomplete`.
        let last = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        let n = next();
        events.push(sse(
            Some(last),
            render(answer.text, |text| {
                json!({
                    "type": last,
                    "sequence_number": n,
                    "response": self.response_object(
                        status,
                        &incomplete,
                        &json!([self.message_item(item_status, Some(text))]),
                        &Self::responses_usage(answer.usage),
                    )
                })
            }),
        ));
        events
    }

    fn anthropic_stream(&self, answer: &Answer<'_>, deltas: &[Text<'_>]) -> Vec<Vec<Piece>> {
        let mut events = vec![
            named_event(
                "message_start",
                &json!({
                    "type": "message_start",
                    "message": {
                        "id": format!("msg_mock{}", self.seq),
                        "type": "message",
                        "role": "assistant",
                        "model": self.model,
                        "content": [],
                        "stop_reason": null,
                        "stop_sequence": null,
                        "usage": Self::anthropic_usage(answer.usage.input, 1)
                    }
                }),
            ),
            named_event(
                "content_block_start",
                &json!({
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": { "type": "text", "text": "" }
                }),
            ),
            named_event("ping", &json!({ "type": "ping" })),
        ];
        for delta in deltas {
            events.push(sse(
                Some("content_block_delta"),
                render(*delta, |text| {
                    json!({
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": { "type": "text_delta", "text": text }
                    })
                }),
            ));
        }
        events.push(named_event(
            "content_block_stop",
            &json!({ "type": "content_block_stop", "index": 0 }),
        ));
        events.push(named_event(
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": { "stop_reason": answer.finish.anthropic(), "stop_sequence": null },
                "usage": { "output_tokens": answer.usage.output }
            }),
        ));
        events.push(named_event(
            "message_stop",
            &json!({ "type": "message_stop" }),
        ));
        events
    }

    fn gemini_stream(
        &self,
        answer: &Answer<'_>,
        deltas: &[Text<'_>],
        sse_framing: bool,
    ) -> Vec<Vec<Piece>> {
        let empty = [Text::Literal("")];
        let deltas = if deltas.is_empty() {
            &empty[..]
        } else {
            deltas
        };
        let mut events = Vec::with_capacity(deltas.len() + 1);
        for (i, delta) in deltas.iter().enumerate() {
            let last = i + 1 == deltas.len();
            let body = render(*delta, |text| {
                if last {
                    self.gemini_chunk(text, Some(answer.finish.gemini()), Some(answer.usage))
                } else {
                    // Gemini sends usage on every chunk; output counts arrive with the last.
                    let so_far = Usage {
                        input: answer.usage.input,
                        output: 0,
                    };
                    self.gemini_chunk(text, None, Some(so_far))
                }
            });
            if sse_framing {
                events.push(sse(None, body));
            } else {
                // Without `alt=sse` the stream is one JSON array, sent element by element.
                let open: &[u8] = if i == 0 { b"[" } else { b",\r\n" };
                let mut pieces = vec![Piece::Bytes(open.to_vec())];
                pieces.extend(body);
                events.push(merge(pieces));
            }
        }
        if !sse_framing {
            events.push(vec![Piece::Bytes(b"]".to_vec())]);
        }
        events
    }

    /// A body (or stream event) that claims to be JSON but is not.
    pub(crate) fn malformed(&self, stream: bool) -> Vec<Vec<Piece>> {
        let broken = format!(
            "{{\"id\": \"mock{}\", \"model\": \"{}\", \"choices\": [{{\"index\": 0, \"message\": {{\"content\": \"unterminated",
            self.seq,
            self.model.replace(['"', '\\'], "")
        );
        if !stream {
            return vec![vec![Piece::Bytes(broken.into_bytes())]];
        }
        let mut events = vec![match self.api {
            Api::Responses => sse(
                Some("response.output_text.delta"),
                vec![Piece::Bytes(broken.into_bytes())],
            ),
            Api::Anthropic => sse(
                Some("content_block_delta"),
                vec![Piece::Bytes(broken.into_bytes())],
            ),
            Api::Chat | Api::Gemini { sse: true, .. } => {
                sse(None, vec![Piece::Bytes(broken.into_bytes())])
            }
            Api::Gemini { sse: false, .. } => vec![Piece::Bytes(format!("[{broken}").into_bytes())],
            Api::Bedrock { .. } => vec![Piece::Bytes(crate::bedrock::frame(
                "contentBlockDelta",
                broken.as_bytes(),
            ))],
        }];
        match self.api {
            Api::Chat => events.push(vec![Piece::Bytes(b"data: [DONE]\n\n".to_vec())]),
            Api::Gemini { sse: false, .. } => events.push(vec![Piece::Bytes(b"]".to_vec())]),
            _ => {}
        }
        events
    }
}

/// The provider-shaped JSON error body for an HTTP status.
pub(crate) fn error_body(api: Option<Api>, status: u16, message: &str) -> Value {
    match api {
        Some(Api::Bedrock { .. }) => crate::bedrock::error_body(message),
        Some(Api::Anthropic) => {
            let kind = match status {
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ if status >= 500 => "api_error",
                _ => "invalid_request_error",
            };
            json!({ "type": "error", "error": { "type": kind, "message": message } })
        }
        Some(Api::Gemini { .. }) => {
            let kind = match status {
                400 => "INVALID_ARGUMENT",
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                409 => "ABORTED",
                429 => "RESOURCE_EXHAUSTED",
                499 => "CANCELLED",
                501 => "UNIMPLEMENTED",
                503 => "UNAVAILABLE",
                504 => "DEADLINE_EXCEEDED",
                _ if status >= 500 => "INTERNAL",
                _ => "FAILED_PRECONDITION",
            };
            json!({ "error": { "code": status, "message": message, "status": kind } })
        }
        _ => {
            let (kind, code) = match status {
                401 => ("invalid_request_error", Value::from("invalid_api_key")),
                403 => ("invalid_request_error", Value::from("permission_denied")),
                404 => ("invalid_request_error", Value::from("not_found")),
                429 => ("requests", Value::from("rate_limit_exceeded")),
                _ if status >= 500 => ("server_error", Value::Null),
                _ => ("invalid_request_error", Value::Null),
            };
            json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
        }
    }
}

fn merge(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match (out.last_mut(), piece) {
            (Some(Piece::Bytes(prev)), Piece::Bytes(b)) => prev.extend_from_slice(&b),
            (_, piece) => out.push(piece),
        }
    }
    out
}

/// Frames a JSON payload as a server-sent event.
fn sse(event: Option<&str>, data: Vec<Piece>) -> Vec<Piece> {
    let mut pieces = Vec::with_capacity(data.len() + 2);
    let mut prefix = Vec::new();
    if let Some(name) = event {
        prefix.extend_from_slice(b"event: ");
        prefix.extend_from_slice(name.as_bytes());
        prefix.push(b'\n');
    }
    prefix.extend_from_slice(b"data: ");
    pieces.push(Piece::Bytes(prefix));
    pieces.extend(data);
    pieces.push(Piece::Bytes(b"\n\n".to_vec()));
    merge(pieces)
}

fn data_event(value: &Value) -> Vec<Piece> {
    sse(None, vec![Piece::Bytes(value.to_string().into_bytes())])
}

fn named_event(name: &str, value: &Value) -> Vec<Piece> {
    sse(
        Some(name),
        vec![Piece::Bytes(value.to_string().into_bytes())],
    )
}

/// Cuts literal text into pieces of `chunk_chars` characters (never splitting a character),
/// or filler into 16 KiB pieces.
pub(crate) fn split_text(text: Text<'_>, chunk_chars: usize) -> Vec<Text<'_>> {
    match text {
        Text::Literal(s) => {
            let mut out = Vec::new();
            let mut start = 0;
            let mut count = 0;
            for (i, _) in s.char_indices() {
                if count == chunk_chars {
                    out.push(Text::Literal(&s[start..i]));
                    start = i;
                    count = 0;
                }
                count += 1;
            }
            if start < s.len() {
                out.push(Text::Literal(&s[start..]));
            }
            out
        }
        Text::Filler(n) => {
            const PIECE: u64 = 16 * 1024;
            let mut out = Vec::new();
            let mut left = n;
            while left > 0 {
                let take = left.min(PIECE);
                out.push(Text::Filler(take));
                left -= take;
            }
            out
        }
    }
}

/// Counts whitespace-separated words.
pub(crate) fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The default input token count: the words of every JSON string in the request body except
/// the values of `model`, `role` and `type` keys (or the words of the raw body if it is not
/// JSON). Rough, but deterministic.
pub(crate) fn input_tokens(body: Option<&Value>, raw: &[u8]) -> u64 {
    fn walk(value: &Value, total: &mut u64) {
        match value {
            Value::String(s) => *total += words(s),
            Value::Array(items) => items.iter().for_each(|v| walk(v, total)),
            Value::Object(map) => {
                for (key, v) in map {
                    if !matches!(key.as_str(), "model" | "role" | "type") {
                        walk(v, total);
                    }
                }
            }
            _ => {}
        }
    }
    match body {
        Some(value) => {
            let mut total = 0;
            walk(value, &mut total);
            total
        }
        None => words(&String::from_utf8_lossy(raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_characters() {
        let pieces: Vec<String> = split_text(Text::Literal("héllo wörld!"), 4)
            .into_iter()
            .map(|t| match t {
                Text::Literal(s) => s.to_owned(),
                Text::Filler(_) => unreachable!(),
            })
            .collect();
        assert_eq!(pieces, ["héll", "o wö", "rld!"]);
        assert!(split_text(Text::Literal(""), 4).is_empty());
        assert_eq!(split_text(Text::Filler(40_000), 8).len(), 3);
    }

    #[test]
    fn routes() {
        assert_eq!(Api::route("/v1/chat/completions", ""), Some(Api::Chat));
        assert_eq!(
            Api::route("/v1beta/models/gemini-pro:streamGenerateContent", "alt=sse"),
            Some(Api::Gemini {
                stream: true,
                sse: true
            })
        );
        assert_eq!(
            Api::Chat.model_from_path("/openai/deployments/my-dep/chat/completions"),
            Some("my-dep".to_owned())
        );
        assert_eq!(
            Api::Gemini {
                stream: false,
                sse: false
            }
            .model_from_path("/v1beta/models/gemini-2.0-flash:generateContent"),
            Some("gemini-2.0-flash".to_owned())
        );
        assert_eq!(Api::route("/v1/models", ""), None);
    }

    #[test]
    fn filler_is_cut_out_of_the_serialized_body() {
        let pieces = render(Text::Filler(10), |t| json!({ "a": t, "b": 1 }));
        assert_eq!(pieces.len(), 3);
        assert!(matches!(&pieces[0], Piece::Bytes(b) if b == br#"{"a":""#));
        assert!(matches!(pieces[1], Piece::Filler(10)));
        assert!(matches!(&pieces[2], Piece::Bytes(b) if b == br#"","b":1}"#));
    }

    #[test]
    fn input_tokens_skip_model_role_and_type() {
        let body = json!({
            "model": "gpt four",
            "messages": [{ "role": "user", "content": [{ "type": "text", "text": "one two three" }] }]
        });
        assert_eq!(input_tokens(Some(&body), b""), 3);
        assert_eq!(input_tokens(None, b"a b"), 2);
    }
}
