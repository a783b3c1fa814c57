//! `moat import terraform|ros|csv FILE [-o POLICY] [--migration FILE]
//! [--group-id LOGICAL=sg-...] [--mode authoritative|additive]`: rules kept
//! in Terraform, ROS or a spreadsheet as a moat policy.
//!
//! Everything is read, checked and rendered before anything is written: a
//! bad input prints every problem with its place and writes no file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use moat_interchange::{ImportErrors, ImportOptions, Imported};
use moat_policy::Mode;

use crate::exit::Exit;
use crate::shared::write_atomically;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
}

#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// From `terraform show -json` output (a state or a saved plan) or a
    /// state file of format version 4: every alicloud_security_group_rule.
    Terraform(TerraformArgs),
    /// From a ROS template (JSON or YAML): ALIYUN::ECS::SecurityGroup lists
    /// and the ROS rule resource types.
    Ros(RosArgs),
    /// From a CSV whitelist with the header
    /// group_id,region,direction,action,protocol,ports,peer,priority,description.
    Csv(CommonArgs),
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The file to import.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Write the policy to POLICY instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "POLICY", value_parser = crate::args::out_path)]
    pub out: Option<PathBuf>,
    /// How much of each group the policy owns: authoritative groups lose,
    /// at the next apply, live rules the file does not hold.
    #[arg(long, value_enum, default_value_t = ModeArg::Authoritative)]
    pub mode: ModeArg,
    /// Region of the groups when the file does not say (e.g. cn-hangzhou).
    #[arg(long, env = "ALIBABA_CLOUD_REGION_ID")]
    pub region: Option<String>,
}

#[derive(Debug, Args)]
pub struct TerraformArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Also write FILE: Terraform `removed` blocks (destroy = false) for the
    /// imported resources, and `terraform state rm` commands for older
    /// Terraform, so that Terraform lets go without revoking the rules.
    #[arg(long, value_name = "FILE")]
    pub migration: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RosArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The id of a group the template creates or refers to by name
    /// (repeatable): the logical id of an ALIYUN::ECS::SecurityGroup, or a
    /// parameter.
    #[arg(long = "group-id", value_name = "LOGICAL=sg-...", value_parser = parse_group_id)]
    pub group_ids: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Authoritative,
    Additive,
}

fn parse_group_id(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, id))
            if !name.trim().is_empty()
                && id.strip_prefix("sg-").is_some_and(|r| {
                    !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric())
                }) =>
        {
            Ok((name.trim().to_owned(), id.to_owned()))
        }
        _ => Err(format!(
            "{s:?} is not LOGICAL=sg-..., e.g. WebSg=sg-bp1a2b3c"
        )),
    }
}

pub fn run(args: &ImportArgs) -> anyhow::Result<Exit> {
    let (common, kind) = match &args.source {
        ImportSource::Terraform(a) => (&a.common, "terraform"),
        ImportSource::Ros(a) => (&a.common, "ros"),
        ImportSource::Csv(a) => (a, "csv"),
    };
    let text = std::fs::read_to_string(&common.file)
        .with_context(|| format!("cannot read {}", common.file.display()))?;
    let name = common.file.display().to_string();
    let mut options = ImportOptions {
        region: common.region.clone(),
        ..ImportOptions::default()
    };
    let imported = match &args.source {
        ImportSource::Terraform(_) => moat_interchange::import_terraform(&name, &text, &options),
        ImportSource::Ros(a) => {
            options.group_ids = a.group_ids.iter().cloned().collect();
            moat_interchange::import_ros(&name, &text, &options)
        }
        ImportSource::Csv(_) => moat_interchange::import_csv(&name, &text, &options),
    };
    let imported = match imported {
        Ok(i) => i,
        Err(errors) => return Ok(report(&errors)),
    };
    let mode = match common.mode {
        ModeArg::Authoritative => Mode::Authoritative,
        ModeArg::Additive => Mode::Additive,
    };
    let policy = match moat_interchange::render_policy(&imported, mode) {
        Ok(p) => format!(
            "# Imported by moat {} from {name} ({kind}).\n{p}",
            env!("CARGO_PKG_VERSION")
        ),
        Err(errors) => return Ok(report(&errors)),
    };
    let migration = match &args.source {
        ImportSource::Terraform(TerraformArgs {
            migration: Some(path),
            ..
        }) => Some((path, moat_interchange::render_migration(&imported))),
        _ => None,
    };

    // Everything is known to be good: write.
    if let Some((path, text)) = &migration {
        let text = text.as_deref().unwrap_or_default();
        write_atomically(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    match &common.out {
        Some(path) => write_atomically(path, policy.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = crate::output::stdout_raw();
            out.write_all(policy.as_bytes())
                .and_then(|()| out.flush())
                .context("writing to stdout")?;
        }
    }
    summary(&imported, common, mode, migration.map(|(p, _)| p.as_path()));
    Ok(Exit::Ok)
}

/// Every problem on its own line; nothing was written.
fn report(errors: &ImportErrors) -> Exit {
    let mut stderr = crate::output::stderr();
    for e in &errors.0 {
        let _ = write!(stderr, "error: {e}");
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            let _ = write!(stderr, ": {s}");
            source = s.source();
        }
        let _ = writeln!(stderr);
        if let Some(hint) = crate::exit::import_hint(&e.kind) {
            let _ = writeln!(stderr, "hint: {hint}");
        }
    }
    let _ = writeln!(stderr, "nothing was written");
    Exit::Error
}

fn summary(imported: &Imported, common: &CommonArgs, mode: Mode, migration: Option<&Path>) {
    let mut stderr = crate::output::stderr();
    let groups = imported.groups.len();
    let _ = write!(
        stderr,
        "Imported {} rule(s) of {groups} group(s) from {}",
        imported.rule_count(),
        common.file.display()
    );
    match &common.out {
        Some(path) => {
            let _ = writeln!(stderr, " into {}.", path.display());
        }
        None => {
            let _ = writeln!(stderr, ".");
        }
    }
    if let Some(path) = migration {
        let _ = writeln!(
            stderr,
            "Wrote the Terraform migration to {}: delete the imported resource blocks, add the file and apply (docs/migrate.md).",
            path.display()
        );
    }
    if mode == Mode::Authoritative {
        let _ = writeln!(
            stderr,
            "note: the groups are authoritative: `moat plan` shows live rules that {} does not hold as removals. If other tools or people manage rules in these groups too, import with --mode additive (or set `mode: additive` on those groups).",
            common.file.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::parse_group_id;

    #[test]
    fn group_ids_are_logical_equals_sg() {
        assert_eq!(
            parse_group_id("WebSg=sg-bp1a2b"),
            Ok(("WebSg".into(), "sg-bp1a2b".into()))
        );
        assert!(parse_group_id("WebSg").is_err());
        assert!(parse_group_id("WebSg=vpc-1").is_err());
        assert!(parse_group_id("=sg-1").is_err());
    }
}
