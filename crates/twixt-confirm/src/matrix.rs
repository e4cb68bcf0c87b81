//! The confirmation matrix (`docs/confirmed.md`): for each corpus toolchain and each
//! function of the corpus stress driver, what the real runtime did under qemu-user and what
//! `twixt scan` predicted. `scripts/confirm-matrix` runs `twixt confirm --format json` per
//! cell, [`Cell::from_report`] keeps what the document needs (`docs/confirmed.json`), and
//! [`render`] writes the Markdown; a test checks both against fresh scans. A cell may also
//! hold what `twixt confirm --at all` did ([`targeted`]), and a cell of another corpus
//! program (the s2-style `bigtable`) appears only in the targeted table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

pub mod targeted;

pub use targeted::{TargetedCell, TargetedRun};

/// The program of the stress driver's cells.
pub const STRESS: &str = "stress";

fn stress_program() -> String {
    STRESS.to_string()
}

/// The columns: the stress driver's functions, in order, with their headings.
pub const COLUMNS: [(&str, &str); 4] = [
    ("main.nonleaf70000", "non-leaf split frame (70000 B)"),
    ("main.leaf70000", "leaf split frame (70000 B)"),
    ("main.nonleaf65536", "non-leaf 4 KiB multiple (65536 B)"),
    ("main.leaf96", "leaf, 96 B (the go1.19 fp window)"),
];

/// One run of a cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellRun {
    /// `crashed`, `survived` or `failed`.
    pub outcome: String,
    /// Wall seconds.
    pub seconds: f64,
    /// The fatal error, for a crash.
    pub fatal_error: Option<String>,
    /// Offset of the window the runtime stopped the goroutine at, where printed.
    pub offset: Option<u64>,
    /// The stress driver's calls per second.
    pub calls_per_second: Option<f64>,
}

/// One cell: a toolchain and a function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The corpus program (`stress`, `bigtable`).
    #[serde(default = "stress_program")]
    pub program: String,
    /// `go1.23.4`.
    pub go_version: String,
    /// `main.leaf70000`.
    pub function: String,
    /// The qemu-user and flag.
    pub qemu: String,
    /// Budget of one run.
    pub timeout_seconds: f64,
    /// Crashed if any run crashed, else failed if any failed, else survived.
    pub outcome: String,
    /// Every run.
    pub runs: Vec<CellRun>,
    /// Predicted preemptible Go-unwinder windows in the function (`+0xe8 unexpected-return-pc`).
    pub predicted_go: Vec<String>,
    /// Predicted preemptible frame-pointer windows in the function.
    pub predicted_fp: Vec<String>,
    /// With a `--trace` run: what the execution tracer recorded.
    #[serde(default)]
    pub tracer: Option<TracerCell>,
    /// With a `--at all` run: what targeted confirmation did.
    #[serde(default)]
    pub targeted: Option<TargetedCell>,
}

/// What a `twixt confirm --trace` run of the cell showed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TracerCell {
    /// `confirmed (trace)`, `not observed`, `not possible: ...`.
    pub result: String,
    /// Stacks recorded at a preemption in the function.
    pub stacks: usize,
    /// Wrong stacks: `+0xe0 truncated ×25`.
    pub wrong: Vec<String>,
    /// The budget of the traced run(s), seconds, and how many.
    pub timeout_seconds: f64,
    /// Runs.
    pub runs: usize,
}

impl TracerCell {
    /// From a `twixt confirm --trace --format json` report.
    pub fn from_report(report: &serde_json::Value) -> Result<TracerCell, String> {
        let t: crate::trace::TraceReport = serde_json::from_value(report["trace"].clone())
            .map_err(|e| format!("the report has no trace: {e}"))?;
        let wrong = t
            .wrong
            .iter()
            .map(|w| {
                let what: Vec<String> = w
                    .what
                    .iter()
                    .map(|(k, n)| format!("{} ×{n}", k.name()))
                    .collect();
                format!("+{:#x} {}", w.offset, what.join(", "))
            })
            .collect();
        Ok(TracerCell {
            result: t.result,
            stacks: t.stacks,
            wrong,
            timeout_seconds: report["timeout_seconds"].as_f64().unwrap_or(0.0),
            runs: report["runs"].as_array().map_or(0, Vec::len),
        })
    }

