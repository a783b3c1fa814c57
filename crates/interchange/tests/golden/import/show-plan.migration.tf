# moat now manages the security group rules these Terraform resources held (read from plan.json).
# Terraform 1.7 and later: delete the resource blocks from the configuration, add this
# file, and run `terraform apply`; Terraform forgets the rules and does not revoke them.
# Older Terraform: delete the resource blocks and run these commands instead:
#   terraform state rm 'alicloud_security_group_rule.api_grpc_v6'
#   terraform state rm 'alicloud_security_group_rule.api_https'
#   terraform state rm 'module.edge.alicloud_security_group_rule.ssh[0]'

removed {
  from = alicloud_security_group_rule.api_grpc_v6

  lifecycle {
    destroy = false
  }
}

removed {
  from = alicloud_security_group_rule.api_https

  lifecycle {
    destroy = false
  }
}

removed {
  from = module.edge.alicloud_security_group_rule.ssh

  lifecycle {
    destroy = false
  }
}
