//! The JSONL journal: one line per attempt of every call apply makes.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use moat_aliyun::{AttemptObserver, AttemptOutcome, AttemptRecord};
use moat_policy::Direction;
use serde::{Deserialize, Serialize};

/// One line of the journal. Field order is the order written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalLine {
    /// When the attempt started, RFC 3339 in UTC.
    pub time: String,
    /// [`moat_diff::Plan::hash`] of the plan being applied.
    pub plan: String,
    pub group: String,
    /// The group's region; absent on the reads before the first change,
    /// which span the plan's regions.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    /// `ingress` or `egress`; absent for a read of both directions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// `add`, `change` or `remove` for mutating calls; `read` (before the
    /// first change) and `verify` (after a group) for reads.
    pub phase: String,
    /// The API action of the attempt (a revoke that finds rules already
    /// gone reads the group and revokes the rest under the same phase).
    pub action: String,
    /// 1-based within group, direction and phase; 0 for reads.
    pub batch: usize,
    /// The rules of the batch, one compact line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// The rule ids of a modify or revoke.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_ids: Vec<String>,
    /// The call's ClientToken (not a secret; it names the batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// 1-based.
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `ok`, the service's error code, or `transport`, `timeout`,
    /// `decode`, `credentials`.
    pub outcome: String,
    /// HTTP status of an error answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Whether the client retries after this attempt.
    pub retried: bool,
    pub duration_ms: u64,
}

/// An open journal file; lines are appended and flushed one by one.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    error: Mutex<Option<String>>,
}

impl Journal {
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Journal {
            path: path.to_owned(),
            file: Mutex::new(file),
            error: Mutex::new(None),
        })
    }

    fn write(&self, line: &JournalLine) {
        let mut text = match serde_json::to_string(line) {
            Ok(t) => t,
            Err(e) => return self.failed(e.to_string()),
        };
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line: with O_APPEND a line is never interleaved with
        // another writer's.
        if let Err(e) = file.write_all(text.as_bytes()).and_then(|()| file.flush()) {
            drop(file);
            self.failed(e.to_string());
        }
    }

    fn failed(&self, e: String) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            tracing::warn!(journal = %self.path.display(), error = %e, "cannot write the journal");
            *slot = Some(format!("{}: {e}", self.path.display()));
        }
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What the journal knows about a call besides what the attempt says.
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
    pub client_token: Option<String>,
}

/// The observer of one call: writes its attempts to the journal and passes
/// them on to the caller's observer.
#[derive(Debug)]
pub(crate) struct CallObserver {
    pub journal: Option<Arc<Journal>>,
    pub next: Option<Arc<dyn AttemptObserver>>,
    pub context: CallContext,
}

impl AttemptObserver for CallObserver {
    fn record(&self, a: &AttemptRecord) {
        if let Some(journal) = &self.journal {
            journal.write(&line(&self.context, a));
        }
        if let Some(next) = &self.next {
            next.record(a);
        }
    }
}

fn line(c: &CallContext, a: &AttemptRecord) -> JournalLine {
    let (outcome, status) = match &a.outcome {
        AttemptOutcome::Ok => ("ok".to_owned(), None),
        AttemptOutcome::Api { status, code, .. } => (code.clone(), Some(*status)),
        AttemptOutcome::Transport { .. } => ("transport".to_owned(), None),
        AttemptOutcome::Timeout => ("timeout".to_owned(), None),
        AttemptOutcome::Decode { status } => ("decode".to_owned(), Some(*status)),
        AttemptOutcome::Credentials => ("credentials".to_owned(), None),
    };
    JournalLine {
        time: a.started_at.to_string(),
        plan: c.plan.clone(),
        group: a.group.clone().unwrap_or_else(|| c.group.clone()),
        region: c.region.clone(),
        direction: c.direction,
        phase: c.phase.to_owned(),
        action: a.action.as_str().to_owned(),
        batch: c.batch,
        rules: c.rules.clone(),
        rule_ids: c.rule_ids.clone(),
        client_token: c.client_token.clone(),
        attempt: a.attempt,
        request_id: a.request_id.clone().filter(|id| !id.is_empty()),
        outcome,
        status,
        retried: a.retry_in.is_some(),
        duration_ms: u64::try_from(a.duration.as_millis()).unwrap_or(u64::MAX),
    }
}
