//! The network around the groups over HTTP: ECS instances and interfaces
//! (RunInstances, DescribeInstances, Start/Stop, Join/LeaveSecurityGroup,
//! DescribeNetworkInterfaces) and the VPC product (VPCs, vSwitches, EIPs,
//! network ACLs), with their documented constraints and persistence.

use serde_json::Value;

use crate::support::{Client, start_emulator, start_with};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// A VPC 10.0.0.0/16 with vSwitch 10.0.1.0/24: (vpc, vswitch).
fn vpc_and_vswitch(c: &Client) -> (String, String) {
    let vpc = s(&c
        .vpc(
            "CreateVpc",
            &[("CidrBlock", "10.0.0.0/16"), ("VpcName", "demo")],
        )
        .ok()["VpcId"]);
    let vsw = c
        .vpc(
            "CreateVSwitch",
            &[
                ("VpcId", &vpc),
                ("ZoneId", "cn-hangzhou-h"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        )
        .ok();
    (vpc, s(&vsw["VSwitchId"]))
}

fn group_in(c: &Client, vpc: &str, name: &str, kind: &str) -> String {
    s(&c.call(
        "CreateSecurityGroup",
        &[
            ("SecurityGroupName", name),
            ("VpcId", vpc),
            ("SecurityGroupType", kind),
        ],
    )
    .ok()["SecurityGroupId"])
}

fn run(c: &Client, vsw: &str, groups: &[&str], extra: &[(&str, &str)]) -> crate::support::Resp {
    let keys: Vec<String> = (1..=groups.len())
        .map(|i| format!("SecurityGroupIds.{i}"))
        .collect();
    let mut p: Vec<(&str, &str)> = vec![
        ("ImageId", "ubuntu_22_04_x64"),
        ("InstanceType", "ecs.g7.large"),
        ("VSwitchId", vsw),
    ];
    p.extend(keys.iter().map(String::as_str).zip(groups.iter().copied()));
    p.extend_from_slice(extra);
    c.call("RunInstances", &p)
}

fn ids_of(v: &Value) -> Vec<String> {
    v["InstanceIdSets"]["InstanceIdSet"]
        .as_array()
        .unwrap_or_else(|| panic!("no ids in {v}"))
        .iter()
        .map(s)
        .collect()
}

fn instances(v: &Value) -> &Vec<Value> {
    v["Instances"]["Instance"]
        .as_array()
        .unwrap_or_else(|| panic!("no instances in {v}"))
}

#[test]
fn vpcs_and_vswitches_check_their_blocks() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let (vpc, vsw) = vpc_and_vswitch(&c);
    let overlap = [
        ("VpcId", vpc.as_str()),
        ("ZoneId", "cn-hangzhou-h"),
        ("CidrBlock", "10.0.1.128/25"),
    ];
    c.vpc("CreateVSwitch", &overlap)
        .err(400, "InvalidCidrBlock.Overlapped");
    let outside = [
        ("VpcId", vpc.as_str()),
        ("ZoneId", "cn-hangzhou-h"),
        ("CidrBlock", "192.168.0.0/24"),
    ];
    c.vpc("CreateVSwitch", &outside)
        .err(400, "InvalidCidrBlock.Mismatch");
    let unknown = [
        ("VpcId", "vpc-nope"),
        ("ZoneId", "cn-hangzhou-h"),
        ("CidrBlock", "10.0.2.0/24"),
    ];
    c.vpc("CreateVSwitch", &unknown)
        .err(404, "InvalidVpcId.NotFound");
    c.vpc("CreateVpc", &[("CidrBlock", "10.0.0.1/16")])
        .err(400, "InvalidCidrBlock.Malformed");

    let vpcs = c.vpc("DescribeVpcs", &[("VpcId", &vpc)]).ok();
    assert_eq!(vpcs["TotalCount"], 1);
    assert_eq!(vpcs["Vpcs"]["Vpc"][0]["CidrBlock"], "10.0.0.0/16");
    assert_eq!(
        vpcs["Vpcs"]["Vpc"][0]["VSwitchIds"]["VSwitchId"][0],
        vsw.as_str()
    );
    let switches = c.vpc("DescribeVSwitches", &[("VpcId", &vpc)]).ok();
    let first = &switches["VSwitches"]["VSwitch"][0];
    assert_eq!(first["VSwitchId"], vsw.as_str());
    assert_eq!(first["ZoneId"], "cn-hangzhou-h");
    assert_eq!(first["AvailableIpAddressCount"], 252);
    // ECS does not answer VPC actions, and the reverse.
    c.call("DescribeVpcs", &[]).err(403, "InvalidAction");
    c.vpc("DescribeInstances", &[]).err(403, "InvalidAction");
}

#[test]
fn instances_run_on_an_interface_carrying_their_groups() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let (vpc, vsw) = vpc_and_vswitch(&c);
    let web = group_in(&c, &vpc, "web", "normal");
    let ssh = group_in(&c, &vpc, "ssh", "normal");
    let ent = group_in(&c, &vpc, "ent", "enterprise");

    let two = ids_of(
        &run(
            &c,
            &vsw,
            &[&web, &ssh],
            &[("Amount", "2"), ("InstanceName", "app")],
        )
        .ok(),
    );
    assert_eq!(two.len(), 2);
    let public = ids_of(&run(&c, &vsw, &[&web], &[("InternetMaxBandwidthOut", "5")]).ok());

    // Documented constraints.
    run(&c, &vsw, &[&web, &ent], &[]).err(403, "InvalidSecurityGroup.TypeMismatch");
    run(&c, "vsw-nope", &[&web], &[]).err(404, "InvalidVSwitchId.NotFound");
    run(&c, &vsw, &["sg-nope"], &[]).err(404, "InvalidSecurityGroupId.NotFound");
    let other_vpc = s(&c.vpc("CreateVpc", &[("CidrBlock", "172.16.0.0/16")]).ok()["VpcId"]);
    let foreign = group_in(&c, &other_vpc, "foreign", "normal");
    run(&c, &vsw, &[&foreign], &[]).err(400, "InvalidInstanceId.Mismatch");
    let six: Vec<String> = (0..6)
        .map(|i| group_in(&c, &vpc, &format!("g{i}"), "normal"))
        .collect();
    let six: Vec<&str> = six.iter().map(String::as_str).collect();
    run(&c, &vsw, &six, &[]).err(400, "InstanceSecurityGroupLimitExceeded");
    c.call(
        "RunInstances",
        &[
            ("InstanceType", "ecs.g7.large"),
            ("VSwitchId", &vsw),
            ("SecurityGroupId", &web),
        ],
    )
    .err(400, "MissingParameter");

    let ids_json = serde_json::to_string(&two).unwrap();
    let v = c
        .call("DescribeInstances", &[("InstanceIds", &ids_json)])
        .ok();
    let listed = instances(&v);
    assert_eq!(listed.len(), 2);
    let i = &listed[0];
    assert_eq!(i["Status"], "Running");
    assert_eq!(i["InstanceName"], "app");
    assert_eq!(
        i["SecurityGroupIds"]["SecurityGroupId"],
        serde_json::json!([web, ssh])
    );
    assert_eq!(i["VpcAttributes"]["VpcId"], vpc.as_str());
    assert_eq!(
        i["VpcAttributes"]["PrivateIpAddress"]["IpAddress"][0],
        "10.0.1.3"
    );
    assert_eq!(i["PublicIpAddress"]["IpAddress"], serde_json::json!([]));
    assert_eq!(
        i["NetworkInterfaces"]["NetworkInterface"][0]["Type"],
        "Primary"
    );
    let v = c
        .call(
            "DescribeInstances",
            &[("InstanceIds", &format!("[\"{}\"]", public[0]))],
        )
        .ok();
    let ip = s(&instances(&v)[0]["PublicIpAddress"]["IpAddress"][0]);
    assert!(!ip.is_empty());

    // Filters and both paging styles.
    let v = c
        .call("DescribeInstances", &[("SecurityGroupId", &ssh)])
        .ok();
    assert_eq!(v["TotalCount"], 2);
    let v = c
        .call(
            "DescribeInstances",
            &[("VpcId", &vpc), ("PageSize", "2"), ("PageNumber", "2")],
        )
        .ok();
    assert_eq!(
        (v["TotalCount"].clone(), v["PageNumber"].clone()),
        (3.into(), 2.into())
    );
    assert_eq!(instances(&v).len(), 1);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let mut p = vec![("MaxResults", "1")];
        if !token.is_empty() {
            p.push(("NextToken", &token));
        }
        let v = c.call("DescribeInstances", &p).ok();
        seen.extend(instances(&v).iter().map(|i| s(&i["InstanceId"])));
        token = s(&v["NextToken"]);
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 3);
    c.call(
        "DescribeInstances",
        &[("MaxResults", "1"), ("NextToken", "x")],
    )
    .err(400, "InValidParameter.NextToken");
}

