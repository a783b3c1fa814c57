//! Each kind of problem an import can meet, as a typed, located error.

mod common;

use common::{options, read};
use moat_interchange::{
    At, ErrorKind, ImportErrors, import_csv, import_ros, import_terraform, render_migration,
};
use serde_json::{Value, json};

fn kinds(result: Result<moat_interchange::Imported, ImportErrors>) -> Vec<(At, ErrorKind)> {
    match result {
        Ok(_) => panic!("imported"),
        Err(e) => e.0.into_iter().map(|e| (e.location.at, e.kind)).collect(),
    }
}

/// The state fixture with its instances' attributes changed by `edit`.
fn state_with(edit: impl Fn(&mut Value)) -> String {
    let mut s: Value = serde_json::from_str(&read("terraform/state-v4.tfstate")).expect("json");
    edit(&mut s);
    s.to_string()
}

fn attrs<'a>(s: &'a mut Value, name: &str, instance: usize) -> &'a mut Value {
    let resources = s["resources"].as_array_mut().expect("resources");
    let r = resources
        .iter_mut()
        .find(|r| r["name"] == name)
        .expect("resource");
    &mut r["instances"][instance]["attributes"]
}

const HZ: Option<&str> = Some("cn-hangzhou");

#[test]
fn terraform_problems() {
    // A rule defined twice with different descriptions.
    let text = state_with(|s| {
        let a = attrs(s, "office_ssh", 1);
        a["cidr_ip"] = json!("203.0.113.0/28");
        a["description"] = json!("other");
    });
    let k = kinds(import_terraform("s", &text, &options(HZ, &[])));
    assert!(
        matches!(&k[..], [(At::Pointer(p), ErrorKind::ConflictingRule { other, .. })]
        if p == "/resources/3/instances/1/attributes" && other == "alicloud_security_group_rule.office_ssh[0]"),
        "{k:?}"
    );

    // The same rule twice is one rule, and both resources move.
    let text = state_with(|s| {
        attrs(s, "office_ssh", 1)["cidr_ip"] = json!("203.0.113.0/28");
    });
    let imported = import_terraform("s", &text, &options(HZ, &[])).expect("imports");
    assert_eq!(imported.rule_count(), 10);
    let migration = render_migration(&imported).expect("migration");
    assert!(
        migration.contains("'alicloud_security_group_rule.office_ssh[1]'"),
        "{migration}"
    );

    // A bad CIDR and a port range on ICMP at once: both, in file order.
    let text = state_with(|s| {
        attrs(s, "icmp", 0)["port_range"] = json!("8/8");
        attrs(s, "web_https", 0)["cidr_ip"] = json!("0.0.0.0/33");
    });
    let k = kinds(import_terraform("s", &text, &options(HZ, &[])));
    assert!(
        matches!(
            &k[..],
            [
                (_, ErrorKind::Cidr { .. }),
                (_, ErrorKind::PortsOnProtocol { .. })
            ]
        ),
        "{k:?}"
    );

    // IPv6 in cidr_ip.
    let text = state_with(|s| {
        attrs(s, "web_https", 0)["cidr_ip"] = json!("2001:db8::/32");
    });
    let k = kinds(import_terraform("s", &text, &options(HZ, &[])));
    assert!(
        matches!(
            &k[..],
            [(
                _,
                ErrorKind::Family {
                    expected: "IPv4",
                    ..
                }
            )]
        ),
        "{k:?}"
    );

    // No region anywhere.
    let k = kinds(import_terraform(
        "s",
        &read("terraform/state-v4.tfstate"),
        &options(None, &[]),
    ));
    assert!(
        k.iter()
            .all(|(_, e)| matches!(e, ErrorKind::NoRegion { .. }))
            && k.len() == 2,
        "{k:?}"
    );

    // A group type the provider never writes.
    let k = kinds(import_terraform(
        "s",
        &state_with(|s| attrs(s, "web", 0)["security_group_type"] = json!("advanced")),
        &options(HZ, &[]),
    ));
    assert!(
        matches!(&k[..], [(At::Pointer(p), ErrorKind::UnknownValue { field, value, .. })]
            if p == "/resources/0/instances/0/attributes/security_group_type"
                && field == "security_group_type" && value == "advanced"),
        "{k:?}"
    );

    // A saved plan whose rule's group is created by the same plan.
    let mut plan: Value = serde_json::from_str(&read("terraform/show-plan.json")).expect("json");
    plan["planned_values"]["root_module"]["resources"][0]["values"]
        .as_object_mut()
        .expect("values")
        .remove("security_group_id");
    let k = kinds(import_terraform(
        "p",
        &plan.to_string(),
        &options(None, &[]),
    ));
    assert!(
        matches!(&k[..], [(_, ErrorKind::Unknown { field })] if field == "security_group_id"),
        "{k:?}"
    );

    // `terraform show -json` of another major version.
    let k = kinds(import_terraform(
        "p",
        r#"{"format_version":"2.0"}"#,
        &options(None, &[]),
    ));
    assert!(
        matches!(&k[..], [(_, ErrorKind::ShowFormatVersion { .. })]),
        "{k:?}"
    );

    // An empty state has nothing to import.
    let k = kinds(import_terraform(
        "p",
        r#"{"format_version":"1.0"}"#,
        &options(None, &[]),
    ));
    assert!(
        matches!(&k[..], [(At::Whole, ErrorKind::NothingToImport { .. })]),
        "{k:?}"
    );
}

