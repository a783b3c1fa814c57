//! Reads started before the plan (a prefetch, as the CLI starts while the
//! policies load) against the emulator over loopback: the plan takes them
//! instead of reading again, reads only what they left out, and the calls
//! are the same as without them.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{KEY_SECRET, REGION, client, client_as, desired, emulator, rule, seed_groups, today};
use moat_aliyun::{Client, RetryPolicy};
use moat_diff::DiffOptions;
use moat_emulator::{EmulatorHandle, FaultConfig};
use moat_exec::{GroupRef, PlanOptions, Prefetch, ReadError, Reader, Recorder, plan};
use moat_policy::{Direction, PolicySet, Rule};

const GROUPS: usize = 250;

fn id(n: usize) -> String {
    format!("sg-prefetch{n:04}")
}

/// 250 groups of two rules; the policy wants a third in each, and the
/// emulator's counts start at zero.
fn cloud(faults: FaultConfig) -> (EmulatorHandle, Arc<PolicySet>) {
    let handle = emulator(faults, 7);
    let live: Vec<(String, Vec<Rule>)> = (0..GROUPS)
        .map(|n| {
            let rules = vec![
                rule(Direction::Ingress, 22, "10.0.0.0/8"),
                rule(Direction::Ingress, 443, "0.0.0.0/0"),
            ];
            (id(n), rules)
        })
        .collect();
    seed_groups(&handle, &live);
    let wanted: Vec<(String, Vec<Rule>)> = live
        .into_iter()
        .map(|(id, mut rules)| {
            rules.push(rule(Direction::Egress, 53, "10.0.0.2/32"));
            (id, rules)
        })
        .collect();
    (handle, Arc::new(desired(&wanted)))
}

fn refs(ids: impl Iterator<Item = usize>) -> Vec<GroupRef> {
    ids.map(|n| GroupRef::new(id(n), REGION)).collect()
}

/// A client whose every call the emulator refuses (a secret of its own),
/// trying once.
fn refused(handle: &EmulatorHandle, suffix: &str) -> Client {
    let retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
        max_elapsed: Duration::from_secs(1),
    };
    client_as(handle, &format!("{KEY_SECRET}-{suffix}"), None, retry)
}

fn options(prefetch: Option<Arc<Prefetch>>) -> PlanOptions {
    let mut options = PlanOptions::new(DiffOptions::new(today()));
    options.prefetch = prefetch;
    options
}

#[tokio::test]
async fn a_plan_takes_the_prefetched_reads_and_makes_no_call_twice() {
    let (handle, set) = cloud(FaultConfig::default());
    let client = client(&handle, 1);

    // Without a prefetch: the plan as it always was.
    let alone = Reader::new(client.read_only());
    let expected = plan(&alone, &set, &options(None)).await.expect("plan").plan;
    let stats = handle.emulator().stats();
    assert_eq!(stats.ok("DescribeSecurityGroupAttribute"), GROUPS as u64);
    assert_eq!(
        stats.ok("DescribeSecurityGroups"),
        3,
        "250 groups: 100 + 100 + 50"
    );
    handle.emulator().reset_stats();

    // Every group read ahead.
    let reader = Reader::new(client.read_only());
    let prefetch = Arc::new(Prefetch::new(reader.clone()));
    prefetch.read(refs(0..GROUPS));
    // Given twice, read once.
    prefetch.read(refs(0..10));
    let planned = plan(&reader, &set, &options(Some(prefetch.clone())))
        .await
        .expect("plan");
    // Each plan draws its own nonce; everything else is the same.
    let mut got = planned.plan;
    assert_ne!(got.nonce, expected.nonce);
    got.nonce.clone_from(&expected.nonce);
    assert_eq!(got, expected, "the same plan");
    assert_eq!(prefetch.pending(), 0, "every prefetched read was taken");
    let stats = handle.emulator().stats();
    assert_eq!(stats.ok("DescribeSecurityGroupAttribute"), GROUPS as u64);
    assert_eq!(stats.ok("DescribeSecurityGroups"), 3);
    assert_eq!(reader.counts().total(), stats.total(), "one count for both");
}