#[test]
fn instances_stop_and_start_and_change_groups() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let (vpc, vsw) = vpc_and_vswitch(&c);
    let web = group_in(&c, &vpc, "web", "normal");
    let db = group_in(&c, &vpc, "db", "normal");
    let ent = group_in(&c, &vpc, "ent", "enterprise");
    let ids = ids_of(&run(&c, &vsw, &[&web], &[("Amount", "2")]).ok());
    let (a, b) = (ids[0].as_str(), ids[1].as_str());

    c.call("StopInstance", &[("InstanceId", a)]).ok();
    c.call("StopInstance", &[("InstanceId", a)])
        .err(403, "IncorrectInstanceStatus");
    c.call("StartInstance", &[("InstanceId", "i-nope")])
        .err(404, "InvalidInstanceId.NotFound");
    let v = c.call("DescribeInstances", &[("Status", "Stopped")]).ok();
    assert_eq!(instances(&v).len(), 1);
    c.call("StopInstances", &[("InstanceId.1", b)]).ok();
    let v = c
        .call(
            "StartInstances",
            &[("InstanceId.1", a), ("InstanceId.2", b)],
        )
        .ok();
    let answers = &v["InstanceResponses"]["InstanceResponse"];
    assert_eq!(answers[0]["PreviousStatus"], "Stopped");
    assert_eq!(answers[1]["CurrentStatus"], "Running");

    c.call(
        "JoinSecurityGroup",
        &[("InstanceId", a), ("SecurityGroupId", &db)],
    )
    .ok();
    c.call(
        "JoinSecurityGroup",
        &[("InstanceId", a), ("SecurityGroupId", &db)],
    )
    .err(403, "InvalidInstanceId.AlreadyExists");
    c.call(
        "JoinSecurityGroup",
        &[("InstanceId", a), ("SecurityGroupId", &ent)],
    )
    .err(403, "InvalidSecurityGroup.TypeMismatch");
    c.call(
        "JoinSecurityGroup",
        &[("InstanceId", a), ("SecurityGroupId", "sg-nope")],
    )
    .err(404, "InvalidSecurityGroupId.NotFound");
    let v = c
        .call("DescribeInstances", &[("SecurityGroupId", &db)])
        .ok();
    assert_eq!(s(&instances(&v)[0]["InstanceId"]), a);

    // The interface of `a` carries both groups; DescribeNetworkInterfaces
    // finds it by either, and by instance.
    let v = c
        .call("DescribeNetworkInterfaces", &[("SecurityGroupId", &db)])
        .ok();
    assert_eq!(v["TotalCount"], 1);
    let eni = &v["NetworkInterfaceSets"]["NetworkInterfaceSet"][0];
    assert_eq!(eni["InstanceId"], a);
    assert_eq!(eni["Type"], "Primary");
    assert_eq!(
        eni["SecurityGroupIds"]["SecurityGroupId"],
        serde_json::json!([web, db])
    );
    let eni_id = s(&eni["NetworkInterfaceId"]);
    let v = c
        .call(
            "DescribeNetworkInterfaces",
            &[("SecurityGroupId", &web), ("PageSize", "1")],
        )
        .ok();
    assert_eq!(
        (v["TotalCount"].clone(), v["PageSize"].clone()),
        (2.into(), 1.into())
    );

    c.call(
        "LeaveSecurityGroup",
        &[("NetworkInterfaceId", &eni_id), ("SecurityGroupId", &web)],
    )
    .ok();
    c.call(
        "LeaveSecurityGroup",
        &[("InstanceId", a), ("SecurityGroupId", &db)],
    )
    .err(403, "InvalidOperation.InstanceLastSecurityGroup");
    c.call(
        "LeaveSecurityGroup",
        &[("InstanceId", a), ("SecurityGroupId", &web)],
    )
    .err(403, "InvalidSecurityGroupId.NotJoined");
    c.call(
        "JoinSecurityGroup",
        &[
            ("InstanceId", a),
            ("NetworkInterfaceId", &eni_id),
            ("SecurityGroupId", &web),
        ],
    )
    .err(400, "InvalidParameter.Conflict");
}

