//! The command line: global flags and subcommands.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "moat",
    version,
    about = "Alibaba Cloud ECS security group rules as code",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags of every command, accepted before or after the subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Colour output: auto (a terminal without NO_COLOR or TERM=dumb), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// More logging on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less logging on stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

/// Flags of the commands that talk to the cloud, shown under their own
/// heading. Written before the subcommand they still apply: [`hoist`] moves
/// them after it, so a command that does not talk to the cloud refuses them.
#[derive(Debug, Args)]
#[command(next_help_heading = "Cloud options")]
pub struct CloudArgs {
    /// Region of the groups when a policy does not say (e.g. cn-hangzhou).
    #[arg(long, env = "ALIBABA_CLOUD_REGION_ID")]
    pub region: Option<String>,
    /// Profile of the aliyun CLI config file to take credentials from.
    #[arg(long)]
    pub profile: Option<String>,
    /// API endpoint to use instead of the region's (e.g. http://127.0.0.1:8080).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// STS endpoint for assuming roles (default: --endpoint when given, else
    /// Alibaba's STS); plain http only for loopback addresses.
    #[arg(long, value_name = "URL")]
    pub sts_endpoint: Option<String>,
    /// Run against the embedded local cloud, with state in .moat/local-cloud.json.
    #[arg(long)]
    pub local: bool,
    /// Allow plain http to an endpoint that is not a loopback address.
    #[arg(long)]
    pub insecure_http: bool,
    /// AccessKey id (prefer the environment or the aliyun CLI profile).
    #[arg(long, value_name = "ID", requires = "access_key_secret")]
    pub access_key_id: Option<String>,
    /// AccessKey secret; goes with --access-key-id.
    #[arg(
        long,
        value_name = "SECRET",
        requires = "access_key_id",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub access_key_secret: Option<moat_aliyun::Secret>,
    /// A fixed rate of API calls per second, shared by every concurrent
    /// task. Without it the rate adapts to the account's quota per region
    /// (no limit against the local cloud); with --adaptive-rate it caps the
    /// adaptive rate instead.
    #[arg(long, value_name = "N", value_parser = parse_rps)]
    pub max_rps: Option<f64>,
    /// Adapt the rate to the quota even with --max-rps (then the cap) or
    /// against the local cloud.
    #[arg(long)]
    pub adaptive_rate: bool,
    /// Request signature: 3 for ACS3-HMAC-SHA256 (the default of Alibaba's
    /// current SDKs) or 1 for signature v1.0 (HMAC-SHA1).
    #[arg(long, value_name = "1|3", default_value = "3", value_parser = parse_signature_version)]
    pub signature_version: moat_aliyun::SignatureVersion,
    /// Seconds allowed for each API call attempt.
    #[arg(long, value_name = "SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
}

/// The arguments with every cloud option written before the subcommand
/// moved after it, so that `moat --region X plan p.yaml` reads as
/// `moat plan p.yaml --region X`. Options of the top level (colour,
/// logging, help, version) stay where they are; anything else is left for
/// clap to judge.
pub fn hoist(argv: Vec<OsString>) -> Vec<OsString> {
    let top = Cli::command();
    let cloud = CloudArgs::augment_args(clap::Command::new("cloud"));
    let mut out = Vec::with_capacity(argv.len());
    let mut moved = Vec::new();
    let mut args = argv.into_iter();
    if let Some(program) = args.next() {
        out.push(program);
    }
    while let Some(arg) = args.next() {
        let Some(text) = arg
            .to_str()
            .filter(|t| t.starts_with('-') && *t != "-" && *t != "--")
        else {
            // The subcommand (or `--`, or something clap will refuse).
            out.push(arg);
            break;
        };
        let (name, inline_value) = match text.split_once('=') {
            Some((name, _)) => (name, true),
            None => (text, false),
        };
        let find = |cmd: &clap::Command| -> Option<bool> {
            cmd.get_arguments()
                .find(|a| match name.strip_prefix("--") {
                    Some(long) => a.get_long() == Some(long),
                    None => {
                        let mut chars = name.chars().skip(1);
                        a.get_short().is_some() && chars.next() == a.get_short()
                    }
                })
                .map(|a| a.get_action().takes_values())
        };
        let (into, takes_value) = match (find(&top), find(&cloud)) {
            (Some(takes_value), _) => (&mut out, takes_value),
            (None, Some(takes_value)) => (&mut moved, takes_value),
            (None, None) => (&mut out, false),
        };
        into.push(arg);
        if takes_value && !inline_value {
            into.extend(args.next());
        }
    }
    // At the end, where the deepest subcommand (`import terraform`) reads
    // them, but before a `--` that makes everything after it a path.
    let rest: Vec<OsString> = args.collect();
    let end = rest.iter().position(|a| a == "--").unwrap_or(rest.len());
    let mut rest = rest.into_iter();
    out.extend(rest.by_ref().take(end));
    out.append(&mut moved);
    out.extend(rest);
    out
}

/// The secret goes straight into a type whose `Debug` is redacted.
fn parse_secret(s: &str) -> Result<moat_aliyun::Secret, String> {
    Ok(moat_aliyun::Secret::from(s))
}

fn parse_signature_version(s: &str) -> Result<moat_aliyun::SignatureVersion, String> {
    moat_aliyun::SignatureVersion::parse(s).ok_or_else(|| {
        format!("{s:?} is not a signature version: use 3 (ACS3-HMAC-SHA256) or 1 (v1.0)")
    })
}

