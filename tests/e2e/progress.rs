//! Progress on stderr: on a terminal (script(1)) a plan, drift, `test
//! --live` or promotion gate that takes more than a moment shows groups
//! read of total, the rate and the time left, and clears the line before
//! what follows; in a pipe, never.

use std::process::Stdio;

use moat_emulator::SeedGroup;

use crate::cloud::{cloud_env, emulator_with};
use crate::common::TestEnv;

const GROUPS: usize = 6;

/// Six groups behind a slow emulator, read at two calls a second: a few
/// seconds of reading.
fn slow_fleet() -> (moat_emulator::EmulatorHandle, TestEnv, String) {
    let handle = emulator_with(|c| c.faults.latency_ms = 200);
    let mut text = String::from("version: 1\nsecurity_groups:\n");
    let mut seeds = Vec::new();
    for n in 1..=GROUPS {
        let id = format!("sg-bp1progress0000000{n}");
        text.push_str(&format!(
            "  - id: {id}\n    region: cn-hangzhou\n    ingress:\n      - {{description: web, allow: tcp/443, from: 0.0.0.0/0}}\n"
        ));
        seeds.push(SeedGroup::new("cn-hangzhou", &id).vpc_id("vpc-e2e"));
    }
    handle.emulator().seed_groups(seeds).expect("seeded");
    let (env, endpoint) = cloud_env(&handle);
    env.write("fleet.yaml", text);
    (handle, env, endpoint)
}

fn on_a_terminal(env: &TestEnv, command: &str, endpoint: &str) -> (Option<i32>, String) {
    let moat = env!("CARGO_BIN_EXE_moat");
    let out = env
        .command("script")
        .args([
            "-qec",
            &format!("{moat} {command} fleet.yaml --endpoint {endpoint} --max-rps 2"),
            "/dev/null",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("running script(1) for a terminal");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn plan_and_drift_show_reading_progress_on_a_terminal_only() {
    let (_handle, env, endpoint) = slow_fleet();
    for command in ["plan", "drift"] {
        let (code, out) = on_a_terminal(&env, command, &endpoint);
        assert_eq!(code, Some(if command == "plan" { 0 } else { 2 }), "{out}");
        assert!(out.contains("reading: "), "{command}: {out:?}");
        assert!(out.contains(&format!("/{GROUPS} groups read")), "{out:?}");
        assert!(out.contains(" calls/s"), "{out:?}");
        assert!(out.contains(" left"), "{out:?}");
        // The line is cleared before the plan is written: with spaces, as
        // the test's TERM=dumb takes no escape sequences.
        assert!(!out.contains('\u{1b}'), "{out:?}");
        let last_progress = out.rfind("reading: ").expect("progress");
        let cleared = out[last_progress..].find("    \r").expect("cleared");
        let summary = out
            .rfind(if command == "plan" { "Plan:" } else { "drift" })
            .expect("the report");
        assert!(last_progress + cleared < summary, "{out:?}");
    }
    // The same run into a pipe: no progress at all.
    for command in ["plan", "drift"] {
        let run = env.run(&[
            command,
            "fleet.yaml",
            "--endpoint",
            &endpoint,
            "--max-rps",
            "2",
        ]);
        assert!(!run.stderr.contains("reading:"), "{}", run.snapshot());
        assert!(!run.stdout.contains("reading:"), "{}", run.snapshot());
    }
}

/// Two stages of three groups each behind the slow emulator, with a test
/// on the template every group uses.
fn slow_stages() -> (moat_emulator::EmulatorHandle, TestEnv, String) {
    let handle = emulator_with(|c| c.faults.latency_ms = 200);
    let mut text = String::from(
        "version: 1\nstages: [test, prod]\ntemplates:\n  web:\n    ingress:\n      - {description: web, allow: tcp/443, from: 0.0.0.0/0}\nsecurity_groups:\n",
    );
    let mut seeds = Vec::new();
    for n in 1..=GROUPS {
        let id = format!("sg-bp1progress0000000{n}");
        let stage = if n <= GROUPS / 2 { "test" } else { "prod" };
        text.push_str(&format!(
            "  - {{id: {id}, region: cn-hangzhou, stage: {stage}, use: [web]}}\n"
        ));
        seeds.push(SeedGroup::new("cn-hangzhou", &id).vpc_id("vpc-e2e"));
    }
    text.push_str(
        "tests:\n  - {name: HTTPS is open, template: web, from: 0.0.0.0/0, port: tcp/443, expect: allow}\n",
    );
    handle.emulator().seed_groups(seeds).expect("seeded");
    let (env, endpoint) = cloud_env(&handle);
    env.write("fleet.yaml", text);
    (handle, env, endpoint)
}

#[test]
fn test_live_and_the_promotion_gate_show_reading_progress_on_a_terminal() {
    let (handle, env, endpoint) = slow_stages();
    // The tests fail on the empty groups: exit 1, after the progress line.
    let (code, out) = on_a_terminal(&env, "test --live", &endpoint);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("reading: "), "{out:?}");
    assert!(out.contains(&format!("/{GROUPS} groups read")), "{out:?}");
    let last_progress = out.rfind("reading: ").expect("progress");
    let report = out.rfind("0 passed, 1 failed").expect("the report");
    assert!(last_progress < report, "{out:?}");
    // The gate of prod reads the test stage's groups, then refuses.
    let (code, out) = on_a_terminal(&env, "apply --stage prod --auto-approve", &endpoint);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("checking: "), "{out:?}");
    assert!(
        out.contains(&format!("/{} groups read", GROUPS / 2)),
        "{out:?}"
    );
    assert!(out.contains("stage test is not in sync"), "{out:?}");
    assert_eq!(crate::cloud::mutating_calls(&handle), 0);
    // In a pipe, neither shows a line.
    let run = env.run(&["test", "fleet.yaml", "--live", "--endpoint", &endpoint]);
    assert!(!run.stderr.contains("reading:"), "{}", run.snapshot());
}
