//! ECS evaluation of one security group's rules, as pure functions.
//!
//! ECS decides a flow with the rules of the group's direction (and NIC type)
//! that match it: the matching rule with the lowest priority number wins, at
//! equal priority a drop beats an accept, and when no rule matches, ingress is
//! denied and egress allowed. [`decide`] answers that for one concrete
//! [`Flow`] and names the deciding rule (what `moat explain` shows).
//!
//! Lint needs more than single flows: which public addresses can reach a
//! service at all. [`cells`] splits a block of flows ([`Space`]) into cells
//! on which every rule applies fully or not at all, and decides each cell
//! once, so the answer is exact without trying every address.
//!
//! Rules whose peer is a security group or a prefix list stand for addresses
//! moat cannot see. They never match an address here: such a rule is not an
//! exposure to the internet, and a drop naming a group does not close one.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::model::{Direction, NicType, PortRange, Protocol, Rule, Verdict};

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
    fn default_for(direction: Direction) -> Decision<'static> {
        Decision {
            verdict: default_verdict(direction),
            rule: None,
        }
    }
}

/// What ECS does with a flow no rule matches: ingress is denied, egress
/// allowed.
pub fn default_verdict(direction: Direction) -> Verdict {
    match direction {
        Direction::Ingress => Verdict::Drop,
        Direction::Egress => Verdict::Accept,
    }
}

/// Evaluation order of two rules that both match: lower priority number
/// first, at equal priority drop before accept, then the smaller key so that
/// the named rule is stable.
pub fn evaluation_order(a: &Rule, b: &Rule) -> Ordering {
    rank(a).cmp(&rank(b))
}

fn rank(r: &Rule) -> (u8, bool, &crate::model::RuleKey) {
    (r.priority, r.key.verdict != Verdict::Drop, &r.key)
}

/// True when `rule` applies to `flow`.
pub fn matches(rule: &Rule, flow: &Flow) -> bool {
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
    let Some(net) = k.peer.as_cidr() else {
        return false;
    };
    if !net.contains(&flow.address) {
        return false;
    }
    if let Some(sp) = k.source_ports
        && !flow.source_port.is_some_and(|p| sp.contains(p))
    {
        return false;
    }
    if let Some(local) = k.local
        && !flow.local.is_some_and(|a| local.contains(&a))
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
        None => Decision::default_for(flow.direction),
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
    let mut probe = rule.clone();
    probe.key.peer = crate::model::Peer::cidr(match flow.address {
        IpAddr::V4(_) => IpNet::V4(Ipv4Net::default()),
        IpAddr::V6(_) => IpNet::V6(Ipv6Net::default()),
    });
    matches(&probe, flow)
}

/// `rule` (a rule's protocol) applies to flows of `flow` (a concrete
/// protocol, `All` meaning "any other").
fn protocol_matches(rule: Protocol, flow: Protocol) -> bool {
    rule == Protocol::All || rule == flow
}

/// An inclusive range of addresses of one family, as integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddrRange {
    pub v6: bool,
    pub first: u128,
    pub last: u128,
}

impl AddrRange {
    /// Every address of `net`.
    pub fn of(net: IpNet) -> AddrRange {
        match net {
            IpNet::V4(n) => AddrRange {
                v6: false,
                first: u128::from(u32::from(n.network())),
                last: u128::from(u32::from(n.broadcast())),
            },
            IpNet::V6(n) => AddrRange {
                v6: true,
                first: u128::from(n.network()),
                last: u128::from(n.broadcast()),
            },
        }
    }

    /// How many addresses the range holds (saturating at `u128::MAX` for the
    /// whole IPv6 space).
    pub fn count(self) -> u128 {
        self.last.saturating_sub(self.first).saturating_add(1)
    }

    pub fn contains(self, other: AddrRange) -> bool {
        self.v6 == other.v6 && self.first <= other.first && other.last <= self.last
    }

