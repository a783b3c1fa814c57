//! The reasons to refuse a whole plan, and the checks against live rules:
//! rule ids belong to their group, protection derived from the live rules,
//! `max_destroy`, and the quotas at the fullest point of the apply.

use std::collections::{HashMap, HashSet};
use std::fmt;

use moat_diff::{
    Action, GroupPlan, Plan, Protection, UnmodeledAction, protection_of, unmodeled_protection,
};
use moat_policy::{Direction, LiveGroup, LiveRule, Peer, RuleKey, UnmodeledRule};

use super::Guards;

/// One reason to refuse a plan. Messages say what is wrong; what to do
/// about it (a flag, planning again) is the caller's to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardProblem {
    /// The policy names a group that does not exist.
    MissingGroup { group: String, region: String },
    /// The plan removes or changes a protected rule and `allow_protected`
    /// is off. The protection is derived from the plan's selectors and
    /// protected rules and the live rule, not read from the change.
    Protected {
        group: String,
        action: Action,
        rule: String,
        protection: Protection,
    },
    /// More removals than `max_destroy`.
    MaxDestroy { removals: usize, max: usize },
    /// An authorize would take the group over its rule quota. `peak` is the
    /// count after the largest authorize (removals run after additions),
    /// `end` the count when the plan is done.
    RuleQuota {
        group: String,
        peak: usize,
        end: usize,
        limit: usize,
    },
    /// An authorize would take the group over its group-reference quota.
    GroupRefQuota {
        group: String,
        peak: usize,
        end: usize,
        limit: usize,
    },
    /// The plan is inconsistent: it was not made by `moat plan`, or was
    /// edited.
    Malformed { group: String, detail: String },
    /// A rule the plan would authorize or modify to is one a policy could
    /// not hold (`code` is the policy diagnostic's).
    InvalidRule {
        group: String,
        rule: String,
        code: String,
        message: String,
    },
    /// The group's id or region is one a policy could not name.
    InvalidGroup {
        group: String,
        region: String,
        code: String,
        message: String,
    },
    /// A change names a rule id that is not that rule of that group live.
    ForeignRuleId {
        group: String,
        rule_id: String,
        detail: String,
    },
}

impl fmt::Display for GuardProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardProblem::MissingGroup { group, region } => write!(
                f,
                "security group {group} in region {region} does not exist (moat does not create groups)"
            ),
            GuardProblem::Protected {
                group,
                action,
                rule,
                protection,
            } => {
                let verb = match action {
                    Action::Change => "changes",
                    Action::Replace => "replaces",
                    _ => "removes",
                };
                write!(
                    f,
                    "{group}: plan {verb} protected rule {rule}: {protection}"
                )
            }
            GuardProblem::MaxDestroy { removals, max } => write!(
                f,
                "plan removes {removals} {}, more than the {max} allowed",
                if *removals == 1 { "rule" } else { "rules" }
            ),
            GuardProblem::RuleQuota {
                group,
                peak,
                end,
                limit,
            } => {
                write!(
                    f,
                    "{group}: would hold {peak} rules (both directions), more than the quota of {limit} per group"
                )?;
                if end != peak {
                    write!(
                        f,
                        "; the plan ends at {end}, but additions run before removals (make-before-break)"
                    )?;
                }
                Ok(())
            }
            GuardProblem::GroupRefQuota {
                group,
                peak,
                end,
                limit,
            } => {
                write!(
                    f,
                    "{group}: would hold {peak} rules that reference security groups, more than the quota of {limit}"
                )?;
                if end != peak {
                    write!(
                        f,
                        "; the plan ends at {end}, but additions run before removals (make-before-break)"
                    )?;
                }
                Ok(())
            }
            GuardProblem::Malformed { group, detail } => {
                write!(f, "{group}: the plan is malformed: {detail}")
            }
            GuardProblem::InvalidRule {
                group,
                rule,
                code,
                message,
            } => write!(f, "{group}: rule {rule} is not valid: {code}: {message}"),
            GuardProblem::InvalidGroup {
                group,
                region,
                code,
                message,
            } => write!(
                f,
                "security group {group} in region {region} is not valid: {code}: {message}"
            ),
            GuardProblem::ForeignRuleId {
                group,
                rule_id,
                detail,
            } => write!(f, "{group}: rule id {rule_id} {detail}"),
        }
    }
}

/// Apply refused: every problem found, each on its own line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct GuardError {
    pub problems: Vec<GuardProblem>,
}

