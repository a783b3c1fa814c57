//! Expanding policy rules into atomic canonical rules: the cartesian product
//! of a rule's services and peers, checked (self references, nic types,
//! ICMP families, duplicate identities) and bounded.
//!
//! The size of a rule's product is computed from the sizes of its resolved
//! names before anything is materialised, so a short policy that would
//! expand to millions of rules is refused at the rule that crosses a limit
//! instead of being built. The limits sit far above what ECS accepts (1,000
//! rules across the groups of one network interface; lint reports those
//! quotas) and far below what would strain memory: see `docs/policy.md`,
//! "Limits".

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use crate::codes;
use crate::diag::Sink;
use crate::document::{Located, PeerSpec, PolicyRuleDoc, ServiceSpec};
use crate::model::{
    DEFAULT_PRIORITY, DesiredRule, Direction, LintIgnore, NicType, Origin, Peer, Protocol, Rule,
    RuleKey, ServiceAtom, Verdict,
};
use crate::names::{ListEntry, OtherKind, Table, error, origin, thousands};
use crate::yaml::Pos;

/// Expanded ECS rules one group may hold: ten times what one network
/// interface may carry across all its groups.
pub(crate) const MAX_GROUP_RULES: usize = 10_000;
/// Expanded ECS rules of all groups loaded together.
pub(crate) const MAX_RULES: usize = 1_000_000;
/// Bytes of text the expanded rules may hold in all: each ECS rule holds its
/// own copy of its policy rule's description and `lint_ignore` reason.
pub(crate) const MAX_COPIED_TEXT: usize = 256 * 1024 * 1024;
/// What one `lint_ignore` code costs in a copy (the string and its
/// allocation), counted against [`MAX_COPIED_TEXT`].
const LINT_CODE_BYTES: usize = 32;

/// The names every rule may use.
pub(crate) struct Names<'a> {
    pub sets: &'a Table<PeerSpec>,
    pub services: &'a Table<ServiceSpec>,
    pub is_service: OtherKind<'a>,
    pub is_set: OtherKind<'a>,
    /// The template each template rule is written in, by the rule's origin.
    pub templates: &'a HashMap<Origin, Arc<str>>,
}

/// One policy rule of a group, its own or from a template, with the file it
/// is written in.
#[derive(Clone, Copy)]
pub(crate) struct RuleRef<'a> {
    pub file: &'a Arc<str>,
    pub direction: Direction,
    pub rule: &'a PolicyRuleDoc,
}

/// What the groups expanded so far have used of the load-wide limits.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    rules: usize,
    text: usize,
    /// A load-wide limit was reached and reported: nothing more expands.
    exhausted: bool,
}

impl Budget {
    /// Adds what a group expanded against a budget of its own used, if that
    /// keeps within the load-wide limits; then the group's expansion is
    /// exactly what it would have been against this budget (every check
    /// it passed passes with the larger total too). False, with nothing
    /// added, otherwise: the group must be expanded again against this one.
    pub fn absorb(&mut self, group: &Budget) -> bool {
        let rules = self.rules.saturating_add(group.rules);
        let text = self.text.saturating_add(group.text);
        if self.exhausted || group.exhausted || rules > MAX_RULES || text > MAX_COPIED_TEXT {
            return false;
        }
        self.rules = rules;
        self.text = text;
        true
    }
}

/// The hash of rule identities: identities are hashed once per expanded
/// rule, and the standard hasher took a third of the expansion's time.
/// Seeded at random per map like the standard one.
type KeyHasher = foldhash::quality::RandomState;

/// An entry of a rule's list with its name looked up: a literal, or the
/// members of a name.
pub(crate) enum Part<O> {
    Literal(O, Pos),
    Named(Arc<str>, Arc<[O]>, Pos),
}

/// Looks up the names among `entries`, reporting unknown ones. `None` when
/// one is unknown or broken.
pub(crate) fn parts<E: ListEntry>(
    entries: &[Located<E>],
    file: &Arc<str>,
    table: &Table<E>,
    other: OtherKind<'_>,
    diags: &mut Sink,
) -> Option<Vec<Part<E::Out>>> {
    let mut out = Vec::with_capacity(entries.len());
    let mut ok = true;
    for entry in entries {
        match entry.value.split() {
            Ok(value) => out.push(Part::Literal(value, entry.pos)),
            Err(name) => match table.lookup(name, origin(file, entry.pos), other, diags) {
                Some((name, members)) => out.push(Part::Named(name, members, entry.pos)),
                None => ok = false,
            },
        }
    }
    ok.then_some(out)
}

