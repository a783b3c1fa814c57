//! The reads of the network around the groups: DescribeInstances and
//! DescribeNetworkInterfaces (ECS, `MaxResults` / `NextToken` paging), and
//! DescribeVSwitches, DescribeNetworkAclAttributes and DescribeEipAddresses
//! (VPC 2016-04-28, `PageNumber` / `PageSize` paging, sent to the VPC
//! endpoint). Every read follows its pages to the end and fails closed.

use moat_policy::eval::NetworkAcl;
use moat_wire::{
    Action, DescribeEipAddressesResponse, DescribeInstancesResponse,
    DescribeNetworkAclAttributesResponse, DescribeNetworkInterfacesResponse,
    DescribeVSwitchesResponse,
};

use super::ReadClient;
use super::paging::Pager;
use crate::error::{CallError, CallErrorKind};
use crate::network::{EipInfo, InstanceInfo, InterfaceInfo, UnreadableField, VSwitchInfo};
use crate::observe::{CallInfo, Outcome};
use crate::request::ApiRequest;

/// `MaxResults` of the ECS reads (DescribeInstances takes at most 100).
const ECS_PAGE: u32 = 100;
/// `PageSize` of the VPC reads (DescribeVSwitches takes at most 50).
const VPC_PAGE: u32 = 50;
/// `InstanceIds` takes at most 100 ids.
const MAX_INSTANCE_IDS: usize = 100;

/// Which instances `DescribeInstances` lists. Empty: all of the region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    pub ids: Vec<String>,
    pub name: Option<String>,
    pub security_group_id: Option<String>,
}

/// Which interfaces `DescribeNetworkInterfaces` lists. Empty: all of the
/// region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceFilter {
    pub ids: Vec<String>,
    pub instance_id: Option<String>,
    pub security_group_id: Option<String>,
}

fn unreadable(pager: &Pager, info: &CallInfo, e: UnreadableField) -> CallError {
    pager.error(info, CallErrorKind::Unreadable(e))
}

