//! The blast radius of a plan (`moat plan --instances`): for each group the
//! plan changes, the instances whose network interfaces carry it, and what
//! each change does on those interfaces with all their groups combined.
//!
//! A change's own exposure notes look at its group alone. What decides a
//! flow in the cloud is the interface: a drop in another group of the same
//! interface at a higher priority keeps a new accept from opening anything
//! there, and the groups' type decides what no rule matches. So each
//! interface is evaluated with the rules of every group it carries, before
//! and after the plan (the same cells and wording as the exposure notes,
//! over those rules), and the effects are counted per instance.
//!
//! Reading costs one paged `DescribeNetworkInterfaces` per changed group
//! and, for the other groups those interfaces carry that the plan did not
//! read, one `DescribeSecurityGroups` per (account, region) for their types
//! and one read of each of their rules. Reads fail closed, as the plan's
//! do: an interface listing that fails, or a group of an interface that
//! cannot be read or does not exist, is an error, not a smaller radius.
//!
//! Computing ([`compute_blast_radius`]) is apart from reading
//! ([`read_blast_radius`]) and from rendering (the views of `moat-diff`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use moat_aliyun::{CallError, InterfaceFilter, InterfaceInfo};
use moat_diff::{BlastNote, BlastRadius, ExposureKind, GroupPlan, GroupStatus, Plan};
use moat_policy::eval::{Interface, MixedGroupTypes};
use moat_policy::{LiveGroup, LiveRule};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::journal::CallContext;
use crate::network::groups_on_interface;
use crate::read::{DEFAULT_READ_CONCURRENCY, GroupRef, ReadError, read_group_types, read_groups};
use crate::session::{Reader, RegionError, Target};

/// Why the blast radius could not be read or computed.
#[derive(Debug, thiserror::Error)]
pub enum BlastError {
    #[error(transparent)]
    Region(RegionError),
    #[error(
        "cannot list the network interfaces carrying security group {group} in region {region}"
    )]
    Interfaces {
        group: String,
        region: String,
        #[source]
        source: Box<CallError>,
    },
    /// The other groups of the interfaces could not be read.
    #[error(transparent)]
    Groups(ReadError),
    #[error("security group {group} of network interface {interface} does not exist")]
    MissingGroup { group: String, interface: String },
    #[error("network interface {interface}")]
    Mixed {
        interface: String,
        #[source]
        source: MixedGroupTypes,
    },
}

/// What reading the blast radius cost and found, for logs and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlastReads {
    /// API calls made (pages included).
    pub calls: usize,
    /// Interfaces listed, over all changed groups.
    pub interfaces: usize,
    /// Groups read because an interface carries them and the plan did not
    /// read them.
    pub other_groups: usize,
}

/// The key groups are found by: id and region.
type GroupKey = (String, String);

fn key_of(id: &str, region: &str) -> GroupKey {
    (id.to_owned(), region.to_owned())
}

/// The groups of `plan` that apply changes, by their index in the plan.
fn changed(plan: &Plan) -> impl Iterator<Item = (usize, &GroupPlan)> {
    plan.groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.status == GroupStatus::Present && g.has_changes())
}

