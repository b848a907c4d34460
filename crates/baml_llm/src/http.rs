//! Sending one request: a pooled HTTP client per runtime (reqwest with rustls), BAML's
//! timeouts, and decoding the answer whole or as a stream of server-sent events.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::client::{HttpTimeouts, Provider, ResolvedClient};
use crate::h1::{self, NetError};
use crate::request::HttpRequest;
use crate::response::{self, LlmOutput};
use crate::sse::StreamAccumulator;

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The provider answered with a non-success status.
    #[error("client `{client}`: the provider answered HTTP {status}: {message}")]
    Status {
        client: String,
        status: u16,
        message: String,
        raw_response: String,
        retry_after: Option<Duration>,
    },
    /// The provider could not be reached, or the connection broke.
    #[error("client `{client}`: {message}")]
    Network { client: String, message: String },
    /// A timeout of the client's `http { }` settings passed.
    #[error("client `{client}`: {message}")]
    Timeout { client: String, message: String },
    /// The provider answered 2xx with something that is not a valid answer.
    #[error("client `{client}`: invalid response: {message}")]
    InvalidResponse {
        client: String,
        status: u16,
        message: String,
        raw_response: String,
    },
    /// The finish reason is not allowed by the client's filter.
    #[error("client `{client}`: finish reason {finish_reason:?} is not allowed")]
    FinishReason {
        client: String,
        finish_reason: String,
        raw_output: String,
    },
    /// The client's configuration cannot be used.
    #[error("{0}")]
    Config(String),
}

impl LlmError {
    /// Whether a retry policy or a fallback may try again after this.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, LlmError::FinishReason { .. } | LlmError::Config(_))
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What one request got back, kept for observability (a collector's `httpResponse`): the
/// status, the response headers, and the body as received (a stream's raw events, all of
/// them). Filled only when the caller asks (see [`Transport::send_recorded`]), so plain calls
/// pay nothing for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    /// 0 until a response head arrived.
    pub status: u16,
    /// Lower-case names, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body bytes as received (at most the body limit).
    pub body: Vec<u8>,
}

impl Exchange {
    fn head(&mut self, answer: &Answer<'_>) {
        self.status = answer.status();
        self.headers = answer.headers();
    }
}

/// The HTTP side of a runtime: connection pools shared by every call.
#[derive(Debug, Default)]
pub struct Transport {
    /// One pooled client per connect timeout in use (reqwest sets it per client).
    clients: Mutex<HashMap<u64, reqwest::Client>>,
    /// Plain `http://` requests, when no proxy is configured (see `h1`).
    plain: h1::Pool,
    /// Whether the environment names no proxy, read once like reqwest does.
    no_proxy_env: OnceLock<bool>,
    /// vertex-ai access tokens (vertex.rs).
    pub(crate) tokens: crate::vertex::TokenCache,
}

/// Longest accepted answer body.
const MAX_BODY: usize = 64 * 1024 * 1024;

fn ms(v: u64) -> Option<Duration> {
    (v > 0).then(|| Duration::from_millis(v))
}

/// The environment variables reqwest reads proxies from for `http://` URLs.
const PROXY_VARS: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];

/// An answer whose body is still to be read, from either client.
#[expect(
    clippy::large_enum_variant,
    reason = "one per request, held on the request's own future, never moved in a loop"
)]
enum Answer<'p> {
    Reqwest(reqwest::Response),
    Plain(h1::Response<'p>),
}

impl Answer<'_> {
    fn status(&self) -> u16 {
        match self {
            Answer::Reqwest(r) => r.status().as_u16(),
            Answer::Plain(r) => r.status,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        match self {
            Answer::Reqwest(r) => r.headers().get(name),
            Answer::Plain(r) => r.headers.get(name),
        }
        .and_then(|v| v.to_str().ok())
    }

    fn headers(&self) -> Vec<(String, String)> {
        let map = match self {
            Answer::Reqwest(r) => r.headers(),
            Answer::Plain(r) => &r.headers,
        };
        map.iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect()
    }

    async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, NetError> {
        match self {
            Answer::Reqwest(r) => r.chunk().await.map_err(|e| NetError::from_reqwest(&e)),
            Answer::Plain(r) => r.chunk().await,
        }
    }
}

