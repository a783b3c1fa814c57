//! Lint findings attached to a plan, so a reviewer sees the risk of a rule
//! next to the change that introduces it.

use std::collections::HashMap;

use moat_policy::{Diagnostic, RuleKey};

use crate::plan::{Plan, PlanFinding};

/// A lint finding as the plan needs it: the diagnostic, and the group and
/// rule it is about. The lint module's findings convert into this.
#[derive(Clone, Copy, Debug)]
pub struct FindingRef<'a> {
    pub diagnostic: &'a Diagnostic,
    pub group: Option<&'a str>,
    pub key: Option<&'a RuleKey>,
    /// The `lint_ignore` reason when the policy suppresses the finding.
    pub suppressed: Option<&'a str>,
}

impl<'a> From<&'a moat_policy::lint::Finding> for FindingRef<'a> {
    fn from(f: &'a moat_policy::lint::Finding) -> FindingRef<'a> {
        FindingRef {
            diagnostic: &f.diagnostic,
            group: f.group.as_deref(),
            key: f.key.as_ref(),
            suppressed: f.suppressed.as_deref(),
        }
    }
}

impl From<FindingRef<'_>> for PlanFinding {
    fn from(f: FindingRef<'_>) -> PlanFinding {
        let d = f.diagnostic;
        PlanFinding {
            code: d.code.to_owned(),
            severity: d.severity.into(),
            message: d.message.clone(),
            hint: d.hint.clone(),
            origin: d.origin.clone(),
            suppressed: f.suppressed.map(str::to_owned),
        }
    }
}

impl Plan {
    /// Attaches findings by (group, key): a finding about a rule goes to
    /// every change of that rule in that group, a finding about a group
    /// without a rule goes to the group. Findings about rules the plan does
    /// not touch, or about no group, are not part of the plan (`moat lint`
    /// shows them). Attached findings are sorted by origin, code and message.
    pub fn attach_findings<'a>(&mut self, findings: impl IntoIterator<Item = FindingRef<'a>>) {
        let mut index: HashMap<(&str, &RuleKey), Vec<(usize, usize)>> = HashMap::new();
        let mut groups: HashMap<&str, usize> = HashMap::new();
        for (gi, g) in self.groups.iter().enumerate() {
            groups.insert(&g.id, gi);
            for (ci, c) in g.changes.iter().enumerate() {
                index.entry((&g.id, &c.key)).or_default().push((gi, ci));
            }
        }
        let mut to_changes: Vec<(usize, usize, PlanFinding)> = Vec::new();
        let mut to_groups: Vec<(usize, PlanFinding)> = Vec::new();
        for f in findings {
            let Some(group) = f.group else { continue };
            match f.key {
                Some(key) => {
                    for &(gi, ci) in index.get(&(group, key)).into_iter().flatten() {
                        to_changes.push((gi, ci, f.into()));
                    }
                }
                None => {
                    if let Some(&gi) = groups.get(group) {
                        to_groups.push((gi, f.into()));
                    }
                }
            }
        }
        for (gi, ci, f) in to_changes {
            self.groups[gi].changes[ci].findings.push(f);
        }
        for (gi, f) in to_groups {
            self.groups[gi].findings.push(f);
        }
        for g in &mut self.groups {
            sort_findings(&mut g.findings);
            for c in &mut g.changes {
                sort_findings(&mut c.findings);
            }
        }
    }
}

fn sort_findings(findings: &mut Vec<PlanFinding>) {
    findings
        .sort_by(|a, b| (&a.origin, &a.code, &a.message).cmp(&(&b.origin, &b.code, &b.message)));
    findings.dedup();
}
