//! Leases on security groups, held as tags, so that two applies cannot
//! change the same groups at once. The cloud stays the only state: there is
//! no lock file and no lock server.
//!
//! A lease is the tag `moat:lock` on a group, its value naming the holder,
//! the host, the start, the expiry and a random lease id:
//! `holder=alice;host=ci-7;start=20261125T101500Z;expiry=20261125T103000Z;lease=8f3a9c01d2e4`.
//!
//! Tag writes overwrite: two applies that both list a group, see no lease
//! and write one would both "win". So a lease is taken in two rounds, with a
//! claim tag of its own key (`moat:lock-claim:<lease id>`) that nobody else
//! overwrites:
//!
//! 1. list the groups' tags; an unexpired lease of another holder refuses
//!    the whole apply, naming the holder and the expiry;
//! 2. write the claim on every group;
//! 3. list again: proceed only when, on every group, the own claim is there
//!    and no other unexpired claim or lease is. Another lease: refuse. Other
//!    claims: the claim with the earliest start (then the smallest lease id)
//!    keeps its claim and lists again after a short wait; every other claim
//!    withdraws and refuses. A claim that stays contested withdraws too;
//! 4. write the lease `moat:lock`, then remove the claim.
//!
//! Why two applies cannot both pass step 3 if the tag store is
//! linearizable: from its claim write until it releases, each apply has a
//! claim or a lease visible on the group at every moment (the lease is
//! written before the claim is removed). If both passed, each deciding list
//! came after its own claim write and saw no sign of the other, so each
//! came before the other's claim write: A's claim < A's list < B's claim <
//! B's list < A's claim, a contradiction. What the tie-break adds is
//! liveness: of two applies that see each other, one goes on.
//!
//! The limits (expiry against clocks, overwrites after expiry, tags anyone
//! with `ecs:TagResources` can change) are in `docs/apply.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use jiff::Timestamp;
use moat_aliyun::ResourceTag;
use moat_aliyun::wire::tag_limits::TAGS_PER_RESOURCE;

mod session;

pub(crate) use session::Leases;
pub use session::{SessionTags, StoreError, UnlockError, unlock_groups};

/// The key of a lease.
pub const LOCK_KEY: &str = "moat:lock";
/// The prefix of a claim's key; the lease id follows.
pub const CLAIM_PREFIX: &str = "moat:lock-claim:";

/// How a lease is taken and kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockOptions {
    /// Who holds it (a user name, a CI job).
    pub holder: String,
    /// Where it runs.
    pub host: String,
    /// How long a lease lasts without renewal; apply renews it every third
    /// of this while it runs.
    pub ttl: Duration,
    /// How long a claim lasts (it is removed once the lease is written).
    pub claim_ttl: Duration,
    /// Lists of a contested claim before it withdraws.
    pub contest_rounds: u32,
    /// Wait between those lists.
    pub contest_wait: Duration,
}

impl LockOptions {
    pub fn new(holder: impl Into<String>, host: impl Into<String>) -> LockOptions {
        LockOptions {
            holder: holder.into(),
            host: host.into(),
            ttl: Duration::from_secs(15 * 60),
            claim_ttl: Duration::from_secs(2 * 60),
            contest_rounds: 5,
            contest_wait: Duration::from_millis(400),
        }
    }
}

/// What a lease or claim tag says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseValue {
    pub holder: String,
    pub host: String,
    pub start: Timestamp,
    pub expiry: Timestamp,
    /// Random per apply: the same user on the same host twice is two holders.
    pub lease: String,
}

/// Holder and host are cut to this many characters each, so the value stays
/// within the 128 a tag value may hold.
const NAME_CHARS: usize = 24;

fn stamp(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Reads `20261125T101500Z` back.
fn parse_stamp(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| s.get(r).filter(|d| d.bytes().all(|c| c.is_ascii_digit()));
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        digits(0..4)?,
        digits(4..6)?,
        digits(6..8)?,
        digits(9..11)?,
        digits(11..13)?,
        digits(13..15)?
    );
    rfc3339.parse().ok()
}

/// Keeps letters, digits and `._@-`, so a value never holds the separators,
/// a URL or anything a tag value may not.
fn clean(s: &str) -> String {
    let out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._@-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(NAME_CHARS)
        .collect();
    if out.is_empty() {
        "unknown".to_owned()
    } else {
        out
    }
}

