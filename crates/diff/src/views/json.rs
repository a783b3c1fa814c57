//! `--format json`: the plan file itself (see `docs/plan-format.md`), so a
//! plan printed as JSON can be saved and applied as it is.

use std::io::{self, Write};

use super::RenderOptions;
use crate::plan::Plan;

/// Writes the plan in its versioned JSON form. Options do not apply: JSON
/// has no colour and no size limit.
pub fn render_json(plan: &Plan, _options: &RenderOptions, out: &mut dyn Write) -> io::Result<()> {
    plan.write_json(out)
}