    pub fn overlaps(self, other: AddrRange) -> bool {
        self.v6 == other.v6 && self.first <= other.last && other.first <= self.last
    }

    /// The fewest CIDR blocks that hold exactly this range.
    pub fn to_cidrs(self) -> Vec<IpNet> {
        let bits: u32 = if self.v6 { 128 } else { 32 };
        let mut out = Vec::new();
        let mut start = self.first;
        loop {
            // The largest block aligned at `start` that does not pass `last`.
            let mut size = if start == 0 {
                bits
            } else {
                start.trailing_zeros().min(bits)
            };
            while size > 0 && block_end(start, size).is_none_or(|end| end > self.last) {
                size -= 1;
            }
            // `size <= bits`, so the prefix length fits in a u8.
            out.push(to_net(self.v6, start, (bits - size) as u8));
            match block_end(start, size).and_then(|end| end.checked_add(1)) {
                Some(next) if next <= self.last => start = next,
                _ => break,
            }
        }
        out
    }
}

/// The last address of the block of `2^size` addresses at `start`.
fn block_end(start: u128, size: u32) -> Option<u128> {
    if size >= 128 {
        return (start == 0).then_some(u128::MAX);
    }
    start.checked_add((1u128 << size) - 1)
}

fn to_net(v6: bool, addr: u128, prefix: u8) -> IpNet {
    if v6 {
        IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::from(addr), prefix))
    } else {
        // The address came from an IPv4 range, so it fits in 32 bits.
        let v4 = Ipv4Addr::from(u32::try_from(addr).unwrap_or(u32::MAX));
        IpNet::V4(Ipv4Net::new_assert(v4, prefix))
    }
}

/// Address ranges that are not reachable from the internet: private
/// networks (RFC 1918, RFC 4193), shared address space (RFC 6598, which
/// Alibaba Cloud uses for its internal services such as 100.100.2.136),
/// loopback, link-local, "this network" and the unspecified address.
/// Everything else is public, including the documentation ranges
/// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24), which examples use to
/// stand for public addresses.
pub const PRIVATE_V4: [(Ipv4Addr, u8); 7] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
];

/// The IPv6 counterpart of [`PRIVATE_V4`]: the unspecified address,
/// loopback, unique local (fc00::/7) and link-local (fe80::/10).
pub const PRIVATE_V6: [(Ipv6Addr, u8); 4] = [
    (Ipv6Addr::UNSPECIFIED, 128),
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
];

/// The private ranges of one family as address ranges, sorted.
fn private_ranges(v6: bool) -> Vec<AddrRange> {
    let mut out: Vec<AddrRange> = if v6 {
        PRIVATE_V6
            .iter()
            .map(|&(a, p)| AddrRange::of(IpNet::V6(Ipv6Net::new_assert(a, p))))
            .collect()
    } else {
        PRIVATE_V4
            .iter()
            .map(|&(a, p)| AddrRange::of(IpNet::V4(Ipv4Net::new_assert(a, p))))
            .collect()
    };
    out.sort_unstable();
    out
}

/// The public parts of `range`: the range minus every private range.
pub fn public_parts(range: AddrRange) -> Vec<AddrRange> {
    let mut out = Vec::new();
    let mut next = Some(range.first);
    for p in private_ranges(range.v6) {
        let Some(start) = next else { break };
        if p.last < start || p.first > range.last {
            continue;
        }
        if p.first > start {
            out.push(AddrRange {
                v6: range.v6,
                first: start,
                last: p.first - 1,
            });
        }
        next = p.last.checked_add(1);
    }
    if let Some(start) = next
        && start <= range.last
    {
        out.push(AddrRange {
            v6: range.v6,
            first: start,
            last: range.last,
        });
    }
    out
}

/// How many public addresses `range` holds (saturating).
pub fn public_count(range: AddrRange) -> u128 {
    public_parts(range)
        .iter()
        .fold(0u128, |n, r| n.saturating_add(r.count()))
}

