//! Freshness: the live groups a plan changes must be exactly as they were
//! when the plan was made. The one place the stale-plan check and its
//! message live.

use std::fmt;

use moat_diff::{Plan, fingerprint};
use moat_policy::LiveGroup;

use super::touched_groups;

/// How a group differs from when the plan was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaleKind {
    /// Its rules changed (the fingerprint differs).
    Changed,
    /// It no longer exists.
    Gone,
}

/// One group that makes a plan stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleGroup {
    pub group: String,
    pub region: String,
    pub kind: StaleKind,
}

impl fmt::Display for StaleGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            StaleKind::Changed => "changed since the plan was made",
            StaleKind::Gone => "no longer exists",
        };
        write!(
            f,
            "security group {} in region {} {what}",
            self.group, self.region
        )
    }
}

/// A plan made from live rules that are no longer there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct StaleError {
    /// Every stale group, in plan order (never empty).
    pub groups: Vec<StaleGroup>,
}

impl fmt::Display for StaleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.groups.as_slice() {
            [] => f.write_str("plan is stale"),
            [one] => write!(f, "plan is stale: {one}"),
            [first, rest @ ..] => write!(
                f,
                "plan is stale: {first}, and {} more group(s) changed",
                rest.len()
            ),
        }
    }
}

/// Every group the plan changes must be in `live` with the fingerprint the
/// plan recorded. Groups without changes are not looked at: apply does not
/// touch them, so what happened to them since cannot make it do anything
/// other than what was reviewed.
pub fn check_fresh(plan: &Plan, live: &[LiveGroup]) -> Result<(), StaleError> {
    let mut groups = Vec::new();
    for g in touched_groups(plan) {
        let now = live
            .iter()
            .find(|l| l.id == g.id && l.region == g.region)
            .map(fingerprint);
        let kind = match now {
            None => StaleKind::Gone,
            Some(f) if Some(&f) != g.fingerprint.as_ref() => StaleKind::Changed,
            Some(_) => continue,
        };
        groups.push(StaleGroup {
            group: g.id.clone(),
            region: g.region.clone(),
            kind,
        });
    }
    if groups.is_empty() {
        Ok(())
    } else {
        Err(StaleError { groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_diff::{GroupPlan, GroupStatus};
    use moat_policy::{Mode, Origin};

    fn live(id: &str) -> LiveGroup {
        LiveGroup {
            id: id.into(),
            region: "cn-hangzhou".into(),
            name: String::new(),
            rules: Vec::new(),
            unmodeled: Vec::new(),
            group_type: None,
            inner_access: None,
        }
    }

    fn group(id: &str, changed: bool) -> GroupPlan {
        let mut unmodeled = Vec::new();
        if changed {
            unmodeled.push(moat_diff::UnmodeledEntry {
                action: moat_diff::UnmodeledAction::Remove,
                rule: moat_policy::UnmodeledRule {
                    id: "sgr-x".into(),
                    direction: moat_policy::Direction::Ingress,
                    summary: "IpProtocol=47".into(),
                    reason: "protocol".into(),
                    description: String::new(),
                },
                protection: None,
            });
        }
        GroupPlan {
            id: id.into(),
            region: "cn-hangzhou".into(),
            account: None,
            name: None,
            live_name: Some(String::new()),
            group_type: None,
            live_type: None,
            mode: Mode::Authoritative,
            origin: Origin::whole("p.yaml"),
            stage: None,
            status: GroupStatus::Present,
            fingerprint: Some(fingerprint(&live(id))),
            changes: Vec::new(),
            unmodeled,
            protected: Vec::new(),
            findings: Vec::new(),
            blast_radius: None,
        }
    }

    /// Issue 9, item 1: a saved plan was refused as stale whenever one of
    /// its groups had no changes, because only changed groups are read and
    /// the check looked at every group.
    #[test]
    fn groups_without_changes_never_make_a_saved_plan_stale() {
        let plan = Plan::new(vec![group("sg-a", true), group("sg-b", false)]);
        assert_eq!(check_fresh(&plan, &[live("sg-a")]), Ok(()));

        let mut other = live("sg-a");
        other.name = "renamed".into();
        other.rules.push(moat_policy::LiveRule {
            id: "sgr-new".into(),
            rule: moat_policy::Rule {
                key: moat_policy::RuleKey {
                    direction: moat_policy::Direction::Ingress,
                    protocol: moat_policy::Protocol::Tcp,
                    ports: moat_policy::PortRange::single(22),
                    peer: moat_policy::Peer::cidr("10.0.0.0/8".parse().unwrap()),
                    verdict: moat_policy::Verdict::Accept,
                    nic_type: moat_policy::NicType::Intranet,
                    source_ports: None,
                    local: None,
                },
                priority: 1,
                description: String::new(),
            },
            create_time: String::new(),
        });
        let err = check_fresh(&plan, &[other]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plan is stale: security group sg-a in region cn-hangzhou changed since the plan was made"
        );
        let err = check_fresh(&plan, &[]).unwrap_err();
        assert_eq!(err.groups[0].kind, StaleKind::Gone);
    }
}
