//! Keeps the crate graph honest: every `moat-*` dependency edge of every
//! crate must be one of the edges drawn in docs/architecture.md.
//!
//! Imports flow one way: cli -> exec -> {diff, aliyun} -> policy, and
//! cli -> interchange -> policy; the emulator shares only the wire types
//! with the client, never the reverse.

use std::collections::BTreeSet;
use std::path::Path;

/// (crate directory, section, allowed moat-* dependencies).
const ALLOWED: &[(&str, &str, &[&str])] = &[
    ("policy", "dependencies", &[]),
    ("wire", "dependencies", &[]),
    ("diff", "dependencies", &["moat-policy"]),
    ("aliyun", "dependencies", &["moat-policy", "moat-wire"]),
    ("emulator", "dependencies", &["moat-wire"]),
    // Terraform, ROS and CSV know the canonical model and nothing above it.
    ("interchange", "dependencies", &["moat-policy"]),
    (
        "exec",
        "dependencies",
        &["moat-policy", "moat-diff", "moat-aliyun", "moat-wire"],
    ),
    (
        "cli",
        "dependencies",
        &[
            "moat-policy",
            "moat-diff",
            "moat-aliyun",
            "moat-exec",
            "moat-emulator",
            "moat-interchange",
            "moat-wire",
        ],
    ),
    ("testkit", "dependencies", &[]),
    // Tests may start the emulator; the emulator itself never sees the client.
    ("policy", "dev-dependencies", &["moat-testkit"]),
    ("wire", "dev-dependencies", &["moat-testkit"]),
    ("diff", "dev-dependencies", &["moat-testkit"]),
    (
        "aliyun",
        "dev-dependencies",
        &["moat-testkit", "moat-emulator"],
    ),
    ("emulator", "dev-dependencies", &["moat-testkit"]),
    ("interchange", "dev-dependencies", &["moat-testkit"]),
    (
        "exec",
        "dev-dependencies",
        &["moat-testkit", "moat-emulator"],
    ),
    (
        "cli",
        "dev-dependencies",
        &["moat-testkit", "moat-emulator", "moat-aliyun"],
    ),
    ("testkit", "dev-dependencies", &[]),
];

/// The `moat-*` names listed in one `[section]` of a Cargo.toml.
fn moat_deps(manifest: &str, section: &str) -> BTreeSet<String> {
    let header = format!("[{section}]");
    let mut inside = false;
    let mut deps = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
            continue;
        }
        if !inside {
            continue;
        }
        let name = line.split(['.', '=', ' ']).next().unwrap_or_default();
        if name.starts_with("moat-") {
            deps.insert(name.to_owned());
        }
    }
    deps
}

#[test]
fn crate_imports_follow_the_architecture() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seen = BTreeSet::new();
    let mut violations = Vec::new();
    for entry in std::fs::read_dir(&crates).expect("crates directory is readable") {
        let dir = entry.expect("directory entry").path();
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let allowed: BTreeSet<&str> = ALLOWED
                .iter()
                .find(|(c, s, _)| *c == name && *s == section)
                .map(|(_, _, deps)| deps.iter().copied().collect())
                .unwrap_or_default();
            if ALLOWED.iter().any(|(c, _, _)| *c == name) {
                seen.insert(name.clone());
            } else {
                violations.push(format!("crates/{name} is not in the architecture table"));
            }
            for dep in moat_deps(&text, section) {
                if !allowed.contains(dep.as_str()) {
                    violations.push(format!("crates/{name} [{section}] imports {dep}"));
                }
            }
        }
    }
    assert!(
        seen.len() >= 9,
        "expected every crate to be checked, saw {seen:?}"
    );
    assert!(
        violations.is_empty(),
        "import edges not in docs/architecture.md:\n{}",
        violations.join("\n")
    );
}

#[test]
fn dependency_sections_are_parsed() {
    let manifest = "[dependencies]\nmoat-policy.workspace = true\nserde = \"1\"\n\n[dev-dependencies]\nmoat-emulator = { workspace = true }\n";
    assert_eq!(
        moat_deps(manifest, "dependencies"),
        BTreeSet::from(["moat-policy".to_owned()])
    );
    assert_eq!(
        moat_deps(manifest, "dev-dependencies"),
        BTreeSet::from(["moat-emulator".to_owned()])
    );
}
