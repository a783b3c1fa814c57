//! Data-driven tests: every case under `data/bad/` must fail with exactly the
//! diagnostics in its `.expected` file, and every case under `data/good/`
//! must load and expand to exactly its `.expected` listing.
//!
//! A case is a `.yaml`/`.yml` file or a directory of them (loaded together);
//! its golden file sits next to it with the `.expected` extension. Bless new
//! or changed output with `MOAT_BLESS=1 cargo test -p moat-policy --test corpus`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use moat_policy::{PolicySet, load_policies, load_policy_str, render_policy_yaml, render_text};
use moat_testkit::assert_golden;

/// Cases of one directory, as paths relative to the crate (the working
/// directory of tests), so that golden files do not depend on the machine.
fn cases(dir: &str) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            p.is_dir() || matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    cases.sort();
    cases
}

fn expected_path(case: &Path) -> PathBuf {
    case.with_extension("expected")
}

fn check(case: &Path, actual: &str, failures: &mut Vec<String>) {
    let result = std::panic::catch_unwind(|| assert_golden(expected_path(case), actual));
    if let Err(e) = result {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "golden mismatch".to_owned());
        failures.push(format!("{}:\n{msg}", case.display()));
    }
}

#[test]
fn bad_policies_report_exactly_their_diagnostics() {
    let cases = cases("tests/data/bad");
    assert!(cases.len() >= 40, "only {} bad cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let actual = match load_policies(std::slice::from_ref(case)) {
            Ok(_) => "(loaded without errors)\n".to_owned(),
            Err(diags) => {
                let mut out = Vec::new();
                render_text(diags.iter(), &mut out).expect("writing to memory");
                for d in diags.iter() {
                    assert!(d.origin.line > 0 || d.origin.column == 0, "{d}");
                }
                String::from_utf8(out).expect("diagnostics are UTF-8")
            }
        };
        check(case, &actual, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn good_policies_expand_to_their_listing() {
    let cases = cases("tests/data/good");
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in &cases {
        let actual = match load_policies(std::slice::from_ref(case)) {
            Ok(set) => listing(&set),
            Err(diags) => {
                let mut out = Vec::new();
                render_text(diags.iter(), &mut out).expect("writing to memory");
                format!("unexpected errors:\n{}", String::from_utf8_lossy(&out))
            }
        };
        check(case, &actual, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each good case rendered back to policy text (what `moat export` writes),
/// compared with `<case>.rendered`, and loaded again to the same rules.
#[test]
fn good_policies_render_back_to_the_same_rules() {
    let mut failures = Vec::new();
    for case in cases("tests/data/good") {
        let set = load_policies(std::slice::from_ref(&case)).expect("good cases load");
        let text = render_policy_yaml(&set.groups).expect("representable");
        let golden = case.with_extension("rendered");
        if let Err(e) = std::panic::catch_unwind(|| assert_golden(&golden, &text)) {
            failures.push(format!(
                "{}: {:?}",
                golden.display(),
                e.downcast_ref::<String>()
            ));
        }
        let again = load_policy_str("rendered.yaml", &text).expect("rendered text loads");
        fn rules(
            s: &PolicySet,
        ) -> Vec<(&String, &moat_policy::Rule, bool, Option<jiff::civil::Date>)> {
            s.groups
                .iter()
                .flat_map(|g| {
                    g.rules
                        .iter()
                        .map(move |r| (&g.id, &r.rule, r.protected, r.expires))
                })
                .collect()
        }
        assert_eq!(rules(&again), rules(&set), "{}", case.display());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every expanded rule with everything it remembers, one per line.
fn listing(set: &PolicySet) -> String {
    let mut out = String::new();
    for g in &set.groups {
        let _ = writeln!(
            out,
            "group {} region {} mode {}{}{}{}{} at {}",
            g.id,
            g.region,
            g.mode,
            g.name
                .as_ref()
                .map(|n| format!(" name {n:?}"))
                .unwrap_or_default(),
            g.group_type
                .map(|t| format!(" type {t}"))
                .unwrap_or_default(),
            g.account
                .as_ref()
                .map(|a| format!(" account {a}"))
                .unwrap_or_default(),
            g.stage
                .as_ref()
                .map(|s| format!(" stage {s}"))
                .unwrap_or_default(),
            g.origin
        );
        for r in &g.rules {
            let _ = write!(
                out,
                "  {} priority {} at {}",
                r.rule.key, r.rule.priority, r.origin
            );
            if !r.rule.description.is_empty() {
                let _ = write!(out, " description {:?}", r.rule.description);
            }
            if let Some(s) = &r.service_name {
                let _ = write!(out, " service {s}");
            }
            if let Some(p) = &r.peer_name {
                let _ = write!(out, " set {p}");
            }
            if r.protected {
                let _ = write!(out, " protected");
            }
            if let Some(e) = r.expires {
                let _ = write!(out, " expires {e}");
            }
            if let Some(li) = &r.lint_ignore {
                let _ = write!(out, " lint_ignore {} ({:?})", li.codes.join(","), li.reason);
            }
            if let Some(t) = set.template_of(r) {
                let _ = write!(out, " template {}", t.name);
            }
            out.push('\n');
        }
    }
    if !set.stages.is_empty() {
        let _ = writeln!(out, "stages {}", set.stages.join(", "));
    }
    for t in &set.templates {
        let rules: Vec<String> = t
            .rules
            .iter()
            .map(|o| format!("{}:{}", o.line, o.column))
            .collect();
        let _ = writeln!(
            out,
            "template {} at {} rules [{}] groups [{}]",
            t.name,
            t.origin,
            rules.join(", "),
            t.groups.join(", ")
        );
    }
    for t in &set.tests {
        let peers: Vec<String> = t.peers.iter().map(ToString::to_string).collect();
        let services: Vec<String> = t.services.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "test {:?} at {} {:?} groups [{}] {} {} [{}] on [{}] expect {}",
            t.name,
            t.origin,
            t.target,
            t.groups.join(", "),
            t.direction,
            t.direction.peer_word(),
            peers.join(", "),
            services.join(", "),
            t.expect.as_str()
        );
    }
    for a in &set.accounts {
        let _ = write!(out, "account {} profile {:?}", a.name, a.profile);
        if let Some(e) = &a.endpoint {
            let _ = write!(out, " endpoint {e}");
        }
        let _ = writeln!(out, " at {}", a.origin);
    }
    for p in &set.protect {
        let _ = write!(out, "protect at {} reason {:?}", p.origin, p.reason);
        if let Some(g) = &p.group {
            let _ = write!(out, " group {g}");
        }
        if let Some(d) = p.direction {
            let _ = write!(out, " direction {d}");
        }
        if let Some(s) = &p.services {
            let s: Vec<String> = s.iter().map(ToString::to_string).collect();
            let _ = write!(out, " services [{}]", s.join(", "));
        }
        if let Some(ps) = &p.peers {
            let ps: Vec<String> = ps.iter().map(ToString::to_string).collect();
            let _ = write!(out, " peers [{}]", ps.join(", "));
        }
        if let Some(d) = &p.description_prefix {
            let _ = write!(out, " description_prefix {d:?}");
        }
        out.push('\n');
    }
    out
}
