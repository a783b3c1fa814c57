//! What commands share: loading policies with their diagnostics printed,
//! today's date, and connecting to the cloud the cloud options name (a
//! region's endpoint, an `--endpoint`, or the embedded local cloud).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use jiff::civil::Date;
use moat_aliyun::{
    AdaptiveRate, Client, ClientConfig, CredentialInputs, CredentialProvider, Credentials,
    Environment, resolve_credentials,
};
use moat_emulator::{DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, EmulatorConfig, EmulatorHandle};
use moat_exec::{Reader, Session, SessionOptions};
use moat_policy::PolicySet;

use crate::args::CloudArgs;
use crate::exit::{Exit, Hinted};

/// Where `--local` keeps the local cloud, relative to the working directory.
pub const LOCAL_STATE: &str = ".moat/local-cloud.json";
/// The policies `--local` seeds a new local cloud from when the command has
/// none of its own (`moat export --local`).
const DEFAULT_POLICIES: &str = "policies";
/// The id seed of a new local cloud.
const LOCAL_ID_SEED: u64 = 0x6d6f_6174;
/// How calls are paced: `--max-rps N` alone is a fixed rate of N calls a
/// second (as in earlier versions); without it the rate adapts to the
/// quota of each region, and `--adaptive-rate` with `--max-rps N` caps the
/// adaptive rate at N. The local cloud has no quota, so it has no limit
/// unless a flag asks for one.
fn pace(config: &mut ClientConfig, cloud: &CloudArgs, local: bool) {
    config.max_rps = cloud.max_rps;
    config.adaptive =
        (cloud.adaptive_rate || (cloud.max_rps.is_none() && !local)).then(AdaptiveRate::default);
}

/// Loads policies; on failure prints every diagnostic to stderr and gives
/// the exit code to return.
pub fn load_policies(paths: &[PathBuf]) -> anyhow::Result<Result<PolicySet, Exit>> {
    match moat_policy::load_policies(paths) {
        Ok(set) => Ok(Ok(set)),
        Err(diags) => {
            let mut err = std::io::stderr().lock();
            moat_policy::render_text(diags.iter(), &mut err).context("writing to stderr")?;
            Ok(Err(Exit::Error))
        }
    }
}

/// Today in UTC, or the day `MOAT_TODAY` (YYYY-MM-DD) names, so expiry is
/// reproducible in tests and in a pipeline that pins it.
pub fn today() -> anyhow::Result<Date> {
    match std::env::var("MOAT_TODAY") {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse::<Date>()
            .with_context(|| format!("MOAT_TODAY={text:?} is not a date (YYYY-MM-DD)")),
        _ => Ok(jiff::tz::Offset::UTC
            .to_datetime(jiff::Timestamp::now())
            .date()),
    }
}

/// A connected client, and the local cloud it talks to when `--local`.
#[derive(Debug)]
pub struct Cloud {
    pub client: Client,
    /// Kept alive for as long as the client is used.
    local: Option<EmulatorHandle>,
}

impl Cloud {
    /// Connects as the cloud options say. `region_hint` is the region of the
    /// policies when `--region` is not given; `seed` holds the policies a
    /// new local cloud is seeded from.
    pub async fn connect(
        cloud: &CloudArgs,
        region_hint: Option<&str>,
        seed: Option<&PolicySet>,
    ) -> anyhow::Result<Cloud> {
        if cloud.local {
            return Cloud::local(cloud, region_hint, seed);
        }
        let env: Environment = std::env::vars().collect();
        let mut inputs = CredentialInputs::new(env, std::env::home_dir());
        inputs.access_key_id.clone_from(&cloud.access_key_id);
        inputs
            .access_key_secret
            .clone_from(&cloud.access_key_secret);
        inputs.profile.clone_from(&cloud.profile);
        inputs.sts_endpoint.clone_from(&cloud.sts_endpoint);
        inputs.endpoint.clone_from(&cloud.endpoint);
        inputs.insecure_http = cloud.insecure_http;
        inputs.signature_version = cloud.signature_version;
        let found = resolve_credentials(&inputs)
            .await
            .context("cannot authenticate")?;
        tracing::info!(source = %found.source, "credentials found");
        let region = cloud
            .region
            .as_deref()
            .or(region_hint)
            .or(found.region.as_deref())
            .map(str::to_owned);
        let Some(region) = region else {
            return Err(Hinted::new(
                "no region: the policies name none",
                "pass --region (or set ALIBABA_CLOUD_REGION_ID)",
            )
            .into());
        };
        let mut config = ClientConfig::new(region, found.provider);
        config.endpoint.clone_from(&cloud.endpoint);
        config.insecure_http = cloud.insecure_http;
        config.signature_version = cloud.signature_version;
        pace(&mut config, cloud, false);
        config.timeout = Duration::from_secs(cloud.timeout);
        let client = Client::new(&config).context("cannot set up the API client")?;
        Ok(Cloud {
            client,
            local: None,
        })
    }

