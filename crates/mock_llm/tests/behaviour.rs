//! Scripting, faults, keep-alive, concurrency accounting, recording and the control API.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

use common::{eventually, post, Client};
use mock_llm::{MockServer, ServerOptions};
use serde_json::{json, Value};

fn chat(model: &str, content: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": content }] })
}

fn reply_text(v: &Value) -> String {
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn rules_match_by_model_contains_and_path_and_repeat_their_last_reply() {
    let server = MockServer::start().unwrap();
    server
        .set_script(json!({
            "rules": [
                { "model": "a", "replies": [{ "text": "a1" }, { "text": "a2" }] },
                { "contains": "needle", "replies": [{ "text": "found" }] },
                { "path_contains": "deployments/blue", "replies": [{ "text": "azure blue" }] },
                { "model": "gemini-x", "replies": [{ "text": "gemini by path" }] }
            ],
            "default": { "text": "fallback" }
        }))
        .unwrap();
    let addr = server.addr();
    let texts: Vec<String> = (0..4)
        .map(|_| reply_text(&post(addr, "/v1/chat/completions", &chat("a", "x")).json()))
        .collect();
    assert_eq!(texts, ["a1", "a2", "a2", "a2"]);
    // The first matching rule wins: model "a" with a needle still gets rule 0.
    assert_eq!(
        reply_text(&post(addr, "/v1/chat/completions", &chat("a", "needle")).json()),
        "a2"
    );
    assert_eq!(
        reply_text(&post(addr, "/v1/chat/completions", &chat("b", "a needle")).json()),
        "found"
    );
    assert_eq!(
        reply_text(&post(addr, "/v1/chat/completions", &chat("b", "hay")).json()),
        "fallback"
    );
    let azure = post(
        addr,
        "/openai/deployments/blue/chat/completions?api-version=2024-10-21",
        &json!({ "messages": [] }),
    )
    .json();
    assert_eq!(reply_text(&azure), "azure blue");
    assert_eq!(azure["model"], "blue");
    let gemini = post(addr, "/v1beta/models/gemini-x:generateContent", &json!({})).json();
    assert_eq!(
        gemini["candidates"][0]["content"]["parts"][0]["text"],
        "gemini by path"
    );

    let records = server.requests();
    let rules: Vec<Value> = records.iter().map(|r| r["rule"].clone()).collect();
    assert_eq!(
        rules,
        [
            json!(0),
            json!(0),
            json!(0),
            json!(0),
            json!(0),
            json!(1),
            Value::Null,
            json!(2),
            json!(3)
        ]
    );
}

#[test]
fn without_a_script_the_reply_is_mock_reply() {
    let server = MockServer::start().unwrap();
    let v = post(server.addr(), "/v1/chat/completions", &chat("m", "hi")).json();
    assert_eq!(reply_text(&v), "mock reply");
}

#[test]
fn control_api_over_http() {
    let server = MockServer::start().unwrap();
    let mut client = Client::connect(server.addr()).unwrap();
    let bad = client
        .request(
            "POST",
            "/__mock/script",
            r#"{"rules":[{"modle":"x","replies":[{}]}]}"#,
        )
        .unwrap();
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("modle"));
    let ok = client
        .request(
            "POST",
            "/__mock/script",
            r#"{"rules":[{"model":"x","replies":[{"text":"from http"}]}]}"#,
        )
        .unwrap();
    assert_eq!(ok.json(), json!({ "ok": true, "rules": 1 }));
    let answer = client
        .request("POST", "/v1/chat/completions", &chat("x", "q").to_string())
        .unwrap();
    assert_eq!(reply_text(&answer.json()), "from http");
    let requests = client
        .request("GET", "/__mock/requests", "")
        .unwrap()
        .json();
    assert_eq!(requests.as_array().unwrap().len(), 1);
    let stats = client.request("GET", "/__mock/stats", "").unwrap().json();
    assert_eq!(stats["requests"], 1);
    assert_eq!(stats["connections_open"], 1);
    let reset = client.request("POST", "/__mock/reset", "").unwrap();
    assert_eq!(reset.json(), json!({ "ok": true }));
    let stats = client.request("GET", "/__mock/stats", "").unwrap().json();
    assert_eq!(stats["requests"], 0);
    assert_eq!(
        stats["connections_open"], 1,
        "live counters survive a reset"
    );
    assert_eq!(
        client
            .request("GET", "/__mock/requests", "")
            .unwrap()
            .json(),
        json!([])
    );
    let answer = client
        .request("POST", "/v1/chat/completions", &chat("x", "q").to_string())
        .unwrap();
    assert_eq!(
        reply_text(&answer.json()),
        "mock reply",
        "reset clears the rules"
    );
}

