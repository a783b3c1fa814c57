//! Reading live groups through the client from the emulator over loopback,
//! and exporting them as a policy that plans to no change.

mod common;

use std::time::Duration;

use common::{REGION, client_as, emulator, rule_of as rule, seed_group_raw as seed};
use moat_aliyun::wire::Permission;
use moat_aliyun::{Client, RetryPolicy};
use moat_diff::{DiffOptions, diff};
use moat_emulator::{EmulatorHandle, FaultConfig};
use moat_exec::{GroupRef, ReadError, Reader, list_region_groups, read_groups, render_export};
use moat_policy::{Direction, Peer, PortRange, Protocol, Rule, Verdict};

fn client(handle: &EmulatorHandle, secret: &str) -> Client {
    let retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_elapsed: Duration::from_secs(5),
    };
    client_as(handle, secret, None, retry)
}

fn cidr(s: &str) -> Peer {
    Peer::cidr(s.parse().expect("cidr"))
}

/// Live data a person would make in the console over the years.
fn messy_rules() -> Vec<Rule> {
    let mut out = Vec::new();
    let mut ssh = rule(
        Direction::Ingress,
        Protocol::Tcp,
        PortRange::single(22),
        cidr("203.0.113.0/24"),
    );
    ssh.description = "SSH für das Büro — «office» & VPN; 100% ✓ \"quoted\" #hash: yes".into();
    out.push(ssh);
    let mut v6 = rule(
        Direction::Ingress,
        Protocol::Tcp,
        PortRange::single(443),
        cidr("2001:db8:0:0:0:0:0:0/32"),
    );
    v6.priority = 7;
    out.push(v6);
    out.push(rule(
        Direction::Ingress,
        Protocol::Tcp,
        PortRange::single(3306),
        Peer::Group {
            id: "sg-bpexecpeer01".into(),
            owner: None,
        },
    ));
    out.push(rule(
        Direction::Ingress,
        Protocol::Udp,
        PortRange::Range {
            from: 8000,
            to: 8080,
        },
        Peer::PrefixList {
            id: "pl-execlist01".into(),
        },
    ));
    let mut drop = rule(
        Direction::Ingress,
        Protocol::Tcp,
        PortRange::single(23),
        cidr("0.0.0.0/0"),
    );
    drop.key.verdict = Verdict::Drop;
    drop.priority = 100;
    out.push(drop);
    let mut icmp = rule(
        Direction::Ingress,
        Protocol::Icmp,
        PortRange::NotApplicable,
        cidr("10.0.0.0/8"),
    );
    icmp.priority = 42;
    out.push(icmp);
    let mut egress = rule(
        Direction::Egress,
        Protocol::All,
        PortRange::NotApplicable,
        cidr("::/0"),
    );
    egress.description = "all out".into();
    out.push(egress);
    out
}

#[tokio::test]
async fn reads_groups_concurrently_and_names_missing_ones() {
    let handle = emulator(FaultConfig::default(), 11);
    seed(&handle, "sg-bpexecpeer01", &[], Vec::new());
    seed(&handle, "sg-bpexecweb001", &messy_rules(), Vec::new());
    let c = client(&handle, common::KEY_SECRET);
    let wanted = [
        GroupRef::new("sg-bpexecweb001", REGION),
        GroupRef::new("sg-bpexecnone01", REGION),
        GroupRef::new("sg-bpexecpeer01", REGION),
        GroupRef::new("sg-bpexecweb001", REGION),
    ];
    let reader = Reader::new(c.read_only());
    let state = read_groups(&reader, &wanted, 4).await.expect("read");
    let ids: Vec<&str> = state.groups.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["sg-bpexecweb001", "sg-bpexecpeer01"]);
    assert_eq!(state.missing, [GroupRef::new("sg-bpexecnone01", REGION)]);
    assert_eq!(state.groups[0].rules.len(), messy_rules().len());
    assert_eq!(state.groups[0].name, "sg-bpexecweb001-name");
    // One page per existing group, one failed call for the missing one;
    // the reader counted the same.
    assert_eq!(state.calls, 3);
    assert_eq!(reader.counts().reads, 3);
}

#[tokio::test]
async fn a_group_that_cannot_be_read_fails_the_whole_read() {
    let handle = emulator(FaultConfig::default(), 11);
    seed(&handle, "sg-bpexecweb001", &messy_rules(), Vec::new());
    let c = client(&handle, "the wrong secret");
    let err = read_groups(
        &Reader::new(c.read_only()),
        &[GroupRef::new("sg-bpexecweb001", REGION)],
        4,
    )
    .await
    .expect_err("a wrong secret cannot read");
    let ReadError::Groups { first, failures } = &err else {
        panic!("unexpected error {err:?}");
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(first.source.code(), Some("SignatureDoesNotMatch"));
    let chain = format!("{err}: {}", first);
    assert!(
        chain.contains("sg-bpexecweb001 in region cn-hangzhou"),
        "{chain}"
    );
}

#[tokio::test]
async fn export_of_messy_live_data_plans_to_no_change() {
    let handle = emulator(FaultConfig::default(), 11);
    seed(&handle, "sg-bpexecpeer01", &[], Vec::new());
    let port_list = Permission {
        ip_protocol: "TCP".into(),
        port_range_list_id: "prl-execports1".into(),
        source_cidr_ip: "198.51.100.0/24".into(),
        policy: "Accept".into(),
        priority: moat_aliyun::wire::LooseInt(Some(5)),
        description: "managed by the console".into(),
        ..Permission::default()
    };
    // The API writes IPv6 as it was given, here uncompressed and in capitals.
    let uncompressed = Permission {
        ip_protocol: "UDP".into(),
        port_range: "53/53".into(),
        ipv6_source_cidr_ip: "2001:0DB8:00AA:0000:0000:0000:0000:0000/48".into(),
        policy: "accept".into(),
        priority: moat_aliyun::wire::LooseInt(Some(3)),
        ..Permission::default()
    };
    seed(
        &handle,
        "sg-bpexecweb001",
        &messy_rules(),
        vec![port_list, uncompressed],
    );
    let reader = client(&handle, common::KEY_SECRET).read_only();

    let all = list_region_groups(&reader).await.expect("list");
    assert_eq!(
        all,
        [
            GroupRef::new("sg-bpexecpeer01", REGION),
            GroupRef::new("sg-bpexecweb001", REGION)
        ]
    );
    let live = read_groups(&Reader::new(reader), &all, 4)
        .await
        .expect("read")
        .groups;
    assert_eq!(
        live[1].unmodeled.len(),
        1,
        "the port-list rule is unmodeled"
    );

    let text = render_export(&live).expect("export renders");
    assert!(
        text.contains("prl-execports1"),
        "unmodeled rules are named:\n{text}"
    );
    assert!(text.contains("für das Büro"), "descriptions kept:\n{text}");
    assert!(text.contains("2001:db8:aa::/48"), "IPv6 canonical:\n{text}");
    let set = moat_policy::load_policy_str("exported.yaml", &text)
        .unwrap_or_else(|d| panic!("the export loads: {d:?}\n{text}"));
    let today = jiff::civil::date(2026, 11, 25);
    let plan = diff(&set, &live, &DiffOptions::new(today));
    assert!(!plan.has_changes(), "{}", plan.to_json());
    assert_eq!(plan.summary().to_string(), "No changes.");
}
