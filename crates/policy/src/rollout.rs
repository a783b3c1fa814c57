//! The rollout parts of a load that need all files at once: the stages, the
//! templates (defined once, used by groups and by other templates, without
//! cycles) and the tests (resolved to the groups, addresses and services
//! they evaluate).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::codes;
use crate::diag::Sink;
use crate::document::{Located, NamedMap};
use crate::expand::{Names, RuleRef, members, parts};
use crate::model::{Direction, Origin, Template};
use crate::names::{error, origin};
use crate::policy_tests::{Expect, PolicyTest, TestTarget};
use crate::rollout_doc::{ExpectDoc, TemplateDoc, TestDoc};
use crate::suggest::did_you_mean;

/// The `stages:` of the files loaded together: the first list, which every
/// other file that lists stages must repeat.
#[derive(Default)]
pub(crate) struct Stages {
    list: Option<(Vec<String>, Origin)>,
}

impl Stages {
    pub fn define(
        &mut self,
        file: &Arc<str>,
        stages: Option<Located<Vec<Located<String>>>>,
        diags: &mut Sink,
    ) {
        let Some(stages) = stages else {
            return;
        };
        let names: Vec<String> = stages.value.into_iter().map(|s| s.value).collect();
        let at = origin(file, stages.pos);
        match &self.list {
            None => self.list = Some((names, at)),
            Some((first, _)) if *first == names => {}
            Some((first, first_at)) => error(
                diags,
                at,
                codes::UNKNOWN_STAGE,
                format!(
                    "these stages ({}) differ from the ones listed first ({})",
                    names.join(", "),
                    first.join(", ")
                ),
                Some(format!(
                    "the first list is at {first_at}; files loaded together share one rollout order, so list it once"
                )),
            ),
        }
    }

    /// The group's `stage:` if it is one of the stages; reported otherwise.
    pub fn check(
        &self,
        stage: &Located<String>,
        file: &Arc<str>,
        diags: &mut Sink,
    ) -> Option<String> {
        let list = self
            .list
            .as_ref()
            .map(|(l, _)| l.as_slice())
            .unwrap_or_default();
        if list.contains(&stage.value) {
            return Some(stage.value.clone());
        }
        let hint = if list.is_empty() {
            format!(
                "list the rollout order in a top-level `stages:`, e.g. `stages: [{}]`",
                stage.value
            )
        } else {
            did_you_mean(&stage.value, list.iter().map(String::as_str))
                .unwrap_or_else(|| format!("the stages are: {}", list.join(", ")))
        };
        error(
            diags,
            origin(file, stage.pos),
            codes::UNKNOWN_STAGE,
            format!("stage {:?} is not one of `stages:`", stage.value),
            Some(hint),
        );
        None
    }

    pub fn into_list(self) -> Vec<String> {
        self.list.map(|(l, _)| l).unwrap_or_default()
    }
}

/// One template as defined.
struct Defined {
    file: Arc<str>,
    origin: Origin,
    doc: Option<TemplateDoc>,
}

/// The `templates:` of all files.
#[derive(Default)]
pub(crate) struct Templates {
    by_name: BTreeMap<String, Defined>,
    /// The template each template rule is written in, by the rule's origin.
    pub rule_templates: HashMap<Origin, Arc<str>>,
}

/// The groups using each template, directly or through others.
pub(crate) type Users = BTreeMap<String, BTreeSet<String>>;

