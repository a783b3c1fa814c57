//! The one check a plan passes before it is applied: the CLI runs it before
//! asking for `yes`, and the executor runs it again after, on groups read
//! anew (and, with locking, under the lease).
//!
//! In order, stopping at the first step that fails:
//! 1. the plan alone: consistent, no missing group, every rule it would
//!    authorize or modify valid as a policy rule (a plan that fails here is
//!    refused before any call);
//! 2. the groups the plan changes are read (only those: a group without
//!    changes is not touched, so it cannot make the plan stale);
//! 3. freshness: each of them still has the fingerprint the plan was made
//!    from;
//! 4. the guards, against the live rules: every rule id a change names is
//!    that rule of that group, protection derived from the plan's selectors
//!    and protected rules and the live rule, `max_destroy`, the quotas at
//!    the fullest point.
//!
//! Every problem of a step is reported, not only the first.

mod fresh;
mod guards;
mod validate;

use moat_diff::{GroupPlan, Plan};
use moat_policy::LiveGroup;

pub use fresh::{StaleError, StaleGroup, StaleKind};
pub use guards::{GuardError, GuardProblem};

use crate::read::{GroupRef, ReadError, read_groups_with};
use crate::session::Reader;

/// Default of [`Guards::max_destroy`] (`--max-destroy`).
pub const DEFAULT_MAX_DESTROY: usize = 25;
/// Rules per group, both directions together (the client's
/// [`moat_aliyun::actions::DEFAULT_RULES_PER_GROUP`]).
pub const DEFAULT_RULES_PER_GROUP: usize = moat_aliyun::actions::DEFAULT_RULES_PER_GROUP;
/// Rules that reference another group, per basic group (the client's
/// [`moat_aliyun::actions::MAX_GROUP_REFERENCE_RULES`]).
pub const DEFAULT_MAX_GROUP_REFS: usize = moat_aliyun::actions::MAX_GROUP_REFERENCE_RULES;

/// What the guards allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guards {
    /// Remove or change rules that are protected.
    pub allow_protected: bool,
    /// Most removals (rules revoked, unmodeled ones and replaces included)
    /// a plan may make; more refuses the whole apply.
    pub max_destroy: usize,
    /// The rule quota per group, both directions counted together.
    pub rules_per_group: usize,
    /// The quota of group-reference rules per group.
    pub max_group_refs: usize,
}

impl Default for Guards {
    fn default() -> Guards {
        Guards {
            allow_protected: false,
            max_destroy: DEFAULT_MAX_DESTROY,
            rules_per_group: DEFAULT_RULES_PER_GROUP,
            max_group_refs: DEFAULT_MAX_GROUP_REFS,
        }
    }
}

/// Why a plan may not be applied. When one of these is returned, no
/// mutating call was made.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The plan, or the plan against the live rules, is refused.
    #[error(transparent)]
    Refused(#[from] GuardError),
    /// A group the plan changes changed since the plan was made.
    #[error(transparent)]
    Stale(#[from] StaleError),
    /// A group the plan changes could not be read.
    #[error("reading the groups the plan changes")]
    Read(#[source] ReadError),
}

/// What the preflight read: the live groups the plan changes, in plan
/// order. The executor snapshots exactly these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preflight {
    pub live: Vec<LiveGroup>,
}

/// The groups of `plan` that apply changes (the others are not read, not
/// snapshotted and not called).
pub fn touched_groups(plan: &Plan) -> impl Iterator<Item = &GroupPlan> {
    plan.groups.iter().filter(|g| g.has_changes())
}

/// Step 1: the checks of the plan alone.
pub fn check_plan(plan: &Plan) -> Result<(), GuardError> {
    let mut problems = Vec::new();
    validate::check_plan(plan, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(GuardError { problems })
    }
}

/// Steps 3 and 4, on live groups already read (at least the touched ones).
pub fn check_live(plan: &Plan, live: &[LiveGroup], guards: &Guards) -> Result<(), PreflightError> {
    fresh::check_fresh(plan, live)?;
    let mut problems = Vec::new();
    guards::check_destroy(plan, guards, &mut problems);
    for g in touched_groups(plan) {
        if let Some(l) = live.iter().find(|l| l.id == g.id && l.region == g.region) {
            guards::check_live(g, l, plan, guards, &mut problems);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(GuardError { problems }.into())
    }
}

/// The whole preflight on live groups the caller already holds (read
/// moments ago, for the plan itself): no call is made.
pub fn preflight_with(
    plan: &Plan,
    live: &[LiveGroup],
    guards: &Guards,
) -> Result<(), PreflightError> {
    check_plan(plan)?;
    check_live(plan, live, guards)
}

/// The whole preflight: the plan alone, then the touched groups read
/// through `reader` (journaled as `preflight`) and checked.
pub async fn preflight(
    reader: &Reader,
    plan: &Plan,
    guards: &Guards,
    concurrency: usize,
) -> Result<Preflight, PreflightError> {
    check_plan(plan)?;
    let refs: Vec<GroupRef> = touched_groups(plan)
        .map(|g| GroupRef::new(&g.id, &g.region).in_account(g.account.as_deref()))
        .collect();
    let live = if refs.is_empty() {
        Vec::new()
    } else {
        read_groups_with(
            reader,
            "preflight",
            &plan.hash(),
            &refs,
            concurrency,
            None,
            |g| g,
        )
        .await
        .map_err(PreflightError::Read)?
        .groups
    };
    check_live(plan, &live, guards)?;
    Ok(Preflight { live })
}
