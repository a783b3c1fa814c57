//! The generated HCL read by parsers that share no code with the library
//! that wrote it.
//!
//! - python-hcl2 (PyPI, pinned by `scripts/hcl-venv.sh`), found through
//!   `MOAT_HCL2_PYTHON`. CI sets it and the test is then mandatory; on a
//!   machine without it the test prints one line and passes.
//! - `terraform fmt -check`, when a `terraform` binary is on the PATH: the
//!   HashiCorp parser, which also checks that the layout is canonical.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{HclBlock, apply_like_terraform, golden, hcl_blocks, options, read, rules};
use moat_interchange::{import_terraform, render_terraform};
use moat_policy::load_policy_str;

/// Every HCL file the tests pin.
const FILES: &[&str] = &[
    "export/groups.tf",
    "export/two-regions.tf",
    "import/state-v4.migration.tf",
    "import/show-plan.migration.tf",
];

fn python() -> Option<PathBuf> {
    match std::env::var_os("MOAT_HCL2_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI must set MOAT_HCL2_PYTHON (scripts/hcl-venv.sh creates it)")
        }
        None => None,
    }
}

fn python_blocks(python: &PathBuf, file: &PathBuf) -> Vec<HclBlock> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/hcl_parser.py");
    let out = Command::new(python)
        .arg(script)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "python-hcl2 refused {}:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    parsed
        .into_iter()
        .map(|b| HclBlock {
            ident: b["ident"].as_str().unwrap_or_default().to_owned(),
            labels: b["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect(),
            attrs: b["attrs"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
        })
        .collect()
}

fn sorted(mut v: Vec<HclBlock>) -> Vec<HclBlock> {
    v.sort();
    v
}

#[test]
fn python_hcl2_reads_what_hcl_edit_reads_and_the_rules_survive() {
    let Some(python) = python() else {
        println!(
            "skipped: set MOAT_HCL2_PYTHON to a python with python-hcl2 (scripts/hcl-venv.sh)"
        );
        return;
    };
    for rel in FILES {
        let path = golden(rel);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let theirs = python_blocks(&python, &path);
        assert!(!theirs.is_empty(), "{rel}: no blocks");
        assert_eq!(sorted(theirs), sorted(hcl_blocks(&text)), "{rel}");
    }
    // The rules as python-hcl2 reads the export, applied and imported.
    let groups = load_policy_str("groups.yaml", &read("export/groups.yaml"))
        .unwrap_or_else(|d| panic!("{d:?}"))
        .groups;
    let hcl = render_terraform(&groups).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("rules.tf");
    std::fs::write(&file, &hcl).unwrap_or_else(|e| panic!("{e}"));
    let state = apply_like_terraform(&python_blocks(&python, &file));
    let imported = import_terraform("t.tfstate", &state, &options(Some("cn-hangzhou"), &[]))
        .unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<_> = groups
        .iter()
        .map(|g| {
            let mut r: Vec<_> = g.rules.iter().map(|r| r.rule.clone()).collect();
            r.sort();
            (g.id.clone(), g.region.clone(), r)
        })
        .collect();
    assert_eq!(rules(&imported), want);
}

#[test]
fn terraform_fmt_finds_the_files_canonical() {
    let Ok(out) = Command::new("terraform").arg("version").output() else {
        println!("skipped: no terraform on the PATH for `terraform fmt -check`");
        return;
    };
    assert!(out.status.success());
    for rel in FILES {
        let out = Command::new("terraform")
            .args(["fmt", "-check", "-diff", "-no-color"])
            .arg(golden(rel))
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "terraform fmt would change {rel}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
