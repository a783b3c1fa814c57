//! `moat apply [PLANFILE | PATH...]`: carry out a plan.
//!
//! With policies it plans first (through the pipeline, reads journaled);
//! with a saved plan file it checks the signature when a key is configured
//! and runs the preflight, which reads the groups the plan changes. Either
//! way it prints the plan, refuses what the preflight refuses, asks for
//! `yes` on a terminal (or takes `--auto-approve`), and only then hands the
//! plan to the executor, which runs the preflight again, snapshots the
//! groups, and applies add -> modify -> replace -> remove. Every call of the
//! run is in the journal and in the summary's count.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use moat_diff::Plan;
use moat_exec::apply::{
    ApplyOptions, ApplyReport, CallEvent, DEFAULT_PARALLEL, GroupReport, NotDoneReason, Progress,
};
use moat_exec::lock::LockOptions;
use moat_exec::preflight::{DEFAULT_MAX_DESTROY, DEFAULT_RULES_PER_GROUP};
use moat_exec::{Guards, SessionOptions, StopReason, StopSignal, touched_groups};

use crate::args::{CloudArgs, GlobalArgs, GroupArgs};
use crate::context::{Cloud, Reach, load_policies, runtime};
use crate::exit::Exit;
use crate::interrupt::Interrupts;
use crate::output::plural;
use crate::planning::{
    DiffFlags, SigningArgs, is_plan_file, make_plan, plan_key, read_plan_file, region_hint,
    render_options,
};
use crate::progress::ProgressLine;

/// Where apply keeps its snapshots.
const MOAT_DIR: &str = ".moat";
/// Past this many changes not made, the report gives counts per group.
const LIST_LIMIT: usize = 20;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub input: ApplyInput,
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
    /// The JSONL journal of every API call (write-ahead for changes).
    #[arg(long, value_name = "FILE", default_value = crate::planning::DEFAULT_JOURNAL)]
    pub journal: PathBuf,
    /// Take no lease on the groups the plan changes (see docs/apply.md, "Locks").
    #[arg(long)]
    pub no_lock: bool,
    /// The rule quota per group (both directions), if the account's differs.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RULES_PER_GROUP)]
    pub rules_per_group: usize,
    #[command(flatten)]
    pub diff: DiffFlags,
    #[command(flatten)]
    pub signing: SigningArgs,
    #[command(flatten)]
    pub stage: crate::planning::StageArgs,
    /// Apply a later stage without the promotion gate (every earlier stage
    /// in sync and passing its tests live); needs --reason.
    #[arg(long, requires = "reason")]
    pub skip_stage_gate: bool,
    /// Why the gate is skipped; written to the journal.
    #[arg(long, value_name = "TEXT", requires = "skip_stage_gate")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub shard: crate::planning::ShardArgs,
    #[command(flatten)]
    pub group: GroupArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

