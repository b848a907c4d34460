//! A loopback HTTP/1.1 server that imitates LLM provider APIs, so tests, the demo and the
//! benchmarks never touch the internet.
//!
//! It answers on `127.0.0.1` with bodies and server-sent events shaped exactly like the real
//! APIs, keeps connections alive, and can be scripted to answer slowly, fail, or misbehave
//! (resets, truncated streams, malformed JSON, hangs, huge bodies). Every provider request is
//! recorded so tests can assert on what the client really sent and on how many calls were in
//! flight at once.
//!
//! # Routes
//! Provider routes match by path suffix (the prefix is whatever base URL the client used):
//! - `POST …/chat/completions`: OpenAI chat completions (also openai-generic, ollama, and
//!   Azure's `/openai/deployments/{deployment}/chat/completions`); streams when the body has
//!   `"stream": true`, with a final usage chunk when `stream_options.include_usage` is true.
//! - `POST …/responses`: OpenAI Responses; streams on `"stream": true`.
//! - `POST …/messages`: Anthropic Messages; streams on `"stream": true`.
//! - `POST …/models/{model}:generateContent` and `…:streamGenerateContent` (server-sent
//!   events with `?alt=sse`, else a streamed JSON array): Gemini.
//! - `POST …/models/{model}:rawPredict` / `:streamRawPredict`: Anthropic on Vertex AI.
//! - `POST …/model/{id}/converse` / `converse-stream` (AWS event-stream frames): Bedrock.
//!   Requests must carry a valid SigV4 signature for [`AWS_ACCESS_KEY_ID`] /
//!   [`AWS_SECRET_ACCESS_KEY`] (recomputed here), else 403 with Bedrock's error shape.
//! - Vertex AI paths (`/projects/…/publishers/…`) need `Authorization: Bearer` with a token
//!   issued by `POST …/token` (jwt-bearer grant: the assertion's RS256 signature is checked
//!   against [`VERTEX_SERVICE_ACCOUNT`]'s key; or refresh_token grant for
//!   [`VERTEX_USER_CREDENTIALS`]), or a `key=` query parameter, else 401 (token errors: 400).
//!
//! The control API lives under `/__mock/`: `POST /__mock/script`, `GET /__mock/requests`,
//! `GET /__mock/stats`, `POST /__mock/reset` (the same operations as the methods of
//! [`MockServer`]). Anything else gets a 404 with an OpenAI-shaped JSON error.
//!
//! # Script
//! `{ "rules": [Rule…], "default": Reply? }`. A request takes the first rule whose matchers
//! all hold; a rule hands out its `replies` in order and repeats the last one forever. With no
//! matching rule the `default` reply is used, and without one a 200 with text `"mock reply"`.
//! Unknown fields are refused (a typo fails loudly).
//!
//! Rule: `model` (equals the request's model: Azure's deployment or Gemini's path model, else
//! the body's `model`), `contains` (the raw body contains this substring), `path_contains`
//! (the path with its query contains this), `replies` (at least one).
//!
//! Reply (all optional):
//! - `text`: the assistant content (for an error status: the error message).
//! - `status`: HTTP status; a non-2xx status sends the provider's JSON error shape.
//! - `retry_after`: seconds, sent as `Retry-After`.
//! - `latency_ms`: delay before the response head.
//! - `finish_reason`: `"stop"` (default) or `"length"`, mapped per API (OpenAI `stop`/`length`,
//!   Anthropic `end_turn`/`max_tokens`, Gemini `STOP`/`MAX_TOKENS`, Responses `completed` /
//!   `incomplete` with `incomplete_details.reason` `max_output_tokens`); anything else is
//!   passed through verbatim.
//! - `usage`: `{ input_tokens, output_tokens }`. By default input tokens are the
//!   whitespace-separated words of every JSON string in the request body except the values of
//!   `model`, `role` and `type` keys (the raw body's words if it is not JSON), and output
//!   tokens are the words of the reply text (`huge_bytes / 4`, rounded up, for `huge_body`).
//! - `chunk_chars` (default 8) and `chunk_delay_ms` (default 0): streaming text is cut into
//!   pieces of that many characters, one event each, with that delay between events.
//! - `fault` (applied after `latency_ms`):
//!   - `"reset"`: close the connection without answering, with `SO_LINGER` 0 (a TCP reset).
//!   - `"malformed_json"`: a body that is not valid JSON, with the scripted status (default
//!     200); for a stream, one event whose data is not JSON, then the API's terminator.
//!   - `"truncated_stream"`: the head, then about half the stream events (or half the bytes of
//!     a plain body), then the connection closes without the terminator.
//!   - `"slow_loris"`: the head with a Content-Length, then one body byte every
//!     `chunk_delay_ms` (default 1000) until done, the client leaves, or
//!     [`ServerOptions::max_hang`] passes.
//!   - `"hang"`: never answer; wait until the client disconnects (recorded as
//!     `client_closed`), at most [`ServerOptions::max_hang`], then close.
//!   - `"huge_body"`: a normal answer whose text is `huge_bytes` (default 50,000,000) bytes of
//!     `x`, written in pieces without building the body in memory.
//! - `raw_body` (a string sent verbatim, or any other JSON value sent serialized) with
//!   `content_type` (default `application/json`) and `status` (default 200).
//! - `headers`: extra response headers, `{ "name": "value" }`.
//!
//! # Recording
//! Each provider request is recorded as `{ seq, method, path, headers, body, model, stream,
//! received_at_ms, completed, client_closed, connection_id, rule, status }`: `path` includes
//! the query, `headers` has lower-cased names, `body` is the parsed JSON (or the raw text if it
//! is not JSON; bodies over 8 MiB are replaced by a note), `received_at_ms` counts from server
//! start, `completed` means the whole response was written, `client_closed` that the client
//! left first, `rule` is the index of the rule that answered (null for the default), `status`
//! the HTTP status sent. `seq` starts at 1 and never restarts, not even after a reset; the last
//! [`ServerOptions::max_records`] records are kept.
//!
//! # Control API
//! - `POST /__mock/script` with the script → `{"ok":true,"rules":N}`, or 400
//!   `{"error":{"message":"invalid mock script: …"}}` (the previous script stays).
//! - `GET /__mock/requests` → the records, a JSON array, oldest first.
//! - `GET /__mock/stats` → `{"requests","in_flight","max_in_flight","connections_open",
//!   "connections_total","client_closed","uptime_ms"}`. `in_flight` counts provider requests
//!   read in full and not yet answered or abandoned; `max_in_flight` is its high-water mark.
//! - `POST /__mock/reset` → `{"ok":true}`: clears the script, the records and the counters
//!   except the live `in_flight` and `connections_open` (`max_in_flight` restarts from
//!   `in_flight`).

