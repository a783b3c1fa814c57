//! The command line itself: where each option belongs, the help text of
//! every subcommand, a reader that closes the pipe, `TERM=dumb`, and
//! Terraform's spelling of `-o`.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

use crate::cloud::with_examples;
use crate::common::TestEnv;

/// The subcommands `moat --help` lists, `help` aside.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_help_of_every_subcommand_is_pinned() {
    let env = TestEnv::new();
    let top = env.run(&["--help"]);
    top.expect_code(0);
    top.assert_golden("help/moat");
    let names = subcommands(&top.stdout);
    assert!(names.len() >= 10, "{}", top.stdout);
    for name in &names {
        let run = env.run(&[name, "--help"]);
        run.expect_code(0);
        run.assert_golden(&format!("help/{name}"));
    }
    for nested in ["terraform", "ros", "csv"] {
        let run = env.run(&["import", nested, "--help"]);
        run.expect_code(0);
        run.assert_golden(&format!("help/import-{nested}"));
    }
}

#[test]
fn cloud_options_belong_to_the_commands_that_talk_to_the_cloud() {
    let env = with_examples();
    // Before or after the subcommand, on a command that reads the cloud.
    env.run(&["--local", "--timeout", "30", "plan", "policies/"])
        .expect_code(0)
        .expect_stdout("Plan:");
    env.run(&["drift", "policies/", "--local"]).expect_code(2);
    // Refused by a command that does not, wherever they are written.
    for args in [
        &["validate", "policies/", "--region", "cn-hangzhou"][..],
        &["--region", "cn-hangzhou", "validate", "policies/"],
        &["lint", "--local", "policies/"],
        &["completions", "bash", "--endpoint", "http://127.0.0.1:1"],
        &["emulator", "--access-key-id", "LTAI5tSomething"],
        &["emulator", "--local"],
    ] {
        env.run(args)
            .expect_code(1)
            .expect_stderr("unexpected argument");
    }
    // The help says which options are the cloud's.
    let help = env.run(&["plan", "--help"]);
    help.expect_stdout("Cloud options:\n      --region");
    let help = env.run(&["validate", "--help"]);
    assert!(!help.stdout.contains("--region"), "{}", help.snapshot());
    let help = env.run(&["emulator", "--help"]);
    for foreign in ["--local", "--endpoint", "--access-key-id", "--max-rps"] {
        assert!(!help.stdout.contains(foreign), "{foreign}: {}", help.stdout);
    }
}

#[test]
fn terraform_style_out_is_refused_with_the_spelling_moat_takes() {
    let env = with_examples();
    let run = env.run(&["plan", "--local", "policies/", "-out=plan.json"]);
    run.expect_code(1)
        .expect_stderr("this looks like Terraform's -out=plan.json; moat takes -o plan.json");
    assert!(!env.home().join("ut=plan.json").exists());
    assert!(!env.home().join("plan.json").exists());
}

/// Four groups of 150 rules each, on ports 1000-1149, from `peer`.
fn big_policy(peer: &str) -> String {
    let ports: Vec<String> = (1000..1150).map(|p| format!("tcp/{p}")).collect();
    let mut text = format!(
        "version: 1\nservices:\n  many: [{}]\nsecurity_groups:\n",
        ports.join(", ")
    );
    for n in 1..=4 {
        text.push_str(&format!(
            "  - id: sg-bp1p1pe00000000000{n}\n    region: cn-hangzhou\n    ingress:\n      - description: many ports\n        allow: many\n        from: {peer}\n"
        ));
    }
    text
}

/// Runs `moat ARGS` with stdout into a pipe whose reader takes one line and
/// goes away, and returns the exit code and that line.
fn into_closed_pipe(env: &TestEnv, args: &[&str]) -> (Option<i32>, String) {
    let mut child = env
        .command(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("running moat");
    let mut first = String::new();
    {
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        reader.read_line(&mut first).expect("one line");
    }
    let status = child.wait().expect("waiting for moat");
    (status.code(), first)
}

#[test]
fn a_reader_that_closes_the_pipe_is_not_an_error() {
    let env = TestEnv::new();
    env.write("pol/many.yaml", big_policy("10.0.0.0/8"));
    // Seeds the local cloud with these groups.
    env.run(&["plan", "--local", "pol/"]).expect_code(0);
    // Now every rule changes peer: 600 removals and 600 additions, far more
    // than a pipe holds, so moat is still writing when the reader leaves.
    env.write("pol/many.yaml", big_policy("172.16.0.0/12"));
    let full = env.run(&["plan", "--local", "pol/"]);
    full.expect_code(0);
    assert!(full.stdout.len() > 128 * 1024, "{}", full.stdout.len());

    let (code, first) = into_closed_pipe(&env, &["plan", "--local", "pol/"]);
    assert_eq!(code, Some(0), "{first}");
    assert!(!first.is_empty());
    // The command's own code survives: drift is still reported as drift.
    let (code, _) = into_closed_pipe(&env, &["drift", "--local", "pol/"]);
    assert_eq!(code, Some(2));
    let (code, _) = into_closed_pipe(&env, &["completions", "bash"]);
    assert_eq!(code, Some(0));
}

/// `moat plan --local policies/` on a terminal (script(1)) with `TERM`.
fn on_a_terminal(env: &TestEnv, term: &str) -> String {
    let moat = env!("CARGO_BIN_EXE_moat");
    let out = env
        .command("script")
        .args([
            "-qec",
            &format!("{moat} plan --local policies/"),
            "/dev/null",
        ])
        .env_remove("NO_COLOR")
        .env("TERM", term)
        .stdin(Stdio::null())
        .output()
        .expect("running script(1) for a terminal");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_dumb_terminal_gets_no_colour() {
    let env = with_examples();
    let coloured = on_a_terminal(&env, "xterm-256color");
    assert!(coloured.contains("Plan:"), "{coloured}");
    assert!(coloured.contains('\u{1b}'), "{coloured}");
    let dumb = on_a_terminal(&env, "dumb");
    assert!(dumb.contains("Plan:"), "{dumb}");
    assert!(!dumb.contains('\u{1b}'), "{dumb:?}");
}
