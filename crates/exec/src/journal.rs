//! The JSONL journal: a write-ahead record of every call a run makes.
//!
//! Three kinds of line. Before each mutating call, an `intent` line says
//! what the call is about to do, and is on its way to the disk (written and
//! flushed to the operating system) before the call is sent. Each attempt
//! of every call, reads included, is an `attempt` line. After a mutating
//! call, an `outcome` line says how it ended. An intent without an outcome
//! is a call whose result the journal does not know: the process died, or
//! the journal failed, while it was in flight.
//!
//! A journal that cannot be written stops the run: the executor writes the
//! intent first and makes no call whose intent did not reach the file.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use moat_aliyun::{AttemptOutcome, AttemptRecord};
use moat_policy::{Direction, Rule};
use serde::{Deserialize, Serialize};

/// What a line records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    /// Before a mutating call.
    Intent,
    /// One attempt of any call.
    Attempt,
    /// After a mutating call.
    Outcome,
    /// A check the user chose to skip (`--skip-stage-gate`), with the
    /// reason given.
    Override,
}

/// One line of the journal. Field order is the order written; fields that
/// do not apply to a kind of line are left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalLine {
    /// RFC 3339 in UTC: when the attempt started, or when an intent or
    /// outcome was written.
    pub time: String,
    pub kind: LineKind,
    /// [`moat_diff::Plan::hash`] of the plan being applied; absent for the
    /// reads that make the plan.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plan: String,
    /// The security group; absent for a call of several groups.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    /// `ingress` or `egress`; absent for a read of both directions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// `plan`, `preflight` and `verify` for reads; `add`, `change`,
    /// `replace`, `remove` for rule changes; `lock` and `unlock` for the
    /// lease.
    pub phase: String,
    /// The API action (a revoke that finds rules already gone reads the
    /// group and revokes the rest under the same phase).
    pub action: String,
    /// 1-based within group, direction and phase; 0 for reads.
    pub batch: usize,
    /// The rules of the batch, one compact line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// The rule ids of a modify or revoke.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_ids: Vec<String>,
    /// On the intent of a replace: the rule it revokes and authorizes again.
    /// If the journal has this intent and no outcome, the rule may be gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reauthorizes: Option<Rule>,
    /// The call's ClientToken (not a secret; it names the batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// 1-based (attempt lines); on an outcome, the attempts it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `ok`, the service's error code, or `transport`, `timeout`, `decode`,
    /// `credentials`, `local` (refused before sending). Absent on intents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// HTTP status of an error answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Whether the client retries after this attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// On an override line: the reason the user gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The journal could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the journal {}", path.display())]