    /// Every wrong stack is at a predicted frame-pointer window of the cell.
    pub fn agrees(&self, predicted_fp: &[String]) -> bool {
        !self.result.starts_with("unpredicted")
            && self.wrong.iter().all(|w| {
                let off = w.split_whitespace().next().unwrap_or("");
                predicted_fp
                    .iter()
                    .any(|p| p.split_whitespace().next() == Some(off))
            })
    }
}

/// `+0xe8 unexpected-return-pc`.
pub fn window_label(w: &crate::Window) -> String {
    format!("+{:#x} {}", w.offset, w.verdict)
}

impl Cell {
    /// The cell of a `twixt confirm --format json` report of the stress driver run with
    /// `-func NAME`, or of another program whose predicted `main.` windows are all in one
    /// function.
    pub fn from_report(report: &serde_json::Value) -> Result<Cell, String> {
        let s = |v: &serde_json::Value| v.as_str().map(str::to_string);
        let predicted: Vec<crate::Window> =
            serde_json::from_value(report["predicted"].clone()).map_err(|e| e.to_string())?;
        let function = match s(&report["stressed"]) {
            Some(stressed) => format!("main.{stressed}"),
            None => predicted
                .iter()
                .find(|w| w.crashes() && w.function.starts_with("main."))
                .map(|w| w.function.clone())
                .ok_or("the report has no `stressed` function and no main. window")?,
        };
        let mine = |crashes: bool| -> Vec<String> {
            predicted
                .iter()
                .filter(|w| w.function == function)
                .filter(|w| {
                    if crashes {
                        w.crashes()
                    } else {
                        w.traces_wrong()
                    }
                })
                .map(window_label)
                .collect()
        };
        let runs = report["runs"]
            .as_array()
            .ok_or("the report has no runs")?
            .iter()
            .map(|r| CellRun {
                outcome: s(&r["outcome"]).unwrap_or_default(),
                seconds: r["seconds"].as_f64().unwrap_or(0.0),
                fatal_error: s(&r["fatal_error"]),
                offset: r["site"]["offset"].as_u64(),
                calls_per_second: r["calls_per_second"].as_f64(),
            })
            .collect();
        let (predicted_go, predicted_fp) = (mine(true), mine(false));
        Ok(Cell {
            program: s(&report["binary"]).unwrap_or_else(stress_program),
            go_version: s(&report["go_version"]).unwrap_or_default(),
            function,
            qemu: format!(
                "{} {}",
                s(&report["qemu"]["version"]).unwrap_or_default(),
                s(&report["qemu"]["flag"]).unwrap_or_default()
            ),
            timeout_seconds: report["timeout_seconds"].as_f64().unwrap_or(0.0),
            outcome: s(&report["outcome"]).unwrap_or_default(),
            runs,
            predicted_go,
            predicted_fp,
            tracer: None,
            targeted: None,
        })
    }

    /// Whether the runtime's outcome is the one the prediction implies: the stress runs
    /// agree ([`Cell::stress_agrees`]), or they survived a predicted window that targeted
    /// confirmation crashed ([`TargetedCell::agrees`]).
    pub fn agrees(&self) -> bool {
        self.stress_agrees()
            || (self.outcome == "survived"
                && self
                    .targeted
                    .as_ref()
                    .is_some_and(|t| t.agrees(&self.predicted_go)))
    }

    /// Whether the stress runs agree with the prediction: crashed where a preemptible
    /// Go-unwinder window is predicted, survived where none is, and every crash that
    /// printed its window at a predicted one.
    pub fn stress_agrees(&self) -> bool {
        let offsets_ok = self.runs.iter().all(|r| {
            r.offset.is_none_or(|o| {
                self.predicted_go
                    .iter()
                    .any(|l| l.starts_with(&format!("+{o:#x} ")))
            })
        });
        let expected = if self.predicted_go.is_empty() {
            "survived"
        } else {
            "crashed"
        };
        self.outcome == expected && offsets_ok
    }

    /// Crash times, sorted.
    pub fn crash_seconds(&self) -> Vec<f64> {
        let mut t: Vec<f64> = self
            .runs
            .iter()
            .filter(|r| r.outcome == "crashed")
            .map(|r| r.seconds)
            .collect();
        t.sort_by(f64::total_cmp);
        t
    }
}

