//! Each action, paging, filters, rule semantics, quotas and idempotency.

use serde_json::Value;

use crate::support::{Client, create_group, rules_of, start_emulator, start_with};

fn perm<'a>(n: usize, fields: &[(&'a str, &'a str)]) -> Vec<(String, &'a str)> {
    fields
        .iter()
        .map(|(k, v)| (format!("Permissions.{n}.{k}"), *v))
        .collect()
}

fn args(list: &[(String, &str)]) -> Vec<(&'static str, String)> {
    list.iter()
        .map(|(k, v)| (&*Box::leak(k.clone().into_boxed_str()), (*v).to_owned()))
        .collect()
}

/// Calls with owned parameter names (for `Permissions.N.*`).
fn call_owned(
    client: &Client,
    action: &str,
    group: &str,
    extra: &[(String, &str)],
) -> crate::support::Resp {
    let owned = args(extra);
    let mut all: Vec<(&str, &str)> = vec![("SecurityGroupId", group)];
    all.extend(owned.iter().map(|(k, v)| (*k, v.as_str())));
    client.call(action, &all)
}

fn ssh_from(cidr: &str) -> Vec<(&str, &str)> {
    vec![
        ("IpProtocol", "tcp"),
        ("PortRange", "22/22"),
        ("SourceCidrIp", cidr),
    ]
}

#[test]
fn create_describe_authorize_revoke_round_trip() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "web-prod");
    assert!(g.starts_with("sg-") && g.len() == 23, "{g}");

    let mut p = perm(1, &ssh_from("10.0.0.0/8"));
    p.extend(perm(
        2,
        &[
            ("IpProtocol", "icmp"),
            ("PortRange", "-1/-1"),
            ("SourceCidrIp", "0.0.0.0/0"),
            ("Policy", "drop"),
            ("Priority", "5"),
        ],
    ));
    call_owned(&c, "AuthorizeSecurityGroup", &g, &p).ok();
    let rules = rules_of(&c, &g);
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["IpProtocol"], "TCP");
    assert_eq!(rules[0]["Policy"], "Accept");
    assert_eq!(rules[0]["Priority"], 1);
    assert_eq!(rules[0]["NicType"], "intranet");
    assert_eq!(rules[0]["Direction"], "ingress");
    assert_eq!(rules[1]["Policy"], "Drop");
    assert_eq!(rules[1]["Priority"], 5);
    assert!(
        rules[0]["SecurityGroupRuleId"]
            .as_str()
            .unwrap()
            .starts_with("sgr-")
    );

    // Revoke by fields (legacy top-level form), then by id.
    c.call(
        "RevokeSecurityGroup",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "TCP"),
            ("PortRange", "22/22"),
            ("SourceCidrIp", "10.0.0.0/8"),
        ],
    )
    .ok();
    let rules = rules_of(&c, &g);
    assert_eq!(rules.len(), 1);
    let id = rules[0]["SecurityGroupRuleId"].as_str().unwrap().to_owned();
    c.call(
        "RevokeSecurityGroup",
        &[("SecurityGroupId", &g), ("SecurityGroupRuleId.1", &id)],
    )
    .ok();
    assert!(rules_of(&c, &g).is_empty());

    let stats = emu.emulator().stats();
    assert_eq!(stats.ok("AuthorizeSecurityGroup"), 1);
    assert_eq!(stats.ok("RevokeSecurityGroup"), 2);
}

#[test]
fn egress_rules_use_the_destination_side() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "egress");
    c.call(
        "AuthorizeSecurityGroupEgress",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "all"),
            ("PortRange", "-1/-1"),
            ("DestCidrIp", "0.0.0.0/0"),
        ],
    )
    .ok();
    let v = c
        .call(
            "DescribeSecurityGroupAttribute",
            &[("SecurityGroupId", &g), ("Direction", "egress")],
        )
        .ok();
    let r = &v["Permissions"]["Permission"][0];
    assert_eq!(r["DestCidrIp"], "0.0.0.0/0");
    assert_eq!(r["SourceCidrIp"], "");
    assert_eq!(r["Direction"], "egress");
    let v = c
        .call(
            "DescribeSecurityGroupAttribute",
            &[("SecurityGroupId", &g), ("Direction", "ingress")],
        )
        .ok();
    assert_eq!(v["Permissions"]["Permission"].as_array().unwrap().len(), 0);
    // An egress rule is not revoked through the ingress action.
    let id = r["SecurityGroupRuleId"].as_str().unwrap();
    c.call(
        "RevokeSecurityGroup",
        &[("SecurityGroupId", &g), ("SecurityGroupRuleId.1", id)],
    )
    .err(400, "InvalidParam.SecurityGroupRuleId");
    c.call(
        "RevokeSecurityGroupEgress",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupRuleId.1", "sgr-nope"),
        ],
    )
    .err(400, "InvalidSecurityGroupRule.RuleNotExist");
    c.call(
        "RevokeSecurityGroupEgress",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "ALL"),
            ("PortRange", "-1/-1"),
            ("DestCidrIp", "0.0.0.0/0"),
        ],
    )
    .ok();
    assert!(rules_of(&c, &g).is_empty());
}

