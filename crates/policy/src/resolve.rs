//! Everything that needs all files at once: the global names of address sets
//! and services, groups that may be defined only once, the expansion of each
//! policy rule into atomic canonical rules, and protect selectors.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::codes;
use crate::diag::Sink;
use crate::document::{
    AccountDoc, Located, NamedMap, PeerSpec, PolicyFile, ProtectDoc, SecurityGroupDoc, ServiceSpec,
};
use crate::expand::{Budget, MAX_GROUP_RULES, Names, RuleRef, count, expand_group, members, parts};
use crate::model::Direction;
use crate::model::{Account, DesiredRule, GroupPolicy, Origin, PolicySet, ProtectSelector};
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
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 8);
    build_on(files, diags, threads)
}

/// [`build`] expanding groups on `threads` threads.
fn build_on(files: Vec<ReadFile>, diags: &mut Sink, threads: usize) -> PolicySet {
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
    // Groups are expanded a batch at a time on all cores, each against a
    // budget and a sink of its own, and taken in order as if expanded one
    // after the other. Once a problem is found, or a group would take the
    // load past a limit, the rest are expanded in turn as they always were,
    // so that a flood of problems is never held twice. Each batch's
    // documents are dropped once expanded, so that the documents and the
    // rules they expand to are not all in memory at once.
    let mut in_turn = threads == 1;
    let mut docs = groups_docs.into_iter().peekable();
    while docs.peek().is_some() {
        let batch: Vec<(Arc<str>, SecurityGroupDoc)> =
            docs.by_ref().take(threads * EXPAND_BATCH).collect();
        in_turn |= diags.count() > 0;
        let mut expanded = if in_turn {
            Vec::new()
        } else {
            expand_batch(&batch, threads, &sets, &services, &templates, diags.room())
        }
        .into_iter();
        for (file, g) in &batch {
            let ahead = expanded.next().flatten();
            let (order, rules) = match ahead {
                Some(e) if !in_turn && budget.absorb(&e.budget) => {
                    diags.push_all(e.diags);
                    (e.order, e.rules)
                }
                _ => {
                    in_turn = true;
                    let order = templates.order(g.uses.as_ref(), file, diags);
                    let rules = expand_one(file, g, &order, &templates, &names, &mut budget, diags);
                    (order, rules)
                }
            };
            let id = g.id.as_ref().map(|id| id.value.as_str());
            if let Some(id) = id {
                for t in &order {
                    users
                        .entry((*t).to_owned())
                        .or_default()
                        .insert(id.to_owned());
                }
            }
            let stage = g.stage.as_ref().and_then(|s| stages.check(s, file, diags));
            let account = g
                .account
                .as_ref()
                .filter(|a| known_account(&accounts, a, file, diags));
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
                        group_type: g.group_type.as_ref().map(|t| t.value),
                        account: account.map(|a| a.value.clone()),
                        stage,
                        origin: origin(file, g.pos),
                        rules,
                    });
                }
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

/// Groups one thread expands between two merges.
const EXPAND_BATCH: usize = 16;

/// A group expanded ahead of its turn: the templates it uses in order, its
/// rules, and what it used and reported.
struct Expanded<'t> {
    order: Vec<&'t str>,
    rules: Vec<DesiredRule>,
    budget: Budget,
    diags: Sink,
}

/// Expands the groups of `batch`, spread over `threads` threads, each
/// against a budget of its own and reporting into a sink of `room`
/// problems of its own. Once a group reports a problem, the threads take no
/// more groups: those not expanded are `None`.
fn expand_batch<'t>(
    batch: &[(Arc<str>, SecurityGroupDoc)],
    threads: usize,
    sets: &Table<PeerSpec>,
    services: &Table<ServiceSpec>,
    templates: &'t Templates,
    room: usize,
) -> Vec<Option<Expanded<'t>>> {
    let is_service = |n: &str| services.contains(n).then_some("a service");
    let is_set = |n: &str| sets.contains(n).then_some("an address set");
    let expand = |(file, g): &(Arc<str>, SecurityGroupDoc)| {
        let names = Names {
            sets,
            services,
            is_service: &is_service,
            is_set: &is_set,
            templates: &templates.rule_templates,
        };
        let mut diags = Sink::new(room);
        let mut budget = Budget::default();
        let order = templates.order(g.uses.as_ref(), file, &mut diags);
        let rules = expand_one(file, g, &order, templates, &names, &mut budget, &mut diags);
        Expanded {
            order,
            rules,
            budget,
            diags,
        }
    };
    // Each thread takes the next group not yet taken, so that a thread the
    // machine runs less (other processes share the cores) does fewer.
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || {
        let mut done = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(group) = batch.get(i) else {
                break;
            };
            let e = expand(group);
            if e.diags.count() > 0 {
                failed.store(true, Ordering::Relaxed);
            }
            done.push((i, e));
        }
        done
    };
    let expanded: Vec<(usize, Expanded<'t>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(batch.len()))
            .map(|_| scope.spawn(work))
            .collect();
        handles
            .into_iter()
            // A worker only panics if expanding panics, which is a bug;
            // pass it on rather than lose groups silently.
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out: Vec<Option<Expanded<'t>>> = (0..batch.len()).map(|_| None).collect();
    for (i, e) in expanded {
        out[i] = Some(e);
    }
    out
}

