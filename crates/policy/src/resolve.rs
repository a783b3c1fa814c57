//! Everything that needs all files at once: the global names of address sets
//! and services, groups that may be defined only once, the expansion of each
//! policy rule into atomic canonical rules, and protect selectors.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use crate::codes;
use crate::diag::Diagnostic;
use crate::document::{
    Located, NamedMap, OneOrMany, PeerRef, PeerSpec, PolicyFile, PolicyRuleDoc, ProtectDoc,
    SecurityGroupDoc, ServiceRef, ServiceSpec,
};
use crate::model::{
    DEFAULT_PRIORITY, DesiredRule, Direction, GroupPolicy, LintIgnore, NicType, Origin, Peer,
    PolicySet, ProtectSelector, Protocol, Rule, RuleKey, ServiceAtom, Verdict,
};
use crate::suggest::did_you_mean;
use crate::yaml::Pos;

/// Deepest chain of names referring to names (`a: [b]`, `b: [c]`, ...).
const MAX_NESTING: usize = 32;

/// One file after reading, with the path its origins name.
pub(crate) struct ReadFile {
    pub file: Arc<str>,
    pub doc: PolicyFile,
}

fn origin(file: &Arc<str>, pos: Pos) -> Origin {
    Origin {
        file: Arc::clone(file),
        line: pos.line,
        column: pos.column,
    }
}

fn error(
    diags: &mut Vec<Diagnostic>,
    origin: Origin,
    code: &'static str,
    message: impl Into<String>,
    hint: Option<String>,
) {
    let mut d = Diagnostic::error(origin, code, message);
    d.hint = hint;
    diags.push(d);
}

/// What an entry of an address set or service is: a literal, or a name.
trait ListEntry {
    type Out: Clone + Ord;
    fn split(&self) -> Result<Self::Out, &str>;
}

impl ListEntry for PeerSpec {
    type Out = Peer;
    fn split(&self) -> Result<Peer, &str> {
        match &self.0 {
            PeerRef::Peer(p) => Ok(p.clone()),
            PeerRef::Name(n) => Err(n),
        }
    }
}

impl ListEntry for ServiceSpec {
    type Out = ServiceAtom;
    fn split(&self) -> Result<ServiceAtom, &str> {
        match &self.0 {
            ServiceRef::Atom(a) => Ok(*a),
            ServiceRef::Name(n) => Err(n),
        }
    }
}

struct Def<E> {
    name: Arc<str>,
    file: Arc<str>,
    pos: Pos,
    entries: Vec<Located<E>>,
}

enum State<O> {
    Todo,
    Active,
    Done(Option<Arc<[O]>>),
}

/// The address sets or the services of all files, resolved to their
/// members.
struct Table<E: ListEntry> {
    /// `address set` or `service`.
    kind: &'static str,
    defs: Vec<Def<E>>,
    index: HashMap<Arc<str>, usize>,
    state: Vec<State<E::Out>>,
}

impl<E: ListEntry> Table<E> {
    fn new(kind: &'static str) -> Self {
        Table {
            kind,
            defs: Vec::new(),
            index: HashMap::new(),
            state: Vec::new(),
        }
    }

    fn define(
        &mut self,
        file: &Arc<str>,
        map: Option<NamedMap<Located<OneOrMany<Located<E>>>>>,
        diags: &mut Vec<Diagnostic>,
    ) {
        for (name, entries) in map.map(|m| m.0).unwrap_or_default() {
            let name_arc: Arc<str> = Arc::from(name.value.as_str());
            match self.index.entry(Arc::clone(&name_arc)) {
                Entry::Occupied(first) => {
                    let first = &self.defs[*first.get()];
                    error(
                        diags,
                        origin(file, name.pos),
                        codes::DUPLICATE_NAME,
                        format!("{} {:?} is defined twice", self.kind, name.value),
                        Some(format!(
                            "the first definition is at {}; names are shared by all files loaded together",
                            origin(&first.file, first.pos)
                        )),
                    );
                }
                Entry::Vacant(slot) => {
                    slot.insert(self.defs.len());
                    // A broken definition (already reported) resolves to
                    // nothing, silently.
                    let (entries, state) = match entries {
                        Some(e) => (e.value.0, State::Todo),
                        None => (Vec::new(), State::Done(None)),
                    };
                    self.defs.push(Def {
                        name: name_arc,
                        file: Arc::clone(file),
                        pos: name.pos,
                        entries,
                    });
                    self.state.push(state);
                }
            }
        }
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.iter().map(|d| &*d.name)
    }