impl Templates {
    pub fn define(
        &mut self,
        file: &Arc<str>,
        doc: Option<NamedMap<TemplateDoc>>,
        diags: &mut Sink,
    ) {
        for (name, t) in doc.map(|m| m.0).unwrap_or_default() {
            let at = origin(file, name.pos);
            if let Some(first) = self.by_name.get(&name.value) {
                error(
                    diags,
                    at,
                    codes::DUPLICATE_NAME,
                    format!("template {} is defined twice", name.value),
                    Some(format!(
                        "the first definition is at {}; templates are shared by all files loaded together",
                        first.origin
                    )),
                );
                continue;
            }
            if let Some(t) = &t {
                let label: Arc<str> = Arc::from(name.value.as_str());
                for rule in t.ingress.iter().chain(t.egress.iter()).flatten() {
                    self.rule_templates
                        .insert(origin(file, rule.pos), Arc::clone(&label));
                }
            }
            self.by_name.insert(
                name.value,
                Defined {
                    file: Arc::clone(file),
                    origin: at,
                    doc: t,
                },
            );
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    fn uses_of(&self, name: &str) -> &[Located<String>] {
        self.by_name
            .get(name)
            .and_then(|d| d.doc.as_ref())
            .and_then(|t| t.uses.as_ref())
            .map(|u| u.value.as_slice())
            .unwrap_or_default()
    }

    /// Reports unknown templates in templates' `use:` and every cycle, once,
    /// at the `use:` entry that closes it.
    pub fn check(&self, diags: &mut Sink) {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            Open,
            Done,
        }
        let mut state: HashMap<&str, State> = HashMap::new();
        for start in self.by_name.keys() {
            if state.contains_key(start.as_str()) {
                continue;
            }
            // Iterative depth-first search: (template, index of the next use).
            let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
            state.insert(start, State::Open);
            while let Some((name, next)) = stack.pop() {
                let uses = self.uses_of(name);
                let Some(used) = uses.get(next) else {
                    state.insert(name, State::Done);
                    continue;
                };
                stack.push((name, next + 1));
                let file = &self.by_name[name].file;
                match self.by_name.get_key_value(&used.value) {
                    None => unknown_template(
                        &used.value,
                        origin(file, used.pos),
                        self.by_name.keys(),
                        diags,
                    ),
                    Some((key, _)) => {
                        match state.get(key.as_str()) {
                            Some(State::Open) => {
                                let from = stack.iter().position(|(n, _)| *n == key.as_str());
                                let path: Vec<&str> = from
                                    .map(|i| stack[i..].iter().map(|(n, _)| *n).collect())
                                    .unwrap_or_default();
                                error(
                                diags,
                                origin(file, used.pos),
                                codes::TEMPLATE_CYCLE,
                                format!(
                                    "template {key} uses itself: {} -> {key}",
                                    path.join(" -> ")
                                ),
                                Some("a template may use others, but never itself; remove one `use`".to_owned()),
                            );
                            }
                            Some(State::Done) => {}
                            None => {
                                state.insert(key, State::Open);
                                stack.push((key, 0));
                            }
                        }
                    }
                }
            }
        }
    }

    /// The templates a group gets with its `use:`, in order: each template
    /// after those it uses, each once. Unknown templates in the group's
    /// `use:` are reported there.
    pub fn order(
        &self,
        uses: Option<&Located<Vec<Located<String>>>>,
        file: &Arc<str>,
        diags: &mut Sink,
    ) -> Vec<&str> {
        let Some(uses) = uses else {
            return Vec::new();
        };
        let mut order: Vec<&str> = Vec::new();
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for used in &uses.value {
            let Some((key, _)) = self.by_name.get_key_value(&used.value) else {
                unknown_template(
                    &used.value,
                    origin(file, used.pos),
                    self.by_name.keys(),
                    diags,
                );
                continue;
            };
            self.visit(key, &mut seen, &mut order);
        }
        order
    }

    /// The policy rules of templates in `order`, ingress then egress each.
    pub fn rules<'a>(&'a self, order: &[&str]) -> Vec<RuleRef<'a>> {
        let mut out = Vec::new();
        for t in order {
            let Some(d) = self.by_name.get(*t) else {
                continue;
            };
            let Some(doc) = &d.doc else { continue };
            for (direction, rules) in [
                (Direction::Ingress, &doc.ingress),
                (Direction::Egress, &doc.egress),
            ] {
                for rule in rules.iter().flatten() {
                    out.push(RuleRef {
                        file: &d.file,
                        direction,
                        rule,
                    });
                }
            }
        }
        out
    }

    /// Depth first, without repeats (a cycle was reported by [`check`]).
    fn visit<'a>(&'a self, name: &'a str, seen: &mut BTreeSet<&'a str>, order: &mut Vec<&'a str>) {
        if !seen.insert(name) {
            return;
        }
        for used in self.uses_of(name) {
            if let Some((key, _)) = self.by_name.get_key_value(&used.value) {
                self.visit(key, seen, order);
            }
        }
        order.push(name);
    }

    /// The templates for the model, sorted by name.
    pub fn into_model(self, users: &Users) -> Vec<Template> {
        let mut rules: BTreeMap<&str, Vec<Origin>> = BTreeMap::new();
        for (o, t) in &self.rule_templates {
            rules.entry(t).or_default().push(o.clone());
        }
        let mut out = Vec::with_capacity(self.by_name.len());
        for (name, d) in &self.by_name {
            let mut r = rules.remove(name.as_str()).unwrap_or_default();
            r.sort();
            out.push(Template {
                name: name.clone(),
                origin: d.origin.clone(),
                rules: r,
                groups: users_of(users, name),
            });
        }
        out
    }
}

/// The groups using a template, sorted.
pub(crate) fn users_of(users: &Users, name: &str) -> Vec<String> {
    users
        .get(name)
        .map(|u| u.iter().cloned().collect())
        .unwrap_or_default()
}

