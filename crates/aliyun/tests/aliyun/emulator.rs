//! The client against the in-process emulator over loopback: every action,
//! paging of a large group, each error class, retries under injected faults
//! (counted by the emulator's statistics), timeouts and the rate limit.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moat_aliyun::wire::Permission;
use moat_aliyun::{
    AttemptLog, CallErrorKind, Client, ClientConfig, ClientToken, Credentials, GroupFilter,
    NewGroup, RetryPolicy,
};
use moat_emulator::{AccessKey, EmulatorConfig, EmulatorHandle, FaultConfig, SeedGroup};
use moat_policy::model::{Direction, NicType, Peer, PortRange, Protocol, Rule, RuleKey, Verdict};

pub const REGION: &str = "cn-hangzhou";
pub const KEY_ID: &str = "LTAI5tClientTestKey01";
pub const KEY_SECRET: &str = "client-test-secret";

pub fn emulator(tweak: impl FnOnce(&mut EmulatorConfig)) -> EmulatorHandle {
    let mut config = EmulatorConfig {
        access_keys: vec![AccessKey::new(KEY_ID, KEY_SECRET)],
        id_seed: Some(7),
        ..EmulatorConfig::default()
    };
    tweak(&mut config);
    moat_emulator::start(config).expect("the emulator starts on loopback")
}

pub fn config(handle: &EmulatorHandle, credentials: Credentials) -> ClientConfig {
    let mut c = ClientConfig::with_credentials(REGION, credentials);
    c.endpoint = Some(handle.endpoint());
    c.max_rps = None;
    c.timeout = Duration::from_secs(5);
    c.retry = RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(20),
    };
    c
}

pub fn client(handle: &EmulatorHandle) -> Client {
    Client::new(&config(handle, Credentials::access_key(KEY_ID, KEY_SECRET))).expect("config")
}

fn token(s: &str) -> ClientToken {
    ClientToken::new(s).expect("valid token")
}

fn rule(direction: Direction, protocol: Protocol, ports: PortRange, peer: Peer) -> Rule {
    Rule {
        key: RuleKey {
            direction,
            protocol,
            ports,
            peer,
            verdict: Verdict::Accept,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        },
        priority: 1,
        description: String::new(),
    }
}

fn cidr(s: &str) -> Peer {
    Peer::cidr(s.parse().expect("cidr"))
}

async fn new_group(client: &Client, name: &str) -> String {
    let group = NewGroup {
        name: name.into(),
        description: Some(format!("{name} tier")),
        vpc_id: Some("vpc-test".into()),
        group_type: None,
    };
    client
        .create_security_group(&group, &token(&format!("create-{name}")))
        .await
        .expect("create")
        .value
}

