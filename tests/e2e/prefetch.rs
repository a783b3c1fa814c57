//! Reads that start while the policies load: `plan`, `drift` and `apply`
//! against an endpoint read each group once, with the same calls as ever
//! (apply's journaled and counted as the run's), and policies that turn
//! out invalid are the answer (their diagnostics, exit 1, no plan, nothing
//! changed), whatever was read meanwhile.

use std::fmt::Write as _;

use moat_emulator::SeedGroup;

use crate::cloud::{at, cloud_env, emulator, mutating_calls, summary_calls};
use crate::common::TestEnv;

const GROUPS: usize = 30;

fn id(n: usize) -> String {
    format!("sg-bp1early{n:04}")
}

/// Three files of ten groups after a shared address book; every live group
/// lacks the policy's HTTPS rule.
fn fleet(handle: &moat_emulator::EmulatorHandle) -> (TestEnv, String) {
    let seeds = (0..GROUPS).map(|n| SeedGroup::new("cn-hangzhou", id(n)).vpc_id("vpc-e2e"));
    handle.emulator().seed_groups(seeds).expect("seeding");
    let (env, endpoint) = cloud_env(handle);
    env.write(
        "fleet/00-addresses.yaml",
        "version: 1\naddresses:\n  office: [203.0.113.0/28]\n",
    );
    for file in 0..3 {
        let mut text = String::from("version: 1\nsecurity_groups:\n");
        for n in file * 10..file * 10 + 10 {
            let _ = writeln!(
                text,
                "  - id: {}\n    region: cn-hangzhou\n    ingress:\n      - {{allow: tcp/443, from: office}}",
                id(n)
            );
        }
        env.write(&format!("fleet/{file:02}-groups.yaml"), text);
    }
    (env, endpoint)
}

#[test]
fn plan_and_drift_read_each_group_once_starting_while_the_policies_load() {
    let handle = emulator();
    let (env, endpoint) = fleet(&handle);
    for (command, code) in [("plan", 0), ("drift", 2)] {
        handle.emulator().reset_stats();
        let run = at(&env, &endpoint, &[command, "fleet", "-v"]);
        run.expect_code(code);
        run.expect_stderr(&format!("reads started while loading groups={GROUPS}"));
        let stats = handle.emulator().stats();
        assert_eq!(
            stats.ok("DescribeSecurityGroupAttribute"),
            GROUPS as u64,
            "{command}: one read per group\n{}",
            run.snapshot()
        );
        assert_eq!(
            stats.ok("DescribeSecurityGroups"),
            1,
            "{command}: one type read"
        );
        assert_eq!(stats.total(), GROUPS as u64 + 1, "{command}: nothing else");
    }
    let run = at(&env, &endpoint, &["plan", "fleet"]);
    run.expect_stdout(&format!("Plan: {GROUPS} to add, 0 to change, 0 to remove."));
}

#[test]
fn apply_approved_in_advance_reads_while_loading_and_counts_and_journals_those_reads() {
    let handle = emulator();
    let (env, endpoint) = fleet(&handle);
    handle.emulator().reset_stats();
    let run = at(
        &env,
        &endpoint,
        &["apply", "fleet", "--auto-approve", "--no-lock", "-v"],
    );
    run.expect_code(0);
    run.expect_stderr(&format!("reads started while loading groups={GROUPS}"));
    let stats = handle.emulator().stats();
    // A read per group for the plan (started while loading) and one to
    // verify, the one type read, and an authorize per group: no re-read.
    assert_eq!(
        stats.ok("DescribeSecurityGroupAttribute"),
        2 * GROUPS as u64,
        "{stats:?}\n{}",
        run.snapshot()
    );
    assert_eq!(stats.ok("DescribeSecurityGroups"), 1, "{stats:?}");
    assert_eq!(mutating_calls(&handle), GROUPS as u64, "{stats:?}");
    assert_eq!(stats.total(), 3 * GROUPS as u64 + 1, "{stats:?}");
    // The summary counts the early reads: its count is the service's.
    assert_eq!(summary_calls(&run.stdout), stats.total());
    // And the journal has every one of them, as the plan's reads.
    let journal = std::fs::read_to_string(env.home().join(".moat/journal.jsonl")).expect("journal");
    let plan_reads = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .filter(|l| {
            l["kind"] == "attempt"
                && l["phase"] == "plan"
                && l["action"] == "DescribeSecurityGroupAttribute"
        })
        .count();
    assert_eq!(plan_reads, GROUPS, "{journal}");
}

