//! A planted secret and STS token must not appear in any output: logs at
//! TRACE level (the client's and the servers'), error messages and their
//! `Debug`, and the `Debug` of configuration, credentials and outcomes.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moat_aliyun::credentials::{
    ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_ECS_METADATA_DISABLED, ENV_SECURITY_TOKEN,
};
use moat_aliyun::sign::percent_encode;
use moat_aliyun::{
    AttemptLog, Client, ClientConfig, ClientToken, CredentialInputs, Environment, RetryPolicy,
    SignatureVersion, resolve_credentials,
};
use moat_policy::model::Direction;
use serde_json::json;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::scripted::{ScriptedServer, Step, ok};

pub const PLANTED_SECRET: &str = "PLANTED-secret/k3y+Q=";
pub const PLANTED_TOKEN: &str = "PLANTED-sts/t0ken+Z==";

#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs a TRACE subscriber writing into the returned buffer for the
/// current thread (tests run on a current-thread runtime, so every task of
/// the test, servers included, logs into it).
///
/// tracing caches each callsite's interest process-wide, computed by the
/// first thread that reaches it: a sibling test's thread with no subscriber
/// would cache "never" and silence that callsite here too. A bare registry as
/// the global default, installed once, gives every thread a subscriber that
/// is interested, so the cache never holds "never".
pub fn capture_logs() -> (Capture, tracing::subscriber::DefaultGuard) {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        // Another test binary's setup cannot race this one: a process has
        // one global default, and only this function sets it.
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (capture, tracing::subscriber::set_default(subscriber))
}

/// Every form in which the planted values could leak.
pub fn assert_clean(what: &str, text: &str) {
    for secret in [PLANTED_SECRET, PLANTED_TOKEN] {
        let once = percent_encode(secret);
        let twice = percent_encode(&once);
        let form = secret.replace('+', " ");
        for leak in [secret, &once, &twice, &form, "PLANTED"] {
            assert!(!text.contains(leak), "{what} leaks {leak:?}:\n{text}");
        }
    }
}

pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = format!("{e} / {e:?}");
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(&format!(" / {s} / {s:?}"));
        cur = s.source();
    }
    out
}

#[tokio::test]
async fn secrets_stay_out_of_logs_errors_and_debug_output() {
    let (logs, _guard) = capture_logs();
    let mut env = Environment::new();
    env.set(ENV_ACCESS_KEY_ID, "STS.planted-id")
        .set(ENV_ACCESS_KEY_SECRET, PLANTED_SECRET)
        .set(ENV_SECURITY_TOKEN, PLANTED_TOKEN)
        .set(ENV_ECS_METADATA_DISABLED, "true");
    let inputs = CredentialInputs::new(env, None);
    assert_clean("credential inputs", &format!("{inputs:?}"));
    let resolved = resolve_credentials(&inputs)
        .await
        .expect("from the environment");
    assert_clean("resolved credentials", &format!("{resolved:?}"));

    // The service quotes the string to sign, token included, when the
    // signature does not match.
    let sts_echo = format!(
        "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&SecurityToken%3D{}",
        percent_encode(&percent_encode(PLANTED_TOKEN))
    );
    let server = ScriptedServer::start(vec![
        ok(),
        Step::Answer(
            400,
            json!({"RequestId": "r", "Code": "SignatureDoesNotMatch", "Message": sts_echo}),
        ),
        Step::Answer(502, json!(format!("proxy saw {PLANTED_TOKEN}"))),
        Step::Drop,
    ])
    .await;
    let mut config = ClientConfig::new("cn-hangzhou", resolved.provider);
    config.endpoint = Some(server.url());
    config.retry = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    config.timeout = Duration::from_secs(5);
    assert_clean("client config", &format!("{config:?}"));
    let log = Arc::new(AttemptLog::new());
    let client = Client::new(&config)
        .expect("config")
        .with_observer(log.clone());
    assert_clean("client", &format!("{client:?}"));
    let token = ClientToken::new("t-1").expect("token");

    let out = client
        .revoke("sg-1", Direction::Ingress, &["sgr-1".into()], &token)
        .await
        .expect("ok");
    assert_clean("outcome", &format!("{out:?}"));
    for _ in 0..3 {
        let e = client.delete_security_group("sg-1").await.unwrap_err();
        assert_clean("error", &chain(&e));
    }
    assert_clean("attempt records", &format!("{:?}", log.records()));
    assert_eq!(server.take_received().len(), 4);
    // The calls were logged, just without the secrets.
    let text = logs.text();
    assert!(
        text.contains("ecs_call") && text.contains("DeleteSecurityGroup"),
        "{text}"
    );
    assert_clean("logs", &text);
}

