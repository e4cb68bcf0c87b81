//! The confirm report as text (for a person) and JSON (stable field names, see README).

use std::fmt::Write as _;

use crate::targeted::{self, Outcome, Role};
use crate::{Agreement, Kind, Report};

/// The JSON report: one object, pretty-printed, ending with a newline.
pub fn json(report: &Report) -> String {
    pretty(report)
}

fn pretty(value: &impl serde::Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|e| {
        // Serialising plain data cannot fail; say so in the output rather than panic.
        format!("{{\"error\": \"cannot serialise the report: {e}\"}}")
    });
    s.push('\n');
    s
}

/// `1.5 s`, `0.31 s`.
fn secs(s: f64) -> String {
    if s >= 10.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.2} s")
    }
}

/// `4 GiB`, `64 MiB`.
fn bytes(b: u64) -> String {
    if b >= 1 << 30 && b.is_multiple_of(1 << 30) {
        format!("{} GiB", b >> 30)
    } else {
        format!("{} MiB", b >> 20)
    }
}

/// The text report.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    runs_text(&mut out, report);
    outcome_text(&mut out, report);
    if let Some(t) = &report.trace {
        trace_text(&mut out, t);
    }
    predicted_text(&mut out, report);
    if !report.first_lines.is_empty() {
        let _ = writeln!(out, "\nruntime output (first lines):");
        for l in &report.first_lines {
            let _ = writeln!(out, "  {l}");
        }
    }
    containment_text(&mut out, &report.containment);
    let killed: usize = report.runs.iter().map(|r| r.killed_at_timeout).sum();
    if killed > 0 {
        let _ = writeln!(
            out,
            "  killed at the timeout: {killed} process(es) in all runs"
        );
    }
    out
}

/// The heading: binary, toolchain, QEMU, arguments, each run's end, the driver's rate.
fn runs_text(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "twixt confirm {} ({}) under {} {}",
        report.binary, report.go_version, report.qemu.version, report.qemu.flag
    );
    if !report.args.is_empty() {
        let _ = writeln!(out, "  arguments: {}", report.args.join(" "));
    }
    let per_run: Vec<String> = report
        .runs
        .iter()
        .map(|r| format!("{} after {}", r.classified.outcome.name(), secs(r.seconds)))
        .collect();
    let _ = writeln!(
        out,
        "  {} run(s), budget {} each: {}",
        report.runs.len(),
        secs(report.timeout_seconds),
        per_run.join(", ")
    );
    if let Some(r) = report
        .runs
        .iter()
        .rev()
        .find(|r| r.calls_per_second.is_some())
    {
        let _ = writeln!(
            out,
            "  stress driver{}: {:.0} calls/s, {} GC cycles in the last run",
            report
                .stressed
                .as_ref()
                .map(|f| format!(" (-func {f})"))
                .unwrap_or_default(),
            r.calls_per_second.unwrap_or(0.0),
            r.gc_cycles.unwrap_or(0)
        );
    }
    let _ = writeln!(out);
}

/// The outcome, where the runtime stopped the goroutine, and what that says of scan.
fn outcome_text(out: &mut String, report: &Report) {
    let shown = report
        .runs
        .iter()
        .find(|r| r.classified.outcome == Kind::Crashed)
        .or(report.runs.last());
    let _ = writeln!(
        out,
        "outcome: {}: {}",
        report.outcome.name(),
        shown.map(|r| r.classified.reason.as_str()).unwrap_or("")
    );
    if let Some(site) = &report.site {
        let at = match (site.offset, site.pc) {
            (Some(o), Some(pc)) => format!("{}+{o:#x} ({pc:#x})", site.function),
            _ => format!("{} (no PC printed)", site.function),
        };
        let g = site
            .goroutine
            .map(|g| format!("goroutine {g} "))
            .unwrap_or_default();
        let _ = writeln!(out, "  {g}stopped at {at} [{}]", site.from);
    }
    if let Some(m) = &report.matched {
        let _ = writeln!(out, "  {}", m.how);
    }
    let said = match report.agreement {
        Agreement::Agrees if report.trace.is_some() => {
            "no crash: the GC loop is off with --trace, so none is expected (see the tracer below)"
        }
        Agreement::Confirmed => "confirmed: the real runtime crashes at a window twixt predicts",
        Agreement::Agrees => {
            "agrees: no crash, and twixt predicts no preemptible Go-unwinder window in what ran"
        }
        Agreement::NotObserved => {
            "not observed: no crash within the budget, although twixt predicts windows (a longer \
             budget or a hotter loop may still hit them)"
        }
        Agreement::UnpredictedCrash => {
            "UNPREDICTED CRASH: the runtime crashed where twixt predicts no window"
        }
        Agreement::Failed => "failed: the runs ended otherwise; nothing is confirmed",
    };
    let _ = writeln!(out, "  {said}");
    let _ = writeln!(out);
}

