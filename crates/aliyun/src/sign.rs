//! Signature version 1.0 (HMAC-SHA1) of RPC-style requests, as pure
//! functions (reference 1.4 and 1.5).
//!
//! Nothing here reads a clock, a random source or the network: the caller
//! passes the nonce and timestamp in, so the same inputs always give the same
//! signature and the reference's test vectors can be checked byte for byte.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{KeyInit, Mac};

pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
pub const SIGNATURE_VERSION: &str = "1.0";

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// Percent-encodes `s` as the signature needs (reference 1.4): the UTF-8
/// bytes of everything but `A-Z a-z 0-9 - _ . ~` become `%XY` with uppercase
/// hex, so a space is `%20`, never `+`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    percent_encode_into(&mut out, s);
    out
}

/// [`percent_encode`] appending to `out`, to build long strings without
/// intermediate allocations.
pub fn percent_encode_into(out: &mut String, s: &str) {
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
/// the raw bytes of its name (a `BTreeMap<String, _>` iterates in exactly
/// that order), each written `enc(name)=enc(value)` and joined with `&`.
/// Empty values take part as `name=`.
pub fn canonical_query(params: &BTreeMap<String, String>) -> String {
    canonical_query_sorted(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// [`canonical_query`] over pairs the caller already yields in byte order
/// of their names, so a request need not be copied into a map to be signed.
pub fn canonical_query_sorted<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::with_capacity(1024);
    for (name, value) in params {
        if name == "Signature" {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        percent_encode_into(&mut out, name);
        out.push('=');
        percent_encode_into(&mut out, value);
    }
    out
}

/// `METHOD&%2F&enc(canonical query)`: the canonical string is encoded a
/// second time, so its `=` becomes `%3D` and every `%` becomes `%25`.
pub fn string_to_sign(http_method: &str, canonical_query: &str) -> String {
    let mut out = String::with_capacity(http_method.len() + 5 + canonical_query.len() * 5 / 4);
    out.push_str(http_method);
    out.push_str("&%2F&");
    percent_encode_into(&mut out, canonical_query);
    out
}

/// Base64 of HMAC-SHA1 over `string_to_sign`, keyed with the secret followed
/// by `&` (also for STS credentials: the token is only a parameter).
pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let mut key = Vec::with_capacity(access_key_secret.len() + 1);
    key.extend_from_slice(access_key_secret.as_bytes());
    key.push(b'&');
    // HMAC takes keys of any length, so this cannot fail; the fallback keeps
    // the function total without a panic path.
    let Ok(mut mac) = HmacSha1::new_from_slice(&key) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The three steps together: the signature of `params` sent with `http_method`.
pub fn sign_params(
    http_method: &str,
    params: &BTreeMap<String, String>,
    access_key_secret: &str,
) -> String {
    signature(
        access_key_secret,
        &string_to_sign(http_method, &canonical_query(params)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved_bytes() {
        assert_eq!(percent_encode("a b*c~d/e+f=g"), "a%20b%2Ac~d%2Fe%2Bf%3Dg");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("😀"), "%F0%9F%98%80");
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
    }

    #[test]
    fn canonical_query_sorts_by_raw_name_and_skips_signature() {
        let params: BTreeMap<String, String> = [
            ("b", "2"),
            ("SecurityGroupRuleId.2", "y"),
            ("SecurityGroupRuleId.10", "x"),
            ("Signature", "ignored"),
            ("A", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            canonical_query(&params),
            "A=&SecurityGroupRuleId.10=x&SecurityGroupRuleId.2=y&b=2"
        );
    }
}
