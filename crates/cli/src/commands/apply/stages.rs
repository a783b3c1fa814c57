//! The one way apply carries out a plan (render, preflight verdict, the
//! prompt, the executor, the report), for a saved plan, for policies, for
//! one stage after its promotion gate, and for each stage of
//! `--all-stages` in turn.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use moat_diff::Plan;
use moat_exec::apply::{ApplyOptions, ApplyReport, CallEvent, GroupReport, Progress};
use moat_exec::{CallCounts, Guards, Prefetch, Session, StopReason, touched_groups};
use moat_policy::{LiveGroup, PolicySet};

use super::report::{RolloutStage, StageEnd, print_report, rollout_text};
use super::{Answer, ApplyArgs, ask_yes, lock_options, snapshot_dir};
use crate::args::GlobalArgs;
use crate::exit::Exit;
use crate::interrupt::Interrupts;
use crate::output::plural;
use crate::planning::{make_plan, render_options};
use crate::progress::ProgressLine;

/// Everything one apply run shares across the plans it carries out.
pub(super) struct Run<'a> {
    pub global: &'a GlobalArgs,
    pub args: &'a ApplyArgs,
    pub guards: Guards,
    pub session: Session,
    pub interrupts: Interrupts,
    /// The whole policy set (from policies), for the promotion gate.
    pub all: Option<Arc<PolicySet>>,
    /// The groups `--group` asked for, which a partial plan records.
    pub targets: Vec<String>,
}

/// How carrying out one plan ended.
pub(super) enum Outcome {
    /// The plan changes nothing.
    NoChanges,
    /// The promotion gate refused the stage (the reasons are printed).
    GateRefused,
    /// The user did not answer `yes`.
    Declined,
    /// Interrupted at the prompt, after an earlier stage changed rules.
    Interrupted,
    /// The executor ran; its report is printed.
    Applied(Box<ApplyReport>),
}

/// The exit code of an apply the executor ran.
pub(super) fn exit_of(report: &ApplyReport) -> Exit {
    match &report.stopped {
        Some(StopReason::Interrupted) => Exit::Interrupted,
        _ if report.succeeded() => Exit::Ok,
        _ => Exit::Error,
    }
}

