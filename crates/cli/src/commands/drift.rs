//! `moat drift PATH... [--format text|json|markdown]`: is the live state
//! what the policies say? Exit 0 in sync, 2 drift, 1 error (a group that
//! does not exist included). No prompts, and no mutating call: the reads go
//! through a read-only client.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::args::{CloudArgs, GlobalArgs, GroupArgs, PolicyPaths};
use crate::context::{Cloud, Reach, load_policies, runtime};
use crate::exit::Exit;
use crate::planning::{
    DEFAULT_JOURNAL, DiffFlags, ShardArgs, StageArgs, make_plan, note_missing, region_hint,
    render_options, select_groups,
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
    let set = match load_policies(&args.policies.paths)? {
        Ok(set) => set,
        Err(code) => return Ok(code),
    };
    // The region of all the policies, so an empty shard still connects.
    let hint = region_hint(&set).map(str::to_owned);
    // A new local cloud is seeded with every group of the policies.
    let whole = (args.group.limits() || args.stage.stage.is_some()).then(|| set.clone());
    let (set, targets) = select_groups(&args.group, &args.stage, set)?;
    let (set, shard) = args.shard.select(set);
    let set = std::sync::Arc::new(set);
    let (plan, cloud) = runtime()?.block_on(async {
        let reach = Reach::of_policies(&set);
        let cloud = Cloud::connect_to(
            &args.cloud,
            hint.as_deref(),
            Some(whole.as_ref().unwrap_or(&set)),
            &reach,
        )
        .await?;
        let (reader, reading) = crate::progress::reading(cloud.reader(), "reading");
        let planned = make_plan(&reader, &set, &args.diff, Path::new(DEFAULT_JOURNAL), false).await;
        drop(reading);
        let planned = planned?;
        let mut plan = planned.plan;
        plan.shard = shard;
        plan.targets = targets;
        anyhow::Ok((plan, cloud))
    })?;
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
