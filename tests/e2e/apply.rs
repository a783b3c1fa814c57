//! `moat apply`: from policies and from a saved plan, on the local cloud and
//! against an emulator: confirmation, guards, stale plans, snapshots that
//! roll back, a second apply that does nothing, and a process killed with
//! SIGKILL midway that a second run finishes.

use std::process::Stdio;
use std::time::{Duration, Instant};

use moat_emulator::{FaultConfig, SeedGroup};

use crate::cloud::{
    at, cloud_env, emulator, emulator_with, many_rules, mutating_calls, summary_calls,
    with_examples,
};
use crate::terminal::Terminal;

const FIVE_GROUPS: &str = "Apply complete: 5 added, 5 changed, 5 removed in 5 groups";

#[test]
fn apply_local_asks_first_then_converges_and_a_snapshot_rolls_back() {
    let env = with_examples();
    // No terminal and no --auto-approve: the plan is shown, nothing changes.
    let refused = env.run(&["apply", "--local", "policies/"]);
    refused.expect_code(1);
    assert!(
        refused
            .stdout
            .contains("Plan: 5 to add, 5 to change, 5 to remove."),
        "{}",
        refused.snapshot()
    );
    refused.expect_stderr("standard input is not a terminal");

    let applied = env.run(&["apply", "--local", "policies/", "--auto-approve"]);
    applied.expect_code(0);
    applied.expect_stdout(FIVE_GROUPS);
    assert!(
        !applied.stderr.contains("applying:"),
        "no progress display without a terminal: {}",
        applied.snapshot()
    );
    assert!(
        applied
            .stdout
            .contains("Snapshot of the live rules before this apply: .moat/snapshots/"),
        "{}",
        applied.snapshot()
    );

    let plan = env.run(&["plan", "--local", "policies/", "--detailed-exitcode"]);
    plan.expect_code(0);
    plan.expect_stdout("No changes.");
    let again = env.run(&["apply", "--local", "policies/"]);
    assert_eq!(
        again.code,
        Some(0),
        "nothing to confirm: {}",
        again.snapshot()
    );
    again.expect_stdout("No changes.");

    // The journal has a line per attempt, mutating ones with a token, and
    // an intent and an outcome around each rule-changing call.
    let journal = std::fs::read_to_string(env.home().join(".moat/journal.jsonl")).expect("journal");
    let lines: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(lines.iter().any(|l| l["action"] == "AuthorizeSecurityGroupEgress" && l["client_token"].is_string()));
    let attempts: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["kind"] == "attempt").collect();
    assert!(
        attempts
            .iter()
            .all(|l| l["request_id"].is_string() && l["outcome"] == "ok")
    );
    let count = |kind: &str| lines.iter().filter(|l| l["kind"] == kind).count();
    assert!(count("intent") > 0);
    assert_eq!(count("intent"), count("outcome"));
    // Every call of the apply is in the journal, the plan's reads included.
    assert!(attempts.iter().any(|l| l["phase"] == "plan"), "{journal}");

    // Roll back with the snapshot: the first plan's changes come back.
    let snapshots = env.home().join(".moat/snapshots");
    let dir = std::fs::read_dir(&snapshots)
        .expect("snapshots")
        .next()
        .expect("one")
        .expect("entry")
        .path();
    let dir = dir
        .strip_prefix(env.home())
        .expect("relative")
        .to_string_lossy()
        .into_owned();
    let restore = env.run(&["apply", "--local", &dir, "--auto-approve"]);
    restore.expect_code(0);
    let plan = env.run(&["plan", "--local", "policies/"]);
    plan.expect_stdout("Plan: 5 to add, 5 to change, 5 to remove.");
}

#[test]
fn yes_on_a_terminal_approves_and_anything_else_cancels() {
    let env = with_examples();
    let answer = |word: &str| {
        let mut terminal = Terminal::start(&env, "apply --local policies/");
        terminal.type_keys(&format!("{word}\n"));
        terminal.finish()
    };
    let (code, out) = answer("no");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Only 'yes' will be accepted"), "{out}");
    assert!(
        out.contains("Apply cancelled; nothing was changed."),
        "{out}"
    );
    let (code, out) = answer("yes");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(FIVE_GROUPS), "{out}");
    // On a terminal, progress is shown on stderr (the same terminal here).
    assert!(out.contains("applying: 5/5 groups done"), "{out}");
}

