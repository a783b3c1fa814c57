//! The executor: preflight, snapshot, then change groups concurrently.

use std::collections::BTreeMap;
use std::sync::Arc;

use moat_aliyun::{CallError, CallInfo, Client};
use moat_diff::{Action, GroupPlan, Plan};
use moat_policy::LiveGroup;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::batch::{Step, StepKind, Work, client_token, steps_of, work_of};
use super::report::{
    ApplyReport, CallFailure, ChangeRef, GroupReport, NotDone, NotDoneReason, RateReached,
};
use super::snapshot::write_snapshots;
use super::{ApplyError, ApplyOptions, CallEvent};
use crate::journal::{CallContext, CallOutcome};
use crate::lock::Leases;
use crate::preflight::{preflight, preflight_with, touched_groups};
use crate::session::{Session, StopReason, StopSignal, Target};

/// Applies `plan` through `session` (see the module documentation for the
/// order of things). Returns `Err` only when no rule was changed: the
/// preflight refused the plan, a region has no client, or a snapshot could
/// not be written. Otherwise the report says per group what was done and
/// what was not; check [`ApplyReport::succeeded`].
pub async fn apply(
    session: &Session,
    plan: &Plan,
    options: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    let started = Instant::now();
    let plan_hash = plan.hash();
    let touched: Vec<&GroupPlan> = touched_groups(plan).collect();
    let mut report = ApplyReport {
        plan_hash: plan_hash.clone(),
        groups: Vec::new(),
        snapshots: Vec::new(),
        calls: session.counts(),
        rates: Vec::new(),
        stopped: None,
        journal_error: None,
        lease_errors: Vec::new(),
        elapsed: started.elapsed(),
    };
    if touched.is_empty() {
        return Ok(report);
    }
    // One client per (account, region), made before anything is read or
    // changed.
    let clients = session.clients(
        touched
            .iter()
            .map(|g| (g.account.as_deref(), g.region.as_str())),
    )?;

    // The lease comes first: what the preflight reads next cannot then be
    // changed by another apply before this one is done.
    let mut leases = match &options.lock {
        Some(lock) => {
            let groups: Vec<(String, Target)> = touched
                .iter()
                .map(|g| (g.id.clone(), Target::new(g.account.as_deref(), &g.region)))
                .collect();
            let mut leases = Leases::acquire(session, &clients, &groups, lock).await?;
            leases.keep(session, lock.ttl);
            Some(leases)
        }
        None => None,
    };
    let result = run_leased(session, plan, options, &touched, &clients, &mut report).await;
    if let Some(leases) = &mut leases {
        report.lease_errors = leases.release().await;
    }
    let groups = result?;
    Ok(finish(report, session, groups.into_iter(), started))
}