#[test]
fn an_interface_holds_at_most_1000_rules_across_its_groups() {
    let emu = start_with(|c| c.rules_per_group = 1000);
    let c = Client::new(emu.addr());
    let (vpc, vsw) = vpc_and_vswitch(&c);
    let mut groups = Vec::new();
    for (name, n) in [("big", 600), ("bigger", 401)] {
        let g = group_in(&c, &vpc, name, "normal");
        for batch in 0..(n + 99) / 100 {
            let mut p: Vec<(String, String)> = vec![("SecurityGroupId".into(), g.clone())];
            for i in 0..100.min(n - batch * 100) {
                let port = 1 + batch * 100 + i;
                let k = i + 1;
                p.push((format!("Permissions.{k}.IpProtocol"), "tcp".into()));
                p.push((
                    format!("Permissions.{k}.PortRange"),
                    format!("{port}/{port}"),
                ));
                p.push((format!("Permissions.{k}.SourceCidrIp"), "10.0.0.0/8".into()));
            }
            let p: Vec<(&str, &str)> = p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            c.call("AuthorizeSecurityGroup", &p).ok();
        }
        groups.push(g);
    }
    run(&c, &vsw, &[&groups[0], &groups[1]], &[])
        .err(403, "InvalidOperation.SecurityGroupRuleLimitExceeded");
    let ids = ids_of(&run(&c, &vsw, &[&groups[0]], &[]).ok());
    c.call(
        "JoinSecurityGroup",
        &[("InstanceId", &ids[0]), ("SecurityGroupId", &groups[1])],
    )
    .err(403, "InvalidOperation.SecurityGroupRuleLimitExceeded");
}

