//! The saved plan file: round trip, versioning, tamper detection.

use moat_diff::{DiffOptions, PLAN_SCHEMA_VERSION, Plan, PlanError, diff};
use moat_policy::Mode;

use crate::support::*;

fn sample() -> Plan {
    let p = policy(vec![group(
        "sg-1",
        Mode::Authoritative,
        vec![
            want("ingress accept tcp/22 from 10.8.0.0/16", 5, "vpn ssh", 4),
            want("ingress accept tcp/443 from ::/0", 1, "web v6", 5),
        ],
    )]);
    let l = live(
        "sg-1",
        vec![
            have("sgr-a", "ingress accept tcp/22 from 10.8.0.0/16", 1, "ssh"),
            have("sgr-b", "ingress drop tcp/23 from 0.0.0.0/0", 1, ""),
        ],
    );
    diff(&p, &[l], &DiffOptions::new(TODAY))
}

#[test]
fn plan_file_round_trips() {
    let plan = sample();
    let text = plan.to_json();
    let loaded = Plan::from_json(&text).expect("loads");
    assert_eq!(loaded, plan);
    assert_eq!(loaded.to_json(), text);
    assert!(text.ends_with("}\n"));
    let mut view = Vec::new();
    moat_diff::render_json(&plan, &moat_diff::RenderOptions::default(), &mut view)
        .expect("renders");
    assert_eq!(
        String::from_utf8(view).ok(),
        Some(text),
        "the JSON view is the plan file"
    );
}

