//! Streamed answers of each wire API, from raw event-stream bytes to one `LlmOutput`: text,
//! finish reason and usage as BAML 0.226 reads them, truncated streams and error events.
#![expect(clippy::unwrap_used, reason = "a test fails by panicking")]

use baml_llm::response::{Api, LlmOutput, ResponseError, Usage};
use baml_llm::sse::{SseDecoder, SseEvent, StreamAccumulator};
use serde_json::{json, Value};

/// Decodes `stream` in the given chunks and pushes every event; returns the per-event results
/// (the text delta or the error message) and the final result.
fn run_chunks(
    api: Api,
    chunks: &[&[u8]],
) -> (
    Vec<Result<String, String>>,
    Result<LlmOutput, ResponseError>,
) {
    let mut decoder = SseDecoder::new();
    let mut acc = StreamAccumulator::new(api);
    let mut pushed = Vec::new();
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(decoder.push(chunk).unwrap());
    }
    events.extend(decoder.finish().unwrap());
    for event in &events {
        pushed.push(
            acc.push(event)
                .map(str::to_owned)
                .map_err(|e| e.to_string()),
        );
    }
    (pushed, acc.finish())
}

fn run(
    api: Api,
    stream: &str,
) -> (
    Vec<Result<String, String>>,
    Result<LlmOutput, ResponseError>,
) {
    run_chunks(api, &[stream.as_bytes()])
}

fn finish_ok(api: Api, stream: &str) -> LlmOutput {
    match run(api, stream).1 {
        Ok(out) => out,
        Err(e) => panic!("expected an answer, got {e}"),
    }
}

fn finish_err(api: Api, stream: &str) -> ResponseError {
    match run(api, stream).1 {
        Ok(out) => panic!("expected an error, got {out:?}"),
        Err(e) => e,
    }
}

fn deltas(results: &[Result<String, String>]) -> Vec<&str> {
    results
        .iter()
        .filter_map(|r| r.as_deref().ok())
        .filter(|d| !d.is_empty())
        .collect()
}

fn data_line(value: &Value) -> String {
    format!("data: {value}\n\n")
}

