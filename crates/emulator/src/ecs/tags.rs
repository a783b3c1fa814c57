//! The tag actions of ECS (`TagResources`, `ListTagResources`,
//! `UntagResources`) for security groups, and the `Tag.N` parameters other
//! actions take, with the documented limits and error codes.
//!
//! Only security groups carry tags in the emulator. The other resource types
//! the API documents are known by name, so that a request for them fails the
//! way a request for a resource that does not exist fails.

use std::collections::{BTreeMap, HashSet};

use moat_wire::tag_limits::{
    FORBIDDEN_SUBSTRINGS, KEY_MAX_CHARS, RESERVED_KEY_PREFIXES, RESOURCES_PER_CALL,
    TAGS_PER_RESOURCE, VALUE_MAX_CHARS,
};
use moat_wire::{
    ListTagResourcesResponse, LooseString, RESOURCE_TYPE_SECURITY_GROUP, TagResource, TagResources,
};

use crate::error::ApiError;
use crate::model::{State, TagPair};
use crate::params::Params;

/// Resource types the tag actions document besides security groups. The
/// emulator holds none of them.
const OTHER_RESOURCE_TYPES: &[&str] = &[
    "instance",
    "disk",
    "snapshot",
    "image",
    "volume",
    "eni",
    "ddh",
    "ddhcluster",
    "keypair",
    "launchtemplate",
    "reservedinstance",
    "snapshotpolicy",
    "elasticityassurance",
    "capacityreservation",
    "command",
    "invocation",
    "activation",
    "managedinstance",
];

/// Page size of ListTagResources when `MaxResults` is not given. The
/// service's own page size is UNCONFIRMED.
const DEFAULT_PAGE: usize = 50;
/// Largest `MaxResults` the emulator takes (the parameter is the emulator's
/// addition: ECS documents none for this action).
const MAX_PAGE: usize = 1000;

/// What a request's `ResourceType` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    SecurityGroup,
    /// A documented type the emulator holds no resources of.
    Empty,
}

fn key_malformed() -> ApiError {
    ApiError::bad(
        "InvalidTagKey.Malformed",
        "The specified Tag.n.Key is not valid.",
    )
}

fn value_malformed() -> ApiError {
    ApiError::bad(
        "InvalidTagValue.Malformed",
        "The specified Tag.n.Value is not valid.",
    )
}

fn too_many_tags() -> ApiError {
    ApiError::bad(
        "NumberExceed.Tags",
        format!("The Tags parameter's number is exceed , Valid : {TAGS_PER_RESOURCE}"),
    )
}

fn duplicate_key() -> ApiError {
    ApiError::bad("Duplicate.TagKey", "The Tag.N.Key contain duplicate key.")
}

fn resources_not_found() -> ApiError {
    ApiError::new(
        404,
        "InvalidResourceId.NotFound",
        "The specified ResourceIds are not found in our records.",
    )
}

/// A tag key as TagResources and CreateSecurityGroup take it: 1 to 128
/// characters, not starting with `aliyun` or `acs:`, without `http://` or
/// `https://`. Whether the prefix check ignores letter case is UNCONFIRMED;
/// it is taken as written.
pub(crate) fn check_key(key: &str) -> Result<(), ApiError> {
    let n = key.chars().count();
    if n == 0
        || n > KEY_MAX_CHARS
        || RESERVED_KEY_PREFIXES.iter().any(|p| key.starts_with(p))
        || FORBIDDEN_SUBSTRINGS.iter().any(|s| key.contains(s))
    {
        return Err(key_malformed());
    }
    Ok(())
}

/// A tag value: at most 128 characters (empty is fine), without `http://`
/// or `https://`.
pub(crate) fn check_value(value: &str) -> Result<(), ApiError> {
    if value.chars().count() > VALUE_MAX_CHARS
        || FORBIDDEN_SUBSTRINGS.iter().any(|s| value.contains(s))
    {
        return Err(value_malformed());
    }
    Ok(())
}

/// How a `Tag.N` list is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TagUse {
    /// Tags to set (TagResources, CreateSecurityGroup): keys and values
    /// checked, keys unique.
    Set,
    /// A filter (DescribeSecurityGroups, ListTagResources): a key alone
    /// matches any value.
    Filter,
}

/// One `Tag.N` entry; `value` is `None` when only the key was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TagArg {
    pub key: String,
    pub value: Option<String>,
}

impl TagArg {
    pub(crate) fn matches(&self, tags: &[TagPair]) -> bool {
        tags.iter()
            .any(|t| t.key == self.key && self.value.as_ref().is_none_or(|v| &t.value == v))
    }
}

