//! `moat apply [PLANFILE | PATH...]`: carry out a plan.
//!
//! With policies it plans first (through the pipeline, its reads starting
//! while the policies load, journaled and counted as the run's);
//! with a saved plan file it checks the signature when a key is configured
//! and runs the preflight, which reads the groups the plan changes. Either
//! way it prints the plan, refuses what the preflight refuses, asks for
//! `yes` on a terminal (or takes `--auto-approve`), and only then hands the
//! plan to the executor, which runs the preflight again, snapshots the
//! groups, and applies add -> modify -> replace -> remove. Every call of the
//! run is in the journal and in the summary's count.
//!
//! `--stage NAME` applies one stage of the policies' rollout, after the
//! promotion gate; `--all-stages` applies every stage in order, each the way
//! `--stage` does (`stages.rs`: one way to apply a plan, whatever chose it).

mod report;
mod stages;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use moat_exec::apply::DEFAULT_PARALLEL;
use moat_exec::lock::LockOptions;
use moat_exec::preflight::{DEFAULT_MAX_DESTROY, DEFAULT_RULES_PER_GROUP};
use moat_exec::{CallCounts, Guards, Recorder, SessionOptions, StopSignal};

use crate::args::{CloudArgs, GlobalArgs, GroupArgs};
use crate::context::{Cloud, Reach, runtime};
use crate::exit::Exit;
use crate::interrupt::Interrupts;
use crate::planning::{Selection, SigningArgs, is_plan_file, plan_key, prepare, read_plan_file};
use stages::{Outcome, Run};

/// Where apply keeps its snapshots.
const MOAT_DIR: &str = ".moat";

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
    pub diff: crate::planning::DiffFlags,
    #[command(flatten)]
    pub signing: SigningArgs,
    #[command(flatten)]
    pub stage: crate::planning::StageArgs,
    /// Apply every stage of the policies' `stages:` in order, each after
    /// the promotion gate; asks before each stage on a terminal, and stops
    /// at the first gate that refuses.
    #[arg(long, conflicts_with_all = ["stage", "skip_stage_gate"])]
    pub all_stages: bool,
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

/// What apply carries out, once loaded and connected.
enum Work {
    Plan(Box<moat_diff::Plan>, PathBuf),
    /// The groups to apply; the whole policy set when a selection left
    /// some out (the gate of a later stage reads the earlier stages'
    /// groups); the reads started while loading.
    Policies {
        set: Arc<moat_policy::PolicySet>,
        all: Option<Arc<moat_policy::PolicySet>>,
        targets: Vec<String>,
        prefetch: Option<Arc<moat_exec::Prefetch>>,
    },
}

