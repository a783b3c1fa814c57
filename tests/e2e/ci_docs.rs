//! A workflow linter over the CI examples of docs/ci.md: every YAML block
//! parses; a GitHub Actions workflow has `on` and `jobs`, each job
//! `runs-on` and `steps`, each step exactly one of `uses` and `run`; a
//! GitLab CI file's jobs each have a `script` (and a `parallel: matrix` is a
//! list of variable maps); and every `moat` command the scripts run is a
//! subcommand of this binary taking the flags written (checked against its
//! `--help`). No network and no foreign tool: the YAML is read as YAML.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::{TestEnv, repo_root};

/// The YAML blocks of a Markdown text, with the line each starts at.
fn yaml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim_start() == "```yaml" => current = Some((n + 1, String::new())),
            Some(_) if line.trim_start() == "```" => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// GitLab's top-level keys that are not jobs.
const GITLAB_RESERVED: [&str; 10] = [
    "stages",
    "variables",
    "default",
    "include",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
];

/// The scripts of a workflow, each with where it is, after its structure
/// is checked. Problems are pushed to `problems`.
fn scripts_of(at: &str, doc: &Value, problems: &mut Vec<String>) -> Vec<(String, String)> {
    let mut scripts = Vec::new();
    let Some(top) = doc.as_object() else {
        problems.push(format!("{at}: not a mapping"));
        return scripts;
    };
    if top.contains_key("jobs") {
        // GitHub Actions.
        if !top.contains_key("on") {
            problems.push(format!("{at}: a workflow needs `on`"));
        }
        let Some(jobs) = top["jobs"].as_object().filter(|j| !j.is_empty()) else {
            problems.push(format!("{at}: `jobs` is not a non-empty mapping"));
            return scripts;
        };
        for (name, job) in jobs {
            let here = format!("{at}: job {name}");
            if job.get("runs-on").is_none() {
                problems.push(format!("{here}: no `runs-on`"));
            }
            if let Some(needs) = job.get("needs") {
                let named: Vec<&str> = match needs {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                for n in named {
                    if !jobs.contains_key(n) {
                        problems.push(format!("{here}: `needs` names no job {n:?}"));
                    }
                }
            }
            let Some(steps) = job.get("steps").and_then(Value::as_array) else {
                problems.push(format!("{here}: no `steps` list"));
                continue;
            };
            for (i, step) in steps.iter().enumerate() {
                let uses = step.get("uses");
                let run = step.get("run");
                match (uses, run) {
                    (Some(_), None) => {}
                    (None, Some(Value::String(text))) => {
                        scripts.push((format!("{here} step {}", i + 1), text.clone()));
                    }
                    _ => problems.push(format!(
                        "{here} step {}: needs exactly one of `uses` and `run` (a string)",
                        i + 1
                    )),
                }
            }
        }
    } else {
        // GitLab CI: every other top-level key that is not hidden is a job.
        let jobs: Vec<(&String, &Value)> = top
            .iter()
            .filter(|(k, _)| !k.starts_with('.') && !GITLAB_RESERVED.contains(&k.as_str()))
            .collect();
        if jobs.is_empty() {
            problems.push(format!("{at}: neither a GitHub workflow nor GitLab jobs"));
        }
        for (name, job) in jobs {
            let here = format!("{at}: job {name}");
            let lines: Vec<String> = match job.get("script") {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) if !a.is_empty() => a
                    .iter()
                    .map(|l| l.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .unwrap_or_else(|| {
                        problems.push(format!("{here}: a `script` line is not a string"));
                        Vec::new()
                    }),
                _ => {
                    problems.push(format!("{here}: no `script`"));
                    Vec::new()
                }
            };
            if let Some(parallel) = job.get("parallel") {
                let ok = match parallel {
                    Value::Number(_) => true,
                    Value::Object(p) => p
                        .get("matrix")
                        .and_then(Value::as_array)
                        .is_some_and(|m| m.iter().all(Value::is_object)),
                    _ => false,
                };
                if !ok {
                    problems.push(format!(
                        "{here}: `parallel` is a number or `matrix:` a list of maps"
                    ));
                }
            }
            for (i, line) in lines.into_iter().enumerate() {
                scripts.push((format!("{here} script line {}", i + 1), line));
            }
        }
    }
    scripts
}

/// The `moat` commands of a shell script: the words after `moat` up to the
/// end of the command (a pipe, a redirection, `;`, `&&`, `||`).
fn moat_commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut commands = Vec::new();
    for line in joined.lines() {
        let line = line.split(" #").next().unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let starts = i == 0
                || matches!(
                    words[i - 1],
                    "|" | "||" | "&&" | ";" | "then" | "do" | "else" | ";;"
                )
                || words[i - 1].ends_with(')')
                || words[i - 1].ends_with(';');
            if *w != "moat" || !starts {
                continue;
            }
            let args: Vec<String> = words[i + 1..]
                .iter()
                .take_while(|a| {
                    !matches!(**a, "|" | "||" | "&&" | ";" | ";;")
                        && !a.starts_with('>')
                        && !a.starts_with("2>")
                })
                .map(|a| (*a).to_owned())
                .collect();
            commands.push(args);
        }
    }
    commands
}

