//! What `plan`, `drift` and `apply` share: the flags that change the diff,
//! the plan key, making a plan through the pipeline, and writing files.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use moat_diff::{DiffOptions, Plan, PlanKey, RenderOptions, Shard, ShardBy, ShardSpec};
use moat_exec::{GroupRef, PlanOptions, Planned, Prefetch, Reader, Recorder};
use moat_policy::{Declared, DeclaredGroup, Diagnostics, PolicySet};

use crate::args::{CloudArgs, GlobalArgs, GroupArgs};
use crate::context::{Cloud, LOCAL_STATE, Reach, today};
use crate::exit::{Exit, Hinted};
use crate::loading::group_ref;
use crate::output::use_color;

/// Where apply keeps its journal unless told otherwise; `plan` reads it
/// too, to name rules an interrupted apply left missing.
pub const DEFAULT_JOURNAL: &str = ".moat/journal.jsonl";

/// The environment variable that holds the plan key.
pub const PLAN_KEY_ENV: &str = "MOAT_PLAN_KEY";

/// Flags that change what the diff decides.
#[derive(Debug, Args)]
pub struct DiffFlags {
    /// In authoritative groups, also remove live rules moat cannot model
    /// (by default they are shown and kept, and drift reports them).
    #[arg(long)]
    pub remove_unmodeled: bool,
}

/// A share of the policies' groups, for a CI job matrix.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Take only shard K of N of the policies' groups (K from 1); merge the
    /// shards' JSON reports with `moat report merge`.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<ShardSpec>,
    /// What decides a group's shard: its id (group), its account or its
    /// region.
    #[arg(long, value_enum, value_name = "KEY", default_value_t = ShardKey::Group, requires = "shard")]
    pub shard_by: ShardKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShardKey {
    Group,
    Account,
    Region,
}

fn parse_shard(s: &str) -> Result<ShardSpec, String> {
    s.parse().map_err(|e: moat_diff::ShardError| e.to_string())
}

impl ShardArgs {
    pub fn shard(&self) -> Option<Shard> {
        let by = match self.shard_by {
            ShardKey::Group => ShardBy::Group,
            ShardKey::Account => ShardBy::Account,
            ShardKey::Region => ShardBy::Region,
        };
        self.shard.map(|spec| Shard::new(spec, by))
    }

    /// Keeps the groups of the shard, if one is asked for.
    pub fn select(&self, mut set: PolicySet) -> (PolicySet, Option<Shard>) {
        let Some(shard) = self.shard() else {
            return (set, None);
        };
        let all = set.groups.len();
        set.retain_groups(|g| shard.contains(&g.id, &g.region, g.account.as_deref()));
        tracing::info!(%shard, groups = set.groups.len(), of = all, "shard");
        (set, Some(shard))
    }
}

impl GroupArgs {
    /// Whether `--group` was given.
    pub fn limits(&self) -> bool {
        !self.groups.is_empty()
    }

    /// Keeps the groups named with `--group`, all of them when none is.
    /// A name that is not a group of the policies is an error. Returns the
    /// set and the sorted ids a partial plan records.
    pub fn select(&self, mut set: PolicySet) -> anyhow::Result<(PolicySet, Vec<String>)> {
        if self.groups.is_empty() {
            return Ok((set, Vec::new()));
        }
        let mut targets = self.groups.clone();
        targets.sort();
        targets.dedup();
        let unknown: Vec<&str> = targets
            .iter()
            .filter(|id| !set.groups.iter().any(|g| &g.id == *id))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let mut known: Vec<&str> = set.groups.iter().map(|g| g.id.as_str()).collect();
            let more = known.len().saturating_sub(5);
            known.truncate(5);
            let mut list = known.join(", ");
            if more > 0 {
                list.push_str(&format!(" and {more} more"));
            }
            return Err(Hinted::new(
                format!(
                    "--group {}: not a security group of the policies",
                    unknown.join(", ")
                ),
                if list.is_empty() {
                    "the policies define no security group".to_owned()
                } else {
                    format!("the policies define {list}")
                },
            )
            .into());
        }
        set.groups.retain(|g| targets.contains(&g.id));
        // Tests of other groups are not run; a template's test keeps the
        // groups asked for.
        set.tests.retain_mut(|t| {
            t.groups.retain(|g| targets.contains(g));
            !t.groups.is_empty()
        });
        tracing::info!(groups = set.groups.len(), "limited by --group");
        Ok((set, targets))
    }
}

/// One stage of the policies' rollout.
#[derive(Debug, Args)]
pub struct StageArgs {
    /// Only the groups of this stage (one of the policies' `stages:`).
    #[arg(long, value_name = "NAME")]
    pub stage: Option<String>,
}