/// True when `addr` is not in any private range.
pub fn is_public(addr: IpAddr) -> bool {
    let range = match addr {
        IpAddr::V4(a) => AddrRange {
            v6: false,
            first: u128::from(u32::from(a)),
            last: u128::from(u32::from(a)),
        },
        IpAddr::V6(a) => AddrRange {
            v6: true,
            first: u128::from(a),
            last: u128::from(a),
        },
    };
    public_count(range) > 0
}

/// A block of flows to evaluate: every flow of `protocol` on `ports` whose
/// peer address is in `peer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Space {
    pub direction: Direction,
    pub nic_type: NicType,
    /// `All` spans every protocol, including the ones moat does not model.
    pub protocol: Protocol,
    /// Ignored for protocols without ports and for `All`.
    pub ports: PortRange,
    pub peer: IpNet,
}

impl Space {
    /// True when `rule` can decide some flow of the space under the
    /// assumption of [`cells`]: it has the space's direction and NIC type,
    /// counts for reach (not a drop restricted to source ports or a local
    /// address), and shares protocols, ports and addresses with the space.
    /// Rules for which this is false match no cell of the space.
    pub fn touches(&self, rule: &Rule) -> bool {
        let k = &rule.key;
        let ports = match self.ports {
            PortRange::NotApplicable => PortRange::ALL_PORTS,
            p => p,
        };
        k.direction == self.direction
            && k.nic_type == self.nic_type
            && counts_for_reach(rule)
            && (k.protocol == Protocol::All
                || self.protocol == Protocol::All
                || k.protocol == self.protocol)
            && (!k.protocol.takes_ports()
                || !self.protocol.takes_ports()
                || ports_overlap(k.ports, ports))
            && k.peer
                .as_cidr()
                .is_some_and(|net| AddrRange::of(net).overlaps(AddrRange::of(self.peer)))
    }
}

/// A block of flows on which every rule applies fully or not at all, with
/// its decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell<'a> {
    /// A concrete protocol (`All`: any protocol moat does not model).
    pub protocol: Protocol,
    /// The ports of the cell; `NotApplicable` for protocols without ports.
    pub ports: PortRange,
    pub addresses: AddrRange,
    pub decision: Decision<'a>,
}

/// The worst case for quintuple rules, which [`cells`] assumes: the other
/// end chooses its source port and the group's address it talks to. So an
/// accept restricted to source ports or a local address still lets flows
/// through, and a drop with such a restriction is not counted as closing
/// anything.
fn counts_for_reach(rule: &Rule) -> bool {
    rule.key.verdict == Verdict::Accept
        || (rule.key.source_ports.is_none() && rule.key.local.is_none())
}

impl Cell<'_> {
    /// True when `rule` applies to the flows of this cell (by construction
    /// it applies to all of them or none), under the assumption of [`cells`].
    pub fn matched_by(&self, rule: &Rule, direction: Direction, nic_type: NicType) -> bool {
        let k = &rule.key;
        k.direction == direction
            && k.nic_type == nic_type
            && counts_for_reach(rule)
            && protocol_matches(k.protocol, self.protocol)
            && (!k.protocol.takes_ports()
                || match self.ports {
                    PortRange::Range { from, .. } => k.ports.contains(from),
                    PortRange::NotApplicable => true,
                })
            && k.peer
                .as_cidr()
                .is_some_and(|net| AddrRange::of(net).contains(self.addresses))
    }

    /// Decides the cell against `rules` instead of the rules it was split
    /// on: the first in evaluation order of those that match it
    /// ([`Cell::matched_by`]), or the direction's default. The answer holds
    /// for every flow of the cell when `rules` are among the rules given to
    /// [`cells`] (each of them applies to the whole cell or none of it), so
    /// one split over the union of two versions of a group decides both:
    /// what a change does to reachability.
    pub fn decide_against<'r>(
        &self,
        rules: impl IntoIterator<Item = &'r Rule>,
        direction: Direction,
        nic_type: NicType,
    ) -> Decision<'r> {
        let best = rules
            .into_iter()
            .filter(|r| self.matched_by(r, direction, nic_type))
            .min_by(|a, b| evaluation_order(a, b));
        match best {
            Some(r) => Decision {
                verdict: r.key.verdict,
                rule: Some(r),
            },
            None => Decision::default_for(direction),
        }
    }
}

