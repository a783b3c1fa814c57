//! The credentials chain, hermetic: an explicit environment snapshot, a
//! temporary home directory and a loopback metadata service.

use std::path::Path;
use std::time::Duration;

use moat_aliyun::credentials::{
    ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_CLI_PROFILE_DISABLED, ENV_ECS_METADATA_DISABLED,
    ENV_IMDSV1_DISABLED, ENV_PROFILE, ENV_SECURITY_TOKEN,
};
use moat_aliyun::{
    CredentialError, CredentialInputs, CredentialSource, Environment, Secret, resolve_credentials,
};
use moat_testkit::assert_golden;

use crate::metadata_server::{Behaviour, MetadataServer};

fn env(pairs: &[(&str, &str)]) -> Environment {
    pairs.iter().copied().collect()
}

/// Inputs with metadata disabled, so a test never waits on a network.
fn inputs(home: &Path, pairs: &[(&str, &str)]) -> CredentialInputs {
    let mut e = env(pairs);
    e.set(ENV_ECS_METADATA_DISABLED, "true");
    CredentialInputs::new(e, Some(home.to_owned()))
}

fn write_config(home: &Path, json: &str) {
    let dir = home.join(".aliyun");
    std::fs::create_dir_all(&dir).expect("create config dir");
    std::fs::write(dir.join("config.json"), json).expect("write config");
}

const CONFIG: &str = r#"{
  "current": "default",
  "profiles": [
    {"name": "default", "mode": "AK", "access_key_id": "file-default-id",
     "access_key_secret": "file-default-secret", "region_id": "cn-beijing"},
    {"name": "sts", "mode": "StsToken", "access_key_id": "STS.file-id",
     "access_key_secret": "file-sts-secret", "sts_token": "file-sts-token", "region_id": "cn-shanghai"},
    {"name": "broken", "mode": "StsToken", "access_key_id": "STS.x", "access_key_secret": "y"},
    {"name": "assume", "mode": "RamRoleArn", "access_key_id": "a", "access_key_secret": "b"}
  ],
  "meta_path": ""
}"#;

async fn id_of(inputs: &CredentialInputs) -> (String, CredentialSource) {
    let r = resolve_credentials(inputs)
        .await
        .expect("credentials found");
    let c = r.provider.current().await.expect("current credentials");
    (c.access_key_id().to_owned(), r.source)
}

#[tokio::test]
async fn flags_win_over_everything_else() {
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), CONFIG);
    let mut i = inputs(
        home.path(),
        &[
            (ENV_ACCESS_KEY_ID, "env-id"),
            (ENV_ACCESS_KEY_SECRET, "env-secret"),
        ],
    );
    i.access_key_id = Some("flag-id".into());
    i.access_key_secret = Some(Secret::new("flag-secret"));
    i.profile = Some("sts".into());
    assert_eq!(id_of(&i).await, ("flag-id".into(), CredentialSource::Flags));
}

#[tokio::test]
async fn the_environment_comes_before_the_config_file() {
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), CONFIG);
    let i = inputs(
        home.path(),
        &[
            (ENV_ACCESS_KEY_ID, "STS.env-id"),
            (ENV_ACCESS_KEY_SECRET, "env-secret"),
            (ENV_SECURITY_TOKEN, "env-token"),
        ],
    );
    let r = resolve_credentials(&i).await.unwrap();
    assert_eq!(r.source, CredentialSource::Environment);
    let c = r.provider.current().await.unwrap();
    assert_eq!(c.access_key_id(), "STS.env-id");
    assert_eq!(c.security_token().map(Secret::expose), Some("env-token"));
}

#[tokio::test]
async fn partial_keys_are_an_error_not_a_fall_through() {
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), CONFIG);
    let i = inputs(home.path(), &[(ENV_ACCESS_KEY_ID, "env-id")]);
    let err = resolve_credentials(&i).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variables give an access key id but not its secret"
    );
    let mut i = inputs(home.path(), &[]);
    i.security_token = Some(Secret::new("t"));
    assert!(matches!(
        resolve_credentials(&i).await,
        Err(CredentialError::Incomplete {
            source_name: "flags",
            ..
        })
    ));
}

