//! `moat emulator` as a server process: it prints its endpoint, answers on
//! loopback, persists its state, refuses other addresses, and stops cleanly
//! on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::TestEnv;

/// One plain HTTP/1.1 GET, answered with the body as text.
fn http_get(endpoint: &str, path: &str) -> String {
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).expect("the emulator accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("setting a timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("sending the request");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("reading the answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

#[test]
fn serves_on_loopback_and_stops_cleanly_on_sigterm() {
    let env = TestEnv::new();
    let state = env.home().join("cloud/state.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--state"])
        .arg(&state)
        .env_clear()
        .env("HOME", env.home())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting moat emulator");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut first_line = String::new();
    BufReader::new(stdout)
        .read_line(&mut first_line)
        .expect("reading the endpoint line");
    let endpoint = first_line.trim().to_owned();
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "first line should be the endpoint, got {endpoint:?}"
    );

    let stats = http_get(&endpoint, "/_emulator/stats");
    assert!(stats.contains("\"calls\""), "{stats}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success());
    let exit = child.wait().expect("waiting for the emulator");
    assert_eq!(exit.code(), Some(0), "a clean stop exits 0");
}

#[test]
fn refuses_a_non_loopback_address() {
    let run = TestEnv::new().run(&["emulator", "--listen", "0.0.0.0:0"]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
    assert!(run.stderr.contains("loopback"), "{}", run.snapshot());
}

#[test]
fn a_bad_fault_rate_names_the_flag() {
    let run = TestEnv::new().run(&["emulator", "--drop-rate", "1.5"]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
    assert!(run.stderr.contains("--drop-rate"), "{}", run.snapshot());
}
