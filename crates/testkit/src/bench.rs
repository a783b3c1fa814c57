//! A generated policy tree the size of a large organisation's repository,
//! shared by the benchmarks that load, plan or apply it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Address sets in the shared address book.
pub const SETS: usize = 100;
/// Atomic rules per generated group: 40 ingress rules through a set of four
/// networks (160) plus 40 literal egress rules.
pub const RULES_PER_GROUP: usize = 200;

/// The id of generated group `n`.
pub fn bench_group_id(n: usize) -> String {
    format!("sg-bp1bench{n:06}")
}

/// Writes `addresses.yaml` (the shared address book and services) and
/// `files` files of `groups_per_file` groups each under `dir`; returns the
/// bytes written. Every group is in region cn-hangzhou.
pub fn write_policy_tree(dir: &Path, files: usize, groups_per_file: usize) -> usize {
    let mut total = 0;
    let mut book = String::from("version: 1\naddresses:\n");
    for s in 0..SETS {
        // Four /24 networks per set, distinct across sets.
        let nets: Vec<String> = (0..4)
            .map(|i| format!("10.{}.{}.0/24", s, i * 16))
            .collect();
        let _ = writeln!(book, "  net{s}: [{}]", nets.join(", "));
    }
    book.push_str("services:\n");
    for p in 0..40 {
        let _ = writeln!(book, "  svc{p}: tcp/{}", 8000 + p);
    }
    total += write(dir.join("addresses.yaml"), &book);

    for f in 0..files {
        let mut text = String::from("version: 1\nsecurity_groups:\n");
        for g in 0..groups_per_file {
            let n = f * groups_per_file + g;
            let _ = writeln!(
                text,
                "  - id: {}\n    region: cn-hangzhou\n    name: bench-{n}\n    ingress:",
                bench_group_id(n)
            );
            for r in 0..40 {
                let _ = writeln!(
                    text,
                    "      - description: service {r} from network set {set}\n        allow: svc{r}\n        from: net{set}\n        priority: {prio}",
                    set = (n + r) % SETS,
                    prio = r % 100 + 1,
                );
            }
            text.push_str("    egress:\n");
            for r in 0..40 {
                let _ = writeln!(
                    text,
                    "      - description: egress {r}\n        allow: udp/{}\n        to: 172.16.{}.0/24",
                    10000 + r,
                    n % 256,
                );
            }
        }
        total += write(dir.join(format!("groups-{f:03}.yaml")), &text);
    }
    total
}

fn write(path: PathBuf, text: &str) -> usize {
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    text.len()
}
