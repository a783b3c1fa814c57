//! What apply prints when it is done: the executor's report (what was
//! done and what was not, per group), and for `--all-stages` what each
//! stage got.

use std::io::Write;

use anyhow::Context as _;
use moat_exec::StopReason;
use moat_exec::apply::{ApplyReport, NotDoneReason};

use crate::output::plural;

/// Past this many changes not made, the report gives counts per group.
const LIST_LIMIT: usize = 20;

pub(super) fn print_report(report: &ApplyReport) -> anyhow::Result<()> {
    let mut out = crate::output::stdout();
    let mut err = crate::output::stderr();
    let w = |e: std::io::Error| anyhow::Error::from(e).context("writing to stderr");
    let not_done: usize = report.not_done().count();
    let list = not_done <= LIST_LIMIT;
    for g in report.groups.iter().filter(|g| !g.is_complete()) {
        match (&g.failure, g.started) {
            (Some(f), _) => writeln!(
                err,
                "error: {}: stopped after {f} failed ({}): {}",
                g.id,
                plural(f.attempts as usize, "attempt", "attempts"),
                f.message
            ),
            (None, false) => writeln!(
                err,
                "{}: not started ({})",
                g.id,
                plural(g.not_done.len(), "change", "changes")
            ),
            (None, true)
                if g.not_done
                    .iter()
                    .all(|n| n.reason == NotDoneReason::Stopped) =>
            {
                writeln!(
                    err,
                    "{}: stopped with {} done, {} not attempted",
                    g.id,
                    g.done.len(),
                    g.not_done.len()
                )
            }
            (None, true) => writeln!(err, "error: {}: not every change could be confirmed", g.id),
        }
        .map_err(w)?;
        if !g.started {
            continue;
        }
        if list {
            for nd in &g.not_done {
                writeln!(err, "  not done: {} ({})", nd.change, nd.reason).map_err(w)?;
            }
        } else if !g.not_done.is_empty() {
            let mut kinds: Vec<(&str, usize)> = Vec::new();
            for nd in &g.not_done {
                match kinds.iter_mut().find(|(k, _)| *k == nd.reason.kind()) {
                    Some((_, n)) => *n += 1,
                    None => kinds.push((nd.reason.kind(), 1)),
                }
            }
            let text: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            writeln!(err, "  not done: {}", text.join(", ")).map_err(w)?;
        }
    }
    if let Some(e) = &report.journal_error {
        writeln!(err, "error: the journal could not be written: {e}").map_err(w)?;
    }
    for e in &report.lease_errors {
        writeln!(
            err,
            "warning: {e}; the lease expires on its own, or remove it with moat unlock"
        )
        .map_err(w)?;
    }
    if let Some(StopReason::Quota { group, code }) = &report.stopped {
        writeln!(
            err,
            "error: {group} reached a quota ({code}); no further group was started"
        )
        .map_err(w)?;
    }
    drop(err);
    if let Some(dir) = report.snapshots.first().and_then(|p| p.parent()) {
        writeln!(
            out,
            "\nSnapshot of the live rules before this apply: {}/ (moat apply it to roll back)",
            dir.display()
        )
        .context("writing to stdout")?;
    }
    writeln!(out, "{report}").context("writing to stdout")?;
    if !report.succeeded() {
        writeln!(
            out,
            "Run moat plan to see exactly what remains; moat apply again once the cause is fixed."
        )
        .context("writing to stdout")?;
    }
    Ok(())
}

/// How one stage of `--all-stages` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StageEnd {
    /// Its changes were all made.
    Applied { changes: usize },
    /// It had nothing to change.
    InSync,
    /// Some changes were made, then the apply failed or was stopped.
    Partly { changes: usize },
    /// Refused before any change: by an error (planning, preflight).
    Failed,
    /// Its promotion gate refused it.
    GateRefused,
    /// The user did not approve it.
    Declined,
    /// Interrupted at its prompt.
    Interrupted,
    /// The rollout stopped before it.
    NotReached,
}

/// One stage of the rollout and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RolloutStage {
    pub stage: String,
    pub end: StageEnd,
}

/// The rollout's closing lines: complete, or where it stopped and why,
/// the calls of the whole run, then a line per stage.
pub(super) fn rollout_text(stages: &[RolloutStage], calls: u64) -> String {
    let calls = plural(calls as usize, "API call", "API calls");
    let stopped = stages.iter().find(|s| {
        !matches!(
            s.end,
            StageEnd::Applied { .. } | StageEnd::InSync | StageEnd::NotReached
        )
    });
    let mut text = match stopped {
        None => format!(
            "Rollout complete: {} in {calls}.\n",
            plural(stages.len(), "stage", "stages")
        ),
        Some(s) => {
            let why = match s.end {
                StageEnd::GateRefused => "its promotion gate refused it",
                StageEnd::Declined => "it was not approved",
                StageEnd::Interrupted => "interrupted",
                StageEnd::Partly { .. } => "its apply did not finish",
                _ => "an error",
            };
            format!(
                "Rollout stopped at stage {} ({why}), {calls} in all:\n",
                s.stage
            )
        }
    };
    for s in stages {
        let what = match s.end {
            StageEnd::Applied { changes } => {
                format!("applied ({})", plural(changes, "change", "changes"))
            }
            StageEnd::InSync => "in sync, nothing to change".to_owned(),
            StageEnd::Partly { changes } => format!(
                "partly applied ({} made; moat plan --stage {} shows the rest)",
                plural(changes, "change", "changes"),
                s.stage
            ),
            StageEnd::Failed
            | StageEnd::GateRefused
            | StageEnd::Declined
            | StageEnd::Interrupted
            | StageEnd::NotReached => "not applied, nothing changed".to_owned(),
        };
        text.push_str(&format!("  stage {}: {what}\n", s.stage));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, end: StageEnd) -> RolloutStage {
        RolloutStage {
            stage: name.to_owned(),
            end,
        }
    }

    #[test]
    fn a_complete_rollout_lists_each_stage() {
        let text = rollout_text(
            &[
                stage("test", StageEnd::Applied { changes: 1 }),
                stage("prod", StageEnd::InSync),
            ],
            9,
        );
        assert_eq!(
            text,
            "Rollout complete: 2 stages in 9 API calls.\n  stage test: applied (1 change)\n  stage prod: in sync, nothing to change\n"
        );
    }

    #[test]
    fn a_stopped_rollout_says_where_and_why_and_what_was_not_applied() {
        let text = rollout_text(
            &[
                stage("test", StageEnd::Applied { changes: 2 }),
                stage("staging", StageEnd::GateRefused),
                stage("prod", StageEnd::NotReached),
            ],
            12,
        );
        assert_eq!(
            text,
            "Rollout stopped at stage staging (its promotion gate refused it), 12 API calls in all:\n  stage test: applied (2 changes)\n  stage staging: not applied, nothing changed\n  stage prod: not applied, nothing changed\n"
        );
        let declined = rollout_text(
            &[
                stage("test", StageEnd::Applied { changes: 1 }),
                stage("prod", StageEnd::Declined),
            ],
            5,
        );
        assert!(declined.starts_with("Rollout stopped at stage prod (it was not approved)"));
        let partly = rollout_text(&[stage("test", StageEnd::Partly { changes: 3 })], 5);
        assert!(partly.contains(
            "stage test: partly applied (3 changes made; moat plan --stage test shows the rest)"
        ));
    }
}
