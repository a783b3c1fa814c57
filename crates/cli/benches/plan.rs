//! Benchmark: `moat plan` over many groups against `moat emulator` with
//! injected latency and a QPS quota, both as real processes on loopback.
//!
//! Run: `cargo bench -p moat-cli --bench plan` (arguments: groups, latency
//! in ms, the emulator's max QPS; default 1000 20 200). Each group has 200
//! rules, from the policy tree the load benchmark also uses.
//!
//! It writes a state file of the same groups (two rules per group
//! differing from the policy), starts `moat emulator --state FILE
//! --latency-ms L --max-qps Q`, runs `moat plan --max-rps Q` against it,
//! and prints the wall time next to the lower bound the quota sets (calls /
//! Q per second) and the calls per group read from `/_emulator/stats`.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use moat_aliyun::convert::to_permission;
use moat_emulator::{Direction as WireDirection, EmulatorConfig, SeedGroup};
use moat_policy::Direction;
use moat_testkit::bench::{RULES_PER_GROUP, write_policy_tree};

mod common;
use common::{http, start_emulator};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    // `cargo test --benches` runs this without `--bench`: a small smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let groups = args.first().copied().unwrap_or(if full { 1000 } else { 4 });
    let latency_ms = args.get(1).copied().unwrap_or(20);
    let max_qps = args.get(2).copied().unwrap_or(200);
    let rules = RULES_PER_GROUP;
    // No rate flag by default: the client's adaptive rate finds the quota.
    // A fourth argument N > 0 passes `--max-rps N` (a fixed rate) instead.
    let client_rps = args.get(3).copied().unwrap_or(0);
    let dir = tempfile::tempdir().expect("a scratch directory");
    let state = dir.path().join("state.json");

    // The policy: the shared generated tree (address sets and services,
    // 200 rules a group), 20 groups a file.
    let policy_dir = dir.path().join("policies");
    std::fs::create_dir_all(&policy_dir).expect("mkdir");
    let per_file = 20.min(groups.max(1));
    let policy_bytes = write_policy_tree(&policy_dir, groups.div_ceil(per_file), per_file);
    let set = moat_policy::load_policies(std::slice::from_ref(&policy_dir))
        .unwrap_or_else(|d| panic!("the generated policy is valid: {:?}", d.iter().next()));
    let policies = set.groups;

    // The live state: the same, except that the last rule of each group is
    // missing and the first has an older description.
    {
        let emulator = moat_emulator::Emulator::new(&EmulatorConfig {
            state_file: Some(state.clone()),
            id_seed: Some(1),
            ..EmulatorConfig::default()
        })
        .expect("an emulator");
        let seeds = policies.iter().enumerate().map(|(g, p)| {
            let mut seed = SeedGroup::new(&p.region, &p.id)
                .name(format!("bench-{g}"))
                .vpc_id("vpc-bench");
            for (i, d) in p.rules.iter().enumerate().take(p.rules.len() - 1) {
                let mut r = d.rule.clone();
                if i == 0 {
                    r.description = "older".to_owned();
                }
                let direction = match r.key.direction {
                    Direction::Ingress => WireDirection::Ingress,
                    Direction::Egress => WireDirection::Egress,
                };
                seed = seed.rule(direction, to_permission(&r));
            }
            seed
        });
        emulator
            .seed_groups(seeds.collect::<Vec<_>>())
            .expect("seeding");
        emulator.save_state(&state).expect("saving the state");
    }

    let moat = env!("CARGO_BIN_EXE_moat");
    let (mut server, endpoint) = start_emulator(&state, latency_ms, Some(max_qps));
    http(&endpoint, "POST", "/_emulator/reset-stats");

    let started = Instant::now();
    let out = Command::new(moat)
        .current_dir(dir.path())
        .args([
            "plan",
            "policies/",
            "--format",
            "json",
            "--endpoint",
            &endpoint,
        ])
        .args(if client_rps > 0 {
            vec!["--max-rps".to_owned(), client_rps.to_string()]
        } else {
            Vec::new()
        })
        .env(
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            moat_emulator::DEMO_ACCESS_KEY_ID,
        )
        .env(
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            moat_emulator::DEMO_ACCESS_KEY_SECRET,
        )
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        // MOAT_BENCH_LOG=info shows where the time goes.
        .env(
            "RUST_LOG",
            std::env::var("MOAT_BENCH_LOG").unwrap_or_else(|_| "error".to_owned()),
        )
        .output()
        .expect("running moat plan");
    let wall = started.elapsed();
    std::io::stderr().write_all(&out.stderr).expect("stderr");
    let stats = http(&endpoint, "GET", "/_emulator/stats");
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "moat plan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a json plan");
    let stats: serde_json::Value = serde_json::from_str(&stats).expect("json stats");
    let describe = &stats["calls"]["DescribeSecurityGroupAttribute"];
    let ok = describe["ok"].as_u64().unwrap_or(0);
    let throttled = describe["error"].as_u64().unwrap_or(0);
    let calls = ok + throttled;
    // Every call the service admitted counts against the quota (the group
    // types are read too, one call per 100 groups).
    let all_ok: u64 = stats["calls"]
        .as_object()
        .map(|m| m.values().map(|c| c["ok"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(ok);
    let all_throttled: u64 = stats["calls"]
        .as_object()
        .map(|m| m.values().map(|c| c["error"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(throttled);
    let bound = all_ok as f64 / max_qps as f64;
    let rate = if client_rps > 0 {
        format!("--max-rps {client_rps}")
    } else {
        "(no rate flag)".to_owned()
    };
    println!(
        "moat plan {rate}: {groups} groups x {rules} rules, emulator --latency-ms {latency_ms} --max-qps {max_qps}"
    );
    println!(
        "  all calls: {all_ok} ok, {all_throttled} throttled ({:.2}% of {})",
        100.0 * all_throttled as f64 / (all_ok + all_throttled).max(1) as f64,
        all_ok + all_throttled
    );
    println!(
        "  wall time {:.2} s; quota bound {:.2} s ({all_ok} calls / {max_qps} per s); ratio {:.2}",
        wall.as_secs_f64(),
        bound,
        wall.as_secs_f64() / bound
    );
    println!(
        "  DescribeSecurityGroupAttribute: {ok} ok, {throttled} throttled ({:.2} calls per group)",
        calls as f64 / groups as f64
    );
    println!("  plan summary: {}", plan["summary"]);
    println!("  policy text: {:.1} MiB", policy_bytes as f64 / 1048576.0);
}
