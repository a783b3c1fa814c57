//! Issue 9 through the real binary: the documented CI workflow, saved plans
//! that cannot be edited into something else, signed plans, the journal and
//! the call count, missing groups and rules moat cannot model.

use moat_aliyun::wire::Permission;
use moat_emulator::{Direction as WireDirection, EmulatorHandle, SeedGroup};
use moat_policy::{Direction, PortRange, Protocol};

use crate::cloud::{at, cloud_env, emulator, mutating_calls, rule, summary_calls, with_examples};

const APP: &str = "sg-bp1e2etrust000001";

const POLICY: &str = "\
version: 1
security_groups:
  - id: sg-bp1e2etrust000001
    region: cn-hangzhou
    ingress:
      - description: HTTPS from the office
        allow: tcp/443
        from: 203.0.113.0/28
protect:
  - reason: the database port is reviewed by the DBAs
    group: sg-bp1e2etrust000001
    service: tcp/3306
";

/// The app group with a stray MySQL rule the protect selector covers, and
/// a rule moat cannot model (GRE by protocol number).
fn seed(handle: &EmulatorHandle, unmodeled: bool) {
    let mut g = SeedGroup::new("cn-hangzhou", APP)
        .name("app")
        .vpc_id("vpc-e2e");
    let mysql = rule(
        Direction::Ingress,
        Protocol::Tcp,
        PortRange::single(3306),
        "10.0.0.0/8",
        "migration",
    );
    g = g.rule(
        WireDirection::Ingress,
        moat_aliyun::convert::to_permission(&mysql),
    );
    if unmodeled {
        g = g.rule(
            WireDirection::Ingress,
            Permission {
                ip_protocol: "47".into(),
                port_range: "-1/-1".into(),
                source_cidr_ip: "10.9.0.0/16".into(),
                policy: "Accept".into(),
                priority: moat_aliyun::wire::LooseInt(Some(1)),
                description: "GRE tunnel".into(),
                ..Permission::default()
            },
        );
    }
    handle.emulator().seed_groups([g]).expect("seeding");
}

fn total_calls(handle: &EmulatorHandle) -> u64 {
    handle.emulator().stats().total()
}

/// Issue 9, item 1, and docs/ci.md end to end: the pull request's plan is
/// saved with `-o` and posted as Markdown; after the merge the artifact is
/// applied; the nightly drift then finds nothing. A group without changes
/// (here most of them, after one edited description) no longer makes the
/// saved plan stale.
#[test]
fn the_documented_ci_workflow_applies_the_saved_plan() {
    let env = with_examples().env("MOAT_PLAN_KEY", "a CI secret of more than sixteen bytes");
    env.run(&["apply", "--local", "policies/", "--auto-approve"])
        .expect_code(0);

    // A pull request edits one description.
    let web = env.home().join("policies/web.yaml");
    let text = std::fs::read_to_string(&web).expect("web.yaml");
    let edited = text.replacen(
        "description: SSH only through the bastion",
        "description: SSH only through the bastion host",
        1,
    );
    assert_ne!(edited, text, "the example has that description");
    std::fs::write(&web, edited).expect("editing web.yaml");

    env.run(&["validate", "policies/"]).expect_code(0);
    let plan = env.run(&[
        "plan",
        "--local",
        "policies/",
        "--format",
        "markdown",
        "--detailed-exitcode",
        "-o",
        "plan.json",
    ]);
    plan.expect_code(2).expect_stdout("### moat plan");
    plan.expect_stdout("Plan: 0 to add, 1 to change, 0 to remove.");
    let saved = std::fs::read_to_string(env.home().join("plan.json")).expect("plan.json");
    assert!(saved.contains("\"signature\": \"hmac-sha256:"), "signed");

    // After the merge: the artifact, as reviewed.
    let applied = env.run(&["apply", "--local", "plan.json", "--auto-approve"]);
    applied
        .expect_code(0)
        .expect_stdout("Apply complete: 0 added, 1 changed, 0 removed in 1 group");
    env.run(&["drift", "--local", "policies/", "--format", "json"])
        .expect_code(0);
    // The same file again is stale now: its group changed.
    env.run(&["apply", "--local", "plan.json", "--auto-approve"])
        .expect_code(1)
        .expect_stderr("plan is stale: security group")
        .expect_stderr("hint: run moat plan again");
}

