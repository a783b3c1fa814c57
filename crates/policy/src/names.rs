//! The global names of address sets and services: definitions from all
//! files, duplicates, and resolution of each name to its members (cycles,
//! nesting depth, unknown names), within bounds that no input can push past.
//!
//! Resolution is depth first with an explicit stack, memoised: each
//! definition is resolved once, however many others use it, and a chain of
//! any length cannot overflow the call stack. How deep a definition nests is
//! measured from the literals up, so a chain too deep is found whatever the
//! order its links are written in.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use crate::codes;
use crate::diag::{Diagnostic, Sink};
use crate::document::{Located, NamedMap, OneOrMany, PeerRef, PeerSpec, ServiceRef, ServiceSpec};
use crate::model::{Origin, Peer, ServiceAtom};
use crate::suggest::did_you_mean;
use crate::yaml::Pos;

/// Deepest chain of names referring to names (`a: [b]`, `b: [c]`, ...): a
/// set of literals only is one level deep.
pub(crate) const MAX_NESTING: usize = 32;

/// Members the definitions of one kind (address sets, or services) may
/// resolve to in all, counting a member once for every definition it
/// belongs to directly or through nested names. A large address book holds
/// a few tens of thousands; the bound keeps a file of names referring to
/// big names from taking unbounded time and memory.
pub(crate) const MAX_RESOLVED_MEMBERS: usize = 1_000_000;

pub(crate) fn origin(file: &Arc<str>, pos: Pos) -> Origin {
    Origin {
        file: Arc::clone(file),
        line: pos.line,
        column: pos.column,
    }
}