#[test]
fn authorizing_an_existing_rule_is_a_no_op_keeping_its_attributes() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "noop");
    c.call(
        "AuthorizeSecurityGroup",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "tcp"),
            ("PortRange", "22/22"),
            ("SourceCidrIp", "10.0.0.1"),
            ("Description", "first"),
        ],
    )
    .ok();
    // Same identity spelt differently, other priority and description.
    c.call(
        "AuthorizeSecurityGroup",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "TCP"),
            ("PortRange", "22/22"),
            ("SourceCidrIp", "10.0.0.1/32"),
            ("Description", "second"),
            ("Priority", "7"),
            ("Policy", "Accept"),
            ("NicType", "intranet"),
        ],
    )
    .ok();
    let rules = rules_of(&c, &g);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["Description"], "first");
    assert_eq!(rules[0]["Priority"], 1);
    assert_eq!(rules[0]["SourceCidrIp"], "10.0.0.1/32");
    // A different policy is a different rule.
    c.call(
        "AuthorizeSecurityGroup",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "tcp"),
            ("PortRange", "22/22"),
            ("SourceCidrIp", "10.0.0.1"),
            ("Policy", "drop"),
        ],
    )
    .ok();
    assert_eq!(rules_of(&c, &g).len(), 2);
}

#[test]
fn duplicates_inside_one_request_fail_and_change_nothing() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "dups");
    let mut p = perm(1, &ssh_from("10.1.2.3/8"));
    p.extend(perm(
        2,
        &[
            ("IpProtocol", "TCP"),
            ("PortRange", "22/22"),
            ("SourceCidrIp", "10.0.0.0/8"),
            ("Description", "other"),
        ],
    ));
    call_owned(&c, "AuthorizeSecurityGroup", &g, &p).err(400, "InvalidParam.DuplicatePermissions");
    assert!(rules_of(&c, &g).is_empty());
}

#[test]
fn a_batch_is_all_or_nothing() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "atomic");
    let mut p = Vec::new();
    let cidrs: Vec<String> = (0..100).map(|i| format!("10.0.{i}.0/24")).collect();
    for (i, cidr) in cidrs.iter().enumerate() {
        let port = if i == 99 { "0/22" } else { "22/22" };
        p.extend(perm(
            i + 1,
            &[
                ("IpProtocol", "tcp"),
                ("PortRange", port),
                ("SourceCidrIp", cidr.as_str()),
            ],
        ));
    }
    call_owned(&c, "AuthorizeSecurityGroup", &g, &p).err(400, "InvalidParam.PortRange");
    assert!(rules_of(&c, &g).is_empty());
    // The same 100 without the bad entry go in at once.
    let mut p = Vec::new();
    for (i, cidr) in cidrs.iter().enumerate() {
        p.extend(perm(
            i + 1,
            &[
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", cidr.as_str()),
            ],
        ));
    }
    call_owned(&c, "AuthorizeSecurityGroup", &g, &p).ok();
    let rules = rules_of(&c, &g);
    assert_eq!(rules.len(), 100);
    // Revoking 100 ids where one is unknown revokes none.
    let mut ids: Vec<(String, &str)> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                format!("SecurityGroupRuleId.{}", i + 1),
                r["SecurityGroupRuleId"].as_str().unwrap(),
            )
        })
        .collect();
    ids[50].1 = "sgr-doesnotexist000000";
    call_owned(&c, "RevokeSecurityGroup", &g, &ids).err(400, "InvalidParam.SecurityGroupRuleId");
    assert_eq!(rules_of(&c, &g).len(), 100);
    // A 101st entry is refused.
    let mut p = perm(101, &ssh_from("10.9.0.0/16"));
    p.extend(perm(1, &ssh_from("10.8.0.0/16")));
    call_owned(&c, "AuthorizeSecurityGroup", &g, &p).err(400, "InvalidParam.Permissions");
}