#[tokio::test]
async fn a_plan_reads_what_the_prefetch_left_out_and_types_the_rest_together() {
    let (handle, set) = cloud(FaultConfig::default());
    let client = client(&handle, 1);
    let reader = Reader::new(client.read_only());
    let prefetch = Arc::new(Prefetch::new(reader.clone()));
    // 130 groups: a type read of the first hundred goes out; 30 are left
    // for the plan to type with the other 120.
    prefetch.read(refs(0..130));
    let planned = plan(&reader, &set, &options(Some(prefetch)))
        .await
        .expect("plan");
    assert_eq!(planned.plan.groups.len(), GROUPS);
    assert!(planned.plan.groups.iter().all(|g| g.changes.len() == 1));
    let stats = handle.emulator().stats();
    assert_eq!(stats.ok("DescribeSecurityGroupAttribute"), GROUPS as u64);
    assert_eq!(stats.ok("DescribeSecurityGroups"), 3, "100 early, then 150");
    assert_eq!(reader.counts().total(), stats.total());
}

#[tokio::test]
async fn a_prefetched_group_that_does_not_exist_is_missing_in_the_plan() {
    let (handle, set) = cloud(FaultConfig::default());
    let client = client(&handle, 1);
    let mut set = (*set).clone();
    let mut ghost = set.groups[0].clone();
    ghost.id = "sg-prefetchghost".to_owned();
    set.groups.push(ghost);
    let set = Arc::new(set);
    let reader = Reader::new(client.read_only());
    let prefetch = Arc::new(Prefetch::new(reader.clone()));
    prefetch.read([GroupRef::new("sg-prefetchghost", REGION)]);
    let planned = plan(&reader, &set, &options(Some(prefetch)))
        .await
        .expect("plan");
    let missing: Vec<&str> = planned
        .plan
        .missing_groups()
        .map(|g| g.id.as_str())
        .collect();
    assert_eq!(missing, ["sg-prefetchghost"]);
    let stats = handle.emulator().stats();
    assert_eq!(stats.total(), GROUPS as u64 + 1 + 3, "read once, not again");
}

#[tokio::test]
async fn a_prefetched_read_that_fails_fails_the_plan() {
    let (handle, set) = cloud(FaultConfig::default());
    let wrong = refused(&handle, "wrong");
    let reader = Reader::new(wrong.read_only());
    let prefetch = Arc::new(Prefetch::new(reader.clone()));
    prefetch.read(refs(0..GROUPS));
    let err = plan(&reader, &set, &options(Some(prefetch)))
        .await
        .expect_err("nothing can be read");
    assert!(
        matches!(err, ReadError::Types { .. } | ReadError::Groups { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn dropping_a_prefetch_cancels_the_reads_it_has_not_sent() {
    let (handle, _) = cloud(FaultConfig {
        latency_ms: 300,
        ..FaultConfig::default()
    });
    let client = client(&handle, 1);
    let prefetch = Prefetch::new(Reader::new(client.read_only()));
    prefetch.read(refs(0..50));
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(prefetch);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let sent = handle.emulator().stats().total();
    // At most the reads that held one of the 16 permits were sent.
    assert!(sent <= 16, "{sent} calls after the drop");
}

#[tokio::test]
async fn a_client_made_after_the_prefetch_reads_its_groups() {
    let (handle, set) = cloud(FaultConfig::default());
    // The prefetch starts with a client the emulator refuses (another
    // account's, say), then is given the right one for the default account.
    let other = refused(&handle, "other");
    let right = client(&handle, 1);
    let recorder = Recorder::new();
    let prefetch = Arc::new(Prefetch::new(recorder.reader(other.read_only())));
    prefetch.set_default(right.read_only());
    prefetch.read(refs(0..GROUPS));
    let reader = recorder.reader(right.read_only());
    let planned = plan(&reader, &set, &options(Some(prefetch)))
        .await
        .expect("every read went through the right client");
    assert_eq!(planned.plan.groups.len(), GROUPS);
    let stats = handle.emulator().stats();
    assert_eq!(
        stats.total(),
        GROUPS as u64 + 3,
        "no refused call: {stats:?}"
    );
    assert_eq!(reader.counts().total(), stats.total());
}