/// Reads the interfaces carrying each group `plan` changes, and the other
/// groups on them, and sets each changed group's `blast_radius`. `live`
/// holds the groups the plan was made from (with their types), as
/// [`crate::PlanOptions::keep_live`] keeps them.
pub async fn read_blast_radius(
    reader: &Reader,
    plan: &mut Plan,
    live: Vec<LiveGroup>,
) -> Result<BlastReads, BlastError> {
    let mut reads = BlastReads::default();
    // Every attempt goes through the session, which counts it as the
    // service does (retries too): the calls are that count's growth.
    let start = reader.counts().reads;
    let targets: Vec<(usize, GroupRef)> = changed(plan)
        .map(|(i, g)| {
            (
                i,
                GroupRef::new(&g.id, &g.region).in_account(g.account.as_deref()),
            )
        })
        .collect();
    let clients = reader
        .clients(
            targets
                .iter()
                .map(|(_, g)| (g.account.as_deref(), g.region.as_str())),
        )
        .map_err(BlastError::Region)?;

    // One paged listing per changed group, as many at once as group reads.
    let permits = Arc::new(Semaphore::new(DEFAULT_READ_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (index, g) in &targets {
        let Some(regional) = clients.get(&Target::new(g.account.as_deref(), &g.region)) else {
            continue;
        };
        let client = reader.observed(regional, CallContext::read("blast", "", &g.id, &g.region));
        let (index, g, permits) = (*index, g.clone(), permits.clone());
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring cannot fail; if it
            // somehow did, listing without a permit is still correct.
            let permit = permits.acquire_owned().await.ok();
            let listed = client
                .describe_network_interfaces(&InterfaceFilter {
                    security_group_id: Some(g.id.clone()),
                    ..InterfaceFilter::default()
                })
                .await;
            drop(permit);
            (index, g, listed)
        });
    }
    let mut carried: BTreeMap<usize, Vec<InterfaceInfo>> = BTreeMap::new();
    let mut failed: Option<BlastError> = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, _, Ok(listed))) => {
                carried.insert(index, listed.value);
            }
            Ok((_, g, Err(source))) => {
                // Fail closed, and fast: a radius missing a group's
                // instances would understate what the plan reaches.
                tasks.abort_all();
                failed.get_or_insert(BlastError::Interfaces {
                    group: g.id,
                    region: g.region,
                    source: Box::new(source),
                });
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    reads.interfaces = carried.values().map(Vec::len).sum();

    // The other groups of those interfaces, each read once.
    let known: BTreeSet<GroupKey> = live.iter().map(|g| key_of(&g.id, &g.region)).collect();
    let mut others: BTreeMap<GroupRef, String> = BTreeMap::new();
    for (index, interfaces) in &carried {
        let g = &plan.groups[*index];
        for n in interfaces {
            for id in &n.security_group_ids {
                if !known.contains(&key_of(id, &g.region)) {
                    let r = GroupRef::new(id, &g.region).in_account(g.account.as_deref());
                    others.entry(r).or_insert_with(|| n.id.clone());
                }
            }
        }
    }
    let mut groups = live;
    if !others.is_empty() {
        let refs: Vec<GroupRef> = others.keys().cloned().collect();
        let types = read_group_types(reader, &refs)
            .await
            .map_err(BlastError::Groups)?;
        let read = read_groups(reader, &refs, DEFAULT_READ_CONCURRENCY)
            .await
            .map_err(BlastError::Groups)?;
        if let Some(m) = read.missing.first() {
            return Err(BlastError::MissingGroup {
                group: m.id.clone(),
                interface: others.get(m).cloned().unwrap_or_default(),
            });
        }
        reads.other_groups = read.groups.len();
        for mut g in read.groups {
            g.group_type = types.get(&GroupRef::new(&g.id, &g.region)).copied();
            groups.push(g);
        }
    }
    compute_blast_radius(plan, &groups, &carried)?;
    reads.calls =
        usize::try_from(reader.counts().reads.saturating_sub(start)).unwrap_or(usize::MAX);
    tracing::info!(
        groups = carried.len(),
        interfaces = reads.interfaces,
        other_groups = reads.other_groups,
        calls = reads.calls,
        "read the blast radius"
    );
    Ok(reads)
}

/// Sets the `blast_radius` of each group of `plan` whose index is in
/// `carried`, from the interfaces carrying it. `groups` holds every group
/// those interfaces carry, as read live (with their types); the groups the
/// plan changes are evaluated with the plan applied, the others as they
/// are.
pub fn compute_blast_radius(
    plan: &mut Plan,
    groups: &[LiveGroup],
    carried: &BTreeMap<usize, Vec<InterfaceInfo>>,
) -> Result<(), BlastError> {
    let live: HashMap<GroupKey, &LiveGroup> = groups
        .iter()
        .map(|g| (key_of(&g.id, &g.region), g))
        .collect();
    // Every changed group as the plan leaves it, once, for every interface
    // that carries it (another changed group's interfaces too).
    let mut after: HashMap<GroupKey, LiveGroup> = HashMap::new();
    for (_, gp) in changed(plan) {
        let Some(lg) = live.get(&key_of(&gp.id, &gp.region)) else {
            continue;
        };
        after.insert(key_of(&gp.id, &gp.region), applied(gp, lg));
    }
    let mut radii = Vec::with_capacity(carried.len());
    for (&index, interfaces) in carried {
        let Some(gp) = plan.groups.get(index) else {
            continue;
        };
        radii.push((index, radius(gp, interfaces, &live, &after)?));
    }
    for (index, radius) in radii {
        plan.groups[index].blast_radius = Some(radius);
    }
    Ok(())
}