fn parse_rps(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 10_000.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a rate between 0 and 10000 calls per second"
        )),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check policies: syntax, names and values, and expand every rule.
    Validate(crate::commands::validate::ValidateArgs),
    /// Find risky and useless rules: public exposure, shadowing, expiry, descriptions.
    Lint(crate::commands::lint::LintArgs),
    /// Show what would change: live rules against the policies.
    Plan(crate::commands::plan::PlanArgs),
    /// Carry out a plan: from policies (planned now) or a saved plan file.
    Apply(crate::commands::apply::ApplyArgs),
    /// Check live rules against the policies: exit 0 in sync, 2 drift, 1 error.
    Drift(crate::commands::drift::DriftArgs),
    /// Check the policies' tests: does every flow get the expected answer?
    Test(crate::commands::test::TestArgs),
    /// Would ECS allow this flow, and which rule decides it?
    Explain(crate::commands::explain::ExplainArgs),
    /// Write live groups as a policy, Terraform HCL, a ROS template or CSV.
    Export(crate::commands::export::ExportArgs),
    /// Turn rules kept in Terraform, ROS or a CSV whitelist into a policy.
    Import(crate::commands::import::ImportArgs),
    /// Remove the lease an apply left on security groups (like terraform force-unlock).
    Unlock(crate::commands::unlock::UnlockArgs),
    /// Run the ECS security group API emulator as a server.
    Emulator(crate::commands::emulator::EmulatorArgs),
    /// Print the least-privilege RAM policy (JSON) for the groups in the policies.
    RamPolicy(crate::commands::ram_policy::RamPolicyArgs),
    /// Work on saved reports: `merge` the shards of a run (`--shard K/N`).
    Report(crate::commands::report::ReportArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Policy files or directories of `*.yaml` / `*.yml` files.
#[derive(Debug, Args)]
pub struct PolicyPaths {
    /// Policy files, or directories whose *.yaml and *.yml files are read
    /// (not their subdirectories); all are loaded together.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// The value of `-o`/`--out`. Terraform's `-out=FILE` reads, to a parser of
/// short flags, as `-o` with the value `ut=FILE`: that is refused with the
/// spelling moat takes, rather than writing a file named `ut=FILE`.
pub fn out_path(value: &str) -> Result<PathBuf, String> {
    match value.strip_prefix("ut=") {
        Some(rest) => Err(format!(
            "this looks like Terraform's -out={rest}; moat takes -o {rest} or --out {rest}"
        )),
        None if value.is_empty() => Err("an empty path".to_owned()),
        None => Ok(PathBuf::from(value)),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use clap::Parser as _;

    use super::{Cli, Command, hoist};

    #[test]
    fn the_secret_flag_never_shows_in_debug_output() {
        let cli = Cli::try_parse_from([
            "moat",
            "plan",
            "p.yaml",
            "--access-key-id",
            "LTAI5tSomeKeyId",
            "--access-key-secret",
            "planted-secret-value",
        ])
        .expect("valid flags");
        let debug = format!("{cli:?}");
        assert!(debug.contains("LTAI5tSomeKeyId"), "{debug}");
        assert!(!debug.contains("planted-secret-value"), "{debug}");
    }

    #[test]
    fn global_flags_work_after_the_subcommand_and_its_paths() {
        let cli = Cli::try_parse_from([
            "moat",
            "drift",
            "p.yaml",
            "--region",
            "cn-shanghai",
            "--max-rps",
            "5",
        ])
        .expect("valid flags");
        let Command::Drift(drift) = cli.command else {
            panic!("parsed as drift")
        };
        assert_eq!(drift.cloud.region.as_deref(), Some("cn-shanghai"));
        assert_eq!(drift.cloud.max_rps, Some(5.0));
    }

    fn hoisted(args: &[&str]) -> Vec<String> {
        let argv = std::iter::once("moat")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        hoist(argv)
            .into_iter()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn cloud_options_before_the_subcommand_move_after_it() {
        assert_eq!(
            hoisted(&["--region", "cn-shanghai", "-v", "plan", "p.yaml"]),
            ["-v", "plan", "p.yaml", "--region", "cn-shanghai"]
        );
        // Values inline or apart, flags without a value, and the top
        // level's own options (with their values) left in place.
        assert_eq!(
            hoisted(&["--color", "never", "--local", "--max-rps=5", "drift", "d/"]),
            ["--color", "never", "drift", "d/", "--local", "--max-rps=5"]
        );
        // Nested subcommands read them at the end; `--` keeps its paths.
        assert_eq!(
            hoisted(&["--region", "r", "import", "csv", "f.csv"]),
            ["import", "csv", "f.csv", "--region", "r"]
        );
        assert_eq!(
            hoisted(&["--local", "plan", "--", "-odd.yaml"]),
            ["plan", "--local", "--", "-odd.yaml"]
        );
        // Nothing to move, or something clap will refuse: left alone.
        assert_eq!(hoisted(&["plan", "p.yaml"]), ["plan", "p.yaml"]);
        assert_eq!(
            hoisted(&["--no-such", "plan", "p.yaml"]),
            ["--no-such", "plan", "p.yaml"]
        );
    }

    #[test]
    fn commands_that_do_not_talk_to_the_cloud_refuse_cloud_options() {
        for args in [
            &["validate", "p.yaml", "--region", "cn-hangzhou"][..],
            &["lint", "p.yaml", "--local"],
            &["completions", "bash", "--endpoint", "http://127.0.0.1:1"],
            &["emulator", "--access-key-id", "x"],
            &["emulator", "--local"],
        ] {
            let argv = std::iter::once("moat")
                .chain(args.iter().copied())
                .map(OsString::from)
                .collect();
            assert!(Cli::try_parse_from(hoist(argv)).is_err(), "{args:?}");
        }
        let argv = ["moat", "--local", "validate", "p.yaml"]
            .into_iter()
            .map(OsString::from)
            .collect();
        assert!(Cli::try_parse_from(hoist(argv)).is_err());
    }
}
