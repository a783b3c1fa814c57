//! The executor: read, check, snapshot, then change groups concurrently.

use std::collections::BTreeMap;
use std::sync::Arc;

use moat_aliyun::{CallError, CallInfo, Client};

use moat_diff::{Action, GroupPlan, Plan, PlanError};
use moat_policy::LiveGroup;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::batch::{Step, StepKind, Work, client_token, steps_of, work_of};
use super::journal::{CallContext, CallObserver, Journal};
use super::report::{ApplyReport, CallFailure, GroupReport, NotDone, NotDoneReason};
use super::snapshot::write_snapshots;
use super::{ApplyError, ApplyOptions, CallEvent, check_guards, touched_groups};
use crate::read::{GroupRef, read_groups};

/// Applies `plan` through `client` (see the module documentation for the
/// order of things). Returns `Err` only when nothing was changed: the plan
/// is stale, a guard refused it, a touched group could not be read, or the
/// journal or a snapshot could not be written. Otherwise the report says
/// per group what was done and what was not; check
/// [`ApplyReport::is_complete`].
///
/// The client's own observer is replaced while apply runs; pass one in
/// [`ApplyOptions::observer`] to see every attempt.
pub async fn apply(
    client: &Client,
    plan: &Plan,
    options: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    let started = Instant::now();
    let plan_hash = plan.hash();
    let journal = match &options.journal {
        Some(path) => Some(Arc::new(Journal::open(path).map_err(|source| {
            ApplyError::Journal {
                path: path.clone(),
                source,
            }
        })?)),
        None => None,
    };
    let touched: Vec<&GroupPlan> = touched_groups(plan).collect();
    let mut report = ApplyReport {
        plan_hash: plan_hash.clone(),
        groups: Vec::new(),
        snapshots: Vec::new(),
        read_calls: 0,
        journal_error: None,
        elapsed: started.elapsed(),
    };

    // One client per region, made before anything is read or changed.
    let mut clients: BTreeMap<String, Client> = BTreeMap::new();
    for g in &touched {
        if !clients.contains_key(&g.region) {
            let regional = if g.region == client.region() {
                client.clone()
            } else {
                client
                    .for_region(&g.region)
                    .map_err(|source| ApplyError::Region {
                        region: g.region.clone(),
                        source,
                    })?
            };
            clients.insert(g.region.clone(), regional);
        }
    }

    // Read the touched groups: the stale check, the guards and the
    // snapshots all need their live rules.
    let live: Vec<LiveGroup> = if touched.is_empty() {
        Vec::new()
    } else {
        let refs: Vec<GroupRef> = touched
            .iter()
            .map(|g| GroupRef::new(g.id.clone(), g.region.clone()))
            .collect();
        let reader = client
            .with_observer(Arc::new(CallObserver {
                journal: journal.clone(),
                next: options.observer.clone(),
                context: CallContext {
                    plan: plan_hash.clone(),
                    phase: "read",
                    ..CallContext::default()
                },
            }))
            .read_only();
        let state = read_groups(&reader, &refs, options.parallel.max(1) * 2)
            .await
            .map_err(ApplyError::Read)?;
        report.read_calls = state.calls;
        state.groups
    };
    for g in &touched {
        let now = live
            .iter()
            .find(|l| l.id == g.id && l.region == g.region)
            .map(moat_diff::fingerprint);
        // A group that vanished since the plan changed too.
        if now.is_none() || now != g.fingerprint {
            return Err(ApplyError::Stale(PlanError::Stale {
                group: g.id.clone(),
                region: g.region.clone(),
            }));
        }
    }
    check_guards(plan, &live, options)?;
    if touched.is_empty() {
        report.elapsed = started.elapsed();
        return Ok(report);
    }

    if let Some(dir) = &options.snapshot_dir {
        let ordered: Vec<LiveGroup> = touched
            .iter()
            .filter_map(|g| {
                live.iter()
                    .find(|l| l.id == g.id && l.region == g.region)
                    .cloned()
            })
            .collect();
        report.snapshots = write_snapshots(dir, &ordered)?;
        tracing::info!(dir = %dir.display(), groups = ordered.len(), "snapshots written");
    }

    let permits = Arc::new(Semaphore::new(options.parallel.max(1)));
    let mut tasks = JoinSet::new();
    for (index, g) in touched.iter().enumerate() {
        let Some(regional) = clients.get(&g.region).cloned() else {
            continue;
        };
        let run = GroupRun {
            client: regional,
            group: (*g).clone(),
            plan_hash: plan_hash.clone(),
            options: options.clone(),
            journal: journal.clone(),
        };
        let permits = permits.clone();
        let span = tracing::info_span!("apply_group", group = %g.id, region = %g.region);
        tasks.spawn(
            async move {
                // The semaphore is never closed; without a permit the group
                // would still be applied correctly, only less bounded.
                let _permit = permits.acquire_owned().await.ok();
                (index, run.run().await)
            }
            .instrument(span),
        );
    }
    let mut results: Vec<Option<GroupReport>> = (0..touched.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, r)) => results[index] = Some(r),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    report.groups = results.into_iter().flatten().collect();
    report.journal_error = journal.as_ref().and_then(|j| j.error());
    report.elapsed = started.elapsed();
    tracing::info!(
        complete = report.is_complete(),
        added = report.added(),
        changed = report.changed(),
        removed = report.removed(),
        calls = report.api_calls(),
        "apply finished"
    );
    Ok(report)
}