#[test]
fn ros_problems() {
    let template = read("ros/template.json").replace(
        r#""SourceCidrIp": "10.0.0.0/8""#,
        r#""SourceCidrIp": {"Fn::Join": ["/", ["10.0.0.0", "8"]]}"#,
    );
    let k = kinds(import_ros(
        "t.json",
        &template,
        &options(HZ, &[("WebSg", "sg-bp1web0000000000001")]),
    ));
    assert!(
        matches!(&k[..], [(At::LineCol { .. }, ErrorKind::Function { field, function })]
        if field == "SourceCidrIp" && function == "Fn::Join"),
        "{k:?}"
    );

    let k = kinds(import_ros(
        "t.json",
        r#"{"Resources": {}}"#,
        &options(HZ, &[]),
    ));
    assert!(matches!(&k[..], [(_, ErrorKind::NotRos { .. })]), "{k:?}");
    let k = kinds(import_ros(
        "t.yaml",
        "ROSTemplateFormatVersion: '2010-09-09'\nResources: {}\n",
        &options(HZ, &[]),
    ));
    assert!(
        matches!(
            &k[..],
            [(At::LineCol { line: 1, .. }, ErrorKind::RosVersion { .. })]
        ),
        "{k:?}"
    );
    let k = kinds(import_ros("t.yaml", "a: [\n", &options(HZ, &[])));
    assert!(matches!(&k[..], [(_, ErrorKind::Yaml { .. })]), "{k:?}");
}

