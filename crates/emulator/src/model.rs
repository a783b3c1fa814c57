//! The emulator's in-memory cloud: regions, groups and rules in normalised
//! form, indexed so that every action is linear at worst.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use moat_wire::{LooseInt, LooseString, Permission};
use serde::{Deserialize, Serialize};

use crate::clock::format_timestamp;

/// Which way traffic flows through a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    /// `ingress` / `egress` in any letter case.
    pub fn parse(s: &str) -> Option<Direction> {
        if s.eq_ignore_ascii_case("ingress") {
            Some(Direction::Ingress)
        } else if s.eq_ignore_ascii_case("egress") {
            Some(Direction::Egress)
        } else {
            None
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Basic (`normal`) or advanced (`enterprise`) group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupType {
    #[default]
    Normal,
    Enterprise,
}

impl GroupType {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Normal => "normal",
            GroupType::Enterprise => "enterprise",
        }
    }

    pub fn parse(s: &str) -> Option<GroupType> {
        if s.eq_ignore_ascii_case("normal") {
            Some(GroupType::Normal)
        } else if s.eq_ignore_ascii_case("enterprise") {
            Some(GroupType::Enterprise)
        } else {
            None
        }
    }

    /// Basic groups start open inside (`Accept`), advanced ones closed.
    pub fn inner_access_policy(self) -> &'static str {
        match self {
            GroupType::Normal => "Accept",
            GroupType::Enterprise => "Drop",
        }
    }
}

/// An IPv4 or IPv6 network with host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Cidr {
    V4(Ipv4Addr, u8),
    V6(Ipv6Addr, u8),
}

impl Cidr {
    /// Parses `a.b.c.d[/n]` (when `v6` is false) or an IPv6 address with an
    /// optional prefix. A bare address is a /32 or /128; host bits are
    /// cleared, because whether ECS normalises is UNCONFIRMED and identity
    /// must not depend on spelling (reference 3.1).
    pub(crate) fn parse(s: &str, v6: bool) -> Option<Cidr> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => {
                if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) || l.len() > 3 {
                    return None;
                }
                (a, Some(l.parse::<u8>().ok()?))
            }
            None => (s, None),
        };
        if v6 {
            let a: Ipv6Addr = addr.parse().ok()?;
            let len = len.unwrap_or(128);
            if len > 128 {
                return None;
            }
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            Some(Cidr::V6(Ipv6Addr::from(u128::from(a) & mask), len))
        } else {
            let a: Ipv4Addr = addr.parse().ok()?;
            let len = len.unwrap_or(32);
            if len > 32 {
                return None;
            }
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            Some(Cidr::V4(Ipv4Addr::from(u32::from(a) & mask), len))
        }
    }

    pub(crate) fn is_v6(self) -> bool {
        matches!(self, Cidr::V6(..))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cidr::V4(a, l) => write!(f, "{a}/{l}"),
            Cidr::V6(a, l) => write!(f, "{a}/{l}"),
        }
    }
}

/// The authorization object of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Peer {
    Cidr(Cidr),
    /// Another group; `owner` is the account that owns it when the rule
    /// names one (`*GroupOwnerAccount`, else `*GroupOwnerId`), empty for the
    /// caller's own account.
    Group {
        id: String,
        owner: String,
    },
    PrefixList(String),
}

impl Peer {
    /// The kind, which ModifySecurityGroupRule may not change.
    pub(crate) fn kind(&self) -> PeerKind {
        match self {
            Peer::Cidr(Cidr::V4(..)) => PeerKind::V4,
            Peer::Cidr(Cidr::V6(..)) => PeerKind::V6,
            Peer::Group { .. } => PeerKind::Group,
            Peer::PrefixList(_) => PeerKind::PrefixList,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerKind {
    V4,
    V6,
    Group,
    PrefixList,
}

/// Destination ports: a range (`-1/-1` for protocols without ports) or a
/// port list id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Ports {
    Range(i32, i32),
    List(String),
}

/// The fields ECS compares to decide that two rules are the same
/// (reference 3.1). Priority and description are not among them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RuleIdentity {
    pub direction: Direction,
    /// Lowercase name (`tcp`, `icmpv6`) or an IANA number.
    pub protocol: String,
    pub ports: Ports,
    pub source_ports: Option<(i32, i32)>,
    /// `intranet` or `internet`.
    pub nic_type: &'static str,
    /// True for `drop`.
    pub drop: bool,
    pub peer: Peer,
    /// The optional second address: destination of an ingress rule, source
    /// of an egress rule.
    pub local: Option<Cidr>,
}

impl RuleIdentity {
    pub(crate) fn is_group_reference(&self) -> bool {
        matches!(self.peer, Peer::Group { .. })
    }
}

/// A stored rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub id: String,
    pub identity: RuleIdentity,
    pub priority: i64,
    pub description: String,
    pub create_time: i64,
}

