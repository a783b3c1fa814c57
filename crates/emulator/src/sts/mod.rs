//! STS, API version 2015-04-01: AssumeRole, AssumeRoleWithOIDC and
//! GetCallerIdentity, on the emulator's own port.
//!
//! Roles and OIDC providers are declared when the emulator starts; any
//! accepted key may assume any declared role (trust policies are not
//! emulated), and a token is accepted for a declared provider when it is a
//! well-formed JWT naming the provider's issuer that has not expired (its
//! signature is not checked). The keys STS issues are accepted by the ECS
//! side, with their security token, until they expire.

mod jwt;

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::json;

pub use jwt::unsigned_token;

use crate::auth::{AccessKey, Caller, Identity, IssuedKey};
use crate::clock::format_timestamp;
use crate::error::ApiError;
use crate::product::{ActionSpec, Answer, Auth, Call, Cloud, Handler, Product};

/// The API version of STS.
pub const STS_VERSION: &str = "2015-04-01";
/// The account the configured keys belong to, as GetCallerIdentity names it.
pub const ACCOUNT_ID: &str = "1000000000000001";
/// Default and longest `DurationSeconds`: the documented default
/// MaxSessionDuration of a role (roles declared to the emulator keep it).
pub const MAX_SESSION_SECS: i64 = 3600;
/// Shortest `DurationSeconds`.
pub const MIN_SESSION_SECS: i64 = 900;
/// Longest `Policy`, in characters.
const MAX_POLICY_CHARS: usize = 2048;

pub(crate) const PRODUCT: Product = Product {
    code: "Sts",
    version: STS_VERSION,
    service: "sts",
    regional: false,
    actions: &[
        ActionSpec::read("AssumeRole", assume_role),
        ActionSpec {
            name: "AssumeRoleWithOIDC",
            // The OIDC token is the credential: the call is not signed.
            auth: Auth::Anonymous,
            handler: Handler::Read(assume_role_with_oidc),
        },
        ActionSpec::read("GetCallerIdentity", get_caller_identity),
    ],
};

/// Why a role or provider given to the emulator was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StsSpecError {
    #[error("{arn:?} is not a role ARN (acs:ram::ACCOUNT_ID:role/NAME)")]
    RoleArn { arn: String },
    #[error("{arn:?} is not an OIDC provider ARN (acs:ram::ACCOUNT_ID:oidc-provider/NAME)")]
    ProviderArn { arn: String },
    #[error("an OIDC provider must be PROVIDER_ARN=ISSUER")]
    ProviderShape,
    #[error("the issuer of {arn} must not be empty")]
    EmptyIssuer { arn: String },
}

/// An OIDC identity provider: its ARN and the `iss` its tokens carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcProvider {
    pub arn: String,
    pub issuer: String,
}

impl OidcProvider {
    /// Reads `PROVIDER_ARN=ISSUER` (the command line form).
    pub fn parse_spec(spec: &str) -> Result<OidcProvider, StsSpecError> {
        let (arn, issuer) = spec.split_once('=').ok_or(StsSpecError::ProviderShape)?;
        let arn = arn.trim();
        if parse_arn(arn, "oidc-provider").is_none() {
            return Err(StsSpecError::ProviderArn {
                arn: arn.to_owned(),
            });
        }
        if issuer.trim().is_empty() {
            return Err(StsSpecError::EmptyIssuer {
                arn: arn.to_owned(),
            });
        }
        Ok(OidcProvider {
            arn: arn.to_owned(),
            issuer: issuer.trim().to_owned(),
        })
    }
}

/// `acs:ram::ACCOUNT:KIND/NAME` -> (account, name).
fn parse_arn<'a>(arn: &'a str, kind: &str) -> Option<(&'a str, &'a str)> {
    let rest = arn.strip_prefix("acs:ram::")?;
    let (account, resource) = rest.split_once(':')?;
    let name = resource.strip_prefix(kind)?.strip_prefix('/')?;
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    (!account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) && name_ok)
        .then_some((account, name))
}

