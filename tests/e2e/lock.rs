//! Issue 9, item 7: two applies at once on the same groups both ran and
//! left a mix of both plans. Now each apply leases the groups it changes
//! (a `moat:lock` tag) and one that finds another's lease refuses before
//! any rule change; `moat unlock` removes a lease left behind.

use std::process::Child;
use std::time::{Duration, Instant};

use moat_emulator::{EmulatorHandle, FaultConfig, SeedGroup};

use crate::cloud::{
    at, cloud_env, emulator, emulator_with, lock_calls, many_rules, mutating_calls,
};
use crate::common::TestEnv;

const GROUPS: usize = 6;

fn group_id(g: usize) -> String {
    format!("sg-bp1e2elock{g:08}")
}

/// `GROUPS` empty groups, each wanting 150 rules (two authorize calls a
/// group), every call slowed down by the emulator.
fn slow_cloud() -> (EmulatorHandle, TestEnv, String) {
    let handle = emulator_with(|c| {
        c.faults = FaultConfig {
            latency_ms: 150,
            ..FaultConfig::default()
        };
    });
    let ids: Vec<String> = (0..GROUPS).map(group_id).collect();
    let (env, endpoint) = many_rules(&handle, &ids);
    (handle, env, endpoint)
}

fn spawn_apply(env: &TestEnv, endpoint: &str, holder: &str) -> Child {
    let file = |name: &str| std::fs::File::create(env.home().join(name)).expect("output file");
    env.command(env!("CARGO_BIN_EXE_moat"))
        .args([
            "apply",
            "many.yaml",
            "--endpoint",
            endpoint,
            "--auto-approve",
            "--parallel",
            "1",
            "--journal",
            &format!("{holder}.jsonl"),
        ])
        .env("MOAT_LOCK_HOLDER", holder)
        .env("HOSTNAME", "host-a")
        .stdout(file(&format!("{holder}.out")))
        .stderr(file(&format!("{holder}.err")))
        .spawn()
        .expect("starting moat apply")
}

/// The tags of every group, as the emulator holds them.
fn tags(handle: &EmulatorHandle) -> Vec<(String, String)> {
    handle
        .emulator()
        .snapshot()
        .groups
        .iter()
        .flat_map(|g| {
            g.tags
                .iter()
                .map(|t| (g.security_group_id.clone(), t.tag_key.as_str().to_owned()))
        })
        .collect()
}

#[test]
fn two_applies_at_once_on_the_same_groups_one_refuses_before_any_change() {
    let (handle, env, endpoint) = slow_cloud();
    let alice = spawn_apply(&env, &endpoint, "alice");
    // Alice holds the lease once she changes rules; the bound only keeps a
    // broken binary from hanging the test.
    let started = Instant::now();
    while mutating_calls(&handle) < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "alice never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let bob = env.run_env(
        &[("MOAT_LOCK_HOLDER", "bob"), ("HOSTNAME", "host-b")],
        &[
            "apply",
            "many.yaml",
            "--endpoint",
            &endpoint,
            "--auto-approve",
            "--journal",
            "bob.jsonl",
        ],
    );
    bob.expect_code(1)
        .expect_stderr("refusing to apply; nothing was changed")
        .expect_stderr("is locked by alice@host-a (since ")
        .expect_stderr(", until ");

    let mut alice = alice;
    let status = alice.wait().expect("waiting for alice");
    let read = |name: &str| std::fs::read_to_string(env.home().join(name)).expect("output");
    assert_eq!(
        status.code(),
        Some(0),
        "{}\n{}",
        read("alice.out"),
        read("alice.err")
    );
    assert!(
        read("alice.out").contains("Apply complete: 900 added"),
        "{}",
        read("alice.out")
    );

    // Only alice's changes were made: the floor of two authorize calls a
    // group, none of bob's.
    assert_eq!(mutating_calls(&handle), 2 * GROUPS as u64);
    let bob_journal = read("bob.jsonl");
    assert!(
        !bob_journal.contains("AuthorizeSecurityGroup"),
        "bob changed nothing: {bob_journal}"
    );
    // Bob wrote no tag either (he refused on the first list), and alice
    // released her lease: no tag is left.
    assert!(!bob_journal.contains("\"TagResources\""), "{bob_journal}");
    assert_eq!(tags(&handle), []);
    at(&env, &endpoint, &["drift", "many.yaml"]).expect_code(0);
}

