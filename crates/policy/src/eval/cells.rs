//! Cells: splitting a block of flows into parts on which every rule applies
//! fully or not at all, so that a few decisions answer for all of them.

use ipnet::IpNet;

use super::addr::AddrRange;
use super::flow::{Decision, Defaults, evaluation_order, protocol_matches};
use crate::model::{Direction, NicType, PortRange, Protocol, Rule, Verdict};

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
        self.decide_against_under(rules, direction, nic_type, Defaults::BASIC)
    }

    /// [`Cell::decide_against`] with the defaults of a group type (or of an
    /// interface's groups) instead of a basic group's.
    pub fn decide_against_under<'r>(
        &self,
        rules: impl IntoIterator<Item = &'r Rule>,
        direction: Direction,
        nic_type: NicType,
        defaults: Defaults,
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
            None => Decision::default_under(defaults, direction),
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
///
/// A cell no rule decides gets a basic group's default; [`cells_under`]
/// takes the defaults of another group type.
pub fn cells<'a>(
    rules: &[&'a Rule],
    space: &Space,
    limit: usize,
) -> Result<Vec<Cell<'a>>, TooManyCells> {
    cells_under(rules, space, limit, Defaults::BASIC)
}

/// [`cells`] with `defaults` deciding the cells no rule matches. To split
/// the flows of an interface, give the rules of all its groups together and
/// the defaults of their type ([`super::Interface::defaults`]): the
/// combined evaluation orders them exactly like one group's.
pub fn cells_under<'a>(
    rules: &[&'a Rule],
    space: &Space,
    limit: usize,
    defaults: Defaults,
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
                    Decision::default_under(defaults, space.direction),
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
