//! The command line: global flags and subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

/// Flags accepted before or after the subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Region of the groups when a policy does not say (e.g. cn-hangzhou).
    #[arg(long, global = true, env = "ALIBABA_CLOUD_REGION_ID")]
    pub region: Option<String>,
    /// Profile of the aliyun CLI config file to take credentials from.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// API endpoint to use instead of the region's (e.g. http://127.0.0.1:8080).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// STS endpoint for assuming roles (default: --endpoint when given, else
    /// Alibaba's STS); plain http only for loopback addresses.
    #[arg(long, global = true, value_name = "URL")]
    pub sts_endpoint: Option<String>,
    /// Run against the embedded local cloud, with state in .moat/local-cloud.json.
    #[arg(long, global = true)]
    pub local: bool,
    /// Allow plain http to an endpoint that is not a loopback address.
    #[arg(long, global = true)]
    pub insecure_http: bool,
    /// AccessKey id (prefer the environment or the aliyun CLI profile).
    #[arg(long, global = true, value_name = "ID", requires = "access_key_secret")]
    pub access_key_id: Option<String>,
    /// AccessKey secret; goes with --access-key-id.
    #[arg(
        long,
        global = true,
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
    #[arg(long, global = true, value_name = "N", value_parser = parse_rps)]
    pub max_rps: Option<f64>,
    /// Adapt the rate to the quota even with --max-rps (then the cap) or
    /// against the local cloud.
    #[arg(long, global = true)]
    pub adaptive_rate: bool,
    /// Request signature: 3 for ACS3-HMAC-SHA256 (the default of Alibaba's
    /// current SDKs) or 1 for signature v1.0 (HMAC-SHA1).
    #[arg(long, global = true, value_name = "1|3", default_value = "3", value_parser = parse_signature_version)]
    pub signature_version: moat_aliyun::SignatureVersion,
    /// Seconds allowed for each API call attempt.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
    /// Colour output: auto (a terminal without NO_COLOR), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// More logging on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less logging on stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
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
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::Cli;

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
        assert_eq!(cli.global.region.as_deref(), Some("cn-shanghai"));
        assert_eq!(cli.global.max_rps, Some(5.0));
    }
}
