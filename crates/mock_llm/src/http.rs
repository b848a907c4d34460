//! A small HTTP/1.1 server side: reading requests (Content-Length or chunked bodies,
//! `Expect: 100-continue`, pipelining), writing heads and bodies, and waiting while watching
//! for the client to leave.
//!
//! Hand-written rather than hyper so that faults (resets, truncation, one byte at a time) are
//! under full control and each request costs one read and one write.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant};

/// Longest accepted request head.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How much pipelined input is buffered while a response is pending.
const MAX_PIPELINED_BYTES: usize = 1024 * 1024;
/// Filler text for `huge_body` replies, written without materializing the whole body.
static FILLER: [u8; 16 * 1024] = [b'x'; 16 * 1024];

/// One parsed request.
pub(crate) struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Lower-cased names, values trimmed, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub keep_alive: bool,
}

impl Request {
    /// The path without the query.
    pub(crate) fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(p, _)| p)
    }

    /// The query without `?`, or "".
    pub(crate) fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request could be read.
pub(crate) enum ReadError {
    /// The connection closed (or failed) before a whole request arrived.
    Gone,
    /// The request is malformed or too large: answer with this status and close.
    Bad(u16, String),
}

/// A piece of a response body: literal bytes, or that many filler bytes.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Bytes(Vec<u8>),
    Filler(u64),
}

impl Piece {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::Filler(n) => *n,
        }
    }
}

/// The total length of some pieces.
pub(crate) fn pieces_len(pieces: &[Piece]) -> u64 {
    pieces.iter().map(Piece::len).sum()
}

/// How the body length is announced.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Framing {
    Length(u64),
    Chunked,
}

/// Builds a response head.
pub(crate) fn head(
    status: u16,
    content_type: &str,
    framing: Framing,
    keep_alive: bool,
    extra: &[(String, String)],
) -> Vec<u8> {
    let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    h.push_str("content-type: ");
    h.push_str(content_type);
    h.push_str("\r\n");
    match framing {
        Framing::Length(n) => {
            h.push_str("content-length: ");
            h.push_str(&n.to_string());
            h.push_str("\r\n");
        }
        Framing::Chunked => h.push_str("transfer-encoding: chunked\r\ncache-control: no-cache\r\n"),
    }
    if keep_alive {
        // Advertise less than the real idle timeout so clients that honour it (Node's agent
        // does) drop idle sockets before the server does, avoiding reuse-after-close races.
        h.push_str("connection: keep-alive\r\nkeep-alive: timeout=60\r\n");
    } else {
        h.push_str("connection: close\r\n");
    }
    for (name, value) in extra {
        h.push_str(name);
        h.push_str(": ");
        h.push_str(value);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Status",
    }
}

