//! Benchmark: load, validate and expand a generated policy of 1,000 groups
//! with 200 rules each (200,000 rules) spread over 50 files sharing one
//! address book, as a large organisation's repository would.
//!
//! Run with `cargo bench -p moat-policy --bench load`. It prints wall-clock
//! times and the process's peak resident memory (VmHWM). Without `--bench`
//! (as `cargo test --benches` runs it) it does a small smoke run instead.

use std::fmt::Write as _;
use std::time::Instant;

const FILES: usize = 50;
const GROUPS_PER_FILE: usize = 20;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (files, groups_per_file) = if full {
        (FILES, GROUPS_PER_FILE)
    } else {
        (2, 2)
    };
    let dir = std::env::temp_dir().join(format!("moat-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the bench directory");

    let start = Instant::now();
    let bytes = moat_testkit::bench::write_policy_tree(&dir, files, groups_per_file);
    let generated = start.elapsed();
    let before = peak_rss_kib();

    let start = Instant::now();
    let set = match moat_policy::load_policies(std::slice::from_ref(&dir)) {
        Ok(set) => set,
        Err(diags) => {
            let _ = std::fs::remove_dir_all(&dir);
            panic!(
                "generated policy is invalid: {:?}",
                diags.iter().take(5).collect::<Vec<_>>()
            );
        }
    };
    let loaded = start.elapsed();
    let after = peak_rss_kib();

    let rules: usize = set.groups.iter().map(|g| g.rules.len()).sum();
    assert_eq!(set.groups.len(), files * groups_per_file);
    assert_eq!(rules, files * groups_per_file * 200);

    let start = Instant::now();
    let text = moat_policy::render_policy_yaml(&set.groups).expect("representable");
    let rendered = start.elapsed();

    let _ = std::fs::remove_dir_all(&dir);
    let mib = |kib: Option<u64>| {
        kib.map_or("n/a".to_owned(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        })
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "policy files:        {} ({:.1} MiB of YAML)",
        files + 1,
        bytes as f64 / 1048576.0
    );
    let _ = writeln!(
        out,
        "groups x rules:      {} x 200 = {rules} rules",
        set.groups.len()
    );
    let _ = writeln!(out, "generate:            {:.3} s", generated.as_secs_f64());
    let _ = writeln!(
        out,
        "load+validate+expand {:.3} s ({:.0} rules/s)",
        loaded.as_secs_f64(),
        rules as f64 / loaded.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "render back to YAML: {:.3} s ({:.1} MiB)",
        rendered.as_secs_f64(),
        text.len() as f64 / 1048576.0
    );
    let _ = writeln!(out, "peak RSS before load {}", mib(before));
    let _ = writeln!(out, "peak RSS after load  {}", mib(after));
    print!("{out}");
}

/// Peak resident set size of this process, from /proc (Linux only).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
