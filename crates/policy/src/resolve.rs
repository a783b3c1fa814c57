//! Everything that needs all files at once: the global names of address sets
//! and services, groups that may be defined only once, the expansion of each
//! policy rule into atomic canonical rules, and protect selectors.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::codes;
use crate::diag::Sink;
use crate::document::{
    AccountDoc, Located, NamedMap, PeerSpec, PolicyFile, ProtectDoc, ServiceSpec,
};
use crate::expand::{Budget, MAX_GROUP_RULES, Names, RuleRef, count, expand_group, members, parts};
use crate::model::Direction;
use crate::model::{Account, GroupPolicy, Origin, PolicySet, ProtectSelector};
use crate::names::{Table, error, origin, thousands};
use crate::rollout::{Stages, Templates, Users, resolve_test};
use crate::suggest::did_you_mean;

/// One file after reading, with the path its origins name.
pub(crate) struct ReadFile {
    pub file: Arc<str>,
    pub doc: PolicyFile,
}

/// Builds the policy set of all files read. Diagnostics go to `diags`; the
/// result is only meaningful when none of them is an error.
pub(crate) fn build(files: Vec<ReadFile>, diags: &mut Sink) -> PolicySet {
    let mut sets: Table<PeerSpec> = Table::new("address set");
    let mut services: Table<ServiceSpec> = Table::new("service");
    let mut groups_docs = Vec::new();
    let mut protect_docs = Vec::new();
    let mut accounts: BTreeMap<String, Account> = BTreeMap::new();
    let mut stages = Stages::default();
    let mut templates = Templates::default();
    let mut test_docs = Vec::new();
    for ReadFile { file, doc } in files {
        define_accounts(&mut accounts, &file, doc.accounts, diags);
        stages.define(&file, doc.stages, diags);
        templates.define(&file, doc.templates, diags);
        test_docs.extend(
            doc.tests
                .unwrap_or_default()
                .into_iter()
                .map(|t| (Arc::clone(&file), t)),
        );
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
    // Unknown names get a hint when they name the other kind.
    sets.resolve_all(&|n| services.contains(n).then_some("a service"), diags);
    services.resolve_all(&|n| sets.contains(n).then_some("an address set"), diags);
    let is_service = |n: &str| services.contains(n).then_some("a service");
    let is_set = |n: &str| sets.contains(n).then_some("an address set");
    templates.check(diags);
    let names = Names {
        sets: &sets,
        services: &services,
        is_service: &is_service,
        is_set: &is_set,
        templates: &templates.rule_templates,
    };
    let mut users: Users = BTreeMap::new();

    let mut budget = Budget::default();
    let mut groups: Vec<GroupPolicy> = Vec::with_capacity(groups_docs.len());
    let mut group_origins: HashMap<String, Origin> = HashMap::with_capacity(groups_docs.len());
    // Each group's document is dropped once expanded, so that the documents
    // and the rules they expand to are not all in memory at once.
    for (file, g) in groups_docs {
        let id = g.id.as_ref().map(|id| id.value.as_str());
        // The rules of the templates the group uses come first, then its own.
        let order = templates.order(g.uses.as_ref(), &file, diags);
        if let Some(id) = id {
            for t in &order {
                users
                    .entry((*t).to_owned())
                    .or_default()
                    .insert(id.to_owned());
            }
        }
        let mut refs = templates.rules(&order);
        for (direction, own) in [
            (Direction::Ingress, &g.ingress),
            (Direction::Egress, &g.egress),
        ] {
            refs.extend(own.iter().flatten().map(|rule| RuleRef {
                file: &file,
                direction,
                rule,
            }));
        }
        let rules = expand_group(&refs, id, &names, &mut budget, diags);
        drop(refs);
        let stage = g.stage.as_ref().and_then(|s| stages.check(s, &file, diags));
        let account = g
            .account
            .as_ref()
            .filter(|a| known_account(&accounts, a, &file, diags));
        let (Some(id), Some(region)) = (&g.id, &g.region) else {
            continue;
        };
        match group_origins.entry(id.value.clone()) {
            Entry::Occupied(first) => {
                error(
                    diags,
                    origin(&file, id.pos),
                    codes::DUPLICATE_GROUP,
                    format!("security group {} is defined twice", id.value),
                    Some(format!(
                        "the first definition is at {}; a group may appear only once, in one file",
                        first.get()
                    )),
                );
            }
            Entry::Vacant(slot) => {
                slot.insert(origin(&file, id.pos));
                groups.push(GroupPolicy {
                    id: id.value.clone(),
                    region: region.value.clone(),
                    name: g.name.as_ref().map(|n| n.value.0.clone()),
                    mode: g.mode.as_ref().map(|m| m.value).unwrap_or_default(),
                    group_type: g.group_type.as_ref().map(|t| t.value),
                    account: account.map(|a| a.value.clone()),
                    stage,
                    origin: origin(&file, g.pos),
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
    let tests = test_docs
        .iter()
        .filter_map(|(file, t)| {
            resolve_test(t, file, &group_origins, &templates, &users, &names, diags)
        })
        .collect();
    PolicySet {
        groups,
        protect,
        accounts: accounts.into_values().collect(),
        stages: stages.into_list(),
        templates: templates.into_model(&users),
        tests,
    }
}

/// Adds a file's `accounts:` to those of the files before it; a name defined
/// twice keeps its first definition.
fn define_accounts(
    accounts: &mut BTreeMap<String, Account>,
    file: &Arc<str>,
    doc: Option<NamedMap<AccountDoc>>,
    diags: &mut Sink,
) {
    for (name, entry) in doc.map(|m| m.0).unwrap_or_default() {
        if let Some(first) = accounts.get(&name.value) {
            error(
                diags,
                origin(file, name.pos),
                codes::DUPLICATE_NAME,
                format!("account {} is defined twice", name.value),
                Some(format!(
                    "the first definition is at {}; an account is defined once for all files",
                    first.origin
                )),
            );
            continue;
        }
        // An entry that could not be read was reported; its name stays
        // defined so that the groups naming it are not reported again.
        let (profile, endpoint) = match entry {
            Some(a) => (
                a.profile.map(|p| p.value).unwrap_or_default(),
                a.endpoint.map(|e| e.value),
            ),
            None => (String::new(), None),
        };
        accounts.insert(
            name.value.clone(),
            Account {
                name: name.value,
                profile,
                endpoint,
                origin: origin(file, name.pos),
            },
        );
    }
}

/// True when a group's `account:` names an account of `accounts:`; reports
/// it where it is written otherwise.
fn known_account(
    accounts: &BTreeMap<String, Account>,
    name: &Located<String>,
    file: &Arc<str>,
    diags: &mut Sink,
) -> bool {
    if accounts.contains_key(&name.value) {
        return true;
    }
    let hint = if accounts.is_empty() {
        format!(
            "define it in a top-level `accounts:` block, e.g. `accounts: {{{}: {{profile: PROFILE}}}}`",
            name.value
        )
    } else {
        did_you_mean(&name.value, accounts.keys().map(String::as_str)).unwrap_or_else(|| {
            format!(
                "the accounts defined are: {}",
                accounts.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    };
    error(
        diags,
        origin(file, name.pos),
        codes::UNKNOWN_ACCOUNT,
        format!(
            "security group names the account {:?}, which `accounts:` does not define",
            name.value
        ),
        Some(hint),
    );
    false
}

fn protect_selector(
    p: &ProtectDoc,
    file: &Arc<str>,
    groups: &HashMap<String, Origin>,
    names: &Names<'_>,
    diags: &mut Sink,
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
            let r = parts(&s.value.0, file, names.services, names.is_set, diags)
                .filter(|parts| within_selector_limit(parts, "services", file, p, diags));
            ok &= r.is_some();
            r.map(|parts| dedup(members(&parts).into_iter().map(|m| m.value).collect()))
        }
        None => None,
    };
    let peers = match &p.peer {
        Some(s) => {
            let r = parts(&s.value.0, file, names.sets, names.is_service, diags)
                .filter(|parts| within_selector_limit(parts, "peers", file, p, diags));
            ok &= r.is_some();
            r.map(|parts| dedup(members(&parts).into_iter().map(|m| m.value).collect()))
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

/// A selector matches a rule by looking through its lists, so they are
/// bounded like the rules of a group.
fn within_selector_limit<O>(
    parts: &[crate::expand::Part<O>],
    what: &str,
    file: &Arc<str>,
    p: &ProtectDoc,
    diags: &mut Sink,
) -> bool {
    let n = count(parts);
    if n <= MAX_GROUP_RULES {
        return true;
    }
    error(
        diags,
        origin(file, p.pos),
        codes::EXPANSION_LIMIT,
        format!(
            "protect selector lists {} {what} after expansion, more than {}",
            thousands(n),
            thousands(MAX_GROUP_RULES)
        ),
        Some("select by fewer names, or by group, direction or description prefix".to_owned()),
    );
    false
}

fn dedup<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}
