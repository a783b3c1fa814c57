//! Exposure notes: what each change does to effective reachability.
//!
//! For every change the flows its rule covers (protocol, ports, addresses)
//! are split into cells on which every rule of the group either applies
//! fully or not at all. Each cell is decided twice under ECS evaluation
//! (the matching rule with the lowest priority number wins, and at equal
//! priority drop beats accept; with no matching rule ingress is denied and
//! egress allowed): once against the live rules and once against the live
//! rules with the whole plan applied. Cells whose verdict flips become
//! "opens" / "closes" notes; a change that flips nothing gets a "no effect"
//! note naming the rule that decides instead.
//!
//! Rules whose peer is a security group or a prefix list cover addresses
//! moat cannot see, so they take no part in deciding an address, and a
//! change of such a rule gets an "effect unknown" note.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use moat_policy::{Direction, LiveGroup, Peer, PortRange, Protocol, Rule, RuleKey, Verdict};

use crate::plan::{Action, Change, Exposure, ExposureKind, GroupPlan, Reason};

/// Above this many cells a change is summarised as not computed rather than
/// slowing the plan down; it takes a rule overlapping hundreds of others.
const MAX_CELLS: usize = 20_000;
/// How many address blocks and port groups a note lists before "and N more".
const MAX_LISTED: usize = 4;

/// Adds exposure notes to every change of `plan`, computed against `live`.
pub(crate) fn annotate(plan: &mut GroupPlan, live: &LiveGroup) {
    if plan.changes.is_empty() {
        return;
    }
    let before: Vec<&Rule> = live.rules.iter().map(|r| &r.rule).collect();
    let after_owned = planned_rules(plan, live);
    let after: Vec<&Rule> = after_owned.iter().collect();
    for change in &mut plan.changes {
        change.exposure = notes_for(change, &before, &after);
    }
}

/// The live rules with the plan's changes applied, as apply would leave them.
fn planned_rules(plan: &GroupPlan, live: &LiveGroup) -> Vec<Rule> {
    let mut by_id: BTreeMap<&str, Option<&Change>> = BTreeMap::new();
    for c in &plan.changes {
        for id in &c.live_ids {
            by_id.insert(id, Some(c));
        }
    }
    let mut rules = Vec::with_capacity(live.rules.len() + plan.changes.len());
    for lr in &live.rules {
        match by_id.get(lr.id.as_str()) {
            Some(Some(c)) if c.action == Action::Remove => {}
            Some(Some(c)) => {
                let mut r = lr.rule.clone();
                if let Some(a) = &c.after {
                    r.priority = a.priority;
                    r.description = a.description.clone();
                }
                rules.push(r);
            }
            _ => rules.push(lr.rule.clone()),
        }
    }
    for c in plan.changes.iter().filter(|c| c.action == Action::Add) {
        if let Some(a) = &c.after {
            rules.push(Rule {
                key: c.key.clone(),
                priority: a.priority,
                description: a.description.clone(),
            });
        }
    }
    rules
}

fn notes_for(change: &Change, before: &[&Rule], after: &[&Rule]) -> Vec<Exposure> {
    // A description does not take part in evaluation.
    if change.action == Action::Change && !change.reasons.contains(&Reason::PriorityDiffers) {
        return Vec::new();
    }
    let key = &change.key;
    let Some(region) = key.peer.as_cidr() else {
        return vec![unknown_peer(change)];
    };
    // Only rules that overlap the change's flows can decide any of them.
    let before = &overlapping(before, key, region);
    let after = &overlapping(after, key, region);
    let cells = match cells_of(key, region, before, after) {
        Some(cells) => cells,
        None => {
            return vec![Exposure {
                kind: ExposureKind::Unknown,
                note: "effect not computed: the rule overlaps too many others".to_owned(),
            }];
        }
    };
    let mut opened: Vec<&Cell> = Vec::new();
    let mut closed: Vec<&Cell> = Vec::new();
    for cell in &cells {
        let was = decide(before, key.direction, cell).verdict;
        let now = decide(after, key.direction, cell).verdict;
        match (was, now) {
            (Verdict::Drop, Verdict::Accept) => opened.push(cell),
            (Verdict::Accept, Verdict::Drop) => closed.push(cell),
            _ => {}
        }
    }
    let mut notes = Vec::new();
    let word = key.direction.peer_word();
    if !opened.is_empty() {
        let public = key.direction == Direction::Ingress && opened.iter().any(|c| c.is_public());
        for (service, addresses) in summarise(&opened) {
            notes.push(if public {
                Exposure {
                    kind: ExposureKind::NewPublicExposure,
                    note: format!("new public exposure: {service} {word} {addresses}"),
                }
            } else {
                Exposure {
                    kind: ExposureKind::Opens,
                    note: format!("opens {service} {word} {addresses}"),
                }
            });
        }
    }
    if !closed.is_empty() {
        let word = match key.direction {
            Direction::Ingress => "for",
            Direction::Egress => "to",
        };
        for (service, addresses) in summarise(&closed) {
            notes.push(Exposure {
                kind: ExposureKind::Closes,
                note: format!("closes {service} {word} {addresses}"),
            });
        }
    }
    if notes.is_empty()
        && let Some(first) = cells.first()
    {
        notes.push(no_effect(change, before, after, first));
    }
    notes
}

