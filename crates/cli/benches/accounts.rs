//! Benchmark: `moat plan` of many accounts and regions in one run, each
//! (account, region) pair against a QPS quota of its own, with injected
//! latency; `moat` and the emulators are real processes on loopback.
//!
//! Run: `cargo bench -p moat-cli --bench accounts` (arguments: accounts,
//! regions, groups per pair, latency in ms, QPS per pair, runs; default
//! 10 3 100 20 50 3).
//!
//! Each account is one `moat emulator` process (its endpoint in the
//! policy's `accounts:` block, its key in a profile of its own) with
//! `--max-qps` of one pair: the emulator counts its quota per region, as
//! the real API does. The groups of every pair (10 rules each; the live
//! groups miss one) are planned with no rate flag, and the wall time is set
//! against the bound of the slowest pair: the calls its region of its
//! emulator answered over the quota.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Instant;

use moat_aliyun::convert::to_permission;
use moat_emulator::{Direction as WireDirection, EmulatorConfig, SeedGroup};
use moat_policy::Direction;

mod common;
use common::{http, start_emulator};

const REGIONS: [&str; 6] = [
    "cn-hangzhou",
    "cn-shanghai",
    "cn-beijing",
    "cn-shenzhen",
    "cn-qingdao",
    "cn-zhangjiakou",
];
const RULES: usize = 10;

fn group_id(account: usize, region: usize, group: usize) -> String {
    format!("sg-bp1acct{account:02}r{region}g{group:04}")
}

/// One file of groups per account, and `accounts.yaml` naming each
/// account's profile and, once known, endpoint.
fn write_policies(dir: &Path, accounts: usize, regions: usize, groups: usize) {
    for a in 0..accounts {
        let mut text = String::from("version: 1\nsecurity_groups:\n");
        for (r, region) in REGIONS.iter().enumerate().take(regions) {
            for g in 0..groups {
                text.push_str(&format!(
                    "  - id: {}\n    region: {region}\n    account: acct{a}\n    name: fleet-{a}-{r}-{g}\n    ingress:\n",
                    group_id(a, r, g),
                ));
                for i in 0..RULES {
                    text.push_str(&format!(
                        "      - {{description: service {i}, allow: tcp/{}, from: 10.{a}.{}.0/24}}\n",
                        8000 + i,
                        g % 256
                    ));
                }
            }
        }
        std::fs::write(dir.join(format!("account-{a:02}.yaml")), text).expect("writing policies");
    }
}