impl NetError {
    fn from_reqwest(e: &reqwest::Error) -> Self {
        NetError {
            message: h1::chain(e),
            timeout: e.is_timeout(),
        }
    }

    fn into_llm(self, client: &str) -> LlmError {
        if self.timeout {
            LlmError::Timeout {
                client: client.to_string(),
                message: format!("timed out: {}", self.message),
            }
        } else {
            LlmError::Network {
                client: client.to_string(),
                message: self.message,
            }
        }
    }
}

impl Transport {
    pub(crate) fn client_for(&self, timeouts: &HttpTimeouts) -> Result<reqwest::Client, LlmError> {
        let mut map = self
            .clients
            .lock()
            .map_err(|_| LlmError::Config("the HTTP client pool is unavailable".into()))?;
        if let Some(c) = map.get(&timeouts.connect_ms) {
            return Ok(c.clone());
        }
        let mut b = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::limited(5));
        if let Some(d) = ms(timeouts.connect_ms) {
            b = b.connect_timeout(d);
        }
        let c = b
            .build()
            .map_err(|e| LlmError::Config(format!("cannot create an HTTP client: {e}")))?;
        map.insert(timeouts.connect_ms, c.clone());
        Ok(c)
    }

    /// Where `url` goes when it can skip reqwest: plain HTTP with no proxy configured.
    fn plain_target(&self, url: &str) -> Option<h1::Target> {
        let no_proxy = *self.no_proxy_env.get_or_init(|| {
            PROXY_VARS
                .iter()
                .all(|v| std::env::var_os(v).is_none_or(|x| x.is_empty()))
        });
        no_proxy.then(|| h1::Target::parse(url)).flatten()
    }

    async fn post(
        &self,
        client: &ResolvedClient,
        req: &HttpRequest,
        body: Vec<u8>,
    ) -> Result<Answer<'_>, LlmError> {
        let body = bytes::Bytes::from(body);
        if let Some(target) = self.plain_target(&req.url) {
            let answer = self
                .plain
                .post(
                    &target,
                    &req.url,
                    &req.headers,
                    body.clone(),
                    ms(client.timeouts.connect_ms),
                )
                .await
                .map_err(|e| e.into_llm(&client.name))?;
            // A redirect: the request was not handled there. reqwest sends it again and
            // follows the redirect, as BAML's client does.
            if !(matches!(answer.status, 301 | 302 | 303 | 307 | 308)
                && answer.headers.contains_key("location"))
            {
                return Ok(Answer::Plain(answer));
            }
        }
        let http = self.client_for(&client.timeouts)?;
        let mut builder = http.post(&req.url);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        builder
            .body(body)
            .send()
            .await
            .map(Answer::Reqwest)
            .map_err(|e| NetError::from_reqwest(&e).into_llm(&client.name))
    }

    /// GETs `url` (a media argument a provider wants inline): its bytes, at most `max_bytes`,
    /// and its `Content-Type` without parameters. The whole download must finish within
    /// `timeout`.
    pub async fn download(
        &self,
        url: &str,
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<(Vec<u8>, Option<String>), String> {
        let http = self
            .client_for(&HttpTimeouts::default())
            .map_err(|e| e.to_string())?;
        let work = async {
            let mut resp = http.get(url).send().await.map_err(|e| {
                format!(
                    "cannot download {url}: {}",
                    NetError::from_reqwest(&e).message
                )
            })?;
            let status = resp.status();
            if !status.is_success() {
                return Err(format!("cannot download {url}: HTTP {}", status.as_u16()));
            }
            if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
                return Err(format!(
                    "{url} is larger than the media download limit of {max_bytes} bytes"
                ));
            }
            let mime = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(|v| v.trim().to_ascii_lowercase())
                .filter(|v| !v.is_empty());
            let mut bytes = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| {
                format!(
                    "cannot download {url}: {}",
                    NetError::from_reqwest(&e).message
                )
            })? {
                if bytes.len() + chunk.len() > max_bytes {
                    return Err(format!(
                        "{url} is larger than the media download limit of {max_bytes} bytes"
                    ));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok((bytes, mime))
        };
        tokio::time::timeout(timeout, work).await.map_err(|_| {
            format!(
                "downloading {url} took more than {} ms",
                timeout.as_millis()
            )
        })?
    }

    /// aws-bedrock and vertex-ai authenticate each attempt (bedrock.rs, vertex.rs): the
    /// request with its auth headers added, `None` for other providers.
    async fn authenticated(
        &self,
        client: &ResolvedClient,
        req: &HttpRequest,
        body: &[u8],
    ) -> Result<Option<HttpRequest>, LlmError> {
        let mut r = req.clone();
        match client.provider {
            Provider::AwsBedrock => crate::bedrock::sign_request(client, &mut r, body)?,
            Provider::VertexAi | Provider::VertexAnthropic => {
                crate::vertex::authorize(self, client, &mut r).await?;
            }
            _ => return Ok(None),
        }
        Ok(Some(r))
    }

    /// A vertex-ai token the provider refuses (401) is dropped, so the next attempt gets a
    /// new one.
    async fn refused(&self, client: &ResolvedClient, status: u16) {
        if status == 401
            && matches!(
                client.provider,
                Provider::VertexAi | Provider::VertexAnthropic
            )
        {
            crate::vertex::forget(self, client).await;
        }
    }

    /// Sends `req` for `client` and decodes the answer. With `on_delta`, the request is a
    /// streaming one and `on_delta` sees the text accumulated so far after every event.
    pub async fn send(
        &self,
        client: &ResolvedClient,
        req: &HttpRequest,
        on_delta: Option<&mut (dyn FnMut(&str) + Send)>,
    ) -> Result<LlmOutput, LlmError> {
        self.send_recorded(client, req, on_delta, None).await
    }

    /// [`send`](Self::send), and with `record`, what came back (status, headers, raw body)
    /// is kept there, whether the attempt succeeded or not.
    pub async fn send_recorded(
        &self,
        client: &ResolvedClient,
        req: &HttpRequest,
        on_delta: Option<&mut (dyn FnMut(&str) + Send)>,
        mut record: Option<&mut Exchange>,
    ) -> Result<LlmOutput, LlmError> {
        let body = serde_json::to_vec(&req.body).map_err(|e| LlmError::Config(e.to_string()))?;
        let t = client.timeouts;
        let streaming = on_delta.is_some();
        let overall = ms(t.request_ms);
        let work = async {
            // BAML's "first token": the first streamed text, not just the response head.
            let first = if streaming {
                t.first_token_ms
                    .and_then(ms)
                    .map(|d| (tokio::time::Instant::now() + d, d))
            } else {
                None
            };
            let authed = self.authenticated(client, req, &body).await?;
            let req = authed.as_ref().unwrap_or(req);
            let send = self.post(client, req, body);
            let mut resp = match first {
                Some((at, d)) => tokio::time::timeout_at(at, send)
                    .await
                    .map_err(|_| first_token_timeout(&client.name, d))?,
                None => send.await,
            }?;
            let status = resp.status();
            if let Some(r) = record.as_deref_mut() {
                r.head(&resp);
            }
            let retry_after = resp
                .header("retry-after")
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(600.0)));
            if !(200..300).contains(&status) {
                let raw = read_body(&client.name, &mut resp).await.unwrap_or_default();
                if let Some(r) = record.as_deref_mut() {
                    r.body.clone_from(&raw);
                }
                let raw = String::from_utf8_lossy(&raw).into_owned();
                self.refused(client, status).await;
                return Err(LlmError::Status {
                    client: client.name.clone(),
                    status,
                    message: response::error_message(client.provider.api(), status, raw.as_bytes()),
                    raw_response: raw,
                    retry_after,
                });
            }
            match on_delta {
                None => {
                    let raw = read_body(&client.name, &mut resp).await?;
                    if let Some(r) = record.as_deref_mut() {
                        r.body.clone_from(&raw);
                    }
                    response::parse_response(client.provider.api(), &raw).map_err(|e| {
                        LlmError::InvalidResponse {
                            client: client.name.clone(),
                            status,
                            message: e.to_string(),
                            raw_response: String::from_utf8_lossy(&raw).into_owned(),
                        }
                    })
                }
                Some(on_delta) => {
                    read_stream(
                        client,
                        &mut resp,
                        status,
                        first,
                        t.idle_ms.and_then(ms),
                        on_delta,
                        record.as_deref_mut().map(|r| &mut r.body),
                    )
                    .await
                }
            }
        };
        // As BAML documents, request_timeout_ms bounds a stream's whole duration too.
        let out = match overall {
            Some(d) => {
                crate::deadline::timeout(d, work)
                    .await
                    .ok_or_else(|| LlmError::Timeout {
                        client: client.name.clone(),
                        message: format!(
                            "no complete answer within request_timeout_ms ({} ms)",
                            d.as_millis()
                        ),
                    })??
            }
            _ => work.await?,
        };
        if !client.finish_reasons.accepts(out.finish_reason.as_deref()) {
            return Err(LlmError::FinishReason {
                client: client.name.clone(),
                finish_reason: out.finish_reason.clone().unwrap_or_default(),
                raw_output: out.content.clone(),
            });
        }
        Ok(out)
    }
}

