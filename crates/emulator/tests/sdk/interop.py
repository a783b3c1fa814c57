"""Drives a running moat emulator with Alibaba Cloud's official Python SDKs.

Usage: interop.py HOST PORT ACCESS_KEY_ID ACCESS_KEY_SECRET REGION

Runs the same scenario through the old core SDK (AcsClient with request
classes, signature 1.0), through the Tea SDK configured for signature v2
(v1.0 on the wire) and through the Tea SDK with its default configuration
(ACS3-HMAC-SHA256), and prints one JSON document with the outcome of every
step. The Rust test that starts the emulator asserts on that document.
"""

import json
import sys
import traceback

HOST, PORT, AK, SECRET, REGION = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
DESCRIPTION = "SSH admin/ops * ~ & 管理 café"


def core_scenario():
    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkecs.request.v20140526 import (
        AuthorizeSecurityGroupEgressRequest,
        AuthorizeSecurityGroupRequest,
        CreateSecurityGroupRequest,
        DeleteSecurityGroupRequest,
        DescribeSecurityGroupAttributeRequest,
        DescribeSecurityGroupsRequest,
        ModifySecurityGroupRuleRequest,
        RevokeSecurityGroupEgressRequest,
        RevokeSecurityGroupRequest,
    )
    from aliyunsdkecs.request.v20140526 import ListTagResourcesRequest, TagResourcesRequest, UntagResourcesRequest

    steps = {}

    def client(secret=SECRET):
        # No automatic retries: every call below must reach the emulator once.
        return AcsClient(AK, secret, REGION, port=PORT, auto_retry=False)

    def send(request, secret=SECRET):
        request.set_endpoint(HOST)
        request.set_protocol_type("http")
        try:
            body = client(secret).do_action_with_exception(request)
            return {"ok": True, "body": json.loads(body)}
        except ServerException as e:
            return {"ok": False, "code": e.get_error_code(), "status": e.get_http_status(), "message": e.get_error_msg()}
        except ClientException as e:
            return {"ok": False, "code": e.get_error_code(), "message": e.get_error_msg()}

    def rules(group, direction="all"):
        r = DescribeSecurityGroupAttributeRequest.DescribeSecurityGroupAttributeRequest()
        r.set_SecurityGroupId(group)
        r.set_Direction(direction)
        return send(r)

    r = CreateSecurityGroupRequest.CreateSecurityGroupRequest()
    r.set_SecurityGroupName("core-sdk-group")
    r.set_VpcId("vpc-interop")
    r.set_Description("made by the core SDK")
    steps["create"] = send(r)
    group = steps["create"]["body"]["SecurityGroupId"]

    r = AuthorizeSecurityGroupRequest.AuthorizeSecurityGroupRequest()
    r.set_SecurityGroupId(group)
    r.set_ClientToken("core-authorize-1")
    r.set_Permissions([
        {"IpProtocol": "tcp", "PortRange": "22/22", "SourceCidrIp": "10.0.0.0/8", "Policy": "accept",
         "Priority": "1", "Description": DESCRIPTION},
        {"IpProtocol": "icmpv6", "PortRange": "-1/-1", "Ipv6SourceCidrIp": "2001:db8::/32", "Policy": "drop",
         "Priority": "100"},
    ])
    steps["authorize_permissions"] = send(r)

    r = AuthorizeSecurityGroupRequest.AuthorizeSecurityGroupRequest()
    r.set_SecurityGroupId(group)
    r.set_IpProtocol("tcp")
    r.set_PortRange("443/443")
    r.set_SourceCidrIp("0.0.0.0/0")
    r.set_Description("https")
    steps["authorize_legacy"] = send(r)
    steps["describe_after_authorize"] = rules(group)

    r = DescribeSecurityGroupsRequest.DescribeSecurityGroupsRequest()
    r.set_SecurityGroupIds(json.dumps([group]))
    steps["describe_groups"] = send(r)

    https = [p for p in steps["describe_after_authorize"]["body"]["Permissions"]["Permission"] if p["PortRange"] == "443/443"]
    r = ModifySecurityGroupRuleRequest.ModifySecurityGroupRuleRequest()
    r.set_SecurityGroupId(group)
    r.set_SecurityGroupRuleId(https[0]["SecurityGroupRuleId"])
    r.set_Description("https, modified")
    r.set_Priority("10")
    steps["modify"] = send(r)
    steps["describe_after_modify"] = rules(group)

    # The legacy form: the rule named by its fields, its description changed.
    r = ModifySecurityGroupRuleRequest.ModifySecurityGroupRuleRequest()
    r.set_SecurityGroupId(group)
    r.set_IpProtocol("tcp")
    r.set_PortRange("22/22")
    r.set_SourceCidrIp("10.0.0.0/8")
    r.set_Policy("accept")
    r.set_Description("ssh, by fields")
    steps["modify_by_fields"] = send(r)
    steps["describe_after_modify_by_fields"] = rules(group)

    r = RevokeSecurityGroupRequest.RevokeSecurityGroupRequest()
    r.set_SecurityGroupId(group)
    r.set_IpProtocol("TCP")
    r.set_PortRange("22/22")
    r.set_SourceCidrIp("10.0.0.0/8")
    steps["revoke_by_fields"] = send(r)

    r = RevokeSecurityGroupRequest.RevokeSecurityGroupRequest()
    r.set_SecurityGroupId(group)
    r.set_SecurityGroupRuleIds([https[0]["SecurityGroupRuleId"]])
    steps["revoke_by_id"] = send(r)
    steps["describe_after_revoke"] = rules(group)

    r = AuthorizeSecurityGroupEgressRequest.AuthorizeSecurityGroupEgressRequest()
    r.set_SecurityGroupId(group)
    r.set_Permissions([{"IpProtocol": "all", "PortRange": "-1/-1", "DestCidrIp": "0.0.0.0/0"}])
    steps["authorize_egress"] = send(r)
    egress = rules(group, "egress")
    steps["describe_egress"] = egress
    r = RevokeSecurityGroupEgressRequest.RevokeSecurityGroupEgressRequest()
    r.set_SecurityGroupId(group)
    r.set_SecurityGroupRuleIds([p["SecurityGroupRuleId"] for p in egress["body"]["Permissions"]["Permission"]])
    steps["revoke_egress"] = send(r)

    r = TagResourcesRequest.TagResourcesRequest()
    r.set_ResourceType("securitygroup")
    r.set_ResourceIds([group])
    r.set_Tags([{"Key": "moat:lock", "Value": "holder"}, {"Key": "team", "Value": "web"}])
    steps["tag"] = send(r)
    r = UntagResourcesRequest.UntagResourcesRequest()
    r.set_ResourceType("securitygroup")
    r.set_ResourceIds([group])
    r.set_TagKeys(["team"])
    steps["untag"] = send(r)
    r = ListTagResourcesRequest.ListTagResourcesRequest()
    r.set_ResourceType("securitygroup")
    r.set_ResourceIds([group])
    steps["list_tags"] = send(r)
    r = DescribeSecurityGroupsRequest.DescribeSecurityGroupsRequest()
    r.set_Tags([{"Key": "moat:lock", "Value": "holder"}])
    steps["describe_tagged"] = send(r)

    r = DescribeSecurityGroupsRequest.DescribeSecurityGroupsRequest()
    steps["wrong_secret"] = send(r, secret=SECRET + "-wrong")
    steps["missing_group"] = rules("sg-doesnotexist0000000")

    r = DeleteSecurityGroupRequest.DeleteSecurityGroupRequest()
    r.set_SecurityGroupId(group)
    steps["delete"] = send(r)
    return steps