const POLICY: &str = "\
version: 1
security_groups:
  - id: sg-bp1e2eapp000000001
    region: cn-hangzhou
    ingress:
      - description: HTTPS from the office
        allow: tcp/443
        from: 203.0.113.0/28
protect:
  - reason: the on-call SSH path stays
    group: sg-bp1e2eapp000000001
    service: tcp/22
";

fn seed_app(handle: &moat_emulator::EmulatorHandle, extra_rules: usize) {
    let mut g = SeedGroup::new("cn-hangzhou", "sg-bp1e2eapp000000001")
        .name("app")
        .vpc_id("vpc-e2e");
    for i in 0..extra_rules {
        let r = crate::cloud::rule(
            moat_policy::Direction::Ingress,
            moat_policy::Protocol::Udp,
            moat_policy::PortRange::single(9000 + i as u16),
            "10.0.0.0/8",
            "left over",
        );
        g = g.rule(
            moat_emulator::Direction::Ingress,
            moat_aliyun::convert::to_permission(&r),
        );
    }
    handle.emulator().seed_groups([g]).expect("seeding");
}

#[test]
fn guards_refuse_before_any_mutating_call() {
    let handle = emulator();
    seed_app(&handle, 3);
    let (env, endpoint) = cloud_env(&handle);
    env.write("app.yaml", POLICY);

    let refused = at(
        &env,
        &endpoint,
        &["apply", "app.yaml", "--auto-approve", "--max-destroy", "2"],
    );
    refused.expect_code(1);
    assert!(
        refused
            .stderr
            .contains("refusing to apply; nothing was changed"),
        "{}",
        refused.snapshot()
    );
    refused
        .expect_stderr("plan removes 3 rules, more than the 2 allowed")
        .expect_stderr("hint: to allow more removals, raise --max-destroy");
    assert_eq!(mutating_calls(&handle), 0);

    // Add a live SSH rule, then a policy without it: the protect selector
    // covers it, so removing it is refused.
    env.write("apply-ssh.yaml", POLICY.replace("      - description: HTTPS from the office\n        allow: tcp/443\n        from: 203.0.113.0/28\n", "      - {description: on-call, allow: tcp/22, from: 10.8.0.0/16}\n      - {description: HTTPS from the office, allow: tcp/443, from: 203.0.113.0/28}\n"));
    let added = at(
        &env,
        &endpoint,
        &["apply", "apply-ssh.yaml", "--auto-approve"],
    );
    added.expect_code(0);
    handle.emulator().reset_stats();
    let refused = at(&env, &endpoint, &["apply", "app.yaml", "--auto-approve"]);
    refused.expect_code(1);
    refused.expect_stderr("protected");
    refused.expect_stderr("--allow-protected");
    assert_eq!(mutating_calls(&handle), 0);

    let allowed = at(
        &env,
        &endpoint,
        &["apply", "app.yaml", "--auto-approve", "--allow-protected"],
    );
    allowed.expect_code(0);
}

