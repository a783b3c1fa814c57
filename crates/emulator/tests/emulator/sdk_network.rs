//! The instance, interface and VPC actions through Alibaba Cloud's official
//! Python core SDK, driven by `tests/sdk/network_interop.py`: ECS through the
//! SDK's request classes, VPC through its CommonRequest.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::sdk::sdk_python;
use crate::support::{KEY_ID, SECRET, start_emulator};

#[test]
fn the_official_python_sdk_drives_instances_and_vpc_resources() {
    let Some(python) = sdk_python() else {
        return;
    };
    let emu = start_emulator();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/network_interop.py");
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
        "network_interop.py failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("network_interop.py printed no JSON ({e}):\n{stdout}"));
    if let Some(trace) = steps.get("crashed") {
        panic!("scenario crashed:\n{}", trace.as_str().unwrap_or_default());
    }
    for (name, step) in steps.as_object().unwrap() {
        let expect_ok = !matches!(name.as_str(), "stop_again" | "missing_acl");
        assert_eq!(step["ok"].as_bool(), Some(expect_ok), "{name}: {step}");
    }
    let groups = [
        steps["create_sdk-web"]["body"]["SecurityGroupId"].clone(),
        steps["create_sdk-db"]["body"]["SecurityGroupId"].clone(),
    ];
    let instance = &steps["describe_instances"]["body"]["Instances"]["Instance"][0];
    assert_eq!(instance["InstanceName"], "sdk-app");
    assert_eq!(
        instance["SecurityGroupIds"]["SecurityGroupId"],
        Value::from(groups.to_vec())
    );
    assert_eq!(instance["InternetMaxBandwidthOut"], 5);
    assert_eq!(
        instance["PublicIpAddress"]["IpAddress"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let eni =
        &steps["describe_interfaces"]["body"]["NetworkInterfaceSets"]["NetworkInterfaceSet"][0];
    assert_eq!(eni["InstanceId"], instance["InstanceId"]);
    assert_eq!(steps["stop_again"]["code"], "IncorrectInstanceStatus");
    assert_eq!(steps["stop_again"]["status"], 403);
    let acl = &steps["describe_acl"]["body"]["NetworkAclAttribute"];
    assert_eq!(
        acl["IngressAclEntries"]["IngressAclEntry"][0]["Port"],
        "22/22"
    );
    assert_eq!(
        steps["describe_vswitches"]["body"]["VSwitches"]["VSwitch"][0]["NetworkAclId"],
        steps["create_acl"]["body"]["NetworkAclId"]
    );
    assert_eq!(steps["missing_acl"]["status"], 404);

    let stats = emu.emulator().stats();
    assert_eq!(stats.ok("RunInstances"), 1);
    assert_eq!(stats.ok("JoinSecurityGroup"), 1);
    assert_eq!(stats.ok("LeaveSecurityGroup"), 1);
    assert_eq!(stats.ok("UpdateNetworkAclEntries"), 1);
    assert_eq!(stats.errors("StopInstance"), 1);
}
