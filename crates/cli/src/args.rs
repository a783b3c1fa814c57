//! The argument types commands share: global and cloud options, policy
//! paths, and the parsers of their values. Nothing here knows a command.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use moat_policy::{Direction, Protocol};

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
/// heading. Written before the subcommand they still apply: `cli::hoist` moves
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
    /// VPC endpoint (default: --endpoint when given, else the region's);
    /// plain http only for loopback addresses.
    #[arg(long, value_name = "URL")]
    pub vpc_endpoint: Option<String>,
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

/// Policy files or directories of `*.yaml` / `*.yml` files.
#[derive(Debug, Args)]
pub struct PolicyPaths {
    /// Policy files, or directories whose *.yaml and *.yml files are read
    /// (not their subdirectories); all are loaded together.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Groups a command is limited to, like Terraform's `-target`.
#[derive(Debug, Args)]
pub struct GroupArgs {
    /// Take only this security group of the policies (repeatable), like
    /// Terraform's -target; the plan then says it is partial.
    #[arg(long = "group", value_name = "ID")]
    pub groups: Vec<String>,
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

/// The flow `explain` and `doctor` ask about: one direction, one address on
/// the far side, one service.
#[derive(Debug, Args)]
pub struct FlowArgs {
    /// Source address of an inbound flow.
    #[arg(
        long,
        value_name = "ADDR",
        conflicts_with = "to",
        required_unless_present = "to"
    )]
    pub from: Option<IpAddr>,
    /// Destination address of an outbound flow.
    #[arg(long, value_name = "ADDR")]
    pub to: Option<IpAddr>,
    /// The service: tcp/22, udp/53, icmp, icmpv6, gre.
    #[arg(long, value_name = "PROTO/PORT", value_parser = parse_flow_service)]
    pub port: (Protocol, Option<u16>),
}

impl FlowArgs {
    /// The direction and the far address: `--from` is inbound, `--to`
    /// outbound (clap makes one of them required).
    pub fn direction(&self) -> Result<(Direction, IpAddr), String> {
        match (self.from, self.to) {
            (Some(a), _) => Ok((Direction::Ingress, a)),
            (None, Some(a)) => Ok((Direction::Egress, a)),
            (None, None) => Err("give --from ADDR (inbound) or --to ADDR (outbound)".to_owned()),
        }
    }

    /// `tcp/22`, or `icmp` for a service without ports.
    pub fn service(&self) -> String {
        match self.port {
            (protocol, Some(p)) => format!("{protocol}/{p}"),
            (protocol, None) => protocol.to_string(),
        }
    }
}

/// `--port` of explain and doctor: `tcp/22`, `udp/53`, `icmp`, `icmpv6`,
/// `gre`; a bare number is refused with the spelling to use.
pub fn parse_flow_service(s: &str) -> Result<(Protocol, Option<u16>), String> {
    if s.parse::<u16>().is_ok() {
        return Err(format!("a port needs its protocol: tcp/{s} or udp/{s}"));
    }
    let (proto, port) = match s.split_once('/') {
        Some((p, port)) => (p, Some(port)),
        None => (s, None),
    };
    let protocol = Protocol::parse(proto)
        .filter(|p| *p != Protocol::All)
        .ok_or_else(|| format!("{proto:?} is not tcp, udp, icmp, icmpv6 or gre"))?;
    match (protocol.takes_ports(), port) {
        (true, Some(port)) => match port.parse::<u16>() {
            Ok(n) if n >= 1 => Ok((protocol, Some(n))),
            _ => Err(format!("{port:?} is not a port from 1 to 65535")),
        },
        (true, None) => Err(format!("{protocol} needs a port: {protocol}/PORT")),
        (false, None) => Ok((protocol, None)),
        (false, Some(_)) => Err(format!("{protocol} takes no port")),
    }
}
