//! The reference's signature test vectors, checked against the pure signing
//! functions and against the request pipeline that the client sends.

use std::collections::BTreeMap;

use moat_aliyun::sign::{canonical_query, percent_encode, signature, string_to_sign};
use moat_aliyun::wire::Action;
use moat_aliyun::{ApiRequest, Credentials, RequestStamp};
use serde_json::Value;

const COMMON: [&str; 9] = [
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "SecurityToken",
];

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/signature-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("the vectors file ships with the crate");
    serde_json::from_str(&text).expect("the vectors file is JSON")
}

fn params(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .expect("params is an object")
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().expect("values are strings").to_owned(),
            )
        })
        .collect()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing"))
}

#[test]
fn every_reference_vector_passes_step_by_step() {
    let all = vectors();
    let list = all["vectors"].as_array().expect("vectors");
    assert_eq!(list.len(), 7, "the reference has 7 vectors");
    for v in list {
        let name = text(v, "name");
        let p = params(&v["params"]);
        let canonical = canonical_query(&p);
        assert_eq!(canonical, text(v, "canonicalized_query_string"), "{name}");
        let sts = string_to_sign(text(v, "http_method"), &canonical);
        assert_eq!(sts, text(v, "string_to_sign"), "{name}");
        let sig = signature(text(v, "access_key_secret"), &sts);
        assert_eq!(sig, text(v, "signature"), "{name}");
        assert_eq!(
            percent_encode(&sig),
            text(v, "signature_url_encoded"),
            "{name}"
        );
    }
}

#[test]
fn captured_sdk_requests_verify() {
    let all = vectors();
    let mut checked = 0;
    for c in all["captured_sdk_requests"].as_array().expect("captures") {
        if c["verified"] != Value::Bool(true) {
            continue;
        }
        let p = params(&c["decoded_params"]);
        let sts = string_to_sign(text(c, "method"), &canonical_query(&p));
        assert_eq!(sts, text(c, "string_to_sign_recomputed"));
        assert_eq!(
            signature(text(c, "access_key_secret_used"), &sts),
            text(c, "signature_sent")
        );
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// The client's own pipeline (business parameters, then `sign`, which adds
/// the common ones) yields the vector's signature for every POST vector in
/// JSON format, which is what the client sends.
#[test]
fn the_request_pipeline_reproduces_the_post_vectors() {
    let all = vectors();
    let mut checked = 0;
    for v in all["vectors"].as_array().expect("vectors") {
        let p = params(&v["params"]);
        if text(v, "http_method") != "POST" || p["Format"] != "JSON" {
            continue;
        }
        let name = text(v, "name");
        let action = Action::parse(&p["Action"]).expect("a known action");
        let mut req = ApiRequest::new(action, &p["RegionId"]);
        for (k, value) in &p {
            if !COMMON.contains(&k.as_str()) {
                req.set(k.clone(), value.clone());
            }
        }
        let secret = text(v, "access_key_secret");
        let creds = match p.get("SecurityToken") {
            Some(token) => Credentials::sts(p["AccessKeyId"].clone(), secret, token.as_str()),
            None => Credentials::access_key(p["AccessKeyId"].clone(), secret),
        };
        let stamp = RequestStamp::new(p["SignatureNonce"].clone(), p["Timestamp"].clone());
        let signed = req.sign(&creds, &stamp);
        assert_eq!(signed.signature(), text(v, "signature"), "{name}");
        // What goes on the wire decodes back to the vector's parameters plus
        // the signature.
        let sent: BTreeMap<String, String> = signed
            .query()
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("name=value");
                (decode(k), decode(v))
            })
            .collect();
        let mut expected = p.clone();
        expected.insert("Signature".into(), text(v, "signature").into());
        assert_eq!(sent, expected, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 4, "four POST vectors in JSON format");
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
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
