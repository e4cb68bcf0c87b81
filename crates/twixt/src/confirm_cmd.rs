//! `twixt confirm`: runs a binary for real under qemu-user (crate twixt-confirm) and says
//! whether the real runtime crashes at the windows twixt predicts. The only command that
//! executes its input.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use twixt_confirm::{Kind, Request};

/// The long help of `twixt confirm` (it must say that the command executes its input).
pub const LONG_ABOUT: &str = "Run a Go linux/arm64 binary FOR REAL under qemu-user, with one guest instruction \
per translation block so that the runtime's preemption signal can land on any instruction \
boundary, and say whether the real runtime crashes at the windows `twixt scan` predicts.\n\n\
THIS COMMAND EXECUTES ITS INPUT (every other twixt command only emulates it). qemu-user passes \
the program's system calls to the host kernel: it is not a sandbox. twixt contains the run: a \
fresh work directory as the only writable place, no network (new network and mount \
namespaces where the machine allows), a new PID namespace, an unprivileged user when run as \
root, limits on CPU time, address space, file size and processes, and the whole process \
group killed at the timeout. Run only programs you are prepared to run.\n\n\
With --at, twixt instead stops the program at one boundary through qemu-user's GDB stub and \
preempts the real runtime exactly there (see below), under the same containment.";

