//! The aliyun CLI config file (`~/.aliyun/config.json`, reference 6.2).

use std::path::Path;

use serde::Deserialize;

use super::{CredentialError, Credentials, ENV_PROFILE, Environment};
use crate::secret::Secret;

pub(super) struct Profile {
    pub name: String,
    pub region: Option<String>,
    pub kind: ProfileKind,
}

pub(super) enum ProfileKind {
    Keys(Credentials),
    /// `EcsRamRole` mode: the role may be left to the metadata service.
    EcsRamRole {
        role: Option<String>,
    },
}

pub(super) enum Loaded {
    Profile(Profile),
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
    let Some(raw) = file.profiles.into_iter().find(|p| p.name == name) else {
        if !named {
            return Ok(Loaded::Skipped("no current profile".to_owned()));
        }
        return Err(CredentialError::ProfileNotFound {
            path: path.to_owned(),
            profile: name,
            available,
        });
    };
    profile(path, raw).map(Loaded::Profile)
}

fn profile(path: &Path, raw: RawProfile) -> Result<Profile, CredentialError> {
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
            role: Some(raw.ram_role_name.trim().to_owned()).filter(|r| !r.is_empty()),
        },
        _ => {
            return Err(CredentialError::UnsupportedMode {
                path: path.to_owned(),
                profile: raw.name,
                mode: raw.mode,
            });
        }
    };
    Ok(Profile {
        name: raw.name,
        region: Some(raw.region_id).filter(|r| !r.is_empty()),
        kind,
    })
}