#[test]
fn repeated_rule_ids_and_mixed_forms_are_refused() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "mixed");
    c.call(
        "AuthorizeSecurityGroup",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "tcp"),
            ("PortRange", "80/80"),
            ("SourceCidrIp", "0.0.0.0/0"),
        ],
    )
    .ok();
    let id = rules_of(&c, &g)[0]["SecurityGroupRuleId"]
        .as_str()
        .unwrap()
        .to_owned();
    c.call(
        "RevokeSecurityGroup",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupRuleId.1", &id),
            ("SecurityGroupRuleId.2", &id),
        ],
    )
    .err(400, "InvalidParam.SecurityGroupRuleIdRepeated");
    c.call(
        "AuthorizeSecurityGroup",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "tcp"),
            ("PortRange", "81/81"),
            ("SourceCidrIp", "0.0.0.0/0"),
            ("Permissions.1.IpProtocol", "tcp"),
            ("Permissions.1.PortRange", "82/82"),
            ("Permissions.1.SourceCidrIp", "0.0.0.0/0"),
        ],
    )
    .err(400, "InvalidParam.Permissions");
    c.call(
        "RevokeSecurityGroup",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupRuleId.1", &id),
            ("Permissions.1.IpProtocol", "tcp"),
            ("Permissions.1.PortRange", "80/80"),
            ("Permissions.1.SourceCidrIp", "0.0.0.0/0"),
        ],
    )
    .err(400, "InvalidParam.Permissions");
    // Revoking by fields a rule that is not there fails.
    c.call(
        "RevokeSecurityGroup",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "tcp"),
            ("PortRange", "99/99"),
            ("SourceCidrIp", "0.0.0.0/0"),
        ],
    )
    .err(400, "InvalidParam.SecurityGroupRuleId");
    assert_eq!(rules_of(&c, &g).len(), 1);
}

