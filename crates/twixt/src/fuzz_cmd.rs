//! `twixt fuzz`: which frame sizes and shapes a code generator gets wrong, from a model of
//! Go's arm64 assembler (`--synthetic`) or from real toolchains (`--go`).

/// Arguments of `twixt fuzz` (both modes).
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    twixt fuzz --synthetic --generation 1.21.7 --frames 0..=0x20000\n  \
    twixt fuzz --synthetic --generation fixed --shape leaf --format json\n  \
    twixt fuzz --synthetic    (every generation, 0 to 16 MiB + 64 KiB, both shapes)\n\n\
    Generations: 1.19 (go1.19 to go1.21.6), 1.21.7 (go1.21.7 to go1.23.11), 1.24 (go1.24.0 to\n\
    go1.24.10), fixed (go1.24.11, go1.25.0 and later); a release such as go1.23.4 also works.\n\
    Exit status: 0 no unsafe frame size, 1 unsafe frame sizes found, 2 error.")]
pub struct FuzzArgs {
    /// Sweep frame sizes through the model of Go's arm64 assembler.
    #[arg(long)]
    pub synthetic: bool,
    /// Generate, compile and scan Go programs with this toolchain (e.g. 1.23.4).
    #[arg(long, value_name = "VERSION", conflicts_with = "synthetic")]
    pub go: Option<String>,

    // --- synthetic mode (keep these together) ---
    /// Synthetic mode: the assembler generation to model (1.19, 1.21.7, 1.24, fixed, or a
    /// Go release such as go1.23.4); every generation when absent.
    #[arg(long, value_name = "G", requires = "synthetic")]
    pub generation: Option<String>,
    /// Synthetic mode: the frame sizes to sweep, `LO..=HI` in bytes (decimal or 0x hex),
    /// every multiple of 16 in between [default: 0..=0x1010000, i.e. 16 MiB + 64 KiB].
    #[arg(long, value_name = "LO..=HI", requires = "synthetic")]
    pub frames: Option<String>,
    /// Synthetic mode: which function shapes to sweep.
    #[arg(long, value_enum, default_value = "both", requires = "synthetic")]
    pub shape: ShapeArg,
    /// Synthetic mode: report format.
    #[arg(long, value_enum, default_value = "text", requires = "synthetic")]
    pub format: SynthFormat,
    // --- end of synthetic mode ---
}

/// `--shape`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ShapeArg {
    /// Functions without calls (the epilogue rebuilds R29 with ADD).
    Leaf,
    /// Functions that call (the epilogue reloads R29 and LR).
    Nonleaf,
    /// Both.
    Both,
}

/// `--format` of the synthetic sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthFormat {
    /// Per generation, shape, unwinder and severity: count, predicate, ranges.
    Text,
    /// The same as one JSON object.
    Json,
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
