//! The reference's signature vectors and captured SDK requests, against the
//! emulator's verifier and over HTTP.

use std::sync::Arc;

use moat_emulator::signature::{sign, string_to_sign, verify};
use moat_emulator::{AccessKey, ManualClock, Params, SeedGroup, parse_timestamp};
use serde_json::Value;

use crate::support::{Client, http, rules_of, start_with};

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/signature-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_vector_verifies() {
    let v = vectors();
    let list = v["vectors"].as_array().unwrap();
    assert_eq!(list.len(), 7);
    for vec in list {
        let name = vec["name"].as_str().unwrap();
        let params: Vec<(&str, &str)> = vec["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        let method = vec["http_method"].as_str().unwrap();
        let secret = vec["access_key_secret"].as_str().unwrap();
        let sts = string_to_sign(method, params.iter().copied());
        assert_eq!(sts, vec["string_to_sign"].as_str().unwrap(), "{name}");
        assert_eq!(
            sign(secret, &sts),
            vec["signature"].as_str().unwrap(),
            "{name}"
        );
        assert!(
            verify(secret, &sts, vec["signature"].as_str().unwrap()),
            "{name}"
        );
        assert!(
            !verify(
                &format!("{secret}x"),
                &sts,
                vec["signature"].as_str().unwrap()
            ),
            "{name}"
        );
        // The query string an SDK would send, decoded the server's way.
        let query = vec["sdk_request_query_string_example"].as_str().unwrap();
        let parsed = Params::parse(Some(query), None);
        let sts2 = string_to_sign(method, parsed.iter());
        assert_eq!(sts2, sts, "{name}");
        assert!(
            verify(secret, &sts2, parsed.raw("Signature").unwrap()),
            "{name}"
        );
    }
}

#[test]
fn captured_sdk_requests_verify_and_succeed_over_http() {
    let v = vectors();
    let captured = v["captured_sdk_requests"].as_array().unwrap();
    assert_eq!(captured.len(), 3);
    for req in captured {
        let target = req["request_target"].as_str().unwrap();
        let secret = req["access_key_secret_used"].as_str().unwrap();
        let query = target.trim_start_matches("/?");
        let params = Params::parse(Some(query), None);
        let signed = params.raw("Signature").is_some();
        if signed {
            let sts = string_to_sign(req["method"].as_str().unwrap(), params.iter());
            assert_eq!(sts, req["string_to_sign_recomputed"].as_str().unwrap());
            assert!(verify(secret, &sts, params.raw("Signature").unwrap()));
        }
        // Replay the exact request against an emulator whose clock stands at
        // the request's time and which holds the group it names.
        let x_acs_date = req["headers"].as_array().unwrap().iter().find_map(|h| {
            (h[0].as_str() == Some("x-acs-date")).then(|| h[1].as_str().unwrap().to_owned())
        });
        let when = params
            .get("Timestamp")
            .map(str::to_owned)
            .or(x_acs_date)
            .and_then(|t| parse_timestamp(&t))
            .expect("the request's time");
        let clock = ManualClock::new(when + 30);
        let emu = start_with(move |cfg| {
            cfg.clock = Arc::new(clock);
            cfg.access_keys = vec![AccessKey::new("LTAI5tTestAccessKeyId01", secret)];
        });
        emu.emulator()
            .seed_group(
                SeedGroup::new("cn-hangzhou", "sg-bp1fg655nh68xyz9i2k7").vpc_id("vpc-captured"),
            )
            .unwrap();
        let headers: Vec<(String, String)> = req["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h[0].as_str().unwrap().to_owned(),
                    h[1].as_str().unwrap().to_owned(),
                )
            })
            // A V3 request signs its Host header, so that one is sent as
            // captured; v1.0 requests sign no header.
            .filter(|(k, _)| {
                (!signed || !k.eq_ignore_ascii_case("host"))
                    && !k.eq_ignore_ascii_case("content-length")
            })
            .collect();
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = http(emu.addr(), "POST", target, &headers, b"").unwrap();
        if !signed {
            // The V3-signed capture (default Tea SDK) verifies too: the
            // answer is the service's refusal of its ICMP/IPv6 pairing, so
            // the signature passed, and the same request again is a
            // replayed nonce.
            r.err(400, "InvalidParam.Ipv4ProtocolConflictWithIpv6Address");
            http(emu.addr(), "POST", target, &headers, b"")
                .unwrap()
                .err(400, "SignatureNonceUsed");
            continue;
        }
        {
            // The capture pairs ICMP with an IPv6 source, which the reference
            // says the service refuses (section 3). Getting that answer shows
            // the signature passed; the valid first entry must not have been
            // applied either, since a batch is all or nothing.
            r.err(400, "InvalidParam.Ipv4ProtocolConflictWithIpv6Address");
            let mut c = Client::new(emu.addr());
            c.clock = Some(ManualClock::new(when + 30));
            c.key_id = "LTAI5tTestAccessKeyId01".into();
            c.secret = secret.into();
            assert!(rules_of(&c, "sg-bp1fg655nh68xyz9i2k7").is_empty());
            // The same request again is a replayed nonce.
            http(emu.addr(), "POST", target, &[], b"")
                .unwrap()
                .err(400, "SignatureNonceUsed");
            // With the second entry made ICMPv6, the SDK's request succeeds.
            let fixed: Vec<(String, String)> = params
                .iter()
                .filter(|(k, _)| !matches!(*k, "Signature" | "SignatureNonce"))
                .map(|(k, v)| {
                    let v = if k == "Permissions.2.IpProtocol" {
                        "icmpv6"
                    } else {
                        v
                    };
                    (k.to_owned(), v.to_owned())
                })
                .chain([("SignatureNonce".to_owned(), "fresh-nonce-1".to_owned())])
                .collect();
            let (sig, _) = crate::support::test_sign("POST", &fixed, secret);
            let mut fixed = fixed;
            fixed.push(("Signature".into(), sig));
            c.send(&fixed).unwrap().ok();
            let rules = rules_of(&c, "sg-bp1fg655nh68xyz9i2k7");
            assert_eq!(rules.len(), 2);
            assert_eq!(rules[0]["Description"], "SSH admin/ops * ~ & 管理");
            assert_eq!(rules[1]["Ipv6SourceCidrIp"], "2001:db8::/32");
            assert_eq!(rules[1]["IpProtocol"], "ICMPv6");
            assert_eq!(rules[1]["Policy"], "Drop");
            assert_eq!(rules[1]["Priority"], 100);
        }
    }
}
