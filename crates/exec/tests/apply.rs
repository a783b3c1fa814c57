//! Apply against the in-process emulator: the floor of calls, order,
//! verification, snapshots and restore, the write-ahead journal and the
//! call count, guards, stale plans and a group that stops.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use moat_aliyun::AttemptLog;
use moat_diff::Action;
use moat_emulator::FaultConfig;
use moat_exec::apply::{
    ApplyError, ApplyOptions, CallEvent, GroupReport, NotDoneReason, Progress, apply, call_floor,
};
use moat_exec::{
    GuardError, GuardProblem, Guards, JournalLine, LineKind, PreflightError, Session,
    SessionOptions,
};
use moat_policy::{Direction, Origin, Peer, ProtectSelector};

const A: &str = "sg-bpapplya0001";
const B: &str = "sg-bpapplyb0001";

fn live_a() -> Vec<moat_policy::Rule> {
    vec![
        rule(Direction::Ingress, 22, "10.0.0.0/8"),
        rule(Direction::Ingress, 80, "0.0.0.0/0"),
        with(rule(Direction::Ingress, 443, "0.0.0.0/0"), 1, "old"),
        rule(Direction::Ingress, 3306, "0.0.0.0/0"),
        rule(Direction::Ingress, 25, "0.0.0.0/0"),
        rule(Direction::Egress, 443, "0.0.0.0/0"),
        rule(Direction::Egress, 53, "0.0.0.0/0"),
    ]
}

fn want_a() -> Vec<moat_policy::Rule> {
    let mut r = vec![
        rule(Direction::Ingress, 22, "10.0.0.0/8"),
        with(rule(Direction::Ingress, 80, "0.0.0.0/0"), 5, "web"),
        with(rule(Direction::Ingress, 443, "0.0.0.0/0"), 1, "new"),
        rule(Direction::Egress, 443, "0.0.0.0/0"),
        rule(Direction::Egress, 8080, "0.0.0.0/0"),
    ];
    for port in 1000..1150 {
        r.push(rule(Direction::Ingress, port, "10.1.0.0/16"));
    }
    r
}

fn live_b() -> Vec<moat_policy::Rule> {
    vec![rule(Direction::Ingress, 22, "10.0.0.0/8")]
}

fn want_b() -> Vec<moat_policy::Rule> {
    let mut r = live_b();
    for port in [80, 443, 8443] {
        r.push(rule(Direction::Ingress, port, "192.168.0.0/16"));
    }
    r
}

#[derive(Debug, Default)]
struct Counter {
    started: AtomicUsize,
    calls: AtomicUsize,
    finished: AtomicUsize,
}

impl Progress for Counter {
    fn group_started(&self, _group: &str, _changes: usize) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }
    fn call_done(&self, _call: &CallEvent) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
    fn group_finished(&self, _report: &GroupReport) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test]
