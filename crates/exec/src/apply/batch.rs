//! Turning a group's plan into ordered steps (one API call each), and the
//! ClientToken of each step.

use std::fmt;

use moat_aliyun::ClientToken;
use moat_aliyun::request::InvalidClientToken;
use moat_diff::{Action, GroupPlan, UnmodeledAction};
use moat_policy::{Direction, Rule};
use serde::Serialize;

use super::report::ChangeRef;

/// Rules per `AuthorizeSecurityGroup(Egress)` call (`Permissions.N`): the
/// client's limit, which it enforces on every request it builds.
pub const MAX_RULES_PER_AUTHORIZE: usize = moat_aliyun::actions::MAX_BATCH;
/// Rule ids per `RevokeSecurityGroup(Egress)` call (`SecurityGroupRuleId.N`).
pub const MAX_IDS_PER_REVOKE: usize = moat_aliyun::actions::MAX_BATCH;

/// The kinds of rule-changing step, in the order they run per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Add,
    Change,
    /// Revoke one rule and authorize it again at once (clearing its
    /// description), as one step.
    Replace,
    Remove,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Add => "add",
            Phase::Change => "change",
            Phase::Replace => "replace",
            Phase::Remove => "remove",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ClientToken of one call: fixed by the plan's hash, its nonce, the
/// group, the direction, the phase and the 1-based batch index, so the same
/// call of the same plan (file) always carries the same token (a retry or a
/// re-run cannot apply twice), different calls never share one, and a new
/// plan of the same changes (a change reverted and made again) gets new
/// ones, which the service does not answer from its idempotency record. An
/// empty nonce (a plan file from before plans had one) gives the tokens
/// earlier versions sent for it. It is `moat-` and 40 hex digits: 45
/// printable ASCII characters, within the API's 64.
pub fn client_token(
    plan_hash: &str,
    nonce: &str,
    group: &str,
    direction: Direction,
    phase: Phase,
    batch: usize,
) -> Result<ClientToken, InvalidClientToken> {
    // A fixed, valid base; every input goes through the hash of `derive`.
    // The nonce takes the place the token scope had, empty by default, so
    // the tokens of a plan without one are unchanged.
    Ok(ClientToken::new("moat-apply")?.derive(&format!(
        "{plan_hash}\n{nonce}\n{group}\n{direction}\n{phase}\n{batch}"
    )))
}

/// What one step does.
#[derive(Clone, Debug)]
pub(crate) enum StepKind {
    /// Rules to authorize.
    Authorize(Vec<Rule>),
    /// The rule id to modify and the rule with the desired attributes.
    Modify { rule_id: String, rule: Rule },
    /// A replace: revoke the rule, then authorize it again without its
    /// description (two calls, back to back; ECS cannot clear a field in
    /// place).
    Replace { rule_id: String, rule: Rule },
    /// Rule ids to revoke.
    Revoke(Vec<String>),
}

/// One API call of a group's apply.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub direction: Direction,
    pub phase: Phase,
    /// 1-based within the direction and phase.
    pub batch: usize,
    pub kind: StepKind,
    /// Indexes into the group's change list of the changes this step does
    /// (all of them for adds and modifies; those with an id here for
    /// revokes).
    pub changes: Vec<usize>,
    /// Compact rule strings, for the journal.
    pub rules: Vec<String>,
}

impl Step {
    pub fn items(&self) -> usize {
        match &self.kind {
            StepKind::Authorize(r) => r.len(),
            StepKind::Modify { .. } | StepKind::Replace { .. } => 1,
            StepKind::Revoke(ids) => ids.len(),
        }
    }

    /// The API action of the step's first call.
    pub fn first_action(&self) -> moat_aliyun::wire::Action {
        use moat_aliyun::actions::{authorize_action, modify_action, revoke_action};
        match &self.kind {
            StepKind::Authorize(_) => authorize_action(self.direction),
            StepKind::Modify { .. } => modify_action(self.direction),
            StepKind::Revoke(_) | StepKind::Replace { .. } => revoke_action(self.direction),
        }
    }

    pub fn rule_ids(&self) -> Vec<String> {
        match &self.kind {
            StepKind::Authorize(_) => Vec::new(),
            StepKind::Modify { rule_id, .. } | StepKind::Replace { rule_id, .. } => {
                vec![rule_id.clone()]
            }
            StepKind::Revoke(ids) => ids.clone(),
        }
    }
}

/// A change of a group flattened for execution: plan changes first (in
/// plan order), then unmodeled removals.
#[derive(Clone, Debug)]
pub(crate) struct Work {
    pub change: ChangeRef,
    /// The desired rule (adds, changes and replaces).
    pub rule: Option<Rule>,
}

/// The changes of `group` in the order the report lists them.
pub(crate) fn work_of(group: &GroupPlan) -> Vec<Work> {
    let mut out = Vec::new();
    for c in &group.changes {
        let rule = c.after.as_ref().map(|a| Rule {
            key: c.key.clone(),
            priority: a.priority,
            description: a.description.clone(),
        });
        out.push(Work {
            change: ChangeRef {
                action: c.action,
                direction: c.key.direction,
                rule: c.key.to_string(),
                key: Some(c.key.clone()),
                live_ids: c.live_ids.clone(),
            },
            rule: match c.action {
                Action::Remove => None,
                Action::Add | Action::Change | Action::Replace => rule,
            },
        });
    }
    for u in &group.unmodeled {
        if u.action == UnmodeledAction::Remove {
            out.push(Work {
                change: ChangeRef {
                    action: Action::Remove,
                    direction: u.rule.direction,
                    rule: format!("{} unmodeled {}", u.rule.direction, u.rule.summary),
                    key: None,
                    live_ids: vec![u.rule.id.clone()],
                },
                rule: None,
            });
        }
    }
    out
}