/// A tag on a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TagPair {
    pub key: String,
    pub value: String,
}

/// A security group. Rules are kept in creation order under a sequence
/// number (which is also what page tokens point at), with hash indexes by
/// rule id and by identity.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub id: String,
    pub region: String,
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    pub group_type: GroupType,
    pub resource_group_id: String,
    pub tags: Vec<TagPair>,
    pub creation_time: i64,
    rules: BTreeMap<u64, Rule>,
    by_id: HashMap<String, u64>,
    by_identity: HashMap<RuleIdentity, u64>,
    group_refs: usize,
    next_seq: u64,
}

impl Group {
    pub(crate) fn new(id: String, region: String, creation_time: i64) -> Group {
        Group {
            id,
            region,
            name: String::new(),
            description: String::new(),
            vpc_id: String::new(),
            group_type: GroupType::Normal,
            resource_group_id: String::new(),
            tags: Vec::new(),
            creation_time,
            rules: BTreeMap::new(),
            by_id: HashMap::new(),
            by_identity: HashMap::new(),
            group_refs: 0,
            next_seq: 1,
        }
    }

    /// A classic-network group (no VPC); its rules default to `internet`.
    pub(crate) fn is_classic(&self) -> bool {
        self.vpc_id.is_empty()
    }

    pub(crate) fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub(crate) fn group_reference_count(&self) -> usize {
        self.group_refs
    }

    pub(crate) fn rule_by_id(&self, id: &str) -> Option<&Rule> {
        self.by_id.get(id).and_then(|seq| self.rules.get(seq))
    }

    pub(crate) fn rule_by_identity(&self, identity: &RuleIdentity) -> Option<&Rule> {
        self.by_identity
            .get(identity)
            .and_then(|seq| self.rules.get(seq))
    }

    pub(crate) fn has_rule_id(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Adds a rule; the caller has checked that neither its id nor its
    /// identity is present.
    pub(crate) fn insert(&mut self, rule: Rule) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if rule.identity.is_group_reference() {
            self.group_refs += 1;
        }
        self.by_id.insert(rule.id.clone(), seq);
        self.by_identity.insert(rule.identity.clone(), seq);
        self.rules.insert(seq, rule);
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<Rule> {
        let seq = self.by_id.remove(id)?;
        let rule = self.rules.remove(&seq)?;
        self.by_identity.remove(&rule.identity);
        if rule.identity.is_group_reference() {
            self.group_refs -= 1;
        }
        Some(rule)
    }

    /// Replaces the identity and attributes of rule `id` in place, keeping
    /// its position, id and creation time.
    pub(crate) fn update(
        &mut self,
        id: &str,
        identity: RuleIdentity,
        priority: i64,
        description: String,
    ) {
        let Some(&seq) = self.by_id.get(id) else {
            return;
        };
        let Some(rule) = self.rules.get_mut(&seq) else {
            return;
        };
        if rule.identity != identity {
            self.by_identity.remove(&rule.identity);
            self.by_identity.insert(identity.clone(), seq);
            rule.identity = identity;
        }
        rule.priority = priority;
        rule.description = description;
    }

    /// Rules in creation order from position `after` (exclusive), with their
    /// positions.
    pub(crate) fn rules_after(&self, after: u64) -> impl Iterator<Item = (u64, &Rule)> {
        self.rules
            .range(after.saturating_add(1)..)
            .map(|(seq, r)| (*seq, r))
    }

    pub(crate) fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values()
    }

    /// True when some rule of this group names `group_id` as its peer.
    pub(crate) fn references(&self, group_id: &str) -> bool {
        self.group_refs > 0
            && self
                .rules
                .values()
                .any(|r| matches!(&r.identity.peer, Peer::Group { id, .. } if id == group_id))
    }
}

/// Every region's groups: region id -> group id -> group.
#[derive(Clone, Debug, Default)]
pub(crate) struct State {
    pub regions: BTreeMap<String, BTreeMap<String, Group>>,
    /// VPCs, vSwitches, instances, interfaces, EIPs and network ACLs.
    pub network: crate::network::Network,
}

impl State {
    pub(crate) fn group(&self, region: &str, id: &str) -> Option<&Group> {
        self.regions.get(region)?.get(id)
    }

    pub(crate) fn group_mut(&mut self, region: &str, id: &str) -> Option<&mut Group> {
        self.regions.get_mut(region)?.get_mut(id)
    }

