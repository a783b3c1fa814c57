//! Call statistics per action and per region, for benchmarks and tests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `{"calls": {"<Action>": {"ok": N, "error": N}, ...}}`, the body of
/// `GET /_emulator/stats`. Faults and error answers count under `error`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub calls: BTreeMap<String, CallCounts>,
}

/// `{"regions": {"<RegionId>": {"ok": N, "error": N}, ...}}`, the body of
/// `GET /_emulator/stats?by=region`: the same calls counted by the region
/// they named (`""` for calls without a `RegionId`), as the QPS quota
/// counts them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionStats {
    pub regions: BTreeMap<String, CallCounts>,
}

/// The name a call's `RegionId` is counted under, by the stats and by the
/// QPS quota: the region as sent when it is a well-formed name (letters,
/// digits, `-` and `_`, at most 64), `(invalid)` when it is not, `""` when
/// the call has none.
pub(crate) fn region_key(region: Option<&str>) -> &str {
    match region {
        Some(r)
            if r.len() <= 64
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            r
        }
        Some(_) => "(invalid)",
        None => "",
    }
}

/// Counts one call under `key`; past 256 keys, new ones count under
/// `(other)`.
fn bump(map: &mut BTreeMap<String, CallCounts>, key: &str, ok: bool) {
    let count = |c: &mut CallCounts| {
        if ok {
            c.ok += 1;
        } else {
            c.error += 1;
        }
    };
    if let Some(c) = map.get_mut(key) {
        count(c);
        return;
    }
    let key = if map.len() < 256 { key } else { "(other)" };
    count(map.entry(key.to_owned()).or_default());
}

impl RegionStats {
    pub(crate) fn record(&mut self, region: Option<&str>, ok: bool) {
        bump(&mut self.regions, region_key(region), ok);
    }

    /// Calls naming `region`, answered successfully.
    pub fn ok(&self, region: &str) -> u64 {
        self.regions.get(region).map_or(0, |c| c.ok)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts {
    pub ok: u64,
    pub error: u64,
}

impl Stats {
    pub(crate) fn record(&mut self, action: &str, ok: bool) {
        // Only the names of known actions and short well-formed names are
        // kept apart, so that junk requests cannot grow the map without bound.
        let key = if action.len() <= 64 && action.bytes().all(|b| b.is_ascii_alphanumeric()) {
            if action.is_empty() { "(none)" } else { action }
        } else {
            "(invalid)"
        };
        bump(&mut self.calls, key, ok);
    }

    /// Calls of `action` answered successfully.
    pub fn ok(&self, action: &str) -> u64 {
        self.calls.get(action).map_or(0, |c| c.ok)
    }

    /// Calls of `action` that failed, faults included.
    pub fn errors(&self, action: &str) -> u64 {
        self.calls.get(action).map_or(0, |c| c.error)
    }

    /// Every call counted, of every action.
    pub fn total(&self) -> u64 {
        self.calls.values().map(|c| c.ok + c.error).sum()
    }
}