impl Run<'_> {
    /// Plans `set` (the groups of `stage`, when one is given, after its
    /// promotion gate) and carries the plan out. `since`: the calls made
    /// before this plan's, which its summary does not count.
    pub async fn apply_policies(
        &self,
        set: &Arc<PolicySet>,
        stage: Option<&str>,
        since: CallCounts,
        prefetch: Option<Arc<Prefetch>>,
    ) -> anyhow::Result<Outcome> {
        if let (Some(stage), Some(all)) = (stage, &self.all)
            && !self.gate(all, stage).await?
        {
            return Ok(Outcome::GateRefused);
        }
        let (reader, reading) = crate::progress::reading(self.session.reader(), "reading");
        let planned = make_plan(
            &reader,
            set,
            &self.args.diff,
            &self.args.journal,
            true,
            prefetch,
        )
        .await;
        drop(reading);
        let mut planned = planned?;
        planned.plan.targets = self.targets.clone();
        if self.args.all_stages {
            // The plan of one stage names the groups asked for in it.
            planned
                .plan
                .targets
                .retain(|t| set.groups.iter().any(|g| &g.id == t));
        }
        // The groups were read moments ago for this very plan: check it
        // against them without reading again.
        let checked = moat_exec::preflight_with(&planned.plan, &planned.live, &self.guards)
            .map(|_| ())
            .context("refusing to apply; nothing was changed");
        self.carry_out(planned.plan, checked, Some(planned.live), stage, since)
            .await
    }

    /// Shows `plan`, refuses it when `checked` did, asks (unless approved in
    /// advance), applies it and prints the report. `planned_live`: the
    /// groups the plan was just made from.
    pub async fn carry_out(
        &self,
        plan: Plan,
        checked: anyhow::Result<()>,
        planned_live: Option<Vec<LiveGroup>>,
        stage: Option<&str>,
        since: CallCounts,
    ) -> anyhow::Result<Outcome> {
        let args = self.args;
        {
            let mut out = crate::output::stdout_raw();
            moat_diff::render_text(&plan, &render_options(self.global), &mut out)
                .context("writing the plan to stdout")?;
            out.flush().context("writing to stdout")?;
        }
        if !plan.has_changes() && plan.missing_groups().next().is_none() {
            return Ok(Outcome::NoChanges);
        }
        checked?;
        if !args.auto_approve {
            if !std::io::stdin().is_terminal() {
                bail!(
                    "refusing to apply without confirmation: standard input is not a terminal; review the plan and pass --auto-approve"
                );
            }
            let question = match stage.filter(|_| args.all_stages) {
                Some(stage) => format!("Do you want to apply stage {stage}?"),
                None => "Do you want to perform these actions?".to_owned(),
            };
            match ask_yes(&question, self.session.stop_signal()).await? {
                Answer::Yes => {}
                Answer::No => return Ok(Outcome::Declined),
                Answer::Stopped => return Ok(Outcome::Interrupted),
            }
        }
        let mut options = ApplyOptions {
            parallel: args.parallel,
            guards: self.guards.clone(),
            snapshot_dir: Some(snapshot_dir()),
            // Approved in advance, the plan made moments ago by this run is
            // the stale check: the groups are not read a second time. After
            // a prompt, however long it waited, they are.
            planned_live: planned_live.filter(|_| args.auto_approve).map(Arc::from),
            lock: (!args.no_lock).then(lock_options),
            ..ApplyOptions::default()
        };
        if let Some(line) = ProgressLine::for_terminal(
            "applying",
            "done",
            touched_groups(&plan).count(),
            Duration::ZERO,
            true,
        ) {
            options.progress = Some(Arc::new(TerminalProgress(line)));
        }
        self.interrupts.changes_started();
        let mut report = moat_exec::apply(&self.session, &plan, &options)
            .await
            .context("refusing to apply; nothing was changed")?;
        report.calls = report.calls.since(&since);
        print_report(&report)?;
        Ok(Outcome::Applied(Box::new(report)))
    }

    /// The promotion gate before a later stage: every earlier stage in sync
    /// (the plan pipeline, no changes) and passing its tests live. Refused:
    /// the reasons on stderr and `false`, before any change. Skipped with
    /// `--skip-stage-gate`: the reason goes to the journal.
    async fn gate(&self, all: &PolicySet, stage: &str) -> anyhow::Result<bool> {
        let args = self.args;
        if all.stages_before(stage).is_empty() {
            return Ok(true);
        }
        if args.skip_stage_gate {
            let reason = args.reason.as_deref().unwrap_or_default();
            self.session
                .journal_override("stage-gate", stage, reason)
                .context("writing the journal")?;
            tracing::warn!(stage, reason, "promotion gate skipped");
            return Ok(true);
        }
        let options = moat_exec::PlanOptions::new(moat_diff::DiffOptions {
            today: crate::context::today()?,
            remove_unmodeled: args.diff.remove_unmodeled,
        });
        let (reader, reading) = crate::progress::reading(self.session.reader(), "checking");
        let gate = moat_exec::stage_gate(&reader, all, stage, &options).await;
        drop(reading);
        let gate = gate.context("checking the earlier stages; nothing was changed")?;
        if gate.passed() {
            return Ok(true);
        }
        let mut err = crate::output::stderr();
        for s in gate.earlier.iter().filter(|s| !s.in_sync()) {
            let mut what = format!(
                "{} in {}",
                plural(s.changes, "change", "changes"),
                plural(s.groups_changed, "group", "groups")
            );
            if s.missing > 0 {
                what.push_str(&format!(
                    ", {} missing",
                    plural(s.missing, "group", "groups")
                ));
            }
            writeln!(
                err,
                "error: stage {} is not in sync with these policies ({what}): apply --stage {} first",
                s.stage, s.stage
            )
            .context("writing to stderr")?;
        }
        if !gate.tests.all_passed() {
            writeln!(
                err,
                "error: the policy tests fail live on the stages before {stage} ({} of {}):",
                gate.tests.failed(),
                gate.tests.tests.len()
            )
            .context("writing to stderr")?;
            for t in gate.tests.tests.iter().filter(|t| !t.passed) {
                for l in moat_policy::policy_tests::render_outcome(t).lines() {
                    writeln!(err, "  {l}").context("writing to stderr")?;
                }
            }
        }
        let nothing = if args.all_stages {
            "nothing in it was changed"
        } else {
            "nothing was changed"
        };
        writeln!(err, "refusing to apply stage {stage}; {nothing}").context("writing to stderr")?;
        writeln!(
            err,
            "hint: moat apply --stage {stage} --skip-stage-gate --reason TEXT applies it anyway (the reason goes to the journal)"
        )
        .context("writing to stderr")?;
        Ok(false)
    }
}

