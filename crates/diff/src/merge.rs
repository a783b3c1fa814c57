//! `moat report merge`: the JSON plans or drift reports of the shards of
//! one run made into one report, after checking they fit together (one
//! kind, one schema version, shards of the same N and key, none twice, no
//! group in two of them).

use serde::Deserialize;

use crate::PlanError;
use crate::plan::{PLAN_FORMAT, PLAN_SCHEMA_VERSION, Plan, Summary};
use crate::shard::{Shard, ShardSetError, check_shards};
use crate::views::{DRIFT_FORMAT, DriftReport, DriftStatus};

/// A report read from a file.
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    Plan(Plan),
    Drift(DriftReport),
}

/// The merged report, and the shards (from 1) that were not given.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    pub report: Report,
    pub missing_shards: Vec<u32>,
    /// N and the key of the shards merged; `None` for one whole report.
    pub shards_of: Option<Shard>,
}

/// Why reports cannot be merged; each names the file(s) at fault.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{file}: not JSON")]
    NotJson {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{file}: neither a moat plan (\"format\": \"moat-plan\") nor a drift report (\"format\": \"moat-drift\")"
    )]
    NotAReport { file: String },
    #[error(
        "{first} has plan schema version {a} but {second} has {b}: merge reports made by one moat version"
    )]
    MixedSchema {
        first: String,
        a: String,
        second: String,
        b: String,
    },
    #[error("{first} is a plan but {second} is a drift report: merge reports of one kind")]
    MixedKinds { first: String, second: String },
    #[error(
        "{file}: plan schema version {found} is not supported (this moat reads version {supported})"
    )]
    UnsupportedSchema {
        file: String,
        found: String,
        supported: u32,
    },
    #[error("{file}")]
    Plan {
        file: String,
        #[source]
        source: PlanError,
    },
    #[error("{file}: not a valid drift report")]
    Drift {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Shards(#[from] ShardSetError),
    #[error("no report to merge")]
    Empty,
}

#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    schema_version: Option<serde_json::Value>,
}

fn version_text(v: &Option<serde_json::Value>) -> String {
    v.as_ref()
        .map_or_else(|| "(none)".to_owned(), |v| v.to_string())
}

/// Reads every `(name, text)` and merges them.
pub fn merge_files(files: &[(String, String)]) -> Result<Merged, MergeError> {
    let mut headers = Vec::new();
    for (file, text) in files {
        let header: Header = serde_json::from_str(text).map_err(|source| MergeError::NotJson {
            file: file.clone(),
            source,
        })?;
        let kind = match header.format.as_deref() {
            Some(PLAN_FORMAT) => PLAN_FORMAT,
            Some(DRIFT_FORMAT) => DRIFT_FORMAT,
            _ => return Err(MergeError::NotAReport { file: file.clone() }),
        };
        headers.push((file, kind, version_text(&header.schema_version)));
    }
    let Some((first, kind, version)) = headers.first().cloned() else {
        return Err(MergeError::Empty);
    };
    for (file, k, v) in &headers[1..] {
        if *k != kind {
            return Err(MergeError::MixedKinds {
                first: first.clone(),
                second: (*file).clone(),
            });
        }
        if *v != version {
            return Err(MergeError::MixedSchema {
                first: first.clone(),
                a: version.clone(),
                second: (*file).clone(),
                b: v.clone(),
            });
        }
    }
    if version != PLAN_SCHEMA_VERSION.to_string() {
        return Err(MergeError::UnsupportedSchema {
            file: first.clone(),
            found: version,
            supported: PLAN_SCHEMA_VERSION,
        });
    }
    if kind == PLAN_FORMAT {
        let mut plans = Vec::new();
        for (file, text) in files {
            let plan = Plan::from_json(text).map_err(|source| MergeError::Plan {
                file: file.clone(),
                source,
            })?;
            plans.push((file.clone(), plan));
        }
        merge_plans(plans)
    } else {
        let mut reports = Vec::new();
        for (file, text) in files {
            let report: DriftReport =
                serde_json::from_str(text).map_err(|source| MergeError::Drift {
                    file: file.clone(),
                    source,
                })?;
            reports.push((file.clone(), report));
        }
        merge_drift_reports(reports)
    }
}

/// Checks the shards and that no group is in two reports.
fn check<'a>(
    shards: Vec<(String, Option<Shard>)>,
    groups: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
) -> Result<(Vec<u32>, Option<Shard>), MergeError> {
    let missing = check_shards(&shards)?;
    let mut seen: std::collections::HashMap<(&str, &str), &str> = Default::default();
    for (file, id, region) in groups {
        if let Some(first) = seen.insert((id, region), file) {
            return Err(ShardSetError::SameGroup {
                id: id.to_owned(),
                region: region.to_owned(),
                first: first.to_owned(),
                second: file.to_owned(),
            }
            .into());
        }
    }
    let shards_of = shards.iter().find_map(|(_, s)| *s);
    Ok((missing, shards_of))
}