mod bedrock;
mod http;
mod providers;
mod script;
mod serve;
mod state;
mod vertex;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpSocket;
use tokio::sync::oneshot;

pub use bedrock::{AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY};
pub use script::ScriptError;
pub use vertex::{VERTEX_SERVICE_ACCOUNT, VERTEX_USER_CREDENTIALS};

use state::{lock, Shared};

/// How a [`MockServer`] runs. Start from [`ServerOptions::default`] and change what you need.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Port to bind on 127.0.0.1; 0 (the default) picks a free one.
    pub port: u16,
    /// The server stops by itself after this long; `None` runs until dropped.
    /// Default: 30 minutes, so a forgotten server cannot outlive a test run by much.
    pub lifetime: Option<Duration>,
    /// Connections served at once; past it, new ones wait in the listen backlog.
    /// Default: 4096.
    pub max_connections: usize,
    /// The longest a `hang` (or `slow_loris`) reply holds a connection, and the longest a
    /// single write may stall. Default: 120 s.
    pub max_hang: Duration,
    /// An idle keep-alive connection (or a half-sent request head) is closed after this long.
    /// The server advertises `Keep-Alive: timeout=60`, less than this. Default: 120 s.
    pub idle_timeout: Duration,
    /// Larger request bodies get a 413. Default: 64 MiB.
    pub max_body_bytes: usize,
    /// How many request records are kept (the oldest are dropped first). Default: 10,000.
    pub max_records: usize,
    /// Tokio worker threads. Default: the available parallelism, at most 4.
    pub worker_threads: usize,
    /// Log one line per provider request on stderr. Default: false.
    pub log_requests: bool,
    /// Do not log server problems (such as failed accepts) on stderr. Default: false.
    pub quiet: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            port: 0,
            lifetime: Some(Duration::from_mins(30)),
            max_connections: 4096,
            max_hang: Duration::from_mins(2),
            idle_timeout: Duration::from_mins(2),
            max_body_bytes: 64 * 1024 * 1024,
            max_records: 10_000,
            worker_threads: std::thread::available_parallelism()
                .map_or(2, std::num::NonZero::get)
                .min(4),
            log_requests: false,
            quiet: false,
        }
    }
}

