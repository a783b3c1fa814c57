//! Hostile input through the real binary: every case of the policy corpus
//! (`crates/policy/tests/data`) and the generated hostile policies of
//! `moat_testkit::hostile`, each run by `moat validate` under a limit of
//! 1 GiB of address space and of CPU time. Each must end with exit 1 and
//! located diagnostics, or exit 0 for valid odd input: never a panic, a
//! signal (which is how exceeding a limit shows), or a hang.
//!
//! The limits are enforced by the kernel (`ulimit -v`, `ulimit -t`), not
//! measured against a clock, so the test cannot flake on a busy machine: a
//! bomb that got past the loader's bounds would need many times more. The
//! figures of the cases in a release build are in docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moat_testkit::hostile::{Expect, cases};

use crate::common::{Run, TestEnv, repo_root};

/// Address space the binary may map: a loader that stayed under it also
/// stayed under a gigabyte of resident memory.
const MEMORY_KIB: u64 = 1024 * 1024;
/// CPU seconds the binary may use, far above what a debug build needs for
/// any case (a few seconds at most); a bomb would need minutes.
const CPU_SECONDS: u64 = 120;

/// `moat ARGS...` under the limits, in `dir`.
fn bounded(env: &TestEnv, dir: &Path, args: &[&str]) -> Run {
    let script = format!("ulimit -v {MEMORY_KIB} && ulimit -t {CPU_SECONDS} && exec \"$0\" \"$@\"");
    let output = env
        .command("/bin/sh")
        .current_dir(dir)
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .output()
        .expect("running moat under limits");
    Run {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every diagnostic line names a file, and a line and column unless it is
/// about a whole file.
#[track_caller]
fn assert_located(run: &Run) {
    let diagnostics: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(": error[MOAT"))
        .collect();
    assert!(!diagnostics.is_empty(), "{}", run.snapshot());
    for line in diagnostics {
        let place = line.split(": error[").next().unwrap_or_default();
        assert!(!place.is_empty(), "unlocated: {line}\n{}", run.snapshot());
    }
}

/// Nothing from the input reaches the terminal raw: no control character
/// but the line break on either stream, whatever file names and values hold.
#[track_caller]
fn assert_no_raw_controls(run: &Run) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let raw: Vec<char> = text
            .chars()
            .filter(|&c| c != '\n' && moat_policy::printable::is_unsafe(c))
            .take(5)
            .collect();
        assert!(
            raw.is_empty(),
            "{raw:?} raw on {stream}: {}",
            run.snapshot()
        );
    }
}

#[track_caller]
fn assert_no_panic(run: &Run) {
    assert!(
        run.code.is_some() && run.code != Some(101) && !run.stderr.contains("panicked"),
        "{}",
        run.snapshot()
    );
}