impl LeaseValue {
    /// The tag value.
    pub fn encode(&self) -> String {
        format!(
            "holder={};host={};start={};expiry={};lease={}",
            clean(&self.holder),
            clean(&self.host),
            stamp(self.start),
            stamp(self.expiry),
            self.lease
        )
    }

    /// Reads a tag value; `None` when it is not one moat wrote.
    pub fn decode(value: &str) -> Option<LeaseValue> {
        let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
        for part in value.split(';') {
            let (k, v) = part.split_once('=')?;
            fields.insert(k, v);
        }
        Some(LeaseValue {
            holder: (*fields.get("holder")?).to_owned(),
            host: (*fields.get("host")?).to_owned(),
            start: parse_stamp(fields.get("start")?)?,
            expiry: parse_stamp(fields.get("expiry")?)?,
            lease: (*fields.get("lease")?).to_owned(),
        })
    }

    fn is_expired(&self, now: Timestamp) -> bool {
        self.expiry <= now
    }

    /// The tie-break order of claims: earliest start, then lease id.
    fn rank(&self) -> (Timestamp, &str) {
        (self.start, &self.lease)
    }
}

impl fmt::Display for LeaseValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{} (since {}, until {})",
            self.holder,
            self.host,
            self.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            self.expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// Where the tags are: one region's security groups. Each call is one or
/// more API calls; errors are the store's own.
pub trait TagStore: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;
    fn list(
        &self,
        groups: &[String],
    ) -> impl Future<Output = Result<Vec<ResourceTag>, Self::Error>> + Send;
    fn tag(
        &self,
        groups: &[String],
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    fn untag(
        &self,
        groups: &[String],
        keys: &[String],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Why no lease was taken (or kept). When acquiring fails, no claim of this
/// apply is left behind (unless withdrawing it failed too).
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another holder's unexpired lease.
    #[error("security group {group} is locked by {value}")]
    Held { group: String, value: LeaseValue },
    /// A `moat:lock` tag moat cannot read.
    #[error("security group {group} has a {LOCK_KEY} tag moat cannot read: {value:?}")]
    Unreadable { group: String, value: String },
    /// Another apply claimed the group at the same time, and went first.
    #[error("security group {group} is being locked at the same time by {value}")]
    Contested { group: String, value: LeaseValue },
    /// The group has no room for the lease's tags.
    #[error(
        "security group {group} has {tags} tags; the lease needs {needed} more of the {TAGS_PER_RESOURCE} a group may carry"
    )]
    TagLimit {
        group: String,
        tags: usize,
        needed: usize,
    },
    /// The own claim or lease is gone or taken over (`moat unlock`, or it
    /// expired).
    #[error("the lease on security group {group} was lost")]
    Lost { group: String },
    /// A tag call failed.
    #[error("{what} on security groups in region {region}")]
    Call {
        what: &'static str,
        region: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A lease held on some groups of one region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub region: String,
    pub groups: Vec<String>,
    pub value: LeaseValue,
}

/// A moat tag of one group.
#[derive(Clone, Debug)]
struct Entry {
    key: String,
    lease: bool,
    value: Option<LeaseValue>,
    raw: String,
}

/// The moat tags of each group, and how many tags it has in all.
fn read(tags: &[ResourceTag]) -> BTreeMap<&str, (Vec<Entry>, usize)> {
    let mut out: BTreeMap<&str, (Vec<Entry>, usize)> = BTreeMap::new();
    for t in tags {
        let slot = out.entry(t.resource_id.as_str()).or_default();
        slot.1 += 1;
        let lease = t.key == LOCK_KEY;
        if lease || t.key.starts_with(CLAIM_PREFIX) {
            slot.0.push(Entry {
                key: t.key.clone(),
                lease,
                value: LeaseValue::decode(&t.value),
                raw: t.value.clone(),
            });
        }
    }
    out
}

fn random_id() -> String {
    format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

fn call_error<'a, E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
    region: &'a str,
) -> impl FnOnce(E) -> LockError + 'a {
    move |e| LockError::Call {
        what,
        region: region.to_owned(),
        source: Box::new(e),
    }
}

