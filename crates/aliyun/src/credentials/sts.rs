//! The STS calls the credential chain makes (API version 2015-04-01):
//! `AssumeRole`, signed with the source credentials, and
//! `AssumeRoleWithOIDC`, unsigned (the OIDC token is the credential), as the
//! official credentials libraries send them: an RPC call to `/` with the
//! business parameters in the query.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use super::Credentials;
use crate::client::host_header;
use crate::request::{RequestStamp, RpcCall, SignatureVersion};
use crate::secret::Secret;

pub const STS_VERSION: &str = "2015-04-01";
/// The global STS endpoint.
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.aliyuncs.com/";
/// `DurationSeconds` when nothing says otherwise: one hour, the official
/// libraries' default.
pub const DEFAULT_DURATION_SECS: u64 = 3600;
/// The shortest session STS grants.
pub const MIN_DURATION_SECS: u64 = 900;

/// Why STS gave no credentials. Messages never hold a secret: the service's
/// own message is scrubbed of the source credentials and the OIDC token.
#[derive(Debug, thiserror::Error)]
pub enum StsError {
    #[error("cannot set up an HTTP client for STS")]
    Client(#[source] reqwest::Error),
    #[error("cannot set up TLS for STS")]
    Tls(#[source] crate::tls::TlsError),
    #[error("STS at {endpoint} unreachable")]
    Unreachable {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("STS {action} answered HTTP {status} {code}: {message} (request id {request_id})")]
    Api {
        action: &'static str,
        status: u16,
        code: String,
        message: String,
        request_id: String,
    },
    #[error("STS {action} answered HTTP {status} with a body that is not its JSON answer")]
    Decode { action: &'static str, status: u16 },
    #[error("STS {action} gave an unreadable Expiration {value:?}")]
    Expiration { action: &'static str, value: String },
}

/// One role to assume and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRequest {
    pub role_arn: String,
    pub session_name: String,
    pub duration_secs: u64,
    /// An inline policy that narrows the role's permissions.
    pub policy: Option<String>,
    /// `ExternalId` (AssumeRole only).
    pub external_id: Option<String>,
}

/// A client of STS on one endpoint.
#[derive(Clone, Debug)]
pub(crate) struct StsClient {
    http: reqwest::Client,
    endpoint: Url,
    signature_version: SignatureVersion,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    credentials: Option<IssuedCredentials>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IssuedCredentials {
    access_key_id: String,
    access_key_secret: Secret,
    security_token: Secret,
    expiration: String,
}

impl StsClient {
    pub(crate) fn new(
        endpoint: Url,
        signature_version: SignatureVersion,
        timeout: Duration,
    ) -> Result<StsClient, StsError> {
        // No proxy from the environment: this library does not read it.
        let http = crate::tls::http_client(None)
            .map_err(StsError::Tls)?
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("moat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(StsError::Client)?;
        Ok(StsClient {
            http,
            endpoint,
            signature_version,
        })
    }

    /// `AssumeRole` with `source`'s key.
    pub(crate) async fn assume_role(
        &self,
        source: &Credentials,
        role: &RoleRequest,
    ) -> Result<Credentials, StsError> {
        let mut params = role_params(role);
        if let Some(id) = &role.external_id {
            params.insert("ExternalId".to_owned(), id.clone());
        }
        self.call("AssumeRole", &params, Some(source), |text| {
            source.scrub(text)
        })
        .await
    }

    /// `AssumeRoleWithOIDC` in exchange for `token`.
    pub(crate) async fn assume_role_with_oidc(
        &self,
        provider_arn: &str,
        token: &Secret,
        role: &RoleRequest,
    ) -> Result<Credentials, StsError> {
        let mut params = role_params(role);
        params.insert("OIDCProviderArn".to_owned(), provider_arn.to_owned());
        params.insert("OIDCToken".to_owned(), token.expose().to_owned());
        let scrub = |text: &str| Credentials::access_key("", token.clone()).scrub(text);
        self.call("AssumeRoleWithOIDC", &params, None, scrub).await
    }

    async fn call(
        &self,
        action: &'static str,
        params: &std::collections::BTreeMap<String, String>,
        source: Option<&Credentials>,
        scrub: impl Fn(&str) -> String,
    ) -> Result<Credentials, StsError> {
        let call = RpcCall {
            action,
            version: STS_VERSION,
            params,
        };
        let signed = call.sign(
            self.signature_version,
            source,
            &RequestStamp::fresh(),
            &host_header(&self.endpoint),
        );
        let url = format!("{}?{}", self.endpoint, signed.query());
        let mut request = self.http.post(url);
        for (name, value) in signed.headers() {
            request = request.header(*name, value);
        }
        let unreachable = |source: reqwest::Error| StsError::Unreachable {
            endpoint: self.endpoint.to_string(),
            // The URL holds the OIDC token or the STS token of the source.
            source: source.without_url(),
        };
        let resp = request
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .send()
            .await
            .map_err(unreachable)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(unreachable)?;
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|_| StsError::Decode { action, status })?;
        let issued = match answer.credentials {
            Some(c) if (200..300).contains(&status) => c,
            _ if !answer.code.is_empty() || status >= 300 => {
                return Err(StsError::Api {
                    action,
                    status,
                    code: answer.code,
                    message: scrub(&answer.message),
                    request_id: answer.request_id,
                });
            }
            _ => return Err(StsError::Decode { action, status }),
        };
        let expiration: jiff::Timestamp =
            issued
                .expiration
                .parse()
                .map_err(|_| StsError::Expiration {
                    action,
                    value: issued.expiration.clone(),
                })?;
        tracing::debug!(action, request_id = %answer.request_id, %expiration, "STS issued credentials");
        Ok(Credentials::sts(
            issued.access_key_id,
            issued.access_key_secret,
            issued.security_token,
        )
        .with_expiration(expiration))
    }
}

fn role_params(role: &RoleRequest) -> std::collections::BTreeMap<String, String> {
    let mut params = std::collections::BTreeMap::new();
    params.insert("RoleArn".to_owned(), role.role_arn.clone());
    params.insert("RoleSessionName".to_owned(), role.session_name.clone());
    params.insert("DurationSeconds".to_owned(), role.duration_secs.to_string());
    if let Some(policy) = &role.policy {
        params.insert("Policy".to_owned(), policy.clone());
    }
    params
}