#[test]
fn another_schema_version_is_a_typed_error() {
    let text = sample().to_json().replacen(
        &format!("\"schema_version\": {PLAN_SCHEMA_VERSION}"),
        "\"schema_version\": 99",
        1,
    );
    match Plan::from_json(&text) {
        Err(PlanError::UnsupportedSchema {
            found: Some(99),
            supported,
        }) => {
            assert_eq!(supported, PLAN_SCHEMA_VERSION)
        }
        other => panic!("expected UnsupportedSchema, got {other:?}"),
    }
    assert!(matches!(
        Plan::from_json(r#"{"format": "moat-plan"}"#),
        Err(PlanError::UnsupportedSchema { found: None, .. })
    ));
}

#[test]
fn other_documents_are_refused() {
    assert!(matches!(
        Plan::from_json(r#"{"version": 1}"#),
        Err(PlanError::NotAPlan)
    ));
    assert!(matches!(
        Plan::from_json("not json"),
        Err(PlanError::Malformed(_))
    ));
    let truncated = sample().to_json().replace("\"groups\"", "\"groupz\"");
    assert!(matches!(
        Plan::from_json(&truncated),
        Err(PlanError::Malformed(_))
    ));
}

#[test]
fn an_edited_decision_breaks_the_hash_but_an_edited_explanation_does_not() {
    let text = sample().to_json();
    let edited = text.replacen("\"sgr-b\"", "\"sgr-c\"", 1);
    assert_ne!(edited, text);
    assert!(matches!(
        Plan::from_json(&edited),
        Err(PlanError::HashMismatch { .. })
    ));

    let mut plan = sample();
    let before = plan.hash();
    plan.groups[0].changes[0].origin = None;
    plan.moat_version = "9.9.9".into();
    assert_eq!(
        plan.hash(),
        before,
        "origins and the moat version are not decisions"
    );
    if let Some(a) = plan.groups[0].changes[0].after.as_mut() {
        a.priority = 7;
    }
    assert_ne!(plan.hash(), before);
}

fn protected_sample() -> Plan {
    let mut p = policy(vec![group(
        "sg-1",
        Mode::Authoritative,
        vec![want(
            "ingress accept tcp/22 from 10.8.0.0/16",
            5,
            "vpn ssh",
            4,
        )],
    )]);
    p.groups[0].rules[0].protected = true;
    p.protect.push(moat_policy::ProtectSelector {
        reason: "telnet stays blocked".into(),
        origin: origin("policies/protect.yaml", 2, 5),
        group: None,
        direction: None,
        services: None,
        peers: None,
        description_prefix: Some("[core]".into()),
    });
    let l = live(
        "sg-1",
        vec![
            have("sgr-a", "ingress accept tcp/22 from 10.8.0.0/16", 1, "ssh"),
            have(
                "sgr-b",
                "ingress drop tcp/23 from 0.0.0.0/0",
                1,
                "[core] telnet",
            ),
        ],
    );
    diff(&p, &[l], &DiffOptions::new(TODAY))
}

/// Issue 9, item 2: deleting the `protection` of the changes left the hash
/// valid, and apply trusted it. `protection` is still only shown (apply
/// derives protection itself), but what apply derives it from, the protect
/// selectors and the protected rules, is under the hash.
#[test]
fn what_protection_is_derived_from_is_under_the_hash() {
    let plan = protected_sample();
    assert_eq!(plan.protect.len(), 1);
    assert_eq!(plan.groups[0].protected.len(), 1);
    assert_eq!(plan.protected_count(), 2, "{}", plan.to_json());
    let json: serde_json::Value = serde_json::from_str(&plan.to_json()).expect("json");

    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = json.clone();
        f(&mut v);
        Plan::from_json(&v.to_string())
    };
    // Shown only: deleting it is not detected, and need not be.
    let shown = edit(&|v| {
        for c in v["groups"][0]["changes"].as_array_mut().expect("changes") {
            c.as_object_mut().expect("change").remove("protection");
        }
    })
    .expect("the hash does not cover what is only shown");
    assert_eq!(shown.protected_count(), 0);
    // Apply's inputs: any edit is refused on load.
    type Edit = fn(&mut serde_json::Value);
    let edits: [Edit; 4] = [
        |v| v["protect"] = serde_json::json!([]),
        |v| {
            v["groups"][0]
                .as_object_mut()
                .expect("group")
                .remove("protected");
        },
        |v| v["groups"][0]["protected"][0]["key"]["ports"] = "23/23".into(),
        |v| v["groups"][0]["status"] = "missing".into(),
    ];
    for f in edits {
        assert!(
            matches!(edit(&f), Err(PlanError::HashMismatch { .. })),
            "an edit of what apply acts on is refused"
        );
    }
}

#[test]
fn a_signed_plan_verifies_after_a_round_trip_and_not_after_any_edit() {
    let key = moat_diff::PlanKey::new(b"a test key of more than sixteen bytes").expect("key");
    let mut plan = protected_sample();
    plan.sign(&key);
    let text = plan.to_json();
    assert!(text.contains("\"signature\": \"hmac-sha256:"), "{text}");
    let loaded = Plan::from_json(&text).expect("loads");
    loaded.verify(&key).expect("verifies");
    // An explanation is not under the hash, but it is under the signature.
    let edited = text.replacen("\"moat_version\": \"", "\"moat_version\": \"9", 1);
    assert_ne!(edited, text);
    let loaded = Plan::from_json(&edited).expect("the hash does not cover reasons");
    assert!(matches!(
        loaded.verify(&key),
        Err(PlanError::NotSigned { signed: true })
    ));
    let other = moat_diff::PlanKey::new(b"another key of more than sixteen").expect("key");
    assert!(
        Plan::from_json(&text)
            .expect("loads")
            .verify(&other)
            .is_err()
    );
    assert_eq!(
        PlanError::NotSigned { signed: false }.to_string(),
        "plan is not signed with the configured key"
    );
}

#[test]
fn where_a_group_is_reached_is_under_the_hash_and_round_trips() {
    let mut plan = sample();
    let without = plan.hash();
    assert!(
        !plan.to_json().contains("\"accounts\""),
        "no accounts, no key"
    );
    plan.groups[0].account = Some("prod".into());
    plan.accounts = vec![moat_diff::PlanAccount {
        name: "prod".into(),
        profile: "prod-ro".into(),
        endpoint: None,
    }];
    let with = plan.hash();
    assert_ne!(with, without, "the account of a group is a decision");
    let text = plan.to_json();
    let back = Plan::from_json(&text).expect("round trip");
    assert_eq!(back, plan);
    // Another profile sends the calls elsewhere: the plan is refused.
    let edited = text.replacen("\"prod-ro\"", "\"prod-admin\"", 1);
    assert!(matches!(
        Plan::from_json(&edited),
        Err(PlanError::HashMismatch { .. })
    ));
    let edited = text.replacen("\"account\": \"prod\"", "\"account\": \"dev\"", 1);
    assert_ne!(edited, text);
    assert!(matches!(
        Plan::from_json(&edited),
        Err(PlanError::HashMismatch { .. })
    ));
}

/// A nonce as apply's caller draws it.
const NONCE: [u8; moat_diff::NONCE_BYTES] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];

