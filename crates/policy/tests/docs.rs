//! `docs/policy.md` documents every validation code, with an example and its
//! fix, and the editor modeline.

fn policy_md() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/policy.md"))
        .expect("docs/policy.md exists")
}

#[test]
fn every_code_is_documented_with_an_example_and_a_fix() {
    let doc = policy_md();
    let mut missing = Vec::new();
    for (code, title) in moat_policy::codes::ALL {
        let heading = format!("\n### {code}\n");
        let Some(start) = doc.find(&heading) else {
            missing.push(format!("{code}: no `### {code}` section"));
            continue;
        };
        let section = &doc[start + heading.len()..];
        let section = &section[..section.find("\n### ").unwrap_or(section.len())];
        if !section.contains(&format!("error[{code}]")) {
            missing.push(format!("{code}: the section shows no example diagnostic"));
        }
        if !section.contains("\nFix: ") {
            missing.push(format!("{code}: the section says no fix"));
        }
        if !doc.contains(&format!("| [{code}](#{}) | {title} |", code.to_lowercase())) {
            missing.push(format!("{code}: not in the table of codes as \"{title}\""));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn the_modeline_is_documented() {
    assert!(policy_md().contains("# yaml-language-server: $schema=../docs/policy.schema.json"));
}

fn lint_md() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/lint.md"))
        .expect("docs/lint.md exists")
}

#[test]
fn every_lint_code_is_documented_with_an_example_and_a_fix() {
    let doc = lint_md();
    let mut missing = Vec::new();
    for (code, severity, title) in moat_policy::codes::LINT {
        let heading = format!("\n### {code}\n");
        let Some(start) = doc.find(&heading) else {
            missing.push(format!("{code}: no `### {code}` section"));
            continue;
        };
        let section = &doc[start + heading.len()..];
        let section = &section[..section.find("\n## ").unwrap_or(section.len())];
        let section = &section[..section.find("\n### ").unwrap_or(section.len())];
        if !section.contains(&format!("{severity}[{code}]")) {
            missing.push(format!("{code}: the section shows no example {severity}"));
        }
        if !section.contains("\nFix: ") {
            missing.push(format!("{code}: the section says no fix"));
        }
        let row = format!(
            "| [{code}](#{}) | {severity} | {title} |",
            code.to_lowercase()
        );
        if !doc.contains(&row) {
            missing.push(format!("{code}: not in the table of codes as {row:?}"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