/// `--all-stages`: each stage of `stages:` in order, the way `--stage`
/// applies one (its gate on fresh reads, after the stage before it was
/// applied), until one does not end applied or in sync. Then the rollout's
/// report: what each stage got, and the calls of the whole run.
pub(super) async fn apply_all(run: &Run<'_>, set: &PolicySet) -> anyhow::Result<Exit> {
    let stages = set.stages.clone();
    let mut report: Vec<RolloutStage> = stages
        .iter()
        .map(|s| RolloutStage {
            stage: s.clone(),
            end: StageEnd::NotReached,
        })
        .collect();
    let mut exit = Exit::Ok;
    for (i, stage) in stages.iter().enumerate() {
        let mut of_stage = set.clone();
        of_stage.retain_groups(|g| g.stage.as_deref() == Some(stage.as_str()));
        {
            let mut out = crate::output::stdout();
            writeln!(
                out,
                "{}Stage {stage} ({} of {}): {}",
                if i == 0 { "" } else { "\n" },
                i + 1,
                stages.len(),
                plural(of_stage.groups.len(), "group", "groups")
            )
            .context("writing to stdout")?;
        }
        let since = run.session.counts();
        let outcome = run
            .apply_policies(&Arc::new(of_stage), Some(stage), since, None)
            .await;
        let (end, stop) = match outcome {
            Err(e) => {
                report[i].end = StageEnd::Failed;
                print_rollout(run, &report)?;
                return Err(e.context(format!("stage {stage}")));
            }
            Ok(Outcome::NoChanges) => (StageEnd::InSync, None),
            Ok(Outcome::GateRefused) => (StageEnd::GateRefused, Some(Exit::Error)),
            Ok(Outcome::Declined) => (StageEnd::Declined, Some(Exit::Error)),
            Ok(Outcome::Interrupted) => (StageEnd::Interrupted, Some(Exit::Interrupted)),
            Ok(Outcome::Applied(r)) => {
                let changes = r.groups.iter().map(|g| g.done.len()).sum();
                match exit_of(&r) {
                    Exit::Ok => (StageEnd::Applied { changes }, None),
                    code => (StageEnd::Partly { changes }, Some(code)),
                }
            }
        };
        report[i].end = end;
        if let Some(code) = stop {
            exit = code;
            break;
        }
        if run.session.stop_signal().is_stopped() {
            exit = Exit::Interrupted;
            break;
        }
    }
    print_rollout(run, &report)?;
    Ok(exit)
}

fn print_rollout(run: &Run<'_>, stages: &[RolloutStage]) -> anyhow::Result<()> {
    let mut out = crate::output::stdout();
    write!(
        out,
        "\n{}",
        rollout_text(stages, run.session.counts().total())
    )
    .and_then(|()| out.flush())
    .context("writing to stdout")
}

/// Groups and calls done, on one line of stderr rewritten as work goes.
#[derive(Debug)]
struct TerminalProgress(ProgressLine);

impl Progress for TerminalProgress {
    fn group_started(&self, _group: &str, _changes: usize) {
        self.0.draw(true);
    }

    fn call_done(&self, _call: &CallEvent) {
        self.0.calls_done(1);
    }

    fn group_finished(&self, _report: &GroupReport) {
        self.0.group_done();
    }
}