#[tokio::test]
async fn every_action_round_trips() {
    let handle = emulator(|_| {});
    let client = client(&handle);
    let web = new_group(&client, "web").await;
    let app = new_group(&client, "app").await;

    let listed = client
        .describe_security_groups(&GroupFilter::default())
        .await
        .expect("list");
    let names: BTreeSet<&str> = listed.value.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["app", "web"]));
    let only_web = client
        .describe_security_groups(&GroupFilter {
            ids: vec![web.clone()],
            ..GroupFilter::default()
        })
        .await
        .expect("filtered list");
    assert_eq!(only_web.value.len(), 1);
    assert_eq!(only_web.value[0].vpc_id, "vpc-test");

    let mut ssh = rule(
        Direction::Ingress,
        Protocol::Tcp,
        PortRange::single(22),
        cidr("10.8.0.0/16"),
    );
    ssh.description = "ssh from vpn".into();
    let ingress = vec![
        ssh.clone(),
        rule(
            Direction::Ingress,
            Protocol::Icmpv6,
            PortRange::NotApplicable,
            cidr("2001:db8::/32"),
        ),
        rule(
            Direction::Ingress,
            Protocol::Tcp,
            PortRange::single(3306),
            Peer::group(app.clone()),
        ),
    ];
    let egress = vec![rule(
        Direction::Egress,
        Protocol::All,
        PortRange::NotApplicable,
        cidr("0.0.0.0/0"),
    )];
    let done = client
        .authorize(&web, Direction::Ingress, &ingress, &token("add-in"))
        .await
        .expect("authorize ingress");
    assert!(!done.request_id().is_empty());
    client
        .authorize(&web, Direction::Egress, &egress, &token("add-out"))
        .await
        .expect("authorize egress");

    let read = client.read_only();
    let live = read
        .describe_security_group_attribute(&web, None)
        .await
        .expect("read");
    assert_eq!(live.value.name, "web");
    assert!(
        live.value.unmodeled.is_empty(),
        "{:?}",
        live.value.unmodeled
    );
    let got: BTreeSet<&Rule> = live.value.rules.iter().map(|l| &l.rule).collect();
    let want: BTreeSet<&Rule> = ingress.iter().chain(&egress).collect();
    assert_eq!(
        got, want,
        "what was authorized reads back in canonical form"
    );

    // Modify priority and description in place, by rule id, both directions.
    let id_of = |rules: &[moat_policy::model::LiveRule], key: &RuleKey| {
        rules
            .iter()
            .find(|l| &l.rule.key == key)
            .map(|l| l.id.clone())
            .expect("rule present")
    };
    let ssh_id = id_of(&live.value.rules, &ssh.key);
    let out_id = id_of(&live.value.rules, &egress[0].key);
    let mut ssh2 = ssh.clone();
    ssh2.priority = 5;
    ssh2.description = "ssh from vpn, ticket OPS-1".into();
    client
        .modify_rule(&web, &ssh_id, &ssh2, &token("mod-in"))
        .await
        .expect("modify ingress");
    let mut out2 = egress[0].clone();
    out2.priority = 50;
    out2.description = "all out".into();
    client
        .modify_rule(&web, &out_id, &out2, &token("mod-out"))
        .await
        .expect("modify egress");
    let live = read
        .describe_security_group_attribute(&web, None)
        .await
        .expect("read");
    let got: BTreeSet<&Rule> = live.value.rules.iter().map(|l| &l.rule).collect();
    assert!(got.contains(&ssh2) && got.contains(&out2), "{got:#?}");

    // Revoke by id; a second revoke of the same id finds it already absent.
    let revoked = client
        .revoke(
            &web,
            Direction::Ingress,
            std::slice::from_ref(&ssh_id),
            &token("rm-in"),
        )
        .await
        .expect("revoke");
    assert_eq!(revoked.value.revoked, std::slice::from_ref(&ssh_id));
    let again = client
        .revoke(
            &web,
            Direction::Ingress,
            std::slice::from_ref(&ssh_id),
            &token("rm-in-2"),
        )
        .await
        .expect("already absent is done");
    assert_eq!(again.value.already_absent, std::slice::from_ref(&ssh_id));
    let gone = client
        .revoke(
            &web,
            Direction::Egress,
            &[out_id.clone(), "sgr-never".into()],
            &token("rm-out"),
        )
        .await
        .expect("egress revoke");
    assert_eq!(gone.value.revoked, [out_id]);
    assert_eq!(gone.value.already_absent, ["sgr-never"]);

    let ingress_only = read
        .describe_security_group_attribute(&web, Some(Direction::Ingress))
        .await
        .expect("read ingress");
    assert_eq!(ingress_only.value.rules.len(), 2);
    assert!(
        ingress_only
            .value
            .rules
            .iter()
            .all(|l| l.rule.key.direction == Direction::Ingress)
    );
    let egress_only = read
        .describe_security_group_attribute(&web, Some(Direction::Egress))
        .await
        .expect("read egress");
    assert!(egress_only.value.rules.is_empty());

    client
        .delete_security_group(&web)
        .await
        .expect("delete web");
    let e = read
        .describe_security_group_attribute(&web, None)
        .await
        .unwrap_err();
    assert!(e.is_group_not_found(), "{e:?}");

    let stats = handle.emulator().stats();
    for action in [
        "CreateSecurityGroup",
        "AuthorizeSecurityGroup",
        "AuthorizeSecurityGroupEgress",
        "ModifySecurityGroupRule",
        "ModifySecurityGroupEgressRule",
        "RevokeSecurityGroup",
        "RevokeSecurityGroupEgress",
        "DeleteSecurityGroup",
        "DescribeSecurityGroups",
        "DescribeSecurityGroupAttribute",
    ] {
        assert!(stats.ok(action) >= 1, "{action}: {stats:?}");
    }
}

