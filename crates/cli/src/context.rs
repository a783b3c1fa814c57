//! What commands share: loading policies with their diagnostics printed,
//! today's date, and connecting to the cloud the cloud options name (a
//! region's endpoint, an `--endpoint`, or the embedded local cloud).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use jiff::civil::Date;
use moat_aliyun::{
    AdaptiveRate, Client, ClientConfig, CredentialInputs, CredentialProvider, Credentials,
    Environment, resolve_credentials,
};
use moat_diff::{Plan, PlanAccount};
use moat_emulator::{DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, EmulatorConfig, EmulatorHandle};
use moat_exec::{Reader, Recorder, Session};
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
    loaded_policies(moat_policy::load_policies(paths))
}

/// The policies of a load; on failure prints every diagnostic to stderr
/// and gives the exit code to return.
pub fn loaded_policies(
    loaded: Result<PolicySet, moat_policy::Diagnostics>,
) -> anyhow::Result<Result<PolicySet, Exit>> {
    match loaded {
        Ok(set) => Ok(Ok(set)),
        Err(diags) => Ok(Err(report_diagnostics(&diags)?)),
    }
}

/// Prints every diagnostic of a failed load to stderr; the exit code.
pub fn report_diagnostics(diags: &moat_policy::Diagnostics) -> anyhow::Result<Exit> {
    let mut err = crate::output::stderr();
    moat_policy::render_text(diags.iter(), &mut err).context("writing to stderr")?;
    Ok(Exit::Error)
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

/// A connected client, the clients of the policies' accounts, and the
/// local cloud they talk to when `--local`.
#[derive(Debug)]
pub struct Cloud {
    pub client: Client,
    /// One base client per account of `accounts:` the groups name, by name:
    /// each with the account's credentials, endpoint and limiters.
    accounts: BTreeMap<String, Client>,
    /// Kept alive for as long as the client is used.
    local: Option<EmulatorHandle>,
}

/// Where the groups of a run are, as far as connecting goes: the accounts
/// they name (with the regions of each account's groups) and whether some
/// group is in the account moat is run with.
#[derive(Clone, Debug, Default)]
pub struct Reach {
    pub accounts: Vec<(PlanAccount, Vec<String>)>,
    /// False when every group names an account: the default chain is then
    /// not asked for credentials at all.
    pub default_account: bool,
}

impl Reach {
    /// Only the account moat is run with.
    pub fn default_only() -> Reach {
        Reach {
            accounts: Vec::new(),
            default_account: true,
        }
    }

    /// The accounts of the groups of `set`.
    pub fn of_policies(set: &PolicySet) -> Reach {
        Reach::of(
            set.groups
                .iter()
                .map(|g| (g.account.as_deref(), g.region.as_str())),
            set.accounts.iter().map(PlanAccount::of).collect(),
        )
    }

    /// The accounts of the groups of `plan`.
    pub fn of_plan(plan: &Plan) -> Reach {
        Reach::of(
            plan.groups
                .iter()
                .map(|g| (g.account.as_deref(), g.region.as_str())),
            plan.accounts.clone(),
        )
    }

    fn of<'a>(
        groups: impl Iterator<Item = (Option<&'a str>, &'a str)>,
        known: Vec<PlanAccount>,
    ) -> Reach {
        let mut regions: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut default_account = false;
        let mut any = false;
        for (account, region) in groups {
            any = true;
            match account {
                Some(name) => {
                    let list = regions.entry(name).or_default();
                    if !list.iter().any(|r| r == region) {
                        list.push(region.to_owned());
                    }
                }
                None => default_account = true,
            }
        }
        let accounts = known
            .into_iter()
            .filter_map(|a| {
                let list = regions.get(a.name.as_str())?.clone();
                Some((a, list))
            })
            .collect();
        Reach {
            accounts,
            // With no groups at all (an empty shard), connect as usual.
            default_account: default_account || !any,
        }
    }
}

impl Cloud {
    /// Connects as the cloud options say, for the account moat is run with
    /// only. `region_hint` is the region of the policies when `--region` is
    /// not given; `seed` holds the policies a new local cloud is seeded
    /// from.
    pub async fn connect(
        cloud: &CloudArgs,
        region_hint: Option<&str>,
        seed: Option<&PolicySet>,
    ) -> anyhow::Result<Cloud> {
        Cloud::connect_to(cloud, region_hint, seed, &Reach::default_only()).await
    }

    /// Connects as the cloud options say, and to every account of `reach`
    /// with the credentials of its profile and its endpoint (the cloud
    /// options' `--endpoint` when it names none).
    pub async fn connect_to(
        cloud: &CloudArgs,
        region_hint: Option<&str>,
        seed: Option<&PolicySet>,
        reach: &Reach,
    ) -> anyhow::Result<Cloud> {
        Cloud::connect_with(cloud, region_hint, seed, reach, None, BTreeMap::new()).await
    }