/// Reads `Tag.N.Key` / `Tag.N.Value` (N from 1 to 20), ordered by N.
pub(crate) fn read_tags(params: &Params, usage: TagUse) -> Result<Vec<TagArg>, ApiError> {
    let mut by_index: BTreeMap<usize, (Option<&str>, Option<&str>)> = BTreeMap::new();
    for (name, value) in params.with_prefix("Tag.") {
        let Some((n, member)) = name["Tag.".len()..].split_once('.') else {
            continue;
        };
        let index = parse_index(n, TAGS_PER_RESOURCE).ok_or_else(too_many_tags)?;
        let entry = by_index.entry(index).or_default();
        match member {
            "Key" => entry.0 = Some(value),
            "Value" => entry.1 = Some(value),
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(by_index.len());
    let mut keys = HashSet::with_capacity(by_index.len());
    for (key, value) in by_index.into_values() {
        let Some(key) = key else {
            return Err(match usage {
                // Documented for ListTagResources: a value without a key.
                TagUse::Filter => ApiError::bad(
                    "InvalidParameter.TagValue",
                    "The specified Tag.n.Value is given without its Tag.n.Key.",
                ),
                TagUse::Set => ApiError::bad(
                    "InvalidTag.Mismatch",
                    "The specified Tag.n.Key and Tag.n.Value are not match.",
                ),
            });
        };
        match usage {
            TagUse::Set => {
                check_key(key)?;
                check_value(value.unwrap_or_default())?;
                if !keys.insert(key) {
                    return Err(duplicate_key());
                }
            }
            TagUse::Filter => {
                if key.is_empty() || key.chars().count() > KEY_MAX_CHARS {
                    return Err(key_malformed());
                }
            }
        }
        out.push(TagArg {
            key: key.to_owned(),
            value: match usage {
                TagUse::Set => Some(value.unwrap_or_default().to_owned()),
                TagUse::Filter => value.filter(|v| !v.is_empty()).map(str::to_owned),
            },
        });
    }
    Ok(out)
}

/// `1..=max` written without leading zeros; `None` otherwise.
fn parse_index(s: &str, max: usize) -> Option<usize> {
    if s.is_empty() || s.len() > 4 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| (1..=max).contains(n))
}

/// Values of `NAME.N` (N from 1 to `max`), ordered by N, empty ones left
/// out. An index beyond `max` answers `too_many`.
fn read_list(
    params: &Params,
    name: &str,
    max: usize,
    too_many: fn() -> ApiError,
) -> Result<Vec<String>, ApiError> {
    let prefix = format!("{name}.");
    let mut by_index = BTreeMap::new();
    for (full, value) in params.with_prefix(&prefix) {
        let n = &full[prefix.len()..];
        // Deeper names (`TagFilter.1.TagKey`) are not list entries.
        if n.contains('.') {
            continue;
        }
        let index = parse_index(n, max).ok_or_else(too_many)?;
        if !value.is_empty() {
            by_index.insert(index, value.to_owned());
        }
    }
    Ok(by_index.into_values().collect())
}

fn read_resource_ids(params: &Params) -> Result<Vec<String>, ApiError> {
    let mut ids = read_list(params, "ResourceId", RESOURCES_PER_CALL, || {
        ApiError::bad(
            "NumberExceed.ResourceIds",
            format!("The ResourceIds parameter's number is exceed , Valid : {RESOURCES_PER_CALL}"),
        )
    })?;
    // The same id twice is the same resource.
    let mut seen = HashSet::with_capacity(ids.len());
    ids.retain(|id| seen.insert(id.clone()));
    Ok(ids)
}

fn read_kind(params: &Params) -> Result<Kind, ApiError> {
    let Some(t) = params.get("ResourceType") else {
        return Err(ApiError::new(
            404,
            "MissingParameter.ResourceType",
            "The parameter - ResourceType should not be null",
        ));
    };
    // The documentation writes the values in lower case; whether the service
    // ignores letter case is UNCONFIRMED, so any case is taken.
    let t = t.to_ascii_lowercase();
    if t == RESOURCE_TYPE_SECURITY_GROUP {
        Ok(Kind::SecurityGroup)
    } else if OTHER_RESOURCE_TYPES.contains(&t.as_str()) {
        Ok(Kind::Empty)
    } else {
        Err(ApiError::new(
            404,
            "InvalidResourceType.NotFound",
            "The ResourceType provided does not exist in our records.",
        ))
    }
}

/// The resources a TagResources or UntagResources call names: all of them
/// must exist in the region, or nothing changes.
fn targets(state: &State, region: &str, params: &Params) -> Result<(Kind, Vec<String>), ApiError> {
    let kind = read_kind(params)?;
    let ids = read_resource_ids(params)?;
    if ids.is_empty() {
        return Err(ApiError::missing("MissingParameter", "ResourceId"));
    }
    let all_exist = match kind {
        Kind::SecurityGroup => ids.iter().all(|id| state.group(region, id).is_some()),
        Kind::Empty => false,
    };
    if !all_exist {
        return Err(resources_not_found());
    }
    Ok((kind, ids))
}

fn tags_mut<'a>(state: &'a mut State, region: &str, id: &str) -> Option<&'a mut Vec<TagPair>> {
    state.group_mut(region, id).map(|g| &mut g.tags)
}

