// Drives a running moat emulator with Alibaba Cloud's official Node.js SDKs.
//
// Usage: node interop.js HOST PORT ACCESS_KEY_ID ACCESS_KEY_SECRET REGION
//
// Runs the scenario of interop.py through @alicloud/ecs20140526 with its
// default configuration (ACS3-HMAC-SHA256) and with signatureAlgorithm 'v2'
// (signature v1.0), and through @alicloud/pop-core with GET and with POST (a
// form body), and prints one JSON document with the outcome of every step.
// The Rust test that starts the emulator asserts on that document. The
// packages come from NODE_PATH (scripts/sdk-node.sh installs them, pinned).
'use strict';

const [HOST, PORT, AK, SECRET, REGION] = process.argv.slice(2);
const DESCRIPTION = 'SSH admin/ops * ~ & 管理 café';

async function teaScenario(signatureAlgorithm) {
  const Ecs = require('@alicloud/ecs20140526');
  const { $OpenApiUtil } = require('@alicloud/openapi-core');
  const $dara = require('@darabonba/typescript');
  const label = signatureAlgorithm || 'acs3';
  const steps = {};

  const client = (secret = SECRET) => {
    const config = new $OpenApiUtil.Config({
      accessKeyId: AK, accessKeySecret: secret, regionId: REGION,
      endpoint: `${HOST}:${PORT}`, protocol: 'http',
    });
    // Unset keeps the SDK's default, ACS3-HMAC-SHA256.
    if (signatureAlgorithm) {
      config.signatureAlgorithm = signatureAlgorithm;
    }
    return new Ecs.default(config);
  };
  const send = async (method, request, secret = SECRET) => {
    try {
      const runtime = new $dara.RuntimeOptions({ autoretry: false });
      const response = await client(secret)[`${method}WithOptions`](request, runtime);
      return { ok: true, body: JSON.parse(JSON.stringify(response.body.toMap())) };
    } catch (e) {
      return { ok: false, code: e.code, status: e.statusCode, message: e.message };
    }
  };
  const rules = (group, direction = 'all') => send('describeSecurityGroupAttribute',
    new Ecs.DescribeSecurityGroupAttributeRequest({ regionId: REGION, securityGroupId: group, direction }));

  steps.create = await send('createSecurityGroup', new Ecs.CreateSecurityGroupRequest({
    regionId: REGION, securityGroupName: `node-tea-${label}-group`, vpcId: 'vpc-interop' }));
  const group = steps.create.body.SecurityGroupId;

  const P = Ecs.AuthorizeSecurityGroupRequestPermissions;
  steps.authorize_permissions = await send('authorizeSecurityGroup', new Ecs.AuthorizeSecurityGroupRequest({
    regionId: REGION, securityGroupId: group, clientToken: `node-tea-${label}-authorize-1`, permissions: [
      new P({ ipProtocol: 'tcp', portRange: '22/22', sourceCidrIp: '10.0.0.0/8', policy: 'accept', priority: '1',
        description: DESCRIPTION }),
      new P({ ipProtocol: 'icmpv6', portRange: '-1/-1', ipv6SourceCidrIp: '2001:db8::/32', policy: 'drop',
        priority: '100' }),
    ] }));
  steps.authorize_legacy = await send('authorizeSecurityGroup', new Ecs.AuthorizeSecurityGroupRequest({
    regionId: REGION, securityGroupId: group, ipProtocol: 'tcp', portRange: '443/443',
    sourceCidrIp: '0.0.0.0/0', description: 'https' }));
  steps.describe_after_authorize = await rules(group);
  steps.describe_groups = await send('describeSecurityGroups', new Ecs.DescribeSecurityGroupsRequest({
    regionId: REGION, securityGroupIds: JSON.stringify([group]), maxResults: 10 }));

  const https = steps.describe_after_authorize.body.Permissions.Permission.filter((p) => p.PortRange === '443/443');
  steps.modify = await send('modifySecurityGroupRule', new Ecs.ModifySecurityGroupRuleRequest({
    regionId: REGION, securityGroupId: group, securityGroupRuleId: https[0].SecurityGroupRuleId,
    description: 'https, modified', priority: '10' }));
  steps.describe_after_modify = await rules(group);
  steps.modify_by_fields = await send('modifySecurityGroupRule', new Ecs.ModifySecurityGroupRuleRequest({
    regionId: REGION, securityGroupId: group, ipProtocol: 'tcp', portRange: '22/22', sourceCidrIp: '10.0.0.0/8',
    policy: 'accept', description: 'ssh, by fields' }));
  steps.describe_after_modify_by_fields = await rules(group);
  steps.revoke_by_fields = await send('revokeSecurityGroup', new Ecs.RevokeSecurityGroupRequest({
    regionId: REGION, securityGroupId: group, permissions: [new Ecs.RevokeSecurityGroupRequestPermissions({
      ipProtocol: 'TCP', portRange: '22/22', sourceCidrIp: '10.0.0.0/8' })] }));
  steps.revoke_by_id = await send('revokeSecurityGroup', new Ecs.RevokeSecurityGroupRequest({
    regionId: REGION, securityGroupId: group, securityGroupRuleId: [https[0].SecurityGroupRuleId] }));
  steps.describe_after_revoke = await rules(group);

  steps.authorize_egress = await send('authorizeSecurityGroupEgress', new Ecs.AuthorizeSecurityGroupEgressRequest({
    regionId: REGION, securityGroupId: group, permissions: [new Ecs.AuthorizeSecurityGroupEgressRequestPermissions({
      ipProtocol: 'all', portRange: '-1/-1', destCidrIp: '0.0.0.0/0' })] }));
  const egress = await rules(group, 'egress');
  steps.describe_egress = egress;
  steps.revoke_egress = await send('revokeSecurityGroupEgress', new Ecs.RevokeSecurityGroupEgressRequest({
    regionId: REGION, securityGroupId: group,
    securityGroupRuleId: egress.body.Permissions.Permission.map((p) => p.SecurityGroupRuleId) }));

  steps.tag = await send('tagResources', new Ecs.TagResourcesRequest({
    regionId: REGION, resourceType: 'securitygroup', resourceId: [group], tag: [
      new Ecs.TagResourcesRequestTag({ key: 'moat:lock', value: 'holder' }),
      new Ecs.TagResourcesRequestTag({ key: 'team', value: 'web' })] }));
  steps.untag = await send('untagResources', new Ecs.UntagResourcesRequest({
    regionId: REGION, resourceType: 'securitygroup', resourceId: [group], tagKey: ['team'] }));
  steps.list_tags = await send('listTagResources', new Ecs.ListTagResourcesRequest({
    regionId: REGION, resourceType: 'securitygroup', resourceId: [group] }));
  steps.describe_tagged = await send('describeSecurityGroups', new Ecs.DescribeSecurityGroupsRequest({
    regionId: REGION, tag: [new Ecs.DescribeSecurityGroupsRequestTag({ key: 'moat:lock', value: 'holder' })] }));

  steps.wrong_secret = await send('describeSecurityGroups',
    new Ecs.DescribeSecurityGroupsRequest({ regionId: REGION }), `${SECRET}-wrong`);
  steps.missing_group = await rules('sg-doesnotexist0000000');
  steps.delete = await send('deleteSecurityGroup', new Ecs.DeleteSecurityGroupRequest({
    regionId: REGION, securityGroupId: group }));
  return steps;
}