/// Both signatures in one test: log capture is per thread, and tracing's
/// per-callsite caching can miss events when two tests capture at once.
#[tokio::test]
async fn secrets_stay_out_of_every_output_against_the_emulator() {
    for version in [SignatureVersion::V1, SignatureVersion::V3] {
        secrets_stay_out_against_the_emulator(version).await;
    }
}

async fn secrets_stay_out_against_the_emulator(version: SignatureVersion) {
    use crate::emulator::{config, emulator};
    use moat_aliyun::{Credentials, GroupFilter, NewGroup};
    use moat_emulator::AccessKey;
    use moat_policy::model::{NicType, Peer, PortRange, Protocol, Rule, RuleKey, Verdict};

    let (logs, _guard) = capture_logs();
    let handle = emulator(|c| {
        c.access_keys = vec![
            AccessKey::new("STS.planted-id", PLANTED_SECRET).with_security_token(PLANTED_TOKEN),
        ];
    });
    let mut good = config(
        &handle,
        Credentials::sts("STS.planted-id", PLANTED_SECRET, PLANTED_TOKEN),
    );
    good.signature_version = version;
    assert_clean("config", &format!("{good:?}"));
    let log = Arc::new(AttemptLog::new());
    let client = Client::new(&good)
        .expect("config")
        .with_observer(log.clone());
    let t = |s: &str| ClientToken::new(s).expect("token");

    let group = client
        .create_security_group(
            &NewGroup {
                name: "sec".into(),
                vpc_id: Some("vpc-1".into()),
                ..NewGroup::default()
            },
            &t("c"),
        )
        .await
        .expect("create")
        .value;
    let rule = Rule {
        key: RuleKey {
            direction: Direction::Ingress,
            protocol: Protocol::Tcp,
            ports: PortRange::single(22),
            peer: Peer::cidr("10.0.0.0/8".parse().expect("cidr")),
            verdict: Verdict::Accept,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        },
        priority: 1,
        description: "ssh".into(),
    };
    client
        .authorize(&group, Direction::Ingress, &[rule], &t("a"))
        .await
        .expect("authorize");
    let live = client
        .describe_security_group_attribute(&group, None)
        .await
        .expect("read");
    assert_clean("outcome", &format!("{live:?}"));
    let ids: Vec<String> = live.value.rules.iter().map(|r| r.id.clone()).collect();
    client
        .revoke(&group, Direction::Ingress, &ids, &t("r"))
        .await
        .expect("revoke");

    // Failures: a wrong secret (the emulator quotes the string to sign,
    // token included), a wrong token, and a dead endpoint.
    for creds in [
        Credentials::sts("STS.planted-id", "wrong-secret", PLANTED_TOKEN),
        Credentials::sts("STS.planted-id", PLANTED_SECRET, "wrong-token"),
    ] {
        let mut bad = config(&handle, creds);
        bad.signature_version = version;
        let bad = Client::new(&bad)
            .expect("config")
            .with_observer(log.clone());
        let e = bad
            .describe_security_groups(&GroupFilter::default())
            .await
            .unwrap_err();
        assert!(e.api().is_some(), "{e:?}");
        if e.code() == Some("SignatureDoesNotMatch") && version == SignatureVersion::V1 {
            // The quoted string to sign held the token; it was scrubbed.
            assert!(
                e.message()
                    .is_some_and(|m| m.contains("SecurityToken%3D<redacted>")),
                "{e:?}"
            );
        }
        assert_clean("error", &chain(&e));
    }
    let mut dead = good.clone();
    dead.endpoint = Some(format!("http://{}", handle.addr()));
    handle.shutdown();
    dead.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        ..RetryPolicy::default()
    };
    let e = Client::new(&dead)
        .expect("config")
        .delete_security_group(&group)
        .await
        .unwrap_err();
    assert_clean("transport error", &chain(&e));

    assert_clean("attempt records", &format!("{:?}", log.records()));
    let text = logs.text();
    assert!(
        text.contains("AuthorizeSecurityGroup") && text.contains("request_id"),
        "{text}"
    );
    assert_clean("logs", &text);
}
