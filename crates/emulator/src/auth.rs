//! Authentication: accepted access keys, the signature check, the Timestamp
//! window and nonce replay (reference 1.3, 1.5, 1.6, 4.4).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::BuildHasher;

use crate::clock::parse_timestamp;
use crate::error::{ApiError, KeySpecError};
use crate::params::Params;
use crate::request::ApiRequest;
use crate::signature::{SIGNATURE_METHOD, SIGNATURE_VERSION, string_to_sign, verify};

/// How far a request's Timestamp may be from the emulator's clock, either
/// way. Fifteen minutes is the widely reported window (reference 1.3; not
/// in official text).
pub const TIMESTAMP_WINDOW_SECS: i64 = 15 * 60;

/// Access key id of the demo pair the emulator accepts when no key is given.
pub const DEMO_ACCESS_KEY_ID: &str = "LTAI5tMoatDemoAccessKey";
/// Secret of the demo pair. It protects nothing: the emulator only listens on
/// loopback unless told otherwise.
pub const DEMO_ACCESS_KEY_SECRET: &str = "MoatDemoSecretForTheLocalEmulator";

/// One access key the emulator accepts. An STS key carries the security
/// token that requests made with it must present.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    id: String,
    secret: String,
    security_token: Option<String>,
}

impl AccessKey {
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> AccessKey {
        AccessKey {
            id: id.into(),
            secret: secret.into(),
            security_token: None,
        }
    }

    /// The demo pair ([`DEMO_ACCESS_KEY_ID`], [`DEMO_ACCESS_KEY_SECRET`]).
    pub fn demo() -> AccessKey {
        AccessKey::new(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET)
    }

    /// Requires requests signed with this key to carry `SecurityToken = token`.
    pub fn with_security_token(mut self, token: impl Into<String>) -> AccessKey {
        self.security_token = Some(token.into());
        self
    }

