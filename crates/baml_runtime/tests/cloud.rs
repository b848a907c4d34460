//! aws-bedrock and vertex-ai end to end against the mock, which checks their auth: SigV4
//! signatures (recomputed by the mock) and OAuth2 tokens from a service-account JWT.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use baml_runtime::{CallError, CallOptions, CallOutput, Runtime, Usage};
use mock_llm::{MockServer, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY};
use serde_json::{json, Map, Value as Json};

const PERSON: &str = r#"{"name": "Ann Lee Smith", "age": 31}"#;

const FUNCTION: &str = r##"
class Person {
  name string
  age int
}

function Extract(text: string) -> Person {
  client Main
  prompt #"
    {{ _.role("system") }}
    Extract the person.
    {{ _.role("user") }}
    {{ text }} {{ ctx.output_format }}
  "#
}

retry_policy Twice {
  max_retries 2
  strategy {
    type constant_delay
    delay_ms 10
  }
}
"##;

const BEDROCK_MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn person() -> Json {
    json!({ "name": "Ann Lee Smith", "age": 31 })
}

fn runtime(clients: &str, env: &[(&str, &str)]) -> Runtime {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    Runtime::from_files(
        [("main.baml".to_string(), format!("{FUNCTION}\n{clients}"))],
        env,
    )
    .unwrap_or_else(|e| panic!("{e}\n{clients}"))
}

fn args() -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("text".into(), json!("hello world"));
    m
}

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("the call did not finish within 10 s")
}

async fn call(rt: &Runtime) -> Result<CallOutput, CallError> {
    bounded(rt.call("Extract", &args(), &CallOptions::default(), None)).await
}

async fn stream(rt: &Runtime) -> (Result<CallOutput, CallError>, Vec<Json>) {
    let mut partials = Vec::new();
    let mut sink = |v: Json| partials.push(v);
    let out = bounded(rt.call("Extract", &args(), &CallOptions::default(), Some(&mut sink))).await;
    (out, partials)
}

fn usage(input_tokens: u64, output_tokens: u64) -> Usage {
    Usage {
        input_tokens,
        output_tokens,
    }
}

fn status_of(e: &CallError) -> Option<u16> {
    match e {
        CallError::Http { status, .. } => *status,
        _ => None,
    }
}

fn answer_script() -> Json {
    json!({ "default": {
        "text": PERSON,
        "usage": { "input_tokens": 12, "output_tokens": 5 },
        "chunk_chars": 4
    } })
}

fn bedrock_client(url: &str, extra: &str) -> String {
    format!(
        "client<llm> Main {{\n  provider aws-bedrock\n  {extra}\n  options {{\n    model \"{BEDROCK_MODEL}\"\n    endpoint_url \"{url}\"\n  }}\n}}\n"
    )
}

