//! The blast radius of a group's changes (`moat plan --instances`): the
//! instances whose network interfaces carry the group, and what each change
//! does to them once every group of each interface is taken into account.
//!
//! These are the types the plan carries and the views print; reading the
//! interfaces and evaluating them is `moat-exec`'s. The exposure notes of a
//! change (`exposure` on [`crate::Change`]) look at its group alone; a blast
//! note is the same question asked of an interface, whose other groups may
//! allow or deny the flows first, so it can differ per instance.

use moat_policy::RuleKey;
use serde::{Deserialize, Serialize};

use crate::plan::{Action, ExposureKind};

/// How many instance ids the text views name before "and N more".
pub const FIRST_INSTANCES: usize = 5;

/// The instances a changed group reaches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlastRadius {
    /// How many instances have an interface carrying the group.
    pub instance_count: usize,
    /// Their ids, sorted.
    pub instances: Vec<String>,
    /// How many network interfaces carry the group (an instance may have
    /// several; an interface attached to no instance counts here only).
    pub interfaces: usize,
    /// What the group's changes do on those interfaces, all their groups
    /// combined: one note per change and effect, naming the instances it
    /// has that effect on. A change that alters no verdict on any
    /// interface (other groups decide its flows) has no note.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<BlastNote>,
}

/// One effect of one change, on the instances where it has that effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlastNote {
    /// The change, as it is in the group's `changes`.
    pub action: Action,
    pub key: RuleKey,
    /// `new_public_exposure`, `opens` or `closes`.
    pub kind: ExposureKind,
    /// The effect, worded as the change's exposure notes are:
    /// `new public exposure: tcp/3306 from 0.0.0.0/0`.
    pub note: String,
    pub instance_count: usize,
    /// Sorted.
    pub instances: Vec<String>,
    /// How many interfaces the effect is on (more than the instances when
    /// some have several interfaces carrying the group).
    pub interfaces: usize,
}

/// `1 instance`, `3 instances`.
pub fn instances_phrase(count: usize) -> String {
    if count == 1 {
        "1 instance".to_owned()
    } else {
        format!("{count} instances")
    }
}

/// The first ids of `ids`, then `and N more`: `i-1, i-2 and 3 more`.
pub fn first_ids(ids: &[String], first: usize) -> String {
    let shown: Vec<&str> = ids.iter().take(first).map(String::as_str).collect();
    let mut text = shown.join(", ");
    if ids.len() > first {
        text.push_str(&format!(" and {} more", ids.len() - first));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_ids_says_how_many_more() {
        let ids: Vec<String> = (1..=7).map(|i| format!("i-{i}")).collect();
        assert_eq!(first_ids(&ids, 5), "i-1, i-2, i-3, i-4, i-5 and 2 more");
        assert_eq!(first_ids(&ids[..2], 5), "i-1, i-2");
        assert_eq!(instances_phrase(1), "1 instance");
        assert_eq!(instances_phrase(0), "0 instances");
    }
}
