//! Golden snapshots of answers a client sees, in a pinned environment
//! (fixed clock, fixed id seed). Bless with `MOAT_BLESS=1`.

use moat_emulator::{Direction, SeedGroup};
use moat_testkit::assert_golden;
use moat_wire::{LooseInt, LooseString, Permission};

use crate::support::{Client, start_pinned, test_sign};

fn golden_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn pretty(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    serde_json::to_string_pretty(&v).unwrap() + "\n"
}

fn rule(fields: &[(&str, &str)]) -> Permission {
    let mut v = serde_json::Map::new();
    for (k, val) in fields {
        v.insert((*k).to_owned(), serde_json::Value::from(*val));
    }
    serde_json::from_value(serde_json::Value::Object(v)).unwrap()
}

fn seed_web_group(emu: &moat_emulator::EmulatorHandle) {
    let e = emu.emulator();
    e.seed_group(
        SeedGroup::new("ap-southeast-1", "sg-t4napp000001")
            .name("app-prod")
            .vpc_id("vpc-t4nexample"),
    )
    .unwrap();
    e.seed_group(
        SeedGroup::new("ap-southeast-1", "sg-t4nexample01")
            .name("web-prod")
            .description("web tier")
            .vpc_id("vpc-t4nexample")
            .rule(
                Direction::Ingress,
                rule(&[
                    ("IpProtocol", "tcp"),
                    ("PortRange", "22/22"),
                    ("SourceCidrIp", "203.0.113.4/32"),
                    ("Description", "SSH from office"),
                ]),
            )
            .rule(
                Direction::Ingress,
                rule(&[
                    ("IpProtocol", "tcp"),
                    ("PortRange", "443/443"),
                    ("SourceCidrIp", "0.0.0.0/0"),
                ]),
            )
            .rule(
                Direction::Ingress,
                rule(&[
                    ("IpProtocol", "tcp"),
                    ("PortRange", "443/443"),
                    ("Ipv6SourceCidrIp", "::/0"),
                ]),
            )
            .rule(
                Direction::Ingress,
                rule(&[
                    ("IpProtocol", "tcp"),
                    ("PortRange", "3306/3306"),
                    ("SourceGroupId", "sg-t4napp000001"),
                    ("Description", "mysql from app"),
                ]),
            )
            .rule(
                Direction::Ingress,
                rule(&[
                    ("IpProtocol", "tcp"),
                    ("PortRange", "23/23"),
                    ("SourceCidrIp", "0.0.0.0/0"),
                    ("Policy", "drop"),
                ]),
            )
            .rule(
                Direction::Egress,
                Permission {
                    ip_protocol: LooseString::from("all"),
                    port_range: LooseString::from("-1/-1"),
                    dest_cidr_ip: LooseString::from("0.0.0.0/0"),
                    priority: LooseInt(Some(100)),
                    ..Permission::default()
                },
            ),
    )
    .unwrap();
}

#[test]
fn describe_security_group_attribute_answer() {
    let (emu, mut c) = start_pinned();
    c.region = "ap-southeast-1".into();
    seed_web_group(&emu);
    let r = c.call(
        "DescribeSecurityGroupAttribute",
        &[("SecurityGroupId", "sg-t4nexample01"), ("MaxResults", "10")],
    );
    assert_eq!(r.status, 200);
    assert_golden(
        golden_path("describe_security_group_attribute.json"),
        &pretty(&r.body),
    );
}

#[test]
fn describe_security_groups_answer() {
    let (emu, mut c) = start_pinned();
    c.region = "ap-southeast-1".into();
    seed_web_group(&emu);
    let r = c.call("DescribeSecurityGroups", &[("MaxResults", "1")]);
    assert_eq!(r.status, 200);
    assert_golden(
        golden_path("describe_security_groups.json"),
        &pretty(&r.body),
    );
}

#[test]
fn error_answers() {
    let (_emu, c) = start_pinned();
    let r = c.call(
        "DescribeSecurityGroupAttribute",
        &[("SecurityGroupId", "sg-doesnotexist01")],
    );
    assert_eq!(r.status, 404);
    let mut out = pretty(&r.body);

    // A wrong secret, with every signed parameter fixed so that the server's
    // string to sign is stable.
    let mut params: Vec<(String, String)> = [
        ("Action", "DescribeSecurityGroups"),
        ("Version", "2014-05-26"),
        ("Format", "JSON"),
        ("AccessKeyId", crate::support::KEY_ID),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "9b505f1d837057e6ef49857f8add0f49"),
        ("Timestamp", "2026-01-01T00:00:00Z"),
        ("RegionId", "cn-hangzhou"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let (sig, _) = test_sign("POST", &params, "wrong-secret");
    params.push(("Signature".into(), sig));
    let r = Client::send(&c, &params).unwrap();
    assert_eq!(r.status, 400);
    out.push_str(&pretty(&r.body));
    assert_golden(golden_path("errors.json"), &out);
}

#[test]
fn state_file_format() {
    let (emu, _c) = start_pinned();
    seed_web_group(&emu);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    emu.emulator().save_state(&path).unwrap();
    assert_golden(
        golden_path("state_file.json"),
        &std::fs::read_to_string(&path).unwrap(),
    );
}