impl StageArgs {
    /// Keeps the groups of the stage, if one is asked for; a stage the
    /// policies do not define is an error.
    pub fn select(&self, mut set: PolicySet) -> anyhow::Result<PolicySet> {
        let Some(stage) = &self.stage else {
            return Ok(set);
        };
        check_stage(&set, stage)?;
        set.retain_groups(|g| g.stage.as_deref() == Some(stage.as_str()));
        tracing::info!(stage, groups = set.groups.len(), "stage");
        Ok(set)
    }
}

/// The groups `--group` and `--stage` ask for, and the sorted ids a partial
/// plan records. A group `--group` names that is outside the `--stage` is
/// an error: the user asked for two things that cannot both hold.
pub fn select_groups(
    group: &GroupArgs,
    stage: &StageArgs,
    set: PolicySet,
) -> anyhow::Result<(PolicySet, Vec<String>)> {
    let (set, targets) = group.select(set)?;
    if let Some(name) = stage.stage.as_ref().filter(|_| group.limits()) {
        check_stage(&set, name)?;
        if let Some(g) = set
            .groups
            .iter()
            .find(|g| g.stage.as_deref() != Some(name.as_str()))
        {
            let hint = match &g.stage {
                Some(other) => format!("leave out --stage, or pass --stage {other} for {}", g.id),
                None => format!(
                    "leave out --stage, or add `stage: {name}` to {} in {}",
                    g.id, g.origin
                ),
            };
            let message = match &g.stage {
                Some(other) => format!(
                    "--group {}: the group is in stage {other}, not in --stage {name}",
                    g.id
                ),
                None => format!(
                    "--group {}: the group is in no stage, not in --stage {name}",
                    g.id
                ),
            };
            return Err(Hinted::new(message, hint).into());
        }
    }
    Ok((stage.select(set)?, targets))
}

/// Fails unless `stage` is one of the policies' stages; what to do is a
/// hint, as data.
pub fn check_stage(set: &PolicySet, stage: &str) -> anyhow::Result<()> {
    if set.stages.iter().any(|s| s == stage) {
        return Ok(());
    }
    if set.stages.is_empty() {
        return Err(Hinted::new(
            format!("--stage {stage}: the policies define no stages"),
            "list the rollout order in a policy (`stages: [test, prod]`) and give each group its `stage:`",
        )
        .into());
    }
    Err(Hinted::new(
        format!("--stage {stage}: the policies have no stage {stage}"),
        format!("their stages, in order: {}", set.stages.join(", ")),
    )
    .into())
}

/// The key saved plans are signed and checked with.
#[derive(Debug, Args)]
pub struct SigningArgs {
    /// File holding the key that signs saved plans (`plan -o`) and that
    /// `apply PLANFILE` requires them to be signed with; overrides
    /// MOAT_PLAN_KEY.
    #[arg(long, value_name = "FILE")]
    pub plan_key_file: Option<PathBuf>,
}

/// The configured plan key: `--plan-key-file`, else `MOAT_PLAN_KEY`, else
/// none.
pub fn plan_key(args: &SigningArgs) -> anyhow::Result<Option<PlanKey>> {
    if let Some(path) = &args.plan_key_file {
        let bytes = std::fs::read(path)
            .with_context(|| format!("--plan-key-file: cannot read {}", path.display()))?;
        let key =
            PlanKey::new(&bytes).with_context(|| format!("--plan-key-file {}", path.display()))?;
        return Ok(Some(key));
    }
    match std::env::var_os(PLAN_KEY_ENV) {
        Some(v) if !v.is_empty() => {
            let key = PlanKey::new(v.as_encoded_bytes()).context(PLAN_KEY_ENV)?;
            Ok(Some(key))
        }
        _ => Ok(None),
    }
}

/// Whether `path` is a saved plan rather than a policy, decided by its
/// content: a JSON object that carries the plan file's `format` or its
/// schema fields. A policy in YAML's flow style (`{version: 1, ...}`) is
/// not JSON; a policy written as JSON has neither. A file named `*.json`
/// is taken as a plan, so that a damaged one gets the plan file's errors.
pub fn is_plan_file(path: &Path) -> bool {
    if !path.is_file() {
        return false;
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        return true;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(doc)) => {
            doc.get("format").and_then(serde_json::Value::as_str) == Some(moat_diff::PLAN_FORMAT)
                || (doc.contains_key("schema_version")
                    && doc.contains_key("plan_hash")
                    && doc.contains_key("groups"))
        }
        _ => false,
    }
}

