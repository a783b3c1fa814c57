//! The legacy, field-matched form of ModifySecurityGroupRule and
//! ModifySecurityGroupEgressRule (no SecurityGroupRuleId), as Terraform's
//! alicloud provider and `@alicloud/pop-core` send it.

use crate::support::{Client, create_group, rules_of, start_emulator};

fn authorize(c: &Client, action: &str, group: &str, fields: &[(&str, &str)]) {
    let mut args = vec![("SecurityGroupId", group)];
    args.extend_from_slice(fields);
    c.call(action, &args).ok();
}

#[test]
fn fields_name_one_rule_whose_description_changes_and_nothing_else() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "legacy-modify");
    authorize(
        &c,
        "AuthorizeSecurityGroup",
        &g,
        &[
            ("IpProtocol", "tcp"),
            ("PortRange", "443/443"),
            ("SourceCidrIp", "0.0.0.0/0"),
            ("Priority", "5"),
            ("Description", "https"),
        ],
    );
    authorize(
        &c,
        "AuthorizeSecurityGroup",
        &g,
        &[
            ("IpProtocol", "tcp"),
            ("PortRange", "22/22"),
            ("SourceCidrIp", "10.0.0.0/8"),
        ],
    );
    let before = rules_of(&c, &g);

    // Terraform's shape: every field of the rule, with the new description,
    // sent twice.
    let terraform = [
        ("SecurityGroupId", g.as_str()),
        ("IpProtocol", "tcp"),
        ("PortRange", "443/443"),
        ("NicType", "intranet"),
        ("Policy", "accept"),
        ("Priority", "5"),
        ("SourceCidrIp", "0.0.0.0/0"),
        ("Description", "https from anywhere"),
    ];
    c.call("ModifySecurityGroupRule", &terraform).ok();
    c.call("ModifySecurityGroupRule", &terraform).ok();
    let after = rules_of(&c, &g);
    assert_eq!(after.len(), 2);
    assert_eq!(after[0]["Description"], "https from anywhere");
    assert_eq!(
        after[0]["SecurityGroupRuleId"],
        before[0]["SecurityGroupRuleId"]
    );
    assert_eq!(after[0]["Priority"], 5);
    assert_eq!(after[1], before[1], "the other rule is untouched");

    // pop-core's shape: only the identifying fields and the description.
    c.call(
        "ModifySecurityGroupRule",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "TCP"),
            ("PortRange", "22/22"),
            ("SourceCidrIp", "10.0.0.0/8"),
            ("Description", "ssh from the office"),
        ],
    )
    .ok();
    assert_eq!(rules_of(&c, &g)[1]["Description"], "ssh from the office");

    // The egress action matches egress rules only.
    authorize(
        &c,
        "AuthorizeSecurityGroupEgress",
        &g,
        &[
            ("IpProtocol", "all"),
            ("PortRange", "-1/-1"),
            ("DestCidrIp", "0.0.0.0/0"),
        ],
    );
    c.call(
        "ModifySecurityGroupEgressRule",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "all"),
            ("PortRange", "-1/-1"),
            ("DestCidrIp", "0.0.0.0/0"),
            ("Description", "all out"),
        ],
    )
    .ok();
    assert_eq!(rules_of(&c, &g)[2]["Description"], "all out");
    c.call(
        "ModifySecurityGroupRule",
        &[
            ("SecurityGroupId", &g),
            ("IpProtocol", "all"),
            ("PortRange", "-1/-1"),
            ("SourceCidrIp", "0.0.0.0/0"),
            ("Description", "no such ingress rule"),
        ],
    )
    .err(404, "SecurityGroupRule.NotFound");
}

#[test]
fn no_match_several_matches_and_bad_fields_are_refused() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "legacy-refusals");
    for policy in ["accept", "drop"] {
        authorize(
            &c,
            "AuthorizeSecurityGroup",
            &g,
            &[
                ("IpProtocol", "tcp"),
                ("PortRange", "3306/3306"),
                ("SourceCidrIp", "192.0.2.0/24"),
                ("Policy", policy),
            ],
        );
    }
    let base = [
        ("SecurityGroupId", g.as_str()),
        ("IpProtocol", "tcp"),
        ("PortRange", "3306/3306"),
        ("SourceCidrIp", "192.0.2.0/24"),
        ("Description", "db"),
    ];
    // Without Policy the fields name both rules.
    c.call("ModifySecurityGroupRule", &base)
        .err(400, "InvalidParam.InvalidModifyRuleRequest");
    // With it, one.
    let mut with_policy = base.to_vec();
    with_policy.push(("Policy", "drop"));
    c.call("ModifySecurityGroupRule", &with_policy).ok();
    let rules = rules_of(&c, &g);
    assert_eq!(
        (
            rules[0]["Description"].as_str(),
            rules[1]["Description"].as_str()
        ),
        (Some(""), Some("db"))
    );
    // A priority that differs from the rule's matches nothing.
    let mut wrong_priority = with_policy.clone();
    wrong_priority.push(("Priority", "7"));
    c.call("ModifySecurityGroupRule", &wrong_priority)
        .err(404, "SecurityGroupRule.NotFound");
    let mut other_peer = base.to_vec();
    other_peer[3] = ("SourceCidrIp", "198.51.100.0/24");
    c.call("ModifySecurityGroupRule", &other_peer)
        .err(404, "SecurityGroupRule.NotFound");
    // The fields are checked as Authorize checks them.
    let mut bad = base.to_vec();
    bad[2] = ("PortRange", "0/99999");
    c.call("ModifySecurityGroupRule", &bad)
        .err(400, "InvalidParam.PortRange");
    let long = "d".repeat(513);
    let mut too_long = with_policy.clone();
    too_long[4] = ("Description", &long);
    c.call("ModifySecurityGroupRule", &too_long)
        .err(400, "InvalidSecurityGroupDiscription.Malformed");
    // Neither a rule id nor fields.
    c.call("ModifySecurityGroupRule", &[("SecurityGroupId", &g)])
        .err(400, "MissingParameter");
    c.call(
        "ModifySecurityGroupRule",
        &[("SecurityGroupId", &g), ("SecurityGroupRuleId", "sgr-none")],
    )
    .err(404, "InvalidSecurityGroupRuleId.NotFound");
}
