//! The state file and the seeding API: groups and rules in their wire form,
//! loaded, validated and written atomically.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use moat_wire::{LooseString, Permission, Tag};
use serde::{Deserialize, Serialize};

use crate::clock::{format_timestamp, parse_timestamp};
use crate::ecs::fields::RawRule;
use crate::ecs::tags::{check_key, check_value};
use crate::ecs::validate::{RuleContext, validate};
use crate::error::{EmulatorError, SeedError};
use crate::ids::IdGen;
use crate::model::{Direction, Group, GroupType, Rule, TagPair, render_rule};

/// Version of the state file format this emulator reads and writes.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// The whole emulated cloud as a JSON document (see `docs/emulator.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateFile {
    pub format_version: u32,
    /// Every group of every region, sorted by region then id.
    #[serde(default)]
    pub groups: Vec<GroupRecord>,
    /// VPCs, vSwitches, instances, interfaces, EIPs and network ACLs, under
    /// the API's member names; left out when there are none.
    #[serde(default, skip_serializing_if = "crate::network::Network::is_empty")]
    pub network: crate::network::Network,
}

impl Default for StateFile {
    fn default() -> Self {
        StateFile {
            format_version: STATE_FORMAT_VERSION,
            groups: Vec::new(),
            network: crate::network::Network::default(),
        }
    }
}

/// One group with its rules, under the API's member names. Rules are
/// [`Permission`]s exactly as DescribeSecurityGroupAttribute answers them,
/// their `Direction` member saying which way they point; members left out
/// take the API's defaults, and a missing rule id or time is filled in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GroupRecord {
    pub region_id: String,
    pub security_group_id: String,
    pub security_group_name: String,
    pub description: String,
    /// Empty for a classic-network group, whose rules default to `internet`.
    pub vpc_id: String,
    /// `normal` (default) or `enterprise`.
    pub security_group_type: String,
    pub resource_group_id: String,
    /// `YYYY-MM-DDThh:mm:ssZ`; the load time when empty.
    pub creation_time: String,
    pub tags: Vec<Tag>,
    pub permissions: Vec<Permission>,
}

/// A group to create through the seeding API, without signing anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedGroup {
    pub region_id: String,
    /// An explicit id, `sg-` followed by letters and digits.
    pub security_group_id: String,
    pub name: String,
    pub description: String,
    /// Give one for a VPC group (the usual kind); empty means classic.
    pub vpc_id: String,
    pub group_type: GroupType,
    /// Tags as `(key, value)`, in order.
    pub tags: Vec<(String, String)>,
    pub rules: Vec<SeedRule>,
}

/// A rule to seed: its direction and its fields in wire form. The
/// permission's own `Direction` member is ignored; a missing
/// `SecurityGroupRuleId` or `CreateTime` is generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedRule {
    pub direction: Direction,
    pub permission: Permission,
}

