//! Temporary credentials of the chain against the emulator's STS over
//! loopback: RamRoleArn and ChainableRamRoleArn profiles, OIDC from the
//! environment and from a profile, External and CredentialsURI, the STS
//! endpoint, the service's errors, and keys fetched again when the service
//! says they expired.

use std::path::Path;
use std::sync::Arc;

use moat_aliyun::credentials::{
    ENV_ACCESS_KEY_ID, ENV_CREDENTIALS_URI, ENV_ECS_METADATA_DISABLED, ENV_OIDC_PROVIDER_ARN,
    ENV_OIDC_TOKEN_FILE, ENV_ROLE_ARN, ENV_ROLE_SESSION_NAME,
};
use moat_aliyun::{
    Client, CredentialError, CredentialInputs, CredentialSource, Environment, GroupFilter,
    ResolvedCredentials, SignatureVersion, resolve_credentials,
};
use moat_emulator::{EmulatorHandle, ManualClock, OidcProvider, unsigned_token};
use serde_json::json;

use crate::emulator::{KEY_ID, KEY_SECRET, config, emulator};
use crate::metadata_server::{Behaviour, MetadataServer};
use crate::secrets::{assert_clean, chain};

const ROLE: &str = "acs:ram::1000000000000001:role/moat-readonly";
const PROVIDER: &str = "acs:ram::1000000000000001:oidc-provider/ci";
const ISSUER: &str = "https://token.ci.example.test";

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn sts_emulator(clock: Option<ManualClock>) -> EmulatorHandle {
    emulator(|c| {
        c.roles = vec![ROLE.to_owned()];
        c.oidc_providers = vec![OidcProvider {
            arn: PROVIDER.to_owned(),
            issuer: ISSUER.to_owned(),
        }];
        if let Some(clock) = clock {
            c.clock = Arc::new(clock);
        }
    })
}

/// Inputs with metadata disabled and `--endpoint` at the emulator, so STS
/// calls go there too.
fn inputs(handle: &EmulatorHandle, home: &Path, pairs: &[(&str, &str)]) -> CredentialInputs {
    let mut env: Environment = pairs.iter().copied().collect();
    env.set(ENV_ECS_METADATA_DISABLED, "true");
    let mut i = CredentialInputs::new(env, Some(home.to_owned()));
    i.endpoint = Some(handle.endpoint());
    i
}

fn write_config(home: &Path, json: &serde_json::Value) {
    let dir = home.join(".aliyun");
    std::fs::create_dir_all(&dir).expect("create config dir");
    std::fs::write(dir.join("config.json"), json.to_string()).expect("write config");
}

fn oidc_token(issuer: &str, expires_in: i64) -> String {
    unsigned_token(&json!({
        "iss": issuer,
        "sub": "repo:example/moat:ref:refs/heads/main",
        "aud": "sts.aliyuncs.com",
        "iat": now(),
        "exp": now() + expires_in,
    }))
}

/// A call with the resolved credentials must succeed on the ECS side.
async fn works_against(handle: &EmulatorHandle, resolved: &ResolvedCredentials) {
    let current = resolved.provider.current().await.expect("credentials");
    assert!(current.access_key_id().starts_with("STS."), "{current:?}");
    assert!(current.security_token().is_some());
    let mut c = config(
        handle,
        moat_aliyun::Credentials::access_key("unused", "unused"),
    );
    c.credentials = resolved.provider.clone();
    let client = Client::new(&c).expect("config");
    client
        .describe_security_groups(&GroupFilter::default())
        .await
        .expect("the STS key is accepted by ECS");
}

