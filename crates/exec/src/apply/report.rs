//! What an apply did and did not do, per group.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use moat_aliyun::CallError;
use moat_diff::Action;
use moat_policy::{Direction, RuleKey};
use serde::Serialize;

use crate::session::{CallCounts, StopReason};

/// One change of the plan, as the report names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangeRef {
    pub action: Action,
    pub direction: Direction,
    /// The rule in one line (`ingress accept tcp/22 from 10.0.0.0/8`), or
    /// the summary of an unmodeled rule.
    pub rule: String,
    /// The rule's identity; `None` for an unmodeled rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<RuleKey>,
    /// The live ids the change touches (empty for an add).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub live_ids: Vec<String>,
}

impl fmt::Display for ChangeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.action.symbol(), self.rule)?;
        if !self.live_ids.is_empty() {
            write!(f, " ({})", self.live_ids.join(", "))?;
        }
        Ok(())
    }
}

/// A mutating call that failed after the client's retries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallFailure {
    /// The API action (`AuthorizeSecurityGroup`, ...).
    pub action: String,
    /// The service's error code, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The error and its causes in one line.
    pub message: String,
    pub attempts: u32,
    /// Whether the last failure was of a kind worth retrying later
    /// (throttling, server error, no answer).
    pub retryable: bool,
    /// Whether the service refused the call for a quota.
    pub quota: bool,
}

impl CallFailure {
    pub(crate) fn from_error(e: &CallError) -> CallFailure {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        CallFailure {
            action: e.action.as_str().to_owned(),
            code: e.code().map(str::to_owned),
            request_id: e.request_id().map(str::to_owned),
            message,
            attempts: e.attempts,
            retryable: e.is_retryable(),
            quota: e.is_quota_exceeded(),
        }
    }

    pub(crate) fn local(action: &str, message: String) -> CallFailure {
        CallFailure {
            action: action.to_owned(),
            code: None,
            request_id: None,
            message,
            attempts: 0,
            retryable: false,
            quota: false,
        }
    }
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.action)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// Why a change was not made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NotDoneReason {
    /// Its call failed, and reading the group back shows it not made.
    Failed { error: CallFailure },
    /// Its call failed and the group could not be read back: it may or may
    /// not have been made (plan again to see).
    Unknown { error: CallFailure },
    /// Not attempted: an earlier call of the group failed.
    Skipped { after: CallFailure },
    /// The call succeeded but the change was not visible when the group was
    /// read back (after the verify polls).
    NotVisible { detail: String },
    /// Not attempted: the run stopped first (see [`ApplyReport::stopped`]).
    Stopped,
}

impl fmt::Display for NotDoneReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotDoneReason::Failed { error } => write!(f, "failed: {error}"),
            NotDoneReason::Unknown { error } => {
                write!(f, "outcome unknown (failed: {error}; not read back)")
            }
            NotDoneReason::Skipped { after } => {
                write!(f, "not attempted after {after} failed")
            }
            NotDoneReason::NotVisible { detail } => write!(f, "not visible: {detail}"),
            NotDoneReason::Stopped => f.write_str("not attempted: the run stopped"),
        }
    }
}

/// A change that was not made, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotDone {
    pub change: ChangeRef,
    pub reason: NotDoneReason,
}

impl NotDoneReason {
    /// A short name of the kind, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            NotDoneReason::Failed { .. } => "failed",
            NotDoneReason::Unknown { .. } => "unknown",
            NotDoneReason::Skipped { .. } => "skipped",
            NotDoneReason::NotVisible { .. } => "not visible",
            NotDoneReason::Stopped => "not attempted",
        }
    }
}

/// What happened to one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    pub id: String,
    pub region: String,
    /// False when the run stopped before the group's first call.
    pub started: bool,
    /// Changes made, in plan order.
    pub done: Vec<ChangeRef>,
    /// Changes not made, in plan order.
    pub not_done: Vec<NotDone>,
    /// The call that stopped the group, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<CallFailure>,
    /// Whether the group was read back and matched: `None` when not read
    /// back (verify off and nothing failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Mutating calls sent (a call retried counts once).
    pub mutating_calls: usize,
    /// Every API call for the group, reads included.
    pub calls: usize,
    /// Attempts of every call.
    pub attempts: u32,
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
}