/// Checks a role ARN given to the emulator.
pub fn check_role_arn(arn: &str) -> Result<(), StsSpecError> {
    parse_arn(arn, "role")
        .map(|_| ())
        .ok_or_else(|| StsSpecError::RoleArn {
            arn: arn.to_owned(),
        })
}

/// The roles and providers STS knows, keyed by ARN (role ARNs compared
/// without regard to case, as RAM treats role names).
#[derive(Clone, Debug, Default)]
pub(crate) struct Directory {
    roles: HashMap<String, String>,
    providers: HashMap<String, String>,
}

impl Directory {
    pub(crate) fn new(
        roles: &[String],
        providers: &[OidcProvider],
    ) -> Result<Directory, StsSpecError> {
        let mut d = Directory::default();
        for arn in roles {
            check_role_arn(arn)?;
            d.roles.insert(arn.to_ascii_lowercase(), arn.clone());
        }
        for p in providers {
            if parse_arn(&p.arn, "oidc-provider").is_none() {
                return Err(StsSpecError::ProviderArn { arn: p.arn.clone() });
            }
            d.providers.insert(p.arn.clone(), p.issuer.clone());
        }
        Ok(d)
    }

    fn role(&self, arn: &str) -> Option<&str> {
        self.roles
            .get(&arn.to_ascii_lowercase())
            .map(String::as_str)
    }

    fn issuer(&self, provider_arn: &str) -> Option<&str> {
        self.providers.get(provider_arn).map(String::as_str)
    }
}

/// A stable numeric role id, as RAM gives every role one.
fn role_id(arn: &str) -> String {
    // FNV-1a: stable across runs and builds, which a std hasher is not.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in arn.to_ascii_lowercase().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("3{:016}", h % 10_000_000_000_000_000)
}

fn invalid(code: &'static str, message: &str) -> ApiError {
    ApiError::bad(code, message)
}

/// `RoleArn`: well formed, and a role the emulator was told about.
fn checked_role<'a>(call: &'a Call, arn: Option<&str>) -> Result<(&'a str, String), ApiError> {
    let arn = arn.ok_or_else(|| ApiError::missing("MissingParameter", "RoleArn"))?;
    if parse_arn(arn, "role").is_none() {
        return Err(invalid(
            "InvalidParameter.RoleArn",
            "The parameter RoleArn is wrongly formed.",
        ));
    }
    // The HTTP status of EntityNotExist.Role is UNCONFIRMED.
    let known = call.sts.role(arn).ok_or_else(|| {
        ApiError::new(
            404,
            "EntityNotExist.Role",
            format!("The role not exists: {arn}."),
        )
    })?;
    Ok((known, role_id(known)))
}

/// `RoleSessionName`: 2 to 64 of letters, digits and `. @ - _`.
fn session_name(call: &Call) -> Result<String, ApiError> {
    let name = call
        .params
        .get("RoleSessionName")
        .ok_or_else(|| ApiError::missing("MissingParameter", "RoleSessionName"))?;
    let ok = (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'-' | b'_'));
    if !ok {
        return Err(invalid(
            "InvalidParameter.RoleSessionName",
            "The parameter RoleSessionName is wrongly formed.",
        ));
    }
    Ok(name.to_owned())
}

/// `DurationSeconds`: 900 to the role's MaxSessionDuration, default 3600.
fn duration(call: &Call) -> Result<i64, ApiError> {
    let bad = || {
        invalid(
            "InvalidParameter.DurationSeconds",
            "The Min/Max value of DurationSeconds is 15min/1hr.",
        )
    };
    match call.params.get("DurationSeconds") {
        None => Ok(MAX_SESSION_SECS),
        Some(d) => d
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|d| (MIN_SESSION_SECS..=MAX_SESSION_SECS).contains(d))
            .ok_or_else(bad),
    }
}

