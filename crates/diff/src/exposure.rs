//! Exposure notes: what each change does to effective reachability.
//!
//! The evaluation is the policy crate's ([`moat_policy::eval`]), the same
//! that lint and `moat explain` use; this module only asks it the right
//! questions and words the answers. For every change, the flows its rule
//! covers (a [`Space`]: direction, NIC type, protocol, ports, addresses) are
//! split by [`eval::cells`] over the rules that touch them before and after
//! the plan, so that every one of those rules applies to a cell fully or not
//! at all. Each cell is then decided twice ([`eval::Cell::decide_against`]):
//! against the live rules, and against the live rules with the whole plan
//! applied. Cells whose verdict flips become "opens" / "closes" notes (an
//! ingress opening that reaches any address outside eval's private ranges is
//! a "new public exposure"); a change that flips nothing gets a "no effect"
//! note naming the rule that decides instead.
//!
//! Rules whose peer is a security group or a prefix list cover addresses
//! moat cannot see, so they take no part in deciding an address, and a
//! change of such a rule gets an "effect unknown" note. Quintuple rules are
//! taken in eval's worst case (the other end picks its source port and the
//! address it talks to): an accept restricted that way counts as opening,
//! and a change of a drop restricted that way gets an "effect unknown" note,
//! since it closes nothing the other end cannot get around.

use std::collections::BTreeMap;

use moat_policy::eval::{self, AddrRange, Cell, Decision, Defaults, Space};
use moat_policy::{Direction, LiveGroup, Peer, PortRange, Protocol, Rule, ServiceAtom, Verdict};

use crate::plan::{Action, Change, Exposure, ExposureKind, GroupPlan, Reason};

/// Above this many cells a change is summarised as not computed rather than
/// slowing the plan down; it takes a rule overlapping hundreds of others.
const MAX_CELLS: usize = 20_000;
/// How many address blocks and port groups a note lists before "and N more".
const MAX_LISTED: usize = 4;

/// Adds exposure notes to every change of `plan`, computed against `live`,
/// with `defaults` (those of the group's type) deciding flows no rule
/// matches.
pub(crate) fn annotate(plan: &mut GroupPlan, live: &LiveGroup, defaults: Defaults) {
    if plan.changes.is_empty() {
        return;
    }
    let before: Vec<&Rule> = live.rules.iter().map(|r| &r.rule).collect();
    let after_owned = planned_rules(plan, live);
    let after: Vec<&Rule> = after_owned.iter().collect();
    for change in &mut plan.changes {
        change.exposure = notes_for(change, &before, &after, defaults);
    }
}

