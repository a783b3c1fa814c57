//! Issue 9, item 4: Ctrl-C killed apply on the spot, with no report of what
//! was done and the printed plan not even flushed. Against a slow emulator,
//! the test sends real signals to the real binary.

use std::process::Child;
use std::time::{Duration, Instant};

use moat_emulator::FaultConfig;

use crate::cloud::{at, emulator_with, many_rules, mutating_calls};
use crate::common::TestEnv;
use crate::terminal::Terminal;

/// Twelve empty groups, each wanting 150 rules: two authorize calls per
/// group, each slowed down by the emulator.
fn slow_cloud() -> (moat_emulator::EmulatorHandle, TestEnv, String) {
    let handle = emulator_with(|c| {
        c.faults = FaultConfig {
            latency_ms: 60,
            ..FaultConfig::default()
        };
    });
    let ids: Vec<String> = (0..12).map(|g| format!("sg-bp1e2eint{g:09}")).collect();
    let (env, endpoint) = many_rules(&handle, &ids);
    (handle, env, endpoint)
}

/// Starts the apply with its output in files (a pipe nobody reads would
/// fill up with the plan and block it).
fn spawn_apply(env: &TestEnv, endpoint: &str) -> Child {
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
        ])
        .stdout(file("apply.out"))
        .stderr(file("apply.err"))
        .spawn()
        .expect("starting moat apply")
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success());
}

/// Waits for the handle's mutating calls to reach `n` (the process is slow
/// on purpose; the bound only keeps a broken binary from hanging the test).
fn wait_for_calls(handle: &moat_emulator::EmulatorHandle, n: u64) {
    let started = Instant::now();
    while mutating_calls(handle) < n {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "apply never started changing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn finish(env: &TestEnv, mut child: Child) -> (Option<i32>, String, String) {
    let status = child.wait().expect("waiting for moat");
    let read = |name: &str| std::fs::read_to_string(env.home().join(name)).expect("output");
    (status.code(), read("apply.out"), read("apply.err"))
}

#[test]
fn sigint_during_apply_finishes_the_calls_in_flight_and_reports() {
    let (handle, env, endpoint) = slow_cloud();
    let child = spawn_apply(&env, &endpoint);
    wait_for_calls(&handle, 2);
    signal(&child, "INT");
    let (code, stdout, stderr) = finish(&env, child);
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    // The plan was printed in full before the changes, then the report.
    assert!(
        stdout.contains("Plan: 1800 to add, 0 to change, 0 to remove."),
        "{stdout}"
    );
    assert!(stdout.contains("Apply interrupted: "), "{stdout}");
    assert!(
        stdout.contains("Snapshot of the live rules before this apply: .moat/snapshots/"),
        "{stdout}"
    );
    assert!(
        stderr.contains("interrupted: no new changes start"),
        "{stderr}"
    );
    assert!(stderr.contains("not started (150 changes)"), "{stderr}");
    let made = mutating_calls(&handle);
    assert!(made < 24, "it stopped early: {made} calls");

    // Calls in flight finished: every intent has its outcome, and what the
    // report says was made is what the next plan no longer needs.
    let journal = std::fs::read_to_string(env.home().join(".moat/journal.jsonl")).expect("journal");
    let lines: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).expect("whole JSON lines"))
        .collect();
    let count = |kind: &str| lines.iter().filter(|l| l["kind"] == kind).count();
    assert_eq!(count("intent"), count("outcome"), "{journal}");
    let rule_intents = lines
        .iter()
        .filter(|l| l["kind"] == "intent" && l["phase"] != "lock")
        .count();
    assert_eq!(rule_intents as u64, made);
    // The lease was released after the interrupt.
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "intent" && l["action"] == "UntagResources"),
        "{journal}"
    );
    let plan = at(
        &env,
        &endpoint,
        &["plan", "many.yaml", "--detailed-exitcode"],
    );
    plan.expect_code(2);
    assert!(
        !plan.stdout.contains("Plan: 1800 to add"),
        "something was applied: {}",
        plan.snapshot()
    );

    // The next run finishes the job.
    at(&env, &endpoint, &["apply", "many.yaml", "--auto-approve"]).expect_code(0);
    at(
        &env,
        &endpoint,
        &["plan", "many.yaml", "--detailed-exitcode"],
    )
    .expect_code(0);
}

#[test]
fn a_second_sigint_exits_at_once() {
    let (handle, env, endpoint) = slow_cloud();
    let child = spawn_apply(&env, &endpoint);
    wait_for_calls(&handle, 1);
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(20));
    signal(&child, "TERM");
    let (code, stdout, stderr) = finish(&env, child);
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("interrupted again: exiting now"),
        "{stderr}"
    );
    assert!(!stdout.contains("Apply interrupted"), "no report: {stdout}");
}

#[test]
fn ctrl_c_at_the_prompt_cancels_cleanly() {
    let (handle, env, endpoint) = slow_cloud();
    let mut terminal = Terminal::start(&env, &format!("apply many.yaml --endpoint {endpoint}"));
    terminal.wait_for("Enter a value:", 1);
    // Ctrl-C, as the terminal sends it.
    terminal.type_keys("\x03");
    let (code, seen) = terminal.finish();
    assert_eq!(code, Some(130), "{seen}");
    assert!(
        seen.contains("Apply cancelled; nothing was changed."),
        "{seen}"
    );
    assert_eq!(mutating_calls(&handle), 0);
}
