//! Credentials: what they are, where they come from, and how they stay
//! fresh.
//!
//! The chain follows the product design (section 8) and the reference (6.1 to
//! 6.3), first found wins: values given on the command line (access keys, or
//! an explicit `--profile`, which names the profile to use and so outranks the
//! environment); the `ALIBABA_CLOUD_*` environment variables; the current
//! profile of the aliyun CLI config file; the RAM role of the ECS instance,
//! read from the metadata service. When none is found the error lists what
//! was tried and why each source gave nothing.
//!
//! Nothing here reads the process environment or the home directory: the
//! caller passes a snapshot of both in [`CredentialInputs`], so tests are
//! hermetic and a library user decides what the process exposes.

mod config_file;
mod metadata;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use metadata::{DEFAULT_METADATA_BASE_URL, MetadataError};

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

/// Temporary credentials are refreshed this long before they expire, as the
/// official Python credentials library does.
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

    fn needs_refresh(&self, now: jiff::Timestamp) -> bool {
        self.expiration.is_some_and(|exp| {
            let margin = jiff::SignedDuration::try_from(REFRESH_MARGIN).unwrap_or_default();
            now.saturating_add(margin).is_ok_and(|t| t >= exp)
        })
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
        }
    }
}

/// Where credentials were found, for a log line or a status message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    Flags,
    Environment,
    Profile { path: PathBuf, profile: String },
    EcsRamRole { role: String },
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
            CredentialSource::EcsRamRole { role } => {
                write!(f, "RAM role {role:?} of the ECS instance")
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
    #[error("profile {profile:?} of {} uses mode {mode:?}; moat supports AK, StsToken and EcsRamRole", path.display())]
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
/// RAM role ones refreshed from the metadata service before they expire.
/// Cheap to clone; clones share one cache.
#[derive(Clone, Debug)]
pub struct CredentialProvider(ProviderKind);

#[derive(Clone, Debug)]
enum ProviderKind {
    Fixed(Arc<Credentials>),
    EcsRamRole(Arc<RamRoleProvider>),
}

#[derive(Debug)]
struct RamRoleProvider {
    metadata: metadata::MetadataClient,
    role: String,
    cached: tokio::sync::Mutex<Arc<Credentials>>,
}

impl CredentialProvider {
    pub fn fixed(credentials: Credentials) -> CredentialProvider {
        CredentialProvider(ProviderKind::Fixed(Arc::new(credentials)))
    }

    /// Credentials good for the next request.
    pub async fn current(&self) -> Result<Arc<Credentials>, CredentialError> {
        match &self.0 {
            ProviderKind::Fixed(c) => Ok(Arc::clone(c)),
            ProviderKind::EcsRamRole(p) => {
                // One refresh at a time: concurrent callers wait for it and
                // then reuse its result instead of each asking the service.
                let mut cached = p.cached.lock().await;
                if cached.needs_refresh(jiff::Timestamp::now()) {
                    tracing::debug!(role = %p.role, "refreshing RAM role credentials");
                    let fresh = p
                        .metadata
                        .role_credentials(&p.role)
                        .await
                        .map_err(CredentialError::Metadata)?;
                    *cached = Arc::new(fresh);
                }
                Ok(Arc::clone(&cached))
            }
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
            config_file::Loaded::Profile(p) => from_profile(inputs, path, p).await,
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

    // 4. The aliyun CLI config file.
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
            config_file::Loaded::Profile(p) => return from_profile(inputs, path, p).await,
            config_file::Loaded::Skipped(why) => {
                tried.push(tried_entry(
                    format!("aliyun CLI config {}", path.display()),
                    why,
                ));
            }
        },
    }

    // 5. The RAM role of the ECS instance.
    if env.is_true(ENV_ECS_METADATA_DISABLED) {
        tried.push(tried_entry(
            "ECS instance RAM role",
            format!("disabled by {ENV_ECS_METADATA_DISABLED}"),
        ));
        return Err(CredentialError::NotFound { tried });
    }
    let client = metadata_client(inputs)?;
    let role = env.get(ENV_ECS_METADATA).map(str::to_owned);
    match ram_role(client, role).await {
        Ok(resolved) => Ok(resolved),
        Err(MetadataError::Unreachable { url, source }) => {
            tried.push(tried_entry(
                "ECS instance RAM role",
                format!(
                    "metadata service {url} unreachable ({})",
                    error_chain(&source)
                ),
            ));
            Err(CredentialError::NotFound { tried })
        }
        Err(e) => Err(CredentialError::Metadata(e)),
    }
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
    match profile.kind {
        config_file::ProfileKind::Keys(credentials) => Ok(found(
            credentials,
            CredentialSource::Profile {
                path,
                profile: profile.name,
            },
            profile.region,
        )),
        config_file::ProfileKind::EcsRamRole { role } => {
            let role = role.or_else(|| inputs.env.get(ENV_ECS_METADATA).map(str::to_owned));
            let mut resolved = ram_role(metadata_client(inputs)?, role)
                .await
                .map_err(CredentialError::Metadata)?;
            resolved.region = profile.region;
            Ok(resolved)
        }
    }
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
    Ok(ResolvedCredentials {
        provider: CredentialProvider(ProviderKind::EcsRamRole(Arc::new(RamRoleProvider {
            metadata: client,
            role: role.clone(),
            cached: tokio::sync::Mutex::new(Arc::new(credentials)),
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
    fn refresh_is_due_fifteen_minutes_before_expiry() {
        let now: jiff::Timestamp = "2024-05-01T08:00:00Z".parse().unwrap();
        let c = Credentials::sts("a", "b", "c");
        assert!(!c.needs_refresh(now));
        let soon = c
            .clone()
            .with_expiration("2024-05-01T08:10:00Z".parse().unwrap());
        assert!(soon.needs_refresh(now));
        let later = c.with_expiration("2024-05-01T09:00:00Z".parse().unwrap());
        assert!(!later.needs_refresh(now));
    }
}