async fn applies_at_the_floor_in_order_verifies_journals_and_restores() {
    let handle = emulator(FaultConfig::default(), 1);
    seed_group(&handle, A, &live_a());
    seed_group(&handle, B, &live_b());
    let c = client(&handle, 3);
    let original = live(&c, &[A, B]).await;
    let set = desired(&[(A, want_a()), (B, want_b())]);
    let (plan, _) = make_plan(&c, &set).await;
    assert_eq!(
        plan.summary().to_string(),
        "Plan: 154 to add, 2 to change, 3 to remove."
    );
    let floor: usize = plan.groups.iter().map(call_floor).sum();
    // A: ingress 2 authorize + 2 modify + 1 revoke, egress 1 + 1; B: 1.
    assert_eq!(floor, 8);

    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("state/journal.jsonl");
    let snapshots = dir.path().join("snapshots/20261125T101500Z");
    let log = Arc::new(AttemptLog::new());
    let progress = Arc::new(Counter::default());
    let options = ApplyOptions {
        snapshot_dir: Some(snapshots.clone()),
        progress: Some(progress.clone()),
        ..ApplyOptions::default()
    };
    let s = Session::open(
        c.clone(),
        SessionOptions {
            journal: Some(&journal),
            observer: Some(log.clone()),
            stop: None,
        },
    )
    .expect("journal opens");
    handle.emulator().reset_stats();
    let report = apply(&s, &plan, &options).await.expect("apply runs");
    let stats = handle.emulator().stats();

    // The floor of mutating calls, and nothing else but reads.
    assert_eq!(mutating_calls(&stats), floor as u64, "{stats:?}");
    assert_eq!(report.mutating_calls(), floor);
    assert!(report.is_complete(), "{report:#?}");
    assert_eq!(
        report.groups.iter().map(|g| g.verified).collect::<Vec<_>>(),
        [Some(true); 2]
    );
    // 2 reads before, 8 changes, 1 verify read per group: the summary's
    // count is the service's.
    assert_eq!(report.api_calls(), 12);
    assert_eq!(stats.total(), 12);
    assert_eq!(
        (report.calls.reads, report.calls.changes, report.calls.locks),
        (4, 8, 0)
    );
    let line = report.to_string();
    assert!(
        line.starts_with(
            "Apply complete: 154 added, 2 changed, 3 removed in 2 groups (159 changes in 12 API calls, "
        ),
        "{line}"
    );
    assert!(line.ends_with(" s)."), "{line}");
    assert_eq!(progress.started.load(Ordering::Relaxed), 2);
    assert_eq!(progress.finished.load(Ordering::Relaxed), 2);
    assert_eq!(progress.calls.load(Ordering::Relaxed), 8);

    // Make-before-break: per group and direction, every authorize ends
    // before the first revoke starts, and modifies sit in between.
    let records = log.records();
    for group in [A, B] {
        for egress in [false, true] {
            let pos = |prefix: &str| -> Vec<usize> {
                records
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| {
                        let name = r.action.as_str();
                        r.group.as_deref() == Some(group)
                            && name.starts_with(prefix)
                            && name.contains("Egress") == egress
                    })
                    .map(|(i, _)| i)
                    .collect()
            };
            let (auth, modify, revoke) = (pos("Authorize"), pos("Modify"), pos("Revoke"));
            if let (Some(a), Some(r)) = (auth.iter().max(), revoke.iter().min()) {
                assert!(a < r, "{group} egress={egress}: authorize after revoke");
            }
            if let (Some(a), Some(m)) = (auth.iter().max(), modify.iter().min()) {
                assert!(a < m);
            }
            if let (Some(m), Some(r)) = (modify.iter().max(), revoke.iter().min()) {
                assert!(m < r);
            }
        }
    }

    // The live state is the desired one: a fresh plan has no changes, and
    // applying it makes no mutating call.
    let (again, _) = make_plan(&c, &set).await;
    assert!(!again.has_changes(), "{}", again.to_json());
    handle.emulator().reset_stats();
    let noop = apply(&session(&c), &again, &options)
        .await
        .expect("no-op apply");
    assert_eq!(mutating_calls(&handle.emulator().stats()), 0);
    assert!(noop.groups.is_empty() && noop.is_complete());

    // Journal: one attempt line per attempt with the documented fields, an
    // intent before and an outcome after each rule-changing step, and no
    // secret.
    let text = std::fs::read_to_string(&journal).expect("journal written");
    assert!(!text.contains(KEY_SECRET));
    let lines: Vec<&str> = text.lines().collect();
    let parsed: Vec<JournalLine> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("a journal line"))
        .collect();
    let attempts: Vec<&JournalLine> = parsed
        .iter()
        .filter(|l| l.kind == LineKind::Attempt)
        .collect();
    assert_eq!(attempts.len(), records.len(), "one line per attempt");
    for (l, text) in parsed.iter().zip(&lines) {
        let v: serde_json::Value = serde_json::from_str(text).expect("a JSON line");
        for field in ["time", "kind", "phase", "action", "batch"] {
            assert!(v.get(field).is_some(), "{field} missing in {text}");
        }
        if l.kind == LineKind::Attempt {
            for field in ["group", "attempt", "outcome", "duration_ms"] {
                assert!(v.get(field).is_some(), "{field} missing in {text}");
            }
        }
        l.time.parse::<jiff::Timestamp>().expect("RFC 3339 time");
        assert!(l.time.ends_with('Z'));
    }
    // Write-ahead: every rule-changing attempt comes after its intent and
    // before its outcome, all three with the same token.
    let intents = parsed.iter().filter(|l| l.kind == LineKind::Intent).count();
    let outcomes = parsed
        .iter()
        .filter(|l| l.kind == LineKind::Outcome)
        .count();
    assert_eq!((intents, outcomes), (floor, floor));
    for (i, l) in parsed.iter().enumerate() {
        if l.kind != LineKind::Attempt || !["add", "change", "remove"].contains(&l.phase.as_str()) {
            continue;
        }
        let token = l.client_token.as_deref().expect("a token");
        let same = |k: LineKind| {
            parsed
                .iter()
                .position(|o| o.kind == k && o.client_token.as_deref() == Some(token))
                .expect("intent and outcome")
        };
        assert!(
            same(LineKind::Intent) < i && i < same(LineKind::Outcome),
            "{l:?}"
        );
    }
    let first_add = parsed
        .iter()
        .find(|l| l.phase == "add" && l.group == A && l.kind == LineKind::Attempt)
        .expect("an add line");
    assert_eq!(first_add.plan, plan.hash());
    assert_eq!(first_add.direction, Some(Direction::Ingress));
    assert_eq!(first_add.batch, 1);
    assert_eq!(first_add.rules.len(), 100);
    assert_eq!(first_add.outcome.as_deref(), Some("ok"));
    assert!(first_add.request_id.is_some());
    assert!(
        first_add
            .client_token
            .as_ref()
            .is_some_and(|t| t.len() <= 64)
    );
    let revoke = parsed
        .iter()
        .find(|l| l.phase == "remove" && l.group == A && l.direction == Some(Direction::Ingress))
        .expect("a revoke line");
    assert_eq!(revoke.rule_ids.len(), 2);
    let reads: Vec<&str> = parsed
        .iter()
        .filter(|l| l.action == "DescribeSecurityGroupAttribute")
        .map(|l| l.phase.as_str())
        .collect();
    assert_eq!(reads, ["preflight", "preflight", "verify", "verify"]);

    // Snapshots: one policy file per group; planning from them and
    // applying restores the original rules.
    assert_eq!(
        report.snapshots,
        [
            snapshots.join(format!("{A}.yaml")),
            snapshots.join(format!("{B}.yaml"))
        ]
    );
    let restore_set =
        moat_policy::load_policies(&report.snapshots).expect("the snapshots load as a policy");
    let (restore, _) = make_plan(&c, &restore_set).await;
    // tcp/80 had no description: taking "web" off again is a replace,
    // which counts as one add and one remove.
    assert_eq!(
        restore.summary().to_string(),
        "Plan: 4 to add, 1 to change, 155 to remove."
    );
    assert_eq!(restore.summary().replace, 1);
    let restore_options = ApplyOptions {
        guards: Guards {
            max_destroy: 1000,
            ..Guards::default()
        },
        ..ApplyOptions::default()
    };
    let restored = apply(&session(&c), &restore, &restore_options)
        .await
        .expect("restore");
    assert!(restored.is_complete(), "{restored}");
    let now = live(&c, &[A, B]).await;
    for (before, after) in original.iter().zip(&now) {
        assert_eq!(rule_set(before), rule_set(after), "{} restored", before.id);
    }
}

