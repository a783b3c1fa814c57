//! Calls against the scripted fake: what each attempt sends, how failures
//! are classified and retried, how revokes of absent rules and paging
//! behave. The emulator tests show the same calls work end to end; these
//! show the details only a recording server can see.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moat_aliyun::sign::sign_params;
use moat_aliyun::{
    AttemptLog, AttemptOutcome, CallErrorKind, Client, ClientConfig, ClientToken, Credentials,
    GroupFilter, NewGroup, RetryPolicy, SignatureVersion,
};
use moat_policy::model::{Direction, NicType, Peer, PortRange, Protocol, Rule, RuleKey, Verdict};
use moat_testkit::assert_golden;
use serde_json::json;

use crate::scripted::{Received, ScriptedServer, Step, error, ok};

const SECRET: &str = "scripted-secret";

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_elapsed: Duration::from_secs(10),
    }
}

fn client(server: &ScriptedServer, retry: RetryPolicy) -> Client {
    let mut config = ClientConfig::with_credentials(
        "cn-hangzhou",
        Credentials::sts("STS.scripted", SECRET, "scripted-token"),
    );
    config.endpoint = Some(server.url());
    // These tests read the parameters of signature v1.0 off the wire
    // (ACS3 moves the common ones into headers; tests/aliyun/acs3.rs and
    // the emulator tests cover it).
    config.signature_version = SignatureVersion::V1;
    config.max_rps = None;
    config.retry = retry;
    config.timeout = Duration::from_millis(300);
    Client::new(&config).expect("valid config")
}

fn rule(direction: Direction, port: u16, peer: &str) -> Rule {
    Rule {
        key: RuleKey {
            direction,
            protocol: Protocol::Tcp,
            ports: PortRange::single(port),
            peer: Peer::cidr(peer.parse().expect("cidr")),
            verdict: Verdict::Accept,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        },
        priority: 10,
        description: format!("port {port}"),
    }
}

fn token(s: &str) -> ClientToken {
    ClientToken::new(s).expect("valid token")
}

