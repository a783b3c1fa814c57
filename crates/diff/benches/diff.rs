//! Benchmark: diff and text rendering of 200,000 live rules (1,000 groups x
//! 200 rules) against a policy that differs by a realistic mix of adds,
//! changes, removals, duplicates and expired rules.
//!
//! Run: `cargo bench -p moat-diff --bench diff` (optionally with the number
//! of groups and rules per group as arguments). It prints the time of each
//! phase (best of several runs) and the peak resident memory of the process
//! measured around the diff and the render (Linux only: it reads VmHWM from
//! /proc after resetting it through clear_refs).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moat_diff::{DiffOptions, RenderOptions, diff, fingerprint, render_json, render_text};
use moat_policy::{
    DesiredRule, Direction, GroupPolicy, LiveGroup, LiveRule, Mode, NicType, Origin, Peer,
    PolicySet, PortRange, Protocol, Rule, RuleKey, Verdict,
};

fn key(g: usize, i: usize) -> RuleKey {
    let direction = if i % 5 == 4 {
        Direction::Egress
    } else {
        Direction::Ingress
    };
    let port = 1000 + i as u16;
    let peer = match i % 10 {
        0 => Peer::cidr("0.0.0.0/0".parse().expect("literal cidr")),
        1 => Peer::cidr("::/0".parse().expect("literal cidr")),
        2 => Peer::group(format!("sg-peer{:05}", g % 97)),
        _ => Peer::cidr(
            format!("10.{}.{}.0/24", (g + i) % 250, i % 250)
                .parse()
                .expect("generated cidr"),
        ),
    };
    RuleKey {
        direction,
        protocol: if i.is_multiple_of(7) {
            Protocol::Udp
        } else {
            Protocol::Tcp
        },
        ports: PortRange::single(port),
        peer,
        verdict: if i.is_multiple_of(13) {
            Verdict::Drop
        } else {
            Verdict::Accept
        },
        nic_type: NicType::Intranet,
        source_ports: None,
        local: None,
    }
}

fn inputs(groups: usize, per_group: usize) -> (PolicySet, Vec<LiveGroup>) {
    let file: Arc<str> = Arc::from("policies/bench.yaml");
    let today = jiff::civil::date(2026, 3, 1);
    let mut policy = PolicySet::default();
    let mut live = Vec::with_capacity(groups);
    for g in 0..groups {
        let id = format!("sg-bench{g:06}");
        let mut desired = Vec::with_capacity(per_group);
        let mut rules = Vec::with_capacity(per_group);
        for i in 0..per_group {
            let rule = Rule {
                key: key(g, i),
                priority: 1 + (i % 3) as u8,
                description: format!("rule {i} of group {g}: service traffic from the office"),
            };
            // 3% of live rules are not in the policy (removed), 3% of the
            // policy is not live (added), 4% differ in priority or
            // description (changed), 1% are live duplicates, 1% expired.
            let r = (g * 31 + i * 17) % 100;
            if r >= 3 {
                let mut d = DesiredRule {
                    rule: rule.clone(),
                    origin: Origin {
                        file: file.clone(),
                        line: 10 + i as u32,
                        column: 7,
                    },
                    service_name: None,
                    peer_name: None,
                    protected: i.is_multiple_of(50),
                    expires: None,
                    lint_ignore: None,
                };
                match r {
                    3..=4 => d.rule.priority += 10,
                    5..=6 => d.rule.description.push_str(" and the VPN"),
                    7 => d.expires = Some(today.yesterday().unwrap_or(today)),
                    _ => {}
                }
                desired.push(d);
            }
            if !(8..=10).contains(&r) {
                rules.push(LiveRule {
                    id: format!("sgr-{g:06}{i:04}"),
                    rule: rule.clone(),
                    create_time: String::new(),
                });
            }
            if r == 11 {
                rules.push(LiveRule {
                    id: format!("sgr-{g:06}{i:04}d"),
                    rule,
                    create_time: String::new(),
                });
            }
        }
        desired.sort_by(|a, b| a.rule.key.cmp(&b.rule.key));
        policy.groups.push(GroupPolicy {
            id: id.clone(),
            region: "ap-southeast-1".into(),
            name: Some(format!("bench-{g}")),
            mode: if g.is_multiple_of(10) {
                Mode::Additive
            } else {
                Mode::Authoritative
            },
            group_type: None,
            account: None,
            stage: None,
            origin: Origin {
                file: file.clone(),
                line: 1,
                column: 1,
            },
            rules: desired,
        });
        live.push(LiveGroup {
            id,
            region: "ap-southeast-1".into(),
            name: format!("bench-{g}"),
            rules,
            unmodeled: Vec::new(),
            group_type: None,
            inner_access: None,
        });
    }
    (policy, live)
}

/// Peak resident set size in KiB since the last reset, if the platform
/// tells.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn current_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn reset_peak() {
    // "5" resets the peak RSS counter (Linux 4.0 and later).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = black_box(f());
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let groups = args.first().copied().unwrap_or(1000);
    let per_group = args.get(1).copied().unwrap_or(200);
    let options = DiffOptions::new(jiff::civil::date(2026, 3, 1));

    let (policy, live) = inputs(groups, per_group);
    let live_rules: usize = live.iter().map(|g| g.rules.len()).sum();
    let desired_rules: usize = policy.groups.iter().map(|g| g.rules.len()).sum();
    let base_rss = current_rss_kib();

    reset_peak();
    let (diff_time, plan) = best_of(5, || diff(&policy, &live, &options));
    let diff_peak = peak_rss_kib();

    reset_peak();
    let (render_time, bytes) = best_of(5, || {
        let mut out = Vec::with_capacity(64 << 20);
        render_text(&plan, &RenderOptions::default(), &mut out).map(|()| out.len())
    });
    let render_peak = peak_rss_kib();
    let (json_time, json_bytes) = best_of(5, || {
        let mut out = Vec::with_capacity(64 << 20);
        render_json(&plan, &RenderOptions::default(), &mut out).map(|()| out.len())
    });
    let (hash_time, _) = best_of(5, || plan.hash());
    let (fingerprint_time, _) = best_of(5, || live.iter().map(fingerprint).count());
    let s = plan.summary();

    println!("groups: {groups}, live rules: {live_rules}, desired rules: {desired_rules}");
    println!("plan: {s}");
    println!("diff (best of 5): {:.1} ms", diff_time.as_secs_f64() * 1e3);
    println!(
        "  of which fingerprints of the live groups: {:.1} ms",
        fingerprint_time.as_secs_f64() * 1e3
    );
    println!(
        "render_text (best of 5): {:.1} ms, {} bytes",
        render_time.as_secs_f64() * 1e3,
        bytes.unwrap_or(0)
    );
    println!(
        "render_json (best of 5): {:.1} ms, {} bytes; of which the plan hash: {:.1} ms",
        json_time.as_secs_f64() * 1e3,
        json_bytes.unwrap_or(0),
        hash_time.as_secs_f64() * 1e3
    );
    let mib = |k: Option<u64>| {
        k.map_or("n/a".to_owned(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        })
    };
    println!("resident after building inputs: {}", mib(base_rss));
    println!("peak resident during diff: {}", mib(diff_peak));
    println!("peak resident during render: {}", mib(render_peak));
}
