//! Signed plan files: an HMAC-SHA256 over the whole saved plan, with a key
//! the team keeps outside the repository.
//!
//! The plan hash detects a careless edit, but anyone can recompute it. A
//! signature can only be made with the key, so when apply is given the key
//! it knows the file is one `moat plan` wrote with that key, unchanged:
//! every field, the explanations a reviewer read included.

use std::fmt;

use hmac::{KeyInit, Mac};

use crate::PlanError;
use crate::plan::Plan;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// How a signature starts in the plan file.
pub const SIGNATURE_PREFIX: &str = "hmac-sha256:";

/// Keys shorter than this are refused: a short key can be guessed.
const MIN_KEY_BYTES: usize = 16;

/// Mixed into the MAC so a signature of a moat plan can never be taken for
/// one of anything else made with the same key.
const DOMAIN: &[u8] = b"moat-plan-signature-v1\n";

/// The key plans are signed and checked with. Its `Debug` is redacted, and
/// it is never written anywhere.
#[derive(Clone)]
pub struct PlanKey {
    /// The MAC keyed and ready; cloned for each plan.
    keyed: HmacSha256,
}

impl fmt::Debug for PlanKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlanKey(<redacted>)")
    }
}

/// Why a key cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the plan key is {len} bytes long; use at least {MIN_KEY_BYTES} random bytes")]
    TooShort { len: usize },
    #[error("the plan key cannot key HMAC-SHA256")]
    Unusable,
}

impl PlanKey {
    /// A key from its bytes. Leading and trailing whitespace is not part of
    /// it (a key file usually ends in a newline).
    pub fn new(bytes: &[u8]) -> Result<PlanKey, KeyError> {
        let trimmed = bytes.trim_ascii();
        if trimmed.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort { len: trimmed.len() });
        }
        let keyed = HmacSha256::new_from_slice(trimmed).map_err(|_| KeyError::Unusable)?;
        Ok(PlanKey { keyed })
    }

    fn mac(&self, plan: &Plan) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(DOMAIN);
        mac.update(&plan.signed_bytes());
        mac
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing into a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

impl Plan {
    /// Signs the plan with `key` (replacing any signature it had).
    pub fn sign(&mut self, key: &PlanKey) {
        self.signature = None;
        let tag = key.mac(self).finalize().into_bytes();
        self.signature = Some(format!("{SIGNATURE_PREFIX}{}", hex(&tag)));
    }

    /// Checks that the plan carries a signature made with `key` over exactly
    /// its contents. The comparison takes constant time.
    pub fn verify(&self, key: &PlanKey) -> Result<(), PlanError> {
        let Some(signature) = &self.signature else {
            return Err(PlanError::NotSigned { signed: false });
        };
        let tag = signature
            .strip_prefix(SIGNATURE_PREFIX)
            .and_then(unhex)
            .ok_or(PlanError::NotSigned { signed: true })?;
        key.mac(self)
            .verify_slice(&tag)
            .map_err(|_| PlanError::NotSigned { signed: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_redacted_and_not_too_short() {
        let key = PlanKey::new(b"0123456789abcdef0123456789abcdef\n").unwrap();
        assert_eq!(format!("{key:?}"), "PlanKey(<redacted>)");
        assert_eq!(
            PlanKey::new(b" short \n").unwrap_err(),
            KeyError::TooShort { len: 5 }
        );
    }

    #[test]
    fn a_signature_holds_for_its_key_only() {
        let key = PlanKey::new(b"0123456789abcdef0123456789abcdef").unwrap();
        let other = PlanKey::new(b"fedcba9876543210fedcba9876543210").unwrap();
        let mut plan = Plan::new(Vec::new());
        assert!(matches!(
            plan.verify(&key),
            Err(PlanError::NotSigned { signed: false })
        ));
        plan.sign(&key);
        assert!(plan.verify(&key).is_ok());
        assert!(matches!(
            plan.verify(&other),
            Err(PlanError::NotSigned { signed: true })
        ));
        plan.moat_version.push_str("-edited");
        assert!(plan.verify(&key).is_err(), "any field is covered");
        plan.signature = Some("hmac-sha256:zz".into());
        assert!(plan.verify(&key).is_err());
    }
}
