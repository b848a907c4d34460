//! The accept loop, per-connection request loop, routing, and delivery of replies and faults.

use std::future::pending;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};
use tokio::time::{sleep, timeout};

use crate::http::{head, pieces_len, Conn, Framing, Piece, ReadError, Request};
use crate::providers::{
    error_body, input_tokens, split_text, words, Answer, Api, Call, Finish, Text, Usage,
};
use crate::script::{Fault, Reply, RequestFacts, Script, DEFAULT_HUGE_BYTES};
use crate::state::{lock, InFlight, Outcome, Record, Shared};

/// Request bodies larger than this are recorded as a short note instead of in full.
const MAX_RECORDED_BODY: usize = 8 * 1024 * 1024;
/// Default delay between bytes for `slow_loris`.
const DEFAULT_SLOW_LORIS_DELAY_MS: u64 = 1000;

/// Accepts connections until `shutdown` fires or the lifetime ends.
pub(crate) async fn run(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut shutdown: oneshot::Receiver<()>,
) {
    let permits = Arc::new(Semaphore::new(shared.options.max_connections.max(1)));
    let lifetime = async {
        match shared.options.lifetime {
            Some(d) => sleep(d).await,
            None => pending().await,
        }
    };
    tokio::pin!(lifetime);
    loop {
        // Past max_connections, stop accepting: new clients wait in the listen backlog.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = &mut shutdown => return,
            () = &mut lifetime => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    if !shared.options.quiet {
                        eprintln!("mock_llm: accept failed: {e}");
                    }
                    sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
            () = &mut lifetime => return,
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _permit = permit;
            connection(&shared, stream).await;
        });
    }
}

/// What to do with the connection after a request.
enum Flow {
    /// Read the next request (if the request allowed keep-alive).
    Continue,
    /// Half-close cleanly and stop.
    Close,
    /// The client is gone: just drop the socket.
    Gone,
    /// Drop the socket with `SO_LINGER` 0 so the client sees a reset.
    Reset,
}

struct OpenConnection<'a>(&'a Shared);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

async fn connection(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let id = shared.connection_opened();
    let _open = OpenConnection(shared);
    let mut conn = Conn::new(stream, shared.options.max_hang);
    loop {
        let read = timeout(
            shared.options.idle_timeout,
            conn.read_request(shared.options.max_body_bytes),
        )
        .await;
        let request = match read {
            Ok(Ok(Some(request))) => request,
            Ok(Err(ReadError::Bad(status, message))) => {
                let body = error_body(None, status, &format!("mock_llm: {message}"));
                let _ = send_json(&mut conn, status, &body, false, &[]).await;
                break;
            }
            Err(_) | Ok(Ok(None) | Err(ReadError::Gone)) => break,
        };
        let keep_alive = request.keep_alive;
        match handle(shared, &mut conn, &request, id).await {
            Flow::Continue if keep_alive => {}
            Flow::Continue | Flow::Close => break,
            Flow::Gone => return,
            Flow::Reset => {
                let _ = conn.stream.set_zero_linger();
                return;
            }
        }
    }
    conn.finish().await;
}

async fn handle(shared: &Shared, conn: &mut Conn, request: &Request, connection_id: u64) -> Flow {
    let path = request.path();
    if let Some(control) = path.strip_prefix("/__mock/") {
        return control_api(shared, conn, request, control).await;
    }
    // vertex-ai's OAuth2 token endpoint (vertex.rs).
    if request.method == "POST" && path.ends_with("/token") {
        let (status, body) = shared.tokens.grant(request);
        return flow(send_json(conn, status, &body, request.keep_alive, &[]).await);
    }
    match Api::route(path, request.query()) {
        Some(api) if request.method == "POST" => {
            provider(shared, conn, request, api, connection_id).await
        }
        _ => {
            let message = format!(
                "mock_llm: no route for {} {}",
                request.method, request.target
            );
            let body = error_body(None, 404, &message);
            flow(send_json(conn, 404, &body, request.keep_alive, &[]).await)
        }
    }
}

fn flow(written: Result<(), ()>) -> Flow {
    if written.is_ok() {
        Flow::Continue
    } else {
        Flow::Gone
    }
}

async fn send_json(
    conn: &mut Conn,
    status: u16,
    body: &Value,
    keep_alive: bool,
    extra: &[(String, String)],
) -> Result<(), ()> {
    let body = body.to_string();
    let mut out = head(
        status,
        "application/json",
        Framing::Length(body.len() as u64),
        keep_alive,
        extra,
    );
    out.extend_from_slice(body.as_bytes());
    conn.write_all(&out).await
}

