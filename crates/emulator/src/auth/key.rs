//! The access keys an emulator accepts, and their command-line form.

use std::fmt;

use crate::error::KeySpecError;

/// Access key id of the demo pair the emulator accepts when no key is given.
pub const DEMO_ACCESS_KEY_ID: &str = "LTAI5tMoatDemoAccessKey";
/// Secret of the demo pair. It protects nothing: the emulator only listens on
/// loopback unless told otherwise.
pub const DEMO_ACCESS_KEY_SECRET: &str = "MoatDemoSecretForTheLocalEmulator";

/// One access key the emulator accepts. An STS key carries the security
/// token that requests made with it must present.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) security_token: Option<String>,
}

impl AccessKey {
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> AccessKey {
        AccessKey {
            id: id.into(),
            secret: secret.into(),
            security_token: None,
        }
    }

    /// The demo pair ([`DEMO_ACCESS_KEY_ID`], [`DEMO_ACCESS_KEY_SECRET`]).
    pub fn demo() -> AccessKey {
        AccessKey::new(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET)
    }

    /// Requires requests signed with this key to carry `SecurityToken = token`.
    pub fn with_security_token(mut self, token: impl Into<String>) -> AccessKey {
        self.security_token = Some(token.into());
        self
    }

    /// Reads `ID:SECRET` or `ID:SECRET:SECURITY_TOKEN` (the command line form).
    pub fn parse_spec(spec: &str) -> Result<AccessKey, KeySpecError> {
        let mut parts = spec.splitn(3, ':');
        let id = parts.next().ok_or(KeySpecError::Shape)?;
        let secret = parts.next().ok_or(KeySpecError::Shape)?;
        if id.is_empty() {
            return Err(KeySpecError::EmptyId);
        }
        if secret.is_empty() {
            return Err(KeySpecError::EmptySecret);
        }
        let key = AccessKey::new(id, secret);
        Ok(match parts.next() {
            Some(token) if !token.is_empty() => key.with_security_token(token),
            Some(_) => return Err(KeySpecError::Shape),
            None => key,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }
}

impl fmt::Debug for AccessKey {
    // Secrets never reach a log: the id is shown, the rest is redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_specs_parse_and_redact() {
        let k = AccessKey::parse_spec("id:s3cr3tv4lue:t0k3nv4lue").unwrap();
        assert_eq!(
            (k.id(), k.secret(), k.security_token()),
            ("id", "s3cr3tv4lue", Some("t0k3nv4lue"))
        );
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("s3cr3t") && !dbg.contains("t0k3n"), "{dbg}");
        assert_eq!(AccessKey::parse_spec("id"), Err(KeySpecError::Shape));
        assert_eq!(AccessKey::parse_spec(":s"), Err(KeySpecError::EmptyId));
        assert_eq!(AccessKey::parse_spec("i:"), Err(KeySpecError::EmptySecret));
        assert_eq!(AccessKey::parse_spec("i:s:"), Err(KeySpecError::Shape));
    }
}