#[test]
fn validation_errors_use_the_reference_codes() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "validation");
    let long = "x".repeat(513);
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("IpProtocol", "sctp"),
                ("PortRange", "1/1"),
                ("SourceCidrIp", "0.0.0.0/0"),
            ],
            400,
            "InvalidIpProtocol.ValueNotSupported",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22"),
                ("SourceCidrIp", "0.0.0.0/0"),
            ],
            400,
            "InvalidPortRange.Malformed",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "0/22"),
                ("SourceCidrIp", "0.0.0.0/0"),
            ],
            400,
            "InvalidParam.PortRange",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "30/20"),
                ("SourceCidrIp", "0.0.0.0/0"),
            ],
            400,
            "InvalidParam.PortRange",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "1/65536"),
                ("SourceCidrIp", "0.0.0.0/0"),
            ],
            400,
            "InvalidParam.PortRange",
        ),
        (
            vec![("IpProtocol", "tcp"), ("SourceCidrIp", "0.0.0.0/0")],
            400,
            "InvalidParam.PortRange",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "-1/-1"),
                ("SourceCidrIp", "0.0.0.0/0"),
            ],
            400,
            "InvalidParam.ProtocolAndPortRangeMismatch",
        ),
        (
            vec![
                ("IpProtocol", "icmp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "0.0.0.0/0"),
            ],
            400,
            "InvalidParam.ProtocolAndPortRangeMismatch",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "0.0.0.0/0"),
                ("Priority", "0"),
            ],
            400,
            "InvalidPriority.ValueNotSupported",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "0.0.0.0/0"),
                ("Priority", "101"),
            ],
            400,
            "InvalidPriority.ValueNotSupported",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "0.0.0.0/0"),
                ("Priority", "high"),
            ],
            400,
            "InvalidPriority.Malformed",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "0.0.0.0/0"),
                ("Policy", "allow"),
            ],
            400,
            "InvalidPolicy.Malformed",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "0.0.0.0/0"),
                ("NicType", "wifi"),
            ],
            400,
            "InvalidNicType.ValueNotSupported",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "10.0.0.0/33"),
            ],
            400,
            "InvalidSourceCidrIp.Malformed",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "2001:db8::/32"),
            ],
            400,
            "InvalidSourceCidrIp.Malformed",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("Ipv6SourceCidrIp", "10.0.0.0/8"),
            ],
            400,
            "InvalidParam.Ipv6SourceCidrIp",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "10.0.0.0/8"),
                ("Ipv6SourceCidrIp", "::/0"),
            ],
            400,
            "InvalidParam.SourceIp",
        ),
        (
            vec![("IpProtocol", "tcp"), ("PortRange", "22/22")],
            400,
            "MissingParameter.Source",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceCidrIp", "0.0.0.0/0"),
                ("Description", long.as_str()),
            ],
            400,
            "InvalidSecurityGroupDiscription.Malformed",
        ),
        (
            vec![
                ("IpProtocol", "icmp"),
                ("PortRange", "-1/-1"),
                ("Ipv6SourceCidrIp", "::/0"),
            ],
            400,
            "InvalidParam.Ipv4ProtocolConflictWithIpv6Address",
        ),
        (
            vec![
                ("IpProtocol", "icmpv6"),
                ("PortRange", "-1/-1"),
                ("SourceCidrIp", "0.0.0.0/0"),
            ],
            400,
            "InvalidParam.Ipv6ProtocolConflictWithIpv4Address",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceGroupId", "sg-doesnotexist"),
            ],
            404,
            "InvalidSourceGroupId.NotFound",
        ),
        (
            vec![
                ("IpProtocol", "tcp"),
                ("PortRange", "22/22"),
                ("SourceGroupId", g.as_str()),
            ],
            400,
            "InvalidSecurityGroup.IsSame",
        ),
    ];
    for (fields, status, code) in cases {
        let mut all = vec![("SecurityGroupId", g.as_str())];
        all.extend(fields.iter().copied());
        c.call("AuthorizeSecurityGroup", &all).err(status, code);
    }
    assert!(rules_of(&c, &g).is_empty());
    let missing = c.call(
        "AuthorizeSecurityGroup",
        &[
            ("SecurityGroupId", "sg-missing000000000000"),
            ("IpProtocol", "tcp"),
            ("PortRange", "22/22"),
            ("SourceCidrIp", "0.0.0.0/0"),
        ],
    );
    missing.err(404, "InvalidSecurityGroupId.NotFound");
    assert_eq!(
        missing.json()["Message"],
        "The specified SecurityGroupId does not exist."
    );
    c.call("AuthorizeSecurityGroup", &[("SecurityGroupId", &g)])
        .err(400, "MissingParameter");
    c.call(
        "DescribeSecurityGroupAttribute",
        &[("SecurityGroupId", &g), ("RegionId", "xx-nowhere-1")],
    )
    .err(404, "InvalidRegionId.NotFound");
    c.call(
        "DescribeSecurityGroupAttribute",
        &[("SecurityGroupId", &g), ("RegionId", "cn-beijing")],
    )
    .err(404, "InvalidSecurityGroupId.NotFound");
}

#[test]
fn rules_per_group_quota_counts_both_directions() {
    let emu = start_with(|cfg| cfg.rules_per_group = 5);
    let c = Client::new(emu.addr());
    let g = create_group(&c, "quota");
    let mut p = Vec::new();
    let cidrs: Vec<String> = (0..3).map(|i| format!("10.{i}.0.0/16")).collect();
    for (i, cidr) in cidrs.iter().enumerate() {
        p.extend(perm(i + 1, &ssh_from(cidr)));
    }
    call_owned(&c, "AuthorizeSecurityGroup", &g, &p).ok();
    c.call(
        "AuthorizeSecurityGroupEgress",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "all"),
            ("PortRange", "-1/-1"),
            ("DestCidrIp", "0.0.0.0/0"),
        ],
    )
    .ok();
    // 4 rules now; two more would make 6.
    let mut p = perm(1, &ssh_from("192.168.0.0/16"));
    p.extend(perm(2, &ssh_from("172.16.0.0/12")));
    call_owned(&c, "AuthorizeSecurityGroup", &g, &p).err(403, "AuthorizationLimitExceed");
    assert_eq!(rules_of(&c, &g).len(), 4);
    // Re-authorizing existing rules does not count against the quota.
    let mut p = perm(1, &ssh_from("10.0.0.0/16"));
    p.extend(perm(2, &ssh_from("192.168.0.0/16")));
    call_owned(&c, "AuthorizeSecurityGroup", &g, &p).ok();
    assert_eq!(rules_of(&c, &g).len(), 5);
}

