//! `moat apply [PLANFILE | PATH...]`: carry out a plan.
//!
//! With policies it plans first; with a saved plan file it reads the groups
//! the plan changes and refuses a stale plan. Either way it prints the plan,
//! checks the guards (protected rules, `--max-destroy`, quotas) against the
//! live rules, asks for `yes` on a terminal (or takes `--auto-approve`),
//! and only then hands the plan to the executor, which re-reads the touched
//! groups, snapshots them, and applies add -> modify -> remove.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, bail};
use clap::Args;
use moat_diff::{DiffOptions, FindingRef, Plan};
use moat_exec::apply::{
    ApplyOptions, ApplyReport, CallEvent, DEFAULT_MAX_DESTROY, DEFAULT_PARALLEL, GroupReport,
    Progress, check_guards, touched_groups,
};
use moat_exec::{GroupRef, LiveState};

use crate::args::{GlobalArgs, PolicyPaths};
use crate::commands::plan::{DiffFlags, region_hint, render_options};
use crate::context::{Cloud, group_refs, load_policies, runtime, today};
use crate::exit::Exit;
use crate::output::plural;

/// Where apply keeps its journal and snapshots unless told otherwise.
const MOAT_DIR: &str = ".moat";

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub input: PolicyPaths,
    /// Apply without asking (required when standard input is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Allow removing or changing protected rules.
    #[arg(long)]
    pub allow_protected: bool,
    /// Refuse the whole apply when the plan removes more rules than this.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_DESTROY)]
    pub max_destroy: usize,
    /// Groups changed at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLEL, value_parser = parse_parallel)]
    pub parallel: usize,
    /// The JSONL journal of every API call.
    #[arg(long, value_name = "FILE", default_value = ".moat/journal.jsonl")]
    pub journal: PathBuf,
    /// The rule quota per group (both directions), if the account's differs.
    #[arg(long, value_name = "N", default_value_t = moat_exec::apply::DEFAULT_RULES_PER_GROUP)]
    pub rules_per_group: usize,
    #[command(flatten)]
    pub diff: DiffFlags,
}

fn parse_parallel(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a number of groups from 1 to 64")),
    }
}

/// What to apply: a plan made now from policies, or a saved one.
enum Source {
    Policies,
    PlanFile(PathBuf),
}

fn source(paths: &[PathBuf]) -> Source {
    if let [path] = paths
        && path.is_file()
        && looks_like_json(path)
    {
        return Source::PlanFile(path.clone());
    }
    Source::Policies
}

/// A plan file is JSON; a policy is YAML and never starts with `{`.
fn looks_like_json(path: &Path) -> bool {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        return true;
    }
    std::fs::read(path)
        .ok()
        .and_then(|b| b.iter().copied().find(|c| !c.is_ascii_whitespace()))
        == Some(b'{')
}

pub fn run(global: &GlobalArgs, args: &ApplyArgs) -> anyhow::Result<Exit> {
    let options = ApplyOptions {
        parallel: args.parallel,
        allow_protected: args.allow_protected,
        max_destroy: args.max_destroy,
        rules_per_group: args.rules_per_group,
        journal: Some(args.journal.clone()),
        snapshot_dir: Some(snapshot_dir()),
        ..ApplyOptions::default()
    };
    match source(&args.input.paths) {
        Source::PlanFile(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let plan = Plan::from_json(&text)
                .with_context(|| format!("{} is not a usable plan", path.display()))?;
            runtime()?.block_on(async {
                let hint = plan.groups.first().map(|g| g.region.clone());
                let cloud = Cloud::connect(global, hint.as_deref(), None).await?;
                let refs: Vec<GroupRef> = touched_groups(&plan)
                    .map(|g| GroupRef::new(&g.id, &g.region))
                    .collect();
                let live = cloud.read(&refs).await?;
                if let Some(missing) = live.missing.first() {
                    bail!(
                        "plan is stale: security group {missing} no longer exists; run moat plan again"
                    );
                }
                plan.check_fresh(&live.groups).with_context(|| {
                    format!("refusing to apply {}; nothing was changed", path.display())
                })?;
                confirm_and_apply(global, args, &cloud, &plan, &live, options).await
            })
        }
        Source::Policies => {
            let set = match load_policies(&args.input.paths)? {
                Ok(set) => set,
                Err(code) => return Ok(code),
            };
            runtime()?.block_on(async {
                let cloud = Cloud::connect(global, region_hint(&set), Some(&set)).await?;
                let live = cloud.read(&group_refs(&set)).await?;
                let diff_options = DiffOptions {
                    today: today()?,
                    remove_unmodeled: args.diff.remove_unmodeled,
                };
                let mut plan = moat_diff::diff(&set, &live.groups, &diff_options);
                plan.check_groups_exist()
                    .map_err(|e| cloud.explain_missing(e.into()))?;
                let findings = moat_policy::lint::lint(&set, diff_options.today);
                plan.attach_findings(findings.iter().map(FindingRef::from));
                confirm_and_apply(global, args, &cloud, &plan, &live, options).await
            })
        }
    }
}