#[test]
fn requests_are_recorded() {
    let server = MockServer::start().unwrap();
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .request(
            "POST",
            "/v1/chat/completions?x=1",
            &json!({ "model": "gpt", "stream": true, "messages": [] }).to_string(),
        )
        .unwrap();
    client.request("POST", "/v1/messages", "not json").unwrap();
    let records = server.requests();
    assert_eq!(records.len(), 2);
    let r = &records[0];
    assert_eq!(r["seq"], 1);
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/v1/chat/completions?x=1");
    assert_eq!(r["headers"]["authorization"], "Bearer sk-test");
    assert_eq!(r["headers"]["content-type"], "application/json");
    assert_eq!(r["body"]["model"], "gpt");
    assert_eq!(r["model"], "gpt");
    assert_eq!(r["stream"], true);
    assert_eq!(r["completed"], true);
    assert_eq!(r["client_closed"], false);
    assert_eq!(r["status"], 200);
    assert!(r["received_at_ms"].is_u64());
    assert_eq!(records[1]["body"], "not json");
    assert_eq!(records[1]["model"], Value::Null);
    assert_eq!(records[1]["connection_id"], r["connection_id"]);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = MockServer::start().unwrap();
    let mut client = Client::connect(server.addr()).unwrap();
    for i in 0..3 {
        let r = client
            .request(
                "POST",
                "/v1/chat/completions",
                &chat("m", &format!("n{i}")).to_string(),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("keep-alive"));
        // Streams are chunked, so they keep the connection too.
        let r = client
            .request(
                "POST",
                "/v1/messages",
                &json!({ "model": "c", "stream": true }).to_string(),
            )
            .unwrap();
        assert!(r.complete);
    }
    let stats = server.stats();
    assert_eq!(stats["requests"], 6);
    assert_eq!(stats["connections_total"], 1);
    let ids: Vec<Value> = server
        .requests()
        .iter()
        .map(|r| r["connection_id"].clone())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = MockServer::start().unwrap();
    server
        .set_script(json!({ "rules": [
            { "replies": [{ "text": "slow", "latency_ms": 50 }, { "text": "fast" }] }
        ] }))
        .unwrap();
    let mut client = Client::connect(server.addr()).unwrap();
    let body = chat("m", "x").to_string();
    client.send("POST", "/v1/chat/completions", &body).unwrap();
    client.send("POST", "/v1/chat/completions", &body).unwrap();
    assert_eq!(reply_text(&client.receive().unwrap().json()), "slow");
    assert_eq!(reply_text(&client.receive().unwrap().json()), "fast");
}

#[test]
fn max_in_flight_counts_concurrent_requests_exactly() {
    const N: usize = 40;
    let server = MockServer::start().unwrap();
    server
        .set_script(json!({ "default": { "text": "late", "latency_ms": 1000 } }))
        .unwrap();
    let addr = server.addr();
    // Connect everyone first, then send together, so all N are in flight at once.
    let clients: Vec<Client> = (0..N).map(|_| Client::connect(addr).unwrap()).collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(N));
    let threads: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                client
                    .request("POST", "/v1/chat/completions", &chat("m", "x").to_string())
                    .unwrap()
            })
        })
        .collect();
    assert!(eventually(Duration::from_secs(5), || server.stats()
        ["in_flight"]
        == N));
    for t in threads {
        assert_eq!(reply_text(&t.join().unwrap().json()), "late");
    }
    let stats = server.stats();
    assert_eq!(stats["max_in_flight"], N);
    assert_eq!(stats["in_flight"], 0);
    assert_eq!(stats["requests"], N);
    server.reset();
    assert_eq!(server.stats()["max_in_flight"], 0);
}

#[test]
fn reset_fault_resets_the_connection() {
    let server = MockServer::start().unwrap();
    server
        .set_script(json!({ "default": { "fault": "reset" } }))
        .unwrap();
    let mut client = Client::connect(server.addr()).unwrap();
    let err = client
        .request("POST", "/v1/chat/completions", &chat("m", "x").to_string())
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
        ),
        "{err:?}"
    );
    assert_eq!(
        err.kind(),
        ErrorKind::ConnectionReset,
        "SO_LINGER 0 should send a reset"
    );
    let record = &server.requests()[0];
    assert_eq!(record["completed"], false);
    assert_eq!(record["client_closed"], false);
    assert_eq!(server.stats()["in_flight"], 0);
}

