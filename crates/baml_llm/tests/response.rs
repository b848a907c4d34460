//! Non-streaming bodies of each wire API: what is read from them, which fields BAML 0.226 insists
//! on (checked against @boundaryml/baml 0.226.2 on a loopback server), and error bodies.
#![expect(clippy::unwrap_used, reason = "a test fails by panicking")]

use baml_llm::response::{error_message, parse_response, Api, LlmOutput, ResponseError, Usage};
use serde_json::{json, Value};

fn parse(api: Api, body: &Value) -> Result<LlmOutput, ResponseError> {
    parse_response(api, body.to_string().as_bytes())
}

fn ok(api: Api, body: &Value) -> LlmOutput {
    match parse(api, body) {
        Ok(out) => out,
        Err(e) => panic!("expected success, got {e}"),
    }
}

/// The body is rejected as BAML rejects it, and the message names `needle` (the field or the
/// problem) and quotes the body.
fn shape_error(api: Api, body: &Value, needle: &str) {
    match parse(api, body) {
        Err(e @ ResponseError::Shape { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
        }
        other => panic!("expected a shape error mentioning {needle:?}, got {other:?}"),
    }
}

/// `base` with `path` (dot-separated; numbers index arrays) set to `value`, or removed if `None`.
fn with(base: &Value, path: &str, value: Option<Value>) -> Value {
    let mut out = base.clone();
    let mut keys: Vec<&str> = path.split('.').collect();
    let last = keys.pop().unwrap();
    let mut at = &mut out;
    for key in keys {
        at = match key.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[key],
        };
    }
    match (at, value) {
        (Value::Object(obj), Some(v)) => {
            obj.insert(last.to_owned(), v);
        }
        (Value::Object(obj), None) => {
            obj.remove(last);
        }
        (Value::Array(arr), Some(v)) => arr[last.parse::<usize>().unwrap()] = v,
        (other, _) => panic!("cannot set {path} in {other}"),
    }
    out
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: Some(input),
        output_tokens: Some(output),
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI chat completions

fn openai() -> Value {
    json!({
      "id": "chatcmpl-B7rcnRIX2lh1okEeeIrCtzLppkaSw",
      "object": "chat.completion",
      "created": 1_741_214_129,
      "model": "gpt-4o-2024-08-06",
      "choices": [{
        "index": 0,
        "message": { "role": "assistant", "content": "{\"name\": \"John Doe\"}", "refusal": null, "annotations": [] },
        "logprobs": null,
        "finish_reason": "stop"
      }],
      "usage": {
        "prompt_tokens": 128, "completion_tokens": 71, "total_tokens": 199,
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": { "reasoning_tokens": 0, "audio_tokens": 0 }
      },
      "service_tier": "default",
      "system_fingerprint": "fp_eb9dce56a8"
    })
}

#[test]
fn openai_reads_content_finish_reason_model_and_usage() {
    assert_eq!(
        ok(Api::ChatCompletions, &openai()),
        LlmOutput {
            content: "{\"name\": \"John Doe\"}".into(),
            finish_reason: Some("stop".into()),
            model: Some("gpt-4o-2024-08-06".into()),
            usage: usage(128, 71),
        }
    );
}

#[test]
fn openai_null_content_is_an_empty_answer() {
    let tool_call = with(
        &openai(),
        "choices.0",
        Some(json!({
            "index": 0,
            "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "f", "arguments": "{}" } }]
            },
            "finish_reason": "tool_calls"
        })),
    );
    let out = ok(Api::ChatCompletions, &tool_call);
    assert_eq!(out.content, "");
    assert_eq!(out.finish_reason.as_deref(), Some("tool_calls"));

    let refusal = with(&openai(), "choices.0.message.content", None);
    assert_eq!(ok(Api::ChatCompletions, &refusal).content, "");
}