fn write_accounts(dir: &Path, endpoints: &[Option<String>]) {
    let mut text = String::from("version: 1\naccounts:\n");
    for (a, endpoint) in endpoints.iter().enumerate() {
        text.push_str(&format!("  acct{a}:\n    profile: p{a}\n"));
        if let Some(e) = endpoint {
            text.push_str(&format!("    endpoint: {e}\n"));
        }
    }
    std::fs::write(dir.join("accounts.yaml"), text).expect("writing accounts.yaml");
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    // `cargo test --benches` runs this without `--bench`: a small smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let accounts = args.first().copied().unwrap_or(if full { 10 } else { 2 });
    let regions = args
        .get(1)
        .copied()
        .unwrap_or(if full { 3 } else { 2 })
        .clamp(1, REGIONS.len());
    let groups = args
        .get(2)
        .copied()
        .unwrap_or(if full { 100 } else { 3 })
        .max(1);
    let latency_ms = args.get(3).copied().unwrap_or(20);
    let qps = args.get(4).copied().unwrap_or(50).max(1);
    let runs = args
        .get(5)
        .copied()
        .unwrap_or(if full { 3 } else { 1 })
        .max(1);
    let dir = tempfile::tempdir().expect("a scratch directory");
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).expect("mkdir");
    write_policies(&policies, accounts, regions, groups);
    write_accounts(&policies, &vec![None; accounts]);
    let set = moat_policy::load_policies(std::slice::from_ref(&policies))
        .unwrap_or_else(|d| panic!("the generated policy is valid: {:?}", d.iter().next()));

    // Each account's live groups: the policy without its last rule.
    let moat = env!("CARGO_BIN_EXE_moat");
    let mut servers: Vec<Child> = Vec::new();
    let mut endpoints = Vec::new();
    for a in 0..accounts {
        let state = dir.path().join(format!("state-{a:02}.json"));
        let emulator = moat_emulator::Emulator::new(&EmulatorConfig {
            state_file: Some(state.clone()),
            id_seed: Some(1 + a as u64),
            ..EmulatorConfig::default()
        })
        .expect("an emulator");
        let account = format!("acct{a}");
        let seeds: Vec<SeedGroup> = set
            .groups
            .iter()
            .filter(|p| p.account.as_deref() == Some(account.as_str()))
            .map(|p| {
                let mut seed = SeedGroup::new(&p.region, &p.id)
                    .name(p.name.clone().unwrap_or_default())
                    .vpc_id("vpc-bench");
                for d in p.rules.iter().take(p.rules.len() - 1) {
                    let direction = match d.rule.key.direction {
                        Direction::Ingress => WireDirection::Ingress,
                        Direction::Egress => WireDirection::Egress,
                    };
                    seed = seed.rule(direction, to_permission(&d.rule));
                }
                seed
            })
            .collect();
        emulator.seed_groups(seeds).expect("seeding");
        emulator.save_state(&state).expect("saving the state");
        let (server, endpoint) = start_emulator(&state, latency_ms, Some(qps));
        endpoints.push(Some(endpoint));
        servers.push(server);
    }
    write_accounts(&policies, &endpoints);
    // One profile per account; every emulator takes the demo key.
    let profiles: Vec<serde_json::Value> = (0..accounts)
        .map(|a| {
            serde_json::json!({"name": format!("p{a}"), "mode": "AK",
                "access_key_id": moat_emulator::DEMO_ACCESS_KEY_ID,
                "access_key_secret": moat_emulator::DEMO_ACCESS_KEY_SECRET})
        })
        .collect();
    std::fs::create_dir_all(dir.path().join(".aliyun")).expect("mkdir");
    std::fs::write(
        dir.path().join(".aliyun/config.json"),
        serde_json::json!({"current": "", "profiles": profiles}).to_string(),
    )
    .expect("writing the profiles");

    println!(
        "moat plan (no rate flag): {accounts} accounts x {regions} regions x {groups} groups x {RULES} rules, --latency-ms {latency_ms}, --max-qps {qps} (per region) on each account's emulator"
    );
    let mut ratios = Vec::new();
    for run in 1..=runs {
        if run > 1 {
            // The emulators count each quota over the last second: a run
            // started sooner would find it partly spent by the one before
            // (the later runs took 2.7-3.4 s against 2.3-2.5 s for the
            // first), where a nightly run starts with it unused.
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        for e in endpoints.iter().flatten() {
            http(e, "POST", "/_emulator/reset-stats");
        }
        if std::env::var_os("MOAT_BENCH_LOG").is_some() {
            // To set moat's log timestamps against its start.
            let epoch = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            eprintln!("run {run}: moat started at {epoch:.3} s after the Unix epoch");
        }
        let started = Instant::now();
        let out = Command::new(moat)
            .current_dir(dir.path())
            .args(["plan", "policies/", "--format", "json"])
            .env("HOME", dir.path())
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            .env_remove("ALIBABA_CLOUD_PROFILE")
            .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
            .env(
                "RUST_LOG",
                std::env::var("MOAT_BENCH_LOG").unwrap_or_else(|_| "error".to_owned()),
            )
            .output()
            .expect("running moat plan");
        let wall = started.elapsed().as_secs_f64();
        std::io::stderr().write_all(&out.stderr).expect("stderr");
        assert!(
            out.status.success(),
            "moat plan failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a json plan");
        let (mut ok_all, mut throttled_all) = (0u64, 0u64);
        let mut slowest = (0u64, String::new());
        for (a, e) in endpoints.iter().flatten().enumerate() {
            let stats: serde_json::Value =
                serde_json::from_str(&http(e, "GET", "/_emulator/stats?by=region"))
                    .expect("json stats");
            for (region, c) in stats["regions"].as_object().into_iter().flatten() {
                let ok = c["ok"].as_u64().unwrap_or(0);
                ok_all += ok;
                throttled_all += c["error"].as_u64().unwrap_or(0);
                if ok > slowest.0 {
                    slowest = (ok, format!("acct{a}/{region}"));
                }
            }
        }
        // Each pair has a quota of its own: the slowest pair's calls over it.
        let (slowest, pair) = slowest;
        let bound = slowest as f64 / qps as f64;
        ratios.push(wall / bound);
        println!(
            "  run {run}: wall {wall:.2} s; bound of the slowest pair {bound:.2} s ({slowest} calls of {pair} / {qps} per s); ratio {:.2}; calls {ok_all} ok, {throttled_all} throttled ({:.2}%); plan: {}",
            wall / bound,
            100.0 * throttled_all as f64 / (ok_all + throttled_all).max(1) as f64,
            plan["summary"]
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "  ratio median {:.2} (min {:.2}, max {:.2}) of {runs} runs",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    for mut s in servers {
        let _ = s.kill();
        let _ = s.wait();
    }
}