impl SeedGroup {
    pub fn new(region_id: impl Into<String>, security_group_id: impl Into<String>) -> SeedGroup {
        SeedGroup {
            region_id: region_id.into(),
            security_group_id: security_group_id.into(),
            ..SeedGroup::default()
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> SeedGroup {
        self.name = name.into();
        self
    }

    pub fn description(mut self, description: impl Into<String>) -> SeedGroup {
        self.description = description.into();
        self
    }

    pub fn vpc_id(mut self, vpc_id: impl Into<String>) -> SeedGroup {
        self.vpc_id = vpc_id.into();
        self
    }

    pub fn group_type(mut self, group_type: GroupType) -> SeedGroup {
        self.group_type = group_type;
        self
    }

    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> SeedGroup {
        self.tags.push((key.into(), value.into()));
        self
    }

    pub fn rule(mut self, direction: Direction, permission: Permission) -> SeedGroup {
        self.rules.push(SeedRule {
            direction,
            permission,
        });
        self
    }

    pub(crate) fn into_record(self) -> GroupRecord {
        GroupRecord {
            region_id: self.region_id,
            security_group_id: self.security_group_id,
            security_group_name: self.name,
            description: self.description,
            vpc_id: self.vpc_id,
            security_group_type: self.group_type.as_str().to_owned(),
            resource_group_id: String::new(),
            creation_time: String::new(),
            tags: self
                .tags
                .into_iter()
                .map(|(k, v)| Tag {
                    tag_key: LooseString(k),
                    tag_value: LooseString(v),
                })
                .collect(),
            permissions: self
                .rules
                .into_iter()
                .map(|r| Permission {
                    direction: LooseString(r.direction.as_str().to_owned()),
                    ..r.permission
                })
                .collect(),
        }
    }
}

pub(crate) fn valid_region_id(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or_default();
    first.len() >= 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && s.len() <= 64
        && parts.clone().count() >= 1
        && parts.all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

pub(crate) fn valid_group_id(s: &str) -> bool {
    s.strip_prefix("sg-").is_some_and(|rest| {
        !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Builds a group from its record. Rules are validated as the API would
/// validate them, except that peers are not looked up (a seeded group may
/// name one seeded later) and quotas are not applied.
pub(crate) fn group_from_record(
    record: &GroupRecord,
    now: i64,
    ids: &mut IdGen,
) -> Result<Group, SeedError> {
    let gid = record.security_group_id.clone();
    if !valid_region_id(&record.region_id) {
        return Err(SeedError::BadRegion {
            region: record.region_id.clone(),
        });
    }
    if !valid_group_id(&gid) {
        return Err(SeedError::BadGroupId { id: gid });
    }
    let bad_field = |field: &'static str, message: &str| SeedError::BadGroupField {
        group: gid.clone(),
        field,
        code: "InvalidParameter".to_owned(),
        message: message.to_owned(),
    };
    let creation_time = if record.creation_time.is_empty() {
        now
    } else {
        parse_timestamp(&record.creation_time)
            .ok_or_else(|| bad_field("CreationTime", "not of the form YYYY-MM-DDThh:mm:ssZ"))?
    };
    let group_type = if record.security_group_type.is_empty() {
        GroupType::Normal
    } else {
        GroupType::parse(&record.security_group_type)
            .ok_or_else(|| bad_field("SecurityGroupType", "must be normal or enterprise"))?
    };
    let mut group = Group::new(gid.clone(), record.region_id.clone(), creation_time);
    group.name = record.security_group_name.clone();
    group.description = record.description.clone();
    group.vpc_id = record.vpc_id.clone();
    group.group_type = group_type;
    group.resource_group_id = record.resource_group_id.clone();
    // Tags obey the API's rules, so that what a state file holds is what
    // TagResources could have made.
    if record.tags.len() > moat_wire::tag_limits::TAGS_PER_RESOURCE {
        return Err(bad_field("Tags", "more than 20 tags"));
    }
    for (i, t) in record.tags.iter().enumerate() {
        let bad_tag = |e: crate::error::ApiError| SeedError::BadGroupField {
            group: gid.clone(),
            field: "Tags",
            code: e.code.into_owned(),
            message: e.message,
        };
        check_key(t.tag_key.as_str()).map_err(bad_tag)?;
        check_value(t.tag_value.as_str()).map_err(bad_tag)?;
        if record.tags[..i].iter().any(|o| o.tag_key == t.tag_key) {
            return Err(bad_field("Tags", "a tag key is used twice"));
        }
    }
    group.tags = record
        .tags
        .iter()
        .map(|t| TagPair {
            key: t.tag_key.0.clone(),
            value: t.tag_value.0.clone(),
        })
        .collect();
    let mut first_index = std::collections::HashMap::new();
    for (i, p) in record.permissions.iter().enumerate() {
        let index = i + 1;
        let bad_rule = |code: &str, message: &str| SeedError::BadRule {
            group: gid.clone(),
            index,
            code: code.to_owned(),
            message: message.to_owned(),
        };
        let direction = Direction::parse(p.direction.as_str())
            .ok_or_else(|| bad_rule("InvalidParameter", "Direction must be ingress or egress"))?;
        let ctx = RuleContext {
            direction,
            classic: group.is_classic(),
            wide_priority: true,
        };
        let valid = validate(&RawRule::from_permission(p, String::new()), ctx)
            .map_err(|e| bad_rule(&e.code, &e.message))?;
        if let Some(&first) = first_index.get(&valid.identity) {
            return Err(SeedError::DuplicateRule {
                group: gid,
                first,
                second: index,
            });
        }
        first_index.insert(valid.identity.clone(), index);
        let id = if p.security_group_rule_id.is_empty() {
            new_rule_id(&group, ids)
        } else {
            p.security_group_rule_id.0.trim().to_owned()
        };
        if group.has_rule_id(&id) {
            return Err(SeedError::DuplicateRuleId {
                group: gid,
                rule_id: id,
            });
        }
        let create_time = if p.create_time.is_empty() {
            now
        } else {
            parse_timestamp(p.create_time.as_str()).ok_or_else(|| {
                bad_rule(
                    "InvalidParameter",
                    "CreateTime is not of the form YYYY-MM-DDThh:mm:ssZ",
                )
            })?
        };
        group.insert(Rule {
            id,
            identity: valid.identity,
            priority: valid.priority,
            description: valid.description,
            create_time,
        });
    }
    Ok(group)
}

/// A fresh `sgr-` id not used in the group.
pub(crate) fn new_rule_id(group: &Group, ids: &mut IdGen) -> String {
    loop {
        let id = format!("sgr-{}", ids.suffix(20));
        if !group.has_rule_id(&id) {
            return id;
        }
    }
}

/// The record of a group, rules in creation order.
pub(crate) fn record_of(
    group: &Group,
    region_groups: &std::collections::BTreeMap<String, Group>,
) -> GroupRecord {
    GroupRecord {
        region_id: group.region.clone(),
        security_group_id: group.id.clone(),
        security_group_name: group.name.clone(),
        description: group.description.clone(),
        vpc_id: group.vpc_id.clone(),
        security_group_type: group.group_type.as_str().to_owned(),
        resource_group_id: group.resource_group_id.clone(),
        creation_time: format_timestamp(group.creation_time),
        tags: group
            .tags
            .iter()
            .map(|t| Tag {
                tag_key: LooseString(t.key.clone()),
                tag_value: LooseString(t.value.clone()),
            })
            .collect(),
        permissions: group
            .rules()
            .map(|r| render_rule(r, |id| region_groups.get(id).map(|g| g.name.as_str())))
            .collect(),
    }
}

/// Reads a state file.
pub fn load_state_file(path: &Path) -> Result<StateFile, EmulatorError> {
    let text = std::fs::read(path).map_err(|source| EmulatorError::ReadState {
        path: path.to_owned(),
        source,
    })?;
    let file: StateFile =
        serde_json::from_slice(&text).map_err(|source| EmulatorError::ParseState {
            path: path.to_owned(),
            source,
        })?;
    if file.format_version != STATE_FORMAT_VERSION {
        return Err(EmulatorError::StateVersion {
            path: path.to_owned(),
            found: file.format_version,
            expected: STATE_FORMAT_VERSION,
        });
    }
    Ok(file)
}

/// The name of the temporary file a write of `path` goes through first.
fn temp_name(file_name: &str, pid: u32, seq: u64) -> String {
    format!(".{file_name}.tmp-{pid}-{seq}")
}

/// Removes temporary files that writes of `path` left behind when their
/// process died between creating and renaming them. A temporary file of a
/// process that still runs is kept: it may be writing right now. Where the
/// system cannot say whether a process runs (no `/proc`), files older than
/// ten minutes count as left behind. Returns how many were removed.
pub(crate) fn remove_stale_temp_files(path: &Path) -> usize {
    let Some(file_name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return 0;
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let prefix = format!(".{file_name}.tmp-");
    let proc_fs = Path::new("/proc/self").exists();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = rest
            .split_once('-')
            .and_then(|(pid, seq)| seq.parse::<u64>().ok().and(pid.parse::<u32>().ok()))
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let stale = if proc_fs {
            !Path::new("/proc").join(pid.to_string()).exists()
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 600)
        };
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Writes a state file atomically, creating its directory if needed: the
/// JSON goes to a temporary file in the same directory, is flushed to disk,
/// and is renamed over the target, so a reader (or a crash) sees the old
/// file or the new one, never half of one.
pub fn save_state_file(path: &Path, state: &StateFile) -> Result<(), EmulatorError> {
    let err = |source| EmulatorError::WriteState {
        path: path.to_owned(),
        source,
    };
    let json = serde_json::to_vec_pretty(state).map_err(|e| err(std::io::Error::other(e)))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    // The process id and a counter keep two writers (two emulators in one
    // process, or two processes) from sharing a temporary file.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(temp_name(&file_name, std::process::id(), seq));
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temporary_files_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        // Beyond the largest process id Linux hands out (2^22).
        let dead = dir.path().join(temp_name("state.json", 4_294_967, 3));
        let ours = dir
            .path()
            .join(temp_name("state.json", std::process::id(), 9));
        let other = dir.path().join(".other.json.tmp-4294967-1");
        let odd = dir.path().join(".state.json.tmp-notapid");
        for f in [&dead, &ours, &other, &odd] {
            std::fs::write(f, "{").unwrap();
        }
        let removed = remove_stale_temp_files(&path);
        if Path::new("/proc/self").exists() {
            assert_eq!(removed, 1);
            assert!(!dead.exists());
        }
        assert!(ours.exists() && other.exists() && odd.exists());
    }

    #[test]
    fn region_and_group_id_shapes() {
        for ok in [
            "cn-hangzhou",
            "ap-southeast-1",
            "cn-shanghai-finance-1",
            "eu-central-1",
        ] {
            assert!(valid_region_id(ok), "{ok}");
        }
        for bad in [
            "",
            "cn",
            "CN-hangzhou",
            "cn-",
            "cn--x",
            "c-x",
            "cn_hangzhou",
        ] {
            assert!(!valid_region_id(bad), "{bad}");
        }
        assert!(valid_group_id("sg-bp1fg655nh68xyz9i2k7"));
        for bad in ["sg-", "sgr-abc", "sg-a b", "vpc-1"] {
            assert!(!valid_group_id(bad), "{bad}");
        }
    }
}