/// Issue 9, item 2: a saved plan edited to drop its protections still
/// refuses the protected rule, and signed plans refuse anything not signed
/// with the configured key, before any call.
#[test]
fn an_edited_or_unsigned_plan_is_refused_before_any_change() {
    let handle = emulator();
    seed(&handle, false);
    let (env, endpoint) = cloud_env(&handle);
    env.write("app.yaml", POLICY);
    at(&env, &endpoint, &["plan", "app.yaml", "-o", "plan.json"])
        .expect_code(0)
        .expect_stdout("protected:");

    // jq 'del(.groups[].changes[].protection)'
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.home().join("plan.json")).expect("plan"))
            .expect("json");
    for g in doc["groups"].as_array_mut().expect("groups") {
        for c in g["changes"].as_array_mut().expect("changes") {
            c.as_object_mut().expect("change").remove("protection");
        }
    }
    env.write("edited.json", doc.to_string());
    handle.emulator().reset_stats();
    at(&env, &endpoint, &["apply", "edited.json", "--auto-approve"])
        .expect_code(1)
        .expect_stderr("plan removes protected rule ingress accept tcp/3306")
        .expect_stderr("the database port is reviewed by the DBAs")
        .expect_stderr("hint: to remove or change protected rules anyway, pass --allow-protected");
    assert_eq!(mutating_calls(&handle), 0);

    // Deleting the selector itself breaks the hash.
    doc["protect"] = serde_json::json!([]);
    env.write("no-selector.json", doc.to_string());
    at(
        &env,
        &endpoint,
        &["apply", "no-selector.json", "--auto-approve"],
    )
    .expect_code(1)
    .expect_stderr("does not match its contents");

    // Signed plans: unsigned and wrongly signed ones are refused before
    // any call, with one message.
    let key = env.write("plan.key", "0123456789abcdef0123456789abcdef\n");
    let key = key.to_string_lossy().into_owned();
    handle.emulator().reset_stats();
    for file in ["plan.json", "edited.json"] {
        at(
            &env,
            &endpoint,
            &["apply", file, "--auto-approve", "--plan-key-file", &key],
        )
        .expect_code(1)
        .expect_stderr("plan is not signed with the configured key");
    }
    env.run_env(
        &[("MOAT_PLAN_KEY", "another key of more than sixteen")],
        &[
            "plan",
            "app.yaml",
            "-o",
            "other.json",
            "--endpoint",
            &endpoint,
        ],
    )
    .expect_code(0)
    .expect_stdout("Saved the signed plan to other.json");
    at(
        &env,
        &endpoint,
        &[
            "apply",
            "other.json",
            "--auto-approve",
            "--plan-key-file",
            &key,
        ],
    )
    .expect_code(1)
    .expect_stderr("plan is not signed with the configured key");
    let reads = handle
        .emulator()
        .stats()
        .ok("DescribeSecurityGroupAttribute");
    assert_eq!(reads, 1, "only the plan of other.json read anything");
    assert_eq!(mutating_calls(&handle), 0);

    // Signed with the right key, it goes through the guards as any plan.
    at(
        &env,
        &endpoint,
        &[
            "plan",
            "app.yaml",
            "-o",
            "signed.json",
            "--plan-key-file",
            &key,
        ],
    )
    .expect_code(0);
    at(
        &env,
        &endpoint,
        &[
            "apply",
            "signed.json",
            "--auto-approve",
            "--allow-protected",
            "--plan-key-file",
            &key,
        ],
    )
    .expect_code(0)
    .expect_stdout("Apply complete: 1 added, 0 changed, 1 removed in 1 group");
}

/// Issue 9, item 3: `--journal /dev/full` made its changes and exited 0;
/// and the reads of an apply from a plan file were neither journaled nor
/// counted.
#[test]
fn the_journal_is_written_ahead_and_the_summary_counts_every_call() {
    let handle = emulator();
    seed(&handle, false);
    let (env, endpoint) = cloud_env(&handle);
    env.write("app.yaml", POLICY);
    at(&env, &endpoint, &["plan", "app.yaml", "-o", "plan.json"]).expect_code(0);

    handle.emulator().reset_stats();
    // The lease's first tag write has its intent journaled too: it fails,
    // and nothing is changed.
    at(
        &env,
        &endpoint,
        &[
            "apply",
            "plan.json",
            "--auto-approve",
            "--allow-protected",
            "--journal",
            "/dev/full",
        ],
    )
    .expect_code(1)
    .expect_stderr("refusing to apply; nothing was changed")
    .expect_stderr("cannot write the journal /dev/full");
    assert_eq!(mutating_calls(&handle), 0);
    assert_eq!(handle.emulator().stats().ok("TagResources"), 0);

    let full = at(
        &env,
        &endpoint,
        &[
            "apply",
            "plan.json",
            "--auto-approve",
            "--allow-protected",
            "--no-lock",
            "--journal",
            "/dev/full",
        ],
    );
    full.expect_code(1)
        .expect_stdout("Apply stopped (journal write failed")
        .expect_stderr("error: the journal could not be written");
    assert_eq!(mutating_calls(&handle), 0);

    handle.emulator().reset_stats();
    let applied = at(
        &env,
        &endpoint,
        &["apply", "plan.json", "--auto-approve", "--allow-protected"],
    );
    applied.expect_code(0);
    assert_eq!(
        summary_calls(&applied.stdout),
        total_calls(&handle),
        "{}",
        applied.stdout
    );
    let journal = std::fs::read_to_string(env.home().join(".moat/journal.jsonl")).expect("journal");
    let attempts = journal
        .lines()
        .filter(|l| l.contains("\"kind\":\"attempt\""))
        .count() as u64;
    assert_eq!(
        attempts,
        total_calls(&handle),
        "every call is in the journal"
    );
    assert!(journal.contains("\"phase\":\"preflight\""));
}

