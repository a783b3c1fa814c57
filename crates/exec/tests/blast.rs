//! The blast radius read over HTTP from the emulator: interfaces followed
//! through every page, the other groups of those interfaces read once each
//! (with their types), every call counted by the session, and a failing
//! interface listing failing the whole read.

mod common;

use std::sync::Arc;

use common::{KEY_ID, KEY_SECRET, REGION, client, emulator, reader};
use moat_aliyun::convert::to_permission;
use moat_diff::{DiffOptions, ExposureKind};
use moat_emulator::{
    AccessKey, Direction as WireDirection, EmulatorHandle, FaultConfig, SeedGroup,
};
use moat_exec::{BlastError, PlanOptions, read_blast_radius};
use moat_policy::{Direction, NicType, Peer, PortRange, Protocol, Rule, RuleKey, Verdict};
use serde_json::Value;

const DB: &str = "sg-bp1blastdb0000001";
const FIREWALL: &str = "sg-bp1blastfw0000001";

const OPEN_MYSQL: &str = "\
version: 1
security_groups:
  - id: sg-bp1blastdb0000001
    region: cn-hangzhou
    mode: additive
    ingress:
      - description: MySQL for everyone
        allow: tcp/3306
        from: 0.0.0.0/0
        priority: 10
";

/// A call made in process (setup, not under test), signed as a client
/// would sign it.
fn call(h: &EmulatorHandle, version: &str, action: &str, params: &[(&str, &str)]) -> Value {
    let key = AccessKey::new(KEY_ID, KEY_SECRET);
    h.emulator()
        .call_signed(&key, REGION, version, action, params)
        .unwrap_or_else(|r| panic!("{action}: {}", r.body))
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// A VPC and vSwitch, the database group (empty) and a firewall group
/// that drops MySQL from anywhere at priority 1; `plain` instances carry
/// the database group alone (in runs of at most 100), `guarded` carry both.
fn network(h: &EmulatorHandle, plain: usize, guarded: usize) {
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
    let drop = Rule {
        key: RuleKey {
            direction: Direction::Ingress,
            protocol: Protocol::Tcp,
            ports: PortRange::single(3306),
            peer: Peer::cidr("0.0.0.0/0".parse().expect("cidr")),
            verdict: Verdict::Drop,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        },
        priority: 1,
        description: "no MySQL from outside".to_owned(),
    };
    h.emulator()
        .seed_groups([
            SeedGroup::new(REGION, DB).name("db").vpc_id(&vpc),
            SeedGroup::new(REGION, FIREWALL)
                .name("firewall")
                .vpc_id(&vpc)
                .rule(WireDirection::Ingress, to_permission(&drop)),
        ])
        .expect("seeding");
    let run = |amount: usize, groups: &[&str]| {
        let amount = amount.to_string();
        let mut p: Vec<(String, String)> = vec![
            ("ImageId".into(), "ubuntu_22_04_x64".into()),
            ("InstanceType".into(), "ecs.g7.large".into()),
            ("VSwitchId".into(), vswitch.clone()),
            ("Amount".into(), amount),
        ];
        for (n, g) in groups.iter().enumerate() {
            p.push((format!("SecurityGroupIds.{}", n + 1), (*g).to_owned()));
        }
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        call(h, "2014-05-26", "RunInstances", &p);
    };
    let mut left = plain;
    while left > 0 {
        let n = left.min(100);
        run(n, &[DB]);
        left -= n;
    }
    if guarded > 0 {
        run(guarded, &[DB, FIREWALL]);
    }
}

fn options() -> PlanOptions {
    let mut o = PlanOptions::new(DiffOptions::new(common::today()));
    o.keep_live = true;
    o
}

#[tokio::test]
async fn every_page_of_interfaces_is_read_and_other_groups_once_with_their_types() {
    let h = emulator(FaultConfig::default(), 61);
    // 101 + 2 interfaces: more than one page of 100.
    network(&h, 101, 2);
    let set = Arc::new(moat_policy::load_policy_str("db.yaml", OPEN_MYSQL).expect("loads"));
    let c = client(&h, 1);
    let r = reader(&c);
    h.emulator().reset_stats();
    let planned = moat_exec::plan(&r, &set, &options())
        .await
        .expect("planned");
    let after_plan = h.emulator().stats();
    assert_eq!(after_plan.ok("DescribeSecurityGroups"), 1, "the types");
    assert_eq!(after_plan.ok("DescribeSecurityGroupAttribute"), 1);
    let plan_calls = r.counts().reads;

    let mut plan = planned.plan;
    let reads = read_blast_radius(&r, &mut plan, planned.live)
        .await
        .expect("read");
    let stats = h.emulator().stats();
    assert_eq!(stats.ok("DescribeNetworkInterfaces"), 2, "two pages");
    // The firewall group, once: its type and its rules.
    assert_eq!(stats.ok("DescribeSecurityGroups"), 2);
    assert_eq!(stats.ok("DescribeSecurityGroupAttribute"), 2);
    assert_eq!(reads.calls, 4);
    assert_eq!(reads.interfaces, 103);
    assert_eq!(reads.other_groups, 1);
    // The session counted every call the service saw.
    let served: u64 = stats.calls.values().map(|c| c.ok + c.error).sum();
    assert_eq!(r.counts().reads, served);
    assert_eq!(r.counts().reads - plan_calls, 4);

    let b = plan.groups[0]
        .blast_radius
        .as_ref()
        .expect("a blast radius");
    assert_eq!(b.instance_count, 103);
    assert_eq!(b.interfaces, 103);
    assert_eq!(b.notes.len(), 1, "{:?}", b.notes);
    let note = &b.notes[0];
    assert_eq!(note.kind, ExposureKind::NewPublicExposure);
    // The two instances whose firewall drops MySQL first are not opened.
    assert_eq!(note.instance_count, 101);
    let guarded: Vec<&String> = b
        .instances
        .iter()
        .filter(|i| !note.instances.contains(i))
        .collect();
    assert_eq!(guarded.len(), 2);
}

#[tokio::test]
async fn a_failing_interface_listing_fails_the_read() {
    let h = emulator(FaultConfig::default(), 62);
    network(&h, 3, 0);
    let set = Arc::new(moat_policy::load_policy_str("db.yaml", OPEN_MYSQL).expect("loads"));
    let c = client(&h, 1);
    let r = reader(&c);
    let planned = moat_exec::plan(&r, &set, &options())
        .await
        .expect("planned");
    h.emulator()
        .set_faults(FaultConfig {
            error_rate: 1.0,
            seed: Some(1),
            ..FaultConfig::default()
        })
        .expect("faults");
    let mut plan = planned.plan;
    let e = read_blast_radius(&r, &mut plan, planned.live)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, BlastError::Interfaces { group, .. } if group == DB),
        "{e:?}"
    );
    assert!(plan.groups[0].blast_radius.is_none());
}

#[tokio::test]
async fn a_plan_without_changes_reads_no_interface() {
    let h = emulator(FaultConfig::default(), 63);
    network(&h, 2, 0);
    let set = Arc::new(
        moat_policy::load_policy_str(
            "db.yaml",
            "version: 1\nsecurity_groups:\n  - id: sg-bp1blastdb0000001\n    region: cn-hangzhou\n    mode: additive\n    ingress: []\n",
        )
        .expect("loads"),
    );
    let c = client(&h, 1);
    let r = reader(&c);
    let planned = moat_exec::plan(&r, &set, &options())
        .await
        .expect("planned");
    h.emulator().reset_stats();
    let mut plan = planned.plan;
    let reads = read_blast_radius(&r, &mut plan, planned.live)
        .await
        .expect("read");
    assert_eq!(reads.calls, 0);
    assert_eq!(h.emulator().stats().ok("DescribeNetworkInterfaces"), 0);
    assert!(plan.groups[0].blast_radius.is_none());
}