    /// Resolves every definition, so that problems in unused ones are
    /// reported too.
    fn resolve_all(
        &mut self,
        other: &dyn Fn(&str) -> Option<&'static str>,
        diags: &mut Vec<Diagnostic>,
    ) {
        let mut stack = Vec::new();
        for i in 0..self.defs.len() {
            self.resolve(i, &mut stack, other, diags);
        }
    }

    fn resolve(
        &mut self,
        i: usize,
        stack: &mut Vec<usize>,
        other: &dyn Fn(&str) -> Option<&'static str>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Arc<[E::Out]>> {
        match &self.state[i] {
            State::Done(r) => return r.clone(),
            // The caller checks for a cycle before descending.
            State::Active => return None,
            State::Todo => {}
        }
        let file = Arc::clone(&self.defs[i].file);
        if stack.len() >= MAX_NESTING {
            error(
                diags,
                origin(&file, self.defs[i].pos),
                codes::NAME_CYCLE,
                format!(
                    "{} {:?} nests names more than {MAX_NESTING} levels deep",
                    self.kind, &*self.defs[i].name
                ),
                Some("flatten the chain of names".to_owned()),
            );
            self.state[i] = State::Done(None);
            return None;
        }
        self.state[i] = State::Active;
        stack.push(i);
        let entries = std::mem::take(&mut self.defs[i].entries);
        let mut out = Vec::with_capacity(entries.len());
        let mut ok = true;
        for entry in &entries {
            match entry.value.split() {
                Ok(literal) => out.push(literal),
                Err(name) => match self.index.get(name).copied() {
                    None => {
                        self.unknown(name, origin(&file, entry.pos), other, diags);
                        ok = false;
                    }
                    Some(j) if matches!(self.state[j], State::Active) => {
                        let start = stack.iter().position(|k| *k == j).unwrap_or(0);
                        let mut path: Vec<&str> = stack[start..]
                            .iter()
                            .map(|k| &*self.defs[*k].name)
                            .collect();
                        path.push(&self.defs[j].name);
                        error(
                            diags,
                            origin(&file, entry.pos),
                            codes::NAME_CYCLE,
                            format!(
                                "{} {:?} refers to itself: {}",
                                self.kind,
                                &*self.defs[j].name,
                                path.join(" -> ")
                            ),
                            Some(format!(
                                "remove one of the references so the {}s form no loop",
                                self.kind
                            )),
                        );
                        ok = false;
                    }
                    Some(j) => match self.resolve(j, stack, other, diags) {
                        Some(members) => out.extend(members.iter().cloned()),
                        None => ok = false,
                    },
                },
            }
        }
        self.defs[i].entries = entries;
        stack.pop();
        out.sort();
        out.dedup();
        let result: Option<Arc<[E::Out]>> = ok.then(|| out.into());
        self.state[i] = State::Done(result.clone());
        result
    }

