//! Authentication: accepted access keys (configured ones and those STS
//! issues), the two signature schemes (v1.0 in parameters, ACS3 in the
//! Authorization header), the time window and nonce replay (reference 1.3,
//! 1.5, 1.6, 1.8, 4.4).

mod key;
mod nonce;
mod v1;
mod v3;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

pub use key::{AccessKey, DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET};

use crate::clock::parse_timestamp;
use crate::error::ApiError;
use crate::ids::IdGen;
use crate::request::ApiRequest;
use nonce::NonceCache;

/// How far a request's Timestamp (or `x-acs-date`) may be from the
/// emulator's clock, either way. Fifteen minutes is the widely reported
/// window (reference 1.3) and the one the V3 signature documentation gives
/// for `x-acs-date`.
pub const TIMESTAMP_WINDOW_SECS: i64 = 15 * 60;

/// Whose key signed a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    /// A configured key: the account itself.
    Account,
    /// A key STS issued for a role session.
    AssumedRole {
        role_arn: String,
        session_name: String,
    },
}

/// Who signed a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    pub key_id: String,
    pub identity: Identity,
}

/// A key STS issued: valid until `expires` (seconds since the epoch).
#[derive(Clone, Debug)]
pub(crate) struct IssuedKey {
    pub key: AccessKey,
    pub expires: i64,
    pub role_arn: String,
    pub session_name: String,
    /// Requests that named the key so far (for the `sts_key_uses` fault).
    pub uses: u32,
}

/// The key a request names, found among the configured and issued ones.
struct Found {
    key: AccessKey,
    identity: Identity,
}

/// The accepted keys and the replay state.
#[derive(Debug)]
pub(crate) struct Authenticator {
    keys: HashMap<String, AccessKey>,
    issued: Mutex<HashMap<String, IssuedKey>>,
    nonces: Mutex<NonceCache>,
    /// Draws the keys STS issues.
    rng: Mutex<IdGen>,
    /// The `sts_key_uses` fault: an issued key named more often than this
    /// is expired (0: never).
    sts_key_uses: AtomicU32,
}

/// How long an issued key is remembered past its expiry, so that a late
/// request hears that its token expired rather than that its key is unknown.
const EXPIRED_KEY_MEMORY_SECS: i64 = 24 * 3600;

impl Authenticator {
    /// The accepted keys; `seed` makes the keys STS issues repeatable.
    pub(crate) fn new(
        keys: impl IntoIterator<Item = AccessKey>,
        seed: Option<u64>,
    ) -> Authenticator {
        Authenticator {
            keys: keys.into_iter().map(|k| (k.id.clone(), k)).collect(),
            issued: Mutex::new(HashMap::new()),
            nonces: Mutex::new(NonceCache::default()),
            rng: Mutex::new(
                seed.map_or_else(IdGen::from_entropy, |s| IdGen::new(s ^ 0x57_5354_4b45_5953)),
            ),
            sts_key_uses: AtomicU32::new(0),
        }
    }

    /// Sets the `sts_key_uses` fault (0 turns it off).
    pub(crate) fn set_sts_key_uses(&self, uses: u32) {
        self.sts_key_uses.store(uses, Ordering::Relaxed);
    }