const POLICY: &str = "\
version: 1
security_groups:
  - id: sg-bp1e2elockleft01
    region: cn-hangzhou
    ingress:
      - description: HTTPS from the office
        allow: tcp/443
        from: 203.0.113.0/28
";

const LEFT_BEHIND: &str =
    "holder=carol;host=ci-7;start=20261125T101500Z;expiry=20991125T103000Z;lease=0123456789ab";

#[test]
fn a_lease_left_behind_refuses_apply_until_moat_unlock_removes_it() {
    let handle = emulator();
    handle
        .emulator()
        .seed_group(
            SeedGroup::new("cn-hangzhou", "sg-bp1e2elockleft01")
                .vpc_id("vpc-e2e")
                .tag("team", "web")
                .tag("moat:lock", LEFT_BEHIND),
        )
        .expect("seeding");
    let (env, endpoint) = cloud_env(&handle);
    let env = env
        .env("MOAT_LOCK_HOLDER", "dave")
        .env("HOSTNAME", "laptop");
    env.write("app.yaml", POLICY);

    let refused = at(&env, &endpoint, &["apply", "app.yaml", "--auto-approve"])
        .redact(&endpoint, "$ENDPOINT");
    refused.expect_code(1).assert_golden("apply_locked");
    assert_eq!(mutating_calls(&handle), 0);

    let unlocked = at(
        &env,
        &endpoint,
        &["unlock", "sg-bp1e2elockleft01", "--region", "cn-hangzhou"],
    )
    .redact(&endpoint, "$ENDPOINT");
    unlocked.expect_code(0).assert_golden("unlock");
    assert_eq!(
        tags(&handle),
        [("sg-bp1e2elockleft01".to_owned(), "team".to_owned())]
    );

    handle.emulator().reset_stats();
    let applied = at(&env, &endpoint, &["apply", "app.yaml", "--auto-approve"]);
    applied
        .expect_code(0)
        .expect_stdout("Apply complete: 1 added");
    // The summary counts the lease's calls apart, as the emulator saw them:
    // list, claim, list, lease, unclaim; list and release at the end.
    let locks = lock_calls(&handle);
    assert_eq!(locks, 7, "{:?}", handle.emulator().stats());
    applied.expect_stdout(&format!("({locks} for the lease)"));
    assert_eq!(mutating_calls(&handle), 1);
    assert_eq!(
        tags(&handle),
        [("sg-bp1e2elockleft01".to_owned(), "team".to_owned())]
    );
    // The journal has the lease's calls under their own phase.
    let journal = std::fs::read_to_string(env.home().join(".moat/journal.jsonl")).expect("journal");
    let lock_lines = journal
        .lines()
        .filter(|l| l.contains("\"kind\":\"attempt\"") && l.contains("\"phase\":\"lock\""))
        .count() as u64;
    assert!(lock_lines >= locks, "{journal}");

    at(
        &env,
        &endpoint,
        &["unlock", "sg-bp1e2elockleft01", "--region", "cn-hangzhou"],
    )
    .expect_code(0)
    .expect_stdout("No lease on sg-bp1e2elockleft01.");
}

#[test]
fn no_lock_takes_no_lease_and_unlock_refuses_a_bad_id() {
    let handle = emulator();
    handle
        .emulator()
        .seed_group(SeedGroup::new("cn-hangzhou", "sg-bp1e2elockleft01").vpc_id("vpc-e2e"))
        .expect("seeding");
    let (env, endpoint) = cloud_env(&handle);
    env.write("app.yaml", POLICY);
    at(
        &env,
        &endpoint,
        &["apply", "app.yaml", "--auto-approve", "--no-lock"],
    )
    .expect_code(0)
    .expect_stdout("Apply complete: 1 added");
    assert_eq!(lock_calls(&handle), 0);
    assert_eq!(mutating_calls(&handle), 1);

    at(
        &env,
        &endpoint,
        &["unlock", "sg-", "--region", "cn-hangzhou"],
    )
    .expect_code(1)
    .expect_stderr("\"sg-\" is not a security group id");
}
