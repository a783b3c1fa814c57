//! The state file (atomic writes, reload) and the seeding API.

use moat_emulator::{
    Direction, EmulatorError, SeedError, SeedGroup, StateFile, load_state_file, save_state_file,
};
use moat_wire::{LooseInt, LooseString, Permission};

use crate::support::{Client, create_group, rules_of, start_with};

fn ssh(cidr: &str) -> Permission {
    Permission {
        ip_protocol: LooseString::from("tcp"),
        port_range: LooseString::from("22/22"),
        source_cidr_ip: LooseString::from(cidr),
        ..Permission::default()
    }
}

#[test]
fn state_is_written_after_every_change_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloud.json");
    let p2 = path.clone();
    let emu = start_with(move |cfg| cfg.state_file = Some(p2));
    let c = Client::new(emu.addr());
    assert!(!path.exists(), "nothing changed yet");
    let g = create_group(&c, "persisted");
    assert_eq!(load_state_file(&path).unwrap().groups.len(), 1);
    c.call(
        "AuthorizeSecurityGroup",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "tcp"),
            ("PortRange", "22/22"),
            ("SourceCidrIp", "10.0.0.0/8"),
            ("Description", "kept"),
        ],
    )
    .ok();
    c.call(
        "AuthorizeSecurityGroupEgress",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "udp"),
            ("PortRange", "53/53"),
            ("DestCidrIp", "10.0.0.2"),
            ("Priority", "9"),
        ],
    )
    .ok();
    let file = load_state_file(&path).unwrap();
    assert_eq!(file.groups[0].permissions.len(), 2);
    // Only the state file is in the directory: temporary files were renamed.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from("cloud.json")]);
    let before = rules_of(&c, &g);
    emu.shutdown();

    let p3 = path.clone();
    let emu = start_with(move |cfg| cfg.state_file = Some(p3));
    let c = Client::new(emu.addr());
    let after = rules_of(&c, &g);
    assert_eq!(before, after, "ids, times and fields survive a restart");
    assert_eq!(after.len(), 2);
    assert_eq!(after[0]["Description"], "kept");
    assert_eq!(after[1]["DestCidrIp"], "10.0.0.2/32");
    assert_eq!(after[1]["Priority"], 9);
    assert_eq!(emu.emulator().snapshot(), file);
    c.call("DeleteSecurityGroup", &[("SecurityGroupId", &g)])
        .ok();
    assert!(load_state_file(&path).unwrap().groups.is_empty());
}

#[test]
fn bad_state_files_are_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, "{not json").unwrap();
    let p = path.clone();
    let err = moat_emulator::start(moat_emulator::EmulatorConfig {
        state_file: Some(p),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, EmulatorError::ParseState { .. }), "{err}");
    assert!(err.to_string().contains("broken.json"), "{err}");

    std::fs::write(&path, r#"{"FormatVersion": 9, "Groups": []}"#).unwrap();
    let err = load_state_file(&path).unwrap_err();
    assert!(
        matches!(err, EmulatorError::StateVersion { found: 9, .. }),
        "{err}"
    );

    std::fs::write(&path, r#"{"FormatVersion": 1, "Groups": [{"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-a1",
        "Permissions": [{"Direction": "ingress", "IpProtocol": "tcp", "PortRange": "99999/1", "SourceCidrIp": "0.0.0.0/0"}]}]}"#).unwrap();
    let p = path.clone();
    let err = moat_emulator::start(moat_emulator::EmulatorConfig {
        state_file: Some(p),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        matches!(&err, EmulatorError::Seed(SeedError::BadRule { index: 1, code, .. }) if code == "InvalidParam.PortRange"),
        "{err}"
    );
}

#[test]
fn a_hand_written_seed_file_fills_in_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.json");
    std::fs::write(&path, r#"{
      "FormatVersion": 1,
      "Groups": [
        {"RegionId": "ap-southeast-1", "SecurityGroupId": "sg-t4nexample01", "SecurityGroupName": "web-prod", "VpcId": "vpc-t4n1",
         "Permissions": [
           {"Direction": "ingress", "IpProtocol": "TCP", "PortRange": "22/22", "SourceCidrIp": "203.0.113.4"},
           {"Direction": "ingress", "IpProtocol": "tcp", "PortRange": "3306/3306", "SourceGroupId": "sg-t4napp000001", "Priority": "110"},
           {"Direction": "egress", "IpProtocol": "ALL", "PortRange": "-1/-1", "Ipv6DestCidrIp": "::/0", "SecurityGroupRuleId": "sgr-fixed0001", "CreateTime": "2024-05-01T08:30:00Z"}
         ]},
        {"RegionId": "ap-southeast-1", "SecurityGroupId": "sg-t4napp000001", "SecurityGroupName": "app"}
      ]}"#).unwrap();
    let p = path.clone();
    let emu = start_with(move |cfg| cfg.state_file = Some(p));
    let mut c = Client::new(emu.addr());
    c.region = "ap-southeast-1".into();
    let rules = rules_of(&c, "sg-t4nexample01");
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0]["SourceCidrIp"], "203.0.113.4/32");
    assert_eq!(rules[0]["Priority"], 1);
    assert_eq!(rules[1]["Priority"], 110);
    assert_eq!(rules[1]["SourceGroupName"], "app");
    assert_eq!(rules[2]["SecurityGroupRuleId"], "sgr-fixed0001");
    assert_eq!(rules[2]["CreateTime"], "2024-05-01T08:30:00Z");
    // The group without a VPC is a classic one: its rules default to internet.
    c.call(
        "AuthorizeSecurityGroup",
        &[
            ("SecurityGroupId", "sg-t4napp000001"),
            ("IpProtocol", "tcp"),
            ("PortRange", "80/80"),
            ("SourceCidrIp", "0.0.0.0/0"),
        ],
    )
    .ok();
    assert_eq!(rules_of(&c, "sg-t4napp000001")[0]["NicType"], "internet");
    // Loading did not rewrite the file; the change just made did.
    let saved = load_state_file(&path).unwrap();
    assert_eq!(saved.groups.len(), 2);
    let example = saved
        .groups
        .iter()
        .find(|g| g.security_group_id == "sg-t4nexample01")
        .unwrap();
    assert_eq!(example.permissions[1].priority, LooseInt(Some(110)));
    assert_eq!(
        example.permissions[1].source_group_id.as_str(),
        "sg-t4napp000001"
    );
}

