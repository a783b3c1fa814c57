//! Credentials from outside moat: the `External` profile mode (a command
//! that prints them) and `CredentialsURI` (a URL that answers them).
//!
//! The command's output is the aliyun CLI's: JSON with `mode` (`AK` or
//! `StsToken`), `access_key_id`, `access_key_secret`, `sts_token` and an
//! optional `expiration` (RFC 3339). The URL answers like the ECS metadata
//! service: `Code` `Success`, `AccessKeyId`, `AccessKeySecret`,
//! `SecurityToken`, `Expiration`.

use std::time::Duration;

use serde::Deserialize;

use super::answer::parse_key_answer;

use super::Credentials;
use crate::secret::Secret;

/// Bound on the command and on each URL request.
pub const EXTERNAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why an external source gave no credentials. Neither the command's output
/// nor the URL's answer is quoted: both hold secrets.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("process_command is empty")]
    EmptyCommand,
    #[error("process_command has an unclosed quote")]
    Unquoted,
    #[error("cannot run process_command {program:?}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("process_command {program:?} did not finish within {}s", after.as_secs())]
    Timeout { program: String, after: Duration },
    #[error("process_command {program:?} exited with {status}")]
    Failed { program: String, status: String },
    #[error("the output of process_command {program:?} is not credentials JSON ({why})")]
    Output { program: String, why: String },
    #[error("cannot set up an HTTP client for the credentials URI")]
    Client(#[source] reqwest::Error),
    #[error("cannot set up TLS for the credentials URI")]
    Tls(#[source] crate::tls::TlsError),
    #[error("credentials URI {url} unreachable")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("credentials URI {url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("credentials URI {url} answered something other than credentials ({why})")]
    Answer { url: String, why: String },
}

// No `Debug`: it holds secrets.
#[derive(Deserialize)]
struct ProcessOutput {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    access_key_secret: Secret,
    #[serde(default)]
    sts_token: Secret,
    #[serde(default)]
    expiration: Option<String>,
}

/// Splits a command line as a POSIX shell would without expanding
/// anything: whitespace separates words, single quotes keep everything,
/// double quotes keep everything but `\"` and `\\`, a backslash outside
/// quotes escapes the next character.
pub fn split_command(line: &str) -> Result<Vec<String>, ExternalError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(ExternalError::Unquoted),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(ExternalError::Unquoted),
                        },
                        Some(c) => word.push(c),
                        None => return Err(ExternalError::Unquoted),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Runs `command` (no shell) and reads the credentials it prints.
pub(crate) async fn run_process(command: &str) -> Result<Credentials, ExternalError> {
    let words = split_command(command)?;
    let Some((program, args)) = words.split_first() else {
        return Err(ExternalError::EmptyCommand);
    };
    let program = program.clone();
    let mut child = tokio::process::Command::new(&program);
    child
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        // The command's own diagnostics go to the user's terminal.
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    let spawned = child.spawn().map_err(|source| ExternalError::Spawn {
        program: program.clone(),
        source,
    })?;
    let output = match tokio::time::timeout(EXTERNAL_TIMEOUT, spawned.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(source)) => return Err(ExternalError::Spawn { program, source }),
        Err(_) => {
            return Err(ExternalError::Timeout {
                program,
                after: EXTERNAL_TIMEOUT,
            });
        }
    };
    if !output.status.success() {
        return Err(ExternalError::Failed {
            program,
            status: output.status.to_string(),
        });
    }
    let bad = |why: &str| ExternalError::Output {
        program: program.clone(),
        why: why.to_owned(),
    };
    // serde's message could quote a value; only its category is kept.
    let parsed: ProcessOutput =
        serde_json::from_slice(&output.stdout).map_err(|e| bad(&format!("{:?}", e.classify())))?;
    if parsed.access_key_id.is_empty() || parsed.access_key_secret.is_empty() {
        return Err(bad("access_key_id or access_key_secret is empty"));
    }
    let sts = parsed.mode.eq_ignore_ascii_case("StsToken");
    if sts && parsed.sts_token.is_empty() {
        return Err(bad("mode StsToken without sts_token"));
    }
    let mut credentials = if sts || !parsed.sts_token.is_empty() {
        Credentials::sts(
            parsed.access_key_id,
            parsed.access_key_secret,
            parsed.sts_token,
        )
    } else {
        Credentials::access_key(parsed.access_key_id, parsed.access_key_secret)
    };
    if let Some(text) = parsed.expiration.filter(|t| !t.trim().is_empty()) {
        let at: jiff::Timestamp = text
            .trim()
            .parse()
            .map_err(|_| bad("expiration is not an RFC 3339 time"))?;
        credentials = credentials.with_expiration(at);
    }
    Ok(credentials)
}

/// Fetches credentials from a credentials URI.
pub(crate) async fn fetch_uri(url: &str) -> Result<Credentials, ExternalError> {
    let http = crate::tls::http_client(None)
        .map_err(ExternalError::Tls)?
        .no_proxy()
        .timeout(EXTERNAL_TIMEOUT)
        .build()
        .map_err(ExternalError::Client)?;
    let unreachable = |source: reqwest::Error| ExternalError::Unreachable {
        url: url.to_owned(),
        source: source.without_url(),
    };
    let resp = http.get(url).send().await.map_err(unreachable)?;
    let status = resp.status().as_u16();
    if !resp.status().is_success() {
        return Err(ExternalError::Status {
            url: url.to_owned(),
            status,
        });
    }
    let body = resp.bytes().await.map_err(unreachable)?;
    let bad = |why: &str| ExternalError::Answer {
        url: url.to_owned(),
        why: why.to_owned(),
    };
    parse_key_answer(&body).map_err(|problem| bad(&problem.why()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell_without_expansion() {
        assert_eq!(
            split_command(r#"get-creds --role 'a b' "c \"d\"" e\ f $HOME"#).unwrap(),
            ["get-creds", "--role", "a b", "c \"d\"", "e f", "$HOME"]
        );
        assert!(split_command("x 'open").is_err());
        assert!(split_command("   ").unwrap().is_empty());
        assert_eq!(split_command("a''b \"\"").unwrap(), ["ab", ""]);
    }
}
