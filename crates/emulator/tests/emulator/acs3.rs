//! ACS3-HMAC-SHA256: the official SDK's vectors against the emulator's
//! verifier, and V3-signed requests over HTTP (accepted, and refused for
//! each way they can be wrong).

use std::sync::Arc;

use moat_emulator::acs3::{
    canonical_request, parse_authorization, sha256_hex, sign, string_to_sign, verify,
};
use moat_emulator::{AccessKey, ManualClock, SeedGroup, format_timestamp, parse_timestamp};
use serde_json::Value;

use crate::support::{KEY_ID, NOW, SECRET, V3Request, send_signed, start_with};

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/acs3-vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_official_signers_vectors_verify() {
    let v = vectors();
    let list = v["vectors"].as_array().unwrap();
    assert!(list.len() >= 6);
    for vec in list {
        let name = vec["name"].as_str().unwrap();
        let headers = pairs(&vec["headers"]);
        let auth = parse_authorization(vec["authorization"].as_str().unwrap()).unwrap();
        assert_eq!(auth.credential, vec["access_key_id"].as_str().unwrap());
        let body = vec["body"].as_str().unwrap().as_bytes();
        let canonical = canonical_request(
            vec["method"].as_str().unwrap(),
            vec["path"].as_str().unwrap(),
            vec["query_string"].as_str().unwrap(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &auth.signed_headers,
            &sha256_hex(body),
        );
        assert_eq!(
            canonical,
            vec["canonical_request"].as_str().unwrap(),
            "{name}"
        );
        let sts = string_to_sign(&canonical);
        assert_eq!(sts, vec["string_to_sign"].as_str().unwrap(), "{name}");
        let secret = vec["access_key_secret"].as_str().unwrap();
        assert_eq!(
            sign(secret, &sts),
            vec["signature"].as_str().unwrap(),
            "{name}"
        );
        assert!(verify(secret, &sts, &auth.signature), "{name}");
        assert!(
            !verify(&format!("{secret}x"), &sts, &auth.signature),
            "{name}"
        );
    }
}

#[test]
fn vector_requests_are_accepted_over_http() {
    let v = vectors();
    let date = "2026-01-01T00:00:00Z";
    let clock = ManualClock::new(parse_timestamp(date).unwrap() + 60);
    let emu = start_with(move |cfg| {
        cfg.clock = Arc::new(clock);
        cfg.access_keys = vec![
            AccessKey::new(
                "LTAI5tVectorAccessKey01",
                "VectorAccessKeySecret0123456789ab",
            ),
            AccessKey::new(
                "STS.NVectorTemporaryKey01",
                "StsVectorSecret0123456789abcdefgh",
            )
            .with_security_token("CAIS.vector.security+token/=="),
        ];
    });
    emu.emulator()
        .seed_group(
            SeedGroup::new("cn-hangzhou", "sg-bp1vector000000000001")
                .name("vectors")
                .vpc_id("vpc-vectors"),
        )
        .unwrap();
    for vec in v["vectors"].as_array().unwrap() {
        let name = vec["name"].as_str().unwrap();
        let mut headers = pairs(&vec["headers"]);
        headers.push((
            "authorization".into(),
            vec["authorization"].as_str().unwrap().into(),
        ));
        let r = send_signed(
            emu.addr(),
            vec["method"].as_str().unwrap(),
            vec["query_string"].as_str().unwrap(),
            &headers,
            vec["body"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(r.status, 200, "{name}: {}", r.body);
    }
    let stats = emu.emulator().stats();
    assert_eq!(stats.ok("AuthorizeSecurityGroup"), 1);
    assert_eq!(stats.ok("ModifySecurityGroupAttribute"), 1);
    let snapshot = emu.emulator().snapshot();
    assert_eq!(snapshot.groups[0].description, "web tier/prod");
    assert_eq!(snapshot.groups[0].permissions.len(), 3);
    assert_eq!(
        snapshot.groups[0].permissions[0].description.as_str(),
        "SSH admin/ops * ~ & 管理 café + = %"
    );
}

fn pinned() -> (moat_emulator::EmulatorHandle, String) {
    let clock = ManualClock::new(NOW);
    let emu = start_with(move |cfg| {
        cfg.clock = Arc::new(clock);
        cfg.access_keys = vec![
            AccessKey::new(KEY_ID, SECRET),
            AccessKey::new("STS.TempKey01", "tempsecret").with_security_token("CAIS-token"),
        ];
    });
    (emu, format_timestamp(NOW))
}

fn describe() -> V3Request {
    V3Request::new(
        "DescribeSecurityGroups",
        "2014-05-26",
        &[("RegionId", "cn-hangzhou")],
    )
}

#[test]
fn v3_requests_are_refused_for_each_fault_with_the_real_codes() {
    let (emu, date) = pinned();
    let addr = emu.addr();
    describe().send(addr, KEY_ID, SECRET, &date).ok();
    // Fractional seconds in x-acs-date are taken.
    describe()
        .send(addr, KEY_ID, SECRET, &date.replace('Z', ".250Z"))
        .ok();

    // A wrong secret: the answer carries the server's string to sign.
    let r = describe().send(addr, KEY_ID, "wrong", &date);
    r.err(400, "SignatureDoesNotMatch");
    let msg = r.json()["Message"].as_str().unwrap().to_owned();
    assert!(
        msg.starts_with(
            "Specified signature is not matched with our calculation. server string to sign is:ACS3-HMAC-SHA256\n"
        ),
        "{msg}"
    );

    // Tampering after signing: a query value, the body.
    let req = describe();
    let headers = req.sign(addr, KEY_ID, SECRET, &date);
    send_signed(addr, "POST", "RegionId=cn-beijing", &headers, b"")
        .err(400, "SignatureDoesNotMatch");
    let mut form = describe().header("content-type", "application/x-www-form-urlencoded");
    form.body = b"VpcId=vpc-a".to_vec();
    let headers = form.sign(addr, KEY_ID, SECRET, &date);
    send_signed(addr, "POST", &form.query_string(), &headers, b"VpcId=vpc-b")
        .err(400, "SignatureDoesNotMatch");
    // The same form body untampered is read as parameters.
    let headers = form.sign(addr, KEY_ID, SECRET, &date);
    send_signed(addr, "POST", &form.query_string(), &headers, b"VpcId=vpc-a").ok();

    // The same nonce twice.
    let headers = describe().sign(addr, KEY_ID, SECRET, &date);
    send_signed(addr, "POST", &describe().query_string(), &headers, b"").ok();
    send_signed(addr, "POST", &describe().query_string(), &headers, b"")
        .err(400, "SignatureNonceUsed");

    // Time: outside the window, malformed, missing.
    describe()
        .send(addr, KEY_ID, SECRET, &format_timestamp(NOW - 16 * 60))
        .err(400, "InvalidTimeStamp.Expired");
    describe()
        .send(addr, KEY_ID, SECRET, "2026-01-01 00:00:00")
        .err(400, "IllegalTimestamp");

    // An unknown key; an STS key without or with another token.
    describe()
        .send(addr, "LTAI5tNobody", SECRET, &date)
        .err(400, "InvalidAccessKeyId.NotFound");
    describe()
        .send(addr, "STS.TempKey01", "tempsecret", &date)
        .err(400, "MissingSecurityToken");
    describe()
        .header("x-acs-security-token", "other")
        .send(addr, "STS.TempKey01", "tempsecret", &date)
        .err(400, "InvalidSecurityToken.MismatchWithAccessKey");
    describe()
        .header("x-acs-security-token", "CAIS-token")
        .send(addr, "STS.TempKey01", "tempsecret", &date)
        .ok();

    // A required header left out of SignedHeaders, or missing.
    let headers = describe().sign(addr, KEY_ID, SECRET, &date);
    let unsigned_date: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            if k == "authorization" {
                (k.clone(), v.replace("x-acs-date;", ""))
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let r = send_signed(
        addr,
        "POST",
        &describe().query_string(),
        &unsigned_date,
        b"",
    );
    r.err(400, "IncompleteSignature");
    assert!(r.body.contains("x-acs-date"), "{}", r.body);
    let no_version: Vec<(String, String)> = describe()
        .sign(addr, KEY_ID, SECRET, &date)
        .into_iter()
        .filter(|(k, _)| k != "x-acs-version")
        .collect();
    send_signed(addr, "POST", &describe().query_string(), &no_version, b"")
        .err(400, "MissingParameter");

    // Another algorithm, a malformed header.
    let headers: Vec<(String, String)> = describe()
        .sign(addr, KEY_ID, SECRET, &date)
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "authorization" {
                v.replace("ACS3-HMAC-SHA256", "ACS3-HMAC-SM3")
            } else {
                v
            };
            (k, v)
        })
        .collect();
    send_signed(addr, "POST", &describe().query_string(), &headers, b"")
        .err(400, "IncompleteSignature");
    let headers = vec![(
        "authorization".to_owned(),
        "ACS3-HMAC-SHA256 Credential=x".to_owned(),
    )];
    send_signed(
        addr,
        "POST",
        "Action=DescribeSecurityGroups&Version=2014-05-26",
        &headers,
        b"",
    )
    .err(400, "IncompleteSignature");

    let stats = emu.emulator().stats();
    assert_eq!(stats.ok("DescribeSecurityGroups"), 5);
}
