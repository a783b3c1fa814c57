# moat now manages the security group rules these Terraform resources held (read from terraform.tfstate).
# Terraform 1.7 and later: delete the resource blocks from the configuration, add this
# file, and run `terraform apply`; Terraform forgets the rules and does not revoke them.
# Older Terraform: delete the resource blocks and run these commands instead:
#   terraform state rm 'alicloud_security_group_rule.deny_telnet'
#   terraform state rm 'alicloud_security_group_rule.egress_all'
#   terraform state rm 'alicloud_security_group_rule.office_ssh[0]'
#   terraform state rm 'alicloud_security_group_rule.office_ssh[1]'
#   terraform state rm 'alicloud_security_group_rule.web_http'
#   terraform state rm 'alicloud_security_group_rule.web_https'
#   terraform state rm 'alicloud_security_group_rule.web_https_v6'
#   terraform state rm 'module.database.alicloud_security_group_rule.icmp'
#   terraform state rm 'module.database.alicloud_security_group_rule.monitoring'
#   terraform state rm 'module.database.alicloud_security_group_rule.mysql["app"]'
#   terraform state rm 'module.database.alicloud_security_group_rule.mysql["vpn"]'

removed {
  from = alicloud_security_group_rule.deny_telnet

  lifecycle {
    destroy = false
  }
}

removed {
  from = alicloud_security_group_rule.egress_all

  lifecycle {
    destroy = false
  }
}

removed {
  from = alicloud_security_group_rule.office_ssh

  lifecycle {
    destroy = false
  }
}

removed {
  from = alicloud_security_group_rule.web_http

  lifecycle {
    destroy = false
  }
}

removed {
  from = alicloud_security_group_rule.web_https

  lifecycle {
    destroy = false
  }
}

removed {
  from = alicloud_security_group_rule.web_https_v6

  lifecycle {
    destroy = false
  }
}

removed {
  from = module.database.alicloud_security_group_rule.icmp

  lifecycle {
    destroy = false
  }
}

removed {
  from = module.database.alicloud_security_group_rule.monitoring

  lifecycle {
    destroy = false
  }
}

removed {
  from = module.database.alicloud_security_group_rule.mysql

  lifecycle {
    destroy = false
  }
}
