//! Reading answers: a success body into its wire type, an error body into an
//! [`ApiError`], as pure functions over status, headers and bytes.

use moat_wire::{
    CreateSecurityGroupResponse, DescribeSecurityGroupAttributeResponse,
    DescribeSecurityGroupsResponse, ErrorBody, ListTagResourcesResponse, RequestIdResponse,
};
use serde::de::DeserializeOwned;

use crate::credentials::Credentials;
use crate::error::{ApiError, CallErrorKind};

/// A success answer that carries a request id.
pub trait WireResponse: DeserializeOwned {
    fn request_id(&self) -> &str;
}

impl WireResponse for RequestIdResponse {
    fn request_id(&self) -> &str {
        self.request_id.as_str()
    }
}

impl WireResponse for CreateSecurityGroupResponse {
    fn request_id(&self) -> &str {
        self.request_id.as_str()
    }
}

impl WireResponse for DescribeSecurityGroupsResponse {
    fn request_id(&self) -> &str {
        self.request_id.as_str()
    }
}

impl WireResponse for DescribeSecurityGroupAttributeResponse {
    fn request_id(&self) -> &str {
        self.request_id.as_str()
    }
}

macro_rules! with_request_id {
    ($($t:ty),*) => {$(
        impl WireResponse for $t {
            fn request_id(&self) -> &str {
                self.request_id.as_str()
            }
        }
    )*};
}

with_request_id!(
    moat_wire::DescribeInstancesResponse,
    moat_wire::DescribeNetworkInterfacesResponse,
    moat_wire::DescribeVSwitchesResponse,
    moat_wire::DescribeNetworkAclAttributesResponse,
    moat_wire::DescribeEipAddressesResponse
);

impl WireResponse for ListTagResourcesResponse {
    fn request_id(&self) -> &str {
        self.request_id.as_str()
    }
}

/// Longest piece of an unreadable error body kept in a message.
const BODY_SNIPPET: usize = 200;

/// Reads an answer. `header_request_id` is the `x-acs-request-id` header,
/// used when the body has none. Messages pass through
/// [`Credentials::scrub`] so no secret the service echoes is kept.
pub fn parse_response<T: WireResponse>(
    status: u16,
    header_request_id: Option<&str>,
    body: &[u8],
    credentials: &Credentials,
) -> Result<T, CallErrorKind> {
    if (200..300).contains(&status) {
        return serde_json::from_slice::<T>(body).map_err(|source| CallErrorKind::Decode {
            status,
            request_id: header_request_id.unwrap_or_default().to_owned(),
            source,
        });
    }
    let error = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => {
            let request_id = if e.request_id.is_empty() {
                header_request_id.unwrap_or_default().to_owned()
            } else {
                e.request_id.to_string()
            };
            ApiError {
                status,
                code: e.code.to_string(),
                message: credentials.scrub(e.message.as_str()),
                request_id,
                host_id: e.host_id.to_string(),
                recommend: e.recommend.to_string(),
                retry_after: None,
            }
        }
        // Not the service's JSON (a proxy's page, a truncated body): keep
        // the status, which still classifies it, and the start of the text.
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let snippet: String = text.trim().chars().take(BODY_SNIPPET).collect();
            ApiError {
                status,
                code: String::new(),
                message: credentials.scrub(&snippet),
                request_id: header_request_id.unwrap_or_default().to_owned(),
                host_id: String::new(),
                recommend: String::new(),
                retry_after: None,
            }
        }
    };
    Err(CallErrorKind::Api(Box::new(error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_api_errors_without_secrets() {
        let creds = Credentials::sts("STS.id", "sec", "tok/+");
        let body = br#"{"RequestId":"r-9","HostId":"h","Code":"SignatureDoesNotMatch",
            "Message":"server string to sign is:POST&%2F&SecurityToken%3Dtok%252F%252B"}"#;
        let err = parse_response::<RequestIdResponse>(400, None, body, &creds).unwrap_err();
        let CallErrorKind::Api(e) = err else {
            panic!("{err:?}")
        };
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert_eq!(e.request_id, "r-9");
        assert!(!e.message.contains("tok"), "{}", e.message);

        let err = parse_response::<RequestIdResponse>(
            502,
            Some("hdr"),
            b"<html>bad gateway</html>",
            &creds,
        )
        .unwrap_err();
        let CallErrorKind::Api(e) = err else {
            panic!("{err:?}")
        };
        assert!(e.is_retryable());
        assert_eq!(e.request_id, "hdr");
        assert_eq!(e.message, "<html>bad gateway</html>");
    }

    #[test]
    fn success_bodies_parse_tolerantly() {
        let creds = Credentials::access_key("id", "sec");
        let ok: DescribeSecurityGroupAttributeResponse = parse_response(
            200,
            None,
            br#"{"RequestId":"r","Permissions":{"Permission":[{"Priority":"3"}]}}"#,
            &creds,
        )
        .unwrap();
        assert_eq!(ok.request_id(), "r");
        assert_eq!(ok.permissions.permission.len(), 1);
        let err =
            parse_response::<RequestIdResponse>(200, Some("h"), b"not json", &creds).unwrap_err();
        assert!(matches!(err, CallErrorKind::Decode { status: 200, .. }));
    }
}
