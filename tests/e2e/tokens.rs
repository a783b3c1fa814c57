//! ClientTokens across runs: a new plan of changes applied before (a change
//! reverted and made again) sends new tokens and converges, while the same
//! plan file applied again sends its own tokens again, and a plan file from
//! before plans had a nonce sends the tokens that version sent.

use moat_emulator::{EmulatorHandle, SeedGroup};
use moat_exec::apply::{Phase, client_token};
use moat_policy::Direction;

use crate::cloud::{at, cloud_env, emulator};
use crate::common::TestEnv;

const GROUP: &str = "sg-bp1e2etok000000001";

const OLD: &str = "\
version: 1
security_groups:
  - id: sg-bp1e2etok000000001
    region: cn-hangzhou
    ingress:
      - description: HTTPS from the office
        allow: tcp/443
        from: 203.0.113.0/28
";

/// `OLD` and one rule more: applying it is one authorize, reverting it one
/// revoke, and the group is then as it was (the same rule ids).
fn new_policy() -> String {
    format!(
        "{OLD}      - description: SSH from the office\n        allow: tcp/22\n        from: 203.0.113.0/28\n"
    )
}

fn setup() -> (EmulatorHandle, TestEnv, String) {
    let handle = emulator();
    let group = SeedGroup::new("cn-hangzhou", GROUP)
        .name("tok")
        .vpc_id("vpc-e2e");
    handle.emulator().seed_groups([group]).expect("seeding");
    let (env, endpoint) = cloud_env(&handle);
    env.write("old.yaml", OLD);
    env.write("new.yaml", new_policy());
    (handle, env, endpoint)
}

/// The rule-changing calls journaled so far: (plan hash, phase, token).
fn journaled(env: &TestEnv) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(env.home().join(".moat/journal.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("whole JSON lines"))
        .filter(|l| {
            l["kind"] == "intent"
                && ["add", "change", "replace", "remove"]
                    .contains(&l["phase"].as_str().unwrap_or(""))
        })
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
            (s("plan"), s("phase"), s("client_token"))
        })
        .collect()
}

/// Applies `args` and returns the rule-changing calls it journaled.
fn apply(env: &TestEnv, endpoint: &str, target: &str, code: i32) -> Vec<(String, String, String)> {
    let before = journaled(env).len();
    let run = at(env, endpoint, &["apply", target, "--auto-approve"]);
    run.expect_code(code);
    journaled(env).split_off(before)
}

fn in_sync(env: &TestEnv, endpoint: &str, policy: &str) -> bool {
    let plan = at(env, endpoint, &["plan", policy, "--detailed-exitcode"]);
    match plan.code {
        Some(0) => true,
        Some(2) => false,
        _ => panic!("plan failed: {}", plan.snapshot()),
    }
}

fn plan_file(env: &TestEnv, endpoint: &str, name: &str) -> serde_json::Value {
    at(env, endpoint, &["plan", "new.yaml", "-o", name]).expect_code(0);
    let text = std::fs::read_to_string(env.home().join(name)).expect("plan file");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn a_change_reverted_and_made_again_is_applied_again() {
    let (_handle, env, endpoint) = setup();
    let mut runs = Vec::new();
    for policy in ["old.yaml", "new.yaml", "old.yaml", "new.yaml"] {
        runs.push(apply(&env, &endpoint, policy, 0));
        assert!(in_sync(&env, &endpoint, policy), "{policy} converged");
    }
    // The second and fourth plans make the same change to the same rules:
    // the same hash, other tokens (the service would answer the second's
    // from its record and change nothing).
    let (second, fourth) = (&runs[1], &runs[3]);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(fourth.len(), 1, "{fourth:?}");
    assert_eq!(second[0].0, fourth[0].0, "the same changes, the same hash");
    assert_eq!(fourth[0].1, "add");
    assert_ne!(second[0].2, fourth[0].2, "a new plan, new tokens");
}

#[test]
fn the_same_plan_file_applied_again_sends_its_tokens_again() {
    let (handle, env, endpoint) = setup();
    apply(&env, &endpoint, "old.yaml", 0);
    // Two plans of the same changes: one hash, two nonces.
    let p = plan_file(&env, &endpoint, "p.json");
    let q = plan_file(&env, &endpoint, "q.json");
    assert_eq!(p["plan_hash"], q["plan_hash"]);
    let nonce = p["nonce"].as_str().expect("a plan has a nonce");
    assert_eq!(nonce.len(), 32, "{nonce}");
    assert_ne!(p["nonce"], q["nonce"]);

    let first = apply(&env, &endpoint, "p.json", 0);
    assert!(in_sync(&env, &endpoint, "new.yaml"));
    // Reverted: the group is as p.json was made from, so p.json is fresh.
    apply(&env, &endpoint, "old.yaml", 0);
    handle.emulator().reset_stats();
    // Applied again, p.json sends its tokens again: the service answers
    // from its record and nothing is applied twice (verify then says the
    // change is not visible).
    let before = journaled(&env).len();
    let again = at(&env, &endpoint, &["apply", "p.json", "--auto-approve"]);
    assert_ne!(again.code, Some(0), "{}", again.snapshot());
    again.expect_stderr("not every change could be confirmed");
    let again = journaled(&env).split_off(before);
    assert_eq!(again, first, "the same plan file, the same tokens");
    assert_eq!(handle.emulator().stats().ok("AuthorizeSecurityGroup"), 1);
    assert!(!in_sync(&env, &endpoint, "new.yaml"), "nothing was applied");
    // The other plan of the same changes has its own tokens: applied.
    let other = apply(&env, &endpoint, "q.json", 0);
    assert_ne!(other[0].2, first[0].2);
    assert!(in_sync(&env, &endpoint, "new.yaml"));
}

#[test]
fn a_plan_file_without_a_nonce_applies_with_the_tokens_of_before() {
    let (_handle, env, endpoint) = setup();
    apply(&env, &endpoint, "old.yaml", 0);
    let mut plan = plan_file(&env, &endpoint, "p.json");
    // The plan file as moat wrote it before plans had a nonce.
    plan.as_object_mut()
        .expect("an object")
        .remove("nonce")
        .expect("a nonce");
    env.write(
        "legacy.json",
        format!("{}\n", serde_json::to_string_pretty(&plan).expect("JSON")),
    );
    let calls = apply(&env, &endpoint, "legacy.json", 0);
    assert!(in_sync(&env, &endpoint, "new.yaml"));
    let hash = plan["plan_hash"].as_str().expect("hash");
    let before = client_token(hash, "", GROUP, Direction::Ingress, Phase::Add, 1).expect("token");
    assert_eq!(
        calls,
        vec![(
            hash.to_owned(),
            "add".to_owned(),
            before.as_str().to_owned()
        )]
    );
}
