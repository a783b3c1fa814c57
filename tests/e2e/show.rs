//! `moat show PLANFILE` (a saved plan in every view, without the API),
//! `--group ID` on plan, apply, drift and test (a partial run, said so in
//! every view), and how apply tells a saved plan from a policy.

use crate::cloud::with_examples;
use crate::common::TestEnv;

const WEB: &str = "sg-bp1w3b7r2k9m4x6q1z8c";
const APP: &str = "sg-bp1a9p5n3v8k2m7x4q6d";

#[test]
fn show_renders_a_saved_plan_in_every_view_without_the_api() {
    let env = with_examples();
    env.run(&["plan", "--local", "policies/", "-o", "plan.json"])
        .expect_code(0);
    // The local cloud goes away: show needs no cloud at all.
    std::fs::remove_file(env.home().join(".moat/local-cloud.json")).expect("local cloud state");
    let plan = env.run(&["plan", "--local", "policies/", "--format", "csv"]);
    let text = env.run(&["show", "plan.json"]);
    text.expect_code(0);
    text.expect_stdout("moat will perform the following actions:");
    text.expect_stdout("Plan: 5 to add, 5 to change, 5 to remove.");
    assert!(
        !env.home().join(".moat/local-cloud.json").exists() || plan.code == Some(0),
        "show made no cloud"
    );
    for (format, marker) in [
        ("json", "\"format\": \"moat-plan\""),
        ("csv", "group,region,direction,action"),
        ("markdown", "### moat plan"),
    ] {
        let run = env.run(&["show", "plan.json", "--format", format]);
        run.expect_code(0);
        run.expect_stdout(marker);
    }
    // The JSON view is the plan file itself.
    let json = env.run(&["show", "plan.json", "--format", "json"]);
    let saved = std::fs::read_to_string(env.home().join("plan.json")).expect("plan");
    assert_eq!(json.stdout, saved);
    // Cloud options are not show's.
    env.run(&["show", "plan.json", "--local"]).expect_code(1);
}

#[test]
fn show_refuses_a_tampered_or_unreadable_plan_with_apply_s_error() {
    let env = with_examples();
    env.run(&["plan", "--local", "policies/", "-o", "plan.json"])
        .expect_code(0);
    let text = std::fs::read_to_string(env.home().join("plan.json")).expect("plan");
    env.write(
        "tampered.json",
        text.replace("SSH only through the bastion", "SSH from anywhere"),
    );
    let show = env.run(&["show", "tampered.json"]);
    show.expect_code(1);
    let apply = env.run(&["apply", "tampered.json", "--local", "--auto-approve"]);
    apply.expect_code(1);
    let first_line = |s: &str| s.lines().next().unwrap_or("").to_owned();
    assert_eq!(first_line(&show.stderr), first_line(&apply.stderr));
    show.expect_stderr("tampered.json is not a usable plan");
    show.expect_stderr("\nhint: make a new plan");
    assert!(show.stdout.is_empty(), "{}", show.snapshot());

    let missing = env.run(&["show", "nowhere.json"]);
    missing.expect_code(1);
    missing.expect_stderr("cannot read nowhere.json");
    env.write("half.json", &text[..text.len() / 2]);
    env.run(&["show", "half.json"])
        .expect_code(1)
        .expect_stderr("half.json is not a usable plan");
}