#[test]
fn at_most_twenty_rules_reference_groups() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "refs");
    let peer = create_group(&c, "peer");
    let ports: Vec<String> = (1..=21).map(|p| format!("{p}/{p}")).collect();
    let mut p = Vec::new();
    for (i, port) in ports.iter().take(20).enumerate() {
        p.extend(perm(
            i + 1,
            &[
                ("IpProtocol", "tcp"),
                ("PortRange", port.as_str()),
                ("SourceGroupId", peer.as_str()),
            ],
        ));
    }
    call_owned(&c, "AuthorizeSecurityGroup", &g, &p).ok();
    c.call(
        "AuthorizeSecurityGroupEgress",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "tcp"),
            ("PortRange", &ports[20]),
            ("DestGroupId", &peer),
        ],
    )
    .err(400, "AuthorizedGroupRule.LimitExceed");
    let v = c
        .call("DescribeSecurityGroups", &[("SecurityGroupId", &g)])
        .ok();
    assert_eq!(
        v["SecurityGroups"]["SecurityGroup"][0]["GroupToGroupRuleCount"],
        20
    );
    assert_eq!(v["SecurityGroups"]["SecurityGroup"][0]["RuleCount"], 20);
    let rules = rules_of(&c, &g);
    assert_eq!(rules[0]["SourceGroupId"], peer.as_str());
    assert_eq!(rules[0]["SourceGroupName"], "peer");
    // A referenced group cannot be deleted.
    c.call("DeleteSecurityGroup", &[("SecurityGroupId", &peer)])
        .err(403, "DependencyViolation");
}

#[test]
fn client_token_replays_the_first_result_and_refuses_other_parameters() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let first = c
        .call(
            "CreateSecurityGroup",
            &[
                ("SecurityGroupName", "tok"),
                ("VpcId", "vpc-1"),
                ("ClientToken", "create-1"),
            ],
        )
        .ok();
    let again = c
        .call(
            "CreateSecurityGroup",
            &[
                ("SecurityGroupName", "tok"),
                ("VpcId", "vpc-1"),
                ("ClientToken", "create-1"),
            ],
        )
        .ok();
    assert_eq!(first["SecurityGroupId"], again["SecurityGroupId"]);
    assert_ne!(first["RequestId"], again["RequestId"]);
    let g = first["SecurityGroupId"].as_str().unwrap();
    let v = c.call("DescribeSecurityGroups", &[]).ok();
    assert_eq!(v["TotalCount"], 1);

    let auth = [
        ("SecurityGroupId", g),
        ("IpProtocol", "tcp"),
        ("PortRange", "22/22"),
        ("SourceCidrIp", "10.0.0.0/8"),
        ("ClientToken", "auth-1"),
    ];
    c.call("AuthorizeSecurityGroup", &auth).ok();
    let id = rules_of(&c, g)[0]["SecurityGroupRuleId"]
        .as_str()
        .unwrap()
        .to_owned();
    c.call(
        "RevokeSecurityGroup",
        &[
            ("SecurityGroupId", g),
            ("SecurityGroupRuleId.1", &id),
            ("ClientToken", "revoke-1"),
        ],
    )
    .ok();
    // A retry of the revoke succeeds without touching anything; a retry of
    // the authorize does not bring the revoked rule back.
    c.call(
        "RevokeSecurityGroup",
        &[
            ("SecurityGroupId", g),
            ("SecurityGroupRuleId.1", &id),
            ("ClientToken", "revoke-1"),
        ],
    )
    .ok();
    c.call("AuthorizeSecurityGroup", &auth).ok();
    assert!(rules_of(&c, g).is_empty());
    // The same token with other business parameters is refused.
    c.call(
        "AuthorizeSecurityGroup",
        &[
            ("SecurityGroupId", g),
            ("IpProtocol", "tcp"),
            ("PortRange", "23/23"),
            ("SourceCidrIp", "10.0.0.0/8"),
            ("ClientToken", "auth-1"),
        ],
    )
    .err(400, "IdempotentParameterMismatch");
    let too_long = "t".repeat(65);
    c.call(
        "DeleteSecurityGroup",
        &[("SecurityGroupId", g), ("ClientToken", &too_long)],
    )
    .err(400, "InvalidClientToken.Malformed");
}