/// One client connection.
pub(crate) struct Conn {
    pub stream: TcpStream,
    /// Bytes read but not consumed yet (the start of the next, pipelined request).
    inbuf: Vec<u8>,
    /// Bound on any single write, so a client that stops reading cannot pin a task forever.
    write_timeout: Duration,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream, write_timeout: Duration) -> Self {
        Conn {
            stream,
            inbuf: Vec::with_capacity(8 * 1024),
            write_timeout,
        }
    }

    /// Reads one request. `Ok(None)` is a clean close between requests.
    pub(crate) async fn read_request(
        &mut self,
        max_body: usize,
    ) -> Result<Option<Request>, ReadError> {
        let head_end = loop {
            if let Some(i) = find(&self.inbuf, b"\r\n\r\n") {
                break i;
            }
            if self.inbuf.len() > MAX_HEAD_BYTES {
                return Err(ReadError::Bad(431, "request head too large".into()));
            }
            if self.fill().await? == 0 {
                return if self.inbuf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Gone)
                };
            }
        };
        let head = std::str::from_utf8(&self.inbuf[..head_end])
            .map_err(|_| ReadError::Bad(400, "request head is not UTF-8".into()))?;
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ReadError::Bad(400, "malformed request line".into()));
        };
        if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
            return Err(ReadError::Bad(400, "malformed request line".into()));
        }
        let mut headers = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                return Err(ReadError::Bad(
                    400,
                    format!("malformed header line {line:?}"),
                ));
            };
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut request = Request {
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body: Vec::new(),
            keep_alive: false,
        };
        let connection = request
            .header("connection")
            .unwrap_or_default()
            .to_ascii_lowercase();
        request.keep_alive = if version == "HTTP/1.0" {
            connection.contains("keep-alive")
        } else {
            !connection.contains("close")
        };
        self.inbuf.drain(..head_end + 4);

        let chunked = request
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        let length = match request.header("content-length") {
            Some(v) if !chunked => Some(
                v.parse::<usize>()
                    .map_err(|_| ReadError::Bad(400, "invalid content-length".into()))?,
            ),
            _ => None,
        };
        if length.is_some_and(|n| n > max_body) {
            return Err(ReadError::Bad(413, "request body too large".into()));
        }
        let expects_body = chunked || length.is_some_and(|n| n > 0);
        if expects_body
            && self.inbuf.is_empty()
            && request
                .header("expect")
                .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            self.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(|()| ReadError::Gone)?;
        }
        if chunked {
            request.body = self.read_chunked(max_body).await?;
        } else if let Some(n) = length {
            while self.inbuf.len() < n {
                if self.fill().await? == 0 {
                    return Err(ReadError::Gone);
                }
            }
            request.body = self.inbuf.drain(..n).collect();
        }
        Ok(Some(request))
    }

    async fn read_chunked(&mut self, max_body: usize) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line_end = self.line_end().await?;
            let line = std::str::from_utf8(&self.inbuf[..line_end]).unwrap_or_default();
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| ReadError::Bad(400, "invalid chunk size".into()))?;
            self.inbuf.drain(..line_end + 2);
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let end = self.line_end().await?;
                    self.inbuf.drain(..end + 2);
                    if end == 0 {
                        return Ok(body);
                    }
                }
            }
            if body.len() + size > max_body {
                return Err(ReadError::Bad(413, "request body too large".into()));
            }
            while self.inbuf.len() < size + 2 {
                if self.fill().await? == 0 {
                    return Err(ReadError::Gone);
                }
            }
            body.extend(self.inbuf.drain(..size));
            self.inbuf.drain(..2);
        }
    }

    /// Index of the next CRLF in the buffer, reading more as needed.
    async fn line_end(&mut self) -> Result<usize, ReadError> {
        loop {
            if let Some(i) = find(&self.inbuf, b"\r\n") {
                return Ok(i);
            }
            if self.inbuf.len() > MAX_HEAD_BYTES {
                return Err(ReadError::Bad(400, "chunk line too long".into()));
            }
            if self.fill().await? == 0 {
                return Err(ReadError::Gone);
            }
        }
    }

    async fn fill(&mut self) -> Result<usize, ReadError> {
        self.inbuf.reserve(8 * 1024);
        self.stream
            .read_buf(&mut self.inbuf)
            .await
            .map_err(|_| ReadError::Gone)
    }

    /// Writes everything, or fails if the client is gone or stalls past the write timeout.
    pub(crate) async fn write_all(&mut self, bytes: &[u8]) -> Result<(), ()> {
        match timeout(self.write_timeout, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    /// Writes body pieces, filler included, without materializing the filler.
    pub(crate) async fn write_pieces(&mut self, pieces: &[Piece]) -> Result<(), ()> {
        for piece in pieces {
            match piece {
                Piece::Bytes(b) => self.write_all(b).await?,
                Piece::Filler(n) => {
                    let mut left = *n;
                    while left > 0 {
                        let take = usize::try_from(left.min(FILLER.len() as u64)).unwrap_or(0);
                        self.write_all(&FILLER[..take]).await?;
                        left -= take as u64;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes one chunk of a chunked body (an empty chunk would end the body, so it is skipped).
    pub(crate) async fn write_chunk(&mut self, pieces: &[Piece]) -> Result<(), ()> {
        let len = pieces_len(pieces);
        if len == 0 {
            return Ok(());
        }
        // Small chunks go out in one write: one syscall, one TCP segment.
        if let [Piece::Bytes(b)] = pieces {
            let mut out = Vec::with_capacity(b.len() + 16);
            out.extend_from_slice(format!("{len:x}\r\n").as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
            return self.write_all(&out).await;
        }
        self.write_all(format!("{len:x}\r\n").as_bytes()).await?;
        self.write_pieces(pieces).await?;
        self.write_all(b"\r\n").await
    }

    /// Waits `dur` while reading the socket, so a client that leaves is noticed at once.
    /// Returns false if the client closed the connection (or it failed). Bytes that arrive
    /// meanwhile (a pipelined request) are kept for later.
    pub(crate) async fn wait(&mut self, dur: Duration) -> bool {
        let deadline = Instant::now() + dur;
        loop {
            if self.inbuf.len() >= MAX_PIPELINED_BYTES {
                sleep_until(deadline).await;
                return true;
            }
            self.inbuf.reserve(4 * 1024);
            tokio::select! {
                () = sleep_until(deadline) => return true,
                read = self.stream.read_buf(&mut self.inbuf) => match read {
                    Ok(0) | Err(_) => return false,
                    Ok(_) => {}
                },
            }
        }
    }

    /// Half-closes the connection so the client sees a clean EOF.
    pub(crate) async fn finish(mut self) {
        let _ = timeout(Duration::from_secs(1), self.stream.shutdown()).await;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
