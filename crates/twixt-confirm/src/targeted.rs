//! `twixt confirm --at`: deterministic confirmation of one boundary at a time. A stress
//! driver makes the real runtime crash only where a window runs often; a window in code
//! that does real work per call (a function that zeroes a 64 KiB table and scans its input)
//! is one instruction in 10^5 and a stress run may never land on it.
//!
//! Each target gets its own contained run under qemu-user with its GDB stub on a Unix
//! socket in the work directory (`-g {work}/gdb.sock`; the program has no network, so no
//! TCP port, and twixt's own client ([`twixt_gdbremote`]) connects from outside the
//! namespaces). [`treat`] stops the goroutine that reaches the boundary, makes the runtime
//! want to preempt it, delivers SIGURG and watches; the runtime's output is classified as
//! for a stress run ([`outcome`]).
//!
//! The run has `GOMAXPROCS=1`: QEMU 7.2's user-mode stub keeps all its state global and
//! can serve one stopped thread at a time, and every garbage collection's stop-the-world
//! signals every running P at once: with two Ps, two threads stop together and the stub
//! wedges (3 runs of 4, measured). With one P only the thread that holds it runs Go code and
//! receives the runtime's signals. A program that is not a twixt stress driver (which keeps
//! a GC loop) also gets `GOGC=1`, so that any allocation soon brings the GC whose stack scan
//! the treatment needs. The run does not use qemu's one-instruction-per-block flag: the stop
//! is a breakpoint and the signal is delivered at it, so no other boundary needs it, and
//! the program runs faster. But QEMU 7.2 translates a page that holds a breakpoint one
//! instruction per block (`check_for_breakpoints`), so there the runtime's own preemptions
//! (sysmon's, every 10 ms) can land on any boundary, as under `-singlestep`: with the GC
//! loop of a stress driver, a window in the same page can crash the runtime by itself in
//! seconds. A crash that is not the treated goroutine at the boundary therefore says
//! nothing about the target: before any goroutine reached it, the target is not reached;
//! after, the run is repeated (up to `--attempts`), and a target where that happens every
//! time is `confounded`. A reached target's run is short (the boundary is reached in the
//! first call), so this is rare.
//!
//! `--at all` takes every preemptible Go-unwinder window scan predicts (in the stressed
//! function, for a stress driver run with `-func`). Every window a goroutine reached, named
//! or from `all`, gets a control: the nearest boundary before it, in the same function,
//! where scan finds nothing at all, treated the same way. Windows no goroutine reached
//! before the timeout are listed as such.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use twixt_check::GoProgram;
use twixt_golayout::GLayout;
use twixt_image::Image;

use crate::outcome::{self, Kind, Site};
use crate::predict::{self, Window};
use crate::sandbox::{self, Containment, Launch, Limits};
use crate::treat::{self, End, Plan, Treatment};
use crate::{Qemu, binary_for, environment, is_stress_driver, stressed_function};

/// What `--at` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spec {
    /// Every predicted preemptible Go-unwinder window in scope, each with a control.
    All,
    /// A PC.
    Pc(u64),
    /// `FUNCTION+OFFSET`.
    At {
        /// The function's name.
        function: String,
        /// Offset from its entry.
        offset: u64,
    },
}

impl Spec {
    /// Parses `all`, `0xPC` (or a decimal PC), `FUNCTION+0xOFF` (or `+OFF` decimal).
    pub fn parse(text: &str) -> Result<Spec, String> {
        let number = |s: &str| -> Option<u64> {
            match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => s.parse().ok(),
            }
        };
        if text == "all" {
            return Ok(Spec::All);
        }
        if let Some(pc) = number(text) {
            return Ok(Spec::Pc(pc));
        }
        if let Some((function, off)) = text.rsplit_once('+')
            && !function.is_empty()
            && let Some(offset) = number(off)
        {
            return Ok(Spec::At {
                function: function.to_string(),
                offset,
            });
        }
        Err(format!(
            "--at {text}: give all, a PC (0xaef98) or FUNCTION+OFFSET (main.leaf70000+0xe8)"
        ))
    }
}

/// What to confirm.
#[derive(Clone, Debug)]
pub struct Request {
    /// The binary (or reproducer directory).
    pub path: PathBuf,
    /// The program's arguments.
    pub args: Vec<String>,
    /// The targets.
    pub at: Vec<Spec>,
    /// The budget of each run.
    pub timeout: Duration,
    /// How many times to treat a goroutine that survives.
    pub treatments: u32,
    /// Runs per target when the stub fails (a run that says nothing is repeated).
    pub attempts: u32,
    /// A qemu-user binary to use instead of the one on `PATH`.
    pub qemu: Option<PathBuf>,
}