/// Takes a lease on `groups` (all of one region), or refuses.
pub async fn acquire<S: TagStore>(
    store: &S,
    region: &str,
    groups: &[String],
    options: &LockOptions,
    now: &(dyn Fn() -> Timestamp + Send + Sync),
) -> Result<Lease, LockError> {
    let groups: Vec<String> = {
        let mut g = groups.to_vec();
        g.sort();
        g.dedup();
        g
    };
    let start = now();
    let value = LeaseValue {
        holder: options.holder.clone(),
        host: options.host.clone(),
        start,
        expiry: start + options.ttl,
        lease: random_id(),
    };
    let claim_key = format!("{CLAIM_PREFIX}{}", value.lease);
    let claim = LeaseValue {
        expiry: start + options.claim_ttl,
        ..value.clone()
    };

    // 1. Nothing is written while another holder's lease is there.
    let listed = store
        .list(&groups)
        .await
        .map_err(call_error("listing the tags", region))?;
    let by_group = read(&listed);
    for g in &groups {
        let (entries, count) = by_group.get(g.as_str()).cloned().unwrap_or_default();
        if let Some(problem) = held(g, &entries, &value.lease, now()) {
            return Err(problem);
        }
        let needed = if entries.iter().any(|e| e.lease) {
            1
        } else {
            2
        };
        if count + needed > TAGS_PER_RESOURCE {
            return Err(LockError::TagLimit {
                group: g.clone(),
                tags: count,
                needed,
            });
        }
    }

    // 2. The claim, under a key nobody else writes.
    store
        .tag(&groups, &claim_key, &claim.encode())
        .await
        .map_err(call_error("claiming the lease", region))?;

    // 3. Proceed only on a list that shows nothing but the own claim.
    let mut round = 0;
    loop {
        let decision = match store.list(&groups).await {
            Ok(listed) => contest(&groups, &read(&listed), &claim, now()),
            Err(e) => Decision::Refuse(call_error("listing the tags", region)(e)),
        };
        match decision {
            Decision::Alone => break,
            Decision::Refuse(e) => {
                withdraw(store, &groups, &claim_key).await;
                return Err(e);
            }
            Decision::Wait(other) => {
                round += 1;
                if round >= options.contest_rounds || claim.expiry <= now() {
                    withdraw(store, &groups, &claim_key).await;
                    return Err(other);
                }
                let jitter = rand::random::<f64>() * 0.5 + 0.75;
                tokio::time::sleep(options.contest_wait.mul_f64(jitter)).await;
            }
        }
    }

    // 4. The lease, then the claim goes: one of the two is always there.
    if let Err(e) = store.tag(&groups, LOCK_KEY, &value.encode()).await {
        withdraw(store, &groups, &claim_key).await;
        return Err(call_error("writing the lease", region)(e));
    }
    if let Err(e) = store.untag(&groups, std::slice::from_ref(&claim_key)).await {
        // The lease holds; a claim left over expires on its own.
        tracing::warn!(error = %e, region, "cannot remove the lease's claim");
    }
    tracing::info!(region, groups = groups.len(), lease = %value.lease, "lease taken");
    Ok(Lease {
        region: region.to_owned(),
        groups,
        value,
    })
}

/// The refusal an existing lease makes, if any.
fn held(group: &str, entries: &[Entry], mine: &str, now: Timestamp) -> Option<LockError> {
    for e in entries.iter().filter(|e| e.lease) {
        match &e.value {
            None => {
                return Some(LockError::Unreadable {
                    group: group.to_owned(),
                    value: e.raw.clone(),
                });
            }
            Some(v) if v.lease != mine && !v.is_expired(now) => {
                return Some(LockError::Held {
                    group: group.to_owned(),
                    value: v.clone(),
                });
            }
            Some(_) => {}
        }
    }
    None
}

enum Decision {
    /// Only the own claim: go on.
    Alone,
    /// Another claim is there, and the own one comes first: list again.
    Wait(LockError),
    /// Withdraw and refuse.
    Refuse(LockError),
}