impl GroupReport {
    /// True when every change of the group was made (and seen, if verified).
    pub fn is_complete(&self) -> bool {
        self.not_done.is_empty() && self.failure.is_none() && self.verified != Some(false)
    }

    /// Made changes of one action.
    pub fn count(&self, action: Action) -> usize {
        self.done.iter().filter(|c| c.action == action).count()
    }

    /// Added rules: adds, and the rules replaces authorized again.
    pub fn added(&self) -> usize {
        self.count(Action::Add) + self.count(Action::Replace)
    }

    /// Removed rules: removals, and the rules replaces revoked.
    pub fn removed(&self) -> usize {
        self.count(Action::Remove) + self.count(Action::Replace)
    }
}

/// The pace one rate limiter reached in a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RateReached {
    /// The account of the limiter's client; `None` for the account moat is
    /// run with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `None` for a fixed rate shared by every region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The rate adapted to the quota (otherwise it was fixed).
    pub adaptive: bool,
    /// The highest rate the limiter allowed, in whole calls per second
    /// (while it climbs, slow start allows far more than the quota).
    pub peak_per_second: u32,
    /// The most calls the service accepted within one second: the rate
    /// the run actually reached.
    pub accepted_per_second: u32,
    /// Attempts sent through the limiter.
    pub sent: u64,
    /// Attempts the service answered `Throttling`.
    pub throttled: u64,
}

impl RateReached {
    /// The limiters that sent calls.
    pub fn from_stats(stats: &[crate::session::AccountRate]) -> Vec<RateReached> {
        stats
            .iter()
            .filter(|a| a.rate.stats.sent > 0)
            .map(|a| (a, &a.rate))
            .map(|(a, r)| RateReached {
                account: a.account.clone(),
                region: r.region.clone(),
                adaptive: r.stats.adaptive,
                // A rate is at most 10,000 calls per second.
                peak_per_second: r.stats.peak_rate.round().clamp(0.0, f64::from(u32::MAX)) as u32,
                accepted_per_second: u32::try_from(r.stats.peak_accepted).unwrap_or(u32::MAX),
                sent: r.stats.sent,
                throttled: r.stats.throttled,
            })
            .collect()
    }
}

/// `, up to 40 calls/s` (the most calls accepted in a second, highest over
/// the regions) for an adaptive rate, `, at most 10 calls/s` for a fixed
/// one, with the throttled attempts when there were some; nothing without a
/// limiter.
fn rate_text(rates: &[RateReached]) -> String {
    if rates.is_empty() {
        return String::new();
    }
    let throttled: u64 = rates.iter().map(|r| r.throttled).sum();
    let highest = |f: fn(&RateReached) -> u32| rates.iter().map(f).max().unwrap_or(0);
    let mut text = if rates.iter().any(|r| r.adaptive) {
        format!(", up to {} calls/s", highest(|r| r.accepted_per_second))
    } else {
        format!(", at most {} calls/s", highest(|r| r.peak_per_second))
    };
    if throttled > 0 {
        text.push_str(&format!(", {throttled} throttled"));
    }
    text
}

/// The result of an apply that started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// [`moat_diff::Plan::hash`] of the plan applied.
    pub plan_hash: String,
    /// Touched groups, in plan order.
    pub groups: Vec<GroupReport>,
    /// Snapshot files written, one per touched group.
    pub snapshots: Vec<PathBuf>,
    /// Every request of the run (the session's), by kind.
    pub calls: CallCounts,
    /// The pace of each rate limiter that sent calls.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rates: Vec<RateReached>,
    /// Why the run stopped before doing everything, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<StopReason>,
    /// The first error writing the journal, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_error: Option<String>,
    /// Leases that could not be released (they expire on their own).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lease_errors: Vec<String>,
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
}

impl ApplyReport {
    /// True when every change of every group was made.
    pub fn is_complete(&self) -> bool {
        self.groups.iter().all(GroupReport::is_complete)
    }

