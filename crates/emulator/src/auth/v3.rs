//! ACS3-HMAC-SHA256 (the V3 signature in the Authorization header) as a
//! request check.

use super::{Authenticator, Caller, check_time, mismatch};
use crate::acs3::{
    ALGORITHM, canonical_request, parse_authorization, sha256_hex, string_to_sign, verify,
};
use crate::error::ApiError;
use crate::request::ApiRequest;

/// Headers a V3 request must carry and sign. The documentation asks for
/// every common header present to be signed; these are the ones every call
/// has.
const REQUIRED_SIGNED: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
];
/// Common headers that must be signed when present (STS credentials).
const SIGNED_WHEN_PRESENT: [&str; 2] = ["x-acs-security-token", "x-acs-accesskey-id"];

fn incomplete(detail: &str) -> ApiError {
    ApiError::bad(
        "IncompleteSignature",
        format!("The request signature does not conform to Aliyun standards. {detail}"),
    )
}

impl Authenticator {
    /// Checks a V3 request: the Authorization header's shape and algorithm,
    /// `x-acs-date`, the signed header list, the key and its token, the
    /// signature over the canonical request (the payload hash computed from
    /// the body received), then `x-acs-signature-nonce`.
    pub(super) fn authenticate_v3(
        &self,
        req: &ApiRequest,
        authorization: &str,
        now: i64,
    ) -> Result<Caller, ApiError> {
        let auth = parse_authorization(authorization).ok_or_else(|| {
            incomplete("The Authorization header must be ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=....")
        })?;
        if auth.algorithm != ALGORITHM {
            return Err(incomplete(&format!(
                "The signature algorithm {} is not supported; use {ALGORITHM}.",
                auth.algorithm
            )));
        }
        let ts = check_time(req.header("x-acs-date"), "x-acs-date", now)?;
        let signed = |name: &str| {
            auth.signed_headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
        };
        for name in REQUIRED_SIGNED {
            if req.header(name).is_none_or(str::is_empty) {
                return Err(ApiError::missing("MissingParameter", name));
            }
            if !signed(name) {
                return Err(incomplete(&format!("The header {name} must be signed.")));
            }
        }
        for name in SIGNED_WHEN_PRESENT {
            if req.header(name).is_some() && !signed(name) {
                return Err(incomplete(&format!("The header {name} must be signed.")));
            }
        }
        let key_id = auth.credential.as_str();
        let found = self.find(key_id, now)?;
        Self::check_token(&found.key, req.header("x-acs-security-token"))?;
        let canonical = canonical_request(
            &req.method,
            &req.path,
            &req.query,
            req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &auth.signed_headers,
            &sha256_hex(&req.body),
        );
        let sts = string_to_sign(&canonical);
        if !verify(&found.key.secret, &sts, &auth.signature) {
            return Err(mismatch(&sts));
        }
        let nonce = req.header("x-acs-signature-nonce").unwrap_or_default();
        self.check_nonce(key_id, nonce, ts, now)?;
        Ok(Caller {
            key_id: key_id.to_owned(),
            identity: found.identity,
        })
    }
}
