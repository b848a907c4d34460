//! Every API answers with the real shapes: plain bodies, stream event sequences, errors,
//! finish reasons and usage.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use common::post;
use mock_llm::MockServer;
use serde_json::{json, Value};

const TEXT: &str = "Héllo there, this is a scripted answer.";

fn scripted(reply: &Value) -> MockServer {
    let server = MockServer::start().unwrap();
    server
        .set_script(json!({ "rules": [], "default": reply }))
        .unwrap();
    server
}

fn chat_body(stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "stream_options": { "include_usage": true },
        "messages": [
            { "role": "system", "content": "be brief" },
            { "role": "user", "content": [{ "type": "text", "text": "say hello please" }] }
        ]
    })
}

fn assert_string(v: &Value, what: &str) {
    assert!(v.is_string(), "{what} should be a string: {v}");
}

#[test]
fn chat_completion_has_the_real_shape() {
    let server = scripted(&json!({ "text": TEXT }));
    let r = post(server.addr(), "/v1/chat/completions", &chat_body(false));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_string(&v["id"], "id");
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].is_u64());
    assert_eq!(v["model"], "gpt-4o-mini");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], TEXT);
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice["logprobs"].is_null() && choice.get("logprobs").is_some());
    // Input: the words of "be brief" and "say hello please"; output: the 7 words of TEXT.
    assert_eq!(v["usage"]["prompt_tokens"], 5);
    assert_eq!(v["usage"]["completion_tokens"], 7);
    assert_eq!(v["usage"]["total_tokens"], 12);
}

#[test]
fn chat_stream_sends_chunks_usage_and_done() {
    let server = scripted(&json!({ "text": TEXT, "chunk_chars": 5 }));
    let r = post(server.addr(), "/v1/chat/completions", &chat_body(true));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.complete);
    let events = r.events();
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(name, data)| {
            assert!(name.is_none());
            serde_json::from_str(data).unwrap()
        })
        .collect();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gpt-4o-mini");
        assert_string(&chunk["id"], "id");
        for choice in chunk["choices"].as_array().unwrap() {
            assert_eq!(choice["index"], 0);
        }
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, TEXT);
    let content_chunks = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .count();
    assert_eq!(content_chunks, TEXT.chars().count().div_ceil(5));
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 12);
}

