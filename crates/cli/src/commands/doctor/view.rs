//! The views of a doctor run: text for a terminal, JSON (the run itself)
//! and Markdown for a ticket or a pull request. All take the same data.

use std::io::{self, Write};

use moat_exec::{DoctorRun, Step};
use moat_policy::Direction;

fn subject(run: &DoctorRun) -> String {
    let i = &run.instance;
    let mut s = match (&i.id, &i.name) {
        (Some(id), Some(name)) => format!("{id} \"{name}\""),
        (Some(id), None) => id.clone(),
        (None, _) => i.interface.clone(),
    };
    s.push_str(&format!(" ({})", i.region));
    s
}

fn flow(run: &DoctorRun) -> String {
    let f = &run.flow;
    let service = match f.port {
        Some(p) => format!("{}/{p}", f.protocol),
        None => f.protocol.to_string(),
    };
    match f.direction {
        Direction::Ingress => format!("inbound {service} from {}", f.peer),
        Direction::Egress => format!("outbound {service} to {}", f.peer),
    }
}

fn verdict(run: &DoctorRun) -> String {
    match run.first_failure {
        Some(id) => format!("The flow stops at step {}.", id.as_str()),
        None => "No step failed; check the manual steps.".to_owned(),
    }
}

fn timing(s: &Step) -> String {
    format!("at {}, {} ms", s.started_at, s.duration_ms)
}

pub fn render_text(run: &DoctorRun, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "moat doctor: {}, {}", subject(run), flow(run))?;
    writeln!(out)?;
    for s in &run.steps {
        writeln!(
            out,
            "{:<8} {:<16} {}",
            s.status.as_str(),
            s.id.as_str(),
            s.finding
        )?;
        if !s.evidence.is_empty() {
            writeln!(out, "{:25}evidence: {}", "", s.evidence.join(", "))?;
        }
        for c in &s.commands {
            writeln!(out, "{:25}$ {c}", "")?;
        }
        writeln!(out, "{:25}{}", "", timing(s))?;
    }
    writeln!(out)?;
    writeln!(out, "{}", verdict(run))
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn render_markdown(run: &DoctorRun, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "### moat doctor: {}", cell(&subject(run)))?;
    writeln!(out)?;
    writeln!(out, "{}. **{}**", cell(&flow(run)), verdict(run))?;
    writeln!(out)?;
    writeln!(out, "| step | status | finding | evidence | started | ms |")?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- |")?;
    for s in &run.steps {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            s.id.as_str(),
            s.status.as_str(),
            cell(&s.finding),
            cell(&s.evidence.join(", ")),
            s.started_at,
            s.duration_ms
        )?;
    }
    let manual: Vec<&Step> = run
        .steps
        .iter()
        .filter(|s| !s.commands.is_empty())
        .collect();
    if !manual.is_empty() {
        writeln!(out)?;
        writeln!(out, "<details><summary>Commands to run by hand</summary>")?;
        writeln!(out)?;
        for s in manual {
            writeln!(out, "**{}**", s.id.as_str())?;
            writeln!(out)?;
            writeln!(out, "```sh")?;
            for c in &s.commands {
                writeln!(out, "{c}")?;
            }
            writeln!(out, "```")?;
            writeln!(out)?;
        }
        writeln!(out, "</details>")?;
    }
    Ok(())
}