#[test]
fn csv_problems() {
    let header = "group_id,region,direction,action,protocol,ports,peer,priority,description\n";
    let csv = |rows: &str| import_csv("w.csv", &format!("{header}{rows}"), &options(None, &[]));
    let k = kinds(import_csv(
        "w.csv",
        "group_id,region,direction,action,protocol,ports,peer,priority,description,owner\n",
        &options(None, &[]),
    ));
    assert!(
        matches!(
            &k[..],
            [(
                At::Cell {
                    row: 1,
                    column: 10,
                    ..
                },
                ErrorKind::UnknownColumn { .. }
            )]
        ),
        "{k:?}"
    );
    let k = kinds(import_csv(
        "w.csv",
        "group_id,region,direction,action,protocol,ports,peer,priority,peer\n",
        &options(None, &[]),
    ));
    assert!(
        matches!(&k[..], [(_, ErrorKind::DuplicateColumn { .. })]),
        "{k:?}"
    );
    let k = kinds(csv(
        "sg-bp1a,cn-hangzhou,ingress,accept,tcp,,10.0.0.0/8,,\n",
    ));
    assert!(
        matches!(
            &k[..],
            [(
                At::Cell {
                    row: 2,
                    column: 6,
                    ..
                },
                ErrorKind::NoPorts { .. }
            )]
        ),
        "{k:?}"
    );
    let k = kinds(csv(
        "sg-bp1a,cn-hangzhou,ingress,accept,icmp,,2001:db8::/32,,\n",
    ));
    assert!(
        matches!(&k[..], [(_, ErrorKind::FamilyMismatch { .. })]),
        "{k:?}"
    );
    let k = kinds(csv(
        "sg-bp1a,cn-hangzhou,ingress,allow,tcp,22,10.0.0.0/8,,\n",
    ));
    assert!(
        matches!(
            &k[..],
            [(At::Cell { column: 4, .. }, ErrorKind::UnknownValue { .. })]
        ),
        "{k:?}"
    );
    let k = kinds(csv(
        "sg-bp1a,cn-hangzhou,ingress,accept,tcp,22,10.0.0.0/8,101,\n",
    ));
    assert!(
        matches!(
            &k[..],
            [(At::Cell { column: 8, .. }, ErrorKind::Priority { .. })]
        ),
        "{k:?}"
    );
    let k = kinds(csv(
        "sg-bp1a,cn-hangzhou,ingress,accept,tcp,22,10.0.0.0/8,,\nsg-bp1a,cn-shanghai,ingress,accept,tcp,23,10.0.0.0/8,,\n",
    ));
    assert!(
        matches!(&k[..], [(At::Row(3), ErrorKind::TwoRegions { .. })]),
        "{k:?}"
    );
    let k = kinds(csv("sg-bp1a,cn-hangzhou,ingress,accept,tcp,22,sg-bp1a,,\n"));
    assert!(
        matches!(&k[..], [(_, ErrorKind::SelfReference { .. })]),
        "{k:?}"
    );
    let k = kinds(csv("sg-bp1a,cn-hangzhou,ingress,accept,tcp,22\n"));
    assert!(matches!(&k[..], [(At::Row(2), ErrorKind::Csv(_))]), "{k:?}");
    let k = kinds(csv(""));
    assert!(
        matches!(&k[..], [(_, ErrorKind::NothingToImport { .. })]),
        "{k:?}"
    );
    let k = kinds(csv("sg-bp1a,,ingress,accept,tcp,22,10.0.0.0/8,,\n"));
    assert!(
        matches!(
            &k[..],
            [(At::Cell { column: 2, .. }, ErrorKind::Missing { .. })]
        ),
        "{k:?}"
    );
    assert!(
        import_csv(
            "w.csv",
            &format!("{header}sg-bp1a,,ingress,accept,tcp,22,10.0.0.0/8,,\n"),
            &options(HZ, &[])
        )
        .is_ok()
    );
}

#[test]
fn ros_yaml_short_form_functions_read_as_their_long_form() {
    let t = "ROSTemplateFormatVersion: '2015-09-01'\nParameters:\n  Bastion:\n    Type: String\n    Default: 192.0.2.0/24\nResources:\n  R:\n    Type: ALIYUN::ECS::SecurityGroupIngress\n    Properties:\n      SecurityGroupId: sg-bp1a\n      IpProtocol: tcp\n      PortRange: 22/22\n      SourceCidrIp: !Ref Bastion\n  S:\n    Type: ALIYUN::ECS::SecurityGroupIngress\n    Properties:\n      SecurityGroupId: sg-bp1a\n      IpProtocol: tcp\n      PortRange: 80/80\n      SourceGroupId: !GetAtt Web.SecurityGroupId\n";
    let imported = import_ros("t.yaml", t, &options(HZ, &[("Web", "sg-bp1web")])).expect("imports");
    assert_eq!(imported.rule_count(), 2);
    let k = kinds(import_ros("t.yaml", t, &options(HZ, &[])));
    assert!(
        matches!(&k[..], [(At::LineCol { line: 20, .. }, ErrorKind::Unresolved { function: "Fn::GetAtt", target, .. })] if target == "Web"),
        "{k:?}"
    );
}
