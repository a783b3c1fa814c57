//! Identifiers and the emulator's random numbers.
//!
//! One small generator (SplitMix64) serves group ids, rule ids, request ids
//! and the fault sequence. It is seedable so that tests and benchmarks can
//! repeat a run exactly; its quality is ample for ids and coin flips, and it
//! is not used for anything secret.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

#[derive(Clone, Debug)]
pub(crate) struct IdGen {
    state: u64,
}

impl IdGen {
    pub(crate) fn new(seed: u64) -> IdGen {
        IdGen { state: seed }
    }

    /// A generator seeded from the standard library's per-process random keys.
    pub(crate) fn from_entropy() -> IdGen {
        IdGen::new(random_seed())
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        // The top 53 bits fill an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `len` characters of `[0-9a-z]`, the alphabet of real `sg-`/`sgr-` ids.
    pub(crate) fn suffix(&mut self, len: usize) -> String {
        const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        (0..len)
            .map(|_| char::from(ALPHABET[(self.next_u64() % 36) as usize]))
            .collect()
    }

    /// `len` characters drawn from `alphabet` (ASCII). STS keys are made of
    /// these: they guard only an emulator on loopback, so a fast
    /// non-cryptographic sequence will do.
    pub(crate) fn chars(&mut self, len: usize, alphabet: &[u8]) -> String {
        (0..len)
            .map(|_| char::from(alphabet[(self.next_u64() % alphabet.len() as u64) as usize]))
            .collect()
    }

    /// An uppercase UUID-shaped request id, e.g.
    /// `473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E`.
    pub(crate) fn request_id(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08X}-{:04X}-4{:03X}-{:04X}-{:012X}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0x0FFF,
            0x8000 | ((b >> 48) & 0x3FFF),
            b & 0xFFFF_FFFF_FFFF
        )
    }
}

/// A seed that differs between processes and calls.
pub(crate) fn random_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (IdGen::new(7), IdGen::new(7));
        assert_eq!(a.suffix(20), b.suffix(20));
        assert_eq!(a.request_id(), b.request_id());
        assert_ne!(IdGen::new(8).next_u64(), IdGen::new(7).next_u64());
    }

    #[test]
    fn shapes() {
        let mut g = IdGen::new(1);
        let id = g.request_id();
        assert_eq!(id.len(), 36, "{id}");
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        let s = g.suffix(20);
        assert!(
            s.len() == 20
                && s.chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
        for _ in 0..1000 {
            let f = g.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