/// Sets `tag` on `tags`: a key already present takes the new value, a new
/// key is appended. True when something changed.
fn set_tag(tags: &mut Vec<TagPair>, tag: &TagArg) -> bool {
    let value = tag.value.clone().unwrap_or_default();
    match tags.iter_mut().find(|t| t.key == tag.key) {
        Some(t) if t.value == value => false,
        Some(t) => {
            t.value = value;
            true
        }
        None => {
            tags.push(TagPair {
                key: tag.key.clone(),
                value,
            });
            true
        }
    }
}

/// TagResources: adds or overwrites up to 20 tags on up to 50 resources.
/// All or nothing: every resource must exist and stay within 20 tags.
pub(crate) fn tag_resources(
    state: &mut State,
    region: &str,
    params: &Params,
) -> Result<bool, ApiError> {
    let (_, ids) = targets(state, region, params)?;
    let tags = read_tags(params, TagUse::Set)?;
    if tags.is_empty() {
        return Err(ApiError::new(
            404,
            "MissingParameter.Tags",
            "The parameter - Tags should not be null",
        ));
    }
    for id in &ids {
        let existing = state.group(region, id).map_or(&[][..], |g| &g.tags[..]);
        let added = tags
            .iter()
            .filter(|t| !existing.iter().any(|e| e.key == t.key))
            .count();
        if existing.len() + added > TAGS_PER_RESOURCE {
            return Err(ApiError::bad(
                "OperationDenied.QuotaExceed",
                "The quota of tags on resource is beyond permitted range.",
            ));
        }
    }
    let mut changed = false;
    for id in &ids {
        if let Some(existing) = tags_mut(state, region, id) {
            for t in &tags {
                changed |= set_tag(existing, t);
            }
        }
    }
    Ok(changed)
}

/// UntagResources: removes the keys `TagKey.N` names (absent ones are
/// ignored), or with `All=true` and no keys every tag.
pub(crate) fn untag_resources(
    state: &mut State,
    region: &str,
    params: &Params,
) -> Result<bool, ApiError> {
    let (_, ids) = targets(state, region, params)?;
    let keys = read_list(params, "TagKey", TAGS_PER_RESOURCE, too_many_tags)?;
    let mut seen = HashSet::with_capacity(keys.len());
    if !keys.iter().all(|k| seen.insert(k.as_str())) {
        return Err(duplicate_key());
    }
    // All takes effect only when no TagKey.N is given.
    let all = keys.is_empty()
        && params
            .get("All")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if keys.is_empty() && !all {
        return Err(ApiError::new(
            404,
            "MissingParameter.Tags",
            "The parameter - Tags should not be null",
        ));
    }
    let mut changed = false;
    for id in &ids {
        if let Some(tags) = tags_mut(state, region, id) {
            let before = tags.len();
            if all {
                tags.clear();
            } else {
                tags.retain(|t| !keys.contains(&t.key));
            }
            changed |= tags.len() != before;
        }
    }
    Ok(changed)
}

fn encode_token(resource: &str, key: &str) -> String {
    let mut out = String::with_capacity(2 * (resource.len() + key.len() + 1));
    for b in resource.bytes().chain([0]).chain(key.bytes()) {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn decode_token(token: &str) -> Option<(String, String)> {
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return None;
    }
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok())
        .collect::<Option<_>>()?;
    let split = bytes.iter().position(|b| *b == 0)?;
    let resource = String::from_utf8(bytes[..split].to_vec()).ok()?;
    let key = String::from_utf8(bytes[split + 1..].to_vec()).ok()?;
    Some((resource, key))
}

