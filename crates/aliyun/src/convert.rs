//! The one place where wire rules and canonical rules meet.
//!
//! Reading: a wire [`Permission`] becomes a [`LiveRule`] in canonical form
//! (lowercase protocol, `-1/-1` for protocols without ports, a canonical CIDR
//! with host bits cleared and IPv6 compressed, defaults filled in: priority 1,
//! accept, NIC type intranet), or, when moat cannot express it faithfully, an
//! [`UnmodeledRule`] that keeps the rule id, a summary and the reason. A rule
//! is never dropped: a rule the diff did not see is a rule apply could not
//! reason about.
//!
//! Writing: a canonical [`Rule`] becomes the `Permissions.N.*` parameters of
//! an authorize call, or the top-level parameters of a modify call.

use ipnet::IpNet;
use moat_policy::model::{
    DEFAULT_PRIORITY, Direction, LiveRule, NicType, Peer, PortRange, Protocol, Rule, RuleKey,
    UnmodeledRule, Verdict, parse_cidr_lenient,
};
use moat_wire::{LooseInt, LooseString, Permission};

/// A live rule as moat reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadRule {
    Live(LiveRule),
    Unmodeled(UnmodeledRule),
}

/// A wire rule whose direction is unknown: it cannot be placed on either
/// side of the diff, so the read fails rather than guessing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule_id:?} has direction {direction:?}, neither ingress nor egress")]
pub struct UnknownDirection {
    pub rule_id: String,
    pub direction: String,
}

/// Converts one wire rule. `requested` is the direction the read asked for,
/// used when the rule itself does not say.
pub fn read_permission(
    p: &Permission,
    requested: Option<Direction>,
) -> Result<ReadRule, UnknownDirection> {
    let wire_direction = p.direction.as_str().trim();
    let direction = match (Direction::parse(wire_direction), requested) {
        (Some(d), _) => d,
        (None, Some(d)) if wire_direction.is_empty() => d,
        _ => {
            return Err(UnknownDirection {
                rule_id: p.security_group_rule_id.to_string(),
                direction: wire_direction.to_owned(),
            });
        }
    };
    let id = p.security_group_rule_id.as_str().trim().to_owned();
    let mut problems = Vec::new();
    if id.is_empty() {
        problems.push("it has no rule id".to_owned());
    }

    let protocol = Protocol::parse(p.ip_protocol.as_str().trim());
    if protocol.is_none() {
        problems.push(format!(
            "protocol {:?} is not one moat models",
            p.ip_protocol.as_str()
        ));
    }
    if !p.port_range_list_id.is_empty() {
        problems.push(format!(
            "it uses port list {}",
            p.port_range_list_id.as_str().trim()
        ));
    }
    let ports = protocol.and_then(|proto| read_ports(proto, &p.port_range, &mut problems));
    let source_ports = read_source_ports(&p.source_port_range, &mut problems);

    let verdict = match p.policy.as_str().trim() {
        "" => Some(Verdict::Accept),
        s => Verdict::parse(s).or_else(|| {
            problems.push(format!("policy {s:?} is neither accept nor drop"));
            None
        }),
    };
    let priority = match p.priority.0 {
        None => Some(DEFAULT_PRIORITY),
        Some(v) => u8::try_from(v).ok().filter(|v| *v >= 1).or_else(|| {
            problems.push(format!("priority {v} is out of range"));
            None
        }),
    };
    let nic_type = match p.nic_type.as_str().trim() {
        "" => Some(NicType::Intranet),
        s => NicType::parse(s).or_else(|| {
            problems.push(format!("NIC type {s:?} is neither intranet nor internet"));
            None
        }),
    };

    let fields = PeerFields::of(p, direction);
    let peer = read_peer(&fields, &mut problems);
    let local = read_local(&fields, &mut problems);

    match (
        protocol,
        ports,
        source_ports,
        verdict,
        priority,
        nic_type,
        peer,
        local,
    ) {
        (
            Some(protocol),
            Some(ports),
            Some(source_ports),
            Some(verdict),
            Some(priority),
            Some(nic_type),
            Some(peer),
            Some(local),
        ) if problems.is_empty() => Ok(ReadRule::Live(LiveRule {
            id,
            rule: Rule {
                key: RuleKey {
                    direction,
                    protocol,
                    ports,
                    peer,
                    verdict,
                    nic_type,
                    source_ports,
                    local,
                },
                priority,
                description: p.description.to_string(),
            },
            create_time: p.create_time.as_str().trim().to_owned(),
        })),
        _ => Ok(ReadRule::Unmodeled(UnmodeledRule {
            id,
            direction,
            summary: summary(p),
            reason: problems.join("; "),
            description: p.description.to_string(),
        })),
    }
}