/// One plan of the groups of all `plans`, with their protect selectors;
/// unsigned, since no key signed the whole, with a nonce drawn from theirs.
pub fn merge_plans(plans: Vec<(String, Plan)>) -> Result<Merged, MergeError> {
    if plans.is_empty() {
        return Err(MergeError::Empty);
    }
    let (missing_shards, shards_of) = check(
        plans.iter().map(|(f, p)| (f.clone(), p.shard)).collect(),
        plans.iter().flat_map(|(f, p)| {
            p.groups
                .iter()
                .map(move |g| (f.as_str(), g.id.as_str(), g.region.as_str()))
        }),
    )?;
    let mut groups = Vec::new();
    let mut protect = Vec::new();
    let mut accounts = Vec::new();
    let mut stages = Vec::new();
    let mut tests: Vec<moat_policy::policy_tests::TestOutcome> = Vec::new();
    let mut nonces = Vec::new();
    for (_, plan) in plans {
        nonces.push(plan.nonce);
        groups.extend(plan.groups);
        accounts.extend(plan.accounts);
        if stages.is_empty() {
            stages = plan.stages;
        }
        // A test whose groups fall into several shards is one test of the
        // merged plan, failing when it fails in any shard.
        for t in plan.tests {
            match tests
                .iter_mut()
                .find(|m| m.name == t.name && m.origin == t.origin)
            {
                Some(m) => {
                    m.passed &= t.passed;
                    m.groups.extend(t.groups);
                    m.groups.sort();
                    m.groups.dedup();
                    m.failures.extend(t.failures);
                    m.undecided.extend(t.undecided);
                    m.missing.extend(t.missing);
                }
                None => tests.push(t),
            }
        }
        for p in plan.protect {
            if !protect.contains(&p) {
                protect.push(p);
            }
        }
    }
    groups.sort_by(|a, b| (&a.id, &a.region).cmp(&(&b.id, &b.region)));
    accounts.sort();
    accounts.dedup();
    let plan = Plan {
        protect,
        accounts,
        stages,
        tests,
        nonce: merged_nonce(nonces),
        ..Plan::new(groups)
    };
    Ok(Merged {
        report: Report::Plan(plan),
        missing_shards,
        shards_of,
    })
}

/// The nonce of a merged plan: drawn from the shards' nonces (sorted, so
/// the order of the files does not matter), so that merging the same shard
/// plans again gives the same plan and the same tokens, and other shard
/// plans of the same changes other ones. Empty when no shard has one.
fn merged_nonce(mut nonces: Vec<String>) -> String {
    nonces.retain(|n| !n.is_empty());
    if nonces.is_empty() {
        return String::new();
    }
    nonces.sort();
    let digest = crate::plan::sha256_hex(nonces.join("\n").as_bytes());
    // `sha256:` and 64 hex digits: the first 32 digits are 128 bits.
    digest
        .get(7..7 + 2 * crate::plan::NONCE_BYTES)
        .unwrap_or_default()
        .to_owned()
}

/// One drift report of the groups of all `reports`.
pub fn merge_drift_reports(reports: Vec<(String, DriftReport)>) -> Result<Merged, MergeError> {
    let Some(format) = reports.first().map(|(_, r)| r.format.clone()) else {
        return Err(MergeError::Empty);
    };
    let (missing_shards, shards_of) = check(
        reports.iter().map(|(f, r)| (f.clone(), r.shard)).collect(),
        reports.iter().flat_map(|(f, r)| {
            r.groups
                .iter()
                .map(move |g| (f.as_str(), g.id.as_str(), g.region.as_str()))
        }),
    )?;
    let mut groups = Vec::new();
    let mut summary = Summary::default();
    for (_, r) in reports {
        summary += r.summary;
        groups.extend(r.groups);
    }
    groups.sort_by(|a, b| (&a.id, &a.region).cmp(&(&b.id, &b.region)));
    let report = DriftReport {
        format,
        schema_version: PLAN_SCHEMA_VERSION,
        shard: None,
        targets: Vec::new(),
        in_sync: groups.iter().all(|g| g.status == DriftStatus::InSync),
        summary,
        groups,
    };
    Ok(Merged {
        report: Report::Drift(report),
        missing_shards,
        shards_of,
    })
}

impl Merged {
    /// Some group has a change (a plan) or is not in sync (drift).
    pub fn has_changes(&self) -> bool {
        match &self.report {
            Report::Plan(p) => p.has_changes(),
            Report::Drift(d) => !d.in_sync,
        }
    }

    /// Some group named in the policies does not exist.
    pub fn has_missing_groups(&self) -> bool {
        match &self.report {
            Report::Plan(p) => p.missing_groups().next().is_some(),
            Report::Drift(d) => d.groups.iter().any(|g| g.status == DriftStatus::Missing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_merged_nonce_is_fixed_by_the_shards_nonces_in_any_order() {
        let a = "00112233445566778899aabbccddeeff".to_owned();
        let b = "ffeeddccbbaa99887766554433221100".to_owned();
        let ab = merged_nonce(vec![a.clone(), b.clone()]);
        assert_eq!(ab.len(), 32);
        assert!(crate::plan::valid_nonce(&ab), "{ab}");
        assert_eq!(ab, merged_nonce(vec![b.clone(), a.clone()]));
        assert_ne!(ab, merged_nonce(vec![a.clone(), a.clone()]));
        assert_ne!(ab, a);
        assert_eq!(merged_nonce(vec![String::new(), String::new()]), "");
        assert_eq!(
            merged_nonce(vec![String::new(), a.clone()]),
            merged_nonce(vec![a])
        );
    }
}
