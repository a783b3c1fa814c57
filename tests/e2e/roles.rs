//! The binary with temporary credentials from the emulator's STS: `moat
//! plan` with RamRoleArn and ChainableRamRoleArn profiles, a nightly `moat
//! drift` that assumes a read-only role through OIDC with no long-lived key,
//! the precedence of `--profile` over `ALIBABA_CLOUD_PROFILE`, both
//! signature versions, and secrets kept out of the output.

use moat_emulator::{EmulatorHandle, OidcProvider, unsigned_token};
use serde_json::json;

use crate::cloud::{KEY_ID, KEY_SECRET, TODAY, at, emulator_with, seed_office_ssh};
use crate::common::TestEnv;

const ROLE: &str = "acs:ram::1000000000000001:role/moat-readonly";
const PROVIDER: &str = "acs:ram::1000000000000001:oidc-provider/ci";
const ISSUER: &str = "https://token.ci.example.test";
const GROUP: &str = "sg-bp1e2erole00000001";
const POLICY: &str = "\
version: 1
security_groups:
  - id: sg-bp1e2erole00000001
    region: cn-hangzhou
    name: app
    ingress:
      - description: SSH from the office
        allow: tcp/22
        from: 203.0.113.0/28
";

fn sts_emulator() -> EmulatorHandle {
    let handle = emulator_with(|c| {
        c.roles = vec![ROLE.to_owned()];
        c.oidc_providers = vec![OidcProvider {
            arn: PROVIDER.to_owned(),
            issuer: ISSUER.to_owned(),
        }];
    });
    seed_office_ssh(&handle, GROUP);
    handle
}

/// No key in the environment: only what each test writes.
fn bare_env() -> TestEnv {
    let env = TestEnv::new()
        .env("MOAT_TODAY", TODAY)
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    env.write("app.yaml", POLICY);
    env
}

fn profiles(env: &TestEnv, current: &str) {
    let config = json!({"current": current, "profiles": [
        {"name": "base", "mode": "AK", "access_key_id": KEY_ID, "access_key_secret": KEY_SECRET,
         "region_id": "cn-hangzhou"},
        {"name": "reader", "mode": "RamRoleArn", "access_key_id": KEY_ID,
         "access_key_secret": KEY_SECRET, "ram_role_arn": ROLE, "ram_session_name": "e2e-reader"},
        {"name": "chained", "mode": "ChainableRamRoleArn", "source_profile": "base",
         "ram_role_arn": ROLE, "ram_session_name": "e2e-chained"},
        {"name": "unknown-role", "mode": "RamRoleArn", "access_key_id": KEY_ID,
         "access_key_secret": KEY_SECRET, "ram_role_arn": "acs:ram::1000000000000001:role/nobody"},
        {"name": "wrong-secret", "mode": "RamRoleArn", "access_key_id": KEY_ID,
         "access_key_secret": "PLANTED-e2e-secret", "ram_role_arn": ROLE}
    ]});
    env.write(".aliyun/config.json", config.to_string());
}

#[test]
fn plan_with_ram_role_arn_and_chainable_profiles() {
    let handle = sts_emulator();
    let endpoint = handle.endpoint();
    let env = bare_env();
    profiles(&env, "reader");
    let run = at(
        &env,
        &endpoint,
        &["plan", "app.yaml", "--detailed-exitcode", "-v"],
    );
    run.expect_code(0);
    run.expect_stdout("No changes.");
    run.expect_stderr("mode RamRoleArn: role acs:ram::1000000000000001:role/moat-readonly");

    let run = at(
        &env,
        &endpoint,
        &["plan", "app.yaml", "--profile", "chained", "-v"],
    );
    run.expect_code(0);
    run.expect_stderr("mode ChainableRamRoleArn");
    run.expect_stderr("source profile \"base\"");
    let stats = handle.emulator().stats();
    assert_eq!(stats.ok("AssumeRole"), 2);
}

