//! Applying a plan: guards, snapshots, ordering, batching, idempotency
//! tokens, bounded concurrency, the journal and verification.
//!
//! [`apply`] reads the live rules of every group the plan touches, refuses
//! the whole plan (before any mutating call) when it is stale or a guard
//! fails, writes a snapshot of each touched group, and then changes the
//! groups concurrently, at most [`ApplyOptions::parallel`] at once. Within
//! a group, per direction (ingress, then egress): additions in batches of
//! up to 100 rules, then in-place modifications by rule id, then removals
//! in batches of up to 100 rule ids (make-before-break). A call that fails
//! after the client's retries stops that group; the other groups go on.
//! The [`ApplyReport`] says, per group, what was done and what was not and
//! why. See `docs/apply.md` for the safety model.

mod batch;
mod guards;
mod journal;
mod report;
mod run;
mod snapshot;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use moat_aliyun::{AttemptObserver, ConfigError};
use moat_diff::Plan;
use moat_policy::Direction;

pub use batch::{MAX_IDS_PER_REVOKE, MAX_RULES_PER_AUTHORIZE, Phase, call_floor, client_token};
pub use guards::{GuardError, GuardProblem, check_guards};
pub use journal::JournalLine;
pub use report::{ApplyReport, CallFailure, ChangeRef, GroupReport, NotDone, NotDoneReason};
pub use run::apply;
pub use snapshot::{snapshot_file_name, write_snapshots};

use crate::read::ReadError;

/// Default of [`ApplyOptions::parallel`] (`--parallel`).
pub const DEFAULT_PARALLEL: usize = 4;
/// Default of [`ApplyOptions::max_destroy`] (`--max-destroy`).
pub const DEFAULT_MAX_DESTROY: usize = 25;
/// Rules per group, both directions together (reference 5).
pub const DEFAULT_RULES_PER_GROUP: usize = 200;
/// Rules that reference another group, per basic group (reference 5).
pub const DEFAULT_MAX_GROUP_REFS: usize = 20;

/// How [`apply`] runs.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Groups changed at once (at least 1).
    pub parallel: usize,
    /// Remove or change rules that are protected.
    pub allow_protected: bool,
    /// Most removals (rules revoked, unmodeled ones included) a plan may
    /// make; more refuses the whole apply.
    pub max_destroy: usize,
    /// The rule quota per group, both directions counted together.
    pub rules_per_group: usize,
    /// The quota of group-reference rules per group.
    pub max_group_refs: usize,
    /// JSONL journal to append one line per attempt to (parent directories
    /// are created). `None` keeps no journal.
    pub journal: Option<PathBuf>,
    /// Directory for the snapshots of the touched groups, one policy file
    /// per group (the CLI passes `.moat/snapshots/<UTC time>`). `None` takes
    /// none.
    pub snapshot_dir: Option<PathBuf>,
    /// After each group, read it back and check every change is visible.
    pub verify: bool,
    /// Reads of a group while a change is not yet visible (at least 1).
    pub verify_polls: u32,
    /// Wait between those reads.
    pub verify_backoff: Duration,
    /// Mixed into every ClientToken. Leave it empty so that a retried call
    /// or a re-run of the same plan reuses its tokens and cannot apply
    /// twice; set a fresh value only to force new tokens (see
    /// `docs/apply.md`, "Tokens").
    pub token_scope: String,
    /// Told about groups and calls as they go (the CLI's progress display).
    pub progress: Option<Arc<dyn Progress>>,
    /// Sees every attempt, besides the journal (the client's own observer is
    /// replaced while apply runs).
    pub observer: Option<Arc<dyn AttemptObserver>>,
}

impl Default for ApplyOptions {
    fn default() -> ApplyOptions {
        ApplyOptions {
            parallel: DEFAULT_PARALLEL,
            allow_protected: false,
            max_destroy: DEFAULT_MAX_DESTROY,
            rules_per_group: DEFAULT_RULES_PER_GROUP,
            max_group_refs: DEFAULT_MAX_GROUP_REFS,
            journal: None,
            snapshot_dir: None,
            verify: true,
            verify_polls: 3,
            verify_backoff: Duration::from_millis(200),
            token_scope: String::new(),
            progress: None,
            observer: None,
        }
    }
}

/// One mutating call as [`Progress`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallEvent {
    pub group: String,
    pub direction: Direction,
    pub phase: Phase,
    /// 1-based within the group, direction and phase.
    pub batch: usize,
    /// Rules (or rule ids) the call carries.
    pub items: usize,
    pub ok: bool,
}

/// What the caller learns while apply runs. Called from the tasks doing the
/// work, so implementations should be quick. Every method has an empty
/// default.
pub trait Progress: Send + Sync + fmt::Debug {
    /// A group starts; `changes` is how many changes it has.
    fn group_started(&self, _group: &str, _changes: usize) {}
    /// A mutating call ended (after the client's retries).
    fn call_done(&self, _call: &CallEvent) {}
    /// A group ended, with its report.
    fn group_finished(&self, _report: &GroupReport) {}
}

/// Why apply refused to start. When one of these is returned no mutating
/// call was made.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The plan cannot be applied as it is (guards, quotas, missing groups).
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// A group changed since the plan was made.
    #[error(transparent)]
    Stale(moat_diff::PlanError),
    /// A touched group could not be read (for the fingerprint check, the
    /// guards and the snapshot).
    #[error("reading the groups the plan changes")]
    Read(#[source] ReadError),
    /// No client could be made for a group's region.
    #[error("region {region}")]
    Region {
        region: String,
        #[source]
        source: ConfigError,
    },
    /// The journal could not be opened.
    #[error("cannot open the journal {}", path.display())]
    Journal {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A snapshot could not be written.
    #[error("cannot write the snapshot {}", path.display())]
    Snapshot {
        path: PathBuf,
        #[source]
        source: SnapshotError,
    },
}

/// Why a snapshot file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Render(#[from] moat_policy::RenderError),
}

/// The groups of `plan` that apply changes (the others are not read, not
/// snapshotted and not called).
pub fn touched_groups(plan: &Plan) -> impl Iterator<Item = &moat_diff::GroupPlan> {
    plan.groups.iter().filter(|g| g.has_changes())
}
