//! The one way a plan is made from policies, for `moat plan`, `moat drift`
//! and `moat apply` with policies.
//!
//! Every group the policies name is read under the shared rate limit and
//! diffed on the task that read it, so diffing overlaps the reads still
//! waiting; lint runs beside the reads. A group that does not exist is not
//! an error: it is in the plan as missing, and every other group is still
//! read and diffed. A group that cannot be read is an error (fail closed).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use moat_diff::{DiffOptions, FindingRef, GroupPlan, Plan, Reason};
use moat_policy::policy_tests::{Subject, SubjectRule, run_tests_on};
use moat_policy::{LiveGroup, PolicySet, Rule};

use crate::journal::InterruptedReplace;
use crate::prefetch::Prefetch;
use crate::read::{
    DEFAULT_READ_CONCURRENCY, GroupRef, ReadError, read_group_types_with, read_groups_with,
};
use crate::session::Reader;

/// How [`plan`] runs.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    pub diff: DiffOptions,
    /// Groups read at once.
    pub concurrency: usize,
    /// Replaces an earlier apply started and did not finish (from its
    /// journal): a rule they revoked and that is still missing is named as
    /// such in the plan.
    pub interrupted: Vec<InterruptedReplace>,
    /// Keep the live groups read (apply checks the plan against them
    /// before asking, without reading them again).
    pub keep_live: bool,
    /// Reads started while the policies were loading: taken, not sent
    /// again. It must read through the plan's reader.
    pub prefetch: Option<Arc<Prefetch>>,
}

impl PlanOptions {
    pub fn new(diff: DiffOptions) -> PlanOptions {
        PlanOptions {
            diff,
            concurrency: DEFAULT_READ_CONCURRENCY,
            interrupted: Vec::new(),
            keep_live: false,
            prefetch: None,
        }
    }
}

/// The groups of a policy set, as read requests.
pub fn group_refs(set: &PolicySet) -> Vec<GroupRef> {
    set.groups
        .iter()
        .map(|g| GroupRef::new(&g.id, &g.region).in_account(g.account.as_deref()))
        .collect()
}

/// A plan and, when asked for, the live groups it was made from.
#[derive(Clone, Debug)]
pub struct Planned {
    pub plan: Plan,
    /// Empty unless [`PlanOptions::keep_live`].
    pub live: Vec<LiveGroup>,
}

/// Reads the groups of `policy` and returns the plan: per group its
/// changes (or `missing`), the live rules moat cannot model, and the lint
/// findings of the rules it touches.
pub async fn plan(
    reader: &Reader,
    policy: &Arc<PolicySet>,
    options: &PlanOptions,
) -> Result<Planned, ReadError> {
    let index: HashMap<(String, String), usize> = policy
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| ((g.id.clone(), g.region.clone()), i))
        .collect();
    // Lint needs only the policies: it runs while the reads wait.
    let lint = {
        let policy = Arc::clone(policy);
        let today = options.diff.today;
        tokio::task::spawn_blocking(move || moat_policy::lint::lint(&policy, today))
    };
    let refs = group_refs(policy);
    // The type decides the defaults the exposure notes evaluate with; the
    // rule reads do not carry it.
    let prefetch = options.prefetch.as_deref();
    let types = read_group_types_with(reader, &refs, prefetch).await?;
    // The groups the policy tests name: their planned rules are kept to
    // run the tests on, and their live rules to find the change that
    // breaks one.
    let tested: HashSet<String> = policy
        .tests
        .iter()
        .flat_map(|t| t.groups.iter().cloned())
        .collect();
    let diffed = {
        let policy = Arc::clone(policy);
        let diff = options.diff.clone();
        let keep = options.keep_live;
        move |mut live: LiveGroup| {
            live.group_type = types.get(&GroupRef::new(&live.id, &live.region)).copied();
            let gp = index
                .get(&(live.id.clone(), live.region.clone()))
                .map(|&i| &policy.groups[i]);
            let planned = gp.map(|gp| moat_diff::diff_group(&policy, gp, &live, &diff));
            let for_tests = match &planned {
                Some(g) if tested.contains(&g.id) => Some(TestedGroup {
                    id: g.id.clone(),
                    group_type: live.group_type,
                    planned: moat_diff::planned_rules(&live, g),
                    live: live.rules.iter().map(|r| r.rule.clone()).collect(),
                }),
                _ => None,
            };
            (planned, for_tests, keep.then_some(live))
        }
    };
    let read = read_groups_with(
        reader,
        "plan",
        "",
        &refs,
        options.concurrency,
        prefetch,
        diffed,
    )
    .await?;
    tracing::info!(
        groups = read.groups.len(),
        missing = read.missing.len(),
        calls = read.calls,
        "read and diffed the live rules"
    );
    let mut groups: Vec<GroupPlan> = Vec::with_capacity(read.groups.len());
    let mut live = Vec::new();
    let mut tested_groups: Vec<TestedGroup> = Vec::new();
    for (planned, for_tests, kept) in read.groups {
        groups.extend(planned);
        tested_groups.extend(for_tests);
        live.extend(kept);
    }
    for m in &read.missing {
        if let Some(gp) = policy
            .groups
            .iter()
            .find(|g| g.id == m.id && g.region == m.region)
        {
            groups.push(moat_diff::missing_group(gp));
        }
    }
    let mut plan = Plan::from_groups(policy, groups);
    plan.set_nonce(crate::nonce::fresh_nonce()?);
    mark_interrupted(&mut plan, &options.interrupted);
    if !policy.tests.is_empty() {
        run_tests_on_plan(&mut plan, policy, tested_groups);
    }
    // Reviewers see the risk of a rule next to the change that brings it.
    // Lint is pure: if its task failed, it panicked, and so would this.
    let findings = match lint.await {
        Ok(f) => f,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    plan.attach_findings(findings.iter().map(FindingRef::from));
    Ok(Planned { plan, live })
}

/// A group a policy test names: its rules once the plan is applied, and now.
struct TestedGroup {
    id: String,
    group_type: Option<moat_policy::GroupType>,
    planned: Vec<SubjectRule>,
    live: Vec<Rule>,
}

/// Runs the policy tests on the rules the groups will have once the plan
/// is applied (a group that does not exist fails the tests naming it), and
/// marks the changes that break one.
fn run_tests_on_plan(plan: &mut Plan, policy: &PolicySet, tested: Vec<TestedGroup>) {
    let mut planned: HashMap<String, Subject> = HashMap::with_capacity(tested.len());
    let mut live: HashMap<String, Vec<Rule>> = HashMap::with_capacity(tested.len());
    for g in tested {
        let subject = Subject::Rules {
            rules: g.planned,
            group_type: g.group_type,
        };
        planned.insert(g.id.clone(), subject);
        live.insert(g.id, g.live);
    }
    let report = run_tests_on(policy, |g| {
        planned.remove(&g.id).unwrap_or(Subject::Missing)
    });
    plan.attach_tests(report, &live);
}

/// Names the adds that bring back a rule an interrupted replace revoked.
fn mark_interrupted(plan: &mut Plan, interrupted: &[InterruptedReplace]) {
    for r in interrupted {
        let Some(g) = plan
            .groups
            .iter_mut()
            .find(|g| g.id == r.group && (r.region.is_empty() || g.region == r.region))
        else {
            continue;
        };
        for c in &mut g.changes {
            if c.action == moat_diff::Action::Add && c.key == r.rule.key {
                let reason = Reason::RevokedByInterruptedApply { at: r.at.clone() };
                if !c.reasons.contains(&reason) {
                    c.reasons.push(reason);
                }
            }
        }
    }
}
