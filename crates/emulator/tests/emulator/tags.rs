//! The tag actions on security groups: TagResources, ListTagResources,
//! UntagResources, the `Tags` of DescribeSecurityGroups and its `Tag.N`
//! filter, limits, error codes and persistence.

use serde_json::Value;

use crate::support::{Client, Resp, create_group, start_emulator, start_with};

fn owned(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// TagResources on `groups` with `tags` as (key, value).
fn tag(c: &Client, groups: &[&str], tags: &[(&str, &str)]) -> Resp {
    let mut p: Vec<(String, String)> = vec![("ResourceType".into(), "securitygroup".into())];
    for (i, g) in groups.iter().enumerate() {
        p.push((format!("ResourceId.{}", i + 1), (*g).to_owned()));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        p.push((format!("Tag.{}.Key", i + 1), (*k).to_owned()));
        p.push((format!("Tag.{}.Value", i + 1), (*v).to_owned()));
    }
    c.call("TagResources", &owned(&p))
}

fn list(c: &Client, extra: &[(&str, &str)]) -> Value {
    let mut p = vec![("ResourceType", "securitygroup")];
    p.extend_from_slice(extra);
    c.call("ListTagResources", &p).ok()
}

/// (resource, key, value) of a ListTagResources answer.
fn pairs(v: &Value) -> Vec<(String, String, String)> {
    v["TagResources"]["TagResource"]
        .as_array()
        .unwrap_or_else(|| panic!("no TagResources in {v}"))
        .iter()
        .map(|t| {
            assert_eq!(t["ResourceType"], "securitygroup", "{t}");
            (
                t["ResourceId"].as_str().unwrap().to_owned(),
                t["TagKey"].as_str().unwrap().to_owned(),
                t["TagValue"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn described_tags(c: &Client, group: &str) -> Vec<(String, String)> {
    let v = c
        .call("DescribeSecurityGroups", &[("SecurityGroupId", group)])
        .ok();
    v["SecurityGroups"]["SecurityGroup"][0]["Tags"]["Tag"]
        .as_array()
        .unwrap_or_else(|| panic!("no Tags.Tag in {v}"))
        .iter()
        .map(|t| {
            (
                t["TagKey"].as_str().unwrap().to_owned(),
                t["TagValue"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn tags_are_set_overwritten_listed_described_and_removed() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let a = create_group(&c, "group-a");
    let b = create_group(&c, "group-b");

    let r = tag(&c, &[&a, &b], &[("team", "web"), ("moat:lock", "")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json().as_object().map(|o| o.len()), Some(1), "{}", r.body);
    assert_eq!(
        described_tags(&c, &a),
        kv(&[("team", "web"), ("moat:lock", "")])
    );

    // A key already present takes the new value and keeps its place.
    tag(&c, &[&a], &[("team", "db"), ("env", "prod")]).ok();
    assert_eq!(
        described_tags(&c, &a),
        kv(&[("team", "db"), ("moat:lock", ""), ("env", "prod")])
    );

    // By resource: every tag, ordered by resource id then key.
    let v = list(&c, &[("ResourceId.1", &a), ("ResourceId.2", &b)]);
    assert!(v.get("NextToken").is_none(), "{v}");
    let got = pairs(&v);
    assert_eq!(got.len(), 5, "{got:?}");
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted, "ordered by resource id, then key");
    let of_a: Vec<_> = got
        .iter()
        .filter(|p| p.0 == a)
        .map(|p| (p.1.as_str(), p.2.as_str()))
        .collect();
    assert_eq!(of_a, [("env", "prod"), ("moat:lock", ""), ("team", "db")]);

    // By tag: the resources carrying every pair; a key alone matches any value.
    let v = list(&c, &[("Tag.1.Key", "team"), ("Tag.1.Value", "web")]);
    assert_eq!(pairs(&v), [(b.clone(), "team".into(), "web".into())]);
    let v = list(&c, &[("Tag.1.Key", "moat:lock")]);
    assert_eq!(pairs(&v).len(), 2);
    let v = list(
        &c,
        &[
            ("Tag.1.Key", "moat:lock"),
            ("Tag.2.Key", "env"),
            ("Tag.2.Value", "prod"),
        ],
    );
    assert!(pairs(&v).iter().all(|p| p.0 == a), "{v}");
    // A resource that does not exist lists nothing.
    let v = list(&c, &[("ResourceId.1", "sg-doesnotexist0000000")]);
    assert!(pairs(&v).is_empty());

    // DescribeSecurityGroups filters by Tag.N.
    let v = c
        .call(
            "DescribeSecurityGroups",
            &[("Tag.1.Key", "team"), ("Tag.1.Value", "db")],
        )
        .ok();
    let ids: Vec<_> = v["SecurityGroups"]["SecurityGroup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["SecurityGroupId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, std::slice::from_ref(&a));

    // UntagResources by key (absent keys are ignored), then All.
    c.call(
        "UntagResources",
        &[
            ("ResourceType", "securitygroup"),
            ("ResourceId.1", &a),
            ("TagKey.1", "team"),
            ("TagKey.2", "never-set"),
        ],
    )
    .ok();
    assert_eq!(
        described_tags(&c, &a),
        kv(&[("moat:lock", ""), ("env", "prod")])
    );
    c.call(
        "UntagResources",
        &[
            ("ResourceType", "securitygroup"),
            ("ResourceId.1", &a),
            ("ResourceId.2", &b),
            ("All", "true"),
        ],
    )
    .ok();
    assert!(described_tags(&c, &a).is_empty() && described_tags(&c, &b).is_empty());

    let stats = emu.emulator().stats();
    assert_eq!(stats.ok("TagResources"), 2);
    assert_eq!(stats.ok("UntagResources"), 2);
    assert_eq!(stats.ok("ListTagResources"), 5);
}

#[test]
fn list_tag_resources_pages_with_next_token() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let groups: Vec<String> = (0..3)
        .map(|i| create_group(&c, &format!("group{i}")))
        .collect();
    let tags: Vec<(String, String)> = (0..7).map(|i| (format!("k{i}"), format!("v{i}"))).collect();
    let tag_refs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    tag(&c, &group_refs, &tag_refs).ok();

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut calls = 0;
    loop {
        let mut p = vec![
            ("ResourceId.1", groups[0].as_str()),
            ("ResourceId.2", groups[1].as_str()),
            ("ResourceId.3", groups[2].as_str()),
            ("MaxResults", "4"),
        ];
        if !token.is_empty() {
            p.push(("NextToken", &token));
        }
        let v = list(&c, &p);
        let page = pairs(&v);
        assert!(page.len() <= 4);
        seen.extend(page);
        calls += 1;
        token = v["NextToken"].as_str().unwrap_or_default().to_owned();
        if token.is_empty() {
            break;
        }
        // A tag removed between pages neither repeats nor skips the rest.
        if calls == 2 {
            c.call(
                "UntagResources",
                &[
                    ("ResourceType", "securitygroup"),
                    ("ResourceId.1", groups[2].as_str()),
                    ("TagKey.1", "k6"),
                ],
            )
            .ok();
        }
    }
    assert_eq!(calls, 5, "21 pairs less the one removed, 4 a page");
    assert_eq!(seen.len(), 20);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "in order, no repeats");

    c.call(
        "ListTagResources",
        &[
            ("ResourceType", "securitygroup"),
            ("ResourceId.1", groups[0].as_str()),
            ("NextToken", "not-a-token"),
        ],
    )
    .err(400, "InValidParameter.NextToken");
}

#[test]
fn limits_and_errors_are_the_documented_ones() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "limits");
    let call = |action: &str, p: &[(&str, &str)]| c.call(action, p);

    // Twenty tags fit; the twenty-first key does not, and nothing changes.
    let twenty: Vec<(String, String)> = (0..20).map(|i| (format!("k{i}"), String::new())).collect();
    let refs: Vec<(&str, &str)> = twenty
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    tag(&c, &[&g], &refs).ok();
    tag(&c, &[&g], &[("k0", "new value")]).ok();
    tag(&c, &[&g], &[("k1", "x"), ("k20", "")]).err(400, "OperationDenied.QuotaExceed");
    assert_eq!(described_tags(&c, &g)[1], ("k1".to_owned(), String::new()));

    // Twenty-one in one call.
    let g2 = create_group(&c, "limits2");
    call(
        "TagResources",
        &[
            ("ResourceType", "securitygroup"),
            ("ResourceId.1", &g2),
            ("Tag.21.Key", "k"),
        ],
    )
    .err(400, "NumberExceed.Tags");
    // Fifty-one resources.
    call(
        "TagResources",
        &[
            ("ResourceType", "securitygroup"),
            ("ResourceId.51", &g2),
            ("Tag.1.Key", "k"),
        ],
    )
    .err(400, "NumberExceed.ResourceIds");

    let long_key = "k".repeat(129);
    let long_value = "v".repeat(129);
    for (key, value, code) in [
        ("aliyun-owner", "x", "InvalidTagKey.Malformed"),
        ("acs:rm:rgId", "x", "InvalidTagKey.Malformed"),
        ("", "x", "InvalidTagKey.Malformed"),
        (long_key.as_str(), "x", "InvalidTagKey.Malformed"),
        ("see https://example.com", "x", "InvalidTagKey.Malformed"),
        ("ok", long_value.as_str(), "InvalidTagValue.Malformed"),
        ("ok", "http://example.com", "InvalidTagValue.Malformed"),
    ] {
        tag(&c, &[&g2], &[(key, value)]).err(400, code);
    }
    tag(&c, &[&g2], &[("k", "1"), ("k", "2")]).err(400, "Duplicate.TagKey");
    call(
        "TagResources",
        &[
            ("ResourceType", "securitygroup"),
            ("ResourceId.1", &g2),
            ("Tag.1.Value", "no key"),
        ],
    )
    .err(400, "InvalidTag.Mismatch");
    call(
        "TagResources",
        &[("ResourceType", "securitygroup"), ("ResourceId.1", &g2)],
    )
    .err(404, "MissingParameter.Tags");
    call("TagResources", &[("ResourceId.1", &g2), ("Tag.1.Key", "k")])
        .err(404, "MissingParameter.ResourceType");
    call(
        "TagResources",
        &[
            ("ResourceType", "bucket"),
            ("ResourceId.1", &g2),
            ("Tag.1.Key", "k"),
        ],
    )
    .err(404, "InvalidResourceType.NotFound");
    call(
        "TagResources",
        &[("ResourceType", "securitygroup"), ("Tag.1.Key", "k")],
    )
    .err(400, "MissingParameter");
    // One missing group among two: nothing is tagged.
    tag(&c, &[&g2, "sg-doesnotexist0000000"], &[("k", "v")]).err(404, "InvalidResourceId.NotFound");
    assert!(described_tags(&c, &g2).is_empty());
    // A documented type the emulator holds nothing of.
    call(
        "TagResources",
        &[
            ("ResourceType", "instance"),
            ("ResourceId.1", "i-bp1doesnotexist"),
            ("Tag.1.Key", "k"),
        ],
    )
    .err(404, "InvalidResourceId.NotFound");

    call(
        "UntagResources",
        &[("ResourceType", "securitygroup"), ("ResourceId.1", &g)],
    )
    .err(404, "MissingParameter.Tags");
    call(
        "UntagResources",
        &[
            ("ResourceType", "securitygroup"),
            ("ResourceId.1", &g),
            ("All", "false"),
        ],
    )
    .err(404, "MissingParameter.Tags");
    call(
        "UntagResources",
        &[
            ("ResourceType", "securitygroup"),
            ("ResourceId.1", &g),
            ("TagKey.21", "k"),
        ],
    )
    .err(400, "NumberExceed.Tags");

    call("ListTagResources", &[("ResourceType", "securitygroup")]).err(400, "MissingParameter");
    call(
        "ListTagResources",
        &[("ResourceType", "securitygroup"), ("Tag.1.Value", "v")],
    )
    .err(400, "InvalidParameter.TagValue");
    call("ListTagResources", &[("ResourceId.1", &g)]).err(404, "MissingParameter.ResourceType");

    // CreateSecurityGroup takes Tag.N under the same rules.
    call(
        "CreateSecurityGroup",
        &[
            ("VpcId", "vpc-x"),
            ("Tag.1.Key", "acs:reserved"),
            ("Tag.1.Value", "x"),
        ],
    )
    .err(400, "InvalidTagKey.Malformed");
    let v = call(
        "CreateSecurityGroup",
        &[
            ("VpcId", "vpc-x"),
            ("Tag.1.Key", "team"),
            ("Tag.1.Value", "ops"),
        ],
    )
    .ok();
    let created = v["SecurityGroupId"].as_str().unwrap();
    assert_eq!(described_tags(&c, created), kv(&[("team", "ops")]));
}

#[test]
fn tags_persist_with_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let group = {
        let p = path.clone();
        let emu = start_with(move |cfg| cfg.state_file = Some(p));
        let c = Client::new(emu.addr());
        let g = create_group(&c, "persisted");
        tag(
            &c,
            &[&g],
            &[("moat:lock", "holder=ci;until=2026-01-01T00:00:00Z")],
        )
        .ok();
        g
    };
    let saved = moat_emulator::load_state_file(&path).unwrap();
    assert_eq!(saved.groups[0].tags[0].tag_key.as_str(), "moat:lock");
    let p = path.clone();
    let emu = start_with(move |cfg| cfg.state_file = Some(p));
    let c = Client::new(emu.addr());
    assert_eq!(
        described_tags(&c, &group),
        kv(&[("moat:lock", "holder=ci;until=2026-01-01T00:00:00Z")])
    );
}

#[test]
fn a_state_file_with_tags_the_api_refuses_does_not_load() {
    for (tags, field) in [
        (r#"[{"TagKey":"aliyun:x","TagValue":""}]"#, "Tags"),
        (
            r#"[{"TagKey":"a","TagValue":"1"},{"TagKey":"a","TagValue":"2"}]"#,
            "Tags",
        ),
    ] {
        let text = format!(
            r#"{{"FormatVersion":1,"Groups":[{{"RegionId":"cn-hangzhou","SecurityGroupId":"sg-bp1tags0001","VpcId":"vpc-1","Tags":{tags}}}]}}"#
        );
        let file: moat_emulator::StateFile = serde_json::from_str(&text).unwrap();
        let emu = start_emulator();
        let err = emu.emulator().replace_state(&file).unwrap_err();
        assert!(err.to_string().contains(field), "{err}");
    }
}
