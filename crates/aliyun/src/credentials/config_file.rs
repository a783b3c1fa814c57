//! The aliyun CLI config file (`~/.aliyun/config.json`, reference 6.2),
//! with the field names of the aliyun CLI and the official credentials
//! libraries for each mode: `AK`, `StsToken`, `EcsRamRole`, `RamRoleArn`,
//! `ChainableRamRoleArn` (`source_profile`), `OIDC`, `External`
//! (`process_command`) and `CredentialsURI` (`credentials_uri`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{CredentialError, Credentials, ENV_PROFILE, Environment};
use crate::secret::Secret;

pub(super) struct Profile {
    pub name: String,
    pub region: Option<String>,
    pub kind: ProfileKind,
    /// For the source of a `ChainableRamRoleArn` profile: the profile that
    /// named it.
    pub chained_from: Option<String>,
}

pub(super) enum ProfileKind {
    Keys(Credentials),
    /// `EcsRamRole` mode: the role may be left to the metadata service.
    EcsRamRole {
        role: Option<String>,
    },
    /// `RamRoleArn` (the source is the profile's own key pair) and
    /// `ChainableRamRoleArn` (the source is `source_profile`).
    AssumeRole {
        source: Box<Profile>,
        role: RoleSpec,
    },
    Oidc {
        provider_arn: String,
        token_file: PathBuf,
        role: RoleSpec,
    },
    External {
        command: String,
    },
    CredentialsUri {
        uri: String,
    },
}

impl ProfileKind {
    /// The mode's name as the CLI writes it.
    pub fn mode(&self) -> &'static str {
        match self {
            ProfileKind::Keys(c) if c.security_token().is_some() => "StsToken",
            ProfileKind::Keys(_) => "AK",
            ProfileKind::EcsRamRole { .. } => "EcsRamRole",
            ProfileKind::AssumeRole { source, .. } => match source.kind {
                ProfileKind::Keys(_) if source.chained_from.is_none() => "RamRoleArn",
                _ => "ChainableRamRoleArn",
            },
            ProfileKind::Oidc { .. } => "OIDC",
            ProfileKind::External { .. } => "External",
            ProfileKind::CredentialsUri { .. } => "CredentialsURI",
        }
    }
}

/// The role a profile assumes, with the session settings it gives.
pub(super) struct RoleSpec {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub duration_secs: Option<u64>,
    pub policy: Option<String>,
    pub external_id: Option<String>,
    pub sts_region: Option<String>,
}

pub(super) enum Loaded {
    Profile(Box<Profile>),
    /// The file gives nothing, and that is not an error (it is missing, or
    /// holds no profile while none was asked for).
    Skipped(String),
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    current: String,
    #[serde(default)]
    profiles: Vec<RawProfile>,
}

// No `Debug`: it holds secrets, and nothing needs to print it.
#[derive(Default, Deserialize)]
#[serde(default)]
struct RawProfile {
    name: String,
    mode: String,
    access_key_id: String,
    access_key_secret: Secret,
    sts_token: Secret,
    ram_role_name: String,
    region_id: String,
    ram_role_arn: String,
    ram_session_name: String,
    role_session_name: String,
    expired_seconds: u64,
    policy: String,
    external_id: String,
    sts_region: String,
    source_profile: String,
    oidc_provider_arn: String,
    oidc_token_file: String,
    process_command: String,
    credentials_uri: String,
}

/// Reads the file at `path` and selects a profile: `flag_profile` when
/// given; else `ALIBABA_CLOUD_PROFILE` when the file's current profile is
/// empty or `default`; else the current profile (the aliyun CLI's rule).
pub(super) fn load(
    path: &Path,
    flag_profile: Option<&str>,
    env: &Environment,
) -> Result<Loaded, CredentialError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded::Skipped("file not found".to_owned()));
        }
        Err(source) => {
            return Err(CredentialError::ConfigRead {
                path: path.to_owned(),
                source,
            });
        }
    };
    let file: ConfigFile =
        serde_json::from_str(&text).map_err(|source| CredentialError::ConfigParse {
            path: path.to_owned(),
            source,
        })?;

    let current = file.current.trim();
    let (name, named) = match (flag_profile, env.get(ENV_PROFILE)) {
        (Some(p), _) => (p.to_owned(), true),
        (None, Some(p)) if current.is_empty() || current == "default" => (p.to_owned(), true),
        (None, _) if !current.is_empty() && current != "default" => (current.to_owned(), true),
        (None, _) => ("default".to_owned(), false),
    };
    let available: Vec<String> = file.profiles.iter().map(|p| p.name.clone()).collect();
    let Some(raw) = file.profiles.iter().find(|p| p.name == name) else {
        if !named {
            return Ok(Loaded::Skipped("no current profile".to_owned()));
        }
        return Err(CredentialError::ProfileNotFound {
            path: path.to_owned(),
            profile: name,
            available,
        });
    };
    profile(path, &file.profiles, raw, &mut Vec::new()).map(|p| Loaded::Profile(Box::new(p)))
}

/// A `source_profile` chain longer than this is refused (the aliyun CLI
/// has no bound; a loop is caught before it anyway).
const MAX_CHAIN: usize = 8;

