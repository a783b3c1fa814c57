//! `moat plan PATH... [--format text|json|csv|markdown] [-o PLANFILE]
//! [--detailed-exitcode]`: read the live rules of every group the policies
//! name, diff them against the policies, and show the plan.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use moat_diff::{DiffOptions, FindingRef, GroupPlan, Plan, RenderOptions};
use moat_policy::PolicySet;

use crate::args::{GlobalArgs, PolicyPaths};
use crate::context::{Cloud, group_refs, load_policies, runtime, today};
use crate::exit::Exit;
use crate::output::use_color;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub policies: PolicyPaths,
    /// Output form: text (a Terraform-style preview), json, csv or markdown.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Also save the plan (JSON) for `moat apply PLANFILE`.
    #[arg(short = 'o', long = "out", value_name = "PLANFILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when the plan has changes (0 when none, 1 on errors).
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub diff: DiffFlags,
}

/// Flags that change what the diff decides.
#[derive(Debug, Args)]
pub struct DiffFlags {
    /// In authoritative groups, also remove live rules moat cannot model
    /// (by default they are shown and kept).
    #[arg(long)]
    pub remove_unmodeled: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Csv,
    Markdown,
}

/// Reads the live groups of `set` and diffs each as soon as it is read, so
/// the diff overlaps the reads still waiting for the rate limit. Groups that
/// do not exist are an error naming the policy's file and line.
pub async fn make_plan(
    cloud: &Cloud,
    set: &Arc<PolicySet>,
    flags: &DiffFlags,
) -> anyhow::Result<Plan> {
    let options = DiffOptions {
        today: today()?,
        remove_unmodeled: flags.remove_unmodeled,
    };
    let index: HashMap<(String, String), usize> = set
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| ((g.id.clone(), g.region.clone()), i))
        .collect();
    let policy = Arc::clone(set);
    let read = moat_exec::read_groups_with(
        &cloud.client.read_only(),
        &group_refs(set),
        moat_exec::DEFAULT_READ_CONCURRENCY,
        {
            let options = options.clone();
            move |live| {
                let gp = index
                    .get(&(live.id.clone(), live.region.clone()))
                    .map(|&i| &policy.groups[i]);
                gp.map(|gp| moat_diff::diff_group(&policy, gp, &live, &options))
            }
        },
    )
    .await?;
    if let Some(missing) = read.missing.first()
        && let Some(gp) = set
            .groups
            .iter()
            .find(|g| g.id == missing.id && g.region == missing.region)
    {
        let err = anyhow::Error::from(moat_diff::PlanError::GroupMissing {
            group: gp.id.clone(),
            region: gp.region.clone(),
            origin: gp.origin.clone(),
        });
        return Err(cloud.explain_missing(err));
    }
    tracing::info!(
        groups = read.groups.len(),
        calls = read.calls,
        "read and diffed the live rules"
    );
    let mut groups: Vec<GroupPlan> = read.groups.into_iter().flatten().collect();
    groups.sort_by(|a, b| (&a.id, &a.region).cmp(&(&b.id, &b.region)));
    let mut plan = Plan::new(groups);
    // Reviewers see the risk of a rule next to the change that brings it.
    let findings = moat_policy::lint::lint(set, options.today);
    plan.attach_findings(findings.iter().map(FindingRef::from));
    Ok(plan)
}

/// The region of the first group, for a client when `--region` is absent.
pub fn region_hint(set: &PolicySet) -> Option<&str> {
    set.groups.first().map(|g| g.region.as_str())
}

pub fn render_options(global: &GlobalArgs) -> RenderOptions {
    RenderOptions {
        color: use_color(global.color, std::io::stdout().is_terminal()),
        ..RenderOptions::default()
    }
}

pub fn run(global: &GlobalArgs, args: &PlanArgs) -> anyhow::Result<Exit> {
    let set = match load_policies(&args.policies.paths)? {
        Ok(set) => set,
        Err(code) => return Ok(code),
    };
    let set = Arc::new(set);
    let plan = runtime()?.block_on(async {
        let cloud = Cloud::connect(global, region_hint(&set), Some(&set)).await?;
        make_plan(&cloud, &set, &args.diff).await
    })?;
    if let Some(path) = &args.out {
        write_plan_file(&plan, path)?;
    }
    let options = render_options(global);
    let mut out = std::io::stdout().lock();
    let render = match args.format {
        PlanFormat::Text => moat_diff::render_text,
        PlanFormat::Json => moat_diff::render_json,
        PlanFormat::Csv => moat_diff::render_csv,
        PlanFormat::Markdown => moat_diff::render_markdown,
    };
    render(&plan, &options, &mut out).context("writing the plan to stdout")?;
    if let Some(path) = &args.out
        && args.format == PlanFormat::Text
    {
        writeln!(
            out,
            "\nSaved the plan to {}. Apply exactly this plan with: moat apply {}",
            path.display(),
            path.display()
        )
        .context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    // Freeing a plan of a few hundred thousand rules one allocation at a
    // time is wasted work just before the process exits.
    let changes = plan.has_changes();
    std::mem::forget(plan);
    std::mem::forget(set);
    Ok(if args.detailed_exitcode && changes {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

/// Writes the plan file atomically: a temporary file beside it, then a
/// rename, so an interrupted write never leaves half a plan.
pub fn write_plan_file(plan: &Plan, path: &Path) -> anyhow::Result<()> {
    write_atomically(path, plan.to_json().as_bytes())
        .with_context(|| format!("cannot write the plan to {}", path.display()))
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
