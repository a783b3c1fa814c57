//! Builders for policies and live groups, written the way plans print rules
//! (`ingress accept tcp/22 from 10.0.0.0/8`) so tests read like plans.

use std::sync::Arc;

use jiff::civil::Date;
use moat_policy::{
    DesiredRule, Direction, GroupPolicy, LiveGroup, LiveRule, Mode, NicType, Origin, Peer,
    PolicySet, PortRange, ProtectSelector, Protocol, Rule, RuleKey, UnmodeledRule, Verdict,
};

pub const TODAY: Date = jiff::civil::date(2026, 3, 1);

pub fn origin(file: &str, line: u32, column: u32) -> Origin {
    Origin {
        file: Arc::from(file),
        line,
        column,
    }
}

/// Parses `DIRECTION VERDICT SERVICE from|to PEER`, where SERVICE is
/// `tcp/22`, `tcp/8000-8080`, `icmp` or `all` and PEER a CIDR, `sg-...`
/// (optionally `sg-...@owner`) or `pl-...`.
pub fn key(text: &str) -> RuleKey {
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words.len(), 5, "bad key {text:?}");
    let direction = Direction::parse(words[0]).expect("direction");
    let verdict = Verdict::parse(words[1]).expect("verdict");
    let (protocol, ports) = match words[2].split_once('/') {
        Some((p, ports)) => {
            let ports = match ports.split_once('-') {
                Some((a, b)) => PortRange::Range {
                    from: a.parse().expect("port"),
                    to: b.parse().expect("port"),
                },
                None => PortRange::single(ports.parse().expect("port")),
            };
            (Protocol::parse(p).expect("protocol"), ports)
        }
        None => (
            Protocol::parse(words[2]).expect("protocol"),
            PortRange::NotApplicable,
        ),
    };
    let peer = peer(words[4]);
    RuleKey {
        direction,
        protocol,
        ports,
        peer,
        verdict,
        nic_type: NicType::Intranet,
        source_ports: None,
        local: None,
    }
}

pub fn peer(text: &str) -> Peer {
    if let Some(rest) = text.strip_prefix("sg-") {
        return match rest.split_once('@') {
            Some((id, owner)) => Peer::Group {
                id: format!("sg-{id}"),
                owner: Some(owner.to_owned()),
            },
            None => Peer::group(text),
        };
    }
    if text.starts_with("pl-") {
        return Peer::PrefixList { id: text.into() };
    }
    Peer::cidr(text.parse().expect("cidr"))
}

pub fn rule(k: &str, priority: u8, description: &str) -> Rule {
    Rule {
        key: key(k),
        priority,
        description: description.to_owned(),
    }
}

pub fn want(k: &str, priority: u8, description: &str, line: u32) -> DesiredRule {
    DesiredRule {
        rule: rule(k, priority, description),
        origin: origin("policies/web.yaml", line, 7),
        service_name: None,
        peer_name: None,
        protected: false,
        expires: None,
        lint_ignore: None,
    }
}

pub fn have(id: &str, k: &str, priority: u8, description: &str) -> LiveRule {
    LiveRule {
        id: id.to_owned(),
        rule: rule(k, priority, description),
        create_time: String::new(),
    }
}

pub fn group(id: &str, mode: Mode, rules: Vec<DesiredRule>) -> GroupPolicy {
    let mut rules = rules;
    rules.sort_by(|a, b| a.rule.key.cmp(&b.rule.key));
    GroupPolicy {
        id: id.to_owned(),
        region: "ap-southeast-1".to_owned(),
        name: Some("web-prod".to_owned()),
        mode,
        group_type: None,
        account: None,
        stage: None,
        origin: origin("policies/web.yaml", 3, 5),
        rules,
    }
}

pub fn live(id: &str, rules: Vec<LiveRule>) -> LiveGroup {
    LiveGroup {
        id: id.to_owned(),
        region: "ap-southeast-1".to_owned(),
        name: "web-prod".to_owned(),
        rules,
        unmodeled: Vec::new(),
        group_type: None,
        inner_access: None,
    }
}

pub fn unmodeled(id: &str, direction: Direction, description: &str) -> UnmodeledRule {
    UnmodeledRule {
        id: id.to_owned(),
        direction,
        summary: "IpProtocol=47 PortRange=-1/-1 SourceCidrIp=10.0.0.0/8".to_owned(),
        reason: "protocol number 47 is not modelled".to_owned(),
        description: description.to_owned(),
    }
}

pub fn selector(reason: &str, line: u32) -> ProtectSelector {
    ProtectSelector {
        reason: reason.to_owned(),
        origin: origin("policies/protect.yaml", line, 5),
        group: None,
        direction: None,
        services: None,
        peers: None,
        description_prefix: None,
    }
}

pub fn policy(groups: Vec<GroupPolicy>) -> PolicySet {
    PolicySet {
        groups,
        protect: Vec::new(),
        ..Default::default()
    }
}