pub(crate) fn error(
    diags: &mut Sink,
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
pub(crate) trait ListEntry {
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
    /// On the stack of the resolution under way.
    Active,
    /// Resolved: the members and the depth of nesting, or `None` when the
    /// definition has errors (reported where they are).
    Done(Option<(Arc<[O]>, usize)>),
}

/// Tells whether a name belongs to the other kind (`a service` when a set
/// was expected), for the hint of an unknown name.
pub(crate) type OtherKind<'a> = &'a dyn Fn(&str) -> Option<&'static str>;

/// The address sets or the services of all files, resolved to their
/// members.
pub(crate) struct Table<E: ListEntry> {
    /// `address set` or `service`.
    kind: &'static str,
    defs: Vec<Def<E>>,
    index: HashMap<Arc<str>, usize>,
    state: Vec<State<E::Out>>,
    /// Members resolved so far, counted as [`MAX_RESOLVED_MEMBERS`] says.
    resolved: usize,
    /// The bound was reached and reported; later definitions fail quietly.
    exhausted: bool,
}

impl<E: ListEntry> Table<E> {
    pub fn new(kind: &'static str) -> Self {
        Table {
            kind,
            defs: Vec::new(),
            index: HashMap::new(),
            state: Vec::new(),
            resolved: 0,
            exhausted: false,
        }
    }

    pub fn define(
        &mut self,
        file: &Arc<str>,
        map: Option<NamedMap<Located<OneOrMany<Located<E>>>>>,
        diags: &mut Sink,
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

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.iter().map(|d| &*d.name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Resolves every definition, so that problems in unused ones are
    /// reported too.
    pub fn resolve_all(&mut self, other: OtherKind<'_>, diags: &mut Sink) {
        for i in 0..self.defs.len() {
            if matches!(self.state[i], State::Todo) {
                self.resolve(i, other, diags);
            }
        }
    }

    /// Resolves `root` and every definition it reaches: children first,
    /// each once, with a stack of (definition, next entry to look at).
    fn resolve(&mut self, root: usize, other: OtherKind<'_>, diags: &mut Sink) {
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        self.state[root] = State::Active;
        while let Some(top) = stack.last_mut() {
            let (i, next) = *top;
            let Some(entry) = self.defs[i].entries.get(next) else {
                stack.pop();
                self.finish(i, other, diags);
                continue;
            };
            top.1 += 1;
            let child = match entry.value.split() {
                Ok(_) => None,
                // Unknown names are reported when `i` is finished.
                Err(name) => self.index.get(name).copied(),
            };
            let Some(j) = child else {
                continue;
            };
            match self.state[j] {
                State::Todo => {
                    self.state[j] = State::Active;
                    stack.push((j, 0));
                }
                // Every active definition is on the stack: a loop.
                State::Active => self.report_cycle(&stack, j, diags),
                State::Done(_) => {}
            }
        }
    }

    /// Reports the loop from `j` (on the stack) back to `j`, at the entry of
    /// the top of the stack that closes it.
    fn report_cycle(&self, stack: &[(usize, usize)], j: usize, diags: &mut Sink) {
        let Some(&(i, next)) = stack.last() else {
            return;
        };
        let start = stack.iter().position(|(k, _)| *k == j).unwrap_or(0);
        let mut path: Vec<&str> = stack[start..]
            .iter()
            .map(|(k, _)| &*self.defs[*k].name)
            .collect();
        path.push(&self.defs[j].name);
        let def = &self.defs[i];
        // `next` was advanced past the entry that refers to `j`.
        let pos = def
            .entries
            .get(next.wrapping_sub(1))
            .map_or(def.pos, |e| e.pos);
        error(
            diags,
            origin(&def.file, pos),
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
    }

    /// Resolves `i` once every name it uses is resolved (or broken).
    fn finish(&mut self, i: usize, other: OtherKind<'_>, diags: &mut Sink) {
        let def = &self.defs[i];
        let mut ok = true;
        let mut count = 0usize;
        let mut depth = 1usize;
        for entry in &def.entries {
            match entry.value.split() {
                Ok(_) => count += 1,
                Err(name) => match self.index.get(name).map(|&j| &self.state[j]) {
                    None => {
                        self.unknown(name, origin(&def.file, entry.pos), other, diags);
                        ok = false;
                    }
                    Some(State::Done(Some((members, d)))) => {
                        count = count.saturating_add(members.len());
                        depth = depth.max(d + 1);
                    }
                    // Broken, or part of a loop: reported where that is.
                    Some(_) => ok = false,
                },
            }
        }
        if ok && depth > MAX_NESTING {
            error(
                diags,
                origin(&def.file, def.pos),
                codes::NAME_CYCLE,
                format!(
                    "{} {:?} nests names more than {MAX_NESTING} levels deep",
                    self.kind, &*def.name
                ),
                Some("flatten the chain of names".to_owned()),
            );
            ok = false;
        }
        if ok && !self.exhausted && self.resolved.saturating_add(count) > MAX_RESOLVED_MEMBERS {
            error(
                diags,
                origin(&def.file, def.pos),
                codes::EXPANSION_LIMIT,
                format!(
                    "{}s expand to more than {} members in all with {:?}",
                    self.kind,
                    thousands(MAX_RESOLVED_MEMBERS),
                    &*def.name
                ),
                Some(
                    "a member counts once for every name it belongs to, also through nested names; \
                     use fewer, flatter names"
                        .to_owned(),
                ),
            );
            self.exhausted = true;
        }
        if !ok || self.exhausted {
            self.state[i] = State::Done(None);
            return;
        }
        let mut out: Vec<E::Out> = Vec::with_capacity(count);
        for entry in &def.entries {
            match entry.value.split() {
                Ok(literal) => out.push(literal),
                Err(name) => {
                    if let Some(State::Done(Some((members, _)))) =
                        self.index.get(name).map(|&j| &self.state[j])
                    {
                        out.extend(members.iter().cloned());
                    }
                }
            }
        }
        self.resolved += count;
        out.sort_unstable();
        out.dedup();
        self.state[i] = State::Done(Some((out.into(), depth)));
    }

    fn unknown(&self, name: &str, at: Origin, other: OtherKind<'_>, diags: &mut Sink) {
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
    pub fn lookup(
        &self,
        name: &str,
        at: Origin,
        other: OtherKind<'_>,
        diags: &mut Sink,
    ) -> Option<Resolved<E::Out>> {
        let Some(&i) = self.index.get(name) else {
            self.unknown(name, at, other, diags);
            return None;
        };
        match &self.state[i] {
            State::Done(Some((members, _))) => {
                Some((Arc::clone(&self.defs[i].name), Arc::clone(members)))
            }
            _ => None,
        }
    }
}

/// A resolved name: the name itself (shared) and its members.
pub(crate) type Resolved<O> = (Arc<str>, Arc<[O]>);

pub(crate) fn article(kind: &str) -> String {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {kind}")
    } else {
        format!("a {kind}")
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load_policy_str;

    fn codes_of(text: &str) -> Vec<String> {
        match load_policy_str("p.yaml", text) {
            Ok(_) => Vec::new(),
            Err(d) => d
                .iter()
                .map(|d| format!("{} {}", d.origin, d.message))
                .collect(),
        }
    }

    /// A chain `a0 <- a1 <- ... <- aN` written in `order`.
    fn chain(levels: usize, bottom_up: bool) -> String {
        let mut defs: Vec<String> = (0..levels)
            .map(|i| match i {
                0 => "  a0: [10.0.0.0/8]\n".to_owned(),
                i => format!("  a{i}: [a{}]\n", i - 1),
            })
            .collect();
        if !bottom_up {
            defs.reverse();
        }
        format!("version: 1\naddresses:\n{}", defs.concat())
    }

    #[test]
    fn nesting_is_bounded_whatever_the_order_of_definition() {
        for bottom_up in [true, false] {
            assert!(codes_of(&chain(MAX_NESTING, bottom_up)).is_empty());
            let errors = codes_of(&chain(MAX_NESTING + 1, bottom_up));
            let line = if bottom_up { MAX_NESTING + 3 } else { 3 };
            assert_eq!(
                errors,
                [format!(
                    "p.yaml:{line}:3 address set \"a{MAX_NESTING}\" nests names more than {MAX_NESTING} levels deep"
                )],
                "bottom up: {bottom_up}"
            );
            // A long chain is one error, at the link that is one too deep,
            // and takes no deep recursion.
            let errors = codes_of(&chain(20_000, bottom_up));
            assert_eq!(errors.len(), 1, "bottom up: {bottom_up}: {errors:?}");
            assert!(
                errors[0].contains(&format!("\"a{MAX_NESTING}\" nests")),
                "{errors:?}"
            );
        }
    }

    #[test]
    fn loops_are_reported_once_at_the_reference_that_closes_them() {
        let errors = codes_of("version: 1\naddresses:\n  a: [10.0.0.0/8, b]\n  b: [c]\n  c: [a]\n");
        assert_eq!(
            errors,
            ["p.yaml:5:7 address set \"a\" refers to itself: a -> b -> c -> a"]
        );
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