#[test]
fn seeding_creates_groups_with_explicit_ids_without_signing() {
    let emu = start_with(|_| {});
    let e = emu.emulator();
    e.seed_group(
        SeedGroup::new("cn-shanghai", "sg-uf6demo000001")
            .name("db")
            .vpc_id("vpc-uf6demo")
            .description("seeded")
            .rule(Direction::Ingress, ssh("10.8.0.0/16"))
            .rule(
                Direction::Egress,
                Permission {
                    ip_protocol: LooseString::from("all"),
                    port_range: LooseString::from("-1/-1"),
                    dest_cidr_ip: LooseString::from("0.0.0.0/0"),
                    policy: LooseString::from("Drop"),
                    priority: LooseInt(Some(100)),
                    description: LooseString::from("deny all out"),
                    ..Permission::default()
                },
            ),
    )
    .unwrap();
    assert_eq!(
        e.seed_group(SeedGroup::new("cn-beijing", "sg-uf6demo000001")),
        Err(SeedError::GroupExists {
            id: "sg-uf6demo000001".into()
        })
    );
    assert!(matches!(
        e.seed_group(SeedGroup::new("cn-shanghai", "bad-id")),
        Err(SeedError::BadGroupId { .. })
    ));
    let dup = SeedGroup::new("cn-shanghai", "sg-dup")
        .rule(Direction::Ingress, ssh("10.0.0.0/8"))
        .rule(Direction::Ingress, ssh("10.1.0.0/8"));
    assert_eq!(
        e.seed_group(dup),
        Err(SeedError::DuplicateRule {
            group: "sg-dup".into(),
            first: 1,
            second: 2
        })
    );
    let bad = SeedGroup::new("cn-shanghai", "sg-bad").rule(
        Direction::Ingress,
        Permission {
            ip_protocol: LooseString::from("tcp"),
            ..Permission::default()
        },
    );
    assert!(matches!(
        e.seed_group(bad),
        Err(SeedError::BadRule { index: 1, .. })
    ));

    let mut c = Client::new(emu.addr());
    c.region = "cn-shanghai".into();
    let rules = rules_of(&c, "sg-uf6demo000001");
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[1]["Policy"], "Drop");
    assert_eq!(rules[1]["Direction"], "egress");
    // Several at once: all or none.
    let pair = [
        SeedGroup::new("cn-shanghai", "sg-uf6pair1").vpc_id("vpc-uf6demo"),
        SeedGroup::new("cn-shanghai", "sg-uf6pair1").vpc_id("vpc-uf6demo"),
    ];
    assert!(matches!(
        e.seed_groups(pair),
        Err(SeedError::GroupExists { .. })
    ));
    let v = c.call("DescribeSecurityGroups", &[]).ok();
    assert_eq!(v["TotalCount"], 1, "failed seeds left nothing behind");
    e.seed_groups([
        SeedGroup::new("cn-shanghai", "sg-uf6pair1").vpc_id("vpc-uf6demo"),
        SeedGroup::new("cn-shanghai", "sg-uf6pair2").vpc_id("vpc-uf6demo"),
    ])
    .unwrap();
    let v = c.call("DescribeSecurityGroups", &[]).ok();
    assert_eq!(v["TotalCount"], 3);
    // Seeding is a change like any other: it shows in the snapshot, and a
    // state file written from it reloads to the same thing.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new-dir/s.json");
    e.save_state(&path).unwrap();
    let file = load_state_file(&path).unwrap();
    assert_eq!(file, e.snapshot());
    let other = start_with(|_| {});
    other.emulator().replace_state(&file).unwrap();
    assert_eq!(other.emulator().snapshot(), file);
    save_state_file(&path, &StateFile::default()).unwrap();
    assert!(load_state_file(&path).unwrap().groups.is_empty());
}

#[test]
fn temporary_files_of_an_interrupted_write_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("local-cloud.json");
    // What a process killed between writing and renaming leaves: a whole or
    // half temporary file (its process id is beyond any Linux hands out).
    let stale = dir.path().join(".local-cloud.json.tmp-4294967-12");
    std::fs::write(&stale, "{\"FormatVersion\": 1, \"Gro").unwrap();
    let p = path.clone();
    let emu = start_with(move |cfg| cfg.state_file = Some(p));
    if std::path::Path::new("/proc/self").exists() {
        assert!(!stale.exists(), "the stale temporary file is gone");
    }
    let c = Client::new(emu.addr());
    create_group(&c, "after-restart");
    assert_eq!(load_state_file(&path).unwrap().groups.len(), 1);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