fn first_token_timeout(client: &str, d: Duration) -> LlmError {
    LlmError::Timeout {
        client: client.to_string(),
        message: format!(
            "no answer within time_to_first_token_timeout_ms ({} ms)",
            d.as_millis()
        ),
    }
}

async fn read_body(client: &str, resp: &mut Answer<'_>) -> Result<Vec<u8>, LlmError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.into_llm(client))? {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(LlmError::Network {
                client: client.to_string(),
                message: format!("the answer is larger than {MAX_BODY} bytes"),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

async fn read_stream(
    client: &ResolvedClient,
    resp: &mut Answer<'_>,
    status: u16,
    mut first_token: Option<(tokio::time::Instant, Duration)>,
    idle: Option<Duration>,
    on_delta: &mut (dyn FnMut(&str) + Send),
    mut raw: Option<&mut Vec<u8>>,
) -> Result<LlmOutput, LlmError> {
    let mut decoder = crate::bedrock::StreamDecoder::for_client(client);
    let mut acc = StreamAccumulator::new(client.provider.api());
    let mut raw_len = 0usize;
    let invalid = |message: String, raw: &str| LlmError::InvalidResponse {
        client: client.name.clone(),
        status,
        message,
        raw_response: raw.to_string(),
    };
    loop {
        let next = resp.chunk();
        let idle_at = idle.map(|d| tokio::time::Instant::now() + d);
        let chunk = match (first_token, idle_at) {
            (Some((at, d)), idle_at) if idle_at.is_none_or(|i| at <= i) => {
                tokio::time::timeout_at(at, next)
                    .await
                    .map_err(|_| first_token_timeout(&client.name, d))?
            }
            (_, Some(at)) => {
                tokio::time::timeout_at(at, next)
                    .await
                    .map_err(|_| LlmError::Timeout {
                        client: client.name.clone(),
                        message: format!(
                            "the stream was idle longer than idle_timeout_ms ({} ms)",
                            idle.unwrap_or_default().as_millis()
                        ),
                    })?
            }
            (_, None) => next.await,
        }
        .map_err(|e| e.into_llm(&client.name))?;
        let Some(chunk) = chunk else { break };
        raw_len += chunk.len();
        if let Some(raw) = raw.as_deref_mut() {
            if raw_len <= MAX_BODY {
                raw.extend_from_slice(&chunk);
            }
        }
        if raw_len > MAX_BODY {
            return Err(invalid(
                format!("the stream is longer than {MAX_BODY} bytes"),
                acc.content(),
            ));
        }
        let events = decoder
            .push(&chunk)
            .map_err(|e| invalid(e.to_string(), acc.content()))?;
        let mut changed = false;
        for ev in &events {
            match acc.push(ev) {
                Ok(delta) => changed |= !delta.is_empty(),
                Err(e) => return Err(invalid(e.to_string(), acc.content())),
            }
        }
        if changed {
            first_token = None;
            on_delta(acc.content());
            // `on_delta` parses partials (CPU work). When chunks are always ready this loop
            // would never return Pending, so the request_timeout_ms around it could not fire.
            tokio::task::yield_now().await;
        }
    }
    let events = decoder
        .finish()
        .map_err(|e| invalid(e.to_string(), acc.content()))?;
    for ev in &events {
        if let Err(e) = acc.push(ev) {
            return Err(invalid(e.to_string(), acc.content()));
        }
    }
    let content = acc.content().to_string();
    acc.finish().map_err(|e| invalid(e.to_string(), &content))
}