fn contest(
    groups: &[String],
    by_group: &BTreeMap<&str, (Vec<Entry>, usize)>,
    claim: &LeaseValue,
    now: Timestamp,
) -> Decision {
    let mut wait = None;
    for g in groups {
        let entries = by_group.get(g.as_str()).map_or(&[][..], |(e, _)| &e[..]);
        if let Some(problem) = held(g, entries, &claim.lease, now) {
            return Decision::Refuse(problem);
        }
        let own = entries
            .iter()
            .any(|e| !e.lease && e.value.as_ref().is_some_and(|v| v.lease == claim.lease));
        if !own {
            return Decision::Refuse(LockError::Lost { group: g.clone() });
        }
        for other in entries.iter().filter(|e| !e.lease) {
            let Some(v) = &other.value else { continue };
            if v.lease == claim.lease || v.is_expired(now) {
                continue;
            }
            let contested = LockError::Contested {
                group: g.clone(),
                value: v.clone(),
            };
            if v.rank() < claim.rank() {
                return Decision::Refuse(contested);
            }
            wait.get_or_insert(contested);
        }
    }
    match wait {
        Some(e) => Decision::Wait(e),
        None => Decision::Alone,
    }
}

async fn withdraw<S: TagStore>(store: &S, groups: &[String], claim_key: &str) {
    if let Err(e) = store.untag(groups, &[claim_key.to_owned()]).await {
        tracing::warn!(error = %e, "cannot withdraw the lease's claim; it expires on its own");
    }
}

/// Extends the lease to `now + ttl`, after checking it is still this one's
/// on every group.
pub async fn renew<S: TagStore>(
    store: &S,
    lease: &Lease,
    ttl: Duration,
    now: Timestamp,
) -> Result<Lease, LockError> {
    let region = lease.region.as_str();
    let listed = store
        .list(&lease.groups)
        .await
        .map_err(call_error("listing the tags", region))?;
    let by_group = read(&listed);
    for g in &lease.groups {
        let mine = by_group.get(g.as_str()).is_some_and(|(entries, _)| {
            entries.iter().any(|e| {
                e.lease
                    && e.value
                        .as_ref()
                        .is_some_and(|v| v.lease == lease.value.lease)
            })
        });
        if !mine {
            return Err(LockError::Lost { group: g.clone() });
        }
    }
    let value = LeaseValue {
        expiry: now + ttl,
        ..lease.value.clone()
    };
    store
        .tag(&lease.groups, LOCK_KEY, &value.encode())
        .await
        .map_err(call_error("renewing the lease", region))?;
    Ok(Lease {
        value,
        ..lease.clone()
    })
}

/// Removes the lease from every group where it is still this one's (a group
/// whose lease another holder took after this one expired is left alone).
pub async fn release<S: TagStore>(store: &S, lease: &Lease) -> Result<(), LockError> {
    let region = lease.region.as_str();
    let listed = store
        .list(&lease.groups)
        .await
        .map_err(call_error("listing the tags", region))?;
    let by_group = read(&listed);
    let mine: Vec<String> = lease
        .groups
        .iter()
        .filter(|g| {
            by_group.get(g.as_str()).is_some_and(|(entries, _)| {
                entries.iter().any(|e| {
                    e.lease
                        && e.value
                            .as_ref()
                            .is_some_and(|v| v.lease == lease.value.lease)
                })
            })
        })
        .cloned()
        .collect();
    if mine.is_empty() {
        return Ok(());
    }
    store
        .untag(&mine, &[LOCK_KEY.to_owned()])
        .await
        .map_err(call_error("releasing the lease", region))?;
    tracing::info!(region, groups = mine.len(), "lease released");
    Ok(())
}

/// What `moat unlock` removed from one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    pub group: String,
    pub key: String,
    /// The tag's value as moat reads it, or as it was.
    pub value: Result<LeaseValue, String>,
}

/// Removes every lease and claim from `groups`, whoever holds them (like
/// `terraform force-unlock`). Returns what was there.
pub async fn unlock<S: TagStore>(
    store: &S,
    region: &str,
    groups: &[String],
) -> Result<Vec<Removed>, LockError> {
    let listed = store
        .list(groups)
        .await
        .map_err(call_error("listing the tags", region))?;
    let mut removed = Vec::new();
    for (group, (entries, _)) in read(&listed) {
        if entries.is_empty() {
            continue;
        }
        let keys: Vec<String> = entries.iter().map(|e| e.key.clone()).collect();
        store
            .untag(&[group.to_owned()], &keys)
            .await
            .map_err(call_error("removing the lease", region))?;
        for e in entries {
            removed.push(Removed {
                group: group.to_owned(),
                key: e.key,
                value: e.value.ok_or(e.raw),
            });
        }
    }
    Ok(removed)
}
