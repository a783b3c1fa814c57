//! `moat ram-policy PATH... [--read-only] [--list-groups]`: print the minimal
//! RAM policy (JSON) that a drift job or an apply role needs for exactly the
//! groups in the policies.

use std::io::Write;

use anyhow::Context as _;
use clap::Args;
use moat_aliyun::ram::{Access, ram_policy};

use crate::args::PolicyPaths;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct RamPolicyArgs {
    #[command(flatten)]
    pub policies: PolicyPaths,
    /// Only what `moat plan` and `moat drift` need (no rule changes).
    #[arg(long)]
    pub read_only: bool,
    /// Also allow listing the regions' groups (needed by `moat export --all`).
    #[arg(long)]
    pub list_groups: bool,
}

pub fn run(args: &RamPolicyArgs) -> anyhow::Result<Exit> {
    let set = match crate::context::load_policies(&args.policies.paths)? {
        Ok(set) => set,
        Err(code) => return Ok(code),
    };
    let groups: Vec<(String, String)> = set
        .groups
        .iter()
        .map(|g| (g.region.clone(), g.id.clone()))
        .collect();
    let access = if args.read_only {
        Access::ReadOnly
    } else {
        Access::Apply
    };
    let doc = ram_policy(&groups, access, args.list_groups);
    let mut out = crate::output::stdout();
    serde_json::to_writer_pretty(&mut out, &doc).context("writing to stdout")?;
    writeln!(out).context("writing to stdout")?;
    Ok(Exit::Ok)
}
