//! Signature version 1.0 (HMAC-SHA1), written from the reference (1.4, 1.5)
//! for verification on the server side.
//!
//! This is deliberately the emulator's own code and not the client's signer:
//! if both sides shared one implementation, a bug in it would be invisible
//! from both. The reference's test vectors run against each.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// The only signature method and version the emulator accepts.
pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
pub const SIGNATURE_VERSION: &str = "1.0";

/// Percent-encodes the UTF-8 bytes of `s`, keeping only `A-Z a-z 0-9 - _ . ~`
/// and writing every other byte as `%XY` with uppercase hex (reference 1.4).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    percent_encode_into(s, &mut out);
    out
}

fn percent_encode_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// The canonicalized query string: every parameter but `Signature`, sorted by
/// the raw bytes of its name, each written `enc(name)=enc(value)` and joined
/// with `&`. Empty values are kept; they are signed too.
pub fn canonical_query<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut pairs: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(name, _)| *name != "Signature")
        .collect();
    // A stable sort keeps repeated names in the order given; `str` ordering is
    // byte order, which is what the reference asks for.
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode_into(name, &mut out);
        out.push('=');
        percent_encode_into(value, &mut out);
    }
    out
}

/// `METHOD&%2F&enc(canonical query)` (reference 1.5 step 4).
pub fn string_to_sign<'a, I>(method: &str, params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let canonical = canonical_query(params);
    let mut out = String::with_capacity(method.len() + 5 + canonical.len() * 3 / 2);
    out.push_str(method);
    out.push_str("&%2F&");
    percent_encode_into(&canonical, &mut out);
    out
}

fn mac_for(secret: &str, string_to_sign: &str) -> Hmac<Sha1> {
    let mut key = Vec::with_capacity(secret.len() + 1);
    key.extend_from_slice(secret.as_bytes());
    key.push(b'&');
    // HMAC takes keys of any length (long ones are hashed first), so this
    // cannot fail.
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(string_to_sign.as_bytes());
    mac
}

/// Base64 of HMAC-SHA1 keyed with `secret + "&"` over `string_to_sign`.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    BASE64.encode(mac_for(secret, string_to_sign).finalize().into_bytes())
}

/// True when `signature` (base64, as sent) is the HMAC of `string_to_sign`
/// under `secret`. The comparison runs in constant time.
pub fn verify(secret: &str, string_to_sign: &str, signature: &str) -> bool {
    match BASE64.decode(signature.trim()) {
        Ok(tag) => mac_for(secret, string_to_sign).verify_slice(&tag).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_the_reference_says() {
        assert_eq!(percent_encode("a b"), "a%20b");
        assert_eq!(percent_encode("*~/+=&%"), "%2A~%2F%2B%3D%26%25");
        assert_eq!(percent_encode("café"), "caf%C3%A9");
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(percent_encode("\t\n'()!\""), "%09%0A%27%28%29%21%22");
        assert_eq!(percent_encode("😀"), "%F0%9F%98%80");
    }

    #[test]
    fn sorts_by_raw_name_bytes_and_keeps_empty_values() {
        let q = canonical_query([
            ("b", "2"),
            ("SecurityGroupRuleId.2", "x"),
            ("SecurityGroupRuleId.10", "y"),
            ("SignatureType", ""),
            ("Signature", "dropped"),
            ("a", "1"),
        ]);
        assert_eq!(
            q,
            "SecurityGroupRuleId.10=y&SecurityGroupRuleId.2=x&SignatureType=&a=1&b=2"
        );
    }

    #[test]
    fn doc_example_signs_as_published() {
        let params = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ];
        let sts = string_to_sign("GET", params);
        assert_eq!(sign("testsecret", &sts), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
        assert!(verify("testsecret", &sts, "OLeaidS1JvxuMvnyHOwuJ+uX5qY="));
        assert!(!verify("testsecret2", &sts, "OLeaidS1JvxuMvnyHOwuJ+uX5qY="));
        assert!(!verify("testsecret", &sts, "not base64!"));
    }
}
