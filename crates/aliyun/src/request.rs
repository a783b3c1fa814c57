//! A request as a plain value: built first (action, business parameters),
//! signed in a separate pure step with credentials and a stamp (nonce and
//! timestamp), and only then sent. Each attempt of a call signs the same
//! [`ApiRequest`] afresh, so retries carry a new nonce, timestamp and
//! signature while the business parameters, the `ClientToken` among them,
//! stay identical.

use std::collections::BTreeMap;
use std::fmt;

use moat_wire::Action;
use sha1::Digest;

use crate::acs3;
use crate::credentials::Credentials;
use crate::sign::{self, SIGNATURE_METHOD, SIGNATURE_VERSION, percent_encode_into};

/// The HTTP method moat sends: POST with every parameter in the query
/// string and an empty body, as the official SDKs do (reference 1.2).
pub const HTTP_METHOD: &str = "POST";

/// One API call before signing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiRequest {
    action: Action,
    group: Option<String>,
    batch_size: usize,
    params: BTreeMap<String, String>,
}

impl ApiRequest {
    /// A request for `action` in `region` (every security group action
    /// requires `RegionId`).
    pub fn new(action: Action, region: &str) -> ApiRequest {
        let mut params = BTreeMap::new();
        params.insert("RegionId".to_owned(), region.to_owned());
        ApiRequest {
            action,
            group: None,
            batch_size: 0,
            params,
        }
    }

    /// Sets `SecurityGroupId` and remembers the group for logs and errors.
    pub fn for_group(mut self, group_id: &str) -> ApiRequest {
        self.params
            .insert("SecurityGroupId".to_owned(), group_id.to_owned());
        self.group = Some(group_id.to_owned());
        self
    }

    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> ApiRequest {
        self.set(name, value);
        self
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.params.insert(name.into(), value.into());
    }

    pub fn with_client_token(self, token: &ClientToken) -> ApiRequest {
        self.with("ClientToken", token.as_str())
    }

    /// How many rules or rule ids the call carries (0 for reads), for logs.
    pub fn with_batch_size(mut self, n: usize) -> ApiRequest {
        self.batch_size = n;
        self
    }

    pub fn action(&self) -> Action {
        self.action
    }

    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The business parameters (without the common ones signing adds).
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Signs with signature v1.0; see [`ApiRequest::sign_as`].
    pub fn sign(&self, credentials: &Credentials, stamp: &RequestStamp) -> SignedRequest {
        self.sign_as(SignatureVersion::V1, credentials, stamp, "")
    }

    /// Adds the common parameters (reference 1.3) and the signature of
    /// `version`. `host` is the `Host` header the request goes out with
    /// (ACS3 signs it; v1.0 ignores it). Pure: the same request,
    /// credentials, stamp and host give the same result.
    pub fn sign_as(
        &self,
        version: SignatureVersion,
        credentials: &Credentials,
        stamp: &RequestStamp,
        host: &str,
    ) -> SignedRequest {
        let call = RpcCall {
            action: self.action.as_str(),
            version: self.action.product().version(),
            params: &self.params,
        };
        SignedRequest {
            action: self.action,
            parts: call.sign(version, Some(credentials), stamp, host),
        }
    }
}

/// An RPC-style call of any product: action, API version and business
/// parameters, sent as POST to `/` with the parameters in the query.
#[derive(Clone, Copy, Debug)]
pub struct RpcCall<'a> {
    pub action: &'a str,
    pub version: &'a str,
    pub params: &'a BTreeMap<String, String>,
}

