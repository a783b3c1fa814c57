//! Hostile policies: generated inputs of up to 32 MiB built to make a
//! policy loader take as much time or memory as it can (expansion bombs,
//! long name chains, floods of errors, huge scalars), shared by the
//! end-to-end test that runs them through `moat validate` under resource
//! limits and by the benchmark that measures each.
//!
//! Each case writes its files into a directory; nothing is kept in memory.

use std::fmt::Write as _;
use std::path::Path;

/// The largest input, in bytes, any case writes: the size the loader's
/// bounds are stated for.
pub const MAX_INPUT_BYTES: usize = 32 * 1024 * 1024;

/// What loading a case must give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Valid, if odd: exit 0.
    Valid,
    /// Invalid: exit 1, and the report holds this code.
    Error(&'static str),
}

/// One hostile input.
#[derive(Debug)]
pub struct Case {
    pub name: &'static str,
    /// What the case tries, in a few words.
    pub about: &'static str,
    pub expect: Expect,
    /// Light enough for a debug build in a test run (the heavy ones run in
    /// the benchmark, in release).
    pub light: bool,
    /// Writes the case's files into a directory; returns the bytes written.
    pub write: fn(&Path) -> usize,
}

/// Every case, light ones first.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "control-characters-in-names",
            about: "file names and values that would clear the screen and set the terminal's title",
            expect: Expect::Error("MOAT104"),
            light: true,
            write: control_characters_in_names,
        },
        Case {
            name: "flow-style",
            about: "a whole policy in YAML's flow style, starting with `{` as a plan file does",
            expect: Expect::Valid,
            light: true,
            write: flow_style,
        },
        Case {
            name: "bomb-3000x3000",
            about: "one rule, a service of 3,000 ports and a set of 3,000 networks (9,000,000 rules)",
            expect: Expect::Error("MOAT136"),
            light: true,
            write: |dir| bomb(dir, 3_000, 3_000),
        },
        Case {
            name: "bomb-5000x5000",
            about: "one rule, 5,000 ports x 5,000 networks (25,000,000 rules)",
            expect: Expect::Error("MOAT136"),
            light: true,
            write: |dir| bomb(dir, 5_000, 5_000),
        },
        Case {
            name: "bombs-in-every-group",
            about: "20,000 groups, each one rule of 100 ports x 101 networks",
            expect: Expect::Error("MOAT136"),
            light: true,
            write: bombs_in_every_group,
        },
        Case {
            name: "reason-copied",
            about: "a lint_ignore reason of 8 MiB on a rule of 100 ECS rules",
            expect: Expect::Error("MOAT136"),
            light: true,
            write: reason_copied,
        },
        Case {
            name: "lint-codes-copied",
            about: "300,000 lint_ignore codes on a rule of 100 ECS rules",
            expect: Expect::Error("MOAT136"),
            light: true,
            write: lint_codes_copied,
        },
        Case {
            name: "names-of-names",
            about: "100,000 sets that each name one set of 4,000 networks",
            expect: Expect::Error("MOAT136"),
            light: true,
            write: names_of_names,
        },
        Case {
            name: "chain-bottom-up",
            about: "a chain of 100,000 sets, each defined after the one it names",
            expect: Expect::Error("MOAT105"),
            light: true,
            write: |dir| chain(dir, 100_000, true),
        },
        Case {
            name: "chain-top-down",
            about: "a chain of 100,000 sets, each defined before the one it names",
            expect: Expect::Error("MOAT105"),
            light: true,
            write: |dir| chain(dir, 100_000, false),
        },
        Case {
            name: "error-flood",
            about: "3,000,000 networks with host bits set in 7 files",
            expect: Expect::Error("MOAT137"),
            light: false,
            write: error_flood,
        },
        Case {
            name: "error-flood-many-files",
            about: "4,000 files of 750 errors each (2 are shown per file)",
            expect: Expect::Error("MOAT137"),
            light: false,
            write: error_flood_many_files,
        },
        Case {
            name: "too-many-files",
            about: "10,001 policy files in one directory",
            expect: Expect::Error("MOAT129"),
            light: true,
            write: too_many_files,
        },
        Case {
            name: "duplicate-flood",
            about: "25 groups of 10,000 rules that each repeat the rule before",
            expect: Expect::Error("MOAT137"),
            light: false,
            write: duplicate_flood,
        },
        Case {
            name: "huge-scalars",
            about: "a description of 15 MiB and a service of 15 MiB",
            expect: Expect::Error("MOAT112"),
            light: true,
            write: huge_scalars,
        },
        Case {
            name: "huge-key",
            about: "a key of 30 MiB",
            expect: Expect::Error("MOAT100"),
            light: true,
            write: huge_key,
        },
        Case {
            name: "rules-up-to-the-limit",
            about: "101 groups of 10,000 rules with 250-byte descriptions (past 1,000,000 rules)",
            expect: Expect::Error("MOAT136"),
            light: false,
            write: rules_up_to_the_limit,
        },
        Case {
            name: "text-up-to-the-limit",
            about: "14 groups of 10,000 rules with descriptions of 512 four-byte characters",
            expect: Expect::Error("MOAT136"),
            light: false,
            write: text_up_to_the_limit,
        },
        Case {
            name: "largest-valid",
            about: "32 MiB of plain valid groups (about 500,000 rules in 8 files)",
            expect: Expect::Valid,
            light: false,
            write: largest_valid,
        },
    ]
}

