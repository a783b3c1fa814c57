//! The promotion gate of a rollout: before a later stage is applied, every
//! group of every earlier stage must be in sync with the policies as loaded
//! now and pass the policy tests live.
//!
//! The gate is the plan pipeline ([`crate::plan`]) run on the earlier
//! stages' groups, keeping the live groups it read, and the tests run on
//! those live rules: the same reads and the same diff as `moat plan`, so
//! "in sync" means exactly "plan shows no changes". No state file is
//! needed: the live cloud is the record of what each stage has.

use std::sync::Arc;

use moat_policy::PolicySet;
use moat_policy::policy_tests::{TestReport, run_tests_live};

use crate::pipeline::{PlanOptions, plan};
use crate::read::ReadError;
use crate::session::Reader;

/// What one earlier stage looks like live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageState {
    pub stage: String,
    /// Changes a plan of the stage would make (unmodeled removals included).
    pub changes: usize,
    /// Groups of the stage with changes.
    pub groups_changed: usize,
    /// Groups of the stage that do not exist.
    pub missing: usize,
}

impl StageState {
    pub fn in_sync(&self) -> bool {
        self.changes == 0 && self.missing == 0
    }
}

/// The gate's answer for `stage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateReport {
    /// The stage about to be applied.
    pub stage: String,
    /// Each earlier stage, in rollout order.
    pub earlier: Vec<StageState>,
    /// The policy tests on the live rules of the earlier stages' groups.
    pub tests: TestReport,
}

impl GateReport {
    /// True when every earlier stage is in sync and every test passes.
    pub fn passed(&self) -> bool {
        self.earlier.iter().all(StageState::in_sync) && self.tests.all_passed()
    }
}

/// Checks the stages before `stage` in `policy` (the whole policy set, not
/// one stage of it). A first stage (or a stage not in `stages:`) has nothing
/// before it and passes without a call.
pub async fn stage_gate(
    reader: &Reader,
    policy: &PolicySet,
    stage: &str,
    options: &PlanOptions,
) -> Result<GateReport, ReadError> {
    let earlier: Vec<String> = policy.stages_before(stage).to_vec();
    let mut report = GateReport {
        stage: stage.to_owned(),
        earlier: Vec::new(),
        tests: TestReport::default(),
    };
    if earlier.is_empty() {
        return Ok(report);
    }
    let mut before = policy.clone();
    before.retain_groups(|g| g.stage.as_ref().is_some_and(|s| earlier.contains(s)));
    let before = Arc::new(before);
    let mut options = options.clone();
    options.keep_live = true;
    let planned = plan(reader, &before, &options).await?;
    for name in &earlier {
        let mut state = StageState {
            stage: name.clone(),
            changes: 0,
            groups_changed: 0,
            missing: 0,
        };
        for g in planned
            .plan
            .groups
            .iter()
            .filter(|g| g.stage.as_deref() == Some(name.as_str()))
        {
            if g.status == moat_diff::GroupStatus::Missing {
                state.missing += 1;
                continue;
            }
            let n = g.changes.len()
                + g.unmodeled
                    .iter()
                    .filter(|u| u.action == moat_diff::UnmodeledAction::Remove)
                    .count();
            if n > 0 {
                state.changes += n;
                state.groups_changed += 1;
            }
        }
        report.earlier.push(state);
    }
    report.tests = run_tests_live(&before, &planned.live);
    Ok(report)
}
