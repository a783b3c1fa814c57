//! What a caller can learn about each call and each attempt: returned
//! [`Outcome`]s for the calls that succeeded, and an [`AttemptObserver`]
//! hook that sees every attempt as it ends, so an executor can journal the
//! whole history (time, attempt number, request id, outcome, duration).

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use moat_wire::Action;
use serde::{Serialize, Serializer};

/// A successful result and the calls that produced it (several for paged
/// reads, and for a revoke that had to skip rules already gone).
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome<T> {
    pub value: T,
    pub calls: Vec<CallInfo>,
}

impl<T> Outcome<T> {
    /// The request id of the last call.
    pub fn request_id(&self) -> &str {
        self.calls.last().map_or("", |c| c.request_id.as_str())
    }

    /// Attempts made over all calls.
    pub fn attempts(&self) -> u32 {
        self.calls.iter().map(|c| c.attempts).sum()
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        Outcome {
            value: f(self.value),
            calls: self.calls,
        }
    }
}

/// One call that succeeded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallInfo {
    #[serde(serialize_with = "action_name")]
    pub action: Action,
    pub request_id: String,
    /// Attempts it took, the successful one included.
    pub attempts: u32,
    /// From the start of the first attempt (rate-limit waits included) to
    /// the answer.
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
}

/// One attempt of a call, successful or not.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttemptRecord {
    #[serde(serialize_with = "action_name")]
    pub action: Action,
    pub group: Option<String>,
    pub batch_size: usize,
    /// 1-based.
    pub attempt: u32,
    pub started_at: jiff::Timestamp,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
    /// From the answer, when the service answered.
    pub request_id: Option<String>,
    pub outcome: AttemptOutcome,
    /// The wait before the next attempt; `None` when there is none.
    #[serde(serialize_with = "opt_millis")]
    pub retry_in: Option<Duration>,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttemptOutcome {
    Ok,
    /// The service answered with an error.
    Api {
        status: u16,
        code: String,
        retryable: bool,
    },
    /// No HTTP exchange: refused connection, reset, broken body.
    Transport {
        error: String,
    },
    Timeout,
    /// An answer that could not be read.
    Decode {
        status: u16,
    },
    /// Credentials could not be had for this attempt.
    Credentials,
}

impl AttemptOutcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, AttemptOutcome::Ok)
    }
}

/// Sees every attempt as it ends. Called on the task making the call, so it
/// should be quick (append to a buffer or a channel).
pub trait AttemptObserver: Send + Sync + fmt::Debug {
    fn record(&self, attempt: &AttemptRecord);
}

/// An observer that keeps every record in memory.
#[derive(Debug, Default)]
pub struct AttemptLog {
    records: Mutex<Vec<AttemptRecord>>,
}

impl AttemptLog {
    pub fn new() -> AttemptLog {
        AttemptLog::default()
    }

    /// The records so far, in the order attempts ended.
    pub fn records(&self) -> Vec<AttemptRecord> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl AttemptObserver for AttemptLog {
    fn record(&self, attempt: &AttemptRecord) {
        // A panic elsewhere while holding the lock leaves a usable vector.
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(attempt.clone());
    }
}

fn action_name<S: Serializer>(a: &Action, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(a.as_str())
}

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn opt_millis<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => millis(d, s),
        None => s.serialize_none(),
    }
}
