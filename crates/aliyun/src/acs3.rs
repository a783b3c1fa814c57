//! Signature ACS3-HMAC-SHA256 (Alibaba's "V3" request signature) as pure
//! functions, for signing on the client side:
//!
//! ```text
//! CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n
//!                    CanonicalHeaders \n SignedHeaders \n HashedRequestPayload
//! StringToSign     = "ACS3-HMAC-SHA256" \n hex(SHA-256(CanonicalRequest))
//! Signature        = hex(HMAC-SHA-256(AccessKeySecret, StringToSign))
//! Authorization    = ACS3-HMAC-SHA256 Credential=<AccessKeyId>,
//!                    SignedHeaders=<SignedHeaders>,Signature=<Signature>
//! ```
//!
//! The query parameters are sorted by the bytes of their names and written
//! `enc(name)=enc(value)` with the percent-encoding of signature v1.0; each
//! signed header is `name:value\n` with the name in lower case and the value
//! trimmed, in name order; `SignedHeaders` is the same names joined with
//! `;`. The key is the secret itself (v1.0 appends `&`; V3 does not).
//!
//! Like [`crate::sign`], nothing here reads a clock or a random source: the
//! caller passes the nonce and date in, so the official SDK's vectors can
//! be checked byte for byte.

use hmac::{KeyInit, Mac};
use sha2::{Digest as _, Sha256};

use crate::sign::percent_encode_into;

pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// The SHA-256 of an empty body, the `x-acs-content-sha256` of every call
/// that carries its parameters in the query.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

type HmacSha256 = hmac::Hmac<Sha256>;

/// Lower-case hex of the SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// The canonical query string of `params`, which need not be sorted.
/// Parameters of the same name keep their relative order.
pub fn canonical_query<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(&str, &str)> = params.into_iter().collect();
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::with_capacity(pairs.len() * 32);
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        percent_encode_into(&mut out, name);
        out.push('=');
        percent_encode_into(&mut out, value);
    }
    out
}

/// Headers as they are signed: names in lower case, values trimmed, sorted
/// by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders(Vec<(String, String)>);

impl SignedHeaders {
    pub fn new<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> SignedHeaders {
        let mut list: Vec<(String, String)> = headers
            .into_iter()
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        SignedHeaders(list)
    }

    /// `name:value\n` for each header.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.0 {
            out.push_str(name);
            out.push(':');
            out.push_str(value);
            out.push('\n');
        }
        out
    }

    /// The names joined with `;`.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
        names.join(";")
    }
}

/// The six lines of the canonical request.
pub fn canonical_request(
    method: &str,
    path: &str,
    canonical_query: &str,
    headers: &SignedHeaders,
    payload_sha256: &str,
) -> String {
    format!(
        "{method}\n{path}\n{canonical_query}\n{}\n{}\n{payload_sha256}",
        headers.canonical(),
        headers.names()
    )
}

pub fn string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// Lower-case hex of HMAC-SHA256 over `string_to_sign`, keyed with the
/// secret.
pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail; the fallback keeps
    // the function total without a panic path.
    let Ok(mut mac) = HmacSha256::new_from_slice(access_key_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// The `Authorization` header's value.
pub fn authorization(access_key_id: &str, headers: &SignedHeaders, signature: &str) -> String {
    format!(
        "{ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={signature}",
        headers.names()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_payload_hash_is_the_sha256_of_nothing() {
        assert_eq!(sha256_hex(b""), EMPTY_PAYLOAD_SHA256);
    }

    #[test]
    fn query_sorts_by_raw_name_and_encodes_both_sides() {
        let q = canonical_query([
            ("b", "x y"),
            ("Permissions.2.A", "2"),
            ("Permissions.10.A", "10"),
            ("A", ""),
        ]);
        assert_eq!(q, "A=&Permissions.10.A=10&Permissions.2.A=2&b=x%20y");
    }

    #[test]
    fn headers_are_lowercased_trimmed_and_sorted() {
        let h = SignedHeaders::new([("X-Acs-Date", " 2026 "), ("host", "h")]);
        assert_eq!(h.canonical(), "host:h\nx-acs-date:2026\n");
        assert_eq!(h.names(), "host;x-acs-date");
    }
}