async fn control_api(shared: &Shared, conn: &mut Conn, request: &Request, route: &str) -> Flow {
    let (status, body) = match (request.method.as_str(), route) {
        ("POST", "script") => match serde_json::from_slice::<Value>(&request.body) {
            Ok(value) => match Script::parse(&value) {
                Ok(script) => {
                    let rules = script.len();
                    *lock(&shared.script) = script;
                    (200, json!({ "ok": true, "rules": rules }))
                }
                Err(e) => (400, json!({ "error": { "message": e.to_string() } })),
            },
            Err(e) => (
                400,
                json!({ "error": { "message": format!("invalid mock script: body is not JSON: {e}") } }),
            ),
        },
        ("GET", "requests") => (200, shared.requests_json()),
        ("GET", "stats") => (200, shared.stats_json()),
        ("POST", "reset") => {
            shared.reset();
            (200, json!({ "ok": true }))
        }
        _ => (
            404,
            json!({ "error": { "message": format!("mock_llm: no control route {} {}", request.method, request.target) } }),
        ),
    };
    flow(send_json(conn, status, &body, request.keep_alive, &[]).await)
}

fn headers_json(request: &Request) -> Value {
    let mut map = Map::new();
    for (name, value) in &request.headers {
        match map.get_mut(name) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(value);
            }
            _ => {
                map.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    Value::Object(map)
}

fn body_json(request: &Request, parsed: Option<&Value>) -> Value {
    if request.body.len() > MAX_RECORDED_BODY {
        return Value::String(format!("<{} bytes, not recorded>", request.body.len()));
    }
    match parsed {
        Some(v) => v.clone(),
        None => Value::String(String::from_utf8_lossy(&request.body).into_owned()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What a provider request says about itself.
struct Facts {
    parsed: Option<Value>,
    model: Option<String>,
    stream: bool,
    include_usage: bool,
}

fn facts(api: Api, request: &Request) -> Facts {
    let parsed: Option<Value> = serde_json::from_slice(&request.body).ok();
    let field = |name: &str| parsed.as_ref().and_then(|v| v.get(name));
    let model = api
        .model_from_path(request.path())
        .or_else(|| field("model").and_then(Value::as_str).map(str::to_owned));
    let stream = match api {
        Api::Gemini { stream, .. } | Api::Bedrock { stream } => stream,
        _ => field("stream").and_then(Value::as_bool).unwrap_or(false),
    };
    let include_usage = parsed
        .as_ref()
        .and_then(|v| v.pointer("/stream_options/include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Facts {
        parsed,
        model,
        stream,
        include_usage,
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one request from record to answer, in order"
)]
async fn provider(
    shared: &Shared,
    conn: &mut Conn,
    request: &Request,
    api: Api,
    connection_id: u64,
) -> Flow {
    let Facts {
        parsed,
        model,
        stream,
        include_usage,
    } = facts(api, request);
    let seq = shared.begin_request(Record {
        seq: 0,
        method: request.method.clone(),
        path: request.target.clone(),
        headers: headers_json(request),
        body: body_json(request, parsed.as_ref()),
        model: model.clone(),
        stream,
        received_at_ms: shared.elapsed_ms(),
        completed: false,
        client_closed: false,
        connection_id,
        rule: None,
        status: None,
    });
    let mut guard = InFlight::new(shared, seq);
    // aws-bedrock and vertex-ai requests must be authenticated (bedrock.rs, vertex.rs).
    if let Some(refused) = refusal(shared, api, request) {
        return refuse(shared, conn, request, seq, &mut guard, refused).await;
    }
    let (reply, rule) = lock(&shared.script).pick(&RequestFacts {
        model: model.as_deref(),
        body: &request.body,
        path: &request.target,
    });
    let status = reply.status();
    shared.note_reply(seq, rule, status);
    if shared.options.log_requests {
        eprintln!(
            "mock_llm: #{seq} {} {} model={} stream={stream} -> {status}{}",
            request.method,
            request.target,
            model.as_deref().unwrap_or("-"),
            reply
                .fault
                .map_or(String::new(), |f| format!(" fault={f:?}")),
        );
    }

    if reply.latency_ms > 0 && !conn.wait(Duration::from_millis(reply.latency_ms)).await {
        guard.end(Outcome::ClientClosed);
        return Flow::Gone;
    }
    match reply.fault {
        Some(Fault::Reset) => {
            guard.end(Outcome::Abandoned);
            return Flow::Reset;
        }
        Some(Fault::Hang) => {
            return if conn.wait(shared.options.max_hang).await {
                guard.end(Outcome::Abandoned);
                Flow::Close
            } else {
                guard.end(Outcome::ClientClosed);
                Flow::Gone
            };
        }
        _ => {}
    }

    let call = Call {
        api,
        seq,
        model: model.as_deref().unwrap_or("mock-model"),
        created: unix_now(),
        include_usage,
    };
    let plan = plan(&call, &reply, status, stream, request, parsed.as_ref());
    let mut extra = vec![("x-mock-seq".to_owned(), seq.to_string())];
    if let Some(secs) = reply.retry_after {
        extra.push(("retry-after".to_owned(), secs.to_string()));
    }
    if matches!(api, Api::Bedrock { .. }) && !(200..300).contains(&status) {
        let kind = crate::bedrock::error_type(status);
        extra.push(("x-amzn-errortype".to_owned(), kind.to_owned()));
    }
    extra.extend(reply.headers.iter().cloned());

    let delivered = deliver(
        shared,
        conn,
        &mut guard,
        &reply,
        plan,
        request.keep_alive,
        &extra,
    )
    .await;
    match delivered {
        Delivered::Complete => {
            guard.end(Outcome::Completed);
            Flow::Continue
        }
        Delivered::ClientGone => {
            guard.end(Outcome::ClientClosed);
            Flow::Gone
        }
        Delivered::Cut => {
            guard.end(Outcome::Abandoned);
            Flow::Close
        }
    }
}

/// An auth refusal: status, JSON body, extra headers.
type Refused = (u16, Value, Vec<(String, String)>);

async fn refuse(
    shared: &Shared,
    conn: &mut Conn,
    request: &Request,
    seq: u64,
    guard: &mut InFlight<'_>,
    (status, body, extra): Refused,
) -> Flow {
    shared.note_reply(seq, None, status);
    let out = send_json(conn, status, &body, request.keep_alive, &extra).await;
    guard.end(Outcome::Completed);
    flow(out)
}

/// The answer to an unauthenticated aws-bedrock or vertex-ai request.
fn refusal(shared: &Shared, api: Api, request: &Request) -> Option<Refused> {
    if matches!(api, Api::Bedrock { .. }) {
        let (kind, message) = crate::bedrock::verify(request).err()?;
        let extra = vec![("x-amzn-errortype".to_owned(), kind.to_owned())];
        return Some((403, crate::bedrock::error_body(&message), extra));
    }
    if crate::vertex::is_vertex(request.path()) && !shared.tokens.admits(request) {
        let message = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.";
        let body = error_body(
            Some(Api::Gemini {
                stream: false,
                sse: false,
            }),
            401,
            message,
        );
        return Some((401, body, Vec::new()));
    }
    None
}

/// What to send: content type and either a whole body or stream events.
struct Plan {
    status: u16,
    content_type: String,
    body: Body,
}

enum Body {
    /// Sent with a Content-Length.
    Whole(Vec<Piece>),
    /// Sent chunked, one event per chunk, `chunk_delay_ms` apart.
    Events(Vec<Vec<Piece>>),
}

fn plan(
    call: &Call<'_>,
    reply: &Reply,
    status: u16,
    stream: bool,
    request: &Request,
    parsed: Option<&Value>,
) -> Plan {
    let json_type = "application/json".to_owned();
    if let Some(raw) = &reply.raw_body {
        return Plan {
            status,
            content_type: reply.content_type.clone().unwrap_or(json_type),
            body: Body::Whole(vec![Piece::Bytes(raw.clone())]),
        };
    }
    let stream_type = match call.api {
        Api::Gemini { sse: false, .. } => json_type.clone(),
        Api::Bedrock { .. } => "application/vnd.amazon.eventstream".to_owned(),
        _ => "text/event-stream".to_owned(),
    };
    let content_type = |default: String| reply.content_type.clone().unwrap_or(default);
    if reply.fault == Some(Fault::MalformedJson) {
        let mut events = call.malformed(stream);
        return if stream {
            Plan {
                status,
                content_type: content_type(stream_type),
                body: Body::Events(events),
            }
        } else {
            Plan {
                status,
                content_type: content_type(json_type),
                body: Body::Whole(events.pop().unwrap_or_default()),
            }
        };
    }
    if !(200..300).contains(&status) {
        let message = reply
            .text
            .clone()
            .unwrap_or_else(|| format!("mock_llm: scripted HTTP {status}"));
        let body = error_body(Some(call.api), status, &message);
        return Plan {
            status,
            content_type: content_type(json_type),
            body: Body::Whole(vec![Piece::Bytes(body.to_string().into_bytes())]),
        };
    }
    let text = if reply.fault == Some(Fault::HugeBody) {
        Text::Filler(reply.huge_bytes.unwrap_or(DEFAULT_HUGE_BYTES))
    } else {
        Text::Literal(reply.text())
    };
    let usage = Usage {
        input: reply
            .input_tokens
            .unwrap_or_else(|| input_tokens(parsed, &request.body)),
        output: reply.output_tokens.unwrap_or(match text {
            Text::Literal(s) => words(s),
            Text::Filler(n) => n.div_ceil(4),
        }),
    };
    let answer = Answer {
        text,
        finish: Finish::parse(reply.finish_reason.as_deref()),
        usage,
    };
    if stream {
        let deltas = split_text(text, reply.chunk_chars());
        Plan {
            status,
            content_type: content_type(stream_type),
            body: Body::Events(call.stream(&answer, &deltas)),
        }
    } else {
        Plan {
            status,
            content_type: content_type(json_type),
            body: Body::Whole(call.body(&answer)),
        }
    }
}

enum Delivered {
    /// The whole response was written.
    Complete,
    /// A write failed or the client closed while we waited.
    ClientGone,
    /// We stopped on purpose (truncation, or a slow loris past the max hang).
    Cut,
}

impl From<Result<(), ()>> for Delivered {
    fn from(written: Result<(), ()>) -> Self {
        if written.is_ok() {
            Delivered::Complete
        } else {
            Delivered::ClientGone
        }
    }
}

async fn deliver(
    shared: &Shared,
    conn: &mut Conn,
    guard: &mut InFlight<'_>,
    reply: &Reply,
    plan: Plan,
    keep_alive: bool,
    extra: &[(String, String)],
) -> Delivered {
    let status = plan.status;
    let content_type = plan.content_type.as_str();
    match reply.fault {
        Some(Fault::SlowLoris) => {
            let pieces: Vec<Piece> = match plan.body {
                Body::Whole(pieces) => pieces,
                Body::Events(events) => events.into_iter().flatten().collect(),
            };
            let total = pieces_len(&pieces);
            let out = head(
                status,
                content_type,
                Framing::Length(total),
                keep_alive,
                extra,
            );
            if conn.write_all(&out).await.is_err() {
                return Delivered::ClientGone;
            }
            let delay =
                Duration::from_millis(reply.chunk_delay_ms.unwrap_or(DEFAULT_SLOW_LORIS_DELAY_MS));
            drip(conn, guard, &pieces, delay, shared.options.max_hang).await
        }
        Some(Fault::TruncatedStream) => {
            let framing = match &plan.body {
                Body::Whole(pieces) => Framing::Length(pieces_len(pieces)),
                Body::Events(_) => Framing::Chunked,
            };
            if conn
                .write_all(&head(status, content_type, framing, keep_alive, extra))
                .await
                .is_err()
            {
                return Delivered::ClientGone;
            }
            truncated(conn, plan.body, reply.chunk_delay_ms.unwrap_or(0)).await
        }
        _ => {
            let delay = reply.chunk_delay_ms.unwrap_or(0);
            whole(
                conn,
                guard,
                plan.body,
                delay,
                head_for(status, content_type, keep_alive, extra),
            )
            .await
        }
    }
}

/// The head builder for a normal delivery, which picks the framing from the body.
fn head_for<'a>(
    status: u16,
    content_type: &'a str,
    keep_alive: bool,
    extra: &'a [(String, String)],
) -> impl Fn(Framing) -> Vec<u8> + 'a {
    move |framing| head(status, content_type, framing, keep_alive, extra)
}

/// Sends about half of a body (or of the stream events), never the terminator.
async fn truncated(conn: &mut Conn, body: Body, delay_ms: u64) -> Delivered {
    let sent = match body {
        Body::Whole(pieces) => {
            let half = take_prefix(&pieces, pieces_len(&pieces) / 2);
            conn.write_pieces(&half).await.into()
        }
        Body::Events(events) if events.len() == 1 => {
            let half = take_prefix(&events[0], pieces_len(&events[0]) / 2);
            conn.write_chunk(&half).await.into()
        }
        Body::Events(events) => send_events(conn, &events[..events.len() / 2], delay_ms).await,
    };
    match sent {
        Delivered::Complete => Delivered::Cut,
        other => other,
    }
}

/// Sends a whole response: head and body, or head and paced stream events.
async fn whole(
    conn: &mut Conn,
    guard: &mut InFlight<'_>,
    body: Body,
    delay_ms: u64,
    head: impl Fn(Framing) -> Vec<u8>,
) -> Delivered {
    match body {
        Body::Whole(pieces) => {
            let mut out = head(Framing::Length(pieces_len(&pieces)));
            if let [Piece::Bytes(b)] = pieces.as_slice() {
                out.extend_from_slice(b);
                guard.completing();
                return conn.write_all(&out).await.into();
            }
            if conn.write_all(&out).await.is_err() {
                return Delivered::ClientGone;
            }
            guard.completing();
            conn.write_pieces(&pieces).await.into()
        }
        Body::Events(events) => {
            let mut out = head(Framing::Chunked);
            let all_bytes = events
                .iter()
                .all(|e| e.iter().all(|p| matches!(p, Piece::Bytes(_))));
            if delay_ms == 0 && all_bytes {
                // No pacing: the whole stream goes out in one write.
                for event in &events {
                    let len = pieces_len(event);
                    if len == 0 {
                        continue;
                    }
                    out.extend_from_slice(format!("{len:x}\r\n").as_bytes());
                    for piece in event {
                        if let Piece::Bytes(b) = piece {
                            out.extend_from_slice(b);
                        }
                    }
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
                guard.completing();
                return conn.write_all(&out).await.into();
            }
            if conn.write_all(&out).await.is_err() {
                return Delivered::ClientGone;
            }
            match send_events(conn, &events, delay_ms).await {
                Delivered::Complete => {
                    guard.completing();
                    conn.write_all(b"0\r\n\r\n").await.into()
                }
                other => other,
            }
        }
    }
}

/// Sends events as chunks, `delay_ms` apart, watching for the client leaving.
async fn send_events(conn: &mut Conn, events: &[Vec<Piece>], delay_ms: u64) -> Delivered {
    for (i, event) in events.iter().enumerate() {
        if i > 0 && delay_ms > 0 && !conn.wait(Duration::from_millis(delay_ms)).await {
            return Delivered::ClientGone;
        }
        if conn.write_chunk(event).await.is_err() {
            return Delivered::ClientGone;
        }
    }
    Delivered::Complete
}

/// Sends a body one byte at a time, `delay` apart, for at most `max_total`.
async fn drip(
    conn: &mut Conn,
    guard: &mut InFlight<'_>,
    pieces: &[Piece],
    delay: Duration,
    max_total: Duration,
) -> Delivered {
    let deadline = tokio::time::Instant::now() + max_total;
    let total = pieces_len(pieces);
    let bytes = pieces.iter().flat_map(|piece| {
        let (bytes, filler) = match piece {
            Piece::Bytes(b) => (b.as_slice(), 0),
            Piece::Filler(n) => (&[][..], usize::try_from(*n).unwrap_or(usize::MAX)),
        };
        bytes
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'x', filler))
    });
    for (i, byte) in (1..).zip(bytes) {
        if i > 1 {
            if tokio::time::Instant::now() >= deadline {
                return Delivered::Cut;
            }
            if !conn.wait(delay).await {
                return Delivered::ClientGone;
            }
        }
        if i == total {
            guard.completing();
        }
        if conn.write_all(&[byte]).await.is_err() {
            return Delivered::ClientGone;
        }
    }
    Delivered::Complete
}

/// The first `n` bytes of some pieces.
fn take_prefix(pieces: &[Piece], n: u64) -> Vec<Piece> {
    let mut left = n;
    let mut out = Vec::new();
    for piece in pieces {
        if left == 0 {
            break;
        }
        let take = piece.len().min(left);
        left -= take;
        out.push(match piece {
            Piece::Bytes(b) => Piece::Bytes(b[..usize::try_from(take).unwrap_or(b.len())].to_vec()),
            Piece::Filler(_) => Piece::Filler(take),
        });
    }
    out
}