impl ReadClient {
    /// The instances matching `filter`, every page.
    pub async fn describe_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Outcome<Vec<InstanceInfo>>, CallError> {
        let mut out = Vec::new();
        let mut calls = Vec::new();
        let chunks: Vec<&[String]> = if filter.ids.is_empty() {
            vec![&[]]
        } else {
            filter.ids.chunks(MAX_INSTANCE_IDS).collect()
        };
        for ids in chunks {
            let mut pager = Pager::new(Action::DescribeInstances, None);
            let mut token: Option<String> = None;
            loop {
                let mut req = ApiRequest::new(Action::DescribeInstances, self.region())
                    .with("MaxResults", ECS_PAGE.to_string());
                if !ids.is_empty() {
                    // A JSON array, as the API documents `InstanceIds`.
                    req.set(
                        "InstanceIds",
                        serde_json::to_string(ids).unwrap_or_default(),
                    );
                }
                if let Some(name) = &filter.name {
                    req.set("InstanceName", name);
                }
                if let Some(g) = &filter.security_group_id {
                    req.set("SecurityGroupId", g);
                }
                if let Some(t) = &token {
                    req.set("NextToken", t);
                }
                let (resp, info) = self.execute::<DescribeInstancesResponse>(&req).await?;
                pager.page(&info)?;
                for i in &resp.instances.instance {
                    out.push(InstanceInfo::try_from(i).map_err(|e| unreadable(&pager, &info, e))?);
                }
                calls.push(info);
                match pager.next(resp.next_token.as_str())? {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
        Ok(Outcome { value: out, calls })
    }

    /// The network interfaces matching `filter`, every page.
    pub async fn describe_network_interfaces(
        &self,
        filter: &InterfaceFilter,
    ) -> Result<Outcome<Vec<InterfaceInfo>>, CallError> {
        let mut out = Vec::new();
        let mut calls = Vec::new();
        let mut pager = Pager::new(
            Action::DescribeNetworkInterfaces,
            filter.security_group_id.as_deref(),
        );
        let mut token: Option<String> = None;
        loop {
            let mut req = ApiRequest::new(Action::DescribeNetworkInterfaces, self.region())
                .with("MaxResults", ECS_PAGE.to_string());
            for (n, id) in filter.ids.iter().enumerate() {
                req.set(format!("NetworkInterfaceId.{}", n + 1), id);
            }
            if let Some(i) = &filter.instance_id {
                req.set("InstanceId", i);
            }
            if let Some(g) = &filter.security_group_id {
                req.set("SecurityGroupId", g);
            }
            if let Some(t) = &token {
                req.set("NextToken", t);
            }
            let (resp, info) = self
                .execute::<DescribeNetworkInterfacesResponse>(&req)
                .await?;
            pager.page(&info)?;
            for n in &resp.network_interface_sets.network_interface_set {
                out.push(InterfaceInfo::try_from(n).map_err(|e| unreadable(&pager, &info, e))?);
            }
            calls.push(info);
            match pager.next(resp.next_token.as_str())? {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(Outcome { value: out, calls })
    }

    /// One vSwitch (`DescribeVSwitches` by `VSwitchId`), `None` when the
    /// region has no such vSwitch.
    pub async fn describe_vswitch(
        &self,
        vswitch_id: &str,
    ) -> Result<Outcome<Option<VSwitchInfo>>, CallError> {
        let mut calls = Vec::new();
        let mut pager = Pager::new(Action::DescribeVSwitches, None);
        let mut found = None;
        let mut seen = 0usize;
        for number in 1u32.. {
            let req = ApiRequest::new(Action::DescribeVSwitches, self.region())
                .with("VSwitchId", vswitch_id)
                .with("PageNumber", number.to_string())
                .with("PageSize", VPC_PAGE.to_string());
            let (resp, info) = self.execute::<DescribeVSwitchesResponse>(&req).await?;
            pager.page(&info)?;
            let items = &resp.v_switches.v_switch;
            seen += items.len();
            for v in items
                .iter()
                .filter(|v| v.v_switch_id.as_str() == vswitch_id)
            {
                found = Some(VSwitchInfo::try_from(v).map_err(|e| unreadable(&pager, &info, e))?);
            }
            calls.push(info);
            if items.is_empty() || seen >= usize::try_from(resp.total_count).unwrap_or(0) {
                break;
            }
        }
        Ok(Outcome {
            value: found,
            calls,
        })
    }

    /// A network ACL with its entries in order (`DescribeNetworkAclAttributes`).
    pub async fn describe_network_acl(
        &self,
        acl_id: &str,
    ) -> Result<Outcome<NetworkAcl>, CallError> {
        let pager = Pager::new(Action::DescribeNetworkAclAttributes, None);
        let req = ApiRequest::new(Action::DescribeNetworkAclAttributes, self.region())
            .with("NetworkAclId", acl_id);
        let (resp, info) = self
            .execute::<DescribeNetworkAclAttributesResponse>(&req)
            .await?;
        let acl = crate::network::read_network_acl(&resp.network_acl_attribute)
            .map_err(|e| unreadable(&pager, &info, e))?;
        Ok(Outcome {
            value: acl,
            calls: vec![info],
        })
    }

    /// The EIPs bound to `instance_id` (an instance or an interface id),
    /// every page (`DescribeEipAddresses` with `AssociatedInstanceId`).
    pub async fn describe_eips_of(
        &self,
        instance_id: &str,
    ) -> Result<Outcome<Vec<EipInfo>>, CallError> {
        let mut out = Vec::new();
        let mut calls = Vec::new();
        let mut pager = Pager::new(Action::DescribeEipAddresses, None);
        let mut seen = 0usize;
        for number in 1u32.. {
            let req = ApiRequest::new(Action::DescribeEipAddresses, self.region())
                .with("AssociatedInstanceId", instance_id)
                .with("PageNumber", number.to_string())
                .with("PageSize", VPC_PAGE.to_string());
            let (resp, info) = self.execute::<DescribeEipAddressesResponse>(&req).await?;
            pager.page(&info)?;
            let items = &resp.eip_addresses.eip_address;
            seen += items.len();
            for e in items {
                out.push(EipInfo::try_from(e).map_err(|e| unreadable(&pager, &info, e))?);
            }
            calls.push(info);
            if items.is_empty() || seen >= usize::try_from(resp.total_count).unwrap_or(0) {
                break;
            }
        }
        Ok(Outcome { value: out, calls })
    }
}