#[test]
fn eips_bind_to_instances_without_a_public_address() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let (vpc, vsw) = vpc_and_vswitch(&c);
    let web = group_in(&c, &vpc, "web", "normal");
    let private = ids_of(&run(&c, &vsw, &[&web], &[]).ok())[0].clone();
    let public =
        ids_of(&run(&c, &vsw, &[&web], &[("InternetMaxBandwidthOut", "1")]).ok())[0].clone();
    let eip = c.vpc("AllocateEipAddress", &[("Bandwidth", "10")]).ok();
    let (id, ip) = (s(&eip["AllocationId"]), s(&eip["EipAddress"]));
    c.vpc("AllocateEipAddress", &[("Bandwidth", "0")])
        .err(400, "InvalidBandwidth.Malformed");

    c.vpc(
        "AssociateEipAddress",
        &[("AllocationId", &id), ("InstanceId", &public)],
    )
    .err(403, "InvalidInstance.HasPublicIp");
    c.vpc(
        "AssociateEipAddress",
        &[("AllocationId", &id), ("InstanceId", &private)],
    )
    .ok();
    c.vpc(
        "AssociateEipAddress",
        &[("AllocationId", &id), ("InstanceId", &private)],
    )
    .err(400, "IncorrectEipStatus");
    let second = s(&c.vpc("AllocateEipAddress", &[]).ok()["AllocationId"]);
    c.vpc(
        "AssociateEipAddress",
        &[("AllocationId", &second), ("InstanceId", &private)],
    )
    .err(403, "InvalidAssociation.Duplicated");
    c.vpc(
        "AssociateEipAddress",
        &[("AllocationId", "eip-nope"), ("InstanceId", &public)],
    )
    .err(404, "InvalidAllocationId.NotFound");

    let v = c
        .call(
            "DescribeInstances",
            &[("InstanceIds", &format!("[\"{private}\"]"))],
        )
        .ok();
    let i = &instances(&v)[0];
    assert_eq!(i["EipAddress"]["IpAddress"], ip.as_str());
    assert_eq!(i["EipAddress"]["AllocationId"], id.as_str());
    assert_eq!(i["EipAddress"]["Bandwidth"], 10);
    let v = c
        .call("DescribeNetworkInterfaces", &[("InstanceId", &private)])
        .ok();
    let eni = &v["NetworkInterfaceSets"]["NetworkInterfaceSet"][0];
    assert_eq!(eni["AssociatedPublicIp"]["PublicIpAddress"], ip.as_str());

    let v = c
        .vpc(
            "DescribeEipAddresses",
            &[("AssociatedInstanceId", &private)],
        )
        .ok();
    assert_eq!(v["EipAddresses"]["EipAddress"][0]["Status"], "InUse");
    assert_eq!(
        v["EipAddresses"]["EipAddress"][0]["InstanceType"],
        "EcsInstance"
    );
    c.vpc(
        "UnassociateEipAddress",
        &[("AllocationId", &id), ("InstanceId", &public)],
    )
    .err(400, "IncorrectEipStatus");
    c.vpc(
        "UnassociateEipAddress",
        &[("AllocationId", &id), ("InstanceId", &private)],
    )
    .ok();
    let v = c
        .vpc("DescribeEipAddresses", &[("Status", "Available")])
        .ok();
    assert_eq!(v["TotalCount"], 2);
}

