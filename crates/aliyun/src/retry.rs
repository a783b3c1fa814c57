//! Retry policy: exponential backoff with full jitter, bounded both in
//! attempts and in total time.

use std::time::Duration;

/// How a call is retried after a retryable failure.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 means never retry).
    pub max_attempts: u32,
    /// Upper bound of the first backoff; it doubles with each retry.
    pub base_delay: Duration,
    /// Cap of any single backoff.
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first
    /// attempt began (the wait before it included).
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// Six attempts over at most a minute and a half: enough to ride out a
    /// throttled minute (reference 5: a throttled API is allowed again from
    /// the next minute) without hanging a pipeline.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
            max_elapsed: Duration::from_secs(90),
        }
    }
}

impl RetryPolicy {
    /// A single attempt.
    pub fn never() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The ceiling of the backoff after attempt number `attempt` (1-based):
    /// `base * 2^(attempt-1)`, capped.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        self.base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay)
    }

    /// The wait before the next attempt, after attempt `attempt` failed
    /// retryably with `elapsed` spent so far, or `None` when the policy is
    /// exhausted. `unit` is a uniform sample in `[0, 1)`: full jitter waits
    /// a uniformly random time between zero and the ceiling, which spreads
    /// out clients that failed together better than any fixed schedule.
    pub fn next_delay(&self, attempt: u32, elapsed: Duration, unit: f64) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let delay = self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0));
        (elapsed.saturating_add(delay) < self.max_elapsed).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_stops() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            max_elapsed: Duration::from_secs(10),
        };
        let ceilings: Vec<u128> = (1..=4).map(|a| p.ceiling(a).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 350, 350]);
        assert_eq!(
            p.next_delay(2, Duration::ZERO, 0.5),
            Some(Duration::from_millis(100))
        );
        assert_eq!(p.next_delay(1, Duration::ZERO, 0.0), Some(Duration::ZERO));
        assert_eq!(p.next_delay(5, Duration::ZERO, 0.5), None);
        assert_eq!(p.next_delay(1, Duration::from_secs(10), 0.0), None);
        assert_eq!(p.next_delay(1, Duration::from_millis(9950), 0.9), None);
        assert_eq!(
            RetryPolicy::never().next_delay(1, Duration::ZERO, 0.1),
            None
        );
        // A huge attempt number saturates instead of overflowing.
        assert_eq!(p.ceiling(u32::MAX), Duration::from_millis(350));
    }
}
