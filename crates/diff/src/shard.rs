//! Shares of a fleet for a CI job matrix (`--shard K/N`): which groups a
//! job takes, and checking that the shards merged later fit together.
//!
//! A group's shard depends only on its own key (its id, its account or its
//! region, `--shard-by`), through the first 8 bytes of the key's SHA-256
//! taken as a big-endian number, modulo N. So the choice is the same on
//! every machine and in every version, and adding a group never moves
//! another one to a different shard.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What decides a group's shard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardBy {
    /// The group id: shares of about the same size.
    #[default]
    Group,
    /// The account: every group of an account in one job (groups that name
    /// no account share one key).
    Account,
    /// The region: every group of a region in one job.
    Region,
}

impl ShardBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ShardBy::Group => "group",
            ShardBy::Account => "account",
            ShardBy::Region => "region",
        }
    }
}

impl fmt::Display for ShardBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One share: shard `index` (from 1) of `count`, chosen `by`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
    pub by: ShardBy,
}

/// A `--shard` value that is not `K/N` with `1 <= K <= N`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("{0:?} is not K/N (for example 2/5)")]
    Malformed(String),
    #[error("shard {index}/{count} does not exist: K/N needs 1 <= K <= N (shards count from 1)")]
    OutOfRange { index: u32, count: u32 },
}

/// The part of a `--shard` value: `K/N` without the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: u32,
    pub count: u32,
}

impl FromStr for ShardSpec {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<ShardSpec, ShardError> {
        let malformed = || ShardError::Malformed(s.to_owned());
        let (k, n) = s.trim().split_once('/').ok_or_else(malformed)?;
        let index: u32 = k.trim().parse().map_err(|_| malformed())?;
        let count: u32 = n.trim().parse().map_err(|_| malformed())?;
        if index == 0 || count == 0 || index > count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(ShardSpec { index, count })
    }
}

impl Shard {
    pub fn new(spec: ShardSpec, by: ShardBy) -> Shard {
        Shard {
            index: spec.index,
            count: spec.count,
            by,
        }
    }

    /// The shard (from 1) of `count` that `key` falls in.
    pub fn of_key(key: &str, count: u32) -> u32 {
        let digest = Sha256::digest(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        // count >= 1, so the remainder fits in u32 and the sum cannot
        // overflow.
        (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32 + 1
    }

    /// Whether the group `id` in `region` (of `account`, if it names one)
    /// belongs to this shard.
    pub fn contains(&self, id: &str, region: &str, account: Option<&str>) -> bool {
        let key = match self.by {
            ShardBy::Group => id,
            ShardBy::Region => region,
            ShardBy::Account => account.unwrap_or(""),
        };
        Shard::of_key(key, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    /// `2/5 by group`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} by {}", self.index, self.count, self.by)
    }
}

/// Why the shards given to a merge do not make one whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardSetError {
    #[error("shard {shard} is given twice (in {first} and {second})")]
    Overlap {
        shard: Shard,
        first: String,
        second: String,
    },
    #[error(
        "{first} is shard {a} but {second} is shard {b}: the shards of one run share N and the key"
    )]
    Mismatch {
        a: Shard,
        first: String,
        b: Shard,
        second: String,
    },
    #[error("{first} is a whole run, not a shard, and cannot be merged with {second}")]
    Unsharded { first: String, second: String },
    #[error("group {id} ({region}) is in both {first} and {second}")]
    SameGroup {
        id: String,
        region: String,
        first: String,
        second: String,
    },
}

