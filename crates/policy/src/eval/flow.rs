//! Deciding one concrete flow against one group's rules.

use std::cmp::Ordering;
use std::net::IpAddr;

use super::addr::net_contains;
use crate::model::{Direction, GroupType, NicType, PortRange, Protocol, Rule, Verdict};

/// One concrete flow through a group, as ECS sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    pub direction: Direction,
    pub nic_type: NicType,
    /// A concrete protocol. [`Protocol::All`] here stands for any protocol
    /// moat does not model (SCTP, ESP, ...), which only `all` rules match.
    pub protocol: Protocol,
    /// The destination port of a TCP or UDP flow. A TCP or UDP flow without
    /// one matches only rules that cover every port.
    pub port: Option<u16>,
    /// The other end: the source of an ingress flow, the destination of an
    /// egress flow.
    pub address: IpAddr,
    /// The source port, when known; a rule restricted to source ports matches
    /// only a flow whose source port it includes.
    pub source_port: Option<u16>,
    /// The group's own address (destination of ingress, source of egress),
    /// when known; a rule restricted to a local address matches only a flow
    /// whose local address it includes.
    pub local: Option<IpAddr>,
}

impl Flow {
    /// An intranet flow with nothing but direction, protocol, port and peer
    /// address known.
    pub fn new(
        direction: Direction,
        protocol: Protocol,
        port: Option<u16>,
        address: IpAddr,
    ) -> Flow {
        Flow {
            direction,
            nic_type: NicType::Intranet,
            protocol,
            port,
            address,
            source_port: None,
            local: None,
        }
    }
}

/// The verdict for a flow and the rule that decided it (`None`: no rule
/// matched and the direction's default applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision<'a> {
    pub verdict: Verdict,
    pub rule: Option<&'a Rule>,
}

impl Decision<'_> {
    pub(super) fn default_under(defaults: Defaults, direction: Direction) -> Decision<'static> {
        Decision {
            verdict: defaults.verdict(direction),
            rule: None,
        }
    }
}

/// What ECS does with a flow that no rule matches, per direction. It
/// depends on the group's type: a basic group denies ingress and allows
/// egress, an enterprise group denies both (ECS user guide, "Basic and
/// advanced security groups").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Defaults {
    pub ingress: Verdict,
    pub egress: Verdict,
}

impl Defaults {
    /// A basic (`normal`) group's defaults.
    pub const BASIC: Defaults = Defaults {
        ingress: Verdict::Drop,
        egress: Verdict::Accept,
    };
    /// An enterprise group's defaults.
    pub const ENTERPRISE: Defaults = Defaults {
        ingress: Verdict::Drop,
        egress: Verdict::Drop,
    };

    pub fn of(group_type: GroupType) -> Defaults {
        match group_type {
            GroupType::Normal => Defaults::BASIC,
            GroupType::Enterprise => Defaults::ENTERPRISE,
        }
    }

    pub fn verdict(self, direction: Direction) -> Verdict {
        match direction {
            Direction::Ingress => self.ingress,
            Direction::Egress => self.egress,
        }
    }
}

/// What a basic group does with a flow no rule matches: ingress is denied,
/// egress allowed. [`Defaults::of`] answers for either group type.
pub fn default_verdict(direction: Direction) -> Verdict {
    Defaults::BASIC.verdict(direction)
}

/// Evaluation order of two rules that both match: lower priority number
/// first, at equal priority drop before accept, then the smaller key so that
/// the named rule is stable.
pub fn evaluation_order(a: &Rule, b: &Rule) -> Ordering {
    rank(a).cmp(&rank(b))
}

fn rank(r: &Rule) -> (u8, bool, &crate::model::RuleKey) {
    // `false` sorts first: a drop before an accept of the same priority.
    (r.priority, r.key.verdict != Verdict::Drop, &r.key)
}