#[test]
fn the_nonce_round_trips_outside_the_hash() {
    let mut plan = sample();
    let without = plan.hash();
    plan.set_nonce(NONCE);
    assert_eq!(plan.nonce, "00112233445566778899aabbccddeeff");
    assert_eq!(plan.hash(), without, "the same changes hash the same");
    let text = plan.to_json();
    assert!(
        text.contains("\"plan_hash\": \"sha256:")
            && text.contains("\n  \"nonce\": \"00112233445566778899aabbccddeeff\",\n"),
        "{text}"
    );
    let back = Plan::from_json(&text).expect("round trip");
    assert_eq!(back, plan);
    assert_eq!(back.to_json(), text);
    // Not a nonce: refused by name, not taken for one.
    for bad in [
        "0011",
        "00112233445566778899AABBCCDDEEFF",
        "zz112233445566778899aabbccddeeff",
    ] {
        let edited = text.replacen("00112233445566778899aabbccddeeff", bad, 1);
        match Plan::from_json(&edited) {
            Err(PlanError::InvalidNonce { found }) => assert_eq!(found, bad),
            other => panic!("expected InvalidNonce for {bad}, got {other:?}"),
        }
    }
}

#[test]
fn a_plan_file_without_a_nonce_loads_with_an_empty_one() {
    // `moat plan --local policies/ --format json` of the examples, as the
    // moat before plans had a nonce wrote it: no `nonce` field.
    let text = include_str!("../data/plan-without-nonce.json");
    assert!(!text.contains("nonce"));
    let plan = Plan::from_json(text).expect("a plan without a nonce loads");
    assert_eq!(plan.nonce, "");
    assert_eq!(plan.groups.len(), 5);
    assert_eq!(plan.summary().add, 5);
    // Saved again it is the same file: no empty `nonce` appears.
    assert_eq!(plan.to_json(), text);
}

#[test]
fn a_tampered_nonce_fails_the_signature() {
    let key = moat_diff::PlanKey::new(b"a test key of more than sixteen bytes").expect("key");
    let mut plan = sample();
    plan.set_nonce(NONCE);
    plan.sign(&key);
    let text = plan.to_json();
    Plan::from_json(&text)
        .expect("loads")
        .verify(&key)
        .expect("verifies");
    // Another valid nonce: the hash still matches (it leaves the nonce
    // out), the signature does not.
    let edited = text.replacen(
        "00112233445566778899aabbccddeeff",
        "ffeeddccbbaa99887766554433221100",
        1,
    );
    assert_ne!(edited, text);
    let loaded = Plan::from_json(&edited).expect("the hash does not cover the nonce");
    assert!(matches!(
        loaded.verify(&key),
        Err(PlanError::NotSigned { signed: true })
    ));
    // Removing it is tampering too.
    let removed = text.replacen(
        "  \"nonce\": \"00112233445566778899aabbccddeeff\",\n",
        "",
        1,
    );
    assert_ne!(removed, text);
    let loaded = Plan::from_json(&removed).expect("loads as a plan without a nonce");
    assert!(loaded.verify(&key).is_err());
}