#[test]
fn apply_of_every_stage_reads_nothing_before_its_first_stage_is_planned() {
    let handle = emulator();
    let (env, endpoint) = fleet(&handle);
    env.write(
        "fleet/00-addresses.yaml",
        "version: 1\nstages: [test, prod]\naddresses:\n  office: [203.0.113.0/28]\n",
    );
    let run = at(
        &env,
        &endpoint,
        &["apply", "fleet", "--all-stages", "--auto-approve", "-v"],
    );
    // No group is in a stage: each stage is in sync with nothing to do.
    run.expect_code(0)
        .expect_stdout("Stage test (1 of 2): 0 groups")
        .expect_stdout("Stage prod (2 of 2): 0 groups");
    assert!(
        !run.stderr.contains("reads started while loading"),
        "{}",
        run.snapshot()
    );
}

#[test]
fn only_the_groups_asked_for_are_read_early() {
    let handle = emulator();
    let (env, endpoint) = fleet(&handle);
    let run = at(
        &env,
        &endpoint,
        &["plan", "fleet", "--group", &id(12), "-v"],
    );
    run.expect_code(0);
    run.expect_stderr("reads started while loading groups=1");
    let stats = handle.emulator().stats();
    assert_eq!(stats.ok("DescribeSecurityGroupAttribute"), 1);
    assert_eq!(stats.total(), 2, "{}", run.snapshot());
}

#[test]
fn a_file_found_invalid_after_the_reads_started_is_the_answer() {
    let handle = emulator();
    let (env, endpoint) = fleet(&handle);
    env.write(
        "fleet/09-broken.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1early9999\n    region: cn-hangzhou\n    ingress:\n      - {allow: tcp/22, from: nowhere}\n",
    );
    for args in [
        &["plan", "fleet"][..],
        &["drift", "fleet"],
        &["apply", "fleet", "--auto-approve"],
    ] {
        let run = at(&env, &endpoint, args);
        run.expect_code(1);
        run.expect_stderr("09-broken.yaml:6:");
        run.expect_stderr("unknown address set \"nowhere\"");
        assert!(run.stdout.is_empty(), "no plan: {}", run.snapshot());
    }
    let stats = handle.emulator().stats();
    let mutating: u64 = stats
        .calls
        .iter()
        .filter(|(action, _)| !action.starts_with("Describe"))
        .map(|(_, c)| c.ok + c.error)
        .sum();
    assert_eq!(mutating, 0, "reads only: {stats:?}");
}

#[test]
fn test_live_reads_the_tested_groups_while_loading_whichever_file_comes_first() {
    let handle = emulator();
    let seeds = (0..10).map(|n| SeedGroup::new("cn-hangzhou", id(n)).vpc_id("vpc-e2e"));
    handle.emulator().seed_groups(seeds).expect("seeding");
    let (env, endpoint) = cloud_env(&handle);
    // A test by id before its group's file, a test of a template after
    // the groups using it; the other groups are named by no test.
    env.write(
        "t/00-first.yaml",
        format!(
            "version: 1\naddresses:\n  office: [203.0.113.0/28]\ntemplates:\n  web:\n    ingress:\n      - {{allow: tcp/443, from: office}}\ntests:\n  - {{name: https from the office, group: {}, from: 203.0.113.1, port: tcp/443, expect: allow}}\n",
            id(3)
        ),
    );
    let mut groups = String::from("version: 1\nsecurity_groups:\n");
    for n in 0..10 {
        let uses = if n == 5 || n == 6 {
            "\n    use: [web]"
        } else {
            ""
        };
        let _ = write!(groups, "  - id: {}\n    region: cn-hangzhou{uses}\n", id(n));
    }
    env.write("t/01-groups.yaml", groups);
    env.write(
        "t/02-last.yaml",
        "version: 1\ntests:\n  - {name: no database from anywhere, template: web, from: 0.0.0.0/0, port: tcp/3306, expect: deny}\n",
    );
    handle.emulator().reset_stats();
    let run = at(&env, &endpoint, &["test", "t", "--live", "-v"]);
    // The live group lacks the HTTPS rule; nothing is open to 3306.
    run.expect_code(1)
        .expect_stdout("2 tests: 1 passed, 1 failed")
        .expect_stderr("reads started while loading groups=3");
    let stats = handle.emulator().stats();
    assert_eq!(
        stats.ok("DescribeSecurityGroupAttribute"),
        3,
        "{stats:?}\n{}",
        run.snapshot()
    );
    assert_eq!(stats.total(), 4, "and one type read: {stats:?}");
}