#[tokio::test]
async fn the_config_file_selects_profiles_like_the_aliyun_cli() {
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), CONFIG);
    let path = home.path().join(".aliyun/config.json");

    // The current profile, with its region.
    let r = resolve_credentials(&inputs(home.path(), &[]))
        .await
        .unwrap();
    assert_eq!(
        r.source,
        CredentialSource::Profile {
            path: path.clone(),
            profile: "default".into()
        }
    );
    assert_eq!(r.region.as_deref(), Some("cn-beijing"));

    // ALIBABA_CLOUD_PROFILE applies while current is "default".
    let (id, _) = id_of(&inputs(home.path(), &[(ENV_PROFILE, "sts")])).await;
    assert_eq!(id, "STS.file-id");

    // --profile beats the environment's keys: it names the identity.
    let mut i = inputs(
        home.path(),
        &[
            (ENV_ACCESS_KEY_ID, "env-id"),
            (ENV_ACCESS_KEY_SECRET, "env-secret"),
        ],
    );
    i.profile = Some("sts".into());
    let r = resolve_credentials(&i).await.unwrap();
    let c = r.provider.current().await.unwrap();
    assert_eq!(
        c.security_token().map(Secret::expose),
        Some("file-sts-token")
    );
    assert_eq!(r.region.as_deref(), Some("cn-shanghai"));

    // A non-default current profile wins over ALIBABA_CLOUD_PROFILE.
    write_config(
        home.path(),
        &CONFIG.replace(r#""current": "default""#, r#""current": "sts""#),
    );
    let (id, _) = id_of(&inputs(home.path(), &[(ENV_PROFILE, "default")])).await;
    assert_eq!(id, "STS.file-id");
}

#[tokio::test]
async fn bad_profiles_are_reported_with_file_and_name() {
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), CONFIG);
    let shown = |e: CredentialError| {
        e.to_string()
            .replace(&home.path().display().to_string(), "$HOME")
    };
    let mut report = String::new();
    for profile in ["missing", "broken", "assume"] {
        let mut i = inputs(home.path(), &[]);
        i.profile = Some(profile.into());
        let err = resolve_credentials(&i).await.unwrap_err();
        report.push_str(&shown(err));
        report.push('\n');
    }
    write_config(home.path(), "{\"profiles\": [ {\"name\": 1} ]");
    let err = resolve_credentials(&inputs(home.path(), &[]))
        .await
        .unwrap_err();
    report.push_str(&shown(err));
    report.push('\n');
    let empty = tempfile::tempdir().unwrap();
    let mut i = inputs(empty.path(), &[]);
    i.profile = Some("default".into());
    let err = resolve_credentials(&i).await.unwrap_err();
    report.push_str(
        &err.to_string()
            .replace(&empty.path().display().to_string(), "$HOME"),
    );
    report.push('\n');
    assert_golden(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/profile_errors.txt"
        ),
        &report,
    );
}

