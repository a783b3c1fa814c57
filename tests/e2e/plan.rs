//! `moat plan`, `moat drift` and `moat export` against the embedded local
//! cloud (`--local`) and against an emulator on loopback (`--endpoint`):
//! golden plans, exit codes, fail-closed reads, a read-only drift, the
//! export round trip, and the errors a user meets.

use moat_aliyun::convert::to_permission;
use moat_emulator::{Direction as WireDirection, EmulatorHandle, SeedGroup};
use moat_policy::{Direction, PortRange, Protocol};

use crate::cloud::{KEY_ID, at, cloud_env, emulator, mutating_calls, rule, with_examples};
use crate::common::TestEnv;

/// `sg-bp1e2eweb000000001` with ssh from the office and a stray MySQL rule.
fn seed_web(handle: &EmulatorHandle) {
    let mut g = SeedGroup::new("cn-hangzhou", "sg-bp1e2eweb000000001")
        .name("web")
        .vpc_id("vpc-e2e");
    for r in [
        rule(
            Direction::Ingress,
            Protocol::Tcp,
            PortRange::single(22),
            "203.0.113.0/28",
            "SSH from the office",
        ),
        rule(
            Direction::Ingress,
            Protocol::Tcp,
            PortRange::single(3306),
            "0.0.0.0/0",
            "temporary",
        ),
    ] {
        g = g.rule(WireDirection::Ingress, to_permission(&r));
    }
    handle.emulator().seed_groups([g]).expect("seeding");
}

