//! `moat test`: exit 0 when every test passes, 1 when one fails (with the
//! failure in text and JSON), and an invalid policy reported like
//! `moat validate` reports it.

use crate::common::{TestEnv, repo_root};

fn env() -> TestEnv {
    TestEnv::new()
        .in_dir(repo_root())
        .env("MOAT_TODAY", "2026-12-01")
}

const PASSING: &str = "tests/e2e/data/test/passing.yaml";
const FAILING: &str = "tests/e2e/data/test/failing.yaml";

#[test]
fn passing_tests_exit_0() {
    let run = env().run(&["test", PASSING]);
    assert_eq!(run.code, Some(0), "{}", run.snapshot());
    assert!(run.stderr.is_empty(), "{}", run.snapshot());
    run.assert_golden("test_passing");
}

#[test]
fn a_failing_test_exits_1_and_names_the_address_the_group_and_the_rule() {
    let run = env().run(&["test", FAILING]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
    assert!(
        run.stdout
            .contains("FAIL tests/e2e/data/test/failing.yaml:"),
        "{}",
        run.snapshot()
    );
    run.assert_golden("test_failing");
    let json = env().run(&["test", FAILING, "--format", "json"]);
    assert_eq!(json.code, Some(1), "{}", json.snapshot());
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON on stdout");
    assert_eq!(value["schema_version"], 1);
    assert_eq!(value["passed"], false);
    json.assert_golden("test_failing_json");
}

#[test]
fn an_invalid_policy_is_reported_and_exits_1() {
    let env = TestEnv::new();
    env.write(
        "p.yaml",
        "version: 1\ntests:\n  - name: x\n    from: 0.0.0.0/0\n    port: tcp/22\n    expect: deny\n",
    );
    let run = env.run(&["test", "p.yaml"]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
    assert!(run.stderr.contains("error[MOAT142]"), "{}", run.snapshot());
    assert!(run.stdout.is_empty(), "{}", run.snapshot());
}