fn read_ports(
    protocol: Protocol,
    wire: &LooseString,
    problems: &mut Vec<String>,
) -> Option<PortRange> {
    let text = wire.as_str().trim();
    if !protocol.takes_ports() {
        // Protocols without ports are written `-1/-1`; an empty value means
        // the same. Anything else would be a restriction moat cannot express.
        if text.is_empty() || PortRange::parse_wire(text) == Ok(PortRange::NotApplicable) {
            return Some(PortRange::NotApplicable);
        }
        problems.push(format!(
            "port range {text:?} on protocol {protocol}, which takes none"
        ));
        return None;
    }
    match PortRange::parse_wire(text) {
        Ok(PortRange::NotApplicable) => {
            problems.push(format!("{protocol} rule without ports ({text})"));
            None
        }
        Ok(range) => Some(range),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    }
}

/// `Some(None)` for an unrestricted source port range, `None` on a problem.
fn read_source_ports(wire: &LooseString, problems: &mut Vec<String>) -> Option<Option<PortRange>> {
    let text = wire.as_str().trim();
    if text.is_empty() {
        return Some(None);
    }
    match PortRange::parse_wire(text) {
        Ok(PortRange::NotApplicable) => Some(None),
        Ok(range) => Some(Some(range)),
        Err(e) => {
            problems.push(format!("source {e}"));
            None
        }
    }
}

/// The wire fields holding the peer and the local address of a rule in one
/// direction: the source side of an ingress rule is its peer, the
/// destination side of an egress rule is.
struct PeerFields<'a> {
    cidr: &'a LooseString,
    cidr_name: &'static str,
    ipv6: &'a LooseString,
    ipv6_name: &'static str,
    group: &'a LooseString,
    owner: &'a LooseString,
    prefix_list: &'a LooseString,
    local: &'a LooseString,
    local_name: &'static str,
    local_ipv6: &'a LooseString,
    local_ipv6_name: &'static str,
}

