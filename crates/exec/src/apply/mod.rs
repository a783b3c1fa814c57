//! Applying a plan: the preflight again, snapshots, ordering, batching,
//! idempotency tokens, bounded concurrency, the write-ahead journal,
//! graceful stops and verification.
//!
//! [`apply`] runs the preflight (see [`crate::preflight`]) on groups read
//! anew, refusing the whole plan before any mutating call when it is stale
//! or a guard fails, writes a snapshot of each touched group, and then
//! changes the groups concurrently, at most [`ApplyOptions::parallel`] at
//! once in each (account, region). Within a group, per direction (ingress, then egress): additions in
//! batches of up to 100 rules, then in-place modifications by rule id, then
//! replaces (a revoke and an authorize back to back), then removals in
//! batches of up to 100 rule ids (make-before-break). A call that fails
//! after the client's retries stops that group; the other groups go on,
//! except after a quota error, which stops the whole run. A raised
//! [`crate::StopSignal`] lets calls in flight finish and starts no new one.
//! The [`ApplyReport`] says, per group, what was done and what was not and
//! why. See `docs/apply.md` for the safety model.

mod batch;
mod report;
mod run;
mod snapshot;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use moat_policy::{Direction, LiveGroup};

pub use batch::{MAX_IDS_PER_REVOKE, MAX_RULES_PER_AUTHORIZE, Phase, call_floor, client_token};
pub use report::{
    ApplyReport, CallFailure, ChangeRef, GroupReport, NotDone, NotDoneReason, RateReached,
};
pub use run::apply;
pub use snapshot::{snapshot_file_name, write_snapshots};

use crate::lock::{LockError, LockOptions};
use crate::preflight::{Guards, PreflightError};
use crate::session::RegionError;

/// Default of [`ApplyOptions::parallel`] (`--parallel`).
pub const DEFAULT_PARALLEL: usize = 4;

/// How [`apply`] runs.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Groups changed at once in each (account, region) (at least 1).
    pub parallel: usize,
    /// What the preflight allows.
    pub guards: Guards,
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
    /// Take a lease on each group the plan changes before the preflight
    /// reads it, and release it at the end (see [`crate::lock`]); `None`
    /// takes none.
    pub lock: Option<LockOptions>,
    /// Told about groups and calls as they go (the CLI's progress display).
    pub progress: Option<Arc<dyn Progress>>,
    /// The live groups the plan was made from, when the same run made it
    /// moments ago with nothing (no prompt) in between: the preflight then
    /// checks the plan against them instead of reading the groups again.
    /// The plan is its own freshness check; the verify read stays.
    pub planned_live: Option<Arc<[LiveGroup]>>,
}

impl Default for ApplyOptions {
    fn default() -> ApplyOptions {
        ApplyOptions {
            parallel: DEFAULT_PARALLEL,
            guards: Guards::default(),
            snapshot_dir: None,
            verify: true,
            verify_polls: 3,
            verify_backoff: Duration::from_millis(200),
            lock: None,
            progress: None,
            planned_live: None,
        }
    }
}

/// One rule-changing step as [`Progress`] sees it.
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
    /// A rule-changing step ended (after the client's retries).
    fn call_done(&self, _call: &CallEvent) {}
    /// A group ended, with its report.
    fn group_finished(&self, _report: &GroupReport) {}
}

/// Why apply refused to start. When one of these is returned no rule was
/// changed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The preflight refused the plan (stale, a guard, unreadable groups).
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    /// No client could be made for a group's region.
    #[error(transparent)]
    Region(#[from] RegionError),
    /// The groups could not all be leased (another apply holds one, say).
    #[error(transparent)]
    Lock(Box<LockError>),
    /// A snapshot could not be written.
    #[error("cannot write the snapshot {}", path.display())]
    Snapshot {
        path: PathBuf,
        #[source]
        source: SnapshotError,
    },
}

impl From<LockError> for ApplyError {
    fn from(e: LockError) -> ApplyError {
        ApplyError::Lock(Box::new(e))
    }
}

/// Why a snapshot file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Render(#[from] moat_policy::RenderError),
}
