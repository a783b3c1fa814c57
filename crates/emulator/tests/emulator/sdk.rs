//! Interop with Alibaba Cloud's official SDKs: Python (the old core SDK, the
//! Tea SDK with signature v2 and the Tea SDK with its default ACS3
//! signature, driven by `tests/sdk/interop.py`) and Node.js
//! (`@alicloud/ecs20140526` with its default and with signature v2,
//! `@alicloud/pop-core` with GET and POST, driven by `tests/sdk/interop.js`).
//! Each runs the same scenario; `crate::interop` finds the SDKs or skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::interop;
use crate::support::{KEY_ID, SECRET, start_emulator};

const DESCRIPTION: &str = "SSH admin/ops * ~ & 管理 café";

/// Runs a scenario script against `port` and reads the JSON it prints.
fn run_scenario(mut cmd: Command, script: &str, port: u16) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script);
    let port = port.to_string();
    let out: Output = cmd
        .arg(&path)
        .args(["127.0.0.1", &port, KEY_ID, SECRET, "cn-hangzhou"])
        // The SDKs must use the given key, not one found on this machine.
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .env("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}"))
}

/// The Python with the SDKs, for the other Python interop tests.
pub fn sdk_python() -> Option<PathBuf> {
    interop::python()
}

/// An integer member as an SDK hands it back: the emulator writes a JSON
/// number, and the Node.js Tea models, which type `Priority` as a string,
/// turn it into one.
fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn rules(step: &Value) -> &Vec<Value> {
    step["body"]["Permissions"]["Permission"]
        .as_array()
        .unwrap_or_else(|| panic!("no rules in {step}"))
}

#[track_caller]
fn check_scenario(sdk: &str, steps: &Value) {
    if let Some(trace) = steps.get("crashed") {
        panic!(
            "{sdk} scenario crashed:\n{}",
            trace.as_str().unwrap_or_default()
        );
    }
    for (name, step) in steps.as_object().unwrap() {
        let expect_ok = !matches!(name.as_str(), "wrong_secret" | "missing_group");
        assert_eq!(
            step["ok"].as_bool(),
            Some(expect_ok),
            "{sdk} {name}: {step}"
        );
    }
    let group = steps["create"]["body"]["SecurityGroupId"].as_str().unwrap();

    let after = rules(&steps["describe_after_authorize"]);
    assert_eq!(after.len(), 3, "{sdk}");
    assert_eq!(after[0]["Description"], DESCRIPTION, "{sdk}");
    assert_eq!(after[0]["SourceCidrIp"], "10.0.0.0/8", "{sdk}");
    assert_eq!(after[1]["IpProtocol"], "ICMPv6", "{sdk}");
    assert_eq!(after[1]["Policy"], "Drop", "{sdk}");
    assert_eq!(int(&after[1]["Priority"]), Some(100), "{sdk}");
    assert_eq!(after[2]["PortRange"], "443/443", "{sdk}");

    let listed = &steps["describe_groups"]["body"]["SecurityGroups"]["SecurityGroup"];
    assert_eq!(listed[0]["SecurityGroupId"], group, "{sdk}");
    assert_eq!(int(&listed[0]["RuleCount"]), Some(3), "{sdk}");

    let modified = rules(&steps["describe_after_modify"]);
    assert_eq!(
        modified[2]["SecurityGroupRuleId"], after[2]["SecurityGroupRuleId"],
        "{sdk}"
    );
    assert_eq!(modified[2]["Description"], "https, modified", "{sdk}");
    assert_eq!(int(&modified[2]["Priority"]), Some(10), "{sdk}");

    let by_fields = rules(&steps["describe_after_modify_by_fields"]);
    assert_eq!(by_fields[0]["Description"], "ssh, by fields", "{sdk}");
    assert_eq!(
        by_fields[0]["SecurityGroupRuleId"], after[0]["SecurityGroupRuleId"],
        "{sdk}"
    );
    assert_eq!(
        by_fields[1], modified[1],
        "{sdk}: only the named rule changed"
    );

    let left = rules(&steps["describe_after_revoke"]);
    assert_eq!(left.len(), 1, "{sdk}");
    assert_eq!(left[0]["IpProtocol"], "ICMPv6", "{sdk}");

    let egress = rules(&steps["describe_egress"]);
    assert_eq!(egress.len(), 1, "{sdk}");
    assert_eq!(egress[0]["DestCidrIp"], "0.0.0.0/0", "{sdk}");
    assert_eq!(egress[0]["IpProtocol"], "ALL", "{sdk}");

    let tags = &steps["list_tags"]["body"]["TagResources"]["TagResource"];
    assert_eq!(tags.as_array().map(Vec::len), Some(1), "{sdk}: {tags}");
    assert_eq!(tags[0]["ResourceId"], group, "{sdk}");
    assert_eq!(tags[0]["ResourceType"], "securitygroup", "{sdk}");
    assert_eq!(
        (&tags[0]["TagKey"], &tags[0]["TagValue"]),
        (&Value::from("moat:lock"), &Value::from("holder")),
        "{sdk}"
    );
    let tagged = &steps["describe_tagged"]["body"]["SecurityGroups"]["SecurityGroup"];
    assert_eq!(tagged.as_array().map(Vec::len), Some(1), "{sdk}: {tagged}");
    assert_eq!(tagged[0]["SecurityGroupId"], group, "{sdk}");
    assert_eq!(tagged[0]["Tags"]["Tag"][0]["TagKey"], "moat:lock", "{sdk}");

    let missing = &steps["missing_group"];
    assert_eq!(missing["code"], "InvalidSecurityGroupId.NotFound", "{sdk}");
    assert_eq!(missing["status"], 404, "{sdk}");
}