/// `cells` gives up beyond this many cells; it takes a rule overlapping
/// hundreds of others on both ports and addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("more than {limit} cells")]
pub struct TooManyCells {
    pub limit: usize,
}

/// Splits `space` into cells on which each of `rules` applies fully or not
/// at all, and decides every cell. Cells come sorted by protocol, ports and
/// addresses. At most `limit` cells are made.
///
/// Quintuple rules are taken in the worst case: the other end chooses its
/// source port and the group's address it talks to, so an accept restricted
/// to source ports or a local address counts as matching, and a drop with
/// such a restriction is left out.
pub fn cells<'a>(
    rules: &[&'a Rule],
    space: &Space,
    limit: usize,
) -> Result<Vec<Cell<'a>>, TooManyCells> {
    let target = AddrRange::of(space.peer);
    let space_ports = match space.ports {
        PortRange::NotApplicable => PortRange::ALL_PORTS,
        p => p,
    };
    let mut relevant: Vec<&'a Rule> = rules.iter().copied().filter(|r| space.touches(r)).collect();
    relevant.sort_by(|a, b| evaluation_order(a, b));

    let protocols: Vec<Protocol> = match space.protocol {
        // `All` last stands for every protocol moat does not model.
        Protocol::All => Protocol::ALL.to_vec(),
        p => vec![p],
    };
    let mut out = Vec::new();
    for protocol in protocols {
        let for_protocol: Vec<&'a Rule> = relevant
            .iter()
            .copied()
            .filter(|r| protocol_matches(r.key.protocol, protocol))
            .collect();
        let port_cells: Vec<PortRange> = if protocol.takes_ports() {
            let (lo, hi) = bounds(space_ports);
            let mut cuts = vec![u32::from(lo)];
            for r in &for_protocol {
                if let PortRange::Range { from, to } = r.key.ports {
                    cuts.push(u32::from(from));
                    cuts.push(u32::from(to) + 1);
                }
            }
            intervals(cuts, u32::from(lo), u32::from(hi))
                .into_iter()
                .map(|(a, b)| PortRange::Range {
                    // Both lie within [lo, hi], which are ports.
                    from: u16::try_from(a).unwrap_or(u16::MAX),
                    to: u16::try_from(b).unwrap_or(u16::MAX),
                })
                .collect()
        } else {
            vec![PortRange::NotApplicable]
        };
        for ports in port_cells {
            let applying: Vec<(&'a Rule, AddrRange)> = for_protocol
                .iter()
                .copied()
                .filter(|r| match (r.key.protocol.takes_ports(), ports) {
                    (true, PortRange::Range { from, .. }) => r.key.ports.contains(from),
                    _ => true,
                })
                .filter_map(|r| r.key.peer.as_cidr().map(|n| (r, AddrRange::of(n))))
                .collect();
            let mut cuts = vec![target.first];
            for (_, a) in &applying {
                cuts.push(a.first);
                if let Some(next) = a.last.checked_add(1) {
                    cuts.push(next);
                }
            }
            for (first, last) in intervals(cuts, target.first, target.last) {
                let addresses = AddrRange {
                    v6: target.v6,
                    first,
                    last,
                };
                // `applying` is in evaluation order: the first rule whose
                // addresses hold the cell decides it.
                let decision = applying.iter().find(|(_, a)| a.contains(addresses)).map_or(
                    Decision::default_for(space.direction),
                    |(r, _)| Decision {
                        verdict: r.key.verdict,
                        rule: Some(r),
                    },
                );
                out.push(Cell {
                    protocol,
                    ports,
                    addresses,
                    decision,
                });
                if out.len() > limit {
                    return Err(TooManyCells { limit });
                }
            }
        }
    }
    Ok(out)
}

