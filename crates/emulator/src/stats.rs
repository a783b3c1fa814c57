//! Call statistics per action, for benchmarks and tests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `{"calls": {"<Action>": {"ok": N, "error": N}, ...}}`, the body of
/// `GET /_emulator/stats`. Faults and error answers count under `error`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub calls: BTreeMap<String, CallCounts>,
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
        let bump = |c: &mut CallCounts| {
            if ok {
                c.ok += 1;
            } else {
                c.error += 1;
            }
        };
        if let Some(c) = self.calls.get_mut(key) {
            bump(c);
            return;
        }
        let key = if self.calls.len() < 256 {
            key
        } else {
            "(other)"
        };
        bump(self.calls.entry(key.to_owned()).or_default());
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
