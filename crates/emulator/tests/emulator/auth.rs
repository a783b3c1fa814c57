//! Authentication failures and their exact answers.

use std::sync::Arc;

use moat_emulator::{
    AccessKey, DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, EmulatorConfig, ManualClock,
};

use crate::support::{Client, KEY_ID, NOW, SECRET, start_pinned, start_with, test_sign};

#[test]
fn wrong_secret_gets_the_official_message_with_the_server_string_to_sign() {
    let (emu, mut c) = start_pinned();
    c.secret = "not-the-secret".into();
    let params = c.signed("DescribeSecurityGroups", &[]);
    let r = c.send(&params).unwrap();
    r.err(400, "SignatureDoesNotMatch");
    let msg = r.json()["Message"].as_str().unwrap().to_owned();
    let prefix =
        "Specified signature is not matched with our calculation. server string to sign is:";
    assert!(msg.starts_with(prefix), "{msg}");
    // The SDKs compare this with their own string to sign.
    let unsigned: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .cloned()
        .collect();
    let (_, sts) = test_sign("POST", &unsigned, "any");
    assert_eq!(&msg[prefix.len()..], sts);
    assert_eq!(msg.split(':').nth(1), Some(sts.as_str()));
    assert_eq!(emu.emulator().stats().errors("DescribeSecurityGroups"), 1);
}

#[test]
fn timestamps_outside_fifteen_minutes_are_refused() {
    let (_emu, c) = start_pinned();
    let clock = c.clock.clone().unwrap();
    for (offset, ok) in [(-901, false), (-900, true), (899, true), (901, false)] {
        clock.set(NOW + offset);
        let params = c.signed("DescribeSecurityGroups", &[]);
        clock.set(NOW);
        let r = c.send(&params).unwrap();
        if ok {
            r.ok();
        } else {
            r.err(400, "InvalidTimeStamp.Expired");
        }
    }
    let mut params = c.signed("DescribeSecurityGroups", &[]);
    params.retain(|(k, _)| k != "Timestamp" && k != "Signature");
    params.push(("Timestamp".into(), "2026-01-01 00:00:00".into()));
    let (sig, _) = test_sign("POST", &params, &c.secret);
    params.push(("Signature".into(), sig));
    c.send(&params).unwrap().err(400, "IllegalTimestamp");
}

#[test]
fn a_replayed_nonce_is_refused() {
    let (_emu, c) = start_pinned();
    let params = c.signed("DescribeSecurityGroups", &[]);
    c.send(&params).unwrap().ok();
    c.send(&params).unwrap().err(400, "SignatureNonceUsed");
}

#[test]
fn unknown_keys_and_signature_parameters_are_refused() {
    let (_emu, c) = start_pinned();
    let mut other = c.clone();
    other.key_id = "LTAI5tNobodyKnowsThis".into();
    other
        .call("DescribeSecurityGroups", &[])
        .err(400, "InvalidAccessKeyId.NotFound");

    type Edit<'a> = &'a dyn Fn(&mut Vec<(String, String)>);
    let resign = |edit: Edit| {
        let mut params = c.signed("DescribeSecurityGroups", &[]);
        params.retain(|(k, _)| k != "Signature");
        edit(&mut params);
        let (sig, _) = test_sign("POST", &params, &c.secret);
        params.push(("Signature".into(), sig));
        c.send(&params).unwrap()
    };
    let set = |name: &'static str, value: &'static str| {
        move |p: &mut Vec<(String, String)>| {
            for (k, v) in p.iter_mut() {
                if k == name {
                    *v = value.to_owned();
                }
            }
        }
    };
    resign(&set("SignatureMethod", "HMAC-SHA256")).err(400, "InvalidParamater");
    resign(&set("SignatureVersion", "2.0")).err(400, "InvalidParamater");
    resign(&set("Version", "2016-01-01")).err(400, "InvalidVersion");
    resign(&set("Action", "DescribeImages")).err(403, "InvalidAction");
    resign(&|p: &mut Vec<(String, String)>| p.retain(|(k, _)| k != "Timestamp"))
        .err(400, "IllegalTimestamp");
    resign(&|p: &mut Vec<(String, String)>| p.retain(|(k, _)| k != "SignatureNonce"))
        .err(400, "MissingParameter");
    resign(&|p: &mut Vec<(String, String)>| p.retain(|(k, _)| k != "RegionId"))
        .err(400, "MissingParameter.RegionId");
    // Tampering after signing breaks the signature.
    let mut params = c.signed("DescribeSecurityGroups", &[("VpcId", "vpc-a")]);
    for (k, v) in params.iter_mut() {
        if k == "VpcId" {
            *v = "vpc-b".into();
        }
    }
    c.send(&params).unwrap().err(400, "SignatureDoesNotMatch");
    // No signature at all (as a V3-signed request would arrive).
    let mut params = c.signed("DescribeSecurityGroups", &[]);
    params.retain(|(k, _)| k != "Signature");
    c.send(&params).unwrap().err(400, "IncompleteSignature");
}

