//! moat-exec: reading live state for plan, drift and export, and applying.
//!
//! This crate owns exporting live groups through the client, checking a saved
//! plan for staleness, the guards, ordering and batching of apply, ClientTokens
//! derived from the plan, concurrency, snapshots and the journal.
//!
//! It must not know about YAML parsing, rendering or the command line.
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
    DEFAULT_READ_CONCURRENCY, GroupReadError, GroupRef, LiveState, ReadError, read_groups,
};
