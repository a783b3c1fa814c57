//! The client's ACS3-HMAC-SHA256 signer against the official SDK: the
//! vectors computed by Alibaba's Python signer, step by step and through the
//! request pipeline, and moat's own requests recomputed by that signer when
//! it is installed.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use moat_aliyun::acs3::{
    SignedHeaders, authorization, canonical_query, canonical_request, sha256_hex, signature,
    string_to_sign,
};
use moat_aliyun::wire::Action;
use moat_aliyun::{ApiRequest, Credentials, RequestStamp, RpcCall, SignatureVersion};
use serde_json::{Value, json};

fn vectors() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/acs3-vectors.json");
    let text = std::fs::read_to_string(path).expect("the vectors file ships with the crate");
    let all: Value = serde_json::from_str(&text).expect("the vectors file is JSON");
    all["vectors"].as_array().expect("vectors").clone()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing"))
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("a list of pairs")
        .iter()
        .map(|p| {
            (
                p[0].as_str().expect("name").to_owned(),
                p[1].as_str().expect("value").to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_official_acs3_vector_passes_step_by_step() {
    let list = vectors();
    assert_eq!(list.len(), 6);
    for v in &list {
        let name = text(v, "name");
        let query = pairs(&v["query"]);
        let headers = pairs(&v["headers"]);
        let cq = canonical_query(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let signed = SignedHeaders::new(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let payload = sha256_hex(text(v, "body").as_bytes());
        let canonical = canonical_request(text(v, "method"), "/", &cq, &signed, &payload);
        assert_eq!(canonical, text(v, "canonical_request"), "{name}");
        let sts = string_to_sign(&canonical);
        assert_eq!(sts, text(v, "string_to_sign"), "{name}");
        let sig = signature(text(v, "access_key_secret"), &sts);
        assert_eq!(sig, text(v, "signature"), "{name}");
        assert_eq!(
            authorization(text(v, "access_key_id"), &signed, &sig),
            text(v, "authorization"),
            "{name}"
        );
    }
}

/// The pipeline moat sends (business parameters, then `sign_as`) gives the
/// signature the official signer computes for the same headers: the
/// vectors' headers are those of the Python SDK (with `user-agent` and
/// `accept`), so moat's own request is rebuilt here, its canonical pieces
/// recomputed from what it sends, and the signature compared.
#[test]
fn the_request_pipeline_signs_what_it_sends() {
    for (id, secret, token) in [
        (
            "LTAI5tVectorAccessKey01",
            "VectorAccessKeySecret0123456789ab",
            None,
        ),
        (
            "STS.NVectorTemporaryKey01",
            "StsVectorSecret0123456789abcdefgh",
            Some("CAIS.vector.security+token/=="),
        ),
    ] {
        let creds = match token {
            Some(t) => Credentials::sts(id, secret, t),
            None => Credentials::access_key(id, secret),
        };
        let req = ApiRequest::new(Action::AuthorizeSecurityGroup, "cn-hangzhou")
            .for_group("sg-bp1vector000000000001")
            .with(
                "Permissions.1.Description",
                "SSH admin/ops * ~ & 管理 café + = %",
            )
            .with("Permissions.10.IpProtocol", "icmp")
            .with("Permissions.2.IpProtocol", "udp");
        let stamp = RequestStamp::new("6a1e7d0c24f34f2f9a6ac1de5e1a0b77", "2026-01-01T00:00:00Z");
        let signed = req.sign_as(SignatureVersion::V3, &creds, &stamp, "127.0.0.1:8080");
        assert!(!signed.query().contains("Signature"), "{}", signed.query());
        assert_eq!(signed.header("x-acs-security-token"), token);
        let auth = signed
            .header("authorization")
            .expect("an Authorization header");
        let mut sent: Vec<(&str, &str)> = signed
            .headers()
            .iter()
            .filter(|(k, _)| *k != "authorization")
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        sent.push(("host", "127.0.0.1:8080"));
        let headers = SignedHeaders::new(sent);
        let decoded: Vec<(String, String)> = signed
            .query()
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("name=value");
                (decode(k), decode(v))
            })
            .collect();
        let cq = canonical_query(decoded.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(cq, signed.query(), "the query is sent in canonical form");
        let canonical = canonical_request("POST", "/", &cq, &headers, &sha256_hex(b""));
        let sig = signature(secret, &string_to_sign(&canonical));
        assert_eq!(auth, authorization(id, &headers, &sig));
        let expected_names = match token {
            Some(_) => {
                "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version"
            }
            None => {
                "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
            }
        };
        assert_eq!(headers.names(), expected_names);
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// The official signer, when `MOAT_SDK_PYTHON` names a Python with the SDK;
/// `MOAT_REQUIRE_INTEROP=1` (CI) makes its absence a failure.
fn sdk_python() -> Option<String> {
    match std::env::var("MOAT_SDK_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var("MOAT_REQUIRE_INTEROP").is_ok_and(|v| v == "1") => {
            panic!("MOAT_REQUIRE_INTEROP=1 and MOAT_SDK_PYTHON is not set")
        }
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "note: skipped checking moat's ACS3 signatures with the official Python signer; \
                 set MOAT_SDK_PYTHON to a Python with the SDKs (scripts/sdk-venv.sh builds one)"
            );
            None
        }
    }
}

#[test]
fn the_official_signer_computes_the_signatures_moat_sends() {
    let Some(python) = sdk_python() else {
        return;
    };
    let mut requests = Vec::new();
    let mut expected = Vec::new();
    let creds = [
        Credentials::access_key("LTAI5tMoatSigner01", "moat-signer-secret/+="),
        Credentials::sts("STS.NMoatSigner02", "sts secret", "CAIS+token/with=chars"),
    ];
    let mut params = BTreeMap::new();
    params.insert("RegionId".to_owned(), "cn-hangzhou".to_owned());
    params.insert(
        "Permissions.1.Description".to_owned(),
        "web * ~ & 管理 + = % tier".to_owned(),
    );
    params.insert("Permissions.10.PortRange".to_owned(), "-1/-1".to_owned());
    params.insert("Permissions.2.PortRange".to_owned(), "22/22".to_owned());
    params.insert("Empty".to_owned(), String::new());
    let sts_params: BTreeMap<String, String> =
        [("RoleArn".to_owned(), "acs:ram::1:role/ro".to_owned())].into();
    let calls = [
        RpcCall {
            action: "AuthorizeSecurityGroup",
            version: "2014-05-26",
            params: &params,
        },
        RpcCall {
            action: "AssumeRole",
            version: "2015-04-01",
            params: &sts_params,
        },
    ];
    for c in &creds {
        for call in &calls {
            for host in ["127.0.0.1:18080", "[::1]:9", "ecs-cn-hangzhou.aliyuncs.com"] {
                let stamp = RequestStamp::fresh();
                let signed = call.sign(SignatureVersion::V3, Some(c), &stamp, host);
                let mut headers: Vec<(String, String)> = signed
                    .headers()
                    .iter()
                    .filter(|(k, _)| *k != "authorization")
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect();
                headers.push(("host".to_owned(), host.to_owned()));
                let query: Vec<(String, String)> = signed
                    .query()
                    .split('&')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').expect("name=value");
                        (decode(k), decode(v))
                    })
                    .collect();
                requests.push(json!({
                    "method": "POST",
                    "query": query,
                    "headers": headers,
                    "access_key_id": c.access_key_id(),
                    "access_key_secret": c.access_key_secret().expose(),
                }));
                expected.push(signed.header("authorization").expect("signed").to_owned());
            }
        }
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/acs3_verify.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(serde_json::to_string(&requests).expect("json").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("the script ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let official: Vec<String> = serde_json::from_slice(&out.stdout).expect("a JSON list");
    assert_eq!(official.len(), 12);
    assert_eq!(official, expected);
}
