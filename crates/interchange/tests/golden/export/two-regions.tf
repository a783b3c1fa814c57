# Security group rules exported by moat.
# With Terraform 1.5 or later, the import blocks adopt the live rules:
# `terraform plan` shows them as imported, with nothing to add or destroy.

provider "alicloud" {
  alias  = "cn_hangzhou"
  region = "cn-hangzhou"
}

provider "alicloud" {
  alias  = "cn_shanghai"
  region = "cn-shanghai"
}

resource "alicloud_security_group_rule" "db_prod_ingress_tcp_3306_sg_bp1web0000000000001" {
  provider                 = alicloud.cn_shanghai
  security_group_id        = "sg-bp1db00000000000002"
  type                     = "ingress"
  ip_protocol              = "tcp"
  port_range               = "3306/3306"
  nic_type                 = "intranet"
  policy                   = "accept"
  priority                 = 1
  source_security_group_id = "sg-bp1web0000000000001"
  description              = "MySQL from the web tier"
}

import {
  to       = alicloud_security_group_rule.db_prod_ingress_tcp_3306_sg_bp1web0000000000001
  provider = alicloud.cn_shanghai
  id       = "sg-bp1db00000000000002:ingress:tcp:3306/3306:intranet:sg-bp1web0000000000001:accept:1"
}

resource "alicloud_security_group_rule" "db_prod_ingress_tcp_9100_pl_bp1monitoring0001" {
  provider          = alicloud.cn_shanghai
  security_group_id = "sg-bp1db00000000000002"
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "9100/9100"
  nic_type          = "intranet"
  policy            = "accept"
  priority          = 1
  prefix_list_id    = "pl-bp1monitoring0001"
  description       = "node exporter from monitoring"
}

import {
  to       = alicloud_security_group_rule.db_prod_ingress_tcp_9100_pl_bp1monitoring0001
  provider = alicloud.cn_shanghai
  id       = "sg-bp1db00000000000002:ingress:tcp:9100/9100:intranet:pl-bp1monitoring0001:accept:1"
}

resource "alicloud_security_group_rule" "db_prod_ingress_icmp_10_0_0_0_8" {
  provider          = alicloud.cn_shanghai
  security_group_id = "sg-bp1db00000000000002"
  type              = "ingress"
  ip_protocol       = "icmp"
  port_range        = "-1/-1"
  nic_type          = "intranet"
  policy            = "accept"
  priority          = 1
  cidr_ip           = "10.0.0.0/8"
  description       = "ping"
}

import {
  to       = alicloud_security_group_rule.db_prod_ingress_icmp_10_0_0_0_8
  provider = alicloud.cn_shanghai
  id       = "sg-bp1db00000000000002:ingress:icmp:-1/-1:intranet:10.0.0.0/8:accept:1"
}

resource "alicloud_security_group_rule" "db_prod_ingress_icmpv6_2001_db8_32" {
  provider          = alicloud.cn_shanghai
  security_group_id = "sg-bp1db00000000000002"
  type              = "ingress"
  ip_protocol       = "icmpv6"
  port_range        = "-1/-1"
  nic_type          = "intranet"
  policy            = "accept"
  priority          = 1
  ipv6_cidr_ip      = "2001:db8::/32"
  description       = "ping over IPv6"
}

import {
  to       = alicloud_security_group_rule.db_prod_ingress_icmpv6_2001_db8_32
  provider = alicloud.cn_shanghai
  id       = "sg-bp1db00000000000002:ingress:icmpv6:-1/-1:intranet:2001_db8__/32:accept:1"
}

resource "alicloud_security_group_rule" "db_prod_egress_udp_53_10_0_0_0_8" {
  provider          = alicloud.cn_shanghai
  security_group_id = "sg-bp1db00000000000002"
  type              = "egress"
  ip_protocol       = "udp"
  port_range        = "53/53"
  nic_type          = "intranet"
  policy            = "accept"
  priority          = 1
  cidr_ip           = "10.0.0.0/8"
  description       = "DNS"
}

import {
  to       = alicloud_security_group_rule.db_prod_egress_udp_53_10_0_0_0_8
  provider = alicloud.cn_shanghai
  id       = "sg-bp1db00000000000002:egress:udp:53/53:intranet:10.0.0.0/8:accept:1"
}

resource "alicloud_security_group_rule" "web_prod_ingress_tcp_22_203_0_113_4_32" {
  provider          = alicloud.cn_hangzhou
  security_group_id = "sg-bp1web0000000000001"
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  nic_type          = "intranet"
  policy            = "accept"
  priority          = 5
  cidr_ip           = "203.0.113.4/32"
  description       = "SSH from the office, \"desk 4\" $${not a template}"
}

import {
  to       = alicloud_security_group_rule.web_prod_ingress_tcp_22_203_0_113_4_32
  provider = alicloud.cn_hangzhou
  id       = "sg-bp1web0000000000001:ingress:tcp:22/22:intranet:203.0.113.4/32:accept:5"
}

