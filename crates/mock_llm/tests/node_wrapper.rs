//! The Node wrapper (`node.js`) starts the binary, drives the control API, and stops it; and
//! the binary exits when its stdin closes. Skipped when `node` is not installed.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mock_llm");

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn node_wrapper_drives_the_binary() {
    if !node_available() {
        eprintln!("node not found: skipping the Node wrapper test");
        return;
    }
    let wrapper = concat!(env!("CARGO_MANIFEST_DIR"), "/node.js");
    let script = r"
const assert = require('node:assert/strict')
const http = require('node:http')
const { startMockLlm } = require(process.env.WRAPPER)
const post = (url, body) => new Promise((resolve, reject) => {
  const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
    let text = ''
    res.setEncoding('utf8')
    res.on('data', (c) => { text += c })
    res.on('end', () => resolve({ status: res.statusCode, text }))
  })
  req.on('error', reject)
  req.end(JSON.stringify(body))
})
;(async () => {
  const mock = await startMockLlm({ binary: process.env.BIN })
  assert.match(mock.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  assert.equal(mock.url, `http://127.0.0.1:${mock.port}`)
  await mock.script({ rules: [{ model: 'gpt-4o', replies: [{ text: 'from node' }] }] })
  await assert.rejects(mock.script({ rules: [{ nope: 1 }] }), /nope/)
  const r = await post(`${mock.url}/v1/chat/completions`, { model: 'gpt-4o', messages: [] })
  assert.equal(r.status, 200)
  assert.equal(JSON.parse(r.text).choices[0].message.content, 'from node')
  const requests = await mock.requests()
  assert.equal(requests.length, 1)
  assert.equal(requests[0].model, 'gpt-4o')
  assert.equal((await mock.stats()).requests, 1)
  await mock.reset()
  assert.equal((await mock.stats()).requests, 0)
  await mock.stop()
  await assert.rejects(post(`${mock.url}/v1/chat/completions`, {}))
  console.log('node wrapper ok')
})().catch((e) => { console.error(e); process.exit(1) })
";
    let output = Command::new("node")
        .arg("-e")
        .arg(script)
        .env("WRAPPER", wrapper)
        .env("BIN", BIN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("node wrapper ok"), "{stdout}");
}

#[test]
fn binary_prints_its_port_and_exits_when_stdin_closes() {
    let mut child = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let announced: serde_json::Value = serde_json::from_str(&line).unwrap();
    let port = announced["port"].as_u64().unwrap();
    assert_eq!(announced["url"], format!("http://127.0.0.1:{port}"));
    assert!(std::net::TcpStream::connect(("127.0.0.1", u16::try_from(port).unwrap())).is_ok());

    drop(child.stdin.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("mock_llm did not exit after its stdin closed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(stderr, "", "the binary logs nothing unless asked");
}
