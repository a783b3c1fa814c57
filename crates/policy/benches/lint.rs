//! Benchmark: lint a generated policy of 1,000 groups with 200 rules each
//! (200,000 rules), and a smaller set of dense groups built to make the
//! evaluation work hard.
//!
//! The realistic groups mix what large organisations write: web ports from
//! the internet (IPv4 and IPv6), SSH from an office range and a bastion
//! group, a database port from an application group, a drop of telnet,
//! 111 service rules from private and public /24s at varied priorities, a
//! wide port range, an expiring rule, a few rules without description, and
//! 80 egress rules (allow all to the internet, per-port rules and drops).
//! The dense groups have 100 `all` accepts from distinct public /8s and 100
//! drops of TCP ranges from everywhere at a better priority, so every
//! exposure check splits hundreds of port and address cells.
//!
//! Run with `cargo bench -p moat-policy --bench lint`. Without `--bench` (as
//! `cargo test --benches` runs it) it does a small smoke run instead.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (groups, dense_groups, runs) = if full { (1000, 100, 5) } else { (4, 2, 1) };
    let today = jiff::civil::date(2026, 6, 1);

    let text = realistic(groups);
    let set = load("realistic.yaml", &text);
    let rules: usize = set.groups.iter().map(|g| g.rules.len()).sum();
    assert_eq!(rules, groups * 200, "each group expands to 200 rules");
    let (best, findings) = best_of(runs, || moat_policy::lint::lint(&set, today));
    let summary = moat_policy::lint::Summary::of(&findings);

    let dense_text = dense(dense_groups);
    let dense_set = load("dense.yaml", &dense_text);
    let dense_rules: usize = dense_set.groups.iter().map(|g| g.rules.len()).sum();
    assert_eq!(dense_rules, dense_groups * 200);
    let (dense_best, dense_findings) = best_of(runs, || moat_policy::lint::lint(&dense_set, today));

    let mut out = String::new();
    let _ = writeln!(
        out,
        "realistic: {} groups x 200 = {rules} rules, {} findings ({} errors, {} warnings)",
        set.groups.len(),
        findings.len(),
        summary.errors,
        summary.warnings
    );
    let _ = writeln!(
        out,
        "  lint (best of {runs}): {:.3} s ({:.0} rules/s)",
        best.as_secs_f64(),
        rules as f64 / best.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "dense:     {} groups x 200 = {dense_rules} rules, {} findings",
        dense_set.groups.len(),
        dense_findings.len()
    );
    let _ = writeln!(
        out,
        "  lint (best of {runs}): {:.3} s ({:.1} ms per group)",
        dense_best.as_secs_f64(),
        dense_best.as_secs_f64() * 1000.0 / dense_groups as f64
    );
    print!("{out}");
}

/// Loads the generated groups as files of 20 groups each (one file may hold
/// at most 500,000 YAML nodes) plus the address book.
fn load(name: &str, groups: &[String]) -> moat_policy::PolicySet {
    let mut files: Vec<(String, String)> =
        vec![(format!("{name}-addresses.yaml"), ADDRESSES.to_owned())];
    for (i, chunk) in groups.chunks(20).enumerate() {
        let mut text = String::from("version: 1\nsecurity_groups:\n");
        for g in chunk {
            text.push_str(g);
        }
        files.push((format!("{name}-{i:03}.yaml"), text));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    match moat_policy::load_policy_strs(&refs) {
        Ok(set) => set,
        Err(diags) => panic!(
            "generated policy is invalid: {:?}",
            diags.iter().take(5).collect::<Vec<_>>()
        ),
    }
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        last = Some(value);
    }
    (best, last.expect("at least one run"))
}

const ADDRESSES: &str =
    "version: 1\naddresses:\n  internet: [0.0.0.0/0, \"::/0\"]\n  office: [203.0.113.0/28]\n";

/// One group per `n`: 120 ingress and 80 egress rules after expansion.
fn realistic(groups: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(groups);
    for n in 0..groups {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "  - id: sg-bp1lintbench{n:06}\n    region: cn-hangzhou\n    ingress:"
        );
        let rule = |t: &mut String, r: usize, body: &str| {
            if r % 50 != 7 {
                let _ = writeln!(t, "      - description: rule {r}");
                let _ = writeln!(t, "        {body}");
            } else {
                let _ = writeln!(t, "      - {body}");
            }
        };
        // 4 + 1 + 1 + 1 + 1 + 1 = 9 atomic rules.
        rule(
            &mut t,
            0,
            "allow: [tcp/80, tcp/443]\n        from: internet",
        );
        rule(&mut t, 1, "allow: tcp/22\n        from: office");
        rule(
            &mut t,
            2,
            "allow: tcp/22\n        from: sg-bp1bastion000001",
        );
        rule(
            &mut t,
            3,
            "deny: tcp/23\n        from: 0.0.0.0/0\n        priority: 1",
        );
        rule(
            &mut t,
            4,
            "allow: tcp/3306\n        from: sg-bp1app0000000001",
        );
        rule(
            &mut t,
            5,
            "allow: tcp/30000-31000\n        from: 10.0.0.0/8\n        expires: 2026-06-10",
        );
        // 111 service rules; a third from public /24s.
        for r in 0..111 {
            let from = if r % 3 == 0 {
                format!("198.51.{r}.0/24")
            } else {
                format!("10.{}.{r}.0/24", n % 256)
            };
            rule(
                &mut t,
                10 + r,
                &format!(
                    "allow: tcp/{}\n        from: {from}\n        priority: {}",
                    9000 + r,
                    r % 100 + 1
                ),
            );
        }
        t.push_str("    egress:\n");
        rule(
            &mut t,
            200,
            "allow: all\n        to: internet\n        priority: 100",
        );
        for r in 0..78 {
            let (verdict, to) = if r % 10 == 0 {
                ("deny", format!("192.168.{r}.0/24"))
            } else {
                ("allow", format!("172.16.{}.0/24", n % 256))
            };
            rule(
                &mut t,
                201 + r,
                &format!("{verdict}: udp/{}\n        to: {to}", 10000 + r),
            );
        }
        out.push(t);
    }
    out
}

/// Groups of 100 `all` accepts from public /8s and 100 TCP drops.
fn dense(groups: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(groups);
    for n in 0..groups {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "  - id: sg-bp1lintdense{n:06}\n    region: cn-hangzhou\n    ingress:"
        );
        // Skip 10/8, 100/8 and 127/8, which hold private ranges.
        for a in (1..=110).filter(|a| ![10, 100, 127].contains(a)).take(100) {
            let _ = writeln!(
                t,
                "      - description: all from {a}/8\n        allow: all\n        from: {a}.0.0.0/8\n        priority: 50"
            );
        }
        for d in 0..100 {
            let from = 1000 + d * 10;
            let _ = writeln!(
                t,
                "      - description: drop {d}\n        deny: tcp/{from}-{}\n        from: 0.0.0.0/0\n        priority: 10",
                from + 4
            );
        }
        out.push(t);
    }
    out
}