/// The median of sorted values (the mean of the middle two for an even count).
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Go versions in release order.
fn version_key(v: &str) -> Vec<u32> {
    v.trim_start_matches("go")
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `9.0 M`, `850 k`.
fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.1} M", r / 1e6)
    } else {
        format!("{:.0} k", r / 1e3)
    }
}

fn cell_text(c: &Cell) -> String {
    let mut out = String::new();
    let times = c.crash_seconds();
    let total = c.runs.len();
    if c.outcome == "crashed" {
        let med = median(&times).unwrap_or(0.0);
        let max = times.last().copied().unwrap_or(0.0);
        let _ = write!(
            out,
            "**crashed** {}/{total}: median {med:.2} s, max {max:.2} s",
            times.len()
        );
        let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &c.runs {
            if let Some(e) = &r.fatal_error {
                *errors.entry(e.as_str()).or_default() += 1;
            }
        }
        for (e, n) in errors {
            let _ = write!(out, "; `{e}` ×{n}");
        }
        let mut at: BTreeMap<u64, usize> = BTreeMap::new();
        for o in c.runs.iter().filter_map(|r| r.offset) {
            *at.entry(o).or_default() += 1;
        }
        if !at.is_empty() {
            let list: Vec<String> = at.iter().map(|(o, n)| format!("+{o:#x} ×{n}")).collect();
            let _ = write!(out, "; stopped at {}", list.join(", "));
        }
    } else {
        let mut rates: Vec<f64> = c.runs.iter().filter_map(|r| r.calls_per_second).collect();
        rates.sort_by(f64::total_cmp);
        let _ = write!(
            out,
            "{} {total} × {:.0} s",
            if c.outcome == "survived" {
                "survived"
            } else {
                "**FAILED**"
            },
            c.timeout_seconds
        );
        if let Some(r) = median(&rates) {
            let _ = write!(out, ", {} calls/s", rate(r));
        }
    }
    let scan = match (c.predicted_go.is_empty(), c.predicted_fp.is_empty()) {
        (true, true) => "no window".to_string(),
        _ => {
            let mut parts = Vec::new();
            if !c.predicted_go.is_empty() {
                parts.push(format!("go {}", offsets(&c.predicted_go)));
            }
            if !c.predicted_fp.is_empty() {
                parts.push(format!("fp {}", offsets(&c.predicted_fp)));
            }
            parts.join("; ")
        }
    };
    let _ = write!(
        out,
        "<br>scan: {scan} {}",
        if c.agrees() { "✓" } else { "✗ DISAGREES" }
    );
    out
}

/// The stress runs in short: `crashed 10/10, median 2.72 s`, `survived 1 × 300 s`.
fn stress_short(c: &Cell) -> String {
    let times = c.crash_seconds();
    if c.outcome == "crashed" {
        format!(
            "crashed {}/{}, median {:.2} s",
            times.len(),
            c.runs.len(),
            median(&times).unwrap_or(0.0)
        )
    } else {
        let mut t = format!(
            "{} {} × {:.0} s",
            c.outcome,
            c.runs.len(),
            c.timeout_seconds
        );
        let mut rates: Vec<f64> = c.runs.iter().filter_map(|r| r.calls_per_second).collect();
        rates.sort_by(f64::total_cmp);
        if let Some(r) = median(&rates) {
            let _ = write!(t, ", {} calls/s", rate(r));
        }
        t
    }
}