    /// True when every change was made and nothing went wrong on the way
    /// (no stop, a whole journal).
    pub fn succeeded(&self) -> bool {
        self.is_complete() && self.stopped.is_none() && self.journal_error.is_none()
    }

    pub fn added(&self) -> usize {
        self.groups.iter().map(GroupReport::added).sum()
    }

    pub fn changed(&self) -> usize {
        self.groups.iter().map(|g| g.count(Action::Change)).sum()
    }

    pub fn replaced(&self) -> usize {
        self.groups.iter().map(|g| g.count(Action::Replace)).sum()
    }

    pub fn removed(&self) -> usize {
        self.groups.iter().map(GroupReport::removed).sum()
    }

    /// Every change not made, with its group.
    pub fn not_done(&self) -> impl Iterator<Item = (&GroupReport, &NotDone)> {
        self.groups
            .iter()
            .flat_map(|g| g.not_done.iter().map(move |n| (g, n)))
    }

    /// Mutating calls over all groups.
    pub fn mutating_calls(&self) -> usize {
        self.groups.iter().map(|g| g.mutating_calls).sum()
    }

    /// Every request of the run, reads and lease calls included: what the
    /// service counted.
    pub fn api_calls(&self) -> u64 {
        self.calls.total()
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for ApplyReport {
    /// The closing line: `Apply complete: 3 added, 2 changed, 2 removed in 1
    /// group (7 changes in 12 API calls, 0.2 s).`, or `Apply failed: ...` /
    /// `Apply stopped (...)` naming what was done, what was not and the
    /// first failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let done: usize = self.groups.iter().map(|g| g.done.len()).sum();
        let mut tail = String::new();
        if self.replaced() > 0 {
            tail.push_str(&format!("{} replaced; ", self.replaced()));
        }
        tail.push_str(&format!(
            "{} in {}",
            plural(done, "change", "changes"),
            plural(self.api_calls() as usize, "API call", "API calls"),
        ));
        if self.calls.locks > 0 {
            tail.push_str(&format!(" ({} for the lease)", self.calls.locks));
        }
        tail.push_str(&format!(", {:.1} s", self.elapsed.as_secs_f64()));
        tail.push_str(&rate_text(&self.rates));
        let counts = format!(
            "{} added, {} changed, {} removed in {}",
            self.added(),
            self.changed(),
            self.removed(),
            plural(self.groups.len(), "group", "groups")
        );
        if self.groups.is_empty() && self.stopped.is_none() {
            return f.write_str("Apply complete: no changes.");
        }
        if self.succeeded() {
            return write!(f, "Apply complete: {counts} ({tail}).");
        }
        let head = match &self.stopped {
            Some(StopReason::Interrupted) => "Apply interrupted".to_owned(),
            Some(reason) => format!("Apply stopped ({reason})"),
            None => "Apply failed".to_owned(),
        };
        let failed: Vec<&GroupReport> = self.groups.iter().filter(|g| !g.is_complete()).collect();
        let missing = self.not_done().count();
        write!(f, "{head}: {counts} ({tail})")?;
        if missing > 0 {
            write!(
                f,
                "; {} not made in {}",
                plural(missing, "change", "changes"),
                plural(failed.len(), "group", "groups"),
            )?;
        }
        let first = failed.iter().find_map(|g| {
            g.failure
                .as_ref()
                .map(|e| format!("{}: {e}", g.id))
                .or_else(|| {
                    g.not_done
                        .iter()
                        .find(|n| n.reason != NotDoneReason::Stopped)
                        .map(|n| format!("{}: {}", g.id, n.reason))
                })
        });
        if let Some(first) = first {
            write!(f, ": {first}")?;
        }
        if let Some(e) = &self.journal_error
            && !matches!(self.stopped, Some(StopReason::Journal { .. }))
        {
            write!(f, "; the journal could not be written: {e}")?;
        }
        f.write_str(".")
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(action: Action) -> ChangeRef {
        ChangeRef {
            action,
            direction: Direction::Ingress,
            rule: "ingress accept tcp/22 from 10.0.0.0/8".into(),
            key: None,
            live_ids: Vec::new(),
        }
    }

    fn group(done: Vec<ChangeRef>, calls: usize) -> GroupReport {
        GroupReport {
            id: "sg-1".into(),
            region: "cn-hangzhou".into(),
            started: true,
            done,
            not_done: Vec::new(),
            failure: None,
            verified: Some(true),
            mutating_calls: calls.saturating_sub(1),
            calls,
            attempts: calls as u32,
            elapsed: Duration::from_millis(150),
        }
    }

    #[test]
    fn closing_lines() {
        let mut done = vec![change(Action::Add); 3];
        done.extend(vec![change(Action::Change); 2]);
        done.extend(vec![change(Action::Remove); 2]);
        let mut report = ApplyReport {
            plan_hash: "sha256:00".into(),
            groups: vec![group(done, 5)],
            snapshots: Vec::new(),
            calls: CallCounts {
                reads: 2,
                changes: 4,
                locks: 0,
                retries: 0,
            },
            rates: Vec::new(),
            stopped: None,
            journal_error: None,
            lease_errors: Vec::new(),
            elapsed: Duration::from_millis(210),
        };
        assert_eq!(
            report.to_string(),
            "Apply complete: 3 added, 2 changed, 2 removed in 1 group (7 changes in 6 API calls, 0.2 s)."
        );
        // The rate reached: the most calls accepted in a second, highest
        // over the regions (not slow start's peak allowance), and the
        // throttled attempts if any.
        let rate = |region: &str, adaptive, peak, accepted, throttled| RateReached {
            account: None,
            region: Some(region.into()),
            adaptive,
            peak_per_second: peak,
            accepted_per_second: accepted,
            sent: 6,
            throttled,
        };
        report.rates = vec![
            rate("cn-beijing", true, 640, 40, 0),
            rate("cn-hangzhou", true, 320, 80, 2),
        ];
        assert_eq!(
            report.to_string(),
            "Apply complete: 3 added, 2 changed, 2 removed in 1 group (7 changes in 6 API calls, 0.2 s, up to 80 calls/s, 2 throttled)."
        );
        report.rates = vec![RateReached {
            region: None,
            ..rate("", false, 10, 9, 0)
        }];
        assert_eq!(
            report.to_string(),
            "Apply complete: 3 added, 2 changed, 2 removed in 1 group (7 changes in 6 API calls, 0.2 s, at most 10 calls/s)."
        );
        report.rates.clear();

        let failure = CallFailure {
            action: "RevokeSecurityGroup".into(),
            code: Some("Throttling".into()),
            request_id: Some("R-1".into()),
            message: "RevokeSecurityGroup on sg-1 failed after 6 attempts".into(),
            attempts: 6,
            retryable: true,
            quota: false,
        };
        let g = &mut report.groups[0];
        let removed = g.done.split_off(5);
        g.not_done = removed
            .into_iter()
            .map(|change| NotDone {
                change,
                reason: NotDoneReason::Failed {
                    error: failure.clone(),
                },
            })
            .collect();
        g.failure = Some(failure);
        assert_eq!(
            report.to_string(),
            "Apply failed: 3 added, 2 changed, 0 removed in 1 group (5 changes in 6 API calls, 0.2 s); \
             2 changes not made in 1 group: sg-1: RevokeSecurityGroup Throttling (request id R-1)."
        );

        report.stopped = Some(StopReason::Interrupted);
        assert!(report.to_string().starts_with("Apply interrupted: 3 added"));

        report.groups.clear();
        report.stopped = None;
        assert_eq!(report.to_string(), "Apply complete: no changes.");

        let mut replaced = vec![change(Action::Replace)];
        replaced[0].live_ids.push("sgr-1".into());
        report.groups = vec![group(replaced, 3)];
        report.calls.locks = 4;
        assert_eq!(
            report.to_string(),
            "Apply complete: 1 added, 0 changed, 1 removed in 1 group (1 replaced; 1 change in 10 API calls (4 for the lease), 0.2 s)."
        );
    }
}
