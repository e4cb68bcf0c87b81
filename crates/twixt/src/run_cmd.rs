//! `twixt run`: calls one Go function on a synthetic goroutine, checks every boundary on the
//! executed path (and, with `--inject`, injects real preemptions and compares the state).

/// Arguments of `twixt run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A Go linux/arm64 binary.
    pub binary: std::path::PathBuf,
    /// The function to call, by its full name (e.g. main.chain1).
    pub function: String,
}

/// Runs `twixt run`.
pub fn run(args: RunArgs) -> Result<std::process::ExitCode, String> {
    Err(format!("twixt run {}: not built yet", args.function))
}
