//! Exit codes and the one place errors are printed.

use std::io::Write;

/// Exit codes, the same for every command (DESIGN 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success, nothing to do, or in sync.
    Ok = 0,
    /// Bad input, an API failure, a refused apply, lint errors.
    Error = 1,
    /// Changes present (`plan --detailed-exitcode`, `drift`).
    #[allow(dead_code, reason = "returned by plan and drift")]
    Changes = 2,
}

/// Prints the error chain once, each cause on its own line, and returns the
/// error exit code.
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
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "error: {err}");
    for cause in err.chain().skip(1) {
        let _ = write!(stderr, ": {cause}");
    }
    let _ = writeln!(stderr);
    Exit::Error
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