/// The live rules with the plan's changes applied, as apply would leave them.
fn planned_rules(plan: &GroupPlan, live: &LiveGroup) -> Vec<Rule> {
    let mut by_id: BTreeMap<&str, &Change> = BTreeMap::new();
    for c in &plan.changes {
        for id in &c.live_ids {
            by_id.insert(id, c);
        }
    }
    let mut rules = Vec::with_capacity(live.rules.len() + plan.changes.len());
    for lr in &live.rules {
        match by_id.get(lr.id.as_str()) {
            Some(c) if c.action == Action::Remove => {}
            Some(c) => {
                let mut r = lr.rule.clone();
                if let Some(a) = &c.after {
                    r.priority = a.priority;
                    r.description = a.description.clone();
                }
                rules.push(r);
            }
            None => rules.push(lr.rule.clone()),
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

/// The flows of one change and the rules that can decide any of them, before
/// and after the plan.
struct Scope<'r> {
    space: Space,
    before: Vec<&'r Rule>,
    after: Vec<&'r Rule>,
    defaults: Defaults,
}

impl<'r> Scope<'r> {
    fn was(&self, cell: &Cell<'_>) -> Decision<'r> {
        let s = &self.space;
        cell.decide_against_under(
            self.before.iter().copied(),
            s.direction,
            s.nic_type,
            self.defaults,
        )
    }

    fn now(&self, cell: &Cell<'_>) -> Decision<'r> {
        let s = &self.space;
        cell.decide_against_under(
            self.after.iter().copied(),
            s.direction,
            s.nic_type,
            self.defaults,
        )
    }
}

/// The exposure notes of `change`: what it does to the flows its rule
/// covers when `before` (the live rules) become `after` (the rules with
/// the plan applied), `defaults` deciding what no rule matches. The rules
/// may be those of several groups together (the groups of one interface).
pub fn exposure_notes<'r>(
    change: &Change,
    before: &[&'r Rule],
    after: &[&'r Rule],
    defaults: Defaults,
) -> Vec<Exposure> {
    notes_for(change, before, after, defaults)
}

fn notes_for<'r>(
    change: &Change,
    before: &[&'r Rule],
    after: &[&'r Rule],
    defaults: Defaults,
) -> Vec<Exposure> {
    // A description does not take part in evaluation.
    if matches!(change.action, Action::Change | Action::Replace)
        && !change.reasons.contains(&Reason::PriorityDiffers)
    {
        return Vec::new();
    }
    let key = &change.key;
    let Some(peer) = key.peer.as_cidr() else {
        return vec![unknown(
            change,
            "; its addresses are not known to moat, so shadowing is not checked",
        )];
    };
    if key.verdict == Verdict::Drop && (key.source_ports.is_some() || key.local.is_some()) {
        return vec![unknown(
            change,
            " only for the source ports or local address it names; the other end \
             can pick others, so the effect is not checked",
        )];
    }
    let space = Space {
        direction: key.direction,
        nic_type: key.nic_type,
        protocol: key.protocol,
        ports: key.ports,
        peer,
    };
    // Only rules that touch the change's flows can decide any of them.
    let touching = |rules: &[&'r Rule]| -> Vec<&'r Rule> {
        rules.iter().copied().filter(|r| space.touches(r)).collect()
    };
    let scope = Scope {
        before: touching(before),
        after: touching(after),
        space,
        defaults,
    };
    let both: Vec<&Rule> = scope.before.iter().chain(&scope.after).copied().collect();
    let Ok(cells) = eval::cells_under(&both, &scope.space, MAX_CELLS, defaults) else {
        return vec![Exposure {
            kind: ExposureKind::Unknown,
            note: "effect not computed: the rule overlaps too many others".to_owned(),
        }];
    };
    let mut opened: Vec<&Cell<'_>> = Vec::new();
    let mut closed: Vec<&Cell<'_>> = Vec::new();
    for cell in &cells {
        match (scope.was(cell).verdict, scope.now(cell).verdict) {
            (Verdict::Drop, Verdict::Accept) => opened.push(cell),
            (Verdict::Accept, Verdict::Drop) => closed.push(cell),
            _ => {}
        }
    }
    let mut notes = Vec::new();
    if !opened.is_empty() {
        let word = key.direction.peer_word();
        let public = key.direction == Direction::Ingress
            && opened
                .iter()
                .any(|c| !eval::public_parts(c.addresses).is_empty());
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
        let word = closes_word(key.direction);
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
        notes.push(no_effect(change, &scope, first));
    }
    notes
}

fn closes_word(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "for",
        Direction::Egress => "to",
    }
}

/// The note for a change whose effect moat does not check: what the rule
/// would do, then `why` it is not checked.
fn unknown(change: &Change, why: &str) -> Exposure {
    let key = &change.key;
    let peer = match &key.peer {
        Peer::Group { .. } => format!("security group {}", key.peer),
        Peer::PrefixList { id } => format!("prefix list {id}"),
        Peer::Cidr { cidr } => cidr.to_string(),
    };
    let verb = match (change.action, key.verdict) {
        (Action::Add, Verdict::Accept) | (Action::Remove, Verdict::Drop) => "opens",
        (Action::Add, Verdict::Drop) | (Action::Remove, Verdict::Accept) => "closes",
        (Action::Change | Action::Replace, _) => "reorders",
    };
    let word = match verb {
        "closes" => closes_word(key.direction),
        _ => key.direction.peer_word(),
    };
    Exposure {
        kind: ExposureKind::Unknown,
        note: format!("{verb} {} {word} {peer}{why}", key.service()),
    }
}

fn no_effect(change: &Change, scope: &Scope<'_>, cell: &Cell<'_>) -> Exposure {
    let key = &change.key;
    let now = scope.now(cell);
    let note = match change.action {
        Action::Remove => format!("no effect: still {} {}", verb(now.verdict), by(&now)),
        _ if now.rule.is_some_and(|r| r.key != *key) => {
            format!("no effect: shadowed {}", by(&now))
        }
        _ => {
            let was = scope.was(cell);
            if was.rule.is_some_and(|r| r.key == *key) {
                // The rule itself decided before (a priority change that
                // keeps it in front): reachability is unchanged.
                format!("no effect: still {} by this rule", verb(now.verdict))
            } else {
                format!("no effect: already {} {}", verb(was.verdict), by(&was))
            }
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

/// An inclusive port interval of a cell; `(0, 0)` for protocols without
/// ports.
fn port_span(p: PortRange) -> (u16, u16) {
    match p {
        PortRange::Range { from, to } => (from, to),
        PortRange::NotApplicable => (0, 0),
    }
}

/// Groups cells into `(service, addresses)` phrases: addresses merged per
/// protocol and port interval, adjacent port intervals with the same
/// addresses merged, every protocol at full range shown as `all`.
fn summarise(cells: &[&Cell<'_>]) -> Vec<(String, String)> {
    // Protocol order puts `All` (any other protocol) last.
    let mut per_service: BTreeMap<(Protocol, (u16, u16)), Vec<AddrRange>> = BTreeMap::new();
    for c in cells {
        per_service
            .entry((c.protocol, port_span(c.ports)))
            .or_default()
            .push(c.addresses);
    }
    let mut merged: Vec<(Protocol, (u16, u16), Vec<AddrRange>)> = Vec::new();
    for ((protocol, ports), addrs) in per_service {
        let addrs = eval::merge(addrs);
        match merged.last_mut() {
            Some((p, (_, to), a))
                if *p == protocol && u32::from(*to) + 1 == u32::from(ports.0) && *a == addrs =>
            {
                *to = ports.1;
            }
            _ => merged.push((protocol, ports, addrs)),
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
        .map(|(protocol, ports, addrs)| (service(*protocol, *ports), addresses(addrs)))
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

fn service(protocol: Protocol, (from, to): (u16, u16)) -> String {
    match protocol {
        Protocol::All => "other protocols".to_owned(),
        p if p.takes_ports() => ServiceAtom {
            protocol: p,
            ports: PortRange::Range { from, to },
        }
        .to_string(),
        p => p.to_string(),
    }
}

fn addresses(ranges: &[AddrRange]) -> String {
    let nets: Vec<String> = ranges
        .iter()
        .flat_map(|r| r.to_cidrs())
        .map(|n| n.to_string())
        .collect();
    let mut text: Vec<String> = nets.iter().take(MAX_LISTED).cloned().collect();
    if nets.len() > MAX_LISTED {
        text.push(format!("and {} more blocks", nets.len() - MAX_LISTED));
    }
    text.join(", ")
}