#[test]
fn openai_tolerates_what_baml_reads_as_optional() {
    let minimal = json!({
        "model": "llama3",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "hi" } }]
    });
    let out = ok(Api::ChatCompletions, &minimal);
    assert_eq!(out.content, "hi");
    assert_eq!(out.finish_reason, None);
    assert_eq!(out.usage, Usage::default());

    for body in [
        with(&openai(), "usage", Some(Value::Null)),
        with(&openai(), "created", Some(json!(1_741_214_129.5))),
        with(&openai(), "choices.0.index", Some(json!(3))),
        with(&openai(), "choices.0.finish_reason", Some(json!("length"))),
        with(&openai(), "id", Some(Value::Null)),
    ] {
        ok(Api::ChatCompletions, &body);
    }
    let aliased = with(
        &openai(),
        "usage",
        Some(json!({ "input_tokens": 1, "output_tokens": 2, "total_tokens": 3 })),
    );
    assert_eq!(ok(Api::ChatCompletions, &aliased).usage, usage(1, 2));
}

#[test]
fn openai_rejects_what_baml_rejects() {
    let cases = [
        (with(&openai(), "model", None), "`model`"),
        (with(&openai(), "model", Some(Value::Null)), "`model`"),
        (
            with(&openai(), "choices.0.index", None),
            "`choices[0].index`",
        ),
        (
            with(&openai(), "choices.0.message.role", None),
            "`choices[0].message.role`",
        ),
        (
            with(
                &openai(),
                "choices.0.message.role",
                Some(json!("developer")),
            ),
            "`choices[0].message.role`",
        ),
        (
            with(&openai(), "choices.0.message", None),
            "`choices[0].message`",
        ),
        (
            with(
                &openai(),
                "choices.0.message.content",
                Some(json!([{ "type": "text", "text": "a" }])),
            ),
            "`choices[0].message.content`",
        ),
        (
            with(&openai(), "usage.total_tokens", None),
            "`usage.total_tokens`",
        ),
        (
            with(&openai(), "usage.completion_tokens", None),
            "`usage.completion_tokens`",
        ),
        (
            with(&openai(), "created", Some(json!("yesterday"))),
            "`created`",
        ),
        (with(&openai(), "id", Some(json!(5))), "`id`"),
        (
            with(
                &openai(),
                "choices.0.logprobs",
                Some(json!({ "content": 5 })),
            ),
            "`choices[0].logprobs.content`",
        ),
        (with(&openai(), "choices", None), "`choices`"),
        (with(&openai(), "choices", Some(json!([]))), "0 choices"),
    ];
    for (body, needle) in cases {
        shape_error(Api::ChatCompletions, &body, needle);
    }
    let mut two = openai();
    let second = json!({ "index": 1, "message": { "role": "assistant", "content": "two" }, "finish_reason": "stop" });
    two["choices"].as_array_mut().unwrap().push(second);
    shape_error(
        Api::ChatCompletions,
        &two,
        "2 choices, expected exactly one",
    );
}

