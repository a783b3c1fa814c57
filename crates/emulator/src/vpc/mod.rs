//! VPC, API version 2016-04-28, answered on the same port as ECS and told
//! apart by `Version`: VPCs and vSwitches, EIPs and network ACLs, as far as
//! moat needs them to say where an instance's traffic stops.
//!
//! Actions finish at once (the real UpdateNetworkAclEntries and
//! AssociateNetworkAcl are asynchronous: the ACL shows `Modifying` for a
//! while). Error codes the documentation does not give are marked
//! UNCONFIRMED.

mod acls;
mod eips;
mod vpcs;

use crate::product::{ActionSpec, Product};

/// The VPC API version.
pub(crate) const VPC_API_VERSION: &str = "2016-04-28";

pub(crate) const PRODUCT: Product = Product {
    code: "Vpc",
    version: VPC_API_VERSION,
    service: "vpc",
    regional: true,
    actions: &[
        ActionSpec::write("CreateVpc", vpcs::create_vpc),
        ActionSpec::write("CreateVSwitch", vpcs::create_vswitch),
        ActionSpec::read("DescribeVpcs", vpcs::describe_vpcs),
        ActionSpec::read("DescribeVSwitches", vpcs::describe_vswitches),
        ActionSpec::write("AllocateEipAddress", eips::allocate),
        ActionSpec::write("AssociateEipAddress", eips::associate),
        ActionSpec::write("UnassociateEipAddress", eips::unassociate),
        ActionSpec::read("DescribeEipAddresses", eips::describe),
        ActionSpec::write("CreateNetworkAcl", acls::create),
        ActionSpec::write("UpdateNetworkAclEntries", acls::update_entries),
        ActionSpec::write("AssociateNetworkAcl", acls::associate),
        ActionSpec::read("DescribeNetworkAclAttributes", acls::describe),
    ],
};

/// Legacy paging of the VPC describe actions: the page of `items` and the
/// `PageNumber` / `PageSize` used (sizes up to `max`).
pub(crate) fn page<T: Clone>(
    items: &[T],
    params: &crate::params::Params,
    max: i64,
) -> Result<(Vec<T>, i64, i64), crate::error::ApiError> {
    use crate::ecs::int_param;
    use crate::error::ApiError;
    let number = int_param(params, "PageNumber", "InvalidParameter")?.unwrap_or(1);
    let size = int_param(params, "PageSize", "InvalidParameter")?.unwrap_or(10);
    if number < 1 {
        return Err(ApiError::invalid("InvalidParameter", "PageNumber"));
    }
    if !(1..=max).contains(&size) {
        return Err(ApiError::invalid("InvalidParameter", "PageSize"));
    }
    // Both are positive and bounded by the checks above.
    let (n, s) = (
        usize::try_from(number).unwrap_or(1),
        usize::try_from(size).unwrap_or(10),
    );
    let start = (n - 1).saturating_mul(s).min(items.len());
    let end = items.len().min(start + s);
    Ok((items[start..end].to_vec(), number, size))
}

/// A 404 answer for an unknown resource.
pub(crate) fn not_found(code: &'static str, what: &str) -> crate::error::ApiError {
    crate::error::ApiError::new(404, code, format!("The specified {what} does not exist."))
}

/// `len` as a JSON count.
pub(crate) fn count(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}
