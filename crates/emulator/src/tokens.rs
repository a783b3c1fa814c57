//! Idempotency: the answers of mutating calls remembered under their
//! ClientToken, with a fingerprint of the business parameters.

use std::collections::{HashMap, VecDeque};

use sha1::{Digest as _, Sha1};

use crate::error::ApiError;
use crate::params::Params;
use crate::product::Answer;

/// Most ClientTokens remembered; the oldest are forgotten first. The
/// service's retention period is UNCONFIRMED (reference 5).
const MAX_CLIENT_TOKENS: usize = 100_000;

/// Parameters that belong to signing or transport, not to the business of
/// the call; ClientToken replays compare everything else.
const NON_BUSINESS_PARAMS: &[&str] = &[
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "AccessKeyId",
    "SecurityToken",
    "Format",
    "ClientToken",
];

/// SHA-1 of the non-empty business parameters (the action and version are
/// among them), in name order.
pub(crate) fn fingerprint(params: &Params, action: &str, version: &str) -> [u8; 20] {
    let mut h = Sha1::new();
    // ACS3 requests carry the action and version in headers, not in the
    // parameters: both are hashed explicitly so the two forms agree.
    for part in [action, version] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (k, v) in params.iter() {
        if NON_BUSINESS_PARAMS.contains(&k) || k == "Action" || k == "Version" || v.is_empty() {
            continue;
        }
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

/// What a mutating call left behind for its ClientToken.
#[derive(Debug)]
struct Entry {
    fingerprint: [u8; 20],
    answer: Answer,
}

#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    entries: HashMap<String, Entry>,
    order: VecDeque<String>,
}

/// Checks a ClientToken's form: at most 64 ASCII characters (reference
/// 2.3). The code for a malformed one is UNCONFIRMED.
pub(crate) fn check_token(token: &str) -> Result<(), ApiError> {
    if token.len() > 64 || !token.is_ascii() {
        return Err(ApiError::invalid(
            "InvalidClientToken.Malformed",
            "ClientToken",
        ));
    }
    Ok(())
}

impl TokenCache {
    /// The remembered answer of `token`, or `IdempotentParameterMismatch`
    /// when it was used with other business parameters; `None` for a token
    /// not seen.
    pub(crate) fn replay(
        &self,
        token: &str,
        fingerprint: &[u8; 20],
    ) -> Option<Result<Answer, ApiError>> {
        let entry = self.entries.get(token)?;
        Some(if &entry.fingerprint == fingerprint {
            Ok(entry.answer.clone())
        } else {
            Err(ApiError::bad(
                "IdempotentParameterMismatch",
                "The request uses the same client token as a previous, but non-identical request.",
            ))
        })
    }

    pub(crate) fn remember(&mut self, token: &str, fingerprint: [u8; 20], answer: Answer) {
        if self.entries.len() >= MAX_CLIENT_TOKENS
            && let Some(old) = self.order.pop_front()
        {
            self.entries.remove(&old);
        }
        self.order.push_back(token.to_owned());
        self.entries.insert(
            token.to_owned(),
            Entry {
                fingerprint,
                answer,
            },
        );
    }
}