/// The targeted table: every cell with a `--at all` record.
fn render_targeted(out: &mut String, cells: &[Cell]) {
    let mut targeted: Vec<&Cell> = cells.iter().filter(|c| c.targeted.is_some()).collect();
    if targeted.is_empty() {
        return;
    }
    targeted.sort_by_key(|c| (c.program != STRESS, version_key(&c.go_version)));
    out.push_str(
        "\n## Targeted confirmation: `twixt confirm --at all`\n\n\
         A stress run crashes the runtime only where the window runs often. `twixt confirm --at \
         all` runs the program once per predicted preemptible Go-unwinder window, under \
         qemu-user's GDB stub, with `GOMAXPROCS=1` (and `GOGC=1` for a program that is not a \
         stress driver): the first goroutine to reach the window is stopped before the \
         instruction, made to want preemption (`g.preempt`, `g.preemptStop`, `g.stackguard0 = \
         stackPreempt`) and sent SIGURG; the runtime injects `asyncPreempt` there, parks the \
         goroutine, and the next GC's scan of its stack decides. Each reached window gets a \
         control, the nearest boundary before it where scan finds nothing, treated the same \
         way up to 3 times. The stress driver never runs the branch that holds a function's \
         big locals, so one window per function is not reached: its run lasts the budget, or \
         ends sooner when the runtime crashes by itself at the reached window (QEMU 7.2 runs \
         a page that holds a breakpoint one instruction per block, so the runtime's own \
         preemptions can land there). `bigtable` (`corpus/src/bigtable`) is an s2-style \
         encoder: a 64 KiB \
         table zeroed on every call and real work per call, so its window is two instructions \
         in hundreds of thousands. ✓: every reached window crashed at the treated goroutine \
         and boundary, every control survived.\n\n\
         | Go | program | function | stress (`twixt confirm`) | targeted (`--at all`) | controls |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    for c in targeted {
        let Some(t) = &c.targeted else { continue };
        let (windows, controls) = t.text();
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | {} | {windows} {} | {} |",
            c.go_version,
            c.program,
            c.function,
            stress_short(c),
            if t.agrees(&c.predicted_go) {
                "✓"
            } else {
                "✗ DISAGREES"
            },
            if controls.is_empty() {
                "none"
            } else {
                &controls
            }
        );
    }
}

