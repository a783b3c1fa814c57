//! The preflight against the emulator: what a saved plan may and may not be
//! edited into (issue 9, items 1 and 2). Every refusal is checked to make
//! no mutating call, and the plan-only ones no call at all.

mod common;

use common::*;
use moat_diff::{Action, Attributes, Plan};
use moat_emulator::FaultConfig;
use moat_exec::apply::{ApplyError, ApplyOptions, apply};
use moat_exec::{GuardProblem, Guards, PreflightError};
use moat_policy::{Direction, Origin, ProtectSelector};

const A: &str = "sg-bppreflta001";
const B: &str = "sg-bpprefltb001";

fn problems(r: Result<moat_exec::ApplyReport, ApplyError>) -> Vec<GuardProblem> {
    match r {
        Err(ApplyError::Preflight(PreflightError::Refused(g))) => g.problems,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A in need of one add and one removal; B already as wanted.
fn two_groups(handle: &moat_emulator::EmulatorHandle) -> moat_policy::PolicySet {
    let keep = rule(Direction::Ingress, 22, "10.0.0.0/8");
    let stray = rule(Direction::Ingress, 3306, "0.0.0.0/0");
    seed_group(handle, A, &[keep.clone(), stray]);
    seed_group(handle, B, std::slice::from_ref(&keep));
    desired(&[
        (
            A,
            vec![keep.clone(), rule(Direction::Ingress, 443, "0.0.0.0/0")],
        ),
        (B, vec![keep]),
    ])
}

/// Issue 9, item 1: `moat plan -o` then `moat apply PLANFILE` was refused as
/// stale whenever a group of the plan had no changes.
#[tokio::test]
async fn groups_without_changes_do_not_make_a_saved_plan_stale() {
    let handle = emulator(FaultConfig::default(), 31);
    let set = two_groups(&handle);
    let c = client(&handle, 3);
    let (plan, _) = make_plan(&c, &set).await;
    assert!(!plan.groups[1].has_changes(), "B has nothing to do");
    let saved = Plan::from_json(&plan.to_json()).expect("the saved plan loads");

    handle.emulator().reset_stats();
    let report = apply(&session(&c), &saved, &ApplyOptions::default())
        .await
        .expect("a fresh plan is applied");
    assert!(report.succeeded(), "{report}");
    // Only A was read before and after: B is not touched.
    let stats = handle.emulator().stats();
    assert_eq!(stats.ok("DescribeSecurityGroupAttribute"), 2, "{stats:?}");
    assert_eq!(mutating_calls(&stats), 2);
}

/// Issue 9, item 2: the `protection` of the changes can be deleted from a
/// saved plan without breaking its hash; apply must refuse anyway, because
/// it derives protection from the selectors and the live rules.
#[tokio::test]
async fn deleting_protection_from_a_saved_plan_protects_nothing_less() {
    let handle = emulator(FaultConfig::default(), 32);
    let mut set = two_groups(&handle);
    set.protect.push(ProtectSelector {
        reason: "the database port is reviewed".into(),
        origin: Origin::whole("protect.yaml"),
        group: None,
        direction: Some(Direction::Ingress),
        services: Some(vec![
            rule(Direction::Ingress, 3306, "0.0.0.0/0").key.service(),
        ]),
        peers: None,
        description_prefix: None,
    });
    let c = client(&handle, 3);
    let (plan, _) = make_plan(&c, &set).await;
    assert_eq!(plan.protected_count(), 1);

    // What `jq 'del(.groups[].changes[].protection)'` does to the file.
    let mut doc: serde_json::Value = serde_json::from_str(&plan.to_json()).expect("json");
    for g in doc["groups"].as_array_mut().expect("groups") {
        for ch in g["changes"].as_array_mut().expect("changes") {
            ch.as_object_mut().expect("change").remove("protection");
        }
    }
    let edited = Plan::from_json(&doc.to_string()).expect("the hash still holds");
    assert_eq!(edited.protected_count(), 0);

    handle.emulator().reset_stats();
    let found = problems(apply(&session(&c), &edited, &ApplyOptions::default()).await);
    assert!(
        matches!(&found[..], [GuardProblem::Protected { group, protection, .. }]
            if group == A && protection.reason == "the database port is reviewed"),
        "{found:?}"
    );
    assert_eq!(mutating_calls(&handle.emulator().stats()), 0);
}

/// A removal that names a rule id of another group (and a hash made to
/// match, as anyone can) used to be reported as done; the rule id must be
/// that rule of that group.
#[tokio::test]
async fn a_rule_id_of_another_group_is_refused() {
    let handle = emulator(FaultConfig::default(), 33);
    let set = two_groups(&handle);
    let c = client(&handle, 3);
    let (mut plan, live) = make_plan(&c, &set).await;
    let b_rule = live[1].rules[0].id.clone();
    let removal = plan.groups[0]
        .changes
        .iter_mut()
        .find(|c| c.action == Action::Remove)
        .expect("A removes a rule");
    removal.live_ids = vec![b_rule.clone()];

    handle.emulator().reset_stats();
    let found = problems(apply(&session(&c), &plan, &ApplyOptions::default()).await);
    assert_eq!(
        found,
        [GuardProblem::ForeignRuleId {
            group: A.into(),
            rule_id: b_rule,
            detail: "is not a rule of the group".into(),
        }]
    );
    assert_eq!(mutating_calls(&handle.emulator().stats()), 0);

    // The id of another rule of the same group is refused as well.
    let (mut plan, live) = make_plan(&c, &set).await;
    let kept = live[0]
        .rules
        .iter()
        .find(|r| r.rule.key.ports == moat_policy::PortRange::single(22))
        .expect("tcp/22")
        .id
        .clone();
    for ch in &mut plan.groups[0].changes {
        if ch.action == Action::Remove {
            ch.live_ids = vec![kept.clone()];
        }
    }
    let found = problems(apply(&session(&c), &plan, &ApplyOptions::default()).await);
    assert!(
        matches!(&found[..], [GuardProblem::ForeignRuleId { detail, .. }] if detail.starts_with("is ingress accept tcp/22")),
        "{found:?}"
    );
}

/// A plan file with a priority of 0 or 101 or a 10,000-character
/// description made several mutating calls before the API refused it; now
/// it makes no call at all.
#[tokio::test]
async fn rules_a_policy_would_refuse_make_no_call() {
    let handle = emulator(FaultConfig::default(), 34);
    let set = two_groups(&handle);
    let c = client(&handle, 3);
    let (plan, _) = make_plan(&c, &set).await;
    for (priority, description, code) in [
        (0u8, String::new(), "MOAT111"),
        (101, String::new(), "MOAT111"),
        (1, "x".repeat(10_000), "MOAT112"),
    ] {
        let mut bad = plan.clone();
        let add = bad.groups[0]
            .changes
            .iter_mut()
            .find(|c| c.action == Action::Add)
            .expect("an add");
        add.after = Some(Attributes {
            priority,
            description,
        });
        handle.emulator().reset_stats();
        let found = problems(apply(&session(&c), &bad, &ApplyOptions::default()).await);
        assert!(
            matches!(&found[..], [GuardProblem::InvalidRule { code: got, .. }] if got == code),
            "{found:?}"
        );
        assert_eq!(handle.emulator().stats().total(), 0, "not even a read");
    }
}

/// The preflight the CLI runs before the prompt and the one apply runs
/// after it are the same function: a plan refused by one is refused by the
/// other with the same problems.
#[tokio::test]
async fn the_preflight_before_the_prompt_is_the_one_apply_runs() {
    let handle = emulator(FaultConfig::default(), 35);
    let set = two_groups(&handle);
    let c = client(&handle, 3);
    let (plan, live) = make_plan(&c, &set).await;
    let guards = Guards {
        max_destroy: 0,
        ..Guards::default()
    };
    let before = moat_exec::preflight_with(&plan, &live, &guards).expect_err("refused");
    let read = moat_exec::preflight(&reader(&c), &plan, &guards, 4)
        .await
        .expect_err("refused");
    let options = ApplyOptions {
        guards,
        ..ApplyOptions::default()
    };
    let after = apply(&session(&c), &plan, &options)
        .await
        .expect_err("refused");
    assert_eq!(before.to_string(), read.to_string());
    assert_eq!(before.to_string(), after.to_string());
    assert_eq!(
        before.to_string(),
        "plan removes 1 rule, more than the 0 allowed"
    );
}
