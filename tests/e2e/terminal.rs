//! `moat` on a pseudo terminal: script(1) runs it with a terminal for
//! standard input and output, the test types into it and reads what it
//! shows, as a person at a prompt would.

use std::io::{Read, Write as _};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::TestEnv;

/// How long the terminal waits for output before the test fails: bounds a
/// broken binary, not a speed (the runs are slow on purpose at times).
const PATIENCE: Duration = Duration::from_secs(120);

/// A running `moat` on a terminal.
pub struct Terminal {
    child: Child,
    stdin: Option<ChildStdin>,
    output: mpsc::Receiver<Vec<u8>>,
    /// Everything the terminal showed so far.
    pub seen: String,
}

impl Terminal {
    /// Starts `moat ARGS` (one shell word each, joined by spaces) in `env`.
    pub fn start(env: &TestEnv, args: &str) -> Terminal {
        let moat = env!("CARGO_BIN_EXE_moat");
        let mut child = env
            .command("script")
            .args(["-qec", &format!("{moat} {args}"), "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running script(1) for a terminal");
        let mut stdout = child.stdout.take().expect("stdout");
        let (tx, output) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Terminal {
            child,
            stdin,
            output,
            seen: String::new(),
        }
    }

    /// Waits until `needle` was shown `times` times in all.
    pub fn wait_for(&mut self, needle: &str, times: usize) {
        while self.seen.matches(needle).count() < times {
            let chunk = self
                .output
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("never showed {needle:?} {times} times: {}", self.seen));
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Types `keys` (a line needs its own `\n`).
    pub fn type_keys(&mut self, keys: &str) {
        let stdin = self.stdin.as_mut().expect("the terminal is open");
        stdin.write_all(keys.as_bytes()).expect("typing");
        stdin.flush().expect("flush");
    }

    /// Waits for the process to end; its exit code and all it showed.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().expect("waiting");
        while let Ok(chunk) = self.output.recv_timeout(Duration::from_millis(500)) {
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        drop(self.stdin.take());
        (status.code(), self.seen)
    }
}
