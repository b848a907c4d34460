//! A tiny blocking HTTP/1.1 client for the tests: enough to send a request, read a
//! Content-Length or chunked response, and notice truncation.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A response as received.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body ended as announced (length reached, or the final empty chunk arrived).
    pub complete: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Server-sent events as (event name, data).
    pub fn events(&self) -> Vec<(Option<String>, String)> {
        let mut events = Vec::new();
        for block in self.text().split("\n\n") {
            let mut name = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push(d.to_owned());
                }
            }
            if name.is_some() || !data.is_empty() {
                events.push((name, data.join("\n")));
            }
        }
        events
    }
}

/// One connection; requests on it use keep-alive.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            reader: BufReader::new(stream),
        })
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Sends a request without reading the answer.
    pub fn send(&mut self, method: &str, path: &str, body: &str) -> io::Result<()> {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: mock\r\ncontent-type: application/json\r\n\
             authorization: Bearer sk-test\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        self.reader.get_mut().write_all(request.as_bytes())
    }

    /// Reads one response. A connection that ends mid-body gives `complete: false`; one that
    /// ends (or resets) before the head is an error.
    pub fn receive(&mut self) -> io::Result<Response> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no response"));
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (name, value) = trimmed.split_once(':').unwrap_or((trimmed, ""));
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
            complete: false,
        };
        if response
            .header("transfer-encoding")
            .is_some_and(|te| te.contains("chunked"))
        {
            loop {
                line.clear();
                if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return Ok(response);
                }
                let Ok(size) = usize::from_str_radix(line.trim(), 16) else {
                    return Ok(response);
                };
                if size == 0 {
                    line.clear();
                    let _ = self.reader.read_line(&mut line);
                    response.complete = true;
                    return Ok(response);
                }
                let mut chunk = vec![0; size + 2];
                if self.reader.read_exact(&mut chunk).is_err() {
                    return Ok(response);
                }
                response.body.extend_from_slice(&chunk[..size]);
            }
        }
        let length: usize = response
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut buf = vec![0u8; 64 * 1024];
        while response.body.len() < length {
            let want = (length - response.body.len()).min(buf.len());
            match self.reader.read(&mut buf[..want]) {
                Ok(0) | Err(_) => return Ok(response),
                Ok(n) => response.body.extend_from_slice(&buf[..n]),
            }
        }
        response.complete = true;
        Ok(response)
    }

    pub fn request(&mut self, method: &str, path: &str, body: &str) -> io::Result<Response> {
        self.send(method, path, body)?;
        self.receive()
    }
}

/// A request on a fresh connection.
pub fn post(addr: SocketAddr, path: &str, body: &Value) -> Response {
    Client::connect(addr)
        .and_then(|mut c| c.request("POST", path, &body.to_string()))
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// Polls `check` until it holds or `limit` passes; returns whether it held.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    check()
}