/// The parameters that stay the same across attempts.
fn business(r: &Received) -> BTreeMap<String, String> {
    r.params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "SignatureNonce" | "Timestamp" | "Signature"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn signature_is_valid(r: &Received) -> bool {
    let mut params = r.params.clone();
    let Some(sent) = params.remove("Signature") else {
        return false;
    };
    sign_params(&r.method, &params, SECRET) == sent
}

fn page(rules: &[(&str, &str, &str)], next: &str) -> Step {
    let permissions: Vec<_> = rules
        .iter()
        .map(|(id, direction, port)| {
            let (source, dest) = if *direction == "ingress" {
                ("10.0.0.0/8", "")
            } else {
                ("", "10.0.0.0/8")
            };
            json!({"SecurityGroupRuleId": id, "Direction": direction, "IpProtocol": "TCP",
                   "PortRange": format!("{port}/{port}"), "SourceCidrIp": source,
                   "DestCidrIp": dest, "Policy": "Accept", "Priority": 1, "NicType": "intranet"})
        })
        .collect();
    Step::Answer(
        200,
        json!({"RequestId": "req-page", "SecurityGroupId": "sg-1", "SecurityGroupName": "web", "VpcId": "vpc-1",
               "NextToken": next, "Permissions": {"Permission": permissions}}),
    )
}

#[tokio::test]
async fn each_attempt_is_signed_afresh_with_the_same_client_token() {
    let server = ScriptedServer::start(vec![
        error(503, "ServiceUnavailable", "req-503"),
        error(400, "Throttling.User", "req-throttled"),
        Step::Drop,
        ok(),
    ])
    .await;
    let log = Arc::new(AttemptLog::new());
    let client = client(&server, fast_retry(5)).with_observer(log.clone());
    let rules = [
        rule(Direction::Ingress, 22, "10.0.0.0/8"),
        rule(Direction::Ingress, 443, "0.0.0.0/0"),
    ];
    let out = client
        .authorize("sg-1", Direction::Ingress, &rules, &token("plan-1-batch-1"))
        .await
        .expect("the fourth attempt succeeds");
    assert_eq!(out.attempts(), 4);
    assert_eq!(out.request_id(), "req-ok");

    let received = server.take_received();
    assert_eq!(received.len(), 4);
    for r in &received {
        assert_eq!(r.method, "POST");
        assert!(signature_is_valid(r), "{:?}", r.params);
        assert_eq!(business(r), business(&received[0]));
        assert_eq!(r.params["ClientToken"], "plan-1-batch-1");
        assert_eq!(r.params["SecurityToken"], "scripted-token");
    }
    let nonces: std::collections::HashSet<_> = received
        .iter()
        .map(|r| &r.params["SignatureNonce"])
        .collect();
    assert_eq!(nonces.len(), 4, "a fresh nonce per attempt");

    let records = log.records();
    let outcomes: Vec<String> = records
        .iter()
        .map(|r| match &r.outcome {
            AttemptOutcome::Api {
                status,
                code,
                retryable,
            } => format!("{status} {code} {retryable}"),
            AttemptOutcome::Transport { .. } => "transport".into(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            "503 ServiceUnavailable true",
            "400 Throttling.User true",
            "transport",
            "Ok"
        ]
    );
    assert_eq!(
        records.iter().map(|r| r.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        records
            .iter()
            .map(|r| r.retry_in.is_some())
            .collect::<Vec<_>>(),
        [true, true, true, false]
    );
    assert_eq!(records[0].request_id.as_deref(), Some("req-503"));
    assert_eq!(records[3].request_id.as_deref(), Some("req-ok"));
    assert!(
        records
            .iter()
            .all(|r| r.batch_size == 2 && r.group.as_deref() == Some("sg-1"))
    );
}

#[tokio::test]
async fn errors_name_the_call_and_carry_the_answer() {
    let server = ScriptedServer::start(vec![
        error(404, "InvalidSecurityGroupId.NotFound", "req-404"),
        error(400, "Throttling", "req-t1"),
        Step::Answer(200, json!("not an object")),
        Step::Slow(Duration::from_secs(2), 200, json!({})),
        Step::Slow(Duration::from_secs(2), 200, json!({})),
    ])
    .await;
    let client = client(&server, fast_retry(2));
    let mut report = String::new();
    let mut show = |e: &moat_aliyun::CallError| {
        report.push_str(&chain(e));
        report.push('\n');
    };

    let e = client
        .describe_security_group_attribute("sg-gone", None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code(), e.request_id(), e.attempts),
        (
            Some(404),
            Some("InvalidSecurityGroupId.NotFound"),
            Some("req-404"),
            1
        )
    );
    assert_eq!(
        e.message(),
        Some("message of InvalidSecurityGroupId.NotFound")
    );
    assert!(e.is_group_not_found() && !e.is_retryable());
    show(&e);

    // A throttled call is retried past max_attempts (see
    // throttled_calls_are_retried_past_max_attempts); only a policy of
    // one attempt gives up on it at once.
    let once = self::client(&server, RetryPolicy::never());
    let e = once.delete_security_group("sg-busy").await.unwrap_err();
    assert!(e.is_throttling() && e.is_retryable());
    assert_eq!((e.attempts, e.request_id()), (1, Some("req-t1")));
    show(&e);

    let e = client.delete_security_group("sg-odd").await.unwrap_err();
    assert!(matches!(e.kind, CallErrorKind::Decode { status: 200, .. }));
    show(&e);

    let e = client.delete_security_group("sg-slow").await.unwrap_err();
    assert!(e.is_timeout() && e.is_retryable());
    assert_eq!(e.attempts, 2);
    show(&e);

    assert_golden(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/call_errors.txt"),
        &report,
    );
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

#[tokio::test]
async fn a_dropped_connection_is_a_transport_error_without_the_url() {
    let server = ScriptedServer::start(vec![Step::Drop, Step::Drop]).await;
    let client = client(&server, fast_retry(2));
    let e = client.delete_security_group("sg-1").await.unwrap_err();
    assert!(matches!(e.kind, CallErrorKind::Transport(_)), "{e:?}");
    assert!(e.is_retryable());
    let text = chain(&e);
    assert!(
        text.starts_with("DeleteSecurityGroup on sg-1 failed after 2 attempts: no HTTP exchange"),
        "{text}"
    );
    assert!(
        !text.contains("scripted-token") && !text.contains("127.0.0.1"),
        "{text}"
    );
}

#[tokio::test]
async fn throttled_calls_are_retried_past_max_attempts() {
    let server = ScriptedServer::start(vec![
        error(400, "Throttling", "req-t1"),
        error(400, "Throttling.User", "req-t2"),
        error(400, "Throttling.Api", "req-t3"),
        error(400, "Throttling", "req-t4"),
        ok(),
    ])
    .await;
    let client = client(&server, fast_retry(2));
    let out = client
        .delete_security_group("sg-busy")
        .await
        .expect("a throttled call is not given up after two attempts");
    assert_eq!(out.attempts(), 5);
    assert_eq!(server.take_received().len(), 5);

    // Other failures still count: two server errors end it.
    server.push([
        error(503, "ServiceUnavailable", "req-1"),
        error(400, "Throttling", "req-t"),
        error(500, "InternalError", "req-2"),
        ok(),
    ]);
    let e = client.delete_security_group("sg-down").await.unwrap_err();
    assert_eq!((e.attempts, e.code()), (3, Some("InternalError")));
}

#[tokio::test]
async fn a_retry_after_is_waited_for_and_slows_every_call() {
    let throttled = Step::WithHeaders(
        400,
        json!({"RequestId": "req-t", "Code": "Throttling", "Message": "slow down"}),
        vec![("x-acs-retry-after", "300".to_owned())],
    );
    let server = ScriptedServer::start(vec![throttled, ok(), ok()]).await;
    let mut config =
        ClientConfig::with_credentials("cn-hangzhou", Credentials::access_key("id", SECRET));
    config.endpoint = Some(server.url());
    config.max_rps = None;
    config.adaptive = Some(moat_aliyun::AdaptiveRate::default());
    config.retry = fast_retry(3);
    let log = Arc::new(AttemptLog::new());
    let client = Client::new(&config)
        .expect("config")
        .with_observer(log.clone());
    let t0 = Instant::now();
    let first = client.delete_security_group("sg-1").await.expect("retried");
    assert_eq!(first.attempts(), 2);
    let records = log.records();
    assert_eq!(records[0].retry_in, Some(Duration::from_millis(300)));
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let e = records[0].outcome.clone();
    assert!(
        matches!(e, AttemptOutcome::Api { status: 400, .. }),
        "{e:?}"
    );
    // The hold is the limiter's: another call started meanwhile would
    // have waited too; one started now goes at the new rate.
    client.delete_security_group("sg-2").await.expect("ok");
    let stats = client.rate_stats();
    assert_eq!(stats.len(), 1);
    assert_eq!((stats[0].stats.throttled, stats[0].stats.sent), (1, 3));
    assert!(stats[0].stats.adaptive);
}

#[tokio::test]
async fn errors_that_retrying_cannot_fix_are_sent_once() {
    let server = ScriptedServer::start(vec![error(400, "SignatureDoesNotMatch", "r")]).await;
    let client = client(&server, fast_retry(5));
    let e = client.delete_security_group("sg-1").await.unwrap_err();
    assert_eq!(e.attempts, 1);
    assert_eq!(server.take_received().len(), 1);
}

#[tokio::test]
async fn revoking_rules_already_gone_counts_them_as_done() {
    let server =
        ScriptedServer::start(vec![error(400, "InvalidParam.SecurityGroupRuleId", "r1")]).await;
    let client = client(&server, fast_retry(3));
    let t = token("revoke-1");
    let out = client
        .revoke("sg-1", Direction::Ingress, &["sgr-gone".into()], &t)
        .await
        .expect("absent is done");
    assert_eq!(out.value.already_absent, ["sgr-gone"]);
    assert!(out.value.revoked.is_empty());
    server.take_received();

    // A batch: the service does not say which id was missing, so the client
    // reads the group and revokes the ids still there under a new token.
    server.push([
        error(404, "InvalidSecurityGroupRuleId.NotFound", "r2"),
        page(
            &[("sgr-a", "ingress", "22"), ("sgr-c", "ingress", "80")],
            "",
        ),
        ok(),
    ]);
    let ids: Vec<String> = ["sgr-a", "sgr-b", "sgr-c"].map(String::from).to_vec();
    let out = client
        .revoke("sg-1", Direction::Ingress, &ids, &t)
        .await
        .expect("revoked the rest");
    assert_eq!(out.value.revoked, ["sgr-a", "sgr-c"]);
    assert_eq!(out.value.already_absent, ["sgr-b"]);
    assert_eq!(out.calls.len(), 3);
    let received = server.take_received();
    assert_eq!(
        received[1].params["Action"],
        "DescribeSecurityGroupAttribute"
    );
    assert_eq!(received[1].params["Direction"], "ingress");
    let last = &received[2].params;
    assert_eq!(last["Action"], "RevokeSecurityGroup");
    assert_eq!(
        (
            &last["SecurityGroupRuleId.1"][..],
            &last["SecurityGroupRuleId.2"][..]
        ),
        ("sgr-a", "sgr-c")
    );
    assert!(!last.contains_key("SecurityGroupRuleId.3"));
    assert_eq!(last["ClientToken"], t.derive("revoke-present").as_str());
    assert_ne!(last["ClientToken"], "revoke-1");

    // A missing group is not "already absent".
    server.push([error(404, "InvalidSecurityGroupId.NotFound", "r3")]);
    let e = client
        .revoke("sg-gone", Direction::Egress, &ids, &t)
        .await
        .unwrap_err();
    assert!(e.is_group_not_found());
}

#[tokio::test]
async fn paging_follows_tokens_and_fails_closed() {
    let server = ScriptedServer::start(vec![
        page(&[("sgr-1", "ingress", "22")], "t1"),
        page(&[("sgr-2", "egress", "53")], ""),
    ])
    .await;
    let client = client(&server, fast_retry(1));
    let out = client
        .describe_security_group_attribute("sg-1", None)
        .await
        .expect("two pages");
    assert_eq!(out.calls.len(), 2);
    assert_eq!(out.value.name, "web");
    assert_eq!(out.value.region, "cn-hangzhou");
    let ids: Vec<&str> = out.value.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["sgr-1", "sgr-2"]);
    let received = server.take_received();
    assert!(!received[0].params.contains_key("NextToken"));
    assert_eq!(received[1].params["NextToken"], "t1");
    assert_eq!(received[1].params["MaxResults"], "1000");
    assert_eq!(received[1].params["Direction"], "all");

    server.push([page(&[("sgr-1", "ingress", "22")], "t1"), page(&[], "t1")]);
    let e = client
        .describe_security_group_attribute("sg-1", None)
        .await
        .unwrap_err();
    assert_eq!(
        chain(&e),
        "DescribeSecurityGroupAttribute on sg-1 failed: incomplete read: the service returned page token \"t1\" twice"
    );

    server.push([
        page(&[("sgr-1", "ingress", "22")], "t1"),
        page(&[("sgr-1", "ingress", "22")], ""),
    ]);
    let e = client
        .describe_security_group_attribute("sg-1", None)
        .await
        .unwrap_err();
    assert!(
        chain(&e).ends_with("rule sgr-1 appeared on two pages"),
        "{}",
        chain(&e)
    );
}

#[tokio::test]
async fn group_listing_splits_long_id_filters_and_follows_tokens() {
    let listing = |ids: &[&str], next: &str| {
        let groups: Vec<_> = ids
            .iter()
            .map(|id| {
                json!({"SecurityGroupId": id, "SecurityGroupName": "n", "VpcId": "vpc-1",
                             "SecurityGroupType": "normal", "RuleCount": 3})
            })
            .collect();
        Step::Answer(
            200,
            json!({"RequestId": "r", "NextToken": next,
            "SecurityGroups": {"SecurityGroup": groups}}),
        )
    };
    let server = ScriptedServer::start(vec![
        listing(&["sg-1"], "more"),
        listing(&["sg-2"], ""),
        listing(&["sg-3"], ""),
    ])
    .await;
    let client = client(&server, fast_retry(1));
    let ids: Vec<String> = (0..150).map(|i| format!("sg-{i}")).collect();
    let filter = GroupFilter {
        ids,
        vpc_id: Some("vpc-1".into()),
        name: None,
    };
    let out = client
        .describe_security_groups(&filter)
        .await
        .expect("listing");
    let got: Vec<&str> = out.value.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(got, ["sg-1", "sg-2", "sg-3"]);
    assert_eq!(out.value[0].rule_count, 3);
    let received = server.take_received();
    let sizes: Vec<usize> = received
        .iter()
        .map(|r| {
            serde_json::from_str::<Vec<String>>(&r.params["SecurityGroupIds"])
                .map_or(0, |v| v.len())
        })
        .collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(received[1].params["NextToken"], "more");
    assert!(
        received
            .iter()
            .all(|r| r.params["VpcId"] == "vpc-1" && r.params["MaxResults"] == "100")
    );
}

/// The parameters each mutating action sends, as a golden file: the wire
/// contract of rule conversion and of each action's top-level fields.
#[tokio::test]
async fn mutating_actions_send_the_reference_parameters() {
    let server = ScriptedServer::start(vec![
        ok(),
        ok(),
        ok(),
        ok(),
        Step::Answer(200, json!({"RequestId": "r", "SecurityGroupId": "sg-new"})),
        ok(),
    ])
    .await;
    let client = client(&server, fast_retry(1));
    let t = token("tok-1");
    let mut egress = rule(Direction::Egress, 5432, "2001:db8::/32");
    egress.key.local = Some("10.0.0.5/32".parse().expect("cidr"));
    egress.key.source_ports = Some(PortRange::Range {
        from: 1024,
        to: 65535,
    });
    client
        .authorize("sg-1", Direction::Egress, &[egress.clone()], &t)
        .await
        .expect("authorize");
    let mut grp = rule(Direction::Ingress, 3306, "10.0.0.0/8");
    grp.key.peer = Peer::Group {
        id: "sg-app".into(),
        owner: Some("1234".into()),
    };
    client
        .authorize("sg-1", Direction::Ingress, &[grp.clone()], &t)
        .await
        .expect("authorize");
    client
        .revoke(
            "sg-1",
            Direction::Egress,
            &["sgr-x".into(), "sgr-y".into()],
            &t,
        )
        .await
        .expect("revoke");
    client
        .modify_rule("sg-1", "sgr-z", &egress, &t)
        .await
        .expect("modify");
    let created = client
        .create_security_group(
            &NewGroup {
                name: "web".into(),
                description: Some("web tier".into()),
                vpc_id: Some("vpc-1".into()),
                group_type: None,
            },
            &t,
        )
        .await
        .expect("create");
    assert_eq!(created.value, "sg-new");
    client
        .delete_security_group("sg-new")
        .await
        .expect("delete");

    let mut report = String::new();
    for r in server.take_received() {
        let p = business(&r);
        report.push_str(&format!("{}\n", p["Action"]));
        for (k, v) in p {
            if !matches!(
                k.as_str(),
                "Action"
                    | "AccessKeyId"
                    | "Format"
                    | "SignatureMethod"
                    | "SignatureVersion"
                    | "Version"
                    | "SecurityToken"
            ) {
                report.push_str(&format!("  {k}={v}\n"));
            }
        }
    }
    assert_golden(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/action_parameters.txt"
        ),
        &report,
    );

    // Refused before sending: too many rules, a rule of the other direction.
    let many: Vec<Rule> = (0..101)
        .map(|i| rule(Direction::Ingress, 1000 + i, "10.0.0.0/8"))
        .collect();
    let e = client
        .authorize("sg-1", Direction::Ingress, &many, &t)
        .await
        .unwrap_err();
    assert_eq!(
        chain(&e),
        "AuthorizeSecurityGroup on sg-1 refused before sending: a batch of 101 items; one call takes 1 to 100"
    );
    let e = client
        .authorize("sg-1", Direction::Ingress, &[egress], &t)
        .await
        .unwrap_err();
    assert!(matches!(e.kind, CallErrorKind::MixedDirections { .. }));
    let e = client
        .revoke("sg-1", Direction::Ingress, &[], &t)
        .await
        .unwrap_err();
    assert_eq!(e.attempts, 0);
    assert!(server.take_received().is_empty());
}

#[tokio::test]
async fn the_rate_limit_is_shared_by_concurrent_tasks() {
    let calls = 12u32;
    let server = ScriptedServer::start((0..calls).map(|_| ok()).collect()).await;
    let mut config =
        ClientConfig::with_credentials("cn-hangzhou", Credentials::access_key("id", SECRET));
    config.endpoint = Some(server.url());
    config.max_rps = Some(20.0);
    config.burst = 2;
    let client = Client::new(&config).expect("config");
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move {
                for j in 0..calls / 4 {
                    c.delete_security_group(&format!("sg-{i}-{j}"))
                        .await
                        .expect("ok");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = t0.elapsed();
    // (N - burst) / rate is the least time the limiter allows.
    let floor = Duration::from_secs_f64(f64::from(calls - 2) / 20.0);
    assert!(
        elapsed >= floor,
        "{calls} calls took {elapsed:?}, below {floor:?}"
    );
    assert_eq!(server.take_received().len(), calls as usize);
}