#[tokio::test]
async fn a_group_of_2500_rules_is_read_page_by_page_each_rule_once() {
    let handle = emulator(|c| c.rules_per_group = 3000);
    let mut seed = SeedGroup::new(REGION, "sg-big0000001")
        .name("big")
        .vpc_id("vpc-big");
    for i in 0..2500u32 {
        let (direction, peer_field) = if i % 5 == 0 {
            (moat_emulator::Direction::Egress, "DestCidrIp")
        } else {
            (moat_emulator::Direction::Ingress, "SourceCidrIp")
        };
        let port = 1 + i;
        let mut p: Permission = serde_json::from_value(serde_json::json!({
            "IpProtocol": "tcp", "PortRange": format!("{port}/{port}"), "Policy": "accept",
            "Priority": 1 + (i % 100), "NicType": "intranet",
        }))
        .expect("a permission");
        let net = format!("10.{}.{}.0/24", i / 256, i % 256);
        match peer_field {
            "DestCidrIp" => p.dest_cidr_ip = net.into(),
            _ => p.source_cidr_ip = net.into(),
        }
        seed = seed.rule(direction, p);
    }
    handle.emulator().seed_group(seed).expect("seed");
    handle.emulator().reset_stats();

    let read = client(&handle).read_only();
    let live = read
        .describe_security_group_attribute("sg-big0000001", None)
        .await
        .expect("a complete read");
    assert_eq!(live.value.rules.len(), 2500);
    assert!(live.value.unmodeled.is_empty());
    let ids: HashSet<&str> = live.value.rules.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids.len(), 2500, "every rule exactly once");
    let ports: HashSet<PortRange> = live.value.rules.iter().map(|l| l.rule.key.ports).collect();
    assert_eq!(ports.len(), 2500);
    assert_eq!(live.calls.len(), 3, "1000 rules a page");
    assert_eq!(
        handle
            .emulator()
            .stats()
            .ok("DescribeSecurityGroupAttribute"),
        3
    );

    let egress = read
        .describe_security_group_attribute("sg-big0000001", Some(Direction::Egress))
        .await
        .expect("egress only");
    assert_eq!(egress.value.rules.len(), 500);
}

/// Regression: a classic-network group answers only its internet rules
/// unless asked for intranet ones, and reading it once missed the rest.
#[tokio::test]
async fn a_classic_group_is_read_for_both_nic_types() {
    let handle = emulator(|_| {});
    let permission = |nic: &str, port: u32| -> Permission {
        serde_json::from_value(serde_json::json!({
            "IpProtocol": "tcp", "PortRange": format!("{port}/{port}"), "Policy": "accept",
            "Priority": 1, "NicType": nic, "SourceCidrIp": "10.0.0.0/8",
        }))
        .expect("a permission")
    };
    let seed = SeedGroup::new(REGION, "sg-classic0001")
        .name("classic")
        .rule(
            moat_emulator::Direction::Ingress,
            permission("internet", 80),
        )
        .rule(
            moat_emulator::Direction::Ingress,
            permission("intranet", 22),
        );
    handle.emulator().seed_group(seed).expect("seed");
    let live = client(&handle)
        .describe_security_group_attribute("sg-classic0001", None)
        .await
        .expect("read");
    let mut nics: Vec<NicType> = live
        .value
        .rules
        .iter()
        .map(|l| l.rule.key.nic_type)
        .collect();
    nics.sort();
    assert_eq!(nics, [NicType::Intranet, NicType::Internet]);
    assert_eq!(live.calls.len(), 2);
}