impl<'a> PeerFields<'a> {
    fn of(p: &'a Permission, direction: Direction) -> PeerFields<'a> {
        match direction {
            Direction::Ingress => PeerFields {
                cidr: &p.source_cidr_ip,
                cidr_name: "SourceCidrIp",
                ipv6: &p.ipv6_source_cidr_ip,
                ipv6_name: "Ipv6SourceCidrIp",
                group: &p.source_group_id,
                owner: &p.source_group_owner_account,
                prefix_list: &p.source_prefix_list_id,
                local: &p.dest_cidr_ip,
                local_name: "DestCidrIp",
                local_ipv6: &p.ipv6_dest_cidr_ip,
                local_ipv6_name: "Ipv6DestCidrIp",
            },
            Direction::Egress => PeerFields {
                cidr: &p.dest_cidr_ip,
                cidr_name: "DestCidrIp",
                ipv6: &p.ipv6_dest_cidr_ip,
                ipv6_name: "Ipv6DestCidrIp",
                group: &p.dest_group_id,
                owner: &p.dest_group_owner_account,
                prefix_list: &p.dest_prefix_list_id,
                local: &p.source_cidr_ip,
                local_name: "SourceCidrIp",
                local_ipv6: &p.ipv6_source_cidr_ip,
                local_ipv6_name: "Ipv6SourceCidrIp",
            },
        }
    }
}

fn read_cidr(name: &str, value: &str, problems: &mut Vec<String>) -> Option<IpNet> {
    parse_cidr_lenient(value)
        .map_err(|e| problems.push(format!("{name}: {e}")))
        .ok()
}

/// The peer, by the service's precedence: a CIDR wins over a group, and
/// either over a prefix list (reference 2.3).
fn read_peer(f: &PeerFields<'_>, problems: &mut Vec<String>) -> Option<Peer> {
    let cidr = f.cidr.as_str().trim();
    let ipv6 = f.ipv6.as_str().trim();
    let group = f.group.as_str().trim();
    let prefix_list = f.prefix_list.as_str().trim();
    if !cidr.is_empty() && !ipv6.is_empty() {
        problems.push(format!("both {} and {} are set", f.cidr_name, f.ipv6_name));
        return None;
    }
    if !cidr.is_empty() {
        return read_cidr(f.cidr_name, cidr, problems).map(Peer::cidr);
    }
    if !ipv6.is_empty() {
        return read_cidr(f.ipv6_name, ipv6, problems).map(Peer::cidr);
    }
    if !group.is_empty() {
        let owner = f.owner.as_str().trim();
        return Some(Peer::Group {
            id: group.to_owned(),
            owner: (!owner.is_empty()).then(|| owner.to_owned()),
        });
    }
    if !prefix_list.is_empty() {
        return Some(Peer::PrefixList {
            id: prefix_list.to_owned(),
        });
    }
    problems.push("it has no peer".to_owned());
    None
}

/// `Some(None)` when the rule has no local address, `None` on a problem.
fn read_local(f: &PeerFields<'_>, problems: &mut Vec<String>) -> Option<Option<IpNet>> {
    let v4 = f.local.as_str().trim();
    let v6 = f.local_ipv6.as_str().trim();
    match (v4.is_empty(), v6.is_empty()) {
        (true, true) => Some(None),
        (false, true) => read_cidr(f.local_name, v4, problems).map(Some),
        (true, false) => read_cidr(f.local_ipv6_name, v6, problems).map(Some),
        (false, false) => {
            problems.push(format!(
                "both {} and {} are set",
                f.local_name, f.local_ipv6_name
            ));
            None
        }
    }
}

/// The rule's non-empty wire fields, for a person reading a plan.
fn summary(p: &Permission) -> String {
    let priority = p.priority.0.map(|v| v.to_string()).unwrap_or_default();
    let fields: [(&str, &str); 16] = [
        ("IpProtocol", p.ip_protocol.as_str()),
        ("PortRange", p.port_range.as_str()),
        ("PortRangeListId", p.port_range_list_id.as_str()),
        ("SourcePortRange", p.source_port_range.as_str()),
        ("Policy", p.policy.as_str()),
        ("Priority", &priority),
        ("NicType", p.nic_type.as_str()),
        ("SourceCidrIp", p.source_cidr_ip.as_str()),
        ("Ipv6SourceCidrIp", p.ipv6_source_cidr_ip.as_str()),
        ("SourceGroupId", p.source_group_id.as_str()),
        ("SourcePrefixListId", p.source_prefix_list_id.as_str()),
        ("DestCidrIp", p.dest_cidr_ip.as_str()),
        ("Ipv6DestCidrIp", p.ipv6_dest_cidr_ip.as_str()),
        ("DestGroupId", p.dest_group_id.as_str()),
        ("DestPrefixListId", p.dest_prefix_list_id.as_str()),
        (
            "SourceGroupOwnerAccount",
            p.source_group_owner_account.as_str(),
        ),
    ];
    let mut out: Vec<String> = fields
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", v.trim()))
        .collect();
    if !p.dest_group_owner_account.is_empty() {
        out.push(format!(
            "DestGroupOwnerAccount={}",
            p.dest_group_owner_account.as_str().trim()
        ));
    }
    out.join(" ")
}

/// The request fields of a canonical rule, by their API names, in a fixed
/// order. Empty descriptions are left out: ECS takes 1 to 512 characters,
/// and a modify cannot clear a description anyway (reference 2.5).
pub fn rule_fields(rule: &Rule) -> Vec<(&'static str, String)> {
    let key = &rule.key;
    let mut out: Vec<(&'static str, String)> = Vec::with_capacity(10);
    out.push(("IpProtocol", key.protocol.as_str().to_owned()));
    out.push(("PortRange", key.ports.to_wire()));
    if let Some(sp) = key.source_ports {
        out.push(("SourcePortRange", sp.to_wire()));
    }
    out.push(("Policy", key.verdict.as_str().to_owned()));
    out.push(("Priority", rule.priority.to_string()));
    out.push(("NicType", key.nic_type.as_str().to_owned()));
    if !rule.description.is_empty() {
        out.push(("Description", rule.description.clone()));
    }
    let ingress = key.direction == Direction::Ingress;
    match &key.peer {
        Peer::Cidr { cidr } => {
            let name = match (ingress, cidr) {
                (true, IpNet::V4(_)) => "SourceCidrIp",
                (true, IpNet::V6(_)) => "Ipv6SourceCidrIp",
                (false, IpNet::V4(_)) => "DestCidrIp",
                (false, IpNet::V6(_)) => "Ipv6DestCidrIp",
            };
            out.push((name, cidr.to_string()));
        }
        Peer::Group { id, owner } => {
            let (id_name, owner_name) = if ingress {
                ("SourceGroupId", "SourceGroupOwnerAccount")
            } else {
                ("DestGroupId", "DestGroupOwnerAccount")
            };
            out.push((id_name, id.clone()));
            if let Some(owner) = owner {
                out.push((owner_name, owner.clone()));
            }
        }
        Peer::PrefixList { id } => {
            let name = if ingress {
                "SourcePrefixListId"
            } else {
                "DestPrefixListId"
            };
            out.push((name, id.clone()));
        }
    }
    if let Some(local) = key.local {
        let name = match (ingress, local) {
            (true, IpNet::V4(_)) => "DestCidrIp",
            (true, IpNet::V6(_)) => "Ipv6DestCidrIp",
            (false, IpNet::V4(_)) => "SourceCidrIp",
            (false, IpNet::V6(_)) => "Ipv6SourceCidrIp",
        };
        out.push((name, local.to_string()));
    }
    out
}

/// The canonical rule as the API lists it (no rule id or creation time):
/// what an emulator is seeded with, so seeded and authorized rules read
/// back the same.
pub fn to_permission(rule: &Rule) -> Permission {
    let mut p = Permission {
        direction: rule.key.direction.as_str().into(),
        ..Permission::default()
    };
    for (name, value) in rule_fields(rule) {
        let value = LooseString::from(value);
        match name {
            "IpProtocol" => p.ip_protocol = value,
            "PortRange" => p.port_range = value,
            "SourcePortRange" => p.source_port_range = value,
            "Policy" => p.policy = value,
            "Priority" => p.priority = LooseInt(Some(i64::from(rule.priority))),
            "NicType" => p.nic_type = value,
            "Description" => p.description = value,
            "SourceCidrIp" => p.source_cidr_ip = value,
            "Ipv6SourceCidrIp" => p.ipv6_source_cidr_ip = value,
            "DestCidrIp" => p.dest_cidr_ip = value,
            "Ipv6DestCidrIp" => p.ipv6_dest_cidr_ip = value,
            "SourceGroupId" => p.source_group_id = value,
            "SourceGroupOwnerAccount" => p.source_group_owner_account = value,
            "DestGroupId" => p.dest_group_id = value,
            "DestGroupOwnerAccount" => p.dest_group_owner_account = value,
            "SourcePrefixListId" => p.source_prefix_list_id = value,
            "DestPrefixListId" => p.dest_prefix_list_id = value,
            _ => {}
        }
    }
    p
}

/// `Permissions.{n}.*` parameters of an authorize call (`n` is 1-based).
pub fn permission_params(rule: &Rule, n: usize) -> Vec<(String, String)> {
    rule_fields(rule)
        .into_iter()
        .map(|(name, value)| (format!("Permissions.{n}.{name}"), value))
        .collect()
}

/// Top-level parameters of a modify call. `NicType` is left out: it cannot
/// change on a rule addressed by id (`InvalidOperation.ModifyNicType`), and
/// a NIC type difference is an identity difference anyway.
pub fn modify_params(rule: &Rule) -> Vec<(&'static str, String)> {
    rule_fields(rule)
        .into_iter()
        .filter(|(name, _)| *name != "NicType")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_wire::LooseInt;

    fn perm(json: &str) -> Permission {
        serde_json::from_str(json).unwrap()
    }

    fn live(p: &Permission) -> LiveRule {
        match read_permission(p, None).unwrap() {
            ReadRule::Live(l) => l,
            ReadRule::Unmodeled(u) => panic!("unmodeled: {u:?}"),
        }
    }

    fn unmodeled(p: &Permission) -> UnmodeledRule {
        match read_permission(p, None).unwrap() {
            ReadRule::Unmodeled(u) => u,
            ReadRule::Live(l) => panic!("modeled: {l:?}"),
        }
    }

    #[test]
    fn a_real_response_rule_becomes_canonical() {
        let p = perm(
            r#"{"SecurityGroupRuleId":"sgr-1","Direction":"ingress","IpProtocol":"TCP",
                "PortRange":"22/22","SourcePortRange":"","Policy":"Accept","Priority":1,
                "NicType":"intranet","SourceCidrIp":"10.0.0.1/8","Ipv6SourceCidrIp":"",
                "SourceGroupId":"","DestCidrIp":"","Description":"ssh",
                "CreateTime":"2018-12-12T07:28:38Z"}"#,
        );
        let l = live(&p);
        assert_eq!(l.id, "sgr-1");
        assert_eq!(
            l.rule.key.to_string(),
            "ingress accept tcp/22 from 10.0.0.0/8"
        );
        assert_eq!(l.rule.priority, 1);
        assert_eq!(l.rule.description, "ssh");
        assert_eq!(l.create_time, "2018-12-12T07:28:38Z");
    }

    #[test]
    fn missing_fields_take_the_api_defaults() {
        let l = live(&perm(
            r#"{"SecurityGroupRuleId":"sgr-2","Direction":"EGRESS","IpProtocol":"all",
                "DestCidrIp":"0.0.0.0/0"}"#,
        ));
        assert_eq!(l.rule.key.to_string(), "egress accept all to 0.0.0.0/0");
        assert_eq!(l.rule.key.ports, PortRange::NotApplicable);
        assert_eq!(l.rule.key.nic_type, NicType::Intranet);
        assert_eq!(l.rule.priority, DEFAULT_PRIORITY);
        assert_eq!(l.rule.key.source_ports, None);
    }