    /// Runs `f` with the generator of issued keys.
    pub(crate) fn with_rng<T>(&self, f: impl FnOnce(&mut IdGen) -> T) -> T {
        f(&mut self.rng.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Checks a request's signature, whichever scheme it uses; returns who
    /// signed it. A `Signature` parameter means v1.0; otherwise an
    /// `Authorization: ACS3-...` header means V3.
    pub(crate) fn authenticate(&self, req: &ApiRequest, now: i64) -> Result<Caller, ApiError> {
        if req.params.contains("Signature") {
            return self.authenticate_v1(req, now);
        }
        match req.header("authorization") {
            Some(value) if value.trim_start().starts_with("ACS3-") => {
                self.authenticate_v3(req, value, now)
            }
            // Reference 1.8 recommends an obvious 400 for a request signed
            // no way the emulator knows.
            _ => Err(ApiError::bad(
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards.",
            )),
        }
    }

    /// Keeps a key STS issued. Keys long expired are dropped on the way, so
    /// the map does not grow without bound.
    pub(crate) fn issue(&self, issued: IssuedKey, now: i64) {
        let mut map = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, k| k.expires + EXPIRED_KEY_MEMORY_SECS > now);
        map.insert(issued.key.id.clone(), issued);
    }

    /// The key with this id and the identity it stands for. An issued key
    /// past its expiry answers `InvalidSecurityToken.Expired`.
    fn find(&self, key_id: &str, now: i64) -> Result<Found, ApiError> {
        if let Some(key) = self.keys.get(key_id) {
            return Ok(Found {
                key: key.clone(),
                identity: Identity::Account,
            });
        }
        let limit = self.sts_key_uses.load(Ordering::Relaxed);
        let mut issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        let used_up = |k: &IssuedKey| limit > 0 && k.uses >= limit;
        match issued.get_mut(key_id) {
            Some(k) if k.expires <= now || used_up(k) => Err(ApiError::bad(
                "InvalidSecurityToken.Expired",
                "Specified SecurityToken is expired.",
            )),
            Some(k) => {
                k.uses = k.uses.saturating_add(1);
                Ok(Found {
                    key: k.key.clone(),
                    identity: Identity::AssumedRole {
                        role_arn: k.role_arn.clone(),
                        session_name: k.session_name.clone(),
                    },
                })
            }
            // 400 as in the ECS common error table (other products say 404).
            None => Err(ApiError::bad(
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            )),
        }
    }

    /// Checks the security token an STS key's requests must carry.
    fn check_token(key: &AccessKey, sent: Option<&str>) -> Result<(), ApiError> {
        let Some(expected) = &key.security_token else {
            return Ok(());
        };
        // The codes for a missing or wrong token are UNCONFIRMED: these are
        // the names the service's gateway is reported to use.
        match sent {
            None => Err(ApiError::bad(
                "MissingSecurityToken",
                "SecurityToken is mandatory for this action.",
            )),
            Some(t) if t != expected => Err(ApiError::bad(
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            )),
            Some(_) => Ok(()),
        }
    }

    /// Records a nonce once the signature holds (so that a forged request
    /// cannot burn a caller's nonce); `SignatureNonceUsed` when it was used
    /// within the window.
    fn check_nonce(&self, key_id: &str, nonce: &str, ts: i64, now: i64) -> Result<(), ApiError> {
        let fresh = self
            .nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key_id, nonce, ts + TIMESTAMP_WINDOW_SECS, now);
        if !fresh {
            return Err(ApiError::bad(
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ));
        }
        Ok(())
    }
}

/// Reads a request time (`Timestamp`, `x-acs-date`) and checks it against
/// the window. `name` is the parameter or header, for messages.
fn check_time(value: Option<&str>, name: &str, now: i64) -> Result<i64, ApiError> {
    // IllegalTimestamp is documented for a missing Timestamp; the code for
    // a malformed one is UNCONFIRMED (reference 4.4), so it is reused.
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Err(ApiError::missing("IllegalTimestamp", name));
    };
    let Some(ts) = parse_timestamp(value) else {
        return Err(ApiError::bad(
            "IllegalTimestamp",
            format!("The input parameter \"{name}\" is not in the format YYYY-MM-DDThh:mm:ssZ."),
        ));
    };
    if (now - ts).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(ApiError::bad(
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    Ok(ts)
}

/// `SignatureDoesNotMatch` with the server's string to sign. This exact
/// prefix matters: the official SDKs split the message at ':' and compare
/// the server's string to sign with their own (reference 1.6). V3 answers
/// use the same wording (UNCONFIRMED for the service).
fn mismatch(string_to_sign: &str) -> ApiError {
    ApiError::bad(
        "SignatureDoesNotMatch",
        format!(
            "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
        ),
    )
}
