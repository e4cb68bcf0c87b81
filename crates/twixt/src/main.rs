//! The `twixt` command line: the only place that touches argv, exit codes and logging.
//!
//! Exit codes: 0 success (and for `scan`, no window found), 1 windows found, 2 error.
//! The report goes to stdout; diagnostics go through `tracing` to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use regex::Regex;
use twixt_check::GoProgram;
use twixt_image::Image;

mod confirm_cmd;
mod explain_cmd;
mod fuzz_cmd;
mod fuzz_go;
mod fuzz_synthetic;
mod listing;
mod out;
mod progress;
mod run_cmd;
mod scan_cmd;

/// Finds the instruction boundaries where compiled Go arm64 code is unsafe to interrupt.
///
/// twixt loads a Go linux/arm64 binary, runs every function in the Unicorn emulator,
/// delivers a modelled asynchronous preemption at every instruction boundary and walks the
/// stack the way Go's runtime does (for the garbage collector, for profiling signals). It
/// reports every boundary where that walk goes wrong, with the evidence: the instruction,
/// the source line, the real SP against the frame size the metadata claims, the stack slot
/// the unwinder reads and what it finds there.
#[derive(Parser, Debug)]
#[command(name = "twixt", version, about, long_about = None)]
#[command(after_help = "Examples:\n  \
    twixt funcs corpus/go1.23.4/frames --filter '^main\\.'\n  \
    twixt disasm corpus/go1.23.4/frames main.nonleaf70000\n  \
    twixt scan corpus/go1.23.4/frames --filter '^main\\.'\n  \
    twixt scan corpus/go1.23.4/frames --format json --severity preemptible\n  \
    twixt scan corpus/ --filter '^main\\.' --format json\n  \
    twixt scan corpus/go1.25.5/frames --baseline corpus/go1.23.4/frames.scan.json\n  \
    twixt diff corpus/go1.23.4/frames.scan.json corpus/go1.25.5/frames.scan.json\n\n\
    Exit status: 0 no window (or success), 1 windows found, 2 error.\n\
    Logging: -v (info), -vv (debug), or RUST_LOG=twixt=debug; logs go to stderr.")]
struct Cli {
    /// More diagnostics on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the functions in a binary's pclntab: entry, size, frame size, flags, source.
    Funcs {
        /// A Go linux/arm64 binary.
        binary: PathBuf,
        /// Only functions whose name matches this regular expression.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Disassemble one function with its metadata: pcsp, UnsafePoint and file:line per
    /// instruction.
    Disasm {
        /// A Go linux/arm64 binary.
        binary: PathBuf,
        /// The function's full name, e.g. main.main or 'main.(*T).Method'.
        function: String,
    },
    /// Check every instruction boundary of every function for unwinding windows, in one
    /// binary or several (binaries and directories).
    Scan(scan_cmd::ScanArgs),
    /// Compare two JSON reports (from `twixt scan --format json`): new windows (exit 1),
    /// fixed windows, and the number unchanged.
    Diff {
        /// The older report (e.g. from the previous toolchain or commit).
        old: PathBuf,
        /// The newer report.
        new: PathBuf,
    },
    /// Call one function on a synthetic goroutine and check every boundary on the path it
    /// executes, in every frame of the chain.
    Run(run_cmd::RunArgs),
    /// Show a function's prologue and epilogues boundary by boundary: SP, pcsp, R29, the
    /// slot the unwinder reads and the verdict (terminal table or HTML page).
    Explain(explain_cmd::ExplainArgs),
    /// Find the frame sizes and shapes a code generator gets wrong: sweep a model of Go's
    /// arm64 assembler, or generate and compile programs with a real toolchain.
    Fuzz(fuzz_cmd::FuzzArgs),
    /// Run the binary FOR REAL under qemu-user (contained; the only command that executes
    /// its input) and check that the real runtime crashes at the predicted windows.
    #[command(long_about = confirm_cmd::LONG_ABOUT)]
    Confirm(confirm_cmd::ConfirmArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("twixt: error: {message}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal, and never when NO_COLOR is set.
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .init();
}

pub(crate) fn compile_filter(filter: Option<&str>) -> Result<Option<Regex>, String> {
    filter
        .map(|f| {
            Regex::new(f).map_err(|e| {
                // The regex crate's syntax errors span several lines (pattern, caret,
                // message); the catalogue promises one.
                let e = e.to_string();
                let why = e.lines().last().unwrap_or_default();
                let why = why.trim().trim_start_matches("error: ");
                format!("--filter {f:?} is not a valid regular expression: {why}")
            })
        })
        .transpose()
}

pub(crate) fn load(path: &std::path::Path) -> Result<Image, String> {
    let image = Image::open(path).map_err(|e| e.to_string())?;
    tracing::info!(
        binary = %path.display(),
        arch = %image.arch(),
        buildinfo_version = image.go_version().unwrap_or("none"),
        stripped = image.is_stripped(),
        "loaded image"
    );
    Ok(image)
}

/// Fails unless `image` is of an architecture `command` supports: every command but
/// `funcs` and `disasm` needs arm64 so far. One line naming the binary, its architecture,
/// the command and the supported architectures.
pub(crate) fn require_analysed(image: &Image, command: &'static str) -> Result<(), String> {
    twixt_check::program::require_analysed_arch(image, command).map_err(|e| e.to_string())
}

/// Exit status 1 when windows were found (or are new), 0 otherwise.
pub(crate) fn exit_for(windows: bool) -> ExitCode {
    if windows {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Run(args) => run_cmd::run(args),
        Command::Explain(args) => explain_cmd::run(args),
        Command::Fuzz(args) => fuzz_cmd::run(args),
        Command::Confirm(args) => confirm_cmd::run(args),
        Command::Funcs { binary, filter } => {
            let filter = compile_filter(filter.as_deref())?;
            let image = load(&binary)?;
            let prog = GoProgram::for_listing(&image).map_err(|e| e.to_string())?;
            out::emit(&listing::funcs(&prog, filter.as_ref()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Disasm { binary, function } => {
            let image = load(&binary)?;
            let prog = GoProgram::for_listing(&image).map_err(|e| e.to_string())?;
            let text = listing::disasm(&prog, &function)?;
            out::emit(&text);
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { old, new } => scan_cmd::diff(&old, &new),
        Command::Scan(args) => scan_cmd::run(args),
    }
}