pub struct JournalError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// An open journal file; lines are appended one write each and flushed.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    /// The first failure; once set, every later write fails too, so that a
    /// journal with a hole in it is never continued silently.
    failed: Mutex<Option<String>>,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let err = |source| JournalError {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(err)?;
        // A journal that a killed run or a full disk left cut mid-line gets
        // that line ended first, so this run's first line is not glued to
        // the fragment and lost with it.
        if ends_mid_line(&mut file).map_err(err)? {
            file.write_all(b"\n").map_err(err)?;
        }
        Ok(Journal {
            path: path.to_owned(),
            file: Mutex::new(file),
            failed: Mutex::new(None),
        })
    }

    /// The first write error, if any.
    pub fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn error(&self, source: std::io::Error) -> JournalError {
        JournalError {
            path: self.path.clone(),
            source,
        }
    }

    /// Appends one line, flushed to the operating system before it returns.
    fn write(&self, line: &JournalLine) -> Result<(), JournalError> {
        if let Some(first) = self.failure() {
            return Err(self.error(std::io::Error::other(format!(
                "an earlier write failed: {first}"
            ))));
        }
        let mut text = serde_json::to_string(line).map_err(|e| self.error(e.into()))?;
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line: with O_APPEND a line is never interleaved with
        // another writer's. A short write (a full disk) leaves part of a
        // line; the failure is remembered so nothing follows it.
        let result = file.write_all(text.as_bytes()).and_then(|()| file.flush());
        drop(file);
        result.map_err(|e| {
            let mut slot = self.failed.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(e.to_string());
            }
            drop(slot);
            self.error(e)
        })
    }

    /// The line of a skipped check: `phase` names it, `action` what was
    /// skipped, `reason` why.
    pub fn override_line(
        &self,
        phase: &'static str,
        action: &str,
        reason: &str,
    ) -> Result<(), JournalError> {
        let c = CallContext::read(phase, "", "", "");
        let mut line = base(&c, LineKind::Override, now(), action);
        line.reason = Some(reason.to_owned());
        self.write(&line)
    }

    /// The line before a mutating call.
    pub fn intent(&self, c: &CallContext, action: &str) -> Result<(), JournalError> {
        let mut line = base(c, LineKind::Intent, now(), action);
        line.reauthorizes.clone_from(&c.reauthorizes);
        self.write(&line)
    }

    /// One attempt of a call.
    pub fn attempt(&self, c: &CallContext, a: &AttemptRecord) -> Result<(), JournalError> {
        let (outcome, status) = match &a.outcome {
            AttemptOutcome::Ok => ("ok".to_owned(), None),
            AttemptOutcome::Api { status, code, .. } => (code.clone(), Some(*status)),
            AttemptOutcome::Transport { .. } => ("transport".to_owned(), None),
            AttemptOutcome::Timeout => ("timeout".to_owned(), None),
            AttemptOutcome::Decode { status } => ("decode".to_owned(), Some(*status)),
            AttemptOutcome::Credentials => ("credentials".to_owned(), None),
        };
        let mut line = base(
            c,
            LineKind::Attempt,
            a.started_at.to_string(),
            a.action.as_str(),
        );
        if line.group.is_empty() {
            line.group = a.group.clone().unwrap_or_default();
        }
        line.attempt = Some(a.attempt);
        line.request_id = a.request_id.clone().filter(|id| !id.is_empty());
        line.outcome = Some(outcome);
        line.status = status;
        line.retried = Some(a.retry_in.is_some());
        line.duration_ms = Some(u64::try_from(a.duration.as_millis()).unwrap_or(u64::MAX));
        self.write(&line)
    }

    /// The line after a mutating call: `outcome` is `ok` or what failed.
    pub fn outcome(
        &self,
        c: &CallContext,
        action: &str,
        outcome: &CallOutcome,
    ) -> Result<(), JournalError> {
        let mut line = base(c, LineKind::Outcome, now(), action);
        line.attempt = Some(outcome.attempts);
        line.request_id.clone_from(&outcome.request_id);
        line.outcome = Some(outcome.outcome.clone());
        line.status = outcome.status;
        self.write(&line)
    }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn base(c: &CallContext, kind: LineKind, time: String, action: &str) -> JournalLine {
    JournalLine {
        time,
        kind,
        plan: c.plan.clone(),
        group: c.group.clone(),
        region: c.region.clone(),
        direction: c.direction,
        phase: c.phase.to_owned(),
        action: action.to_owned(),
        batch: c.batch,
        rules: c.rules.clone(),
        rule_ids: c.rule_ids.clone(),
        reauthorizes: None,
        client_token: c.client_token.clone(),
        attempt: None,
        request_id: None,
        outcome: None,
        status: None,
        retried: None,
        duration_ms: None,
        reason: None,
    }
}

/// How a mutating call ended, for its outcome line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CallOutcome {
    pub outcome: String,
    pub status: Option<u16>,
    pub request_id: Option<String>,
    pub attempts: u32,
}

impl CallOutcome {
    pub fn ok(request_id: &str, attempts: u32) -> CallOutcome {
        CallOutcome {
            outcome: "ok".to_owned(),
            status: None,
            request_id: Some(request_id.to_owned()).filter(|id| !id.is_empty()),
            attempts,
        }
    }

