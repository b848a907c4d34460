//! `Runtime::call` end to end against the loopback mock LLM server: every provider plain and
//! streaming, retry policies and their delays, `Retry-After`, fallback, round-robin, timeouts,
//! finish-reason filters, validation errors, transport faults, cancellation, concurrency and
//! connection pooling, and `env.NAME` keys.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baml_runtime::{CallError, CallOptions, CallOutput, Runtime, Usage};
use mock_llm::MockServer;
use serde_json::{json, Map, Value as Json};

const PERSON: &str = r#"{"name": "Ann Lee Smith", "age": 31}"#;

const FUNCTION: &str = r##"
class Person {
  name string
  age int
}

function Extract(text: string) -> Person {
  client Main
  prompt #"{{ text }} {{ ctx.output_format }}"#
}
"##;

fn person() -> Json {
    json!({ "name": "Ann Lee Smith", "age": 31 })
}

/// A runtime over `FUNCTION` plus `clients` (which must define `Main`).
fn runtime_with_env(clients: &str, env: &[(&str, &str)]) -> Runtime {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    match Runtime::from_files(
        [("main.baml".to_string(), format!("{FUNCTION}\n{clients}"))],
        env,
    ) {
        Ok(rt) => rt,
        Err(e) => panic!("{e}\n{clients}"),
    }
}

fn runtime(clients: &str) -> Runtime {
    runtime_with_env(clients, &[])
}

/// An OpenAI client `name` for `model` on the mock, with extra option lines.
fn openai(name: &str, url: &str, model: &str, extra: &str) -> String {
    format!(
        "client<llm> {name} {{\n  provider openai\n  options {{\n    model \"{model}\"\n    api_key \"k\"\n    base_url \"{url}/v1\"\n{extra}\n  }}\n}}\n"
    )
}

/// Like [`openai`] with a `retry_policy` line.
fn openai_retrying(name: &str, url: &str, model: &str, policy: &str) -> String {
    openai(name, url, model, "").replacen(
        "  provider openai\n",
        &format!("  provider openai\n  retry_policy {policy}\n"),
        1,
    )
}

/// A `constant_delay` retry policy.
fn constant_policy(name: &str, max_retries: u32, delay_ms: u64) -> String {
    format!(
        "retry_policy {name} {{\n  max_retries {max_retries}\n  strategy {{\n    type constant_delay\n    delay_ms {delay_ms}\n  }}\n}}\n"
    )
}

fn strategy(name: &str, provider: &str, items: &[&str], extra: &str) -> String {
    format!(
        "client<llm> {name} {{\n  provider {provider}\n  options {{\n    strategy [{}]\n{extra}\n  }}\n}}\n",
        items.join(", ")
    )
}

fn args() -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("text".into(), json!("hello world"));
    m
}

fn using(client: &str) -> CallOptions {
    CallOptions {
        client: Some(client.into()),
        ..CallOptions::default()
    }
}

/// Every call in these tests is bounded: a hang fails the test instead of stalling the run.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("the call did not finish within 10 s")
}

async fn call(rt: &Runtime, opts: &CallOptions) -> Result<CallOutput, CallError> {
    bounded(rt.call("Extract", &args(), opts, None)).await
}

/// A streaming call; returns the result and every partial seen.
/// One call with default options, within [`bounded`]'s time, that must return [`person`].
async fn call_returns_person(rt: &Runtime) {
    let out = bounded(call(rt, &CallOptions::default())).await.unwrap();
    assert_eq!(out.value, person());
}

async fn stream(rt: &Runtime, opts: &CallOptions) -> (Result<CallOutput, CallError>, Vec<Json>) {
    let mut partials = Vec::new();
    let mut sink = |v: Json| partials.push(v);
    let out = bounded(rt.call("Extract", &args(), opts, Some(&mut sink))).await;
    (out, partials)
}

fn script(mock: &MockServer, script: Json) {
    mock.set_script(script).unwrap();
}