/// Everything apply does under the lease.
async fn run_leased(
    session: &Session,
    plan: &Plan,
    options: &ApplyOptions,
    touched: &[&GroupPlan],
    clients: &BTreeMap<Target, Client>,
    report: &mut ApplyReport,
) -> Result<Vec<GroupReport>, ApplyError> {
    let plan_hash = report.plan_hash.clone();
    let stop = session.stop_signal().clone();
    // The groups are read again and checked: the plan may have been made,
    // or checked before a prompt, a while ago. A plan this run made moments
    // ago is checked against the groups it was made from, unless a lease was
    // taken since: that plan was read before the lease, so another apply may
    // have changed the groups in between, and only a read under the lease
    // can tell.
    let planned_live = options
        .planned_live
        .as_ref()
        .filter(|_| options.lock.is_none());
    let live = match planned_live {
        Some(live) => {
            preflight_with(plan, live, &options.guards)?;
            live.iter()
                .filter(|l| touched.iter().any(|g| g.id == l.id && g.region == l.region))
                .cloned()
                .collect()
        }
        None => {
            preflight(
                &session.reader(),
                plan,
                &options.guards,
                options.parallel.max(1) * 2,
            )
            .await?
            .live
        }
    };

    if stop.is_stopped() {
        return Ok(touched.iter().map(not_started).collect());
    }
    if let Some(dir) = &options.snapshot_dir {
        report.snapshots = write_snapshots(dir, &live)?;
        tracing::info!(dir = %dir.display(), groups = live.len(), "snapshots written");
    }

    // `parallel` groups at once in each (account, region): each has its
    // own quota, so the targets run side by side.
    let permits: BTreeMap<&Target, Arc<Semaphore>> = clients
        .keys()
        .map(|t| (t, Arc::new(Semaphore::new(options.parallel.max(1)))))
        .collect();
    let mut tasks = JoinSet::new();
    for (index, g) in touched.iter().enumerate() {
        let target = Target::new(g.account.as_deref(), &g.region);
        let (Some(regional), Some(permits)) = (clients.get(&target).cloned(), permits.get(&target))
        else {
            continue;
        };
        let run = GroupRun {
            session: session.clone(),
            client: regional,
            group: (*g).clone(),
            plan_hash: plan_hash.clone(),
            nonce: plan.nonce.clone(),
            options: options.clone(),
            stop: stop.clone(),
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
    Ok(results
        .into_iter()
        .zip(touched)
        .map(|(r, g)| r.unwrap_or_else(|| not_started(g)))
        .collect())
}

fn finish(
    mut report: ApplyReport,
    session: &Session,
    groups: impl Iterator<Item = GroupReport>,
    started: Instant,
) -> ApplyReport {
    report.groups = groups.collect();
    report.stopped = session.stop_signal().reason();
    report.journal_error = session.sink().journal.as_ref().and_then(|j| j.failure());
    report.calls = session.counts();
    report.rates = RateReached::from_stats(&session.rates());
    report.elapsed = started.elapsed();
    tracing::info!(
        complete = report.is_complete(),
        added = report.added(),
        changed = report.changed(),
        removed = report.removed(),
        calls = report.api_calls(),
        "apply finished"
    );
    report
}

/// The report of a group the run stopped before.
fn not_started(g: &&GroupPlan) -> GroupReport {
    GroupReport {
        id: g.id.clone(),
        region: g.region.clone(),
        started: false,
        done: Vec::new(),
        not_done: work_of(g)
            .into_iter()
            .map(|w| NotDone {
                change: w.change,
                reason: NotDoneReason::Stopped,
            })
            .collect(),
        failure: None,
        verified: None,
        mutating_calls: 0,
        calls: 0,
        attempts: 0,
        elapsed: std::time::Duration::ZERO,
    }
}

/// Where a change stands while its group runs.
#[derive(Clone, Debug)]
enum State {
    Pending,
    CallOk,
    Failed(CallFailure),
    Skipped(CallFailure),
    Stopped,
}

struct GroupRun {
    session: Session,
    client: Client,
    group: GroupPlan,
    plan_hash: String,
    /// [`Plan::nonce`], mixed into every token.
    nonce: String,
    options: ApplyOptions,
    stop: StopSignal,
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
        if e.action.is_mutating() && e.attempts > 0 {
            self.mutating += 1;
        }
        if e.attempts > 0 {
            self.calls += 1;
        }
        self.attempts += e.attempts;
    }
}

/// How one step ended.
enum StepEnd {
    Ok,
    Failed(CallFailure),
    /// Not sent: its intent could not be journaled.
    NotSent,
}

impl GroupRun {
    fn context(&self, phase: &'static str) -> CallContext {
        CallContext::read(phase, &self.plan_hash, &self.group.id, &self.group.region)
    }

    async fn run(self) -> GroupReport {
        let started = Instant::now();
        let g = &self.group;
        let work = work_of(g);
        let steps = steps_of(&work);
        if self.stop.is_stopped() {
            return not_started(&g);
        }
        if let Some(p) = &self.options.progress {
            p.group_started(&g.id, work.len());
        }
        tracing::info!(changes = work.len(), calls = steps.len(), "applying group");
        let mut states: Vec<State> = vec![State::Pending; work.len()];
        let mut counts = Counts::default();
        let mut failure: Option<CallFailure> = None;
        let mut cut = false;
        for step in &steps {
            if let Some(f) = &failure {
                for &i in &step.changes {
                    if matches!(states[i], State::Pending) {
                        states[i] = State::Skipped(f.clone());
                    }
                }
                continue;
            }
            // A stop lets the step in flight finish; the next never starts.
            if self.stop.is_stopped() {
                cut = true;
                break;
            }
            let end = self.call(step, &mut counts).await;
            let ok = matches!(end, StepEnd::Ok);
            match end {
                StepEnd::Ok => {
                    for &i in &step.changes {
                        if matches!(states[i], State::Pending) {
                            states[i] = State::CallOk;
                        }
                    }
                }
                StepEnd::NotSent => {
                    cut = true;
                    break;
                }
                StepEnd::Failed(f) => {
                    tracing::warn!(
                        phase = %step.phase,
                        direction = %step.direction,
                        batch = step.batch,
                        error = %f.message,
                        "call failed; no further changes to this group"
                    );
                    if f.quota
                        && let Some(code) = &f.code
                    {
                        // The account is at a limit moat did not know of;
                        // other groups would hit it too.
                        self.stop.stop(StopReason::Quota {
                            group: g.id.clone(),
                            code: code.clone(),
                        });
                    }
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
        if cut {
            for s in &mut states {
                if matches!(s, State::Pending) {
                    *s = State::Stopped;
                }
            }
        }

        let mut report = GroupReport {
            id: g.id.clone(),
            region: g.region.clone(),
            started: true,
            done: Vec::new(),
            not_done: Vec::new(),
            failure: failure.clone(),
            verified: None,
            mutating_calls: counts.mutating,
            calls: counts.calls,
            attempts: counts.attempts,
            elapsed: started.elapsed(),
        };

        // Read the group back to verify, or to learn what a failed call
        // did. A group cut short by a stop is not verified: the caller is
        // waiting, and the result of every call sent is known.
        let read_back = if failure.is_some() || (self.options.verify && !cut) {
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
                (State::Stopped, _) => Some(NotDoneReason::Stopped),
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

    /// One step: its intent journaled, its call (two for a replace), its
    /// outcome journaled, counted into `counts`.
    async fn call(&self, step: &Step, counts: &mut Counts) -> StepEnd {
        let g = &self.group;
        let token = match client_token(
            &self.plan_hash,
            &self.nonce,
            &g.id,
            step.direction,
            step.phase,
            step.batch,
        ) {
            Ok(t) => t,
            Err(e) => {
                return StepEnd::Failed(CallFailure::local(step.phase.as_str(), e.to_string()));
            }
        };
        let mut context = self.context(step.phase.as_str());
        context.direction = Some(step.direction);
        context.batch = step.batch;
        context.rules = step.rules.clone();
        context.rule_ids = step.rule_ids();
        context.client_token = Some(token.as_str().to_owned());
        if let StepKind::Replace { rule, .. } = &step.kind {
            context.reauthorizes = Some(rule.clone());
        }
        let first_action = step.first_action();
        let journal = self.session.sink().journal.as_ref();
        if let Some(j) = journal
            && let Err(e) = j.intent(&context, first_action.as_str())
        {
            // Write-ahead: no call whose intent is not in the journal.
            self.stop.stop(StopReason::Journal {
                error: error_chain(&e),
            });
            return StepEnd::NotSent;
        }
        let client = self.session.observed(&self.client, context.clone());
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
                // Back to back, as one step: a stop is only looked at
                // between steps, so the rule is never left revoked by one.
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
        let (end, outcome, last_action) = match result {
            Ok(calls) => {
                counts.ok(&calls);
                let last = calls.last();
                let outcome = CallOutcome::ok(
                    last.map_or("", |c| c.request_id.as_str()),
                    calls.iter().map(|c| c.attempts).sum(),
                );
                let action = last.map_or(first_action, |c| c.action);
                (StepEnd::Ok, outcome, action)
            }
            Err(e) => {
                counts.failed(&e);
                (
                    StepEnd::Failed(CallFailure::from_error(&e)),
                    CallOutcome::failed(&e),
                    e.action,
                )
            }
        };
        if let Some(j) = journal
            && let Err(e) = j.outcome(&context, last_action.as_str(), &outcome)
        {
            // The call is done; the next one will not start.
            self.stop.stop(StopReason::Journal {
                error: error_chain(&e),
            });
        }
        end
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
        let client = self
            .session
            .observed(&self.client, self.context("verify"))
            .read_only();
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

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `None` when `live` shows the change made, else what differs. A replaced
/// rule comes back with a new id, so it is found by its identity.
fn mismatch(w: &Work, live: &LiveGroup) -> Option<String> {
    let change: &ChangeRef = &w.change;
    match change.action {
        Action::Add | Action::Replace => {
            let rule = w.rule.as_ref()?;
            match live.rules.iter().find(|r| r.rule.key == rule.key) {
                None => Some("rule not in the group".to_owned()),
                Some(r) if change.action == Action::Replace && change.live_ids.contains(&r.id) => {
                    Some(format!("rule {} was not replaced", r.id))
                }
                Some(r) => attributes_differ(&r.rule, rule),
            }
        }
        Action::Change => {
            let rule = w.rule.as_ref()?;
            let id = change.live_ids.first()?;
            match live.rules.iter().find(|r| &r.id == id) {
                None => Some(format!("rule {id} not in the group")),
                Some(r) if r.rule.key != rule.key => {
                    Some(format!("rule {id} is now {}", r.rule.key))
                }
                Some(r) => attributes_differ(&r.rule, rule),
            }
        }
        Action::Remove => {
            let still: Vec<&str> = change
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