#[test]
fn the_ci_examples_are_valid_workflows_running_moat_commands_that_exist() {
    let path = repo_root().join("docs/ci.md");
    let markdown = std::fs::read_to_string(&path).expect("docs/ci.md");
    let blocks = yaml_blocks(&markdown);
    assert!(
        blocks.len() >= 6,
        "the examples of docs/ci.md: {}",
        blocks.len()
    );
    let env = TestEnv::new();
    let mut help: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (line, text) in &blocks {
        let at = format!("docs/ci.md:{line}");
        let doc: Value = match serde_saphyr::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{at}: not valid YAML: {e}"));
                continue;
            }
        };
        for (where_, script) in scripts_of(&at, &doc, &mut problems) {
            for args in moat_commands(&script) {
                // `report` has subcommands of its own.
                let depth = if args.first().map(String::as_str) == Some("report") {
                    2
                } else {
                    1
                };
                if args.len() < depth {
                    problems.push(format!("{where_}: `moat` without a subcommand"));
                    continue;
                }
                let sub = args[..depth].join(" ");
                let text = help.entry(sub.clone()).or_insert_with(|| {
                    let mut a: Vec<&str> = args[..depth].iter().map(String::as_str).collect();
                    a.push("--help");
                    let run = env.run(&a);
                    if run.code == Some(0) {
                        run.stdout
                    } else {
                        String::new()
                    }
                });
                if text.is_empty() {
                    problems.push(format!("{where_}: `moat {sub}` is not a command"));
                    continue;
                }
                for flag in args[depth..].iter().filter(|a| a.starts_with('-')) {
                    let name = flag.split('=').next().unwrap_or(flag);
                    let listed = text
                        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
                        .any(|w| w == name || w.split('=').next() == Some(name));
                    if !listed {
                        problems.push(format!("{where_}: `moat {sub}` takes no {name}"));
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 8, "moat commands checked: {checked}");
}

#[test]
fn the_linter_finds_what_it_is_for() {
    let mut problems = Vec::new();
    let bad: Value = serde_saphyr::from_str(
        "on: push\njobs:\n  a:\n    steps:\n      - run: moat plan\n        uses: x\n  b:\n    runs-on: x\n    needs: [c]\n    steps: []\n",
    )
    .expect("YAML");
    scripts_of("gh", &bad, &mut problems);
    let gitlab: Value =
        serde_saphyr::from_str("drift:\n  parallel:\n    matrix: {SHARD: x}\nother:\n  stage: x\n")
            .expect("YAML");
    scripts_of("gl", &gitlab, &mut problems);
    let text = problems.join("\n");
    for expected in [
        "gh: job a: no `runs-on`",
        "gh: job a step 1: needs exactly one of `uses` and `run`",
        "gh: job b: `needs` names no job \"c\"",
        "gl: job drift: no `script`",
        "gl: job drift: `parallel` is a number or `matrix:` a list of maps",
        "gl: job other: no `script`",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
    let found = moat_commands(
        "set +e\nmoat drift p/ --shard \"$S\" --format json > d.json || x ; moat report merge a b",
    );
    let expected: Vec<Vec<String>> = [
        vec!["drift", "p/", "--shard", "\"$S\"", "--format", "json"],
        vec!["report", "merge", "a", "b"],
    ]
    .iter()
    .map(|c| c.iter().map(|w| (*w).to_owned()).collect())
    .collect();
    assert_eq!(found, expected);
}