fn aws_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET_ACCESS_KEY),
        ("AWS_REGION", "us-east-1"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_plain_and_streaming() {
    let mock = MockServer::start().unwrap();
    let rt = runtime(&bedrock_client(&mock.url(), ""), &aws_env());
    mock.set_script(answer_script()).unwrap();

    let out = call(&rt).await.unwrap();
    assert_eq!(out.value, person());
    assert_eq!(out.raw_output, PERSON);
    assert_eq!(out.usage, usage(12, 5));
    assert_eq!(out.attempts, 1);

    let (out, partials) = stream(&rt).await;
    let out = out.unwrap();
    assert_eq!(out.value, person());
    assert_eq!(out.usage, usage(12, 5));
    assert!(partials.len() >= 2, "{partials:?}");
    assert_eq!(partials.last(), Some(&person()));

    let records = mock.requests();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0]["path"],
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    assert_eq!(
        records[1]["path"],
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    );
    assert_eq!(records[0]["model"], BEDROCK_MODEL);
    let auth = records[0]["headers"]["authorization"].as_str().unwrap();
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={AWS_ACCESS_KEY_ID}/")),
        "{auth}"
    );
    assert!(auth.contains("/us-east-1/bedrock/aws4_request"), "{auth}");
    assert_eq!(
        records[0]["body"]["system"][0]["text"],
        "Extract the person."
    );
    assert_eq!(records[0]["body"]["messages"][0]["role"], "user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_options_and_session_token() {
    let mock = MockServer::start().unwrap();
    let clients = format!(
        "client<llm> Main {{\n  provider aws-bedrock\n  options {{\n    model \"{BEDROCK_MODEL}\"\n    region \"eu-west-3\"\n    endpoint_url \"{}\"\n    access_key_id \"{AWS_ACCESS_KEY_ID}\"\n    secret_access_key env.MY_SECRET\n    session_token \"sess-token-1\"\n    inference_configuration {{\n      max_tokens 64\n    }}\n  }}\n}}\n",
        mock.url()
    );
    let rt = runtime(&clients, &[("MY_SECRET", AWS_SECRET_ACCESS_KEY)]);
    mock.set_script(answer_script()).unwrap();
    assert_eq!(call(&rt).await.unwrap().value, person());
    let r = &mock.requests()[0];
    assert_eq!(r["headers"]["x-amz-security-token"], "sess-token-1");
    let auth = r["headers"]["authorization"].as_str().unwrap();
    assert!(auth.contains("/eu-west-3/bedrock/"), "{auth}");
    assert!(auth.contains("x-amz-security-token"), "{auth}");
    assert_eq!(r["body"]["inferenceConfig"], json!({ "maxTokens": 64 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_bad_credentials_are_refused() {
    let mock = MockServer::start().unwrap();
    mock.set_script(answer_script()).unwrap();

    // A wrong secret: the mock's signature differs.
    let mut env = aws_env();
    env[1] = ("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    let rt = runtime(&bedrock_client(&mock.url(), ""), &env);
    let e = call(&rt).await.unwrap_err();
    assert_eq!(status_of(&e), Some(403), "{e:?}");
    assert!(e.to_string().contains("signature"), "{e}");
    let r = &mock.requests()[0];
    assert_eq!(r["status"], 403);

    // An unknown access key.
    let mut env = aws_env();
    env[0] = ("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN");
    let rt = runtime(&bedrock_client(&mock.url(), ""), &env);
    let e = call(&rt).await.unwrap_err();
    assert_eq!(status_of(&e), Some(403), "{e:?}");
    assert!(e.to_string().contains("security token"), "{e}");

    // No credentials at all: refused before sending.
    let rt = runtime(
        &bedrock_client(&mock.url(), ""),
        &[("AWS_REGION", "us-east-1")],
    );
    let before = mock.requests().len();
    let e = call(&rt).await.unwrap_err();
    assert!(matches!(e, CallError::InvalidArgument(_)), "{e:?}");
    assert_eq!(mock.requests().len(), before);

    // No region: refused too.
    let rt = runtime(&bedrock_client(&mock.url(), ""), &aws_env()[..2]);
    let e = call(&rt).await.unwrap_err();
    assert!(e.to_string().contains("region"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_retries_errors_and_malformed_answers() {
    let mock = MockServer::start().unwrap();
    let rt = runtime(
        &bedrock_client(&mock.url(), "retry_policy Twice"),
        &aws_env(),
    );
    // Each attempt is signed afresh; a 500 and a 429 are retried.
    mock.set_script(json!({ "rules": [{ "replies": [
        { "status": 500 },
        { "status": 429, "retry_after": 0 },
        { "text": PERSON }
    ] }] }))
    .unwrap();
    let out = call(&rt).await.unwrap();
    assert_eq!(out.value, person());
    assert_eq!(out.attempts, 3);

    // Retries run out: the last error, with Bedrock's message.
    mock.set_script(
        json!({ "default": { "status": 429, "text": "Too many requests, please wait" } }),
    )
    .unwrap();
    let e = call(&rt).await.unwrap_err();
    assert_eq!(status_of(&e), Some(429), "{e:?}");
    assert!(e.to_string().contains("Too many requests"), "{e}");

    // Malformed answers, whole and streamed.
    let rt = runtime(&bedrock_client(&mock.url(), ""), &aws_env());
    mock.set_script(json!({ "default": { "fault": "malformed_json" } }))
        .unwrap();
    let e = call(&rt).await.unwrap_err();
    assert!(matches!(e, CallError::Http { .. }), "{e:?}");
    let (out, _) = stream(&rt).await;
    assert!(matches!(out, Err(CallError::Http { .. })), "{out:?}");

    // A stream cut short is an error, not a short answer.
    mock.set_script(json!({ "default": { "text": PERSON, "fault": "truncated_stream" } }))
        .unwrap();
    let (out, _) = stream(&rt).await;
    assert!(out.is_err(), "{out:?}");
}

fn vertex_client(url: &str, model: &str, publisher: &str, options: &str) -> String {
    format!(
        "client<llm> Main {{\n  provider vertex-ai\n  retry_policy Twice\n  options {{\n    model \"{model}\"\n    base_url \"{url}/v1/projects/acme-test/locations/us-central1/publishers/{publisher}/models\"\n{options}\n  }}\n}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_gemini_plain_streaming_and_token_cache() {
    let mock = MockServer::start().unwrap();
    let sa = mock.vertex_service_account().to_string();
    let rt = runtime(
        &vertex_client(&mock.url(), "gemini-2.0-flash", "google", ""),
        &[("GOOGLE_APPLICATION_CREDENTIALS_CONTENT", &sa)],
    );
    mock.set_script(answer_script()).unwrap();

    for _ in 0..3 {
        let out = call(&rt).await.unwrap();
        assert_eq!(out.value, person());
        assert_eq!(out.usage, usage(12, 5));
    }
    let (out, partials) = stream(&rt).await;
    let out = out.unwrap();
    assert_eq!(out.value, person());
    assert_eq!(out.usage, usage(12, 5));
    assert!(partials.len() >= 2, "{partials:?}");

    // Concurrent calls share the cached token too.
    let (a, b, c, d) = tokio::join!(call(&rt), call(&rt), call(&rt), call(&rt));
    for out in [a, b, c, d] {
        assert_eq!(out.unwrap().value, person());
    }
    assert_eq!(mock.token_requests(), 1);

    let records = mock.requests();
    assert_eq!(records.len(), 8);
    let token = records[0]["headers"]["authorization"].as_str().unwrap();
    assert!(token.starts_with("Bearer ya29.mock-"), "{token}");
    assert!(records
        .iter()
        .all(|r| r["headers"]["authorization"] == token));
    assert!(records[3]["path"]
        .as_str()
        .unwrap()
        .ends_with("/gemini-2.0-flash:streamGenerateContent?alt=sse"));
    assert_eq!(
        records[0]["body"]["system_instruction"]["parts"][0]["text"],
        "Extract the person."
    );

    // A second runtime has its own cache.
    let path = std::env::temp_dir().join(format!("baml-vertex-sa-{}.json", std::process::id()));
    std::fs::write(&path, &sa).unwrap();
    let rt2 = runtime(
        &vertex_client(&mock.url(), "gemini-2.0-flash", "google", ""),
        &[("GOOGLE_APPLICATION_CREDENTIALS", path.to_str().unwrap())],
    );
    assert_eq!(call(&rt2).await.unwrap().value, person());
    let _ = std::fs::remove_file(&path);
    assert_eq!(mock.token_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_anthropic_model() {
    let mock = MockServer::start().unwrap();
    let sa = mock.vertex_service_account();
    let rt = runtime(
        &vertex_client(
            &mock.url(),
            "claude-3-5-sonnet-v2@20241022",
            "anthropic",
            &format!("    credentials {}", baml_map(&sa)),
        ),
        &[],
    );
    mock.set_script(answer_script()).unwrap();
    let out = call(&rt).await.unwrap();
    assert_eq!(out.value, person());
    assert_eq!(out.usage, usage(12, 5));
    let (out, _) = stream(&rt).await;
    assert_eq!(out.unwrap().value, person());
    let records = mock.requests();
    assert!(records[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("/claude-3-5-sonnet-v2@20241022:rawPredict"));
    assert!(records[1]["path"]
        .as_str()
        .unwrap()
        .ends_with(":streamRawPredict"));
    assert_eq!(records[0]["body"]["anthropic_version"], "2023-06-01");
    assert_eq!(records[1]["body"]["stream"], true);
    assert_eq!(mock.token_requests(), 1);
}

/// A JSON object written as a BAML map (string values only).
fn baml_map(v: &Json) -> String {
    let fields: Vec<String> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            format!(
                "      {k} {}",
                Json::String(v.as_str().unwrap().to_string())
            )
        })
        .collect();
    format!("{{\n{}\n    }}", fields.join("\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_bad_tokens_are_refused() {
    let mock = MockServer::start().unwrap();
    mock.set_script(answer_script()).unwrap();

    // A service account whose key the token endpoint does not trust.
    let mut sa: Json = serde_json::from_str(include_str!(
        "../../mock_llm/testdata/vertex-service-account-untrusted.json"
    ))
    .unwrap();
    sa["token_uri"] = json!(format!("{}/token", mock.url()));
    let rt = runtime(
        &vertex_client(&mock.url(), "gemini-2.0-flash", "google", ""),
        &[("GOOGLE_APPLICATION_CREDENTIALS_CONTENT", &sa.to_string())],
    );
    let e = call(&rt).await.unwrap_err();
    assert_eq!(status_of(&e), Some(400), "{e:?}");
    assert!(e.to_string().contains("Invalid JWT Signature"), "{e}");
    assert!(mock.requests().is_empty());

    // A Bearer token the server never issued.
    let rt = runtime(
        &vertex_client(
            &mock.url(),
            "gemini-2.0-flash",
            "google",
            "    headers {\n      Authorization \"Bearer forged\"\n    }",
        ),
        &[],
    );
    let e = call(&rt).await.unwrap_err();
    assert_eq!(status_of(&e), Some(401), "{e:?}");
    assert!(e.to_string().contains("UNAUTHENTICATED"), "{e}");

    // No credentials at all.
    let rt = runtime(
        &vertex_client(&mock.url(), "gemini-2.0-flash", "google", ""),
        &[],
    );
    let e = call(&rt).await.unwrap_err();
    assert!(matches!(e, CallError::InvalidArgument(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_retries_keep_the_token() {
    let mock = MockServer::start().unwrap();
    let sa = mock.vertex_service_account().to_string();
    let rt = runtime(
        &vertex_client(&mock.url(), "gemini-2.0-flash", "google", ""),
        &[("GOOGLE_APPLICATION_CREDENTIALS_CONTENT", &sa)],
    );
    mock.set_script(json!({ "rules": [{ "replies": [
        { "status": 503 },
        { "status": 429, "retry_after": 0 },
        { "text": PERSON }
    ] }] }))
    .unwrap();
    let out = call(&rt).await.unwrap();
    assert_eq!(out.value, person());
    assert_eq!(out.attempts, 3);
    assert_eq!(mock.token_requests(), 1);

    mock.set_script(json!({ "default": { "fault": "malformed_json" } }))
        .unwrap();
    let e = call(&rt).await.unwrap_err();
    assert!(matches!(e, CallError::Http { .. }), "{e:?}");
}

#[test]
fn bedrock_refuses_unsupported_properties_at_load() {
    for extra in [
        "temperature 0.5",
        "base_url \"http://x\"",
        "headers {\n      a \"b\"\n    }",
    ] {
        let src = format!(
            "{FUNCTION}\nclient<llm> Main {{\n  provider aws-bedrock\n  options {{\n    model \"m\"\n    {extra}\n  }}\n}}\n"
        );
        let e = Runtime::from_files([("main.baml".to_string(), src)], [])
            .err()
            .unwrap_or_else(|| panic!("{extra}: loaded"));
        assert!(e.to_string().contains("Unsupported property"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_gcloud_user_credentials() {
    let mock = MockServer::start().unwrap();
    mock.set_script(answer_script()).unwrap();
    let creds = mock.vertex_user_credentials().to_string();
    let rt = runtime(
        &vertex_client(&mock.url(), "gemini-2.0-flash", "google", ""),
        &[("GOOGLE_APPLICATION_CREDENTIALS_CONTENT", &creds)],
    );
    assert_eq!(call(&rt).await.unwrap().value, person());
    assert_eq!(call(&rt).await.unwrap().value, person());
    assert_eq!(mock.token_requests(), 1);

    // A revoked refresh token.
    let mut revoked = mock.vertex_user_credentials();
    revoked["refresh_token"] = json!("1//revoked");
    let rt = runtime(
        &vertex_client(&mock.url(), "gemini-2.0-flash", "google", ""),
        &[(
            "GOOGLE_APPLICATION_CREDENTIALS_CONTENT",
            &revoked.to_string(),
        )],
    );
    let e = call(&rt).await.unwrap_err();
    assert_eq!(status_of(&e), Some(400), "{e:?}");
    assert!(e.to_string().contains("revoked"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_revoked_token_is_replaced() {
    let mock = MockServer::start().unwrap();
    mock.set_script(answer_script()).unwrap();
    let sa = mock.vertex_service_account().to_string();
    // `vertex_client` has a retry policy: the 401 drops the token, the retry fetches a new one.
    let rt = runtime(
        &vertex_client(&mock.url(), "gemini-2.0-flash", "google", ""),
        &[("GOOGLE_APPLICATION_CREDENTIALS_CONTENT", &sa)],
    );
    assert_eq!(call(&rt).await.unwrap().attempts, 1);
    mock.revoke_tokens();
    let out = call(&rt).await.unwrap();
    assert_eq!(out.value, person());
    assert_eq!(out.attempts, 2);
    assert_eq!(mock.token_requests(), 2);
    let statuses: Vec<Json> = mock
        .requests()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, [json!(200), json!(401), json!(200)]);
}
