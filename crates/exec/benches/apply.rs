//! Apply benchmarks (`cargo bench -p moat-exec --bench apply`). Figures go
//! to docs/benchmarks.md ("Apply").
//!
//! 1. 10,000 changes over 100 groups against the emulator with 20 ms of
//!    latency and a quota of 100 calls per second, the client paced by the
//!    adaptive rate `moat apply` uses without a rate flag (`--fixed`: a
//!    fixed 95 calls per second instead), holding a lease
//!    on the groups: rule-changing calls against the floor, all calls
//!    against floor + 2 per group (the stale check and the verify read) +
//!    the lease's tag calls, wall time against the bound the quota sets
//!    (calls / 100 per second); `--bulk-runs N` times (default 3).
//! 2. Converging 10 rules onto an empty group: calls and wall time.
//! 3. Many seeded runs under faults (throttling 20%, server errors 5%,
//!    dropped connections 2%): how many converge, stop or are refused, and
//!    that a follow-up apply always converges.
//!
//! Arguments (all optional): `--groups N`, `--bulk-runs N`, `--fault-runs N`,
//! `--fixed`.

use std::time::{Duration, Instant};

use moat_aliyun::{AdaptiveRate, Client, ClientConfig, Credentials, RetryPolicy};
use moat_emulator::FaultConfig;
use moat_emulator::Stats;
use moat_exec::Guards;
use moat_exec::apply::{ApplyOptions, apply, call_floor};
use moat_exec::lock::LockOptions;
use moat_policy::{Direction, Rule};

#[path = "../tests/common/mod.rs"]
mod common;

use common::{
    client_with, desired, emulator, errors, make_plan, mutating_calls, rule, session, with,
};

/// The lease's calls (TagResources, ListTagResources, UntagResources).
fn tag_calls(stats: &Stats) -> u64 {
    ["TagResources", "ListTagResources", "UntagResources"]
        .iter()
        .map(|a| stats.ok(a) + stats.errors(a))
        .sum()
}

/// Mutating calls that change rules: the tag writes of the lease left out.
fn rule_calls(stats: &Stats) -> u64 {
    let tag_writes: u64 = ["TagResources", "UntagResources"]
        .iter()
        .map(|a| stats.ok(a) + stats.errors(a))
        .sum();
    mutating_calls(stats) - tag_writes
}

fn no_destroy_limit() -> Guards {
    Guards {
        max_destroy: usize::MAX,
        ..Guards::default()
    }
}

/// Per group: 60 live rules; the policy keeps 30 of them (10 with a new
/// priority), adds 60 (40 ingress, 20 egress) and drops 30 (20 ingress, 10
/// egress): 100 changes, 14 calls at the floor.
fn big_group(g: usize) -> (Vec<Rule>, Vec<Rule>) {
    let cidr = format!("10.{}.{}.0/24", g / 256, g % 256);
    let mut live = Vec::new();
    let mut want = Vec::new();
    for n in 0..60u16 {
        let direction = if n % 3 == 0 {
            Direction::Egress
        } else {
            Direction::Ingress
        };
        let r = with(rule(direction, 1000 + n, &cidr), 1, "live");
        live.push(r.clone());
        if n % 2 == 0 {
            let priority = if n % 6 == 0 { 7 } else { 1 };
            want.push(with(rule(direction, 1000 + n, &cidr), priority, "live"));
        }
    }
    for n in 0..60u16 {
        let direction = if n < 40 {
            Direction::Ingress
        } else {
            Direction::Egress
        };
        want.push(with(rule(direction, 3000 + n, &cidr), 1, "new"));
    }
    (live, want)
}

/// A client paced as `moat` paces one without a rate flag: the adaptive
/// rate, uncapped.
fn adaptive_client(handle: &moat_emulator::EmulatorHandle) -> Client {
    let mut c = ClientConfig::with_credentials(
        common::REGION,
        Credentials::access_key(common::KEY_ID, common::KEY_SECRET),
    );
    c.endpoint = Some(handle.endpoint());
    // No `--max-rps`: the config's default of 10 would cap the rate.
    c.max_rps = None;
    c.adaptive = Some(AdaptiveRate::default());
    c.timeout = Duration::from_secs(10);
    Client::new(&c).expect("client config")
}

