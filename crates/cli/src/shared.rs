//! Helpers more than one command uses that are not about plans (those are
//! in `planning`): reporting policies that failed to load, and writing
//! files atomically. Commands share code through this module and never
//! import one another.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use moat_policy::Diagnostics;
use serde_json::json;

use crate::exit::Exit;
use crate::output::plural;

/// Version of the shape of validate's JSON (also what `lint` and `test`
/// print for policies that do not load); bumped on any incompatible change.
pub const VALIDATE_SCHEMA_VERSION: u32 = 1;

/// The two forms in which the commands that load policies report them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiagnosticsForm {
    Text,
    Json,
}

/// Reports policies that failed to load, as `moat validate` does, and
/// returns the error exit code: every diagnostic on stderr with a count in
/// text form, one object on stdout in JSON form.
pub fn report_invalid(diags: &Diagnostics, form: DiagnosticsForm) -> anyhow::Result<Exit> {
    match form {
        DiagnosticsForm::Text => {
            let mut err = crate::output::stderr();
            moat_policy::render_text(diags.iter(), &mut err).context("writing to stderr")?;
            let files: BTreeSet<&str> = diags.iter().map(|d| &*d.origin.file).collect();
            writeln!(
                err,
                "error: {} in {}",
                plural(diags.len(), "error", "errors"),
                plural(files.len(), "file", "files"),
            )
            .context("writing to stderr")?;
        }
        DiagnosticsForm::Json => {
            let value = json!({
                "schema_version": VALIDATE_SCHEMA_VERSION,
                "valid": false,
                "diagnostics": diags,
            });
            print_json(&serde_json::to_string_pretty(&value)?)?;
        }
    }
    Ok(Exit::Error)
}

/// Prints JSON `text` with a trailing newline on stdout, with the control
/// characters JSON writers leave raw escaped (the same JSON).
pub fn print_json(text: &str) -> anyhow::Result<()> {
    let mut out = crate::output::stdout_raw();
    out.write_all(moat_policy::printable::escape_json(text).as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .context("writing to stdout")
}

/// Writes `bytes` to `path` through a temporary file in the same
/// directory, then a rename, so an interrupted write never leaves half a
/// file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