    #[test]
    fn priority_as_string_and_ipv6_are_normalised() {
        let l = live(&perm(
            r#"{"SecurityGroupRuleId":"sgr-3","Direction":"ingress","IpProtocol":"ICMPv6",
                "PortRange":"-1/-1","Policy":"drop","Priority":"7",
                "Ipv6SourceCidrIp":"2001:0DB8:0000:0000::1/32"}"#,
        ));
        assert_eq!(l.rule.priority, 7);
        assert_eq!(
            l.rule.key.to_string(),
            "ingress drop icmpv6 from 2001:db8::/32"
        );
    }

    #[test]
    fn group_and_prefix_list_peers_keep_owner_and_id() {
        let l = live(&perm(
            r#"{"SecurityGroupRuleId":"sgr-4","Direction":"ingress","IpProtocol":"tcp",
                "PortRange":"3306/3306","SourceGroupId":"sg-app",
                "SourceGroupOwnerAccount":1234567890}"#,
        ));
        assert_eq!(
            l.rule.key.peer,
            Peer::Group {
                id: "sg-app".into(),
                owner: Some("1234567890".into())
            }
        );
        let l = live(&perm(
            r#"{"SecurityGroupRuleId":"sgr-5","Direction":"egress","IpProtocol":"udp",
                "PortRange":"53/53","DestPrefixListId":"pl-dns","SourceGroupId":"sg-ignored"}"#,
        ));
        assert_eq!(
            l.rule.key.peer,
            Peer::PrefixList {
                id: "pl-dns".into()
            }
        );
    }

    #[test]
    fn quintuple_rules_keep_source_ports_and_local_address() {
        let l = live(&perm(
            r#"{"SecurityGroupRuleId":"sgr-6","Direction":"ingress","IpProtocol":"tcp",
                "PortRange":"80/80","SourcePortRange":"1024/65535",
                "SourceCidrIp":"192.0.2.0/24","DestCidrIp":"10.0.0.5"}"#,
        ));
        assert_eq!(
            l.rule.key.source_ports,
            Some(PortRange::Range {
                from: 1024,
                to: 65535
            })
        );
        assert_eq!(l.rule.key.local, Some("10.0.0.5/32".parse().unwrap()));
    }

    #[test]
    fn rules_moat_cannot_model_are_kept_with_a_reason() {
        let u = unmodeled(&perm(
            r#"{"SecurityGroupRuleId":"sgr-7","Direction":"ingress","IpProtocol":"47",
                "PortRange":"-1/-1","SourceCidrIp":"10.0.0.0/8","Description":"gre by number"}"#,
        ));
        assert_eq!(u.id, "sgr-7");
        assert_eq!(u.direction, Direction::Ingress);
        assert!(u.reason.contains("protocol \"47\""), "{}", u.reason);
        assert_eq!(
            u.summary,
            "IpProtocol=47 PortRange=-1/-1 SourceCidrIp=10.0.0.0/8"
        );
        assert_eq!(u.description, "gre by number");

        let u = unmodeled(&perm(
            r#"{"SecurityGroupRuleId":"sgr-8","Direction":"ingress","IpProtocol":"TCP",
                "PortRange":"","PortRangeListId":"prl-web","SourceCidrIp":"10.0.0.0/8"}"#,
        ));
        assert!(u.reason.contains("port list prl-web"), "{}", u.reason);

        for (json, needle) in [
            (r#""SourceCidrIp":"not-an-ip""#, "SourceCidrIp"),
            (
                r#""SourceCidrIp":"10.0.0.0/8","Ipv6SourceCidrIp":"::/0""#,
                "both",
            ),
            (r#""SourceCidrIp":"10.0.0.0/8","Policy":"maybe""#, "policy"),
            (
                r#""SourceCidrIp":"10.0.0.0/8","Priority":300"#,
                "priority 300",
            ),
            (
                r#""SourceCidrIp":"10.0.0.0/8","NicType":"wifi""#,
                "NIC type",
            ),
            (r#""Description":"no peer""#, "no peer"),
        ] {
            let p = perm(&format!(
                r#"{{"SecurityGroupRuleId":"sgr-9","Direction":"ingress","IpProtocol":"tcp",
                    "PortRange":"22/22",{json}}}"#
            ));
            let u = unmodeled(&p);
            assert!(u.reason.contains(needle), "{json}: {}", u.reason);
        }
        let u = unmodeled(&perm(
            r#"{"SecurityGroupRuleId":"sgr-10","Direction":"ingress","IpProtocol":"icmp",
                "PortRange":"8/8","SourceCidrIp":"10.0.0.0/8"}"#,
        ));
        assert!(u.reason.contains("takes none"), "{}", u.reason);
        let u = unmodeled(&perm(
            r#"{"SecurityGroupRuleId":"sgr-11","Direction":"ingress","IpProtocol":"tcp",
                "PortRange":"-1/-1","SourceCidrIp":"10.0.0.0/8"}"#,
        ));
        assert!(u.reason.contains("without ports"), "{}", u.reason);
    }

    #[test]
    fn direction_comes_from_the_rule_or_the_request() {
        let p = perm(
            r#"{"SecurityGroupRuleId":"sgr-12","IpProtocol":"tcp","PortRange":"22/22",
                "DestCidrIp":"10.0.0.0/8"}"#,
        );
        assert!(read_permission(&p, None).is_err());
        match read_permission(&p, Some(Direction::Egress)).unwrap() {
            ReadRule::Live(l) => assert_eq!(l.rule.key.direction, Direction::Egress),
            other => panic!("{other:?}"),
        }
        let mut q = p.clone();
        q.direction = "sideways".into();
        assert!(read_permission(&q, Some(Direction::Egress)).is_err());
    }

    fn rule(direction: Direction, peer: Peer, local: Option<&str>) -> Rule {
        Rule {
            key: RuleKey {
                direction,
                protocol: Protocol::Tcp,
                ports: PortRange::single(443),
                peer,
                verdict: Verdict::Drop,
                nic_type: NicType::Intranet,
                source_ports: None,
                local: local.map(|l| l.parse().unwrap()),
            },
            priority: 5,
            description: "web".into(),
        }
    }

    #[test]
    fn rules_become_permissions_by_direction() {
        let r = rule(
            Direction::Ingress,
            Peer::Group {
                id: "sg-a".into(),
                owner: Some("42".into()),
            },
            Some("10.0.0.0/24"),
        );
        let params = permission_params(&r, 3);
        let text: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            text,
            [
                "Permissions.3.IpProtocol=tcp",
                "Permissions.3.PortRange=443/443",
                "Permissions.3.Policy=drop",
                "Permissions.3.Priority=5",
                "Permissions.3.NicType=intranet",
                "Permissions.3.Description=web",
                "Permissions.3.SourceGroupId=sg-a",
                "Permissions.3.SourceGroupOwnerAccount=42",
                "Permissions.3.DestCidrIp=10.0.0.0/24",
            ]
        );
        let r = rule(
            Direction::Egress,
            Peer::cidr("2001:db8::/32".parse().unwrap()),
            Some("10.0.0.1/32"),
        );
        let fields = modify_params(&r);
        assert!(fields.contains(&("Ipv6DestCidrIp", "2001:db8::/32".into())));
        assert!(fields.contains(&("SourceCidrIp", "10.0.0.1/32".into())));
        assert!(!fields.iter().any(|(k, _)| *k == "NicType"));
    }

    #[test]
    fn a_rule_survives_the_round_trip_through_the_wire() {
        let r = rule(
            Direction::Egress,
            Peer::PrefixList { id: "pl-x".into() },
            None,
        );
        let mut p = Permission {
            security_group_rule_id: "sgr-rt".into(),
            direction: "egress".into(),
            ..Permission::default()
        };
        for (name, value) in rule_fields(&r) {
            let v = LooseString::from(value.as_str());
            match name {
                "IpProtocol" => p.ip_protocol = v,
                "PortRange" => p.port_range = v,
                "Policy" => p.policy = v,
                "Priority" => p.priority = LooseInt(value.parse().ok()),
                "NicType" => p.nic_type = v,
                "Description" => p.description = v,
                "DestPrefixListId" => p.dest_prefix_list_id = v,
                other => panic!("unexpected field {other}"),
            }
        }
        assert_eq!(live(&p).rule, r);
    }
}
