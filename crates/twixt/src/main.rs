//! The `twixt` command line: the only place that touches argv, exit codes and logging.
//!
//! Exit codes: 0 success (and for `scan`, no window found), 1 windows found, 2 error.
//! The report goes to stdout; diagnostics go through `tracing` to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use regex::Regex;
use twixt_check::{GoProgram, ScanOptions, Severity};
use twixt_image::Image;

mod confirm_cmd;
mod explain_cmd;
mod fuzz_cmd;
mod fuzz_go;
mod fuzz_synthetic;
mod listing;
mod progress;
mod run_cmd;

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
    /// Check every instruction boundary of every function for unwinding windows.
    Scan {
        /// A Go linux/arm64 binary.
        binary: PathBuf,
        /// Only functions whose name matches this regular expression.
        #[arg(long)]
        filter: Option<String>,
        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Only windows of this severity (default: both).
        #[arg(long, value_enum)]
        severity: Option<SeverityArg>,
        /// Worker threads, each with its own emulator (default: one per CPU).
        #[arg(long, short = 'j', value_name = "N")]
        jobs: Option<usize>,
        /// Scan only shard K of N (K from 1 to N; with a 0-based index such as
        /// $JOB_COMPLETION_INDEX pass $((INDEX+1))/N): every N-th function of the functab,
        /// starting with the K-th. JSONL outputs of all shards concatenate
        /// into one report.
        #[arg(long, value_name = "K/N", value_parser = parse_shard)]
        shard: Option<(usize, usize)>,
        /// Compare with a saved JSON report instead of printing the report: new windows
        /// are listed and make the exit status 1, fixed ones are listed, unchanged ones
        /// counted. Windows match by function, offset in the function and verdict.
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,
    },
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

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// Human-readable findings with annotated windows and a summary.
    Text,
    /// The stable JSON report (see README).
    Json,
    /// One JSON object per line, streamed as functions finish: `{"finding": ...}` lines,
    /// `{"function": ...}` (one per function scanned, with its boundary count), then
    /// `{"unanalysed": ...}` lines; the lines of shards concatenate into the whole.
    Jsonl,
    /// SARIF 2.1.0, for code-scanning UIs (a rule per verdict, locations with file:line).
    Sarif,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SeverityArg {
    /// The runtime's asynchronous preemption may land there: a GC scan breaks.
    Preemptible,
    /// Only profiling signals and other observers can land there.
    SignalOnly,
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

fn compile_filter(filter: Option<&str>) -> Result<Option<Regex>, String> {
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

fn load(path: &std::path::Path) -> Result<Image, String> {
    let image = Image::open(path).map_err(|e| e.to_string())?;
    tracing::info!(
        binary = %path.display(),
        go_version = image.go_version().unwrap_or("unknown"),
        stripped = image.is_stripped(),
        "loaded image"
    );
    Ok(image)
}

/// One function in the JSONL stream: what a merged report's summary is summed from.
#[derive(serde::Serialize)]
struct FunctionRecord<'a> {
    name: &'a str,
    pc: String,
    instructions: usize,
    /// Boundaries checked (0 when the function could not be fully analysed).
    boundaries: usize,
    analysed: bool,
}

/// Parses `K/N` (1-based K) for `--shard`; returns the 0-based index and the count.
fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not K/N"))?;
    let k: usize = k
        .trim()
        .parse()
        .map_err(|_| format!("shard index {k:?} is not a number"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("shard count {n:?} is not a number"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("shard {k}/{n}: need 1 <= K <= N"));
    }
    Ok((k - 1, n))
}

/// Prints one JSONL record: `{"binary", "go_version", KIND: value}`.
fn jsonl_line<T: serde::Serialize>(binary: &str, go_version: &str, kind: &str, value: &T) {
    use std::io::Write as _;
    let mut line = serde_json::Map::new();
    line.insert("binary".into(), binary.into());
    line.insert("go_version".into(), go_version.into());
    line.insert(
        kind.into(),
        serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
    );
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", serde_json::Value::Object(line));
}

/// Exit status 1 when windows were found (or are new), 0 otherwise.
fn exit_for(windows: bool) -> ExitCode {
    if windows {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn read_report(path: &std::path::Path) -> Result<twixt_check::ScanReport, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read report: {e}", path.display()))?;
    twixt_report::read_json(&text).map_err(|e| format!("{}: {e}", path.display()))
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
            let prog = GoProgram::new(&image).map_err(|e| e.to_string())?;
            print!("{}", listing::funcs(&prog, filter.as_ref()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Disasm { binary, function } => {
            let image = load(&binary)?;
            let prog = GoProgram::new(&image).map_err(|e| e.to_string())?;
            let text = listing::disasm(&prog, &function)?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { old, new } => {
            let a = read_report(&old)?;
            let b = read_report(&new)?;
            let d = twixt_report::diff(&a, &b);
            print!(
                "{}",
                twixt_report::diff_text(&d, &old.display().to_string(), &new.display().to_string())
            );
            Ok(exit_for(d.has_new()))
        }
        Command::Scan {
            binary,
            filter,
            format,
            severity,
            jobs,
            shard,
            baseline,
        } => {
            let baseline = baseline
                .map(|path| read_report(&path).map(|r| (path, r)))
                .transpose()?;
            let filter = compile_filter(filter.as_deref())?;
            let image = load(&binary)?;
            let prog = GoProgram::new(&image).map_err(|e| e.to_string())?;
            let accept = |name: &str| filter.as_ref().is_none_or(|re| re.is_match(name));
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
            let started = std::time::Instant::now();
            let progress = progress::Progress::new(started);
            let go_version = image.go_version().unwrap_or("unknown").to_string();
            let binary_name = image.file_name().to_string();
            let stream = matches!(format, Format::Jsonl) && baseline.is_none();
            let on_function = |stat: &twixt_check::FunctionStat,
                               findings: &[twixt_check::Finding],
                               done: usize,
                               total: usize| {
                progress.update(done, total);
                if stream {
                    for f in findings {
                        jsonl_line(&binary_name, &go_version, "finding", f);
                    }
                    let record = FunctionRecord {
                        name: &stat.name,
                        pc: format!("{:#x}", stat.entry),
                        instructions: stat.instructions,
                        boundaries: if stat.analysed { stat.boundaries } else { 0 },
                        analysed: stat.analysed,
                    };
                    jsonl_line(&binary_name, &go_version, "function", &record);
                }
            };
            let options = ScanOptions {
                filter: Some(&accept),
                severity: severity.map(|s| match s {
                    SeverityArg::Preemptible => Severity::Preemptible,
                    SeverityArg::SignalOnly => Severity::SignalOnly,
                }),
                on_finding: None,
                on_function: Some(&on_function),
                jobs,
                shard,
                on_boundary: None,
            };
            let report = twixt_check::scan(&prog, &options).map_err(|e| e.to_string());
            progress.finish();
            let report = report?;
            tracing::info!(
                functions = report.summary.functions,
                boundaries = report.summary.boundaries,
                windows = report.summary.windows,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "scan finished"
            );
            if let Some((path, old)) = baseline {
                let d = twixt_report::diff(&old, &report);
                print!(
                    "{}",
                    twixt_report::diff_text(
                        &d,
                        &path.display().to_string(),
                        &binary.display().to_string()
                    )
                );
                return Ok(exit_for(d.has_new()));
            }
            match format {
                Format::Text => print!("{}", twixt_report::text(&report)),
                Format::Json => print!("{}", twixt_report::json(&report)),
                Format::Sarif => print!("{}", twixt_report::sarif(&report)),
                Format::Jsonl => {
                    for u in &report.unanalysed {
                        jsonl_line(&report.binary, &report.go_version, "unanalysed", u);
                    }
                }
            }
            Ok(exit_for(report.summary.windows > 0))
        }
    }
}