/// Writes a generated input for a test or benchmark. A scratch directory the
/// caller just made that cannot be written is a broken test machine, not an
/// input moat must handle, so it stops the test with the path and the cause.
fn write(path: impl AsRef<Path>, text: &str) -> usize {
    let path = path.as_ref();
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    text.len()
}

/// `n` distinct /24 networks, starting at `from`.
fn networks(n: usize, from: usize) -> String {
    (from..from + n)
        .map(|i| format!("10.{}.{}.0/24", (i / 256) % 256, i % 256))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `n` TCP ports from 1,000 up.
fn ports(n: usize) -> String {
    (0..n)
        .map(|i| format!("tcp/{}", 1000 + i))
        .collect::<Vec<_>>()
        .join(", ")
}

fn group(n: usize) -> String {
    format!("sg-bp1hostile{n:07}")
}

fn bomb(dir: &Path, services: usize, peers: usize) -> usize {
    let text = format!(
        "version: 1\naddresses:\n  nets: [{}]\nservices:\n  many: [{}]\nsecurity_groups:\n  - id: {}\n    region: cn-hangzhou\n    ingress:\n      - allow: many\n        from: nets\n",
        networks(peers, 0),
        ports(services),
        group(0)
    );
    write(dir.join("bomb.yaml"), &text)
}

fn control_characters_in_names(dir: &Path) -> usize {
    let addresses = write(
        dir.join("addresses\u{1b}]0;pwned\u{7}.yaml"),
        "version: 1\naddresses:\n  office: 203.0.113.0/28\n",
    );
    addresses
        + write(
            dir.join("web\u{1b}[2J\u{9b}31m\u{202e}.yaml"),
            &format!(
                "version: 1\nsecurity_groups:\n  - id: {}\n    region: cn-hangzhou\n    ingress:\n      - allow: tcp/22\n        from: \"of\\e[2Jfice\\a\"\n",
                group(0)
            ),
        )
}

fn flow_style(dir: &Path) -> usize {
    write(
        dir.join("flow.yaml"),
        &format!(
            "{{version: 1, addresses: {{office: [203.0.113.0/28]}}, security_groups: [{{id: {}, region: cn-hangzhou, ingress: [{{description: ssh, allow: tcp/22, from: office}}]}}]}}\n",
            group(0)
        ),
    )
}

fn bombs_in_every_group(dir: &Path) -> usize {
    let mut text = format!(
        "version: 1\naddresses:\n  nets: [{}]\nservices:\n  many: [{}]\nsecurity_groups:\n",
        networks(101, 0),
        ports(100)
    );
    for g in 0..20_000 {
        let _ = writeln!(
            text,
            "  - id: {}\n    region: cn-hangzhou\n    ingress:\n      - allow: many\n        from: nets",
            group(g)
        );
    }
    write(dir.join("bombs.yaml"), &text)
}

fn reason_copied(dir: &Path) -> usize {
    let text = format!(
        "version: 1\naddresses:\n  nets: [{}]\nservices:\n  many: [{}]\nsecurity_groups:\n  - id: {}\n    region: cn-hangzhou\n    ingress:\n      - allow: many\n        from: nets\n        lint_ignore: [MOAT007]\n        reason: {}\n",
        networks(10, 0),
        ports(10),
        group(0),
        "why ".repeat(8 * 1024 * 1024 / 4)
    );
    write(dir.join("reason.yaml"), &text)
}

fn lint_codes_copied(dir: &Path) -> usize {
    let codes = vec!["MOAT007"; 300_000].join(", ");
    let text = format!(
        "version: 1\naddresses:\n  nets: [{}]\nservices:\n  many: [{}]\nsecurity_groups:\n  - id: {}\n    region: cn-hangzhou\n    ingress:\n      - allow: many\n        from: nets\n        lint_ignore: [{codes}]\n        reason: many codes\n",
        networks(10, 0),
        ports(10),
        group(0),
    );
    write(dir.join("codes.yaml"), &text)
}

fn names_of_names(dir: &Path) -> usize {
    let mut text = format!("version: 1\naddresses:\n  big: [{}]\n", networks(4_000, 0));
    for i in 0..100_000 {
        let _ = writeln!(text, "  copy{i}: [big]");
    }
    write(dir.join("names.yaml"), &text)
}

fn chain(dir: &Path, levels: usize, bottom_up: bool) -> usize {
    let mut links: Vec<String> = (0..levels)
        .map(|i| match i {
            0 => "  a0: [10.0.0.0/8]\n".to_owned(),
            i => format!("  a{i}: [a{}]\n", i - 1),
        })
        .collect();
    if !bottom_up {
        links.reverse();
    }
    write(
        dir.join("chain.yaml"),
        &format!("version: 1\naddresses:\n{}", links.concat()),
    )
}

fn error_flood(dir: &Path) -> usize {
    let mut total = 0;
    for f in 0..7 {
        let entries = vec!["1.1.1.1/1"; 430_000].join(", ");
        total += write(
            dir.join(format!("flood{f}.yaml")),
            &format!("version: 1\naddresses:\n  bad: [{entries}]\n"),
        );
    }
    total
}

fn error_flood_many_files(dir: &Path) -> usize {
    let mut total = 0;
    let entries = vec!["tcp/0"; 750].join(", ");
    let text = format!("version: 1\nservices:\n  bad: [{entries}]\n");
    for f in 0..4_000 {
        total += write(dir.join(format!("f{f:04}.yaml")), &text);
    }
    total
}

fn too_many_files(dir: &Path) -> usize {
    (0..10_001)
        .map(|f| write(dir.join(format!("p{f:05}.yaml")), "version: 1\n"))
        .sum()
}

fn duplicate_flood(dir: &Path) -> usize {
    let mut total = 0;
    let rule = "      - allow: tcp/22\n        from: 10.0.0.0/8\n";
    for g in 0..25 {
        let text = format!(
            "version: 1\nsecurity_groups:\n  - id: {}\n    region: cn-hangzhou\n    ingress:\n{}",
            group(g),
            rule.repeat(10_000)
        );
        total += write(dir.join(format!("dup{g:02}.yaml")), &text);
    }
    total
}

fn huge_scalars(dir: &Path) -> usize {
    let long = "x".repeat(15 * 1024 * 1024);
    let text = format!(
        "version: 1\nsecurity_groups:\n  - id: {}\n    region: cn-hangzhou\n    ingress:\n      - description: {long}\n        allow: {long}/22\n        from: 10.0.0.0/8\n",
        group(0)
    );
    write(dir.join("huge.yaml"), &text)
}

fn huge_key(dir: &Path) -> usize {
    let text = format!("version: 1\n{}: 1\n", "k".repeat(30 * 1024 * 1024));
    write(dir.join("key.yaml"), &text)
}

/// Groups of exactly 10,000 rules each, `groups` of them, with a
/// description of `description` on every rule.
fn full_groups(dir: &Path, groups: usize, description: &str) -> usize {
    let mut total = write(
        dir.join("book.yaml"),
        &format!(
            "version: 1\naddresses:\n  nets: [{}]\nservices:\n  many: [{}]\n",
            networks(100, 0),
            ports(100)
        ),
    );
    let mut text = String::from("version: 1\nsecurity_groups:\n");
    for g in 0..groups {
        let _ = writeln!(
            text,
            "  - id: {}\n    region: cn-hangzhou\n    ingress:\n      - description: {description}\n        allow: many\n        from: nets",
            group(g)
        );
    }
    total += write(dir.join("groups.yaml"), &text);
    total
}

fn rules_up_to_the_limit(dir: &Path) -> usize {
    full_groups(dir, 101, &"d".repeat(250))
}

fn text_up_to_the_limit(dir: &Path) -> usize {
    full_groups(dir, 14, &"\u{1F6A7}".repeat(512))
}

fn largest_valid(dir: &Path) -> usize {
    let mut total = 0;
    let mut g = 0;
    for f in 0.. {
        let mut text = String::from("version: 1\nsecurity_groups:\n");
        for _ in 0..63 {
            let _ = writeln!(
                text,
                "  - id: {}\n    region: cn-hangzhou\n    ingress:",
                group(g)
            );
            for r in 0..1_000 {
                let _ = writeln!(
                    text,
                    "      - allow: tcp/{}\n        from: 10.{}.{}.0/24",
                    1 + r,
                    g % 256,
                    r % 256
                );
            }
            g += 1;
        }
        if total + text.len() > MAX_INPUT_BYTES - 64 * 1024 {
            break;
        }
        total += write(dir.join(format!("valid{f}.yaml")), &text);
    }
    total
}
