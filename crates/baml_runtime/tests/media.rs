//! Media URLs a provider takes only inline: downloaded before the request is built, with the
//! bytes and type BAML sends (requests recorded from @boundaryml/baml 0.226.2), within a size
//! and time bound, and refused when downloads are off.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use baml_runtime::{CallOptions, MediaPolicy, Runtime};
use serde_json::{json, Map, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
const MP3_B64: &str = "SUQzBAAAAAAAI1RTU0UAAAAPAAADTGF2ZjU4Ljc2LjEwMAAAAAAAAAAAAAAA";
const PDF_B64: &str = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK";

fn decode(b64: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// A loopback server: `/cat.png`, `/hello.mp3`, `/doc.pdf`, `/big` (2 MB), `/slow` (never
/// answers), `/missing` (404). Returns its base URL and a counter of requests.
async fn media_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, mime, body) = match path.as_str() {
                    "/cat.png" => ("200 OK", "image/png", decode(PNG_B64)),
                    "/hello.mp3" => ("200 OK", "audio/mpeg", decode(MP3_B64)),
                    "/doc.pdf" => ("200 OK", "application/pdf; charset=binary", decode(PDF_B64)),
                    "/big" => ("200 OK", "image/png", vec![7u8; 2 << 20]),
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                    _ => ("404 Not Found", "text/plain", b"no".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {mime}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    (base, count)
}

fn runtime(provider: &str, kind: &str) -> Runtime {
    let options = match provider {
        "google-ai" => "    model \"gemini-2.0-flash\"\n    api_key \"g\"",
        "anthropic" => "    model \"claude-3-5-haiku-latest\"\n    api_key \"a\"",
        _ => "    model \"gpt-4o-mini\"\n    api_key \"o\"",
    };
    let src = format!(
        "client<llm> C {{\n  provider {provider}\n  options {{\n{options}\n  }}\n}}\n\nfunction Describe(file: {kind}) -> string {{\n  client C\n  prompt #\"\n    {{{{ _.role(\"user\") }}}}\n    Describe this:\n    {{{{ file }}}}\n    Keep it short.\n  \"#\n}}\n"
    );
    Runtime::from_files([("main.baml".to_string(), src)], []).unwrap()
}

fn args(url: &str) -> Map<String, Json> {
    json!({ "file": { "url": url } })
        .as_object()
        .unwrap()
        .clone()
}

async fn render(rt: &Runtime, url: &str, media: MediaPolicy) -> Result<Json, String> {
    let opts = CallOptions {
        media,
        ..CallOptions::default()
    };
    rt.render_request_async("Describe", &args(url), &opts, false)
        .await
        .map(|r| r.body)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn urls_are_inlined_where_baml_inlines_them() {
    let (base, _) = media_server().await;
    let policy = MediaPolicy::default();
    let google = render(
        &runtime("google-ai", "image"),
        &format!("{base}/cat.png"),
        policy,
    )
    .await
    .unwrap();
    assert_eq!(
        google["contents"][0]["parts"][1],
        json!({ "inline_data": { "mime_type": "image/png", "data": PNG_B64 } })
    );
    let openai = render(
        &runtime("openai", "audio"),
        &format!("{base}/hello.mp3"),
        policy,
    )
    .await
    .unwrap();
    assert_eq!(
        openai["messages"][0]["content"][1],
        json!({ "input_audio": { "data": MP3_B64, "format": "mp3" }, "type": "input_audio" })
    );
    // The content type's parameters are dropped.
    let anthropic = render(
        &runtime("anthropic", "pdf"),
        &format!("{base}/doc.pdf"),
        policy,
    )
    .await
    .unwrap();
    assert_eq!(
        anthropic["messages"][0]["content"][1],
        json!({ "source": { "type": "base64", "media_type": "application/pdf", "data": PDF_B64 }, "type": "document" })
    );
    // Where BAML keeps the URL, so do we, and nothing is fetched.
    let url = format!("{base}/cat.png");
    let kept = render(&runtime("openai", "image"), &url, policy)
        .await
        .unwrap();
    assert_eq!(
        kept["messages"][0]["content"][1],
        json!({ "image_url": { "url": url }, "type": "image_url" })
    );
}

#[tokio::test]
async fn downloads_are_bounded_in_size_and_time_and_can_be_refused() {
    let (base, count) = media_server().await;
    let rt = runtime("google-ai", "image");
    let small = MediaPolicy {
        max_bytes: 1 << 20,
        ..MediaPolicy::default()
    };
    let e = render(&rt, &format!("{base}/big"), small)
        .await
        .unwrap_err();
    assert!(
        e.contains("larger than the media download limit of 1048576 bytes"),
        "{e}"
    );

    let quick = MediaPolicy {
        timeout: Duration::from_millis(300),
        ..MediaPolicy::default()
    };
    let started = Instant::now();
    let e = render(&rt, &format!("{base}/slow"), quick)
        .await
        .unwrap_err();
    assert!(e.contains("took more than 300 ms"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let e = render(&rt, &format!("{base}/missing"), MediaPolicy::default())
        .await
        .unwrap_err();
    assert!(e.contains("HTTP 404"), "{e}");

    let before = count.load(std::sync::atomic::Ordering::SeqCst);
    let off = MediaPolicy {
        download: false,
        ..MediaPolicy::default()
    };
    let e = render(&rt, &format!("{base}/cat.png"), off)
        .await
        .unwrap_err();
    assert!(e.contains("downloadMedia: true"), "{e}");
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "nothing fetched"
    );
}
