//! How apply stops (issue 9, items 3, 4, 8 and 9): a stop signal lets
//! calls in flight finish and starts nothing new; a quota error stops every
//! group not yet started; a journal that cannot be written stops before
//! the next change; clearing a description is a replace made back to back,
//! whose intent names the rule if it does not finish.

mod common;

use std::sync::Arc;

use common::*;
use moat_diff::Action;
use moat_emulator::FaultConfig;
use moat_exec::apply::{ApplyOptions, CallEvent, NotDoneReason, Progress, apply};
use moat_exec::{
    JournalLine, LineKind, PlanOptions, Session, SessionOptions, StopReason, StopSignal,
};
use moat_policy::{Direction, Rule};

/// Raises the stop signal when the first rule-changing step ends.
#[derive(Debug)]
struct StopAfterFirstCall(StopSignal);

impl Progress for StopAfterFirstCall {
    fn call_done(&self, _call: &CallEvent) {
        self.0.stop(StopReason::Interrupted);
    }
}

fn groups(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("sg-bpstops{i:05}")).collect()
}

/// Each group: 3 ingress adds and 1 removal, so 2 steps.
fn seed_and_want(handle: &moat_emulator::EmulatorHandle, ids: &[String]) -> moat_policy::PolicySet {
    let mut want = Vec::new();
    for id in ids {
        seed_group(handle, id, &[rule(Direction::Ingress, 25, "0.0.0.0/0")]);
        let rules: Vec<Rule> = (0..3)
            .map(|n| rule(Direction::Ingress, 8000 + n, "10.0.0.0/8"))
            .collect();
        want.push((id.clone(), rules));
    }
    desired(&want)
}

/// Issue 9, item 4, in the library: a stop lets the call in flight finish,
/// starts no other, and the report's not-done list is exactly what the next
/// plan shows.
#[tokio::test]
async fn a_stop_lets_the_call_in_flight_finish_and_starts_nothing_new() {
    let handle = emulator(FaultConfig::default(), 41);
    let ids = groups(3);
    let set = seed_and_want(&handle, &ids);
    let c = client(&handle, 3);
    let (plan, _) = make_plan(&c, &set).await;
    let stop = StopSignal::new();
    let s = Session::open(
        c.clone(),
        SessionOptions {
            stop: Some(stop.clone()),
            ..SessionOptions::default()
        },
    )
    .expect("session");
    let options = ApplyOptions {
        parallel: 1,
        progress: Some(Arc::new(StopAfterFirstCall(stop))),
        ..ApplyOptions::default()
    };
    handle.emulator().reset_stats();
    let report = apply(&s, &plan, &options).await.expect("apply runs");
    assert_eq!(report.stopped, Some(StopReason::Interrupted));
    assert_eq!(
        mutating_calls(&handle.emulator().stats()),
        1,
        "one call, then none"
    );
    let first = &report.groups[0];
    assert!(first.started);
    assert_eq!(first.count(Action::Add), 3);
    assert!(
        first
            .not_done
            .iter()
            .all(|n| n.reason == NotDoneReason::Stopped)
    );
    assert!(report.groups[1..].iter().all(|g| !g.started));
    assert!(
        report
            .to_string()
            .starts_with("Apply interrupted: 3 added, 0 changed, 0 removed in 3 groups")
    );

    let (after, _) = make_plan(&c, &set).await;
    let mut remaining: Vec<String> = after
        .groups
        .iter()
        .flat_map(|g| g.changes.iter().map(move |c| format!("{} {}", g.id, c.key)))
        .collect();
    let mut reported: Vec<String> = report
        .not_done()
        .filter_map(|(g, n)| n.change.key.as_ref().map(|k| format!("{} {k}", g.id)))
        .collect();
    remaining.sort();
    reported.sort();
    assert_eq!(remaining, reported);
}

/// Issue 9, item 9: a quota error (`AuthorizationLimitExceed`) stopped only
/// its group, and every other group was attempted and left half-applied.
#[tokio::test]
async fn a_quota_error_stops_every_group_not_yet_started() {
    // The account's quota is lower than what moat was told.
    let handle = emulator_with(FaultConfig::default(), 42, |c| c.rules_per_group = 3);
    let ids = groups(25);
    let set = seed_and_want(&handle, &ids);
    let c = client(&handle, 3);
    let (plan, _) = make_plan(&c, &set).await;
    let options = ApplyOptions {
        parallel: 1,
        ..ApplyOptions::default()
    };
    handle.emulator().reset_stats();
    let report = apply(&session(&c), &plan, &options)
        .await
        .expect("apply runs");
    assert_eq!(
        report.stopped,
        Some(StopReason::Quota {
            group: ids[0].clone(),
            code: "AuthorizationLimitExceed".into()
        })
    );
    let stats = handle.emulator().stats();
    assert_eq!(
        mutating_calls(&stats),
        1,
        "only the call that met the quota: {stats:?}"
    );
    let failure = report.groups[0]
        .failure
        .as_ref()
        .expect("the first group failed");
    assert!(failure.quota);
    assert!(report.groups[1..].iter().all(|g| !g.started));
    let line = report.to_string();
    assert!(
        line.starts_with(
            "Apply stopped (quota reached in sg-bpstops00000 (AuthorizationLimitExceed)): 0 added"
        ),
        "{line}"
    );
}