    fn local(
        cloud: &CloudArgs,
        region_hint: Option<&str>,
        seed: Option<&PolicySet>,
    ) -> anyhow::Result<Cloud> {
        if cloud.endpoint.is_some() {
            bail!("--local and --endpoint cannot be used together");
        }
        let state = Path::new(LOCAL_STATE);
        if let Some(dir) = state.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        // A new local cloud gets the same ids on every machine, so its first
        // plan reads the same everywhere; a cloud loaded from its state keeps
        // its ids and draws new ones at random.
        let id_seed = (!state.exists()).then_some(LOCAL_ID_SEED);
        let handle = moat_emulator::start(EmulatorConfig {
            state_file: Some(state.to_path_buf()),
            id_seed,
            ..EmulatorConfig::default()
        })
        .with_context(|| format!("cannot start the local cloud with state {LOCAL_STATE}"))?;
        if handle.emulator().is_empty() {
            let loaded;
            let seed = match seed {
                Some(set) => Some(set),
                None if Path::new(DEFAULT_POLICIES).is_dir() => {
                    loaded = moat_policy::load_policies(&[PathBuf::from(DEFAULT_POLICIES)]).ok();
                    loaded.as_ref()
                }
                None => None,
            };
            if let Some(set) = seed {
                let groups = crate::local::demo_groups(set);
                let count = groups.len();
                handle
                    .emulator()
                    .seed_groups(groups)
                    .context("cannot seed the local cloud")?;
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "note: created a local cloud in {LOCAL_STATE} with {count} demo groups whose rules differ from the policies (delete the file to start over)"
                );
            }
        }
        let region = cloud
            .region
            .as_deref()
            .or(region_hint)
            .unwrap_or(crate::local::LOCAL_REGION);
        let credentials = Credentials::access_key(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET);
        let mut config = ClientConfig::new(region, CredentialProvider::fixed(credentials));
        config.endpoint = Some(handle.endpoint());
        config.signature_version = cloud.signature_version;
        pace(&mut config, cloud, true);
        config.timeout = Duration::from_secs(cloud.timeout);
        let client = Client::new(&config).context("cannot set up the API client")?;
        tracing::info!(endpoint = %handle.endpoint(), "local cloud");
        Ok(Cloud {
            client,
            local: Some(handle),
        })
    }

    /// True when this is the embedded local cloud.
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// A reader: plan, drift, export and explain hold nothing that can
    /// change a group.
    pub fn reader(&self) -> Reader {
        Reader::new(self.client.read_only())
    }

    /// A session for apply, with its journal open.
    pub fn session(&self, options: SessionOptions<'_>) -> anyhow::Result<Session> {
        Ok(Session::open(self.client.clone(), options)?)
    }
}

/// A multi-threaded runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;
    use moat_aliyun::RateMode;

    use super::*;
    use crate::cli::{Cli, Command};

    fn mode(flags: &[&str], local: bool) -> RateMode {
        let cli = Cli::try_parse_from(["moat", "plan", "p.yaml"].iter().chain(flags))
            .expect("valid flags");
        let Command::Plan(plan) = cli.command else {
            panic!("parsed as plan")
        };
        let mut config =
            ClientConfig::with_credentials("cn-hangzhou", Credentials::access_key("id", "secret"));
        pace(&mut config, &plan.cloud, local);
        config.rate_mode()
    }

    #[test]
    fn max_rps_alone_is_a_fixed_rate_and_a_cap_with_adaptive_rate() {
        let adaptive = AdaptiveRate::default();
        assert_eq!(mode(&[], false), RateMode::Adaptive(adaptive.clone()));
        assert_eq!(
            mode(&["--max-rps", "25"], false),
            RateMode::Fixed {
                per_second: 25.0,
                burst: 1
            }
        );
        assert_eq!(
            mode(&["--max-rps", "25", "--adaptive-rate"], false),
            RateMode::Adaptive(AdaptiveRate {
                cap: Some(25.0),
                ..adaptive.clone()
            })
        );
        // The local cloud has no quota to find.
        assert_eq!(mode(&[], true), RateMode::Unlimited);
        assert_eq!(
            mode(&["--adaptive-rate"], true),
            RateMode::Adaptive(adaptive)
        );
    }
}
