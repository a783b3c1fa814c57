//! Signature v1.0 (HMAC-SHA1 over the parameters) as a request check.

use super::{Authenticator, Caller, check_time, mismatch};
use crate::error::ApiError;
use crate::request::ApiRequest;
use crate::signature::{SIGNATURE_METHOD, SIGNATURE_VERSION, string_to_sign, verify};

impl Authenticator {
    /// Checks a v1.0 request's signature fields in the order the service
    /// reports them: method and version, Timestamp, key, token, signature,
    /// then the nonce.
    pub(super) fn authenticate_v1(&self, req: &ApiRequest, now: i64) -> Result<Caller, ApiError> {
        let params = &req.params;
        let signature = params.raw("Signature").unwrap_or_default();
        match params.raw("SignatureMethod") {
            None => return Err(ApiError::missing("MissingParameter", "SignatureMethod")),
            // The misspelt code is the service's own (reference 4.4).
            Some(m) if m != SIGNATURE_METHOD => {
                return Err(ApiError::invalid("InvalidParamater", "SignatureMethod"));
            }
            Some(_) => {}
        }
        match params.raw("SignatureVersion") {
            None => return Err(ApiError::missing("MissingParameter", "SignatureVersion")),
            Some(v) if v != SIGNATURE_VERSION => {
                return Err(ApiError::invalid("InvalidParamater", "SignatureVersion"));
            }
            Some(_) => {}
        }
        let ts = check_time(params.get("Timestamp"), "Timestamp", now)?;
        let Some(key_id) = params.get("AccessKeyId") else {
            return Err(ApiError::missing("MissingParameter", "AccessKeyId"));
        };
        let found = self.find(key_id, now)?;
        Self::check_token(&found.key, params.get("SecurityToken"))?;
        let sts = string_to_sign(&req.method, params.iter());
        if !verify(&found.key.secret, &sts, signature) {
            return Err(mismatch(&sts));
        }
        let Some(nonce) = params.get("SignatureNonce") else {
            return Err(ApiError::missing("MissingParameter", "SignatureNonce"));
        };
        self.check_nonce(key_id, nonce, ts, now)?;
        Ok(Caller {
            key_id: key_id.to_owned(),
            identity: found.identity,
        })
    }
}
