//! The example policies in `policies/` are valid and expand as documented.

use std::fmt::Write as _;
use std::path::PathBuf;

use moat_policy::{load_policies, render_text};

fn examples() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies"))
}

#[test]
fn example_policies_are_valid() {
    match load_policies(&[examples()]) {
        Ok(set) => {
            assert!(set.groups.len() >= 4);
            assert!(!set.protect.is_empty());
            assert!(
                set.groups
                    .iter()
                    .flat_map(|g| &g.rules)
                    .any(|r| r.expires.is_some())
            );
            for g in &set.groups {
                assert!(g.id.starts_with("sg-bp1"), "{}", g.id);
                assert_eq!(g.region, "cn-hangzhou");
                for r in &g.rules {
                    assert!(
                        !r.rule.description.is_empty(),
                        "{} has no description",
                        r.origin
                    );
                }
            }
        }
        Err(diags) => {
            let mut out = Vec::new();
            render_text(diags.iter(), &mut out).expect("writing to memory");
            panic!("{}", String::from_utf8_lossy(&out));
        }
    }
}

#[test]
fn example_policies_start_with_the_schema_modeline() {
    let mut missing = String::new();
    for entry in std::fs::read_dir(examples()).expect("policies/ exists") {
        let path = entry.expect("directory entry").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        if !text.starts_with("# yaml-language-server: $schema=../docs/policy.schema.json\n") {
            let _ = writeln!(missing, "{}", path.display());
        }
    }
    assert!(missing.is_empty(), "without the modeline:\n{missing}");
}

#[test]
fn example_policies_lint_clean() {
    let set = load_policies(&[examples()]).expect("the examples are valid");
    // A day well before the examples' `expires` dates.
    let findings = moat_policy::lint::lint(&set, jiff::civil::date(2026, 6, 1));
    let diags: Vec<&moat_policy::Diagnostic> = findings.iter().map(|f| &f.diagnostic).collect();
    let mut out = Vec::new();
    render_text(diags, &mut out).expect("writing to memory");
    assert!(findings.is_empty(), "{}", String::from_utf8_lossy(&out));
}