    /// [`Cloud::connect_to`] with some clients already made (while the
    /// policies were loading): `default`, of the account moat is run with
    /// ([`connect_default`]), and `made`, of accounts by name
    /// ([`connect_account`]). Not for `--local`.
    pub async fn connect_with(
        cloud: &CloudArgs,
        region_hint: Option<&str>,
        seed: Option<&PolicySet>,
        reach: &Reach,
        default: Option<Client>,
        mut made: BTreeMap<String, Client>,
    ) -> anyhow::Result<Cloud> {
        if cloud.local {
            let mut local = Cloud::local(cloud, region_hint, seed)?;
            for (account, regions) in &reach.accounts {
                let region = regions
                    .first()
                    .map_or(local.client.region(), String::as_str);
                let client = local.client.for_region(region).with_context(|| {
                    format!("account {}: cannot set up the API client", account.name)
                })?;
                local.accounts.insert(account.name.clone(), client);
            }
            return Ok(local);
        }
        let env: Environment = std::env::vars().collect();
        let mut accounts = BTreeMap::new();
        for (account, regions) in &reach.accounts {
            let client = match made.remove(&account.name) {
                Some(client) => client,
                None => connect_account(cloud, &env, account, regions).await?,
            };
            accounts.insert(account.name.clone(), client);
        }
        let client = match (default, accounts.values().next()) {
            (Some(client), _) => client,
            // Every group names an account: nothing needs the default chain.
            (None, Some(first)) if !reach.default_account => first.clone(),
            (None, _) => connect_default(cloud, &env, region_hint).await?,
        };
        Ok(Cloud {
            client,
            accounts,
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
        if cloud.vpc_endpoint.is_some() {
            bail!("--local and --vpc-endpoint cannot be used together");
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
                let groups = crate::local::seed_groups(set);
                let count = groups.len();
                handle
                    .emulator()
                    .seed_groups(groups)
                    .context("cannot seed the local cloud")?;
                // Instances around the groups, for `moat doctor --local`.
                let mut state = handle.emulator().snapshot();
                state.network = crate::local_network::demo_network(set);
                handle
                    .emulator()
                    .replace_state(&state)
                    .context("cannot seed the local cloud's instances")?;
                let mut err = crate::output::stderr();
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
            accounts: BTreeMap::new(),
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
        self.reader_with(&Recorder::new())
    }

    /// A reader recorded by `recorder` (the run's counts and journal), with
    /// the clients of the accounts.
    pub fn reader_with(&self, recorder: &Recorder) -> Reader {
        recorder.reader(self.client.read_only()).with_accounts(
            self.accounts
                .iter()
                .map(|(n, c)| (n.clone(), c.read_only()))
                .collect(),
        )
    }

    /// A session for apply, recorded by `recorder` (its journal open).
    pub fn session_with(&self, recorder: &Recorder) -> Session {
        recorder
            .session(self.client.clone())
            .with_accounts(self.accounts.clone())
    }
}

/// The credential inputs of the cloud options.
fn inputs_of(cloud: &CloudArgs, env: &Environment) -> CredentialInputs {
    let mut inputs = CredentialInputs::new(env.clone(), std::env::home_dir());
    inputs.access_key_id.clone_from(&cloud.access_key_id);
    inputs
        .access_key_secret
        .clone_from(&cloud.access_key_secret);
    inputs.profile.clone_from(&cloud.profile);
    inputs.sts_endpoint.clone_from(&cloud.sts_endpoint);
    inputs.endpoint.clone_from(&cloud.endpoint);
    inputs.insecure_http = cloud.insecure_http;
    inputs.signature_version = cloud.signature_version;
    inputs
}

/// A client of the account moat is run with: the credential chain of the
/// cloud options.
pub async fn connect_default(
    cloud: &CloudArgs,
    env: &Environment,
    region_hint: Option<&str>,
) -> anyhow::Result<Client> {
    let found = resolve_credentials(&inputs_of(cloud, env))
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
    client_of(cloud, region, found.provider, cloud.endpoint.clone())
}

/// A client of one account of `accounts:`: the credentials of its profile
/// (whatever the flags and the environment say about keys and profiles),
/// its endpoint or else `--endpoint`, and limiters of its own.
pub async fn connect_account(
    cloud: &CloudArgs,
    env: &Environment,
    account: &PlanAccount,
    regions: &[String],
) -> anyhow::Result<Client> {
    let mut inputs = inputs_of(cloud, env);
    inputs.access_key_id = None;
    inputs.access_key_secret = None;
    inputs.profile = Some(account.profile.clone());
    let endpoint = account.endpoint.clone().or_else(|| cloud.endpoint.clone());
    inputs.endpoint.clone_from(&endpoint);
    let found = resolve_credentials(&inputs).await.with_context(|| {
        format!(
            "account {} (profile {:?}): cannot authenticate",
            account.name, account.profile
        )
    })?;
    tracing::info!(account = %account.name, source = %found.source, "credentials found");
    let Some(region) = regions.first().cloned() else {
        bail!("account {} has no groups", account.name);
    };
    client_of(cloud, region, found.provider, endpoint)
        .with_context(|| format!("account {}", account.name))
}

fn client_of(
    cloud: &CloudArgs,
    region: String,
    provider: CredentialProvider,
    endpoint: Option<String>,
) -> anyhow::Result<Client> {
    let mut config = ClientConfig::new(region, provider);
    config.endpoint = endpoint;
    config.vpc_endpoint.clone_from(&cloud.vpc_endpoint);
    config.insecure_http = cloud.insecure_http;
    config.signature_version = cloud.signature_version;
    pace(&mut config, cloud, false);
    config.timeout = Duration::from_secs(cloud.timeout);
    Client::new(&config).context("cannot set up the API client")
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