#[test]
fn a_saved_plan_is_applied_exactly_or_refused_when_stale() {
    let handle = emulator();
    seed_app(&handle, 2);
    let (env, endpoint) = cloud_env(&handle);
    env.write("app.yaml", POLICY);
    let plan = at(&env, &endpoint, &["plan", "app.yaml", "-o", "plan.json"]);
    plan.expect_code(0);

    // Someone changes the group in the console: here, another apply.
    env.write("other.yaml", POLICY.replace("tcp/443", "tcp/8443"));
    let other = at(&env, &endpoint, &["apply", "other.yaml", "--auto-approve"]);
    other.expect_code(0);

    handle.emulator().reset_stats();
    let stale = at(&env, &endpoint, &["apply", "plan.json", "--auto-approve"]);
    stale.expect_code(1);
    stale.expect_stderr("plan is stale");
    stale.expect_stderr("run moat plan again");
    assert_eq!(mutating_calls(&handle), 0);

    // A fresh plan file is applied with the fewest calls: one authorize,
    // one revoke of both extras.
    let plan = at(&env, &endpoint, &["plan", "app.yaml", "-o", "plan.json"]);
    plan.expect_stdout("Plan: 1 to add, 0 to change, 1 to remove.");
    handle.emulator().reset_stats();
    let applied = at(&env, &endpoint, &["apply", "plan.json", "--auto-approve"]);
    applied.expect_code(0);
    assert_eq!(
        mutating_calls(&handle),
        2,
        "{:?}",
        handle.emulator().stats()
    );
    let stats = handle.emulator().stats();
    assert_eq!(stats.ok("AuthorizeSecurityGroup"), 1);
    assert_eq!(stats.ok("RevokeSecurityGroup"), 1);

    env.write(
        "broken.json",
        "{\"format\": \"moat-plan\", \"schema_version\": 99}",
    );
    let run = at(&env, &endpoint, &["apply", "broken.json", "--auto-approve"]);
    run.expect_code(1);
    run.expect_stderr("broken.json is not a usable plan");
}