#[tokio::test]
async fn retries_ride_out_injected_faults_and_each_attempt_reaches_the_emulator() {
    let handle = emulator(|c| {
        c.faults = FaultConfig {
            throttle_rate: 0.15,
            error_rate: 0.2,
            drop_rate: 0.15,
            seed: Some(42),
            ..FaultConfig::default()
        };
    });
    let client = client(&handle);
    let group = new_group(&client, "faulty").await;
    handle.emulator().reset_stats();
    let log = Arc::new(AttemptLog::new());
    let client = client.with_observer(log.clone());
    let calls = 30u16;
    for i in 0..calls {
        let r = rule(
            Direction::Ingress,
            Protocol::Tcp,
            PortRange::single(8000 + i),
            cidr("10.0.0.0/8"),
        );
        client
            .authorize(
                &group,
                Direction::Ingress,
                &[r],
                &token(&format!("add-{i}")),
            )
            .await
            .expect("retries get every call through");
    }
    let live = client
        .describe_security_group_attribute(&group, None)
        .await
        .expect("read");
    assert_eq!(live.value.rules.len(), usize::from(calls), "each rule once");

    // Read the counts as a benchmark or an operator would: over HTTP.
    // Plain http, but reqwest's TLS comes with no crypto provider of its
    // own in this workspace, so even this client is handed a configuration.
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .expect("http client");
    let stats: moat_emulator::Stats = http
        .get(format!("{}/_emulator/stats", handle.endpoint()))
        .send()
        .await
        .expect("stats endpoint")
        .text()
        .await
        .map(|body| serde_json::from_str(&body).expect("stats JSON"))
        .expect("stats body");
    let attempts = log
        .records()
        .iter()
        .filter(|r| r.action.as_str() == "AuthorizeSecurityGroup")
        .count() as u64;
    assert!(
        stats.errors("AuthorizeSecurityGroup") > 0,
        "faults were injected: {stats:?}"
    );
    assert!(attempts > u64::from(calls), "some calls were retried");
    // Every attempt, dropped connections included, was seen by the emulator.
    assert_eq!(
        stats.ok("AuthorizeSecurityGroup") + stats.errors("AuthorizeSecurityGroup"),
        attempts,
        "{stats:?}"
    );
}