#[tokio::test]
async fn a_ram_role_arn_profile_assumes_the_role_with_either_signature() {
    for version in [SignatureVersion::V3, SignatureVersion::V1] {
        let handle = sts_emulator(None);
        let home = tempfile::tempdir().unwrap();
        write_config(
            home.path(),
            &json!({"current": "nightly", "profiles": [{
                "name": "nightly", "mode": "RamRoleArn", "access_key_id": KEY_ID,
                "access_key_secret": KEY_SECRET, "ram_role_arn": ROLE,
                "ram_session_name": "nightly-drift", "expired_seconds": 900,
                "region_id": "cn-shanghai"}]}),
        );
        let mut i = inputs(&handle, home.path(), &[]);
        i.signature_version = version;
        let resolved = resolve_credentials(&i).await.expect("role assumed");
        assert_eq!(resolved.region.as_deref(), Some("cn-shanghai"));
        match &resolved.source {
            CredentialSource::ProfileMode { profile, mode, .. } => {
                assert_eq!((profile.as_str(), *mode), ("nightly", "RamRoleArn"));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            resolved.source.to_string().contains(ROLE),
            "{}",
            resolved.source
        );
        works_against(&handle, &resolved).await;
        let stats = handle.emulator().stats();
        assert_eq!(stats.ok("AssumeRole"), 1, "{version:?}");
        assert_eq!(stats.ok("DescribeSecurityGroups"), 1);
    }
}

#[tokio::test]
async fn a_chainable_profile_assumes_the_role_with_its_source_profile() {
    let handle = sts_emulator(None);
    let home = tempfile::tempdir().unwrap();
    write_config(
        home.path(),
        &json!({"current": "default", "profiles": [
            {"name": "default", "mode": "AK", "access_key_id": "unused", "access_key_secret": "unused"},
            {"name": "base", "mode": "AK", "access_key_id": KEY_ID, "access_key_secret": KEY_SECRET},
            {"name": "reader", "mode": "ChainableRamRoleArn", "source_profile": "base",
             "ram_role_arn": ROLE, "ram_session_name": "reader"},
            {"name": "hop", "mode": "ChainableRamRoleArn", "source_profile": "reader",
             "ram_role_arn": ROLE, "ram_session_name": "hop"},
            {"name": "loop-a", "mode": "ChainableRamRoleArn", "source_profile": "loop-b", "ram_role_arn": ROLE},
            {"name": "loop-b", "mode": "ChainableRamRoleArn", "source_profile": "loop-a", "ram_role_arn": ROLE},
            {"name": "orphan", "mode": "ChainableRamRoleArn", "source_profile": "nobody", "ram_role_arn": ROLE}
        ]}),
    );
    let mut i = inputs(&handle, home.path(), &[]);
    i.profile = Some("reader".into());
    let resolved = resolve_credentials(&i).await.expect("role assumed");
    let shown = resolved.source.to_string();
    assert!(
        shown.contains("ChainableRamRoleArn") && shown.contains("source profile \"base\""),
        "{shown}"
    );
    works_against(&handle, &resolved).await;

    // A role assumed with the keys of another assumed role.
    i.profile = Some("hop".into());
    let resolved = resolve_credentials(&i).await.expect("role chained twice");
    works_against(&handle, &resolved).await;
    assert_eq!(handle.emulator().stats().ok("AssumeRole"), 3);

    i.profile = Some("loop-a".into());
    let e = resolve_credentials(&i).await.unwrap_err();
    assert!(
        matches!(&e, CredentialError::ProfileChain { chain, .. } if chain.join(">") == "loop-a>loop-b>loop-a"),
        "{e:?}"
    );
    i.profile = Some("orphan".into());
    let e = resolve_credentials(&i).await.unwrap_err();
    assert!(
        matches!(&e, CredentialError::ProfileNotFound { profile, .. } if profile == "nobody"),
        "{e:?}"
    );
}

#[tokio::test]
async fn oidc_environment_variables_need_no_long_lived_key() {
    let handle = sts_emulator(None);
    let home = tempfile::tempdir().unwrap();
    let token_file = home.path().join("oidc-token");
    std::fs::write(&token_file, oidc_token(ISSUER, 600)).unwrap();
    let token_path = token_file.to_string_lossy().into_owned();
    // A profile that would work is in the file, but OIDC comes first.
    write_config(
        home.path(),
        &json!({"current": "default", "profiles": [
            {"name": "default", "mode": "AK", "access_key_id": KEY_ID, "access_key_secret": KEY_SECRET}]}),
    );
    let i = inputs(
        &handle,
        home.path(),
        &[
            (ENV_ROLE_ARN, ROLE),
            (ENV_OIDC_PROVIDER_ARN, PROVIDER),
            (ENV_OIDC_TOKEN_FILE, &token_path),
            (ENV_ROLE_SESSION_NAME, "nightly-drift"),
        ],
    );
    let resolved = resolve_credentials(&i).await.expect("OIDC exchange");
    assert_eq!(
        resolved.source,
        CredentialSource::OidcEnvironment {
            role_arn: ROLE.into(),
            provider_arn: PROVIDER.into()
        }
    );
    works_against(&handle, &resolved).await;
    assert_eq!(handle.emulator().stats().ok("AssumeRoleWithOIDC"), 1);

    // The same from an OIDC profile.
    write_config(
        home.path(),
        &json!({"current": "ci", "profiles": [
            {"name": "ci", "mode": "OIDC", "ram_role_arn": ROLE, "oidc_provider_arn": PROVIDER,
             "oidc_token_file": token_path, "role_session_name": "ci-run"}]}),
    );
    let resolved = resolve_credentials(&inputs(&handle, home.path(), &[]))
        .await
        .expect("OIDC profile");
    assert!(
        resolved.source.to_string().contains("mode OIDC"),
        "{}",
        resolved.source
    );
    works_against(&handle, &resolved).await;
}

#[tokio::test]
async fn sts_errors_are_the_services_and_never_hold_a_secret() {
    let handle = sts_emulator(None);
    let home = tempfile::tempdir().unwrap();
    let write_token = |name: &str, token: &str| {
        let p = home.path().join(name);
        std::fs::write(&p, token).unwrap();
        p.to_string_lossy().into_owned()
    };
    let wrong_issuer = oidc_token("https://elsewhere.example.test", 600);
    let expired = oidc_token(ISSUER, -60);
    let cases = [
        (
            write_token("wrong", &wrong_issuer),
            wrong_issuer.clone(),
            ROLE,
            "AuthenticationFail.OIDCToken.IssuerNotMatch",
        ),
        (
            write_token("expired", &expired),
            expired.clone(),
            ROLE,
            "AuthenticationFail.OIDCToken.Expired",
        ),
        (
            write_token("good", &oidc_token(ISSUER, 600)),
            String::new(),
            "acs:ram::1000000000000001:role/unknown",
            "EntityNotExist.Role",
        ),
    ];
    for (file, token, role, code) in cases {
        let i = inputs(
            &handle,
            home.path(),
            &[
                (ENV_ROLE_ARN, role),
                (ENV_OIDC_PROVIDER_ARN, PROVIDER),
                (ENV_OIDC_TOKEN_FILE, &file),
            ],
        );
        let e = resolve_credentials(&i).await.unwrap_err();
        let text = chain(&e);
        assert!(text.contains(code), "{text}");
        if !token.is_empty() {
            assert!(!text.contains(&token), "{text}");
        }
    }

    // Some of the three variables, but not all: an error naming the rest.
    let i = inputs(&handle, home.path(), &[(ENV_ROLE_ARN, ROLE)]);
    let e = resolve_credentials(&i).await.unwrap_err().to_string();
    assert!(
        e.contains(ENV_OIDC_PROVIDER_ARN) && e.contains(ENV_OIDC_TOKEN_FILE),
        "{e}"
    );
    let i = inputs(
        &handle,
        home.path(),
        &[
            (ENV_ROLE_ARN, ROLE),
            (ENV_OIDC_PROVIDER_ARN, PROVIDER),
            (ENV_OIDC_TOKEN_FILE, "/nonexistent/token"),
        ],
    );
    let e = resolve_credentials(&i).await.unwrap_err();
    assert!(matches!(e, CredentialError::OidcTokenFile { .. }), "{e:?}");

    // A wrong source secret: the service's message quotes the string to
    // sign; nothing secret survives in the error or in Debug output.
    write_config(
        home.path(),
        &json!({"current": "r", "profiles": [{"name": "r", "mode": "RamRoleArn",
            "access_key_id": KEY_ID, "access_key_secret": "PLANTED-secret/k3y+Q=",
            "ram_role_arn": ROLE}]}),
    );
    for version in [SignatureVersion::V1, SignatureVersion::V3] {
        let mut i = inputs(&handle, home.path(), &[]);
        i.signature_version = version;
        let e = resolve_credentials(&i).await.unwrap_err();
        let text = chain(&e);
        assert!(text.contains("SignatureDoesNotMatch"), "{text}");
        assert_clean("AssumeRole error", &text);
        assert_clean("inputs", &format!("{i:?}"));
    }
}

#[tokio::test]
async fn the_sts_endpoint_flag_wins_and_plain_http_needs_loopback() {
    let handle = sts_emulator(None);
    let home = tempfile::tempdir().unwrap();
    write_config(
        home.path(),
        &json!({"current": "r", "profiles": [{"name": "r", "mode": "RamRoleArn",
            "access_key_id": KEY_ID, "access_key_secret": KEY_SECRET, "ram_role_arn": ROLE}]}),
    );
    let mut i = inputs(&handle, home.path(), &[]);
    // Nothing answers at the API endpoint; STS goes to --sts-endpoint.
    i.endpoint = Some("http://127.0.0.1:9".into());
    i.sts_endpoint = Some(handle.endpoint());
    resolve_credentials(&i)
        .await
        .expect("STS at --sts-endpoint");
    i.sts_endpoint = Some("http://10.1.2.3:8080".into());
    let e = resolve_credentials(&i).await.unwrap_err();
    assert!(
        matches!(
            e,
            CredentialError::StsEndpoint(moat_aliyun::ConfigError::PlainHttpNotLoopback { .. })
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn external_commands_and_credentials_uris_give_keys() {
    let handle = sts_emulator(None);
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("get creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = --profile ] || exit 3\nprintf '%s' '{{\"mode\":\"AK\",\"access_key_id\":\"{KEY_ID}\",\"access_key_secret\":\"{KEY_SECRET}\"}}'\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let command = format!("'{}' --profile ops", script.display());
    write_config(
        home.path(),
        &json!({"current": "ext", "profiles": [
            {"name": "ext", "mode": "External", "process_command": command},
            {"name": "bad", "mode": "External", "process_command": format!("'{}'", script.display())},
            {"name": "uri", "mode": "CredentialsURI", "credentials_uri": "http://127.0.0.1:9/creds?token=PLANTED"}
        ]}),
    );
    let resolved = resolve_credentials(&inputs(&handle, home.path(), &[]))
        .await
        .expect("the command's keys");
    assert!(
        resolved.source.to_string().contains("mode External"),
        "{}",
        resolved.source
    );
    let current = resolved.provider.current().await.unwrap();
    assert_eq!(current.access_key_id(), KEY_ID);

    let mut i = inputs(&handle, home.path(), &[]);
    i.profile = Some("bad".into());
    let e = chain(&resolve_credentials(&i).await.unwrap_err());
    assert!(e.contains("exited with"), "{e}");
    // The URI's query may hold a token: the error names the URL without it.
    i.profile = Some("uri".into());
    let e = chain(&resolve_credentials(&i).await.unwrap_err());
    assert!(
        e.contains("unreachable") || e.contains("credentials URI"),
        "{e}"
    );

    // ALIBABA_CLOUD_CREDENTIALS_URI, after the metadata service answered
    // 404: the URI's answer is read like the metadata service's.
    let metadata = MetadataServer::start(Behaviour {
        require_token: false,
        ..Behaviour::default()
    })
    .await;
    let uri = format!(
        "{}/latest/meta-data/ram/security-credentials/moat-role",
        metadata.url()
    );
    let not_here = MetadataServer::start(Behaviour {
        role: String::new(),
        require_token: false,
        ..Behaviour::default()
    })
    .await;
    let empty = tempfile::tempdir().unwrap();
    let mut env: Environment = [(ENV_CREDENTIALS_URI, uri.as_str())].into_iter().collect();
    env.set(ENV_ACCESS_KEY_ID, "");
    let mut i = CredentialInputs::new(env, Some(empty.path().to_owned()));
    i.metadata_base_url = format!("{}/nothing", not_here.url());
    let resolved = resolve_credentials(&i).await.expect("the URI's keys");
    assert_eq!(
        resolved.source,
        CredentialSource::CredentialsUri { url: uri.clone() }
    );
    let current = resolved.provider.current().await.unwrap();
    assert_eq!(current.access_key_id(), "STS.metadata-id");
}

#[tokio::test]
async fn a_metadata_404_still_lists_every_source_tried() {
    let not_here = MetadataServer::start(Behaviour {
        require_token: false,
        ..Behaviour::default()
    })
    .await;
    let empty = tempfile::tempdir().unwrap();
    let mut i = CredentialInputs::new(Environment::new(), Some(empty.path().to_owned()));
    i.metadata_base_url = format!("{}/nothing", not_here.url());
    let e = resolve_credentials(&i).await.unwrap_err();
    let text = e.to_string();
    for source in [
        "flags",
        "environment",
        "OIDC environment",
        "aliyun CLI config",
        "ECS instance RAM role",
        "404",
        "credentials URI",
    ] {
        assert!(text.contains(source), "{source}: {text}");
    }
}

/// A long apply: the emulator's clock runs past the STS key's expiry
/// between calls; the service refuses the key as expired, and the client
/// assumes the role again and repeats the call, without the caller seeing
/// an error.
#[tokio::test]
async fn an_expired_sts_key_is_fetched_again_and_the_call_repeated() {
    let clock = ManualClock::new(now());
    let handle = sts_emulator(Some(clock.clone()));
    let home = tempfile::tempdir().unwrap();
    write_config(
        home.path(),
        &json!({"current": "r", "profiles": [{"name": "r", "mode": "RamRoleArn",
            "access_key_id": KEY_ID, "access_key_secret": KEY_SECRET, "ram_role_arn": ROLE,
            "expired_seconds": 900}]}),
    );
    let resolved = resolve_credentials(&inputs(&handle, home.path(), &[]))
        .await
        .expect("role assumed");
    let mut c = config(
        &handle,
        moat_aliyun::Credentials::access_key("unused", "unused"),
    );
    c.credentials = resolved.provider.clone();
    let client = Client::new(&c).expect("config");
    let first = resolved.provider.current().await.unwrap();
    for round in 0..2 {
        client
            .describe_security_groups(&GroupFilter::default())
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        // Exactly the key's lifetime: it has expired, and the requests'
        // timestamps (the machine's clock) are still inside the service's
        // 15-minute window, which one more step would leave.
        clock.advance(900);
    }
    let last = resolved.provider.current().await.unwrap();
    assert_ne!(first.access_key_id(), last.access_key_id());
    let stats = handle.emulator().stats();
    assert_eq!(stats.ok("AssumeRole"), 2);
    assert_eq!(stats.ok("DescribeSecurityGroups"), 2);
    assert_eq!(stats.errors("DescribeSecurityGroups"), 1);
}
