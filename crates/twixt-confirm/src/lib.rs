//! `twixt confirm`: makes the real Go runtime meet the windows twixt predicts. The binary
//! (or a `twixt fuzz --go` reproducer, built with its own `BUILD`) runs under qemu-user
//! with one guest instruction per translation block, so the runtime's preemption signal can
//! land on any instruction boundary, contained ([`sandbox`]); the runtime's own output is
//! classified ([`outcome`]) and related to what `twixt scan` predicts ([`predict`]).
//!
//! - [`qemu`]: finding qemu-user and its one-instruction-per-block flag.
//! - [`sandbox`]: the contained launch (work directory, namespaces, limits, kill at the
//!   timeout), reusable by anything else that runs input for real.
//! - [`outcome`]: crashed / survived / failed, the fatal error and the goroutine's site.
//! - [`predict`]: the scan's preemptible windows and which one a crash belongs to.
//! - [`report`]: the text and JSON renderings.
//! - [`trace`]: frame-pointer windows through the execution tracer (`--trace`).
//! - [`targeted`]: `--at`, one boundary at a time: the goroutine stopped there through
//!   qemu's GDB stub ([`treat`]), made to want preemption, and sent SIGURG.
//! - [`matrix`]: `docs/confirmed.md`, the runtime's outcome against the prediction per
//!   toolchain and shape.
//!
//! This is the one part of twixt that executes its input. qemu-user is an emulator that
//! passes system calls to the host kernel, not a sandbox: the containment is what limits
//! what the program can do.

pub mod matrix;
pub mod outcome;
pub mod predict;
pub mod qemu;
pub mod report;
pub mod sandbox;
pub mod targeted;
pub mod trace;
pub mod treat;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;

pub use outcome::{Classified, Kind, Site};
pub use predict::{Match, Window};
pub use qemu::Qemu;
pub use sandbox::{Containment, Limits};

/// What to confirm.
#[derive(Clone, Debug)]
pub struct Request {
    /// An arm64 Go binary, or a reproducer directory written by `twixt fuzz --go`.
    pub path: PathBuf,
    /// Arguments for the program.
    pub args: Vec<String>,
    /// The budget of one run.
    pub timeout: Duration,
    /// How many runs (every run is made, so that times to crash can be compared).
    pub runs: u32,
    /// A qemu-user binary to use instead of the one on `PATH`.
    pub qemu: Option<PathBuf>,
    /// Run a stress driver with the execution tracer on and no GC loop, and check the
    /// stacks it records ([`trace`]).
    pub trace: bool,
}

/// One run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The classification.
    #[serde(flatten)]
    pub classified: Classified,
    /// Wall time to the end (to the crash, or the budget).
    pub seconds: f64,
    /// A stress driver's last stats: calls per second.
    pub calls_per_second: Option<f64>,
    /// A stress driver's last stats: GC cycles completed.
    pub gc_cycles: Option<u64>,
    /// Processes killed at the timeout.
    pub killed_at_timeout: usize,
}

/// How the outcome relates to the prediction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agreement {
    /// It crashed at (or, where no PC was printed, in the function of) a predicted window.
    Confirmed,
    /// No crash, and no preemptible Go-unwinder window is predicted where it ran.
    Agrees,
    /// No crash within the budget although windows are predicted.
    NotObserved,
    /// It crashed where twixt predicts no window.
    UnpredictedCrash,
    /// The runs failed: nothing can be said.
    Failed,
}

impl Agreement {
    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Agreement::Confirmed => "confirmed",
            Agreement::Agrees => "agrees",
            Agreement::NotObserved => "not observed",
            Agreement::UnpredictedCrash => "unpredicted crash",
            Agreement::Failed => "failed",
        }
    }
}