/// `+0xd0, +0xe8` from labels.
fn offsets(labels: &[String]) -> String {
    labels
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Markdown document.
pub fn render(cells: &[Cell]) -> String {
    let mut versions: Vec<&str> = cells
        .iter()
        .filter(|c| c.program == STRESS)
        .map(|c| c.go_version.as_str())
        .collect();
    versions.sort_by_key(|v| version_key(v));
    versions.dedup();
    let mut out = String::new();
    out.push_str(
        "# What the real runtime does at the windows twixt predicts\n\n\
         Generated by `scripts/confirm-matrix` from `docs/confirmed.json` (do not edit by hand: \
         `crates/twixt-confirm/tests/confirmed.rs` re-renders this file from that data and checks \
         every cell against a fresh `twixt scan` of the same corpus binary).\n\n\
         Each cell ran `twixt confirm corpus/<version>/stress -- -func <function>`: the corpus \
         stress driver (`corpus/src/stress`) calls one function in a loop on every P, its big \
         locals declared in a branch that never runs, while a goroutine calls `runtime.GC()` in \
         a loop, under `qemu-aarch64-static -singlestep` (one guest instruction per translation \
         block, so the preemption signal can land on any boundary), contained, with \
         `GOTRACEBACK=system`. A crash names the goroutine the GC could not walk and the frame \
         asynchronous preemption stopped it in; \"stopped at\" gives that frame's offset, which \
         is always a predicted window (go1.19.8 crashes a second time while it prints that \
         frame, \"panic during panic\", so its cells name the function only). `scan:` lists the preemptible windows `twixt scan` \
         predicts in the function (`go`: the runtime's unwinder, a crash is expected; `fp`: the \
         frame-pointer walk, which the runtime does not use to scan stacks, so no crash is \
         expected). ✓: crashed where a `go` window is predicted, survived where none is.\n\n",
    );
    let _ = write!(out, "| Go | ");
    let heads: Vec<String> = COLUMNS
        .iter()
        .map(|(f, h)| format!("{h}<br>`{f}`"))
        .collect();
    let _ = writeln!(out, "{} |", heads.join(" | "));
    let _ = writeln!(out, "| --- |{}", " --- |".repeat(COLUMNS.len()));
    for v in &versions {
        let mut row = vec![v.to_string()];
        for (f, _) in COLUMNS {
            let cell = cells
                .iter()
                .find(|c| c.program == STRESS && c.go_version == *v && c.function == f);
            row.push(cell.map_or("not run".to_string(), cell_text));
        }
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    render_targeted(&mut out, cells);
    let traced: Vec<&Cell> = cells.iter().filter(|c| c.tracer.is_some()).collect();
    if !traced.is_empty() {
        out.push_str(
            "\n## Frame-pointer windows through the execution tracer\n\n\
             A frame-pointer window does not crash the runtime; since go1.21 the execution tracer \
             walks frame pointers for every stack it records, including the stack of a goroutine \
             asynchronous preemption stopped. `twixt confirm --trace` runs the driver with \
             `runtime/trace` on and no GC loop (the scheduler still preempts every 10 ms), dumps \
             the trace with the host toolchain of the same version (`go tool trace -d=1`, \
             `-d=parsed` from go1.24) and \
             checks every stack recorded at a preemption in the function: it must end at the \
             worker goroutine's function, through the driver frame (which a walk from a \
             prologue or epilogue legitimately skips). Wrong stacks are listed by where the \
             goroutine was stopped. Only the windows on the hot path can be hit: the driver \
             never runs the branch that holds the big locals, and its epilogue.\n\n\
             | Go | function | tracer | scan: fp windows |\n| --- | --- | --- | --- |\n",
        );
        for c in traced {
            let Some(t) = &c.tracer else { continue };
            let mut text = format!(
                "{}, {} stack(s) in {} run(s) of {:.0} s",
                t.result, t.stacks, t.runs, t.timeout_seconds
            );
            if !t.wrong.is_empty() {
                text.push_str(&format!(": {}", t.wrong.join("; ")));
            }
            let _ = writeln!(
                out,
                "| {} | `{}` | {text} | {} {} |",
                c.go_version,
                c.function,
                if c.predicted_fp.is_empty() {
                    "none".to_string()
                } else {
                    offsets(&c.predicted_fp)
                },
                if t.agrees(&c.predicted_fp) {
                    "✓"
                } else {
                    "✗ DISAGREES"
                }
            );
        }
    }
    let mut qemus: Vec<&str> = cells.iter().map(|c| c.qemu.as_str()).collect();
    qemus.sort_unstable();
    qemus.dedup();
    let _ = write!(
        out,
        "\nqemu: {}. Times are wall-clock seconds from the start of qemu to the runtime's exit, \
         on a 2-core x86-64 machine shared with other work (GOMAXPROCS 2); a survived cell ran \
         every run to its budget and was killed there; calls/s is the stress driver's own \
         count over the run.\n",
        qemus.join("; ")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0]), Some(1.0));
        assert_eq!(median(&[1.0, 2.0, 10.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 3.0, 10.0]), Some(2.5));
    }

    fn cell(outcome: &str, go: &[&str], offset: Option<u64>) -> Cell {
        Cell {
            program: STRESS.into(),
            go_version: "go1.23.4".into(),
            function: "main.leaf70000".into(),
            qemu: "q".into(),
            timeout_seconds: 30.0,
            outcome: outcome.into(),
            runs: vec![CellRun {
                outcome: outcome.into(),
                seconds: 1.0,
                fatal_error: None,
                offset,
                calls_per_second: None,
            }],
            predicted_go: go.iter().map(|s| s.to_string()).collect(),
            predicted_fp: vec![],
            tracer: None,
            targeted: None,
        }
    }

    #[test]
    fn agreement_is_crash_iff_a_go_window() {
        let w = ["+0xd0 unexpected-return-pc", "+0xe8 unexpected-return-pc"];
        assert!(cell("crashed", &w, Some(0xe8)).agrees());
        assert!(cell("crashed", &w, None).agrees());
        assert!(!cell("crashed", &w, Some(0xe0)).agrees());
        assert!(!cell("survived", &w, None).agrees());
        assert!(cell("survived", &[], None).agrees());
        assert!(!cell("crashed", &[], None).agrees());
        assert!(!cell("failed", &[], None).agrees());
    }

    #[test]
    fn a_survived_window_agrees_only_when_targeted_crashes_it() {
        let w = ["+0x170 unexpected-return-pc"];
        let run = |outcome: &str, agreement: &str| TargetedRun {
            offset: 0x170,
            outcome: outcome.into(),
            agreement: agreement.into(),
            seconds: 0.3,
            after_signal: Some(0.02),
            fatal_error: None,
            treatments: 1,
        };
        let mut c = cell("survived", &w, None);
        assert!(!c.agrees());
        let mut t = TargetedCell {
            timeout_seconds: 10.0,
            windows: vec![run("crashed", "confirmed")],
            controls: vec![TargetedRun {
                offset: 0x16c,
                ..run("survived", "agrees")
            }],
            not_reached: vec![],
        };
        c.targeted = Some(t.clone());
        assert!(c.agrees());
        assert!(!c.stress_agrees());
        t.controls[0].agreement = "unpredicted-crash".into();
        c.targeted = Some(t.clone());
        assert!(!c.agrees());
        t.controls.clear();
        t.windows[0] = run("survived", "not-confirmed");
        c.targeted = Some(t);
        assert!(!c.agrees());
    }
}
