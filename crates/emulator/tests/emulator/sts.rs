//! STS on the emulator's port: AssumeRole, AssumeRoleWithOIDC and
//! GetCallerIdentity, and the issued keys on the ECS side until they expire.

use std::sync::Arc;

use moat_emulator::{ManualClock, OidcProvider, unsigned_token};
use serde_json::{Value, json};

use crate::support::{Client, NOW, Resp, SECRET, V3Request, doc_encode, http, start_with};

const ROLE: &str = "acs:ram::1000000000000001:role/moat-readonly";
const PROVIDER: &str = "acs:ram::1000000000000001:oidc-provider/ci";
const ISSUER: &str = "https://token.ci.example.com";

fn emulator() -> (moat_emulator::EmulatorHandle, ManualClock) {
    let clock = ManualClock::new(NOW);
    let c2 = clock.clone();
    let emu = start_with(move |cfg| {
        cfg.clock = Arc::new(c2);
        cfg.roles = vec![ROLE.to_owned()];
        cfg.oidc_providers = vec![OidcProvider {
            arn: PROVIDER.to_owned(),
            issuer: ISSUER.to_owned(),
        }];
    });
    (emu, clock)
}

fn sts_client(emu: &moat_emulator::EmulatorHandle, clock: &ManualClock) -> Client {
    let mut c = Client::new(emu.addr());
    c.version = "2015-04-01".into();
    c.clock = Some(clock.clone());
    c
}

/// A client signing with the key triple of an STS answer.
fn as_issued(c: &Client, answer: &Value) -> Client {
    let cred = &answer["Credentials"];
    let mut c = c.clone();
    c.key_id = cred["AccessKeyId"].as_str().unwrap().to_owned();
    c.secret = cred["AccessKeySecret"].as_str().unwrap().to_owned();
    c.token = Some(cred["SecurityToken"].as_str().unwrap().to_owned());
    c
}

fn ecs(c: &Client) -> Client {
    let mut c = c.clone();
    c.version = "2014-05-26".into();
    c
}

/// An unsigned AssumeRoleWithOIDC, as the credentials libraries send it.
fn with_oidc(emu: &moat_emulator::EmulatorHandle, extra: &[(&str, &str)]) -> Resp {
    let mut params = vec![
        ("Action", "AssumeRoleWithOIDC"),
        ("Format", "JSON"),
        ("Version", "2015-04-01"),
        ("Timestamp", "2026-01-01T00:00:00Z"),
    ];
    params.extend_from_slice(extra);
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", doc_encode(k), doc_encode(v)))
        .collect();
    http(
        emu.addr(),
        "GET",
        &format!("/?{}", query.join("&")),
        &[],
        b"",
    )
    .unwrap()
}

fn token(iss: &str, exp: i64) -> String {
    unsigned_token(&json!({
        "iss": iss, "sub": "repo:org/app:ref:refs/heads/main",
        "aud": "sts.aliyuncs.com", "exp": exp, "iat": NOW - 10
    }))
}