#[test]
fn a_nightly_drift_assumes_a_read_only_role_through_oidc_with_no_long_lived_key() {
    let handle = sts_emulator();
    let endpoint = handle.endpoint();
    let env = bare_env();
    let now = jiff::Timestamp::now().as_second();
    let token = unsigned_token(&json!({
        "iss": ISSUER, "sub": "repo:example/infra:ref:refs/heads/main",
        "aud": "sts.aliyuncs.com", "iat": now, "exp": now + 600,
    }));
    let token_file = env.write("oidc-token", &token);
    let token_file = token_file.to_string_lossy().into_owned();
    let vars = [
        ("ALIBABA_CLOUD_ROLE_ARN", ROLE),
        ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token_file.as_str()),
        ("ALIBABA_CLOUD_ROLE_SESSION_NAME", "nightly-drift"),
    ];
    for version in ["3", "1"] {
        let run = env.run_env(
            &vars,
            &[
                "drift",
                "app.yaml",
                "--endpoint",
                &endpoint,
                "--signature-version",
                version,
                "-v",
            ],
        );
        run.expect_code(0);
        run.expect_stderr("OIDC environment (ALIBABA_CLOUD_ROLE_ARN");
        assert!(!run.stderr.contains(&token), "{}", run.snapshot());
    }
    let stats = handle.emulator().stats();
    assert_eq!(stats.ok("AssumeRoleWithOIDC"), 2);
    assert_eq!(stats.ok("AssumeRole"), 0);

    // STS on its own endpoint; the API's endpoint still the emulator.
    let run = env.run_env(
        &vars,
        &[
            "drift",
            "app.yaml",
            "--endpoint",
            &endpoint,
            "--sts-endpoint",
            &endpoint,
        ],
    );
    run.expect_code(0);
    let run = env.run_env(
        &vars,
        &[
            "drift",
            "app.yaml",
            "--endpoint",
            &endpoint,
            "--sts-endpoint",
            "http://10.9.8.7:1",
        ],
    );
    run.expect_code(1);
    run.expect_stderr("loopback");

    // A token of another issuer: the service's error, without the token.
    let other = unsigned_token(&json!({"iss": "https://elsewhere.example.test", "exp": now + 600}));
    env.write("oidc-token", &other);
    let run = env.run_env(&vars, &["drift", "app.yaml", "--endpoint", &endpoint]);
    run.expect_code(1);
    run.expect_stderr("AuthenticationFail.OIDCToken.IssuerNotMatch");
    assert!(!run.stderr.contains(&other), "{}", run.snapshot());
}

#[test]
fn the_profile_flag_outranks_the_profile_variable_and_errors_hold_no_secret() {
    let handle = sts_emulator();
    let endpoint = handle.endpoint();
    let env = bare_env();
    profiles(&env, "default");
    // ALIBABA_CLOUD_PROFILE picks the profile when `current` is default.
    let run = env.run_env(
        &[("ALIBABA_CLOUD_PROFILE", "unknown-role")],
        &["plan", "app.yaml", "--endpoint", &endpoint],
    );
    run.expect_code(1);
    run.expect_stderr("EntityNotExist.Role");
    // --profile wins over it.
    let run = env.run_env(
        &[("ALIBABA_CLOUD_PROFILE", "unknown-role")],
        &[
            "plan",
            "app.yaml",
            "--endpoint",
            &endpoint,
            "--profile",
            "reader",
        ],
    );
    run.expect_code(0);

    let run = at(
        &env,
        &endpoint,
        &["plan", "app.yaml", "--profile", "wrong-secret"],
    );
    run.expect_code(1);
    run.expect_stderr("SignatureDoesNotMatch");
    assert!(!run.stderr.contains("PLANTED"), "{}", run.snapshot());

    let run = at(
        &env,
        &endpoint,
        &[
            "plan",
            "app.yaml",
            "--profile",
            "reader",
            "--signature-version",
            "2",
        ],
    );
    run.expect_code(1);
    run.expect_stderr("use 3 (ACS3-HMAC-SHA256) or 1 (v1.0)");
}

#[test]
fn an_sts_key_that_expires_mid_apply_is_fetched_again_and_the_apply_completes() {
    let handle = sts_emulator();
    // Every STS key is refused as expired after three requests: the apply
    // (reads, the lease, the change, the verify) outlives several of them.
    handle
        .emulator()
        .set_faults(moat_emulator::FaultConfig {
            sts_key_uses: 3,
            ..moat_emulator::FaultConfig::default()
        })
        .expect("faults");
    let endpoint = handle.endpoint();
    let env = bare_env();
    profiles(&env, "reader");
    env.write(
        "app.yaml",
        format!(
            "{POLICY}      - description: HTTPS\n        allow: tcp/443\n        from: 0.0.0.0/0\n"
        ),
    );
    let run = at(
        &env,
        &endpoint,
        &["apply", "app.yaml", "--auto-approve", "-v"],
    );
    run.expect_code(0);
    run.expect_stdout("Apply complete: 1 added");
    let stats = handle.emulator().stats();
    let refused: u64 = stats
        .calls
        .iter()
        .filter(|(action, _)| action.as_str() != "AssumeRole")
        .map(|(_, c)| c.error)
        .sum();
    assert!(refused >= 1, "some call met an expired key: {stats:?}");
    assert!(stats.ok("AssumeRole") >= 3, "fetched again: {stats:?}");
    assert_eq!(stats.ok("AuthorizeSecurityGroup"), 1, "{stats:?}");
    at(&env, &endpoint, &["drift", "app.yaml"]).expect_code(0);
}
