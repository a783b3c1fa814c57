//! Command-line usage: flags in any position, and exit codes of usage errors.

use crate::common::{TestEnv, repo_root};

#[test]
fn a_usage_error_exits_1_not_2() {
    // 2 means "changes present" in moat, so clap's default code must not leak.
    let run = TestEnv::new().run(&["validate"]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
    assert!(run.stderr.contains("<PATH>"), "{}", run.snapshot());

    let run = TestEnv::new().run(&["validate", "--no-such-flag", "x.yaml"]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    let run = TestEnv::new().run(&["--version"]);
    assert_eq!(run.code, Some(0), "{}", run.snapshot());
    assert!(run.stdout.starts_with("moat "), "{}", run.snapshot());
    let run = TestEnv::new().run(&["validate", "--help"]);
    assert_eq!(run.code, Some(0), "{}", run.snapshot());
    assert!(
        run.stdout.contains("Usage: moat validate"),
        "{}",
        run.snapshot()
    );
}

#[test]
fn global_flags_work_before_and_after_the_subcommand() {
    for args in [
        &["--color", "never", "-q", "validate", "policies/"][..],
        &["validate", "policies/", "--color", "never", "-q"][..],
        &["-v", "validate", "--color=never", "policies/"][..],
    ] {
        let run = TestEnv::new().in_dir(repo_root()).run(args);
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.snapshot());
    }
}

#[test]
fn what_to_type_next_is_a_hint_under_the_error_chosen_by_the_cli() {
    // The client's error says what is wrong; the flag that allows it is
    // the command line's to name, on a hint line of its own.
    let env = TestEnv::new();
    let policy = env.write(
        "p.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1aaaaaaaaaaaaaaaaa\n    region: cn-hangzhou\n    ingress: []\n",
    );
    let run = env.run(&[
        "plan",
        policy.to_str().unwrap(),
        "--endpoint",
        // Refused before any connection is tried.
        "http://moat-test.invalid:9",
        "--access-key-id",
        "id",
        "--access-key-secret",
        "secret",
    ]);
    run.expect_code(1);
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("");
    assert!(
        error.contains("not a loopback address"),
        "{}",
        run.snapshot()
    );
    assert!(!error.contains("--insecure-http"), "{}", run.snapshot());
    run.expect_stderr(
        "\nhint: use https, or allow plain http to this host explicitly with --insecure-http\n",
    );
}
