//! `moat export --region R (--group ID... | --all) [--format F] [-o FILE]`:
//! write the live rules of groups as a policy that plans to no change against
//! them (the default), as Terraform HCL with import blocks, as a ROS
//! template, or as a CSV whitelist.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use moat_exec::{GroupRef, read_groups};

use crate::args::CloudArgs;
use crate::context::{Cloud, runtime};
use crate::exit::Exit;
use crate::shared::write_atomically;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A group to export (repeatable).
    #[arg(
        long = "group",
        value_name = "ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub groups: Vec<String>,
    /// Every group of the region.
    #[arg(long)]
    pub all: bool,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "FILE", value_parser = crate::args::out_path)]
    pub out: Option<PathBuf>,
    /// What to write: a moat policy, Terraform HCL (alicloud_security_group_rule
    /// resources with import blocks), a ROS template, or a CSV whitelist.
    #[arg(long, value_enum, default_value_t = ExportFormat::Yaml)]
    pub format: ExportFormat,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Yaml,
    Terraform,
    Ros,
    Csv,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<Exit> {
    for id in &args.groups {
        if !id.starts_with("sg-") || id.len() < 4 {
            bail!("--group {id:?} is not a security group id (sg-...)");
        }
    }
    let text = runtime()?.block_on(async {
        let cloud = Cloud::connect(&args.cloud, None, None).await?;
        let region = cloud.client.region().to_owned();
        let refs: Vec<GroupRef> = if args.all {
            moat_exec::list_region_groups(&cloud.client.read_only())
                .await
                .with_context(|| format!("cannot list the groups of region {region}"))?
        } else {
            args.groups
                .iter()
                .map(|id| GroupRef::new(id, &region))
                .collect()
        };
        let state =
            read_groups(&cloud.reader(), &refs, moat_exec::DEFAULT_READ_CONCURRENCY).await?;
        if let Some(missing) = state.missing.first() {
            bail!("security group {missing} does not exist");
        }
        let text = match args.format {
            ExportFormat::Yaml => format!(
                "# Exported by moat {} from the live rules.\n{}",
                env!("CARGO_PKG_VERSION"),
                moat_exec::render_export(&state.groups)?
            ),
            format => {
                // The foreign formats have no place for rules moat cannot
                // model; they are named on stderr, never dropped silently.
                for g in &state.groups {
                    for u in &g.unmodeled {
                        tracing::warn!(
                            group = %g.id,
                            rule = %u.id,
                            "not exported: {} ({})",
                            u.summary,
                            u.reason
                        );
                    }
                }
                let groups: Vec<_> = state.groups.iter().map(moat_exec::live_to_policy).collect();
                match format {
                    ExportFormat::Terraform => moat_interchange::render_terraform(&groups)?,
                    ExportFormat::Ros => moat_interchange::render_ros(&groups)?,
                    _ => moat_interchange::render_csv(&groups)?,
                }
            }
        };
        anyhow::Ok(text)
    })?;
    match &args.out {
        Some(path) => write_atomically(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = crate::output::stdout_raw();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .context("writing to stdout")?;
        }
    }
    Ok(Exit::Ok)
}