#[test]
fn chat_stream_without_include_usage_has_no_usage_chunk() {
    let server = scripted(&json!({ "text": "a b c" }));
    let r = post(
        server.addr(),
        "/v1/chat/completions",
        &json!({ "model": "m", "stream": true, "messages": [] }),
    );
    let events = r.events();
    assert_eq!(events.last().unwrap().1, "[DONE]");
    for (_, data) in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(data).unwrap();
        assert!(chunk.get("usage").is_none());
        assert_eq!(chunk["choices"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn responses_api_has_the_real_shape() {
    let server = scripted(&json!({ "text": TEXT }));
    let r = post(
        server.addr(),
        "/v1/responses",
        &json!({ "model": "gpt-5", "input": "one two three" }),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "gpt-5");
    assert!(v["created_at"].is_u64());
    assert!(v["incomplete_details"].is_null());
    let item = &v["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["status"], "completed");
    assert_string(&item["id"], "item id");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["text"], TEXT);
    assert_eq!(item["content"][0]["annotations"], json!([]));
    assert_eq!(v["usage"]["input_tokens"], 3);
    assert_eq!(v["usage"]["output_tokens"], 7);
    assert_eq!(v["usage"]["total_tokens"], 10);
}

#[test]
fn responses_stream_sends_the_event_sequence() {
    let server = scripted(&json!({ "text": TEXT, "chunk_chars": 7 }));
    let r = post(
        server.addr(),
        "/v1/responses",
        &json!({ "model": "gpt-5", "input": "hi", "stream": true }),
    );
    assert!(r.complete);
    let events = r.events();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    let deltas = TEXT.chars().count().div_ceil(7);
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    expected.extend(std::iter::repeat_n("response.output_text.delta", deltas));
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(names, expected);
    let data: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for (i, (event, value)) in names.iter().zip(&data).enumerate() {
        assert_eq!(value["type"], *event);
        assert_eq!(value["sequence_number"], i);
    }
    let text: String = data
        .iter()
        .filter(|v| v["type"] == "response.output_text.delta")
        .map(|v| v["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, TEXT);
    let done = data.last().unwrap();
    assert_eq!(done["response"]["status"], "completed");
    assert_eq!(done["response"]["output"][0]["content"][0]["text"], TEXT);
    assert_eq!(done["response"]["usage"]["output_tokens"], 7);
}

#[test]
fn anthropic_message_has_the_real_shape() {
    let server = scripted(&json!({ "text": TEXT }));
    let r = post(
        server.addr(),
        "/v1/messages",
        &json!({
            "model": "claude-sonnet-4",
            "max_tokens": 100,
            "system": "be nice",
            "messages": [{ "role": "user", "content": "hi there" }]
        }),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_string(&v["id"], "id");
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-sonnet-4");
    assert_eq!(v["content"], json!([{ "type": "text", "text": TEXT }]));
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    assert_eq!(v["usage"]["input_tokens"], 4);
    assert_eq!(v["usage"]["output_tokens"], 7);
}

#[test]
fn anthropic_stream_sends_the_event_sequence() {
    let server = scripted(&json!({ "text": TEXT }));
    let r = post(
        server.addr(),
        "/v1/messages",
        &json!({ "model": "claude", "stream": true, "messages": [] }),
    );
    assert!(r.complete);
    let events = r.events();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(std::iter::repeat_n(
        "content_block_delta",
        TEXT.chars().count().div_ceil(8),
    ));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    let data: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for (name, value) in names.iter().zip(&data) {
        assert_eq!(value["type"], *name);
    }
    assert_eq!(data[0]["message"]["model"], "claude");
    assert_eq!(data[0]["message"]["role"], "assistant");
    let text: String = data
        .iter()
        .filter(|v| v["type"] == "content_block_delta")
        .map(|v| {
            assert_eq!(v["delta"]["type"], "text_delta");
            v["delta"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, TEXT);
    let delta = &data[data.len() - 2];
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 7);
}

#[test]
fn gemini_generate_content_has_the_real_shape() {
    let server = scripted(&json!({ "text": TEXT }));
    let r = post(
        server.addr(),
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &json!({ "contents": [{ "role": "user", "parts": [{ "text": "hello gemini" }] }] }),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    let candidate = &v["candidates"][0];
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(candidate["content"]["parts"], json!([{ "text": TEXT }]));
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(candidate["index"], 0);
    assert_eq!(v["usageMetadata"]["promptTokenCount"], 2);
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 7);
    assert_eq!(v["usageMetadata"]["totalTokenCount"], 9);
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
}

#[test]
fn gemini_streams_as_sse_or_as_a_json_array() {
    let server = scripted(&json!({ "text": TEXT, "chunk_chars": 10 }));
    let body = json!({ "contents": [{ "parts": [{ "text": "hi" }] }] });
    let r = post(
        server.addr(),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        &body,
    );
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let chunks: Vec<Value> = r
        .events()
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks.len(), TEXT.chars().count().div_ceil(10));
    let text: String = chunks
        .iter()
        .map(|c| {
            c["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(text, TEXT);
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 7);
    assert!(chunks[0]["candidates"][0].get("finishReason").is_none());

    let r = post(
        server.addr(),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        &body,
    );
    let array = r.json();
    assert_eq!(array.as_array().unwrap().len(), chunks.len());
    assert_eq!(
        array[chunks.len() - 1]["candidates"][0]["finishReason"],
        "STOP"
    );
}

#[test]
fn finish_reasons_map_per_api() {
    let server = MockServer::start().unwrap();
    server
        .set_script(json!({ "rules": [
            { "contains": "LENGTH", "replies": [{ "text": "cut", "finish_reason": "length" }] },
            { "contains": "FILTER", "replies": [{ "text": "no", "finish_reason": "content_filter" }] }
        ] }))
        .unwrap();
    let addr = server.addr();
    let chat = |marker: &str| {
        post(
            addr,
            "/v1/chat/completions",
            &json!({ "model": "m", "messages": [{ "role": "user", "content": marker }] }),
        )
        .json()
    };
    assert_eq!(chat("LENGTH")["choices"][0]["finish_reason"], "length");
    assert_eq!(
        chat("FILTER")["choices"][0]["finish_reason"],
        "content_filter"
    );

    let anthropic = post(
        addr,
        "/v1/messages",
        &json!({ "model": "c", "messages": [{ "role": "user", "content": "LENGTH" }] }),
    )
    .json();
    assert_eq!(anthropic["stop_reason"], "max_tokens");

    let gemini = post(
        addr,
        "/v1beta/models/g:generateContent",
        &json!({ "contents": [{ "parts": [{ "text": "LENGTH" }] }] }),
    )
    .json();
    assert_eq!(gemini["candidates"][0]["finishReason"], "MAX_TOKENS");
    let gemini = post(
        addr,
        "/v1beta/models/g:generateContent",
        &json!({ "contents": [{ "parts": [{ "text": "FILTER" }] }] }),
    )
    .json();
    assert_eq!(gemini["candidates"][0]["finishReason"], "content_filter");

    let responses = post(
        addr,
        "/v1/responses",
        &json!({ "model": "r", "input": "LENGTH" }),
    )
    .json();
    assert_eq!(responses["status"], "incomplete");
    assert_eq!(
        responses["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    assert_eq!(responses["output"][0]["content"][0]["text"], "cut");

    let r = post(
        addr,
        "/v1/responses",
        &json!({ "model": "r", "input": "LENGTH", "stream": true }),
    );
    let last = r.events().pop().unwrap();
    assert_eq!(last.0.as_deref(), Some("response.incomplete"));
    let last: Value = serde_json::from_str(&last.1).unwrap();
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}

#[test]
fn usage_can_be_scripted() {
    let server =
        scripted(&json!({ "text": "x", "usage": { "input_tokens": 1234, "output_tokens": 56 } }));
    let v = post(server.addr(), "/v1/chat/completions", &chat_body(false)).json();
    assert_eq!(v["usage"]["prompt_tokens"], 1234);
    assert_eq!(v["usage"]["completion_tokens"], 56);
    assert_eq!(v["usage"]["total_tokens"], 1290);
    let v = post(
        server.addr(),
        "/v1/messages",
        &json!({ "model": "c", "messages": [] }),
    )
    .json();
    assert_eq!(v["usage"]["input_tokens"], 1234);
    assert_eq!(v["usage"]["output_tokens"], 56);
}

#[test]
fn error_statuses_send_provider_shaped_errors() {
    let server = MockServer::start().unwrap();
    server
        .set_script(json!({ "rules": [
            { "contains": "RATE", "replies": [{ "status": 429, "retry_after": 7, "text": "slow down" }] }
        ], "default": { "status": 500 } }))
        .unwrap();
    let addr = server.addr();

    let r = post(
        addr,
        "/v1/chat/completions",
        &json!({ "model": "m", "messages": [] }),
    );
    assert_eq!(r.status, 500);
    let v = r.json();
    assert_string(&v["error"]["message"], "message");
    assert_eq!(v["error"]["type"], "server_error");
    assert!(v["error"].get("code").is_some());
    assert!(r.header("retry-after").is_none());

    let r = post(
        addr,
        "/v1/chat/completions",
        &json!({ "model": "m", "stream": true, "messages": ["RATE"] }),
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    let v = r.json();
    assert_eq!(v["error"]["message"], "slow down");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");

    let v = post(
        addr,
        "/v1/messages",
        &json!({ "model": "c", "messages": ["RATE"] }),
    )
    .json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(v["error"]["message"], "slow down");
    let v = post(
        addr,
        "/v1/messages",
        &json!({ "model": "c", "messages": [] }),
    )
    .json();
    assert_eq!(v["error"]["type"], "api_error");

    let r = post(
        addr,
        "/v1beta/models/g:generateContent",
        &json!({ "contents": ["RATE"] }),
    );
    assert_eq!(r.status, 429);
    let v = r.json();
    assert_eq!(v["error"]["code"], 429);
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(v["error"]["message"], "slow down");
    let v = post(addr, "/v1beta/models/g:generateContent", &json!({})).json();
    assert_eq!(v["error"]["status"], "INTERNAL");
}

#[test]
fn raw_body_is_sent_verbatim() {
    let server = scripted(
        &json!({ "raw_body": "data: hi\n\n", "content_type": "text/event-stream", "status": 202 }),
    );
    let r = post(server.addr(), "/v1/chat/completions", &json!({}));
    assert_eq!(r.status, 202);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.text(), "data: hi\n\n");
}

#[test]
fn unknown_routes_get_a_json_404() {
    let server = MockServer::start().unwrap();
    for path in ["/v1/models", "/", "/__mock/nothing"] {
        let r = post(server.addr(), path, &json!({}));
        assert_eq!(r.status, 404, "{path}");
        assert!(r.json()["error"]["message"].is_string());
    }
    assert_eq!(server.stats()["requests"], 0);
}