    pub fn failed(e: &moat_aliyun::CallError) -> CallOutcome {
        use moat_aliyun::CallErrorKind as K;
        let outcome = match (&e.kind, e.code()) {
            (_, Some(code)) => code.to_owned(),
            (K::Timeout { .. }, None) => "timeout".to_owned(),
            (K::Decode { .. }, None) => "decode".to_owned(),
            (K::Credentials(_), None) => "credentials".to_owned(),
            (K::Transport(_), None) => "transport".to_owned(),
            (K::Tls { .. }, None) => "tls".to_owned(),
            (_, None) if e.attempts == 0 => "local".to_owned(),
            (_, None) => "error".to_owned(),
        };
        CallOutcome {
            outcome,
            status: e.status(),
            request_id: e.request_id().map(str::to_owned),
            attempts: e.attempts,
        }
    }
}

/// What the journal knows about a call besides what each attempt says.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallContext {
    pub plan: String,
    pub group: String,
    pub region: String,
    pub direction: Option<Direction>,
    pub phase: &'static str,
    pub batch: usize,
    pub rules: Vec<String>,
    pub rule_ids: Vec<String>,
    pub reauthorizes: Option<Rule>,
    pub client_token: Option<String>,
    /// A call of the lease, counted apart from rule changes.
    pub lock: bool,
}

impl CallContext {
    /// The context of a read of one group in `phase`.
    pub fn read(phase: &'static str, plan: &str, group: &str, region: &str) -> CallContext {
        CallContext {
            plan: plan.to_owned(),
            group: group.to_owned(),
            region: region.to_owned(),
            phase,
            ..CallContext::default()
        }
    }
}

/// A replace whose intent is in the journal without its outcome: the
/// process stopped between revoking the rule and authorizing it again, so
/// the rule may be missing from its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterruptedReplace {
    pub group: String,
    pub region: String,
    pub rule: Rule,
    /// When the replace was started (the intent's time).
    pub at: String,
}

/// True when `file` is a regular file whose last byte is not a newline.
fn ends_mid_line(file: &mut File) -> std::io::Result<bool> {
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1))?;
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Scans a journal for replaces that were started and never finished.
/// Unreadable lines (a line cut by a full disk) are skipped; a missing file
/// has none.
pub fn interrupted_replaces(path: &Path) -> std::io::Result<Vec<InterruptedReplace>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(interrupted_in(&text))
}

