//! Apply benchmarks (`cargo bench -p moat-exec --bench apply`). Figures go
//! to docs/benchmarks.md ("Apply").
//!
//! 1. 10,000 changes over 100 groups against the emulator with 20 ms of
//!    latency and a quota of 100 calls per second, the client limited to 95
//!    calls per second: mutating calls against the floor, wall time against
//!    the bound the quota sets (calls / 100 per second).
//! 2. Converging 10 rules onto an empty group: calls and wall time.
//! 3. Many seeded runs under faults (throttling 20%, server errors 5%,
//!    dropped connections 2%): how many converge, stop or are refused, and
//!    that a follow-up apply always converges.
//!
//! Arguments (all optional): `--groups N`, `--fault-runs N`.

use std::time::{Duration, Instant};

use moat_aliyun::convert::to_permission;
use moat_aliyun::wire::Action as WireAction;
use moat_aliyun::{Client, ClientConfig, Credentials, RetryPolicy};
use moat_diff::{DiffOptions, Plan, diff};
use moat_emulator::{
    AccessKey, Direction as WireDirection, EmulatorConfig, EmulatorHandle, FaultConfig, SeedGroup,
    Stats,
};
use moat_exec::apply::{ApplyOptions, apply, call_floor};
use moat_exec::{GroupRef, read_groups, render_export};
use moat_policy::{
    Direction, LiveGroup, LiveRule, NicType, Peer, PolicySet, PortRange, Protocol, Rule, RuleKey,
    Verdict,
};

const REGION: &str = "cn-hangzhou";
const KEY_ID: &str = "LTAI5tApplyBenchKey01";
const KEY_SECRET: &str = "apply-bench-secret";

