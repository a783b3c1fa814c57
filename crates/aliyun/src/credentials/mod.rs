//! Credentials: what they are, where they come from, and how they stay
//! fresh.
//!
//! The chain follows the product design (section 8), the reference (6.1 to
//! 6.3) and the official credentials libraries' order, first found wins:
//! values given on the command line (access keys, or an explicit
//! `--profile`, which names the profile to use and so outranks the
//! environment); the `ALIBABA_CLOUD_ACCESS_KEY_*` environment variables; the
//! OIDC environment variables (`ALIBABA_CLOUD_ROLE_ARN`,
//! `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`, `ALIBABA_CLOUD_OIDC_TOKEN_FILE`); the
//! current profile of the aliyun CLI config file (every mode but the
//! interactive ones); the RAM role of the ECS instance, read from the
//! metadata service; `ALIBABA_CLOUD_CREDENTIALS_URI`. When none is found
//! the error lists what was tried and why each source gave nothing.
//!
//! Temporary credentials (a RAM role of the instance, an assumed role, an
//! OIDC exchange, an external command or URI that says when they expire)
//! are cached in memory and fetched again before they expire; a call the
//! service refuses with an expired token makes the client fetch them at
//! once and try again.
//!
//! Nothing here reads the process environment or the home directory: the
//! caller passes a snapshot of both in [`CredentialInputs`], so tests are
//! hermetic and a library user decides what the process exposes.

mod answer;
mod config_file;
mod external;
mod metadata;
mod sts;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use external::{ExternalError, split_command};
pub use metadata::{DEFAULT_METADATA_BASE_URL, MetadataError};
pub use sts::{
    DEFAULT_DURATION_SECS, DEFAULT_STS_ENDPOINT, MIN_DURATION_SECS, RoleRequest, STS_VERSION,
    StsError,
};

use crate::endpoint::resolve_endpoint;
use crate::error::ConfigError;
use crate::request::SignatureVersion;
use crate::secret::Secret;
use crate::sign::percent_encode;

/// Environment variables the chain reads (reference 6.1).
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
pub const ENV_PROFILE: &str = "ALIBABA_CLOUD_PROFILE";
pub const ENV_CLI_PROFILE_DISABLED: &str = "ALIBABA_CLOUD_CLI_PROFILE_DISABLED";
pub const ENV_IGNORE_PROFILE: &str = "ALIBABA_CLOUD_IGNORE_PROFILE";
pub const ENV_ECS_METADATA: &str = "ALIBABA_CLOUD_ECS_METADATA";
pub const ENV_ECS_METADATA_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED";
pub const ENV_IMDSV1_DISABLED: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";
pub const ENV_ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
pub const ENV_ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
pub const ENV_OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
pub const ENV_OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
pub const ENV_CREDENTIALS_URI: &str = "ALIBABA_CLOUD_CREDENTIALS_URI";
pub const ENV_STS_REGION: &str = "ALIBABA_CLOUD_STS_REGION";
pub const ENV_VPC_ENDPOINT_ENABLED: &str = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED";

/// Temporary credentials are refreshed this long before they expire, as the
/// official Python credentials library does, but never before half their
/// lifetime has passed (a 15-minute session would otherwise be fetched
/// again for every call).
const REFRESH_MARGIN: Duration = Duration::from_secs(15 * 60);

/// An access key pair, with the STS token when the pair is temporary.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    access_key_secret: Secret,
    security_token: Option<Secret>,
    expiration: Option<jiff::Timestamp>,
}

impl Credentials {
    /// A long-lived access key pair.
    pub fn access_key(id: impl Into<String>, secret: impl Into<Secret>) -> Credentials {
        Credentials {
            access_key_id: id.into(),
            access_key_secret: secret.into(),
            security_token: None,
            expiration: None,
        }
    }

    /// Temporary (STS) credentials: the token is sent as `SecurityToken`.
    pub fn sts(
        id: impl Into<String>,
        secret: impl Into<Secret>,
        token: impl Into<Secret>,
    ) -> Credentials {
        Credentials {
            security_token: Some(token.into()),
            ..Credentials::access_key(id, secret)
        }
    }

    pub fn with_expiration(mut self, expiration: jiff::Timestamp) -> Credentials {
        self.expiration = Some(expiration);
        self
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn access_key_secret(&self) -> &Secret {
        &self.access_key_secret
    }

    pub fn security_token(&self) -> Option<&Secret> {
        self.security_token.as_ref()
    }

    pub fn expiration(&self) -> Option<jiff::Timestamp> {
        self.expiration
    }

    /// Replaces every occurrence of the secret or the token in `text`, raw or
    /// percent-encoded once or twice, by `<redacted>`. The service echoes the
    /// string-to-sign in `SignatureDoesNotMatch` messages, and that string
    /// holds the STS token twice encoded; error messages pass through here
    /// before they are stored.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        let secrets = std::iter::once(&self.access_key_secret).chain(self.security_token.as_ref());
        for secret in secrets {
            let raw = secret.expose();
            if raw.is_empty() {
                continue;
            }
            let once = percent_encode(raw);
            let twice = percent_encode(&once);
            for form in [twice, once, raw.to_owned()] {
                if out.contains(&form) {
                    out = out.replace(&form, "<redacted>");
                }
            }
        }
        out
    }