#[test]
fn group_limits_plan_and_drift_and_the_plan_says_it_is_partial() {
    let env = with_examples();
    let run = env.run(&[
        "plan",
        "--local",
        "policies/",
        "--group",
        WEB,
        "--group",
        APP,
    ]);
    run.expect_code(0);
    run.expect_stdout(&format!(
        "Partial: only security groups {APP}, {WEB} of the policies; the others were not read."
    ));
    run.expect_stdout("Plan: 2 to add, 2 to change, 2 to remove.");
    assert!(
        !run.stdout.contains("# sg-bp1b4st10n7k2m9x3q8w"),
        "{}",
        run.snapshot()
    );

    // One command limited to the web group, in one view.
    let web_only = |command: &str, format: &str| {
        env.run(&[
            command,
            "--local",
            "policies/",
            "--group",
            WEB,
            "--format",
            format,
        ])
    };
    let json = web_only("plan", "json");
    json.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["targets"], serde_json::json!([WEB]));
    assert_eq!(v["groups"].as_array().map(Vec::len), Some(1));
    let whole = env.run(&["plan", "--local", "policies/", "--format", "json"]);
    let w: serde_json::Value = serde_json::from_str(&whole.stdout).expect("JSON");
    assert!(w.get("targets").is_none(), "a whole plan has no targets");

    let md = web_only("plan", "markdown");
    md.expect_stdout("> **Partial: only security group");
    let csv = web_only("plan", "csv");
    csv.expect_code(0);
    let second = csv.stdout.lines().nth(1).unwrap_or_default();
    assert!(
        second.starts_with(",,")
            && second.contains("Partial: only security group")
            && second.contains(",partial,"),
        "{}",
        csv.snapshot()
    );

    let drift = env.run(&["drift", "--local", "policies/", "--group", WEB]);
    drift.expect_code(2);
    drift.expect_stdout(&format!(
        "Partial: only security group {WEB} of the policies"
    ));
    drift.expect_stdout(&format!("{WEB} (cn-hangzhou): drift"));
    assert!(
        !drift.stdout.contains(&format!("{APP} (")),
        "{}",
        drift.snapshot()
    );
    let drift = web_only("drift", "json");
    let d: serde_json::Value = serde_json::from_str(&drift.stdout).expect("JSON");
    assert_eq!(d["targets"], serde_json::json!([WEB]));

    // A saved partial plan stays partial when shown.
    env.run(&[
        "plan",
        "--local",
        "policies/",
        "--group",
        WEB,
        "-o",
        "web.json",
    ])
    .expect_code(0);
    env.run(&["show", "web.json"])
        .expect_code(0)
        .expect_stdout("Partial: only security group");
}

#[test]
fn group_limits_apply_to_those_groups() {
    let env = with_examples();
    let run = env.run(&[
        "apply",
        "--local",
        "policies/",
        "--group",
        WEB,
        "--auto-approve",
    ]);
    run.expect_code(0);
    run.expect_stdout("Partial: only security group");
    // The web group is in sync now; the others were not touched.
    env.run(&["drift", "--local", "policies/", "--group", WEB])
        .expect_code(0);
    env.run(&["drift", "--local", "policies/", "--group", APP])
        .expect_code(2);
    // A saved plan holds its groups: --group does not apply to it.
    env.run(&["plan", "--local", "policies/", "-o", "plan.json"])
        .expect_code(0);
    env.run(&[
        "apply",
        "plan.json",
        "--local",
        "--group",
        APP,
        "--auto-approve",
    ])
    .expect_code(1)
    .expect_stderr("is a plan, which holds its groups already");
}

#[test]
fn an_id_not_in_the_policies_is_a_clear_error() {
    let env = with_examples();
    for command in ["plan", "drift", "apply"] {
        let run = env.run(&[
            command,
            "--local",
            "policies/",
            "--group",
            "sg-bp1nosuchgroup0000",
        ]);
        run.expect_code(1);
        run.expect_stderr(
            "error: --group sg-bp1nosuchgroup0000: not a security group of the policies\n",
        );
        run.expect_stderr("\nhint: the policies define ");
        assert!(run.stdout.is_empty(), "{command}: {}", run.snapshot());
    }
    env.run(&["test", "policies/", "--group", "sg-bp1nosuchgroup0000"])
        .expect_code(1)
        .expect_stderr("not a security group of the policies");
    // Nothing was created or read: the local cloud does not exist yet.
    assert!(!env.home().join(".moat/local-cloud.json").exists());
}

const TWO_GROUPS_WITH_TESTS: &str = "\
version: 1
security_groups:
  - id: sg-bp1open0000000001
    region: cn-hangzhou
    ingress:
      - {description: SSH from anywhere, allow: tcp/22, from: 0.0.0.0/0}
  - id: sg-bp1shut0000000001
    region: cn-hangzhou
    ingress: []
