//! Leases (issue 9, item 7): the claim protocol against an in-memory tag
//! store that is linearizable by construction (every call takes one lock),
//! driven through many seeded interleavings on virtual time; the pieces one
//! by one; then apply with leases against the emulator over loopback.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use jiff::Timestamp;
use moat_aliyun::ResourceTag;
use moat_exec::lock::{
    CLAIM_PREFIX, LOCK_KEY, LeaseValue, LockError, LockOptions, TagStore, acquire, release, unlock,
};

/// splitmix64, for reproducible delays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("tag store error")]
struct StoreError;

/// Tags per group; each call waits a seeded while before and after it
/// takes effect, so calls of concurrent lockers interleave every way.
struct MemStore {
    tags: Mutex<BTreeMap<String, Vec<(String, String)>>>,
    rng: Mutex<Rng>,
    max_delay_ms: u64,
}

impl MemStore {
    fn new(groups: &[&str], seed: u64, max_delay_ms: u64) -> MemStore {
        MemStore {
            tags: Mutex::new(
                groups
                    .iter()
                    .map(|g| ((*g).to_owned(), Vec::new()))
                    .collect(),
            ),
            rng: Mutex::new(Rng(seed)),
            max_delay_ms,
        }
    }

    async fn pause(&self) {
        let ms = if self.max_delay_ms == 0 {
            0
        } else {
            self.rng.lock().unwrap().next() % self.max_delay_ms
        };
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    fn set(&self, group: &str, key: &str, value: &str) {
        let mut tags = self.tags.lock().unwrap();
        let list = tags.entry(group.to_owned()).or_default();
        match list.iter_mut().find(|(k, _)| k == key) {
            Some(t) => t.1 = value.to_owned(),
            None => list.push((key.to_owned(), value.to_owned())),
        }
    }

    fn keys(&self, group: &str) -> Vec<String> {
        self.tags.lock().unwrap()[group]
            .iter()
            .map(|(k, _)| k.clone())
            .collect()
    }
}

impl TagStore for MemStore {
    type Error = StoreError;

    async fn list(&self, groups: &[String]) -> Result<Vec<ResourceTag>, StoreError> {
        self.pause().await;
        let out = {
            let tags = self.tags.lock().unwrap();
            groups
                .iter()
                .flat_map(|g| {
                    tags.get(g).into_iter().flatten().map(|(k, v)| ResourceTag {
                        resource_id: g.clone(),
                        key: k.clone(),
                        value: v.clone(),
                    })
                })
                .collect()
        };
        self.pause().await;
        Ok(out)
    }

    async fn tag(&self, groups: &[String], key: &str, value: &str) -> Result<(), StoreError> {
        self.pause().await;
        for g in groups {
            self.set(g, key, value);
        }
        self.pause().await;
        Ok(())
    }

