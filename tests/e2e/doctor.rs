//! `moat doctor` against the local cloud's demo instances: every format
//! (golden, with times normalised), the probe against a loopback listener
//! and a closed loopback port, `--record`, exit codes and bad input; and
//! `moat explain --instance` / `--eni` across all groups of an interface.

use std::net::TcpListener;

use crate::cloud::with_examples;
use crate::common::{Run, TestEnv};

/// The run with its clock readings replaced: `started_at` values and
/// millisecond counts differ on every run.
fn normalised(mut run: Run) -> Run {
    run.stdout = normalise(&run.stdout);
    run
}

fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&normalise_line(line));
    }
    out
}

/// Replaces each RFC 3339 time (`2026-12-01T18:42:56.479Z`) with
/// `TIME` and each number before ` ms` / in `"duration_ms": N` / in the
/// Markdown table's last cell with `N`.
fn normalise_line(line: &str) -> String {
    let mut s = String::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // A time starts with four digits and a dash and runs to a `Z`.
        if i + 20 <= chars.len()
            && chars[i..i + 4].iter().all(char::is_ascii_digit)
            && chars[i + 4] == '-'
            && chars[i + 10] == 'T'
            && let Some(end) = chars[i..].iter().position(|c| *c == 'Z')
        {
            s.push_str("TIME");
            i += end + 1;
            continue;
        }
        s.push(chars[i]);
        i += 1;
    }
    let s = replace_number_before(&s, " ms");
    let s = replace_number_after(&s, "\"duration_ms\": ");
    // Markdown rows end with `| TIME | N |`.
    match s.rfind("| TIME | ") {
        Some(at) if s.trim_end().ends_with('|') => format!("{}| TIME | N |\n", &s[..at]),
        _ => s,
    }
}

fn replace_number_before(s: &str, marker: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find(marker) {
        let head = &rest[..at];
        let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push_str(&head[..head.len() - digits]);
            out.push('N');
        } else {
            out.push_str(head);
        }
        out.push_str(marker);
        rest = &rest[at + marker.len()..];
    }
    out.push_str(rest);
    out
}

fn replace_number_after(s: &str, marker: &str) -> String {
    match s.find(marker) {
        Some(at) => {
            let tail = &s[at + marker.len()..];
            let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            format!("{}{marker}N{}", &s[..at], &tail[digits..])
        }
        None => s.to_owned(),
    }
}

fn local() -> TestEnv {
    let env = with_examples();
    // Create the local cloud once, so no run below prints the note.
    env.run(&["plan", "--local", "policies/"]);
    env
}

#[test]
fn doctor_tells_where_the_flow_stops_in_every_format() {
    let env = local();
    let blocked = [
        "doctor",
        "--local",
        "--instance",
        "web-1",
        "--from",
        "203.0.113.10",
        "--port",
        "tcp/443",
    ];
    let text = env.run(&blocked);
    text.expect_code(1)
        .expect_stdout("The flow stops at step network-acl.");
    normalised(text).assert_golden("doctor_text");
    for (format, name) in [("json", "doctor_json"), ("markdown", "doctor_markdown")] {
        let mut args = blocked.to_vec();
        args.extend(["--format", format]);
        let run = env.run(&args);
        run.expect_code(1);
        normalised(run).assert_golden(name);
    }
    // The same instance on a port the ACL lets through: nothing fails.
    let open = env.run(&[
        "doctor",
        "--local",
        "--instance",
        "web-1",
        "--from",
        "203.0.113.10",
        "--port",
        "tcp/80",
    ]);
    open.expect_code(0)
        .expect_stdout("No step failed; check the manual steps.");
    // No public address: the first step fails, and the rest still run.
    let private = env.run(&[
        "doctor",
        "--local",
        "--instance",
        "app-1",
        "--from",
        "203.0.113.10",
        "--port",
        "tcp/8080",
    ]);
    private
        .expect_code(1)
        .expect_stdout("no public IP or EIP is bound")
        .expect_stdout("The flow stops at step instance.")
        .expect_stdout("manual   next");
    normalised(private).assert_golden("doctor_no_public_address");
}

