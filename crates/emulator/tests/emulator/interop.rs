//! Finding Alibaba Cloud's official SDKs for the interop tests, and what to
//! do without them.
//!
//! - Python: `MOAT_SDK_PYTHON` names the interpreter of a virtual
//!   environment with the SDKs; otherwise `scripts/sdk-venv.sh` builds
//!   `.venv-sdk` with `python3`.
//! - Node.js: `MOAT_SDK_NODE_PATH` names a `node_modules` directory with the
//!   SDKs; otherwise `scripts/sdk-node.sh` installs them into `.node-sdk`
//!   with `npm`.
//!
//! A machine without `python3` or `node` (a newcomer's) skips those suites
//! and says so in one line on stderr; with `MOAT_REQUIRE_INTEROP=1` (CI)
//! a missing one fails the test instead. A variable that is set but points
//! nowhere always fails: it was asked for.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

struct Found {
    python: Result<PathBuf, String>,
    node_path: Result<PathBuf, String>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn required() -> bool {
    std::env::var("MOAT_REQUIRE_INTEROP").is_ok_and(|v| v == "1")
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a setup script; its output when it fails.
fn run_script(script: &str) -> Result<(), String> {
    let root = workspace_root();
    let out = Command::new("bash")
        .arg(root.join(script))
        .current_dir(&root)
        .output()
        .map_err(|e| format!("cannot run {script} (bash is required): {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{script} failed (it needs access to the package registry)\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn find_python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("MOAT_SDK_PYTHON").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "MOAT_SDK_PYTHON points to {}, which does not exist",
            p.display()
        );
        return Ok(p);
    }
    if !on_path("python3") {
        return Err("no python3".to_owned());
    }
    run_script("scripts/sdk-venv.sh")?;
    Ok(workspace_root().join(".venv-sdk/bin/python"))
}

fn find_node_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("MOAT_SDK_NODE_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.join("@alicloud/ecs20140526").exists(),
            "MOAT_SDK_NODE_PATH points to {}, which holds no @alicloud/ecs20140526",
            p.display()
        );
        assert!(
            on_path("node"),
            "MOAT_SDK_NODE_PATH is set but node cannot be run"
        );
        return Ok(p);
    }
    if !on_path("node") {
        return Err("no node".to_owned());
    }
    run_script("scripts/sdk-node.sh")?;
    Ok(workspace_root().join(".node-sdk/node_modules"))
}

fn found() -> &'static Found {
    static FOUND: OnceLock<Found> = OnceLock::new();
    FOUND.get_or_init(|| {
        let found = Found {
            python: find_python(),
            node_path: find_node_path(),
        };
        let mut skipped = Vec::new();
        if let Err(why) = &found.python {
            skipped.push(format!("Python ({})", first_line(why)));
        }
        if let Err(why) = &found.node_path {
            skipped.push(format!("Node.js ({})", first_line(why)));
        }
        if !skipped.is_empty() && !required() {
            // Written past the test harness's capture, so that a plain
            // `cargo test` shows it once.
            let _ = writeln!(
                std::io::stderr(),
                "note: skipped the official-SDK interop tests for {}; install python3 and node and run \
                 `cargo test` again (scripts/sdk-venv.sh and scripts/sdk-node.sh fetch the pinned SDKs), \
                 or set MOAT_REQUIRE_INTEROP=1 to make this an error",
                skipped.join(" and ")
            );
        }
        found
    })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

fn settle<T: Clone>(what: &str, r: &Result<T, String>) -> Option<T> {
    match r {
        Ok(v) => Some(v.clone()),
        Err(why) if required() => {
            panic!("MOAT_REQUIRE_INTEROP=1 and the {what} SDK interop test cannot run: {why}")
        }
        Err(_) => None,
    }
}

/// The Python with Alibaba's SDKs, or `None` when the suite is skipped.
pub fn python() -> Option<PathBuf> {
    settle("Python", &found().python)
}

/// The `node_modules` with Alibaba's Node.js SDKs, or `None` when skipped.
pub fn node_path() -> Option<PathBuf> {
    settle("Node.js", &found().node_path)
}
