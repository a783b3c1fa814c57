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
    /// Run against the embedded local cloud, with state in .moat/local-cloud.json.
    #[arg(long, global = true)]
    pub local: bool,
    /// Allow plain http to an endpoint that is not a loopback address.
    #[arg(long, global = true)]
    pub insecure_http: bool,
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
    /// Run the ECS security group API emulator as a server.
    Emulator(crate::commands::emulator::EmulatorArgs),
    /// Print the least-privilege RAM policy (JSON) for the groups in the policies.
    RamPolicy(crate::commands::ram_policy::RamPolicyArgs),
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
