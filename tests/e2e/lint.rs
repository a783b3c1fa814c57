//! `moat lint`: every code on the fixtures under `data/lint/`, exit codes
//! with and without `--strict`, the JSON form, `lint_ignore`, invalid
//! policies, and the repository's example policies linting clean.

use crate::common::{TestEnv, repo_root};

/// Tests run on a fixed day so that `expires` findings do not drift.
const TODAY: &str = "2026-06-01";

fn env() -> TestEnv {
    TestEnv::new().in_dir(repo_root()).env("MOAT_TODAY", TODAY)
}

const EXPOSED: &str = "tests/e2e/data/lint/exposed.yaml";
const HYGIENE: &str = "tests/e2e/data/lint/hygiene.yaml";
const WARNINGS: &str = "tests/e2e/data/lint/warnings.yaml";
const INVALID: &str = "tests/e2e/data/lint/invalid.yaml";

#[test]
fn example_policies_lint_clean_even_when_strict() {
    let run = env().run(&["lint", "--strict", "policies/"]);
    assert_eq!(run.code, Some(0), "{}", run.snapshot());
    run.assert_golden("lint_examples");
}

#[test]
fn exposure_codes_are_errors() {
    let run = env().run(&["lint", EXPOSED]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
    for code in [
        "MOAT001", "MOAT002", "MOAT003", "MOAT004", "MOAT006", "MOAT011",
    ] {
        assert!(
            run.stdout.contains(&format!("[{code}]")),
            "{code}\n{}",
            run.snapshot()
        );
    }
    assert!(run.stderr.is_empty(), "{}", run.snapshot());
    run.assert_golden("lint_exposed");
}

#[test]
fn warnings_and_ignored_findings_do_not_fail_without_strict() {
    let run = env().run(&["lint", HYGIENE]);
    assert_eq!(run.code, Some(0), "{}", run.snapshot());
    for code in ["MOAT005", "MOAT007", "MOAT008", "MOAT009", "MOAT010"] {
        assert!(
            run.stdout.contains(&format!("[{code}]")),
            "{code}\n{}",
            run.snapshot()
        );
    }
    assert!(
        run.stdout
            .contains("(ignored: the honeypot exists to be attacked and holds no data)"),
        "{}",
        run.snapshot()
    );
    run.assert_golden("lint_hygiene");
}

#[test]
fn strict_fails_on_warnings() {
    let run = env().run(&["lint", WARNINGS]);
    assert_eq!(run.code, Some(0), "{}", run.snapshot());
    let strict = env().run(&["lint", "--strict", WARNINGS]);
    assert_eq!(strict.code, Some(1), "{}", strict.snapshot());
    strict.assert_golden("lint_strict");
}

#[test]
fn json_form_for_tools() {
    let run = env().run(&["lint", "--format", "json", EXPOSED, HYGIENE]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["passed"], false);
    let findings = v["findings"].as_array().expect("findings is an array");
    let ignored: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["suppressed"] == true)
        .collect();
    assert_eq!(ignored.len(), 1, "{}", run.stdout);
    assert_eq!(ignored[0]["code"], "MOAT001");
    assert_eq!(v["summary"]["ignored"], 1);
    run.assert_golden("lint_json");

    let strict = env().run(&["lint", "--format", "json", "--strict", WARNINGS]);
    assert_eq!(strict.code, Some(1), "{}", strict.snapshot());
    let v: serde_json::Value = serde_json::from_str(&strict.stdout).expect("stdout is JSON");
    assert_eq!(
        (v["strict"].clone(), v["passed"].clone()),
        (true.into(), false.into())
    );
}

#[test]
fn invalid_policies_are_reported_as_validate_does() {
    let run = env().run(&["lint", INVALID, WARNINGS]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
    assert!(run.stdout.is_empty(), "{}", run.snapshot());
    let validate = env().run(&["validate", INVALID, WARNINGS]);
    assert_eq!(run.stderr, validate.stderr);
    run.assert_golden("lint_invalid");

    let json = env().run(&["lint", "--format", "json", INVALID]);
    assert_eq!(json.code, Some(1), "{}", json.snapshot());
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("stdout is JSON");
    assert_eq!(v["valid"], false);
    assert_eq!(v["diagnostics"][0]["code"], "MOAT108");
}

#[test]
fn today_comes_from_moat_today() {
    // A week later the vendor rule of the hygiene fixture has expired.
    let run = env()
        .env("MOAT_TODAY", "2026-06-08")
        .run(&["lint", HYGIENE]);
    assert_eq!(run.code, Some(0), "{}", run.snapshot());
    assert!(
        run.stdout.contains("rule expired on 2026-06-06"),
        "{}",
        run.snapshot()
    );
    let bad = env().env("MOAT_TODAY", "June 1st").run(&["lint", HYGIENE]);
    assert_eq!(bad.code, Some(1), "{}", bad.snapshot());
    assert!(bad.stderr.contains("MOAT_TODAY"), "{}", bad.snapshot());
}