/// Checks the shards of the reports named by `names` (one each, `None`
/// for a report of a whole run) fit together, and gives the indexes that
/// are missing (from 1) when they do.
pub fn check_shards(shards: &[(String, Option<Shard>)]) -> Result<Vec<u32>, ShardSetError> {
    let mut seen: Vec<(&str, Shard)> = Vec::new();
    for (name, shard) in shards {
        let Some(shard) = shard else {
            if let Some((other, _)) = shards.iter().find(|(n, _)| n != name) {
                return Err(ShardSetError::Unsharded {
                    first: name.clone(),
                    second: other.clone(),
                });
            }
            return Ok(Vec::new());
        };
        if let Some((first, a)) = seen.first()
            && (a.count != shard.count || a.by != shard.by)
        {
            return Err(ShardSetError::Mismatch {
                a: *a,
                first: (*first).to_owned(),
                b: *shard,
                second: name.clone(),
            });
        }
        if let Some((first, _)) = seen.iter().find(|(_, s)| s.index == shard.index) {
            return Err(ShardSetError::Overlap {
                shard: *shard,
                first: (*first).to_owned(),
                second: name.clone(),
            });
        }
        seen.push((name, *shard));
    }
    let Some((_, any)) = seen.first() else {
        return Ok(Vec::new());
    };
    Ok((1..=any.count)
        .filter(|i| !seen.iter().any(|(_, s)| s.index == *i))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_are_refused() {
        assert_eq!(
            "2/5".parse::<ShardSpec>(),
            Ok(ShardSpec { index: 2, count: 5 })
        );
        for (text, err) in [
            ("0/3", ShardError::OutOfRange { index: 0, count: 3 }),
            ("4/3", ShardError::OutOfRange { index: 4, count: 3 }),
            ("1/0", ShardError::OutOfRange { index: 1, count: 0 }),
            ("3", ShardError::Malformed("3".into())),
            ("a/3", ShardError::Malformed("a/3".into())),
            ("-1/3", ShardError::Malformed("-1/3".into())),
        ] {
            assert_eq!(text.parse::<ShardSpec>(), Err(err), "{text}");
        }
        assert_eq!(
            "0/3".parse::<ShardSpec>().unwrap_err().to_string(),
            "shard 0/3 does not exist: K/N needs 1 <= K <= N (shards count from 1)"
        );
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("sg-bp{i:017}")).collect()
    }

    #[test]
    fn every_group_is_in_exactly_one_shard_and_adding_groups_moves_none() {
        let count = 4;
        let shards: Vec<Shard> = (1..=count)
            .map(|index| Shard {
                index,
                count,
                by: ShardBy::Group,
            })
            .collect();
        let all = ids(1000);
        let mut sizes = vec![0; count as usize];
        for id in &all {
            let holders: Vec<_> = shards
                .iter()
                .filter(|s| s.contains(id, "cn-hangzhou", None))
                .collect();
            assert_eq!(holders.len(), 1, "{id}");
            sizes[holders[0].index as usize - 1] += 1;
        }
        // Shares of about the same size.
        assert!(sizes.iter().all(|n| (200..300).contains(n)), "{sizes:?}");
        // The shard of a group is its own: more groups, same choice.
        let before: Vec<u32> = all.iter().map(|id| Shard::of_key(id, count)).collect();
        let more = ids(2000);
        let after: Vec<u32> = more[..1000]
            .iter()
            .map(|id| Shard::of_key(id, count))
            .collect();
        assert_eq!(before, after);
        // Fixed across versions and machines: the first 8 bytes of the
        // SHA-256 of the key, big-endian, modulo N, plus 1 (computed apart).
        assert_eq!(Shard::of_key("sg-bp1example000001", 3), 1);
    }

    #[test]
    fn by_region_and_by_account_keep_them_together() {
        let s = |index| Shard {
            index,
            count: 3,
            by: ShardBy::Region,
        };
        let home = Shard::of_key("cn-beijing", 3);
        for id in ids(20) {
            assert!(s(home).contains(&id, "cn-beijing", None));
        }
        let a = Shard {
            index: Shard::of_key("prod", 3),
            count: 3,
            by: ShardBy::Account,
        };
        assert!(a.contains("sg-1", "cn-beijing", Some("prod")));
        assert!(a.contains("sg-2", "eu-central-1", Some("prod")));
    }

    #[test]
    fn merged_shards_must_fit_together() {
        let s = |index, count, by| Some(Shard { index, count, by });
        let g = ShardBy::Group;
        let named = |list: Vec<Option<Shard>>| -> Vec<(String, Option<Shard>)> {
            list.into_iter()
                .enumerate()
                .map(|(i, s)| (format!("f{i}.json"), s))
                .collect()
        };
        assert_eq!(
            check_shards(&named(vec![s(1, 3, g), s(3, 3, g)])),
            Ok(vec![2])
        );
        assert_eq!(
            check_shards(&named(vec![s(2, 2, g), s(1, 2, g)])),
            Ok(vec![])
        );
        assert!(matches!(
            check_shards(&named(vec![s(1, 3, g), s(1, 3, g)])),
            Err(ShardSetError::Overlap { .. })
        ));
        assert!(matches!(
            check_shards(&named(vec![s(1, 3, g), s(2, 4, g)])),
            Err(ShardSetError::Mismatch { .. })
        ));
        assert!(matches!(
            check_shards(&named(vec![s(1, 3, g), s(2, 3, ShardBy::Region)])),
            Err(ShardSetError::Mismatch { .. })
        ));
        assert!(matches!(
            check_shards(&named(vec![s(1, 3, g), None])),
            Err(ShardSetError::Unsharded { .. })
        ));
        assert_eq!(check_shards(&named(vec![None])), Ok(vec![]));
    }
}
