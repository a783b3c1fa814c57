//! Signature ACS3-HMAC-SHA256 (Alibaba's "V3" request signature), written
//! from Alibaba's signature documentation for verification on the server
//! side:
//!
//! ```text
//! CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n
//!                    CanonicalHeaders \n SignedHeaders \n HashedRequestPayload
//! StringToSign     = "ACS3-HMAC-SHA256" \n hex(SHA-256(CanonicalRequest))
//! Signature        = hex(HMAC-SHA-256(AccessKeySecret, StringToSign))
//! ```
//!
//! The query string's parameters are sorted by name and each written
//! `enc(name)=enc(value)` with the encoding of signature v1.0 (RFC 3986,
//! upper-case hex); each signed header is written `name:value\n` with the
//! name in lower case and the value trimmed, in name order; the payload hash
//! is the hex SHA-256 of the body. Unlike v1.0 the key is the secret itself,
//! without a trailing `&`.
//!
//! Like [`crate::signature`], this is the emulator's own code: the client's
//! signer is tested against the same vectors (computed by the official SDK),
//! never against this.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest as _, Sha256};

use crate::signature::percent_encode;

/// The only V3 algorithm the emulator verifies.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// The parts of an `Authorization: ACS3-... Credential=...,SignedHeaders=...,
/// Signature=...` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    pub algorithm: String,
    /// The access key id.
    pub credential: String,
    /// Header names as listed (lower case expected), in their order.
    pub signed_headers: Vec<String>,
    /// Lower-case hex, as sent.
    pub signature: String,
}

/// Reads an Authorization header; `None` when it is not of the V3 shape.
pub fn parse_authorization(value: &str) -> Option<Authorization> {
    let (algorithm, rest) = value.trim().split_once(' ')?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => return None,
        }
    }
    let (credential, signed, signature) = (credential?, signed?, signature?);
    if credential.is_empty() || signed.is_empty() || signature.is_empty() {
        return None;
    }
    Some(Authorization {
        algorithm: algorithm.to_owned(),
        credential: credential.to_owned(),
        signed_headers: signed.split(';').map(str::to_owned).collect(),
        signature: signature.to_owned(),
    })
}

/// Hex of SHA-256: the payload hash of a body, and the digest of a
/// canonical request.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// The canonical query string of a raw (percent-encoded) query: its pairs
/// decoded with form rules (`+` is a space, as the SDKs' HTTP layers
/// encode), sorted by the bytes of their names (a repeated name keeps its
/// order), re-encoded and joined with `&`. A name without `=` has an empty
/// value.
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&percent_encode(k));
        out.push('=');
        out.push_str(&percent_encode(v));
    }
    out
}

/// `name:value\n` for each signed header in name order, name in lower case,
/// values trimmed; a header sent several times has its values sorted and
/// joined with `,`; a signed header the request lacks has an empty value.
pub fn canonical_headers<'a, I>(headers: I, signed: &[String]) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
{
    let mut names: Vec<String> = signed.iter().map(|s| s.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    let mut out = String::new();
    for name in &names {
        let mut values: Vec<&str> = headers
            .clone()
            .into_iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect();
        values.sort_unstable();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

/// The signed header names as they enter the canonical request: lower
/// case, sorted, joined with `;`.
pub fn signed_headers_line(signed: &[String]) -> String {
    let mut names: Vec<String> = signed.iter().map(|s| s.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    names.join(";")
}

/// The whole canonical request.
pub fn canonical_request<'a, I>(
    method: &str,
    path: &str,
    raw_query: &str,
    headers: I,
    signed: &[String],
    payload_hash: &str,
) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
{
    let uri = if path.is_empty() { "/" } else { path };
    format!(
        "{method}\n{uri}\n{}\n{}\n{}\n{payload_hash}",
        canonical_query(raw_query),
        canonical_headers(headers, signed),
        signed_headers_line(signed)
    )
}

/// `ACS3-HMAC-SHA256\n` followed by the hex SHA-256 of the canonical
/// request.
pub fn string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
}

fn mac_for(secret: &str, string_to_sign: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(string_to_sign.as_bytes());
    mac
}

/// Lower-case hex of HMAC-SHA-256 keyed with the secret.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    hex(&mac_for(secret, string_to_sign).finalize().into_bytes())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// True when `signature` (hex, either case) is the HMAC of `string_to_sign`
/// under `secret`; compared in constant time.
pub fn verify(secret: &str, string_to_sign: &str, signature: &str) -> bool {
    match unhex(signature) {
        Some(tag) => mac_for(secret, string_to_sign).verify_slice(&tag).is_ok(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers_parse_or_are_refused() {
        let a = parse_authorization(
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=ab01",
        )
        .unwrap();
        assert_eq!(a.algorithm, "ACS3-HMAC-SHA256");
        assert_eq!(a.credential, "AK");
        assert_eq!(a.signed_headers, ["host", "x-acs-date"]);
        assert_eq!(a.signature, "ab01");
        for bad in [
            "ACS3-HMAC-SHA256",
            "ACS3-HMAC-SHA256 Credential=AK,Signature=ab",
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=ab,Extra=1",
            "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=ab",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad}");
        }
    }

    #[test]
    fn canonical_pieces_follow_the_documented_rules() {
        assert_eq!(
            canonical_query("b=2&A=x+y%2A&a=&Permissions.10.X=1&Permissions.2.X=2"),
            "A=x%20y%2A&Permissions.10.X=1&Permissions.2.X=2&a=&b=2"
        );
        assert_eq!(canonical_query(""), "");
        let headers = [
            ("Host", " h "),
            ("x-acs-date", "d"),
            ("X-Acs-Multi", "b"),
            ("x-acs-multi", " a"),
            ("accept", "unsigned"),
        ];
        let signed = vec!["x-acs-multi".to_owned(), "host".into(), "x-acs-date".into()];
        assert_eq!(
            canonical_headers(headers, &signed),
            "host:h\nx-acs-date:d\nx-acs-multi:a,b\n"
        );
        assert_eq!(signed_headers_line(&signed), "host;x-acs-date;x-acs-multi");
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let sts = string_to_sign("x");
        assert!(verify("k", &sts, &sign("k", &sts)));
        assert!(verify("k", &sts, &sign("k", &sts).to_ascii_uppercase()));
        assert!(!verify("k2", &sts, &sign("k", &sts)));
        assert!(!verify("k", &sts, "zz"));
    }
}
