//! Rollout: `--stage` on plan, apply, drift and test; `moat test --live`
//! against the emulator's live rules, each group read once.

use moat_emulator::{EmulatorHandle, SeedGroup};

use crate::cloud::{at, cloud_env, emulator, mutating_calls};
use crate::common::TestEnv;

pub const TEST_GROUP: &str = "sg-bp1rolltest0000001";
pub const PROD_GROUPS: [&str; 2] = ["sg-bp1rollprod0000001", "sg-bp1rollprod0000002"];

/// Two stages sharing one template, and two tests on the template.
pub const STAGED: &str = "\
version: 1
stages: [test, prod]
templates:
  web:
    ingress:
      - description: HTTPS from anywhere
        allow: tcp/443
        from: 0.0.0.0/0
security_groups:
  - id: sg-bp1rolltest0000001
    region: cn-hangzhou
    stage: test
    use: [web]
  - id: sg-bp1rollprod0000001
    region: cn-hangzhou
    stage: prod
    use: [web]
  - id: sg-bp1rollprod0000002
    region: cn-hangzhou
    stage: prod
    use: [web]
tests:
  - name: HTTPS is open
    template: web
    from: 0.0.0.0/0
    port: tcp/443
    expect: allow
  - name: SSH is closed
    template: web
    from: 0.0.0.0/0
    port: tcp/22
    expect: deny
";

/// An emulator holding the three groups, empty, and the staged policy.
pub fn staged() -> (EmulatorHandle, TestEnv, String) {
    staged_with(|_, g| g)
}

/// [`staged`], with each seeded group passed through `seed` first.
pub fn staged_with(
    seed: impl Fn(&str, SeedGroup) -> SeedGroup,
) -> (EmulatorHandle, TestEnv, String) {
    let handle = emulator();
    handle
        .emulator()
        .seed_groups(
            std::iter::once(TEST_GROUP)
                .chain(PROD_GROUPS)
                .map(|id| seed(id, SeedGroup::new("cn-hangzhou", id).vpc_id("vpc-roll"))),
        )
        .expect("seeding");
    let (env, endpoint) = cloud_env(&handle);
    env.write("staged.yaml", STAGED);
    (handle, env, endpoint)
}

/// DescribeSecurityGroupAttribute calls so far.
pub fn group_reads(handle: &EmulatorHandle) -> u64 {
    handle
        .emulator()
        .stats()
        .calls
        .iter()
        .filter(|(action, _)| action.as_str() == "DescribeSecurityGroupAttribute")
        .map(|(_, c)| c.ok + c.error)
        .sum()
}

#[test]
fn test_live_reads_each_group_once_and_fails_where_the_live_rules_differ() {
    let (handle, env, endpoint) = staged();
    // The policies' own rules pass.
    env.run(&["test", "staged.yaml"]).expect_code(0);
    let live = at(&env, &endpoint, &["test", "staged.yaml", "--live"]);
    live.expect_code(1)
        .expect_stdout("FAIL staged.yaml:")
        .expect_stdout(&format!(
            "  {TEST_GROUP}: tcp/443 from 0.0.0.0 is dropped by the default of a normal group (no rule matches), expected allow"
        ))
        .expect_stdout("pass staged.yaml:")
        .expect_stdout("2 tests: 1 passed, 1 failed");
    assert_eq!(group_reads(&handle), 3, "{}", live.snapshot());
    assert_eq!(mutating_calls(&handle), 0);

    let json = at(
        &env,
        &endpoint,
        &["test", "staged.yaml", "--live", "--format", "json"],
    );
    json.expect_code(1);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(value["against"], "live");
    assert_eq!(
        value["tests"][0]["failures"].as_array().map(Vec::len),
        Some(3)
    );
}

