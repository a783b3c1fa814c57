//! `moat validate PATH...`: load, check and expand policies, and report every
//! problem at once.
//!
//! Text form: a one-line summary on stdout when the policies are valid;
//! otherwise every diagnostic on stderr (`file:line:col: error[CODE]: ...`
//! with its hint) and a count. JSON form: one object on stdout either way.

use std::io::Write;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use moat_policy::{Diagnostics, PolicySet};
use serde_json::json;

use crate::args::PolicyPaths;
use crate::exit::Exit;
use crate::output::plural;
use crate::shared::{DiagnosticsForm, VALIDATE_SCHEMA_VERSION, report_invalid};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub policies: PolicyPaths,
    /// Output form: text for people, json for tools.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
    pub format: ValidateFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    Text,
    Json,
}

/// What a valid set of policies holds.
struct Summary {
    files: usize,
    groups: usize,
    rules: usize,
    protect: usize,
}

impl Summary {
    fn of(files: usize, set: &PolicySet) -> Summary {
        Summary {
            files,
            groups: set.groups.len(),
            rules: set.groups.iter().map(|g| g.rules.len()).sum(),
            protect: set.protect.len(),
        }
    }
}

pub fn run(args: &ValidateArgs) -> anyhow::Result<Exit> {
    let paths = &args.policies.paths;
    // Loading reports unreadable paths together with every other problem;
    // the file count is only needed, and only asked for, once all is well.
    let result = moat_policy::load_policies(paths).and_then(|set| {
        let files = moat_policy::discover_policy_files(paths)?;
        Ok(Summary::of(files.len(), &set))
    });
    match args.format {
        ValidateFormat::Text => text(&result),
        ValidateFormat::Json => json(&result),
    }
}

fn text(result: &Result<Summary, Diagnostics>) -> anyhow::Result<Exit> {
    match result {
        Ok(s) => {
            let mut out = crate::output::stdout();
            writeln!(
                out,
                "{} valid: {}, {}, {}",
                plural(s.files, "policy file", "policy files"),
                plural(s.groups, "security group", "security groups"),
                plural(s.rules, "rule", "rules"),
                plural(s.protect, "protect selector", "protect selectors"),
            )
            .context("writing to stdout")?;
            Ok(Exit::Ok)
        }
        Err(diags) => report_invalid(diags, DiagnosticsForm::Text),
    }
}

fn json(result: &Result<Summary, Diagnostics>) -> anyhow::Result<Exit> {
    let value = match result {
        Ok(s) => json!({
                "schema_version": VALIDATE_SCHEMA_VERSION,
                "valid": true,
                "files": s.files,
                "security_groups": s.groups,
                "rules": s.rules,
                "protect": s.protect,
            "diagnostics": [],
        }),
        Err(diags) => return report_invalid(diags, DiagnosticsForm::Json),
    };
    crate::shared::print_json(&serde_json::to_string_pretty(&value)?)?;
    Ok(Exit::Ok)
}