#[tokio::test]
async fn each_error_class_surfaces_with_its_code() {
    let handle = emulator(|c| c.rules_per_group = 3);
    let good = client(&handle);
    let group = new_group(&good, "small").await;
    let one = |port| {
        rule(
            Direction::Ingress,
            Protocol::Tcp,
            PortRange::single(port),
            cidr("10.0.0.0/8"),
        )
    };

    // Authentication failures are clear and not retried.
    let wrong = Client::new(&config(
        &handle,
        Credentials::access_key(KEY_ID, "not-the-secret"),
    ))
    .expect("config");
    let e = wrong
        .describe_security_group_attribute(&group, None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code(), e.attempts),
        (Some(400), Some("SignatureDoesNotMatch"), 1)
    );
    assert!(e.request_id().is_some());
    let unknown = Client::new(&config(
        &handle,
        Credentials::access_key("LTAI-unknown", "x"),
    ))
    .expect("config");
    let e = unknown.delete_security_group(&group).await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidAccessKeyId.NotFound"));
    assert!(!e.is_retryable());
    let text = format!("{}: {}", e, std::error::Error::source(&e).expect("cause"));
    assert!(
        text.starts_with("DeleteSecurityGroup on ") && text.contains("InvalidAccessKeyId.NotFound"),
        "{text}"
    );

    // A missing group.
    let e = good
        .describe_security_group_attribute("sg-missing0001", None)
        .await
        .unwrap_err();
    assert!(e.is_group_not_found() && !e.is_retryable());
    assert_eq!(e.status(), Some(404));

    // The quota of rules per group.
    let rules: Vec<Rule> = (1..=4).map(one).collect();
    let e = good
        .authorize(&group, Direction::Ingress, &rules, &token("too-many"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AuthorizationLimitExceed"));
    assert_eq!(e.attempts, 1);

    // Server errors are retried until the policy gives up.
    handle
        .emulator()
        .set_faults(FaultConfig {
            error_rate: 1.0,
            ..FaultConfig::default()
        })
        .expect("faults");
    handle.emulator().reset_stats();
    let mut c = config(&handle, Credentials::access_key(KEY_ID, KEY_SECRET));
    c.retry.max_attempts = 3;
    let three = Client::new(&c).expect("config");
    let e = three.delete_security_group(&group).await.unwrap_err();
    assert!(
        e.is_retryable() && e.status().is_some_and(|s| s >= 500),
        "{e:?}"
    );
    assert_eq!(e.attempts, 3);
    assert_eq!(handle.emulator().stats().errors("DeleteSecurityGroup"), 3);

    // Throttling from the emulator's QPS quota is retryable.
    handle
        .emulator()
        .set_faults(FaultConfig {
            max_qps: 1,
            ..FaultConfig::default()
        })
        .expect("faults");
    c.retry = RetryPolicy::never();
    let once = Client::new(&c).expect("config");
    let mut throttled = None;
    for _ in 0..3 {
        if let Err(e) = once.describe_security_groups(&GroupFilter::default()).await {
            throttled = Some(e);
            break;
        }
    }
    let e = throttled.expect("a second call within one second is throttled");
    assert!(e.is_throttling() && e.is_retryable(), "{e:?}");
}

#[tokio::test]
async fn latency_beyond_the_timeout_is_a_timeout() {
    let handle = emulator(|c| {
        c.faults = FaultConfig {
            latency_ms: 600,
            ..FaultConfig::default()
        }
    });
    let mut c = config(&handle, Credentials::access_key(KEY_ID, KEY_SECRET));
    c.timeout = Duration::from_millis(150);
    c.retry.max_attempts = 2;
    let client = Client::new(&c).expect("config");
    let e = client
        .describe_security_groups(&GroupFilter::default())
        .await
        .unwrap_err();
    assert!(matches!(e.kind, CallErrorKind::Timeout { .. }), "{e:?}");
    assert_eq!(e.attempts, 2);
    assert_eq!(
        format!("{e}: {}", std::error::Error::source(&e).expect("cause")),
        "DescribeSecurityGroups failed after 2 attempts: no answer within 150ms"
    );
}

#[tokio::test]
async fn the_rate_limit_holds_across_tasks() {
    let handle = emulator(|_| {});
    let mut c = config(&handle, Credentials::access_key(KEY_ID, KEY_SECRET));
    let (rate, burst, calls) = (25.0, 2u32, 16u32);
    c.max_rps = Some(rate);
    c.burst = burst;
    let client = Client::new(&c).expect("config");
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let read = client.read_only();
            tokio::spawn(async move {
                for _ in 0..calls / 4 {
                    read.describe_security_groups(&GroupFilter::default())
                        .await
                        .expect("list");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = t0.elapsed();
    let floor = Duration::from_secs_f64(f64::from(calls - burst) / rate);
    assert!(
        elapsed >= floor,
        "{calls} calls in {elapsed:?}, under the floor {floor:?}"
    );
    assert_eq!(
        handle.emulator().stats().ok("DescribeSecurityGroups"),
        u64::from(calls)
    );
}

#[tokio::test]
async fn tags_are_set_listed_and_removed_on_security_groups() {
    let handle = emulator(|_| {});
    let client = client(&handle);
    let a = new_group(&client, "web").await;
    let b = new_group(&client, "db").await;
    let both = vec![a.clone(), b.clone()];

    let set = client
        .tag_resources(&both, &[("moat:lock".into(), "holder=a".into())])
        .await
        .expect("tag");
    assert_eq!(set.calls.len(), 1, "two groups go in one call");
    client
        .tag_resources(
            std::slice::from_ref(&a),
            &[
                ("moat:lock".into(), "holder=b".into()),
                ("team".into(), "x".into()),
            ],
        )
        .await
        .expect("a key already there takes the new value");

    let mut listed: Vec<(String, String, String)> = client
        .list_tag_resources(&both)
        .await
        .expect("list")
        .value
        .into_iter()
        .map(|t| (t.resource_id, t.key, t.value))
        .collect();
    listed.sort();
    let mut want = vec![
        (a.clone(), "moat:lock".to_owned(), "holder=b".to_owned()),
        (a.clone(), "team".to_owned(), "x".to_owned()),
        (b.clone(), "moat:lock".to_owned(), "holder=a".to_owned()),
    ];
    want.sort();
    assert_eq!(listed, want);

    client
        .untag_resources(&both, &["moat:lock".into(), "absent".into()])
        .await
        .expect("untag ignores keys a group does not carry");
    let left = client.list_tag_resources(&both).await.expect("list").value;
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].resource_id.as_str(), left[0].key.as_str()),
        (a.as_str(), "team")
    );

    // The service's value rules reach the caller as its error code.
    let err = client
        .tag_resources(&both, &[("moat:lock".into(), "see http://x".into())])
        .await
        .expect_err("a value may not hold a URL");
    assert_eq!(err.code(), Some("InvalidTagValue.Malformed"), "{err}");
}
