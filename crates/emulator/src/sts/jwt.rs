//! Reading an OIDC token (a JWT) the way AssumeRoleWithOIDC needs: its
//! claims, without checking its signature.
//!
//! The emulator has no way to fetch an issuer's keys (it serves loopback
//! only), so a token is accepted when it is well formed, names the issuer
//! the provider was declared with and has not expired. Each failure answers
//! the real code and message of the STS error table.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::error::ApiError;

/// The claims AssumeRoleWithOIDC looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Claims {
    pub issuer: String,
    pub subject: String,
    /// `aud`, a string or a list.
    pub audiences: Vec<String>,
    pub expires: i64,
    pub issued_at: Option<i64>,
}

fn invalid(message: &str) -> ApiError {
    ApiError::new(401, "AuthenticationFail.OIDCToken.Invalid", message)
}

fn decode_part(part: &str) -> Result<Value, ApiError> {
    // Some issuers pad; the standard says not to. Both are read.
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| invalid("Cannot decode base64 encoded response(format invalided)."))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| invalid("The Jwt content is invalid that cannot be recognized."))
}

/// The claims of `token`, or the error the service answers for a token it
/// cannot read.
pub(crate) fn read_claims(token: &str) -> Result<Claims, ApiError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(invalid("The OIDCToken can not empty."));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(invalid(
            "The number of Jwt field should be divided into 3 parts with '.' .",
        ));
    }
    let header = decode_part(parts[0])?;
    let payload = decode_part(parts[1])?;
    let unrecognised = || invalid("The Jwt content is invalid that cannot be recognized.");
    if !header.is_object() {
        return Err(unrecognised());
    }
    let issuer = payload
        .get("iss")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(unrecognised)?;
    let expires = payload
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(unrecognised)?;
    let audiences = match payload.get("aud") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(unrecognised))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(unrecognised()),
    };
    Ok(Claims {
        issuer: issuer.to_owned(),
        subject: payload
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        audiences,
        expires,
        issued_at: payload.get("iat").and_then(Value::as_i64),
    })
}

/// A token for `claims` as the emulator reads them: header and payload
/// encoded, the signature a fixed placeholder. For tests and examples.
pub fn unsigned_token(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.bm90LWNoZWNrZWQ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_and_bad_tokens_refused_with_the_documented_messages() {
        let token = unsigned_token(&serde_json::json!({
            "iss": "https://token.actions.example.com", "sub": "repo:org/app",
            "aud": ["sts.aliyuncs.com"], "exp": 2_000_000_000, "iat": 1_999_999_000
        }));
        let c = read_claims(&token).unwrap();
        assert_eq!(c.issuer, "https://token.actions.example.com");
        assert_eq!(c.subject, "repo:org/app");
        assert_eq!(c.audiences, ["sts.aliyuncs.com"]);
        assert_eq!(
            (c.expires, c.issued_at),
            (2_000_000_000, Some(1_999_999_000))
        );

        let msg = |t: &str| {
            read_claims(t)
                .map_err(|e| (e.status, e.message))
                .unwrap_err()
        };
        assert_eq!(msg(""), (401, "The OIDCToken can not empty.".to_owned()));
        assert!(msg("a.b").1.contains("3 parts"));
        assert!(msg("a.b.c.d").1.contains("3 parts"));
        assert!(msg("!!.e30.x").1.contains("base64"));
        let no_exp = unsigned_token(&serde_json::json!({"iss": "i"}));
        assert!(msg(&no_exp).1.contains("cannot be recognized"));
        let not_json = format!(
            "{}.{}.x",
            URL_SAFE_NO_PAD.encode("{}"),
            URL_SAFE_NO_PAD.encode("nope")
        );
        assert!(msg(&not_json).1.contains("cannot be recognized"));
    }
}
