"""Drives a running moat emulator's instance, interface and VPC actions with
Alibaba Cloud's official Python core SDK.

Usage: network_interop.py HOST PORT ACCESS_KEY_ID ACCESS_KEY_SECRET REGION

ECS calls use the SDK's own request classes (aliyun-python-sdk-ecs); VPC
calls use the core SDK's CommonRequest with version 2016-04-28, as a client
without the VPC package would. Prints one JSON document with the outcome of
every step; the Rust test that starts the emulator asserts on it.
"""

import json
import sys
import traceback

HOST, PORT, AK, SECRET, REGION = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


def scenario():
    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.request import CommonRequest
    from aliyunsdkecs.request.v20140526 import (
        CreateSecurityGroupRequest,
        DescribeInstancesRequest,
        DescribeNetworkInterfacesRequest,
        JoinSecurityGroupRequest,
        LeaveSecurityGroupRequest,
        RunInstancesRequest,
        StartInstanceRequest,
        StopInstanceRequest,
    )

    client = AcsClient(AK, SECRET, REGION, port=PORT, auto_retry=False)
    steps = {}

    def send(request):
        request.set_endpoint(HOST)
        request.set_protocol_type("http")
        try:
            return {"ok": True, "body": json.loads(client.do_action_with_exception(request))}
        except ServerException as e:
            return {"ok": False, "code": e.get_error_code(), "status": e.get_http_status()}
        except ClientException as e:
            return {"ok": False, "code": e.get_error_code(), "message": e.get_error_msg()}

    def vpc(action, **params):
        r = CommonRequest()
        r.set_domain(HOST)
        r.set_version("2016-04-28")
        r.set_action_name(action)
        r.set_method("POST")
        for k, v in params.items():
            r.add_query_param(k, v)
        return send(r)

    steps["create_vpc"] = vpc("CreateVpc", CidrBlock="10.0.0.0/16", VpcName="sdk")
    vpc_id = steps["create_vpc"]["body"]["VpcId"]
    steps["create_vswitch"] = vpc("CreateVSwitch", VpcId=vpc_id, ZoneId=REGION + "-h", CidrBlock="10.0.1.0/24")
    vsw = steps["create_vswitch"]["body"]["VSwitchId"]

    groups = []
    for name in ["sdk-web", "sdk-db"]:
        r = CreateSecurityGroupRequest.CreateSecurityGroupRequest()
        r.set_SecurityGroupName(name)
        r.set_VpcId(vpc_id)
        step = send(r)
        steps["create_" + name] = step
        groups.append(step["body"]["SecurityGroupId"])

    r = RunInstancesRequest.RunInstancesRequest()
    r.set_ImageId("ubuntu_22_04_x64")
    r.set_InstanceType("ecs.g7.large")
    r.set_VSwitchId(vsw)
    r.set_SecurityGroupIdss([groups[0]])
    r.set_InstanceName("sdk-app")
    r.set_InternetMaxBandwidthOut(5)
    r.set_Amount(1)
    steps["run"] = send(r)
    instance = steps["run"]["body"]["InstanceIdSets"]["InstanceIdSet"][0]

    r = JoinSecurityGroupRequest.JoinSecurityGroupRequest()
    r.set_InstanceId(instance)
    r.set_SecurityGroupId(groups[1])
    steps["join"] = send(r)

    r = DescribeInstancesRequest.DescribeInstancesRequest()
    r.set_InstanceIds(json.dumps([instance]))
    steps["describe_instances"] = send(r)

    r = DescribeNetworkInterfacesRequest.DescribeNetworkInterfacesRequest()
    r.set_SecurityGroupId(groups[1])
    steps["describe_interfaces"] = send(r)

    r = LeaveSecurityGroupRequest.LeaveSecurityGroupRequest()
    r.set_InstanceId(instance)
    r.set_SecurityGroupId(groups[0])
    steps["leave"] = send(r)

    r = StopInstanceRequest.StopInstanceRequest()
    r.set_InstanceId(instance)
    steps["stop"] = send(r)
    steps["stop_again"] = send(r)
    r = StartInstanceRequest.StartInstanceRequest()
    r.set_InstanceId(instance)
    steps["start"] = send(r)

    steps["allocate_eip"] = vpc("AllocateEipAddress", Bandwidth="5")
    steps["create_acl"] = vpc("CreateNetworkAcl", VpcId=vpc_id, NetworkAclName="sdk-acl")
    acl = steps["create_acl"]["body"]["NetworkAclId"]
    steps["update_acl"] = vpc(
        "UpdateNetworkAclEntries",
        NetworkAclId=acl,
        UpdateIngressAclEntries="true",
        **{
            "IngressAclEntries.1.Policy": "accept",
            "IngressAclEntries.1.Protocol": "tcp",
            "IngressAclEntries.1.Port": "22/22",
            "IngressAclEntries.1.SourceCidrIp": "0.0.0.0/0",
        },
    )
    steps["associate_acl"] = vpc(
        "AssociateNetworkAcl",
        NetworkAclId=acl,
        **{"Resource.1.ResourceId": vsw, "Resource.1.ResourceType": "VSwitch"},
    )
    steps["describe_acl"] = vpc("DescribeNetworkAclAttributes", NetworkAclId=acl)
    steps["describe_vswitches"] = vpc("DescribeVSwitches", VpcId=vpc_id)
    steps["missing_acl"] = vpc("DescribeNetworkAclAttributes", NetworkAclId="nacl-missing")
    return steps


def main():
    try:
        report = scenario()
    except Exception:
        report = {"crashed": traceback.format_exc()}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