impl GuardError {
    /// True when one of the problems is of the kind `f` picks.
    pub fn any(&self, f: impl Fn(&GuardProblem) -> bool) -> bool {
        self.problems.iter().any(f)
    }
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems:", many.len())?;
                for p in many {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// `max_destroy`, which needs no live state.
pub(crate) fn check_destroy(plan: &Plan, guards: &Guards, problems: &mut Vec<GuardProblem>) {
    let removals = plan.summary().remove;
    if removals > guards.max_destroy {
        problems.push(GuardProblem::MaxDestroy {
            removals,
            max: guards.max_destroy,
        });
    }
}

/// The checks against the live group `live` of each group with changes.
pub(crate) fn check_live(
    g: &GroupPlan,
    live: &LiveGroup,
    plan: &Plan,
    guards: &Guards,
    problems: &mut Vec<GuardProblem>,
) {
    let rules: HashMap<&str, &LiveRule> = live.rules.iter().map(|r| (r.id.as_str(), r)).collect();
    let unmodeled: HashMap<&str, &UnmodeledRule> =
        live.unmodeled.iter().map(|u| (u.id.as_str(), u)).collect();
    let live_keys: HashMap<&RuleKey, &str> = live
        .rules
        .iter()
        .map(|r| (&r.rule.key, r.id.as_str()))
        .collect();
    let foreign = |rule_id: &str, detail: String| GuardProblem::ForeignRuleId {
        group: g.id.clone(),
        rule_id: rule_id.to_owned(),
        detail,
    };
    for c in &g.changes {
        if c.action == Action::Add {
            if let Some(id) = live_keys.get(&c.key) {
                problems.push(GuardProblem::Malformed {
                    group: g.id.clone(),
                    detail: format!("it adds {}, which is live as {id}", c.key),
                });
            }
            continue;
        }
        for id in &c.live_ids {
            let Some(lr) = rules.get(id.as_str()) else {
                problems.push(foreign(id, "is not a rule of the group".to_owned()));
                continue;
            };
            if lr.rule.key != c.key {
                problems.push(foreign(
                    id,
                    format!("is {}, not {} as the plan says", lr.rule.key, c.key),
                ));
                continue;
            }
            if guards.allow_protected {
                continue;
            }
            if let Some(protection) = protection_of(&plan.protect, &g.protected, &g.id, &lr.rule) {
                problems.push(GuardProblem::Protected {
                    group: g.id.clone(),
                    action: c.action,
                    rule: format!("{} ({id})", c.key),
                    protection,
                });
            }
        }
    }
    for u in g
        .unmodeled
        .iter()
        .filter(|u| u.action == UnmodeledAction::Remove)
    {
        let id = u.rule.id.as_str();
        let Some(lu) = unmodeled.get(id) else {
            problems.push(foreign(
                id,
                "is not a rule moat cannot model in the group".to_owned(),
            ));
            continue;
        };
        if guards.allow_protected {
            continue;
        }
        if let Some(protection) = unmodeled_protection(&plan.protect, &g.id, lu) {
            problems.push(GuardProblem::Protected {
                group: g.id.clone(),
                action: Action::Remove,
                rule: format!("{} {} ({id})", lu.direction, lu.summary),
                protection,
            });
        }
    }
    check_quotas(g, live, guards, problems);
}

fn is_group_ref(key: &RuleKey) -> bool {
    matches!(key.peer, Peer::Group { .. })
}

/// Counts along the order apply runs in: per direction (ingress, then
/// egress) additions, then removals (a replace revokes and authorizes one
/// rule back to back, which leaves the count where it was). A quota is
/// broken when the count after an authorize exceeds it; the largest such
/// count is the peak.
fn check_quotas(
    g: &GroupPlan,
    live: &LiveGroup,
    guards: &Guards,
    problems: &mut Vec<GuardProblem>,
) {
    let live_ids: HashSet<&str> = live
        .rules
        .iter()
        .map(|r| r.id.as_str())
        .chain(live.unmodeled.iter().map(|u| u.id.as_str()))
        .collect();
    let ref_ids: HashSet<&str> = live
        .rules
        .iter()
        .filter(|r| is_group_ref(&r.rule.key))
        .map(|r| r.id.as_str())
        .collect();

    let mut rules = live_ids.len();
    let mut refs = ref_ids.len();
    let (mut rule_peak, mut ref_peak) = (None::<usize>, None::<usize>);
    let mut removed: HashSet<&str> = HashSet::new();
    for direction in [Direction::Ingress, Direction::Egress] {
        let adds: Vec<&RuleKey> = g
            .changes_in(direction)
            .filter(|c| c.action == Action::Add)
            .map(|c| &c.key)
            .collect();
        if !adds.is_empty() {
            rules += adds.len();
            rule_peak = Some(rule_peak.map_or(rules, |p| p.max(rules)));
            let new_refs = adds.iter().filter(|k| is_group_ref(k)).count();
            if new_refs > 0 {
                refs += new_refs;
                ref_peak = Some(ref_peak.map_or(refs, |p| p.max(refs)));
            }
        }
        let ids = g
            .changes_in(direction)
            .filter(|c| c.action == Action::Remove)
            .flat_map(|c| c.live_ids.iter())
            .chain(
                g.unmodeled
                    .iter()
                    .filter(|u| {
                        u.action == UnmodeledAction::Remove && u.rule.direction == direction
                    })
                    .map(|u| &u.rule.id),
            );
        for id in ids {
            if live_ids.contains(id.as_str()) && removed.insert(id.as_str()) {
                rules = rules.saturating_sub(1);
                if ref_ids.contains(id.as_str()) {
                    refs = refs.saturating_sub(1);
                }
            }
        }
    }
    if let Some(peak) = rule_peak.filter(|p| *p > guards.rules_per_group) {
        problems.push(GuardProblem::RuleQuota {
            group: g.id.clone(),
            peak,
            end: rules,
            limit: guards.rules_per_group,
        });
    }
    if let Some(peak) = ref_peak.filter(|p| *p > guards.max_group_refs) {
        problems.push(GuardProblem::GroupRefQuota {
            group: g.id.clone(),
            peak,
            end: refs,
            limit: guards.max_group_refs,
        });
    }
}