    fn unknown(
        &self,
        name: &str,
        at: Origin,
        other: &dyn Fn(&str) -> Option<&'static str>,
        diags: &mut Vec<Diagnostic>,
    ) {
        let hint = did_you_mean(name, self.names()).or_else(|| {
            other(name).map(|k| format!("{name:?} is {k}, not {}", article(self.kind)))
        });
        let hint = hint.or_else(|| {
            Some(match self.kind {
                "service" => {
                    "a service is protocol/port such as tcp/22, or a name defined under `services`"
                        .to_owned()
                }
                _ => "a peer is a CIDR, sg-..., pl-..., or a name defined under `addresses`"
                    .to_owned(),
            })
        });
        error(
            diags,
            at,
            codes::UNKNOWN_NAME,
            format!("unknown {} {name:?}", self.kind),
            hint,
        );
    }

    /// The members of `name`, reporting an unknown name at `at`. `None` when
    /// the name is unknown or its definition has errors (reported there).
    fn lookup(
        &self,
        name: &str,
        at: Origin,
        other: &dyn Fn(&str) -> Option<&'static str>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Resolved<E::Out>> {
        let Some(&i) = self.index.get(name) else {
            self.unknown(name, at, other, diags);
            return None;
        };
        match &self.state[i] {
            State::Done(Some(members)) => {
                Some((Arc::clone(&self.defs[i].name), Arc::clone(members)))
            }
            _ => None,
        }
    }
}

/// One member of an expanded list, with the name it was written with and
/// where.
struct Member<O> {
    value: O,
    name: Option<Arc<str>>,
    pos: Pos,
}

/// A resolved name: the name itself (shared) and its members.
type Resolved<O> = (Arc<str>, Arc<[O]>);

/// Expands entries of `allow`, `from`, `service:`... to members.
fn expand_entries<E: ListEntry>(
    entries: &[Located<E>],
    file: &Arc<str>,
    table: &Table<E>,
    other: &dyn Fn(&str) -> Option<&'static str>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<Member<E::Out>>> {
    let mut out = Vec::with_capacity(entries.len());
    let mut ok = true;
    for entry in entries {
        match entry.value.split() {
            Ok(value) => out.push(Member {
                value,
                name: None,
                pos: entry.pos,
            }),
            Err(name) => match table.lookup(name, origin(file, entry.pos), other, diags) {
                Some((name, members)) => out.extend(members.iter().map(|m| Member {
                    value: m.clone(),
                    name: Some(Arc::clone(&name)),
                    pos: entry.pos,
                })),
                None => ok = false,
            },
        }
    }
    ok.then_some(out)
}

/// Builds the policy set of all files read. Diagnostics go to `diags`; the
/// result is only meaningful when none of them is an error.
pub(crate) fn build(files: Vec<ReadFile>, diags: &mut Vec<Diagnostic>) -> PolicySet {
    let mut sets: Table<PeerSpec> = Table::new("address set");
    let mut services: Table<ServiceSpec> = Table::new("service");
    let mut groups_docs = Vec::new();
    let mut protect_docs = Vec::new();
    for ReadFile { file, doc } in files {
        sets.define(&file, doc.addresses, diags);
        services.define(&file, doc.services, diags);
        groups_docs.extend(
            doc.security_groups
                .unwrap_or_default()
                .into_iter()
                .map(|g| (Arc::clone(&file), g)),
        );
        protect_docs.extend(
            doc.protect
                .unwrap_or_default()
                .into_iter()
                .map(|p| (Arc::clone(&file), p)),
        );
    }
    let set_names: std::collections::HashSet<Arc<str>> = sets.index.keys().cloned().collect();
    let service_names: std::collections::HashSet<Arc<str>> =
        services.index.keys().cloned().collect();
    let is_service = |n: &str| service_names.contains(n).then_some("a service");
    let is_set = |n: &str| set_names.contains(n).then_some("an address set");
    sets.resolve_all(&is_service, diags);
    services.resolve_all(&is_set, diags);
    let names = Names {
        sets: &sets,
        services: &services,
        is_service: &is_service,
        is_set: &is_set,
    };

    let mut groups: Vec<GroupPolicy> = Vec::with_capacity(groups_docs.len());
    let mut group_origins: HashMap<String, Origin> = HashMap::with_capacity(groups_docs.len());
    for (file, g) in &groups_docs {
        let id = g.id.as_ref().map(|id| id.value.as_str());
        let rules = expand_group(g, id, file, &names, diags);
        let (Some(id), Some(region)) = (&g.id, &g.region) else {
            continue;
        };
        match group_origins.entry(id.value.clone()) {
            Entry::Occupied(first) => {
                error(
                    diags,
                    origin(file, id.pos),
                    codes::DUPLICATE_GROUP,
                    format!("security group {} is defined twice", id.value),
                    Some(format!(
                        "the first definition is at {}; a group may appear only once, in one file",
                        first.get()
                    )),
                );
            }
            Entry::Vacant(slot) => {
                slot.insert(origin(file, id.pos));
                groups.push(GroupPolicy {
                    id: id.value.clone(),
                    region: region.value.clone(),
                    name: g.name.as_ref().map(|n| n.value.0.clone()),
                    mode: g.mode.as_ref().map(|m| m.value).unwrap_or_default(),
                    group_type: None,
                    origin: origin(file, g.pos),
                    rules,
                });
            }
        }
    }
    groups.sort_by(|a, b| a.id.cmp(&b.id));

    let protect = protect_docs
        .iter()
        .filter_map(|(file, p)| protect_selector(p, file, &group_origins, &names, diags))
        .collect();
    PolicySet { groups, protect }
}

