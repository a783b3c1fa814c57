//! Views of a [`Plan`](crate::Plan): each renders the same data into a
//! writer, with options the caller decides (colour, size limits). A new
//! format is a new sibling module, never a flag inside another view.

mod csv;
mod drift;
mod json;
mod markdown;
mod text;

pub use csv::{CSV_BLAST_COLUMNS, CSV_COLUMNS, render_csv};
pub use drift::{
    DRIFT_FORMAT, DriftGroup, DriftReport, DriftStatus, render_drift_json, render_drift_markdown,
    render_drift_report_markdown, render_drift_report_text, render_drift_text,
};
pub use json::render_json;
pub use markdown::{MARKDOWN_LIMIT, render_markdown};
pub use text::render_text;

use moat_policy::RuleKey;

use crate::blast::{BlastRadius, FIRST_INSTANCES, first_ids, instances_phrase};
use crate::plan::{Change, ExposureKind};
use similar::{Algorithm, ChangeTag, TextDiff};

/// Choices the caller makes for every view. The library never looks at the
/// terminal or the environment: the CLI decides colour from `--color`, the
/// TTY and `NO_COLOR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// ANSI colours in the text views.
    pub color: bool,
    /// The most characters the Markdown view may write. GitHub refuses a
    /// comment of more than 65,536 characters.
    pub markdown_limit: usize,
}

impl Default for RenderOptions {
    fn default() -> RenderOptions {
        RenderOptions {
            color: false,
            markdown_limit: MARKDOWN_LIMIT,
        }
    }
}

/// A rule as the views print it under its direction heading:
/// `accept tcp/22 from 10.8.0.0/16` (the key's own form without the
/// direction, which the heading already says).
pub(crate) fn rule_text(key: &RuleKey) -> String {
    let full = key.to_string();
    match full.strip_prefix(key.direction.as_str()) {
        Some(rest) => rest.trim_start().to_owned(),
        None => full,
    }
}

/// The line a partial plan or report opens with, in every text view.
pub(crate) fn partial_line(targets: &[String]) -> Option<String> {
    if targets.is_empty() {
        return None;
    }
    let groups = if targets.len() == 1 {
        "security group"
    } else {
        "security groups"
    };
    Some(format!(
        "Partial: only {groups} {} of the policies; the others were not read.",
        targets.join(", ")
    ))
}

/// The line under a group's title that says which instances carry it:
/// `blast radius: 3 instances (i-1, i-2, i-3), 4 network interfaces`.
pub(crate) fn blast_line(b: &BlastRadius) -> String {
    if b.interfaces == 0 {
        return "blast radius: no network interface carries this group".to_owned();
    }
    let interfaces = if b.interfaces == 1 {
        "1 network interface".to_owned()
    } else {
        format!("{} network interfaces", b.interfaces)
    };
    if b.instances.is_empty() {
        return format!("blast radius: no instance, {interfaces}");
    }
    format!(
        "blast radius: {} ({}), {interfaces}",
        instances_phrase(b.instance_count),
        first_ids(&b.instances, FIRST_INSTANCES)
    )
}

/// What `c` does on the instances of its group, one line per effect:
/// `new public exposure: tcp/3306 from 0.0.0.0/0 on 2 of 3 instances (i-1,
/// i-2)` (the ids only with `ids`). A change that alters reachability for
/// its group alone but on no interface says so, once.
pub(crate) fn blast_lines(b: &BlastRadius, c: &Change, ids: bool) -> Vec<String> {
    let mut lines: Vec<String> = b
        .notes
        .iter()
        .filter(|n| n.action == c.action && n.key == c.key)
        .map(|n| {
            let of = if n.instance_count < b.instance_count {
                format!(
                    "{} of {}",
                    n.instance_count,
                    instances_phrase(b.instance_count)
                )
            } else {
                instances_phrase(n.instance_count)
            };
            if n.instances.is_empty() || !ids {
                format!("{} on {of}", n.note)
            } else {
                format!(
                    "{} on {of} ({})",
                    n.note,
                    first_ids(&n.instances, FIRST_INSTANCES)
                )
            }
        })
        .collect();
    let alone = c.exposure.iter().any(|e| {
        matches!(
            e.kind,
            ExposureKind::NewPublicExposure | ExposureKind::Opens | ExposureKind::Closes
        )
    });
    if lines.is_empty() && alone && b.instance_count > 0 {
        lines.push(format!(
            "no effect on any of its {}: their other groups decide these flows",
            instances_phrase(b.instance_count)
        ));
    }
    lines
}

/// A description quoted and escaped for a one-line view.
pub(crate) fn quoted(description: &str) -> String {
    format!("{description:?}")
}

/// Descriptions longer than this (or containing a quote or control
/// character) get an inline word diff instead of `"old" -> "new"`.
pub(crate) const INLINE_DIFF_OVER: usize = 40;

/// One run of an inline word diff.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Run {
    Same(String),
    Removed(String),
    Added(String),
}

/// The word diff of two descriptions, with consecutive removed and added
/// words merged into runs (removed before added).
pub(crate) fn word_diff(old: &str, new: &str) -> Vec<Run> {
    // Patience anchors on words that occur once on each side, which keeps
    // a moved or inserted phrase from being reported as a replacement of its
    // neighbours (Myers pairs up the shortest edit, not the most readable).
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .diff_words(old, new);
    let mut runs = Vec::new();
    let (mut removed, mut added) = (String::new(), String::new());
    let flush = |runs: &mut Vec<Run>, removed: &mut String, added: &mut String| {
        if !removed.is_empty() {
            runs.push(Run::Removed(std::mem::take(removed)));
        }
        if !added.is_empty() {
            runs.push(Run::Added(std::mem::take(added)));
        }
    };
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Equal => {
                flush(&mut runs, &mut removed, &mut added);
                runs.push(Run::Same(change.value().to_owned()));
            }
            ChangeTag::Delete => removed.push_str(change.value()),
            ChangeTag::Insert => added.push_str(change.value()),
        }
    }
    flush(&mut runs, &mut removed, &mut added);
    runs
}

/// True when a description change reads better as an inline word diff.
pub(crate) fn wants_inline_diff(old: &str, new: &str) -> bool {
    old.chars().count() > INLINE_DIFF_OVER || new.chars().count() > INLINE_DIFF_OVER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_diff_merges_runs() {
        let runs = word_diff("SSH from the office", "SSH from office and VPN");
        assert_eq!(
            runs,
            vec![
                Run::Same("SSH".into()),
                Run::Same(" ".into()),
                Run::Same("from".into()),
                Run::Same(" ".into()),
                Run::Removed("the ".into()),
                Run::Same("office".into()),
                Run::Added(" and VPN".into()),
            ]
        );
    }
}