    /// Reads `ID:SECRET` or `ID:SECRET:SECURITY_TOKEN` (the command line form).
    pub fn parse_spec(spec: &str) -> Result<AccessKey, KeySpecError> {
        let mut parts = spec.splitn(3, ':');
        let id = parts.next().ok_or(KeySpecError::Shape)?;
        let secret = parts.next().ok_or(KeySpecError::Shape)?;
        if id.is_empty() {
            return Err(KeySpecError::EmptyId);
        }
        if secret.is_empty() {
            return Err(KeySpecError::EmptySecret);
        }
        let key = AccessKey::new(id, secret);
        Ok(match parts.next() {
            Some(token) if !token.is_empty() => key.with_security_token(token),
            Some(_) => return Err(KeySpecError::Shape),
            None => key,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }
}

impl fmt::Debug for AccessKey {
    // Secrets never reach a log: the id is shown, the rest is redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Nonces seen recently. A nonce only needs remembering while a request
/// carrying it could still pass the Timestamp check, so each one is kept
/// until its request's Timestamp leaves the window. Nonces are stored as
/// keyed 64-bit hashes to keep memory flat at a thousand requests a second;
/// a false "used" needs a hash collision, about one in 10^13 at that rate.
#[derive(Debug, Default)]
pub(crate) struct NonceCache {
    hasher: RandomState,
    seen: HashSet<u64>,
    /// (expiry, hash) in insertion order; expiries are not quite sorted, so
    /// pruning stops at the first live entry and the rest wait their turn.
    order: VecDeque<(i64, u64)>,
}

impl NonceCache {
    /// Records the nonce; false when it was already used.
    fn insert(&mut self, key_id: &str, nonce: &str, expires: i64, now: i64) -> bool {
        while let Some(&(exp, h)) = self.order.front() {
            if exp >= now {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&h);
        }
        let h = self.hasher.hash_one((key_id, nonce));
        if !self.seen.insert(h) {
            return false;
        }
        self.order.push_back((expires, h));
        true
    }
}

/// Who signed a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    pub key_id: String,
}

/// The accepted keys and the replay state.
#[derive(Debug)]
pub(crate) struct Authenticator {
    keys: HashMap<String, AccessKey>,
    nonces: std::sync::Mutex<NonceCache>,
}

impl Authenticator {
    pub(crate) fn new(keys: impl IntoIterator<Item = AccessKey>) -> Authenticator {
        Authenticator {
            keys: keys.into_iter().map(|k| (k.id.clone(), k)).collect(),
            nonces: std::sync::Mutex::new(NonceCache::default()),
        }
    }

    /// Checks a request's signature; returns who signed it.
    pub(crate) fn authenticate(&self, req: &ApiRequest, now: i64) -> Result<Caller, ApiError> {
        let acs3 = req
            .header("authorization")
            .is_some_and(|v| v.starts_with("ACS3-"));
        if acs3 && !req.params.contains("Signature") {
            // Newer SDKs sign with ACS3-HMAC-SHA256 in a header unless told
            // to use signature v2 (reference 1.8): say so plainly.
            return Err(ApiError::bad(
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards: this emulator verifies signature version 1.0 only (configure the SDK with signature_algorithm v2).",
            ));
        }
        let key = self.authenticate_v1(&req.method, &req.params, now)?;
        Ok(Caller {
            key_id: key.id.clone(),
        })
    }

    /// Checks a signature v1.0 request's signature fields; returns the key it
    /// was signed with. The nonce is recorded only once the signature holds,
    /// so a forged request cannot burn a caller's nonce.
    fn authenticate_v1(
        &self,
        method: &str,
        params: &Params,
        now: i64,
    ) -> Result<&AccessKey, ApiError> {
        let Some(signature) = params.raw("Signature") else {
            // A request signed another way (the V3 Authorization header, or
            // none at all) lands here: reference 1.8 recommends an obvious 400.
            return Err(ApiError::bad(
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards.",
            ));
        };
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
        // IllegalTimestamp is documented for a missing Timestamp; the code for
        // a malformed one is UNCONFIRMED (reference 4.4), so it is reused.
        let Some(ts) = params.get("Timestamp") else {
            return Err(ApiError::missing("IllegalTimestamp", "Timestamp"));
        };
        let Some(ts) = parse_timestamp(ts) else {
            return Err(ApiError::bad(
                "IllegalTimestamp",
                "The input parameter \"Timestamp\" is not in the format YYYY-MM-DDThh:mm:ssZ.",
            ));
        };
        if (now - ts).abs() > TIMESTAMP_WINDOW_SECS {
            return Err(ApiError::bad(
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
            ));
        }
        let Some(key_id) = params.get("AccessKeyId") else {
            return Err(ApiError::missing("MissingParameter", "AccessKeyId"));
        };
        // 400 as in the ECS common error table (other products say 404).
        let key = self.keys.get(key_id).ok_or_else(|| {
            ApiError::bad(
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            )
        })?;
        if let Some(expected) = &key.security_token {
            // The codes for a missing or wrong token are UNCONFIRMED: these are
            // the names the service's gateway is reported to use.
            match params.get("SecurityToken") {
                None => {
                    return Err(ApiError::bad(
                        "MissingSecurityToken",
                        "SecurityToken is mandatory for this action.",
                    ));
                }
                Some(t) if t != expected => {
                    return Err(ApiError::bad(
                        "InvalidSecurityToken.MismatchWithAccessKey",
                        "Specified SecurityToken mismatch with the AccessKey.",
                    ));
                }
                Some(_) => {}
            }
        }
        let sts = string_to_sign(method, params.iter());
        if !verify(&key.secret, &sts, signature) {
            // This exact prefix matters: the official SDKs split the message
            // at ':' and compare the server's string to sign with their own
            // (reference 1.6).
            return Err(ApiError::bad(
                "SignatureDoesNotMatch",
                format!(
                    "Specified signature is not matched with our calculation. server string to sign is:{sts}"
                ),
            ));
        }
        let Some(nonce) = params.get("SignatureNonce") else {
            return Err(ApiError::missing("MissingParameter", "SignatureNonce"));
        };
        let fresh = self
            .nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key_id, nonce, ts + TIMESTAMP_WINDOW_SECS, now);
        if !fresh {
            return Err(ApiError::bad(
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_specs_parse_and_redact() {
        let k = AccessKey::parse_spec("id:s3cr3tv4lue:t0k3nv4lue").unwrap();
        assert_eq!(
            (k.id(), k.secret(), k.security_token()),
            ("id", "s3cr3tv4lue", Some("t0k3nv4lue"))
        );
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("s3cr3t") && !dbg.contains("t0k3n"), "{dbg}");
        assert_eq!(AccessKey::parse_spec("id"), Err(KeySpecError::Shape));
        assert_eq!(AccessKey::parse_spec(":s"), Err(KeySpecError::EmptyId));
        assert_eq!(AccessKey::parse_spec("i:"), Err(KeySpecError::EmptySecret));
        assert_eq!(AccessKey::parse_spec("i:s:"), Err(KeySpecError::Shape));
    }

    #[test]
    fn nonces_expire_with_their_timestamp_window() {
        let mut c = NonceCache::default();
        assert!(c.insert("k", "n1", 100, 0));
        assert!(!c.insert("k", "n1", 100, 50));
        assert!(c.insert("other", "n1", 100, 50));
        assert!(c.insert("k", "n2", 200, 101));
        // n1 expired at 100 and was pruned, so it is accepted again.
        assert!(c.insert("k", "n1", 300, 101));
    }
}