/// `Policy`: optional, a JSON object of at most 2,048 characters. Its
/// statements are not evaluated (the emulator has no RAM).
fn policy(call: &Call) -> Result<(), ApiError> {
    let Some(p) = call.params.get("Policy") else {
        return Ok(());
    };
    if p.chars().count() > MAX_POLICY_CHARS {
        return Err(invalid(
            "InvalidParameter.PolicySize",
            "The size of Policy must be smaller than 2048.",
        ));
    }
    match serde_json::from_str::<serde_json::Value>(p) {
        Ok(v) if v.is_object() => Ok(()),
        _ => Err(invalid(
            "InvalidParameter.PolicyGrammar",
            "The parameter Policy has not passed grammar check.",
        )),
    }
}

/// `ExternalId`: optional, 2 to 1,224 of letters, digits and `= , . @ : / - _`.
/// Trust policies are not emulated, so any well-formed value is taken. The
/// code for a malformed one is UNCONFIRMED.
fn external_id(call: &Call) -> Result<(), ApiError> {
    let Some(e) = call.params.get("ExternalId") else {
        return Ok(());
    };
    let ok = (2..=1224).contains(&e.len())
        && e.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'=' | b',' | b'.' | b'@' | b':' | b'/' | b'-' | b'_')
        });
    if !ok {
        return Err(invalid(
            "InvalidParameter.ExternalId",
            "The parameter ExternalId is wrongly formed.",
        ));
    }
    Ok(())
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const TOKEN_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Issues a key triple for a role session and answers with it, as both
/// AssumeRole calls do.
fn issue(
    call: &Call,
    role_arn: &str,
    role_id: &str,
    session: &str,
    seconds: i64,
) -> (serde_json::Value, serde_json::Value) {
    let (id, secret, token) = call.auth.with_rng(|rng| {
        (
            format!("STS.N{}", rng.chars(24, ALNUM)),
            rng.chars(44, ALNUM),
            format!("CAIS{}", rng.chars(316, TOKEN_CHARS)),
        )
    });
    let expires = call.now + seconds;
    call.auth.issue(
        IssuedKey {
            key: AccessKey::new(id.clone(), secret.clone()).with_security_token(token.clone()),
            expires,
            role_arn: role_arn.to_owned(),
            session_name: session.to_owned(),
            uses: 0,
        },
        call.now,
    );
    let (account, name) = parse_arn(role_arn, "role").unwrap_or((ACCOUNT_ID, role_arn));
    (
        json!({
            "AssumedRoleId": format!("{role_id}:{session}"),
            "Arn": format!("acs:ram::{account}:role/{name}/{session}"),
        }),
        json!({
            "SecurityToken": token,
            "AccessKeyId": id,
            "AccessKeySecret": secret,
            "Expiration": format_timestamp(expires),
        }),
    )
}

/// AssumeRole: a key triple for the role, valid `DurationSeconds`.
fn assume_role(_cloud: &Cloud, call: &Call) -> Result<Answer, ApiError> {
    let (role, id) = checked_role(call, call.params.get("RoleArn"))?;
    let session = session_name(call)?;
    let seconds = duration(call)?;
    policy(call)?;
    external_id(call)?;
    let (user, credentials) = issue(call, role, &id, &session, seconds);
    Ok(Answer::empty()
        .with("AssumedRoleUser", user)
        .with("Credentials", credentials))
}

