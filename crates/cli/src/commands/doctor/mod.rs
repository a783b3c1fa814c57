//! `moat doctor --instance ID|NAME (--from ADDR | --to ADDR) --port
//! PROTO/PORT [--probe HOST:PORT] [--format text|json|markdown] [--record
//! FILE]`: the runbook for "this port times out", from outside to inside.
//!
//! The run is made by `moat_exec::run_doctor` (data); `view` renders it.
//! Exit 0 when no step fails, 1 when one does.

mod view;

use std::io::Write as _;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use moat_exec::{DoctorRun, InterfaceTarget, ProbeTarget, Question, run_doctor};

use crate::args::{CloudArgs, FlowArgs};
use crate::context::{Cloud, runtime};
use crate::exit::Exit;

/// How a run is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    #[default]
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The instance, by id or by name.
    #[arg(
        long,
        value_name = "ID|NAME",
        required_unless_present = "eni",
        conflicts_with = "eni"
    )]
    pub instance: Option<String>,
    /// A network interface instead of an instance's primary one.
    #[arg(long, value_name = "ID")]
    pub eni: Option<String>,
    #[command(flatten)]
    pub flow: FlowArgs,
    /// Connect to HOST:PORT over TCP from here and report connected,
    /// refused or timed out.
    #[arg(long, value_name = "HOST:PORT")]
    pub probe: Option<String>,
    /// Seconds the probe waits for the connection.
    #[arg(long, value_name = "SECONDS", default_value_t = 3)]
    pub probe_timeout: u64,
    #[arg(long, value_enum, default_value_t = DoctorFormat::Text)]
    pub format: DoctorFormat,
    /// Append the run as one JSON line to FILE, a timed record of the
    /// investigation.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

fn probe_target(given: &str) -> anyhow::Result<ProbeTarget> {
    let mut found = given
        .to_socket_addrs()
        .with_context(|| format!("--probe {given}: not HOST:PORT, or HOST does not resolve"))?;
    let Some(address) = found.next() else {
        bail!("--probe {given}: HOST resolves to no address");
    };
    Ok(ProbeTarget {
        given: given.to_owned(),
        address,
    })
}

pub fn run(args: &DoctorArgs) -> anyhow::Result<Exit> {
    let (direction, peer) = args.flow.direction().map_err(anyhow::Error::msg)?;
    let target = match (&args.instance, &args.eni) {
        (Some(i), _) => InterfaceTarget::Instance(i.clone()),
        (None, Some(e)) => InterfaceTarget::Interface(e.clone()),
        (None, None) => bail!("give --instance ID|NAME or --eni ID"),
    };
    let probe = args.probe.as_deref().map(probe_target).transpose()?;
    let (protocol, port) = args.flow.port;
    let question = Question {
        direction,
        protocol,
        port,
        peer,
        probe,
        probe_timeout: Duration::from_secs(args.probe_timeout.max(1)),
    };
    let run: DoctorRun = runtime()?.block_on(async {
        let cloud = Cloud::connect(&args.cloud, None, None).await?;
        let reader = cloud.reader();
        let region = reader.region().to_owned();
        anyhow::Ok(run_doctor(&reader, &region, &target, &question).await?)
    })?;
    if let Some(path) = &args.record {
        record(path, &run)?;
    }
    match args.format {
        // JSON escapes what it must itself: through the escaping stdout a
        // control character would become text that is no longer JSON.
        DoctorFormat::Json => crate::shared::print_json(
            &serde_json::to_string_pretty(&run).context("encoding the run")?,
        )?,
        DoctorFormat::Text => {
            view::render_text(&run, &mut crate::output::stdout()).context("writing to stdout")?
        }
        DoctorFormat::Markdown => view::render_markdown(&run, &mut crate::output::stdout())
            .context("writing to stdout")?,
    }
    Ok(if run.failed() { Exit::Error } else { Exit::Ok })
}

/// Appends the run as one line of JSON.
fn record(path: &std::path::Path, run: &DoctorRun) -> anyhow::Result<()> {
    let mut line = serde_json::to_string(run).context("encoding the run")?;
    line.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {} to record the run", path.display()))?;
    file.write_all(line.as_bytes())
        .with_context(|| format!("cannot record the run in {}", path.display()))
}