#[test]
fn malformed_json_fault_sends_invalid_json() {
    let server = MockServer::start().unwrap();
    server
        .set_script(json!({ "default": { "fault": "malformed_json" } }))
        .unwrap();
    let r = post(server.addr(), "/v1/chat/completions", &chat("m", "x"));
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());

    let r = post(server.addr(), "/v1/messages", &json!({ "stream": true }));
    assert!(r.complete);
    let events = r.events();
    assert!(!events.is_empty());
    assert!(events
        .iter()
        .all(|(_, d)| serde_json::from_str::<Value>(d).is_err()));
}

#[test]
fn truncated_stream_fault_stops_before_the_terminator() {
    let server = MockServer::start().unwrap();
    server
        .set_script(json!({ "default": { "fault": "truncated_stream", "text": "a fairly long answer that needs many chunks" } }))
        .unwrap();
    let mut body = chat("m", "x");
    body["stream"] = json!(true);
    let r = post(server.addr(), "/v1/chat/completions", &body);
    assert_eq!(r.status, 200);
    assert!(!r.complete, "the chunked body must not end properly");
    let events = r.events();
    assert!(events.len() >= 2);
    assert!(events.iter().all(|(_, d)| d != "[DONE]"));
    for (_, d) in &events {
        serde_json::from_str::<Value>(d).unwrap();
    }

    let r = post(server.addr(), "/v1/messages", &json!({ "stream": true }));
    assert!(!r.complete);
    assert!(r
        .events()
        .iter()
        .all(|(n, _)| n.as_deref() != Some("message_stop")));

    let r = post(server.addr(), "/v1/chat/completions", &chat("m", "x"));
    assert!(
        !r.complete,
        "a plain body is cut short of its content-length"
    );
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    let records = server.requests();
    assert!(records
        .iter()
        .all(|r| r["completed"] == false && r["client_closed"] == false));
}

#[test]
fn slow_loris_fault_drips_the_body() {
    let server = MockServer::start().unwrap();
    server
        .set_script(
            json!({ "default": { "fault": "slow_loris", "chunk_delay_ms": 2, "text": "ok" } }),
        )
        .unwrap();
    let start = Instant::now();
    let r = post(server.addr(), "/v1/messages", &json!({ "model": "c" }));
    let elapsed = start.elapsed();
    assert!(r.complete);
    assert_eq!(r.json()["content"][0]["text"], "ok");
    let min = Duration::from_millis(2 * (r.body.len() as u64 - 1));
    assert!(
        elapsed >= min,
        "{elapsed:?} < {min:?} for {} bytes",
        r.body.len()
    );
    assert_eq!(server.requests()[0]["completed"], true);

    // A client that leaves mid-drip is recorded as such.
    server
        .set_script(json!({ "default": { "fault": "slow_loris", "chunk_delay_ms": 1000 } }))
        .unwrap();
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send("POST", "/v1/chat/completions", &chat("m", "x").to_string())
        .unwrap();
    let mut first = [0u8; 12];
    client
        .stream()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    (&mut client.stream()).read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    drop(client);
    assert!(eventually(Duration::from_secs(3), || server.requests()[1]
        ["client_closed"]
        == true));
}

#[test]
fn hang_fault_is_recorded_as_client_closed_when_the_client_leaves() {
    let server = MockServer::start().unwrap();
    server
        .set_script(json!({ "default": { "fault": "hang" } }))
        .unwrap();
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send("POST", "/v1/chat/completions", &chat("m", "x").to_string())
        .unwrap();
    client
        .stream()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 1];
    let err = (&mut client.stream()).read(&mut buf).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    assert_eq!(server.stats()["in_flight"], 1);
    let dropped = Instant::now();
    drop(client);
    assert!(eventually(Duration::from_secs(2), || server.requests()[0]
        ["client_closed"]
        == true));
    assert!(
        dropped.elapsed() < Duration::from_millis(500),
        "noticed in {:?}",
        dropped.elapsed()
    );
    let stats = server.stats();
    assert_eq!(stats["client_closed"], 1);
    assert_eq!(stats["in_flight"], 0);
    assert_eq!(server.requests()[0]["completed"], false);
}

#[test]
fn hang_is_bounded_by_max_hang() {
    let server = MockServer::start_with(ServerOptions {
        max_hang: Duration::from_millis(100),
        ..ServerOptions::default()
    })
    .unwrap();
    server
        .set_script(json!({ "default": { "fault": "hang" } }))
        .unwrap();
    let mut client = Client::connect(server.addr()).unwrap();
    let start = Instant::now();
    let result = client.request("POST", "/v1/chat/completions", &chat("m", "x").to_string());
    assert!(result.is_err(), "the connection closes without an answer");
    assert!(start.elapsed() < Duration::from_secs(5));
    let record = &server.requests()[0];
    assert_eq!(record["completed"], false);
    assert_eq!(record["client_closed"], false);
}