/// `.moat/snapshots/<UTC time>`, a name that sorts by time.
fn snapshot_dir() -> PathBuf {
    let now = jiff::tz::Offset::UTC.to_datetime(jiff::Timestamp::now());
    Path::new(MOAT_DIR)
        .join("snapshots")
        .join(now.strftime("%Y%m%dT%H%M%S%.3fZ").to_string())
}

async fn confirm_and_apply(
    global: &GlobalArgs,
    args: &ApplyArgs,
    cloud: &Cloud,
    plan: &Plan,
    live: &LiveState,
    mut options: ApplyOptions,
) -> anyhow::Result<Exit> {
    {
        let mut out = std::io::stdout().lock();
        moat_diff::render_text(plan, &render_options(global), &mut out)
            .context("writing the plan to stdout")?;
        out.flush().context("writing to stdout")?;
    }
    if !plan.has_changes() {
        return Ok(Exit::Ok);
    }
    check_guards(plan, &live.groups, &options).context("refusing to apply; nothing was changed")?;
    if !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to apply without confirmation: standard input is not a terminal; review the plan and pass --auto-approve"
            );
        }
        if !ask_yes()? {
            let mut out = std::io::stdout().lock();
            writeln!(out, "Apply cancelled; nothing was changed.").context("writing to stdout")?;
            return Ok(Exit::Error);
        }
    }
    if std::io::stderr().is_terminal() {
        options.progress = Some(Arc::new(TerminalProgress::new(
            touched_groups(plan).count(),
        )));
    }
    let report = moat_exec::apply::apply(&cloud.client, plan, &options).await?;
    print_report(&report)?;
    Ok(if report.is_complete() {
        Exit::Ok
    } else {
        Exit::Error
    })
}

/// Asks on the terminal; only the word `yes` approves.
fn ask_yes() -> anyhow::Result<bool> {
    {
        let mut out = std::io::stdout().lock();
        write!(
            out,
            "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
        )
        .and_then(|()| out.flush())
        .context("writing to stdout")?;
    }
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer")?;
    Ok(answer.trim() == "yes")
}

fn print_report(report: &ApplyReport) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for g in report.groups.iter().filter(|g| !g.is_complete()) {
        match &g.failure {
            Some(f) => writeln!(
                err,
                "error: {}: stopped after {f} failed ({}): {}",
                g.id,
                plural(f.attempts as usize, "attempt", "attempts"),
                f.message
            ),
            None => writeln!(err, "error: {}: not every change could be confirmed", g.id),
        }
        .context("writing to stderr")?;
        for nd in &g.not_done {
            writeln!(err, "  not done: {} ({})", nd.change, nd.reason)
                .context("writing to stderr")?;
        }
    }
    if let Some(e) = &report.journal_error {
        writeln!(
            err,
            "warning: the journal could not be written completely: {e}"
        )
        .context("writing to stderr")?;
    }
    if let Some(dir) = report.snapshots.first().and_then(|p| p.parent()) {
        writeln!(
            out,
            "\nSnapshot of the live rules before this apply: {}/ (moat apply it to roll back)",
            dir.display()
        )
        .context("writing to stdout")?;
    }
    if !report.is_complete() {
        writeln!(
            out,
            "Run moat plan to see exactly what remains; moat apply again once the cause is fixed."
        )
        .context("writing to stdout")?;
    }
    writeln!(out, "{report}").context("writing to stdout")?;
    Ok(())
}

/// Groups and calls done, on one line of stderr rewritten as work goes.
#[derive(Debug)]
struct TerminalProgress {
    groups: usize,
    groups_done: AtomicUsize,
    calls: AtomicUsize,
}

impl TerminalProgress {
    fn new(groups: usize) -> TerminalProgress {
        TerminalProgress {
            groups,
            groups_done: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        }
    }

    fn show(&self) {
        let done = self.groups_done.load(Ordering::Relaxed);
        let calls = self.calls.load(Ordering::Relaxed);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2Kapplying: {done}/{} groups done, {}",
            self.groups,
            plural(calls, "call", "calls")
        );
        if done == self.groups {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

impl Progress for TerminalProgress {
    fn group_started(&self, _group: &str, _changes: usize) {
        self.show();
    }

    fn call_done(&self, _call: &CallEvent) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.show();
    }

    fn group_finished(&self, _report: &GroupReport) {
        self.groups_done.fetch_add(1, Ordering::Relaxed);
        self.show();
    }
}