/// Arguments of `twixt confirm`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    twixt confirm corpus/go1.23.4/stress -- -func nonleaf70000     # crashes (golang/go#73259)\n  \
    twixt confirm corpus/go1.27.3/stress --timeout 30 --runs 3 -- -func nonleaf70000   # survives\n  \
    twixt confirm twixt-repro/go1.27.3-seed1-1                      # a reproducer: built with its BUILD\n  \
    twixt confirm corpus/go1.27.3/stress --format json -- -func leaf70000\n  \
    twixt confirm corpus/go1.27.3/stress --trace --timeout 20 -- -func leaf70000   # fp windows\n  \
    twixt confirm corpus/go1.23.4/stress --at main.nonleaf70000+0xe8 -- -func nonleaf70000\n  \
    twixt confirm corpus/go1.24.3/bigtable --at all       # every predicted window, one run each\n\n\
    --at stops the goroutine that reaches one boundary (FUNCTION+OFFSET, a PC, or all: every\n\
    preemptible go-unwinder window scan predicts, each with a safe control boundary before it)\n\
    through qemu-user's GDB stub (a Unix socket in the run's work directory), makes the runtime\n\
    want to preempt it (g.preempt, g.preemptStop, g.stackguard0 = stackPreempt; runtime.g's\n\
    offsets from the binary's DWARF, else per-release tables), sends it SIGURG, and waits for\n\
    the GC's scan of the parked goroutine: a window crashes the runtime in milliseconds, a safe\n\
    boundary survives every treatment. It runs with GOMAXPROCS=1 (QEMU 7.2's stub serves one\n\
    stopped thread at a time) and, for a program that is not a twixt stress driver, GOGC=1.\n\
    --timeout is then each target's budget.\n\n\
    PATH is an arm64 Go binary or a reproducer directory written by `twixt fuzz --go` (its main.go\n\
    is a stress driver: -func NAME, -seconds S, -gc=false, -trace FILE). The run gets\n\
    GOTRACEBACK=system and no other environment.\n\n\
    Outcome: crashed (a runtime `fatal error:`, or a fault inside the runtime's unwinder during a\n\
    GC stack scan), survived (no crash within --timeout, in every run, or a clean exit), failed\n\
    (any other end). Exit status: 1 crashed, 0 survived, 2 failed\n\
    or error. Needs qemu-aarch64-static (Debian's qemu-user-static; scripts/bootstrap installs it).")]
pub struct ConfirmArgs {
    /// An arm64 Go binary, or a reproducer directory from `twixt fuzz --go`.
    pub path: PathBuf,
    /// Seconds one run may take before it counts as survived and is killed.
    #[arg(long, value_name = "S", default_value_t = 30.0)]
    pub timeout: f64,
    /// Runs to make (all are made: times to crash are compared).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ConfirmFormat,
    /// The qemu-user binary (default: qemu-aarch64-static or qemu-aarch64 on PATH).
    #[arg(long, value_name = "FILE")]
    pub qemu: Option<PathBuf>,
    /// Frame-pointer windows: run the stress driver with runtime/trace on and no GC loop,
    /// stop it before the budget, dump the trace with the host toolchain of the same Go
    /// version and check the stacks it recorded at preemptions (confirmed (trace) / not
    /// observed).
    #[arg(long)]
    pub trace: bool,
    /// Write the program's whole output (stdout, then stderr) of the first crashing run
    /// (else the last run) to this file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Targeted confirmation: preempt the real runtime at exactly this boundary
    /// (FUNCTION+OFFSET, a PC, or `all`), through qemu's GDB stub. Repeatable.
    #[arg(long, value_name = "FUNCTION+OFFSET|PC|all", conflicts_with_all = ["trace", "runs"])]
    pub at: Vec<String>,
    /// With --at: how many times to preempt the goroutine at a boundary, each followed by
    /// the GC scan that resumes it, before it counts as survived.
    #[arg(long, value_name = "N", default_value_t = 3, requires = "at",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub treatments: u32,
    /// With --at: runs per target when the stub fails (a run that says nothing is repeated).
    #[arg(long, value_name = "N", default_value_t = 3, requires = "at",
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,
    /// Arguments for the program (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// `--format` of confirm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfirmFormat {
    /// Outcome, the window matched, the prediction, the runtime's first lines, containment.
    Text,
    /// The same as one JSON object (see README).
    Json,
}

/// The budget as a Duration, refusing nonsense.
pub fn timeout(seconds: f64) -> Result<Duration, String> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!(
            "--timeout {seconds}: give seconds between 0 and 86400"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The exit status for an outcome: 1 crashed, 0 survived, 2 failed.
pub fn exit_for(outcome: Kind) -> ExitCode {
    match outcome {
        Kind::Crashed => ExitCode::from(1),
        Kind::Survived => ExitCode::SUCCESS,
        Kind::Failed => ExitCode::from(2),
    }
}

/// Runs `twixt confirm`.
pub fn run(args: ConfirmArgs) -> Result<ExitCode, String> {
    // A binary given directly is checked before anything runs; a reproducer directory's
    // BUILD makes an arm64 binary.
    if args.path.is_file() {
        let image = crate::load(&args.path)?;
        crate::require_analysed(&image, "confirm")?;
    }
    if !args.at.is_empty() {
        return run_at(args);
    }
    let request = Request {
        path: args.path,
        args: args.args,
        timeout: timeout(args.timeout)?,
        runs: args.runs,
        qemu: args.qemu,
        trace: args.trace,
    };
    let report = twixt_confirm::confirm(&request)?;
    if let Some(path) = &args.output {
        std::fs::write(path, &report.output)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    }
    match args.format {
        ConfirmFormat::Text => print!("{}", twixt_confirm::report::text(&report)),
        ConfirmFormat::Json => print!("{}", twixt_confirm::report::json(&report)),
    }
    Ok(exit_for(report.outcome))
}

/// Runs `twixt confirm --at`.
fn run_at(args: ConfirmArgs) -> Result<ExitCode, String> {
    let at = args
        .at
        .iter()
        .map(|a| twixt_confirm::targeted::Spec::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    let request = twixt_confirm::targeted::Request {
        path: args.path,
        args: args.args,
        at,
        timeout: timeout(args.timeout)?,
        treatments: args.treatments,
        attempts: args.attempts,
        qemu: args.qemu,
    };
    let report = twixt_confirm::targeted::confirm_at(&request)?;
    if let Some(path) = &args.output {
        let all: String = report.targets.iter().map(|t| t.output.as_str()).collect();
        std::fs::write(path, all).map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    }
    match args.format {
        ConfirmFormat::Text => print!("{}", twixt_confirm::report::at_text(&report)),
        ConfirmFormat::Json => print!("{}", twixt_confirm::report::at_json(&report)),
    }
    Ok(exit_for(report.outcome()))
}
