//! The demo state of a new local cloud (`--local`): the groups of the
//! policies, with live rules that differ from them the way real accounts
//! drift, so a first `moat plan --local policies/` shows a real plan.
//!
//! Per group, the differences are deterministic: one desired rule is
//! missing (the plan adds it), one has an older description or priority
//! (the plan changes it), and an authoritative group carries one rule added
//! by hand (the plan removes it). Protected rules are left as the policy
//! says. Groups the policies only reference are created empty so that
//! rules naming them are valid. The groups of the examples README walks
//! through are seeded too, whichever command made the cloud, so the
//! walkthroughs run in any order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use moat_aliyun::convert::to_permission;
use moat_emulator::{Direction as WireDirection, SeedGroup};
use moat_policy::{
    DesiredRule, Direction, GroupPolicy, Mode, NicType, Peer, PolicySet, PortRange, Protocol, Rule,
    RuleKey, Verdict,
};

/// The region a local cloud's client uses when nothing else names one.
pub const LOCAL_REGION: &str = "cn-hangzhou";
pub const LOCAL_VPC: &str = "vpc-bp1m0a7l0ca1c10ud01";

/// The example policies (relative to the working directory) whose groups a
/// new local cloud holds besides the command's own.
const EXAMPLES: [&str; 2] = ["policies", "policies/rollout"];

/// The seed for a new local cloud: the groups of `set`, then those of the
/// examples (where they are, and valid) that `set` does not have.
pub fn seed_groups(set: &PolicySet) -> Vec<SeedGroup> {
    let mut out = demo_groups(set);
    let mut ids: BTreeSet<String> = out.iter().map(|g| g.security_group_id.clone()).collect();
    for dir in EXAMPLES.iter().map(Path::new).filter(|d| d.is_dir()) {
        let Ok(examples) = moat_policy::load_policies(&[PathBuf::from(dir)]) else {
            continue;
        };
        out.extend(
            demo_groups(&examples)
                .into_iter()
                .filter(|g| ids.insert(g.security_group_id.clone())),
        );
    }
    out
}

/// The demo groups of `set`, and the groups its rules name.
pub fn demo_groups(set: &PolicySet) -> Vec<SeedGroup> {
    let own: BTreeSet<&str> = set.groups.iter().map(|g| g.id.as_str()).collect();
    let mut out = Vec::new();
    let mut peers: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (index, g) in set.groups.iter().enumerate() {
        for d in &g.rules {
            if let Peer::Group { id, owner: None } = &d.rule.key.peer
                && !own.contains(id.as_str())
            {
                peers.insert((id.as_str(), g.region.as_str()));
            }
        }
        out.push(demo_group(set, g, index));
    }
    for (id, region) in peers {
        out.push(
            SeedGroup::new(region, id)
                .name(format!("peer-{}", id.trim_start_matches("sg-")))
                .description("referenced by the policies")
                .vpc_id(LOCAL_VPC),
        );
    }
    out
}

fn demo_group(set: &PolicySet, g: &GroupPolicy, index: usize) -> SeedGroup {
    let mut seed = SeedGroup::new(&g.region, &g.id)
        .name(g.name.clone().unwrap_or_else(|| g.id.clone()))
        .description("seeded by moat --local")
        .vpc_id(LOCAL_VPC);
    let free = |d: &DesiredRule| !d.protected && set.protection(&g.id, &d.rule).is_none();
    let candidates: Vec<usize> = (0..g.rules.len()).filter(|&i| free(&g.rules[i])).collect();
    let missing = (g.rules.len() >= 2)
        .then(|| candidates.last().copied())
        .flatten();
    let changed = candidates.iter().copied().find(|&i| Some(i) != missing);
    for (i, d) in g.rules.iter().enumerate() {
        if Some(i) == missing {
            continue;
        }
        let mut rule = d.rule.clone();
        if Some(i) == changed {
            if index.is_multiple_of(2) || rule.priority >= 97 {
                rule.description = "added by hand in the console".to_owned();
            } else {
                rule.priority += 3;
            }
        }
        seed = seed.rule(wire(rule.key.direction), to_permission(&rule));
    }
    if g.mode == Mode::Authoritative
        && let Some(extra) = extra_rule(g, index)
        && set.protection(&g.id, &extra).is_none()
    {
        seed = seed.rule(wire(extra.key.direction), to_permission(&extra));
    }
    seed
}

/// A rule someone added by hand: one of a few typical ones (a different
/// one for each group) that the policy does not already have.
fn extra_rule(g: &GroupPolicy, index: usize) -> Option<Rule> {
    const TYPICAL: [(u16, &str); 4] = [
        (3389, "temporary RDP for a vendor"),
        (8081, "debug port, remove after the release"),
        (3306, "MySQL for the data migration"),
        (9999, "load test"),
    ];
    let desired: BTreeSet<&RuleKey> = g.rules.iter().map(|d| &d.rule.key).collect();
    let internet = Peer::cidr("0.0.0.0/0".parse().ok()?);
    (0..TYPICAL.len())
        .map(|i| TYPICAL[(index + i) % TYPICAL.len()])
        .map(|(port, description)| Rule {
            key: RuleKey {
                direction: Direction::Ingress,
                protocol: Protocol::Tcp,
                ports: PortRange::single(port),
                peer: internet.clone(),
                verdict: Verdict::Accept,
                nic_type: NicType::Intranet,
                source_ports: None,
                local: None,
            },
            priority: 1,
            description: description.to_owned(),
        })
        .find(|r| !desired.contains(&r.key))
}

fn wire(d: Direction) -> WireDirection {
    match d {
        Direction::Ingress => WireDirection::Ingress,
        Direction::Egress => WireDirection::Egress,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_differs_from_its_policy_and_peers_exist() {
        let set = moat_policy::load_policy_str(
            "demo.yaml",
            "version: 1\nsecurity_groups:\n  - id: sg-bp1demo0000000000001\n    region: cn-hangzhou\n    ingress:\n      - allow: tcp/22\n        from: 10.0.0.0/8\n        description: ssh\n      - allow: tcp/443\n        from: sg-bp1peer000000000001\n      - allow: tcp/80\n        from: 0.0.0.0/0\n        protected: true\n",
        )
        .expect("valid policy");
        let seeds = demo_groups(&set);
        assert_eq!(seeds.len(), 2, "the group and its peer");
        let rules = &seeds[0].rules;
        // 3 desired: one missing, one changed, the protected one as it is,
        // plus one extra.
        assert_eq!(rules.len(), 3);
        assert!(
            rules
                .iter()
                .any(|r| r.permission.description.as_str() == "temporary RDP for a vendor")
        );
        assert!(
            rules
                .iter()
                .any(|r| r.permission.port_range.as_str() == "80/80")
        );
        assert_eq!(seeds[1].security_group_id, "sg-bp1peer000000000001");
    }
}
