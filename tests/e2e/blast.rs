//! `moat plan --instances`: the blast radius of a plan in every view
//! (golden, against the local cloud's demo instances), kept in the saved
//! plan and shown by `moat show`, and against an emulator on loopback whose
//! instances were made with RunInstances: the combined decision per
//! interface, one DescribeNetworkInterfaces per changed group, exit codes.

use moat_aliyun::convert::to_permission;
use moat_emulator::{AccessKey, Direction as WireDirection, EmulatorHandle, SeedGroup};
use moat_policy::{Direction, PortRange, Protocol, Verdict};
use serde_json::Value;

use crate::cloud::{KEY_ID, KEY_SECRET, at, cloud_env, emulator, rule, with_examples};

#[test]
fn plan_instances_against_the_local_cloud_in_every_view() {
    let env = with_examples();
    let text = env.run(&["plan", "--local", "policies/", "--instances"]);
    text.expect_code(0);
    text.assert_golden("plan_instances_text");
    for (format, golden) in [
        ("json", "plan_instances_json"),
        ("csv", "plan_instances_csv"),
        ("markdown", "plan_instances_markdown"),
    ] {
        let run = env.run(&[
            "plan",
            "--local",
            "policies/",
            "--instances",
            "--format",
            format,
        ]);
        run.expect_code(0);
        run.assert_golden(golden);
    }

    // Without the flag nothing is read and nothing shown.
    let plain = env.run(&["plan", "--local", "policies/"]);
    plain.expect_code(0);
    assert!(
        !plain.stdout.contains("blast radius"),
        "{}",
        plain.snapshot()
    );

    // The saved plan carries it, and `moat show` shows it in every view.
    env.run(&[
        "plan",
        "--local",
        "policies/",
        "--instances",
        "-o",
        "plan.json",
    ])
    .expect_code(0);
    let shown = env.run(&["show", "plan.json"]);
    shown.expect_code(0);
    assert_eq!(
        shown.stdout, text.stdout,
        "show prints the plan as plan did"
    );
    let json = env.run(&["show", "plan.json", "--format", "json"]);
    json.expect_code(0);
    let saved = std::fs::read_to_string(env.home().join("plan.json")).expect("saved");
    assert_eq!(json.stdout, saved);
    let csv = env.run(&["show", "plan.json", "--format", "csv"]);
    csv.expect_code(0);
    csv.expect_stdout("group_instances,affected_instances,instance_exposure");
    let md = env.run(&["show", "plan.json", "--format", "markdown"]);
    md.expect_code(0);
    md.expect_stdout("blast radius: 1 instance");

    // A saved plan without it shows none.
    env.run(&["plan", "--local", "policies/", "-o", "plain.json"])
        .expect_code(0);
    let shown = env.run(&["show", "plain.json"]);
    shown.expect_code(0);
    assert_eq!(shown.stdout, plain.stdout);

    // A plan file edited by hand is refused, as apply refuses it.
    let edited = saved.replace("\"instance_count\": 1", "\"instance_count\": 0");
    let edited = edited.replacen("\"mode\": \"authoritative\"", "\"mode\": \"additive\"", 1);
    env.write("edited.json", edited);
    env.run(&["show", "edited.json"])
        .expect_code(1)
        .expect_stderr("the file was edited");
    env.run(&["show", "nowhere.json"])
        .expect_code(1)
        .expect_stderr("cannot read nowhere.json");
}