#[test]
fn modify_rule_changes_attributes_in_place_within_the_reference_limits() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "modify");
    let peer = create_group(&c, "peer");
    c.call(
        "AuthorizeSecurityGroup",
        &[
            ("SecurityGroupId", &g),
            ("Permissions.1.IpProtocol", "tcp"),
            ("Permissions.1.PortRange", "22/22"),
            ("Permissions.1.SourceCidrIp", "10.0.0.0/8"),
            ("Permissions.1.Description", "old"),
            ("Permissions.2.IpProtocol", "tcp"),
            ("Permissions.2.PortRange", "22/22"),
            ("Permissions.2.SourceCidrIp", "192.168.0.0/16"),
        ],
    )
    .ok();
    let rules = rules_of(&c, &g);
    let (a, b) = (
        rules[0]["SecurityGroupRuleId"].as_str().unwrap(),
        rules[1]["SecurityGroupRuleId"].as_str().unwrap(),
    );
    c.call(
        "ModifySecurityGroupRule",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupRuleId", a),
            ("Description", "new"),
            ("Priority", "3"),
        ],
    )
    .ok();
    let after = rules_of(&c, &g);
    assert_eq!(after[0]["SecurityGroupRuleId"], a);
    assert_eq!(after[0]["Description"], "new");
    assert_eq!(after[0]["Priority"], 3);
    assert_eq!(after[0]["SourceCidrIp"], "10.0.0.0/8");
    // Same kind of peer: allowed. Another kind, or the NIC type: refused.
    c.call(
        "ModifySecurityGroupRule",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupRuleId", a),
            ("SourceCidrIp", "172.16.0.0/12"),
            ("PortRange", "2222/2222"),
        ],
    )
    .ok();
    c.call(
        "ModifySecurityGroupRule",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupRuleId", a),
            ("SourceGroupId", &peer),
        ],
    )
    .err(400, "InvalidOperation.ModifySgRuleEntityType");
    c.call(
        "ModifySecurityGroupRule",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupRuleId", a),
            ("Ipv6SourceCidrIp", "::/0"),
        ],
    )
    .err(400, "InvalidOperation.ModifySgRuleEntityType");
    c.call(
        "ModifySecurityGroupRule",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupRuleId", a),
            ("NicType", "internet"),
        ],
    )
    .err(400, "InvalidOperation.ModifyNicType");
    // Becoming the same as rule b is refused.
    c.call(
        "ModifySecurityGroupRule",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupRuleId", a),
            ("SourceCidrIp", "192.168.0.0/16"),
            ("PortRange", "22/22"),
        ],
    )
    .err(400, "InvalidOperation.RuleDuplicate");
    c.call(
        "ModifySecurityGroupRule",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupRuleId", "sgr-unknown"),
            ("Description", "x"),
        ],
    )
    .err(404, "InvalidSecurityGroupRuleId.NotFound");
    c.call(
        "ModifySecurityGroupEgressRule",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupRuleId", b),
            ("Description", "x"),
        ],
    )
    .err(404, "InvalidSecurityGroupRuleId.NotFound");
    c.call(
        "ModifySecurityGroupRule",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupRuleId", b),
            ("Priority", "500"),
        ],
    )
    .err(400, "InvalidPriority.ValueNotSupported");
    let last = rules_of(&c, &g);
    assert_eq!(last[0]["SourceCidrIp"], "172.16.0.0/12");
    assert_eq!(last[0]["PortRange"], "2222/2222");
    assert_eq!(last[1]["Priority"], 1);
}