#[test]
fn assume_role_issues_keys_the_ecs_side_accepts_until_they_expire() {
    let (emu, clock) = emulator();
    let c = sts_client(&emu, &clock);

    let me = c.call("GetCallerIdentity", &[]).ok();
    assert_eq!(me["IdentityType"], "Account");
    assert_eq!(me["AccountId"], "1000000000000001");
    assert_eq!(me["Arn"], "acs:ram::1000000000000001:root");

    let answer = c
        .call(
            "AssumeRole",
            &[
                ("RoleArn", ROLE),
                ("RoleSessionName", "nightly-drift"),
                ("DurationSeconds", "900"),
                ("ExternalId", "abc-123"),
                ("Policy", r#"{"Version":"1","Statement":[]}"#),
            ],
        )
        .ok();
    let cred = &answer["Credentials"];
    assert!(cred["AccessKeyId"].as_str().unwrap().starts_with("STS."));
    assert!(cred["SecurityToken"].as_str().unwrap().starts_with("CAIS"));
    assert_eq!(cred["Expiration"], "2026-01-01T00:15:00Z");
    let user = &answer["AssumedRoleUser"];
    assert_eq!(
        user["Arn"],
        "acs:ram::1000000000000001:role/moat-readonly/nightly-drift"
    );
    assert!(
        user["AssumedRoleId"]
            .as_str()
            .unwrap()
            .ends_with(":nightly-drift")
    );

    let role = as_issued(&c, &answer);
    let me = role.call("GetCallerIdentity", &[]).ok();
    assert_eq!(me["IdentityType"], "AssumedRoleUser");
    assert_eq!(
        me["Arn"],
        "acs:ram::1000000000000001:assumed-role/moat-readonly/nightly-drift"
    );
    assert_eq!(
        me["PrincipalId"],
        format!("{}:nightly-drift", me["RoleId"].as_str().unwrap())
    );

    // The issued key works on ECS, with its token, in both signing schemes.
    ecs(&role).call("DescribeSecurityGroups", &[]).ok();
    let mut no_token = ecs(&role);
    no_token.token = None;
    no_token
        .call("DescribeSecurityGroups", &[])
        .err(400, "MissingSecurityToken");
    let date = moat_emulator::format_timestamp(NOW);
    V3Request::new(
        "DescribeSecurityGroups",
        "2014-05-26",
        &[("RegionId", "cn-hangzhou")],
    )
    .header("x-acs-security-token", role.token.as_deref().unwrap())
    .send(emu.addr(), &role.key_id, &role.secret, &date)
    .ok();

    // A role session may assume a role again (chained roles).
    role.call(
        "AssumeRole",
        &[("RoleArn", ROLE), ("RoleSessionName", "chained")],
    )
    .ok();

    // Past its expiry the key is refused with the expired-token error.
    clock.advance(901);
    ecs(&role)
        .call("DescribeSecurityGroups", &[])
        .err(400, "InvalidSecurityToken.Expired");

    let stats = emu.emulator().stats();
    assert_eq!(stats.ok("AssumeRole"), 2);
    assert_eq!(stats.ok("GetCallerIdentity"), 2);
}

#[test]
fn assume_role_refuses_bad_parameters_with_the_real_codes() {
    let (emu, clock) = emulator();
    let c = sts_client(&emu, &clock);
    let assume = |args: &[(&str, &str)]| c.call("AssumeRole", args);
    assume(&[
        ("RoleArn", "acs:ram::1000000000000001:role/unknown"),
        ("RoleSessionName", "s1"),
    ])
    .err(404, "EntityNotExist.Role");
    assume(&[
        ("RoleArn", "arn:aws:iam::1:role/x"),
        ("RoleSessionName", "s1"),
    ])
    .err(400, "InvalidParameter.RoleArn");
    for bad in ["a", "has space", "忍者神龟", &"x".repeat(65)] {
        assume(&[("RoleArn", ROLE), ("RoleSessionName", bad)])
            .err(400, "InvalidParameter.RoleSessionName");
    }
    for bad in ["899", "3601", "ten"] {
        assume(&[
            ("RoleArn", ROLE),
            ("RoleSessionName", "s1"),
            ("DurationSeconds", bad),
        ])
        .err(400, "InvalidParameter.DurationSeconds");
    }
    assume(&[
        ("RoleArn", ROLE),
        ("RoleSessionName", "s1"),
        ("Policy", "{not json"),
    ])
    .err(400, "InvalidParameter.PolicyGrammar");
    assume(&[("RoleSessionName", "s1")]).err(400, "MissingParameter");
    // The wrong secret is a signature error, as for ECS.
    let mut wrong = c.clone();
    wrong.secret = format!("{SECRET}x");
    wrong
        .call("GetCallerIdentity", &[])
        .err(400, "SignatureDoesNotMatch");
}

#[test]
fn assume_role_with_oidc_takes_unsigned_calls_with_a_token_of_the_declared_issuer() {
    let (emu, clock) = emulator();
    let base = [
        ("OIDCProviderArn", PROVIDER),
        ("RoleArn", ROLE),
        ("RoleSessionName", "github-actions"),
    ];
    let good = token(ISSUER, NOW + 600);
    let mut args = base.to_vec();
    args.push(("OIDCToken", &good));
    let answer = with_oidc(&emu, &args).ok();
    assert_eq!(answer["OIDCTokenInfo"]["Issuer"], ISSUER);
    assert_eq!(
        answer["OIDCTokenInfo"]["Subject"],
        "repo:org/app:ref:refs/heads/main"
    );
    assert_eq!(answer["OIDCTokenInfo"]["ClientIds"], "sts.aliyuncs.com");
    assert_eq!(answer["Credentials"]["Expiration"], "2026-01-01T01:00:00Z");
    let c = sts_client(&emu, &clock);
    let role = as_issued(&c, &answer);
    let me = role.call("GetCallerIdentity", &[]).ok();
    assert_eq!(
        me["Arn"],
        "acs:ram::1000000000000001:assumed-role/moat-readonly/github-actions"
    );
    ecs(&role).call("DescribeSecurityGroups", &[]).ok();

    let other_issuer = token("https://elsewhere.example.com", NOW + 600);
    let expired = token(ISSUER, NOW - 1);
    for (tok, status, code) in [
        (
            other_issuer.as_str(),
            401,
            "AuthenticationFail.OIDCToken.IssuerNotMatch",
        ),
        (
            expired.as_str(),
            401,
            "AuthenticationFail.OIDCToken.Expired",
        ),
        ("not-a-jwt", 401, "AuthenticationFail.OIDCToken.Invalid"),
        ("", 401, "AuthenticationFail.OIDCToken.Invalid"),
    ] {
        let mut args = base.to_vec();
        args.push(("OIDCToken", tok));
        with_oidc(&emu, &args).err(status, code);
    }
    let mut args = vec![
        (
            "OIDCProviderArn",
            "acs:ram::1000000000000001:oidc-provider/other",
        ),
        ("RoleArn", ROLE),
        ("RoleSessionName", "github-actions"),
    ];
    args.push(("OIDCToken", &good));
    with_oidc(&emu, &args).err(401, "AuthenticationFail.NoPermission");
    let mut args = vec![
        ("OIDCProviderArn", PROVIDER),
        ("RoleArn", "acs:ram::1000000000000001:role/unknown"),
        ("RoleSessionName", "github-actions"),
    ];
    args.push(("OIDCToken", &good));
    with_oidc(&emu, &args).err(404, "EntityNotExist.Role");

    // Only AssumeRoleWithOIDC goes unsigned.
    let r = http(
        emu.addr(),
        "GET",
        "/?Action=AssumeRole&Version=2015-04-01&RoleArn=x&RoleSessionName=s1",
        &[],
        b"",
    )
    .unwrap();
    r.err(400, "IncompleteSignature");
    assert!(r.json()["HostId"] == "sts.aliyuncs.com", "{}", r.body);
}

#[test]
fn bad_roles_and_providers_stop_the_emulator_from_starting() {
    let config = moat_emulator::EmulatorConfig {
        roles: vec!["acs:ram::1:user/alice".into()],
        ..moat_emulator::EmulatorConfig::default()
    };
    let err = moat_emulator::start(config).unwrap_err();
    assert!(err.to_string().contains("role ARN"), "{err}");
}