/// Issue 9, item 5: one missing group made `plan` and `drift` exit 1 with
/// nothing on stdout.
#[test]
fn a_missing_group_is_shown_in_every_view_and_the_rest_is_planned() {
    let handle = emulator();
    seed(&handle, false);
    let (env, endpoint) = cloud_env(&handle);
    env.write(
        "two.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1e2etrust000001\n    region: cn-hangzhou\n    ingress:\n      - {description: HTTPS from the office, allow: tcp/443, from: 203.0.113.0/28}\n  - id: sg-bp1e2enone00000002\n    region: cn-hangzhou\n    ingress: []\n",
    );
    let text = at(&env, &endpoint, &["plan", "two.yaml"]);
    text.expect_code(1)
        .expect_stdout("status: missing")
        .expect_stdout("+ accept tcp/443 from 203.0.113.0/28")
        .expect_stderr(
            "security group sg-bp1e2enone00000002 in region cn-hangzhou (policy at two.yaml:",
        );
    for (format, needle) in [
        ("json", "\"status\": \"missing\""),
        ("csv", ",missing,,,\r\n"),
        ("markdown", "status: missing"),
    ] {
        at(&env, &endpoint, &["plan", "two.yaml", "--format", format])
            .expect_code(1)
            .expect_stdout(needle)
            .expect_stdout("sg-bp1e2etrust000001");
    }
    at(&env, &endpoint, &["drift", "two.yaml"])
        .expect_code(1)
        .expect_stdout("sg-bp1e2enone00000002 (cn-hangzhou): status: missing")
        .expect_stdout("sg-bp1e2etrust000001 (cn-hangzhou): drift");
    at(&env, &endpoint, &["drift", "two.yaml", "--format", "json"])
        .expect_code(1)
        .expect_stdout("\"status\": \"missing\"");
    assert_eq!(mutating_calls(&handle), 0);
}

/// Issue 9, item 6: a live rule moat cannot model left drift "in sync" and
/// explain answering as if it were not there.
#[test]
fn rules_moat_cannot_model_are_drift_in_authoritative_groups_and_named_by_explain() {
    let handle = emulator();
    seed(&handle, true);
    let (env, endpoint) = cloud_env(&handle);
    // In sync but for the GRE rule.
    let in_sync = "version: 1\nsecurity_groups:\n  - id: sg-bp1e2etrust000001\n    region: cn-hangzhou\n    ingress:\n      - {description: migration, allow: tcp/3306, from: 10.0.0.0/8}\n";
    env.write("authoritative.yaml", in_sync);
    env.write(
        "additive.yaml",
        in_sync.replace("    ingress:", "    mode: additive\n    ingress:"),
    );
    at(&env, &endpoint, &["drift", "authoritative.yaml"])
        .expect_code(2)
        .expect_stdout("IpProtocol=47 PortRange=-1/-1 Policy=Accept Priority=1 NicType=intranet SourceCidrIp=10.9.0.0/16");
    at(
        &env,
        &endpoint,
        &["drift", "authoritative.yaml", "--format", "json"],
    )
    .expect_code(2)
    .expect_stdout("\"summary\": \"IpProtocol=47");
    at(
        &env,
        &endpoint,
        &["plan", "authoritative.yaml", "--format", "csv"],
    )
    .expect_code(0)
    .expect_stdout(",keep,IpProtocol=47");
    at(&env, &endpoint, &["drift", "additive.yaml"])
        .expect_code(0)
        .expect_stdout("in sync (additive), 1 unmodeled live rule(s) kept");

    at(
        &env,
        &endpoint,
        &[
            "explain",
            "--live",
            "--region",
            "cn-hangzhou",
            "--group",
            APP,
            "--from",
            "10.9.1.1",
            "--port",
            "gre",
        ],
    )
    .expect_code(0)
    .expect_stdout("DENY ingress gre from 10.9.1.1")
    .expect_stdout("1 live rule(s) could not be evaluated")
    .expect_stdout("this answer may be wrong")
    .expect_stdout("IpProtocol=47");
}