const WEB_POLICY: &str = "\
version: 1
security_groups:
  - id: sg-bp1e2eweb000000001
    region: cn-hangzhou
    name: web
    ingress:
      - description: SSH from the office
        allow: tcp/22
        from: 203.0.113.0/28
      - description: HTTPS from anywhere
        allow: tcp/443
        from: [0.0.0.0/0, \"::/0\"]
";

#[test]
fn plan_local_on_a_fresh_checkout_shows_a_real_plan() {
    let env = with_examples();
    let run = env.run(&["plan", "--local", "policies/"]);
    run.expect_code(0);
    run.assert_golden("plan_local_text");
    assert!(env.home().join(".moat/local-cloud.json").is_file());

    // The second run uses the saved state, says nothing about creating it,
    // and plans the same.
    let again = env.run(&["--local", "plan", "policies/", "--format", "json"]);
    again.expect_code(0);
    assert!(again.stderr.is_empty(), "{}", again.snapshot());
    again.assert_golden("plan_local_json");

    let detailed = env.run(&[
        "plan",
        "policies/",
        "--local",
        "--detailed-exitcode",
        "--format",
        "csv",
    ]);
    detailed.expect_code(2);
    detailed.assert_golden("plan_local_csv");

    let md = env.run(&["plan", "policies/", "--local", "--format", "markdown"]);
    md.expect_code(0);
    md.assert_golden("plan_local_markdown");

    let drift = env.run(&["drift", "--local", "policies/", "--format", "json"]);
    drift.expect_code(2);
    drift.assert_golden("drift_local_json");

    // Markdown drift is headed as drift, not as a plan.
    let md = env.run(&["drift", "--local", "policies/", "--format", "markdown"]);
    md.expect_code(2);
    assert!(
        md.stdout.starts_with("### moat drift\n"),
        "{}",
        md.snapshot()
    );
    md.assert_golden("drift_local_markdown");

    // Other policies against the same local cloud: say how to start over.
    env.write(
        "other.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1other0000000001\n    region: cn-hangzhou\n    ingress: []\n",
    );
    env.run(&["plan", "--local", "other.yaml"])
        .expect_code(1)
        .expect_stderr("delete it to seed a new one from these");
}

#[test]
fn a_saved_plan_file_is_the_json_plan() {
    let env = with_examples();
    let run = env.run(&["plan", "--local", "policies/", "-o", "out/plan.json"]);
    assert_eq!(run.code, Some(1), "no such directory: {}", run.snapshot());
    run.expect_stderr("cannot write the plan to out/plan.json");

    let run = env.run(&["plan", "--local", "policies/", "-o", "plan.json"]);
    run.expect_code(0);
    run.expect_stdout("Saved the plan to plan.json");
    let text = std::fs::read_to_string(env.home().join("plan.json")).expect("plan written");
    let plan = moat_diff::Plan::from_json(&text).expect("a valid plan file");
    assert!(plan.has_changes());
}

#[test]
fn plan_and_drift_against_an_endpoint() {
    let handle = emulator();
    seed_web(&handle);
    let (env, endpoint) = cloud_env(&handle);
    env.write("web.yaml", WEB_POLICY);

    let run = at(
        &env,
        &endpoint,
        &["plan", "web.yaml", "--detailed-exitcode"],
    );
    run.expect_code(2);
    run.expect_stdout("Plan: 2 to add, 0 to change, 1 to remove.");
    run.expect_stdout("closes tcp/3306 for 0.0.0.0/0");

    handle.emulator().reset_stats();
    let drift = at(&env, &endpoint, &["drift", "web.yaml"]);
    drift.expect_code(2);
    let stats = handle.emulator().stats();
    assert_eq!(stats.ok("DescribeSecurityGroupAttribute"), 1, "{stats:?}");
    assert_eq!(mutating_calls(&handle), 0, "drift never mutates: {stats:?}");

    // In sync: exit 0.
    env.write(
        "in-sync.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1e2eweb000000001\n    region: cn-hangzhou\n    ingress:\n      - {description: SSH from the office, allow: tcp/22, from: 203.0.113.0/28}\n      - {description: temporary, allow: tcp/3306, from: 0.0.0.0/0}\n",
    );
    let drift = at(&env, &endpoint, &["drift", "in-sync.yaml"]);
    drift.expect_code(0);
    let plan = at(
        &env,
        &endpoint,
        &["plan", "in-sync.yaml", "--detailed-exitcode"],
    );
    plan.expect_code(0);
    plan.expect_stdout("No changes.");
}

#[test]
fn export_round_trips_to_no_changes() {
    let handle = emulator();
    seed_web(&handle);
    let (env, endpoint) = cloud_env(&handle);
    let run = at(
        &env,
        &endpoint,
        &[
            "export",
            "--region",
            "cn-hangzhou",
            "--group",
            "sg-bp1e2eweb000000001",
        ],
    );
    run.expect_code(0);
    run.redact(&endpoint, "$ENDPOINT")
        .assert_golden("export_group");

    let run = at(
        &env,
        &endpoint,
        &[
            "export",
            "--all",
            "-o",
            "all.yaml",
            "--region",
            "cn-hangzhou",
        ],
    );
    run.expect_code(0);
    let plan = at(
        &env,
        &endpoint,
        &["plan", "all.yaml", "--detailed-exitcode"],
    );
    plan.expect_code(0);
    plan.expect_stdout("No changes.");
}

#[test]
fn errors_a_user_meets_are_one_clear_line() {
    let handle = emulator();
    seed_web(&handle);
    let (env, endpoint) = cloud_env(&handle);
    env.write("web.yaml", WEB_POLICY);
    env.write(
        "missing.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1e2enone00000001\n    region: cn-hangzhou\n    ingress: []\n",
    );
    let one_line = |run: &crate::common::Run| {
        run.expect_code(1);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.snapshot());
        assert!(run.stderr.starts_with("error: "), "{}", run.snapshot());
        assert!(!run.stderr.contains("panicked"), "{}", run.snapshot());
        run.stderr.clone()
    };

    let missing = one_line(&at(&env, &endpoint, &["plan", "missing.yaml"]));
    assert!(
        missing.contains("security group sg-bp1e2enone00000001 in region cn-hangzhou (policy at missing.yaml:3:5) does not exist"),
        "{missing}"
    );

    let wrong = at(
        &env,
        &endpoint,
        &[
            "plan",
            "web.yaml",
            "--access-key-id",
            KEY_ID,
            "--access-key-secret",
            "not-the-secret",
        ],
    );
    let wrong = one_line(&wrong);
    assert!(wrong.contains("SignatureDoesNotMatch"), "{wrong}");
    assert!(
        !wrong.contains("not-the-secret"),
        "the secret never appears: {wrong}"
    );

    let unknown = one_line(&at(
        &env,
        &endpoint,
        &[
            "plan",
            "web.yaml",
            "--access-key-id",
            "LTAI5tNobodyKnowsThis",
            "--access-key-secret",
            "x",
        ],
    ));
    assert!(unknown.contains("InvalidAccessKeyId"), "{unknown}");

    // An endpoint where nothing listens.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        format!("http://{addr}")
    };
    let refused = one_line(&env.run(&["plan", "web.yaml", "--endpoint", &down, "--timeout", "2"]));
    assert!(refused.contains("sg-bp1e2eweb000000001"), "{refused}");

    let none = TestEnv::new().env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    none.write("web.yaml", WEB_POLICY);
    let none = one_line(&at(&none, &endpoint, &["plan", "web.yaml"]));
    assert!(none.contains("no credentials found"), "{none}");

    let export = one_line(&at(
        &env,
        &endpoint,
        &[
            "export",
            "--group",
            "sg-bp1e2enone00000001",
            "--region",
            "cn-hangzhou",
        ],
    ));
    assert!(export.contains("does not exist"), "{export}");

    let both = one_line(&at(&env, &endpoint, &["plan", "web.yaml", "--local"]));
    assert!(both.contains("--local and --endpoint"), "{both}");
    assert_eq!(mutating_calls(&handle), 0);
}

