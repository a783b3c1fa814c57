//! `moat plan PATH... [--format text|json|csv|markdown] [-o PLANFILE]
//! [--detailed-exitcode] [--instances]`: read the live rules of every group
//! the policies name, diff them against the policies, and show the plan;
//! with `--instances`, also the instances each changed group is on and what
//! its changes do there.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use moat_diff::Plan;

use crate::args::{CloudArgs, GlobalArgs, GroupArgs, PolicyPaths};
use crate::context::runtime;
use crate::exit::Exit;
use crate::planning::{
    DiffFlags, ShardArgs, SigningArgs, StageArgs, note_missing, plan_key, plan_policies,
    render_options,
};
use crate::shared::write_atomically;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub policies: PolicyPaths,
    /// Output form: text (a Terraform-style preview), json, csv or markdown.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Also save the plan (JSON) for `moat apply PLANFILE`; signed when a
    /// plan key is configured.
    #[arg(short = 'o', long = "out", value_name = "PLANFILE", value_parser = crate::args::out_path)]
    pub out: Option<PathBuf>,
    /// Exit 2 when the plan has changes (0 when none, 1 on errors).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also show the blast radius: the instances whose network interfaces
    /// carry each changed group, and what each change does on them with all
    /// their groups combined (one paged DescribeNetworkInterfaces per
    /// changed group).
    #[arg(long)]
    pub instances: bool,
    #[command(flatten)]
    pub diff: DiffFlags,
    #[command(flatten)]
    pub signing: SigningArgs,
    #[command(flatten)]
    pub stage: StageArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    #[command(flatten)]
    pub group: GroupArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Csv,
    Markdown,
}

pub fn run(global: &GlobalArgs, args: &PlanArgs) -> anyhow::Result<Exit> {
    // A bad key is refused before anything is read.
    let key = plan_key(&args.signing)?;
    let made = runtime()?.block_on(async {
        let made = match plan_policies(
            &args.policies.paths,
            &args.group,
            &args.stage,
            &args.shard,
            &args.cloud,
            &args.diff,
            args.instances,
        )
        .await?
        {
            Ok(made) => made,
            Err(code) => return anyhow::Ok(Err(code)),
        };
        let mut plan = made.planned.plan;
        if args.instances {
            moat_exec::read_blast_radius(&made.reader, &mut plan, made.planned.live).await?;
        }
        tracing::info!(
            calls = made.reader.counts().total(),
            "API calls of the plan"
        );
        anyhow::Ok(Ok((plan, made.cloud, made.set)))
    })?;
    let (mut plan, cloud, set) = match made {
        Ok(made) => made,
        Err(code) => return Ok(code),
    };
    if let Some(key) = &key {
        plan.sign(key);
    }
    let missing = plan.missing_groups().next().is_some();
    // A plan with a missing group cannot be applied: it is shown, not saved.
    if let Some(path) = &args.out
        && !missing
    {
        write_plan_file(&plan, path)?;
    }
    let options = render_options(global);
    let mut out = crate::output::stdout_raw();
    let render = match args.format {
        PlanFormat::Text => moat_diff::render_text,
        PlanFormat::Json => moat_diff::render_json,
        PlanFormat::Csv => moat_diff::render_csv,
        PlanFormat::Markdown => moat_diff::render_markdown,
    };
    render(&plan, &options, &mut out).context("writing the plan to stdout")?;
    if let Some(path) = &args.out
        && args.format == PlanFormat::Text
        && !missing
    {
        let signed = if key.is_some() { "signed " } else { "" };
        writeln!(
            out,
            "\nSaved the {signed}plan to {}. Apply exactly this plan with: moat apply {}",
            path.display(),
            path.display()
        )
        .context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    drop(out);
    if missing {
        note_missing(&plan, &cloud)?;
        return Ok(Exit::Error);
    }
    // Freeing a plan of a few hundred thousand rules one allocation at a
    // time is wasted work just before the process exits.
    let changes = plan.has_changes();
    std::mem::forget(plan);
    std::mem::forget(set);
    Ok(if args.detailed_exitcode && changes {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

/// Writes the plan file atomically: a temporary file beside it, then a
/// rename, so an interrupted write never leaves half a plan.
pub fn write_plan_file(plan: &Plan, path: &Path) -> anyhow::Result<()> {
    write_atomically(path, plan.to_json().as_bytes())
        .with_context(|| format!("cannot write the plan to {}", path.display()))
}