/// What confirm found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The binary's file name.
    pub binary: String,
    /// From its build info.
    pub go_version: String,
    /// The qemu-user used.
    pub qemu: Qemu,
    /// The program's arguments.
    pub args: Vec<String>,
    /// Crashed if any run crashed, else failed if any failed, else survived.
    pub outcome: Kind,
    /// How that relates to the prediction.
    pub agreement: Agreement,
    /// The budget of one run, seconds.
    pub timeout_seconds: f64,
    /// Every run.
    pub runs: Vec<RunReport>,
    /// Wall seconds of each run.
    pub seconds: Vec<f64>,
    /// The first crash's fatal error.
    pub fatal_error: Option<String>,
    /// The first crash's (else the last run's) first lines of runtime output.
    pub first_lines: Vec<String>,
    /// Where the first crash's goroutine was stopped.
    pub site: Option<Site>,
    /// Which predicted window that is.
    pub matched: Option<Match>,
    /// The function a stress driver was told to stress (`-func`), if any.
    pub stressed: Option<String>,
    /// Whether the binary is a twixt stress driver.
    pub stress_driver: bool,
    /// Every preemptible window `twixt scan` predicts in the binary (both unwinders).
    pub predicted: Vec<Window>,
    /// Of those, the Go-unwinder windows in what ran: where a crash is expected.
    pub expected_crash_windows: usize,
    /// With `--trace`: what the execution tracer recorded.
    pub trace: Option<trace::TraceReport>,
    /// What was in force.
    pub containment: Containment,
    /// The full output (stdout then stderr) of the first crash, else the last run: written
    /// into a reproducer's directory, not into the JSON.
    #[serde(skip)]
    pub output: String,
}