fn corpus_cases(dir: &str) -> Vec<PathBuf> {
    let root = repo_root().join("crates/policy");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
        .expect("the corpus exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| {
            p.is_dir() || matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .map(|p| {
            p.strip_prefix(&root)
                .expect("inside the crate")
                .to_path_buf()
        })
        .collect();
    cases.sort();
    cases
}

/// The binary reports exactly what the corpus's golden files say the
/// library reports (the summary line after them is the command's own).
#[test]
fn every_bad_corpus_case_exits_1_with_its_located_diagnostics() {
    let env = TestEnv::new();
    let crate_dir = repo_root().join("crates/policy");
    let cases = corpus_cases("tests/data/bad");
    assert!(cases.len() >= 80, "only {} bad cases", cases.len());
    for case in cases {
        let path = case.to_string_lossy().into_owned();
        let run = bounded(&env, &crate_dir, &["validate", &path]);
        assert_no_panic(&run);
        assert_no_raw_controls(&run);
        assert_eq!(run.code, Some(1), "{}", run.snapshot());
        assert_located(&run);
        let expected = std::fs::read_to_string(crate_dir.join(case.with_extension("expected")))
            .expect("every case has its expected diagnostics");
        assert!(
            run.stderr.starts_with(&expected),
            "expected diagnostics:\n{expected}\n{}",
            run.snapshot()
        );
    }
}

#[test]
fn every_good_corpus_case_exits_0() {
    let env = TestEnv::new();
    let crate_dir = repo_root().join("crates/policy");
    for case in corpus_cases("tests/data/good") {
        let path = case.to_string_lossy().into_owned();
        let run = bounded(&env, &crate_dir, &["validate", &path]);
        assert_no_panic(&run);
        assert_eq!(run.code, Some(0), "{}", run.snapshot());
        assert!(run.stdout.contains("valid"), "{}", run.snapshot());
    }
}

/// The generated bombs, floods and chains of up to 32 MiB that a debug
/// build loads in seconds; the heaviest cases run in the benchmark.
#[test]
fn generated_hostile_policies_are_refused_within_bounds() {
    let env = TestEnv::new();
    for case in cases().into_iter().filter(|c| c.light) {
        let dir = env.home().join(case.name);
        std::fs::create_dir_all(&dir).expect("a case directory");
        (case.write)(&dir);
        let run = bounded(&env, env.home(), &["validate", case.name]);
        assert_no_panic(&run);
        assert_no_raw_controls(&run);
        match case.expect {
            Expect::Valid => assert_eq!(run.code, Some(0), "{}: {}", case.name, run.snapshot()),
            Expect::Error(code) => {
                assert_eq!(run.code, Some(1), "{}: {}", case.name, run.snapshot());
                assert_located(&run);
                assert!(
                    run.stderr.contains(&format!("error[{code}]")),
                    "{}: no {code}: {}",
                    case.name,
                    run.snapshot()
                );
            }
        }
        // Reports stay readable: at most 20,000 problems and the count.
        let lines = run
            .stderr
            .lines()
            .filter(|l| l.contains(": error["))
            .count();
        assert!(lines <= 20_001, "{}: {lines} diagnostics", case.name);
        // A policy in flow style starts with `{` as a plan file does: apply
        // takes it for policies.
        if case.name == "flow-style" {
            let files: Vec<String> = std::fs::read_dir(&dir)
                .expect("the case directory")
                .map(|e| e.expect("an entry").path().to_string_lossy().into_owned())
                .collect();
            if let [file] = &files[..] {
                let run = env.run(&["plan", "--local", file]);
                assert_no_panic(&run);
                assert!(
                    !run.stderr.contains("not a usable plan"),
                    "{}",
                    run.snapshot()
                );
                let run = env.run(&["apply", "--local", file, "--auto-approve"]);
                assert_no_panic(&run);
                assert_no_raw_controls(&run);
                assert!(
                    !run.stderr.contains("not a usable plan"),
                    "{}",
                    run.snapshot()
                );
                assert_eq!(run.code, Some(0), "{}: {}", case.name, run.snapshot());
            }
        }
        std::fs::remove_dir_all(&dir).expect("removing the case");
    }
}

/// A named pipe is refused at once. Opening one for reading blocks until a
/// writer comes, so a loader that opened it would never return; the
/// watchdog turns that into a failure instead of a hung test run.
#[cfg(unix)]
#[test]
fn pipes_and_devices_are_refused_without_blocking() {
    let env = TestEnv::new();
    let pipe = env.home().join("pipe.yaml");
    let made = Command::new("mkfifo").arg(&pipe).status().expect("mkfifo");
    assert!(made.success());
    std::fs::create_dir_all(env.home().join("dir")).expect("a directory");
    let in_dir = env.home().join("dir/also-a-pipe.yaml");
    assert!(
        Command::new("mkfifo")
            .arg(&in_dir)
            .status()
            .expect("mkfifo")
            .success()
    );
    for (path, kind) in [
        ("pipe.yaml", "a named pipe"),
        ("dir", "a named pipe"),
        ("/dev/null", "a character device"),
    ] {
        let mut child = env
            .command(env!("CARGO_BIN_EXE_moat"))
            .args(["validate", path])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running moat");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for moat") {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("moat validate {path} did not return");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            use std::io::Read as _;
            let _ = err.read_to_string(&mut stderr);
        }
        assert_eq!(status.code(), Some(1), "{path}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "error[MOAT129]: not a regular file or a directory, but {kind}"
            )),
            "{path}: {stderr}"
        );
    }
}