fn unknown_template<'a>(
    name: &str,
    at: Origin,
    known: impl Iterator<Item = &'a String>,
    diags: &mut Sink,
) {
    let known: Vec<&str> = known.map(String::as_str).collect();
    let hint = if known.is_empty() {
        format!(
            "define it under a top-level `templates:`, e.g. `templates: {{{name}: {{ingress: [...]}}}}`"
        )
    } else {
        did_you_mean(name, known.iter().copied())
            .unwrap_or_else(|| format!("the templates defined are: {}", known.join(", ")))
    };
    error(
        diags,
        at,
        codes::UNKNOWN_TEMPLATE,
        format!("unknown template {name:?}"),
        Some(hint),
    );
}

/// Resolves one test of `file`: its groups, peers and services. `None` when
/// something is missing or wrong (reported, or already reported while
/// reading).
pub(crate) fn resolve_test(
    t: &TestDoc,
    file: &Arc<str>,
    groups: &HashMap<String, Origin>,
    templates: &Templates,
    users: &Users,
    names: &Names<'_>,
    diags: &mut Sink,
) -> Option<PolicyTest> {
    let mut ok = true;
    let target = match (&t.group, &t.template) {
        (Some(g), None) if groups.contains_key(&g.value) => {
            Some((TestTarget::Group(g.value.clone()), vec![g.value.clone()]))
        }
        (Some(g), None) => {
            let hint =
                did_you_mean(&g.value, groups.keys().map(String::as_str)).unwrap_or_else(|| {
                    "a test evaluates a group the loaded policies define".to_owned()
                });
            error(
                diags,
                origin(file, g.pos),
                codes::TEST_WITHOUT_GROUP,
                format!(
                    "test names the group {}, which no loaded policy defines",
                    g.value
                ),
                Some(hint),
            );
            None
        }
        (None, Some(name)) if !templates.contains(&name.value) => {
            unknown_template(
                &name.value,
                origin(file, name.pos),
                templates.by_name.keys(),
                diags,
            );
            None
        }
        (None, Some(name)) => {
            let users = users_of(users, &name.value);
            if users.is_empty() {
                error(
                    diags,
                    origin(file, name.pos),
                    codes::TEST_WITHOUT_GROUP,
                    format!(
                        "test names the template {}, which no group uses",
                        name.value
                    ),
                    Some(format!(
                        "add `use: [{}]` to the groups it should hold for, or name a group with `group:`",
                        name.value
                    )),
                );
                None
            } else {
                Some((TestTarget::Template(name.value.clone()), users))
            }
        }
        // Neither or both: reported while reading.
        _ => None,
    };
    ok &= target.is_some();
    let (direction, peer_list) = match (&t.from, &t.to) {
        (Some(p), None) => (Direction::Ingress, Some(p)),
        (None, Some(p)) => (Direction::Egress, Some(p)),
        _ => (Direction::Ingress, None),
    };
    let mut peers = Vec::new();
    match peer_list.and_then(|p| parts(&p.value.0, file, names.sets, names.is_service, diags)) {
        Some(p) => {
            for m in members(&p) {
                match m.value.as_cidr() {
                    Some(net) if !peers.contains(&net) => peers.push(net),
                    Some(_) => {}
                    None => {
                        let via = m
                            .name
                            .as_ref()
                            .map(|n| format!(" (in {n})"))
                            .unwrap_or_default();
                        error(
                            diags,
                            origin(file, m.pos),
                            codes::TEST_PEER_NOT_ADDRESS,
                            format!("a test's peer {}{via} is not an address", m.value),
                            Some(
                                "tests check addresses and CIDRs; the members of a security group or prefix list are not known to moat"
                                    .to_owned(),
                            ),
                        );
                        ok = false;
                    }
                }
            }
        }
        None => ok = false,
    }
    let mut services = Vec::new();
    match t
        .port
        .as_ref()
        .and_then(|s| parts(&s.value.0, file, names.services, names.is_set, diags))
    {
        Some(s) => {
            for m in members(&s) {
                if !services.contains(&m.value) {
                    services.push(m.value);
                }
            }
        }
        None => ok = false,
    }
    let expect = t.expect.as_ref().map(|e| match e.value {
        ExpectDoc::Allow => Expect::Allow,
        ExpectDoc::Deny => Expect::Deny,
    });
    let (Some((target, groups)), Some(expect), Some(name), true) =
        (target, expect, t.name.as_ref(), ok)
    else {
        return None;
    };
    Some(PolicyTest {
        name: name.value.0.clone(),
        origin: origin(file, t.pos),
        target,
        groups,
        direction,
        peers,
        services,
        expect,
    })
}
