//! The pinned environment every end-to-end test runs `moat` in.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (the tests run from `crates/cli`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// A scratch directory that is both `HOME` and, by default, the working
/// directory, plus the environment variables the binary sees.
///
/// Nothing from the caller's environment reaches the binary: no credentials,
/// no `RUST_LOG`, no aliyun CLI profile. Tests that need a variable (a
/// credential, a fixed clock) pass it with [`TestEnv::env`].
#[derive(Debug)]
pub struct TestEnv {
    home: tempfile::TempDir,
    cwd: PathBuf,
    vars: BTreeMap<String, OsString>,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let home = tempfile::Builder::new()
            .prefix("moat-e2e-")
            .tempdir()
            .expect("creating a temporary directory");
        let cwd = home.path().to_path_buf();
        let mut vars = BTreeMap::new();
        for (k, v) in [
            ("NO_COLOR", "1"),
            ("COLUMNS", "100"),
            ("TERM", "dumb"),
            ("LANG", "C"),
            ("LC_ALL", "C"),
            ("TZ", "UTC"),
            ("RUST_BACKTRACE", "0"),
            ("PATH", "/usr/bin:/bin"),
        ] {
            vars.insert(k.to_owned(), OsString::from(v));
        }
        vars.insert("HOME".to_owned(), home.path().as_os_str().to_owned());
        TestEnv { home, cwd, vars }
    }

    /// Sets (or overrides) one environment variable of the binary.
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> TestEnv {
        self.vars.insert(key.to_owned(), value.into());
        self
    }

    /// Runs the binary from `dir` instead of the scratch directory (e.g. the
    /// repository root, to use `policies/` by its relative path).
    pub fn in_dir(mut self, dir: impl Into<PathBuf>) -> TestEnv {
        self.cwd = dir.into();
        self
    }

    /// The scratch directory.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Writes a file under the scratch directory, creating parents.
    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.home().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("creating directories");
        }
        std::fs::write(&path, contents).expect("writing a test file");
        path
    }

    /// A command for `program` in this environment (working directory and
    /// variables), for runs `run` cannot express (a terminal, a kill).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.current_dir(&self.cwd).env_clear().envs(&self.vars);
        c
    }

    /// Runs `moat ARGS...` to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(&[], args)
    }

    /// [`TestEnv::run`] with `extra` variables set for this run only.
    pub fn run_env(&self, extra: &[(&str, &str)], args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_moat"))
            .args(args)
            .current_dir(&self.cwd)
            .env_clear()
            .envs(&self.vars)
            .envs(extra.iter().copied())
            .output()
            .expect("running moat");
        let home = self.home().to_string_lossy().into_owned();
        let clean = |bytes: &[u8]| String::from_utf8_lossy(bytes).replace(&home, "$HOME");
        Run {
            args: args.iter().map(|a| a.replace(&home, "$HOME")).collect(),
            code: output.status.code(),
            stdout: clean(&output.stdout),
            stderr: clean(&output.stderr),
        }
    }
}

/// What one run of the binary did, with the scratch directory's path
/// replaced by `$HOME` so that output is stable.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    /// `None` when the process was killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The whole run as one text: command, exit code, stdout and stderr.
    pub fn snapshot(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "$ moat {}", self.args.join(" "));
        let _ = writeln!(s, "exit: {:?}", self.code);
        let _ = writeln!(s, "--- stdout");
        s.push_str(&self.stdout);
        let _ = writeln!(s, "--- stderr");
        s.push_str(&self.stderr);
        s
    }

    /// Fails, showing the whole run, unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "{}", self.snapshot());
        self
    }

    /// Fails, showing the whole run, unless stdout contains `needle`.
    #[track_caller]
    pub fn expect_stdout(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "{needle:?} not in stdout: {}",
            self.snapshot()
        );
        self
    }

    /// Fails, showing the whole run, unless stderr contains `needle`.
    #[track_caller]
    pub fn expect_stderr(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "{needle:?} not in stderr: {}",
            self.snapshot()
        );
        self
    }

    /// Replaces `text` (an endpoint with its random port, say) everywhere,
    /// so the snapshot is stable.
    pub fn redact(mut self, text: &str, with: &str) -> Run {
        for a in &mut self.args {
            *a = a.replace(text, with);
        }
        self.stdout = self.stdout.replace(text, with);
        self.stderr = self.stderr.replace(text, with);
        self
    }

    /// Compares the snapshot with `tests/e2e/golden/NAME.txt`. A plan's
    /// nonce is random: the golden has `<nonce>` in its place.
    #[track_caller]
    pub fn assert_golden(&self, name: &str) {
        let path = repo_root()
            .join("tests/e2e/golden")
            .join(format!("{name}.txt"));
        moat_testkit::assert_golden(path, &redact_nonces(&self.snapshot()));
    }
}

/// `"nonce": "` and 32 lowercase hex digits, with `<nonce>` for the digits.
pub fn redact_nonces(text: &str) -> String {
    const KEY: &str = "\"nonce\": \"";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(KEY) {
        let (head, tail) = rest.split_at(at + KEY.len());
        out.push_str(head);
        let digits = tail.get(..32).filter(|d| {
            d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) && tail[32..].starts_with('"')
        });
        match digits {
            Some(_) => {
                out.push_str("<nonce>");
                rest = &tail[32..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}