fn refused(r: Result<moat_exec::ApplyReport, ApplyError>) -> GuardError {
    match r {
        Err(ApplyError::Preflight(PreflightError::Refused(g))) => g,
        other => panic!("expected a guard refusal, got {other:?}"),
    }
}

fn guards(f: impl FnOnce(&mut Guards)) -> ApplyOptions {
    let mut g = Guards::default();
    f(&mut g);
    ApplyOptions {
        guards: g,
        ..ApplyOptions::default()
    }
}

/// Each guard refuses the whole plan, naming the problem, with no mutating
/// call.
#[tokio::test]
async fn guards_refuse_before_any_change() {
    let handle = emulator(FaultConfig::default(), 2);
    seed_group(&handle, A, &live_a());
    seed_group(&handle, B, &live_b());
    let c = client(&handle, 3);
    let s = session(&c);
    let mut set = desired(&[(A, want_a()), (B, want_b())]);
    let (plan, _) = make_plan(&c, &set).await;
    handle.emulator().reset_stats();

    // More removals than max_destroy.
    let g = refused(apply(&s, &plan, &guards(|g| g.max_destroy = 2)).await);
    assert_eq!(
        g.to_string(),
        "plan removes 3 rules, more than the 2 allowed"
    );

    // A protect selector covers the removal of tcp/3306; `protected: true`
    // the change of tcp/80.
    set.protect.push(ProtectSelector {
        reason: "database access is reviewed".into(),
        origin: Origin {
            file: "policy.yaml".into(),
            line: 3,
            column: 3,
        },
        group: Some(A.into()),
        direction: None,
        services: Some(vec![
            rule(Direction::Ingress, 3306, "0.0.0.0/0").key.service(),
        ]),
        peers: None,
        description_prefix: None,
    });
    for d in &mut set.groups[0].rules {
        if d.rule.key.ports == moat_policy::PortRange::single(80) {
            d.protected = true;
        }
    }
    let (protected, _) = make_plan(&c, &set).await;
    let g = refused(apply(&s, &protected, &ApplyOptions::default()).await);
    assert_eq!(g.problems.len(), 2, "{g}");
    let text = g.to_string();
    assert!(
        text.contains("plan removes protected rule ingress accept tcp/3306"),
        "{text}"
    );
    assert!(
        text.contains("plan changes protected rule ingress accept tcp/80"),
        "{text}"
    );
    assert!(text.contains("database access is reviewed (protect selector at policy.yaml:3:3)"));
    // Allowed, the protections no longer refuse (checked with a guard that
    // still refuses for another reason, so nothing is applied).
    let options = guards(|g| {
        g.allow_protected = true;
        g.max_destroy = 0;
    });
    let g = refused(apply(&s, &protected, &options).await);
    assert!(
        matches!(g.problems[..], [GuardProblem::MaxDestroy { .. }]),
        "{g}"
    );

    // The rule quota, counted at the fullest point (A has 7 live rules and
    // adds 150 ingress rules before removing 2).
    let g = refused(apply(&s, &plan, &guards(|g| g.rules_per_group = 150)).await);
    assert_eq!(
        g.problems,
        [GuardProblem::RuleQuota {
            group: A.into(),
            peak: 157,
            end: 155,
            limit: 150
        }]
    );

    // The group-reference quota.
    let mut refs = want_b();
    for n in 0..3 {
        let mut r = rule(Direction::Ingress, 5000 + n, "10.0.0.0/8");
        r.key.peer = Peer::group(format!("sg-bpapplypeer{n}"));
        refs.push(r);
    }
    let (ref_plan, _) = make_plan(&c, &desired(&[(B, refs)])).await;
    let g = refused(apply(&s, &ref_plan, &guards(|g| g.max_group_refs = 2)).await);
    assert!(
        matches!(
            &g.problems[..],
            [GuardProblem::GroupRefQuota {
                peak: 3,
                limit: 2,
                ..
            }]
        ),
        "{g}"
    );

    // A missing group.
    let (missing, _) = make_plan(
        &c,
        &desired(&[(B, want_b()), ("sg-bpapplynone1", live_b())]),
    )
    .await;
    let g = refused(apply(&s, &missing, &ApplyOptions::default()).await);
    assert!(
        g.to_string()
            .contains("security group sg-bpapplynone1 in region cn-hangzhou does not exist"),
        "{g}"
    );

    // Several problems are listed together.
    let options = guards(|g| {
        g.max_destroy = 1;
        g.rules_per_group = 10;
    });
    let g = refused(apply(&s, &plan, &options).await);
    assert_eq!(g.problems.len(), 2);
    assert!(g.to_string().starts_with("2 problems:\n  - "));

    assert_eq!(mutating_calls(&handle.emulator().stats()), 0);
}