/// The rules of `rules` that share at least one flow with `key` on `region`.
fn overlapping<'a>(rules: &[&'a Rule], key: &RuleKey, region: IpNet) -> Vec<&'a Rule> {
    let (lo, hi) = bounds(region);
    let (plo, phi) = port_bounds(key.ports);
    rules
        .iter()
        .copied()
        .filter(|r| {
            let k = &r.key;
            if k.direction != key.direction {
                return false;
            }
            let protocols_meet = k.protocol == Protocol::All
                || key.protocol == Protocol::All
                || k.protocol == key.protocol;
            let ports_meet = !(k.protocol.takes_ports() && key.protocol.takes_ports()) || {
                let (a, b) = port_bounds(k.ports);
                a <= phi && plo <= b
            };
            let addresses_meet = k.peer.as_cidr().is_some_and(|net| {
                let (a, b) = bounds(net);
                matches!(net, IpNet::V6(_)) == matches!(region, IpNet::V6(_)) && a <= hi && lo <= b
            });
            protocols_meet && ports_meet && addresses_meet
        })
        .collect()
}

fn unknown_peer(change: &Change) -> Exposure {
    let key = &change.key;
    let peer = match &key.peer {
        Peer::Group { .. } => format!("security group {}", key.peer),
        Peer::PrefixList { id } => format!("prefix list {id}"),
        Peer::Cidr { cidr } => cidr.to_string(),
    };
    let verb = match (change.action, key.verdict) {
        (Action::Add, Verdict::Accept) | (Action::Remove, Verdict::Drop) => "opens",
        (Action::Add, Verdict::Drop) | (Action::Remove, Verdict::Accept) => "closes",
        (Action::Change, _) => "reorders",
    };
    let word = match (verb, key.direction) {
        ("closes", Direction::Ingress) => "for",
        _ => key.direction.peer_word(),
    };
    Exposure {
        kind: ExposureKind::Unknown,
        note: format!(
            "{verb} {} {word} {peer}; its addresses are not known to moat, so shadowing is not checked",
            key.service()
        ),
    }
}

fn no_effect(change: &Change, before: &[&Rule], after: &[&Rule], cell: &Cell) -> Exposure {
    let key = &change.key;
    let now = decide(after, key.direction, cell);
    let note = match change.action {
        Action::Remove => format!("no effect: still {} {}", verb(now.verdict), by(&now)),
        _ if now.rule.is_some_and(|r| r.key != *key) => {
            format!("no effect: shadowed {}", by(&now))
        }
        _ => {
            let was = decide(before, key.direction, cell);
            let was = if was.rule.is_some_and(|r| r.key == *key) {
                // The rule itself decided before (a priority change that
                // keeps it in front): reachability is unchanged.
                return Exposure {
                    kind: ExposureKind::NoEffect,
                    note: format!("no effect: still {} by this rule", verb(now.verdict)),
                };
            } else {
                was
            };
            format!("no effect: already {} {}", verb(was.verdict), by(&was))
        }
    };
    Exposure {
        kind: ExposureKind::NoEffect,
        note,
    }
}

fn verb(v: Verdict) -> &'static str {
    match v {
        Verdict::Accept => "allowed",
        Verdict::Drop => "denied",
    }
}