struct Names<'a> {
    sets: &'a Table<PeerSpec>,
    services: &'a Table<ServiceSpec>,
    is_service: &'a dyn Fn(&str) -> Option<&'static str>,
    is_set: &'a dyn Fn(&str) -> Option<&'static str>,
}

/// Expands the rules of one group, sorted by key with identities unique.
fn expand_group(
    g: &SecurityGroupDoc,
    group_id: Option<&str>,
    file: &Arc<str>,
    names: &Names<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<DesiredRule> {
    let mut out: Vec<DesiredRule> = Vec::new();
    let mut seen: HashMap<RuleKey, usize> = HashMap::new();
    for (direction, rules) in [
        (Direction::Ingress, &g.ingress),
        (Direction::Egress, &g.egress),
    ] {
        for rule in rules.iter().flatten() {
            expand_rule(
                rule, direction, group_id, file, names, &mut out, &mut seen, diags,
            );
        }
    }
    out.sort_by(|a, b| a.rule.key.cmp(&b.rule.key));
    out
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
fn expand_rule(
    rule: &PolicyRuleDoc,
    direction: Direction,
    group_id: Option<&str>,
    file: &Arc<str>,
    names: &Names<'_>,
    out: &mut Vec<DesiredRule>,
    seen: &mut HashMap<RuleKey, usize>,
    diags: &mut Vec<Diagnostic>,
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
    let services = expand_entries(&services.value.0, file, names.services, names.is_set, diags);
    let peers = peers
        .as_ref()
        .and_then(|p| expand_entries(&p.value.0, file, names.sets, names.is_service, diags));
    let (Some(services), Some(peers)) = (services, peers) else {
        return;
    };
    let nic_type = rule.nic_type.as_ref().map(|n| n.value).unwrap_or_default();
    let mut ok = true;
    for Member {
        value: peer,
        name: via,
        pos,
    } in &peers
    {
        if let (Peer::Group { id, .. }, Some(own)) = (peer, group_id)
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
    ok &= check_families(&services, &peers, file, diags);
    if !ok {
        return;
    }

    let rule_origin = origin(file, rule.pos);
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
    let priority = rule.priority.as_ref().map_or(DEFAULT_PRIORITY, |p| p.value);
    // Duplicates found for this rule, by the index of the rule that
    // produced the key first: one diagnostic per pair of rules.
    let mut duplicates: Vec<(usize, RuleKey, usize)> = Vec::new();
    out.reserve(services.len() * peers.len());
    for Member {
        value: service,
        name: service_name,
        ..
    } in &services
    {
        for Member {
            value: peer,
            name: peer_name,
            ..
        } in &peers
        {
            let key = RuleKey {
                direction,
                protocol: service.protocol,
                ports: service.ports,
                peer: peer.clone(),
                verdict,
                nic_type,
                source_ports: None,
                local: None,
            };
            match seen.entry(key) {
                Entry::Occupied(first) => {
                    let first_index = *first.get();
                    match duplicates.iter_mut().find(|d| d.0 == first_index) {
                        Some(d) => d.2 += 1,
                        None => duplicates.push((first_index, first.key().clone(), 0)),
                    }
                }
                Entry::Vacant(slot) => {
                    let key = slot.key().clone();
                    slot.insert(out.len());
                    out.push(DesiredRule {
                        rule: Rule {
                            key,
                            priority,
                            description: description.clone(),
                        },
                        origin: rule_origin.clone(),
                        service_name: service_name.clone(),
                        peer_name: peer_name.clone(),
                        protected: rule.protected.as_ref().is_some_and(|p| p.value),
                        expires: rule.expires.as_ref().map(|e| e.value.0),
                        lint_ignore: lint_ignore.clone(),
                    });
                }
            }
        }
    }
    for (first_index, key, more) in duplicates {
        let first = &out[first_index].origin;
        let more = match more {
            0 => String::new(),
            n => format!(" (and {n} more)"),
        };
        let (message, hint) = if *first == rule_origin {
            (
                format!("this rule produces `{key}` twice{more}"),
                "its services or address sets overlap; remove the overlap".to_owned(),
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

fn article(kind: &str) -> String {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {kind}")
    } else {
        format!("a {kind}")
    }
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
    diags: &mut Vec<Diagnostic>,
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
        let mismatched: Vec<&Member<Peer>> = peers.iter().filter(|p| wrong(&p.value)).collect();
        let Some(Member {
            value: peer,
            name: via,
            ..
        }) = mismatched.first().copied()
        else {
            continue;
        };
        let more = match mismatched.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
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

fn protect_selector(
    p: &ProtectDoc,
    file: &Arc<str>,
    groups: &HashMap<String, Origin>,
    names: &Names<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<ProtectSelector> {
    let mut ok = p.reason.is_some();
    if let Some(g) = &p.group
        && !groups.contains_key(&g.value)
    {
        let hint = did_you_mean(&g.value, groups.keys().map(String::as_str)).or_else(|| {
            Some("a selector protects rules of groups that the loaded policies manage".to_owned())
        });
        error(
            diags,
            origin(file, g.pos),
            codes::PROTECT_UNKNOWN_GROUP,
            format!(
                "protect names the group {}, which no loaded policy defines",
                g.value
            ),
            hint,
        );
        ok = false;
    }
    let services = match &p.service {
        Some(s) => {
            let r = expand_entries(&s.value.0, file, names.services, names.is_set, diags);
            ok &= r.is_some();
            r.map(|v| dedup(v.into_iter().map(|m| m.value).collect()))
        }
        None => None,
    };
    let peers = match &p.peer {
        Some(s) => {
            let r = expand_entries(&s.value.0, file, names.sets, names.is_service, diags);
            ok &= r.is_some();
            r.map(|v| dedup(v.into_iter().map(|m| m.value).collect()))
        }
        None => None,
    };
    if !ok {
        return None;
    }
    Some(ProtectSelector {
        reason: p.reason.as_ref()?.value.0.clone(),
        origin: origin(file, p.pos),
        group: p.group.as_ref().map(|g| g.value.clone()),
        direction: p.direction.as_ref().map(|d| d.value),
        services,
        peers,
        description_prefix: p.description_prefix.as_ref().map(|d| d.value.0.clone()),
    })
}

fn dedup<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}