    /// When credentials fetched at `fetched` are due to be fetched again:
    /// [`REFRESH_MARGIN`] before they expire, but not before half their
    /// lifetime; `None` when they do not expire.
    fn refresh_at(&self, fetched: jiff::Timestamp) -> Option<jiff::Timestamp> {
        let exp = self.expiration?;
        let margin = jiff::SignedDuration::try_from(REFRESH_MARGIN).unwrap_or_default();
        let early = exp.saturating_sub(margin).unwrap_or(exp);
        let lifetime = exp.duration_since(fetched);
        let half = fetched.saturating_add(lifetime / 2).unwrap_or(exp);
        Some(early.max(half))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &self.access_key_secret)
            .field("security_token", &self.security_token)
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// A snapshot of environment variables, taken by the caller. Its `Debug`
/// lists only the names, since values include secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Environment(BTreeMap<String, String>);

impl Environment {
    pub fn new() -> Environment {
        Environment::default()
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Environment {
        self.0.insert(name.into(), value.into());
        self
    }

    /// The value of `name`, treating an empty value as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// True when `name` is set to `true` in any letter case.
    pub fn is_true(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Environment {
        Environment(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Everything the chain may look at, gathered by the caller (the CLI).
#[derive(Clone, Debug)]
pub struct CredentialInputs {
    /// `--access-key-id` and friends, when given.
    pub access_key_id: Option<String>,
    pub access_key_secret: Option<Secret>,
    pub security_token: Option<Secret>,
    /// `--profile`, when given.
    pub profile: Option<String>,
    pub env: Environment,
    /// The home directory holding `.aliyun/config.json`.
    pub home: Option<PathBuf>,
    /// Base URL of the ECS metadata service; tests point it at loopback.
    pub metadata_base_url: String,
    /// Bound on each metadata request, kept short because off ECS the
    /// address answers nothing and the chain must end quickly.
    pub metadata_timeout: Duration,
    /// `--sts-endpoint`: where STS calls go.
    pub sts_endpoint: Option<String>,
    /// `--endpoint`: STS calls go there too when `sts_endpoint` is not
    /// given, so one emulator serves a whole run.
    pub endpoint: Option<String>,
    /// `--insecure-http`, for the STS endpoint as for the API's.
    pub insecure_http: bool,
    /// The signature of signed STS calls (`AssumeRole`).
    pub signature_version: SignatureVersion,
    /// Bound on each STS call.
    pub sts_timeout: Duration,
}

impl CredentialInputs {
    pub fn new(env: Environment, home: Option<PathBuf>) -> CredentialInputs {
        CredentialInputs {
            access_key_id: None,
            access_key_secret: None,
            security_token: None,
            profile: None,
            env,
            home,
            metadata_base_url: DEFAULT_METADATA_BASE_URL.to_owned(),
            metadata_timeout: Duration::from_secs(2),
            sts_endpoint: None,
            endpoint: None,
            insecure_http: false,
            signature_version: SignatureVersion::default(),
            sts_timeout: Duration::from_secs(10),
        }
    }
}

/// Where credentials were found, for a log line or a status message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    Flags,
    Environment,
    Profile {
        path: PathBuf,
        profile: String,
    },
    /// A profile of a mode that fetches temporary credentials (`RamRoleArn`,
    /// `ChainableRamRoleArn`, `OIDC`, `External`, `CredentialsURI`);
    /// `detail` names the role, source profile or command.
    ProfileMode {
        path: PathBuf,
        profile: String,
        mode: &'static str,
        detail: String,
    },
    /// `ALIBABA_CLOUD_ROLE_ARN` and the OIDC variables.
    OidcEnvironment {
        role_arn: String,
        provider_arn: String,
    },
    EcsRamRole {
        role: String,
    },
    /// `ALIBABA_CLOUD_CREDENTIALS_URI` (shown without its query, which may
    /// hold a token).
    CredentialsUri {
        url: String,
    },
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Flags => f.write_str("command-line flags"),
            CredentialSource::Environment => {
                write!(f, "environment ({ENV_ACCESS_KEY_ID})")
            }
            CredentialSource::Profile { path, profile } => {
                write!(f, "profile {profile:?} of {}", path.display())
            }
            CredentialSource::ProfileMode {
                path,
                profile,
                mode,
                detail,
            } => write!(
                f,
                "profile {profile:?} of {} (mode {mode}: {detail})",
                path.display()
            ),
            CredentialSource::OidcEnvironment {
                role_arn,
                provider_arn,
            } => write!(
                f,
                "OIDC environment ({ENV_ROLE_ARN} {role_arn}, provider {provider_arn})"
            ),
            CredentialSource::EcsRamRole { role } => {
                write!(f, "RAM role {role:?} of the ECS instance")
            }
            CredentialSource::CredentialsUri { url } => {
                write!(f, "{ENV_CREDENTIALS_URI} {url}")
            }
        }
    }
}

/// One source the chain looked at without finding credentials, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tried {
    pub source: String,
    pub outcome: String,
}

impl fmt::Display for Tried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.outcome)
    }
}

