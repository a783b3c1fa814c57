//! Errors: the API errors the emulator answers with, and the library's own.

use std::borrow::Cow;
use std::path::PathBuf;

/// An error answer of the API: an HTTP status, the real error code and a
/// message (reference 1.9 and 4.4). Codes keep the service's own spelling,
/// misspellings included, because clients match them byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: Cow<'static, str>,
    pub message: String,
}

impl ApiError {
    pub fn new(
        status: u16,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(400, code, message)
    }

    /// A required parameter is absent, in the service's wording.
    pub fn missing(code: &'static str, name: &str) -> Self {
        ApiError::bad(
            code,
            format!(
                "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
            ),
        )
    }

    /// A parameter has a value the service does not take.
    pub fn invalid(code: &'static str, name: &str) -> Self {
        ApiError::bad(
            code,
            format!("The specified parameter \"{name}\" is not valid."),
        )
    }

    pub fn group_not_found() -> Self {
        ApiError::new(
            404,
            "InvalidSecurityGroupId.NotFound",
            "The specified SecurityGroupId does not exist.",
        )
    }

    pub fn throttling() -> Self {
        // HTTP 400, as SDK reports show for ECS (reference 4.4).
        ApiError::bad(
            "Throttling",
            "Request was denied due to request throttling.",
        )
    }

    pub fn internal_error() -> Self {
        ApiError::new(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error, exception or failure.",
        )
    }

    pub fn service_unavailable() -> Self {
        ApiError::new(
            503,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        )
    }
}

/// Errors of the library itself (starting, loading, saving, seeding).
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error(
        "listen address {0} is not a loopback address (allow it explicitly to serve other hosts)"
    )]
    NotLoopback(std::net::SocketAddr),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the emulator's runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot read state file {path}")]
    ReadState {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is not valid JSON of the expected shape")]
    ParseState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("state file {path} has format version {found}; this emulator reads version {expected}")]
    StateVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("cannot write state file {path}")]
    WriteState {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error(transparent)]
    Sts(#[from] crate::sts::StsSpecError),
}

/// Why a group or rule given to the seeding API (or found in a state file)
/// was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error("security group {id} already exists")]
    GroupExists { id: String },
    #[error("{id:?} is not a security group id (sg-...)")]
    BadGroupId { id: String },
    #[error("{region:?} is not a region id")]
    BadRegion { region: String },
    #[error("security group {group}: {field} is invalid ({code}: {message})")]
    BadGroupField {
        group: String,
        field: &'static str,
        code: String,
        message: String,
    },
    #[error("security group {group}, rule {index}: {code}: {message}")]
    BadRule {
        group: String,
        /// 1-based position among the group's seeded rules.
        index: usize,
        code: String,
        message: String,
    },
    #[error("security group {group}: rule id {rule_id} is used twice")]
    DuplicateRuleId { group: String, rule_id: String },
    #[error("security group {group}: rules {first} and {second} are the same rule")]
    DuplicateRule {
        group: String,
        first: usize,
        second: usize,
    },
}

/// Why an `--access-key` value could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeySpecError {
    #[error("access key must be ID:SECRET or ID:SECRET:SECURITY_TOKEN")]
    Shape,
    #[error("access key id must not be empty")]
    EmptyId,
    #[error("access key secret must not be empty")]
    EmptySecret,
}
