//! `moat import` and `moat export --format`: a Terraform state of rules that
//! live in the emulator becomes a policy that validates, lints and plans to
//! no changes against it; bad input writes nothing; exports in the foreign
//! formats, and a CSV export imported back plans to no changes.

use moat_aliyun::convert::to_permission;
use moat_emulator::{Direction as WireDirection, EmulatorHandle, SeedGroup};
use moat_policy::{Direction, NicType, Peer, PortRange, Protocol, Rule, RuleKey, Verdict};

use crate::cloud::{at, cloud_env, emulator, mutating_calls};
use crate::common::repo_root;

const WEB: &str = "sg-bp1web0000000000001";
const DB: &str = "sg-bp1db00000000000002";

fn fixture(rel: &str) -> String {
    repo_root()
        .join("crates/interchange/tests/data")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn r(
    direction: Direction,
    protocol: Protocol,
    ports: PortRange,
    peer: Peer,
    verdict: Verdict,
    priority: u8,
    description: &str,
) -> Rule {
    Rule {
        key: RuleKey {
            direction,
            protocol,
            ports,
            peer,
            verdict,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        },
        priority,
        description: description.to_owned(),
    }
}

fn cidr(s: &str) -> Peer {
    Peer::cidr(s.parse().expect("a CIDR"))
}

/// The live rules Terraform created for `terraform/state-v4.tfstate`,
/// written out by hand from that fixture, plus `extra`.
fn seed_as_terraform_left_it(handle: &EmulatorHandle, extra: &[Rule]) {
    use Direction::{Egress, Ingress};
    use Protocol::{All, Icmp, Tcp};
    use Verdict::{Accept, Drop};
    let p = PortRange::single;
    let na = PortRange::NotApplicable;
    let web = [
        r(
            Ingress,
            Tcp,
            p(23),
            cidr("0.0.0.0/0"),
            Drop,
            1,
            "no telnet, whatever else says",
        ),
        r(
            Egress,
            All,
            na,
            cidr("0.0.0.0/0"),
            Accept,
            100,
            "answers and updates",
        ),
        r(
            Ingress,
            Tcp,
            p(22),
            cidr("203.0.113.0/28"),
            Accept,
            1,
            "SSH from the office",
        ),
        r(
            Ingress,
            Tcp,
            p(22),
            cidr("10.8.0.0/16"),
            Accept,
            1,
            "SSH from the office",
        ),
        r(
            Ingress,
            Tcp,
            p(80),
            cidr("0.0.0.0/0"),
            Accept,
            1,
            "web from anywhere",
        ),
        r(
            Ingress,
            Tcp,
            p(443),
            cidr("0.0.0.0/0"),
            Accept,
            1,
            "web from anywhere",
        ),
        r(
            Ingress,
            Tcp,
            p(443),
            cidr("::/0"),
            Accept,
            1,
            "web from anywhere",
        ),
    ];
    let db = [
        r(
            Ingress,
            Icmp,
            na,
            cidr("10.0.0.0/8"),
            Accept,
            1,
            "ping from the VPC",
        ),
        r(
            Ingress,
            Tcp,
            p(9100),
            Peer::PrefixList {
                id: "pl-bp1monitoring0001".into(),
            },
            Accept,
            1,
            "node exporter from monitoring",
        ),
        r(Ingress, Tcp, p(3306), Peer::group(WEB), Accept, 1, "MySQL"),
        r(
            Ingress,
            Tcp,
            p(3306),
            cidr("10.8.0.0/16"),
            Accept,
            1,
            "MySQL",
        ),
    ];
    let mut groups = Vec::new();
    for (id, name, rules) in [(WEB, "web-prod", &web[..]), (DB, "db-prod", &db[..])] {
        let mut g = SeedGroup::new("cn-hangzhou", id)
            .name(name)
            .vpc_id("vpc-e2e");
        for rule in rules.iter().chain(if id == WEB { extra } else { &[] }) {
            let dir = match rule.key.direction {
                Ingress => WireDirection::Ingress,
                Egress => WireDirection::Egress,
            };
            g = g.rule(dir, to_permission(rule));
        }
        groups.push(g);
    }
    handle.emulator().seed_groups(groups).expect("seeding");
}

#[test]
fn terraform_import_validates_lints_and_plans_to_no_changes() {
    let handle = emulator();
    seed_as_terraform_left_it(&handle, &[]);
    let (env, endpoint) = cloud_env(&handle);
    let state = fixture("terraform/state-v4.tfstate");
    let run = env.run(&[
        "import",
        "terraform",
        &state,
        "-o",
        "imported.yaml",
        "--migration",
        "moat-migration.tf",
        "--region",
        "cn-hangzhou",
    ]);
    run.expect_code(0)
        .expect_stderr("Imported 11 rule(s) of 2 group(s)")
        .expect_stderr("--mode additive");
    assert!(run.stdout.is_empty(), "{}", run.snapshot());
    let policy = std::fs::read_to_string(env.home().join("imported.yaml")).expect("written");
    assert!(policy.contains("net-10.8.0.0-16"), "{policy}");
    let migration = std::fs::read_to_string(env.home().join("moat-migration.tf")).expect("written");
    assert!(
        migration.contains("from = module.database.alicloud_security_group_rule.mysql"),
        "{migration}"
    );

    env.run(&["validate", "imported.yaml"]).expect_code(0);
    env.run(&["lint", "imported.yaml"]).expect_code(0);
    at(
        &env,
        &endpoint,
        &["plan", "imported.yaml", "--detailed-exitcode"],
    )
    .expect_code(0)
    .expect_stdout("No changes");
    assert_eq!(mutating_calls(&handle), 0);
}

#[test]
fn rules_terraform_did_not_manage_show_as_removals_unless_additive() {
    let handle = emulator();
    let console = r(
        Direction::Ingress,
        Protocol::Tcp,
        PortRange::single(8080),
        cidr("198.51.100.0/24"),
        Verdict::Accept,
        1,
        "added in the console",
    );
    seed_as_terraform_left_it(&handle, &[console]);
    let (env, endpoint) = cloud_env(&handle);
    let state = fixture("terraform/state-v4.tfstate");
    let base = [
        "import",
        "terraform",
        state.as_str(),
        "--region",
        "cn-hangzhou",
    ];

    let mut args = base.to_vec();
    args.extend(["-o", "authoritative.yaml"]);
    env.run(&args).expect_code(0);
    at(
        &env,
        &endpoint,
        &["plan", "authoritative.yaml", "--detailed-exitcode"],
    )
    .expect_code(2)
    .expect_stdout("added in the console");

    let mut args = base.to_vec();
    args.extend(["-o", "additive.yaml", "--mode", "additive"]);
    let run = env.run(&args);
    run.expect_code(0);
    assert!(
        !run.stderr.contains("--mode additive"),
        "{}",
        run.snapshot()
    );
    at(
        &env,
        &endpoint,
        &["plan", "additive.yaml", "--detailed-exitcode"],
    )
    .expect_code(0);
}

#[test]
fn a_bad_input_writes_nothing_and_says_where() {
    let handle = emulator();
    let (env, _) = cloud_env(&handle);
    let bad = fixture("bad/unknown-protocol.tfstate");
    let run = env.run(&[
        "import",
        "terraform",
        &bad,
        "-o",
        "p.yaml",
        "--migration",
        "m.tf",
        "--region",
        "cn-hangzhou",
    ]);
    run.expect_code(1)
        .expect_stderr("at /resources/1/instances/1/attributes/ip_protocol")
        .expect_stderr("alicloud_security_group_rule.office_ssh[1]")
        .expect_stderr("nothing was written");
    assert!(!env.home().join("p.yaml").exists());
    assert!(!env.home().join("m.tf").exists());

    let csv = fixture("bad/bad-cidr.csv");
    env.run(&["import", "csv", &csv, "-o", "p.yaml"])
        .expect_code(1)
        .expect_stderr("row 3, column 7 (peer)");
    assert!(!env.home().join("p.yaml").exists());

    let ros = fixture("ros/template.json");
    env.run(&["import", "ros", &ros, "--region", "cn-hangzhou"])
        .expect_code(1)
        .expect_stderr("--group-id WebSg=sg-");
    env.run(&["import", "ros", &ros, "--group-id", "WebSg"])
        .expect_code(1)
        .expect_stderr("LOGICAL=sg-");
}

#[test]
fn ros_and_csv_imports_validate() {
    let handle = emulator();
    let (env, _) = cloud_env(&handle);
    let ros = fixture("ros/template.yaml");
    env.run(&[
        "import",
        "ros",
        &ros,
        "--group-id",
        &format!("WebSg={WEB}"),
        "--region",
        "cn-hangzhou",
        "-o",
        "ros.yaml",
    ])
    .expect_code(0);
    env.run(&["validate", "ros.yaml"]).expect_code(0);
    let csv = fixture("csv/whitelist.csv");
    let run = env.run(&["import", "csv", &csv]);
    run.expect_code(0).expect_stdout("security_groups:");
    env.write("csv.yaml", &run.stdout);
    env.run(&["validate", "csv.yaml"]).expect_code(0);
}

#[test]
fn exports_in_foreign_formats_and_a_csv_round_trip() {
    let handle = emulator();
    seed_as_terraform_left_it(&handle, &[]);
    let (env, endpoint) = cloud_env(&handle);
    let export = |format: &str| {
        at(
            &env,
            &endpoint,
            &[
                "export",
                "--region",
                "cn-hangzhou",
                "--all",
                "--format",
                format,
            ],
        )
    };
    let hcl = export("terraform");
    hcl.expect_code(0)
        .expect_stdout("import {")
        .expect_stdout(&format!(
            "id = \"{DB}:ingress:tcp:3306/3306:intranet:{WEB}:accept:1\""
        ));
    hcl.redact(&endpoint, "$ENDPOINT")
        .assert_golden("export_terraform");
    let ros = export("ros");
    ros.expect_code(0)
        .expect_stdout("\"ALIYUN::ECS::SecurityGroupIngress\"");
    ros.redact(&endpoint, "$ENDPOINT")
        .assert_golden("export_ros");

    let csv = export("csv");
    csv.expect_code(0);
    env.write("rules.csv", &csv.stdout);
    env.run(&["import", "csv", "rules.csv", "-o", "from-csv.yaml"])
        .expect_code(0);
    at(
        &env,
        &endpoint,
        &["plan", "from-csv.yaml", "--detailed-exitcode"],
    )
    .expect_code(0);
}

#[test]
fn a_peer_group_of_another_account_applies_exports_and_plans_clean() {
    let handle = emulator();
    seed_as_terraform_left_it(&handle, &[]);
    let (env, endpoint) = cloud_env(&handle);
    let partner = "1234567890123456/sg-bp1partner00000001";
    env.write(
        "db.yaml",
        format!(
            "version: 1\nsecurity_groups:\n  - id: {DB}\n    region: cn-hangzhou\n    mode: additive\n    \
             ingress:\n      - description: reports from the partner account\n        allow: tcp/5432\n        \
             from: \"{partner}\"\n"
        ),
    );
    env.run(&["validate", "db.yaml"]).expect_code(0);
    at(&env, &endpoint, &["apply", "db.yaml", "--auto-approve"]).expect_code(0);
    at(&env, &endpoint, &["plan", "db.yaml", "--detailed-exitcode"])
        .expect_code(0)
        .expect_stdout("No changes");
    at(
        &env,
        &endpoint,
        &[
            "export",
            "--group",
            DB,
            "-o",
            "live.yaml",
            "--region",
            "cn-hangzhou",
        ],
    )
    .expect_code(0);
    let live = std::fs::read_to_string(env.home().join("live.yaml")).expect("written");
    assert!(live.contains(&format!("\"{partner}\"")), "{live}");
    at(
        &env,
        &endpoint,
        &["plan", "live.yaml", "--detailed-exitcode"],
    )
    .expect_code(0)
    .expect_stdout("No changes");
}