/// ListTagResources: the (resource, tag) pairs of the named resources, or
/// of the resources carrying every `Tag.N`, ordered by resource id then tag
/// key. With `Tag.N` only the pairs the filter names are listed (whether
/// the service lists the resources' other tags too is UNCONFIRMED).
/// Resource ids that do not exist list nothing.
pub(crate) fn list_tag_resources(
    state: &State,
    region: &str,
    params: &Params,
) -> Result<ListTagResourcesResponse, ApiError> {
    let kind = read_kind(params)?;
    let ids = read_resource_ids(params)?;
    let filters = read_tags(params, TagUse::Filter)?;
    if params.with_prefix("TagFilter.").next().is_some() {
        // Fuzzy TagFilter.N is in invitational preview (not public); the
        // emulator does not implement it and says so.
        return Err(ApiError::bad(
            "InvalidParameter",
            "TagFilter.N is not supported by this emulator; use Tag.N.",
        ));
    }
    if ids.is_empty() && filters.is_empty() {
        // At least one of ResourceId.N and Tag.N is required; the code for
        // neither is UNCONFIRMED.
        return Err(ApiError::missing("MissingParameter", "ResourceId"));
    }
    let max = match params.get("MaxResults") {
        None => DEFAULT_PAGE,
        Some(m) => m
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|m| (1..=MAX_PAGE).contains(m))
            .ok_or_else(|| ApiError::invalid("InvalidParameter", "MaxResults"))?,
    };
    let after = match params.get("NextToken") {
        None => None,
        // ECS's code for a bad token (reference 2.1); which code this action
        // uses is UNCONFIRMED.
        Some(t) => Some(decode_token(t).ok_or_else(super::bad_next_token)?),
    };
    let mut pairs: Vec<(&str, &TagPair)> = Vec::new();
    if kind == Kind::SecurityGroup
        && let Some(groups) = state.regions.get(region)
    {
        let wanted: Option<HashSet<&str>> =
            (!ids.is_empty()).then(|| ids.iter().map(String::as_str).collect());
        for g in groups.values() {
            if wanted.as_ref().is_some_and(|w| !w.contains(g.id.as_str()))
                || !filters.iter().all(|f| f.matches(&g.tags))
            {
                continue;
            }
            let mut tags: Vec<&TagPair> = g
                .tags
                .iter()
                .filter(|t| filters.is_empty() || filters.iter().any(|f| f.key == t.key))
                .collect();
            tags.sort_by(|a, b| a.key.cmp(&b.key));
            pairs.extend(tags.into_iter().map(|t| (g.id.as_str(), t)));
        }
    }
    let start = match &after {
        None => 0,
        Some((resource, key)) => pairs
            .partition_point(|(r, t)| (*r, t.key.as_str()) <= (resource.as_str(), key.as_str())),
    };
    let rest = &pairs[start..];
    let page = &rest[..rest.len().min(max)];
    let next_token = if rest.len() > max {
        page.last()
            .map(|(r, t)| encode_token(r, &t.key))
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(ListTagResourcesResponse {
        request_id: LooseString::default(),
        next_token: LooseString(next_token),
        tag_resources: TagResources {
            tag_resource: page
                .iter()
                .map(|(r, t)| TagResource {
                    resource_type: LooseString::from(RESOURCE_TYPE_SECURITY_GROUP),
                    resource_id: LooseString::from(*r),
                    tag_key: LooseString(t.key.clone()),
                    tag_value: LooseString(t.value.clone()),
                })
                .collect(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_follow_the_documented_rules() {
        assert!(check_key("moat:lock").is_ok());
        assert!(check_key(&"k".repeat(128)).is_ok());
        for bad in [
            String::new(),
            "k".repeat(129),
            "aliyun-x".to_owned(),
            "acs:rm:rgId".to_owned(),
            "see http://x".to_owned(),
            "https://x".to_owned(),
        ] {
            assert_eq!(
                check_key(&bad).map_err(|e| e.code),
                Err("InvalidTagKey.Malformed".into()),
                "{bad}"
            );
        }
        assert!(check_value("").is_ok());
        assert!(check_value(&"v".repeat(128)).is_ok());
        assert!(check_value(&"v".repeat(129)).is_err());
        assert!(check_value("a https://b").is_err());
    }

    #[test]
    fn tokens_round_trip_and_refuse_garbage() {
        let t = encode_token("sg-abc", "moat:lock");
        assert_eq!(
            decode_token(&t),
            Some(("sg-abc".to_owned(), "moat:lock".to_owned()))
        );
        assert_eq!(decode_token("zz"), None);
        assert_eq!(decode_token("616263"), None);
        assert_eq!(decode_token("é"), None);
    }
}