/// What the execution tracer's stacks showed (`--trace`).
fn trace_text(out: &mut String, t: &crate::trace::TraceReport) {
    let _ = writeln!(
        out,
        "tracer: {} ({} stack(s) recorded at a preemption in the stressed function{})",
        t.result,
        t.stacks,
        t.parser
            .as_ref()
            .map(|p| format!("; dumped by {p}"))
            .unwrap_or_default()
    );
    for w in &t.wrong {
        let what: Vec<String> = w
            .what
            .iter()
            .map(|(k, n)| {
                format!(
                    "{} x{n}",
                    serde_json::to_value(k)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  {}+{:#x} ({:#x}): {}{}",
            w.function,
            w.offset,
            w.pc,
            what.join(", "),
            if w.predicted {
                "  (a predicted fp window)"
            } else {
                "  (NOT a predicted window)"
            }
        );
    }
    let _ = writeln!(out);
}

/// The windows scan predicts: the crashes expected and the frame-pointer ones.
fn predicted_text(out: &mut String, report: &Report) {
    let crash: Vec<_> = report.predicted.iter().filter(|w| w.crashes()).collect();
    let fp: Vec<_> = report
        .predicted
        .iter()
        .filter(|w| w.traces_wrong())
        .collect();
    let _ = writeln!(
        out,
        "predicted by twixt scan: {} preemptible window(s) of the Go unwinder (a crash is \
         expected{}: {}), {} of the frame-pointer walk (no crash expected)",
        crash.len(),
        report
            .stressed
            .as_ref()
            .map(|f| format!(" in main.{f}"))
            .unwrap_or_default(),
        report.expected_crash_windows,
        fp.len()
    );
    for w in crash.iter().chain(fp.iter()) {
        let _ = writeln!(
            out,
            "  {:<2}  {:<40}  {:<22}  {}",
            w.unwinder,
            w.label(),
            w.verdict,
            w.instruction
        );
    }
}

/// The containment block.
fn containment_text(out: &mut String, c: &crate::Containment) {
    let _ = writeln!(out, "\ncontained (qemu-user is not a sandbox; this is):");
    let _ = writeln!(out, "  network: {}", c.network);
    let _ = writeln!(out, "  files: {}", c.filesystem);
    let _ = writeln!(out, "  user: {}", c.user);
    let _ = writeln!(out, "  processes: {}", c.processes);
    let _ = writeln!(
        out,
        "  limits: CPU {} s, address space {}, files {}, {} processes, {} open files",
        c.limits.cpu_seconds,
        bytes(c.limits.address_space),
        bytes(c.limits.file_size),
        c.limits.processes,
        c.limits.open_files
    );
}

/// The `--at` report as JSON: the report's fields and `outcome` (crashed if any target
/// crashed, else failed if any failed, else survived).
pub fn at_json(report: &targeted::Report) -> String {
    #[derive(serde::Serialize)]
    struct WithOutcome<'a> {
        outcome: Kind,
        #[serde(flatten)]
        report: &'a targeted::Report,
    }
    pretty(&WithOutcome {
        outcome: report.outcome(),
        report,
    })
}

/// `1.8 ms`, `0.21 s`.
fn short(s: f64) -> String {
    if s < 0.1 {
        format!("{:.1} ms", s * 1e3)
    } else {
        secs(s)
    }
}

/// The `--at` report as text.
pub fn at_text(report: &targeted::Report) -> String {
    let mut out = String::new();
    let l = &report.layout;
    let _ = writeln!(
        out,
        "twixt confirm --at {} ({}) under {} with its gdb stub",
        report.binary, report.go_version, report.qemu.version
    );
    if !report.args.is_empty() {
        let _ = writeln!(out, "  arguments: {}", report.args.join(" "));
    }
    let _ = writeln!(
        out,
        "  environment: {} (qemu 7.2's stub serves one stopped thread at a time)",
        report.environment.join(" ")
    );
    let _ = writeln!(
        out,
        "  treatment: at the boundary, g.preemptStop = g.preempt = true (+{}, +{}), \
         g.stackguard0 (+{}) = stackPreempt, then SIGURG to its thread; up to {} per goroutine \
         that survives",
        l.preempt_stop, l.preempt, l.stackguard0, report.treatments
    );
    let _ = writeln!(out, "  runtime.g offsets: {}", l.source);
    let mut tally = (0, 0, 0);
    for t in &report.targets {
        let _ = writeln!(out);
        target_text(&mut out, t);
        let said = agreement_text(t, &mut tally);
        let _ = writeln!(out, "  {said}");
    }
    let (confirmed, controls_ok, other) = tally;
    if !report.not_reached.is_empty() {
        let _ = writeln!(
            out,
            "\nnot reached in {}: {}",
            secs(report.timeout_seconds),
            report.not_reached.join(", ")
        );
    }
    let controls = report
        .targets
        .iter()
        .filter(|t| t.role == Role::Control)
        .count();
    let _ = writeln!(
        out,
        "\nsummary: {} target(s): {confirmed} window(s) confirmed, {} not reached, {controls_ok} \
         of {controls} control(s) agree, {other} other",
        report.targets.len(),
        report.not_reached.len()
    );
    containment_text(&mut out, &report.containment);
    out
}

/// One target of the `--at` text report, up to what the runtime did.
fn target_text(out: &mut String, t: &targeted::TargetReport) {
    let what = match t.role {
        Role::Window => format!("window: {}", t.scan.join(", ")),
        Role::Control => format!(
            "control for +{:#x}: scan finds nothing here",
            t.control_of.unwrap_or(0).saturating_sub(t.pc - t.offset)
        ),
        Role::Requested if t.scan.is_empty() => "scan finds nothing here".to_string(),
        Role::Requested => format!("scan: {}", t.scan.join(", ")),
    };
    let _ = writeln!(
        out,
        "{}+{:#x} ({:#x})  {}  [{what}]",
        t.function, t.offset, t.pc, t.instruction
    );
    let w = &t.watched;
    if let Some(at) = w.reached_after {
        let g = w
            .goroutine
            .map(|g| format!(" by goroutine {g}"))
            .unwrap_or_default();
        let injected: Vec<String> = w
            .treatments
            .iter()
            .filter_map(|x| {
                x.injected_lr.map(|lr| {
                    format!(
                        "LR {lr:#x} after {}",
                        short(x.injected_after.unwrap_or(0.0))
                    )
                })
            })
            .collect();
        let _ = writeln!(
            out,
            "  reached after {}{g}; treated {} time(s); asyncPreempt entered {}",
            short(at),
            w.treatments.len(),
            if injected.is_empty() {
                "never".to_string()
            } else {
                injected.join(", ")
            }
        );
        let resumed: Vec<String> = w
            .treatments
            .iter()
            .filter_map(|x| x.resumed_after.map(short))
            .collect();
        if !resumed.is_empty() {
            let _ = writeln!(
                out,
                "  scanned by a GC and resumed after {}",
                resumed.join(", ")
            );
        }
    }
    let _ = writeln!(
        out,
        "  {}: {} (run {}, {} attempt(s), {} runtime signal(s) passed on)",
        match t.outcome {
            Outcome::Crashed => "CRASHED",
            Outcome::CrashedElsewhere => "CRASHED ELSEWHERE",
            Outcome::Survived => "survived",
            Outcome::Declined => "declined",
            Outcome::NotReached => "not reached",
            Outcome::NotScanned => "not scanned",
            Outcome::Failed => "FAILED",
        },
        t.reason,
        secs(t.seconds),
        t.attempts,
        w.signals_passed
    );
    if t.crashed_elsewhere > 0 {
        let _ = writeln!(
            out,
            "  {} run(s) set aside: the runtime crashed elsewhere first (a page with a \
             breakpoint runs one instruction per block, so its own preemptions can hit a \
             window there)",
            t.crashed_elsewhere
        );
    }
    if matches!(t.outcome, Outcome::Crashed | Outcome::CrashedElsewhere) {
        if let Some(after) = w.exit_after_signal {
            let _ = writeln!(out, "  the runtime died {} after the signal", short(after));
        }
        if let Some(site) = &t.site {
            let at = match (site.offset, site.pc) {
                (Some(o), Some(pc)) => format!("{}+{o:#x} ({pc:#x})", site.function),
                _ => format!("{} (no PC printed)", site.function),
            };
            let _ = writeln!(
                out,
                "  goroutine {} stopped at {at} [{}]: {}",
                site.goroutine.map_or("?".to_string(), |g| g.to_string()),
                site.from,
                if t.site_is_treated {
                    "the treated goroutine at the boundary"
                } else {
                    "NOT the treated goroutine at the boundary"
                }
            );
        }
    }
}

/// What a target's agreement says, counted into `tally` (confirmed, controls that agree,
/// other).
fn agreement_text(t: &targeted::TargetReport, tally: &mut (usize, usize, usize)) -> &'static str {
    let (confirmed, controls_ok, other) = tally;
    match t.agreement {
        targeted::Agreement::Confirmed => {
            *confirmed += 1;
            "confirmed: the real runtime crashes at this window"
        }
        targeted::Agreement::Agrees => {
            if t.role == Role::Control {
                *controls_ok += 1;
            }
            "agrees: no crash where twixt predicts no window"
        }
        targeted::Agreement::NotConfirmed => {
            *other += 1;
            "NOT CONFIRMED: no crash at a predicted window"
        }
        targeted::Agreement::UnpredictedCrash => {
            *other += 1;
            "UNPREDICTED CRASH: not at a predicted window, or not the treated goroutine"
        }
        targeted::Agreement::Confounded => {
            *other += 1;
            "confounded: the runtime crashed at another predicted window first, in every \
             attempt; nothing is said about this boundary"
        }
        targeted::Agreement::NotReached => "not reached",
        targeted::Agreement::Failed => {
            *other += 1;
            "failed: nothing is said"
        }
    }
}
