//! Benchmark: each hostile policy of `moat_testkit::hostile` (inputs of up
//! to 32 MiB built to exhaust time or memory) loaded in a fresh process, with
//! its wall time, CPU time (user and system, all threads), peak resident
//! memory (VmHWM) and outcome. CPU time is reported beside wall time because
//! the machine is shared: wall time grows with the load, CPU time much less.
//!
//! Run with `cargo bench -p moat-policy --bench hostile` (optionally followed
//! by case names). Without `--bench` (as `cargo test --benches` runs it) it
//! measures the light cases only.

use std::process::Command;
use std::time::Instant;

use moat_testkit::hostile::{Case, Expect, cases};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, name, dir] = &args[..]
        && flag == "--case"
    {
        measure(name, dir);
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let wanted: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let exe = std::env::current_exe().expect("the bench's own path");
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>10}  outcome",
        "case", "input", "wall", "CPU", "peak RSS"
    );
    for case in cases() {
        if !(full || case.light) || !(wanted.is_empty() || wanted.iter().any(|w| **w == case.name))
        {
            continue;
        }
        run(&exe, &case);
    }
}

/// Writes the case, loads it in a child process, prints one line.
fn run(exe: &std::path::Path, case: &Case) {
    let dir =
        std::env::temp_dir().join(format!("moat-hostile-{}-{}", case.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the case directory");
    let bytes = (case.write)(&dir);
    let out = Command::new(exe)
        .args(["--case", case.name])
        .arg(&dir)
        .output()
        .expect("running the measuring child");
    let _ = std::fs::remove_dir_all(&dir);
    let report = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = report.split('\t').collect();
    let (secs, cpu, rss, outcome) = match fields[..] {
        [secs, cpu, rss, outcome] => (secs, cpu, rss, outcome.trim()),
        _ => ("?", "?", "?", "child failed"),
    };
    let expected = match case.expect {
        Expect::Valid => "valid".to_owned(),
        Expect::Error(code) => code.to_owned(),
    };
    let verdict = if outcome.split(' ').any(|w| w == expected) {
        ""
    } else {
        "  UNEXPECTED"
    };
    println!(
        "{:<24} {:>6.1} MiB {:>7} s {:>7} s {:>6} MiB  {outcome}{verdict}",
        case.name,
        bytes as f64 / 1048576.0,
        secs,
        cpu,
        rss,
    );
}

/// In the child: load the directory, print
/// `wall seconds \t CPU seconds \t peak MiB \t outcome`.
fn measure(_name: &str, dir: &str) {
    let start = Instant::now();
    let result = moat_policy::load_policies(&[dir.into()]);
    let elapsed = start.elapsed().as_secs_f64();
    let outcome = match &result {
        Ok(set) => format!(
            "valid ({} rules)",
            set.groups.iter().map(|g| g.rules.len()).sum::<usize>()
        ),
        Err(diags) => {
            let mut codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
            codes.sort_unstable();
            codes.dedup();
            format!("{} diagnostics: {}", diags.len(), codes.join(" "))
        }
    };
    let rss = peak_rss_kib().map_or("n/a".to_owned(), |k| format!("{:.0}", k as f64 / 1024.0));
    let cpu = cpu_seconds().map_or("n/a".to_owned(), |s| format!("{s:.2}"));
    print!("{elapsed:.2}\t{cpu}\t{rss}\t{outcome}");
}

/// Peak resident set size of this process, from /proc (Linux only).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User and system time of this process and its finished threads, from
/// /proc (Linux only; clock ticks of 1/100 s, the kernel's USER_HZ).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}