#[test]
fn credentials_come_from_the_aliyun_cli_profile_and_the_profile_region() {
    let handle = emulator();
    seed_web(&handle);
    let endpoint = handle.endpoint();
    let env = TestEnv::new()
        .env("MOAT_TODAY", crate::cloud::TODAY)
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    env.write(
        ".aliyun/config.json",
        format!(
            r#"{{"current": "default", "profiles": [
                {{"name": "default", "mode": "AK", "access_key_id": "LTAI5tNotThisOne", "access_key_secret": "nope", "region_id": "cn-beijing"}},
                {{"name": "ops", "mode": "AK", "access_key_id": "{KEY_ID}", "access_key_secret": "{}", "region_id": "cn-hangzhou"}}
            ]}}"#,
            crate::cloud::KEY_SECRET
        ),
    );
    // The group's region comes from the profile, as the aliyun CLI does.
    let run = at(
        &env,
        &endpoint,
        &[
            "export",
            "--group",
            "sg-bp1e2eweb000000001",
            "--profile",
            "ops",
        ],
    );
    run.expect_code(0);
    run.expect_stdout("region: cn-hangzhou");

    let run = at(
        &env,
        &endpoint,
        &["export", "--group", "sg-bp1e2eweb000000001"],
    );
    assert_eq!(
        run.code,
        Some(1),
        "the default profile's key is unknown: {}",
        run.snapshot()
    );
    run.expect_stderr("InvalidAccessKeyId");

    let run = env.run(&["plan", "x.yaml", "--max-rps", "0"]);
    run.expect_code(1);
    run.expect_stderr("--max-rps");
}

/// Issue 11: the live type is read and wins over the policy's, which is
/// reported when it differs: in the plan, its JSON and drift (exit 2).
#[test]
fn a_stated_type_the_live_group_does_not_have_is_reported() {
    let handle = emulator();
    let g = SeedGroup::new("cn-hangzhou", "sg-bp1e2eent000000001")
        .name("ent")
        .vpc_id("vpc-e2e")
        .group_type(moat_emulator::GroupType::Enterprise);
    handle.emulator().seed_groups([g]).expect("seeding");
    let (env, endpoint) = cloud_env(&handle);
    env.write(
        "ent.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1e2eent000000001\n    region: cn-hangzhou\n    name: ent\n    type: normal\n    mode: additive\n    egress:\n      - {description: https out, allow: tcp/443, to: 0.0.0.0/0}\n",
    );
    let run = at(&env, &endpoint, &["plan", "ent.yaml"]);
    run.expect_code(0)
        .expect_stdout("the policy says type: normal, the live group is enterprise")
        // Enterprise groups deny egress by default: the accept opens.
        .expect_stdout("opens tcp/443 to 0.0.0.0/0");
    let json = at(&env, &endpoint, &["plan", "ent.yaml", "--format", "json"]);
    json.expect_stdout("\"live_type\": \"enterprise\"");
    let drift = at(&env, &endpoint, &["drift", "ent.yaml", "--format", "json"]);
    drift
        .expect_code(2)
        .expect_stdout("\"live_type\": \"enterprise\"");

    // Stated right, the same plan has no warning.
    env.write(
        "ent.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1e2eent000000001\n    region: cn-hangzhou\n    name: ent\n    type: enterprise\n    mode: additive\n    egress:\n      - {description: https out, allow: tcp/443, to: 0.0.0.0/0}\n",
    );
    let run = at(&env, &endpoint, &["plan", "ent.yaml"]);
    assert!(!run.stdout.contains("warning"), "{}", run.snapshot());
}