/// Issue 9, item 3: with a journal that cannot be written, apply made its
/// changes and exited 0 with a warning. Write-ahead: no change is made
/// whose intent is not in the journal.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_journal_that_cannot_be_written_stops_before_any_change() {
    let handle = emulator(FaultConfig::default(), 43);
    let ids = groups(2);
    let set = seed_and_want(&handle, &ids);
    let c = client(&handle, 3);
    let (plan, _) = make_plan(&c, &set).await;
    let s = Session::open(
        c.clone(),
        SessionOptions {
            journal: Some(std::path::Path::new("/dev/full")),
            ..SessionOptions::default()
        },
    )
    .expect("/dev/full opens");
    handle.emulator().reset_stats();
    let report = apply(&s, &plan, &ApplyOptions::default())
        .await
        .expect("apply runs");
    assert!(
        matches!(report.stopped, Some(StopReason::Journal { .. })),
        "{report:?}"
    );
    assert!(report.journal_error.is_some());
    assert!(!report.succeeded());
    assert_eq!(mutating_calls(&handle.emulator().stats()), 0);
    assert_eq!(report.added() + report.removed(), 0);
}

/// Issue 9, item 8: clearing a description is a replace: its intent names
/// the rule, its revoke and authorize run back to back, and if it does not
/// finish the next plan says the rule it adds back was revoked by it.
#[tokio::test]
async fn clearing_a_description_is_a_replace_the_journal_can_finish() {
    let handle = emulator(FaultConfig::default(), 44);
    let id = "sg-bpreplace001";
    let ssh = rule(Direction::Ingress, 22, "10.0.0.0/8");
    seed_group(&handle, id, &[with(ssh.clone(), 1, "temporary note")]);
    let set = desired(&[(id, vec![ssh.clone()])]);
    let c = client(&handle, 3);
    let (plan, _) = make_plan(&c, &set).await;
    assert_eq!(plan.groups[0].changes[0].action, Action::Replace);
    assert_eq!(
        plan.summary().to_string(),
        "Plan: 1 to add, 0 to change, 1 to remove."
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal.jsonl");
    let s = Session::open(
        c.clone(),
        SessionOptions {
            journal: Some(&journal),
            ..SessionOptions::default()
        },
    )
    .expect("session");
    handle.emulator().reset_stats();
    let report = apply(&s, &plan, &ApplyOptions::default())
        .await
        .expect("apply");
    assert!(report.succeeded(), "{report}");
    assert_eq!(report.replaced(), 1);
    let stats = handle.emulator().stats();
    assert_eq!(stats.ok("RevokeSecurityGroup"), 1);
    assert_eq!(stats.ok("AuthorizeSecurityGroup"), 1);
    let now = live(&c, &[id]).await;
    assert_eq!(rule_set(&now[0]), vec![ssh.clone()]);

    let text = std::fs::read_to_string(&journal).expect("journal");
    let lines: Vec<JournalLine> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    let replace: Vec<(LineKind, &str)> = lines
        .iter()
        .filter(|l| l.phase == "replace")
        .map(|l| (l.kind, l.action.as_str()))
        .collect();
    assert_eq!(
        replace,
        [
            (LineKind::Intent, "RevokeSecurityGroup"),
            (LineKind::Attempt, "RevokeSecurityGroup"),
            (LineKind::Attempt, "AuthorizeSecurityGroup"),
            (LineKind::Outcome, "AuthorizeSecurityGroup"),
        ],
        "back to back, between one intent and one outcome"
    );
    let intent = lines
        .iter()
        .find(|l| l.phase == "replace" && l.kind == LineKind::Intent)
        .expect("intent");
    assert_eq!(intent.reauthorizes.as_ref().map(|r| &r.key), Some(&ssh.key));
    assert!(
        moat_exec::interrupted_replaces(&journal)
            .expect("read")
            .is_empty()
    );

    // A process killed between the two calls leaves the intent without its
    // outcome, and the rule revoked.
    let cut: String = text
        .lines()
        .filter(|l| !(l.contains("\"kind\":\"outcome\"") && l.contains("\"phase\":\"replace\"")))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&journal, cut).expect("rewrite");
    let rule_id = now[0].rules[0].id.clone();
    c.revoke(
        id,
        Direction::Ingress,
        &[rule_id],
        &moat_aliyun::ClientToken::new("killed-midway").expect("token"),
    )
    .await
    .expect("revoke");
    let interrupted = moat_exec::interrupted_replaces(&journal).expect("read");
    assert_eq!(interrupted.len(), 1);
    let mut options = PlanOptions::new(moat_diff::DiffOptions::new(today()));
    options.interrupted = interrupted;
    let planned = moat_exec::plan(&reader(&c), &Arc::new(set), &options)
        .await
        .expect("plan");
    let add = &planned.plan.groups[0].changes[0];
    assert_eq!(add.action, Action::Add);
    assert!(
        add.reasons
            .iter()
            .any(|r| matches!(r, moat_diff::Reason::RevokedByInterruptedApply { .. })),
        "{:?}",
        add.reasons
    );
}