def tea_scenario(signature_algorithm):
    from alibabacloud_ecs20140526 import models
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    from alibabacloud_tea_openapi.utils_models import Config
    from darabonba.runtime import RuntimeOptions

    steps = {}

    def client(secret=SECRET):
        config = Config(access_key_id=AK, access_key_secret=secret, region_id=REGION,
                        endpoint=f"{HOST}:{PORT}", protocol="http")
        # None keeps the SDK's default, ACS3-HMAC-SHA256.
        if signature_algorithm is not None:
            config.signature_algorithm = signature_algorithm
        return Client(config)

    def send(method, request, secret=SECRET):
        try:
            response = getattr(client(secret), method + "_with_options")(request, RuntimeOptions(autoretry=False))
            return {"ok": True, "body": response.body.to_map()}
        except AlibabaCloudException as e:
            return {"ok": False, "code": e.code, "status": e.status_code, "message": e.message}

    def rules(group, direction="all"):
        return send("describe_security_group_attribute",
                    models.DescribeSecurityGroupAttributeRequest(region_id=REGION, security_group_id=group,
                                                                 direction=direction))

    steps["create"] = send("create_security_group", models.CreateSecurityGroupRequest(
        region_id=REGION, security_group_name=f"tea-{signature_algorithm or 'acs3'}-group", vpc_id="vpc-interop"))
    group = steps["create"]["body"]["SecurityGroupId"]

    P = models.AuthorizeSecurityGroupRequestPermissions
    steps["authorize_permissions"] = send("authorize_security_group", models.AuthorizeSecurityGroupRequest(
        region_id=REGION, security_group_id=group, client_token=f"tea-{signature_algorithm or 'acs3'}-authorize-1", permissions=[
            P(ip_protocol="tcp", port_range="22/22", source_cidr_ip="10.0.0.0/8", policy="accept", priority="1",
              description=DESCRIPTION),
            P(ip_protocol="icmpv6", port_range="-1/-1", ipv_6source_cidr_ip="2001:db8::/32", policy="drop",
              priority="100"),
        ]))
    steps["authorize_legacy"] = send("authorize_security_group", models.AuthorizeSecurityGroupRequest(
        region_id=REGION, security_group_id=group, ip_protocol="tcp", port_range="443/443",
        source_cidr_ip="0.0.0.0/0", description="https"))
    steps["describe_after_authorize"] = rules(group)
    steps["describe_groups"] = send("describe_security_groups", models.DescribeSecurityGroupsRequest(
        region_id=REGION, security_group_ids=json.dumps([group]), max_results=10))

    https = [p for p in steps["describe_after_authorize"]["body"]["Permissions"]["Permission"] if p["PortRange"] == "443/443"]
    steps["modify"] = send("modify_security_group_rule", models.ModifySecurityGroupRuleRequest(
        region_id=REGION, security_group_id=group, security_group_rule_id=https[0]["SecurityGroupRuleId"],
        description="https, modified", priority="10"))
    steps["describe_after_modify"] = rules(group)
    steps["modify_by_fields"] = send("modify_security_group_rule", models.ModifySecurityGroupRuleRequest(
        region_id=REGION, security_group_id=group, ip_protocol="tcp", port_range="22/22",
        source_cidr_ip="10.0.0.0/8", policy="accept", description="ssh, by fields"))
    steps["describe_after_modify_by_fields"] = rules(group)
    steps["revoke_by_fields"] = send("revoke_security_group", models.RevokeSecurityGroupRequest(
        region_id=REGION, security_group_id=group, permissions=[models.RevokeSecurityGroupRequestPermissions(
            ip_protocol="TCP", port_range="22/22", source_cidr_ip="10.0.0.0/8")]))
    steps["revoke_by_id"] = send("revoke_security_group", models.RevokeSecurityGroupRequest(
        region_id=REGION, security_group_id=group, security_group_rule_id=[https[0]["SecurityGroupRuleId"]]))
    steps["describe_after_revoke"] = rules(group)

    steps["authorize_egress"] = send("authorize_security_group_egress", models.AuthorizeSecurityGroupEgressRequest(
        region_id=REGION, security_group_id=group, permissions=[models.AuthorizeSecurityGroupEgressRequestPermissions(
            ip_protocol="all", port_range="-1/-1", dest_cidr_ip="0.0.0.0/0")]))
    egress = rules(group, "egress")
    steps["describe_egress"] = egress
    steps["revoke_egress"] = send("revoke_security_group_egress", models.RevokeSecurityGroupEgressRequest(
        region_id=REGION, security_group_id=group,
        security_group_rule_id=[p["SecurityGroupRuleId"] for p in egress["body"]["Permissions"]["Permission"]]))

    steps["tag"] = send("tag_resources", models.TagResourcesRequest(
        region_id=REGION, resource_type="securitygroup", resource_id=[group],
        tag=[models.TagResourcesRequestTag(key="moat:lock", value="holder"),
             models.TagResourcesRequestTag(key="team", value="web")]))
    steps["untag"] = send("untag_resources", models.UntagResourcesRequest(
        region_id=REGION, resource_type="securitygroup", resource_id=[group], tag_key=["team"]))
    steps["list_tags"] = send("list_tag_resources", models.ListTagResourcesRequest(
        region_id=REGION, resource_type="securitygroup", resource_id=[group]))
    steps["describe_tagged"] = send("describe_security_groups", models.DescribeSecurityGroupsRequest(
        region_id=REGION, tag=[models.DescribeSecurityGroupsRequestTag(key="moat:lock", value="holder")]))

    steps["wrong_secret"] = send("describe_security_groups", models.DescribeSecurityGroupsRequest(region_id=REGION),
                                 secret=SECRET + "-wrong")
    steps["missing_group"] = rules("sg-doesnotexist0000000")
    steps["delete"] = send("delete_security_group", models.DeleteSecurityGroupRequest(
        region_id=REGION, security_group_id=group))
    return steps


def run(scenario):
    try:
        return scenario()
    except Exception:  # report the failure as data; the Rust test shows it
        return {"crashed": traceback.format_exc()}


print(json.dumps({
    "core": run(core_scenario),
    "tea_v2": run(lambda: tea_scenario("v2")),
    "tea_acs3": run(lambda: tea_scenario(None)),
}, ensure_ascii=False))