fn models(mock: &MockServer) -> Vec<String> {
    mock.requests()
        .iter()
        .map(|r| r["model"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Gaps between the `received_at_ms` of successive recorded requests.
fn gaps(mock: &MockServer) -> Vec<u64> {
    let at: Vec<u64> = mock
        .requests()
        .iter()
        .map(|r| r["received_at_ms"].as_u64().unwrap())
        .collect();
    at.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Polls the records until the request with index `i` is marked `client_closed`.
async fn wait_client_closed(mock: &MockServer, i: usize) -> bool {
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        if mock
            .requests()
            .get(i)
            .is_some_and(|r| r["client_closed"] == json!(true))
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn http_error(e: &CallError) -> (Option<u16>, bool, String) {
    match e {
        CallError::Http {
            status,
            timeout,
            client,
            ..
        } => (*status, *timeout, client.clone()),
        other => panic!("expected BAML_HTTP, got {}: {other}", other.code()),
    }
}

struct ProviderCase {
    provider: &'static str,
    /// `base_url` relative to the mock's URL.
    base: &'static str,
    extra: &'static str,
    /// The model the mock sees (Azure: the deployment).
    model: &'static str,
    path: &'static str,
    stream_path: &'static str,
    /// Whether the streamed answer carries token counts (OpenAI-compatible providers other
    /// than `openai` do not ask for them, as BAML does not).
    stream_usage: bool,
}

const PROVIDERS: &[ProviderCase] = &[
    ProviderCase {
        provider: "openai",
        base: "/v1",
        extra: "",
        model: "m-openai",
        path: "/v1/chat/completions",
        stream_path: "/v1/chat/completions",
        stream_usage: true,
    },
    ProviderCase {
        provider: "openai-generic",
        base: "/v1",
        extra: "",
        model: "m-generic",
        path: "/v1/chat/completions",
        stream_path: "/v1/chat/completions",
        stream_usage: false,
    },
    ProviderCase {
        provider: "openrouter",
        base: "/v1",
        extra: "",
        model: "m-openrouter",
        path: "/v1/chat/completions",
        stream_path: "/v1/chat/completions",
        stream_usage: false,
    },
    ProviderCase {
        provider: "ollama",
        base: "/v1",
        extra: "",
        model: "m-ollama",
        path: "/v1/chat/completions",
        stream_path: "/v1/chat/completions",
        stream_usage: false,
    },
    ProviderCase {
        provider: "azure-openai",
        base: "/openai/deployments/dep",
        extra: "    api_version \"x\"\n",
        model: "dep",
        path: "/openai/deployments/dep/chat/completions?api-version=x",
        stream_path: "/openai/deployments/dep/chat/completions?api-version=x",
        stream_usage: false,
    },
    ProviderCase {
        provider: "anthropic",
        base: "",
        extra: "",
        model: "m-anthropic",
        path: "/v1/messages",
        stream_path: "/v1/messages",
        stream_usage: true,
    },
    ProviderCase {
        provider: "google-ai",
        base: "/v1beta",
        extra: "",
        model: "m-google",
        path: "/v1beta/models/m-google:generateContent",
        stream_path: "/v1beta/models/m-google:streamGenerateContent?alt=sse",
        stream_usage: true,
    },
    ProviderCase {
        provider: "openai-responses",
        base: "/v1",
        extra: "",
        model: "m-responses",
        path: "/v1/responses",
        stream_path: "/v1/responses",
        stream_usage: true,
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_plain_and_streaming() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    for case in PROVIDERS {
        let model = if case.provider == "azure-openai" {
            String::new()
        } else {
            format!("    model \"{}\"\n", case.model)
        };
        let clients = format!(
            "client<llm> Main {{\n  provider {}\n  options {{\n{model}    api_key \"k\"\n    base_url \"{url}{}\"\n{}  }}\n}}\n",
            case.provider, case.base, case.extra
        );
        let rt = runtime(&clients);
        mock.reset();
        script(
            &mock,
            json!({ "rules": [{ "model": case.model, "replies": [{
                "text": PERSON,
                "usage": { "input_tokens": 12, "output_tokens": 5 },
                "chunk_chars": 4
            }] }] }),
        );
        let who = case.provider;

        let out = call(&rt, &CallOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        assert_eq!(out.value, person(), "{who}");
        assert_eq!(out.raw_output, PERSON, "{who}");
        assert_eq!(out.client, "Main", "{who}");
        assert_eq!(out.attempts, 1, "{who}");
        assert_eq!(
            out.usage,
            Usage {
                input_tokens: 12,
                output_tokens: 5
            },
            "{who}"
        );

        let (out, partials) = stream(&rt, &CallOptions::default()).await;
        let out = out.unwrap_or_else(|e| panic!("{who} streaming: {e}"));
        assert_eq!(out.value, person(), "{who} streaming");
        assert_eq!(out.raw_output, PERSON, "{who} streaming");
        let expected_usage = if case.stream_usage {
            Usage {
                input_tokens: 12,
                output_tokens: 5,
            }
        } else {
            Usage::default()
        };
        assert_eq!(out.usage, expected_usage, "{who} streaming");
        assert!(partials.len() >= 2, "{who}: partials {partials:?}");
        assert_eq!(partials.last(), Some(&person()), "{who}: {partials:?}");
        for w in partials.windows(2) {
            assert_ne!(w[0], w[1], "{who}: a partial repeated: {partials:?}");
            // Partials only grow: a name seen earlier is a prefix of every later one.
            let (a, b) = (&w[0]["name"], &w[1]["name"]);
            if let (Some(a), Some(b)) = (a.as_str(), b.as_str()) {
                assert!(b.starts_with(a), "{who}: {partials:?}");
            } else {
                assert!(a.is_null(), "{who}: {partials:?}");
            }
        }

        let reqs = mock.requests();
        assert_eq!(reqs.len(), 2, "{who}: {reqs:?}");
        assert_eq!(reqs[0]["path"], case.path, "{who}");
        assert_eq!(reqs[0]["stream"], false, "{who}");
        assert_eq!(reqs[0]["model"], case.model, "{who}");
        assert_eq!(reqs[1]["path"], case.stream_path, "{who}");
        assert_eq!(reqs[1]["stream"], true, "{who}");
        assert!(reqs.iter().all(|r| r["status"] == 200), "{who}: {reqs:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_500s_with_constant_delay() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&format!(
        "{}{}",
        openai_retrying("Main", &url, "m1", "Constant"),
        constant_policy("Constant", 2, 150)
    ));
    script(
        &mock,
        json!({ "default": { "status": 500, "text": "boom" } }),
    );
    let e = call(&rt, &CallOptions::default()).await.unwrap_err();
    assert_eq!(e.code(), "BAML_HTTP");
    assert_eq!(e.class_name(), "BamlClientHttpError");
    assert_eq!(http_error(&e), (Some(500), false, "Main".into()));
    assert_eq!(mock.requests().len(), 3);
    for gap in gaps(&mock) {
        assert!((150..300).contains(&gap), "gap {gap} ms, {:?}", gaps(&mock));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_with_exponential_backoff() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&format!(
        "{}retry_policy Twice {{\n  max_retries 2\n  strategy {{\n    type exponential_backoff\n    delay_ms 100\n    multiplier 2\n    max_delay_ms 1000\n  }}\n}}\n",
        openai_retrying("Main", &url, "m1", "Twice")
    ));
    script(&mock, json!({ "default": { "status": 500 } }));
    let e = call(&rt, &CallOptions::default()).await.unwrap_err();
    assert_eq!(http_error(&e).0, Some(500));
    let g = gaps(&mock);
    assert_eq!(g.len(), 2, "{:?}", mock.requests());
    assert!(g[0] >= 90 && g[0] < 250, "gaps {g:?}");
    assert!(g[1] >= 180 && g[1] < 350, "gaps {g:?}");

    // A success after failures stops retrying and counts every attempt.
    mock.reset();
    script(
        &mock,
        json!({ "rules": [{ "model": "m1", "replies": [{ "status": 503 }, { "text": PERSON }] }] }),
    );
    let out = call(&rt, &CallOptions::default()).await.unwrap();
    assert_eq!(out.value, person());
    assert_eq!(out.attempts, 2);
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&format!(
        "{}{}",
        openai_retrying("Main", &url, "m1", "Quick"),
        constant_policy("Quick", 1, 10)
    ));
    script(
        &mock,
        json!({ "rules": [{ "model": "m1", "replies": [
            { "status": 429, "retry_after": 1 },
            { "text": PERSON }
        ] }] }),
    );
    let out = call(&rt, &CallOptions::default()).await.unwrap();
    assert_eq!(out.value, person());
    assert_eq!(out.attempts, 2);
    let g = gaps(&mock);
    assert_eq!(g.len(), 1);
    assert!(g[0] >= 1000 && g[0] < 1300, "gap {g:?}");

    // The error of a 429 carries the Retry-After it gave.
    mock.reset();
    script(
        &mock,
        json!({ "default": { "status": 429, "retry_after": 0 } }),
    );
    let e = call(&rt, &CallOptions::default()).await.unwrap_err();
    let CallError::Http {
        status,
        retry_after,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((*status, *retry_after), (Some(429), Some(Duration::ZERO)));
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_moves_on_after_http_errors() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&format!(
        "{}{}{}{}{}{}",
        openai("Main", &url, "main", ""),
        openai("Backup", &url, "backup", ""),
        openai("Third", &url, "third", ""),
        strategy("Both", "fallback", &["Main", "Backup"], ""),
        strategy("Inner", "fallback", &["Main", "Backup"], ""),
        strategy("Outer", "fallback", &["Inner", "Third"], ""),
    ));
    script(
        &mock,
        json!({ "rules": [
            { "model": "main", "replies": [{ "status": 429 }] },
            { "model": "backup", "replies": [{ "text": PERSON, "usage": { "input_tokens": 3, "output_tokens": 4 } }] }
        ] }),
    );
    let out = call(&rt, &using("Both")).await.unwrap();
    assert_eq!(out.value, person());
    assert_eq!(out.client, "Backup");
    assert_eq!(out.attempts, 2);
    // Only answers count: the 429 carried no usage.
    assert_eq!(
        out.usage,
        Usage {
            input_tokens: 3,
            output_tokens: 4
        }
    );
    assert_eq!(models(&mock), ["main", "backup"]);

    // Nested: Inner (both failing) then Third.
    mock.reset();
    script(
        &mock,
        json!({ "rules": [
            { "model": "main", "replies": [{ "status": 500 }] },
            { "model": "backup", "replies": [{ "status": 503 }] },
            { "model": "third", "replies": [{ "text": PERSON }] }
        ] }),
    );
    let out = call(&rt, &using("Outer")).await.unwrap();
    assert_eq!(out.client, "Third");
    assert_eq!(out.value, person());
    assert_eq!(models(&mock), ["main", "backup", "third"]);

    // All failing: the last client's error, one request each.
    mock.reset();
    script(&mock, json!({ "default": { "status": 502 } }));
    let e = call(&rt, &using("Outer")).await.unwrap_err();
    assert_eq!(http_error(&e), (Some(502), false, "Third".into()));
    assert_eq!(models(&mock), ["main", "backup", "third"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_rotates_from_start() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&format!(
        "{}{}{}{}",
        openai("Main", &url, "main", ""),
        openai("A", &url, "a", ""),
        openai("B", &url, "b", ""),
        strategy("Rr", "round-robin", &["A", "B"], "    start 1"),
    ));
    script(&mock, json!({ "default": { "text": PERSON } }));
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(call(&rt, &using("Rr")).await.unwrap().client);
    }
    assert_eq!(clients, ["B", "A", "B"]);
    assert_eq!(models(&mock), ["b", "a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&openai(
        "Main",
        &url,
        "m1",
        "    http {\n      request_timeout_ms 200\n    }",
    ));
    script(
        &mock,
        json!({ "default": { "text": PERSON, "latency_ms": 2000 } }),
    );
    let start = Instant::now();
    let e = call(&rt, &CallOptions::default()).await.unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.code(), "BAML_HTTP");
    assert_eq!(e.class_name(), "BamlTimeoutError");
    assert_eq!(http_error(&e), (None, true, "Main".into()));
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(1),
        "{took:?}"
    );
    assert_eq!(mock.requests().len(), 1);
    assert!(wait_client_closed(&mock, 0).await, "{:?}", mock.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_timeouts() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&format!(
        "{}{}{}",
        openai(
            "Main",
            &url,
            "ttft",
            "    http {\n      time_to_first_token_timeout_ms 200\n    }"
        ),
        openai(
            "Idle",
            &url,
            "idle",
            "    http {\n      idle_timeout_ms 150\n    }"
        ),
        openai(
            "Total",
            &url,
            "total",
            "    http {\n      request_timeout_ms 300\n    }"
        ),
    ));
    let ttft_only = runtime(&openai(
        "Main",
        &url,
        "slow",
        "    http {\n      time_to_first_token_timeout_ms 300\n    }",
    ));
    script(
        &mock,
        json!({ "rules": [
            { "model": "ttft", "replies": [{ "text": PERSON, "latency_ms": 2000 }] },
            { "model": "idle", "replies": [{ "text": PERSON, "chunk_delay_ms": 600 }] },
            { "model": "total", "replies": [{ "text": PERSON, "chunk_delay_ms": 100, "chunk_chars": 2 }] },
            { "model": "slow", "replies": [
                { "text": PERSON, "fault": "slow_loris", "chunk_delay_ms": 50 },
                { "text": PERSON, "chunk_delay_ms": 100, "chunk_chars": 4 }
            ] }
        ] }),
    );

    // No response head within time_to_first_token_timeout_ms.
    let start = Instant::now();
    let (e, partials) = stream(&rt, &CallOptions::default()).await;
    let e = e.unwrap_err();
    assert_eq!(http_error(&e), (None, true, "Main".into()));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(partials.is_empty());
    assert!(wait_client_closed(&mock, 0).await, "{:?}", mock.requests());

    // A stream that stalls longer than idle_timeout_ms between events.
    let start = Instant::now();
    let (e, _) = stream(&rt, &using("Idle")).await;
    let e = e.unwrap_err();
    assert_eq!(http_error(&e), (None, true, "Idle".into()));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(wait_client_closed(&mock, 1).await, "{:?}", mock.requests());

    // request_timeout_ms bounds the whole stream, as BAML documents: events keep coming every
    // 100 ms but the answer needs about 2 s.
    let start = Instant::now();
    let (e, partials) = stream(&rt, &using("Total")).await;
    let e = e.unwrap_err();
    assert_eq!(http_error(&e), (None, true, "Total".into()));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(!partials.is_empty());
    assert!(wait_client_closed(&mock, 2).await, "{:?}", mock.requests());

    // The head comes at once but the first event trickles in a byte every 50 ms: no token
    // within time_to_first_token_timeout_ms.
    let start = Instant::now();
    let (e, partials) = stream(&ttft_only, &CallOptions::default()).await;
    let e = e.unwrap_err();
    assert_eq!(http_error(&e), (None, true, "Main".into()));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(partials.is_empty());
    assert!(wait_client_closed(&mock, 3).await, "{:?}", mock.requests());
    // Once a token came, that timeout no longer applies: this stream takes about 1 s.
    let (out, partials) = stream(&ttft_only, &CallOptions::default()).await;
    assert_eq!(out.unwrap().value, person());
    assert!(partials.len() >= 2);
    assert_eq!(models(&mock), ["ttft", "idle", "total", "slow", "slow"]);

    // The same slow stream without the timeouts succeeds.
    mock.reset();
    script(
        &mock,
        json!({ "default": { "text": PERSON, "chunk_delay_ms": 20 } }),
    );
    for client in ["Main", "Idle", "Total"] {
        let (out, _) = stream(&rt, &using(client)).await;
        assert_eq!(out.unwrap().value, person(), "{client}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_reason_filters() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&format!(
        "{}{}{}",
        openai(
            "Main",
            &url,
            "m1",
            "    finish_reason_deny_list [\"length\"]"
        )
        .replacen(
            "  provider openai\n",
            "  provider openai\n  retry_policy Twice\n",
            1
        ),
        openai(
            "Allow",
            &url,
            "m2",
            "    finish_reason_allow_list [\"stop\"]"
        ),
        constant_policy("Twice", 2, 10),
    ));
    script(
        &mock,
        json!({ "default": { "text": PERSON, "finish_reason": "length" } }),
    );
    let e = call(&rt, &CallOptions::default()).await.unwrap_err();
    assert_eq!(e.code(), "BAML_FINISH_REASON");
    assert_eq!(e.class_name(), "BamlClientFinishReasonError");
    let CallError::FinishReason {
        finish_reason,
        raw_output,
        client,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        (finish_reason.as_str(), raw_output.as_str(), client.as_str()),
        ("length", PERSON, "Main")
    );
    assert_eq!(
        mock.requests().len(),
        1,
        "a denied finish reason is not retried"
    );

    // Streaming sees the same filter.
    let (e, _) = stream(&rt, &CallOptions::default()).await;
    assert_eq!(e.unwrap_err().code(), "BAML_FINISH_REASON");
    assert_eq!(mock.requests().len(), 2);

    // The allow list refuses "length" and accepts "stop".
    let e = call(&rt, &using("Allow")).await.unwrap_err();
    assert_eq!(e.code(), "BAML_FINISH_REASON");
    script(
        &mock,
        json!({ "default": { "text": PERSON, "finish_reason": "stop" } }),
    );
    assert_eq!(call(&rt, &using("Allow")).await.unwrap().value, person());
    assert_eq!(
        call(&rt, &CallOptions::default()).await.unwrap().value,
        person()
    );
    assert_eq!(mock.requests().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_output_is_a_validation_error() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&format!(
        "{}{}",
        openai_retrying("Main", &url, "m1", "Twice"),
        constant_policy("Twice", 2, 10)
    ));
    let text = "I am sorry, I cannot help with that.";
    script(&mock, json!({ "default": { "text": text } }));
    let e = call(&rt, &CallOptions::default()).await.unwrap_err();
    assert_eq!(e.code(), "BAML_VALIDATION");
    assert_eq!(e.class_name(), "BamlValidationError");
    let CallError::Validation {
        raw_output, prompt, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(raw_output, text);
    assert!(prompt.contains("hello world"), "{prompt}");
    assert!(prompt.contains("Answer in JSON"), "{prompt}");
    assert_eq!(
        mock.requests().len(),
        1,
        "a validation error is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(clippy::too_many_lines, reason = "one table of faults, one row each")]
async fn transport_faults_are_http_errors() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&format!(
        "{}{}",
        openai("Main", &url, "m1", ""),
        openai(
            "Bounded",
            &url,
            "m2",
            "    http {\n      request_timeout_ms 1000\n    }"
        ),
    ));
    let huge = json!({ "fault": "huge_body", "huge_bytes": 70_000_000 });
    // (what, reply, streaming, client, status, timeout)
    let faults = [
        (
            "reset",
            json!({ "fault": "reset" }),
            false,
            "Main",
            None,
            false,
        ),
        (
            "reset stream",
            json!({ "fault": "reset" }),
            true,
            "Main",
            None,
            false,
        ),
        (
            "malformed_json",
            json!({ "fault": "malformed_json" }),
            false,
            "Main",
            Some(200),
            false,
        ),
        (
            "malformed_json 500",
            json!({ "fault": "malformed_json", "status": 500 }),
            false,
            "Main",
            Some(500),
            false,
        ),
        (
            "malformed stream",
            json!({ "fault": "malformed_json" }),
            true,
            "Main",
            Some(200),
            false,
        ),
        (
            "truncated_stream",
            json!({ "text": PERSON, "fault": "truncated_stream" }),
            true,
            "Main",
            None,
            false,
        ),
        (
            "truncated body",
            json!({ "text": PERSON, "fault": "truncated_stream" }),
            false,
            "Main",
            None,
            false,
        ),
        (
            "huge_body over the 64 MiB cap",
            huge.clone(),
            false,
            "Main",
            None,
            false,
        ),
        // Partials re-parse the whole text so far, spaced by twice the parse time: a huge
        // stream reaches the cap in about the time it takes to receive (it took minutes when
        // every chunk was re-parsed), an invalid response with the status of the stream.
        ("huge stream", huge, true, "Main", Some(200), false),
        (
            "slow_loris",
            json!({ "text": PERSON, "fault": "slow_loris", "chunk_delay_ms": 100 }),
            false,
            "Bounded",
            None,
            true,
        ),
    ];
    for (i, (name, reply, streaming, client, status, timeout)) in faults.into_iter().enumerate() {
        script(&mock, json!({ "default": reply }));
        let start = Instant::now();
        let out = if streaming {
            stream(&rt, &using(client)).await.0
        } else {
            call(&rt, &using(client)).await
        };
        let e = out.expect_err(name);
        assert_eq!(e.code(), "BAML_HTTP", "{name}: {e}");
        assert_eq!(
            http_error(&e),
            (status, timeout, client.to_string()),
            "{name}: {e}"
        );
        assert_eq!(mock.requests().len(), i + 1, "{name}");
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(if timeout { 3 } else { 8 }),
            "{name}: {took:?}"
        );
    }
    // The runtime still works after all that.
    script(&mock, json!({ "default": { "text": PERSON } }));
    assert_eq!(
        call(&rt, &CallOptions::default()).await.unwrap().value,
        person()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_call_closes_its_request() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&openai("Main", &url, "m1", ""));
    script(&mock, json!({ "default": { "fault": "hang" } }));
    for streaming in [false, true] {
        let mut sink = |_: Json| {};
        let on_partial: Option<&mut (dyn FnMut(Json) + Send)> =
            if streaming { Some(&mut sink) } else { None };
        let opts = CallOptions::default();
        let args = args();
        let r = tokio::time::timeout(
            Duration::from_millis(100),
            rt.call("Extract", &args, &opts, on_partial),
        )
        .await;
        assert!(r.is_err(), "a hung request cannot finish");
        let i = usize::from(streaming);
        assert!(wait_client_closed(&mock, i).await, "{:?}", mock.requests());
    }
    assert_eq!(mock.stats()["client_closed"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_pooled_connections() {
    const N: usize = 200;

    async fn batch(rt: &Arc<Runtime>) -> Duration {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..N {
            let rt = Arc::clone(rt);
            set.spawn(async move { call(&rt, &CallOptions::default()).await });
        }
        let mut ok = 0;
        while let Some(r) = set.join_next().await {
            assert_eq!(r.unwrap().unwrap().value, person());
            ok += 1;
        }
        assert_eq!(ok, N);
        start.elapsed()
    }

    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = Arc::new(runtime(&openai("Main", &url, "m1", "")));
    script(
        &mock,
        json!({ "default": { "text": PERSON, "latency_ms": 200 } }),
    );

    let took = batch(&rt).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    let stats = mock.stats();
    assert_eq!(stats["requests"], N);
    assert!(stats["max_in_flight"].as_u64().unwrap() >= 100, "{stats}");
    let first = stats["connections_total"].as_u64().unwrap();
    assert!(first <= N as u64, "{stats}");

    let took = batch(&rt).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    let stats = mock.stats();
    assert_eq!(stats["requests"], 2 * N);
    let second = stats["connections_total"].as_u64().unwrap();
    assert!(
        second < first + first / 4,
        "no reuse: {first} then {second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_keys_per_call_over_the_runtime() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let clients = format!(
        "client<llm> Main {{\n  provider openai\n  options {{\n    model \"m1\"\n    api_key env.MY_KEY\n    base_url \"{url}/v1\"\n  }}\n}}\nclient<llm> Default {{\n  provider openai\n  options {{\n    model \"m2\"\n    base_url \"{url}/v1\"\n  }}\n}}\n"
    );
    let rt = runtime_with_env(
        &clients,
        &[("MY_KEY", "rt-key"), ("OPENAI_API_KEY", "rt-openai")],
    );
    script(&mock, json!({ "default": { "text": PERSON } }));

    call(&rt, &CallOptions::default()).await.unwrap();
    let per_call = CallOptions {
        env: [("MY_KEY".to_string(), "call-key".to_string())].into(),
        client: None,
        ..CallOptions::default()
    };
    call(&rt, &per_call).await.unwrap();
    call(&rt, &using("Default")).await.unwrap();
    let per_call = CallOptions {
        env: [("OPENAI_API_KEY".to_string(), "call-openai".to_string())].into(),
        client: Some("Default".into()),
        ..CallOptions::default()
    };
    call(&rt, &per_call).await.unwrap();
    // An unset variable is sent as `$NAME`, as BAML does.
    let bare = runtime(&clients);
    call(&bare, &CallOptions::default()).await.unwrap();

    let auth: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| {
            r["headers"]["authorization"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        auth,
        [
            "Bearer rt-key",
            "Bearer call-key",
            "Bearer rt-openai",
            "Bearer call-openai",
            "Bearer $MY_KEY"
        ]
    );
}

/// Plain `http://` requests go through `baml_llm`'s own keep-alive client: one connection
/// carries every call made one after another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_calls_reuse_one_connection() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&openai("Main", &url, "m1", ""));
    script(&mock, json!({ "default": { "text": PERSON } }));
    for _ in 0..20 {
        call_returns_person(&rt).await;
    }
    let stats = mock.stats();
    assert_eq!(stats["requests"], 20);
    assert_eq!(stats["connections_total"], 1, "{stats}");
}

/// A pooled connection the server closed while it was idle is not used again: the next call
/// opens a new one and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closed_while_idle_is_replaced() {
    let mock = MockServer::start_with(mock_llm::ServerOptions {
        idle_timeout: Duration::from_millis(100),
        ..mock_llm::ServerOptions::default()
    })
    .unwrap();
    let url = mock.url();
    let rt = runtime(&openai("Main", &url, "m1", ""));
    script(&mock, json!({ "default": { "text": PERSON } }));
    for round in 1..=3u64 {
        call_returns_person(&rt).await;
        // Until the server has closed the idle connection.
        let deadline = Instant::now() + Duration::from_secs(5);
        while mock.stats()["connections_open"] != 0 {
            assert!(Instant::now() < deadline, "{}", mock.stats());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stats = mock.stats();
        assert_eq!(stats["requests"], round);
        assert_eq!(stats["connections_total"], round, "{stats}");
    }
}

/// A server that accepts the connection and closes it without answering fails the call with
/// a network error naming the URL; it does not hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_closing_without_an_answer_is_a_network_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let closer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = std::io::Read::read(&mut s, &mut buf);
    });
    let url = format!("http://{addr}");
    let rt = runtime(&openai("Main", &url, "m1", ""));
    let e = bounded(call(&rt, &CallOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "BAML_HTTP");
    let (status, timeout, client) = http_error(&e);
    assert_eq!((status, timeout, client.as_str()), (None, false, "Main"));
    assert!(
        e.to_string()
            .contains(&format!("{url}/v1/chat/completions")),
        "{e}"
    );
    closer.join().unwrap();
}

/// A plain-HTTP endpoint that redirects (as FastAPI does for a trailing slash) is followed, as
/// BAML's client (reqwest) follows it: same method, same body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirecting_plain_http_endpoint_is_followed() {
    let mock = MockServer::start().unwrap();
    script(&mock, json!({ "default": { "text": PERSON } }));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let target = format!("{}/v1/chat/completions", mock.url());
    let redirector = std::thread::spawn(move || {
        let mut served = 0;
        // One redirect per connection: ours, then reqwest's.
        listener.set_nonblocking(false).unwrap();
        while served < 2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 1 << 16];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = std::io::Read::read(&mut s, &mut buf).unwrap();
                assert!(n > 0, "closed before a request head");
                got.extend_from_slice(&buf[..n]);
            }
            let reply = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: {target}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            std::io::Write::write_all(&mut s, reply.as_bytes()).unwrap();
            served += 1;
        }
    });
    let rt = runtime(&openai("Main", &format!("http://{addr}"), "m1", ""));
    call_returns_person(&rt).await;
    redirector.join().unwrap();
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(models(&mock), ["m1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_strategy_names_work_as_the_current_ones() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    for provider in ["baml-fallback", "baml-round-robin"] {
        let clients = format!(
            "{}{}{}",
            openai("A", &url, "m-a", ""),
            openai("B", &url, "m-b", ""),
            strategy("Main", provider, &["A", "B"], "")
        );
        let rt = runtime(&clients);
        mock.reset();
        script(
            &mock,
            json!({ "rules": [
                { "model": "m-a", "replies": [{ "status": 500 }] },
                { "model": "m-b", "replies": [{ "text": PERSON }] }
            ] }),
        );
        let out = rt
            .call("Extract", &args(), &CallOptions::default(), None)
            .await;
        if provider == "baml-fallback" {
            assert_eq!(out.unwrap().value, person(), "{provider}");
            assert_eq!(models(&mock), ["m-a", "m-b"], "{provider}");
        } else {
            // Round-robin takes one client per call: two calls reach both.
            let second = rt
                .call("Extract", &args(), &CallOptions::default(), None)
                .await;
            let ok = [out.is_ok(), second.is_ok()];
            assert_eq!(ok.iter().filter(|x| **x).count(), 1, "{provider}: {ok:?}");
            let mut seen = models(&mock);
            seen.sort();
            assert_eq!(seen, ["m-a", "m-b"], "{provider}");
        }
    }
}
