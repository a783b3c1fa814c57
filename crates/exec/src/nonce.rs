//! The nonce a plan gets when it is made: 128 bits from the operating
//! system's random number generator. Apply mixes it into every ClientToken
//! (see [`crate::apply::client_token`]), so that a plan of changes applied
//! once before (a change reverted and made again) does not send the tokens
//! the service already answered.

use moat_diff::NONCE_BYTES;
use rand::TryRng as _;

/// The operating system gave no random bytes.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the plan's nonce from the operating system's random number generator")]
pub struct NonceError(#[source] pub rand::rngs::SysError);

/// A fresh nonce for a plan being made.
pub fn fresh_nonce() -> Result<[u8; NONCE_BYTES], NonceError> {
    let mut bytes = [0u8; NONCE_BYTES];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(NonceError)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_nonce_is_new() {
        let a = fresh_nonce().expect("the system has random numbers");
        let b = fresh_nonce().expect("the system has random numbers");
        // 2^-128: two equal draws mean the bytes are not random.
        assert_ne!(a, b);
    }
}