#[test]
fn a_client_leaving_during_latency_is_noticed_promptly() {
    let server = MockServer::start().unwrap();
    server
        .set_script(json!({ "default": { "latency_ms": 10_000 } }))
        .unwrap();
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send("POST", "/v1/chat/completions", &chat("m", "x").to_string())
        .unwrap();
    assert!(eventually(Duration::from_secs(2), || server.stats()
        ["in_flight"]
        == 1));
    let dropped = Instant::now();
    drop(client);
    assert!(eventually(Duration::from_secs(2), || server.stats()
        ["client_closed"]
        == 1));
    assert!(
        dropped.elapsed() < Duration::from_millis(500),
        "noticed in {:?}",
        dropped.elapsed()
    );
    assert_eq!(server.requests()[0]["client_closed"], true);
    assert_eq!(server.stats()["in_flight"], 0);
}

#[test]
fn streams_are_paced_by_chunk_delay() {
    let server = MockServer::start().unwrap();
    server
        .set_script(
            json!({ "default": { "text": "abcdefghij", "chunk_chars": 2, "chunk_delay_ms": 30 } }),
        )
        .unwrap();
    let start = Instant::now();
    let r = post(server.addr(), "/v1/messages", &json!({ "stream": true }));
    assert!(r.complete);
    // 11 events (3 + 5 deltas + 3), 10 gaps of 30 ms.
    assert_eq!(r.events().len(), 11);
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn huge_body_fault_streams_a_huge_text() {
    const SIZE: u64 = 3_000_001;
    let server = MockServer::start().unwrap();
    server
        .set_script(json!({ "default": { "fault": "huge_body", "huge_bytes": SIZE } }))
        .unwrap();
    let r = post(server.addr(), "/v1/chat/completions", &chat("m", "x"));
    assert!(r.complete);
    let v = r.json();
    let text = reply_text(&v);
    assert_eq!(text.len() as u64, SIZE);
    assert_eq!(v["usage"]["completion_tokens"], SIZE.div_ceil(4));

    let r = post(
        server.addr(),
        "/v1/responses",
        &json!({ "model": "r", "stream": true }),
    );
    assert!(r.complete);
    let events = r.events();
    let deltas: usize = events
        .iter()
        .filter(|(n, _)| n.as_deref() == Some("response.output_text.delta"))
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).unwrap()["delta"]
                .as_str()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(deltas as u64, SIZE);
    let done: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    let full = done["response"]["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert_eq!(full.len() as u64, SIZE);
}

#[test]
fn dropping_the_server_closes_its_port() {
    let server = MockServer::start().unwrap();
    let addr = server.addr();
    drop(server);
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn lifetime_stops_the_server_by_itself() {
    let server = MockServer::start_with(ServerOptions {
        lifetime: Some(Duration::from_millis(100)),
        ..ServerOptions::default()
    })
    .unwrap();
    let addr = server.addr();
    let start = Instant::now();
    server.wait();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn works_inside_another_tokio_runtime() {
    let server = MockServer::start().unwrap();
    let addr = server.addr();
    let r =
        tokio::task::spawn_blocking(move || post(addr, "/v1/chat/completions", &chat("m", "x")))
            .await
            .unwrap();
    assert_eq!(r.status, 200);
    drop(server);
}

#[test]
fn chunked_request_bodies_and_expect_continue_are_understood() {
    use std::io::Write;
    let server = MockServer::start().unwrap();
    let mut client = Client::connect(server.addr()).unwrap();
    let body = chat("chunky", "one two three").to_string();
    let (a, b) = body.split_at(10);
    let head = "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\
                expect: 100-continue\r\n\r\n";
    let mut stream = client.stream();
    stream.write_all(head.as_bytes()).unwrap();
    // The body waits for the interim answer, as curl does.
    let interim = client.receive().unwrap();
    assert_eq!(interim.status, 100);
    let chunks = format!(
        "{:x}\r\n{a}\r\n{:x};ext=1\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let mut stream = client.stream();
    stream.write_all(chunks.as_bytes()).unwrap();
    let r = client.receive().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["model"], "chunky");
    assert_eq!(r.json()["usage"]["prompt_tokens"], 3);
    assert_eq!(server.requests()[0]["body"]["model"], "chunky");
}
