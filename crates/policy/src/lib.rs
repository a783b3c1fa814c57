//! moat-policy: the policy language and the canonical rule model.
//!
//! This crate owns reading YAML policies (every value located by file, line
//! and column), resolving address sets and services, validating, expanding a
//! policy rule into atomic canonical [`Rule`]s, and linting the effective rule
//! set. Every other crate speaks in the [`model`] types defined here.
//!
//! It must not know about HTTP, async runtimes, the API's wire shapes, plans
//! or terminals: it takes text and paths, and returns data and diagnostics.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod codes;
pub mod diag;
mod document;
pub mod eval;
mod expand;
pub mod lint;
mod literal;
mod load;
pub mod model;
mod names;
pub mod policy_tests;
pub mod printable;
mod read;
mod render;
mod resolve;
mod rollout;
mod rollout_doc;
mod sections;
mod suggest;
mod yaml;

pub use diag::{Diagnostic, Diagnostics, Severity, render_text};
pub use document::policy_schema_json;
pub use load::{
    Declared, DeclaredGroup, TestTarget, discover_policy_files, load_policies,
    load_policies_announcing, load_policy_str, load_policy_strs,
};
pub use model::{
    Account, CidrError, DesiredRule, Direction, GroupPolicy, GroupType, InnerAccessPolicy,
    LintIgnore, LiveGroup, LiveRule, Mode, NicType, Origin, Peer, PolicySet, PortRange,
    PortRangeError, ProtectSelector, Protocol, Rule, RuleKey, ServiceAtom, Template, UnmodeledRule,
    Verdict, parse_cidr_lenient, parse_cidr_strict,
};
pub use render::{RenderError, render_policy_yaml};