/// Why credentials could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("no credentials found; tried {}", list(.tried))]
    NotFound { tried: Vec<Tried> },
    #[error("{source_name} give {given} but not {missing}")]
    Incomplete {
        source_name: &'static str,
        given: &'static str,
        missing: &'static str,
    },
    #[error("cannot read {}", path.display())]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid aliyun CLI config file", path.display())]
    ConfigParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("profile {profile:?} was asked for, but {why}")]
    ProfileUnavailable { profile: String, why: String },
    #[error("profile {profile:?} is not in {} (profiles: {})", path.display(), available.join(", "))]
    ProfileNotFound {
        path: PathBuf,
        profile: String,
        available: Vec<String>,
    },
    #[error("profile {profile:?} of {} uses mode {mode:?}; moat supports AK, StsToken, EcsRamRole, RamRoleArn, ChainableRamRoleArn, OIDC, External and CredentialsURI", path.display())]
    UnsupportedMode {
        path: PathBuf,
        profile: String,
        mode: String,
    },
    #[error("profile {profile:?} of {} (mode {mode}) has no {missing}", path.display())]
    ProfileIncomplete {
        path: PathBuf,
        profile: String,
        mode: &'static str,
        missing: &'static str,
    },
    #[error("cannot get the RAM role credentials of the ECS instance")]
    Metadata(#[source] MetadataError),
    #[error("the source_profile chain of {} loops or is too long: {}", path.display(), chain.join(" -> "))]
    ProfileChain { path: PathBuf, chain: Vec<String> },
    #[error("{} is set but {} not; the OIDC credentials need all three", given.join(" and "), missing.join(" and "))]
    OidcIncomplete {
        given: Vec<&'static str>,
        missing: Vec<&'static str>,
    },
    #[error("cannot read the OIDC token file {}", path.display())]
    OidcTokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the OIDC token file {} is empty", path.display())]
    OidcTokenEmpty { path: PathBuf },
    #[error("DurationSeconds {value} is shorter than STS allows ({MIN_DURATION_SECS} s)")]
    Duration { value: u64 },
    #[error("bad STS endpoint")]
    StsEndpoint(#[source] ConfigError),
    #[error("cannot assume role {role_arn}")]
    AssumeRole {
        role_arn: String,
        #[source]
        source: StsError,
    },
    #[error("cannot get the credentials of the source of role {role_arn}")]
    Source {
        role_arn: String,
        #[source]
        source: Box<CredentialError>,
    },
    #[error("cannot get credentials from {what}")]
    External {
        what: String,
        #[source]
        source: ExternalError,
    },
}

fn list(tried: &[Tried]) -> String {
    tried
        .iter()
        .map(Tried::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Found credentials, their source, and the region the profile names (the
/// CLI may use it when `--region` is not given).
#[derive(Clone, Debug)]
pub struct ResolvedCredentials {
    pub provider: CredentialProvider,
    pub source: CredentialSource,
    pub region: Option<String>,
}

/// Hands out current credentials to each request: fixed ones as they are,
/// temporary ones cached and fetched again before they expire. Cheap to
/// clone; clones share one cache.
#[derive(Clone, Debug)]
pub struct CredentialProvider(ProviderKind);

#[derive(Clone, Debug)]
enum ProviderKind {
    Fixed(Arc<Credentials>),
    Refreshing(Arc<Refreshing>),
}

#[derive(Debug)]
struct Refreshing {
    fetch: Fetch,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

#[derive(Debug)]
struct Cached {
    credentials: Arc<Credentials>,
    refresh_at: Option<jiff::Timestamp>,
}

/// How temporary credentials are fetched.
#[derive(Debug)]
enum Fetch {
    EcsRamRole {
        metadata: metadata::MetadataClient,
        role: String,
    },
    AssumeRole {
        sts: sts::StsClient,
        source: CredentialProvider,
        role: RoleRequest,
    },
    Oidc {
        sts: sts::StsClient,
        provider_arn: String,
        token_file: PathBuf,
        role: RoleRequest,
    },
    External {
        command: String,
    },
    Uri {
        url: String,
    },
}

impl Fetch {
    async fn fetch(&self) -> Result<Credentials, CredentialError> {
        match self {
            Fetch::EcsRamRole { metadata, role } => metadata
                .role_credentials(role)
                .await
                .map_err(CredentialError::Metadata),
            Fetch::AssumeRole { sts, source, role } => {
                let source_credentials =
                    Box::pin(source.current())
                        .await
                        .map_err(|e| CredentialError::Source {
                            role_arn: role.role_arn.clone(),
                            source: Box::new(e),
                        })?;
                sts.assume_role(&source_credentials, role)
                    .await
                    .map_err(|source| CredentialError::AssumeRole {
                        role_arn: role.role_arn.clone(),
                        source,
                    })
            }
            Fetch::Oidc {
                sts,
                provider_arn,
                token_file,
                role,
            } => {
                // Read for every exchange: the platform rotates the file.
                let token = read_token(token_file).await?;
                sts.assume_role_with_oidc(provider_arn, &token, role)
                    .await
                    .map_err(|source| CredentialError::AssumeRole {
                        role_arn: role.role_arn.clone(),
                        source,
                    })
            }
            Fetch::External { command } => {
                external::run_process(command)
                    .await
                    .map_err(|source| CredentialError::External {
                        what: "process_command".to_owned(),
                        source,
                    })
            }
            Fetch::Uri { url } => {
                external::fetch_uri(url)
                    .await
                    .map_err(|source| CredentialError::External {
                        what: "the credentials URI".to_owned(),
                        source,
                    })
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Fetch::EcsRamRole { role, .. } => format!("RAM role {role} of the instance"),
            Fetch::AssumeRole { role, .. } => format!("AssumeRole {}", role.role_arn),
            Fetch::Oidc { role, .. } => format!("AssumeRoleWithOIDC {}", role.role_arn),
            Fetch::External { .. } => "process_command".to_owned(),
            Fetch::Uri { .. } => "credentials URI".to_owned(),
        }
    }
}

async fn read_token(path: &std::path::Path) -> Result<Secret, CredentialError> {
    let text =
        tokio::fs::read_to_string(path)
            .await
            .map_err(|source| CredentialError::OidcTokenFile {
                path: path.to_owned(),
                source,
            })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CredentialError::OidcTokenEmpty {
            path: path.to_owned(),
        });
    }
    Ok(Secret::new(token))
}

impl CredentialProvider {
    pub fn fixed(credentials: Credentials) -> CredentialProvider {
        CredentialProvider(ProviderKind::Fixed(Arc::new(credentials)))
    }

    fn refreshing(fetch: Fetch) -> CredentialProvider {
        CredentialProvider(ProviderKind::Refreshing(Arc::new(Refreshing {
            fetch,
            cached: tokio::sync::Mutex::new(None),
        })))
    }

    /// Credentials good for the next request.
    pub async fn current(&self) -> Result<Arc<Credentials>, CredentialError> {
        match &self.0 {
            ProviderKind::Fixed(c) => Ok(Arc::clone(c)),
            ProviderKind::Refreshing(p) => {
                // One fetch at a time: concurrent callers wait for it and
                // then reuse its result instead of each asking the service.
                let mut cached = p.cached.lock().await;
                let now = jiff::Timestamp::now();
                if let Some(c) = cached
                    .as_ref()
                    .filter(|c| c.refresh_at.is_none_or(|t| now < t))
                {
                    return Ok(Arc::clone(&c.credentials));
                }
                tracing::debug!(source = %p.fetch.describe(), "fetching temporary credentials");
                let fresh = Arc::new(p.fetch.fetch().await?);
                *cached = Some(Cached {
                    refresh_at: fresh.refresh_at(now),
                    credentials: Arc::clone(&fresh),
                });
                Ok(fresh)
            }
        }
    }

    /// True when the credentials are temporary ones this provider can fetch
    /// again.
    pub fn can_refresh(&self) -> bool {
        matches!(self.0, ProviderKind::Refreshing(_))
    }

    /// Forgets `stale` (credentials the service refused as expired) so that
    /// the next [`CredentialProvider::current`] fetches new ones. Credentials
    /// another caller has fetched since are kept.
    pub async fn invalidate(&self, stale: &Credentials) {
        if let ProviderKind::Refreshing(p) = &self.0 {
            let mut cached = p.cached.lock().await;
            if cached
                .as_ref()
                .is_some_and(|c| c.credentials.access_key_id() == stale.access_key_id())
            {
                tracing::info!(source = %p.fetch.describe(), "temporary credentials refused as expired; fetching new ones");
                *cached = None;
            }
            // A chained role's source may be what expired; it refreshes on
            // its own schedule, and a refused AssumeRole says so.
        }
    }
}

/// Runs the chain and returns the first credentials found.
pub async fn resolve_credentials(
    inputs: &CredentialInputs,
) -> Result<ResolvedCredentials, CredentialError> {
    let mut tried = Vec::new();
    let env = &inputs.env;

    // 1. Access keys given as flags.
    if let Some(credentials) = pair(
        "flags",
        inputs.access_key_id.as_deref(),
        inputs.access_key_secret.clone(),
        inputs.security_token.clone(),
    )? {
        return Ok(found(credentials, CredentialSource::Flags, None));
    }
    tried.push(tried_entry("flags", "no access key given"));

    // 2. An explicit --profile names the identity to use, so it is honoured
    // before the environment could silently substitute another account.
    if let Some(profile) = inputs.profile.as_deref() {
        let Some(path) = config_path(inputs) else {
            return Err(CredentialError::ProfileUnavailable {
                profile: profile.to_owned(),
                why: "no home directory is known".to_owned(),
            });
        };
        return match config_file::load(&path, Some(profile), env)? {
            config_file::Loaded::Profile(p) => from_profile(inputs, path, *p).await,
            config_file::Loaded::Skipped(why) => Err(CredentialError::ProfileUnavailable {
                profile: profile.to_owned(),
                why: format!("{}: {why}", path.display()),
            }),
        };
    }

    // 3. The environment.
    if let Some(credentials) = pair(
        "environment variables",
        env.get(ENV_ACCESS_KEY_ID),
        env.get(ENV_ACCESS_KEY_SECRET).map(Secret::from),
        env.get(ENV_SECURITY_TOKEN).map(Secret::from),
    )? {
        return Ok(found(credentials, CredentialSource::Environment, None));
    }
    tried.push(tried_entry(
        "environment",
        format!("{ENV_ACCESS_KEY_ID} not set"),
    ));

    // 4. OIDC from the environment: all three variables, or none.
    let oidc = [ENV_ROLE_ARN, ENV_OIDC_PROVIDER_ARN, ENV_OIDC_TOKEN_FILE];
    let (given, missing): (Vec<&'static str>, Vec<&'static str>) =
        oidc.iter().partition(|name| env.get(name).is_some());
    match (
        env.get(ENV_ROLE_ARN),
        env.get(ENV_OIDC_PROVIDER_ARN),
        env.get(ENV_OIDC_TOKEN_FILE),
    ) {
        (Some(role_arn), Some(provider_arn), Some(token_file)) => {
            let role = role_request(inputs, role_arn, None, None, None, None)?;
            let fetch = Fetch::Oidc {
                sts: sts_client(inputs, None)?,
                provider_arn: provider_arn.to_owned(),
                token_file: PathBuf::from(token_file),
                role,
            };
            let source = CredentialSource::OidcEnvironment {
                role_arn: role_arn.to_owned(),
                provider_arn: provider_arn.to_owned(),
            };
            return fetched(fetch, source, None).await;
        }
        _ if !given.is_empty() => {
            return Err(CredentialError::OidcIncomplete { given, missing });
        }
        _ => tried.push(tried_entry(
            "OIDC environment",
            format!("{ENV_ROLE_ARN} not set"),
        )),
    }

    // 5. The aliyun CLI config file.
    let disabled = [ENV_CLI_PROFILE_DISABLED, ENV_IGNORE_PROFILE]
        .into_iter()
        .find(|name| env.is_true(name));
    match (disabled, config_path(inputs)) {
        (Some(name), _) => tried.push(tried_entry(
            "aliyun CLI config",
            format!("disabled by {name}"),
        )),
        (None, None) => tried.push(tried_entry("aliyun CLI config", "no home directory given")),
        (None, Some(path)) => match config_file::load(&path, None, env)? {
            config_file::Loaded::Profile(p) => return from_profile(inputs, path, *p).await,
            config_file::Loaded::Skipped(why) => {
                tried.push(tried_entry(
                    format!("aliyun CLI config {}", path.display()),
                    why,
                ));
            }
        },
    }

    // 6. The RAM role of the ECS instance.
    if env.is_true(ENV_ECS_METADATA_DISABLED) {
        tried.push(tried_entry(
            "ECS instance RAM role",
            format!("disabled by {ENV_ECS_METADATA_DISABLED}"),
        ));
    } else {
        let client = metadata_client(inputs)?;
        let role = env.get(ENV_ECS_METADATA).map(str::to_owned);
        match ram_role(client, role).await {
            Ok(resolved) => return Ok(resolved),
            Err(MetadataError::Unreachable { url, source }) => {
                tried.push(tried_entry(
                    "ECS instance RAM role",
                    format!(
                        "metadata service {url} unreachable ({})",
                        error_chain(&source)
                    ),
                ));
            }
            // Not an instance with a RAM role (or not an ECS instance behind
            // a proxy that answers): the chain goes on.
            Err(MetadataError::Status { url, status: 404 }) => tried.push(tried_entry(
                "ECS instance RAM role",
                format!("metadata service answered HTTP 404 for {url} (no RAM role attached)"),
            )),
            Err(e) => return Err(CredentialError::Metadata(e)),
        }
    }

    // 7. A credentials URI.
    if let Some(url) = env.get(ENV_CREDENTIALS_URI) {
        let source = CredentialSource::CredentialsUri {
            url: without_query(url),
        };
        return fetched(
            Fetch::Uri {
                url: url.to_owned(),
            },
            source,
            None,
        )
        .await;
    }
    tried.push(tried_entry(
        "credentials URI",
        format!("{ENV_CREDENTIALS_URI} not set"),
    ));
    Err(CredentialError::NotFound { tried })
}

fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).to_owned()
}

/// Fetches the first temporary credentials of `fetch` now, so that a
/// refused role or a missing token file is an error of the chain and not
/// of the first call.
async fn fetched(
    fetch: Fetch,
    source: CredentialSource,
    region: Option<String>,
) -> Result<ResolvedCredentials, CredentialError> {
    let provider = CredentialProvider::refreshing(fetch);
    provider.current().await?;
    tracing::debug!(%source, "credentials found");
    Ok(ResolvedCredentials {
        provider,
        source,
        region,
    })
}

/// The STS endpoint: `--sts-endpoint`, else `--endpoint`, else the STS
/// region's (the profile's `sts_region` or `ALIBABA_CLOUD_STS_REGION`;
/// `sts-vpc` hosts with `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true`), else the
/// global endpoint.
fn sts_client(
    inputs: &CredentialInputs,
    sts_region: Option<&str>,
) -> Result<sts::StsClient, CredentialError> {
    let explicit = inputs
        .sts_endpoint
        .as_deref()
        .or(inputs.endpoint.as_deref());
    let regional;
    let text = match explicit {
        Some(t) => t,
        None => match sts_region.or(inputs.env.get(ENV_STS_REGION)) {
            Some(region) => {
                let prefix = if inputs.env.is_true(ENV_VPC_ENDPOINT_ENABLED) {
                    "sts-vpc"
                } else {
                    "sts"
                };
                regional = format!("https://{prefix}.{region}.aliyuncs.com/");
                &regional
            }
            None => DEFAULT_STS_ENDPOINT,
        },
    };
    let url = resolve_endpoint("", Some(text), inputs.insecure_http)
        .map_err(CredentialError::StsEndpoint)?;
    sts::StsClient::new(url, inputs.signature_version, inputs.sts_timeout).map_err(|source| {
        CredentialError::AssumeRole {
            role_arn: String::new(),
            source,
        }
    })
}

/// The session settings of a role: the given ones, else
/// `ALIBABA_CLOUD_ROLE_SESSION_NAME`, else `moat-<unix seconds>`; one hour.
fn role_request(
    inputs: &CredentialInputs,
    role_arn: &str,
    session_name: Option<String>,
    duration_secs: Option<u64>,
    policy: Option<String>,
    external_id: Option<String>,
) -> Result<RoleRequest, CredentialError> {
    let duration_secs = duration_secs.unwrap_or(DEFAULT_DURATION_SECS);
    if duration_secs < MIN_DURATION_SECS {
        return Err(CredentialError::Duration {
            value: duration_secs,
        });
    }
    let session_name = session_name
        .or_else(|| inputs.env.get(ENV_ROLE_SESSION_NAME).map(str::to_owned))
        .unwrap_or_else(|| format!("moat-{}", jiff::Timestamp::now().as_second()));
    Ok(RoleRequest {
        role_arn: role_arn.to_owned(),
        session_name,
        duration_secs,
        policy,
        external_id,
    })
}

fn tried_entry(source: impl Into<String>, outcome: impl Into<String>) -> Tried {
    Tried {
        source: source.into(),
        outcome: outcome.into(),
    }
}

fn found(
    credentials: Credentials,
    source: CredentialSource,
    region: Option<String>,
) -> ResolvedCredentials {
    tracing::debug!(%source, "credentials found");
    ResolvedCredentials {
        provider: CredentialProvider::fixed(credentials),
        source,
        region,
    }
}

/// Reads one id/secret/token triple. Nothing given is "not here"; a partial
/// triple is an error rather than a reason to fall through to another
/// identity.
fn pair(
    source_name: &'static str,
    id: Option<&str>,
    secret: Option<Secret>,
    token: Option<Secret>,
) -> Result<Option<Credentials>, CredentialError> {
    let id = id.filter(|s| !s.is_empty());
    let secret = secret.filter(|s| !s.is_empty());
    let token = token.filter(|s| !s.is_empty());
    match (id, secret, token) {
        (None, None, None) => Ok(None),
        (Some(id), Some(secret), None) => Ok(Some(Credentials::access_key(id, secret))),
        (Some(id), Some(secret), Some(token)) => Ok(Some(Credentials::sts(id, secret, token))),
        (Some(_), None, _) => Err(CredentialError::Incomplete {
            source_name,
            given: "an access key id",
            missing: "its secret",
        }),
        (None, Some(_), _) => Err(CredentialError::Incomplete {
            source_name,
            given: "an access key secret",
            missing: "its id",
        }),
        (None, None, Some(_)) => Err(CredentialError::Incomplete {
            source_name,
            given: "a security token",
            missing: "the access key id and secret",
        }),
    }
}

fn config_path(inputs: &CredentialInputs) -> Option<PathBuf> {
    inputs
        .home
        .as_ref()
        .map(|h| h.join(".aliyun").join("config.json"))
}

fn metadata_client(inputs: &CredentialInputs) -> Result<metadata::MetadataClient, CredentialError> {
    metadata::MetadataClient::new(
        &inputs.metadata_base_url,
        inputs.metadata_timeout,
        inputs.env.is_true(ENV_IMDSV1_DISABLED),
    )
    .map_err(CredentialError::Metadata)
}

async fn from_profile(
    inputs: &CredentialInputs,
    path: PathBuf,
    profile: config_file::Profile,
) -> Result<ResolvedCredentials, CredentialError> {
    let region = profile.region.clone();
    let name = profile.name.clone();
    let mode = profile.kind.mode();
    let (provider, detail) = profile_provider(inputs, profile)?;
    let Some(detail) = detail else {
        // A fixed pair, or the instance's RAM role.
        return match provider {
            Resolved::Fixed(credentials) => Ok(found(
                credentials,
                CredentialSource::Profile {
                    path,
                    profile: name,
                },
                region,
            )),
            Resolved::EcsRamRole(role) => {
                let role = role.or_else(|| inputs.env.get(ENV_ECS_METADATA).map(str::to_owned));
                let mut resolved = ram_role(metadata_client(inputs)?, role)
                    .await
                    .map_err(CredentialError::Metadata)?;
                resolved.region = region;
                Ok(resolved)
            }
            Resolved::Fetch(_) => Err(CredentialError::ProfileUnavailable {
                profile: name,
                why: "its mode fetches credentials but names nothing".to_owned(),
            }),
        };
    };
    let source = CredentialSource::ProfileMode {
        path,
        profile: name,
        mode,
        detail,
    };
    match provider {
        Resolved::Fetch(fetch) => fetched(fetch, source, region).await,
        Resolved::Fixed(c) => Ok(found(c, source, region)),
        Resolved::EcsRamRole(_) => Err(CredentialError::ProfileUnavailable {
            profile: source.to_string(),
            why: "unexpected mode".to_owned(),
        }),
    }
}

/// What a profile turns into before anything is fetched.
enum Resolved {
    Fixed(Credentials),
    EcsRamRole(Option<String>),
    Fetch(Fetch),
}

/// The provider of a profile and, for the modes that fetch, a description
/// of where from (the role, the source profile, the command's program).
fn profile_provider(
    inputs: &CredentialInputs,
    profile: config_file::Profile,
) -> Result<(Resolved, Option<String>), CredentialError> {
    use config_file::ProfileKind;
    Ok(match profile.kind {
        ProfileKind::Keys(c) => (Resolved::Fixed(c), None),
        ProfileKind::EcsRamRole { role } => (Resolved::EcsRamRole(role), None),
        ProfileKind::AssumeRole { source, role } => {
            let source_name = source.name.clone();
            let chained = source.chained_from.is_some();
            let (source_resolved, _) = profile_provider(inputs, *source)?;
            let source_provider = match source_resolved {
                Resolved::Fixed(c) => CredentialProvider::fixed(c),
                Resolved::Fetch(f) => CredentialProvider::refreshing(f),
                Resolved::EcsRamRole(name) => {
                    let name = name
                        .or_else(|| inputs.env.get(ENV_ECS_METADATA).map(str::to_owned))
                        .ok_or_else(|| CredentialError::ProfileUnavailable {
                            profile: source_name.clone(),
                            why: "an EcsRamRole source of a role chain must name ram_role_name"
                                .to_owned(),
                        })?;
                    CredentialProvider::refreshing(Fetch::EcsRamRole {
                        metadata: metadata_client(inputs)?,
                        role: name,
                    })
                }
            };
            let detail = if chained {
                format!("role {}, source profile {source_name:?}", role.role_arn)
            } else {
                format!("role {}", role.role_arn)
            };
            let sts = sts_client(inputs, role.sts_region.as_deref())?;
            let request = role_request(
                inputs,
                &role.role_arn,
                role.session_name,
                role.duration_secs,
                role.policy,
                role.external_id,
            )?;
            (
                Resolved::Fetch(Fetch::AssumeRole {
                    sts,
                    source: source_provider,
                    role: request,
                }),
                Some(detail),
            )
        }
        ProfileKind::Oidc {
            provider_arn,
            token_file,
            role,
        } => {
            let detail = format!("role {}, provider {provider_arn}", role.role_arn);
            let sts = sts_client(inputs, role.sts_region.as_deref())?;
            let request = role_request(
                inputs,
                &role.role_arn,
                role.session_name,
                role.duration_secs,
                role.policy,
                None,
            )?;
            (
                Resolved::Fetch(Fetch::Oidc {
                    sts,
                    provider_arn,
                    token_file,
                    role: request,
                }),
                Some(detail),
            )
        }
        ProfileKind::External { command } => {
            let program = split_command(&command)
                .ok()
                .and_then(|w| w.into_iter().next())
                .unwrap_or_default();
            (
                Resolved::Fetch(Fetch::External { command }),
                Some(format!("process_command {program}")),
            )
        }
        ProfileKind::CredentialsUri { uri } => {
            let shown = without_query(&uri);
            (Resolved::Fetch(Fetch::Uri { url: uri }), Some(shown))
        }
    })
}

async fn ram_role(
    client: metadata::MetadataClient,
    role: Option<String>,
) -> Result<ResolvedCredentials, MetadataError> {
    let role = match role {
        Some(role) => role,
        None => client.role_name().await?,
    };
    let credentials = client.role_credentials(&role).await?;
    tracing::debug!(role = %role, "credentials found: ECS instance RAM role");
    let now = jiff::Timestamp::now();
    Ok(ResolvedCredentials {
        provider: CredentialProvider(ProviderKind::Refreshing(Arc::new(Refreshing {
            cached: tokio::sync::Mutex::new(Some(Cached {
                refresh_at: credentials.refresh_at(now),
                credentials: Arc::new(credentials),
            })),
            fetch: Fetch::EcsRamRole {
                metadata: client,
                role: role.clone(),
            },
        }))),
        source: CredentialSource::EcsRamRole { role },
        region: None,
    })
}

/// The messages of an error and its causes, joined, for a one-line summary
/// inside another message.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_raw_and_encoded_forms() {
        let c = Credentials::sts("STS.id", "s3cr/t", "tok+en/=");
        let text = "a s3cr/t b tok%2Ben%2F%3D c tok%252Ben%252F%253D d tok+en/=";
        let scrubbed = c.scrub(text);
        assert_eq!(
            scrubbed,
            "a <redacted> b <redacted> c <redacted> d <redacted>"
        );
    }

    #[test]
    fn debug_redacts_secrets_and_environment_values() {
        let c = Credentials::sts("STS.id", "the-secret", "the-token");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("the-secret") && !shown.contains("the-token"),
            "{shown}"
        );
        let env: Environment = [(ENV_ACCESS_KEY_SECRET, "the-secret")]
            .into_iter()
            .collect();
        let inputs = CredentialInputs::new(env, None);
        let shown = format!("{inputs:?}");
        assert!(!shown.contains("the-secret"), "{shown}");
        assert!(shown.contains(ENV_ACCESS_KEY_SECRET), "{shown}");
    }

    #[test]
    fn refresh_is_due_fifteen_minutes_before_expiry_but_not_before_half_the_lifetime() {
        let ts = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let now = ts("2024-05-01T08:00:00Z");
        let c = Credentials::sts("a", "b", "c");
        assert_eq!(c.refresh_at(now), None);
        let hour = c.clone().with_expiration(ts("2024-05-01T09:00:00Z"));
        assert_eq!(hour.refresh_at(now), Some(ts("2024-05-01T08:45:00Z")));
        let quarter = c.clone().with_expiration(ts("2024-05-01T08:15:00Z"));
        assert_eq!(quarter.refresh_at(now), Some(ts("2024-05-01T08:07:30Z")));
        let expired = c.with_expiration(ts("2024-05-01T07:00:00Z"));
        assert!(expired.refresh_at(now).is_some_and(|t| t <= now));
    }
}
