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

#[test]
fn a_plan_goes_stale_when_a_live_rule_changes() {
    let plan = sample();
    let l = live(
        "sg-1",
        vec![
            have("sgr-a", "ingress accept tcp/22 from 10.8.0.0/16", 1, "ssh"),
            have("sgr-b", "ingress drop tcp/23 from 0.0.0.0/0", 1, ""),
        ],
    );
    assert!(plan.check_fresh(std::slice::from_ref(&l)).is_ok());
    let mut edited = l.clone();
    edited.rules[1].rule.description = "edited in the console".into();
    let err = plan.check_fresh(&[edited]).expect_err("stale");
    assert!(matches!(&err, PlanError::Stale { group, .. } if group == "sg-1"));
    assert!(
        err.to_string()
            .starts_with("plan is stale: security group sg-1")
    );
    assert!(matches!(
        plan.check_fresh(&[]),
        Err(PlanError::Stale { .. })
    ));
}