/// Why a boundary is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A predicted preemptible Go-unwinder window: a crash is expected.
    Window,
    /// The nearest boundary before a window where scan finds nothing: no crash expected.
    Control,
    /// Named on the command line.
    Requested,
}

/// How the runtime ended up at one target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The runtime crashed (a fatal error, or a fault in its unwinder) with the treated
    /// goroutine at the boundary.
    Crashed,
    /// The runtime crashed, but not with the treated goroutine at the boundary (in every
    /// attempt).
    CrashedElsewhere,
    /// Every treatment was followed by a GC scan that the goroutine survived.
    Survived,
    /// The runtime would not preempt there (not an async safe point, or the goroutine did
    /// not want it).
    Declined,
    /// No goroutine reached the boundary in the budget.
    NotReached,
    /// Preempted and parked, but no GC scanned the goroutine in the budget.
    NotScanned,
    /// The run says nothing (the stub failed, the layout did not match, the program ended
    /// otherwise).
    Failed,
}

/// How that relates to the prediction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agreement {
    /// A predicted window crashed the runtime, at the treated goroutine and boundary.
    Confirmed,
    /// Where twixt predicts no window: no crash (or the runtime did not preempt).
    Agrees,
    /// A predicted window did not crash the runtime.
    NotConfirmed,
    /// A crash where twixt predicts no window, or a crash that is not the treated
    /// goroutine at the boundary nor at a predicted window.
    UnpredictedCrash,
    /// The runtime crashed at another predicted window first, in every attempt (as a
    /// stress run does): nothing is said about this boundary.
    Confounded,
    /// Nothing reached the boundary.
    NotReached,
    /// Nothing can be said.
    Failed,
}

/// One target's run.
#[derive(Clone, Debug, Serialize)]
pub struct TargetReport {
    /// The function.
    pub function: String,
    /// Offset from its entry.
    pub offset: u64,
    /// The boundary's PC (`"0x…"`).
    #[serde(with = "twixt_report::model::hex")]
    pub pc: u64,
    /// Where a preemption there resumes (`"0x…"`).
    #[serde(with = "twixt_report::model::hex")]
    pub resume_pc: u64,
    /// The instruction at the boundary.
    pub instruction: String,
    /// Why it was treated.
    pub role: Role,
    /// For a control: the window's PC (`"0x…"`).
    #[serde(with = "twixt_report::model::hex_opt")]
    pub control_of: Option<u64>,
    /// What scan finds at this boundary (`go unexpected-return-pc (preemptible)`); empty:
    /// twixt calls it safe.
    pub scan: Vec<String>,
    /// Whether scan predicts a crash here (a preemptible Go-unwinder window).
    pub crash_expected: bool,
    /// What the runtime did.
    pub outcome: Outcome,
    /// How that relates to the prediction.
    pub agreement: Agreement,
    /// In words.
    pub reason: String,
    /// The debugger's record of the run that decided (the last).
    pub watched: treat::Watched,
    /// The runtime's fatal error, for a crash.
    pub fatal_error: Option<String>,
    /// Where the runtime says the crashing goroutine was stopped.
    pub site: Option<Site>,
    /// Whether that is the treated goroutine at this boundary.
    pub site_is_treated: bool,
    /// Wall seconds of the deciding run (start of qemu to its end).
    pub seconds: f64,
    /// Runs made (more than one when a run said nothing about the boundary).
    pub attempts: u32,
    /// Runs set aside because the runtime crashed elsewhere first.
    pub crashed_elsewhere: u32,
    /// The runtime's first lines of output (a crash's), of the deciding run.
    pub first_lines: Vec<String>,
    /// The whole output (stdout, then stderr) of the deciding run: not in the JSON.
    #[serde(skip)]
    pub output: String,
}