fn emulator(faults: FaultConfig, seed: u64) -> EmulatorHandle {
    moat_emulator::start(EmulatorConfig {
        access_keys: vec![AccessKey::new(KEY_ID, KEY_SECRET)],
        id_seed: Some(seed),
        faults,
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts on loopback")
}

fn client(handle: &EmulatorHandle, max_rps: Option<f64>, retry: RetryPolicy) -> Client {
    let mut c = ClientConfig::with_credentials(REGION, Credentials::access_key(KEY_ID, KEY_SECRET));
    c.endpoint = Some(handle.endpoint());
    c.max_rps = max_rps;
    c.timeout = Duration::from_secs(10);
    c.retry = retry;
    Client::new(&c).expect("client config")
}

fn rule(direction: Direction, port: u16, cidr: &str, priority: u8, description: &str) -> Rule {
    Rule {
        key: RuleKey {
            direction,
            protocol: Protocol::Tcp,
            ports: PortRange::single(port),
            peer: Peer::cidr(cidr.parse().expect("cidr")),
            verdict: Verdict::Accept,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        },
        priority,
        description: description.to_owned(),
    }
}

fn wire_direction(d: Direction) -> WireDirection {
    match d {
        Direction::Ingress => WireDirection::Ingress,
        Direction::Egress => WireDirection::Egress,
    }
}

fn seed(handle: &EmulatorHandle, groups: &[(String, Vec<Rule>)]) {
    let seeds = groups.iter().map(|(id, rules)| {
        let mut g = SeedGroup::new(REGION, id.as_str()).vpc_id("vpc-bench");
        for r in rules {
            g = g.rule(wire_direction(r.key.direction), to_permission(r));
        }
        g
    });
    handle.emulator().seed_groups(seeds).expect("seeding");
}

fn desired(groups: &[(String, Vec<Rule>)]) -> PolicySet {
    let live: Vec<LiveGroup> = groups
        .iter()
        .map(|(id, rules)| LiveGroup {
            id: id.clone(),
            region: REGION.to_owned(),
            name: String::new(),
            rules: rules
                .iter()
                .enumerate()
                .map(|(n, r)| LiveRule {
                    id: format!("sgr-want{n}"),
                    rule: r.clone(),
                    create_time: String::new(),
                })
                .collect(),
            unmodeled: Vec::new(),
        })
        .collect();
    let text = render_export(&live).expect("renders");
    moat_policy::load_policy_str("desired.yaml", &text).expect("loads")
}

async fn make_plan(c: &Client, set: &PolicySet) -> (Plan, Vec<LiveGroup>) {
    let refs: Vec<GroupRef> = set
        .groups
        .iter()
        .map(|g| GroupRef::new(g.id.clone(), g.region.clone()))
        .collect();
    let state = read_groups(&c.read_only(), &refs, 8).await.expect("read");
    let plan = diff(
        set,
        &state.groups,
        &DiffOptions::new(jiff::civil::date(2026, 11, 25)),
    );
    (plan, state.groups)
}

fn mutating(stats: &Stats) -> u64 {
    stats
        .calls
        .iter()
        .filter(|(n, _)| WireAction::parse(n).is_some_and(|a| a.is_mutating()))
        .map(|(_, c)| c.ok + c.error)
        .sum()
}

fn errors(stats: &Stats) -> u64 {
    stats.calls.values().map(|c| c.error).sum()
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
        let r = rule(direction, 1000 + n, &cidr, 1, "live");
        live.push(r.clone());
        if n % 2 == 0 {
            let priority = if n % 6 == 0 { 7 } else { 1 };
            want.push(rule(direction, 1000 + n, &cidr, priority, "live"));
        }
    }
    for n in 0..60u16 {
        let direction = if n < 40 {
            Direction::Ingress
        } else {
            Direction::Egress
        };
        want.push(rule(direction, 3000 + n, &cidr, 1, "new"));
    }
    (live, want)
}

async fn bench_bulk(groups: usize) {
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
    seed(&handle, &live);
    let set = desired(&want);
    let c = client(&handle, Some(95.0), RetryPolicy::default());
    let (plan, _) = make_plan(&c, &set).await;
    let summary = plan.summary();
    let changes = summary.add + summary.change + summary.remove;
    let floor: usize = plan.groups.iter().map(call_floor).sum();

    handle.emulator().reset_stats();
    let options = ApplyOptions {
        parallel: 8,
        max_destroy: usize::MAX,
        ..ApplyOptions::default()
    };
    let started = Instant::now();
    let report = apply(&c, &plan, &options).await.expect("apply");
    let wall = started.elapsed();
    let stats = handle.emulator().stats();
    let total = stats.total();
    let bound = total as f64 / 100.0;
    let (after, _) = make_plan(&c, &set).await;
    println!("## bulk: {changes} changes over {groups} groups ({summary})");
    println!(
        "complete: {}; then plan: {}",
        report.is_complete(),
        after.summary()
    );
    println!(
        "mutating calls: {} (floor {floor}); all calls: {total} (reads before: {}, verify: {}); error answers: {}",
        mutating(&stats),
        report.read_calls,
        groups,
        errors(&stats)
    );
    println!(
        "wall: {:.1} s; quota bound for {total} calls at 100/s: {bound:.1} s ({:.0}% of the bound)",
        wall.as_secs_f64(),
        100.0 * bound / wall.as_secs_f64()
    );
    println!("{report}");
}

async fn bench_small() {
    let faults = FaultConfig {
        latency_ms: 20,
        max_qps: 100,
        ..FaultConfig::default()
    };
    let handle = emulator(faults, 8);
    let id = "sg-bpbenchsmall1".to_owned();
    seed(&handle, &[(id.clone(), Vec::new())]);
    let want: Vec<Rule> = (0..10u16)
        .map(|n| rule(Direction::Ingress, 443 + n, "10.0.0.0/8", 1, "svc"))
        .collect();
    let set = desired(&[(id, want)]);
    let c = client(&handle, Some(95.0), RetryPolicy::default());
    let (plan, _) = make_plan(&c, &set).await;
    handle.emulator().reset_stats();
    let started = Instant::now();
    let report = apply(&c, &plan, &ApplyOptions::default())
        .await
        .expect("apply");
    let wall = started.elapsed();
    let stats = handle.emulator().stats();
    println!("## small: 10 rules onto an empty group");
    println!(
        "calls: {} ({} mutating, floor {}); wall {:.0} ms",
        stats.total(),
        mutating(&stats),
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
        seed(&handle, &live);
        let set = desired(&want);
        let c = client(&handle, None, retry.clone());
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
            max_destroy: usize::MAX,
            verify_backoff: Duration::from_millis(1),
            ..ApplyOptions::default()
        };
        match apply(&c, &plan, &options).await {
            Ok(r) if r.is_complete() => converged += 1,
            Ok(_) => stopped += 1,
            Err(_) => refused += 1,
        }
        handle
            .emulator()
            .set_faults(FaultConfig::default())
            .expect("no faults");
        let (again, _) = make_plan(&c, &set).await;
        if let Ok(r) = apply(&c, &again, &options).await
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
    let runs = arg("--fault-runs", 500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        bench_small().await;
        bench_bulk(groups).await;
        bench_faults(runs).await;
    });
}
