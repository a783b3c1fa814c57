//! `moat export --region R (--group ID... | --all) [-o FILE]`: write the live
//! rules of groups as a policy that plans to no change against them.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use moat_exec::{GroupRef, read_groups};

use crate::args::GlobalArgs;
use crate::context::{Cloud, runtime};
use crate::exit::Exit;
use crate::planning::write_atomically;

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
    /// Write the policy to FILE instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(global: &GlobalArgs, args: &ExportArgs) -> anyhow::Result<Exit> {
    for id in &args.groups {
        if !id.starts_with("sg-") || id.len() < 4 {
            bail!("--group {id:?} is not a security group id (sg-...)");
        }
    }
    let text = runtime()?.block_on(async {
        let cloud = Cloud::connect(global, None, None).await?;
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
        let text = moat_exec::render_export(&state.groups)?;
        anyhow::Ok(text)
    })?;
    let text = format!(
        "# Exported by moat {} from the live rules.\n{text}",
        env!("CARGO_PKG_VERSION")
    );
    match &args.out {
        Some(path) => write_atomically(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .context("writing to stdout")?;
        }
    }
    Ok(Exit::Ok)
}