/// Reads and checks a saved plan: format, schema, hash, and the signature
/// when a key is configured. `verb` says what is refused on a bad
/// signature (`apply`, `show`). Nothing is called.
pub fn read_plan_file(path: &Path, signing: &SigningArgs, verb: &str) -> anyhow::Result<Plan> {
    let key = plan_key(signing)?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let plan = Plan::from_json(&text)
        .with_context(|| format!("{} is not a usable plan", path.display()))?;
    match &key {
        Some(key) => plan.verify(key).with_context(|| {
            format!("refusing to {verb} {}; nothing was changed", path.display())
        })?,
        None if plan.signature.is_some() => {
            let mut err = crate::output::stderr();
            let _ = writeln!(
                err,
                "warning: {} is signed, but no plan key is configured (MOAT_PLAN_KEY or --plan-key-file): its signature was not checked",
                path.display()
            );
        }
        None => {}
    }
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

/// Which groups of the policies a run takes, and what else it reaches.
#[derive(Clone, Copy)]
pub struct Selection<'a> {
    pub group: &'a GroupArgs,
    pub stage: &'a StageArgs,
    pub shard: &'a ShardArgs,
    /// Every stage in turn (`apply --all-stages`): the policies must define
    /// stages, and nothing is read early (each stage is planned after the
    /// one before it was applied).
    pub all_stages: bool,
    /// A stage passes the promotion gate first, which reads the earlier
    /// stages' groups: the cloud is reached for every account of the
    /// policies, not only the selected groups'.
    pub gated: bool,
}

impl Selection<'_> {
    /// Whether the run keeps `g` and may read it early.
    pub fn wants(&self, g: &DeclaredGroup, shard: Option<&Shard>) -> bool {
        !self.all_stages
            && (self.group.groups.is_empty() || self.group.groups.contains(&g.id))
            && self
                .stage
                .stage
                .as_ref()
                .is_none_or(|s| g.stage.as_ref() == Some(s))
            && shard.is_none_or(|sh| sh.contains(&g.id, &g.region, g.account.as_deref()))
    }

    /// Whether the selection may leave groups out.
    fn narrows(&self) -> bool {
        self.group.limits() || self.stage.stage.is_some() || self.all_stages
    }
}

/// The policies of a run, the groups selected, and the cloud connected.
pub struct Prepared {
    pub set: Arc<PolicySet>,
    /// Every group of the policies, when the selection may have left some
    /// out (`--group`, `--stage`, `--all-stages`).
    pub whole: Option<Arc<PolicySet>>,
    /// The sorted ids `--group` asked for (a partial plan records them).
    pub targets: Vec<String>,
    pub shard: Option<Shard>,
    pub cloud: Cloud,
    /// The reader the plan reads through: recorded where the early reads
    /// were, so that its counts, journal and limiters are the run's.
    pub reader: Reader,
    /// The reads started while the policies loaded.
    pub prefetch: Option<Arc<Prefetch>>,
}

/// Loads the policies, starting the reads of the groups the run selects as
/// the files naming them are read ([`crate::loading`], recorded by
/// `recorder`), then selects the groups (`--group`, `--stage`, `--shard`)
/// and connects. Invalid policies print their diagnostics and give the
/// exit code.
pub async fn prepare(
    paths: &[PathBuf],
    selection: Selection<'_>,
    cloud: &CloudArgs,
    recorder: &Recorder,
) -> anyhow::Result<Result<Prepared, Exit>> {
    let chosen = selection.shard.shard();
    let early = |declared: &Declared| {
        declared
            .groups
            .iter()
            .filter(|g| selection.wants(g, chosen.as_ref()))
            .map(group_ref)
            .collect()
    };
    match prepare_reading(paths, selection, cloud, recorder, early).await? {
        Ok(prepared) => Ok(Ok(prepared)),
        Err(diags) => Ok(Err(crate::context::report_diagnostics(&diags)?)),
    }
}

