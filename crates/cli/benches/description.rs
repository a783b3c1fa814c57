//! Benchmark: a description change of 20 rules in one group, the whole
//! `moat apply PATH --auto-approve` (process start, loading, plan, lease,
//! changes, verify) against `moat emulator --latency-ms 20`, both real
//! processes on loopback: calls by action and wall time, to set next to
//! what other tools send for the same change (docs/benchmarks.md).
//!
//! Run: `cargo bench -p moat-cli --bench description` (arguments: rules,
//! latency in ms, runs; default 20 20 5). Each run changes every rule's
//! description to a text of its own, so that every run is a change of the
//! same size from a different state.

use std::process::Command;
use std::time::Instant;

use moat_aliyun::convert::to_permission;
use moat_emulator::{Direction as WireDirection, EmulatorConfig, SeedGroup};

mod common;
use common::{http, start_emulator};

const GROUP: &str = "sg-bp1descbench0001";

fn policy(rules: usize, text: &str) -> String {
    let mut p = format!(
        "version: 1\nsecurity_groups:\n  - id: {GROUP}\n    region: cn-hangzhou\n    name: web\n    ingress:\n"
    );
    for i in 0..rules {
        p.push_str(&format!(
            "      - {{description: {text} {i}, allow: tcp/{}, from: 10.0.0.0/24}}\n",
            8000 + i
        ));
    }
    p
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let full = std::env::args().any(|a| a == "--bench");
    let rules = args.first().copied().unwrap_or(20).max(1);
    let latency_ms = args.get(1).copied().unwrap_or(20);
    let runs = args
        .get(2)
        .copied()
        .unwrap_or(if full { 5 } else { 1 })
        .max(1);
    let dir = tempfile::tempdir().expect("a scratch directory");
    let file = dir.path().join("web.yaml");
    std::fs::write(&file, policy(rules, "old")).expect("writing the policy");
    let set = moat_policy::load_policies(std::slice::from_ref(&file))
        .unwrap_or_else(|d| panic!("the generated policy is valid: {:?}", d.iter().next()));
    let state = dir.path().join("state.json");
    {
        let emulator = moat_emulator::Emulator::new(&EmulatorConfig {
            state_file: Some(state.clone()),
            id_seed: Some(1),
            ..EmulatorConfig::default()
        })
        .expect("an emulator");
        let g = &set.groups[0];
        let mut seed = SeedGroup::new(&g.region, &g.id)
            .name("web")
            .vpc_id("vpc-bench");
        for d in &g.rules {
            seed = seed.rule(WireDirection::Ingress, to_permission(&d.rule));
        }
        emulator.seed_groups([seed]).expect("seeding");
        emulator.save_state(&state).expect("saving the state");
    }
    let moat = env!("CARGO_BIN_EXE_moat");
    let (mut server, endpoint) = start_emulator(&state, latency_ms, None);

    println!(
        "moat apply PATH --auto-approve: {rules} descriptions changed in one group, --latency-ms {latency_ms}"
    );
    let mut walls = Vec::new();
    for run in 1..=runs {
        let text = format!("text {run}");
        std::fs::write(&file, policy(rules, &text)).expect("writing the policy");
        http(&endpoint, "POST", "/_emulator/reset-stats");
        let started = Instant::now();
        let out = Command::new(moat)
            .current_dir(dir.path())
            .args([
                "apply",
                "web.yaml",
                "--auto-approve",
                "--endpoint",
                &endpoint,
            ])
            .env(
                "ALIBABA_CLOUD_ACCESS_KEY_ID",
                moat_emulator::DEMO_ACCESS_KEY_ID,
            )
            .env(
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                moat_emulator::DEMO_ACCESS_KEY_SECRET,
            )
            .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
            .env("RUST_LOG", "error")
            .output()
            .expect("running moat apply");
        let wall = started.elapsed().as_secs_f64();
        if !out.status.success() {
            let _ = server.kill();
            let _ = server.wait();
            panic!(
                "moat apply failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let stats: serde_json::Value =
            serde_json::from_str(&http(&endpoint, "GET", "/_emulator/stats")).expect("json stats");
        let mut by_action: Vec<(String, u64)> = stats["calls"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(a, c)| {
                        let n = c["ok"].as_u64().unwrap_or(0) + c["error"].as_u64().unwrap_or(0);
                        (a.clone(), n)
                    })
                    .collect()
            })
            .unwrap_or_default();
        by_action.sort();
        let total: u64 = by_action.iter().map(|(_, n)| n).sum();
        let summary = String::from_utf8_lossy(&out.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
            .filter(|l| l.contains("API calls"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .join(" / ");
        println!(
            "  run {run}: wall {wall:.2} s; {total} calls ({}); summary: {summary}",
            by_action
                .iter()
                .map(|(a, n)| format!("{a} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        walls.push(wall);
    }
    walls.sort_by(f64::total_cmp);
    println!(
        "  wall median {:.2} s (min {:.2}, max {:.2}) of {runs} runs",
        walls[walls.len() / 2],
        walls[0],
        walls[walls.len() - 1]
    );
    let _ = server.kill();
    let _ = server.wait();
}