/// What `twixt confirm --at` found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The binary's file name.
    pub binary: String,
    /// Its Go version.
    pub go_version: String,
    /// The qemu-user used (its one-instruction-per-block flag is not passed here).
    pub qemu: Qemu,
    /// The program's arguments.
    pub args: Vec<String>,
    /// What twixt adds to the environment (`GOMAXPROCS=1`, ...).
    pub environment: Vec<String>,
    /// The `runtime.g` fields written, and where their offsets come from.
    pub layout: GLayout,
    /// `runtime.asyncPreempt` (`"0x…"`).
    #[serde(with = "twixt_report::model::hex")]
    pub async_preempt: u64,
    /// Treatments per surviving goroutine.
    pub treatments: u32,
    /// Budget of each run, seconds.
    pub timeout_seconds: f64,
    /// The function a stress driver was told to stress (`-func`), if any.
    pub stressed: Option<String>,
    /// Every target, in the order run.
    pub targets: Vec<TargetReport>,
    /// Predicted windows no goroutine reached (`main.leaf70000+0xd0 (0xaef80)`).
    pub not_reached: Vec<String>,
    /// What was in force.
    pub containment: Containment,
}

impl Report {
    /// Crashed if the runtime crashed in any target's deciding run, else failed if any
    /// failed, else survived.
    pub fn outcome(&self) -> Kind {
        if self
            .targets
            .iter()
            .any(|t| matches!(t.outcome, Outcome::Crashed | Outcome::CrashedElsewhere))
        {
            Kind::Crashed
        } else if self.targets.iter().any(|t| t.outcome == Outcome::Failed) {
            Kind::Failed
        } else {
            Kind::Survived
        }
    }
}

/// A boundary to treat.
#[derive(Clone, Debug)]
struct Target {
    function: String,
    entry: u64,
    pc: u64,
    resume: u64,
    role: Role,
    control_of: Option<u64>,
}

/// Runs `request` (see the module documentation).
pub fn confirm_at(request: &Request) -> Result<Report, String> {
    let qemu = Qemu::find(request.qemu.as_deref())?;
    let binary = binary_for(&request.path)?;
    let (go_version, predicted) = predict::predict(&binary)?;
    let image = Image::open(&binary).map_err(|e| e.to_string())?;
    let prog = GoProgram::new(&image).map_err(|e| e.to_string())?;
    let layout = twixt_golayout::g_layout(&image, &go_version)?;
    let async_preempt = prog
        .func_named("runtime.asyncPreempt")
        .map(|f| f.info.entry)
        .ok_or_else(|| format!("{}: no runtime.asyncPreempt", binary.display()))?;
    let stress_driver = is_stress_driver(&binary);
    let stressed = stress_driver
        .then(|| stressed_function(&request.args))
        .flatten();
    let targets = targets_for(&request.at, &prog, &predicted, stressed.as_deref())?;
    // What scan finds at every boundary of the functions involved (any severity).
    let functions: std::collections::BTreeSet<String> =
        targets.iter().map(|t| t.function.clone()).collect();
    let wanted = |name: &str| functions.contains(name);
    let findings = predict::findings_by_pc(&binary, &wanted)?;

    let mut env = vec![("GOMAXPROCS".to_string(), "1".to_string())];
    if !stress_driver {
        env.push(("GOGC".into(), "1".into()));
    }
    let limits = Limits::for_timeout(request.timeout);
    let launch = launch_for(&binary, &qemu, &env, &limits, request);
    let ctx = Context {
        launch: &launch,
        prog: &prog,
        findings: &findings,
        crash_windows: windows_all(&predicted),
        layout: &layout,
        async_preempt,
        request,
    };
    let (reports, not_reached) = run_all(targets, &ctx);
    Ok(Report {
        binary: launch.name.clone(),
        go_version,
        qemu,
        args: request.args.clone(),
        environment: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        layout,
        async_preempt,
        treatments: request.treatments,
        timeout_seconds: request.timeout.as_secs_f64(),
        stressed,
        targets: reports,
        not_reached,
        containment: sandbox::containment(&limits),
    })
}

/// The targets `specs` name, in order; `all` adds every predicted preemptible Go-unwinder
/// window (in the stressed function, if any) not already named.
fn targets_for(
    specs: &[Spec],
    prog: &GoProgram<'_>,
    predicted: &[Window],
    stressed: Option<&str>,
) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    let mut all = false;
    for spec in specs {
        match spec {
            Spec::All => all = true,
            Spec::Pc(pc) => targets.push(target_at(prog, *pc, predicted)?),
            Spec::At { function, offset } => {
                let f = prog.func_named(function).ok_or_else(|| {
                    format!("--at {function}+{offset:#x}: no function {function} in the binary")
                })?;
                let pc = f.info.entry.checked_add(*offset).ok_or_else(|| {
                    format!("--at {function}+{offset:#x}: the offset is past the end of memory")
                })?;
                targets.push(target_at(prog, pc, predicted)?);
            }
        }
    }
    if all {
        let in_scope = |w: &Window| stressed.is_none_or(|f| w.function == format!("main.{f}"));
        for w in predicted.iter().filter(|w| w.crashes() && in_scope(w)) {
            if !targets.iter().any(|t| t.pc == w.pc) {
                targets.push(target_at(prog, w.pc, predicted)?);
            }
        }
    }
    Ok(targets)
}