tests:
  - name: SSH is closed on the open group
    group: sg-bp1open0000000001
    from: 0.0.0.0/0
    port: tcp/22
    expect: deny
  - name: SSH is closed on the shut group
    group: sg-bp1shut0000000001
    from: 0.0.0.0/0
    port: tcp/22
    expect: deny
";

#[test]
fn group_limits_test_to_the_tests_of_those_groups() {
    let env = TestEnv::new().env("MOAT_TODAY", "2026-12-01");
    env.write("p.yaml", TWO_GROUPS_WITH_TESTS);
    env.run(&["test", "p.yaml"]).expect_code(1);
    let run = env.run(&["test", "p.yaml", "--group", "sg-bp1shut0000000001"]);
    run.expect_code(0);
    run.expect_stdout("SSH is closed on the shut group");
    assert!(!run.stdout.contains("open group"), "{}", run.snapshot());
    env.run(&["test", "p.yaml", "--group", "sg-bp1open0000000001"])
        .expect_code(1);
}

#[test]
fn apply_never_takes_a_flow_style_policy_for_a_plan() {
    let env = TestEnv::new();
    // YAML in flow style starts with `{` like a plan does.
    env.write(
        "flow.yaml",
        "{version: 1, security_groups: [{id: sg-bp1flow0000000001, region: cn-hangzhou, ingress: [{description: web, allow: tcp/443, from: 10.0.0.0/8}]}]}\n",
    );
    let run = env.run(&["apply", "flow.yaml", "--local", "--auto-approve"]);
    run.expect_code(0);
    assert!(
        !run.stderr.contains("not a usable plan"),
        "{}",
        run.snapshot()
    );
    run.expect_stdout("Apply complete");
    // A policy written as JSON (YAML's superset) is a policy too.
    env.write(
        "policy-as-json",
        "{\"version\": 1, \"security_groups\": [{\"id\": \"sg-bp1flow0000000001\", \"region\": \"cn-hangzhou\", \"ingress\": []}]}\n",
    );
    let run = env.run(&["plan", "policy-as-json", "--local"]);
    run.expect_code(0);
    let run = env.run(&["apply", "policy-as-json", "--local", "--auto-approve"]);
    run.expect_code(0);
    assert!(
        !run.stderr.contains("not a usable plan"),
        "{}",
        run.snapshot()
    );
    // A saved plan under any name is still a plan.
    env.run(&["plan", "flow.yaml", "--local", "-o", "saved.plan"])
        .expect_code(0);
    let run = env.run(&["apply", "saved.plan", "--local", "--auto-approve"]);
    run.expect_code(0);
}

#[test]
fn a_name_defined_in_a_file_that_was_not_loaded_gets_a_hint_to_load_the_directory() {
    let env = TestEnv::new();
    env.write(
        "policies/addresses.yaml",
        "version: 1\naddresses:\n  office: 203.0.113.0/28\n",
    );
    env.write(
        "policies/web.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1web0000000001\n    region: cn-hangzhou\n    ingress:\n      - {description: ssh, allow: tcp/22, from: office}\n",
    );
    let run = env.run(&["validate", "policies/web.yaml"]);
    run.expect_code(1);
    run.expect_stderr("error[MOAT104]: unknown address set \"office\"");
    run.expect_stderr(
        "= hint: \"office\" may be defined in policies/addresses.yaml, which was not loaded: load the whole directory (policies) rather than single files",
    );
    env.run(&["validate", "policies"]).expect_code(0);
    env.run(&["validate", "policies/web.yaml", "policies/addresses.yaml"])
        .expect_code(0);
}

#[test]
fn an_empty_directory_says_subdirectories_are_not_read() {
    let env = TestEnv::new();
    env.write("policies/prod/web.yaml", "version: 1\n");
    let run = env.run(&["validate", "policies"]);
    run.expect_code(1);
    run.expect_stderr("error[MOAT130]");
    run.expect_stderr("subdirectories are not read");
}
