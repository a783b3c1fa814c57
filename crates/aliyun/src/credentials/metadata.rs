//! The ECS instance metadata service, for the credentials of the instance's
//! RAM role (reference 6.3): an IMDSv2 session token first, then the role
//! name when it is not configured, then the role's temporary credentials.

use std::time::Duration;

use super::answer::{AnswerProblem, parse_key_answer};

use super::Credentials;
use crate::secret::Secret;
use crate::sign::percent_encode;

/// Where the metadata service answers on every ECS instance (plain http to a
/// link-local style address, as the official SDKs use it).
pub const DEFAULT_METADATA_BASE_URL: &str = "http://100.100.100.200";

const TOKEN_PATH: &str = "/latest/api/token";
const TOKEN_TTL_HEADER: &str = "X-aliyun-ecs-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "X-aliyun-ecs-metadata-token";
const TOKEN_TTL_SECONDS: &str = "21600";
const ROLE_PATH: &str = "/latest/meta-data/ram/security-credentials/";

/// Why the metadata service gave no credentials.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("cannot set up an HTTP client for the metadata service")]
    Client(#[source] reqwest::Error),
    #[error("cannot set up TLS for the metadata service")]
    Tls(#[source] crate::tls::TlsError),
    #[error("metadata service {url} unreachable")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("metadata service answered HTTP {status} for {url}")]
    Status { url: String, status: u16 },
    #[error("IMDSv1 is disabled and the metadata service gave no session token")]
    TokenRequired {
        #[source]
        source: Box<MetadataError>,
    },
    #[error("metadata service names no RAM role at {url}")]
    NoRole { url: String },
    #[error("metadata service answered {url} with unreadable credentials")]
    Parse {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("metadata service answered Code {code:?} for RAM role {role:?}")]
    NotSuccess { role: String, code: String },
    #[error(
        "metadata service gave RAM role {role:?} no AccessKeyId, AccessKeySecret or SecurityToken"
    )]
    Incomplete { role: String },
    #[error("metadata service gave RAM role {role:?} an unreadable Expiration {value:?}")]
    Expiration { role: String, value: String },
}

#[derive(Debug)]
pub(crate) struct MetadataClient {
    base: String,
    http: reqwest::Client,
    v1_disabled: bool,
}

impl MetadataClient {
    pub(crate) fn new(
        base: &str,
        timeout: Duration,
        v1_disabled: bool,
    ) -> Result<MetadataClient, MetadataError> {
        // No proxy: the library does not read the process environment, and a
        // proxy could not reach an instance-local service anyway.
        let http = crate::tls::http_client(None)
            .map_err(MetadataError::Tls)?
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(MetadataError::Client)?;
        Ok(MetadataClient {
            base: base.trim_end_matches('/').to_owned(),
            http,
            v1_disabled,
        })
    }

    /// The IMDSv2 session token, or `None` when the service gives none and
    /// token-less (IMDSv1) requests are allowed.
    async fn session_token(&self) -> Result<Option<Secret>, MetadataError> {
        let url = format!("{}{TOKEN_PATH}", self.base);
        let answer = self
            .http
            .put(&url)
            .header(TOKEN_TTL_HEADER, TOKEN_TTL_SECONDS)
            .send()
            .await;
        let failure = match answer {
            Ok(resp) if resp.status().is_success() => match resp.text().await {
                Ok(token) if !token.trim().is_empty() => {
                    return Ok(Some(Secret::new(token.trim())));
                }
                Ok(_) => MetadataError::Status { url, status: 200 },
                Err(source) => unreachable_error(url, source),
            },
            Ok(resp) => MetadataError::Status {
                url,
                status: resp.status().as_u16(),
            },
            Err(source) => unreachable_error(url, source),
        };
        if self.v1_disabled {
            return Err(MetadataError::TokenRequired {
                source: Box::new(failure),
            });
        }
        // A service that cannot be reached at all will not answer the
        // token-less request either; say so now instead of waiting twice.
        if matches!(failure, MetadataError::Unreachable { .. }) {
            return Err(failure);
        }
        tracing::debug!(error = %failure, "no IMDSv2 token; falling back to IMDSv1");
        Ok(None)
    }

    async fn get(&self, path: &str, token: Option<&Secret>) -> Result<String, MetadataError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.get(&url);
        if let Some(token) = token {
            request = request.header(TOKEN_HEADER, token.expose());
        }
        let resp = request
            .send()
            .await
            .map_err(|source| unreachable_error(url.clone(), source))?;
        if !resp.status().is_success() {
            return Err(MetadataError::Status {
                url,
                status: resp.status().as_u16(),
            });
        }
        resp.text()
            .await
            .map_err(|source| unreachable_error(url, source))
    }

    /// The instance's RAM role name.
    pub(crate) async fn role_name(&self) -> Result<String, MetadataError> {
        let token = self.session_token().await?;
        let body = self.get(ROLE_PATH, token.as_ref()).await?;
        body.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| MetadataError::NoRole {
                url: format!("{}{ROLE_PATH}", self.base),
            })
    }

    /// Temporary credentials of `role`.
    pub(crate) async fn role_credentials(&self, role: &str) -> Result<Credentials, MetadataError> {
        let token = self.session_token().await?;
        let path = format!("{ROLE_PATH}{}", percent_encode(role));
        let body = self.get(&path, token.as_ref()).await?;
        parse_key_answer(body.as_bytes()).map_err(|problem| match problem {
            AnswerProblem::Malformed(source) => MetadataError::Parse {
                url: format!("{}{path}", self.base),
                source,
            },
            AnswerProblem::NotSuccess(code) => MetadataError::NotSuccess {
                role: role.to_owned(),
                code,
            },
            AnswerProblem::Empty => MetadataError::Incomplete {
                role: role.to_owned(),
            },
            AnswerProblem::Expiration(value) => MetadataError::Expiration {
                role: role.to_owned(),
                value,
            },
        })
    }
}

fn unreachable_error(url: String, source: reqwest::Error) -> MetadataError {
    MetadataError::Unreachable {
        url,
        source: source.without_url(),
    }
}