fn bounds(p: PortRange) -> (u16, u16) {
    match p {
        PortRange::NotApplicable => (1, 65535),
        PortRange::Range { from, to } => (from, to),
    }
}

fn ports_overlap(a: PortRange, b: PortRange) -> bool {
    let ((a0, a1), (b0, b1)) = (bounds(a), bounds(b));
    a0 <= b1 && b0 <= a1
}

/// Sorted, deduplicated cut points clipped to `[lo, hi]`, turned into the
/// inclusive intervals between them.
fn intervals<T>(mut cuts: Vec<T>, lo: T, hi: T) -> Vec<(T, T)>
where
    T: Copy + Ord + std::ops::Sub<Output = T> + From<u8>,
{
    cuts.retain(|c| *c >= lo && *c <= hi);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::with_capacity(cuts.len());
    for (i, start) in cuts.iter().enumerate() {
        let end = match cuts.get(i + 1) {
            Some(next) => *next - T::from(1),
            None => hi,
        };
        out.push((*start, end));
    }
    out
}

/// Sorts and merges touching or overlapping ranges of the same family.
pub fn merge(mut ranges: Vec<AddrRange>) -> Vec<AddrRange> {
    ranges.sort_unstable();
    let mut out: Vec<AddrRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(l) if l.v6 == r.v6 && l.last.checked_add(1).is_none_or(|n| n >= r.first) => {
                l.last = l.last.max(r.last);
            }
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Peer, RuleKey};

    fn rule(verdict: Verdict, protocol: Protocol, ports: PortRange, peer: &str, prio: u8) -> Rule {
        let peer = if peer.starts_with("sg-") {
            Peer::group(peer)
        } else if peer.starts_with("pl-") {
            Peer::PrefixList { id: peer.into() }
        } else {
            Peer::cidr(peer.parse().unwrap())
        };
        Rule {
            key: RuleKey {
                direction: Direction::Ingress,
                protocol,
                ports,
                peer,
                verdict,
                nic_type: NicType::Intranet,
                source_ports: None,
                local: None,
            },
            priority: prio,
            description: String::new(),
        }
    }

    fn tcp(port: u16) -> PortRange {
        PortRange::single(port)
    }

    fn ssh_from(addr: &str) -> Flow {
        Flow::new(
            Direction::Ingress,
            Protocol::Tcp,
            Some(22),
            addr.parse().unwrap(),
        )
    }

    #[test]
    fn lowest_priority_number_wins_and_drop_wins_ties() {
        let accept = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "0.0.0.0/0", 100);
        let drop1 = rule(
            Verdict::Drop,
            Protocol::All,
            PortRange::NotApplicable,
            "0.0.0.0/0",
            1,
        );
        let d = decide([&accept, &drop1], &ssh_from("8.8.8.8"));
        assert_eq!(d.verdict, Verdict::Drop);
        assert_eq!(d.rule, Some(&drop1));

        let drop_late = rule(Verdict::Drop, Protocol::Tcp, tcp(22), "0.0.0.0/0", 100);
        let accept_early = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "0.0.0.0/0", 50);
        let d = decide([&drop_late, &accept_early], &ssh_from("8.8.8.8"));
        assert_eq!(d.rule, Some(&accept_early));

        // Equal priority: drop wins whatever the order.
        let d = decide([&accept, &drop_late], &ssh_from("8.8.8.8"));
        assert_eq!(d.rule, Some(&drop_late));
        let d = decide([&drop_late, &accept], &ssh_from("8.8.8.8"));
        assert_eq!(d.rule, Some(&drop_late));
    }

    #[test]
    fn explain_names_overridden_rules_and_group_rules_it_cannot_check() {
        let office = rule(
            Verdict::Accept,
            Protocol::Tcp,
            tcp(22),
            "203.0.113.0/24",
            10,
        );
        let world = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "0.0.0.0/0", 50);
        let mut bastion = rule(Verdict::Drop, Protocol::Tcp, tcp(22), "0.0.0.0/0", 1);
        bastion.key.peer = Peer::group("sg-bastion");
        let mut late_group = bastion.clone();
        late_group.priority = 90;
        let other_port = rule(Verdict::Accept, Protocol::Tcp, tcp(80), "0.0.0.0/0", 1);
        let rules = [&office, &world, &bastion, &late_group, &other_port];
        let e = explain(rules, &ssh_from("203.0.113.9"));
        assert_eq!(e.decision.rule, Some(&office));
        assert_eq!(e.overridden, [&world]);
        // Only the group rule evaluated before the decision could change it.
        assert_eq!(e.undecidable, [&bastion]);

        let e = explain(rules, &ssh_from("198.51.100.1"));
        assert_eq!(e.decision.rule, Some(&world));
        assert!(e.overridden.is_empty());
    }

    #[test]
    fn defaults_deny_ingress_and_allow_egress() {
        let d = decide([], &ssh_from("8.8.8.8"));
        assert_eq!((d.verdict, d.rule), (Verdict::Drop, None));
        let mut flow = ssh_from("8.8.8.8");
        flow.direction = Direction::Egress;
        assert_eq!(decide([], &flow).verdict, Verdict::Accept);
    }

    #[test]
    fn ipv6_all_protocols_and_port_ranges_match() {
        let v6 = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "::/0", 1);
        assert_eq!(
            decide([&v6], &ssh_from("2001:db8::1")).verdict,
            Verdict::Accept
        );
        assert_eq!(decide([&v6], &ssh_from("8.8.8.8")).verdict, Verdict::Drop);
        let all = rule(
            Verdict::Accept,
            Protocol::All,
            PortRange::NotApplicable,
            "0.0.0.0/0",
            1,
        );
        let mut other = ssh_from("8.8.8.8");
        other.protocol = Protocol::All;
        other.port = None;
        assert_eq!(decide([&all], &other).verdict, Verdict::Accept);
        let wide = rule(
            Verdict::Accept,
            Protocol::Tcp,
            PortRange::Range { from: 1, to: 65535 },
            "0.0.0.0/0",
            1,
        );
        let mut mysql = ssh_from("8.8.8.8");
        mysql.port = Some(3306);
        assert_eq!(decide([&wide], &mysql).verdict, Verdict::Accept);
    }

    #[test]
    fn group_and_prefix_list_peers_never_match_an_address() {
        let sg = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "sg-bp1abc", 1);
        let pl = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "pl-bp1abc", 1);
        let d = decide([&sg, &pl], &ssh_from("10.0.0.1"));
        assert_eq!((d.verdict, d.rule), (Verdict::Drop, None));
    }

    #[test]
    fn quintuple_restrictions_need_the_flow_to_say() {
        let mut r = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "0.0.0.0/0", 1);
        r.key.source_ports = Some(PortRange::single(1000));
        let mut flow = ssh_from("8.8.8.8");
        assert_eq!(decide([&r], &flow).verdict, Verdict::Drop);
        flow.source_port = Some(1000);
        assert_eq!(decide([&r], &flow).verdict, Verdict::Accept);
    }

    #[test]
    fn public_parts_remove_private_ranges() {
        let all = AddrRange::of("0.0.0.0/0".parse().unwrap());
        let parts: Vec<String> = public_parts(all)
            .into_iter()
            .flat_map(AddrRange::to_cidrs)
            .map(|n| n.to_string())
            .collect();
        assert!(parts.contains(&"1.0.0.0/8".to_owned()), "{parts:?}");
        assert!(!parts.iter().any(|p| p.starts_with("10.")), "{parts:?}");
        for a in [
            "10.1.2.3",
            "192.168.0.1",
            "172.31.255.255",
            "fd00::1",
            "100.100.2.136",
            "::1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a}");
        }
        for a in [
            "8.8.8.8",
            "172.32.0.0",
            "2001:db8::1",
            "203.0.113.4",
            "11.0.0.0",
        ] {
            assert!(is_public(a.parse().unwrap()), "{a}");
        }
        assert_eq!(
            public_count(AddrRange::of("10.0.0.0/8".parse().unwrap())),
            0
        );
        assert_eq!(
            public_count(AddrRange::of("203.0.113.0/28".parse().unwrap())),
            16
        );
        assert_eq!(
            public_count(AddrRange::of("::/0".parse().unwrap())),
            u128::MAX - (1u128 << 121) - (1u128 << 118) - 1
        );
    }

    #[test]
    fn cells_split_and_decide_addresses() {
        let accept = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "0.0.0.0/0", 100);
        let drop = rule(Verdict::Drop, Protocol::Tcp, tcp(22), "8.0.0.0/8", 1);
        let space = Space {
            direction: Direction::Ingress,
            nic_type: NicType::Intranet,
            protocol: Protocol::Tcp,
            ports: tcp(22),
            peer: "0.0.0.0/0".parse().unwrap(),
        };
        let cells = cells(&[&accept, &drop], &space, 100).unwrap();
        let summary: Vec<(String, Verdict)> = cells
            .iter()
            .map(|c| (c.addresses.to_cidrs()[0].to_string(), c.decision.verdict))
            .collect();
        assert_eq!(
            summary,
            [
                ("0.0.0.0/5".to_owned(), Verdict::Accept),
                ("8.0.0.0/8".to_owned(), Verdict::Drop),
                ("9.0.0.0/8".to_owned(), Verdict::Accept),
            ]
        );
        assert!(cells[0].matched_by(&accept, Direction::Ingress, NicType::Intranet));
        assert!(!cells[0].matched_by(&drop, Direction::Ingress, NicType::Intranet));
    }

    #[test]
    fn cells_of_all_protocols_cover_every_protocol_and_port() {
        let all = rule(
            Verdict::Accept,
            Protocol::All,
            PortRange::NotApplicable,
            "0.0.0.0/0",
            1,
        );
        let drop = rule(
            Verdict::Drop,
            Protocol::Tcp,
            PortRange::Range { from: 20, to: 30 },
            "0.0.0.0/0",
            1,
        );
        let space = Space {
            direction: Direction::Ingress,
            nic_type: NicType::Intranet,
            protocol: Protocol::All,
            ports: PortRange::NotApplicable,
            peer: "0.0.0.0/0".parse().unwrap(),
        };
        let cells = cells(&[&all, &drop], &space, 100).unwrap();
        // tcp: 1-19, 20-30 (dropped), 31-65535; udp; icmp; icmpv6; gre; other.
        assert_eq!(cells.len(), 8, "{cells:#?}");
        assert_eq!(
            cells
                .iter()
                .filter(|c| c.decision.verdict == Verdict::Drop)
                .count(),
            1
        );
        assert!(super::cells(&[&all, &drop], &space, 3).is_err());
    }

    #[test]
    fn ranges_become_the_fewest_cidrs() {
        let nets = |a: &str, b: &str| {
            let (a, b): (IpAddr, IpAddr) = (a.parse().unwrap(), b.parse().unwrap());
            let n = |x: IpAddr| match x {
                IpAddr::V4(v) => u128::from(u32::from(v)),
                IpAddr::V6(v) => u128::from(v),
            };
            AddrRange {
                v6: a.is_ipv6(),
                first: n(a),
                last: n(b),
            }
            .to_cidrs()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
        };
        assert_eq!(nets("0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(nets("10.0.0.0", "10.0.1.255"), ["10.0.0.0/23"]);
        assert_eq!(
            nets("10.0.0.1", "10.0.0.6"),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        assert_eq!(
            nets("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ["::/0"]
        );
        assert_eq!(nets("11.0.0.0", "11.255.255.255"), ["11.0.0.0/8"]);
    }

    #[test]
    fn one_split_over_two_rule_sets_decides_each() {
        // Before: SSH from everywhere. After: a drop of 8.0.0.0/8 in front.
        let accept = rule(Verdict::Accept, Protocol::Tcp, tcp(22), "0.0.0.0/0", 100);
        let drop = rule(Verdict::Drop, Protocol::Tcp, tcp(22), "8.0.0.0/8", 1);
        let space = Space {
            direction: Direction::Ingress,
            nic_type: NicType::Intranet,
            protocol: Protocol::Tcp,
            ports: tcp(22),
            peer: "0.0.0.0/0".parse().unwrap(),
        };
        let before = [&accept];
        let after = [&accept, &drop];
        let cells = cells(&[&accept, &drop], &space, 100).unwrap();
        let flips: Vec<(String, Verdict, Verdict)> = cells
            .iter()
            .map(|c| {
                let was = c.decide_against(before, Direction::Ingress, NicType::Intranet);
                let now = c.decide_against(after, Direction::Ingress, NicType::Intranet);
                // Against the rules it was split on, it agrees with `cells`.
                assert_eq!(now, c.decision);
                (
                    c.addresses.to_cidrs()[0].to_string(),
                    was.verdict,
                    now.verdict,
                )
            })
            .collect();
        assert_eq!(
            flips,
            [
                ("0.0.0.0/5".to_owned(), Verdict::Accept, Verdict::Accept),
                ("8.0.0.0/8".to_owned(), Verdict::Accept, Verdict::Drop),
                ("9.0.0.0/8".to_owned(), Verdict::Accept, Verdict::Accept),
            ]
        );
        // No rules: the direction's default.
        let d = cells[0].decide_against([], Direction::Egress, NicType::Intranet);
        assert_eq!((d.verdict, d.rule), (Verdict::Accept, None));
    }

    #[test]
    fn touches_only_rules_that_can_decide_the_space() {
        let space = Space {
            direction: Direction::Ingress,
            nic_type: NicType::Intranet,
            protocol: Protocol::Tcp,
            ports: tcp(22),
            peer: "10.0.0.0/8".parse().unwrap(),
        };
        let all = rule(
            Verdict::Drop,
            Protocol::All,
            PortRange::NotApplicable,
            "0.0.0.0/0",
            1,
        );
        assert!(space.touches(&all));
        assert!(space.touches(&rule(
            Verdict::Accept,
            Protocol::Tcp,
            PortRange::Range { from: 20, to: 30 },
            "10.1.0.0/16",
            1
        )));
        for other in [
            rule(Verdict::Accept, Protocol::Tcp, tcp(80), "10.0.0.0/8", 1),
            rule(Verdict::Accept, Protocol::Udp, tcp(22), "10.0.0.0/8", 1),
            rule(Verdict::Accept, Protocol::Tcp, tcp(22), "11.0.0.0/8", 1),
            rule(Verdict::Accept, Protocol::Tcp, tcp(22), "::/0", 1),
            rule(Verdict::Accept, Protocol::Tcp, tcp(22), "sg-bp1abc", 1),
        ] {
            assert!(!space.touches(&other), "{}", other.key);
        }
        let mut internet = all.clone();
        internet.key.nic_type = NicType::Internet;
        let mut egress = all.clone();
        egress.key.direction = Direction::Egress;
        // A drop the other end can get around by picking its source port.
        let mut sourced = all.clone();
        sourced.key.source_ports = Some(PortRange::single(1000));
        for other in [internet, egress, sourced] {
            assert!(!space.touches(&other), "{}", other.key);
        }
    }

    #[test]
    fn merge_joins_touching_ranges() {
        let r = |a, b| AddrRange {
            v6: false,
            first: a,
            last: b,
        };
        assert_eq!(
            merge(vec![r(5, 9), r(0, 4), r(20, 30), r(25, 26)]),
            [r(0, 9), r(20, 30)]
        );
    }
}