/// The steps for `work`, in execution order: per direction (ingress, then
/// egress) additions in batches, modifications one by one, replaces one by
/// one, removals in batches of rule ids. Work the preflight refuses (an add
/// or change without a rule, a change without a live id) makes no step.
pub(crate) fn steps_of(work: &[Work]) -> Vec<Step> {
    let mut steps = Vec::new();
    for direction in [Direction::Ingress, Direction::Egress] {
        let of = |action: Action| {
            work.iter()
                .enumerate()
                .filter(move |(_, w)| w.change.direction == direction && w.change.action == action)
        };

        let adds: Vec<(usize, &Rule)> = of(Action::Add)
            .filter_map(|(i, w)| w.rule.as_ref().map(|r| (i, r)))
            .collect();
        for (n, chunk) in adds.chunks(MAX_RULES_PER_AUTHORIZE).enumerate() {
            steps.push(Step {
                direction,
                phase: Phase::Add,
                batch: n + 1,
                kind: StepKind::Authorize(chunk.iter().map(|(_, r)| (*r).clone()).collect()),
                changes: chunk.iter().map(|(i, _)| *i).collect(),
                rules: chunk.iter().map(|(_, r)| r.key.to_string()).collect(),
            });
        }

        for (action, phase) in [
            (Action::Change, Phase::Change),
            (Action::Replace, Phase::Replace),
        ] {
            let mut n = 0;
            for (i, w) in of(action) {
                let (Some(rule), Some(id)) = (&w.rule, w.change.live_ids.first()) else {
                    continue;
                };
                n += 1;
                let (rule_id, rule) = (id.clone(), rule.clone());
                steps.push(Step {
                    direction,
                    phase,
                    batch: n,
                    kind: match phase {
                        Phase::Replace => StepKind::Replace { rule_id, rule },
                        _ => StepKind::Modify { rule_id, rule },
                    },
                    changes: vec![i],
                    rules: vec![w.change.rule.clone()],
                });
            }
        }

        // Removals by id; one change may carry several ids, and an id is
        // revoked once even when two changes name it.
        let mut ids: Vec<(usize, &String, &str)> = Vec::new();
        for (i, w) in of(Action::Remove) {
            for id in &w.change.live_ids {
                if !ids.iter().any(|(_, seen, _)| *seen == id) {
                    ids.push((i, id, w.change.rule.as_str()));
                }
            }
        }
        for (n, chunk) in ids.chunks(MAX_IDS_PER_REVOKE).enumerate() {
            let mut changes: Vec<usize> = chunk.iter().map(|(i, _, _)| *i).collect();
            changes.dedup();
            steps.push(Step {
                direction,
                phase: Phase::Remove,
                batch: n + 1,
                kind: StepKind::Revoke(chunk.iter().map(|(_, id, _)| (*id).clone()).collect()),
                changes,
                rules: chunk.iter().map(|(_, _, r)| (*r).to_owned()).collect(),
            });
        }
    }
    steps
}

/// The smallest number of mutating calls `group` can be applied with:
/// per direction, `ceil(adds/100) + changes + 2 * replaces +
/// ceil(removed ids/100)` (a replace is a revoke and an authorize).
pub fn call_floor(group: &GroupPlan) -> usize {
    steps_of(&work_of(group))
        .iter()
        .map(|s| match s.kind {
            StepKind::Replace { .. } => 2,
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fixed_distinct_and_within_limits() {
        let nonce = "00112233445566778899aabbccddeeff";
        let t = |g: &str, d, p, b| client_token("sha256:ab", nonce, g, d, p, b).unwrap();
        let a = t("sg-1", Direction::Ingress, Phase::Add, 1);
        assert_eq!(a, t("sg-1", Direction::Ingress, Phase::Add, 1));
        assert_ne!(a, t("sg-1", Direction::Ingress, Phase::Add, 2));
        assert_ne!(a, t("sg-1", Direction::Egress, Phase::Add, 1));
        assert_ne!(a, t("sg-1", Direction::Ingress, Phase::Remove, 1));
        assert_ne!(a, t("sg-2", Direction::Ingress, Phase::Add, 1));
        assert_ne!(
            a,
            client_token(
                "sha256:ac",
                nonce,
                "sg-1",
                Direction::Ingress,
                Phase::Add,
                1
            )
            .unwrap()
        );
        assert!(a.as_str().len() <= 64);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_graphic()));
    }

    #[test]
    fn another_nonce_gives_other_tokens_and_none_the_tokens_of_before() {
        let t = |nonce: &str| {
            client_token(
                "sha256:ab",
                nonce,
                "sg-1",
                Direction::Ingress,
                Phase::Add,
                1,
            )
            .unwrap()
            .as_str()
            .to_owned()
        };
        let a = t("00112233445566778899aabbccddeeff");
        assert_ne!(a, t("ffeeddccbbaa99887766554433221100"));
        // The token the version before nonces sent for this call: SHA-1 of
        // "moat-apply", a zero byte and "sha256:ab\n\nsg-1\ningress\nadd\n1".
        // A plan file without a nonce keeps it.
        assert_eq!(t(""), "moat-65fe1ba5b6f67dcc85bfb348b94ef8b32fe5c47a");
        assert_ne!(a, t(""));
    }
}