impl RpcCall<'_> {
    /// The query string and headers of the call signed with `version`, or,
    /// without credentials, unsigned (STS `AssumeRoleWithOIDC`, whose
    /// credential is the token it carries): the v1.0 common parameters
    /// without a key or a signature, as the official SDKs send it.
    pub fn sign(
        &self,
        version: SignatureVersion,
        credentials: Option<&Credentials>,
        stamp: &RequestStamp,
        host: &str,
    ) -> SignedParts {
        match (version, credentials) {
            (SignatureVersion::V3, Some(c)) => self.sign_v3(c, stamp, host),
            (_, credentials) => self.sign_v1(credentials, stamp),
        }
    }

    fn sign_v1(&self, credentials: Option<&Credentials>, stamp: &RequestStamp) -> SignedParts {
        let mut common: Vec<(&str, &str)> = vec![
            ("Action", self.action),
            ("Version", self.version),
            ("Format", "JSON"),
            ("SignatureNonce", &stamp.nonce),
            ("Timestamp", &stamp.timestamp),
        ];
        if let Some(c) = credentials {
            common.push(("AccessKeyId", c.access_key_id()));
            common.push(("SignatureMethod", SIGNATURE_METHOD));
            common.push(("SignatureVersion", SIGNATURE_VERSION));
            if let Some(token) = c.security_token() {
                common.push(("SecurityToken", token.expose()));
            }
        }
        common.sort_unstable_by(|a, b| a.0.cmp(b.0));
        // The business parameters are already sorted (a BTreeMap); merging
        // the two sorted lists avoids copying a request of hundreds of
        // parameters for every attempt. A common parameter wins over a
        // business one of the same name.
        let business = self
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .filter(|(k, _)| !common.iter().any(|(c, _)| c == k));
        let mut query =
            sign::canonical_query_sorted(merge_sorted(business, common.iter().copied()));
        let mut signature = String::new();
        if let Some(c) = credentials {
            signature = sign::signature(
                c.access_key_secret().expose(),
                &sign::string_to_sign(HTTP_METHOD, &query),
            );
            // The canonical string is already a valid query string in the
            // encoding the service decodes, so it is sent as it is.
            query.push_str("&Signature=");
            percent_encode_into(&mut query, &signature);
        }
        SignedParts {
            query,
            headers: vec![
                ("x-acs-action", self.action.to_owned()),
                ("x-acs-version", self.version.to_owned()),
            ],
            signature,
        }
    }

    /// ACS3-HMAC-SHA256: the business parameters stay in the query; the
    /// action, version, date, nonce, payload hash and STS token travel in
    /// signed `x-acs-*` headers, with `host`.
    fn sign_v3(&self, credentials: &Credentials, stamp: &RequestStamp, host: &str) -> SignedParts {
        let query =
            acs3::canonical_query(self.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut headers: Vec<(&'static str, String)> = vec![
            ("x-acs-action", self.action.to_owned()),
            ("x-acs-version", self.version.to_owned()),
            ("x-acs-date", stamp.timestamp.clone()),
            ("x-acs-signature-nonce", stamp.nonce.clone()),
            (
                "x-acs-content-sha256",
                acs3::EMPTY_PAYLOAD_SHA256.to_owned(),
            ),
        ];
        if let Some(token) = credentials.security_token() {
            headers.push(("x-acs-security-token", token.expose().to_owned()));
        }
        let signed = acs3::SignedHeaders::new(
            std::iter::once(("host", host)).chain(headers.iter().map(|(k, v)| (*k, v.as_str()))),
        );
        let canonical = acs3::canonical_request(
            HTTP_METHOD,
            "/",
            &query,
            &signed,
            acs3::EMPTY_PAYLOAD_SHA256,
        );
        let signature = acs3::signature(
            credentials.access_key_secret().expose(),
            &acs3::string_to_sign(&canonical),
        );
        headers.push((
            "authorization",
            acs3::authorization(credentials.access_key_id(), &signed, &signature),
        ));
        SignedParts {
            query,
            headers,
            signature,
        }
    }
}

/// Which request signature moat sends (`--signature-version`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignatureVersion {
    /// Signature v1.0: HMAC-SHA1 over the query (`SignatureVersion=1.0`).
    V1,
    /// ACS3-HMAC-SHA256 in the `Authorization` header, the default of
    /// Alibaba's current SDKs.
    #[default]
    V3,
}

impl SignatureVersion {
    /// `1` or `3`, as `--signature-version` takes them.
    pub fn parse(text: &str) -> Option<SignatureVersion> {
        match text.trim() {
            "1" | "1.0" | "v1" => Some(SignatureVersion::V1),
            "3" | "v3" | "ACS3-HMAC-SHA256" => Some(SignatureVersion::V3),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SignatureVersion::V1 => "1.0 (HMAC-SHA1)",
            SignatureVersion::V3 => acs3::ALGORITHM,
        }
    }
}

/// A signed call of any product: its query string and the headers to send
/// besides `Host` (which the HTTP client derives from the URL).
#[derive(Clone, PartialEq, Eq)]
pub struct SignedParts {
    query: String,
    headers: Vec<(&'static str, String)>,
    signature: String,
}

impl SignedParts {
    /// The query string. With v1.0 it carries the STS token of temporary
    /// credentials: send it, never log it.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The headers to send. With ACS3 they carry the STS token: send them,
    /// never log them.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The signature (unencoded base64 for v1.0, hex for ACS3; empty when
    /// unsigned).
    pub fn signature(&self) -> &str {
        &self.signature
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for SignedParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self
            .query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k @ ("SecurityToken" | "OIDCToken"), _)) => format!("{k}=<redacted>"),
                _ => kv.to_owned(),
            })
            .collect();
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                if *k == "x-acs-security-token" {
                    (*k, "<redacted>")
                } else {
                    (*k, v.as_str())
                }
            })
            .collect();
        f.debug_struct("SignedParts")
            .field("query", &shown.join("&"))
            .field("headers", &headers)
            .finish()
    }
}

/// Merges two iterators of pairs sorted by name into one sorted iterator.
fn merge_sorted<'a>(
    a: impl Iterator<Item = (&'a str, &'a str)>,
    b: impl Iterator<Item = (&'a str, &'a str)>,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
        (Some(_), Some(_)) => b.next(),
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

/// The per-attempt values of a signature: a nonce the service has not seen
/// and the current time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestStamp {
    pub nonce: String,
    /// UTC, `YYYY-MM-DDThh:mm:ssZ`.
    pub timestamp: String,
}

