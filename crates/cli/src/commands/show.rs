//! `moat show PLANFILE [--format text|json|csv|markdown]`: a saved plan in
//! any view, without calling the API (like `terraform show`).
//!
//! The file is checked as `moat apply PLANFILE` checks it (format, schema,
//! hash, and the signature when a key is configured), with the same errors,
//! so what is shown is what apply would carry out.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::args::GlobalArgs;
use crate::exit::Exit;
use crate::planning::{SigningArgs, read_plan_file, render_options};

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The plan a `moat plan -o PLANFILE` saved.
    #[arg(value_name = "PLANFILE")]
    pub plan: PathBuf,
    /// Output form: text (a Terraform-style preview), json, csv or markdown.
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
    #[command(flatten)]
    pub signing: SigningArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Text,
    Json,
    Csv,
    Markdown,
}

pub fn run(global: &GlobalArgs, args: &ShowArgs) -> anyhow::Result<Exit> {
    let plan = read_plan_file(&args.plan, &args.signing, "show")?;
    let render = match args.format {
        ShowFormat::Text => moat_diff::render_text,
        ShowFormat::Json => moat_diff::render_json,
        ShowFormat::Csv => moat_diff::render_csv,
        ShowFormat::Markdown => moat_diff::render_markdown,
    };
    let mut out = crate::output::stdout_raw();
    render(&plan, &render_options(global), &mut out).context("writing the plan to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(Exit::Ok)
}
