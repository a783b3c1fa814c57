//! `moat emulator`: run the ECS security group API emulator as a server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use moat_emulator::{
    AccessKey, DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_MAX_CONNECTIONS, DEFAULT_RULES_PER_GROUP,
    DEMO_ACCESS_KEY_ID, EmulatorConfig, FaultConfig, OidcProvider,
};

use crate::exit::Exit;

/// Flags of `moat emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on (port 0 picks a free port). Loopback only unless
    /// --allow-non-loopback is given.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Allow listening on an address other than loopback.
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// JSON state file: loaded at start when it exists, rewritten atomically
    /// after every change.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// An accepted key, ID:SECRET or ID:SECRET:SECURITY_TOKEN (an STS key);
    /// repeatable. Default: ALIBABA_CLOUD_ACCESS_KEY_ID and
    /// ALIBABA_CLOUD_ACCESS_KEY_SECRET, else the demo key.
    #[arg(long = "access-key", value_name = "ID:SECRET", value_parser = parse_key)]
    pub access_keys: Vec<AccessKey>,
    /// Rules per security group, ingress and egress together.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RULES_PER_GROUP)]
    pub rules_per_group: usize,
    /// Delay before every API answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,
    /// API calls allowed per second in each region (all actions together);
    /// beyond it calls get the Throttling error.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_qps: u32,
    /// Share of calls answered Throttling at random (0 to 1).
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_rate)]
    pub throttle_rate: f64,
    /// Share of calls answered InternalError (500) or ServiceUnavailable (503).
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_rate)]
    pub error_rate: f64,
    /// Share of calls whose connection is closed without an answer.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_rate)]
    pub drop_rate: f64,
    /// Seed of the fault sequence, for repeatable runs.
    #[arg(long, value_name = "N")]
    pub fault_seed: Option<u64>,
    /// Refuse each STS key as expired after N requests (0: never), so that
    /// clients must fetch new credentials in the middle of a run.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub expire_sts_after: u32,
    /// A RAM role STS lets any accepted key assume (AssumeRole,
    /// AssumeRoleWithOIDC), e.g. acs:ram::1000000000000001:role/moat; repeatable.
    #[arg(long = "role", value_name = "ROLE_ARN", value_parser = parse_role)]
    pub roles: Vec<String>,
    /// An OIDC provider whose tokens AssumeRoleWithOIDC takes, with the `iss`
    /// they must carry; repeatable. Token signatures are not checked.
    #[arg(long = "oidc-provider", value_name = "PROVIDER_ARN=ISSUER", value_parser = parse_provider)]
    pub oidc_providers: Vec<OidcProvider>,
    /// Seconds a connection may stay idle before the emulator closes it.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_IDLE_TIMEOUT_SECS)]
    pub idle_timeout: u64,
    /// Connections open at once; at the cap a new one closes the one idle
    /// longest.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
}

fn parse_role(s: &str) -> Result<String, String> {
    moat_emulator::check_role_arn(s)
        .map(|()| s.to_owned())
        .map_err(|e| e.to_string())
}

fn parse_provider(s: &str) -> Result<OidcProvider, String> {
    OidcProvider::parse_spec(s).map_err(|e| e.to_string())
}