fn by(d: &Decision<'_>) -> String {
    match d.rule {
        Some(r) => format!(
            "by {} {} {} {} (priority {})",
            r.key.verdict,
            r.key.service(),
            r.key.direction.peer_word(),
            r.key.peer,
            r.priority
        ),
        None => "by default".to_owned(),
    }
}

/// The protocols a cell can have: the modelled ones and "any other", which
/// only `all` rules cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Proto {
    Known(Protocol),
    Other,
}

impl Proto {
    fn takes_ports(self) -> bool {
        matches!(self, Proto::Known(p) if p.takes_ports())
    }
}

/// A block of flows on which every rule applies fully or not at all.
#[derive(Clone, Debug)]
struct Cell {
    proto: Proto,
    /// Inclusive port interval (0..=0 for protocols without ports).
    ports: (u16, u16),
    v6: bool,
    /// Inclusive address interval.
    addrs: (u128, u128),
}

impl Cell {
    fn is_public(&self) -> bool {
        !within_private(self.v6, self.addrs)
    }
}

fn cells_of(key: &RuleKey, region: IpNet, before: &[&Rule], after: &[&Rule]) -> Option<Vec<Cell>> {
    let v6 = matches!(region, IpNet::V6(_));
    let (lo, hi) = bounds(region);
    let protos: Vec<Proto> = match key.protocol {
        Protocol::All => Protocol::ALL
            .into_iter()
            .filter(|p| *p != Protocol::All)
            .map(Proto::Known)
            .chain([Proto::Other])
            .collect(),
        p => vec![Proto::Known(p)],
    };
    let relevant: Vec<&Rule> = before
        .iter()
        .chain(after)
        .copied()
        .filter(|r| r.key.direction == key.direction)
        .collect();
    let mut cells = Vec::new();
    for proto in protos {
        let rules: Vec<&Rule> = relevant
            .iter()
            .copied()
            .filter(|r| proto_matches(r.key.protocol, proto))
            .collect();
        let port_cuts = if proto.takes_ports() {
            let (plo, phi) = port_bounds(key.ports);
            let mut cuts = vec![u32::from(plo)];
            for r in &rules {
                if let PortRange::Range { from, to } = r.key.ports {
                    cuts.push(u32::from(from));
                    cuts.push(u32::from(to) + 1);
                }
            }
            intervals(cuts, u32::from(plo), u32::from(phi))
        } else {
            vec![(0, 0)]
        };
        for (pf, pt) in port_cuts {
            let mut addr_cuts = vec![lo];
            for r in &rules {
                if let Some(net) = r.key.peer.as_cidr()
                    && matches!(net, IpNet::V6(_)) == v6
                    && port_bounds_covers(r.key.ports, proto, pf as u16)
                {
                    let (a, b) = bounds(net);
                    addr_cuts.push(a);
                    if let Some(next) = b.checked_add(1) {
                        addr_cuts.push(next);
                    }
                }
            }
            for addrs in intervals(addr_cuts, lo, hi) {
                cells.push(Cell {
                    proto,
                    ports: (pf as u16, pt as u16),
                    v6,
                    addrs,
                });
                if cells.len() > MAX_CELLS {
                    return None;
                }
            }
        }
    }
    Some(cells)
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

fn port_bounds(p: PortRange) -> (u16, u16) {
    match p {
        PortRange::NotApplicable => (1, 65535),
        PortRange::Range { from, to } => (from, to),
    }
}

fn port_bounds_covers(p: PortRange, proto: Proto, port: u16) -> bool {
    !proto.takes_ports() || p.contains(port)
}

fn proto_matches(rule: Protocol, proto: Proto) -> bool {
    match (rule, proto) {
        (Protocol::All, _) => true,
        (r, Proto::Known(p)) => r == p,
        (_, Proto::Other) => false,
    }
}

fn bounds(net: IpNet) -> (u128, u128) {
    match net {
        IpNet::V4(n) => (
            u128::from(u32::from(n.network())),
            u128::from(u32::from(n.broadcast())),
        ),
        IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
    }
}

/// The deciding rule for a cell (`None`: the default of the direction).
#[derive(Clone, Copy, Debug)]
struct Decision<'a> {
    verdict: Verdict,
    rule: Option<&'a Rule>,
}

