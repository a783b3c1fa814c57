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

/// The rollout example: a directory of its own (directories are loaded
/// one level deep, so `policies/` alone does not load it).
fn rollout() -> PathBuf {
    examples().join("rollout")
}

#[test]
fn example_policies_start_with_the_schema_modeline() {
    let mut missing = String::new();
    for (dir, schema) in [
        (examples(), "../docs/policy.schema.json"),
        (rollout(), "../../docs/policy.schema.json"),
    ] {
        for entry in std::fs::read_dir(dir).expect("the examples exist") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable");
            if !text.starts_with(&format!("# yaml-language-server: $schema={schema}\n")) {
                let _ = writeln!(missing, "{}", path.display());
            }
        }
    }
    assert!(missing.is_empty(), "without the modeline:\n{missing}");
}

#[test]
fn the_rollout_example_has_templates_two_stages_and_passing_tests() {
    let set = match load_policies(&[rollout()]) {
        Ok(set) => set,
        Err(diags) => {
            let mut out = Vec::new();
            render_text(diags.iter(), &mut out).expect("writing to memory");
            panic!("{}", String::from_utf8_lossy(&out));
        }
    };
    assert_eq!(set.stages, ["test", "prod"]);
    assert!(!set.templates.is_empty());
    for stage in ["test", "prod"] {
        let groups: Vec<_> = set.stage_groups(stage).collect();
        assert!(!groups.is_empty(), "no group in stage {stage}");
        for g in groups {
            assert!(g.id.starts_with("sg-bp1"), "{}", g.id);
            assert!(
                g.rules.iter().any(|r| set.template_of(r).is_some()),
                "{} uses no template",
                g.id
            );
            for r in &g.rules {
                assert!(
                    !r.rule.description.is_empty(),
                    "{} has no description",
                    r.origin
                );
            }
        }
    }
    // Tests that expect both answers, and all of them pass on the policy.
    assert!(set.tests.len() >= 2);
    let today = jiff::civil::date(2026, 6, 1);
    let report = moat_policy::policy_tests::run_tests(&set, today);
    assert!(report.all_passed(), "{report:?}");
    let findings = moat_policy::lint::lint(&set, today);
    assert!(findings.is_empty(), "{findings:?}");
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
