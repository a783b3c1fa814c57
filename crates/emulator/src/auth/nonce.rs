//! Nonces seen recently, for replay rejection.

use std::collections::hash_map::RandomState;
use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;

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
    pub(crate) fn insert(&mut self, key_id: &str, nonce: &str, expires: i64, now: i64) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