fn decide<'a>(rules: &[&'a Rule], direction: Direction, cell: &Cell) -> Decision<'a> {
    let mut best: Option<&'a Rule> = None;
    for &r in rules {
        let k = &r.key;
        if k.direction != direction || !proto_matches(k.protocol, cell.proto) {
            continue;
        }
        if cell.proto.takes_ports() && !k.ports.contains(cell.ports.0) {
            continue;
        }
        let Some(net) = k.peer.as_cidr() else {
            continue;
        };
        if matches!(net, IpNet::V6(_)) != cell.v6 {
            continue;
        }
        let (a, b) = bounds(net);
        if cell.addrs.0 < a || cell.addrs.0 > b {
            continue;
        }
        // Lower priority number first; at equal priority drop wins; then the
        // smaller key, so the named rule is stable.
        let rank = |r: &'a Rule| (r.priority, r.key.verdict != Verdict::Drop, &r.key);
        if best.is_none_or(|b| rank(r) < rank(b)) {
            best = Some(r);
        }
    }
    match best {
        Some(r) => Decision {
            verdict: r.key.verdict,
            rule: Some(r),
        },
        None => Decision {
            verdict: match direction {
                Direction::Ingress => Verdict::Drop,
                Direction::Egress => Verdict::Accept,
            },
            rule: None,
        },
    }
}

/// Address intervals, each tagged IPv6 or not.
type AddrRanges = Vec<(bool, (u128, u128))>;

/// Groups cells into `(service, addresses)` phrases: addresses merged per
/// protocol and port interval, adjacent port intervals with the same
/// addresses merged, every protocol at full range shown as `all`.
fn summarise(cells: &[&Cell]) -> Vec<(String, String)> {
    let mut per_service: BTreeMap<(Proto, (u16, u16)), AddrRanges> = BTreeMap::new();
    for c in cells {
        per_service
            .entry((c.proto, c.ports))
            .or_default()
            .push((c.v6, c.addrs));
    }
    let mut merged: Vec<(Proto, (u16, u16), AddrRanges)> = Vec::new();
    for ((proto, ports), mut addrs) in per_service {
        addrs.sort_unstable();
        let addrs = merge_ranges(addrs);
        match merged.last_mut() {
            Some((p, (_, to), a))
                if *p == proto && u32::from(*to) + 1 == u32::from(ports.0) && *a == addrs =>
            {
                *to = ports.1;
            }
            _ => merged.push((proto, ports, addrs)),
        }
    }
    let every_protocol = merged.len() == Protocol::ALL.len()
        && merged.windows(2).all(|w| w[0].2 == w[1].2)
        && merged
            .iter()
            .all(|(p, ports, _)| !p.takes_ports() || *ports == (1, 65535));
    if every_protocol && let Some((_, _, addrs)) = merged.first() {
        return vec![("all".to_owned(), addresses(addrs))];
    }
    let mut out: Vec<(String, String)> = merged
        .iter()
        .map(|(proto, ports, addrs)| (service(*proto, *ports), addresses(addrs)))
        .collect();
    if out.len() > MAX_LISTED {
        let more = out.len() - MAX_LISTED;
        out.truncate(MAX_LISTED);
        if let Some(last) = out.last_mut() {
            last.1.push_str(&format!(" (and {more} more port ranges)"));
        }
    }
    out
}

fn merge_ranges(sorted: AddrRanges) -> AddrRanges {
    let mut out: AddrRanges = Vec::with_capacity(sorted.len());
    for (v6, (a, b)) in sorted {
        match out.last_mut() {
            Some((lv6, (_, lb))) if *lv6 == v6 && lb.checked_add(1) == Some(a) => *lb = b,
            _ => out.push((v6, (a, b))),
        }
    }
    out
}

fn service(proto: Proto, ports: (u16, u16)) -> String {
    match proto {
        Proto::Other => "other protocols".to_owned(),
        Proto::Known(p) if p.takes_ports() => {
            let range = PortRange::Range {
                from: ports.0,
                to: ports.1,
            };
            format!("{p}/{range}")
        }
        Proto::Known(p) => p.to_string(),
    }
}