#[test]
fn the_probe_connects_to_a_loopback_listener_and_is_refused_by_a_closed_port() {
    let env = local();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let open = listener.local_addr().expect("addr").to_string();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let base = [
        "doctor",
        "--local",
        "--instance",
        "i-bp1l0ca1web00000001",
        "--from",
        "203.0.113.10",
        "--port",
        "tcp/80",
        "--format",
        "json",
        "--record",
        "doctor.jsonl",
        "--probe",
    ];
    let mut args = base.to_vec();
    args.push(&open);
    let connected = env.run(&args);
    connected.expect_code(0);
    let run: serde_json::Value = serde_json::from_str(&connected.stdout).expect("JSON");
    let probe = &run["steps"][5];
    assert_eq!(probe["id"], "probe");
    assert_eq!(probe["status"], "pass", "{probe}");
    assert!(
        probe["finding"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("connected to {open} in ")),
        "{probe}"
    );
    assert_eq!(run["first_failure"], serde_json::Value::Null);

    let mut args = base.to_vec();
    args.push(&closed);
    let refused = env.run(&args);
    refused.expect_code(1);
    let run: serde_json::Value = serde_json::from_str(&refused.stdout).expect("JSON");
    assert_eq!(run["steps"][5]["status"], "fail");
    assert!(
        run["steps"][5]["finding"]
            .as_str()
            .unwrap_or_default()
            .contains("refused"),
        "{}",
        run["steps"][5]
    );
    assert_eq!(run["first_failure"], "probe");
    // The step after the failure still ran.
    assert_eq!(run["steps"][6]["id"], "next");

    // Each run is one line of the record.
    let record = std::fs::read_to_string(env.home().join("doctor.jsonl")).expect("recorded");
    let lines: Vec<serde_json::Value> = record
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["schema_version"], 1);
    assert_eq!(lines[1]["first_failure"], "probe");
    for step in lines[1]["steps"].as_array().expect("steps") {
        let at = step["started_at"].as_str().expect("a time");
        assert!(at.parse::<jiff::Timestamp>().is_ok(), "not RFC 3339: {at}");
        assert!(step["duration_ms"].is_u64(), "{step}");
    }
    drop(listener);
}

#[test]
fn bad_questions_get_one_clear_error() {
    let env = local();
    for (args, expected) in [
        (
            &[
                "--instance",
                "i-bp1nothere000000000",
                "--from",
                "203.0.113.10",
                "--port",
                "tcp/22",
            ][..],
            "no instance i-bp1nothere000000000 in region cn-hangzhou",
        ),
        (
            &[
                "--eni",
                "eni-bp1nothere00000000",
                "--from",
                "203.0.113.10",
                "--port",
                "tcp/22",
            ],
            "no network interface eni-bp1nothere00000000",
        ),
        (
            &[
                "--instance",
                "web-1",
                "--from",
                "203.0.113.10",
                "--port",
                "22",
            ],
            "a port needs its protocol: tcp/22 or udp/22",
        ),
        (
            &[
                "--instance",
                "web-1",
                "--from",
                "2001:db8::1",
                "--port",
                "tcp/22",
            ],
            "2001:db8::1 is an IPv6 address but eni-bp1l0ca1web0000001 has no IPv6 address",
        ),
    ] {
        let mut all = vec!["doctor", "--local"];
        all.extend_from_slice(args);
        let run = env.run(&all);
        run.expect_code(1).expect_stderr(expected);
        assert!(run.stdout.is_empty(), "{}", run.snapshot());
    }
}

/// A name two instances share, and a stopped instance, against an emulator
/// whose state file says so.
#[test]
fn an_ambiguous_name_and_a_stopped_instance_are_refused() {
    let env = local();
    let path = env.home().join(".moat/local-cloud.json");
    let text = std::fs::read_to_string(&path).expect("state");
    let mut state: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let instances = state["Network"]["Instances"]
        .as_array_mut()
        .expect("instances");
    instances[2]["InstanceName"] = "app-1".into();
    instances[0]["Status"] = "Stopped".into();
    std::fs::write(&path, serde_json::to_string(&state).expect("JSON")).expect("write");
    env.run(&["doctor", "--local", "--instance", "app-1", "--from", "10.0.0.9", "--port", "tcp/22"])
        .expect_code(1)
        .expect_stderr("2 instances in region cn-hangzhou are named app-1 (i-bp1l0ca1app00000001, i-bp1l0ca1db000000001): give the instance id");
    env.run(&[
        "doctor",
        "--local",
        "--instance",
        "web-1",
        "--from",
        "10.0.0.9",
        "--port",
        "tcp/22",
    ])
    .expect_code(1)
    .expect_stderr("instance i-bp1l0ca1web00000001 is Stopped, not Running");
}

#[test]
fn explain_an_instance_across_all_its_groups() {
    let env = local();
    let mut all = String::new();
    for (paths, target, port) in [
        (&[][..], &["--instance", "web-1"][..], "tcp/443"),
        // With the policies, the deciding rule's file and line.
        (&["policies/"], &["--instance", "web-1"], "tcp/443"),
        (&[], &["--eni", "eni-bp1l0ca1app0000001"], "tcp/8080"),
    ] {
        let mut args = vec!["explain"];
        args.extend_from_slice(paths);
        args.push("--local");
        args.extend_from_slice(target);
        args.extend(["--from", "203.0.113.10", "--port", port]);
        let run = env.run(&args);
        run.expect_code(0);
        all.push_str(&run.snapshot());
    }
    moat_testkit::assert_golden(
        crate::common::repo_root().join("tests/e2e/golden/explain_instance.txt"),
        &all,
    );
    assert!(
        all.contains("of sg-bp1w3b7r2k9m4x6q1z8c, policies/web.yaml:"),
        "{all}"
    );
}
