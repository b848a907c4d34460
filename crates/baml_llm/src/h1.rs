//! Plain `http://` endpoints (local model servers, the mock): a keep-alive HTTP/1.1 client
//! whose connection is driven inside the request's own future.
//!
//! reqwest runs every connection as a separate tokio task and hands requests and answers to it
//! over channels, so one call wakes two tasks, often on two worker threads. Here the request
//! future polls its connection itself: the answer arriving on the socket wakes exactly the
//! future that waits for it. Against a zero-latency server on loopback this takes ~30 µs off a
//! call (see BENCHMARKS.md). HTTPS and proxied requests keep going through reqwest.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// An idle connection is not reused after this long (as reqwest's `pool_idle_timeout`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: http1::Connection<TokioIo<TcpStream>, Full<Bytes>>,
    ended: bool,
}

impl Conn {
    /// Lets the connection make progress without waiting. `false` once it has ended.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.ended && Pin::new(&mut self.driver).poll(cx).is_ready() {
            self.ended = true;
        }
        !self.ended
    }
}

/// Why a request failed, worded like reqwest's errors.
#[derive(Debug)]
pub(crate) struct NetError {
    pub message: String,
    pub timeout: bool,
}

impl NetError {
    fn new(url: &str, what: impl std::fmt::Display) -> Self {
        NetError {
            message: format!("error sending request for url ({url}): {what}"),
            timeout: false,
        }
    }
}

/// `e` with its causes, `: `-separated.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Where a plain-HTTP request goes.
pub(crate) struct Target {
    /// `host:port`, the pool key and what is connected to.
    authority: String,
    /// The Host header: the URL's authority as written.
    host: String,
    uri: hyper::Uri,
}

impl Target {
    /// `None` unless `url` is a plain `http://` URL this client handles (no user info).
    pub(crate) fn parse(url: &str) -> Option<Target> {
        let uri: hyper::Uri = url.parse().ok()?;
        if uri.scheme_str() != Some("http") {
            return None;
        }
        let auth = uri.authority()?;
        if auth.as_str().contains('@') {
            return None;
        }
        let port = auth.port_u16().unwrap_or(80);
        let host = auth.host();
        Some(Target {
            authority: format!("{host}:{port}"),
            host: auth.as_str().to_string(),
            uri: hyper::Uri::builder()
                .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
                .build()
                .ok()?,
        })
    }
}

