//! Imports of real-shaped Terraform, ROS and CSV files: the policy each
//! gives (and, for Terraform, the migration file) is pinned by golden files,
//! and every imported policy loads and lints without errors.

mod common;

use common::{golden, options, read, rules};
use moat_interchange::{
    Imported, import_csv, import_ros, import_terraform, render_migration, render_policy,
};
use moat_policy::{Severity, lint, load_policy_str};
use moat_testkit::assert_golden;

const HANGZHOU: Option<&str> = Some("cn-hangzhou");
const WEB: (&str, &str) = ("WebSg", "sg-bp1web0000000000001");

/// The policy text, after checking that it loads and lints clean.
fn policy(imported: &Imported) -> String {
    let text =
        render_policy(imported, moat_policy::Mode::Authoritative).unwrap_or_else(|e| panic!("{e}"));
    let set = load_policy_str("imported.yaml", &text).unwrap_or_else(|d| panic!("{d:?}"));
    let today = jiff::civil::date(2026, 12, 1);
    let errors: Vec<_> = lint::lint(&set, today)
        .into_iter()
        .filter(|f| f.counts() == Some(Severity::Error))
        .collect();
    assert!(errors.is_empty(), "lint errors in\n{text}\n{errors:?}");
    text
}

#[test]
fn terraform_state_v4_with_modules_count_and_for_each() {
    let imported = import_terraform(
        "terraform.tfstate",
        &read("terraform/state-v4.tfstate"),
        &options(HANGZHOU, &[]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_golden(golden("import/state-v4.yaml"), &policy(&imported));
    let migration = render_migration(&imported).expect("a Terraform import has a migration");
    assert_golden(golden("import/state-v4.migration.tf"), &migration);
}

#[test]
fn terraform_show_json_of_the_state_gives_the_same_rules() {
    let opts = options(HANGZHOU, &[]);
    let v4 = import_terraform("a", &read("terraform/state-v4.tfstate"), &opts).expect("v4");
    let show = import_terraform("b", &read("terraform/show-state.json"), &opts).expect("show");
    assert_eq!(rules(&v4), rules(&show));
    assert_eq!(
        render_migration(&v4).map(|m| m.replacen("(read from a)", "", 1)),
        render_migration(&show).map(|m| m.replacen("(read from b)", "", 1))
    );
}

#[test]
fn terraform_saved_plan_takes_regions_from_the_provider_configuration() {
    let imported = import_terraform(
        "plan.json",
        &read("terraform/show-plan.json"),
        &options(None, &[]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let regions: Vec<(&str, &str)> = imported
        .groups
        .iter()
        .map(|g| (g.id.as_str(), g.region.as_str()))
        .collect();
    assert_eq!(
        regions,
        [
            ("sg-bp1edge000000000001", "cn-hangzhou"),
            ("sg-uf6api0000000000001", "cn-shanghai")
        ]
    );
    assert_golden(golden("import/show-plan.yaml"), &policy(&imported));
    assert_golden(
        golden("import/show-plan.migration.tf"),
        &render_migration(&imported).expect("migration"),
    );
}

#[test]
fn ros_json_template_with_group_lists_rule_resources_and_permissions() {
    let imported = import_ros(
        "template.json",
        &read("ros/template.json"),
        &options(HANGZHOU, &[WEB]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_golden(golden("import/ros.yaml"), &policy(&imported));
    assert_eq!(render_migration(&imported), None);
}

#[test]
fn ros_yaml_template_reads_like_its_json_twin() {
    let opts = options(HANGZHOU, &[WEB]);
    let json = import_ros("t.json", &read("ros/template.json"), &opts).expect("json");
    let yaml = import_ros("t.yaml", &read("ros/template.yaml"), &opts).expect("yaml");
    assert_eq!(rules(&json), rules(&yaml));
}

#[test]
fn csv_whitelist_with_quoting_and_defaults() {
    let imported = import_csv(
        "whitelist.csv",
        &read("csv/whitelist.csv"),
        &options(None, &[]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_golden(golden("import/whitelist.yaml"), &policy(&imported));
}

/// Bad inputs: one clear error each, naming the file and the place.
#[test]
fn bad_inputs_get_one_located_error_each() {
    let tf = |f: &str| import_terraform(f, &read(&format!("bad/{f}")), &options(HANGZHOU, &[]));
    let csv = |f: &str| import_csv(f, &read(&format!("bad/{f}")), &options(None, &[]));
    let cases = [
        ("not-a-state.json", tf("not-a-state.json")),
        ("state-v3.tfstate", tf("state-v3.tfstate")),
        ("truncated.tfstate", tf("truncated.tfstate")),
        ("unknown-protocol.tfstate", tf("unknown-protocol.tfstate")),
        ("missing-column.csv", csv("missing-column.csv")),
        ("bad-cidr.csv", csv("bad-cidr.csv")),
        (
            "ros-without-group-id",
            import_ros(
                "template.json",
                &read("ros/template.json"),
                &options(HANGZHOU, &[]),
            ),
        ),
        (
            "ros-without-region",
            import_ros(
                "template.json",
                &read("ros/template.json"),
                &options(None, &[WEB]),
            ),
        ),
    ];
    let mut out = String::new();
    for (name, result) in cases {
        let err = result.err().unwrap_or_else(|| panic!("{name} imported"));
        out.push_str(&format!("== {name}\n{}\n", chain(&err)));
    }
    assert_golden(golden("import/bad-inputs.txt"), &out);
}

/// The error as the CLI prints it: the message and each cause.
fn chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        s.push_str(&format!(": {e}"));
        source = e.source();
    }
    s
}

#[test]
fn a_peer_group_of_another_account_imports_as_account_slash_group() {
    let mut state: serde_json::Value =
        serde_json::from_str(&read("terraform/state-v4.tfstate")).expect("json");
    let mysql = state["resources"]
        .as_array_mut()
        .and_then(|rs| rs.iter_mut().find(|r| r["name"] == "mysql"))
        .expect("the mysql resource");
    mysql["instances"][0]["attributes"]["source_group_owner_id"] = "1234567890123456".into();
    let imported = import_terraform("s", &state.to_string(), &options(HANGZHOU, &[]))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = policy(&imported);
    assert!(
        text.contains("\"1234567890123456/sg-bp1web0000000000001\"]"),
        "{text}"
    );
    let set = load_policy_str("imported.yaml", &text).expect("loads");
    let wanted = moat_policy::Peer::Group {
        id: "sg-bp1web0000000000001".into(),
        owner: Some("1234567890123456".into()),
    };
    assert!(
        set.groups
            .iter()
            .flat_map(|g| &g.rules)
            .any(|r| r.rule.key.peer == wanted),
        "{text}"
    );
}