/// The contained launch of every run: qemu-user with its GDB stub on a socket in the work
/// directory, the run's environment plus `env`.
fn launch_for(
    binary: &std::path::Path,
    qemu: &Qemu,
    env: &[(String, String)],
    limits: &Limits,
    request: &Request,
) -> Launch {
    let name = binary
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && !n.starts_with('-'))
        .unwrap_or("prog")
        .to_string();
    let mut launch_env = environment();
    launch_env.extend(env.iter().cloned());
    Launch {
        program: binary.to_path_buf(),
        name,
        runner: vec![
            qemu.path.clone().into(),
            "-g".into(),
            format!("{}/{}", sandbox::WORK_DIR, treat::SOCKET).into(),
        ],
        args: request.args.clone(),
        env: launch_env,
        timeout: request.timeout,
        limits: limits.clone(),
        collect: vec![],
    }
}

/// Runs every target in order, each reached window followed by its control; returns the
/// reports and the windows no goroutine reached.
fn run_all(mut targets: Vec<Target>, ctx: &Context<'_>) -> (Vec<TargetReport>, Vec<String>) {
    let mut reports = Vec::new();
    let mut not_reached = Vec::new();
    let mut i = 0;
    while i < targets.len() {
        let t = targets[i].clone();
        i += 1;
        let r = run_target(&t, ctx);
        tracing::info!(
            target = %format!("{}+{:#x}", r.function, r.offset),
            outcome = ?r.outcome,
            seconds = r.seconds,
            "target done"
        );
        if r.outcome == Outcome::NotReached && t.role == Role::Window {
            not_reached.push(format!(
                "{}+{:#x} ({:#x})",
                t.function,
                t.pc - t.entry,
                t.pc
            ));
        }
        if t.role == Role::Window
            && r.watched.reached_after.is_some()
            && let Some(c) = control_for(&t, ctx.findings, ctx.prog)
            && !targets.iter().any(|x| x.pc == c.pc)
        {
            targets.insert(i, c);
        }
        reports.push(r);
    }
    (reports, not_reached)
}

/// The target at `pc`: a window when scan predicts one there.
fn target_at(prog: &GoProgram<'_>, pc: u64, predicted: &[Window]) -> Result<Target, String> {
    let f = prog
        .func_at(pc)
        .filter(|f| pc < f.code_end)
        .ok_or_else(|| format!("--at {pc:#x}: not an instruction of any function"))?;
    if !pc.is_multiple_of(4) {
        return Err(format!(
            "--at {pc:#x}: not an instruction boundary (arm64 instructions are 4 bytes)"
        ));
    }
    let window = predicted.iter().find(|w| w.pc == pc && w.crashes());
    Ok(Target {
        function: f.info.name.to_string(),
        entry: f.info.entry,
        pc,
        resume: window.and_then(|w| w.resume_pc).unwrap_or(pc),
        role: if window.is_some() {
            Role::Window
        } else {
            Role::Requested
        },
        control_of: None,
    })
}

/// The nearest boundary before a window, in its function, where scan finds nothing.
fn control_for(
    window: &Target,
    findings: &std::collections::BTreeMap<u64, Vec<String>>,
    prog: &GoProgram<'_>,
) -> Option<Target> {
    let mut pc = window.pc;
    while pc >= window.entry + 4 {
        pc -= 4;
        if !findings.contains_key(&pc) && prog.func_at(pc).is_some() {
            return Some(Target {
                function: window.function.clone(),
                entry: window.entry,
                pc,
                resume: pc,
                role: Role::Control,
                control_of: Some(window.pc),
            });
        }
    }
    None
}

/// The PCs of every predicted preemptible Go-unwinder window (in any function).
fn windows_all(predicted: &[Window]) -> std::collections::BTreeSet<u64> {
    predicted
        .iter()
        .filter(|w| w.crashes())
        .map(|w| w.pc)
        .collect()
}

