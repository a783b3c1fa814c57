//! Retry policy: exponential backoff with full jitter, bounded both in
//! attempts and in total time.

use std::time::Duration;

/// How a call is retried after a retryable failure.
///
/// A throttled attempt does not count toward `max_attempts`: throttling
/// says nothing about the request, only that the account's quota is used
/// up for the moment, and an adaptive limiter answers it by slowing every
/// call down. So a throttled call is retried for as long as `max_elapsed`
/// allows (unless `max_attempts` is 1, which never retries), and is not
/// lost to a run of bad luck while the limiter finds the quota.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included, not counting throttled ones (1
    /// means never retry, not even a throttled call).
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

/// A failed attempt as the retry policy sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Failure {
    pub retryable: bool,
    /// Answered `Throttling`.
    pub throttled: bool,
    /// The wait the service asked for (`x-acs-retry-after`).
    pub retry_after: Option<Duration>,
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

    /// The wait before the next attempt after attempt number `attempt`
    /// failed with `failure`, `throttled` of the attempts so far (this one
    /// included) having been throttled; `None` to give up. A throttled call
    /// waits at least what the service asked for; beyond that, under an
    /// adaptive limiter (`paced`) it waits only for the limiter, otherwise
    /// it backs off as any failure does, by the number of throttles. Any
    /// other failure backs off by the number of such failures, and waits at
    /// least a retry-after too.
    pub fn delay_after(
        &self,
        failure: &Failure,
        attempt: u32,
        throttled: u32,
        elapsed: Duration,
        paced: bool,
        unit: f64,
    ) -> Option<Duration> {
        if !failure.retryable || self.max_attempts <= 1 {
            return None;
        }
        let asked = failure.retry_after.unwrap_or_default();
        let unit = unit.clamp(0.0, 1.0);
        let delay = if failure.throttled {
            if paced {
                asked
            } else {
                self.ceiling(throttled).mul_f64(unit).max(asked)
            }
        } else {
            let failures = attempt.saturating_sub(throttled);
            if failures >= self.max_attempts {
                return None;
            }
            self.ceiling(failures).mul_f64(unit).max(asked)
        };
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

    #[test]
    fn throttled_attempts_are_retried_until_time_runs_out() {
        let p = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_elapsed: Duration::from_secs(10),
        };
        let throttle = Failure {
            retryable: true,
            throttled: true,
            retry_after: None,
        };
        let error = Failure {
            throttled: false,
            ..throttle
        };
        let zero = Duration::ZERO;
        // Fifty throttles in a row are still retried, at once under an
        // adaptive limiter and with a backoff without one.
        assert_eq!(
            p.delay_after(&throttle, 50, 50, zero, true, 0.5),
            Some(zero)
        );
        assert_eq!(
            p.delay_after(&throttle, 50, 50, zero, false, 0.5),
            Some(Duration::from_millis(500))
        );
        // ...but not once the time is up.
        let late = Duration::from_secs(10);
        assert_eq!(p.delay_after(&throttle, 2, 2, late, true, 0.5), None);
        // Other failures count, throttles aside: the third one gives up.
        assert_eq!(
            p.delay_after(&error, 12, 10, zero, true, 0.5),
            Some(Duration::from_millis(100))
        );
        assert_eq!(p.delay_after(&error, 13, 10, zero, true, 0.5), None);
        // A retry-after is a floor of the wait, for any failure.
        let asked = Failure {
            retry_after: Some(Duration::from_millis(700)),
            ..throttle
        };
        assert_eq!(
            p.delay_after(&asked, 1, 1, zero, true, 0.5),
            Some(Duration::from_millis(700))
        );
        let asked = Failure {
            retry_after: Some(Duration::from_millis(700)),
            ..error
        };
        assert_eq!(
            p.delay_after(&asked, 1, 0, zero, false, 0.5),
            Some(Duration::from_millis(700))
        );
        // Not retryable, or a policy of one attempt: never.
        let fatal = Failure {
            retryable: false,
            ..error
        };
        assert_eq!(p.delay_after(&fatal, 1, 0, zero, true, 0.5), None);
        assert_eq!(
            RetryPolicy::never().delay_after(&throttle, 1, 1, zero, true, 0.5),
            None
        );
    }
}