/// Where a change stands while its group runs.
#[derive(Clone, Debug)]
enum State {
    Pending,
    CallOk,
    Failed(CallFailure),
    Skipped(CallFailure),
}

struct GroupRun {
    client: Client,
    group: GroupPlan,
    plan_hash: String,
    options: ApplyOptions,
    journal: Option<Arc<Journal>>,
}

#[derive(Default)]
struct Counts {
    mutating: usize,
    calls: usize,
    attempts: u32,
}

impl Counts {
    fn ok(&mut self, calls: &[CallInfo]) {
        self.mutating += calls.iter().filter(|c| c.action.is_mutating()).count();
        self.calls += calls.len();
        self.attempts += calls.iter().map(|c| c.attempts).sum::<u32>();
    }

    fn failed(&mut self, e: &CallError) {
        if e.action.is_mutating() {
            self.mutating += 1;
        }
        if e.attempts > 0 {
            self.calls += 1;
        }
        self.attempts += e.attempts;
    }
}

impl GroupRun {
    fn observed(&self, context: CallContext) -> Client {
        self.client.with_observer(Arc::new(CallObserver {
            journal: self.journal.clone(),
            next: self.options.observer.clone(),
            context,
        }))
    }

    fn context(&self, phase: &'static str) -> CallContext {
        CallContext {
            plan: self.plan_hash.clone(),
            group: self.group.id.clone(),
            region: self.group.region.clone(),
            phase,
            ..CallContext::default()
        }
    }

