//! Injected faults: latency, a QPS quota per region, random throttling, 5xx
//! answers and dropped connections, drawn from a seedable sequence.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::{IdGen, random_seed};
use crate::stats::region_key;

/// What to inject. The default injects nothing. This is also the JSON body of
/// `POST /_emulator/faults` (members left out take their defaults).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Delay before every API answer, in milliseconds.
    pub latency_ms: u64,
    /// API calls allowed in any one-second window in each region (the
    /// `RegionId` of the call; all actions together, and calls without a
    /// region share one more window); calls beyond it get the real
    /// `Throttling` error. 0 means no limit.
    pub max_qps: u32,
    /// Share of calls answered `Throttling` (HTTP 400) at random.
    pub throttle_rate: f64,
    /// Share of calls answered `InternalError` (500) or `ServiceUnavailable`
    /// (503), half each, at random.
    pub error_rate: f64,
    /// Share of calls whose connection is closed without an answer. Half of
    /// them (drawn from the same sequence) are carried out first, as when a
    /// response is lost on the way back; the others are not.
    pub drop_rate: f64,
    /// Seed of the fault sequence: the same seed and the same order of calls
    /// give the same faults. Without a seed the sequence is random.
    pub seed: Option<u64>,
    /// An STS key (issued by `AssumeRole` or `AssumeRoleWithOIDC`) is
    /// refused as expired (`InvalidSecurityToken.Expired`) once it has
    /// been used this many times, whatever its expiry says, so a client
    /// must fetch new credentials in the middle of a run. 0: never.
    pub sts_key_uses: u32,
}

/// Why a fault configuration was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FaultConfigError {
    #[error("{name} must be between 0 and 1, got {value}")]
    RateOutOfRange { name: &'static str, value: f64 },
    #[error("throttle, error and drop rates add up to {0}, more than 1")]
    RatesExceedOne(f64),
}

impl FaultConfig {
    pub fn validate(&self) -> Result<(), FaultConfigError> {
        for (name, value) in [
            ("throttle_rate", self.throttle_rate),
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(FaultConfigError::RateOutOfRange { name, value });
            }
        }
        let sum = self.throttle_rate + self.error_rate + self.drop_rate;
        if sum > 1.0 + 1e-9 {
            return Err(FaultConfigError::RatesExceedOne(sum));
        }
        Ok(())
    }
}

/// The fault chosen for one call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Fault {
    /// Answer with this error instead of handling the call.
    Answer(ApiError),
    /// Close the connection without an answer, after carrying the call out
    /// when `execute` is true.
    Drop { execute: bool },
}

#[derive(Debug)]
pub(crate) struct FaultState {
    config: FaultConfig,
    rng: IdGen,
    /// Per region (as [`region_key`] names it), the arrival times of the calls
    /// admitted in the last second.
    windows: HashMap<String, VecDeque<Instant>>,
}

/// The most regions counted apart; calls naming any further region share
/// one window, so junk region names cannot grow the map without bound. The
/// real API limits calls per account, per region, per API (reference,
/// "Limits"); this quota is per region over all actions together, which is
/// stricter: a client within it is within per-API quotas too.
const MAX_QUOTA_KEYS: usize = 256;

impl FaultState {
    pub(crate) fn new(config: FaultConfig) -> FaultState {
        let rng = IdGen::new(config.seed.unwrap_or_else(random_seed));
        FaultState {
            config,
            rng,
            windows: HashMap::new(),
        }
    }

