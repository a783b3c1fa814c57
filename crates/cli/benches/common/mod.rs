//! What the benchmarks of the binary share: talking to an emulator process
//! over plain HTTP for its stats and resets.

use std::io::{Read, Write};
use std::net::TcpStream;

/// One HTTP/1.1 request on a fresh connection; returns the body.
pub fn http(endpoint: &str, method: &str, path: &str) -> String {
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).expect("connecting to the emulator");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("sending");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reading");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// Starts `moat emulator` on a loopback port from a saved state, with a
/// latency and, when given, a QPS quota, and returns the process and the
/// endpoint it prints. The bench's own environment keys are not passed on.
pub fn start_emulator(
    state: &std::path::Path,
    latency_ms: usize,
    max_qps: Option<usize>,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_moat"));
    command
        .args(["emulator", "--listen", "127.0.0.1:0", "--state"])
        .arg(state)
        .args(["--latency-ms", &latency_ms.to_string()]);
    if let Some(qps) = max_qps {
        command.args(["--max-qps", &qps.to_string()]);
    }
    let mut server = command
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting moat emulator");
    let mut endpoint = String::new();
    std::io::BufReader::new(server.stdout.take().expect("piped"))
        .read_line(&mut endpoint)
        .expect("the endpoint line");
    (server, endpoint.trim().to_owned())
}
