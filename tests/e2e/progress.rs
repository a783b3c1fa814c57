//! Progress on stderr: on a terminal (script(1)) a plan or drift that takes
//! more than a moment shows groups read of total, the rate and the time
//! left, and clears the line before the plan; in a pipe, never.

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
