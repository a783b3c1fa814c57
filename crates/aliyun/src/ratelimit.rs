//! One client-side rate limit shared by every task of a client: a token
//! bucket that hands out reservations, so concurrent callers queue fairly
//! and the long-run rate never exceeds the configured one.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens available; negative when callers hold reservations on tokens
    /// not yet refilled.
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// At most `per_second` calls per second on average, and at most `burst`
    /// calls at once after a quiet spell. So N calls take at least
    /// `(N - burst) / per_second` seconds.
    pub fn new(per_second: f64, burst: u32) -> RateLimiter {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            rate: per_second,
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                last: Instant::now(),
            }),
        }
    }

    pub fn per_second(&self) -> f64 {
        self.rate
    }

    /// Waits until the caller may send one request.
    pub async fn acquire(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes one token, possibly on credit, and says how long to wait for it.
    fn reserve(&self, now: Instant) -> Duration {
        // The lock only guards arithmetic; a poisoned lock still holds a
        // usable bucket, so take it rather than fail the call.
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let refill = now.saturating_duration_since(b.last).as_secs_f64() * self.rate;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.last = now;
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_space_calls_after_the_burst() {
        let limiter = RateLimiter::new(10.0, 2);
        let t0 = Instant::now();
        let waits: Vec<u128> = (0..5).map(|_| limiter.reserve(t0).as_millis()).collect();
        assert_eq!(waits, [0, 0, 100, 200, 300]);
        // After a long pause the bucket is full again, but never above burst.
        let later = t0 + Duration::from_secs(60);
        let waits: Vec<u128> = (0..3).map(|_| limiter.reserve(later).as_millis()).collect();
        assert_eq!(waits, [0, 0, 100]);
    }
}