/// How many members `parts` expand to, without expanding them.
pub(crate) fn count<O>(parts: &[Part<O>]) -> usize {
    parts.iter().fold(0usize, |n, p| {
        n.saturating_add(match p {
            Part::Literal(..) => 1,
            Part::Named(_, members, _) => members.len(),
        })
    })
}

/// One member of an expanded list, with the name it was written with and
/// where.
pub(crate) struct Member<O> {
    pub value: O,
    pub name: Option<Arc<str>>,
    pub pos: Pos,
}

/// Expands `parts` to their members, in the order written.
pub(crate) fn members<O: Clone>(parts: &[Part<O>]) -> Vec<Member<O>> {
    let mut out = Vec::with_capacity(count(parts));
    for part in parts {
        match part {
            Part::Literal(value, pos) => out.push(Member {
                value: value.clone(),
                name: None,
                pos: *pos,
            }),
            Part::Named(name, values, pos) => out.extend(values.iter().map(|v| Member {
                value: v.clone(),
                name: Some(Arc::clone(name)),
                pos: *pos,
            })),
        }
    }
    out
}

/// One group's rules as the expansion goes.
struct Group<'a> {
    id: Option<&'a str>,
    out: Vec<DesiredRule>,
    /// The index in `out` of the rule that produced each identity first.
    seen: HashMap<RuleKey, usize, KeyHasher>,
    /// The group's limit was reached and reported: nothing more expands.
    full: bool,
}

