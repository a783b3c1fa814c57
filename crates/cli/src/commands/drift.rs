//! `moat drift PATH... [--format text|json|markdown]`: is the live state
//! what the policies say? Exit 0 in sync, 2 drift, 1 error (a group that
//! does not exist included). No prompts, and no mutating call: the reads go
//! through a read-only client.

use std::io::Write;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::args::{CloudArgs, GlobalArgs, GroupArgs, PolicyPaths};
use crate::context::runtime;
use crate::exit::Exit;
use crate::planning::{
    DiffFlags, ShardArgs, StageArgs, note_missing, plan_policies, render_options,
};

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub policies: PolicyPaths,
    /// Output form: text, json (a machine-readable report) or markdown.
    #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
    pub format: DriftFormat,
    #[command(flatten)]
    pub diff: DiffFlags,
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
pub enum DriftFormat {
    Text,
    Json,
    Markdown,
}

pub fn run(global: &GlobalArgs, args: &DriftArgs) -> anyhow::Result<Exit> {
    let made = runtime()?.block_on(plan_policies(
        &args.policies.paths,
        &args.group,
        &args.stage,
        &args.shard,
        &args.cloud,
        &args.diff,
        false,
    ))?;
    let (plan, cloud) = match made {
        Ok(made) => (made.planned.plan, made.cloud),
        Err(code) => return Ok(code),
    };
    let options = render_options(global);
    let mut out = crate::output::stdout_raw();
    let render = match args.format {
        DriftFormat::Text => moat_diff::render_drift_text,
        DriftFormat::Json => moat_diff::render_drift_json,
        DriftFormat::Markdown => moat_diff::render_drift_markdown,
    };
    render(&plan, &options, &mut out).context("writing the report to stdout")?;
    out.flush().context("writing to stdout")?;
    drop(out);
    if plan.missing_groups().next().is_some() {
        note_missing(&plan, &cloud)?;
        return Ok(Exit::Error);
    }
    Ok(if plan.drifts() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}
