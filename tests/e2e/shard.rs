//! `--shard K/N` on plan, drift and apply, and `moat report merge` of the
//! shards' JSON reports: every group in exactly one shard, one merged
//! report with one exit code, and the bad inputs refused.

use moat_emulator::SeedGroup;

use crate::cloud::{at, cloud_env, emulator};
use crate::common::TestEnv;

const IDS: [&str; 6] = [
    "sg-bp1shard000000001",
    "sg-bp1shard000000002",
    "sg-bp1shard000000003",
    "sg-bp1shard000000004",
    "sg-bp1shard000000005",
    "sg-bp1shard000000006",
];

fn policy() -> String {
    let mut text = String::from("version: 1\nsecurity_groups:\n");
    for id in IDS {
        text.push_str(&format!(
            "  - id: {id}\n    region: cn-hangzhou\n    ingress:\n      - {{description: web, allow: tcp/443, from: 0.0.0.0/0}}\n"
        ));
    }
    text
}

/// The group ids in a JSON report.
fn groups_of(json: &str) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(json).expect("JSON");
    doc["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["id"].as_str().expect("id").to_owned())
        .collect()
}

fn shards(env: &TestEnv, endpoint: &str, command: &str, prefix: &str) -> Vec<String> {
    let mut all = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let run = at(
            env,
            endpoint,
            &[command, "fleet.yaml", "--format", "json", "--shard", &shard],
        );
        assert!(matches!(run.code, Some(0 | 2)), "{}", run.snapshot());
        all.extend(groups_of(&run.stdout));
        env.write(&format!("{prefix}{k}.json"), &run.stdout);
    }
    all
}

#[test]
fn shards_cover_every_group_once_and_merge_into_one_report() {
    let handle = emulator();
    handle
        .emulator()
        .seed_groups(IDS.map(|id| SeedGroup::new("cn-hangzhou", id).vpc_id("vpc-shard")))
        .expect("seeding");
    let (env, endpoint) = cloud_env(&handle);
    env.write("fleet.yaml", policy());

    // Drift: each group in exactly one shard.
    let mut seen = shards(&env, &endpoint, "drift", "drift-");
    seen.sort();
    assert_eq!(seen, IDS);
    let merged = env.run(&[
        "report",
        "merge",
        "drift-1.json",
        "drift-2.json",
        "drift-3.json",
    ]);
    merged
        .expect_code(2)
        .expect_stdout("Drift: 6 of 6 security group(s) differ from the policy.");
    let json = env.run(&[
        "report",
        "merge",
        "drift-3.json",
        "drift-1.json",
        "drift-2.json",
        "--format",
        "json",
    ]);
    json.expect_code(2);
    assert_eq!(groups_of(&json.stdout), IDS);
    env.run(&[
        "report",
        "merge",
        "drift-1.json",
        "drift-2.json",
        "drift-3.json",
        "--format",
        "markdown",
    ])
    .expect_code(2)
    .expect_stdout("### moat drift")
    .expect_stdout("| sg-bp1shard000000004 | cn-hangzhou | drift | 1 | 0 | 0 |");

    // A shard missing, or given twice.
    env.run(&["report", "merge", "drift-1.json", "drift-3.json"])
        .expect_code(1)
        .expect_stderr("shard(s) 2/3 (by group) missing");
    env.run(&["report", "merge", "drift-1.json", "drift-1.json"])
        .expect_code(1)
        .expect_stderr("error: cannot merge the reports: shard 1/3 by group is given twice (in drift-1.json and drift-1.json)");

    // Plans: merged, in any view, with one exit code.
    let mut seen = shards(&env, &endpoint, "plan", "plan-");
    seen.sort();
    assert_eq!(seen, IDS);
    env.run(&[
        "report",
        "merge",
        "plan-1.json",
        "plan-2.json",
        "plan-3.json",
    ])
    .expect_code(2)
    .expect_stdout("Plan: 6 to add, 0 to change, 0 to remove.");
    env.run(&[
        "report",
        "merge",
        "plan-1.json",
        "plan-2.json",
        "plan-3.json",
        "--format",
        "markdown",
    ])
    .expect_code(2)
    .expect_stdout("### moat plan");
    env.run(&["report", "merge", "plan-1.json", "drift-2.json"])
        .expect_code(1)
        .expect_stderr("plan-1.json is a plan but drift-2.json is a drift report");

    // Apply by shards, then the nightly drift of all shards is in sync.
    for k in 1..=3 {
        let shard = format!("{k}/3");
        at(
            &env,
            &endpoint,
            &["apply", "fleet.yaml", "--auto-approve", "--shard", &shard],
        )
        .expect_code(0);
    }
    shards(&env, &endpoint, "drift", "after-");
    env.run(&[
        "report",
        "merge",
        "after-1.json",
        "after-2.json",
        "after-3.json",
    ])
    .expect_code(0)
    .expect_stdout("In sync: 6 security group(s) match the policy.");
}

#[test]
fn bad_shards_and_mixed_reports_are_refused() {
    let handle = emulator();
    let (env, endpoint) = cloud_env(&handle);
    env.write("fleet.yaml", policy());
    for bad in ["0/3", "4/3"] {
        at(&env, &endpoint, &["drift", "fleet.yaml", "--shard", bad])
            .expect_code(1)
            .expect_stderr(&format!("shard {bad} does not exist"));
    }
    at(&env, &endpoint, &["plan", "fleet.yaml", "--shard", "two/3"])
        .expect_code(1)
        .expect_stderr("\"two/3\" is not K/N");
    assert_eq!(handle.emulator().stats().total(), 0, "nothing was read");

    let report = |version: u32, shard: u32| {
        format!(
            r#"{{"format": "moat-drift", "schema_version": {version}, "shard": {{"index": {shard}, "count": 2, "by": "group"}}, "in_sync": true, "summary": {{"add": 0, "change": 0, "remove": 0}}, "groups": []}}"#
        )
    };
    env.write("a.json", report(moat_diff::PLAN_SCHEMA_VERSION, 1));
    env.write("b.json", report(moat_diff::PLAN_SCHEMA_VERSION - 1, 2));
    env.run(&["report", "merge", "a.json", "b.json"])
        .expect_code(1)
        .expect_stderr(&format!(
            "a.json has plan schema version {} but b.json has {}",
            moat_diff::PLAN_SCHEMA_VERSION,
            moat_diff::PLAN_SCHEMA_VERSION - 1
        ));
    env.write("b.json", report(moat_diff::PLAN_SCHEMA_VERSION, 2));
    env.run(&["report", "merge", "a.json", "b.json"])
        .expect_code(0);
    env.write("c.json", "{\"groups\": []}");
    env.run(&["report", "merge", "a.json", "c.json"])
        .expect_code(1)
        .expect_stderr("c.json: neither a moat plan");
    at(
        &env,
        &endpoint,
        &["apply", "a.json", "--auto-approve", "--shard", "1/2"],
    )
    .expect_code(1)
    .expect_stderr("--shard takes a share of the policies' groups");
}