/// The connections of one runtime, per server.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<String, Vec<(Conn, Instant)>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    /// An idle connection to `authority` that is still open and ready for a request.
    fn checkout(&self, authority: &str) -> Option<Conn> {
        let mut noop = Context::from_waker(std::task::Waker::noop());
        loop {
            let (mut conn, since) = {
                let mut idle = self.idle.lock().ok()?;
                idle.get_mut(authority)?.pop()?
            };
            // A connection the server closed while idle has ended (or errs) when polled.
            if since.elapsed() < IDLE_TIMEOUT && conn.drive(&mut noop) && conn.sender.is_ready() {
                return Some(conn);
            }
        }
    }

    fn release(&self, authority: &str, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(authority.to_string()).or_default();
            // As reqwest: no limit on idle connections but their age.
            list.retain(|(_, since)| since.elapsed() < IDLE_TIMEOUT);
            list.push((conn, Instant::now()));
        }
    }

    async fn connect(
        target: &Target,
        url: &str,
        connect_timeout: Option<Duration>,
    ) -> Result<Conn, NetError> {
        let open = async {
            let stream = TcpStream::connect(target.authority.as_str())
                .await
                .map_err(|e| NetError::new(url, format!("tcp connect error: {}", chain(&e))))?;
            stream
                .set_nodelay(true)
                .map_err(|e| NetError::new(url, format!("tcp connect error: {}", chain(&e))))?;
            let (sender, driver) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| NetError::new(url, chain(&e)))?;
            Ok(Conn {
                sender,
                driver,
                ended: false,
            })
        };
        match connect_timeout {
            Some(d) => tokio::time::timeout(d, open).await.map_err(|_| NetError {
                message: format!(
                    "error sending request for url ({url}): connect timed out after {} ms",
                    d.as_millis()
                ),
                timeout: true,
            })?,
            None => open.await,
        }
    }

    /// POSTs `body` with `headers` and waits for the answer's head.
    pub(crate) async fn post(
        &self,
        target: &Target,
        url: &str,
        headers: &[(String, String)],
        body: Bytes,
        connect_timeout: Option<Duration>,
    ) -> Result<Response<'_>, NetError> {
        let mut reused = self.checkout(&target.authority);
        loop {
            let was_reused = reused.is_some();
            let mut conn = match reused.take() {
                Some(c) => c,
                None => Self::connect(target, url, connect_timeout).await?,
            };
            let mut req = hyper::Request::post(target.uri.clone());
            let has_accept = headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("accept"));
            req = req.header(hyper::header::HOST, target.host.as_str());
            for (k, v) in headers {
                req = req.header(k.as_str(), v.as_str());
            }
            if !has_accept {
                req = req.header(hyper::header::ACCEPT, "*/*");
            }
            let req = req
                .body(Full::new(body.clone()))
                .map_err(|e| NetError::new(url, format!("builder error: {}", chain(&e))))?;
            let mut sent = std::pin::pin!(conn.sender.try_send_request(req));
            let head = std::future::poll_fn(|cx| {
                let open = conn.drive(cx);
                match sent.as_mut().poll(cx) {
                    Poll::Ready(r) => Poll::Ready(Some(r)),
                    Poll::Pending if open => Poll::Pending,
                    Poll::Pending => Poll::Ready(None),
                }
            })
            .await;
            let Some(head) = head else {
                return Err(NetError::new(
                    url,
                    "connection closed before message completed",
                ));
            };
            match head {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let (parts, body) = resp.into_parts();
                    return Ok(Response {
                        status,
                        headers: parts.headers,
                        body,
                        conn: Some(conn),
                        pool: self,
                        authority: target.authority.clone(),
                        url: url.to_string(),
                    });
                }
                // A reused connection the server closed before the request went out: the
                // request was never sent, so it is safe to send it on a new connection.
                Err(mut e) => {
                    if was_reused && e.take_message().is_some() {
                        continue;
                    }
                    return Err(NetError::new(url, chain(e.error())));
                }
            }
        }
    }
}

/// An answer whose body is still arriving on its connection.
pub(crate) struct Response<'p> {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    body: Incoming,
    conn: Option<Conn>,
    pool: &'p Pool,
    authority: String,
    url: String,
}

impl Response<'_> {
    /// The next piece of the body, `None` at its end. The connection goes back to the pool
    /// once the whole body has been read.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, NetError> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, NetError>> {
        if let Some(conn) = &mut self.conn {
            if !conn.drive(cx) {
                // Ended: what is left of the body is buffered, or the body reports the error.
                self.conn = None;
            }
        }
        loop {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Poll::Ready(Ok(Some(data)));
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    self.conn = None;
                    return Poll::Ready(Err(NetError::new(
                        &self.url,
                        format!("error decoding response body: {}", chain(&e)),
                    )));
                }
                Poll::Ready(None) => {
                    if let Some(mut conn) = self.conn.take() {
                        // Let the connection see the end of the exchange before it is reused.
                        if conn.drive(cx) {
                            self.pool.release(&self.authority, conn);
                        }
                    }
                    return Poll::Ready(Ok(None));
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Target;

    #[test]
    fn only_plain_http_urls_without_user_info_are_taken() {
        let t = Target::parse("http://127.0.0.1:8080/v1/chat/completions?x=1").unwrap();
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.uri.to_string(), "/v1/chat/completions?x=1");
        let t = Target::parse("http://localhost/v1").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.host.as_str()),
            ("localhost:80", "localhost")
        );
        let t = Target::parse("http://[::1]:11434/api").unwrap();
        assert_eq!(t.authority, "[::1]:11434");
        for url in [
            "https://api.openai.com/v1/chat/completions",
            "http://user:pw@127.0.0.1:8080/v1",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            assert!(Target::parse(url).is_none(), "{url}");
        }
    }
}