#[test]
fn groups_can_be_renamed_and_deleted() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "before");
    c.call(
        "ModifySecurityGroupAttribute",
        &[
            ("SecurityGroupId", &g),
            ("SecurityGroupName", "after"),
            ("Description", "renamed group"),
        ],
    )
    .ok();
    let v = c
        .call("DescribeSecurityGroupAttribute", &[("SecurityGroupId", &g)])
        .ok();
    assert_eq!(
        (v["SecurityGroupName"].as_str(), v["Description"].as_str()),
        (Some("after"), Some("renamed group"))
    );
    c.call(
        "ModifySecurityGroupAttribute",
        &[("SecurityGroupId", &g), ("SecurityGroupName", "1bad")],
    )
    .err(400, "InvalidSecurityGroupName.Malformed");
    c.call("CreateSecurityGroup", &[("SecurityGroupName", "http://x")])
        .err(400, "InvalidSecurityGroupName.Malformed");
    c.call("DeleteSecurityGroup", &[("SecurityGroupId", &g)])
        .ok();
    c.call("DeleteSecurityGroup", &[("SecurityGroupId", &g)])
        .err(404, "InvalidSecurityGroupId.NotFound");
    c.call("DescribeSecurityGroupAttribute", &[("SecurityGroupId", &g)])
        .err(404, "InvalidSecurityGroupId.NotFound");
}

fn ids_of(v: &Value) -> Vec<String> {
    v["SecurityGroups"]["SecurityGroup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["SecurityGroupId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn describe_groups_filters_and_pages_both_ways() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let mut all = Vec::new();
    for i in 0..23 {
        let vpc = if i % 2 == 0 { "vpc-even" } else { "vpc-odd" };
        let v = c
            .call(
                "CreateSecurityGroup",
                &[
                    ("SecurityGroupName", &format!("g{i:02}")),
                    ("VpcId", vpc),
                    ("Tag.1.Key", "team"),
                    ("Tag.1.Value", if i < 5 { "a" } else { "b" }),
                ],
            )
            .ok();
        all.push(v["SecurityGroupId"].as_str().unwrap().to_owned());
    }
    let mut beijing = c.clone();
    beijing.region = "cn-beijing".into();
    create_group(&beijing, "elsewhere");
    all.sort();

    // Token paging.
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let mut a = vec![("MaxResults", "10")];
        if !token.is_empty() {
            a.push(("NextToken", &token));
        }
        let v = c.call("DescribeSecurityGroups", &a).ok();
        assert!(v.get("TotalCount").is_none());
        seen.extend(ids_of(&v));
        pages += 1;
        token = v["NextToken"].as_str().unwrap_or_default().to_owned();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!((seen.clone(), pages), (all.clone(), 3));

    // Legacy paging.
    let v = c
        .call(
            "DescribeSecurityGroups",
            &[("PageNumber", "3"), ("PageSize", "10")],
        )
        .ok();
    assert_eq!(
        (
            v["TotalCount"].as_i64(),
            v["PageNumber"].as_i64(),
            v["PageSize"].as_i64()
        ),
        (Some(23), Some(3), Some(10))
    );
    assert_eq!(ids_of(&v), all[20..].to_vec());
    let v = c.call("DescribeSecurityGroups", &[]).ok();
    assert_eq!(ids_of(&v).len(), 10);
    c.call("DescribeSecurityGroups", &[("PageSize", "51")])
        .err(400, "InvalidParameter");
    c.call(
        "DescribeSecurityGroups",
        &[("MaxResults", "10"), ("PageNumber", "1")],
    )
    .err(400, "NotSupported.PageNumberAndPageSize");
    c.call("DescribeSecurityGroups", &[("NextToken", "zz")])
        .err(400, "InValidParameter.NextToken");

    // Filters.
    let v = c
        .call(
            "DescribeSecurityGroups",
            &[("VpcId", "vpc-odd"), ("PageSize", "50")],
        )
        .ok();
    assert_eq!(v["TotalCount"], 11);
    let v = c
        .call("DescribeSecurityGroups", &[("SecurityGroupName", "g07")])
        .ok();
    assert_eq!(ids_of(&v).len(), 1);
    let v = c
        .call("DescribeSecurityGroups", &[("SecurityGroupId", &all[4])])
        .ok();
    assert_eq!(ids_of(&v), vec![all[4].clone()]);
    let filter = serde_json::to_string(&[&all[1], &all[2], "sg-nothere"]).unwrap();
    let v = c
        .call("DescribeSecurityGroups", &[("SecurityGroupIds", &filter)])
        .ok();
    assert_eq!(ids_of(&v), vec![all[1].clone(), all[2].clone()]);
    let v = c
        .call(
            "DescribeSecurityGroups",
            &[
                ("Tag.1.Key", "team"),
                ("Tag.1.Value", "a"),
                ("MaxResults", "100"),
            ],
        )
        .ok();
    assert_eq!(ids_of(&v).len(), 5);
    c.call(
        "DescribeSecurityGroups",
        &[("SecurityGroupIds", "sg-1,sg-2")],
    )
    .err(400, "InvalidParameter");
    let v = beijing.call("DescribeSecurityGroups", &[]).ok();
    assert_eq!(v["TotalCount"], 1);
    assert_eq!(v["RegionId"], "cn-beijing");
}

#[test]
fn describe_attribute_pages_by_next_token() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "paged");
    let mut p = Vec::new();
    let cidrs: Vec<String> = (0..25).map(|i| format!("10.{i}.0.0/16")).collect();
    for (i, cidr) in cidrs.iter().enumerate() {
        p.extend(perm(i + 1, &ssh_from(cidr)));
    }
    call_owned(&c, "AuthorizeSecurityGroup", &g, &p).ok();
    c.call(
        "AuthorizeSecurityGroupEgress",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "all"),
            ("PortRange", "-1/-1"),
            ("DestCidrIp", "0.0.0.0/0"),
        ],
    )
    .ok();
    let rules = rules_of(&c, &g);
    assert_eq!(rules.len(), 26);
    let mut ids: Vec<&str> = rules
        .iter()
        .map(|r| r["SecurityGroupRuleId"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 26);
    let v = c
        .call(
            "DescribeSecurityGroupAttribute",
            &[
                ("SecurityGroupId", &g),
                ("MaxResults", "10"),
                ("Direction", "ingress"),
            ],
        )
        .ok();
    assert_eq!(v["Permissions"]["Permission"].as_array().unwrap().len(), 10);
    assert!(!v["NextToken"].as_str().unwrap().is_empty());
    let v = c
        .call("DescribeSecurityGroupAttribute", &[("SecurityGroupId", &g)])
        .ok();
    assert!(v.get("NextToken").is_none(), "{v}");
    c.call(
        "DescribeSecurityGroupAttribute",
        &[("SecurityGroupId", &g), ("MaxResults", "9")],
    )
    .err(400, "InvalidParamter");
    c.call(
        "DescribeSecurityGroupAttribute",
        &[("SecurityGroupId", &g), ("NextToken", "garbage")],
    )
    .err(400, "InValidParameter.NextToken");
    c.call(
        "DescribeSecurityGroupAttribute",
        &[("SecurityGroupId", &g), ("Direction", "sideways")],
    )
    .err(400, "InvalidParamter");
    let v = c
        .call(
            "DescribeSecurityGroupAttribute",
            &[
                ("SecurityGroupId", &g),
                ("Attribute", "snapshotPolicyIds"),
                ("Direction", "egress"),
            ],
        )
        .ok();
    assert_eq!(
        v["SnapshotPolicyIds"],
        serde_json::json!({"SnapshotPolicyId": []})
    );
}