/// A call made in process (setup, not under test), signed as a client
/// would sign it.
fn call(h: &EmulatorHandle, version: &str, action: &str, params: &[(&str, &str)]) -> Value {
    let key = AccessKey::new(KEY_ID, KEY_SECRET);
    h.emulator()
        .call_signed(&key, "cn-hangzhou", version, action, params)
        .unwrap_or_else(|r| panic!("{action}: {}", r.body))
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

const DB: &str = "sg-bp1e2eblastdb00001";
const FIREWALL: &str = "sg-bp1e2eblastfw00001";

/// MySQL from anywhere for the database group.
const OPEN_MYSQL: &str = "\
version: 1
security_groups:
  - id: sg-bp1e2eblastdb00001
    region: cn-hangzhou
    name: db
    mode: additive
    ingress:
      - description: MySQL for the migration
        allow: tcp/3306
        from: 0.0.0.0/0
        priority: 10
";

/// Three instances carrying the database group alone and one carrying a
/// firewall group too, which drops MySQL from anywhere at priority 1.
fn instances(h: &EmulatorHandle) -> Vec<String> {
    let vpc = text(
        &call(
            h,
            "2016-04-28",
            "CreateVpc",
            &[("CidrBlock", "10.0.0.0/16")],
        )["VpcId"],
    );
    let vswitch = text(
        &call(
            h,
            "2016-04-28",
            "CreateVSwitch",
            &[
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-h"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        )["VSwitchId"],
    );
    let mut drop = rule(
        Direction::Ingress,
        Protocol::Tcp,
        PortRange::single(3306),
        "0.0.0.0/0",
        "no MySQL from outside",
    );
    drop.key.verdict = Verdict::Drop;
    h.emulator()
        .seed_groups([
            SeedGroup::new("cn-hangzhou", DB).name("db").vpc_id(&vpc),
            SeedGroup::new("cn-hangzhou", FIREWALL)
                .name("firewall")
                .vpc_id(&vpc)
                .rule(WireDirection::Ingress, to_permission(&drop)),
        ])
        .expect("seeding");
    let base = [
        ("ImageId", "ubuntu_22_04_x64"),
        ("InstanceType", "ecs.g7.large"),
        ("VSwitchId", vswitch.as_str()),
    ];
    let mut ids = Vec::new();
    let mut run = |extra: &[(&str, &str)]| {
        let params: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        let made = call(h, "2014-05-26", "RunInstances", &params);
        for id in made["InstanceIdSets"]["InstanceIdSet"]
            .as_array()
            .expect("ids")
        {
            ids.push(text(id));
        }
    };
    run(&[
        ("InstanceName", "db"),
        ("SecurityGroupIds.1", DB),
        ("Amount", "3"),
    ]);
    run(&[
        ("InstanceName", "db-guarded"),
        ("SecurityGroupIds.1", DB),
        ("SecurityGroupIds.2", FIREWALL),
    ]);
    ids
}

#[test]
fn plan_instances_against_an_endpoint_evaluates_each_interface_with_all_its_groups() {
    let h = emulator();
    let ids = instances(&h);
    let (env, endpoint) = cloud_env(&h);
    env.write("db.yaml", OPEN_MYSQL);

    h.emulator().reset_stats();
    let run = at(
        &env,
        &endpoint,
        &["plan", "db.yaml", "--instances", "--detailed-exitcode"],
    );
    run.expect_code(2);
    let stats = h.emulator().stats();
    assert_eq!(stats.ok("DescribeNetworkInterfaces"), 1, "{stats:?}");
    // The firewall group is read once, for its type and its rules.
    assert_eq!(stats.ok("DescribeSecurityGroups"), 2, "{stats:?}");
    assert_eq!(stats.ok("DescribeSecurityGroupAttribute"), 2, "{stats:?}");
    run.expect_stdout("blast radius: 4 instances");
    run.expect_stdout("new public exposure: tcp/3306 from 0.0.0.0/0 on 3 of 4 instances");
    let guarded = &ids[3];
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("on 3 of 4 instances"))
        .expect("the line");
    assert!(!line.contains(guarded.as_str()), "{line}");
    run.redact(&endpoint, "$ENDPOINT")
        .assert_golden("plan_instances_endpoint");

    // The JSON plan: `blast_radius` per group with stable fields.
    let json = at(
        &env,
        &endpoint,
        &["plan", "db.yaml", "--instances", "--format", "json"],
    );
    json.expect_code(0);
    let doc: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let b = &doc["groups"][0]["blast_radius"];
    assert_eq!(b["instance_count"], 4);
    assert_eq!(b["interfaces"], 4);
    assert_eq!(b["instances"].as_array().map(Vec::len), Some(4));
    let note = &b["notes"][0];
    assert_eq!(note["kind"], "new_public_exposure");
    assert_eq!(note["instance_count"], 3);
    assert_eq!(note["action"], "add");
    assert!(
        !note["instances"]
            .as_array()
            .expect("ids")
            .iter()
            .any(|i| i == guarded.as_str())
    );

    // Without the flag no interface is read.
    h.emulator().reset_stats();
    at(&env, &endpoint, &["plan", "db.yaml"]).expect_code(0);
    assert_eq!(h.emulator().stats().ok("DescribeNetworkInterfaces"), 0);
}

#[test]
fn plan_instances_fails_closed_on_an_unreadable_interface_listing_or_group() {
    let env = with_examples();
    env.run(&["plan", "--local", "policies/"]).expect_code(0);
    // An interface of the local cloud lists a group that does not exist.
    let path = env.home().join(".moat/local-cloud.json");
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the local cloud"))
            .expect("JSON");
    let interfaces = state["Network"]["NetworkInterfaces"]
        .as_array_mut()
        .expect("interfaces");
    let web = interfaces
        .iter_mut()
        .find(|n| n["NetworkInterfaceId"] == "eni-bp1l0ca1web0000001")
        .expect("web-1's interface");
    web["SecurityGroupIds"]
        .as_array_mut()
        .expect("its groups")
        .push(Value::from("sg-bp1gone00000000001"));
    std::fs::write(&path, serde_json::to_vec(&state).expect("JSON")).expect("written");

    let run = env.run(&["plan", "--local", "policies/", "--instances"]);
    run.expect_code(1);
    run.expect_stderr(
        "security group sg-bp1gone00000000001 of network interface eni-bp1l0ca1web0000001 does not exist",
    );
    assert!(
        run.stdout.is_empty(),
        "no plan is shown: {}",
        run.snapshot()
    );
    // Without the flag the interfaces are not read, and the plan is made.
    env.run(&["plan", "--local", "policies/"]).expect_code(0);

    // An interface listing the service answers but moat cannot read (an
    // address that is none): the listing fails, and so does the plan.
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the local cloud"))
            .expect("JSON");
    for n in state["Network"]["NetworkInterfaces"]
        .as_array_mut()
        .expect("interfaces")
    {
        if let Some(groups) = n["SecurityGroupIds"].as_array_mut() {
            groups.retain(|g| g != "sg-bp1gone00000000001");
        }
        if n["NetworkInterfaceId"] == "eni-bp1l0ca1web0000001" {
            n["PrivateIpAddress"] = Value::from("10.0.1.x");
        }
    }
    std::fs::write(&path, serde_json::to_vec(&state).expect("JSON")).expect("written");
    let run = env.run(&["plan", "--local", "policies/", "--instances"]);
    run.expect_code(1);
    run.expect_stderr("cannot list the network interfaces carrying security group");
    assert!(
        run.stdout.is_empty(),
        "no plan is shown: {}",
        run.snapshot()
    );
}