    async fn run(self) -> GroupReport {
        let started = Instant::now();
        let g = &self.group;
        let work = work_of(g);
        let steps = steps_of(&work);
        if let Some(p) = &self.options.progress {
            p.group_started(&g.id, work.len());
        }
        tracing::info!(changes = work.len(), calls = steps.len(), "applying group");
        let mut states: Vec<State> = vec![State::Pending; work.len()];
        let mut counts = Counts::default();
        let mut failure: Option<CallFailure> = None;
        for step in &steps {
            if let Some(f) = &failure {
                for &i in &step.changes {
                    if matches!(states[i], State::Pending) {
                        states[i] = State::Skipped(f.clone());
                    }
                }
                continue;
            }
            let result = self.call(step, &mut counts).await;
            let ok = result.is_ok();
            match result {
                Ok(()) => {
                    for &i in &step.changes {
                        if matches!(states[i], State::Pending) {
                            states[i] = State::CallOk;
                        }
                    }
                }
                Err(f) => {
                    tracing::warn!(
                        phase = %step.phase,
                        direction = %step.direction,
                        batch = step.batch,
                        error = %f.message,
                        "call failed; no further changes to this group"
                    );
                    for &i in &step.changes {
                        states[i] = State::Failed(f.clone());
                    }
                    failure = Some(f);
                }
            }
            if let Some(p) = &self.options.progress {
                p.call_done(&CallEvent {
                    group: g.id.clone(),
                    direction: step.direction,
                    phase: step.phase,
                    batch: step.batch,
                    items: step.items(),
                    ok,
                });
            }
        }

        let mut report = GroupReport {
            id: g.id.clone(),
            region: g.region.clone(),
            done: Vec::new(),
            not_done: Vec::new(),
            failure: failure.clone(),
            verified: None,
            mutating_calls: counts.mutating,
            calls: counts.calls,
            attempts: counts.attempts,
            elapsed: started.elapsed(),
        };

        // Read the group back to verify, or to learn what a failed call did.
        let read_back = if self.options.verify || failure.is_some() {
            Some(self.read_back(&work, &states, &mut report).await)
        } else {
            None
        };
        for (i, (w, state)) in work.iter().zip(states).enumerate() {
            let seen = read_back
                .as_ref()
                .and_then(|r| r.as_ref().ok())
                .and_then(|mismatch| mismatch.get(i).cloned());
            let reason = match (state, seen) {
                (State::Pending, _) => None,
                (State::CallOk, None | Some(None)) => None,
                (State::CallOk, Some(Some(detail))) => Some(NotDoneReason::NotVisible { detail }),
                (State::Failed(_), Some(None)) => None,
                (State::Failed(error), Some(Some(_))) => Some(NotDoneReason::Failed { error }),
                (State::Failed(error), None) => Some(NotDoneReason::Unknown { error }),
                (State::Skipped(after), _) => Some(NotDoneReason::Skipped { after }),
            };
            match reason {
                None => report.done.push(w.change.clone()),
                Some(reason) => report.not_done.push(NotDone {
                    change: w.change.clone(),
                    reason,
                }),
            }
        }
        if let Some(result) = &read_back {
            // Verified: the group was read and shows every change whose
            // call succeeded (a group that stopped is verified when what it
            // reports as done and not done matches what was read).
            report.verified = Some(
                result.is_ok()
                    && !report
                        .not_done
                        .iter()
                        .any(|n| matches!(n.reason, NotDoneReason::NotVisible { .. })),
            );
            if let Err(f) = result
                && report.failure.is_none()
            {
                report.failure = Some(f.clone());
            }
        }
        report.elapsed = started.elapsed();
        tracing::info!(
            done = report.done.len(),
            not_done = report.not_done.len(),
            calls = report.calls,
            "group finished"
        );
        if let Some(p) = &self.options.progress {
            p.group_finished(&report);
        }
        report
    }