    pub(crate) fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Replaces the configuration; a new seed restarts the sequence.
    pub(crate) fn set(&mut self, config: FaultConfig) {
        *self = FaultState::new(config);
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.config.latency_ms)
    }

    /// Chooses the fault, if any, for a call arriving at `now` for `region`
    /// (its `RegionId`, if it has one). Every call draws the same number of
    /// values, so the sequence for call N depends only on the seed and N.
    pub(crate) fn decide(&mut self, now: Instant, region: Option<&str>) -> Option<Fault> {
        let u = self.rng.next_f64();
        let v = self.rng.next_f64();
        let c = &self.config;
        if u < c.drop_rate {
            return Some(Fault::Drop { execute: v < 0.5 });
        }
        if u < c.drop_rate + c.error_rate {
            return Some(Fault::Answer(if v < 0.5 {
                ApiError::internal_error()
            } else {
                ApiError::service_unavailable()
            }));
        }
        if u < c.drop_rate + c.error_rate + c.throttle_rate {
            return Some(Fault::Answer(ApiError::throttling()));
        }
        if c.max_qps > 0 {
            let max = c.max_qps as usize;
            let mut key = region_key(region);
            if !self.windows.contains_key(key) && self.windows.len() >= MAX_QUOTA_KEYS {
                key = "(other)";
            }
            let window = match self.windows.get_mut(key) {
                Some(w) => w,
                None => self.windows.entry(key.to_owned()).or_default(),
            };
            let second = Duration::from_secs(1);
            while window
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= second)
            {
                window.pop_front();
            }
            if window.len() >= max {
                return Some(Fault::Answer(ApiError::throttling()));
            }
            window.push_back(now);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(config: FaultConfig, n: usize) -> Vec<Option<Fault>> {
        let mut s = FaultState::new(config);
        let t = Instant::now();
        (0..n).map(|_| s.decide(t, Some("cn-hangzhou"))).collect()
    }

    #[test]
    fn seeded_sequences_repeat_and_follow_the_rates() {
        let cfg = FaultConfig {
            throttle_rate: 0.1,
            error_rate: 0.2,
            drop_rate: 0.1,
            seed: Some(42),
            ..FaultConfig::default()
        };
        let a = sequence(cfg.clone(), 10_000);
        assert_eq!(a, sequence(cfg, 10_000));
        let drops = a
            .iter()
            .filter(|f| matches!(f, Some(Fault::Drop { .. })))
            .count();
        let errors = a
            .iter()
            .filter(|f| matches!(f, Some(Fault::Answer(e)) if e.status >= 500))
            .count();
        let throttles = a
            .iter()
            .filter(|f| matches!(f, Some(Fault::Answer(e)) if e.code == "Throttling"))
            .count();
        assert!((800..1200).contains(&drops), "{drops}");
        assert!((1800..2200).contains(&errors), "{errors}");
        assert!((800..1200).contains(&throttles), "{throttles}");
    }

    #[test]
    fn qps_quota_admits_n_per_second() {
        let mut s = FaultState::new(FaultConfig {
            max_qps: 3,
            ..FaultConfig::default()
        });
        let t0 = Instant::now();
        let hz = Some("cn-hangzhou");
        let got: Vec<bool> = (0..5).map(|_| s.decide(t0, hz).is_none()).collect();
        assert_eq!(got, [true, true, true, false, false]);
        assert!(s.decide(t0 + Duration::from_millis(999), hz).is_some());
        assert!(s.decide(t0 + Duration::from_secs(1), hz).is_none());
    }

    #[test]
    fn each_region_has_a_quota_of_its_own() {
        let mut s = FaultState::new(FaultConfig {
            max_qps: 2,
            ..FaultConfig::default()
        });
        let t0 = Instant::now();
        let (hz, sh) = (Some("cn-hangzhou"), Some("cn-shanghai"));
        let admitted = |s: &mut FaultState, region| s.decide(t0, region).is_none();
        // Hangzhou uses its quota up and is throttled...
        assert_eq!(
            [
                admitted(&mut s, hz),
                admitted(&mut s, hz),
                admitted(&mut s, hz)
            ],
            [true, true, false]
        );
        // ...while Shanghai still gets all of its own, and calls without a
        // region count in a window of their own too.
        assert_eq!(
            [
                admitted(&mut s, sh),
                admitted(&mut s, sh),
                admitted(&mut s, sh)
            ],
            [true, true, false]
        );
        assert_eq!(
            [admitted(&mut s, None), admitted(&mut s, None)],
            [true, true]
        );
        assert!(!admitted(&mut s, hz));
    }

    #[test]
    fn junk_region_names_share_bounded_windows() {
        let mut s = FaultState::new(FaultConfig {
            max_qps: 1,
            ..FaultConfig::default()
        });
        let t0 = Instant::now();
        for i in 0..1000 {
            s.decide(t0, Some(&format!("region-{i}")));
        }
        assert!(s.windows.len() <= MAX_QUOTA_KEYS + 1);
        // Past the bound, new names share the "(other)" window.
        assert!(s.decide(t0, Some("region-x")).is_some());
        // Names that are no region's share the "(invalid)" window.
        let mut s = FaultState::new(FaultConfig {
            max_qps: 1,
            ..FaultConfig::default()
        });
        assert!(s.decide(t0, Some("A B")).is_none());
        assert!(s.decide(t0, Some("C D")).is_some());
    }

    #[test]
    fn rates_are_validated() {
        let bad = FaultConfig {
            drop_rate: 1.5,
            ..FaultConfig::default()
        };
        assert!(bad.validate().is_err());
        let sum = FaultConfig {
            drop_rate: 0.6,
            error_rate: 0.6,
            ..FaultConfig::default()
        };
        assert_eq!(sum.validate(), Err(FaultConfigError::RatesExceedOne(1.2)));
        assert!(FaultConfig::default().validate().is_ok());
    }
}