/// The calls each full scenario makes, counted by the emulator.
fn check_stats(stats: &moat_emulator::Stats, scenarios: u64) {
    assert_eq!(stats.ok("AuthorizeSecurityGroup"), 2 * scenarios);
    assert_eq!(stats.ok("AuthorizeSecurityGroupEgress"), scenarios);
    assert_eq!(stats.ok("RevokeSecurityGroup"), 2 * scenarios);
    assert_eq!(stats.ok("RevokeSecurityGroupEgress"), scenarios);
    assert_eq!(stats.ok("ModifySecurityGroupRule"), 2 * scenarios);
    assert_eq!(stats.ok("TagResources"), scenarios);
    assert_eq!(stats.ok("UntagResources"), scenarios);
    assert_eq!(stats.ok("ListTagResources"), scenarios);
    assert_eq!(stats.errors("DescribeSecurityGroups"), scenarios);
    assert_eq!(stats.errors("DescribeSecurityGroupAttribute"), scenarios);
}

#[test]
fn official_python_sdks_work_unchanged() {
    let Some(python) = interop::python() else {
        return;
    };
    let emu = start_emulator();
    let report = run_scenario(Command::new(python), "interop.py", emu.addr().port());

    check_scenario("core", &report["core"]);
    check_scenario("tea_v2", &report["tea_v2"]);
    check_scenario("tea_acs3", &report["tea_acs3"]);

    // The old core SDK compares the server's string to sign with its own and,
    // when they are equal, reports the wrong secret as such: this holds only
    // if the emulator's SignatureDoesNotMatch message has the exact format.
    assert_eq!(
        report["core"]["wrong_secret"]["code"],
        "InvalidAccessKeySecret"
    );
    for tea in ["tea_v2", "tea_acs3"] {
        assert_eq!(
            report[tea]["wrong_secret"]["code"], "SignatureDoesNotMatch",
            "{tea}"
        );
        assert_eq!(report[tea]["wrong_secret"]["status"], 400, "{tea}");
    }

    check_stats(&emu.emulator().stats(), 3);
    assert!(emu.emulator().is_empty(), "every group was deleted");
}

#[test]
fn official_node_sdks_work_unchanged() {
    let Some(node_path) = interop::node_path() else {
        return;
    };
    let emu = start_emulator();
    let mut node = Command::new("node");
    node.env("NODE_PATH", &node_path);
    let report = run_scenario(node, "interop.js", emu.addr().port());
    let suites = [
        "node_tea_acs3",
        "node_tea_v2",
        "node_pop_get",
        "node_pop_post",
    ];
    for suite in suites {
        check_scenario(suite, &report[suite]);
        assert_eq!(
            report[suite]["wrong_secret"]["code"], "SignatureDoesNotMatch",
            "{suite}"
        );
        assert_eq!(report[suite]["wrong_secret"]["status"], 400, "{suite}");
    }
    check_stats(&emu.emulator().stats(), suites.len() as u64);
    assert!(emu.emulator().is_empty(), "every group was deleted");
}