async function popScenario(method) {
  const RPCClient = require('@alicloud/pop-core').RPCClient;
  const steps = {};
  const label = method.toLowerCase();

  const client = (secret = SECRET) => new RPCClient({
    accessKeyId: AK, accessKeySecret: secret, endpoint: `http://${HOST}:${PORT}`, apiVersion: '2014-05-26',
  });
  const send = async (action, params, secret = SECRET) => {
    try {
      const opts = method === 'POST' ? { method: 'POST' } : {};
      const body = await client(secret).request(action, Object.assign({ RegionId: REGION }, params), opts);
      return { ok: true, body };
    } catch (e) {
      const status = e.entry && e.entry.response ? e.entry.response.statusCode : undefined;
      return { ok: false, code: e.code, status, message: e.message };
    }
  };
  const rules = (group, direction = 'all') =>
    send('DescribeSecurityGroupAttribute', { SecurityGroupId: group, Direction: direction });

  steps.create = await send('CreateSecurityGroup', { SecurityGroupName: `node-pop-${label}-group`, VpcId: 'vpc-interop' });
  const group = steps.create.body.SecurityGroupId;

  // pop-core flattens arrays of objects into Permissions.N.Field itself.
  steps.authorize_permissions = await send('AuthorizeSecurityGroup', {
    SecurityGroupId: group, ClientToken: `node-pop-${label}-authorize-1`, Permissions: [
      { IpProtocol: 'tcp', PortRange: '22/22', SourceCidrIp: '10.0.0.0/8', Policy: 'accept', Priority: '1',
        Description: DESCRIPTION },
      { IpProtocol: 'icmpv6', PortRange: '-1/-1', Ipv6SourceCidrIp: '2001:db8::/32', Policy: 'drop', Priority: '100' },
    ] });
  steps.authorize_legacy = await send('AuthorizeSecurityGroup', {
    SecurityGroupId: group, IpProtocol: 'tcp', PortRange: '443/443', SourceCidrIp: '0.0.0.0/0', Description: 'https' });
  steps.describe_after_authorize = await rules(group);
  steps.describe_groups = await send('DescribeSecurityGroups', { SecurityGroupIds: JSON.stringify([group]) });

  const https = steps.describe_after_authorize.body.Permissions.Permission.filter((p) => p.PortRange === '443/443');
  steps.modify = await send('ModifySecurityGroupRule', {
    SecurityGroupId: group, SecurityGroupRuleId: https[0].SecurityGroupRuleId, Description: 'https, modified',
    Priority: '10' });
  steps.describe_after_modify = await rules(group);
  steps.modify_by_fields = await send('ModifySecurityGroupRule', {
    SecurityGroupId: group, IpProtocol: 'tcp', PortRange: '22/22', SourceCidrIp: '10.0.0.0/8', Policy: 'accept',
    Description: 'ssh, by fields' });
  steps.describe_after_modify_by_fields = await rules(group);
  steps.revoke_by_fields = await send('RevokeSecurityGroup', {
    SecurityGroupId: group, IpProtocol: 'TCP', PortRange: '22/22', SourceCidrIp: '10.0.0.0/8' });
  steps.revoke_by_id = await send('RevokeSecurityGroup', {
    SecurityGroupId: group, 'SecurityGroupRuleId.1': https[0].SecurityGroupRuleId });
  steps.describe_after_revoke = await rules(group);

  steps.authorize_egress = await send('AuthorizeSecurityGroupEgress', {
    SecurityGroupId: group, Permissions: [{ IpProtocol: 'all', PortRange: '-1/-1', DestCidrIp: '0.0.0.0/0' }] });
  const egress = await rules(group, 'egress');
  steps.describe_egress = egress;
  const revokeEgress = { SecurityGroupId: group };
  egress.body.Permissions.Permission.forEach((p, i) => { revokeEgress[`SecurityGroupRuleId.${i + 1}`] = p.SecurityGroupRuleId; });
  steps.revoke_egress = await send('RevokeSecurityGroupEgress', revokeEgress);

  steps.tag = await send('TagResources', {
    ResourceType: 'securitygroup', 'ResourceId.1': group,
    'Tag.1.Key': 'moat:lock', 'Tag.1.Value': 'holder', 'Tag.2.Key': 'team', 'Tag.2.Value': 'web' });
  steps.untag = await send('UntagResources', {
    ResourceType: 'securitygroup', 'ResourceId.1': group, 'TagKey.1': 'team' });
  steps.list_tags = await send('ListTagResources', { ResourceType: 'securitygroup', 'ResourceId.1': group });
  steps.describe_tagged = await send('DescribeSecurityGroups', { 'Tag.1.Key': 'moat:lock', 'Tag.1.Value': 'holder' });

  steps.wrong_secret = await send('DescribeSecurityGroups', {}, `${SECRET}-wrong`);
  steps.missing_group = await rules('sg-doesnotexist0000000');
  steps.delete = await send('DeleteSecurityGroup', { SecurityGroupId: group });
  return steps;
}

async function run(scenario) {
  try {
    return await scenario();
  } catch (e) {
    // Reported as data; the Rust test shows it.
    return { crashed: `${e && e.stack ? e.stack : e}` };
  }
}

(async () => {
  const report = {
    node_tea_acs3: await run(() => teaScenario(null)),
    node_tea_v2: await run(() => teaScenario('v2')),
    node_pop_get: await run(() => popScenario('GET')),
    node_pop_post: await run(() => popScenario('POST')),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
})();
