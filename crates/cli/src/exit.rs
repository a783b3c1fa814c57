//! Exit codes, the one place errors are printed, and the hints: what to do
//! about an error is chosen here, from the typed errors of the libraries,
//! never written into their messages.

use std::io::Write;

use moat_aliyun::{ConfigError, CredentialError};
use moat_diff::{MergeError, PlanError, ShardSetError};
use moat_exec::{GuardError, GuardProblem, PreflightError};
use moat_interchange::ErrorKind as ImportErrorKind;

/// Exit codes, the same for every command (DESIGN 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success, nothing to do, or in sync.
    Ok = 0,
    /// Bad input, an API failure, a refused apply, lint errors.
    Error = 1,
    /// Changes present (`plan --detailed-exitcode`, `drift`).
    Changes = 2,
    /// Stopped by SIGINT or SIGTERM (128 + 2, as shells report it).
    Interrupted = 130,
}

/// Prints the error chain once, each cause on its own line, then the hints
/// for it, and returns the error exit code.
pub fn report(err: &anyhow::Error) -> Exit {
    // A reader that went away (`moat plan | head`) is not worth a message.
    let broken_pipe = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return Exit::Error;
    }
    let mut stderr = crate::output::stderr();
    let _ = write!(stderr, "error: {err}");
    for cause in err.chain().skip(1) {
        let _ = write!(stderr, ": {cause}");
    }
    let _ = writeln!(stderr);
    for hint in hints(err) {
        let _ = writeln!(stderr, "hint: {hint}");
    }
    Exit::Error
}

/// An error the CLI raises itself, with what to do about it as data.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hints: Vec<String>,
}

impl Hinted {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Hinted {
        Hinted {
            message: message.into(),
            hints: vec![hint.into()],
        }
    }
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// What to do about `err`, from the first cause moat knows.
pub fn hints(err: &anyhow::Error) -> Vec<String> {
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            return h.hints.clone();
        }
        if let Some(e) = cause.downcast_ref::<ConfigError>() {
            return config_hint(e).into_iter().collect();
        }
        if let Some(CredentialError::StsEndpoint(e)) = cause.downcast_ref::<CredentialError>() {
            return config_hint(e).into_iter().collect();
        }
        // `MergeError::Shards` is transparent: the shard error is not a
        // cause of its own in the chain.
        let shards = match cause.downcast_ref::<MergeError>() {
            Some(MergeError::Shards(e)) => Some(e),
            _ => cause.downcast_ref::<ShardSetError>(),
        };
        if let Some(ShardSetError::Unsharded { .. }) = shards {
            return vec![
                "merge the reports of one matrix of runs, each with its own --shard K/N".to_owned(),
            ];
        }
        if let Some(e) = cause.downcast_ref::<PreflightError>() {
            return match e {
                PreflightError::Stale(_) => vec![stale_hint()],
                PreflightError::Refused(g) => guard_hints(g),
                PreflightError::Read(_) => Vec::new(),
            };
        }
        if let Some(g) = cause.downcast_ref::<GuardError>() {
            return guard_hints(g);
        }
        if let Some(PlanError::NotSigned { .. }) = cause.downcast_ref::<PlanError>() {
            return vec![
                "plans are signed by `moat plan -o PLANFILE` when MOAT_PLAN_KEY or --plan-key-file gives the key; plan again with the key apply uses".to_owned(),
            ];
        }
        if let Some(PlanError::HashMismatch { .. } | PlanError::UnsupportedSchema { .. }) =
            cause.downcast_ref::<PlanError>()
        {
            return vec![
                "make a new plan with this moat: moat plan POLICIES -o PLANFILE".to_owned(),
            ];
        }
    }
    Vec::new()
}

fn config_hint(e: &ConfigError) -> Option<String> {
    match e {
        ConfigError::PlainHttpNotLoopback { .. } => Some(
            "use https, or allow plain http to this host explicitly with --insecure-http"
                .to_owned(),
        ),
        _ => None,
    }
}

/// What to do about one problem of an import, when a flag solves it.
pub fn import_hint(kind: &ImportErrorKind) -> Option<String> {
    match kind {
        ImportErrorKind::Unresolved { target, .. } => Some(format!(
            "for a security group, pass --group-id {target}=sg-..."
        )),
        ImportErrorKind::CreatedGroup { logical_id } => {
            Some(format!("pass --group-id {logical_id}=sg-..."))
        }
        ImportErrorKind::NoRegion { .. } => Some("pass --region".to_owned()),
        _ => None,
    }
}

fn stale_hint() -> String {
    "run moat plan again, review the new plan, and apply that one".to_owned()
}

fn guard_hints(g: &GuardError) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |hint: &str| {
        if !out.iter().any(|h| h == hint) {
            out.push(hint.to_owned());
        }
    };
    for p in &g.problems {
        match p {
            GuardProblem::Protected { .. } => {
                add("to remove or change protected rules anyway, pass --allow-protected")
            }
            GuardProblem::MaxDestroy { .. } => {
                add("to allow more removals, raise --max-destroy (default 25)")
            }
            GuardProblem::RuleQuota { .. } | GuardProblem::GroupRefQuota { .. } => add(
                "split the plan into smaller ones; if the account's rule quota is higher, pass --rules-per-group",
            ),
            GuardProblem::MissingGroup { .. } => {
                add("create the group, or remove it from the policy (moat does not create groups)")
            }
            GuardProblem::Malformed { .. }
            | GuardProblem::InvalidRule { .. }
            | GuardProblem::InvalidGroup { .. }
            | GuardProblem::ForeignRuleId { .. } => {
                add("the plan file was not written by moat plan, or was edited: make a new plan")
            }
        }
    }
    out
}

/// Prints a command-line error (or the help and version texts clap produces
/// through the same path). Usage errors exit 1, not clap's default 2, because
/// 2 means "changes present" everywhere in moat.
pub fn usage(err: &clap::Error) -> std::process::ExitCode {
    let _ = err.print();
    let code = if err.use_stderr() {
        Exit::Error
    } else {
        Exit::Ok
    };
    std::process::ExitCode::from(code as u8)
}