/// Expands the rules of one group, sorted by key with identities unique.
pub(crate) fn expand_group(
    rules: &[RuleRef<'_>],
    group_id: Option<&str>,
    names: &Names<'_>,
    budget: &mut Budget,
    diags: &mut Sink,
) -> Vec<DesiredRule> {
    let mut g = Group {
        id: group_id,
        out: Vec::new(),
        seen: HashMap::default(),
        full: false,
    };
    for r in rules {
        expand_rule(&mut g, r.file, r.rule, r.direction, names, budget, diags);
    }
    let mut out = g.out;
    // Identities are unique, so an unstable sort gives the one order.
    out.sort_unstable_by(|a, b| a.rule.key.cmp(&b.rule.key));
    out.shrink_to_fit();
    out
}

fn expand_rule(
    g: &mut Group<'_>,
    file: &Arc<str>,
    rule: &PolicyRuleDoc,
    direction: Direction,
    names: &Names<'_>,
    budget: &mut Budget,
    diags: &mut Sink,
) {
    let (verdict, services) = match (&rule.allow, &rule.deny) {
        (Some(s), None) => (Verdict::Accept, s),
        (None, Some(s)) => (Verdict::Drop, s),
        // Both, neither, or unreadable: reported while reading.
        _ => return,
    };
    let peers = match direction {
        Direction::Ingress => &rule.from,
        Direction::Egress => &rule.to,
    };
    let services = parts(&services.value.0, file, names.services, names.is_set, diags);
    let peers = peers
        .as_ref()
        .and_then(|p| parts(&p.value.0, file, names.sets, names.is_service, diags));
    let (Some(services), Some(peers)) = (services, peers) else {
        return;
    };
    if g.full || budget.exhausted {
        return;
    }
    let rule_origin = origin(file, rule.pos);
    let (n_services, n_peers) = (count(&services), count(&peers));
    let product = n_services.saturating_mul(n_peers);
    if g.out.len().saturating_add(product) > MAX_GROUP_RULES {
        let group = g.id.map_or_else(
            || "the group".to_owned(),
            |id| format!("security group {id}"),
        );
        error(
            diags,
            rule_origin,
            codes::EXPANSION_LIMIT,
            format!(
                "this rule expands to {} ECS rules ({} services x {} peers), taking {group} past {} rules",
                thousands(product),
                thousands(n_services),
                thousands(n_peers),
                thousands(MAX_GROUP_RULES)
            ),
            Some(
                "ECS allows at most 1,000 rules across the groups of one network interface; \
                 name fewer services or peers, or use a prefix list (pl-...) for a long list of addresses"
                    .to_owned(),
            ),
        );
        g.full = true;
        return;
    }
    if budget.rules.saturating_add(product) > MAX_RULES {
        error(
            diags,
            rule_origin,
            codes::EXPANSION_LIMIT,
            format!(
                "the policies loaded together expand to more than {} ECS rules with this rule",
                thousands(MAX_RULES)
            ),
            Some("check the files of fewer groups at a time".to_owned()),
        );
        budget.exhausted = true;
        return;
    }
    let lint_ignore = match (&rule.lint_ignore, &rule.reason) {
        (Some(codes), Some(reason)) => Some(LintIgnore {
            codes: codes.value.iter().map(|c| c.value.0.clone()).collect(),
            reason: reason.value.0.clone(),
        }),
        _ => None,
    };
    let description = rule
        .description
        .as_ref()
        .map(|d| d.value.0.clone())
        .unwrap_or_default();
    let text_per_rule = description.len()
        + lint_ignore
            .as_ref()
            .map_or(0, |li| li.reason.len() + li.codes.len() * LINT_CODE_BYTES);
    let text = text_per_rule.saturating_mul(product);
    if budget.text.saturating_add(text) > MAX_COPIED_TEXT {
        error(
            diags,
            rule_origin,
            codes::EXPANSION_LIMIT,
            format!(
                "the expanded rules' descriptions and reasons take more than {} MiB with this rule",
                MAX_COPIED_TEXT >> 20
            ),
            Some(
                "every ECS rule holds its own copy of its description; shorten it, or name fewer \
                 services or peers in the rule"
                    .to_owned(),
            ),
        );
        budget.exhausted = true;
        return;
    }
    budget.rules += product;
    budget.text += text;

    let services = members(&services);
    let peers = members(&peers);
    let nic_type = rule.nic_type.as_ref().map(|n| n.value).unwrap_or_default();
    let mut ok = check_peers(g, file, rule, nic_type, &peers, diags);
    ok &= check_families(&services, &peers, file, diags);
    if !ok {
        return;
    }

    let priority = rule.priority.as_ref().map_or(DEFAULT_PRIORITY, |p| p.value);
    // Duplicates found for this rule, by the index of the rule that
    // produced the key first: one diagnostic per pair of policy rules.
    let mut duplicates: Vec<(usize, RuleKey, usize)> = Vec::new();
    let mut duplicate_of: HashMap<usize, usize> = HashMap::new();
    g.out.reserve(product);
    g.seen.reserve(product);
    for service in &services {
        for peer in &peers {
            let key = RuleKey {
                direction,
                protocol: service.value.protocol,
                ports: service.value.ports,
                peer: peer.value.clone(),
                verdict,
                nic_type,
                source_ports: None,
                local: None,
            };
            match g.seen.entry(key) {
                Entry::Occupied(first) => {
                    let first_index = *first.get();
                    match duplicate_of.entry(first_index) {
                        Entry::Occupied(d) => duplicates[*d.get()].2 += 1,
                        Entry::Vacant(d) => {
                            d.insert(duplicates.len());
                            duplicates.push((first_index, first.key().clone(), 0));
                        }
                    }
                }
                Entry::Vacant(slot) => {
                    let key = slot.key().clone();
                    slot.insert(g.out.len());
                    g.out.push(DesiredRule {
                        rule: Rule {
                            key,
                            priority,
                            description: description.clone(),
                        },
                        origin: rule_origin.clone(),
                        service_name: service.name.clone(),
                        peer_name: peer.name.clone(),
                        protected: rule.protected.as_ref().is_some_and(|p| p.value),
                        expires: rule.expires.as_ref().map(|e| e.value.0),
                        lint_ignore: lint_ignore.clone(),
                    });
                }
            }
        }
    }
    for (first_index, key, more) in duplicates {
        let first = &g.out[first_index].origin;
        let more = match more {
            0 => String::new(),
            n => format!(" (and {n} more)"),
        };
        let first_template = names.templates.get(first);
        let this_template = names.templates.get(&rule_origin);
        let (message, hint) = if *first == rule_origin {
            (
                format!("this rule produces `{key}` twice{more}"),
                "its services or address sets overlap; remove the overlap".to_owned(),
            )
        } else if first_template.is_some() || this_template.is_some() {
            // A template's rule is expanded once for every group using it:
            // name the group, and the template of the first rule.
            let group = g.id.map_or_else(
                || "the group".to_owned(),
                |id| format!("security group {id}"),
            );
            (
                format!("duplicate rule `{key}`{more} in {group}"),
                format!(
                    "the rule at {first}{} already produces it; ECS keeps one rule per identity{}",
                    first_template
                        .map(|t| format!(" (template {t})"))
                        .unwrap_or_default(),
                    if this_template.is_some() {
                        ""
                    } else {
                        ", so the group need not repeat a rule of its templates"
                    }
                ),
            )
        } else {
            (
                format!("duplicate rule `{key}`{more}"),
                format!("the rule at {first} already produces it; ECS keeps one rule per identity"),
            )
        };
        error(
            diags,
            rule_origin.clone(),
            codes::DUPLICATE_RULE,
            message,
            Some(hint),
        );
    }
}

/// A group's own id as a peer, and `nic_type: internet` with a peer that is
/// not a CIDR, are refused by ECS.
fn check_peers(
    g: &Group<'_>,
    file: &Arc<str>,
    rule: &PolicyRuleDoc,
    nic_type: NicType,
    peers: &[Member<Peer>],
    diags: &mut Sink,
) -> bool {
    let mut ok = true;
    for Member {
        value: peer,
        name: via,
        pos,
    } in peers
    {
        if let (Peer::Group { id, .. }, Some(own)) = (peer, g.id)
            && id == own
        {
            error(
                diags,
                origin(file, *pos),
                codes::SELF_REFERENCE,
                format!("the rule's peer is its own group {id}{}", via_text(via)),
                Some("ECS refuses a group as its own peer; members of a group reach each other by the group's internal policy".to_owned()),
            );
            ok = false;
        }
        if nic_type == NicType::Internet && !matches!(peer, Peer::Cidr { .. }) {
            let at = rule.nic_type.as_ref().map_or(*pos, |n| n.pos);
            error(
                diags,
                origin(file, at),
                codes::NIC_TYPE_PEER,
                format!("`nic_type: internet` with the peer {peer}{}", via_text(via)),
                Some("rules whose peer is a group or prefix list use the intranet nic type; remove nic_type".to_owned()),
            );
            ok = false;
        }
    }
    ok
}

fn via_text(via: &Option<Arc<str>>) -> String {
    via.as_ref()
        .map(|n| format!(" (from address set {n:?})"))
        .unwrap_or_default()
}

/// `icmp` is IPv4 only and `icmpv6` IPv6 only; ECS refuses the mix.
fn check_families(
    services: &[Member<ServiceAtom>],
    peers: &[Member<Peer>],
    file: &Arc<str>,
    diags: &mut Sink,
) -> bool {
    let mut ok = true;
    for (protocol, wrong, family, right) in [
        (
            Protocol::Icmp,
            Peer::is_ipv6 as fn(&Peer) -> bool,
            "IPv6",
            "icmpv6",
        ),
        (
            Protocol::Icmpv6,
            Peer::is_ipv4 as fn(&Peer) -> bool,
            "IPv4",
            "icmp",
        ),
    ] {
        let Some(Member {
            name: service_name,
            pos: service_pos,
            ..
        }) = services.iter().find(|s| s.value.protocol == protocol)
        else {
            continue;
        };
        let mut mismatched = peers.iter().filter(|p| wrong(&p.value));
        let Some(Member {
            value: peer,
            name: via,
            ..
        }) = mismatched.next()
        else {
            continue;
        };
        let more = match mismatched.count() {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        let service = service_name
            .as_ref()
            .map(|n| format!("{protocol} (from service {n:?})"))
            .unwrap_or_else(|| protocol.to_string());
        error(
            diags,
            origin(file, *service_pos),
            codes::FAMILY_MISMATCH,
            format!(
                "{service} cannot apply to the {family} peer {peer}{}{more}",
                via_text(via)
            ),
            Some(format!(
                "use {right} for {family} peers: split the rule by address family"
            )),
        );
        ok = false;
    }
    ok
}