pub fn run(global: &GlobalArgs, args: &ApplyArgs) -> anyhow::Result<Exit> {
    let guards = Guards {
        allow_protected: args.allow_protected,
        max_destroy: args.max_destroy,
        rules_per_group: args.rules_per_group,
        ..Guards::default()
    };
    // Everything that needs no call is checked before connecting.
    let plan_file = match source(&args.input.paths) {
        Source::PlanFile(path) => {
            let flag = if args.shard.shard.is_some() {
                Some(("--shard", "a share of the policies' groups"))
            } else if args.stage.stage.is_some() {
                Some(("--stage", "the groups of one stage of the policies"))
            } else if args.all_stages {
                Some(("--all-stages", "the stages of the policies, in order"))
            } else if !args.group.groups.is_empty() {
                Some(("--group", "some of the policies' groups"))
            } else {
                None
            };
            if let Some((flag, what)) = flag {
                bail!(
                    "{flag} takes {what}; {} is a plan, which holds its groups already",
                    path.display()
                );
            }
            let plan = read_plan_file(&path, &args.signing, "apply")?;
            Some((plan, path))
        }
        Source::Policies => {
            plan_key(&args.signing)?;
            None
        }
    };
    runtime()?.block_on(async {
        let stop = StopSignal::new();
        let interrupts =
            Interrupts::install(stop.clone(), "Apply cancelled; nothing was changed.")?;
        // Every call of the run is journaled and counted here, the reads
        // started while the policies load too.
        let recorder = Recorder::open(SessionOptions {
            journal: Some(&args.journal),
            stop: Some(stop.clone()),
            ..SessionOptions::default()
        })?;
        let (cloud, work) = match plan_file {
            Some((plan, path)) => {
                let hint = plan.groups.first().map(|g| g.region.clone());
                let reach = Reach::of_plan(&plan);
                let cloud = Cloud::connect_to(&args.cloud, hint.as_deref(), None, &reach).await?;
                (cloud, Work::Plan(Box::new(plan), path))
            }
            None => {
                let selection = Selection {
                    group: &args.group,
                    stage: &args.stage,
                    shard: &args.shard,
                    all_stages: args.all_stages,
                    gated: true,
                };
                let prepared =
                    match prepare(&args.input.paths, selection, &args.cloud, &recorder).await? {
                        Ok(prepared) => prepared,
                        Err(code) => return Ok(code),
                    };
                let work = Work::Policies {
                    set: prepared.set,
                    all: prepared.whole,
                    targets: prepared.targets,
                    prefetch: prepared.prefetch,
                };
                (prepared.cloud, work)
            }
        };
        let mut run = Run {
            global,
            args,
            guards,
            session: cloud.session_with(&recorder),
            interrupts,
            all: None,
            targets: Vec::new(),
        };
        let outcome = match work {
            Work::Plan(plan, path) => {
                let checked = moat_exec::preflight(
                    &run.session.reader(),
                    &plan,
                    &run.guards,
                    moat_exec::DEFAULT_READ_CONCURRENCY,
                )
                .await
                .map(|_| ())
                .with_context(|| {
                    format!("refusing to apply {}; nothing was changed", path.display())
                });
                run.carry_out(*plan, checked, None, None, CallCounts::default())
                    .await?
            }
            Work::Policies {
                set,
                all,
                targets,
                prefetch,
            } => {
                run.all = all;
                run.targets = targets;
                if args.all_stages {
                    return stages::apply_all(&run, &set).await;
                }
                let stage = args.stage.stage.as_deref();
                run.apply_policies(&set, stage, CallCounts::default(), prefetch)
                    .await?
            }
        };
        Ok(match outcome {
            Outcome::NoChanges => Exit::Ok,
            Outcome::GateRefused => Exit::Error,
            Outcome::Declined => {
                let mut out = crate::output::stdout();
                writeln!(out, "Apply cancelled; nothing was changed.")
                    .context("writing to stdout")?;
                Exit::Error
            }
            Outcome::Interrupted => Exit::Interrupted,
            Outcome::Applied(report) => stages::exit_of(&report),
        })
    })
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

/// `.moat/snapshots/<UTC time>`, a name that sorts by time.
fn snapshot_dir() -> PathBuf {
    let now = jiff::tz::Offset::UTC.to_datetime(jiff::Timestamp::now());
    Path::new(MOAT_DIR)
        .join("snapshots")
        .join(now.strftime("%Y%m%dT%H%M%S%.3fZ").to_string())
}

/// What the user answered at the prompt.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Yes,
    No,
    /// Interrupted while waiting (once an earlier stage changed rules, a
    /// signal raises the stop signal instead of ending the process).
    Stopped,
}

/// Asks `question` on the terminal; only the word `yes` approves. The
/// answer is read on a blocking thread, so an interrupt at the prompt is
/// handled (and ends the process cleanly, or raises `stop`) while it waits.
async fn ask_yes(question: &str, stop: &StopSignal) -> anyhow::Result<Answer> {
    {
        let mut out = crate::output::stdout();
        write!(
            out,
            "\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
        )
        .and_then(|()| out.flush())
        .context("writing to stdout")?;
    }
    let read = tokio::task::spawn_blocking(|| {
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map(|_| answer)
    });
    tokio::select! {
        answer = read => {
            let answer = answer
                .context("reading the answer")?
                .context("reading the answer")?;
            Ok(if answer.trim() == "yes" { Answer::Yes } else { Answer::No })
        }
        () = stop.stopped() => Ok(Answer::Stopped),
    }
}