#[test]
fn an_apply_killed_midway_is_finished_by_the_next_run() {
    // Slow calls, so that the process is still working when it is killed.
    let handle = emulator_with(|c| {
        c.faults = FaultConfig {
            latency_ms: 40,
            ..FaultConfig::default()
        };
    });
    let groups = 12;
    let ids: Vec<String> = (0..groups)
        .map(|g| format!("sg-bp1e2ekill{g:08}"))
        .collect();
    let (env, endpoint) = many_rules(&handle, &ids);

    let mut child = env
        .command(env!("CARGO_BIN_EXE_moat"))
        .args([
            "apply",
            "many.yaml",
            "--endpoint",
            &endpoint,
            "--auto-approve",
            "--parallel",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moat apply");
    // Wait for the first changes, then kill it without warning.
    let started = Instant::now();
    while mutating_calls(&handle) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "apply never started changing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reaped");
    assert_eq!(status.code(), None, "killed by the signal, not finished");
    let plan = at(
        &env,
        &endpoint,
        &["plan", "many.yaml", "--detailed-exitcode"],
    );
    assert_eq!(plan.code, Some(2), "work was left: {}", plan.snapshot());

    // The killed run's lease is still on the groups it was changing: the
    // next apply refuses, naming it, until `moat unlock` removes it.
    at(&env, &endpoint, &["apply", "many.yaml", "--auto-approve"])
        .expect_code(1)
        .expect_stderr("refusing to apply; nothing was changed")
        .expect_stderr("is locked by ");
    let ids: Vec<String> = (0..groups)
        .map(|g| format!("sg-bp1e2ekill{g:08}"))
        .collect();
    let mut unlock = vec!["unlock", "--region", "cn-hangzhou"];
    unlock.extend(ids.iter().map(String::as_str));
    at(&env, &endpoint, &unlock)
        .expect_code(0)
        .expect_stdout("Removed moat:lock from sg-bp1e2ekill");
    let rerun = at(&env, &endpoint, &["apply", "many.yaml", "--auto-approve"]);
    rerun.expect_code(0);
    let plan = at(
        &env,
        &endpoint,
        &["plan", "many.yaml", "--detailed-exitcode"],
    );
    plan.expect_code(0);
    // A SIGKILL may stop a large write midway (the kernel checks for a
    // fatal signal between pages), so the killed run's last line may be
    // cut. It is the only one, and the runs after it start on a line of
    // their own: every later line is whole JSON.
    let journal = std::fs::read_to_string(env.home().join(".moat/journal.jsonl")).expect("journal");
    let cut: Vec<usize> = journal
        .lines()
        .enumerate()
        .filter(|(_, line)| serde_json::from_str::<serde_json::Value>(line).is_err())
        .map(|(i, _)| i)
        .collect();
    assert!(cut.len() <= 1, "more than one cut line: {cut:?}");
    let last = journal.lines().count() - 1;
    assert!(cut.iter().all(|&i| i < last), "the last line is cut");
    assert!(
        journal
            .lines()
            .last()
            .is_some_and(|l| l.contains("\"outcome\"") || l.contains("\"intent\"")),
        "the rerun journaled after the killed run"
    );
}

#[test]
fn the_summary_and_the_verbose_log_show_the_rate_reached() {
    let handle = emulator_with(|c| c.faults.max_qps = 50);
    seed_app(&handle, 2);
    let (env, endpoint) = cloud_env(&handle);
    env.write("app.yaml", POLICY);
    // No rate flag: the rate adapts per region, from 10 calls a second.
    let adaptive = at(
        &env,
        &endpoint,
        &["apply", "app.yaml", "--auto-approve", "-v"],
    );
    adaptive.expect_code(0);
    let line = adaptive
        .stdout
        .lines()
        .find(|l| l.starts_with("Apply complete"))
        .unwrap_or_default();
    // The rate shown is what the service accepted in a second: never above
    // the quota, whatever slow start allowed on its way up.
    let reached: Option<u32> = line
        .split(" s, up to ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(" calls/s)."))
        .and_then(|n| n.parse().ok());
    assert!(reached.is_some_and(|n| (1..=50).contains(&n)), "{line}");
    adaptive
        .expect_stderr("rate reached")
        .expect_stderr("region=\"cn-hangzhou\"");

    // --max-rps alone: today's fixed rate.
    env.write("app.yaml", POLICY.replace("tcp/443", "tcp/8443"));
    let fixed = at(
        &env,
        &endpoint,
        &["apply", "app.yaml", "--auto-approve", "--max-rps", "7"],
    );
    fixed
        .expect_code(0)
        .expect_stdout(" s, at most 7 calls/s).");
}

#[test]
fn apply_from_policies_approved_in_advance_reads_each_group_once_before_changing_it() {
    let handle = emulator();
    seed_app(&handle, 2);
    let (env, endpoint) = cloud_env(&handle);
    env.write("app.yaml", POLICY);
    handle.emulator().reset_stats();
    let applied = at(
        &env,
        &endpoint,
        &["apply", "app.yaml", "--auto-approve", "--no-lock"],
    );
    applied.expect_code(0);
    let stats = handle.emulator().stats();
    // 1 read for the plan and 1 of the group types, the floor (1
    // authorize, 1 revoke of both extras), 1 verify read: the summary's
    // count is the service's.
    assert_eq!(stats.ok("DescribeSecurityGroupAttribute"), 2, "{stats:?}");
    assert_eq!(stats.ok("DescribeSecurityGroups"), 1, "{stats:?}");
    assert_eq!(mutating_calls(&handle), 2, "{stats:?}");
    assert_eq!(summary_calls(&applied.stdout), stats.total());
    assert_eq!(stats.total(), 5, "{stats:?}");
}

/// With the lease (the default), the plan made before it was taken is not
/// trusted as the stale check: the touched group is read again under the
/// lease, and the lease's calls come on top.
#[test]
fn apply_from_policies_with_the_lease_reads_the_touched_groups_again_under_it() {
    let handle = emulator();
    seed_app(&handle, 2);
    let (env, endpoint) = cloud_env(&handle);
    env.write("app.yaml", POLICY);
    handle.emulator().reset_stats();
    let applied = at(&env, &endpoint, &["apply", "app.yaml", "--auto-approve"]);
    applied.expect_code(0).expect_stdout("(7 for the lease)");
    let stats = handle.emulator().stats();
    assert_eq!(stats.ok("DescribeSecurityGroupAttribute"), 3, "{stats:?}");
    assert_eq!(mutating_calls(&handle), 2, "{stats:?}");
    assert_eq!(crate::cloud::lock_calls(&handle), 7, "{stats:?}");
    assert_eq!(summary_calls(&applied.stdout), stats.total());
    // With the one read of the group types.
    assert_eq!(stats.total(), 13, "{stats:?}");
}
