//! Groups of two accounts in one run: each account's groups go through a
//! client of its own, with the credentials of its profile and its endpoint
//! (here two emulators that accept different keys, as two accounts would),
//! in plan, drift, apply from policies and apply of a saved plan; a profile
//! that does not exist and an account `accounts:` does not define are
//! refused before any call; `moat ram-policy` prints one policy per account.

use moat_emulator::{AccessKey, EmulatorHandle};
use serde_json::json;

use crate::cloud::{TODAY, emulator_with, mutating_calls, seed_office_ssh};
use crate::common::TestEnv;

const PROD_KEY: (&str, &str) = ("LTAI5tE2eProdAccount01", "e2e-prod-account-secret");
const STAGING_KEY: (&str, &str) = ("LTAI5tE2eStagingAcct01", "e2e-staging-account-secret");
const PROD_GROUP: &str = "sg-bp1e2eprod00000001";
const STAGING_GROUP: &str = "sg-bp1e2estag00000001";

/// An emulator standing for one account: it accepts only that account's
/// key and holds one group with SSH open (the policy adds HTTPS).
fn account_cloud(key: (&str, &str), group: &str) -> EmulatorHandle {
    let handle = emulator_with(|c| c.access_keys = vec![AccessKey::new(key.0, key.1)]);
    seed_office_ssh(&handle, group);
    handle
}

fn policy(prod: &str, staging: &str, prod_profile: &str) -> String {
    format!(
        "\
version: 1
accounts:
  prod:
    profile: {prod_profile}
    endpoint: {prod}
  staging:
    profile: staging
    endpoint: {staging}
security_groups:
  - id: {PROD_GROUP}
    region: cn-hangzhou
    account: prod
    name: app
    ingress:
      - {{description: SSH from the office, allow: tcp/22, from: 203.0.113.0/28}}
      - {{description: HTTPS, allow: tcp/443, from: 0.0.0.0/0}}
  - id: {STAGING_GROUP}
    region: cn-hangzhou
    account: staging
    name: app
    ingress:
      - {{description: SSH from the office, allow: tcp/22, from: 203.0.113.0/28}}
      - {{description: HTTPS, allow: tcp/443, from: 0.0.0.0/0}}
"
    )
}

/// No key in the environment: only the profiles of the two accounts.
fn accounts_env(prod: &EmulatorHandle, staging: &EmulatorHandle) -> TestEnv {
    let env = TestEnv::new()
        .env("MOAT_TODAY", TODAY)
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    let config = json!({"current": "", "profiles": [
        {"name": "prod", "mode": "AK", "access_key_id": PROD_KEY.0,
         "access_key_secret": PROD_KEY.1},
        {"name": "staging", "mode": "AK", "access_key_id": STAGING_KEY.0,
         "access_key_secret": STAGING_KEY.1},
    ]});
    env.write(".aliyun/config.json", config.to_string());
    env.write(
        "fleet.yaml",
        policy(&prod.endpoint(), &staging.endpoint(), "prod"),
    );
    env
}

fn reads(handle: &EmulatorHandle) -> u64 {
    handle
        .emulator()
        .stats()
        .ok("DescribeSecurityGroupAttribute")
}

#[test]
fn plan_drift_and_apply_reach_each_account_with_its_own_profile_and_endpoint() {
    let prod = account_cloud(PROD_KEY, PROD_GROUP);
    let staging = account_cloud(STAGING_KEY, STAGING_GROUP);
    let env = accounts_env(&prod, &staging);

    let run = env.run(&["plan", "fleet.yaml", "--detailed-exitcode", "-v"]);
    run.expect_code(2);
    run.expect_stdout(PROD_GROUP);
    run.expect_stdout(STAGING_GROUP);
    run.expect_stdout("Plan: 2 to add, 0 to change, 0 to remove.");
    run.expect_stderr("account=prod");
    run.expect_stderr("account=staging");
    // Both groups were read while the policies loaded, each once, from its
    // own cloud with its own key (the other cloud would have refused it).
    run.expect_stderr("reads started while loading groups=2");
    assert_eq!((reads(&prod), reads(&staging)), (1, 1));

    env.run(&["drift", "fleet.yaml"]).expect_code(2);

    let run = env.run(&["apply", "fleet.yaml", "--auto-approve"]);
    run.expect_code(0);
    assert!(mutating_calls(&prod) >= 1 && mutating_calls(&staging) >= 1);
    for handle in [&prod, &staging] {
        let stats = handle.emulator().stats();
        assert_eq!(stats.ok("AuthorizeSecurityGroup"), 1, "{stats:?}");
    }
    env.run(&["drift", "fleet.yaml"]).expect_code(0);
}

