//! `moat ram-policy PATH... [--read-only] [--list-groups] [--account NAME]`:
//! print the minimal RAM policy (JSON) that a drift job or an apply role
//! needs for exactly the groups in the policies; with `accounts:`, one
//! policy per account (a RAM policy is created in one account).

use anyhow::bail;
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
    /// Only the policy of this account of `accounts:`, as a bare policy
    /// document.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
}

pub fn run(args: &RamPolicyArgs) -> anyhow::Result<Exit> {
    let set = match crate::context::load_policies(&args.policies.paths)? {
        Ok(set) => set,
        Err(code) => return Ok(code),
    };
    let access = if args.read_only {
        Access::ReadOnly
    } else {
        Access::Apply
    };
    let policy_of = |account: Option<&str>| {
        let groups: Vec<(String, String)> = set
            .groups
            .iter()
            .filter(|g| g.account.as_deref() == account)
            .map(|g| (g.region.clone(), g.id.clone()))
            .collect();
        ram_policy(&groups, access, args.list_groups)
    };
    let doc = match &args.account {
        Some(name) => {
            if set.account(name).is_none() {
                let known: Vec<&str> = set.accounts.iter().map(|a| a.name.as_str()).collect();
                bail!(
                    "--account {name}: the policies define no such account (accounts: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                );
            }
            policy_of(Some(name))
        }
        None if set.accounts.is_empty() => policy_of(None),
        // One policy per account, each created in its own account; the
        // groups without `account:` first, in the account moat is run with.
        None => {
            let mut list = Vec::new();
            if set.groups.iter().any(|g| g.account.is_none()) {
                list.push(serde_json::json!({ "policy": policy_of(None) }));
            }
            for a in &set.accounts {
                if set
                    .groups
                    .iter()
                    .any(|g| g.account.as_deref() == Some(&a.name))
                {
                    list.push(serde_json::json!({
                        "account": a.name,
                        "profile": a.profile,
                        "policy": policy_of(Some(&a.name)),
                    }));
                }
            }
            serde_json::json!({ "accounts": list })
        }
    };
    crate::shared::print_json(&serde_json::to_string_pretty(&doc)?)?;
    Ok(Exit::Ok)
}
