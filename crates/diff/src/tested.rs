//! The policy tests on a plan: the rules a group will have once the plan is
//! applied, and the changes that break a test.
//!
//! The plan runs the policies' `tests:` on the planned result, so a
//! reviewer sees "this change breaks test X" next to the change. The
//! evaluation is moat-policy's; this module only says what the planned
//! rules are and which change a failure comes from.

use std::collections::HashMap;

use moat_policy::eval;
use moat_policy::policy_tests::{DecidedBy, SubjectRule, TestReport};
use moat_policy::{LiveGroup, Rule};

use crate::plan::{Action, Attributes, GroupPlan, Plan, TestRef};

/// The rules `live` has once the changes of `group` are applied: removals
/// gone, attributes changed in place or by replacement, adds authorized
/// (with no live id yet).
pub fn planned_rules(live: &LiveGroup, group: &GroupPlan) -> Vec<SubjectRule> {
    let mut rules: Vec<SubjectRule> = live
        .rules
        .iter()
        .map(|r| SubjectRule {
            rule: r.rule.clone(),
            live_id: Some(r.id.clone()),
        })
        .collect();
    let set = |rule: &mut Rule, a: &Attributes| {
        rule.priority = a.priority;
        rule.description.clone_from(&a.description);
    };
    for c in &group.changes {
        match c.action {
            Action::Remove => {
                rules.retain(|r| r.live_id.as_ref().is_none_or(|id| !c.live_ids.contains(id)));
            }
            Action::Change | Action::Replace => {
                if let Some(after) = &c.after {
                    for r in rules
                        .iter_mut()
                        .filter(|r| r.live_id.as_ref().is_some_and(|id| c.live_ids.contains(id)))
                    {
                        set(&mut r.rule, after);
                    }
                }
            }
            Action::Add => {
                if let Some(after) = &c.after {
                    let mut rule = Rule {
                        key: c.key.clone(),
                        priority: 0,
                        description: String::new(),
                    };
                    set(&mut rule, after);
                    rules.push(SubjectRule {
                        rule,
                        live_id: None,
                    });
                }
            }
        }
    }
    rules
}

impl Plan {
    /// Attaches the tests' outcomes on the planned result, and marks on each
    /// change the tests it breaks. `live` holds the live rules of the groups
    /// the tests name, by group id: a failure decided by something the plan
    /// did not bring is put on the change that revokes (or alters) the live
    /// rule that decided the flow before.
    pub fn attach_tests(&mut self, report: TestReport, live: &HashMap<String, Vec<Rule>>) {
        for t in report.tests.iter().filter(|t| !t.passed) {
            let test = TestRef {
                name: t.name.clone(),
                origin: t.origin.clone(),
            };
            for f in &t.failures {
                let Some(g) = self.groups.iter_mut().find(|g| g.id == f.group) else {
                    continue;
                };
                let brought = match &f.decided_by {
                    DecidedBy::Rule { rule, .. } => g
                        .changes
                        .iter()
                        .position(|c| c.action != Action::Remove && c.key.to_string() == *rule),
                    DecidedBy::Default { .. } => None,
                };
                let culprit = brought.or_else(|| {
                    let flow = f.flow(t.direction)?;
                    let before = eval::decide(live.get(&g.id)?.iter(), &flow);
                    let rule = before.rule?;
                    if !t.expect.holds_for(before.verdict) {
                        // The flow failed before the plan too.
                        return None;
                    }
                    g.changes
                        .iter()
                        .position(|c| c.action.touches_live() && c.key == rule.key)
                });
                if let Some(i) = culprit
                    && !g.changes[i].breaks_tests.contains(&test)
                {
                    g.changes[i].breaks_tests.push(test.clone());
                }
            }
        }
        self.tests = report.tests;
    }
}
