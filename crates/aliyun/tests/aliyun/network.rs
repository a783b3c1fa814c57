//! The reads of the network around the groups, over HTTP to the emulator:
//! instances (by id and by name, paged), interfaces (by instance, by group,
//! paged), a vSwitch, its network ACL and the EIPs of an instance, the VPC
//! calls at version 2016-04-28 on the VPC endpoint.

use moat_aliyun::{Credentials, InstanceFilter, InterfaceFilter, ReadClient};
use moat_emulator::{AccessKey, EmulatorHandle};
use moat_policy::model::{Protocol, Verdict};
use serde_json::Value;

use crate::emulator::{KEY_ID, KEY_SECRET, REGION, config, emulator};

/// A call made in process (setup, not under test), signed as a client
/// would sign it.
fn call(handle: &EmulatorHandle, version: &str, action: &str, params: &[(&str, &str)]) -> Value {
    let key = AccessKey::new(KEY_ID, KEY_SECRET);
    handle
        .emulator()
        .call_signed(&key, REGION, version, action, params)
        .unwrap_or_else(|r| panic!("{action}: {}", r.body))
}

fn ecs(h: &EmulatorHandle, action: &str, p: &[(&str, &str)]) -> Value {
    call(h, "2014-05-26", action, p)
}

fn vpc(h: &EmulatorHandle, action: &str, p: &[(&str, &str)]) -> Value {
    call(h, "2016-04-28", action, p)
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

struct Demo {
    vswitch: String,
    acl: String,
    web: String,
    db: String,
    instances: Vec<String>,
}

/// A VPC with one vSwitch whose ACL drops tcp/3306, groups web and db,
/// five instances named `app` carrying web (the first also db) and an EIP
/// on the first.
fn demo(h: &EmulatorHandle) -> Demo {
    let vpc_id = text(&vpc(h, "CreateVpc", &[("CidrBlock", "10.0.0.0/16")])["VpcId"]);
    let vswitch = text(
        &vpc(
            h,
            "CreateVSwitch",
            &[
                ("VpcId", &vpc_id),
                ("ZoneId", "cn-hangzhou-h"),
                ("CidrBlock", "10.0.1.0/24"),
            ],
        )["VSwitchId"],
    );
    let group = |name: &str| {
        text(
            &ecs(
                h,
                "CreateSecurityGroup",
                &[("SecurityGroupName", name), ("VpcId", &vpc_id)],
            )["SecurityGroupId"],
        )
    };
    let (web, db) = (group("web"), group("db"));
    let mut instances = Vec::new();
    let first = ecs(
        h,
        "RunInstances",
        &[
            ("ImageId", "ubuntu_22_04_x64"),
            ("InstanceType", "ecs.g7.large"),
            ("VSwitchId", &vswitch),
            ("InstanceName", "app"),
            ("SecurityGroupIds.1", &web),
            ("SecurityGroupIds.2", &db),
        ],
    );
    instances.push(text(&first["InstanceIdSets"]["InstanceIdSet"][0]));
    let more = ecs(
        h,
        "RunInstances",
        &[
            ("ImageId", "ubuntu_22_04_x64"),
            ("InstanceType", "ecs.g7.large"),
            ("VSwitchId", &vswitch),
            ("InstanceName", "app"),
            ("SecurityGroupId", &web),
            ("Amount", "4"),
        ],
    );
    for id in more["InstanceIdSets"]["InstanceIdSet"]
        .as_array()
        .expect("ids")
    {
        instances.push(text(id));
    }
    let eip = text(&vpc(h, "AllocateEipAddress", &[])["AllocationId"]);
    vpc(
        h,
        "AssociateEipAddress",
        &[("AllocationId", &eip), ("InstanceId", &instances[0])],
    );
    let acl = text(&vpc(h, "CreateNetworkAcl", &[("VpcId", &vpc_id)])["NetworkAclId"]);
    vpc(
        h,
        "UpdateNetworkAclEntries",
        &[
            ("NetworkAclId", &acl),
            ("UpdateIngressAclEntries", "true"),
            ("IngressAclEntries.1.Policy", "drop"),
            ("IngressAclEntries.1.Protocol", "tcp"),
            ("IngressAclEntries.1.Port", "3306/3306"),
            ("IngressAclEntries.1.SourceCidrIp", "0.0.0.0/0"),
            ("IngressAclEntries.2.Policy", "accept"),
            ("IngressAclEntries.2.Protocol", "all"),
            ("IngressAclEntries.2.Port", "-1/-1"),
            ("IngressAclEntries.2.SourceCidrIp", "0.0.0.0/0"),
        ],
    );
    vpc(
        h,
        "AssociateNetworkAcl",
        &[
            ("NetworkAclId", &acl),
            ("Resource.1.ResourceId", &vswitch),
            ("Resource.1.ResourceType", "VSwitch"),
        ],
    );
    Demo {
        vswitch,
        acl,
        web,
        db,
        instances,
    }
}

fn reader(h: &EmulatorHandle) -> ReadClient {
    ReadClient::new(&config(h, Credentials::access_key(KEY_ID, KEY_SECRET))).expect("config")
}

#[tokio::test]
async fn instances_and_interfaces_are_read_page_by_page() {
    let h = emulator(|_| {});
    let d = demo(&h);
    let r = reader(&h);
    h.emulator().reset_stats();

    let by_id = r
        .describe_instances(&InstanceFilter {
            ids: vec![d.instances[0].clone()],
            ..InstanceFilter::default()
        })
        .await
        .expect("by id");
    let first = &by_id.value[0];
    assert_eq!(first.security_group_ids, vec![d.web.clone(), d.db.clone()]);
    assert!(first.is_running());
    assert_eq!(first.vswitch_id, d.vswitch);
    assert!(first.eip.is_some(), "{first:?}");
    assert!(first.primary_interface().is_some());

    let named = r
        .describe_instances(&InstanceFilter {
            name: Some("app".into()),
            ..InstanceFilter::default()
        })
        .await
        .expect("by name");
    assert_eq!(named.value.len(), 5);

    let of_web = r
        .describe_network_interfaces(&InterfaceFilter {
            security_group_id: Some(d.web.clone()),
            ..InterfaceFilter::default()
        })
        .await
        .expect("by group");
    assert_eq!(of_web.value.len(), 5);
    let of_db = r
        .describe_network_interfaces(&InterfaceFilter {
            security_group_id: Some(d.db.clone()),
            ..InterfaceFilter::default()
        })
        .await
        .expect("by group");
    assert_eq!(of_db.value.len(), 1);
    assert_eq!(of_db.value[0].instance_id, d.instances[0]);
    assert_eq!(
        of_db.value[0].security_group_ids,
        vec![d.web.clone(), d.db.clone()]
    );
    assert!(
        of_db.value[0].private_addresses[0]
            .to_string()
            .starts_with("10.0.1.")
    );

    let stats = h.emulator().stats();
    assert_eq!(stats.ok("DescribeInstances"), 2, "{stats:?}");
    assert_eq!(stats.ok("DescribeNetworkInterfaces"), 2, "{stats:?}");
}

#[tokio::test]
async fn vpc_reads_go_to_the_vpc_endpoint_with_the_vpc_version() {
    let h = emulator(|_| {});
    let d = demo(&h);
    // Nothing answers on the ECS endpoint: only VPC calls can succeed.
    let mut c = config(&h, Credentials::access_key(KEY_ID, KEY_SECRET));
    c.vpc_endpoint = Some(h.endpoint());
    c.endpoint = Some("http://127.0.0.1:9".into());
    c.retry.max_attempts = 1;
    let r = ReadClient::new(&c).expect("config");

    let vsw = r.describe_vswitch(&d.vswitch).await.expect("vswitch");
    let vsw = vsw.value.expect("exists");
    assert_eq!(vsw.network_acl_id.as_deref(), Some(d.acl.as_str()));
    assert_eq!(vsw.blocks[0].to_string(), "10.0.1.0/24");
    assert!(
        r.describe_vswitch("vsw-nothere")
            .await
            .expect("read")
            .value
            .is_none()
    );

    let acl = r.describe_network_acl(&d.acl).await.expect("acl").value;
    assert_eq!(acl.ingress.len(), 2);
    assert_eq!(
        (acl.ingress[0].verdict, acl.ingress[0].protocol),
        (Verdict::Drop, Protocol::Tcp)
    );
    assert!(acl.egress.is_empty());

    let eips = r
        .describe_eips_of(&d.instances[0])
        .await
        .expect("eips")
        .value;
    assert_eq!(eips.len(), 1);
    assert!(
        r.describe_eips_of(&d.instances[1])
            .await
            .expect("eips")
            .value
            .is_empty()
    );

    // The ECS endpoint is the one that is down.
    let err = r
        .describe_instances(&InstanceFilter::default())
        .await
        .expect_err("nothing listens");
    assert_eq!(err.action.as_str(), "DescribeInstances");
    let stats = h.emulator().stats();
    assert_eq!(stats.ok("DescribeNetworkAclAttributes"), 1, "{stats:?}");
}

#[tokio::test]
async fn more_than_a_page_of_interfaces_is_read_to_the_end() {
    let h = emulator(|_| {});
    let d = demo(&h);
    // 5 + 96: one more interface than a page holds.
    ecs(
        &h,
        "RunInstances",
        &[
            ("ImageId", "ubuntu_22_04_x64"),
            ("InstanceType", "ecs.g7.large"),
            ("VSwitchId", &d.vswitch),
            ("SecurityGroupId", &d.web),
            ("Amount", "96"),
        ],
    );
    h.emulator().reset_stats();
    let r = reader(&h);
    let all = r
        .describe_network_interfaces(&InterfaceFilter {
            security_group_id: Some(d.web.clone()),
            ..InterfaceFilter::default()
        })
        .await
        .expect("every page");
    assert_eq!(all.value.len(), 101);
    assert_eq!(all.calls.len(), 2);
    let ids: std::collections::HashSet<&str> = all.value.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids.len(), 101, "no interface twice");
    let instances = r
        .describe_instances(&InstanceFilter::default())
        .await
        .expect("every page");
    assert_eq!(instances.value.len(), 101);
    assert_eq!(instances.calls.len(), 2);
    assert_eq!(h.emulator().stats().ok("DescribeNetworkInterfaces"), 2);
}
