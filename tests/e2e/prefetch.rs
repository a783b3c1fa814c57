//! Reads that start while the policies load: `plan` and `drift` against
//! an endpoint read each group once, with the same calls as ever, and
//! policies that turn out invalid are the answer (their diagnostics, exit
//! 1, no plan), whatever was read meanwhile.

use std::fmt::Write as _;

use moat_emulator::SeedGroup;

use crate::cloud::{at, cloud_env, emulator};
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
    for command in ["plan", "drift"] {
        let run = at(&env, &endpoint, &[command, "fleet"]);
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
