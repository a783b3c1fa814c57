//! Snapshots: the live rules of each touched group, written before the first
//! change as a policy file that `moat apply` restores.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use moat_policy::LiveGroup;

use super::{ApplyError, SnapshotError};
use crate::export::render_export;

/// The file name of a group's snapshot: `<group-id>.yaml`. Group ids are
/// letters, digits and dashes; anything else is replaced so the name stays
/// inside the directory.
pub fn snapshot_file_name(group_id: &str) -> String {
    let safe: String = group_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.yaml")
}

/// Writes one policy file per group into `dir` (created when missing),
/// each atomically: the text goes to a temporary file in the same
/// directory, is synced, and is renamed over the final name. Returns the
/// files written, in the order of `groups`.
pub fn write_snapshots(dir: &Path, groups: &[LiveGroup]) -> Result<Vec<PathBuf>, ApplyError> {
    let err = |path: &Path, source: SnapshotError| ApplyError::Snapshot {
        path: path.to_owned(),
        source,
    };
    fs::create_dir_all(dir).map_err(|e| err(dir, e.into()))?;
    let mut written = Vec::with_capacity(groups.len());
    for g in groups {
        let path = dir.join(snapshot_file_name(&g.id));
        let text = render_export(std::slice::from_ref(g)).map_err(|e| err(&path, e.into()))?;
        let header = format!(
            "# moat snapshot of {} in region {} taken before apply.\n# Restore with: moat apply on this file (authoritative: rules added since are removed).\n",
            g.id, g.region
        );
        write_atomically(&path, &(header + &text)).map_err(|e| err(&path, e.into()))?;
        written.push(path);
    }
    Ok(written)
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