async fn bench_bulk(groups: usize, runs: u64) {
    let mut ratios = Vec::new();
    for run in 1..=runs {
        ratios.push(bulk_once(groups, run).await);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "bulk wall / quota bound: median {:.3} (min {:.3}, max {:.3}) of {runs} runs",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}

/// One bulk apply on a fresh emulator; the ratio of its wall time to the
/// quota's bound.
async fn bulk_once(groups: usize, run: u64) -> f64 {
    let faults = FaultConfig {
        latency_ms: 20,
        max_qps: 100,
        ..FaultConfig::default()
    };
    let handle = emulator(faults, 7);
    let mut live = Vec::new();
    let mut want = Vec::new();
    for g in 0..groups {
        let id = format!("sg-bpbench{g:06}");
        let (l, w) = big_group(g);
        live.push((id.clone(), l));
        want.push((id, w));
    }
    common::seed_groups(&handle, &live);
    let set = desired(&want);
    let c = if std::env::args().any(|a| a == "--fixed") {
        client_with(&handle, Some(95.0), RetryPolicy::default())
    } else {
        adaptive_client(&handle)
    };
    let (plan, _) = make_plan(&c, &set).await;
    let summary = plan.summary();
    let changes = summary.add + summary.change + summary.remove;
    let floor: usize = plan.groups.iter().map(call_floor).sum();

    // The plan's reads are a second's worth of calls: let the quota's
    // window forget them, as it would between a plan and its apply.
    tokio::time::sleep(Duration::from_secs(1)).await;
    handle.emulator().reset_stats();
    let options = ApplyOptions {
        parallel: 8,
        guards: no_destroy_limit(),
        lock: Some(LockOptions::new("bench", "localhost")),
        ..ApplyOptions::default()
    };
    let started = Instant::now();
    let report = apply(&session(&c), &plan, &options).await.expect("apply");
    let wall = started.elapsed();
    let stats = handle.emulator().stats();
    let total = stats.total();
    let bound = total as f64 / 100.0;
    let (after, _) = make_plan(&c, &set).await;
    let locks = tag_calls(&stats);
    let expected = floor as u64 + 2 * plan.groups.len() as u64 + locks;
    println!("## bulk run {run}: {changes} changes over {groups} groups ({summary})");
    println!(
        "complete: {}; then plan: {}",
        report.is_complete(),
        after.summary()
    );
    println!(
        "rule-changing calls: {} (floor {floor}); lease calls: {locks}; all calls: {total} (floor + 2 per group + lease calls = {expected}; the summary counted {}: {} reads, {} rule changes, {} for the lease); error answers: {}",
        rule_calls(&stats),
        report.api_calls(),
        report.calls.reads,
        report.calls.changes,
        report.calls.locks,
        errors(&stats)
    );
    let ratio = wall.as_secs_f64() / bound;
    println!(
        "wall: {:.2} s; quota bound for {total} calls at 100/s: {bound:.2} s; ratio {ratio:.3}",
        wall.as_secs_f64(),
    );
    println!("{report}");
    ratio
}

async fn bench_small() {
    let faults = FaultConfig {
        latency_ms: 20,
        max_qps: 100,
        ..FaultConfig::default()
    };
    let handle = emulator(faults, 8);
    let id = "sg-bpbenchsmall1".to_owned();
    common::seed_groups(&handle, &[(id.clone(), Vec::new())]);
    let want: Vec<Rule> = (0..10u16)
        .map(|n| with(rule(Direction::Ingress, 443 + n, "10.0.0.0/8"), 1, "svc"))
        .collect();
    let set = desired(&[(id, want)]);
    let c = client_with(&handle, Some(95.0), RetryPolicy::default());
    let (plan, _) = make_plan(&c, &set).await;
    handle.emulator().reset_stats();
    let started = Instant::now();
    let report = apply(&session(&c), &plan, &ApplyOptions::default())
        .await
        .expect("apply");
    let wall = started.elapsed();
    let stats = handle.emulator().stats();
    println!("## small: 10 rules onto an empty group");
    println!(
        "calls: {} ({} mutating, floor {}); wall {:.0} ms",
        stats.total(),
        mutating_calls(&stats),
        plan.groups.iter().map(call_floor).sum::<usize>(),
        wall.as_secs_f64() * 1000.0
    );
    println!("{report}");
}

async fn bench_faults(runs: u64) {
    let (mut converged, mut stopped, mut refused, mut follow_ok) = (0, 0, 0, 0);
    let retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_elapsed: Duration::from_secs(5),
    };
    let started = Instant::now();
    for seed_n in 0..runs {
        let handle = emulator(FaultConfig::default(), 10_000 + seed_n);
        let mut live = Vec::new();
        let mut want = Vec::new();
        for g in 0..3usize {
            let id = format!("sg-bpfault{g:06}");
            let (l, w) = big_group(g + seed_n as usize);
            // Small groups: a fifth of the bulk group.
            live.push((id.clone(), l.into_iter().step_by(5).collect::<Vec<_>>()));
            want.push((id, w.into_iter().step_by(5).collect::<Vec<_>>()));
        }
        common::seed_groups(&handle, &live);
        let set = desired(&want);
        let c = client_with(&handle, None, retry.clone());
        let (plan, _) = make_plan(&c, &set).await;
        handle
            .emulator()
            .set_faults(FaultConfig {
                throttle_rate: 0.2,
                error_rate: 0.05,
                drop_rate: 0.02,
                seed: Some(seed_n),
                ..FaultConfig::default()
            })
            .expect("faults");
        let options = ApplyOptions {
            guards: no_destroy_limit(),
            verify_backoff: Duration::from_millis(1),
            ..ApplyOptions::default()
        };
        match apply(&session(&c), &plan, &options).await {
            Ok(r) if r.is_complete() => converged += 1,
            Ok(_) => stopped += 1,
            Err(_) => refused += 1,
        }
        handle
            .emulator()
            .set_faults(FaultConfig::default())
            .expect("no faults");
        let (again, _) = make_plan(&c, &set).await;
        if let Ok(r) = apply(&session(&c), &again, &options).await
            && r.is_complete()
            && !make_plan(&c, &set).await.0.has_changes()
        {
            follow_ok += 1;
        }
    }
    println!("## faults: {runs} seeded runs, 3 groups, 3 attempts per call");
    println!(
        "converged {converged}, stopped {stopped}, refused before any change {refused}; follow-up converged {follow_ok}/{runs}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let groups = arg("--groups", 100) as usize;
    let bulk_runs = arg("--bulk-runs", 3).max(1);
    let runs = arg("--fault-runs", 500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        bench_small().await;
        bench_bulk(groups, bulk_runs).await;
        bench_faults(runs).await;
    });
}
