//! `moat apply --all-stages`: the stages of `stages:` in order through the
//! one apply pipeline, the promotion gate before each later stage on fresh
//! reads, a prompt per stage on a terminal, and a report of what each stage
//! got when the rollout stops. And README's rollout walkthrough, run as
//! written on a fresh local cloud.

use crate::cloud::{at, mutating_calls, with_examples};
use crate::common::{TestEnv, repo_root};
use crate::rollout::{BREAKING, PROD_GROUPS, TEST_GROUP, staged};
use crate::terminal::Terminal;

/// The journal's rule-changing intents, as (group, action) pairs.
fn journaled_changes(env: &TestEnv) -> Vec<(String, String)> {
    let journal =
        std::fs::read_to_string(env.home().join(".moat/journal.jsonl")).unwrap_or_default();
    journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "intent")
        .map(|v| {
            (
                v["group"].as_str().unwrap_or_default().to_owned(),
                v["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn all_stages_approved_in_advance_applies_test_then_prod_and_counts_every_call() {
    let (handle, env, endpoint) = staged();
    handle.emulator().reset_stats();
    let run = at(
        &env,
        &endpoint,
        &["apply", "staged.yaml", "--all-stages", "--auto-approve"],
    );
    run.expect_code(0)
        .expect_stdout("Stage test (1 of 2): 1 group\n")
        .expect_stdout("\nStage prod (2 of 2): 2 groups\n")
        .expect_stdout("Rollout complete: 2 stages in ")
        .expect_stdout("  stage test: applied (1 change)\n")
        .expect_stdout("  stage prod: applied (2 changes)\n");
    // Test's changes come before prod's gate, which passes on fresh reads.
    assert!(
        run.stdout.find("Stage prod").expect("prod")
            > run.stdout.find("Apply complete").expect("test applied"),
        "{}",
        run.snapshot()
    );
    assert_eq!(mutating_calls(&handle), 3, "{}", run.snapshot());
    // The rollout's count is the service's: every read, the gate's too.
    let stats = handle.emulator().stats();
    let total: u64 = run
        .stdout
        .split("Rollout complete: 2 stages in ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a call count");
    assert_eq!(total, stats.total(), "{stats:?}\n{}", run.snapshot());
    at(&env, &endpoint, &["drift", "staged.yaml"]).expect_code(0);

    // Once in sync, a second rollout changes nothing.
    at(
        &env,
        &endpoint,
        &["apply", "staged.yaml", "--all-stages", "--auto-approve"],
    )
    .expect_code(0)
    .expect_stdout("  stage test: in sync, nothing to change\n")
    .expect_stdout("  stage prod: in sync, nothing to change\n");
    assert_eq!(mutating_calls(&handle), 3);
}

#[test]
fn all_stages_with_group_takes_the_groups_asked_for_in_each_stage() {
    let (handle, env, endpoint) = staged();
    at(
        &env,
        &endpoint,
        &[
            "apply",
            "staged.yaml",
            "--all-stages",
            "--auto-approve",
            "--group",
            TEST_GROUP,
            "--group",
            PROD_GROUPS[0],
        ],
    )
    .expect_code(0)
    .expect_stdout(&format!(
        "Partial: only security group {TEST_GROUP} of the policies"
    ))
    .expect_stdout(&format!(
        "Partial: only security group {} of the policies",
        PROD_GROUPS[0]
    ))
    .expect_stdout("  stage prod: applied (1 change)\n");
    assert_eq!(mutating_calls(&handle), 2);
    drift(&env, &endpoint, "prod")
        .expect_code(2)
        .expect_stdout(PROD_GROUPS[1]);
}

#[test]
fn a_failing_live_test_stops_the_rollout_at_the_gate_of_prod_with_no_change_to_prod() {
    let (handle, env, endpoint) = staged();
    env.write("staged.yaml", BREAKING);
    let run = at(
        &env,
        &endpoint,
        &["apply", "staged.yaml", "--all-stages", "--auto-approve"],
    );
    run.expect_code(1)
        .expect_stderr("error: the policy tests fail live on the stages before prod (1 of 2):")
        .expect_stderr("refusing to apply stage prod; nothing in it was changed")
        .expect_stdout("Rollout stopped at stage prod (its promotion gate refused it), ")
        .expect_stdout("  stage test: applied (2 changes)\n")
        .expect_stdout("  stage prod: not applied, nothing changed\n");
    // The test stage's one authorize call, and nothing for prod.
    assert_eq!(mutating_calls(&handle), 1, "{}", run.snapshot());
    let changes = journaled_changes(&env);
    assert!(!changes.is_empty(), "{}", run.snapshot());
    assert!(
        changes.iter().all(|(group, _)| group == TEST_GROUP),
        "{changes:?}"
    );
    drift(&env, &endpoint, "test").expect_code(0);
    drift(&env, &endpoint, "prod")
        .expect_code(2)
        .expect_stdout(PROD_GROUPS[0])
        .expect_stdout(PROD_GROUPS[1]);
}

#[test]
fn all_stages_is_refused_with_stage_and_without_stages() {
    let (handle, env, endpoint) = staged();
    at(
        &env,
        &endpoint,
        &["apply", "staged.yaml", "--all-stages", "--stage", "prod"],
    )
    .expect_code(1)
    .expect_stderr("--all-stages")
    .expect_stderr("--stage");
    env.write(
        "plain.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1rolltest0000001\n    region: cn-hangzhou\n",
    );
    at(
        &env,
        &endpoint,
        &["apply", "plain.yaml", "--all-stages", "--auto-approve"],
    )
    .expect_code(1)
    .expect_stderr("error: --all-stages: the policies define no stages\n")
    .expect_stderr("hint: list the rollout order in a policy");
    assert_eq!(handle.emulator().stats().total(), 0);
}

/// Runs `moat apply --all-stages` on a terminal and answers each prompt
/// in turn with the next of `answers`.
fn on_a_terminal(env: &TestEnv, endpoint: &str, answers: &[&str]) -> (Option<i32>, String) {
    let mut terminal = Terminal::start(
        env,
        &format!("apply staged.yaml --all-stages --endpoint {endpoint}"),
    );
    for (i, answer) in answers.iter().enumerate() {
        terminal.wait_for("Enter a value:", i + 1);
        terminal.type_keys(&format!("{answer}\n"));
    }
    terminal.finish()
}

/// `moat drift --stage STAGE`: exit 0 in sync, 2 behind.
fn drift(env: &TestEnv, endpoint: &str, stage: &str) -> crate::common::Run {
    at(env, endpoint, &["drift", "staged.yaml", "--stage", stage])
}

#[test]
fn on_a_terminal_each_stage_is_asked_for_and_a_no_stops_with_what_was_applied() {
    let (handle, env, endpoint) = staged();
    let (code, out) = on_a_terminal(&env, &endpoint, &["yes", "no"]);
    // A declined stage exits as a declined apply does.
    assert_eq!(code, Some(1), "{out}");
    let test_plan = out.find("Stage test (1 of 2)").expect("test's plan");
    let ask_test = out
        .find("Do you want to apply stage test?")
        .expect("asked for test");
    let ask_prod = out
        .find("Do you want to apply stage prod?")
        .expect("asked for prod");
    let prod_plan = out.find("Stage prod (2 of 2)").expect("prod's plan");
    assert!(
        test_plan < ask_test && ask_test < prod_plan && prod_plan < ask_prod,
        "{out}"
    );
    assert!(
        out.contains("Rollout stopped at stage prod (it was not approved)"),
        "{out}"
    );
    assert!(out.contains("  stage test: applied (1 change)"), "{out}");
    assert!(
        out.contains("  stage prod: not applied, nothing changed"),
        "{out}"
    );
    // Only the test group was changed.
    assert_eq!(mutating_calls(&handle), 1, "{out}");
    assert!(
        journaled_changes(&env)
            .iter()
            .all(|(group, _)| group == TEST_GROUP),
        "{out}"
    );
    drift(&env, &endpoint, "test").expect_code(0);
    drift(&env, &endpoint, "prod").expect_code(2);
}

/// The rollout walkthrough of README.md, command by command, on a fresh
/// local cloud: each command does what its comment says (a refused one
/// exits 1; an apply, which asks on a terminal, is approved in advance).
#[test]
fn the_readme_rollout_walkthrough_works_on_a_fresh_local_cloud() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let section = readme
        .split("\n## Rollout")
        .nth(1)
        .expect("README has a rollout section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the rollout section has a sh block");
    let env = with_examples();
    let mut ran = 0;
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let (command, comment) = line.split_once('#').unwrap_or((line, ""));
        let mut args: Vec<&str> = command
            .trim()
            .strip_prefix("cargo run --release -- ")
            .unwrap_or_else(|| panic!("not a moat command: {line}"))
            .split_whitespace()
            .collect();
        if args[0] == "apply" {
            args.push("--auto-approve");
        }
        let run = env.run(&args);
        let refused = comment.contains("refused");
        run.expect_code(if refused { 1 } else { 0 });
        if refused {
            run.expect_stderr("is not in sync with these policies");
        }
        ran += 1;
    }
    assert!(ran >= 5, "{block}");
    // Where the walkthrough ends, every stage is in sync.
    env.run(&["drift", "--local", "policies/rollout/"])
        .expect_code(0);
}
