//! `moat drift PATH... [--format text|json|markdown]`: is the live state
//! what the policies say? Exit 0 in sync, 2 drift, 1 error. No prompts, and
//! no mutating call: the reads go through a read-only client.

use std::io::Write;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::args::{GlobalArgs, PolicyPaths};
use crate::commands::plan::{DiffFlags, make_plan, region_hint, render_options};
use crate::context::{Cloud, load_policies, runtime};
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub policies: PolicyPaths,
    /// Output form: text, json (a machine-readable report) or markdown.
    #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
    pub format: DriftFormat,
    #[command(flatten)]
    pub diff: DiffFlags,
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
    let set = std::sync::Arc::new(set);
    let plan = runtime()?.block_on(async {
        let cloud = Cloud::connect(global, region_hint(&set), Some(&set)).await?;
        make_plan(&cloud, &set, &args.diff).await
    })?;
    let options = render_options(global);
    let mut out = std::io::stdout().lock();
    let render = match args.format {
        DriftFormat::Text => moat_diff::render_drift_text,
        DriftFormat::Json => moat_diff::render_drift_json,
        DriftFormat::Markdown => moat_diff::render_markdown,
    };
    render(&plan, &options, &mut out).context("writing the report to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(if plan.has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}