/// `live` with the changes of `gp` applied, as apply would leave it. The
/// type is the live one, else the one the policy states (as the exposure
/// notes take it).
fn applied(gp: &GroupPlan, live: &LiveGroup) -> LiveGroup {
    LiveGroup {
        rules: moat_diff::planned_rules(live, gp)
            .into_iter()
            .map(|r| LiveRule {
                id: r.live_id.unwrap_or_default(),
                rule: r.rule,
                create_time: String::new(),
            })
            .collect(),
        unmodeled: Vec::new(),
        group_type: live.group_type.or(gp.group_type),
        ..live.clone()
    }
}

/// One effect of one change of the group, by change index.
type Effect = (usize, ExposureKind, String);

/// The blast radius of `gp` over `interfaces`.
fn radius(
    gp: &GroupPlan,
    interfaces: &[InterfaceInfo],
    live: &HashMap<GroupKey, &LiveGroup>,
    after: &HashMap<GroupKey, LiveGroup>,
) -> Result<BlastRadius, BlastError> {
    // Interfaces carrying the same groups in the same order decide alike:
    // each such set is evaluated once.
    let mut memo: HashMap<&[String], Vec<Effect>> = HashMap::new();
    let mut found: BTreeMap<Effect, (BTreeSet<&str>, usize)> = BTreeMap::new();
    let mut instances: BTreeSet<&str> = BTreeSet::new();
    for n in interfaces {
        if !n.instance_id.is_empty() {
            instances.insert(&n.instance_id);
        }
        let ids = n.security_group_ids.as_slice();
        if !memo.contains_key(ids) {
            memo.insert(ids, effects_on(gp, n, live, after)?);
        }
        for e in memo.get(ids).into_iter().flatten() {
            let (on, count) = found.entry(e.clone()).or_default();
            if !n.instance_id.is_empty() {
                on.insert(&n.instance_id);
            }
            *count += 1;
        }
    }
    let notes = found
        .into_iter()
        .filter_map(|((ci, kind, note), (on, interfaces))| {
            let c = gp.changes.get(ci)?;
            Some(BlastNote {
                action: c.action,
                key: c.key.clone(),
                kind,
                note,
                instance_count: on.len(),
                instances: on.into_iter().map(str::to_owned).collect(),
                interfaces,
            })
        })
        .collect();
    Ok(BlastRadius {
        instance_count: instances.len(),
        instances: instances.into_iter().map(str::to_owned).collect(),
        interfaces: interfaces.len(),
        notes,
    })
}

/// What the changes of `gp` do on interface `n`, all its groups combined:
/// the notes that change a verdict (new public exposure, opens, closes).
fn effects_on(
    gp: &GroupPlan,
    n: &InterfaceInfo,
    live: &HashMap<GroupKey, &LiveGroup>,
    after: &HashMap<GroupKey, LiveGroup>,
) -> Result<Vec<Effect>, BlastError> {
    let mut before_groups: Vec<&LiveGroup> = Vec::with_capacity(n.security_group_ids.len());
    let mut after_groups: Vec<&LiveGroup> = Vec::with_capacity(n.security_group_ids.len());
    for id in &n.security_group_ids {
        let k = key_of(id, &gp.region);
        let Some(lg) = live.get(&k) else {
            return Err(BlastError::MissingGroup {
                group: id.clone(),
                interface: n.id.clone(),
            });
        };
        before_groups.push(lg);
        after_groups.push(after.get(&k).unwrap_or(lg));
    }
    let mixed = |source| BlastError::Mixed {
        interface: n.id.clone(),
        source,
    };
    let before = Interface::new(groups_on_interface(before_groups)).map_err(mixed)?;
    let now = Interface::new(groups_on_interface(after_groups)).map_err(mixed)?;
    let (before_rules, after_rules) = (before.all_rules(), now.all_rules());
    let defaults = before.defaults();
    let mut effects = Vec::new();
    for (ci, c) in gp.changes.iter().enumerate() {
        for e in moat_diff::exposure_notes(c, &before_rules, &after_rules, defaults) {
            if matches!(
                e.kind,
                ExposureKind::NewPublicExposure | ExposureKind::Opens | ExposureKind::Closes
            ) {
                effects.push((ci, e.kind, e.note));
            }
        }
    }
    Ok(effects)
}

#[cfg(test)]
#[path = "blast_tests.rs"]
mod tests;