#[test]
fn get_and_form_body_requests_are_accepted() {
    let emu = start_emulator();
    let mut c = Client::new(emu.addr());
    c.method = "GET".into();
    let g = create_group(&c, "get");
    // POST with the parameters in a form body, spaces as '+'.
    let mut post = c.clone();
    post.method = "POST".into();
    let params = post.signed(
        "AuthorizeSecurityGroup",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "tcp"),
            ("PortRange", "22/22"),
            ("SourceCidrIp", "10.0.0.0/8"),
            ("Description", "ssh from the office + vpn"),
        ],
    );
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    assert!(body.contains("ssh+from"), "{body}");
    let r = crate::support::http(
        emu.addr(),
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
    .unwrap();
    let rid = r.header("x-acs-request-id").map(str::to_owned);
    assert_eq!(rid.as_deref(), r.ok()["RequestId"].as_str());
    assert_eq!(
        rules_of(&c, &g)[0]["Description"],
        "ssh from the office + vpn"
    );
    // Other methods and paths.
    let r = crate::support::http(emu.addr(), "PUT", "/", &[], b"").unwrap();
    assert_eq!(r.status, 405);
    let r = crate::support::http(emu.addr(), "GET", "/nothing", &[], b"").unwrap();
    assert_eq!(r.status, 404);
}
