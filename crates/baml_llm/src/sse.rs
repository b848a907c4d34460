//! Server-sent events: decoding the byte stream and accumulating a streamed answer.
//!
//! [`SseDecoder`] follows the WHATWG event-stream rules and is fed whatever chunks the network
//! delivers. [`StreamAccumulator`] turns a provider's events into one answer the way BAML 0.226
//! does (same required fields, same places for text, finish reason and usage), with two additions
//! BAML lacks: a stream that ends before its terminal event is an error rather than a short
//! answer, and error events of every provider are recognised as errors.

use std::mem;

use serde_json::{Map, Value};

use crate::response::{
    anthropic_body, as_object, chat_chunk, gemini_body, opt_obj, opt_str, opt_u64, parse_json,
    provider_error_message, reject_error_report, req_obj, req_str, req_u32, responses_body, Api,
    Checked, Fail, LlmOutput, ResponseError, Usage,
};

/// The default bound on one event: the bytes of its unfinished line plus its buffered data.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` when absent or empty (the spec's default type `message`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event ID seen so far in the stream (it carries over to later events, as the
    /// spec's "last event ID" does); `None` until an `id:` field appears.
    pub id: Option<String>,
}

/// Incremental event-stream decoder.
///
/// Chunks may split anywhere: inside a line, between `\r` and `\n`, inside a UTF-8 sequence.
/// Lines end with `\n`, `\r\n` or `\r`; a blank line dispatches the event; lines starting with `:`
/// are comments; a single space after the field's colon is dropped; an event without `data` is
/// not dispatched; a leading byte-order mark is skipped; invalid UTF-8 becomes U+FFFD.
#[derive(Debug)]
pub struct SseDecoder {
    /// Bytes of the line being received (no terminator yet).
    line: Vec<u8>,
    /// The previous line ended with `\r`: a `\n` arriving next belongs to it.
    after_cr: bool,
    /// Set once the stream's first bytes have been checked for a byte-order mark.
    bom_checked: bool,
    event_type: String,
    /// Each data line followed by `\n`, as the spec's data buffer.
    data: String,
    last_id: Option<String>,
    max_event_bytes: usize,
    failed: bool,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// A decoder that refuses events over [`DEFAULT_MAX_EVENT_BYTES`].
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that refuses an event once its unfinished line plus its data exceed
    /// `max_event_bytes`.
    pub fn with_limit(max_event_bytes: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            bom_checked: false,
            event_type: String::new(),
            data: String::new(),
            last_id: None,
            max_event_bytes,
            failed: false,
        }
    }

    /// Feeds the next chunk; returns the events it completed, in order.
    ///
    /// After an [`ResponseError::EventTooLarge`] the decoder stays failed: the rest of the stream
    /// cannot be framed reliably, so every later call returns the same error.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, ResponseError> {
        if self.failed {
            return Err(self.too_large());
        }
        if self.bom_checked {
            return self.push_checked(bytes);
        }
        // The mark may itself arrive split: hold the first bytes until it is certain.
        self.line.extend_from_slice(bytes);
        if self.line.len() < BOM.len() && BOM.starts_with(&self.line) {
            return Ok(Vec::new());
        }
        self.bom_checked = true;
        let held = mem::take(&mut self.line);
        self.push_checked(held.strip_prefix(BOM).unwrap_or(&held))
    }

    fn push_checked(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, ResponseError> {
        let mut events = Vec::new();
        let mut rest = bytes;
        if self.after_cr && !rest.is_empty() {
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
            self.after_cr = false;
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let is_cr = rest[end] == b'\r';
            if self.line.is_empty() {
                self.process_line(&rest[..end], &mut events)?;
            } else {
                let mut line = mem::take(&mut self.line);
                line.extend_from_slice(&rest[..end]);
                let result = self.process_line(&line, &mut events);
                line.clear();
                self.line = line; // keep the allocation
                result?;
            }
            rest = &rest[end + 1..];
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(rest);
        self.check_size()?;
        Ok(events)
    }

    /// Ends the stream. Per the spec an event not closed by a blank line is discarded, and so is
    /// an unterminated last line: both are dropped here, and this returns no events. (A final
    /// lone `\r` already ended its line when it arrived.) The decoder is then reset for reuse.
    pub fn finish(&mut self) -> Result<Vec<SseEvent>, ResponseError> {
        if self.failed {
            return Err(self.too_large());
        }
        *self = Self::with_limit(self.max_event_bytes);
        Ok(Vec::new())
    }

    fn process_line(
        &mut self,
        line: &[u8],
        events: &mut Vec<SseEvent>,
    ) -> Result<(), ResponseError> {
        if line.is_empty() {
            self.dispatch(events);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"event" => self.event_type = String::from_utf8_lossy(value).into_owned(),
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
                self.check_size()?;
            }
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            // `retry` only matters to a reconnecting client; unknown fields are ignored.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        let event_type = mem::take(&mut self.event_type);
        if self.data.is_empty() {
            return;
        }
        let mut data = mem::take(&mut self.data);
        data.pop(); // the `\n` after the last data line
        events.push(SseEvent {
            event: (!event_type.is_empty()).then_some(event_type),
            data,
            id: self.last_id.clone(),
        });
    }

    fn check_size(&mut self) -> Result<(), ResponseError> {
        if self.line.len() + self.data.len() + self.event_type.len() > self.max_event_bytes {
            self.failed = true;
            self.line = Vec::new();
            self.data = String::new();
            return Err(self.too_large());
        }
        Ok(())
    }

    fn too_large(&self) -> ResponseError {
        ResponseError::EventTooLarge {
            limit: self.max_event_bytes,
        }
    }
}

/// Accumulates one streamed answer from its decoded events.
///
/// An `Err` from [`push`](Self::push) concerns that event only and leaves the accumulator as it
/// was: BAML keeps reading after an event it cannot use and fails the call only if the stream's
/// last event failed, and [`finish`](Self::finish) reproduces that (the error of the last event
/// is returned if no good event came after it). A caller may equally stop at the first error.
#[derive(Debug)]
pub struct StreamAccumulator {
    api: Api,
    content: String,
    finish_reason: Option<String>,
    model: Option<String>,
    usage: Usage,
    /// The terminal event of the API has been seen.
    done: bool,
    /// `data: [DONE]` arrived: BAML stops reading the stream there, whatever the API.
    stopped: bool,
    last_error: Option<ResponseError>,
    events: usize,
}

impl StreamAccumulator {
    pub fn new(api: Api) -> Self {
        Self {
            api,
            content: String::new(),
            finish_reason: None,
            model: None,
            usage: Usage::default(),
            done: false,
            stopped: false,
            last_error: None,
            events: 0,
        }
    }

    /// Applies one event; returns the text it appended (empty for events without text, and for
    /// the rare final event that replaces the text with something that does not extend it — read
    /// [`content`](Self::content) then).
    ///
    /// Errors on an error event (Anthropic and Responses `error`, `response.failed`, an
    /// `{"error": …}` payload, any `event: error`), on data that is not JSON, and on an event
    /// lacking a field BAML requires.
    pub fn push(&mut self, event: &SseEvent) -> Result<&str, ResponseError> {
        if self.stopped {
            return Ok("");
        }
        self.events += 1;
        if event.data == "[DONE]" {
            // Not a JSON event: BAML ends the stream here for every API, and only the
            // chat completions API uses it as its terminal event.
            self.stopped = true;
            self.done |= self.api == Api::ChatCompletions;
            return Ok("");
        }
        match self.apply(event) {
            Ok(delta_from) => {
                self.last_error = None;
                Ok(&self.content[delta_from..])
            }
            Err(error) => {
                self.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// The text so far.
    pub fn content(&self) -> &str {
        &self.content
    }

    /// The finish reason so far (the provider's own value).
    pub fn finish_reason(&self) -> Option<&str> {
        self.finish_reason.as_deref()
    }

    /// The token counts so far.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// Whether the API's terminal event has been seen: `data: [DONE]` (chat completions),
    /// `message_stop` (Anthropic), `response.completed` or `response.incomplete` (Responses),
    /// a chunk with a `finishReason` (Gemini).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The final answer. Errors with the last event's error if the stream ended on a failed
    /// event, and with [`ResponseError::Truncated`] if it ended before its terminal event.
    pub fn finish(self) -> Result<LlmOutput, ResponseError> {
        if let Some(error) = self.last_error {
            return Err(error);
        }
        if !self.done {
            return Err(ResponseError::Truncated {
                api: self.api,
                missing: match self.api {
                    Api::ChatCompletions => "`data: [DONE]`",
                    Api::Responses => "a `response.completed` event",
                    Api::AnthropicMessages => "a `message_stop` event",
                    Api::GoogleGenerateContent => "a chunk with a `finishReason`",
                    Api::BedrockConverse => "a `messageStop` event",
                },
                events: self.events,
            });
        }
        Ok(LlmOutput {
            content: self.content,
            finish_reason: self.finish_reason,
            model: self.model,
            usage: self.usage,
        })
    }

    /// Applies a JSON event; returns where in `content` the text it added starts. Nothing is
    /// changed when it fails.
    fn apply(&mut self, event: &SseEvent) -> Result<usize, ResponseError> {
        let api = self.api;
        let raw = event.data.as_bytes();
        let value = parse_json(api, raw)?;
        let checked = if event.event.as_deref() == Some("error") {
            Err(Fail::Provider(
                error_event_message(api, &value).unwrap_or_else(|| event.data.clone()),
            ))
        } else {
            match api {
                Api::ChatCompletions => self.chat_event(&value),
                Api::Responses => self.responses_event(&value),
                Api::AnthropicMessages => self.anthropic_event(&value),
                Api::GoogleGenerateContent => self.gemini_event(&value),
                Api::BedrockConverse => Ok(self.bedrock_event(event.event.as_deref(), &value)),
            }
        };
        checked.map_err(|fail| fail.into_error(api, raw))
    }

    /// A Converse stream event (aws-bedrock): text deltas, the stop reason, token counts.
    fn bedrock_event(&mut self, kind: Option<&str>, value: &Value) -> usize {
        let from = self.content.len();
        match kind {
            Some("contentBlockDelta") => {
                if let Some(text) = value.pointer("/delta/text").and_then(Value::as_str) {
                    return self.append(text);
                }
            }
            Some("messageStop") => {
                self.finish_reason = value
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                self.done = true;
            }
            Some("metadata") => {
                let count = |k: &str| {
                    value
                        .pointer(&format!("/usage/{k}"))
                        .and_then(Value::as_u64)
                };
                self.usage.input_tokens = count("inputTokens").or(self.usage.input_tokens);
                self.usage.output_tokens = count("outputTokens").or(self.usage.output_tokens);
            }
            _ => {}
        }
        from
    }

    fn append(&mut self, text: &str) -> usize {
        let from = self.content.len();
        self.content.push_str(text);
        from
    }

    /// Replaces the text; the delta is what the new text adds if it extends the old one.
    fn replace(&mut self, text: &str) -> usize {
        if let Some(added) = text.strip_prefix(self.content.as_str()) {
            self.append(added)
        } else {
            text.clone_into(&mut self.content);
            self.content.len()
        }
    }

    fn chat_event(&mut self, value: &Value) -> Checked<usize> {
        let obj = as_object(value, "the event")?;
        reject_error_report(Api::ChatCompletions, obj, "choices")?;
        let chunk = chat_chunk(obj)?;
        let mut from = self.content.len();
        // Like BAML: only a chunk with a choice sets the model, and it sets the finish reason
        // even to null (the reason is the last choice-bearing chunk's); usage-only chunks
        // (`choices: []`) carry the counts.
        if let Some((content, finish_reason)) = chunk.first_choice {
            from = self.append(content.unwrap_or_default());
            self.model = Some(chunk.model.to_owned());
            self.finish_reason = finish_reason.map(str::to_owned);
        }
        if let Some(usage) = chunk.usage {
            self.usage = usage;
        }
        Ok(from)
    }

    fn anthropic_event(&mut self, value: &Value) -> Checked<usize> {
        let obj = as_object(value, "the event")?;
        reject_error_report(Api::AnthropicMessages, obj, "type")?;
        let from = self.content.len();
        match req_str(obj, "", "type")? {
            "message_start" => {
                let body = anthropic_body(req_obj(obj, "", "message")?, "message")?;
                self.model = Some(body.model.to_owned());
                self.finish_reason = body.stop_reason.map(str::to_owned);
                self.usage = body.usage;
            }
            "content_block_delta" => {
                req_u32(obj, "", "index")?;
                let delta = req_obj(obj, "", "delta")?;
                // Thinking, signature and tool-input deltas are not part of the answer.
                if req_str(delta, "delta", "type")? == "text_delta" {
                    return Ok(self.append(req_str(delta, "delta", "text")?));
                }
            }
            "message_delta" => {
                let delta = req_obj(obj, "", "delta")?;
                let stop_reason = opt_str(delta, "delta", "stop_reason")?;
                opt_str(delta, "delta", "stop_sequence")?;
                // BAML 0.226 wants `usage.input_tokens` here, which the API does not always
                // send; it then drops the event and reports message_start's output count.
                // We read the output count the API documents for this event.
                let output_tokens = match opt_obj(obj, "", "usage")? {
                    Some(usage) => opt_u64(usage, "usage", "output_tokens")?,
                    None => None,
                };
                self.finish_reason = stop_reason.map(str::to_owned);
                if output_tokens.is_some() {
                    self.usage.output_tokens = output_tokens;
                }
            }
            "message_stop" => self.done = true,
            "error" => {
                opt_obj(obj, "", "error")?;
                // BAML reports the message alone, empty if there is none; we add the type.
                let message =
                    error_event_message(Api::AnthropicMessages, value).unwrap_or_default();
                return Err(Fail::Provider(message));
            }
            // ping, content_block_start/stop (their blocks carry no text yet) and new types.
            _ => {}
        }
        Ok(from)
    }

    fn gemini_event(&mut self, value: &Value) -> Checked<usize> {
        let obj = as_object(value, "the event")?;
        let body = gemini_body(obj)?;
        let mut from = self.content.len();
        // BAML reads the first candidate of each chunk; its finish reason overwrites the last
        // one (a later chunk without one clears it), and so do the chunk's token counts.
        if let Some(candidate) = body.candidates.first() {
            if let Some(text) = candidate.text() {
                from = self.append(&text);
            }
            self.finish_reason = candidate.finish_reason.map(str::to_owned);
            self.done |= candidate.finish_reason.is_some();
        }
        self.usage = body.usage;
        if let Some(model) = body.model_version {
            self.model = Some(model.to_owned());
        }
        Ok(from)
    }

    fn responses_event(&mut self, value: &Value) -> Checked<usize> {
        let obj = as_object(value, "the event")?;
        reject_error_report(Api::Responses, obj, "type")?;
        let from = self.content.len();
        let kind = req_str(obj, "", "type")?;
        match kind {
            "response.created" | "response.in_progress" => {
                req_u32(obj, "", "sequence_number")?;
                let body = responses_body(req_obj(obj, "", "response")?, "response")?;
                self.model = Some(body.model.to_owned());
            }
            "response.completed" | "response.incomplete" => {
                req_u32(obj, "", "sequence_number")?;
                let body = responses_body(req_obj(obj, "", "response")?, "response")?;
                self.model = Some(body.model.to_owned());
                // Streaming, BAML reports `incomplete_details.reason`, so a completed stream
                // has no finish reason (unlike the non-streaming status).
                self.finish_reason = body.incomplete_reason.map(str::to_owned);
                let text = body.first_item_text();
                self.done = true;
                if let Some(usage) = body.usage.clone() {
                    self.usage = usage;
                }
                if let Some(text) = text {
                    return Ok(self.replace(text));
                }
            }
            "response.failed" => {
                req_u32(obj, "", "sequence_number")?;
                let response = req_obj(obj, "", "response")?;
                let body = responses_body(response, "response")?;
                let message = body
                    .error
                    .and_then(|error| provider_error_message(Api::Responses, &error_wrapper(error)))
                    .unwrap_or_else(|| format!("response status `{}`", body.status));
                return Err(Fail::Provider(message));
            }
            "error" => {
                // BAML 0.226 ignores this event; it ends the stream, so it is an error here.
                let message =
                    error_event_message(Api::Responses, value).unwrap_or_else(|| value.to_string());
                return Err(Fail::Provider(message));
            }
            "response.output_text.delta" => {
                text_event_position(obj)?;
                return Ok(self.append(req_str(obj, "", "delta")?));
            }
            "response.output_text.done" => {
                text_event_position(obj)?;
                let text = req_str(obj, "", "text")?;
                if self.content.is_empty() {
                    return Ok(self.append(text));
                }
            }
            "response.content_part.added" | "response.content_part.done" => {
                text_event_position(obj)?;
                let part = req_obj(obj, "", "part")?;
                let part_type = req_str(part, "part", "type")?;
                let text = req_str(part, "part", "text")?;
                if kind == "response.content_part.done"
                    && self.content.is_empty()
                    && part_type == "output_text"
                {
                    return Ok(self.append(text));
                }
            }
            // Output items, reasoning summaries, tool calls, and new event types.
            _ => {}
        }
        Ok(from)
    }
}

/// Fields BAML requires on every text-position event of the Responses stream.
fn text_event_position(obj: &Map<String, Value>) -> Checked<()> {
    req_str(obj, "", "item_id")?;
    req_u32(obj, "", "output_index")?;
    req_u32(obj, "", "content_index")?;
    req_u32(obj, "", "sequence_number")?;
    Ok(())
}

/// The message of an error event: its `error` object (Anthropic, most proxies), or the event
/// itself read as one (Responses' `{"type": "error", "code", "message"}`).
fn error_event_message(api: Api, value: &Value) -> Option<String> {
    if value.get("error").is_some_and(|e| !e.is_null()) {
        return provider_error_message(api, value);
    }
    let mut error = value.as_object()?.clone();
    // The event's own `type` ("error") and position say nothing about the error.
    error.remove("type");
    error.remove("sequence_number");
    provider_error_message(api, &error_wrapper(&Value::Object(error)))
}

/// `{"error": value}`, so that `provider_error_message` reads a bare error object.
fn error_wrapper(error: &Value) -> Value {
    let mut obj = Map::new();
    obj.insert("error".into(), error.clone());
    Value::Object(obj)
}
