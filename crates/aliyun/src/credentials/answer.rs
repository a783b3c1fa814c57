//! The answer the ECS metadata service and a credentials URI both give:
//! `{"Code": "Success", "AccessKeyId", "AccessKeySecret", "SecurityToken",
//! "Expiration"}`. One parser for both, so they accept and refuse alike.

use serde::Deserialize;

use super::Credentials;
use crate::secret::Secret;

// No `Debug`: it holds secrets.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyAnswer {
    #[serde(default)]
    code: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    access_key_secret: Secret,
    #[serde(default)]
    security_token: Secret,
    #[serde(default)]
    expiration: String,
}

/// Why an answer holds no usable credentials. Never quotes a secret.
#[derive(Debug)]
pub(crate) enum AnswerProblem {
    /// Not the JSON of an answer.
    Malformed(serde_json::Error),
    /// `Code` is not `Success` (the code given).
    NotSuccess(String),
    /// The key id, the secret or the token is empty.
    Empty,
    /// `Expiration` is not a timestamp (the value given).
    Expiration(String),
}

impl AnswerProblem {
    /// The problem in a few words, for an error message.
    pub(crate) fn why(&self) -> String {
        match self {
            AnswerProblem::Malformed(e) => format!("{:?}", e.classify()),
            AnswerProblem::NotSuccess(_) => "Code is not Success".to_owned(),
            AnswerProblem::Empty => {
                "AccessKeyId, AccessKeySecret or SecurityToken is empty".to_owned()
            }
            AnswerProblem::Expiration(_) => "Expiration is not YYYY-MM-DDThh:mm:ssZ".to_owned(),
        }
    }
}

/// Temporary credentials from an answer, or why there are none.
pub(crate) fn parse_key_answer(body: &[u8]) -> Result<Credentials, AnswerProblem> {
    let parsed: KeyAnswer = serde_json::from_slice(body).map_err(AnswerProblem::Malformed)?;
    if parsed.code != "Success" {
        return Err(AnswerProblem::NotSuccess(parsed.code));
    }
    if parsed.access_key_id.is_empty()
        || parsed.access_key_secret.is_empty()
        || parsed.security_token.is_empty()
    {
        return Err(AnswerProblem::Empty);
    }
    let expiration: jiff::Timestamp = parsed
        .expiration
        .parse()
        .map_err(|_| AnswerProblem::Expiration(parsed.expiration.clone()))?;
    Ok(Credentials::sts(
        parsed.access_key_id,
        parsed.access_key_secret,
        parsed.security_token,
    )
    .with_expiration(expiration))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(body: &str) -> AnswerProblem {
        match parse_key_answer(body.as_bytes()) {
            Ok(_) => panic!("accepted {body}"),
            Err(p) => p,
        }
    }

    #[test]
    fn a_complete_answer_is_sts_credentials_with_their_expiry() {
        let body = r#"{"Code": "Success", "AccessKeyId": "STS.id", "AccessKeySecret": "s3cret",
            "SecurityToken": "t0ken", "Expiration": "2026-12-01T10:00:00Z", "LastUpdated": "x"}"#;
        let c = parse_key_answer(body.as_bytes()).expect("credentials");
        assert_eq!(c.access_key_id(), "STS.id");
        assert_eq!(
            c.expiration(),
            Some("2026-12-01T10:00:00Z".parse().expect("timestamp"))
        );
    }

    #[test]
    fn every_incomplete_answer_is_refused_without_quoting_a_secret() {
        assert!(matches!(problem("not json"), AnswerProblem::Malformed(_)));
        assert!(matches!(
            problem(r#"{"Code": "Failed"}"#),
            AnswerProblem::NotSuccess(c) if c == "Failed"
        ));
        assert!(matches!(
            problem(r#"{"Code": "Success", "AccessKeyId": "id", "AccessKeySecret": "s3cret"}"#),
            AnswerProblem::Empty
        ));
        let p = problem(
            r#"{"Code": "Success", "AccessKeyId": "id", "AccessKeySecret": "s3cret",
                "SecurityToken": "t0ken", "Expiration": "tomorrow"}"#,
        );
        assert!(matches!(&p, AnswerProblem::Expiration(v) if v == "tomorrow"));
        assert!(!format!("{p:?} {}", p.why()).contains("s3cret"));
    }
}