#[tokio::test]
async fn a_stale_plan_is_refused() {
    let handle = emulator(FaultConfig::default(), 3);
    seed_group(&handle, A, &live_a());
    let c = client(&handle, 3);
    let set = desired(&[(A, want_a())]);
    let (plan, before) = make_plan(&c, &set).await;
    moat_exec::check_live(&plan, &before, &Guards::default()).expect("fresh when made");

    // Someone adds a rule in the console.
    let token = moat_aliyun::ClientToken::new("console-change-1").expect("token");
    c.authorize(
        A,
        Direction::Ingress,
        &[rule(Direction::Ingress, 9000, "10.9.0.0/16")],
        &token,
    )
    .await
    .expect("authorize");

    handle.emulator().reset_stats();
    let options = guards(|g| g.max_destroy = 100);
    let err = apply(&session(&c), &plan, &options)
        .await
        .expect_err("apply refuses");
    assert!(
        matches!(err, ApplyError::Preflight(PreflightError::Stale(_))),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "plan is stale: security group sg-bpapplya0001 in region cn-hangzhou changed since the plan was made"
    );
    assert_eq!(mutating_calls(&handle.emulator().stats()), 0);
}

/// A call the service refuses stops its group: nothing after it in that
/// group is attempted, other groups finish, and the report's not-done list
/// is exactly what a new plan shows.
#[tokio::test]
async fn a_failed_call_stops_only_its_group() {
    let handle = emulator(FaultConfig::default(), 4);
    seed_group(&handle, A, &live_a());
    seed_group(&handle, B, &live_b());
    let c = client(&handle, 3);
    // A's egress authorize references a group that does not exist.
    let mut want = want_a();
    let mut bad = rule(Direction::Egress, 9443, "10.0.0.0/8");
    bad.key.peer = Peer::group("sg-bpapplymissing");
    want.push(bad);
    let set = desired(&[(A, want), (B, want_b())]);
    let (plan, _) = make_plan(&c, &set).await;
    let report = apply(&session(&c), &plan, &ApplyOptions::default())
        .await
        .expect("apply runs");
    assert!(!report.is_complete());
    let a = &report.groups[0];
    let b = &report.groups[1];
    assert!(b.is_complete(), "{b:#?}");
    let failure = a.failure.as_ref().expect("A stopped");
    assert_eq!(failure.action, "AuthorizeSecurityGroupEgress");
    assert!(failure.code.is_some());
    assert!(failure.request_id.is_some());
    // Ingress was done; the egress add failed and the egress revoke was not
    // attempted.
    assert_eq!(a.count(Action::Add), 150);
    assert_eq!(a.count(Action::Change), 2);
    assert_eq!(a.count(Action::Remove), 2);
    let reasons: Vec<&str> = a
        .not_done
        .iter()
        .map(|n| match n.reason {
            NotDoneReason::Failed { .. } => "failed",
            NotDoneReason::Skipped { .. } => "skipped",
            _ => "other",
        })
        .collect();
    assert_eq!(
        reasons,
        ["skipped", "failed", "failed"],
        "{:#?}",
        a.not_done
    );
    let line = report.to_string();
    // 2 preflight reads, 7 calls that worked, 1 that failed, 2 read-backs.
    assert!(
        line.starts_with("Apply failed: 153 added, 2 changed, 2 removed in 2 groups (157 changes in 11 API calls, "),
        "{line}"
    );
    assert!(
        line.contains(" s); 3 changes not made in 1 group: sg-bpapplya0001: AuthorizeSecurityGroupEgress InvalidDestGroupId.NotFound (request id "),
        "{line}"
    );
    assert!(line.ends_with(")."), "{line}");

    let (remaining, _) = make_plan(&c, &set).await;
    let mut want: Vec<String> = a.not_done.iter().map(|n| n.change.to_string()).collect();
    want.sort();
    let mut got: Vec<String> = remaining
        .groups
        .iter()
        .flat_map(|g| &g.changes)
        .map(|ch| format!("{} {}", ch.action.symbol(), ch.key))
        .zip(remaining.groups.iter().flat_map(|g| &g.changes))
        .map(|(s, ch)| {
            if ch.live_ids.is_empty() {
                s
            } else {
                format!("{s} ({})", ch.live_ids.join(", "))
            }
        })
        .collect();
    got.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn with_the_groups_the_plan_was_made_from_nothing_is_read_twice() {
    let handle = emulator(FaultConfig::default(), 1);
    seed_group(&handle, A, &live_a());
    seed_group(&handle, B, &live_b());
    let c = client(&handle, 3);
    let set = desired(&[(A, want_a()), (B, want_b())]);
    handle.emulator().reset_stats();
    let (plan, planned) = make_plan(&c, &set).await;
    let floor: usize = plan.groups.iter().map(call_floor).sum();
    let s = session(&c);
    let options = ApplyOptions {
        planned_live: Some(planned.into()),
        ..ApplyOptions::default()
    };
    let report = apply(&s, &plan, &options).await.expect("apply runs");
    assert!(report.is_complete(), "{report:#?}");
    // 1 read per group for the plan, the floor, 1 verify read per group.
    let stats = handle.emulator().stats();
    assert_eq!(
        stats.ok("DescribeSecurityGroupAttribute"),
        2 + 2,
        "{stats:?}"
    );
    assert_eq!(stats.total(), (2 + floor + 2) as u64, "{stats:?}");
    assert_eq!(
        (report.calls.reads, report.calls.changes),
        (2, floor as u64)
    );

    // Groups that are not what the plan was made from are refused, with
    // nothing changed.
    let (stale_plan, _) = make_plan(&c, &desired(&[(A, live_a())])).await;
    let (other, _) = make_plan(&c, &desired(&[(A, live_b())])).await;
    let many = ApplyOptions {
        guards: Guards {
            max_destroy: 1000,
            ..Guards::default()
        },
        ..ApplyOptions::default()
    };
    let done = apply(&s, &other, &many).await;
    assert!(done.as_ref().is_ok_and(|r| r.is_complete()), "{done:?}");
    let before = handle.emulator().stats();
    let options = ApplyOptions {
        planned_live: Some(live(&c, &[A]).await.into()),
        ..ApplyOptions::default()
    };
    match apply(&s, &stale_plan, &options).await {
        Err(ApplyError::Preflight(PreflightError::Stale(_))) => {}
        other => panic!("not refused as stale: {other:?}"),
    }
    assert_eq!(
        mutating_calls(&handle.emulator().stats()),
        mutating_calls(&before)
    );
}