/// A running mock LLM server. It runs on its own threads with its own tokio runtime, so it
/// works from a plain `#[test]` and from inside another runtime alike, and stops when dropped.
pub struct MockServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts a server with the default options on a free port of 127.0.0.1.
    pub fn start() -> io::Result<MockServer> {
        MockServer::start_with(ServerOptions::default())
    }

    /// Starts a server with the given options.
    pub fn start_with(options: ServerOptions) -> io::Result<MockServer> {
        let workers = options.worker_threads.max(1);
        let port = options.port;
        let shared = Arc::new(Shared::new(options));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<SocketAddr>>();
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let server_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("mock_llm".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name("mock_llm-worker")
                    .enable_io()
                    .enable_time()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match bind(port) {
                        Ok(listener) => listener,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(listener.local_addr());
                    serve::run(server_shared, listener, shutdown_rx).await;
                });
                // Dropping the runtime here cancels every connection task and closes its socket.
            })?;
        let addr = ready_rx
            .recv()
            .map_err(|_| io::Error::other("mock_llm: the server thread exited during startup"))??;
        Ok(MockServer {
            shared,
            addr,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// The bound address (always 127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the script (rules and default reply); see the crate docs for its format. On
    /// error the previous script stays in force.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "callers pass a fresh json!(...) literal; taking it by value reads better"
    )]
    pub fn set_script(&self, script: Value) -> Result<(), ScriptError> {
        let parsed = script::Script::parse(&script)?;
        *lock(&self.shared.script) = parsed;
        Ok(())
    }

    /// The recorded provider requests, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        match self.shared.requests_json() {
            Value::Array(records) => records,
            _ => Vec::new(),
        }
    }

    /// The counters: `{ requests, in_flight, max_in_flight, connections_open,
    /// connections_total, client_closed, uptime_ms }`.
    /// The test service account ([`VERTEX_SERVICE_ACCOUNT`]) with its `token_uri` pointing at
    /// this server's token endpoint.
    pub fn vertex_service_account(&self) -> Value {
        let mut sa: Value = serde_json::from_str(VERTEX_SERVICE_ACCOUNT).unwrap_or_default();
        sa["token_uri"] = Value::String(format!("{}/token", self.url()));
        sa
    }

    /// [`VERTEX_USER_CREDENTIALS`] with a `token_uri` pointing at this server.
    pub fn vertex_user_credentials(&self) -> Value {
        let mut creds: Value = serde_json::from_str(VERTEX_USER_CREDENTIALS).unwrap_or_default();
        creds["token_uri"] = Value::String(format!("{}/token", self.url()));
        creds
    }

    /// Revokes every access token issued so far: Vertex requests using them get 401.
    pub fn revoke_tokens(&self) {
        self.shared.tokens.revoke();
    }

    /// How many token requests the token endpoint answered (granted or refused).
    pub fn token_requests(&self) -> u64 {
        self.shared
            .tokens
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn stats(&self) -> Value {
        self.shared.stats_json()
    }

    /// Clears the script, the records and the counters (except the live `in_flight` and
    /// `connections_open`; `max_in_flight` restarts from the current `in_flight`).
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Blocks until the server stops by itself (its lifetime ends).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops the server and waits until its port is closed (the same as dropping it).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn bind(port: u16) -> io::Result<tokio::net::TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    // A deep backlog: benchmarks open a thousand connections at once.
    socket.listen(4096)
}
