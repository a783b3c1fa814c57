//! What an apply did and did not do, per group.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use moat_aliyun::CallError;
use moat_diff::Action;
use moat_policy::{Direction, RuleKey};
use serde::Serialize;

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
        }
    }
}

/// A change that was not made, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotDone {
    pub change: ChangeRef,
    pub reason: NotDoneReason,
}

/// What happened to one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    pub id: String,
    pub region: String,
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
    /// Calls made before the first change (reading the touched groups).
    pub read_calls: usize,
    /// The first error writing the journal, if any (the apply went on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_error: Option<String>,
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
}

impl ApplyReport {
    /// True when every change of every group was made.
    pub fn is_complete(&self) -> bool {
        self.groups.iter().all(GroupReport::is_complete)
    }

    pub fn added(&self) -> usize {
        self.groups.iter().map(|g| g.count(Action::Add)).sum()
    }

    pub fn changed(&self) -> usize {
        self.groups.iter().map(|g| g.count(Action::Change)).sum()
    }

    pub fn removed(&self) -> usize {
        self.groups.iter().map(|g| g.count(Action::Remove)).sum()
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

    /// Every API call of the apply, reads included.
    pub fn api_calls(&self) -> usize {
        self.read_calls + self.groups.iter().map(|g| g.calls).sum::<usize>()
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for ApplyReport {
    /// The closing line: `Apply complete: 3 added, 2 changed, 2 removed in 1
    /// group (7 changes in 5 API calls, 0.2 s).`, or `Apply failed: ...`
    /// naming what was done, what was not and the first failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let done = self.added() + self.changed() + self.removed();
        let tail = format!(
            "{} in {}, {:.1} s",
            plural(done, "change", "changes"),
            plural(self.api_calls(), "API call", "API calls"),
            self.elapsed.as_secs_f64()
        );
        let counts = format!(
            "{} added, {} changed, {} removed in {}",
            self.added(),
            self.changed(),
            self.removed(),
            plural(self.groups.len(), "group", "groups")
        );
        if self.groups.is_empty() {
            return f.write_str("Apply complete: no changes.");
        }
        if self.is_complete() {
            return write!(f, "Apply complete: {counts} ({tail}).");
        }
        let failed: Vec<&GroupReport> = self.groups.iter().filter(|g| !g.is_complete()).collect();
        let missing = self.not_done().count();
        write!(
            f,
            "Apply failed: {counts} ({tail}); {} not made in {}",
            plural(missing, "change", "changes"),
            plural(failed.len(), "group", "groups"),
        )?;
        let first = failed.iter().find_map(|g| {
            g.failure
                .as_ref()
                .map(|e| format!("{}: {e}", g.id))
                .or_else(|| {
                    g.not_done
                        .first()
                        .map(|n| format!("{}: {}", g.id, n.reason))
                })
        });
        if let Some(first) = first {
            write!(f, ": {first}")?;
        }
        f.write_str(". Run plan again to see what remains.")
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
            read_calls: 1,
            journal_error: None,
            elapsed: Duration::from_millis(210),
        };
        assert_eq!(
            report.to_string(),
            "Apply complete: 3 added, 2 changed, 2 removed in 1 group (7 changes in 6 API calls, 0.2 s)."
        );

        let failure = CallFailure {
            action: "RevokeSecurityGroup".into(),
            code: Some("Throttling".into()),
            request_id: Some("R-1".into()),
            message: "RevokeSecurityGroup on sg-1 failed after 6 attempts".into(),
            attempts: 6,
            retryable: true,
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
             2 changes not made in 1 group: sg-1: RevokeSecurityGroup Throttling (request id R-1). \
             Run plan again to see what remains."
        );

        report.groups.clear();
        assert_eq!(report.to_string(), "Apply complete: no changes.");
    }
}
