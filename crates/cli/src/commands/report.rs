//! `moat report merge FILE... [--format text|json|markdown]`: the JSON
//! plans (`plan --format json` or `-o`) or drift reports (`drift --format
//! json`) of the shards of one run (`--shard K/N`) merged into one report.
//! Exit 2 when some group has changes, 1 when a shard is missing or a group
//! does not exist (that wins over 2), 0 otherwise.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use moat_diff::{Merged, Report};

use crate::args::GlobalArgs;
use crate::exit::Exit;
use crate::planning::render_options;

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge the JSON plans or drift reports of a run's shards into one.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' JSON plans, or their JSON drift reports (one kind).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output form: text, json or markdown (under the comment size limit).
    #[arg(long, value_enum, default_value_t = MergeFormat::Text)]
    pub format: MergeFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MergeFormat {
    Text,
    Json,
    Markdown,
}

pub fn run(global: &GlobalArgs, args: &ReportArgs) -> anyhow::Result<Exit> {
    match &args.command {
        ReportCommand::Merge(m) => merge(global, m),
    }
}

fn merge(global: &GlobalArgs, args: &MergeArgs) -> anyhow::Result<Exit> {
    let mut files = Vec::new();
    for path in &args.files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        files.push((path.display().to_string(), text));
    }
    let merged = moat_diff::merge_files(&files).context("cannot merge the reports")?;
    render(global, args.format, &merged)?;
    let mut err = crate::output::stderr();
    if let Some(of) = merged.shards_of
        && !merged.missing_shards.is_empty()
    {
        let list: Vec<String> = merged
            .missing_shards
            .iter()
            .map(|k| format!("{k}/{}", of.count))
            .collect();
        writeln!(
            err,
            "error: shard(s) {} (by {}) missing: the report covers only part of the groups",
            list.join(", "),
            of.by
        )
        .context("writing to stderr")?;
        return Ok(Exit::Error);
    }
    if merged.has_missing_groups() {
        writeln!(
            err,
            "error: some security groups named in the policies do not exist"
        )
        .context("writing to stderr")?;
        return Ok(Exit::Error);
    }
    Ok(if merged.has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

fn render(global: &GlobalArgs, format: MergeFormat, merged: &Merged) -> anyhow::Result<()> {
    let options = render_options(global);
    let mut out = crate::output::stdout_raw();
    match (&merged.report, format) {
        (Report::Plan(p), MergeFormat::Text) => moat_diff::render_text(p, &options, &mut out),
        (Report::Plan(p), MergeFormat::Json) => p.write_json(&mut out),
        (Report::Plan(p), MergeFormat::Markdown) => {
            moat_diff::render_markdown(p, &options, &mut out)
        }
        (Report::Drift(d), MergeFormat::Text) => moat_diff::render_drift_report_text(d, &mut out),
        (Report::Drift(d), MergeFormat::Json) => serde_json::to_string_pretty(d)
            .map_err(std::io::Error::from)
            .and_then(|text| {
                out.write_all(moat_policy::printable::escape_json(&text).as_bytes())?;
                out.write_all(b"\n")
            }),
        (Report::Drift(d), MergeFormat::Markdown) => {
            moat_diff::render_drift_report_markdown(d, options.markdown_limit, &mut out)
        }
    }
    .context("writing the report to stdout")?;
    out.flush().context("writing to stdout")
}