/// Resolves `path` to a binary: itself, or a reproducer directory's `repro` after running
/// its `BUILD` (the one hermetic build command, with `TWIXT_CACHE` set).
pub fn binary_for(path: &Path) -> Result<PathBuf, String> {
    if !path.is_dir() {
        if !path.exists() {
            return Err(format!("{}: no such file or directory", path.display()));
        }
        return Ok(path.to_path_buf());
    }
    let build = path.join("BUILD");
    if !build.is_file() {
        return Err(format!(
            "{}: a directory without a BUILD script: give a binary or a reproducer directory \
             written by `twixt fuzz --go`",
            path.display()
        ));
    }
    let cache = twixt_gofuzz::cache_dir()?;
    tracing::info!(dir = %path.display(), "building the reproducer with its BUILD");
    let out = Command::new("sh")
        .arg(&build)
        .env("TWIXT_CACHE", &cache)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: cannot run sh: {e}", build.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(8).collect();
        return Err(format!(
            "{}: the build failed ({}): {}",
            build.display(),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    let bin = path.join(twixt_gofuzz::fuzz::BINARY);
    if !bin.is_file() {
        return Err(format!(
            "{}: BUILD succeeded but wrote no {}",
            path.display(),
            twixt_gofuzz::fuzz::BINARY
        ));
    }
    Ok(bin)
}

/// Whether the file is a twixt stress driver (it carries the driver's marker text).
pub fn is_stress_driver(binary: &Path) -> bool {
    std::fs::read(binary).is_ok_and(|bytes| {
        let m = twixt_gofuzz::stress::MARKER.as_bytes();
        bytes.windows(m.len()).any(|w| w == m)
    })
}

/// The `-func NAME` (or `-func=NAME`, `--func ...`) among a driver's arguments.
pub fn stressed_function(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let flag = a.trim_start_matches('-');
        if a.starts_with('-') {
            if flag == "func" {
                return it.next().cloned();
            }
            if let Some(v) = flag.strip_prefix("func=") {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// The environment of every run: nothing inherited; `GOTRACEBACK=system` so a crash prints
/// every goroutine with runtime frames and `pc=` values (the window's PC).
pub fn environment() -> Vec<(String, String)> {
    [
        ("PATH", "/usr/bin:/bin"),
        ("HOME", "."),
        ("TMPDIR", "."),
        ("GOTRACEBACK", "system"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Runs `request` (see the crate documentation).
pub fn confirm(request: &Request) -> Result<Report, String> {
    let qemu = Qemu::find(request.qemu.as_deref())?;
    let binary = binary_for(&request.path)?;
    let (go_version, predicted) = predict::predict(&binary)?;
    let stress_driver = is_stress_driver(&binary);
    let stressed = stress_driver
        .then(|| stressed_function(&request.args))
        .flatten();
    let in_scope = |w: &Window| match &stressed {
        Some(f) => w.function == format!("main.{f}"),
        None => true,
    };
    let expected_crash_windows = predicted
        .iter()
        .filter(|w| w.crashes() && in_scope(w))
        .count();

    let args = program_args(request, stress_driver)?;
    let limits = Limits::for_timeout(request.timeout);
    let name = binary
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && !n.starts_with('-'))
        .unwrap_or("prog")
        .to_string();
    let launch = sandbox::Launch {
        program: binary.clone(),
        name: name.clone(),
        runner: vec![qemu.path.clone().into(), qemu.flag.clone().into()],
        args: args.clone(),
        env: environment(),
        timeout: request.timeout,
        limits: limits.clone(),
        collect: if request.trace {
            vec![trace::FILE.to_string()]
        } else {
            vec![]
        },
    };
    let (runs, traces) = run_all(&launch, request.runs)?;
    let outcome = overall_outcome(&runs);
    // The run shown: the first crash, else the last run.
    let shown = runs
        .iter()
        .position(|r| r.report.classified.outcome == Kind::Crashed)
        .unwrap_or(runs.len() - 1);
    let output = runs[shown].output.clone();
    let first_lines = runs[shown].first_lines.clone();
    let fatal_error = runs[shown].report.classified.fatal_error.clone();
    let site = runs[shown].report.classified.site.clone();
    let matched = site.as_ref().map(|s| predict::relate(s, &predicted));
    let agreement = agreement(
        outcome,
        matched.as_ref(),
        expected_crash_windows,
        request.trace,
    );
    let runs: Vec<RunReport> = runs.into_iter().map(|r| r.report).collect();
    let trace = if request.trace {
        Some(examine_traces(
            &binary,
            &go_version,
            &stressed,
            &predicted,
            &traces,
        )?)
    } else {
        None
    };
    Ok(Report {
        binary: name,
        go_version,
        qemu,
        args,
        outcome,
        agreement,
        timeout_seconds: request.timeout.as_secs_f64(),
        seconds: runs.iter().map(|r| r.seconds).collect(),
        fatal_error,
        first_lines,
        site,
        matched,
        stressed,
        stress_driver,
        expected_crash_windows,
        predicted,
        trace,
        containment: sandbox::containment(&limits),
        runs,
        output,
    })
}

/// The program's arguments: the request's, and with `--trace` the stress driver's flags that
/// write a trace and stop cleanly before the budget, so that the trace is complete.
fn program_args(request: &Request, stress_driver: bool) -> Result<Vec<String>, String> {
    let mut args = request.args.clone();
    if !request.trace {
        return Ok(args);
    }
    if !stress_driver {
        return Err(format!(
            "{}: --trace needs a twixt stress driver (a `twixt fuzz --go` reproducer or \
             corpus/*/stress): it passes the driver's -trace flag",
            request.path.display()
        ));
    }
    let secs = request.timeout.as_secs_f64();
    let seconds = (secs - (secs / 4.0).min(5.0)).max(0.5);
    args.extend([
        "-trace".to_string(),
        trace::FILE.to_string(),
        "-gc=false".to_string(),
        "-seconds".to_string(),
        format!("{seconds:.1}"),
    ]);
    Ok(args)
}

/// One run: its report, its whole output (stdout, then stderr) and the lines to show.
struct Run {
    report: RunReport,
    output: String,
    first_lines: Vec<String>,
}

/// Runs the program `runs` times (at least once); returns each run and the traces collected.
fn run_all(launch: &sandbox::Launch, runs: u32) -> Result<(Vec<Run>, Vec<Vec<u8>>), String> {
    let mut traces = Vec::new();
    let mut done = Vec::new();
    for i in 0..runs.max(1) {
        let mut ran = sandbox::run(launch)?;
        if let Some(t) = ran.files.remove(trace::FILE) {
            traces.push(t);
        }
        let classified = outcome::classify(&ran);
        let crashed = classified.outcome == Kind::Crashed;
        let stats = twixt_gofuzz::stress::Stats::last(&ran.stdout);
        tracing::info!(
            run = i + 1,
            outcome = classified.outcome.name(),
            seconds = ran.seconds,
            "run finished"
        );
        done.push(Run {
            first_lines: outcome::first_lines(&ran, crashed, 12),
            output: format!("{}{}", ran.stdout, ran.stderr),
            report: RunReport {
                classified,
                seconds: ran.seconds,
                calls_per_second: stats.map(|s| s.calls_per_second),
                gc_cycles: stats.map(|s| s.gc_cycles),
                killed_at_timeout: ran.killed,
            },
        });
    }
    Ok((done, traces))
}

/// Crashed if any run crashed, else failed if any failed, else survived.
fn overall_outcome(runs: &[Run]) -> Kind {
    let any = |kind: Kind| runs.iter().any(|r| r.report.classified.outcome == kind);
    if any(Kind::Crashed) {
        Kind::Crashed
    } else if any(Kind::Failed) {
        Kind::Failed
    } else {
        Kind::Survived
    }
}

/// How the outcome relates to scan's predictions.
fn agreement(
    outcome: Kind,
    matched: Option<&predict::Match>,
    expected_crash_windows: usize,
    traced: bool,
) -> Agreement {
    match outcome {
        Kind::Crashed => {
            let hit = matched.is_some_and(|m| m.window.is_some() || !m.candidates.is_empty());
            if hit {
                Agreement::Confirmed
            } else {
                Agreement::UnpredictedCrash
            }
        }
        // With --trace the GC loop is off: nothing scans stacks, no crash is expected.
        Kind::Survived if expected_crash_windows > 0 && !traced => Agreement::NotObserved,
        Kind::Survived => Agreement::Agrees,
        Kind::Failed => Agreement::Failed,
    }
}

/// Examines every run's trace and merges what they show.
fn examine_traces(
    binary: &Path,
    go_version: &str,
    stressed: &Option<String>,
    predicted: &[Window],
    traces: &[Vec<u8>],
) -> Result<trace::TraceReport, String> {
    if let Some(why) = trace::impossible_for(go_version) {
        return Ok(trace::TraceReport::impossible(why));
    }
    if traces.is_empty() {
        return Ok(trace::TraceReport::impossible(
            "no run left a complete trace (did it crash or time out before -seconds?)".into(),
        ));
    }
    let wanted = |f: &str| match stressed {
        Some(s) => f == format!("main.{s}"),
        None => {
            f.starts_with("main.") && !f.starts_with("main.main") && !f.starts_with("main.drive")
        }
    };
    let offset_of = |pc: u64| predict::offset_in(binary, pc);
    let mut merged: Option<trace::TraceReport> = None;
    for t in traces {
        let r = trace::examine(t, go_version, &wanted, predicted, &offset_of)?;
        merged = Some(match merged {
            None => r,
            Some(mut m) => {
                m.stacks += r.stacks;
                for w in r.wrong {
                    match m
                        .wrong
                        .iter_mut()
                        .find(|x| x.pc == w.pc && x.function == w.function)
                    {
                        Some(x) => {
                            for (k, n) in w.what {
                                *x.what.entry(k).or_default() += n;
                            }
                        }
                        None => m.wrong.push(w),
                    }
                }
                m.wrong.sort_by_key(|w| w.pc);
                m.result = if m.wrong.iter().any(|w| !w.predicted) {
                    "unpredicted wrong stacks".into()
                } else if m.wrong.is_empty() {
                    "not observed".into()
                } else {
                    "confirmed (trace)".into()
                };
                m
            }
        });
    }
    Ok(merged.unwrap_or_else(|| trace::TraceReport::impossible("no trace".into())))
}