/// True when `rule` applies to `flow`.
///
/// An IPv4-mapped IPv6 address or network (within `::ffff:0:0/96`) stands
/// for the IPv4 addresses it maps to, on either side.
pub fn matches(rule: &Rule, flow: &Flow) -> bool {
    let k = &rule.key;
    let Some(net) = k.peer.as_cidr() else {
        return false;
    };
    net_contains(net, flow.address) && matches_but_peer(rule, flow)
}

/// True when `rule` applies to `flow` in everything but its peer: direction,
/// NIC type, protocol, ports, source ports and local address.
pub(super) fn matches_but_peer(rule: &Rule, flow: &Flow) -> bool {
    let k = &rule.key;
    if k.direction != flow.direction || k.nic_type != flow.nic_type {
        return false;
    }
    if !protocol_matches(k.protocol, flow.protocol) {
        return false;
    }
    if k.protocol.takes_ports() {
        let port_ok = match flow.port {
            Some(p) => k.ports.contains(p),
            None => k.ports.covers(PortRange::ALL_PORTS),
        };
        if !port_ok {
            return false;
        }
    }
    if let Some(sp) = k.source_ports
        && !flow.source_port.is_some_and(|p| sp.contains(p))
    {
        return false;
    }
    if let Some(local) = k.local
        && !flow.local.is_some_and(|a| net_contains(local, a))
    {
        return false;
    }
    true
}

/// Decides `flow` under ECS evaluation over `rules` (any rules: those of
/// other directions or NIC types simply do not match).
pub fn decide<'a>(rules: impl IntoIterator<Item = &'a Rule>, flow: &Flow) -> Decision<'a> {
    let best = rules
        .into_iter()
        .filter(|r| matches(r, flow))
        .min_by(|a, b| evaluation_order(a, b));
    match best {
        Some(r) => Decision {
            verdict: r.key.verdict,
            rule: Some(r),
        },
        None => Decision::default_under(Defaults::BASIC, flow.direction),
    }
}

/// A decision with what a person debugging it needs besides the deciding
/// rule (`moat explain`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation<'a> {
    pub decision: Decision<'a>,
    /// Other rules that match the flow, in evaluation order; the first
    /// of them would decide if the deciding rule were gone.
    pub overridden: Vec<&'a Rule>,
    /// Rules evaluated before the decision whose peer is a security group or
    /// a prefix list and which match the flow in everything but the address:
    /// if the address belongs to that group or list, one of them decides.
    pub undecidable: Vec<&'a Rule>,
}

/// Decides `flow` like [`decide`], and says which other rules match and
/// which rules moat cannot check against the address could decide instead.
pub fn explain<'a>(rules: impl IntoIterator<Item = &'a Rule>, flow: &Flow) -> Explanation<'a> {
    let rules: Vec<&'a Rule> = rules.into_iter().collect();
    let decision = decide(rules.iter().copied(), flow);
    let mut matching: Vec<&'a Rule> = rules
        .iter()
        .copied()
        .filter(|r| matches(r, flow))
        .filter(|r| decision.rule.is_none_or(|d| !std::ptr::eq(*r, d)))
        .collect();
    matching.sort_by(|a, b| evaluation_order(a, b));
    let mut undecidable: Vec<&'a Rule> = rules
        .iter()
        .copied()
        .filter(|r| r.key.peer.as_cidr().is_none())
        .filter(|r| matches_but_address(r, flow))
        .filter(|r| {
            decision
                .rule
                .is_none_or(|d| evaluation_order(r, d) == Ordering::Less)
        })
        .collect();
    undecidable.sort_by(|a, b| evaluation_order(a, b));
    Explanation {
        decision,
        overridden: matching,
        undecidable,
    }
}

/// True when `rule` would match `flow` if its peer contained the address.
fn matches_but_address(rule: &Rule, flow: &Flow) -> bool {
    matches_but_peer(rule, flow)
}

/// `rule` (a rule's protocol) applies to flows of `flow` (a concrete
/// protocol, `All` meaning "any other").
pub(super) fn protocol_matches(rule: Protocol, flow: Protocol) -> bool {
    rule == Protocol::All || rule == flow
}