    /// One step's call (two for a replace), counted into `counts`.
    async fn call(&self, step: &Step, counts: &mut Counts) -> Result<(), CallFailure> {
        let g = &self.group;
        let token = client_token(
            &self.plan_hash,
            &self.options.token_scope,
            &g.id,
            step.direction,
            step.phase,
            step.batch,
        )
        .map_err(|e| CallFailure::local(step.phase.as_str(), e.to_string()))?;
        let mut context = self.context(step.phase.as_str());
        context.direction = Some(step.direction);
        context.batch = step.batch;
        context.rules = step.rules.clone();
        context.rule_ids = step.rule_ids();
        context.client_token = Some(token.as_str().to_owned());
        let client = self.observed(context);
        let result = match &step.kind {
            StepKind::Authorize(rules) => client
                .authorize(&g.id, step.direction, rules, &token)
                .await
                .map(|o| o.calls),
            StepKind::Modify { rule_id, rule } => client
                .modify_rule(&g.id, rule_id, rule, &token)
                .await
                .map(|o| o.calls),
            StepKind::Revoke(ids) => client
                .revoke(&g.id, step.direction, ids, &token)
                .await
                .map(|o| o.calls),
            StepKind::Replace { rule_id, rule } => {
                let revoke = token.derive("replace-revoke");
                let ids = std::slice::from_ref(rule_id);
                match client.revoke(&g.id, step.direction, ids, &revoke).await {
                    Ok(o) => {
                        counts.ok(&o.calls);
                        let authorize = token.derive("replace-authorize");
                        let rules = std::slice::from_ref(rule);
                        client
                            .authorize(&g.id, step.direction, rules, &authorize)
                            .await
                            .map(|o| o.calls)
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(calls) => {
                counts.ok(&calls);
                Ok(())
            }
            Err(e) => {
                counts.failed(&e);
                Err(CallFailure::from_error(&e))
            }
        }
    }

    /// Reads the group until every change whose call succeeded is visible
    /// (at most `verify_polls` reads). Returns per work item `None` when the
    /// live group shows it made, or what differs; `Err` when the group could
    /// not be read.
    async fn read_back(
        &self,
        work: &[Work],
        states: &[State],
        report: &mut GroupReport,
    ) -> Result<Vec<Option<String>>, CallFailure> {
        let client = self.observed(self.context("verify")).read_only();
        let polls = self.options.verify_polls.max(1);
        let mut last = Vec::new();
        for poll in 1..=polls {
            let live = match client
                .describe_security_group_attribute(&self.group.id, None)
                .await
            {
                Ok(o) => {
                    report.calls += o.calls.len();
                    report.attempts += o.attempts();
                    o.value
                }
                Err(e) => {
                    report.calls += usize::from(e.attempts > 0);
                    report.attempts += e.attempts;
                    return Err(CallFailure::from_error(&e));
                }
            };
            last = work.iter().map(|w| mismatch(w, &live)).collect();
            let pending = states
                .iter()
                .zip(&last)
                .any(|(s, m)| matches!(s, State::CallOk) && m.is_some());
            if !pending {
                break;
            }
            if poll < polls {
                tracing::debug!(poll, "changes not yet visible; reading again");
                tokio::time::sleep(self.options.verify_backoff).await;
            }
        }
        Ok(last)
    }
}

/// `None` when `live` shows the change made, else what differs.
fn mismatch(w: &Work, live: &LiveGroup) -> Option<String> {
    match w.change.action {
        Action::Add => {
            let rule = w.rule.as_ref()?;
            match live.rules.iter().find(|r| r.rule.key == rule.key) {
                None => Some("rule not in the group".to_owned()),
                Some(r) => attributes_differ(&r.rule, rule),
            }
        }
        Action::Change if w.replace => {
            // Revoked and authorized again: a new id with the same key.
            let rule = w.rule.as_ref()?;
            match live.rules.iter().find(|r| r.rule.key == rule.key) {
                None => Some("rule not in the group".to_owned()),
                Some(r) => attributes_differ(&r.rule, rule),
            }
        }
        Action::Change => {
            let rule = w.rule.as_ref()?;
            let id = w.change.live_ids.first()?;
            match live.rules.iter().find(|r| &r.id == id) {
                None => Some(format!("rule {id} not in the group")),
                Some(r) if r.rule.key != rule.key => {
                    Some(format!("rule {id} is now {}", r.rule.key))
                }
                Some(r) => attributes_differ(&r.rule, rule),
            }
        }
        Action::Remove => {
            let still: Vec<&str> = w
                .change
                .live_ids
                .iter()
                .filter(|id| {
                    live.rules.iter().any(|r| &r.id == *id)
                        || live.unmodeled.iter().any(|u| &u.id == *id)
                })
                .map(String::as_str)
                .collect();
            (!still.is_empty()).then(|| format!("rule {} still in the group", still.join(", ")))
        }
    }
}

fn attributes_differ(live: &moat_policy::Rule, want: &moat_policy::Rule) -> Option<String> {
    if live.priority == want.priority && live.description == want.description {
        return None;
    }
    Some(format!(
        "live priority {} description {:?}, wanted priority {} description {:?}",
        live.priority, live.description, want.priority, want.description
    ))
}
