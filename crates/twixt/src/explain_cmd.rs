//! `twixt explain`: one function's prologue and epilogues, boundary by boundary, as a
//! terminal table or a self-contained HTML page.

/// Arguments of `twixt explain`.
#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// A Go linux/arm64 binary.
    pub binary: Option<std::path::PathBuf>,
    /// The function to explain, by its full name.
    pub function: Option<String>,
}

/// Runs `twixt explain`.
pub fn run(args: ExplainArgs) -> Result<std::process::ExitCode, String> {
    Err(format!("twixt explain {:?}: not built yet", args.function))
}