#[test]
fn stage_selects_the_groups_of_one_stage_everywhere() {
    let (handle, env, endpoint) = staged();
    let plan = at(
        &env,
        &endpoint,
        &["plan", "staged.yaml", "--stage", "test", "--format", "json"],
    );
    plan.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).expect("JSON");
    let ids: Vec<&str> = doc["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["id"].as_str())
        .collect();
    assert_eq!(ids, [TEST_GROUP]);
    at(
        &env,
        &endpoint,
        &["drift", "staged.yaml", "--stage", "prod"],
    )
    .expect_code(2)
    .expect_stdout(PROD_GROUPS[0])
    .expect_stdout(PROD_GROUPS[1]);

    // Applying the test stage changes the test group only.
    at(
        &env,
        &endpoint,
        &["apply", "staged.yaml", "--stage", "test", "--auto-approve"],
    )
    .expect_code(0);
    assert_eq!(mutating_calls(&handle), 1);
    at(
        &env,
        &endpoint,
        &["test", "staged.yaml", "--live", "--stage", "test"],
    )
    .expect_code(0)
    .expect_stdout("2 tests: 2 passed, 0 failed");
    at(
        &env,
        &endpoint,
        &["drift", "staged.yaml", "--stage", "test"],
    )
    .expect_code(0);
    at(
        &env,
        &endpoint,
        &["drift", "staged.yaml", "--stage", "prod"],
    )
    .expect_code(2);

    // Shards of the tests' groups: each group tested in exactly one shard,
    // read once, and no test reported as passing on no group.
    let reads = group_reads(&handle);
    let mut tested = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let run = at(
            &env,
            &endpoint,
            &[
                "test",
                "staged.yaml",
                "--live",
                "--shard",
                &shard,
                "--format",
                "json",
            ],
        );
        let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
        let mut groups: Vec<String> = value["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .flat_map(|t| t["groups"].as_array().cloned().unwrap_or_default())
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect();
        assert!(
            value["tests"]
                .as_array()
                .expect("tests")
                .iter()
                .all(|t| !t["groups"].as_array().expect("groups").is_empty()),
            "{}",
            run.snapshot()
        );
        groups.sort();
        groups.dedup();
        tested.extend(groups);
    }
    tested.sort();
    let mut all: Vec<&str> = std::iter::once(TEST_GROUP).chain(PROD_GROUPS).collect();
    all.sort();
    assert_eq!(tested, all);
    assert_eq!(group_reads(&handle) - reads, 3);
}

#[test]
fn an_unknown_stage_is_refused_before_any_call() {
    let (handle, env, endpoint) = staged();
    for command in ["plan", "drift", "apply", "test"] {
        at(&env, &endpoint, &[command, "staged.yaml", "--stage", "qa"])
            .expect_code(1)
            .expect_stderr("error: --stage qa: the policies have no stage qa\n")
            .expect_stderr("hint: their stages, in order: test, prod\n");
    }
    // A group outside the stage asked for is named, with its stage.
    for command in ["plan", "drift", "apply", "test"] {
        at(
            &env,
            &endpoint,
            &[
                command,
                "staged.yaml",
                "--stage",
                "test",
                "--group",
                PROD_GROUPS[1],
            ],
        )
        .expect_code(1)
        .expect_stderr(&format!(
            "error: --group {}: the group is in stage prod, not in --stage test\n",
            PROD_GROUPS[1]
        ))
        .expect_stderr(&format!(
            "hint: leave out --stage, or pass --stage prod for {}",
            PROD_GROUPS[1]
        ));
    }
    assert_eq!(group_reads(&handle), 0);
    env.write(
        "plain.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1rolltest0000001\n    region: cn-hangzhou\n",
    );
    at(&env, &endpoint, &["plan", "plain.yaml", "--stage", "test"])
        .expect_code(1)
        .expect_stderr("error: --stage test: the policies define no stages\n")
        .expect_stderr("hint: list the rollout order in a policy (`stages: [test, prod]`)");
}

/// The staged plan's policy: the test copy opens the database port to
/// everyone, which a test forbids.
pub const BREAKING: &str = "\
version: 1
stages: [test, prod]
templates:
  web:
    ingress:
      - description: HTTPS from anywhere
        allow: tcp/443
        from: 0.0.0.0/0
security_groups:
  - id: sg-bp1rolltest0000001
    region: cn-hangzhou
    stage: test
    use: [web]
    ingress:
      - description: debug database
        allow: tcp/3306
        from: 0.0.0.0/0
  - id: sg-bp1rollprod0000001
    region: cn-hangzhou
    stage: prod
    use: [web]
  - id: sg-bp1rollprod0000002
    region: cn-hangzhou
    stage: prod
    use: [web]
tests:
  - name: HTTPS is open
    template: web
    from: 0.0.0.0/0
    port: tcp/443
    expect: allow
  - name: the database port is closed to everyone
    template: web
    from: 0.0.0.0/0
    port: tcp/3306
    expect: deny
";

#[test]
fn a_staged_plan_groups_by_stage_names_templates_and_marks_the_tests_a_change_breaks() {
    // A rule left in one prod group, which the plan removes.
    let stray = crate::cloud::rule(
        moat_policy::Direction::Ingress,
        moat_policy::Protocol::Tcp,
        moat_policy::PortRange::single(8080),
        "10.0.0.0/8",
        "left over",
    );
    let (_handle, env, endpoint) = staged_with(|id, g| {
        if id == PROD_GROUPS[1] {
            g.rule(
                moat_emulator::Direction::Ingress,
                moat_aliyun::convert::to_permission(&stray),
            )
        } else {
            g
        }
    });
    env.write("staged.yaml", BREAKING);
    for (format, golden) in [
        ("text", "plan_staged_text"),
        ("json", "plan_staged_json"),
        ("csv", "plan_staged_csv"),
        ("markdown", "plan_staged_markdown"),
    ] {
        let run = at(
            &env,
            &endpoint,
            &["plan", "staged.yaml", "--format", format],
        )
        .redact(&endpoint, "ENDPOINT");
        run.expect_code(0);
        run.assert_golden(golden);
    }
    let text = at(&env, &endpoint, &["plan", "staged.yaml"]);
    text.expect_stdout("breaks test: \"the database port is closed to everyone\" (staged.yaml:")
        .expect_stdout("template:    web")
        .expect_stdout("Stage test: 2 to add, 0 to change, 0 to remove")
        .expect_stdout("Plan: 4 to add, 0 to change, 1 to remove. Stage test: 2 to add, 0 to change, 0 to remove; stage prod: 2 to add, 0 to change, 1 to remove.");
}

