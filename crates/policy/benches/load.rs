//! Benchmark: load, validate and expand a generated policy of 1,000 groups
//! with 200 rules each (200,000 rules) spread over 50 files sharing one
//! address book, as a large organisation's repository would.
//!
//! Run with `cargo bench -p moat-policy --bench load` (`-- --runs N` for N
//! loads, default 7; `--files N` for N files of 20 groups, default 50). It
//! prints the wall-clock and CPU time of each load (CPU: user plus system
//! time of all threads), their median with min and max, and the process's
//! peak resident memory (VmHWM). Without `--bench`
//! (as `cargo test --benches` runs it) it does a small smoke run instead.

use std::fmt::Write as _;
use std::time::Instant;

const FILES: usize = 50;
const GROUPS_PER_FILE: usize = 20;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(if full { 7 } else { 1 })
        .max(1);
    // `--files N`: a larger or smaller tree of the same files (105 files
    // make about 16 MiB).
    let files = args
        .iter()
        .position(|a| a == "--files")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok());
    let (files, groups_per_file) = if full {
        (files.unwrap_or(FILES).max(1), GROUPS_PER_FILE)
    } else {
        (2, 2)
    };
    let dir = std::env::temp_dir().join(format!("moat-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the bench directory");

    let start = Instant::now();
    let bytes = moat_testkit::bench::write_policy_tree(&dir, files, groups_per_file);
    let generated = start.elapsed();
    let before = peak_rss_kib();

    let mut walls = Vec::with_capacity(runs);
    let mut cpus = Vec::with_capacity(runs);
    let mut set = None;
    for _ in 0..runs {
        // The previous run's policies are freed before the next load, as
        // a fresh process would start without them.
        drop(set.take());
        let cpu = cpu_seconds();
        let start = Instant::now();
        let loaded = match moat_policy::load_policies(std::slice::from_ref(&dir)) {
            Ok(loaded) => loaded,
            Err(diags) => {
                let _ = std::fs::remove_dir_all(&dir);
                panic!(
                    "generated policy is invalid: {:?}",
                    diags.iter().take(5).collect::<Vec<_>>()
                );
            }
        };
        walls.push(start.elapsed().as_secs_f64());
        if let (Some(before), Some(after)) = (cpu, cpu_seconds()) {
            cpus.push(after - before);
        }
        set = Some(loaded);
    }
    let Some(set) = set else {
        unreachable!("runs is at least 1");
    };
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
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let median = summary(&walls);
    let _ = writeln!(out, "load runs (wall s):  {}", list(&walls));
    let _ = writeln!(
        out,
        "load+validate+expand {:.3} s median ({:.3}-{:.3}) of {runs}, {:.0} rules/s",
        median.0,
        median.1,
        median.2,
        rules as f64 / median.0
    );
    if !cpus.is_empty() {
        let cpu = summary(&cpus);
        let _ = writeln!(out, "load runs (CPU s):   {}", list(&cpus));
        let _ = writeln!(
            out,
            "load CPU time        {:.2} s median ({:.2}-{:.2}), all threads",
            cpu.0, cpu.1, cpu.2
        );
    }
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

/// Median, min and max of some figures.
fn summary(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let min = v.first().copied().unwrap_or_default();
    let max = v.last().copied().unwrap_or_default();
    let mid = v.len() / 2;
    let median = if v.len().is_multiple_of(2) && mid > 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v.get(mid).copied().unwrap_or_default()
    };
    (median, min, max)
}

/// User and system time of this process and its finished threads, from
/// /proc (Linux only; clock ticks of 1/100 s, the kernel's USER_HZ).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: utime is field 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Peak resident set size of this process, from /proc (Linux only).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
