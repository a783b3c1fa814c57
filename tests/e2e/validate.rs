//! `moat validate`: exit codes, the summary, and diagnostics of every file.

use crate::common::{TestEnv, repo_root};

#[test]
fn example_policies_are_valid() {
    let run = TestEnv::new()
        .in_dir(repo_root())
        .run(&["validate", "policies/"]);
    assert_eq!(run.code, Some(0), "{}", run.snapshot());
    run.assert_golden("validate_examples");
}

#[test]
fn every_error_of_every_file_is_reported() {
    let env = TestEnv::new();
    env.write(
        "policies/addresses.yaml",
        "version: 1\naddresses:\n  office: [203.0.113.4/24]\n  vpn: 10.8.0.0/16\nservices:\n  ssh: tcp/22\n",
    );
    env.write(
        "policies/web.yaml",
        "version: 1\n\
         security_groups:\n  \
           - id: sg-bp1web0000000001\n    \
             region: cn-hangzhou\n    \
             ingress:\n      \
               - allow: shh\n        \
                 from: ofice\n      \
               - allow: tcp/0\n        \
                 form: vpn\n",
    );
    env.write("policies/broken.yml", "version: 1\nsecurity_groups: [\n");
    env.write("policies/README.md", "not a policy\n");
    let run = env.run(&["validate", "policies", "missing.yaml"]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
    assert!(run.stdout.is_empty(), "{}", run.snapshot());
    run.assert_golden("validate_errors");
}

#[test]
fn a_directory_without_policies_is_an_error() {
    let env = TestEnv::new();
    env.write("empty/notes.txt", "nothing here\n");
    let run = env.run(&["validate", "empty"]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
    run.assert_golden("validate_no_policies");
}

#[test]
fn json_form_for_tools() {
    let env = TestEnv::new();
    env.write("ok.yaml", "version: 1\nsecurity_groups:\n  - id: sg-bp1web0000000001\n    region: cn-hangzhou\n    ingress:\n      - description: https\n        allow: tcp/443\n        from: \"::/0\"\n");
    env.write("bad.yaml", "version: 1\nsecurity_groups:\n  - id: sg-bp1web0000000002\n    region: cn-hangzhou\n    ingress:\n      - allow: icmp/8\n        from: 10.0.0.0/8\n");
    let ok = env.run(&["validate", "--format", "json", "ok.yaml"]);
    assert_eq!(ok.code, Some(0), "{}", ok.snapshot());
    ok.assert_golden("validate_json_valid");
    let bad = env.run(&["validate", "--format", "json", "ok.yaml", "bad.yaml"]);
    assert_eq!(bad.code, Some(1), "{}", bad.snapshot());
    let parsed: serde_json::Value = serde_json::from_str(&bad.stdout).expect("stdout is JSON");
    assert_eq!(parsed["diagnostics"][0]["code"], "MOAT109");
    bad.assert_golden("validate_json_invalid");
}

#[test]
fn non_utf8_and_hostile_files_fail_cleanly() {
    let env = TestEnv::new();
    env.write(
        "latin1.yaml",
        b"version: 1\naddresses:\n  caf\xe9: 10.0.0.0/8\n",
    );
    let mut bomb = String::from(
        "version: 1\naddresses:\n  a0: &a0 [10.0.0.0/8, 10.0.0.0/8, 10.0.0.0/8, 10.0.0.0/8]\n",
    );
    for i in 1..16 {
        bomb.push_str(&format!(
            "  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}]\n",
            p = i - 1
        ));
    }
    env.write("bomb.yaml", bomb);
    let run = env.run(&["validate", "latin1.yaml", "bomb.yaml"]);
    assert_eq!(run.code, Some(1), "{}", run.snapshot());
    run.assert_golden("validate_hostile");
}

#[test]
fn validate_needs_no_credentials_and_prints_none() {
    let secret = "planted-secret-3f9a";
    let env = TestEnv::new()
        .in_dir(repo_root())
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIplanted")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret);
    for args in [
        &["validate", "policies/"][..],
        &["validate", "-vv", "nope/"][..],
    ] {
        let run = env.run(args);
        assert!(run.code.is_some(), "{}", run.snapshot());
        assert!(!run.snapshot().contains(secret), "{}", run.snapshot());
    }
}

#[test]
fn control_characters_in_file_names_and_values_are_printed_escaped() {
    // A file name that would clear the screen and set the window title,
    // and a description with a BEL: shown as text, never sent raw.
    let env = TestEnv::new();
    env.write(
        "policies/evil\u{1b}]0;pwned\u{7}\u{1b}[2J.yaml",
        "version: 1\nsecurity_groups:\n  - id: sg-bp1web0000000001\n    region: cn-hangzhou\n    ingress:\n      - allow: tcp/22\n        from: 10.0.0.0/8\n        description: \"bell \\a here\"\n      - allow: shh\n        from: 10.0.0.0/8\n",
    );
    for format in ["text", "json"] {
        let run = env.run(&["validate", "policies", "--format", format]);
        run.expect_code(1);
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.chars().any(|c| c.is_control() && c != '\n'),
                "{format}: raw control character on {stream}: {}",
                run.snapshot()
            );
        }
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
            assert_eq!(v["schema_version"], 1);
            assert_eq!(v["valid"], false);
            // JSON keeps the exact name, escaped the JSON way.
            let file = v["diagnostics"][0]["origin"]["file"]
                .as_str()
                .unwrap_or_default();
            assert!(file.contains("evil\u{1b}]0;pwned"), "{file:?}");
        } else {
            run.assert_golden("validate_control_characters");
        }
    }
}
