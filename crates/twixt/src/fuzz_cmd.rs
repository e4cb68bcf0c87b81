//! `twixt fuzz`: which frame sizes and shapes a code generator gets wrong, from a model of
//! Go's arm64 assembler (`--synthetic`) or from real toolchains (`--go`).

/// Arguments of `twixt fuzz` (both modes).
#[derive(clap::Args, Debug)]
pub struct FuzzArgs {
    /// Sweep frame sizes through the model of Go's arm64 assembler.
    #[arg(long)]
    pub synthetic: bool,
    /// Generate, compile and scan Go programs with this toolchain (e.g. 1.23.4).
    #[arg(long, value_name = "VERSION", conflicts_with = "synthetic")]
    pub go: Option<String>,
}

/// Runs `twixt fuzz`.
pub fn run(args: FuzzArgs) -> Result<std::process::ExitCode, String> {
    if args.synthetic {
        crate::fuzz_synthetic::run(&args)
    } else if args.go.is_some() {
        crate::fuzz_go::run(&args)
    } else {
        Err("twixt fuzz: choose --synthetic or --go VERSION (see --help)".into())
    }
}