#[test]
fn sts_keys_require_their_security_token() {
    let clock = ManualClock::new(NOW);
    let c2 = clock.clone();
    let emu = start_with(move |cfg| {
        cfg.clock = Arc::new(c2);
        cfg.access_keys = vec![
            AccessKey::new("STS.TempKey01", "tempsecret").with_security_token("CAIS-token-value"),
        ];
    });
    let mut c = Client::new(emu.addr());
    c.clock = Some(clock);
    c.key_id = "STS.TempKey01".into();
    c.secret = "tempsecret".into();
    c.call("DescribeSecurityGroups", &[])
        .err(400, "MissingSecurityToken");
    c.token = Some("CAIS-other".into());
    c.call("DescribeSecurityGroups", &[])
        .err(400, "InvalidSecurityToken.MismatchWithAccessKey");
    c.token = Some("CAIS-token-value".into());
    c.call("DescribeSecurityGroups", &[]).ok();
}

#[test]
fn the_demo_key_is_accepted_when_no_key_is_configured() {
    let emu = moat_emulator::start(EmulatorConfig::default()).unwrap();
    assert!(emu.addr().ip().is_loopback());
    let mut c = Client::new(emu.addr());
    c.key_id = DEMO_ACCESS_KEY_ID.into();
    c.secret = DEMO_ACCESS_KEY_SECRET.into();
    c.call("DescribeSecurityGroups", &[]).ok();
    c.key_id = KEY_ID.into();
    c.call("DescribeSecurityGroups", &[])
        .err(400, "InvalidAccessKeyId.NotFound");
}

#[test]
fn non_loopback_listen_addresses_need_explicit_permission() {
    let err = moat_emulator::start(EmulatorConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..EmulatorConfig::default()
    })
    .unwrap_err();
    assert!(
        matches!(err, moat_emulator::EmulatorError::NotLoopback(_)),
        "{err}"
    );
}

#[tokio::test]
async fn starts_and_stops_from_an_async_caller() {
    // The server has its own thread and runtime, so an async test (as the
    // client's are) can start it, call it and drop it without deadlocking.
    let emu = crate::support::start_emulator();
    let addr = emu.addr();
    let answer = tokio::task::spawn_blocking(move || {
        Client::new(addr).call("DescribeSecurityGroups", &[]).status
    })
    .await
    .unwrap();
    assert_eq!(answer, 200);
    drop(emu);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "listener closed on drop"
    );
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let config = EmulatorConfig {
        access_keys: vec![
            AccessKey::new("LTAIvisible", "planted-secret-4711")
                .with_security_token("planted-token-4712"),
        ],
        ..EmulatorConfig::default()
    };
    let emu = moat_emulator::start(config.clone()).unwrap();
    for text in [format!("{config:?}"), format!("{emu:?}")] {
        assert!(text.contains("LTAIvisible"), "{text}");
        assert!(
            !text.contains("planted-secret") && !text.contains("planted-token"),
            "{text}"
        );
    }
}

#[test]
fn calls_in_process_are_signed_on_the_emulators_clock_and_checked_like_any_other() {
    // A pinned clock far from now: the timestamp must come from the
    // emulator's clock, or the call would be refused as stale.
    let (emu, c) = start_pinned();
    let emulator = emu.emulator();
    let key = AccessKey::new(KEY_ID, SECRET);
    let created = emulator
        .call_signed(
            &key,
            "cn-hangzhou",
            "2014-05-26",
            "CreateSecurityGroup",
            &[
                ("SecurityGroupName", "in-process"),
                ("VpcId", "vpc-test0001"),
            ],
        )
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.body));
    let id = created["SecurityGroupId"].as_str().unwrap_or_default();
    assert!(id.starts_with("sg-"), "{created}");
    // Seen over HTTP as well: it is the same cloud.
    let listed = c.call("DescribeSecurityGroups", &[]);
    assert!(listed.body.contains(id), "{}", listed.body);

    let wrong = AccessKey::new(KEY_ID, "not-the-secret");
    let refused = emulator
        .call_signed(
            &wrong,
            "cn-hangzhou",
            "2014-05-26",
            "DescribeSecurityGroups",
            &[],
        )
        .expect_err("a wrong secret is refused");
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("\"Code\":\"SignatureDoesNotMatch\""),
        "{}",
        refused.body
    );
    let stats = emulator.stats();
    assert_eq!(stats.ok("CreateSecurityGroup"), 1);
    assert_eq!(stats.errors("DescribeSecurityGroups"), 1);
}