    /// True when a group with this id exists in any region (ids are global).
    pub(crate) fn group_id_taken(&self, id: &str) -> bool {
        self.regions.values().any(|groups| groups.contains_key(id))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.regions.values().all(BTreeMap::is_empty) && self.network.is_empty()
    }
}

/// The wire spelling of a protocol in answers: upper case, with `ICMPv6`
/// written as in the request documentation (its answer spelling is
/// UNCONFIRMED, reference 3).
fn protocol_for_wire(p: &str) -> String {
    match p {
        "icmpv6" => "ICMPv6".to_owned(),
        other => other.to_ascii_uppercase(),
    }
}

fn range_for_wire((a, b): (i32, i32)) -> String {
    format!("{a}/{b}")
}

/// Renders a rule as the API answers it: every member present, empty strings
/// for unused ones, a numeric priority (reference 4.1). `group_name` looks up
/// the name of a referenced group in the same region.
pub(crate) fn render_rule<'a>(
    rule: &Rule,
    group_name: impl Fn(&str) -> Option<&'a str>,
) -> Permission {
    let id = &rule.identity;
    let mut p = Permission {
        security_group_rule_id: LooseString(rule.id.clone()),
        direction: LooseString(id.direction.as_str().to_owned()),
        ip_protocol: LooseString(protocol_for_wire(&id.protocol)),
        source_port_range: LooseString(id.source_ports.map(range_for_wire).unwrap_or_default()),
        policy: LooseString(if id.drop { "Drop" } else { "Accept" }.to_owned()),
        priority: LooseInt(Some(rule.priority)),
        nic_type: LooseString(id.nic_type.to_owned()),
        description: LooseString(rule.description.clone()),
        create_time: LooseString(format_timestamp(rule.create_time)),
        ..Permission::default()
    };
    match &id.ports {
        Ports::Range(a, b) => p.port_range = LooseString(range_for_wire((*a, *b))),
        Ports::List(list) => {
            p.port_range_list_id = LooseString(list.clone());
        }
    }
    let set_cidr = |p: &mut Permission, c: Cidr, source_side: bool| {
        let s = LooseString(c.to_string());
        match (c.is_v6(), source_side) {
            (false, true) => p.source_cidr_ip = s,
            (true, true) => p.ipv6_source_cidr_ip = s,
            (false, false) => p.dest_cidr_ip = s,
            (true, false) => p.ipv6_dest_cidr_ip = s,
        }
    };
    // The peer sits on the source side of an ingress rule and on the
    // destination side of an egress rule; the local address opposite it.
    let peer_is_source = id.direction == Direction::Ingress;
    match &id.peer {
        Peer::Cidr(c) => set_cidr(&mut p, *c, peer_is_source),
        Peer::Group { id: gid, owner } => {
            let name = LooseString(group_name(gid).unwrap_or_default().to_owned());
            if peer_is_source {
                p.source_group_id = LooseString(gid.clone());
                p.source_group_name = name;
                p.source_group_owner_account = LooseString(owner.clone());
            } else {
                p.dest_group_id = LooseString(gid.clone());
                p.dest_group_name = name;
                p.dest_group_owner_account = LooseString(owner.clone());
            }
        }
        Peer::PrefixList(pl) => {
            if peer_is_source {
                p.source_prefix_list_id = LooseString(pl.clone());
            } else {
                p.dest_prefix_list_id = LooseString(pl.clone());
            }
        }
    }
    if let Some(local) = id.local {
        set_cidr(&mut p, local, !peer_is_source);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_are_normalised() {
        let c = |s, v6| Cidr::parse(s, v6).map(|c| c.to_string());
        assert_eq!(c("10.0.0.1", false).as_deref(), Some("10.0.0.1/32"));
        assert_eq!(c("10.1.2.3/8", false).as_deref(), Some("10.0.0.0/8"));
        assert_eq!(c("0.0.0.0/0", false).as_deref(), Some("0.0.0.0/0"));
        assert_eq!(
            c("2001:DB8:0:0::1/32", true).as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(c("::/0", true).as_deref(), Some("::/0"));
        assert_eq!(c("::1", true).as_deref(), Some("::1/128"));
        for (bad, v6) in [
            ("10.0.0.0/33", false),
            ("10.0.0/8", false),
            ("10.0.0.0/", false),
            ("10.0.0.0/+8", false),
            ("::/129", true),
            ("::/0", false),
            ("10.0.0.0/8", true),
            ("", false),
        ] {
            assert_eq!(Cidr::parse(bad, v6), None, "{bad}");
        }
    }
}
