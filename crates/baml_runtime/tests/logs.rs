//! `Runtime::call_logged`: what a recorded call keeps per attempt (request, response, usage,
//! timing, outcome, the selected attempt), against the loopback mock LLM server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use baml_runtime::{CallError, CallLog, CallOptions, Runtime, Usage};
use mock_llm::MockServer;
use serde_json::{json, Map, Value as Json};

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

const PERSON: &str = r#"{"name": "Ann", "age": 31}"#;

fn runtime(clients: &str) -> Runtime {
    Runtime::from_files(
        [("main.baml".to_string(), format!("{FUNCTION}\n{clients}"))],
        [],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn client(name: &str, provider: &str, base: &str, model: &str, extra: &str) -> String {
    format!(
        "client<llm> {name} {{\n  provider {provider}\n{extra}  options {{\n    model \"{model}\"\n    api_key \"sk-secret-key\"\n    base_url \"{base}\"\n  }}\n}}\n"
    )
}

fn args() -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("text".into(), json!("hello world"));
    m
}

async fn logged(rt: &Runtime, opts: &CallOptions, stream: bool) -> CallLog {
    let mut sink = |_: Json| {};
    let partial: Option<&mut (dyn FnMut(Json) + Send)> =
        if stream { Some(&mut sink) } else { None };
    tokio::time::timeout(
        Duration::from_secs(10),
        rt.call_logged("Extract", &args(), opts, partial, true),
    )
    .await
    .expect("the call did not finish within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_keeps_its_request_response_usage_and_timing() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&client("Main", "openai", &format!("{url}/v1"), "m", ""));
    mock.set_script(json!({ "rules": [{ "replies": [{ "text": PERSON, "usage": { "input_tokens": 7, "output_tokens": 3 } }] }] }))
        .unwrap();
    let before = std::time::SystemTime::now();
    let log = logged(&rt, &CallOptions::default(), false).await;
    let out = log.result.as_ref().unwrap();
    assert_eq!(out.value, json!({ "name": "Ann", "age": 31 }));
    assert_eq!(
        log.usage,
        Usage {
            input_tokens: 7,
            output_tokens: 3
        }
    );
    assert_eq!(log.attempts.len(), 1);
    let a = &log.attempts[0];
    assert_eq!((a.client.as_str(), a.provider.as_str()), ("Main", "openai"));
    assert!(a.selected && a.error.is_none() && !a.stream);
    assert!(a.started >= before - Duration::from_secs(1));
    let req = a.request.as_ref().unwrap();
    assert_eq!(req.url, format!("{url}/v1/chat/completions"));
    assert_eq!(req.method, "POST");
    assert_eq!(req.body["model"], "m");
    // The log keeps what was sent; redaction is the caller's business (it knows the secrets).
    assert!(req
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer sk-secret-key"));
    let resp = a.response.as_ref().unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.contains("json")));
    let body: Json = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], PERSON);
    let usage = a.usage.as_ref().unwrap();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens),
        (Some(7), Some(3))
    );

    // Unrecorded calls keep no attempts but still count tokens.
    let plain = rt
        .call_logged("Extract", &args(), &CallOptions::default(), None, false)
        .await;
    assert!(plain.result.is_ok() && plain.attempts.is_empty());
    assert_eq!(
        plain.usage,
        Usage {
            input_tokens: 7,
            output_tokens: 3
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_fallback_are_separate_attempts_and_only_the_answer_is_selected() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    let rt = runtime(&format!(
        "{}{}{}{}",
        client("A", "openai", &format!("{url}/v1"), "a", "  retry_policy R\n"),
        client("B", "anthropic", &url, "b", ""),
        "retry_policy R {\n  max_retries 1\n  strategy {\n    type constant_delay\n    delay_ms 5\n  }\n}\n",
        "client<llm> Main {\n  provider fallback\n  options {\n    strategy [A, B]\n  }\n}\n",
    ));
    mock.set_script(json!({ "rules": [
        { "model": "a", "replies": [{ "status": 500, "text": "boom" }] },
        { "model": "b", "replies": [{ "text": PERSON, "usage": { "input_tokens": 2, "output_tokens": 5 } }] }
    ] }))
    .unwrap();
    let log = logged(&rt, &CallOptions::default(), false).await;
    assert_eq!(log.result.as_ref().unwrap().client, "B");
    let seen: Vec<(&str, Option<u16>, bool)> = log
        .attempts
        .iter()
        .map(|a| {
            (
                a.client.as_str(),
                a.response.as_ref().map(|r| r.status),
                a.selected,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("A", Some(500), false),
            ("A", Some(500), false),
            ("B", Some(200), true)
        ]
    );
    assert!(matches!(
        log.attempts[0].error,
        Some(CallError::Http {
            status: Some(500),
            ..
        })
    ));
    assert!(
        String::from_utf8_lossy(&log.attempts[0].response.as_ref().unwrap().body).contains("boom")
    );
    assert_eq!(log.attempts[2].provider, "anthropic");
    assert!(log.attempts[2]
        .request
        .as_ref()
        .unwrap()
        .url
        .ends_with("/v1/messages"));
    assert_eq!(
        log.usage,
        Usage {
            input_tokens: 2,
            output_tokens: 5
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_failure_selects_its_answer_and_counts_its_tokens() {
    let mock = MockServer::start().unwrap();
    let rt = runtime(&client(
        "Main",
        "openai",
        &format!("{}/v1", mock.url()),
        "m",
        "",
    ));
    mock.set_script(json!({ "rules": [{ "replies": [{ "text": "no person here", "usage": { "input_tokens": 4, "output_tokens": 3 } }] }] }))
        .unwrap();
    let log = logged(&rt, &CallOptions::default(), false).await;
    assert!(matches!(log.result, Err(CallError::Validation { .. })));
    assert_eq!(
        log.usage,
        Usage {
            input_tokens: 4,
            output_tokens: 3
        }
    );
    assert_eq!(log.attempts.len(), 1);
    assert!(log.attempts[0].selected);
    assert!(matches!(
        log.attempts[0].error,
        Some(CallError::Validation { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_keeps_its_raw_events_and_counts_usage_when_the_server_sends_it() {
    let mock = MockServer::start().unwrap();
    let url = mock.url();
    // openai-generic does not ask for usage in a stream (nor does BAML); a client that adds
    // `stream_options` itself gets it counted.
    let rt = runtime(&format!(
        "{}{}",
        client("Main", "openai-generic", &format!("{url}/v1"), "m", ""),
        "client<llm> WithUsage {\n  provider openai-generic\n  options {\n    model \"m\"\n    base_url \"URL/v1\"\n    stream_options {\n      include_usage true\n    }\n  }\n}\n"
            .replace("URL", &url),
    ));
    mock.set_script(json!({ "rules": [{ "replies": [{ "text": PERSON, "chunk_chars": 5, "usage": { "input_tokens": 6, "output_tokens": 9 } }] }] }))
        .unwrap();
    let log = logged(&rt, &CallOptions::default(), true).await;
    assert!(log.result.is_ok(), "{:?}", log.result);
    let a = &log.attempts[0];
    assert!(a.stream && a.selected);
    let raw = String::from_utf8_lossy(&a.response.as_ref().unwrap().body).into_owned();
    assert!(raw.matches("data: ").count() > 3, "{raw}");
    assert!(raw.trim_end().ends_with("data: [DONE]"), "{raw}");
    assert_eq!(log.usage, Usage::default());

    let opts = CallOptions {
        client: Some("WithUsage".into()),
        ..CallOptions::default()
    };
    let log = logged(&rt, &opts, true).await;
    assert!(log.result.is_ok(), "{:?}", log.result);
    assert_eq!(
        log.usage,
        Usage {
            input_tokens: 6,
            output_tokens: 9
        }
    );
    let usage = log.attempts[0].usage.as_ref().unwrap();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens),
        (Some(6), Some(9))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unset_env_base_url_names_the_client_the_option_and_the_variable() {
    let rt = runtime(
        "client<llm> Main {\n  provider openai-generic\n  options {\n    model \"m\"\n    base_url env.LOCAL_LLM_URL\n  }\n}\n",
    );
    let log = logged(&rt, &CallOptions::default(), false).await;
    let Err(CallError::Http {
        message,
        client,
        status,
        ..
    }) = &log.result
    else {
        panic!("{:?}", log.result)
    };
    assert_eq!((client.as_str(), *status), ("Main", None));
    assert!(message.contains("client `Main`"), "{message}");
    assert!(
        message.contains("base_url is env.LOCAL_LLM_URL"),
        "{message}"
    );
    assert!(message.contains("not set"), "{message}");
    assert!(!message.contains("relative URL"), "{message}");
    assert_eq!(log.attempts.len(), 1);
    assert!(log.attempts[0].response.is_none() && !log.attempts[0].selected);

    // Set in the call's env, it is used.
    let mock = MockServer::start().unwrap();
    mock.set_script(json!({ "rules": [{ "replies": [{ "text": PERSON }] }] }))
        .unwrap();
    let mut env = std::collections::BTreeMap::new();
    env.insert("LOCAL_LLM_URL".to_string(), format!("{}/v1", mock.url()));
    let opts = CallOptions {
        env,
        client: None,
        ..CallOptions::default()
    };
    assert!(logged(&rt, &opts, false).await.result.is_ok());
}