#[test]
fn openai_error_report_in_a_2xx_body_is_a_provider_error() {
    let body = json!({ "error": { "message": "The server had an error", "type": "server_error", "code": null } });
    match parse(Api::ChatCompletions, &body) {
        Err(ResponseError::Provider { message, .. }) => {
            assert_eq!(message, "The server had an error (server_error)");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_body_that_is_not_json_is_an_error_quoting_it() {
    let err = parse_response(Api::ChatCompletions, b"<html>Bad gateway</html>").unwrap_err();
    assert!(matches!(err, ResponseError::NotJson { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("not valid JSON") && msg.contains("<html>Bad gateway</html>"),
        "{msg}"
    );

    let err = parse_response(Api::AnthropicMessages, b"[1, 2]").unwrap_err();
    assert!(err.to_string().contains("expected an object"), "{err}");
}

#[test]
fn error_messages_quote_a_short_excerpt_of_a_long_body() {
    let mut body = with(&openai(), "model", None);
    body["choices"][0]["message"]["content"] = json!("x".repeat(10_000));
    let msg = parse(Api::ChatCompletions, &body).unwrap_err().to_string();
    assert!(msg.len() < 600, "message is {} bytes", msg.len());
    assert!(msg.contains("lacks required field `model`"), "{msg}");
    assert!(msg.contains("bytes in all"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// OpenAI Responses

fn responses() -> Value {
    json!({
      "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
      "object": "response",
      "created_at": 1_741_476_542,
      "status": "completed",
      "error": null,
      "incomplete_details": null,
      "instructions": null,
      "max_output_tokens": null,
      "model": "gpt-4.1-2025-04-14",
      "output": [{
        "type": "message",
        "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
        "status": "completed",
        "role": "assistant",
        "content": [{ "type": "output_text", "text": "In a peaceful grove beneath a silver moon...", "annotations": [] }]
      }],
      "parallel_tool_calls": true,
      "reasoning": { "effort": null, "summary": null },
      "store": true,
      "temperature": 1.0,
      "text": { "format": { "type": "text" } },
      "tool_choice": "auto",
      "tools": [],
      "top_p": 1.0,
      "truncation": "disabled",
      "usage": {
        "input_tokens": 36, "input_tokens_details": { "cached_tokens": 0 },
        "output_tokens": 87, "output_tokens_details": { "reasoning_tokens": 0 },
        "total_tokens": 123
      },
      "user": null,
      "metadata": {}
    })
}

#[test]
fn responses_reads_the_message_and_reports_the_status_as_finish_reason() {
    assert_eq!(
        ok(Api::Responses, &responses()),
        LlmOutput {
            content: "In a peaceful grove beneath a silver moon...".into(),
            finish_reason: Some("completed".into()),
            model: Some("gpt-4.1-2025-04-14".into()),
            usage: usage(36, 87),
        }
    );
}

#[test]
fn responses_skips_reasoning_and_tool_items_and_takes_the_first_message() {
    let message = responses()["output"][0].clone();
    let reasoning = json!({ "id": "rs_1", "type": "reasoning", "summary": [], "content": null, "encrypted_content": null, "status": null });
    let mcp =
        json!({ "id": "mcpl_1", "type": "mcp_list_tools", "server_label": "dmcp", "tools": [] });
    let mut second = message.clone();
    second["content"][0]["text"] = json!("second message");
    let body = with(
        &responses(),
        "output",
        Some(json!([mcp, reasoning, message, second])),
    );
    assert_eq!(
        ok(Api::Responses, &body).content,
        "In a peaceful grove beneath a silver moon..."
    );

    // Only the first content part of that message, as BAML.
    let mut parts = responses();
    parts["output"][0]["content"] = json!([
        { "type": "output_text", "text": "a" }, { "type": "output_text", "text": "b" }
    ]);
    assert_eq!(ok(Api::Responses, &parts).content, "a");
}

#[test]
fn responses_function_call_becomes_json_text() {
    let call = json!({ "type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed" });
    let body = with(&responses(), "output", Some(json!([call])));
    let content = ok(Api::Responses, &body).content;
    assert_eq!(
        serde_json::from_str::<Value>(&content).unwrap(),
        json!({ "type": "function_call", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "call_id": "call_1" })
    );
}

#[test]
fn responses_refusal_empty_output_and_non_completed_status_are_not_errors() {
    let mut refusal = responses();
    refusal["output"][0]["content"] =
        json!([{ "type": "refusal", "refusal": "I can't help with that." }]);
    assert_eq!(ok(Api::Responses, &refusal).content, "");

    assert_eq!(
        ok(
            Api::Responses,
            &with(&responses(), "output", Some(json!([])))
        )
        .content,
        ""
    );

    let incomplete = with(
        &with(&responses(), "status", Some(json!("incomplete"))),
        "incomplete_details",
        Some(json!({ "reason": "max_output_tokens" })),
    );
    assert_eq!(
        ok(Api::Responses, &incomplete).finish_reason.as_deref(),
        Some("incomplete")
    );
    let failed = with(&responses(), "status", Some(json!("failed")));
    assert_eq!(
        ok(Api::Responses, &failed).finish_reason.as_deref(),
        Some("failed")
    );
}

#[test]
fn responses_rejects_what_baml_rejects() {
    for field in ["id", "object", "status", "model", "output"] {
        shape_error(
            Api::Responses,
            &with(&responses(), field, None),
            &format!("`{field}`"),
        );
    }
    shape_error(
        Api::Responses,
        &with(&responses(), "usage.total_tokens", None),
        "`usage.total_tokens`",
    );
    shape_error(
        Api::Responses,
        &with(&responses(), "incomplete_details", Some(json!({}))),
        "`incomplete_details.reason`",
    );
    shape_error(
        Api::Responses,
        &with(&responses(), "output.0.content.0.type", None),
        "`output[0].content[0].type`",
    );
    assert_eq!(
        ok(Api::Responses, &with(&responses(), "usage", None)).usage,
        Usage::default()
    );
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages

fn anthropic() -> Value {
    json!({
      "id": "msg_01TmchHftFKihgeV7Zy9vCvZ",
      "type": "message",
      "role": "assistant",
      "model": "claude-3-5-sonnet-20241022",
      "content": [{ "type": "text", "text": "{\n  \"isCompanyPost\": false\n}" }],
      "stop_reason": "end_turn",
      "stop_sequence": null,
      "usage": { "input_tokens": 321, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 158 }
    })
}

#[test]
fn anthropic_reads_text_stop_reason_model_and_usage() {
    assert_eq!(
        ok(Api::AnthropicMessages, &anthropic()),
        LlmOutput {
            content: "{\n  \"isCompanyPost\": false\n}".into(),
            finish_reason: Some("end_turn".into()),
            model: Some("claude-3-5-sonnet-20241022".into()),
            usage: usage(321, 158),
        }
    );
}

#[test]
fn anthropic_takes_the_first_text_block_and_skips_thinking() {
    let body = with(
        &anthropic(),
        "content",
        Some(json!([
            { "type": "thinking", "thinking": "Let me think", "signature": "EqQBCgIYAh" },
            { "type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix" },
            { "type": "text", "text": "first" },
            { "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": { "city": "Paris" } },
            { "type": "text", "text": "second" }
        ])),
    );
    assert_eq!(ok(Api::AnthropicMessages, &body).content, "first");
}

#[test]
fn anthropic_without_a_text_block_is_an_error() {
    for content in [
        json!([]),
        json!([{ "type": "tool_use", "id": "toolu_1", "name": "f", "input": {} }]),
    ] {
        let body = with(&anthropic(), "content", Some(content));
        match parse(Api::AnthropicMessages, &body) {
            Err(e @ ResponseError::NoContent { .. }) => {
                assert!(e.to_string().contains("no text"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn anthropic_rejects_what_baml_rejects_and_tolerates_the_rest() {
    for field in ["id", "role", "type", "model", "usage", "content"] {
        shape_error(
            Api::AnthropicMessages,
            &with(&anthropic(), field, None),
            &format!("`{field}`"),
        );
    }
    shape_error(
        Api::AnthropicMessages,
        &with(&anthropic(), "usage.output_tokens", None),
        "`usage.output_tokens`",
    );
    shape_error(
        Api::AnthropicMessages,
        &with(&anthropic(), "content.0.text", None),
        "`content[0].text`",
    );
    shape_error(
        Api::AnthropicMessages,
        &with(&anthropic(), "stop_sequence", Some(json!(5))),
        "`stop_sequence`",
    );
    shape_error(
        Api::AnthropicMessages,
        &with(
            &anthropic(),
            "content.0",
            Some(json!({ "type": "tool_use", "id": "x", "input": {} })),
        ),
        "`content[0].name`",
    );
    shape_error(
        Api::AnthropicMessages,
        &with(
            &anthropic(),
            "content.0",
            Some(json!({ "text": "no type" })),
        ),
        "`content[0].type`",
    );

    let no_stop = with(&anthropic(), "stop_reason", None);
    assert_eq!(ok(Api::AnthropicMessages, &no_stop).finish_reason, None);
    let mut odd_blocks = anthropic();
    odd_blocks["content"] = json!([
        { "type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {} },
        { "type": "thinking", "thinking": "no signature" },
        { "type": "text", "text": "b", "citations": [{ "type": "char_location" }] }
    ]);
    assert_eq!(ok(Api::AnthropicMessages, &odd_blocks).content, "b");
}

// ---------------------------------------------------------------------------------------------
// Gemini

fn gemini() -> Value {
    json!({
      "candidates": [{
        "content": { "parts": [{ "text": "```json\n{\"a\": 1}\n```\n" }], "role": "model" },
        "finishReason": "STOP",
        "avgLogprobs": -0.009,
        "safetyRatings": [{ "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE" }]
      }],
      "usageMetadata": {
        "promptTokenCount": 166, "candidatesTokenCount": 39, "totalTokenCount": 205,
        "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": 166 }]
      },
      "modelVersion": "gemini-1.5-flash",
      "responseId": "THqbaJaMOuCajMcP54G4qAE"
    })
}

#[test]
fn gemini_reads_text_finish_reason_model_version_and_usage() {
    assert_eq!(
        ok(Api::GoogleGenerateContent, &gemini()),
        LlmOutput {
            content: "```json\n{\"a\": 1}\n```\n".into(),
            finish_reason: Some("STOP".into()),
            model: Some("gemini-1.5-flash".into()),
            usage: usage(166, 39),
        }
    );
}

#[test]
fn gemini_joins_non_thought_parts() {
    let body = with(
        &gemini(),
        "candidates.0.content.parts",
        Some(json!([
            { "text": "Let me analyze this image...", "thought": true },
            { "text": "This product is a " },
            { "text": "\"dog cargo guard\"", "thoughtSignature": "abc" },
            { "text": ".", "thought": false }
        ])),
    );
    assert_eq!(
        ok(Api::GoogleGenerateContent, &body).content,
        "This product is a \"dog cargo guard\"."
    );

    let only_thoughts = with(
        &gemini(),
        "candidates.0.content.parts",
        Some(json!([{ "text": "hmm", "thought": true }])),
    );
    assert_eq!(ok(Api::GoogleGenerateContent, &only_thoughts).content, "");
    let no_parts = with(&gemini(), "candidates.0.content.parts", None);
    assert_eq!(ok(Api::GoogleGenerateContent, &no_parts).content, "");
}

#[test]
fn gemini_blocked_prompt_is_an_error_naming_the_reason() {
    let body = json!({
        "promptFeedback": { "blockReason": "SAFETY", "safetyRatings": [] },
        "usageMetadata": { "promptTokenCount": 8, "totalTokenCount": 8 },
        "modelVersion": "gemini-2.0-flash"
    });
    match parse(Api::GoogleGenerateContent, &body) {
        Err(e @ ResponseError::Blocked { .. }) => assert!(e.to_string().contains("SAFETY"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn gemini_candidate_without_content_is_an_error() {
    let body = with(
        &gemini(),
        "candidates.0",
        Some(json!({ "finishReason": "SAFETY", "index": 0 })),
    );
    match parse(Api::GoogleGenerateContent, &body) {
        Err(e @ ResponseError::NoContent { .. }) => {
            assert!(e.to_string().contains("SAFETY"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn gemini_rejects_what_baml_rejects_and_tolerates_the_rest() {
    shape_error(
        Api::GoogleGenerateContent,
        &with(&gemini(), "candidates", None),
        "`candidates`",
    );
    shape_error(
        Api::GoogleGenerateContent,
        &with(&gemini(), "candidates", Some(json!([]))),
        "0 candidates",
    );
    let mut two = gemini();
    let again = two["candidates"][0].clone();
    two["candidates"].as_array_mut().unwrap().push(again);
    shape_error(Api::GoogleGenerateContent, &two, "2 candidates");
    shape_error(
        Api::GoogleGenerateContent,
        &with(&gemini(), "usageMetadata", None),
        "`usageMetadata`",
    );
    shape_error(
        Api::GoogleGenerateContent,
        &with(&gemini(), "usageMetadata", Some(Value::Null)),
        "`usageMetadata`",
    );
    shape_error(
        Api::GoogleGenerateContent,
        &with(
            &gemini(),
            "candidates.0.content.parts",
            Some(json!([{ "functionCall": { "name": "f", "args": {} } }])),
        ),
        "`candidates[0].content.parts[0].text`",
    );
    shape_error(
        Api::GoogleGenerateContent,
        &with(&gemini(), "candidates.0.content.parts", Some(Value::Null)),
        "`candidates[0].content.parts`",
    );
    shape_error(
        Api::GoogleGenerateContent,
        &with(&gemini(), "candidates.0.index", Some(json!("x"))),
        "`candidates[0].index`",
    );

    let partial = with(
        &gemini(),
        "usageMetadata",
        Some(json!({ "promptTokenCount": 3 })),
    );
    assert_eq!(
        ok(Api::GoogleGenerateContent, &partial).usage,
        Usage {
            input_tokens: Some(3),
            output_tokens: None
        }
    );
    // BAML 0.226 rejects safety categories missing from its enum; newer ones are real.
    let civic = with(
        &gemini(),
        "candidates.0.safetyRatings",
        Some(json!([{ "category": "HARM_CATEGORY_CIVIC_INTEGRITY", "probability": "NEGLIGIBLE" }])),
    );
    ok(Api::GoogleGenerateContent, &civic);
    assert_eq!(
        ok(
            Api::GoogleGenerateContent,
            &with(&gemini(), "modelVersion", None)
        )
        .model,
        None
    );
    let max_tokens = with(
        &gemini(),
        "candidates.0.finishReason",
        Some(json!("MAX_TOKENS")),
    );
    assert_eq!(
        ok(Api::GoogleGenerateContent, &max_tokens)
            .finish_reason
            .as_deref(),
        Some("MAX_TOKENS")
    );
}

// ---------------------------------------------------------------------------------------------
// Error bodies

#[test]
fn error_message_reads_each_providers_error_shape() {
    let cases: [(Api, u16, Value, &str); 6] = [
        (
            Api::ChatCompletions,
            401,
            json!({ "error": { "message": "Incorrect API key provided: sk-abc.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key" } }),
            "Incorrect API key provided: sk-abc. (invalid_api_key)",
        ),
        (
            Api::Responses,
            400,
            json!({ "error": { "message": "Unsupported parameter: 'temperature'.", "type": "invalid_request_error", "param": "temperature", "code": null } }),
            "Unsupported parameter: 'temperature'. (invalid_request_error)",
        ),
        (
            Api::AnthropicMessages,
            529,
            json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } }),
            "Overloaded (overloaded_error)",
        ),
        (
            Api::GoogleGenerateContent,
            400,
            json!({ "error": { "code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT" } }),
            "API key not valid. Please pass a valid API key. (INVALID_ARGUMENT)",
        ),
        (
            Api::GoogleGenerateContent,
            429,
            json!([{ "error": { "code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED" } }]),
            "Resource exhausted. (RESOURCE_EXHAUSTED)",
        ),
        (
            Api::ChatCompletions,
            404,
            json!({ "error": "model \"llama9\" not found, try pulling it first" }),
            "model \"llama9\" not found, try pulling it first",
        ),
    ];
    for (api, status, body, expected) in cases {
        assert_eq!(
            error_message(api, status, body.to_string().as_bytes()),
            expected
        );
    }
    assert_eq!(
        error_message(
            Api::ChatCompletions,
            422,
            br#"{"detail": "Field required"}"#
        ),
        "Field required"
    );
}

#[test]
fn error_message_falls_back_to_the_text() {
    assert_eq!(
        error_message(
            Api::ChatCompletions,
            502,
            b"<html><body>502 Bad Gateway</body></html>\n"
        ),
        "<html><body>502 Bad Gateway</body></html>"
    );
    assert_eq!(
        error_message(Api::AnthropicMessages, 503, b"  "),
        "HTTP 503 with an empty body"
    );
    // JSON without a recognisable message is shown as it is.
    assert_eq!(
        error_message(Api::ChatCompletions, 500, br#"{"ok":false}"#),
        r#"{"ok":false}"#
    );
    assert_eq!(
        error_message(Api::ChatCompletions, 500, b"bad \xff byte"),
        "bad \u{fffd} byte"
    );

    let long = "é".repeat(5_000);
    let msg = error_message(Api::GoogleGenerateContent, 500, long.as_bytes());
    assert!(msg.chars().count() < 1_100, "{} chars", msg.chars().count());
    assert!(
        msg.starts_with("éé") && msg.contains("10000 bytes in all"),
        "{msg}"
    );
}
