//! `moat ram-policy`: the least-privilege RAM policy for the example groups.

use crate::common::{TestEnv, repo_root};

#[test]
fn read_only_and_apply_policies_for_the_examples() {
    let run = TestEnv::new()
        .in_dir(repo_root())
        .run(&["ram-policy", "policies/", "--read-only"]);
    assert_eq!(run.code, Some(0), "{}", run.snapshot());
    run.assert_golden("ram_policy_read_only");

    let run = TestEnv::new()
        .in_dir(repo_root())
        .run(&["ram-policy", "--list-groups", "policies/"]);
    assert_eq!(run.code, Some(0), "{}", run.snapshot());
    run.assert_golden("ram_policy_apply");
}

#[test]
fn invalid_policies_are_reported_not_guessed_at() {
    let env = TestEnv::new();
    env.write("p.yaml", "version: 1\nsecurity_groups:\n  - id: nope\n");
    let run = env.run(&["ram-policy", "p.yaml"]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
    assert!(run.stdout.is_empty(), "{}", run.snapshot());
    assert!(run.stderr.contains("p.yaml:3:"), "{}", run.snapshot());
}