/// What every target's runs share.
struct Context<'a> {
    launch: &'a Launch,
    prog: &'a GoProgram<'a>,
    findings: &'a std::collections::BTreeMap<u64, Vec<String>>,
    crash_windows: std::collections::BTreeSet<u64>,
    layout: &'a GLayout,
    async_preempt: u64,
    request: &'a Request,
}

/// One run's result, before it is judged.
struct Attempt {
    ran: sandbox::Ran,
    watched: treat::Watched,
    classified: outcome::Classified,
    site_is_treated: bool,
}

impl Attempt {
    fn crashed(&self) -> bool {
        self.classified.outcome == Kind::Crashed
    }

    /// The runtime crashed, but not with the treated goroutine at the boundary: a page
    /// with a breakpoint runs one instruction per block in QEMU 7.2, so the runtime's own
    /// preemptions can land on (and a GC crash at) another window of that page, as in a
    /// stress run.
    fn crashed_elsewhere(&self) -> bool {
        self.crashed() && !self.site_is_treated
    }
}

/// One contained run of `t`.
fn attempt(t: &Target, ctx: &Context<'_>, plan: &Plan<'_>) -> Result<Attempt, String> {
    let (ran, watched) = sandbox::run_attached(ctx.launch, |att| treat::watch(att, plan))?;
    let classified = outcome::classify(&ran);
    let site_is_treated = classified.site.as_ref().is_some_and(|s| {
        let goroutine = s.goroutine.is_some() && s.goroutine == watched.goroutine;
        let at = match s.pc {
            Some(pc) => pc == t.pc || pc == t.resume,
            // go1.19 crashes again printing the frame: only the function is named.
            None => s.function == t.function,
        };
        goroutine && at && !watched.treatments.is_empty()
    });
    Ok(Attempt {
        ran,
        watched,
        classified,
        site_is_treated,
    })
}

/// Runs one target, repeating runs that say nothing about it (the stub failed, or the
/// runtime crashed elsewhere after a goroutine reached the boundary). A crash elsewhere
/// before any goroutine reached it is not repeated: the boundary was not reached while the
/// program lived.
fn run_target(t: &Target, ctx: &Context<'_>) -> TargetReport {
    let request = ctx.request;
    let plan = Plan {
        pc: t.pc,
        resume: t.resume,
        async_preempt: ctx.async_preempt,
        layout: ctx.layout,
        treatments: request.treatments.max(1),
    };
    let mut report = TargetReport {
        function: t.function.clone(),
        offset: t.pc - t.entry,
        pc: t.pc,
        resume_pc: t.resume,
        instruction: ctx.prog.disassemble(t.pc),
        role: t.role,
        control_of: t.control_of,
        scan: ctx.findings.get(&t.pc).cloned().unwrap_or_default(),
        crash_expected: t.role == Role::Window,
        outcome: Outcome::Failed,
        agreement: Agreement::Failed,
        reason: String::new(),
        watched: treat::Watched::new(End::Stub("not started".into())),
        fatal_error: None,
        site: None,
        site_is_treated: false,
        seconds: 0.0,
        attempts: 0,
        crashed_elsewhere: 0,
        first_lines: vec![],
        output: String::new(),
    };
    loop {
        report.attempts += 1;
        let a = match attempt(t, ctx, &plan) {
            Ok(a) => a,
            Err(e) => {
                report.reason = e;
                return report;
            }
        };
        let more = report.attempts < request.attempts.max(1);
        if more && a.crashed_elsewhere() && a.watched.reached_after.is_some() {
            report.crashed_elsewhere += 1;
            tracing::warn!(
                target = %format!("{}+{:#x}", t.function, t.pc - t.entry),
                site = ?a.classified.site,
                "the runtime crashed elsewhere first; running it again"
            );
            continue;
        }
        if more && !a.crashed() && a.watched.inconclusive() {
            tracing::warn!(
                target = %format!("{}+{:#x}", t.function, t.pc - t.entry),
                end = ?a.watched.end,
                "the run says nothing; running it again"
            );
            continue;
        }
        judge(&mut report, a, ctx);
        return report;
    }
}