#[test]
fn network_acls_keep_entries_in_order_per_direction() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let (vpc, vsw) = vpc_and_vswitch(&c);
    let acl = c
        .vpc(
            "CreateNetworkAcl",
            &[("VpcId", &vpc), ("NetworkAclName", "edge")],
        )
        .ok();
    let acl_id = s(&acl["NetworkAclId"]);
    assert_eq!(
        acl["NetworkAclAttribute"]["IngressAclEntries"]["IngressAclEntry"],
        serde_json::json!([])
    );
    c.vpc("CreateNetworkAcl", &[("VpcId", "vpc-nope")])
        .err(404, "InvalidVpcId.NotFound");

    let update = [
        ("NetworkAclId", acl_id.as_str()),
        ("UpdateIngressAclEntries", "true"),
        ("IngressAclEntries.1.Policy", "drop"),
        ("IngressAclEntries.1.Protocol", "tcp"),
        ("IngressAclEntries.1.Port", "22/22"),
        ("IngressAclEntries.1.SourceCidrIp", "0.0.0.0/0"),
        ("IngressAclEntries.1.NetworkAclEntryName", "no-ssh"),
        ("IngressAclEntries.2.Policy", "accept"),
        ("IngressAclEntries.2.Protocol", "all"),
        ("IngressAclEntries.2.Port", "-1/-1"),
        ("IngressAclEntries.2.SourceCidrIp", "0.0.0.0/0"),
        ("UpdateEgressAclEntries", "true"),
        ("EgressAclEntries.1.Policy", "accept"),
        ("EgressAclEntries.1.Protocol", "tcp"),
        ("EgressAclEntries.1.Port", "1024/65535"),
        ("EgressAclEntries.1.DestinationCidrIp", "0.0.0.0/0"),
    ];
    c.vpc("UpdateNetworkAclEntries", &update).ok();
    let mut bad = update.to_vec();
    bad[4] = ("IngressAclEntries.1.Port", "-1/-1");
    c.vpc("UpdateNetworkAclEntries", &bad)
        .err(400, "InvalidPort.Malformed");
    c.vpc(
        "AssociateNetworkAcl",
        &[
            ("NetworkAclId", &acl_id),
            ("Resource.1.ResourceId", &vsw),
            ("Resource.1.ResourceType", "VSwitch"),
        ],
    )
    .ok();

    let v = c
        .vpc("DescribeNetworkAclAttributes", &[("NetworkAclId", &acl_id)])
        .ok();
    let a = &v["NetworkAclAttribute"];
    let ingress = a["IngressAclEntries"]["IngressAclEntry"]
        .as_array()
        .unwrap();
    assert_eq!(ingress.len(), 2);
    assert_eq!(ingress[0]["NetworkAclEntryName"], "no-ssh");
    assert_eq!(ingress[0]["Policy"], "drop");
    assert_eq!(ingress[0]["SourceCidrIp"], "0.0.0.0/0");
    assert_eq!(ingress[1]["Protocol"], "all");
    assert!(s(&ingress[0]["NetworkAclEntryId"]).starts_with("nae-"));
    let egress = &a["EgressAclEntries"]["EgressAclEntry"][0];
    assert_eq!(egress["DestinationCidrIp"], "0.0.0.0/0");
    assert_eq!(egress["Port"], "1024/65535");
    assert_eq!(egress["IpVersion"], "IPv4");
    assert_eq!(a["Resources"]["Resource"][0]["ResourceId"], vsw.as_str());
    let v = c.vpc("DescribeVSwitches", &[("VSwitchId", &vsw)]).ok();
    assert_eq!(
        v["VSwitches"]["VSwitch"][0]["NetworkAclId"],
        acl_id.as_str()
    );

    // One ACL per vSwitch.
    let other = s(&c.vpc("CreateNetworkAcl", &[("VpcId", &vpc)]).ok()["NetworkAclId"]);
    c.vpc(
        "AssociateNetworkAcl",
        &[("NetworkAclId", &other), ("Resource.1.ResourceId", &vsw)],
    )
    .err(400, "InvalidVSwitchId.AlreadyAssociated");
    c.vpc(
        "DescribeNetworkAclAttributes",
        &[("NetworkAclId", "nacl-nope")],
    )
    .err(404, "InvalidNetworkAclId.NotFound");

    // The network survives a snapshot and a restore.
    let snapshot = emu.emulator().snapshot();
    assert_eq!(snapshot.network.network_acls.len(), 2);
    emu.emulator().replace_state(&snapshot).unwrap();
    let v = c
        .vpc("DescribeNetworkAclAttributes", &[("NetworkAclId", &acl_id)])
        .ok();
    assert_eq!(
        v["NetworkAclAttribute"]["IngressAclEntries"]["IngressAclEntry"][0]["Policy"],
        "drop"
    );
    let text = serde_json::to_string(&snapshot).unwrap();
    assert!(text.contains("\"Network\""), "{text}");
}