/// [`prepare`], reading early the groups `early` gives for each file as
/// it arrives (in load order); invalid policies are their diagnostics.
pub async fn prepare_reading(
    paths: &[PathBuf],
    selection: Selection<'_>,
    cloud: &CloudArgs,
    recorder: &Recorder,
    early: impl FnMut(&Declared) -> Vec<GroupRef>,
) -> anyhow::Result<Result<Prepared, Diagnostics>> {
    let loaded = crate::loading::load_reading(paths, cloud, recorder, early).await?;
    let set = match loaded.result {
        Ok(set) => set,
        Err(diags) => return Ok(Err(diags)),
    };
    if selection.all_stages && set.stages.is_empty() {
        return Err(Hinted::new(
            "--all-stages: the policies define no stages",
            "list the rollout order in a policy (`stages: [test, prod]`) and give each group its `stage:`; without stages, moat apply applies every group",
        )
        .into());
    }
    // The region of all the policies, so an empty shard still connects.
    let hint = region_hint(&set).map(str::to_owned);
    // A new local cloud is seeded with every group of the policies.
    let whole = selection.narrows().then(|| Arc::new(set.clone()));
    let (set, targets) = select_groups(selection.group, selection.stage, set)?;
    let (set, shard) = selection.shard.select(set);
    let set = Arc::new(set);
    let reach = match &whole {
        Some(whole)
            if (selection.gated && selection.stage.stage.is_some()) || selection.all_stages =>
        {
            Reach::of_policies(whole)
        }
        _ => Reach::of_policies(&set),
    };
    let (default, made, prefetch) = match loaded.early {
        Some(early) => (early.default, early.accounts, Some(early.prefetch)),
        None => (None, Default::default(), None),
    };
    let cloud = Cloud::connect_with(
        cloud,
        hint.as_deref(),
        Some(whole.as_deref().unwrap_or(&set)),
        &reach,
        default,
        made,
    )
    .await?;
    let reader = cloud.reader_with(recorder);
    Ok(Ok(Prepared {
        set,
        whole,
        targets,
        shard,
        cloud,
        reader,
        prefetch,
    }))
}

/// A plan made from policies, and what it was made with.
pub struct PolicyPlan {
    /// With the shard and the `--group` targets recorded.
    pub planned: Planned,
    /// The reader it was read through (the run's counts).
    pub reader: Reader,
    pub cloud: Cloud,
    pub set: Arc<PolicySet>,
}

/// What `plan` and `drift` do before they render: [`prepare`], then
/// [`make_plan`] with the reads started while loading, a progress line on
/// a terminal.
pub async fn plan_policies(
    paths: &[PathBuf],
    group: &GroupArgs,
    stage: &StageArgs,
    shard: &ShardArgs,
    cloud: &CloudArgs,
    flags: &DiffFlags,
    keep_live: bool,
) -> anyhow::Result<Result<PolicyPlan, Exit>> {
    let selection = Selection {
        group,
        stage,
        shard,
        all_stages: false,
        gated: false,
    };
    let prepared = match prepare(paths, selection, cloud, &Recorder::new()).await? {
        Ok(prepared) => prepared,
        Err(code) => return Ok(Err(code)),
    };
    let (reader, reading) = crate::progress::reading(prepared.reader.clone(), "reading");
    let planned = make_plan(
        &reader,
        &prepared.set,
        flags,
        Path::new(DEFAULT_JOURNAL),
        keep_live,
        prepared.prefetch,
    )
    .await;
    drop(reading);
    let mut planned = planned?;
    planned.plan.shard = prepared.shard;
    planned.plan.targets = prepared.targets;
    Ok(Ok(PolicyPlan {
        planned,
        reader,
        cloud: prepared.cloud,
        set: prepared.set,
    }))
}

/// Makes the plan of `set` through the pipeline, naming the rules an
/// interrupted apply (in `journal`) left missing; the reads `prefetch`
/// started are taken from it.
pub async fn make_plan(
    reader: &Reader,
    set: &Arc<PolicySet>,
    flags: &DiffFlags,
    journal: &Path,
    keep_live: bool,
    prefetch: Option<Arc<Prefetch>>,
) -> anyhow::Result<Planned> {
    let mut options = PlanOptions::new(DiffOptions {
        today: today()?,
        remove_unmodeled: flags.remove_unmodeled,
    });
    options.keep_live = keep_live;
    options.prefetch = prefetch;
    options.interrupted = match moat_exec::interrupted_replaces(journal) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(journal = %journal.display(), error = %e, "cannot read the journal");
            Vec::new()
        }
    };
    Ok(moat_exec::plan(reader, set, &options).await?)
}

/// Says on stderr which groups of the policies do not exist, and for the
/// local cloud how to start over.
pub fn note_missing(plan: &Plan, cloud: &Cloud) -> anyhow::Result<()> {
    let mut err = crate::output::stderr();
    for g in plan.missing_groups() {
        writeln!(
            err,
            "error: security group {} in region {} (policy at {}) does not exist",
            g.id, g.region, g.origin
        )
        .context("writing to stderr")?;
    }
    if cloud.is_local() && plan.missing_groups().next().is_some() {
        writeln!(
            err,
            "hint: the local cloud in {LOCAL_STATE} was seeded from other policies: delete it to seed a new one from these"
        )
        .context("writing to stderr")?;
    }
    Ok(())
}
