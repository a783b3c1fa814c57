//! Interop with Alibaba Cloud's official Python SDKs (the old core SDK, the
//! Tea SDK with signature v2 and the Tea SDK with its default ACS3
//! signature), driven by `tests/sdk/interop.py`.
//!
//! The interpreter comes from `MOAT_SDK_PYTHON`; without it the test builds
//! the virtual environment with `scripts/sdk-venv.sh`. A missing Python fails
//! the test with a message saying so: it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{KEY_ID, SECRET, start_emulator};

const DESCRIPTION: &str = "SSH admin/ops * ~ & 管理 café";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn sdk_python() -> PathBuf {
    if let Some(p) = std::env::var_os("MOAT_SDK_PYTHON").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "MOAT_SDK_PYTHON points to {}, which does not exist",
            p.display()
        );
        return p;
    }
    let root = workspace_root();
    let out = Command::new("bash")
        .arg(root.join("scripts/sdk-venv.sh"))
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/sdk-venv.sh (bash is required): {e}"));
    assert!(
        out.status.success(),
        "scripts/sdk-venv.sh failed; the SDK interop test needs python3 with venv and pip, \
         and access to the Python package registry.\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    root.join(".venv-sdk/bin/python")
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
    assert_eq!(after[1]["Priority"], 100, "{sdk}");
    assert_eq!(after[2]["PortRange"], "443/443", "{sdk}");

    let listed = &steps["describe_groups"]["body"]["SecurityGroups"]["SecurityGroup"];
    assert_eq!(listed[0]["SecurityGroupId"], group, "{sdk}");
    assert_eq!(listed[0]["RuleCount"], 3, "{sdk}");

    let modified = rules(&steps["describe_after_modify"]);
    assert_eq!(
        modified[2]["SecurityGroupRuleId"], after[2]["SecurityGroupRuleId"],
        "{sdk}"
    );
    assert_eq!(modified[2]["Description"], "https, modified", "{sdk}");
    assert_eq!(modified[2]["Priority"], 10, "{sdk}");

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

#[test]
fn official_python_sdks_work_unchanged() {
    let python = sdk_python();
    let emu = start_emulator();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/interop.py");
    let port = emu.addr().port().to_string();
    let out = Command::new(&python)
        .arg(&script)
        .args(["127.0.0.1", &port, KEY_ID, SECRET, "cn-hangzhou"])
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .env("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "interop.py failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("interop.py printed no JSON ({e}):\n{stdout}"));

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

    // Three scenarios, each with the same calls.
    let stats = emu.emulator().stats();
    assert_eq!(stats.ok("AuthorizeSecurityGroup"), 6);
    assert_eq!(stats.ok("RevokeSecurityGroup"), 6);
    assert_eq!(stats.ok("ModifySecurityGroupRule"), 6);
    assert_eq!(stats.ok("TagResources"), 3);
    assert_eq!(stats.ok("UntagResources"), 3);
    assert_eq!(stats.ok("ListTagResources"), 3);
    assert_eq!(stats.errors("DescribeSecurityGroups"), 3);
    assert_eq!(stats.errors("DescribeSecurityGroupAttribute"), 3);
    assert!(emu.emulator().is_empty(), "both groups were deleted");
}
