//! Exports of one set of groups to Terraform HCL, ROS and CSV, pinned by
//! golden files, and what each format cannot say.

mod common;

use common::{golden, read};
use moat_interchange::{ExportError, import_id, render_csv, render_ros, render_terraform};
use moat_policy::{GroupPolicy, PortRange, load_policy_str};
use moat_testkit::assert_golden;

fn groups() -> Vec<GroupPolicy> {
    load_policy_str("groups.yaml", &read("export/groups.yaml"))
        .unwrap_or_else(|d| panic!("{d:?}"))
        .groups
}

#[test]
fn terraform_hcl_with_import_blocks() {
    let hcl = render_terraform(&groups()).unwrap_or_else(|e| panic!("{e}"));
    assert_golden(golden("export/groups.tf"), &hcl);
}

#[test]
fn terraform_hcl_for_several_regions_uses_provider_aliases() {
    let mut gs = groups();
    gs[0].region = "cn-shanghai".into();
    let hcl = render_terraform(&gs).unwrap_or_else(|e| panic!("{e}"));
    assert_golden(golden("export/two-regions.tf"), &hcl);
}

#[test]
fn ros_template() {
    let ros = render_ros(&groups()).unwrap_or_else(|e| panic!("{e}"));
    assert_golden(golden("export/groups.ros.json"), &ros);
}

#[test]
fn ros_template_holds_one_region() {
    let mut gs = groups();
    gs[0].region = "cn-shanghai".into();
    assert!(matches!(
        render_ros(&gs),
        Err(ExportError::Regions { regions, .. }) if regions == ["cn-hangzhou", "cn-shanghai"]
    ));
}

#[test]
fn csv_whitelist() {
    let csv = render_csv(&groups()).unwrap_or_else(|e| panic!("{e}"));
    assert_golden(golden("export/groups.csv"), &csv);
}

#[test]
fn quintuple_rules_are_refused_by_every_format() {
    let mut gs = groups();
    gs[0].rules[0].rule.key.source_ports = Some(PortRange::single(1024));
    for (format, result) in [
        ("terraform", render_terraform(&gs)),
        ("ros", render_ros(&gs)),
        ("csv", render_csv(&gs)),
    ] {
        let err = result.err().unwrap_or_else(|| panic!("{format} wrote it"));
        assert!(err.to_string().contains("source port"), "{format}: {err}");
    }
}

#[test]
fn every_import_block_id_is_the_one_the_provider_computes() {
    for g in groups() {
        for r in &g.rules {
            let id = import_id(&g.id, &r.rule.key, r.rule.priority);
            let parts: Vec<&str> = id.split(':').collect();
            // ParseResourceId(id, 8) in the provider: exactly eight parts.
            assert_eq!(parts.len(), 8, "{id}");
            assert_eq!(parts[0], g.id);
            assert_eq!(parts[7], r.rule.priority.to_string());
        }
    }
}