    async fn untag(&self, groups: &[String], keys: &[String]) -> Result<(), StoreError> {
        self.pause().await;
        {
            let mut tags = self.tags.lock().unwrap();
            for g in groups {
                if let Some(list) = tags.get_mut(g) {
                    list.retain(|(k, _)| !keys.contains(k));
                }
            }
        }
        self.pause().await;
        Ok(())
    }
}

fn base() -> Timestamp {
    "2026-11-25T10:00:00Z".parse().unwrap()
}

/// A clock that follows tokio's (paused, virtual) time.
fn virtual_clock() -> impl Fn() -> Timestamp + Send + Sync {
    let start = tokio::time::Instant::now();
    move || base() + start.elapsed()
}

fn ids(groups: &[&str]) -> Vec<String> {
    groups.iter().map(|g| (*g).to_owned()).collect()
}

/// Three applies at once, on overlapping groups, over 300 seeded
/// interleavings: never two holding a lease on one group at the same time,
/// and in most runs one of them goes on.
#[tokio::test(start_paused = true)]
async fn no_two_applies_ever_hold_one_group() {
    let mut some_won = 0;
    for seed in 0..300u64 {
        let store = Arc::new(MemStore::new(&["sg-a", "sg-b", "sg-c"], seed, 40));
        let holding: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let clock: Arc<dyn Fn() -> Timestamp + Send + Sync> = Arc::new(virtual_clock());
        let wants = [
            ids(&["sg-a", "sg-b"]),
            ids(&["sg-b", "sg-c"]),
            ids(&["sg-a", "sg-c"]),
        ];
        let mut tasks = Vec::new();
        for (n, groups) in wants.into_iter().enumerate() {
            let store = store.clone();
            let holding = holding.clone();
            let clock = clock.clone();
            tasks.push(tokio::spawn(async move {
                let options = LockOptions::new(format!("apply{n}"), "test");
                let lease = acquire(&*store, "cn-hangzhou", &groups, &options, &*clock).await;
                let Ok(lease) = lease else { return false };
                for g in &groups {
                    let mut h = holding.lock().unwrap();
                    let count = h.entry(g.clone()).or_default();
                    *count += 1;
                    assert_eq!(*count, 1, "seed {seed}: two holders of {g}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                for g in &groups {
                    *holding.lock().unwrap().get_mut(g).unwrap() -= 1;
                }
                release(&*store, &lease).await.expect("release");
                true
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.expect("no panic"));
        }
        some_won += usize::from(won > 0);
        // Nothing is left behind: every claim was withdrawn or removed,
        // every lease released.
        for g in ["sg-a", "sg-b", "sg-c"] {
            assert!(store.keys(g).is_empty(), "seed {seed}: {:?}", store.keys(g));
        }
    }
    assert!(
        some_won > 250,
        "the tie-break lets one go on: {some_won}/300"
    );
}

#[tokio::test(start_paused = true)]
async fn a_held_lease_refuses_naming_its_holder_and_an_expired_one_is_taken_over() {
    let store = MemStore::new(&["sg-a"], 1, 0);
    let clock = virtual_clock();
    let alice = LockOptions::new("alice", "laptop");
    let lease = acquire(&store, "r", &ids(&["sg-a"]), &alice, &clock)
        .await
        .expect("free");
    let bob = LockOptions::new("bob", "ci-7");
    let err = acquire(&store, "r", &ids(&["sg-a"]), &bob, &clock)
        .await
        .expect_err("held");
    match &err {
        LockError::Held { group, value } => {
            assert_eq!(group, "sg-a");
            assert_eq!(value.holder, "alice");
            assert_eq!(value.expiry, lease.value.expiry);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("security group sg-a is locked by alice@laptop (since 2026-11-25T10:00:00Z, until 2026-11-25T10:15:00Z)"),
        "{err}"
    );
    assert_eq!(store.keys("sg-a"), [LOCK_KEY], "bob wrote nothing");

    // Alice's run died; her lease expires and bob takes over.
    tokio::time::sleep(Duration::from_secs(16 * 60)).await;
    let taken = acquire(&store, "r", &ids(&["sg-a"]), &bob, &clock)
        .await
        .expect("expired");
    // Alice's late release does not remove bob's lease.
    release(&store, &lease).await.expect("release");
    let value = store.tags.lock().unwrap()["sg-a"][0].1.clone();
    assert_eq!(
        LeaseValue::decode(&value).map(|v| v.holder),
        Some("bob".into())
    );
    release(&store, &taken).await.expect("release");
    assert!(store.keys("sg-a").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_group_without_room_for_the_tags_is_refused_before_any_write() {
    let store = MemStore::new(&["sg-a"], 1, 0);
    for n in 0..19 {
        store.set("sg-a", &format!("team{n}"), "x");
    }
    let err = acquire(
        &store,
        "r",
        &ids(&["sg-a"]),
        &LockOptions::new("a", "h"),
        &virtual_clock(),
    )
    .await
    .expect_err("no room");
    assert!(
        matches!(
            err,
            LockError::TagLimit {
                tags: 19,
                needed: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.keys("sg-a").len(), 19);
}

#[tokio::test(start_paused = true)]
async fn unlock_removes_leases_and_claims_of_anyone() {
    let store = MemStore::new(&["sg-a", "sg-b"], 1, 0);
    let clock = virtual_clock();
    acquire(
        &store,
        "r",
        &ids(&["sg-a"]),
        &LockOptions::new("a", "h"),
        &clock,
    )
    .await
    .expect("lease");
    store.set("sg-b", &format!("{CLAIM_PREFIX}0123"), "garbage");
    store.set("sg-b", "team", "kept");
    let removed = unlock(&store, "r", &ids(&["sg-a", "sg-b"]))
        .await
        .expect("unlock");
    assert_eq!(removed.len(), 2);
    assert!(removed[0].value.is_ok());
    assert_eq!(removed[1].value, Err("garbage".to_owned()));
    assert!(store.keys("sg-a").is_empty());
    assert_eq!(store.keys("sg-b"), ["team"]);
}

#[test]
fn a_lease_value_fits_a_tag_and_reads_back() {
    let v = LeaseValue {
        holder: "a user with a very long name: http://example".into(),
        host: "host;with=separators".repeat(4),
        start: base(),
        expiry: base() + Duration::from_secs(900),
        lease: "0123456789ab".into(),
    };
    let text = v.encode();
    assert!(text.chars().count() <= 128, "{text}");
    assert!(!text.contains("http://"));
    let back = LeaseValue::decode(&text).expect("decodes");
    assert_eq!(
        (back.start, back.expiry, back.lease.as_str()),
        (v.start, v.expiry, "0123456789ab")
    );
    assert_eq!(LeaseValue::decode("not a lease"), None);
}

// --- apply with leases, against the emulator ---

use common::{REGION, client, desired, emulator, emulator_with, make_plan, rule, seed_groups};
use moat_emulator::{EmulatorHandle, FaultConfig, SeedGroup};
use moat_exec::apply::{ApplyError, ApplyOptions, Progress, apply};
use moat_exec::{JournalLine, LineKind, Session, SessionOptions, StopReason};
use moat_policy::Direction;

/// The tags (group, key) the emulator holds, sorted.
fn live_tags(handle: &EmulatorHandle) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = handle
        .emulator()
        .snapshot()
        .groups
        .iter()
        .flat_map(|g| {
            g.tags
                .iter()
                .map(|t| (g.security_group_id.clone(), t.tag_key.as_str().to_owned()))
        })
        .collect();
    out.sort();
    out
}

fn tag_calls(handle: &EmulatorHandle) -> u64 {
    let stats = handle.emulator().stats();
    ["TagResources", "ListTagResources", "UntagResources"]
        .iter()
        .map(|a| stats.ok(a) + stats.errors(a))
        .sum()
}

fn rule_calls(handle: &EmulatorHandle) -> u64 {
    let stats = handle.emulator().stats();
    [
        "AuthorizeSecurityGroup",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroup",
        "RevokeSecurityGroupEgress",
        "ModifySecurityGroupRule",
        "ModifySecurityGroupEgressRule",
    ]
    .iter()
    .map(|a| stats.ok(a) + stats.errors(a))
    .sum()
}

/// Records the tags on the groups when the first group starts changing.
#[derive(Debug)]
struct TagsAtStart {
    handle: Arc<moat_emulator::Emulator>,
    seen: Mutex<Option<Vec<(String, String)>>>,
}

impl Progress for TagsAtStart {
    fn group_started(&self, _group: &str, _changes: usize) {
        let mut seen = self.seen.lock().unwrap();
        if seen.is_none() {
            let mut tags: Vec<(String, String)> = self
                .handle
                .snapshot()
                .groups
                .iter()
                .flat_map(|g| {
                    g.tags
                        .iter()
                        .map(|t| (g.security_group_id.clone(), t.tag_key.as_str().to_owned()))
                })
                .collect();
            tags.sort();
            *seen = Some(tags);
        }
    }
}

fn locking(progress: Option<Arc<dyn Progress>>) -> ApplyOptions {
    ApplyOptions {
        parallel: 1,
        lock: Some(LockOptions::new("alice", "laptop")),
        progress,
        ..ApplyOptions::default()
    }
}

#[tokio::test]
async fn apply_leases_the_groups_it_changes_before_changing_and_releases_them() {
    let handle = emulator(FaultConfig::default(), 61);
    let same = vec![rule(Direction::Ingress, 22, "10.0.0.0/8")];
    seed_groups(
        &handle,
        &[
            ("sg-bplock0001", Vec::new()),
            ("sg-bplock0002", Vec::new()),
            ("sg-bplock0003", same.clone()),
        ],
    );
    let set = desired(&[
        (
            "sg-bplock0001",
            vec![rule(Direction::Ingress, 443, "10.0.0.0/8")],
        ),
        (
            "sg-bplock0002",
            vec![rule(Direction::Egress, 53, "10.0.0.0/8")],
        ),
        ("sg-bplock0003", same),
    ]);
    let c = client(&handle, 3);
    let (plan, _) = make_plan(&c, &set).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal.jsonl");
    let s = Session::open(
        c.clone(),
        SessionOptions {
            journal: Some(&journal),
            ..SessionOptions::default()
        },
    )
    .expect("session");
    let seen = Arc::new(TagsAtStart {
        handle: handle.emulator().clone(),
        seen: Mutex::new(None),
    });
    handle.emulator().reset_stats();
    let report = apply(&s, &plan, &locking(Some(seen.clone())))
        .await
        .expect("apply runs");
    assert!(report.succeeded(), "{report}");

    // Before the first change, the two groups it changes carry the lease
    // (the claim already gone); the group in sync is not touched.
    assert_eq!(
        seen.seen.lock().unwrap().clone(),
        Some(vec![
            ("sg-bplock0001".to_owned(), LOCK_KEY.to_owned()),
            ("sg-bplock0002".to_owned(), LOCK_KEY.to_owned()),
        ])
    );
    // Released at the end.
    assert_eq!(live_tags(&handle), []);
    // Lease calls are counted apart, as the emulator counted them, and the
    // rule changes are still exactly the two the plan needs.
    assert_eq!(report.calls.locks, tag_calls(&handle));
    assert_eq!(
        report.calls.locks, 7,
        "list, claim, list, lease, unclaim, list, release"
    );
    assert_eq!(report.calls.changes, 2);
    assert_eq!(rule_calls(&handle), 2);
    assert_eq!(report.api_calls(), handle.emulator().stats().total());
    assert!(report.to_string().contains("(7 for the lease)"), "{report}");

    // The journal has every lease call under the `lock` phase, tag writes
    // with an intent before and an outcome after.
    let lines: Vec<JournalLine> = std::fs::read_to_string(&journal)
        .expect("journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a journal line"))
        .collect();
    let lock_attempts = lines
        .iter()
        .filter(|l| l.kind == LineKind::Attempt && l.phase == "lock")
        .count() as u64;
    assert_eq!(lock_attempts, 7);
    let lock_intents = lines
        .iter()
        .filter(|l| l.kind == LineKind::Intent && l.phase == "lock")
        .count();
    assert_eq!(lock_intents, 4, "claim, lease, unclaim, release");
}

#[tokio::test]
async fn another_holders_lease_on_one_group_refuses_the_whole_apply_before_any_change() {
    let handle = emulator(FaultConfig::default(), 62);
    seed_groups(&handle, &[("sg-bplock0001", Vec::new())]);
    let held =
        "holder=carol;host=ci-7;start=20261125T101500Z;expiry=20991125T103000Z;lease=0123456789ab";
    handle
        .emulator()
        .seed_group(
            SeedGroup::new(REGION, "sg-bplock0002")
                .name("sg-bplock0002-name")
                .vpc_id("vpc-apply")
                .tag(LOCK_KEY, held),
        )
        .expect("seeding");
    let set = desired(&[
        (
            "sg-bplock0001",
            vec![rule(Direction::Ingress, 443, "10.0.0.0/8")],
        ),
        (
            "sg-bplock0002",
            vec![rule(Direction::Ingress, 80, "10.0.0.0/8")],
        ),
    ]);
    let c = client(&handle, 3);
    let (plan, _) = make_plan(&c, &set).await;
    handle.emulator().reset_stats();
    let err = apply(&Session::new(c.clone()), &plan, &locking(None))
        .await
        .expect_err("refused");
    match &err {
        ApplyError::Lock(e) => match &**e {
            LockError::Held { group, value } => {
                assert_eq!(group, "sg-bplock0002");
                assert_eq!(
                    (value.holder.as_str(), value.host.as_str()),
                    ("carol", "ci-7")
                );
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "security group sg-bplock0002 is locked by carol@ci-7 (since 2026-11-25T10:15:00Z, until 2099-11-25T10:30:00Z)"
    );
    // No rule changed, nothing written on the free group, carol's lease as
    // it was: the refusal came from the first list.
    assert_eq!(rule_calls(&handle), 0);
    assert_eq!(handle.emulator().stats().ok("TagResources"), 0);
    assert_eq!(
        live_tags(&handle),
        [("sg-bplock0002".to_owned(), LOCK_KEY.to_owned())]
    );
}

#[tokio::test]
async fn the_lease_is_released_after_a_run_that_stops_on_a_quota() {
    let handle = emulator_with(FaultConfig::default(), 63, |c| c.rules_per_group = 1);
    seed_groups(
        &handle,
        &[("sg-bplock0001", Vec::new()), ("sg-bplock0002", Vec::new())],
    );
    let many: Vec<_> = (0..3)
        .map(|n| rule(Direction::Ingress, 8000 + n, "10.0.0.0/8"))
        .collect();
    let set = desired(&[("sg-bplock0001", many.clone()), ("sg-bplock0002", many)]);
    let c = client(&handle, 3);
    let (plan, _) = make_plan(&c, &set).await;
    let report = apply(&Session::new(c.clone()), &plan, &locking(None))
        .await
        .expect("apply runs");
    assert!(
        matches!(report.stopped, Some(StopReason::Quota { .. })),
        "{report}"
    );
    assert_eq!(live_tags(&handle), []);
    assert!(report.lease_errors.is_empty());
}
