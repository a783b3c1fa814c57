//! moat-exec: reading live state for plan, drift and export, and applying.
//!
//! This crate owns reading live groups through the client (concurrent,
//! fail closed), exporting them as a policy that plans to no change, and
//! [`apply()`]: the stale check, the guards (protected rules, `max_destroy`,
//! quotas, missing groups), snapshots, the order of calls per group
//! (authorize, modify, revoke: make-before-break), batching, ClientTokens
//! derived from the plan, bounded concurrency across groups, verification,
//! the JSONL journal and the per-group report. See `docs/apply.md`.
//!
//! It must not know about YAML parsing (policies arrive parsed; snapshots
//! are written through `moat_policy`'s renderer), rendering plans, the
//! terminal (it prints nothing: progress goes through the [`Progress`]
//! trait, logs through `tracing`) or the command line (options arrive as
//! [`ApplyOptions`]).
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod apply;
pub mod export;
pub mod read;

pub use apply::{
    ApplyError, ApplyOptions, ApplyReport, GroupReport, GuardError, GuardProblem, Progress, apply,
    check_guards,
};
pub use export::{list_region_groups, live_to_policy, render_export};
pub use read::{
    DEFAULT_READ_CONCURRENCY, GroupReadError, GroupRef, LiveState, MappedState, ReadError,
    read_groups, read_groups_with,
};