fn addresses(ranges: &[(bool, (u128, u128))]) -> String {
    let nets: Vec<IpNet> = ranges
        .iter()
        .flat_map(|(v6, (a, b))| range_to_cidrs(*v6, *a, *b))
        .collect();
    let mut text: Vec<String> = nets
        .iter()
        .take(MAX_LISTED)
        .map(|n| n.to_string())
        .collect();
    if nets.len() > MAX_LISTED {
        text.push(format!("and {} more blocks", nets.len() - MAX_LISTED));
    }
    text.join(", ")
}

/// The fewest CIDR blocks that cover exactly `[a, b]`.
fn range_to_cidrs(v6: bool, a: u128, b: u128) -> Vec<IpNet> {
    let bits: u32 = if v6 { 128 } else { 32 };
    let mut out = Vec::new();
    let mut start = a;
    loop {
        // The largest block aligned at `start` that does not pass `b`.
        let mut size = if start == 0 {
            bits
        } else {
            start.trailing_zeros().min(bits)
        };
        while size > 0 && block_end(start, size).is_none_or(|end| end > b) {
            size -= 1;
        }
        out.push(to_net(v6, start, (bits - size) as u8));
        match block_end(start, size).and_then(|end| end.checked_add(1)) {
            Some(next) if next <= b => start = next,
            _ => break,
        }
    }
    out
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
        // The address came from a v4 network, so it fits in 32 bits.
        let v4 = Ipv4Addr::from(u32::try_from(addr).unwrap_or(u32::MAX));
        IpNet::V4(Ipv4Net::new_assert(v4, prefix))
    }
}

/// Private, shared, loopback and link-local ranges: addresses that are not
/// reachable from the internet.
fn private_ranges(v6: bool) -> Vec<(u128, u128)> {
    let nets: &[&str] = if v6 {
        &["::1/128", "fc00::/7", "fe80::/10"]
    } else {
        &[
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.168.0.0/16",
        ]
    };
    nets.iter()
        .filter_map(|n| n.parse::<IpNet>().ok())
        .map(bounds)
        .collect()
}

/// True when every address of `[a, b]` is in a private range.
fn within_private(v6: bool, (a, b): (u128, u128)) -> bool {
    let mut ranges = private_ranges(v6);
    ranges.sort_unstable();
    let mut next = a;
    for (lo, hi) in ranges {
        if lo <= next && next <= hi {
            if hi >= b {
                return true;
            }
            next = hi + 1;
        }
    }
    false
}

/// Used by tests: whether `addr` is public by the same definition.
#[cfg(test)]
fn is_public_addr(addr: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match addr {
        IpAddr::V4(a) => {
            !within_private(false, (u128::from(u32::from(a)), u128::from(u32::from(a))))
        }
        IpAddr::V6(a) => !within_private(true, (u128::from(a), u128::from(a))),
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn ranges_become_the_fewest_cidrs() {
        let nets = |v6, a: &str, b: &str| {
            let (a, b): (IpAddr, IpAddr) = (a.parse().unwrap(), b.parse().unwrap());
            let n = |x: IpAddr| match x {
                IpAddr::V4(v) => u128::from(u32::from(v)),
                IpAddr::V6(v) => u128::from(v),
            };
            range_to_cidrs(v6, n(a), n(b))
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(nets(false, "0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(nets(false, "10.0.0.0", "10.0.1.255"), ["10.0.0.0/23"]);
        assert_eq!(
            nets(false, "10.0.0.1", "10.0.0.6"),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        assert_eq!(
            nets(true, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ["::/0"]
        );
        assert_eq!(nets(false, "11.0.0.0", "11.255.255.255"), ["11.0.0.0/8"]);
    }

    #[test]
    fn private_ranges_are_not_public() {
        for a in [
            "10.1.2.3",
            "192.168.0.1",
            "172.31.255.255",
            "fd00::1",
            "100.64.0.1",
        ] {
            assert!(!is_public_addr(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "172.32.0.0", "2001:db8::1", "203.0.113.4"] {
            assert!(is_public_addr(a.parse().unwrap()), "{a}");
        }
        assert!(within_private(false, (0x0a00_0000, 0x0aff_ffff)));
        assert!(!within_private(false, (0x0a00_0000, 0x0b00_0000)));
    }
}