fn text(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn profile(
    path: &Path,
    all: &[RawProfile],
    raw: &RawProfile,
    chain: &mut Vec<String>,
) -> Result<Profile, CredentialError> {
    let incomplete =
        |mode: &'static str, missing: &'static str| CredentialError::ProfileIncomplete {
            path: path.to_owned(),
            profile: raw.name.clone(),
            mode,
            missing,
        };
    let mode = raw.mode.trim().to_ascii_lowercase();
    let kind = match mode.as_str() {
        // An empty mode is what old versions of the CLI wrote for AK profiles.
        "" | "ak" => {
            if raw.access_key_id.is_empty() {
                return Err(incomplete("AK", "access_key_id"));
            }
            if raw.access_key_secret.is_empty() {
                return Err(incomplete("AK", "access_key_secret"));
            }
            ProfileKind::Keys(Credentials::access_key(
                raw.access_key_id.clone(),
                raw.access_key_secret.clone(),
            ))
        }
        "ststoken" => {
            if raw.access_key_id.is_empty() {
                return Err(incomplete("StsToken", "access_key_id"));
            }
            if raw.access_key_secret.is_empty() {
                return Err(incomplete("StsToken", "access_key_secret"));
            }
            if raw.sts_token.is_empty() {
                return Err(incomplete("StsToken", "sts_token"));
            }
            ProfileKind::Keys(Credentials::sts(
                raw.access_key_id.clone(),
                raw.access_key_secret.clone(),
                raw.sts_token.clone(),
            ))
        }
        "ecsramrole" => ProfileKind::EcsRamRole {
            role: text(&raw.ram_role_name),
        },
        "ramrolearn" => {
            if raw.access_key_id.is_empty() {
                return Err(incomplete("RamRoleArn", "access_key_id"));
            }
            if raw.access_key_secret.is_empty() {
                return Err(incomplete("RamRoleArn", "access_key_secret"));
            }
            let keys = if raw.sts_token.is_empty() {
                Credentials::access_key(raw.access_key_id.clone(), raw.access_key_secret.clone())
            } else {
                Credentials::sts(
                    raw.access_key_id.clone(),
                    raw.access_key_secret.clone(),
                    raw.sts_token.clone(),
                )
            };
            ProfileKind::AssumeRole {
                source: Box::new(Profile {
                    name: raw.name.clone(),
                    region: None,
                    kind: ProfileKind::Keys(keys),
                    chained_from: None,
                }),
                role: role_spec(raw, &raw.ram_session_name)
                    .ok_or_else(|| incomplete("RamRoleArn", "ram_role_arn"))?,
            }
        }
        "chainableramrolearn" => {
            let role = role_spec(raw, &raw.ram_session_name)
                .ok_or_else(|| incomplete("ChainableRamRoleArn", "ram_role_arn"))?;
            let Some(source_name) = text(&raw.source_profile) else {
                return Err(incomplete("ChainableRamRoleArn", "source_profile"));
            };
            chain.push(raw.name.clone());
            if chain.contains(&source_name) || chain.len() > MAX_CHAIN {
                chain.push(source_name);
                return Err(CredentialError::ProfileChain {
                    path: path.to_owned(),
                    chain: chain.clone(),
                });
            }
            let Some(source_raw) = all.iter().find(|p| p.name == source_name) else {
                return Err(CredentialError::ProfileNotFound {
                    path: path.to_owned(),
                    profile: source_name,
                    available: all.iter().map(|p| p.name.clone()).collect(),
                });
            };
            let mut source = profile(path, all, source_raw, chain)?;
            source.chained_from = Some(raw.name.clone());
            ProfileKind::AssumeRole {
                source: Box::new(source),
                role,
            }
        }
        "oidc" => {
            let role = role_spec(raw, &raw.role_session_name)
                .ok_or_else(|| incomplete("OIDC", "ram_role_arn"))?;
            let Some(provider_arn) = text(&raw.oidc_provider_arn) else {
                return Err(incomplete("OIDC", "oidc_provider_arn"));
            };
            let Some(token_file) = text(&raw.oidc_token_file) else {
                return Err(incomplete("OIDC", "oidc_token_file"));
            };
            ProfileKind::Oidc {
                provider_arn,
                token_file: PathBuf::from(token_file),
                role,
            }
        }
        "external" => ProfileKind::External {
            command: text(&raw.process_command)
                .ok_or_else(|| incomplete("External", "process_command"))?,
        },
        "credentialsuri" => ProfileKind::CredentialsUri {
            uri: text(&raw.credentials_uri)
                .ok_or_else(|| incomplete("CredentialsURI", "credentials_uri"))?,
        },
        _ => {
            return Err(CredentialError::UnsupportedMode {
                path: path.to_owned(),
                profile: raw.name.clone(),
                mode: raw.mode.clone(),
            });
        }
    };
    Ok(Profile {
        name: raw.name.clone(),
        region: text(&raw.region_id),
        kind,
        chained_from: None,
    })
}

/// The role settings of a profile; `None` without `ram_role_arn`.
/// `RamRoleArn` profiles name the session `ram_session_name`, `OIDC` ones
/// `role_session_name` (the official libraries' fields).
fn role_spec(raw: &RawProfile, session_name: &str) -> Option<RoleSpec> {
    Some(RoleSpec {
        role_arn: text(&raw.ram_role_arn)?,
        session_name: text(session_name),
        duration_secs: Some(raw.expired_seconds).filter(|s| *s > 0),
        policy: text(&raw.policy),
        external_id: text(&raw.external_id),
        sts_region: text(&raw.sts_region),
    })
}
