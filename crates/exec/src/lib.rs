//! moat-exec: the plan pipeline, the preflight and the executor.
//!
//! This crate owns the one way a plan is made from policies ([`plan()`]:
//! read every group under the shared rate limit, diff each on the task that
//! read it, mark missing groups, attach lint findings; reads a [`Prefetch`]
//! started while the policies loaded are taken, not sent again), the one check a plan
//! passes before it is applied ([`preflight()`]: the plan alone, then the
//! touched groups read anew for freshness, rule ids, derived protection and
//! quotas), and [`apply()`]: snapshots, the order of calls per group
//! (authorize, modify, replace, revoke: make-before-break), batching,
//! ClientTokens derived from the plan's hash and nonce, bounded concurrency across groups, a
//! write-ahead JSONL journal, graceful stops (interrupt, quota, journal),
//! verification and the per-group report. Every call of a run goes through
//! a [`Session`] (or, for reads only, a [`Reader`]), which counts and
//! journals it. Export of live groups as a policy lives here too, and the
//! blast radius of a plan ([`read_blast_radius`]: the instances each
//! changed group is on, each change evaluated with all the groups of each
//! interface). See `docs/apply.md`.
//!
//! It must not know about YAML parsing (policies arrive parsed; snapshots
//! and the preflight's rule check go through `moat_policy`'s renderer and
//! loader), rendering plans, the terminal or signals (it prints nothing:
//! progress goes through the [`Progress`] trait, logs through `tracing`, and
//! the caller raises a [`StopSignal`]), or the command line (options arrive
//! as [`ApplyOptions`], [`PlanOptions`] and [`Guards`]).
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod apply;
pub mod blast;
pub mod doctor;
pub mod export;
pub mod gate;
pub mod journal;
pub mod lock;
pub mod network;
pub mod nonce;
pub mod pipeline;
pub mod prefetch;
pub mod preflight;
pub mod read;
pub mod session;

pub use apply::{
    ApplyError, ApplyOptions, ApplyReport, GroupReport, NotDoneReason, Progress, apply,
};
pub use blast::{BlastError, BlastReads, compute_blast_radius, read_blast_radius};
pub use doctor::{
    DOCTOR_SCHEMA_VERSION, DoctorError, DoctorRun, FlowSummary, InstanceSummary, ProbeTarget,
    Question, Step, StepId, StepStatus, run_doctor,
};
pub use export::{list_region_groups, live_to_policy, render_export};
pub use gate::{GateReport, StageState, stage_gate};
pub use journal::{InterruptedReplace, JournalError, JournalLine, LineKind, interrupted_replaces};
pub use network::{
    InterfaceTarget, InterfaceView, NetworkReadError, groups_on_interface, read_interface,
};
pub use nonce::{NonceError, fresh_nonce};
pub use pipeline::{PlanOptions, Planned, group_refs, plan};
pub use prefetch::Prefetch;
pub use preflight::{
    GuardError, GuardProblem, Guards, Preflight, PreflightError, StaleError, StaleGroup, StaleKind,
    check_live, check_plan, preflight, preflight_with, touched_groups,
};
pub use read::{
    DEFAULT_READ_CONCURRENCY, GroupReadError, GroupRef, LiveState, ReadError, ReadProgress,
    read_group_types, read_groups, read_typed_groups,
};
pub use session::{
    AccountRate, CallCounts, Reader, Recorder, RegionError, Session, SessionOptions, StopReason,
    StopSignal, Target,
};
