//! moat-testkit: helpers for moat's tests (a dev-dependency only).
//!
//! It owns the one golden-file comparison every crate uses: compare, print a
//! unified diff on mismatch, and rewrite the expected file only when a person
//! asks for it locally with `MOAT_BLESS=1` (never when `CI` is set).
//!
//! It also holds the architecture test (`tests/architecture.rs`), which keeps
//! the crate import graph as docs/architecture.md draws it.
//!
//! It also writes the generated policy tree the benchmarks share ([`bench`])
//! and the hostile policies the loader is tested and measured with
//! ([`hostile`]).
//!
//! It must not know about any moat crate.

pub mod bench;
pub mod hostile;

use std::fmt::Write as _;
use std::path::Path;

/// Compares `actual` with the contents of the golden file at `path`.
///
/// On mismatch it panics with a unified diff (expected -> actual). With
/// `MOAT_BLESS=1` in the environment, and `CI` unset, it writes `actual` to
/// `path` instead, creating directories as needed.
#[track_caller]
pub fn assert_golden(path: impl AsRef<Path>, actual: &str) {
    let path = path.as_ref();
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        return;
    }
    if bless_requested() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        }
        std::fs::write(path, actual).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let mut msg = format!(
        "golden file {} does not match (rerun with MOAT_BLESS=1 to accept the new output)\n",
        path.display()
    );
    let diff = similar::TextDiff::from_lines(&expected, actual);
    let _ = write!(
        msg,
        "{}",
        diff.unified_diff()
            .context_radius(3)
            .header("expected", "actual")
    );
    panic!("{msg}");
}

fn bless_requested() -> bool {
    std::env::var_os("MOAT_BLESS").is_some_and(|v| v == "1") && std::env::var_os("CI").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_content_passes() {
        let dir = std::env::temp_dir().join(format!("moat-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ok.txt");
        std::fs::write(&file, "a\nb\n").unwrap();
        assert_golden(&file, "a\nb\n");
        if !bless_requested() {
            let err = std::panic::catch_unwind(|| assert_golden(&file, "a\nc\n"));
            let text = err
                .err()
                .and_then(|m| m.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            assert!(text.contains("-b\n+c"), "{text}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
