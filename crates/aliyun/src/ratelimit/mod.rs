//! Client-side rate limits. The API's quotas are per account and region
//! (reference 5), so a client and every client derived from it share one
//! set of [`Limiters`]: with an adaptive rate one limiter per region, each
//! finding its region's quota; with a fixed rate (`--max-rps` alone) one
//! limiter for all regions, as before.
//!
//! The pacing itself is a pure state machine ([`control::Pace`]); this
//! module adds the waiting. Callers queue in order and are not given slots
//! in advance: the first in line asks the pace when it may go, sleeps until
//! then or until the pace changes, and asks again.

pub mod control;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

pub use control::{AdaptiveRate, MAX_RATE, Pace, Permit, RateChange, RateStats};

use crate::error::ConfigError;

/// How a client paces its calls.
#[derive(Clone, Debug, PartialEq)]
pub enum RateMode {
    /// No limit at all.
    Unlimited,
    /// `per_second` calls a second on average over every region together,
    /// at most `burst` at once.
    Fixed { per_second: f64, burst: u32 },
    /// One adaptive rate per region.
    Adaptive(AdaptiveRate),
}

impl RateMode {
    fn validate(&self) -> Result<(), ConfigError> {
        let positive = |value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(ConfigError::InvalidRate { value })
            }
        };
        match self {
            RateMode::Unlimited => Ok(()),
            RateMode::Fixed { per_second, .. } => positive(*per_second),
            RateMode::Adaptive(a) => {
                positive(a.start)?;
                positive(a.floor)?;
                if let Some(cap) = a.cap {
                    positive(cap)?;
                }
                if !(a.backoff > 0.0 && a.backoff < 1.0) {
                    return Err(ConfigError::InvalidRate { value: a.backoff });
                }
                Ok(())
            }
        }
    }
}

/// What one limiter saw, for logs and summaries. `region` is `None` for a
/// fixed limiter shared by every region.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionRate {
    pub region: Option<String>,
    pub stats: RateStats,
}

/// What became of a call, as far as the pace is concerned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Paced {
    Accepted,
    /// Answered `Throttling`, with the service's retry-after if any.
    Throttled(Option<Duration>),
    /// Any other failure: it says nothing about the quota.
    Failed,
}

/// One limiter: a pace and the queue of callers waiting for it.
#[derive(Debug)]
pub struct RateLimiter {
    region: Option<String>,
    /// Held by the caller at the head of the queue; tokio's mutex is fair,
    /// so callers go in the order they came.
    turn: tokio::sync::Mutex<()>,
    pace: Mutex<Pace>,
    changed: tokio::sync::Notify,
}