/// What apply carries out: policies, planned now, or a saved plan.
#[derive(Debug, Args)]
pub struct ApplyInput {
    /// Policy files or directories (planned now, then applied), or the one
    /// PLANFILE a `moat plan -o PLANFILE` saved.
    #[arg(required = true, value_name = "PATH|PLANFILE")]
    pub paths: Vec<PathBuf>,
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

/// A saved plan is told from policies by its content (see
/// [`is_plan_file`]).
fn source(paths: &[PathBuf]) -> Source {
    if let [path] = paths
        && is_plan_file(path)
    {
        return Source::PlanFile(path.clone());
    }
    Source::Policies
}

pub fn run(global: &GlobalArgs, args: &ApplyArgs) -> anyhow::Result<Exit> {
    let guards = Guards {
        allow_protected: args.allow_protected,
        max_destroy: args.max_destroy,
        rules_per_group: args.rules_per_group,
        ..Guards::default()
    };
    // Everything that needs no call is checked before connecting.
    let mut policy_region = None;
    let mut targets = Vec::new();
    let mut whole = None;
    // The whole policy set, for the gate of a later stage.
    let mut gate_over: Option<Arc<moat_policy::PolicySet>> = None;
    let input = match source(&args.input.paths) {
        Source::PlanFile(path) => {
            if args.shard.shard.is_some() {
                bail!(
                    "--shard takes a share of the policies' groups; {} is a plan, which holds its groups already",
                    path.display()
                );
            }
            if args.stage.stage.is_some() {
                bail!(
                    "--stage takes the groups of one stage of the policies; {} is a plan, which holds its groups already",
                    path.display()
                );
            }
            if !args.group.groups.is_empty() {
                bail!(
                    "--group takes some of the policies' groups; {} is a plan, which holds its groups already",
                    path.display()
                );
            }
            Input::Plan(
                Box::new(read_plan_file(&path, &args.signing, "apply")?),
                path,
            )
        }
        Source::Policies => {
            plan_key(&args.signing)?;
            match load_policies(&args.input.paths)? {
                Ok(set) => {
                    // The region of all the policies, so an empty shard
                    // still connects.
                    policy_region = region_hint(&set).map(str::to_owned);
                    let all = Arc::new(set.clone());
                    // A new local cloud is seeded with every group.
                    whole = args.group.limits().then(|| set.clone());
                    let (set, group_targets) =
                        crate::planning::select_groups(&args.group, &args.stage, set)?;
                    targets = group_targets;
                    gate_over = Some(all);
                    Input::Policies(Arc::new(args.shard.select(set).0))
                }
                Err(code) => return Ok(code),
            }
        }
    };
    runtime()?.block_on(async {
        let stop = StopSignal::new();
        let interrupts = Interrupts::install(stop.clone(), "Apply cancelled; nothing was changed.")?;
        let hint = match &input {
            Input::Plan(plan, _) => plan.groups.first().map(|g| g.region.clone()),
            Input::Policies(_) => policy_region,
        };
        let seed = match &input {
            Input::Policies(set) => Some(whole.as_ref().unwrap_or(&**set)),
            Input::Plan(..) => None,
        };
        let reach = match &input {
            // A later stage's gate reads the earlier stages' groups too.
            Input::Policies(set) => match (&args.stage.stage, &gate_over) {
                (Some(_), Some(all)) => Reach::of_policies(all),
                _ => Reach::of_policies(set),
            },
            Input::Plan(plan, _) => Reach::of_plan(plan),
        };
        let cloud = Cloud::connect_to(&args.cloud, hint.as_deref(), seed, &reach).await?;
        let session = cloud.session(SessionOptions {
            journal: Some(&args.journal),
            stop: Some(stop.clone()),
            ..SessionOptions::default()
        })?;
        let (plan, checked, planned_live) = match input {
            Input::Plan(plan, path) => {
                let checked = moat_exec::preflight(
                    &session.reader(),
                    &plan,
                    &guards,
                    moat_exec::DEFAULT_READ_CONCURRENCY,
                )
                .await
                .map(|_| ())
                .with_context(|| {
                    format!("refusing to apply {}; nothing was changed", path.display())
                });
                (*plan, checked, None)
            }
            Input::Policies(set) => {
                if let (Some(stage), Some(all)) = (&args.stage.stage, &gate_over)
                    && let Some(exit) = check_gate(&session, all, stage, args).await?
                {
                    return Ok(exit);
                }
                let progress = crate::progress::read_progress();
                let reader = match &progress {
                    Some(p) => session.reader().with_progress(p.clone()),
                    None => session.reader(),
                };
                let planned = make_plan(&reader, &set, &args.diff, &args.journal, true).await;
                if let Some(p) = &progress {
                    p.0.finish();
                }
                let mut planned = planned?;
                planned.plan.targets = std::mem::take(&mut targets);
                // The groups were read moments ago for this very plan: check
                // it against them without reading again.
                let checked = moat_exec::preflight_with(&planned.plan, &planned.live, &guards)
                    .context("refusing to apply; nothing was changed");
                (planned.plan, checked, Some(planned.live))
            }
        };
        {
            let mut out = crate::output::stdout_raw();
            moat_diff::render_text(&plan, &render_options(global), &mut out)
                .context("writing the plan to stdout")?;
            out.flush().context("writing to stdout")?;
        }
        if !plan.has_changes() && plan.missing_groups().next().is_none() {
            return Ok(Exit::Ok);
        }
        checked?;
        if !args.auto_approve {
            if !std::io::stdin().is_terminal() {
                bail!(
                    "refusing to apply without confirmation: standard input is not a terminal; review the plan and pass --auto-approve"
                );
            }
            if !ask_yes().await? {
                let mut out = crate::output::stdout();
                writeln!(out, "Apply cancelled; nothing was changed.")
                    .context("writing to stdout")?;
                return Ok(Exit::Error);
            }
        }
        let mut options = ApplyOptions {
            parallel: args.parallel,
            guards,
            snapshot_dir: Some(snapshot_dir()),
            // Approved in advance, the plan made moments ago by this run is
            // the stale check: the groups are not read a second time. After
            // a prompt, however long it waited, they are.
            planned_live: planned_live
                .filter(|_| args.auto_approve)
                .map(Arc::from),
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
        interrupts.changes_started();
        let report = moat_exec::apply(&session, &plan, &options)
            .await
            .context("refusing to apply; nothing was changed")?;
        print_report(&report)?;
        Ok(match &report.stopped {
            Some(StopReason::Interrupted) => Exit::Interrupted,
            _ if report.succeeded() => Exit::Ok,
            _ => Exit::Error,
        })
    })
}

/// The promotion gate before a later stage: every earlier stage in sync
/// (the plan pipeline, no changes) and passing its tests live. Refused:
/// the reason on stderr and `Some(exit 1)`, before any change. Skipped
/// with `--skip-stage-gate`: the reason goes to the journal.
async fn check_gate(
    session: &moat_exec::Session,
    all: &moat_policy::PolicySet,
    stage: &str,
    args: &ApplyArgs,
) -> anyhow::Result<Option<Exit>> {
    if all.stages_before(stage).is_empty() {
        return Ok(None);
    }
    if args.skip_stage_gate {
        let reason = args.reason.as_deref().unwrap_or_default();
        session
            .journal_override("stage-gate", stage, reason)
            .context("writing the journal")?;
        tracing::warn!(stage, reason, "promotion gate skipped");
        return Ok(None);
    }
    let options = moat_exec::PlanOptions::new(moat_diff::DiffOptions {
        today: crate::context::today()?,
        remove_unmodeled: args.diff.remove_unmodeled,
    });
    let gate = moat_exec::stage_gate(&session.reader(), all, stage, &options)
        .await
        .context("checking the earlier stages; nothing was changed")?;
    if gate.passed() {
        return Ok(None);
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
    writeln!(
        err,
        "refusing to apply stage {stage}; nothing was changed (--skip-stage-gate --reason TEXT overrides)"
    )
    .context("writing to stderr")?;
    Ok(Some(Exit::Error))
}

/// Who holds the lease: `MOAT_LOCK_HOLDER`, else the user; on which host:
/// `HOSTNAME`, else the system's host name.
fn lock_options() -> LockOptions {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let holder = var("MOAT_LOCK_HOLDER")
        .or_else(|| var("USER"))
        .or_else(|| var("USERNAME"))
        .unwrap_or_else(|| "unknown".to_owned());
    let host = var("HOSTNAME")
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    LockOptions::new(holder, host)
}

enum Input {
    Plan(Box<Plan>, PathBuf),
    Policies(Arc<moat_policy::PolicySet>),
}

/// `.moat/snapshots/<UTC time>`, a name that sorts by time.
fn snapshot_dir() -> PathBuf {
    let now = jiff::tz::Offset::UTC.to_datetime(jiff::Timestamp::now());
    Path::new(MOAT_DIR)
        .join("snapshots")
        .join(now.strftime("%Y%m%dT%H%M%S%.3fZ").to_string())
}

/// Asks on the terminal; only the word `yes` approves. The answer is read
/// on a blocking thread, so an interrupt at the prompt is handled (and
/// ends the process cleanly) while it waits.
async fn ask_yes() -> anyhow::Result<bool> {
    {
        let mut out = crate::output::stdout();
        write!(
            out,
            "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
        )
        .and_then(|()| out.flush())
        .context("writing to stdout")?;
    }
    let answer = tokio::task::spawn_blocking(|| {
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map(|_| answer)
    })
    .await
    .context("reading the answer")?
    .context("reading the answer")?;
    Ok(answer.trim() == "yes")
}

fn print_report(report: &ApplyReport) -> anyhow::Result<()> {
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
