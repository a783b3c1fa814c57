//! `moat unlock GROUP_ID... [--region R]`: removes the lease (and any
//! claim) an apply left on security groups, whoever holds it, like
//! `terraform force-unlock`. Use it when the apply that held it is known to
//! be gone; a live apply that loses its lease stops at its next renewal.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use moat_exec::{Recorder, SessionOptions};

use crate::args::CloudArgs;
use crate::context::{Cloud, runtime};
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The security groups to unlock (sg-...), all of one region.
    #[arg(required = true, value_name = "GROUP_ID")]
    pub groups: Vec<String>,
    /// The JSONL journal the tag calls go to (the one apply writes).
    #[arg(long, value_name = "FILE", default_value = crate::planning::DEFAULT_JOURNAL)]
    pub journal: PathBuf,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

pub fn run(args: &UnlockArgs) -> anyhow::Result<Exit> {
    for id in &args.groups {
        let ok = id.strip_prefix("sg-").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|c| c.is_ascii_alphanumeric())
        });
        if !ok {
            bail!("{id:?} is not a security group id (sg- followed by letters and digits)");
        }
    }
    let removed = runtime()?.block_on(async {
        let cloud = Cloud::connect(&args.cloud, None, None).await?;
        let region = cloud.client.region().to_owned();
        let session = cloud.session_with(&Recorder::open(SessionOptions {
            journal: Some(&args.journal),
            ..SessionOptions::default()
        })?);
        let removed = moat_exec::lock::unlock_groups(&session, &region, &args.groups)
            .await
            .with_context(|| format!("cannot unlock in region {region}"))?;
        anyhow::Ok(removed)
    })?;
    let mut out = crate::output::stdout();
    let w = |e| anyhow::Error::from(e).context("writing to stdout");
    if removed.is_empty() {
        writeln!(out, "No lease on {}.", args.groups.join(", ")).map_err(w)?;
    }
    for r in &removed {
        let what = match &r.value {
            Ok(v) => v.to_string(),
            Err(raw) => format!("{raw:?}"),
        };
        writeln!(out, "Removed {} from {}: {what}", r.key, r.group).map_err(w)?;
    }
    out.flush().map_err(w)?;
    Ok(Exit::Ok)
}
