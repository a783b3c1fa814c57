//! moat-diff: the diff of desired and live rules, and the plan.
//!
//! This crate owns `diff(desired, live) -> Plan`, the `Plan` type with its
//! saved-file form, and the views that render a plan (text, JSON, CSV,
//! Markdown, drift) into a writer.
//!
//! It must not know about sockets, the API client, terminals (colour and
//! width are options the caller decides), the clock (the caller passes
//! today's date) or random numbers (the caller draws a plan's nonce).
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod blast;
mod diff;
mod exposure;
mod file;
mod findings;
mod merge;
mod plan;
mod protect;
mod shard;
mod sign;
mod tested;
mod views;

pub use blast::{BlastNote, BlastRadius, FIRST_INSTANCES, first_ids, instances_phrase};
pub use diff::{DiffOptions, PROTECTED_RULE_REASON, diff, diff_group, fingerprint, missing_group};
pub use exposure::exposure_notes;
pub use findings::FindingRef;
pub use merge::{MergeError, Merged, Report, merge_drift_reports, merge_files, merge_plans};
pub use plan::{
    Action, Attributes, Change, Exposure, ExposureKind, FindingSeverity, GroupPlan, GroupStatus,
    MOAT_VERSION, NONCE_BYTES, PLAN_FORMAT, PLAN_SCHEMA_VERSION, Plan, PlanAccount, PlanFinding,
    ProtectedRule, Protection, ProtectionSource, Reason, Summary, TestRef, UnmodeledAction,
    UnmodeledEntry,
};
pub use protect::{protection_of, unmodeled_protection};
pub use shard::{Shard, ShardBy, ShardError, ShardSetError, ShardSpec, check_shards};
pub use sign::{KeyError, PlanKey, SIGNATURE_PREFIX};
pub use tested::planned_rules;

pub use views::{
    CSV_BLAST_COLUMNS, CSV_COLUMNS, DRIFT_FORMAT, DriftGroup, DriftReport, DriftStatus,
    MARKDOWN_LIMIT, RenderOptions, render_csv, render_drift_json, render_drift_markdown,
    render_drift_report_markdown, render_drift_report_text, render_drift_text, render_json,
    render_markdown, render_text,
};

/// Why a plan file cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("not a moat plan file (no \"format\": \"moat-plan\")")]
    NotAPlan,
    #[error("plan schema version {} is not supported (this moat reads version {supported})", found.map_or_else(|| "(none)".to_owned(), |v| v.to_string()))]
    UnsupportedSchema { found: Option<u32>, supported: u32 },
    #[error("plan file is not valid")]
    Malformed(#[source] serde_json::Error),
    #[error("plan hash {recorded} does not match its contents ({computed}); the file was edited")]
    HashMismatch { recorded: String, computed: String },
    #[error("plan nonce {found:?} is not 32 lowercase hex digits; the file was edited")]
    InvalidNonce { found: String },
    /// A key is configured and the plan carries no signature, or one made
    /// with another key.
    #[error("plan is not signed with the configured key")]
    NotSigned { signed: bool },
}