fn parse_key(s: &str) -> Result<AccessKey, String> {
    AccessKey::parse_spec(s).map_err(|e| e.to_string())
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

/// Keys from the flags, else from the environment, else the demo key.
fn accepted_keys(flags: Vec<AccessKey>) -> Vec<AccessKey> {
    if !flags.is_empty() {
        return flags;
    }
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        var("ALIBABA_CLOUD_ACCESS_KEY_ID"),
        var("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
    ) {
        (Some(id), Some(secret)) => {
            let key = AccessKey::new(id, secret);
            vec![match var("ALIBABA_CLOUD_SECURITY_TOKEN") {
                Some(token) => key.with_security_token(token),
                None => key,
            }]
        }
        _ => vec![AccessKey::demo()],
    }
}

pub fn run(args: EmulatorArgs) -> anyhow::Result<Exit> {
    let faults = FaultConfig {
        latency_ms: args.latency_ms,
        max_qps: args.max_qps,
        throttle_rate: args.throttle_rate,
        error_rate: args.error_rate,
        drop_rate: args.drop_rate,
        seed: args.fault_seed,
        sts_key_uses: args.expire_sts_after,
    };
    if faults.validate().is_err() {
        bail!("--throttle-rate, --error-rate and --drop-rate together must not exceed 1");
    }
    if args.rules_per_group == 0 {
        bail!("--rules-per-group must be at least 1");
    }
    if args.idle_timeout == 0 {
        bail!("--idle-timeout must be at least 1 second");
    }
    if args.max_connections == 0 {
        bail!("--max-connections must be at least 1");
    }
    for role in &args.roles {
        tracing::info!(role = %role, "STS role");
    }
    for p in &args.oidc_providers {
        tracing::info!(provider = %p.arn, issuer = %p.issuer, "STS OIDC provider (token signatures are not checked)");
    }
    if !args.listen.ip().is_loopback() && !args.allow_non_loopback {
        bail!(
            "--listen {} is not a loopback address; pass --allow-non-loopback to serve other hosts",
            args.listen
        );
    }
    let keys = accepted_keys(args.access_keys);
    for key in &keys {
        if key.id() == DEMO_ACCESS_KEY_ID {
            tracing::warn!(
                key_id = key.id(),
                "accepting the demo access key (see docs/emulator.md)"
            );
        } else {
            tracing::info!(
                key_id = key.id(),
                sts = key.security_token().is_some(),
                "accepting access key"
            );
        }
    }
    let config = EmulatorConfig {
        listen: args.listen,
        allow_non_loopback: args.allow_non_loopback,
        access_keys: keys,
        rules_per_group: args.rules_per_group,
        faults,
        state_file: args.state,
        roles: args.roles,
        oidc_providers: args.oidc_providers,
        idle_timeout: std::time::Duration::from_secs(args.idle_timeout),
        max_connections: args.max_connections,
        ..EmulatorConfig::default()
    };
    let signals = StopSignals::install().context("catching stop signals")?;
    let handle = moat_emulator::start(config).context("starting the emulator")?;
    // The endpoint is this command's output: scripts that pass port 0 read
    // it to learn where to connect.
    {
        use std::io::Write as _;
        let mut out = crate::output::stdout();
        writeln!(out, "{}", handle.endpoint()).context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
    }
    signals.wait().context("waiting for a stop signal")?;
    tracing::info!("stopping the emulator");
    handle.shutdown();
    Ok(Exit::Ok)
}

/// Ctrl-C and (on Unix) SIGTERM, caught from the moment this is made: a
/// supervisor that stops the emulator right after reading its endpoint line
/// gets a clean stop, not the default of dying by the signal.
struct StopSignals {
    runtime: tokio::runtime::Runtime,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<StopSignals> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let entered = runtime.enter();
            let interrupt = signal(SignalKind::interrupt())?;
            let terminate = signal(SignalKind::terminate())?;
            drop(entered);
            Ok(StopSignals {
                runtime,
                interrupt,
                terminate,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals { runtime })
    }

    /// Blocks until one of the signals arrives.
    fn wait(self) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            let StopSignals {
                runtime,
                mut interrupt,
                mut terminate,
            } = self;
            runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            });
            Ok(())
        }
        #[cfg(not(unix))]
        self.runtime.block_on(tokio::signal::ctrl_c())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("moat").chain(args.iter().copied()))
    }

    #[test]
    fn flags_parse_into_the_emulator_configuration() {
        let cli = parse(&[
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--access-key",
            "id1:secret1",
            "--access-key",
            "STS.id2:secret2:token2",
            "--rules-per-group",
            "50",
            "--max-qps",
            "20",
            "--drop-rate",
            "0.25",
            "--fault-seed",
            "9",
            "--role",
            "acs:ram::1000000000000001:role/moat-readonly",
            "--role",
            "acs:ram::1000000000000001:role/moat-apply",
            "--oidc-provider",
            "acs:ram::1000000000000001:oidc-provider/ci=https://token.ci.example.com",
            "--idle-timeout",
            "5",
            "--max-connections",
            "64",
        ])
        .unwrap();
        let Command::Emulator(args) = cli.command else {
            panic!("not the emulator command");
        };
        assert_eq!(args.access_keys.len(), 2);
        assert_eq!(args.access_keys[1].security_token(), Some("token2"));
        assert_eq!(
            (
                args.rules_per_group,
                args.max_qps,
                args.drop_rate,
                args.fault_seed
            ),
            (50, 20, 0.25, Some(9))
        );
        assert_eq!(args.roles.len(), 2);
        assert_eq!(
            args.oidc_providers[0].issuer,
            "https://token.ci.example.com"
        );
        assert_eq!((args.idle_timeout, args.max_connections), (5, 64));
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (args, flag) in [
            (&["emulator", "--drop-rate", "1.5"][..], "--drop-rate"),
            (&["emulator", "--error-rate", "x"][..], "--error-rate"),
            (
                &["emulator", "--access-key", "nosecret"][..],
                "--access-key",
            ),
            (&["emulator", "--listen", "localhost"][..], "--listen"),
            (&["emulator", "--role", "acs:ram::1:user/x"][..], "--role"),
            (
                &["emulator", "--oidc-provider", "acs:ram::1:oidc-provider/ci"][..],
                "--oidc-provider",
            ),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(flag), "{err}");
        }
    }
}