fn interrupted_in(text: &str) -> Vec<InterruptedReplace> {
    // Keyed by the call's token, which names exactly one call of one plan.
    let mut open: Vec<(String, InterruptedReplace)> = Vec::new();
    for line in text.lines() {
        let Ok(l) = serde_json::from_str::<JournalLine>(line) else {
            continue;
        };
        if l.phase != "replace" {
            continue;
        }
        let Some(token) = l.client_token.clone() else {
            continue;
        };
        match l.kind {
            LineKind::Intent => {
                if let Some(rule) = l.reauthorizes {
                    // A later replace of the same rule supersedes an open
                    // one: that run found the rule live. (A re-run's plan
                    // has a nonce of its own, so its tokens are not the
                    // interrupted run's.)
                    open.retain(|(t, r)| {
                        *t != token
                            && !(r.group == l.group
                                && r.region == l.region
                                && r.rule.key == rule.key)
                    });
                    open.push((
                        token,
                        InterruptedReplace {
                            group: l.group,
                            region: l.region,
                            rule,
                            at: l.time,
                        },
                    ));
                }
            }
            // Any outcome closes the replace: the executor read the group
            // back and reported what it found.
            LineKind::Outcome => open.retain(|(t, _)| *t != token),
            LineKind::Attempt | LineKind::Override => {}
        }
    }
    open.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TCP to `port` from 10.0.0.0/8.
    fn tcp_from_private(port: u16) -> Rule {
        Rule {
            key: moat_policy::RuleKey {
                direction: Direction::Ingress,
                protocol: moat_policy::Protocol::Tcp,
                ports: moat_policy::PortRange::single(port),
                peer: moat_policy::Peer::cidr("10.0.0.0/8".parse().unwrap()),
                verdict: moat_policy::Verdict::Accept,
                nic_type: moat_policy::NicType::Intranet,
                source_ports: None,
                local: None,
            },
            priority: 1,
            description: String::new(),
        }
    }

    /// The context of a replace of `rule` in sg-1 with ClientToken `token`.
    fn replace_of(rule: &Rule, token: &str) -> CallContext {
        CallContext {
            plan: "sha256:00".into(),
            group: "sg-1".into(),
            region: "cn-hangzhou".into(),
            direction: Some(Direction::Ingress),
            phase: "replace",
            batch: 1,
            reauthorizes: Some(rule.clone()),
            client_token: Some(token.into()),
            ..CallContext::default()
        }
    }

    #[test]
    fn a_replace_without_an_outcome_is_interrupted_and_cut_lines_are_skipped() {
        let rule = tcp_from_private(22);
        let context = |token: &str| replace_of(&rule, token);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path).unwrap();
        j.intent(&context("t-done"), "RevokeSecurityGroup").unwrap();
        j.outcome(
            &context("t-done"),
            "AuthorizeSecurityGroup",
            &CallOutcome::ok("R-1", 1),
        )
        .unwrap();
        j.intent(&context("t-cut"), "RevokeSecurityGroup").unwrap();
        drop(j);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"time\":\"2026-");
        std::fs::write(&path, text).unwrap();

        let found = interrupted_replaces(&path).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].group, "sg-1");
        assert_eq!(found[0].rule, rule);
        assert!(
            interrupted_replaces(&dir.path().join("none.jsonl"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_later_replace_of_the_same_rule_supersedes_an_interrupted_one() {
        let context = |token: &str, port: u16| replace_of(&tcp_from_private(port), token);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path).unwrap();
        // Run 1 is killed during both replaces; run 2 (other tokens)
        // replaces the tcp/22 rule again and finishes.
        j.intent(&context("run1-22", 22), "RevokeSecurityGroup")
            .unwrap();
        j.intent(&context("run1-80", 80), "RevokeSecurityGroup")
            .unwrap();
        j.intent(&context("run2-22", 22), "RevokeSecurityGroup")
            .unwrap();
        j.outcome(
            &context("run2-22", 22),
            "AuthorizeSecurityGroup",
            &CallOutcome::ok("R-2", 1),
        )
        .unwrap();
        drop(j);
        let found = interrupted_replaces(&path).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, tcp_from_private(80));
    }

    #[test]
    fn a_line_cut_by_an_earlier_run_is_ended_before_the_next_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        std::fs::write(&path, "{\"time\":\"2026-").unwrap();
        let j = Journal::open(&path).unwrap();
        let c = CallContext::read("preflight", "", "sg-1", "cn-hangzhou");
        j.intent(&c, "DescribeSecurityGroupAttribute").unwrap();
        drop(j);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text:?}");
        assert_eq!(lines[0], "{\"time\":\"2026-");
        let line: JournalLine = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(line.group, "sg-1");
        // A whole journal is continued as it is.
        let j = Journal::open(&path).unwrap();
        j.intent(&c, "DescribeSecurityGroupAttribute").unwrap();
        drop(j);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn after_a_failed_write_every_write_fails() {
        let j = Journal::open(Path::new("/dev/full")).expect("/dev/full opens");
        let c = CallContext::read("preflight", "", "sg-1", "cn-hangzhou");
        assert!(j.intent(&c, "RevokeSecurityGroup").is_err());
        assert!(j.failure().is_some());
        assert!(j.intent(&c, "RevokeSecurityGroup").is_err());
    }
}
