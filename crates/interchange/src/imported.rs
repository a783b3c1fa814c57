//! What an import yields: canonical groups whose rules remember where in the
//! foreign file they came from.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::sync::Arc;

use moat_policy::{DesiredRule, GroupPolicy, GroupType, Mode, Origin, Rule, RuleKey};

use crate::error::{At, ErrorKind, ImportError, ImportErrors, Location};

/// Where an imported rule was written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// A Terraform resource instance.
    Terraform {
        /// The instance address, as `terraform state rm` takes it:
        /// `module.net["a"].alicloud_security_group_rule.ssh[0]`.
        address: String,
        /// The resource without instance keys, as a `removed` block takes
        /// it: `module.net.alicloud_security_group_rule.ssh`.
        resource: String,
    },
    /// A ROS resource: a rule resource, or one entry of a group's
    /// `SecurityGroupIngress` / `SecurityGroupEgress` list.
    Ros {
        logical_id: String,
        list: Option<(&'static str, usize)>,
    },
    /// A data row of a CSV file (the header is row 1).
    Csv { row: u64 },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Terraform { address, .. } => f.write_str(address),
            Source::Ros {
                logical_id,
                list: None,
            } => write!(f, "ROS resource {logical_id}"),
            Source::Ros {
                logical_id,
                list: Some((list, i)),
            } => write!(f, "ROS resource {logical_id} {list}[{i}]"),
            Source::Csv { row } => write!(f, "row {row}"),
        }
    }
}

/// One canonical rule and every place that defines it (several when a
/// source defines the same ECS rule twice, which ECS keeps as one). Never
/// without a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedRule {
    pub rule: Rule,
    pub sources: Vec<Source>,
}

/// One security group of an import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedGroup {
    pub id: String,
    pub region: String,
    pub name: Option<String>,
    /// The group's type, when the source states it.
    pub group_type: Option<GroupType>,
    /// Sorted by key; identities unique.
    pub rules: Vec<ImportedRule>,
}

/// The result of an import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The file the rules were read from, as the caller named it.
    pub file: Arc<str>,
    /// Sorted by group id.
    pub groups: Vec<ImportedGroup>,
}

impl Imported {
    /// The groups as canonical policies (mode authoritative), every rule's
    /// origin the imported file.
    pub fn policies(&self) -> Vec<GroupPolicy> {
        self.groups
            .iter()
            .map(|g| GroupPolicy {
                id: g.id.clone(),
                region: g.region.clone(),
                name: g.name.clone(),
                mode: Mode::Authoritative,
                group_type: g.group_type,
                account: None,
                stage: None,
                origin: Origin::whole(Arc::clone(&self.file)),
                rules: g
                    .rules
                    .iter()
                    .map(|r| DesiredRule {
                        rule: r.rule.clone(),
                        origin: Origin::whole(Arc::clone(&self.file)),
                        service_name: None,
                        peer_name: None,
                        protected: false,
                        expires: None,
                        lint_ignore: None,
                    })
                    .collect(),
            })
            .collect()
    }

    /// Number of rules over all groups.
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// Collects rules as a reader finds them, and the problems.
#[derive(Debug)]
pub(crate) struct Assembler {
    file: Arc<str>,
    default_region: Option<String>,
    groups: BTreeMap<String, Acc>,
    pub errors: Vec<ImportError>,
}

#[derive(Debug, Default)]
struct Acc {
    region: Option<(String, Source)>,
    name: Option<String>,
    group_type: Option<GroupType>,
    rules: BTreeMap<RuleKey, ImportedRule>,
}

impl Assembler {
    pub fn new(file: &Arc<str>, default_region: Option<&str>) -> Assembler {
        Assembler {
            file: Arc::clone(file),
            default_region: default_region.map(str::to_owned),
            groups: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, at: At, subject: Option<String>, kind: ErrorKind) {
        let mut e = ImportError::new(Location::new(&self.file, at), kind);
        e.subject = subject;
        self.errors.push(e);
    }

    /// Records the name of a group, when the source knows it.
    pub fn name(&mut self, group: &str, name: &str) {
        if !name.trim().is_empty() {
            self.groups.entry(group.to_owned()).or_default().name = Some(name.trim().to_owned());
        }
    }

    /// Records the type of a group, when the source states it.
    pub fn group_type(&mut self, group: &str, group_type: GroupType) {
        self.groups.entry(group.to_owned()).or_default().group_type = Some(group_type);
    }

    /// Adds one rule of `group`. `region` is what the source says about
    /// the group's region, if anything; `at` locates the rule for errors.
    pub fn rule(&mut self, group: &str, region: Option<&str>, rule: Rule, source: Source, at: At) {
        let acc = self.groups.entry(group.to_owned()).or_default();
        if let Some(region) = region {
            match &acc.region {
                None => acc.region = Some((region.to_owned(), source.clone())),
                Some((first, _)) if first != region => {
                    let kind = ErrorKind::TwoRegions {
                        group: group.to_owned(),
                        first: first.clone(),
                        second: region.to_owned(),
                    };
                    self.error(at, Some(source.to_string()), kind);
                    return;
                }
                Some(_) => {}
            }
        }
        let acc = self.groups.entry(group.to_owned()).or_default();
        match acc.rules.entry(rule.key.clone()) {
            Entry::Vacant(v) => {
                v.insert(ImportedRule {
                    rule,
                    sources: vec![source],
                });
            }
            Entry::Occupied(mut o) if o.get().rule == rule => o.get_mut().sources.push(source),
            Entry::Occupied(o) => {
                // Every stored rule was inserted with its first source.
                let kind = ErrorKind::ConflictingRule {
                    group: group.to_owned(),
                    key: Box::new(rule.key),
                    other: o.get().sources[0].to_string(),
                };
                self.error(at, Some(source.to_string()), kind);
            }
        }
    }

    /// The import, or every problem found. `nothing` describes an input
    /// without rules, which is an error: an empty policy would make every
    /// live rule of the user's groups look unmanaged.
    pub fn finish(mut self, nothing: &'static str) -> Result<Imported, ImportErrors> {
        let mut groups = Vec::with_capacity(self.groups.len());
        let file = Arc::clone(&self.file);
        for (id, acc) in std::mem::take(&mut self.groups) {
            if acc.rules.is_empty() {
                continue;
            }
            let region = match (acc.region, &self.default_region) {
                (Some((r, _)), _) => r,
                (None, Some(r)) => r.clone(),
                (None, None) => {
                    self.errors.push(ImportError::new(
                        Location::new(&file, At::Whole),
                        ErrorKind::NoRegion { group: id.clone() },
                    ));
                    continue;
                }
            };
            groups.push(ImportedGroup {
                id,
                region,
                name: acc.name,
                group_type: acc.group_type,
                rules: acc.rules.into_values().collect(),
            });
        }
        if self.errors.is_empty() && groups.is_empty() {
            self.errors.push(ImportError::new(
                Location::new(&file, At::Whole),
                ErrorKind::NothingToImport { what: nothing },
            ));
        }
        if self.errors.is_empty() {
            Ok(Imported { file, groups })
        } else {
            Err(ImportErrors(self.errors))
        }
    }
}