/// Fills in `report` from the run that decides.
fn judge(report: &mut TargetReport, a: Attempt, ctx: &Context<'_>) {
    let crashed = a.crashed();
    let (outcome, reason) = if a.crashed_elsewhere() && a.watched.reached_after.is_none() {
        (
            Outcome::NotReached,
            format!(
                "no goroutine reached the boundary before the runtime crashed elsewhere after \
                 {:.1} s ({})",
                a.ran.seconds, a.classified.reason
            ),
        )
    } else if a.crashed_elsewhere() {
        (
            Outcome::CrashedElsewhere,
            format!(
                "{}, but not with the treated goroutine at this boundary",
                a.classified.reason
            ),
        )
    } else if crashed {
        (Outcome::Crashed, a.classified.reason.clone())
    } else {
        decide(&a.watched, &a.classified, ctx.request.treatments)
    };
    let at_window = a
        .classified
        .site
        .as_ref()
        .and_then(|s| s.pc)
        .is_some_and(|pc| ctx.crash_windows.contains(&pc));
    report.agreement = match (outcome, report.crash_expected) {
        (Outcome::Crashed, true) => Agreement::Confirmed,
        (Outcome::Crashed, false) => Agreement::UnpredictedCrash,
        (Outcome::CrashedElsewhere, _) if at_window => Agreement::Confounded,
        (Outcome::CrashedElsewhere, _) => Agreement::UnpredictedCrash,
        (Outcome::Survived | Outcome::Declined, true) => Agreement::NotConfirmed,
        (Outcome::Survived | Outcome::Declined, false) => Agreement::Agrees,
        (Outcome::NotReached, _) => Agreement::NotReached,
        (Outcome::NotScanned | Outcome::Failed, _) => Agreement::Failed,
    };
    report.outcome = outcome;
    report.reason = reason;
    report.fatal_error = a.classified.fatal_error.clone();
    report.site = a.classified.site.clone();
    report.site_is_treated = a.site_is_treated;
    report.seconds = a.ran.seconds;
    report.first_lines = outcome::first_lines(&a.ran, crashed, 12);
    report.output = format!("{}{}", a.ran.stdout, a.ran.stderr);
    report.watched = a.watched;
}

/// The outcome of a run that did not crash, from what the debugger saw.
fn decide(
    w: &treat::Watched,
    classified: &outcome::Classified,
    treatments: u32,
) -> (Outcome, String) {
    let injected = |t: &Treatment| t.injected_lr.is_some();
    match &w.end {
        End::Survived => (
            Outcome::Survived,
            format!(
                "no crash: preempted there {} time(s), each time a GC scanned the parked \
                 goroutine and it resumed",
                w.treatments.iter().filter(|t| injected(t)).count()
            ),
        ),
        End::Declined => (
            Outcome::Declined,
            "the runtime did not preempt there: its handler returned to the boundary without \
             injecting asyncPreempt (not an async safe point)"
                .into(),
        ),
        End::NotReached => (
            Outcome::NotReached,
            "no goroutine reached the boundary before the timeout".into(),
        ),
        End::NotScanned => (
            Outcome::NotScanned,
            "preempted and parked, but no GC scanned the goroutine before the timeout (the \
             program must allocate or run a GC)"
                .into(),
        ),
        End::NotInjected => (
            Outcome::Failed,
            "SIGURG was delivered but the goroutine neither entered asyncPreempt nor came back \
             to the boundary"
                .into(),
        ),
        End::LayoutMismatch(why) => (Outcome::Failed, format!("runtime.g layout: {why}")),
        End::Stub(why) => (Outcome::Failed, format!("gdb stub: {why}")),
        End::Exited => match classified.outcome {
            Kind::Failed => (Outcome::Failed, classified.reason.clone()),
            _ if w.treatments.is_empty() => (
                Outcome::NotReached,
                format!(
                    "the program ended ({}) before reaching the boundary",
                    classified.reason
                ),
            ),
            _ => (
                Outcome::Failed,
                format!(
                    "the program ended without a crash after {} of {treatments} treatment(s): {}",
                    w.treatments.len(),
                    classified.reason
                ),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(Spec::parse("all").unwrap(), Spec::All);
        assert_eq!(Spec::parse("0xaef98").unwrap(), Spec::Pc(0xaef98));
        assert_eq!(Spec::parse("716696").unwrap(), Spec::Pc(716696));
        assert_eq!(
            Spec::parse("main.leaf70000+0xe8").unwrap(),
            Spec::At {
                function: "main.leaf70000".into(),
                offset: 0xe8
            }
        );
        // Names with + in them split at the last one.
        assert_eq!(
            Spec::parse("main.(*T).f+16").unwrap(),
            Spec::At {
                function: "main.(*T).f".into(),
                offset: 16
            }
        );
        assert!(Spec::parse("main.leaf70000").is_err());
        assert!(Spec::parse("+0x10").is_err());
        assert!(Spec::parse("f+0xzz").is_err());
    }
}