impl RequestStamp {
    pub fn new(nonce: impl Into<String>, timestamp: impl Into<String>) -> RequestStamp {
        RequestStamp {
            nonce: nonce.into(),
            timestamp: timestamp.into(),
        }
    }

    /// A random 128-bit nonce in lowercase hex (the SDKs' style) and the
    /// time now.
    pub fn fresh() -> RequestStamp {
        RequestStamp {
            nonce: format!("{:032x}", rand::random::<u128>()),
            timestamp: format_timestamp(jiff::Timestamp::now()),
        }
    }
}

/// The service's timestamp form: whole seconds, literal `Z`.
pub fn format_timestamp(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A signed request, ready to send. Its query string or headers hold the
/// STS token when there is one, so its `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedRequest {
    action: Action,
    parts: SignedParts,
}

impl SignedRequest {
    pub fn action(&self) -> Action {
        self.action
    }

    pub fn method(&self) -> &'static str {
        HTTP_METHOD
    }

    /// The full query string, signature included for v1.0. It carries the
    /// STS token of temporary credentials with v1.0: send it, never log it.
    pub fn query(&self) -> &str {
        self.parts.query()
    }

    /// The headers to send besides `Host`.
    pub fn headers(&self) -> &[(&'static str, String)] {
        self.parts.headers()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts.header(name)
    }

    /// The signature, unencoded.
    pub fn signature(&self) -> &str {
        self.parts.signature()
    }
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequest")
            .field("action", &self.action)
            .field("method", &HTTP_METHOD)
            .field("parts", &self.parts)
            .finish()
    }
}

/// The idempotency token of a mutating call (reference 5: at most 64 ASCII
/// characters, case-sensitive). The caller chooses it, typically from the
/// plan and the batch, so that a retry, even one made by a later run, can
/// never apply a change twice.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientToken(String);

/// A client token the service would refuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("client token {token:?} must be 1 to 64 printable ASCII characters")]
pub struct InvalidClientToken {
    pub token: String,
}

impl ClientToken {
    pub const MAX_LEN: usize = 64;

    pub fn new(token: impl Into<String>) -> Result<ClientToken, InvalidClientToken> {
        let token = token.into();
        let ok = !token.is_empty()
            && token.len() <= Self::MAX_LEN
            && token.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(ClientToken(token))
        } else {
            Err(InvalidClientToken { token })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A different token, fixed for this token and `purpose`, for a follow-up
    /// call that sends other parameters (the service refuses a token reused
    /// with different parameters). Hashing keeps it within 64 characters
    /// without truncating away what tells two tokens apart.
    pub fn derive(&self, purpose: &str) -> ClientToken {
        let mut hasher = sha1::Sha1::new();
        hasher.update(self.0.as_bytes());
        hasher.update([0u8]);
        hasher.update(purpose.as_bytes());
        let digest = hasher.finalize();
        let mut token = String::with_capacity(45);
        token.push_str("moat-");
        for b in digest {
            token.push_str(&format!("{b:02x}"));
        }
        ClientToken(token)
    }
}

impl fmt::Display for ClientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_tokens_are_checked_and_derived_within_limits() {
        assert!(ClientToken::new("").is_err());
        assert!(ClientToken::new("a".repeat(65)).is_err());
        assert!(ClientToken::new("has space").is_err());
        assert!(ClientToken::new("é").is_err());
        let t = ClientToken::new("a".repeat(64)).unwrap();
        let d = t.derive("retry-rest");
        assert!(d.as_str().len() <= 64);
        assert_ne!(d, t);
        assert_eq!(d, t.derive("retry-rest"));
        assert_ne!(d, t.derive("other"));
        assert!(ClientToken::new(d.as_str()).is_ok());
    }

    #[test]
    fn timestamps_have_whole_seconds_and_a_literal_z() {
        let t: jiff::Timestamp = "2024-05-01T08:30:00.123456Z".parse().unwrap();
        assert_eq!(format_timestamp(t), "2024-05-01T08:30:00Z");
        let fresh = RequestStamp::fresh();
        assert_eq!(fresh.nonce.len(), 32);
        assert_ne!(fresh.nonce, RequestStamp::fresh().nonce);
    }

    #[test]
    fn signed_request_debug_hides_the_token() {
        let creds = Credentials::sts("STS.x", "secret", "tok/en+");
        let req = ApiRequest::new(Action::DescribeSecurityGroups, "cn-hangzhou");
        let signed = req.sign(&creds, &RequestStamp::new("n", "2024-05-01T08:30:00Z"));
        assert!(signed.query().contains("SecurityToken=tok%2Fen%2B"));
        let shown = format!("{signed:?}");
        assert!(!shown.contains("tok"), "{shown}");
        assert!(shown.contains("SecurityToken=<redacted>"), "{shown}");
        let v3 = req.sign_as(
            SignatureVersion::V3,
            &creds,
            &RequestStamp::new("n", "2024-05-01T08:30:00Z"),
            "ecs.example",
        );
        assert_eq!(v3.header("x-acs-security-token"), Some("tok/en+"));
        let shown = format!("{v3:?}");
        assert!(!shown.contains("tok/en"), "{shown}");
    }
}