resource "alicloud_security_group_rule" "web_prod_ingress_tcp_23_any_ipv4_drop" {
  provider          = alicloud.cn_hangzhou
  security_group_id = "sg-bp1web0000000000001"
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "23/23"
  nic_type          = "intranet"
  policy            = "drop"
  priority          = 1
  cidr_ip           = "0.0.0.0/0"
}

import {
  to       = alicloud_security_group_rule.web_prod_ingress_tcp_23_any_ipv4_drop
  provider = alicloud.cn_hangzhou
  id       = "sg-bp1web0000000000001:ingress:tcp:23/23:intranet:0.0.0.0/0:drop:1"
}

resource "alicloud_security_group_rule" "web_prod_ingress_tcp_80_any_ipv4" {
  provider          = alicloud.cn_hangzhou
  security_group_id = "sg-bp1web0000000000001"
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "80/80"
  nic_type          = "intranet"
  policy            = "accept"
  priority          = 1
  cidr_ip           = "0.0.0.0/0"
  description       = "web from anywhere"
}

import {
  to       = alicloud_security_group_rule.web_prod_ingress_tcp_80_any_ipv4
  provider = alicloud.cn_hangzhou
  id       = "sg-bp1web0000000000001:ingress:tcp:80/80:intranet:0.0.0.0/0:accept:1"
}

resource "alicloud_security_group_rule" "web_prod_ingress_tcp_80_any_ipv6" {
  provider          = alicloud.cn_hangzhou
  security_group_id = "sg-bp1web0000000000001"
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "80/80"
  nic_type          = "intranet"
  policy            = "accept"
  priority          = 1
  ipv6_cidr_ip      = "::/0"
  description       = "web from anywhere"
}

import {
  to       = alicloud_security_group_rule.web_prod_ingress_tcp_80_any_ipv6
  provider = alicloud.cn_hangzhou
  id       = "sg-bp1web0000000000001:ingress:tcp:80/80:intranet:__/0:accept:1"
}

resource "alicloud_security_group_rule" "web_prod_ingress_tcp_443_any_ipv4" {
  provider          = alicloud.cn_hangzhou
  security_group_id = "sg-bp1web0000000000001"
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "443/443"
  nic_type          = "intranet"
  policy            = "accept"
  priority          = 1
  cidr_ip           = "0.0.0.0/0"
  description       = "web from anywhere"
}

import {
  to       = alicloud_security_group_rule.web_prod_ingress_tcp_443_any_ipv4
  provider = alicloud.cn_hangzhou
  id       = "sg-bp1web0000000000001:ingress:tcp:443/443:intranet:0.0.0.0/0:accept:1"
}

resource "alicloud_security_group_rule" "web_prod_ingress_tcp_443_any_ipv6" {
  provider          = alicloud.cn_hangzhou
  security_group_id = "sg-bp1web0000000000001"
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "443/443"
  nic_type          = "intranet"
  policy            = "accept"
  priority          = 1
  ipv6_cidr_ip      = "::/0"
  description       = "web from anywhere"
}

import {
  to       = alicloud_security_group_rule.web_prod_ingress_tcp_443_any_ipv6
  provider = alicloud.cn_hangzhou
  id       = "sg-bp1web0000000000001:ingress:tcp:443/443:intranet:__/0:accept:1"
}

resource "alicloud_security_group_rule" "web_prod_ingress_tcp_8000_8080_10_8_0_0_16" {
  provider          = alicloud.cn_hangzhou
  security_group_id = "sg-bp1web0000000000001"
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "8000/8080"
  nic_type          = "intranet"
  policy            = "accept"
  priority          = 1
  cidr_ip           = "10.8.0.0/16"
  description       = "app ports"
}

import {
  to       = alicloud_security_group_rule.web_prod_ingress_tcp_8000_8080_10_8_0_0_16
  provider = alicloud.cn_hangzhou
  id       = "sg-bp1web0000000000001:ingress:tcp:8000/8080:intranet:10.8.0.0/16:accept:1"
}

resource "alicloud_security_group_rule" "web_prod_egress_all_any_ipv4" {
  provider          = alicloud.cn_hangzhou
  security_group_id = "sg-bp1web0000000000001"
  type              = "egress"
  ip_protocol       = "all"
  port_range        = "-1/-1"
  nic_type          = "intranet"
  policy            = "accept"
  priority          = 100
  cidr_ip           = "0.0.0.0/0"
  description       = "answers and updates"
}

import {
  to       = alicloud_security_group_rule.web_prod_egress_all_any_ipv4
  provider = alicloud.cn_hangzhou
  id       = "sg-bp1web0000000000001:egress:all:-1/-1:intranet:0.0.0.0/0:accept:100"
}