#[test]
fn a_saved_plan_carries_its_accounts_to_apply() {
    let prod = account_cloud(PROD_KEY, PROD_GROUP);
    let staging = account_cloud(STAGING_KEY, STAGING_GROUP);
    let env = accounts_env(&prod, &staging);

    env.run(&["plan", "fleet.yaml", "-o", "plan.json"])
        .expect_code(0);
    let saved = std::fs::read_to_string(env.home().join("plan.json")).expect("plan.json written");
    let doc: serde_json::Value = serde_json::from_str(&saved).expect("JSON");
    assert_eq!(doc["accounts"][0]["name"], "prod", "{saved}");
    assert_eq!(doc["accounts"][1]["profile"], "staging", "{saved}");
    assert_eq!(doc["groups"][0]["account"], "prod", "{saved}");

    let run = env.run(&["apply", "plan.json", "--auto-approve"]);
    run.expect_code(0);
    for handle in [&prod, &staging] {
        assert_eq!(handle.emulator().stats().ok("AuthorizeSecurityGroup"), 1);
    }
    env.run(&["drift", "fleet.yaml"]).expect_code(0);
}

#[test]
fn a_profile_that_does_not_exist_is_refused_before_any_change() {
    let prod = account_cloud(PROD_KEY, PROD_GROUP);
    let staging = account_cloud(STAGING_KEY, STAGING_GROUP);
    let env = accounts_env(&prod, &staging);
    env.write(
        "fleet.yaml",
        policy(&prod.endpoint(), &staging.endpoint(), "prod-typo"),
    );
    for command in ["plan", "drift", "apply"] {
        let mut args = vec![command, "fleet.yaml"];
        if command == "apply" {
            args.push("--auto-approve");
        }
        let run = env.run(&args);
        run.expect_code(1);
        run.expect_stderr("account prod (profile \"prod-typo\"): cannot authenticate");
        run.expect_stderr("prod-typo");
        assert!(run.stdout.is_empty(), "{}", run.snapshot());
    }
    // The account without credentials is never called; the other one's
    // group may have been read while the policies loaded, nothing more.
    let stats = prod.emulator().stats();
    assert_eq!(stats.calls.len(), 0, "no call at all: {stats:?}");
    assert_eq!(mutating_calls(&staging), 0);
}

#[test]
fn an_account_accounts_does_not_define_is_refused_where_it_is_written() {
    let prod = account_cloud(PROD_KEY, PROD_GROUP);
    let staging = account_cloud(STAGING_KEY, STAGING_GROUP);
    let env = accounts_env(&prod, &staging);
    let text = policy(&prod.endpoint(), &staging.endpoint(), "prod")
        .replace("account: staging", "account: stagign");
    env.write("fleet.yaml", text);
    for command in ["plan", "apply"] {
        let run = env.run(
            &[command, "fleet.yaml", "--auto-approve"][..if command == "apply" { 3 } else { 2 }],
        );
        run.expect_code(1);
        run.expect_stderr("fleet.yaml:");
        run.expect_stderr("MOAT138");
        run.expect_stderr("\"stagign\"");
    }
    // The group of the undefined account is never read; the other one's
    // may have been, while the policies loaded.
    assert_eq!(mutating_calls(&prod) + mutating_calls(&staging), 0);
    assert_eq!(reads(&staging), 0);
}

#[test]
fn ram_policy_prints_one_policy_per_account() {
    let env = TestEnv::new();
    env.write(
        "fleet.yaml",
        policy(
            "https://ecs.example.test",
            "https://ecs.example.test",
            "prod",
        )
        .replace("version: 1\n", "version: 1\n# two accounts\n"),
    );
    let run = env.run(&["ram-policy", "fleet.yaml", "--read-only"]);
    run.expect_code(0);
    run.assert_golden("ram_policy_accounts");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let accounts = doc["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 2);
    let text = |v: &serde_json::Value| v.to_string();
    assert!(text(&accounts[0]["policy"]).contains(PROD_GROUP));
    assert!(!text(&accounts[0]["policy"]).contains(STAGING_GROUP));
    assert!(text(&accounts[1]["policy"]).contains(STAGING_GROUP));

    let run = env.run(&["ram-policy", "fleet.yaml", "--account", "staging"]);
    run.expect_code(0);
    assert!(run.stdout.contains(STAGING_GROUP) && !run.stdout.contains(PROD_GROUP));
    let run = env.run(&["ram-policy", "fleet.yaml", "--account", "qa"]);
    run.expect_code(1);
    run.expect_stderr(
        "--account qa: the policies define no such account (accounts: prod, staging)",
    );
}