#[tokio::test]
async fn nothing_found_lists_every_source_tried() {
    let home = tempfile::tempdir().unwrap();
    let err = resolve_credentials(&inputs(home.path(), &[]))
        .await
        .unwrap_err();
    let text = err
        .to_string()
        .replace(&home.path().display().to_string(), "$HOME");
    assert_golden(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/no_credentials.txt"
        ),
        &format!("{text}\n"),
    );

    write_config(home.path(), CONFIG);
    let i = inputs(home.path(), &[(ENV_CLI_PROFILE_DISABLED, "TRUE")]);
    let err = resolve_credentials(&i).await.unwrap_err().to_string();
    assert!(
        err.contains("disabled by ALIBABA_CLOUD_CLI_PROFILE_DISABLED"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_metadata_service_ends_the_chain_quickly() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let home = tempfile::tempdir().unwrap();
    let mut i = CredentialInputs::new(Environment::new(), Some(home.path().to_owned()));
    i.metadata_base_url = format!("http://{addr}");
    i.metadata_timeout = Duration::from_millis(500);
    let err = resolve_credentials(&i).await.unwrap_err();
    let CredentialError::NotFound { tried } = &err else {
        panic!("{err:?}")
    };
    // Flags, environment, OIDC environment, config file, metadata, URI.
    assert_eq!(tried.len(), 6, "{err}");
    assert!(tried[4].outcome.contains("unreachable"), "{err}");
}

#[tokio::test]
async fn the_instance_ram_role_is_read_with_an_imdsv2_token() {
    let server = MetadataServer::start(Behaviour::default()).await;
    let home = tempfile::tempdir().unwrap();
    let mut i = CredentialInputs::new(Environment::new(), Some(home.path().to_owned()));
    i.metadata_base_url = server.url();
    let r = resolve_credentials(&i).await.unwrap();
    assert_eq!(
        r.source,
        CredentialSource::EcsRamRole {
            role: "moat-role".into()
        }
    );
    let c = r.provider.current().await.unwrap();
    assert_eq!(c.access_key_id(), "STS.metadata-id");
    assert_eq!(c.access_key_secret().expose(), "metadata-secret");
    assert_eq!(
        c.security_token().map(Secret::expose),
        Some("metadata-sts-token")
    );
    let counts = server.counts();
    assert_eq!((counts.role_gets, counts.credential_gets), (1, 1));
    assert_eq!(counts.without_token, 0);
    assert!(counts.token_puts >= 2);
}

#[tokio::test]
async fn imdsv1_is_used_when_no_token_is_issued_unless_disabled() {
    let server = MetadataServer::start(Behaviour {
        issue_tokens: false,
        require_token: false,
        ..Behaviour::default()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let mut i = CredentialInputs::new(Environment::new(), Some(home.path().to_owned()));
    i.metadata_base_url = server.url();
    assert!(resolve_credentials(&i).await.is_ok());
    assert!(server.counts().without_token >= 2);

    i.env.set(ENV_IMDSV1_DISABLED, "true");
    let err = resolve_credentials(&i).await.unwrap_err();
    assert!(matches!(err, CredentialError::Metadata(_)), "{err:?}");
}

#[tokio::test]
async fn ram_role_credentials_are_refreshed_before_they_expire() {
    // Already past the refresh point when handed out (the refresh time
    // itself, 15 minutes before expiry but not before half the lifetime,
    // is a unit test of the credentials module).
    let soon = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_mins(1))
        .unwrap();
    let server = MetadataServer::start(Behaviour {
        expiration: moat_aliyun::request::format_timestamp(soon),
        ..Behaviour::default()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let mut i = CredentialInputs::new(Environment::new(), Some(home.path().to_owned()));
    i.metadata_base_url = server.url();
    let r = resolve_credentials(&i).await.unwrap();
    assert_eq!(server.counts().credential_gets, 1);
    // Due: each use fetches again.
    r.provider.current().await.unwrap();
    assert_eq!(server.counts().credential_gets, 2);
    // Once the service hands out long-lived ones, the cache holds.
    server.behaviour.lock().unwrap().expiration = "2099-01-01T00:00:00Z".into();
    server.behaviour.lock().unwrap().access_key_id = "STS.rotated".into();
    let c = r.provider.current().await.unwrap();
    assert_eq!(c.access_key_id(), "STS.rotated");
    r.provider.current().await.unwrap();
    assert_eq!(server.counts().credential_gets, 3);
}

#[tokio::test]
async fn an_ecs_ram_role_profile_names_the_role_and_a_failed_answer_is_an_error() {
    let server = MetadataServer::start(Behaviour {
        role: "profile-role".into(),
        ..Behaviour::default()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    write_config(
        home.path(),
        r#"{"current":"ecs","profiles":[{"name":"ecs","mode":"EcsRamRole",
            "ram_role_name":"profile-role","region_id":"cn-hangzhou"}]}"#,
    );
    let mut i = CredentialInputs::new(Environment::new(), Some(home.path().to_owned()));
    i.metadata_base_url = server.url();
    let r = resolve_credentials(&i).await.unwrap();
    assert_eq!(
        r.source,
        CredentialSource::EcsRamRole {
            role: "profile-role".into()
        }
    );
    assert_eq!(r.region.as_deref(), Some("cn-hangzhou"));
    assert_eq!(server.counts().role_gets, 0, "the profile named the role");

    server.behaviour.lock().unwrap().code = "Failed".into();
    let err = resolve_credentials(&i).await.unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert_eq!(
        chain,
        "cannot get the RAM role credentials of the ECS instance: metadata service answered Code \"Failed\" for RAM role \"profile-role\""
    );
}