impl RateLimiter {
    pub fn new(pace: Pace, region: Option<String>) -> RateLimiter {
        RateLimiter {
            region,
            turn: tokio::sync::Mutex::new(()),
            pace: Mutex::new(pace),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The rate now, calls per second.
    pub fn per_second(&self) -> f64 {
        self.pace().rate()
    }

    pub fn stats(&self) -> RateStats {
        self.pace().stats()
    }

    /// Waits until the caller may send one request. Give the permit back
    /// with [`RateLimiter::record`] once the answer is in.
    pub async fn acquire(&self) -> Permit {
        let _turn = self.turn.lock().await;
        let mut waited = false;
        loop {
            // Made before reading the pace, so a change in between wakes it.
            let changed = self.changed.notified();
            let now = Instant::now();
            let at = self.pace().ready_at(now);
            if at <= now {
                return self.pace().take(now, waited);
            }
            waited = true;
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = changed => {}
            }
        }
    }

    /// Feeds the outcome of the call of `permit` to the pace.
    pub fn record(&self, permit: &Permit, outcome: Paced) {
        let now = Instant::now();
        let (change, rate) = {
            let mut pace = self.pace();
            let change = match outcome {
                Paced::Accepted => pace.succeeded(permit, now),
                Paced::Throttled(retry_after) => pace.throttled(permit, now, retry_after),
                Paced::Failed => None,
            };
            (change, pace.rate())
        };
        // Any outcome can move the next call earlier, with or without a
        // change worth a log line: a refused call, say, leaves the window
        // it was counted in. The caller at the head of the queue asks again.
        self.changed.notify_waiters();
        let Some(change) = change else {
            return;
        };
        let region = self.region.as_deref().unwrap_or("all");
        match change {
            RateChange::Doubled { from, to } => {
                tracing::debug!(
                    region,
                    from = round(from),
                    to = round(to),
                    "rate limit doubled"
                );
            }
            RateChange::Decreased {
                from,
                to,
                accepted,
                held,
            } => {
                tracing::info!(
                    region,
                    from = round(from),
                    to = round(to),
                    accepted_per_second = round(accepted),
                    retry_after_ms = held.map(|h| h.as_millis()),
                    "throttled; rate limit lowered"
                );
            }
            RateChange::Revised { from, to, accepted } => {
                tracing::debug!(
                    region,
                    from = round(from),
                    to = round(to),
                    accepted_per_second = round(accepted),
                    "a late answer counted in the throttled window; rate limit raised"
                );
            }
            RateChange::Held { until, asked } => {
                tracing::info!(
                    region,
                    retry_after_ms = asked.as_millis(),
                    hold_ms = until.saturating_duration_since(now).as_millis(),
                    rate = round(rate),
                    "throttled; holding calls as the service asked"
                );
            }
        }
    }

    fn pace(&self) -> MutexGuard<'_, Pace> {
        // The lock guards arithmetic only; a poisoned one still holds a
        // usable pace, so take it rather than fail the call.
        self.pace.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Rates in logs: calls per second to a tenth.
fn round(rate: f64) -> f64 {
    (rate * 10.0).round() / 10.0
}

/// The limiters of a client and of the clients derived from it.
#[derive(Debug)]
pub struct Limiters {
    mode: RateMode,
    /// The one limiter of a fixed rate.
    shared: Option<Arc<RateLimiter>>,
    by_region: Mutex<BTreeMap<String, Arc<RateLimiter>>>,
}

impl Limiters {
    pub fn new(mode: RateMode) -> Result<Limiters, ConfigError> {
        mode.validate()?;
        let shared = match &mode {
            RateMode::Fixed { per_second, burst } => Some(Arc::new(RateLimiter::new(
                Pace::fixed(*per_second, *burst, Instant::now()),
                None,
            ))),
            _ => None,
        };
        Ok(Limiters {
            mode,
            shared,
            by_region: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn mode(&self) -> &RateMode {
        &self.mode
    }

    /// Whether the limiters adapt to throttling (then a throttled call
    /// needs no backoff of its own: the limiter slows every call down).
    pub fn is_adaptive(&self) -> bool {
        matches!(self.mode, RateMode::Adaptive(_))
    }

    /// The limiter for calls to `region`, made on first use; `None` without
    /// a limit.
    pub fn for_region(&self, region: &str) -> Option<Arc<RateLimiter>> {
        let RateMode::Adaptive(settings) = &self.mode else {
            return self.shared.clone();
        };
        let mut map = self.by_region.lock().unwrap_or_else(|p| p.into_inner());
        let limiter = map.entry(region.to_owned()).or_insert_with(|| {
            Arc::new(RateLimiter::new(
                Pace::adaptive(settings, Instant::now()),
                Some(region.to_owned()),
            ))
        });
        Some(limiter.clone())
    }

    /// What each limiter saw so far, by region.
    pub fn stats(&self) -> Vec<RegionRate> {
        if let Some(shared) = &self.shared {
            return vec![RegionRate {
                region: None,
                stats: shared.stats(),
            }];
        }
        let map = self.by_region.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(region, l)| RegionRate {
                region: Some(region.clone()),
                stats: l.stats(),
            })
            .collect()
    }
}

impl Drop for Limiters {
    /// The rate each limiter reached, in the logs at the end of a run.
    fn drop(&mut self) {
        for r in self.stats() {
            let s = &r.stats;
            if s.sent == 0 {
                continue;
            }
            tracing::info!(
                region = r.region.as_deref().unwrap_or("all"),
                adaptive = s.adaptive,
                rate = round(s.rate),
                peak_rate = round(s.peak_rate),
                peak_accepted_per_second = s.peak_accepted,
                sent = s.sent,
                throttled = s.throttled,
                "rate reached"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_validated() {
        for bad in [
            RateMode::Fixed {
                per_second: 0.0,
                burst: 1,
            },
            RateMode::Fixed {
                per_second: f64::NAN,
                burst: 1,
            },
            RateMode::Adaptive(AdaptiveRate {
                cap: Some(-1.0),
                ..AdaptiveRate::default()
            }),
            RateMode::Adaptive(AdaptiveRate {
                backoff: 1.0,
                ..AdaptiveRate::default()
            }),
        ] {
            assert!(
                matches!(
                    Limiters::new(bad.clone()),
                    Err(ConfigError::InvalidRate { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn adaptive_limiters_are_per_region_and_a_fixed_one_is_shared() {
        let adaptive = Limiters::new(RateMode::Adaptive(AdaptiveRate::default())).unwrap();
        let a = adaptive.for_region("cn-hangzhou").unwrap();
        let b = adaptive.for_region("cn-beijing").unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(Arc::ptr_eq(
            &a,
            &adaptive.for_region("cn-hangzhou").unwrap()
        ));
        let regions: Vec<_> = adaptive.stats().into_iter().map(|r| r.region).collect();
        assert_eq!(
            regions,
            [
                Some("cn-beijing".to_owned()),
                Some("cn-hangzhou".to_owned())
            ]
        );

        let fixed = Limiters::new(RateMode::Fixed {
            per_second: 5.0,
            burst: 1,
        })
        .unwrap();
        let a = fixed.for_region("cn-hangzhou").unwrap();
        assert!(Arc::ptr_eq(&a, &fixed.for_region("cn-beijing").unwrap()));
        assert_eq!(fixed.stats().len(), 1);
        assert!(
            Limiters::new(RateMode::Unlimited)
                .unwrap()
                .for_region("cn-hangzhou")
                .is_none()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_callers_take_up_a_faster_rate_at_once() {
        let limiters = Limiters::new(RateMode::Adaptive(AdaptiveRate {
            burst: 1,
            ..AdaptiveRate::default()
        }))
        .unwrap();
        let limiter = limiters.for_region("cn-hangzhou").unwrap();
        let t0 = Instant::now();
        let first = limiter.acquire().await;
        // The next caller would wait 100 ms at 10 a second; the first
        // call's success after 10 ms doubles the rate and clocks the
        // waiting caller out at once, and the one after it goes a slot of
        // the new pace later (50 ms at 20 a second), not at the 100 ms
        // spacing they started under.
        let waiter = |limiter: Arc<RateLimiter>| {
            tokio::spawn(async move {
                let p = limiter.acquire().await;
                (Instant::now(), p)
            })
        };
        let second = waiter(limiter.clone());
        tokio::time::sleep(Duration::from_millis(1)).await;
        let third = waiter(limiter.clone());
        tokio::time::sleep(Duration::from_millis(9)).await;
        limiter.record(&first, Paced::Accepted);
        let (went, _) = second.await.unwrap();
        assert_eq!(limiter.per_second(), 20.0);
        assert_eq!((went - t0).as_millis(), 10);
        let (went, _) = third.await.unwrap();
        assert_eq!((went - t0).as_millis(), 60);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_call_that_changes_no_rate_still_frees_its_slot_for_a_waiting_caller() {
        let limiters = Limiters::new(RateMode::Adaptive(AdaptiveRate {
            start: 1000.0,
            burst: 1,
            ..AdaptiveRate::default()
        }))
        .unwrap();
        let limiter = limiters.for_region("cn-hangzhou").unwrap();
        let t0 = Instant::now();
        let ms = |n: u64| Duration::from_millis(n);
        // Six calls in the first 6 ms, four more at 500 ms.
        let mut early = Vec::new();
        for _ in 0..6 {
            early.push(limiter.acquire().await);
        }
        tokio::time::sleep_until(t0 + ms(500)).await;
        let mut late = Vec::new();
        for _ in 0..4 {
            late.push(limiter.acquire().await);
        }
        tokio::time::sleep(ms(2)).await;
        for p in &early[..5] {
            limiter.record(p, Paced::Accepted);
        }
        // The sixth is refused: five accepted in its window, so the pace
        // lets at most four go per second, and the next waits until the
        // oldest of the four newest (at 500 ms) has left the window.
        limiter.record(&early[5], Paced::Throttled(None));
        let waiter = {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                limiter.acquire().await;
                Instant::now()
            })
        };
        tokio::time::sleep(ms(5)).await;
        // The four late calls are refused too: sent before the decrease,
        // they change no rate, but the service did not count them, so the
        // window holds only the first five calls, and the waiter may go
        // once the second of them has left it, at 1 s, not at 1.5 s.
        for p in &late {
            limiter.record(p, Paced::Throttled(None));
        }
        let went = waiter.await.unwrap();
        let after = (went - t0).as_millis();
        assert!((1000..1010).contains(&after), "went after {after} ms");
    }
}