/// AssumeRoleWithOIDC: a key triple for the role in exchange for a token of
/// a declared provider.
fn assume_role_with_oidc(_cloud: &Cloud, call: &Call) -> Result<Answer, ApiError> {
    let provider = call
        .params
        .get("OIDCProviderArn")
        .ok_or_else(|| ApiError::missing("MissingParameter", "OIDCProviderArn"))?;
    let issuer = call.sts.issuer(provider).ok_or_else(|| {
        ApiError::new(
            401,
            "AuthenticationFail.NoPermission",
            "No such OIDC Provider registered.",
        )
    })?;
    let claims = jwt::read_claims(call.params.get("OIDCToken").unwrap_or_default())?;
    if claims.issuer != issuer {
        // 401 as the other OIDC token errors of the STS table.
        return Err(ApiError::new(
            401,
            "AuthenticationFail.OIDCToken.IssuerNotMatch",
            "The issuer in the OIDC Token doesn't match the OIDC Provider registered.",
        ));
    }
    if claims.expires <= call.now {
        return Err(ApiError::new(
            401,
            "AuthenticationFail.OIDCToken.Expired",
            "This JsonWebToken is expired.",
        ));
    }
    let (role, id) = checked_role(call, call.params.get("RoleArn"))?;
    let session = session_name(call)?;
    let seconds = duration(call)?;
    policy(call)?;
    let (user, credentials) = issue(call, role, &id, &session, seconds);
    let mut client_ids = String::new();
    for (i, a) in claims.audiences.iter().enumerate() {
        if i > 0 {
            client_ids.push(',');
        }
        let _ = write!(client_ids, "{a}");
    }
    Ok(Answer::empty()
        .with(
            "OIDCTokenInfo",
            json!({
                "Subject": claims.subject,
                "Issuer": claims.issuer,
                "ClientIds": client_ids,
                "ExpirationTime": format_timestamp(claims.expires),
                "IssuanceTime": claims.issued_at.map(format_timestamp).unwrap_or_default(),
            }),
        )
        .with("AssumedRoleUser", user)
        .with("Credentials", credentials))
}

/// GetCallerIdentity: the account for a configured key, the role session for
/// a key STS issued.
fn get_caller_identity(_cloud: &Cloud, call: &Call) -> Result<Answer, ApiError> {
    let Some(Caller { identity, .. }) = call.caller else {
        return Err(ApiError::bad(
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        ));
    };
    Ok(match identity {
        Identity::Account => Answer::empty()
            .with("IdentityType", json!("Account"))
            .with("AccountId", json!(ACCOUNT_ID))
            .with("PrincipalId", json!(ACCOUNT_ID))
            .with("UserId", json!(ACCOUNT_ID))
            .with("Arn", json!(format!("acs:ram::{ACCOUNT_ID}:root"))),
        Identity::AssumedRole {
            role_arn,
            session_name,
        } => {
            let (account, name) = parse_arn(role_arn, "role").unwrap_or((ACCOUNT_ID, role_arn));
            let id = role_id(role_arn);
            Answer::empty()
                .with("IdentityType", json!("AssumedRoleUser"))
                .with("AccountId", json!(account))
                .with("PrincipalId", json!(format!("{id}:{session_name}")))
                .with("RoleId", json!(id))
                .with(
                    "Arn",
                    json!(format!(
                        "acs:ram::{account}:assumed-role/{name}/{session_name}"
                    )),
                )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_and_provider_specs_are_checked() {
        assert!(check_role_arn("acs:ram::123456789012:role/ops-readonly").is_ok());
        for bad in [
            "acs:ram::12a:role/x",
            "acs:ram::1:user/x",
            "acs:ram::1:role/",
            "arn:aws:iam::1:role/x",
            "acs:ram::1:role/a b",
        ] {
            assert!(check_role_arn(bad).is_err(), "{bad}");
        }
        let p = OidcProvider::parse_spec(
            "acs:ram::1000000000000001:oidc-provider/ci=https://token.example.com",
        )
        .unwrap();
        assert_eq!(p.issuer, "https://token.example.com");
        assert_eq!(
            OidcProvider::parse_spec("acs:ram::1:oidc-provider/ci"),
            Err(StsSpecError::ProviderShape)
        );
        assert!(matches!(
            OidcProvider::parse_spec("acs:ram::1:role/ci=https://x"),
            Err(StsSpecError::ProviderArn { .. })
        ));
        assert!(matches!(
            OidcProvider::parse_spec("acs:ram::1:oidc-provider/ci= "),
            Err(StsSpecError::EmptyIssuer { .. })
        ));
    }

    #[test]
    fn role_ids_are_stable_digits() {
        let a = role_id("acs:ram::1:role/ops");
        assert_eq!(a, role_id("acs:ram::1:role/OPS"));
        assert_ne!(a, role_id("acs:ram::1:role/dev"));
        assert!(
            a.len() == 17 && a.bytes().all(|b| b.is_ascii_digit()),
            "{a}"
        );
    }
}