#[test]
fn the_gate_refuses_prod_while_test_is_behind_and_lets_it_through_once_test_is_applied() {
    let (handle, env, endpoint) = staged();
    let refused = at(
        &env,
        &endpoint,
        &["apply", "staged.yaml", "--stage", "prod", "--auto-approve"],
    );
    refused
        .expect_code(1)
        .expect_stderr(
            "error: stage test is not in sync with these policies (1 change in 1 group): apply --stage test first",
        )
        .expect_stderr("refusing to apply stage prod; nothing was changed");
    assert_eq!(mutating_calls(&handle), 0, "{}", refused.snapshot());

    // Applying test changes the test group only.
    at(
        &env,
        &endpoint,
        &["apply", "staged.yaml", "--stage", "test", "--auto-approve"],
    )
    .expect_code(0);
    assert_eq!(mutating_calls(&handle), 1);
    at(
        &env,
        &endpoint,
        &["drift", "staged.yaml", "--stage", "prod"],
    )
    .expect_code(2);

    // Now the gate reads the test group (counted with the apply's calls)
    // and lets prod through.
    handle.emulator().reset_stats();
    let prod = at(
        &env,
        &endpoint,
        &["apply", "staged.yaml", "--stage", "prod", "--auto-approve"],
    );
    prod.expect_code(0);
    assert_eq!(mutating_calls(&handle), 2, "{}", prod.snapshot());
    // The gate's read of the test group, the plan's of the two prod
    // groups, and the reads under the lease.
    assert!(group_reads(&handle) >= 3, "{}", prod.snapshot());
    // The summary's count is the service's, the gate's reads included.
    let stats = handle.emulator().stats();
    assert_eq!(
        crate::cloud::summary_calls(&prod.stdout),
        stats.total(),
        "{stats:?}\n{}",
        prod.snapshot()
    );
    at(&env, &endpoint, &["drift", "staged.yaml"]).expect_code(0);
}

#[test]
fn a_failing_live_test_blocks_the_gate_and_skipping_it_is_journaled() {
    let (handle, env, endpoint) = staged();
    env.write("staged.yaml", BREAKING);
    at(
        &env,
        &endpoint,
        &["apply", "staged.yaml", "--stage", "test", "--auto-approve"],
    )
    .expect_code(0);
    let changed = mutating_calls(&handle);
    // Test is in sync, but a test fails on its live rules.
    let refused = at(
        &env,
        &endpoint,
        &["apply", "staged.yaml", "--stage", "prod", "--auto-approve"],
    );
    refused
        .expect_code(1)
        .expect_stderr("error: the policy tests fail live on the stages before prod (1 of 2):")
        .expect_stderr("FAIL staged.yaml:32:5: the database port is closed to everyone")
        .expect_stderr(&format!("{TEST_GROUP}: tcp/3306 from 0.0.0.0 is accepted"));
    assert_eq!(mutating_calls(&handle), changed);

    // --skip-stage-gate needs a reason (a usage error, exit 1), which the
    // journal keeps.
    at(
        &env,
        &endpoint,
        &[
            "apply",
            "staged.yaml",
            "--stage",
            "prod",
            "--auto-approve",
            "--skip-stage-gate",
        ],
    )
    .expect_code(1)
    .expect_stderr("--reason");
    assert_eq!(mutating_calls(&handle), changed);
    at(
        &env,
        &endpoint,
        &[
            "apply",
            "staged.yaml",
            "--stage",
            "prod",
            "--auto-approve",
            "--skip-stage-gate",
            "--reason",
            "hotfix INC-42",
        ],
    )
    .expect_code(0);
    assert_eq!(mutating_calls(&handle), changed + 2);
    let journal = std::fs::read_to_string(env.home().join(".moat/journal.jsonl")).expect("journal");
    let line = journal
        .lines()
        .find(|l| l.contains("\"override\""))
        .expect("an override line");
    let value: serde_json::Value = serde_json::from_str(line).expect("JSON");
    assert_eq!(value["phase"], "stage-gate");
    assert_eq!(value["action"], "prod");
    assert_eq!(value["reason"], "hotfix INC-42");
}