/// Expands one group: the rules of the templates it uses first (`order`),
/// then its own.
fn expand_one(
    file: &Arc<str>,
    g: &SecurityGroupDoc,
    order: &[&str],
    templates: &Templates,
    names: &Names<'_>,
    budget: &mut Budget,
    diags: &mut Sink,
) -> Vec<DesiredRule> {
    let mut refs = templates.rules(order);
    for (direction, own) in [
        (Direction::Ingress, &g.ingress),
        (Direction::Egress, &g.egress),
    ] {
        refs.extend(own.iter().flatten().map(|rule| RuleRef {
            file,
            direction,
            rule,
        }));
    }
    let id = g.id.as_ref().map(|id| id.value.as_str());
    expand_group(&refs, id, names, budget, diags)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostic;
    use crate::read::{Cx, read_file};
    use crate::yaml::{LoadBudget, parse};

    fn built(texts: &[(String, String)], threads: usize) -> (PolicySet, Vec<Diagnostic>, usize) {
        let files = texts
            .iter()
            .map(|(name, text)| {
                let file: Arc<str> = Arc::from(name.as_str());
                let root = parse(text, &LoadBudget::new()).expect("valid YAML");
                let mut sink = Sink::new(usize::MAX);
                let doc = read_file(
                    &mut Cx {
                        file: &file,
                        diags: &mut sink,
                    },
                    &root,
                );
                ReadFile { file, doc }
            })
            .collect();
        let mut diags = Sink::new(crate::load::MAX_DIAGNOSTICS);
        let set = build_on(files, &mut diags, threads);
        (set, diags.kept, diags.dropped)
    }

    fn group(n: usize, rules: &str) -> String {
        format!(
            "  - id: sg-bp1par{n:06}\n    region: cn-hangzhou\n    stage: canary\n    ingress:\n{rules}"
        )
    }

    /// Groups expanded ahead on several threads give what expanding them
    /// one after the other gives: the same rules, and the same problems in
    /// the same order, also when problems start late, flood the report, or
    /// a load-wide limit is reached.
    #[test]
    fn expanding_on_several_threads_changes_nothing() {
        let ok = "      - allow: [tcp/22, tcp/443]\n        from: [office, 10.1.0.0/16]\n";
        let duplicate = "      - allow: tcp/22\n        from: 10.0.0.0/8\n".repeat(3);
        let unknown = "      - allow: tcp/22\n        from: ofice\n";
        let book =
            "version: 1\naddresses:\n  office: [10.0.0.0/24, 10.0.1.0/24]\nstages: [canary]\n"
                .to_owned();
        let cases: Vec<Vec<(String, String)>> = vec![
            // Valid, over several batches.
            (0..200).map(|n| group(n, ok)).collect(),
            // A problem in the last batch only.
            (0..200)
                .map(|n| group(n, if n == 190 { unknown } else { ok }))
                .collect(),
            // Problems everywhere, more than the report keeps.
            (0..300).map(|n| group(n, &duplicate.repeat(20))).collect(),
            // A group defined twice, far apart.
            (0..100).map(|n| group(n % 90, ok)).collect(),
        ]
        .into_iter()
        .map(|groups: Vec<String>| {
            vec![
                ("book.yaml".to_owned(), book.clone()),
                (
                    "groups.yaml".to_owned(),
                    format!("version: 1\nsecurity_groups:\n{}", groups.concat()),
                ),
            ]
        })
        .collect();
        for texts in &cases {
            let one = built(texts, 1);
            for threads in [2, 3, 8] {
                assert_eq!(built(texts, threads), one, "on {threads} threads");
            }
        }
        let valid = built(&cases[0], 2).1;
        assert!(valid.is_empty(), "{:?}", valid.first());
        assert!(built(&cases[2], 2).2 > 0, "the report overflows");
    }
}
