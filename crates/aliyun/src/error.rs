//! Errors of API calls and their classification into retryable or not.

use std::fmt;
use std::time::Duration;

use moat_wire::Action;

use crate::convert::UnknownDirection;
use crate::credentials::CredentialError;

/// Error codes a revoke answers for a rule that does not exist (reference
/// 2.4: which of them the service uses today is unconfirmed, and
/// `SecurityGroupRule.NotFound` is listed for rule ids as well). A
/// reconciler treats each as "already absent".
pub const RULE_NOT_FOUND_CODES: [&str; 4] = [
    "InvalidSecurityGroupRuleId.NotFound",
    "InvalidParam.SecurityGroupRuleId",
    "InvalidSecurityGroupRule.RuleNotExist",
    "SecurityGroupRule.NotFound",
];

/// Error codes of a quota reached (reference 4.4 and 5): the group's rules,
/// its group-reference rules, a prefix list's associations. Sending the
/// call again gets the same answer, and other groups are likely at the
/// same limit.
pub const QUOTA_CODES: [&str; 3] = [
    "AuthorizationLimitExceed",
    "AuthorizedGroupRule.LimitExceed",
    "LimitExceed.PrefixListAssociationResource",
];

/// An error answer of the service (reference 1.9 and 4.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    /// With any credential material removed (the service quotes the string
    /// to sign, token included, in `SignatureDoesNotMatch`).
    pub message: String,
    pub request_id: String,
    pub host_id: String,
    pub recommend: String,
    /// The wait the service asked for before the next call: a positive
    /// whole number of milliseconds in the `x-acs-retry-after` header (the
    /// unit the aliyun CLI and the Tea SDKs read it in).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// Throttling of any kind (`Throttling`, `Throttling.User`, ...).
    pub fn is_throttling(&self) -> bool {
        self.code.starts_with("Throttling")
    }

    /// Worth retrying: throttling, server-side failures (5xx,
    /// `InternalError`, `ServiceUnavailable`). Everything else is an answer
    /// about the request itself, and sending it again would get the same.
    pub fn is_retryable(&self) -> bool {
        self.is_throttling()
            || self.status >= 500
            || matches!(self.code.as_str(), "InternalError" | "ServiceUnavailable")
    }

    /// One of [`RULE_NOT_FOUND_CODES`].
    pub fn is_rule_not_found(&self) -> bool {
        RULE_NOT_FOUND_CODES.contains(&self.code.as_str())
    }

    /// The group itself does not exist.
    pub fn is_group_not_found(&self) -> bool {
        self.code == "InvalidSecurityGroupId.NotFound"
    }

    /// One of [`QUOTA_CODES`].
    pub fn is_quota_exceeded(&self) -> bool {
        QUOTA_CODES.contains(&self.code.as_str())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = if self.code.is_empty() {
            "(no code)"
        } else {
            &self.code
        };
        write!(f, "the service answered HTTP {} {code}", self.status)?;
        if !self.message.is_empty() {
            // One line: an ACS3 string to sign quoted by the service holds
            // a line break, shown as `\n` like the service's own JSON.
            write!(f, ": {}", self.message.replace('\n', "\\n"))?;
        }
        if !self.request_id.is_empty() {
            write!(f, " (request id {})", self.request_id)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// A paged read that could not be completed consistently. Reads fail closed:
/// a partial read would let a plan remove what it did not see.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    #[error("the service returned page token {token:?} twice")]
    RepeatedToken { token: String },
    #[error("rule {rule_id} appeared on two pages")]
    DuplicateRule { rule_id: String },
    #[error("more than {pages} pages")]
    TooManyPages { pages: u32 },
}

/// What went wrong in a call.
#[derive(Debug, thiserror::Error)]
pub enum CallErrorKind {
    #[error(transparent)]
    Api(Box<ApiError>),
    #[error("no HTTP exchange with the endpoint")]
    Transport(#[source] reqwest::Error),
    /// TLS failed: the endpoint's certificate is not trusted, or the
    /// handshake broke. Not retried: the same certificate fails again.
    #[error("no TLS session with {endpoint}")]
    Tls {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("no answer within {}", humantime(*after))]
    Timeout { after: Duration },
    #[error("unreadable answer (HTTP {status}{})", request_id_suffix(request_id))]
    Decode {
        status: u16,
        request_id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("no credentials for the call")]
    Credentials(#[source] Box<CredentialError>),
    #[error("a batch of {len} items; one call takes 1 to {max}")]
    BatchSize { len: usize, max: usize },
    #[error("a rule for {found} in a batch for {expected}")]
    MixedDirections {
        expected: moat_policy::model::Direction,
        found: moat_policy::model::Direction,
    },
    #[error("incomplete read")]
    Paging(#[source] PagingError),
    #[error("unreadable rule in the answer")]
    UnreadableRule(#[source] UnknownDirection),
    #[error("unreadable answer")]
    Unreadable(#[source] crate::network::UnreadableField),
    #[error("a read-only client cannot call a mutating action")]
    ReadOnly,
}

impl CallErrorKind {
    /// The service refused the STS token as expired.
    pub fn is_expired_token(&self) -> bool {
        matches!(self, CallErrorKind::Api(e) if e.code == "InvalidSecurityToken.Expired")
    }

    pub fn is_throttling(&self) -> bool {
        matches!(self, CallErrorKind::Api(e) if e.is_throttling())
    }

    /// See [`ApiError::retry_after`].
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CallErrorKind::Api(e) => e.retry_after,
            _ => None,
        }
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            CallErrorKind::Api(e) => e.is_retryable(),
            CallErrorKind::Transport(e) => !e.is_builder(),
            CallErrorKind::Timeout { .. } => true,
            _ => false,
        }
    }
}

fn request_id_suffix(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!(", request id {id}")
    }
}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// A failed API call: which action on which group, how many attempts were
/// made, and what the last one ran into. The accessors reach into the
/// service's answer (status, code, message, request id) when there was one.
#[derive(Debug)]
pub struct CallError {
    pub action: Action,
    pub group: Option<String>,
    /// Attempts made, retries included; 0 when the call was refused before
    /// anything was sent (a batch too large, for example).
    pub attempts: u32,
    /// From the start of the first attempt to giving up.
    pub elapsed: Duration,
    pub kind: CallErrorKind,
}

impl CallError {
    pub(crate) fn before_sending(
        action: Action,
        group: Option<&str>,
        kind: CallErrorKind,
    ) -> CallError {
        CallError {
            action,
            group: group.map(str::to_owned),
            attempts: 0,
            elapsed: Duration::ZERO,
            kind,
        }
    }

    pub fn api(&self) -> Option<&ApiError> {
        match &self.kind {
            CallErrorKind::Api(e) => Some(e.as_ref()),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.kind {
            CallErrorKind::Api(e) => Some(e.status),
            CallErrorKind::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        self.api().map(|e| e.code.as_str())
    }

    pub fn message(&self) -> Option<&str> {
        self.api().map(|e| e.message.as_str())
    }

    pub fn request_id(&self) -> Option<&str> {
        match &self.kind {
            CallErrorKind::Api(e) => Some(e.request_id.as_str()),
            CallErrorKind::Decode { request_id, .. } => Some(request_id.as_str()),
            _ => None,
        }
        .filter(|id| !id.is_empty())
    }

    /// Whether the last failure was of a retryable kind (the call was then
    /// given up because attempts or time ran out).
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    pub fn is_throttling(&self) -> bool {
        self.api().is_some_and(ApiError::is_throttling)
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, CallErrorKind::Timeout { .. })
    }

    pub fn is_rule_not_found(&self) -> bool {
        self.api().is_some_and(ApiError::is_rule_not_found)
    }

    pub fn is_group_not_found(&self) -> bool {
        self.api().is_some_and(ApiError::is_group_not_found)
    }

    pub fn is_quota_exceeded(&self) -> bool {
        self.api().is_some_and(ApiError::is_quota_exceeded)
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.action)?;
        if let Some(group) = &self.group {
            write!(f, " on {group}")?;
        }
        match self.attempts {
            0 => f.write_str(" refused before sending"),
            1 => f.write_str(" failed"),
            n => write!(f, " failed after {n} attempts"),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("region {region:?} is not a valid region id")]
    InvalidRegion { region: String },
    #[error("endpoint {endpoint:?} is not a URL; write it as https://HOST[:PORT]")]
    InvalidEndpoint { endpoint: String },
    #[error("endpoint {endpoint:?} uses scheme {scheme:?}; only https and http are supported")]
    UnsupportedScheme { endpoint: String, scheme: String },
    #[error("endpoint {endpoint:?} uses plain http to a host that is not a loopback address")]
    PlainHttpNotLoopback { endpoint: String },
    #[error("max_rps {value} must be a positive number")]
    InvalidRate { value: f64 },
    #[error("page size {value} is outside 10-1000")]
    InvalidPageSize { value: u32 },
    #[error("cannot set up the HTTP client")]
    Http(#[source] reqwest::Error),
    #[error("cannot set up TLS")]
    Tls(#[source] crate::tls::TlsError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: String::new(),
            request_id: "r-1".into(),
            host_id: String::new(),
            recommend: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn classification_follows_the_reference() {
        for (status, code) in [
            (400, "Throttling"),
            (400, "Throttling.User"),
            (429, "Throttling.Api"),
            (500, "InternalError"),
            (503, "ServiceUnavailable"),
            (502, ""),
            (400, "InternalError"),
        ] {
            assert!(api(status, code).is_retryable(), "{status} {code}");
        }
        for (status, code) in [
            (400, "SignatureDoesNotMatch"),
            (404, "InvalidSecurityGroupId.NotFound"),
            (403, "AuthorizationLimitExceed"),
            (400, "IdempotentParameterMismatch"),
            (400, "InvalidTimeStamp.Expired"),
        ] {
            assert!(!api(status, code).is_retryable(), "{status} {code}");
        }
        for code in RULE_NOT_FOUND_CODES {
            assert!(api(400, code).is_rule_not_found());
        }
        assert!(!api(404, "InvalidSecurityGroupId.NotFound").is_rule_not_found());
    }

    #[test]
    fn messages_name_action_group_and_answer_once() {
        let e = CallError {
            action: Action::RevokeSecurityGroup,
            group: Some("sg-1".into()),
            attempts: 3,
            elapsed: Duration::from_secs(1),
            kind: CallErrorKind::Api(Box::new(ApiError {
                message: "The specified rule does not exist.".into(),
                ..api(400, "InvalidParam.SecurityGroupRuleId")
            })),
        };
        assert_eq!(
            e.to_string(),
            "RevokeSecurityGroup on sg-1 failed after 3 attempts"
        );
        assert_eq!(
            std::error::Error::source(&e).map(|s| s.to_string()),
            Some(
                "the service answered HTTP 400 InvalidParam.SecurityGroupRuleId: The specified rule does not exist. (request id r-1)"
                    .into()
            )
        );
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.request_id(), Some("r-1"));
        assert!(e.is_rule_not_found());
    }
}