fn named(event: &str, value: &Value) -> String {
    format!("event: {event}\ndata: {value}\n\n")
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: Some(input),
        output_tokens: Some(output),
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI chat completions

fn chunk(choices: &Value) -> Value {
    json!({
        "id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1_694_268_190,
        "model": "gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb", "choices": choices
    })
}

fn delta(content: Option<&str>, finish: Option<&str>) -> String {
    data_line(&chunk(
        &json!([{ "index": 0, "delta": { "content": content }, "logprobs": null, "finish_reason": finish }]),
    ))
}

fn openai_stream() -> String {
    let mut usage_chunk = chunk(&json!([]));
    usage_chunk["usage"] =
        json!({ "prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21 });
    [
        data_line(&chunk(&json!([{ "index": 0, "delta": { "role": "assistant", "content": "", "refusal": null }, "finish_reason": null }]))),
        delta(Some("Hel"), None),
        delta(Some("lo, wörld"), None),
        ": OPENROUTER PROCESSING\n\n".to_owned(),
        delta(Some("!"), None),
        delta(None, Some("stop")),
        data_line(&usage_chunk),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat()
}

/// OpenAI-compatible servers behind openai-generic, ollama and azure-openai: without usage
/// (nothing asked for it, as BAML asks for none there), with usage on the last choice-bearing
/// chunk (llama.cpp, Ollama), and with running usage on every chunk (vLLM's continuous usage):
/// the last counts win.
#[test]
fn openai_compatible_streams_count_usage_wherever_the_server_puts_it() {
    let without = [
        delta(Some("Hi"), None),
        delta(None, Some("stop")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    assert_eq!(
        finish_ok(Api::ChatCompletions, &without).usage,
        Usage::default()
    );

    let mut last = chunk(&json!([{ "index": 0, "delta": {}, "finish_reason": "stop" }]));
    last["usage"] = json!({ "prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6 });
    let on_last = [
        delta(Some("Hi"), None),
        data_line(&last),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let out = finish_ok(Api::ChatCompletions, &on_last);
    assert_eq!((out.content.as_str(), out.usage), ("Hi", usage(4, 2)));

    let running = |text: &str, done: u64| {
        let mut c =
            chunk(&json!([{ "index": 0, "delta": { "content": text }, "finish_reason": null }]));
        c["usage"] =
            json!({ "prompt_tokens": 4, "completion_tokens": done, "total_tokens": 4 + done });
        data_line(&c)
    };
    let continuous = [
        running("a", 1),
        running("b", 2),
        running("c", 3),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let out = finish_ok(Api::ChatCompletions, &continuous);
    assert_eq!((out.content.as_str(), out.usage), ("abc", usage(4, 3)));
}

#[test]
fn openai_stream_accumulates_text_finish_reason_model_and_usage() {
    let (pushed, out) = run(Api::ChatCompletions, &openai_stream());
    assert_eq!(deltas(&pushed), ["Hel", "lo, wörld", "!"]);
    assert_eq!(
        out.unwrap(),
        LlmOutput {
            content: "Hello, wörld!".into(),
            finish_reason: Some("stop".into()),
            model: Some("gpt-4o-mini".into()),
            usage: usage(9, 12),
        }
    );
}

#[test]
fn openai_stream_split_at_every_byte_gives_the_same_answer() {
    let stream = openai_stream().replace('\n', "\r\n");
    let expected = finish_ok(Api::ChatCompletions, &stream);
    let bytes = stream.as_bytes();
    for split in 0..=bytes.len() {
        let (a, b) = bytes.split_at(split);
        assert_eq!(
            run_chunks(Api::ChatCompletions, &[a, b]).1.unwrap(),
            expected,
            "split at {split}"
        );
    }
}

#[test]
fn openai_stream_without_done_is_truncated() {
    let stream = openai_stream().replace("data: [DONE]\n\n", "");
    let err = finish_err(Api::ChatCompletions, &stream);
    assert!(
        matches!(err, ResponseError::Truncated { events: 6, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("[DONE]"), "{err}");

    let mut acc = StreamAccumulator::new(Api::ChatCompletions);
    assert!(!acc.is_done());
    acc.push(&SseEvent {
        data: "[DONE]".into(),
        ..SseEvent::default()
    })
    .unwrap();
    assert!(acc.is_done());
}

#[test]
fn openai_stream_stops_reading_at_done() {
    let stream = format!(
        "{}{}{}",
        delta(Some("a"), Some("stop")),
        "data: [DONE]\n\n",
        delta(Some("b"), None)
    );
    let (pushed, out) = run(Api::ChatCompletions, &stream);
    assert_eq!(pushed.last(), Some(&Ok(String::new())));
    assert_eq!(out.unwrap().content, "a");
}

#[test]
fn openai_finish_reason_is_the_last_choice_chunks() {
    // BAML overwrites it with every chunk that has a choice, even with null.
    let stream = format!(
        "{}{}data: [DONE]\n\n",
        delta(Some("a"), Some("length")),
        delta(Some("b"), None)
    );
    assert_eq!(finish_ok(Api::ChatCompletions, &stream).finish_reason, None);
    // A usage-only chunk does not touch it.
    let stream = openai_stream();
    assert_eq!(
        finish_ok(Api::ChatCompletions, &stream)
            .finish_reason
            .as_deref(),
        Some("stop")
    );
}

#[test]
fn openai_reads_only_the_first_choice_of_a_chunk() {
    let two = chunk(&json!([
        { "index": 0, "delta": { "content": "a" } },
        { "index": 1, "delta": { "content": "b" } }
    ]));
    let other = chunk(&json!([{ "index": 1, "delta": { "content": "c" } }]));
    let stream = format!("{}{}data: [DONE]\n\n", data_line(&two), data_line(&other));
    assert_eq!(finish_ok(Api::ChatCompletions, &stream).content, "ac");
}

#[test]
fn openai_chunk_lacking_a_required_field_fails_that_event() {
    let no_model = json!({ "choices": [{ "index": 0, "delta": { "content": "X" } }] });
    let no_index = chunk(&json!([{ "delta": { "content": "X" } }]));
    let no_delta = chunk(&json!([{ "index": 0, "finish_reason": "stop" }]));
    let no_choices = json!({ "id": "x", "model": "m", "usage": { "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2 } });
    let no_total = {
        let mut c = chunk(&json!([]));
        c["usage"] = json!({ "prompt_tokens": 1, "completion_tokens": 1 });
        c
    };
    for (bad, field) in [
        (no_model, "`model`"),
        (no_index, "`choices[0].index`"),
        (no_delta, "`choices[0].delta`"),
        (no_choices, "`choices`"),
        (no_total, "`usage.total_tokens`"),
    ] {
        // In the middle, BAML drops the event and goes on; at the end, the call fails.
        let middle = format!(
            "{}{}{}data: [DONE]\n\n",
            delta(Some("a"), None),
            data_line(&bad),
            delta(Some("b"), Some("stop"))
        );
        let (pushed, out) = run(Api::ChatCompletions, &middle);
        let message = pushed[1].clone().unwrap_err();
        assert!(message.contains(field), "{message:?} should name {field}");
        assert_eq!(out.unwrap().content, "ab");

        let last = format!(
            "{}{}data: [DONE]\n\n",
            delta(Some("a"), Some("stop")),
            data_line(&bad)
        );
        let err = finish_err(Api::ChatCompletions, &last);
        assert!(matches!(err, ResponseError::Shape { .. }), "{err:?}");
    }
}

#[test]
fn openai_error_payload_and_bad_json_are_errors() {
    let error = json!({ "error": { "message": "Rate limit reached for gpt-4o", "type": "requests", "code": "rate_limit_exceeded" } });
    let stream = format!("{}{}", delta(Some("a"), None), data_line(&error));
    let (pushed, out) = run(Api::ChatCompletions, &stream);
    assert_eq!(pushed[1], Err("chat completion reported an error: Rate limit reached for gpt-4o (rate_limit_exceeded)".into()));
    assert!(
        matches!(out, Err(ResponseError::Provider { .. })),
        "{out:?}"
    );

    // Even when [DONE] follows: BAML's last event is the failure.
    let stream = format!(
        "{}{}data: [DONE]\n\n",
        delta(Some("a"), None),
        data_line(&error)
    );
    assert!(matches!(
        run(Api::ChatCompletions, &stream).1,
        Err(ResponseError::Provider { .. })
    ));

    let stream = format!("{}data: {{\"choices\": [\n\n", delta(Some("a"), None));
    let err = finish_err(Api::ChatCompletions, &stream);
    assert!(matches!(err, ResponseError::NotJson { .. }), "{err:?}");

    let stream = format!(
        "{}event: error\ndata: {{\"message\": \"upstream timeout\"}}\n\n",
        delta(Some("a"), None)
    );
    let err = finish_err(Api::ChatCompletions, &stream);
    assert_eq!(
        err.to_string(),
        "chat completion reported an error: upstream timeout"
    );
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages

fn anthropic_stream() -> String {
    [
        named("message_start", &json!({ "type": "message_start", "message": {
            "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [],
            "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1 } } })),
        named("content_block_start", &json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "thinking", "thinking": "", "signature": "" } })),
        named("content_block_delta", &json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "thinking_delta", "thinking": "Let me think." } })),
        named("content_block_delta", &json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds" } })),
        named("content_block_stop", &json!({ "type": "content_block_stop", "index": 0 })),
        named("ping", &json!({ "type": "ping" })),
        named("content_block_start", &json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "text", "text": "" } })),
        named("content_block_delta", &json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "text_delta", "text": "Hello" } })),
        named("content_block_delta", &json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "text_delta", "text": "! 🎉" } })),
        named("content_block_stop", &json!({ "type": "content_block_stop", "index": 1 })),
        named("content_block_start", &json!({ "type": "content_block_start", "index": 2, "content_block": { "type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {} } })),
        named("content_block_delta", &json!({ "type": "content_block_delta", "index": 2, "delta": { "type": "input_json_delta", "partial_json": "{\"location\": \"San Fra" } })),
        named("content_block_stop", &json!({ "type": "content_block_stop", "index": 2 })),
        named("content_block_start", &json!({ "type": "content_block_start", "index": 3, "content_block": { "type": "text", "text": "" } })),
        named("content_block_delta", &json!({ "type": "content_block_delta", "index": 3, "delta": { "type": "text_delta", "text": " Bye." } })),
        named("content_block_stop", &json!({ "type": "content_block_stop", "index": 3 })),
        named("message_delta", &json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null }, "usage": { "output_tokens": 15 } })),
        named("message_stop", &json!({ "type": "message_stop" })),
    ]
    .concat()
}

#[test]
fn anthropic_stream_concatenates_text_deltas_only() {
    let (pushed, out) = run(Api::AnthropicMessages, &anthropic_stream());
    assert_eq!(deltas(&pushed), ["Hello", "! 🎉", " Bye."]);
    assert_eq!(
        out.unwrap(),
        LlmOutput {
            content: "Hello! 🎉 Bye.".into(),
            finish_reason: Some("end_turn".into()),
            model: Some("claude-sonnet-4-5-20250929".into()),
            usage: usage(25, 15),
        }
    );
}

#[test]
fn anthropic_stream_split_at_every_byte_gives_the_same_answer() {
    let expected = finish_ok(Api::AnthropicMessages, &anthropic_stream());
    let stream = anthropic_stream();
    let bytes = stream.as_bytes();
    for split in (0..=bytes.len()).step_by(7) {
        let (a, b) = bytes.split_at(split);
        assert_eq!(
            run_chunks(Api::AnthropicMessages, &[a, b]).1.unwrap(),
            expected,
            "split at {split}"
        );
    }
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(
        run_chunks(Api::AnthropicMessages, &chunks).1.unwrap(),
        expected
    );
}

#[test]
fn anthropic_stream_without_message_stop_is_truncated() {
    let stream = anthropic_stream().replace(
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        "",
    );
    let err = finish_err(Api::AnthropicMessages, &stream);
    assert!(matches!(err, ResponseError::Truncated { .. }), "{err:?}");
    assert!(err.to_string().contains("message_stop"), "{err}");

    let cut = &anthropic_stream()[..anthropic_stream().find("Hello").unwrap()];
    assert!(matches!(
        finish_err(Api::AnthropicMessages, cut),
        ResponseError::Truncated { .. }
    ));
}

#[test]
fn anthropic_error_event_is_an_error() {
    let stream = anthropic_stream();
    let cut = &stream[..stream
        .find("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}")
        .unwrap()];
    let stream = format!(
        "{cut}{}",
        named(
            "error",
            &json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } })
        )
    );
    let (pushed, out) = run(Api::AnthropicMessages, &stream);
    assert_eq!(
        pushed.last().unwrap(),
        &Err("Anthropic Messages reported an error: Overloaded (overloaded_error)".to_owned())
    );
    match out {
        Err(ResponseError::Provider { message, .. }) => {
            assert_eq!(message, "Overloaded (overloaded_error)");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn error_payloads_without_an_error_event_name_are_errors_too() {
    let anthropic = data_line(
        &json!({ "type": "error", "error": { "type": "api_error", "message": "Internal server error" } }),
    );
    assert_eq!(
        finish_err(Api::AnthropicMessages, &anthropic).to_string(),
        "Anthropic Messages reported an error: Internal server error (api_error)"
    );
    let proxy =
        data_line(&json!({ "error": { "message": "upstream closed", "type": "proxy_error" } }));
    for api in [Api::AnthropicMessages, Api::Responses] {
        let err = finish_err(api, &proxy);
        assert!(
            matches!(err, ResponseError::Provider { ref message, .. } if message.starts_with("upstream closed")),
            "{err:?}"
        );
    }
}

#[test]
fn anthropic_required_fields_and_tolerated_ones() {
    let base = anthropic_stream();
    // message_start must carry a whole message with usage (BAML parses it as one).
    let no_usage = base.replacen(
        ",\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}",
        "",
        1,
    );
    assert_ne!(no_usage, base);
    let (pushed, out) = run(Api::AnthropicMessages, &no_usage);
    assert!(
        pushed[0].as_ref().unwrap_err().contains("`message.usage`"),
        "{:?}",
        pushed[0]
    );
    assert_eq!(
        out.unwrap().usage,
        Usage {
            input_tokens: None,
            output_tokens: Some(15)
        }
    );

    // A text delta needs its index and its text.
    let stream = format!(
        "{}{}",
        named(
            "content_block_delta",
            &json!({ "type": "content_block_delta", "delta": { "type": "text_delta", "text": "x" } })
        ),
        named(
            "content_block_delta",
            &json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta" } })
        ),
    );
    let (pushed, _) = run(Api::AnthropicMessages, &stream);
    assert!(pushed[0].as_ref().unwrap_err().contains("`index`"));
    assert!(pushed[1].as_ref().unwrap_err().contains("`delta.text`"));

    // Unknown event types and a message_delta without usage are fine.
    let stream = format!(
        "{}{}{}",
        named(
            "content_block_delta",
            &json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "x" } })
        ),
        named(
            "future_event",
            &json!({ "type": "future_event", "anything": [1] })
        ),
        named(
            "message_delta",
            &json!({ "type": "message_delta", "delta": { "stop_reason": "max_tokens" } })
        ),
    ) + &named("message_stop", &json!({ "type": "message_stop" }));
    let out = finish_ok(Api::AnthropicMessages, &stream);
    assert_eq!(
        (out.content.as_str(), out.finish_reason.as_deref()),
        ("x", Some("max_tokens"))
    );
}

// ---------------------------------------------------------------------------------------------
// Gemini

fn gemini_chunk(text: &str, finish: Option<&str>, output_tokens: u64) -> String {
    let mut candidate =
        json!({ "content": { "parts": [{ "text": text }], "role": "model" }, "index": 0 });
    if let Some(finish) = finish {
        candidate["finishReason"] = json!(finish);
    }
    format!(
        "data: {}\r\n\r\n",
        json!({
            "candidates": [candidate],
            "usageMetadata": { "promptTokenCount": 7, "candidatesTokenCount": output_tokens, "totalTokenCount": 7 + output_tokens },
            "modelVersion": "gemini-2.5-flash",
            "responseId": "abc"
        })
    )
}

#[test]
fn gemini_stream_accumulates_until_a_finish_reason() {
    let thought = format!(
        "data: {}\r\n\r\n",
        json!({ "candidates": [{ "content": { "parts": [{ "text": "**Thinking**", "thought": true }], "role": "model" }, "index": 0 }],
                "usageMetadata": { "promptTokenCount": 7, "totalTokenCount": 7, "thoughtsTokenCount": 30 }, "modelVersion": "gemini-2.5-flash" })
    );
    let stream = [
        thought,
        gemini_chunk("The ", None, 1),
        gemini_chunk("answer ", None, 3),
        gemini_chunk("is 42.", Some("STOP"), 5),
    ]
    .concat();
    let (pushed, out) = run(Api::GoogleGenerateContent, &stream);
    assert_eq!(deltas(&pushed), ["The ", "answer ", "is 42."]);
    assert_eq!(
        out.unwrap(),
        LlmOutput {
            content: "The answer is 42.".into(),
            finish_reason: Some("STOP".into()),
            model: Some("gemini-2.5-flash".into()),
            usage: usage(7, 5),
        }
    );

    let bytes = stream.as_bytes();
    let expected = finish_ok(Api::GoogleGenerateContent, &stream);
    for split in 0..=bytes.len() {
        let (a, b) = bytes.split_at(split);
        assert_eq!(
            run_chunks(Api::GoogleGenerateContent, &[a, b]).1.unwrap(),
            expected,
            "split at {split}"
        );
    }
}

#[test]
fn gemini_stream_without_finish_reason_is_truncated() {
    let stream = [
        gemini_chunk("The ", None, 1),
        gemini_chunk("answer", None, 2),
    ]
    .concat();
    let err = finish_err(Api::GoogleGenerateContent, &stream);
    assert!(err.to_string().contains("finishReason"), "{err}");
}

#[test]
fn gemini_max_tokens_and_safety_stops_are_answers_with_their_reason() {
    let stream = [
        gemini_chunk("The ", None, 1),
        gemini_chunk("ans", Some("MAX_TOKENS"), 2),
    ]
    .concat();
    assert_eq!(
        finish_ok(Api::GoogleGenerateContent, &stream)
            .finish_reason
            .as_deref(),
        Some("MAX_TOKENS")
    );

    let safety = data_line(
        &json!({ "candidates": [{ "finishReason": "SAFETY", "index": 0, "safetyRatings": [] }], "usageMetadata": {} }),
    );
    let out = finish_ok(
        Api::GoogleGenerateContent,
        &(gemini_chunk("The ", None, 1) + &safety),
    );
    assert_eq!(
        (out.content.as_str(), out.finish_reason.as_deref()),
        ("The ", Some("SAFETY"))
    );
}

#[test]
fn gemini_stream_errors() {
    let blocked = data_line(
        &json!({ "promptFeedback": { "blockReason": "PROHIBITED_CONTENT" }, "usageMetadata": { "promptTokenCount": 7, "totalTokenCount": 7 } }),
    );
    let err = finish_err(Api::GoogleGenerateContent, &blocked);
    assert!(
        matches!(err, ResponseError::Blocked { ref reason, .. } if reason == "PROHIBITED_CONTENT"),
        "{err:?}"
    );

    let error = data_line(
        &json!({ "error": { "code": 500, "message": "An internal error has occurred.", "status": "INTERNAL" } }),
    );
    let err = finish_err(
        Api::GoogleGenerateContent,
        &(gemini_chunk("The ", None, 1) + &error),
    );
    assert_eq!(
        err.to_string(),
        "Gemini generateContent reported an error: An internal error has occurred. (INTERNAL)"
    );

    let no_usage = data_line(
        &json!({ "candidates": [{ "content": { "parts": [{ "text": "x" }] }, "finishReason": "STOP" }] }),
    );
    let err = finish_err(
        Api::GoogleGenerateContent,
        &(gemini_chunk("The ", None, 1) + &no_usage),
    );
    assert!(err.to_string().contains("`usageMetadata`"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// OpenAI Responses

fn response(status: &str, extra: &Value) -> Value {
    let mut r = json!({
        "id": "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654", "object": "response", "created_at": 1_741_290_958,
        "status": status, "error": null, "incomplete_details": null, "model": "gpt-4.1-2025-04-14",
        "output": [], "usage": null, "metadata": {}
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

fn message_item(text: &str) -> Value {
    json!({ "id": "msg_1", "type": "message", "status": "completed", "role": "assistant", "content": [{ "type": "output_text", "text": text, "annotations": [] }] })
}

fn responses_events(final_text: &str, terminal: &str) -> String {
    let mut seq = 0;
    let mut event = |kind: &str, body: Value| {
        let mut body = body;
        body["type"] = json!(kind);
        body["sequence_number"] = json!(seq);
        seq += 1;
        named(kind, &body)
    };
    let pos = json!({ "item_id": "msg_1", "output_index": 1, "content_index": 0 });
    let with_pos = |extra: Value| {
        let mut v = pos.clone();
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    [
        event("response.created", json!({ "response": response("in_progress", &json!({})) })),
        event("response.in_progress", json!({ "response": response("in_progress", &json!({})) })),
        event("response.output_item.added", json!({ "output_index": 0, "item": { "id": "rs_1", "type": "reasoning", "summary": [] } })),
        event("response.reasoning_summary_text.delta", json!({ "item_id": "rs_1", "output_index": 0, "summary_index": 0, "delta": "thinking" })),
        event("response.output_item.added", json!({ "output_index": 1, "item": { "id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": [] } })),
        event("response.content_part.added", with_pos(json!({ "part": { "type": "output_text", "text": "", "annotations": [] } }))),
        event("response.output_text.delta", with_pos(json!({ "delta": "Hi" }))),
        event("response.output_text.delta", with_pos(json!({ "delta": " there" }))),
        event("response.output_text.done", with_pos(json!({ "text": "Hi there" }))),
        event("response.content_part.done", with_pos(json!({ "part": { "type": "output_text", "text": "Hi there", "annotations": [] } }))),
        event(
            terminal,
            json!({ "response": response(
                if terminal == "response.completed" { "completed" } else { "incomplete" },
                &json!({
                    "output": [{ "id": "rs_1", "type": "reasoning", "summary": [] }, message_item(final_text)],
                    "usage": { "input_tokens": 37, "output_tokens": 11, "output_tokens_details": { "reasoning_tokens": 0 }, "total_tokens": 48 },
                    "incomplete_details": if terminal == "response.completed" { Value::Null } else { json!({ "reason": "max_output_tokens" }) }
                })
            ) }),
        ),
    ]
    .concat()
}

#[test]
fn responses_stream_accumulates_deltas_and_takes_usage_from_completed() {
    let (pushed, out) = run(
        Api::Responses,
        &responses_events("Hi there", "response.completed"),
    );
    assert_eq!(deltas(&pushed), ["Hi", " there"]);
    assert_eq!(
        out.unwrap(),
        LlmOutput {
            content: "Hi there".into(),
            // Streaming, BAML reports incomplete_details.reason, which is null when completed.
            finish_reason: None,
            model: Some("gpt-4.1-2025-04-14".into()),
            usage: usage(37, 11),
        }
    );
}

#[test]
fn responses_incomplete_is_an_answer_with_its_reason() {
    let out = finish_ok(
        Api::Responses,
        &responses_events("Hi there", "response.incomplete"),
    );
    assert_eq!(out.finish_reason.as_deref(), Some("max_output_tokens"));
    assert_eq!(out.content, "Hi there");
}

#[test]
fn responses_final_text_of_the_first_item_replaces_the_deltas() {
    // Only when the first output item has text (here it is a reasoning item, so no).
    assert_eq!(
        finish_ok(
            Api::Responses,
            &responses_events("Different", "response.completed")
        )
        .content,
        "Hi there"
    );

    let completed = named(
        "response.completed",
        &json!({ "type": "response.completed", "sequence_number": 9,
                 "response": response("completed", &json!({ "output": [message_item("Hi there, friend")] })) }),
    );
    let stream = format!(
        "{}{completed}",
        named(
            "response.output_text.delta",
            &json!({ "type": "response.output_text.delta", "sequence_number": 1, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Hi there" })
        )
    );
    let (pushed, out) = run(Api::Responses, &stream);
    assert_eq!(deltas(&pushed), ["Hi there", ", friend"]);
    assert_eq!(out.unwrap().content, "Hi there, friend");
}

#[test]
fn responses_stream_truncated_failed_and_error_events() {
    let stream = responses_events("Hi there", "response.completed");
    let cut = &stream[..stream.find("event: response.completed").unwrap()];
    let err = finish_err(Api::Responses, cut);
    assert!(
        matches!(err, ResponseError::Truncated { .. })
            && err.to_string().contains("response.completed"),
        "{err}"
    );

    let failed = named(
        "response.failed",
        &json!({ "type": "response.failed", "sequence_number": 20,
                 "response": response("failed", &json!({ "error": { "code": "server_error", "message": "The model failed to generate a response." } })) }),
    );
    let err = finish_err(Api::Responses, &format!("{cut}{failed}"));
    assert_eq!(
        err.to_string(),
        "Responses API reported an error: The model failed to generate a response. (server_error)"
    );

    let error = named(
        "error",
        &json!({ "type": "error", "code": "ERR_SOMETHING", "message": "Something went wrong", "param": null, "sequence_number": 21 }),
    );
    let err = finish_err(Api::Responses, &format!("{cut}{error}"));
    assert_eq!(
        err.to_string(),
        "Responses API reported an error: Something went wrong (ERR_SOMETHING)"
    );
}

#[test]
fn responses_events_lacking_required_fields_fail() {
    let no_seq = named(
        "response.output_text.delta",
        &json!({ "type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "X" }),
    );
    let (pushed, _) = run(Api::Responses, &no_seq);
    assert!(
        pushed[0]
            .as_ref()
            .unwrap_err()
            .contains("`sequence_number`"),
        "{:?}",
        pushed[0]
    );

    let no_model = named(
        "response.completed",
        &json!({ "type": "response.completed", "sequence_number": 3, "response": { "id": "r", "object": "response", "status": "completed", "output": [] } }),
    );
    let (pushed, _) = run(Api::Responses, &no_model);
    assert!(
        pushed[0].as_ref().unwrap_err().contains("`response.model`"),
        "{:?}",
        pushed[0]
    );

    let no_type = data_line(&json!({ "delta": "X" }));
    let (pushed, _) = run(Api::Responses, &no_type);
    assert!(
        pushed[0].as_ref().unwrap_err().contains("`type`"),
        "{:?}",
        pushed[0]
    );
}
