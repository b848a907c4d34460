//! `mock_llm [--port N] [--lifetime-secs S] [--quiet] [--verbose] [--ignore-stdin]`
//!
//! Starts the mock LLM server on 127.0.0.1, prints one line `{"port":N,"url":"http://127.0.0.1:N"}`
//! on stdout, and runs until its stdin reaches EOF (the parent died or closed the pipe), the
//! lifetime ends (default 1800 s), or SIGTERM.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use mock_llm::{MockServer, ServerOptions};

const USAGE: &str = "usage: mock_llm [--port N] [--lifetime-secs S (default 1800, 0 = none)] \
                     [--quiet] [--verbose] [--ignore-stdin]";

struct Args {
    options: ServerOptions,
    watch_stdin: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut options = ServerOptions {
        lifetime: Some(Duration::from_mins(30)),
        ..ServerOptions::default()
    };
    let mut watch_stdin = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--port" => {
                options.port = value()?
                    .parse()
                    .map_err(|_| "--port: expected a port number".to_owned())?;
            }
            "--lifetime-secs" => {
                let secs: u64 = value()?
                    .parse()
                    .map_err(|_| "--lifetime-secs: expected whole seconds".to_owned())?;
                options.lifetime = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "--quiet" => options.quiet = true,
            "--verbose" => options.log_requests = true,
            "--ignore-stdin" => watch_stdin = false,
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args {
        options,
        watch_stdin,
    })
}

/// Writes the port line, the binary's interface with its parent. (`writeln!` on a locked
/// stdout rather than `println!`, so a closed stdout is an error, not a panic.)
fn announce(server: &MockServer) -> std::io::Result<()> {
    let line = serde_json::json!({ "port": server.port(), "url": server.url() });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("mock_llm: {message}");
            return ExitCode::from(2);
        }
    };
    let server = match MockServer::start_with(args.options) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("mock_llm: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = announce(&server) {
        eprintln!("mock_llm: cannot write the port line: {e}");
        return ExitCode::FAILURE;
    }
    if args.watch_stdin {
        // The parent holds our stdin pipe: EOF means it is gone (or wants us gone).
        let spawned = std::thread::Builder::new()
            .name("mock_llm-stdin".into())
            .spawn(|| {
                let mut sink = [0u8; 256];
                let mut stdin = std::io::stdin().lock();
                while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
                std::process::exit(0);
            });
        if let Err(e) = spawned {
            eprintln!("mock_llm: cannot watch stdin: {e}");
            return ExitCode::FAILURE;
        }
    }
    // SIGTERM keeps its default action (the process ends); nothing here needs cleanup that
    // the kernel does not do when it closes the sockets.
    server.wait();
    ExitCode::SUCCESS
}
