//! What `twixt scan` predicts for the binary confirm runs, and which predicted window a
//! crash belongs to.
//!
//! A **preemptible window of the Go unwinder** is one the runtime itself can stop a
//! goroutine in and then fail to walk in a GC stack scan: the windows a stress run should
//! crash at. Frame-pointer windows (`unwinder: fp`) do not crash the runtime (they corrupt
//! what the execution tracer and perf record), and signal-only windows are never preempted:
//! neither can make a run crash, so neither is "expected to crash".

use std::path::Path;

use serde::{Deserialize, Serialize};
use twixt_check::{Finding, GoProgram, ScanOptions, Severity, Unwinder, Verdict};
use twixt_image::Image;

use crate::outcome::Site;

/// One predicted window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Function name.
    pub function: String,
    /// PC of the boundary (`"0x…"` in JSON, as in scan reports).
    #[serde(with = "twixt_report::model::hex")]
    pub pc: u64,
    /// Offset from the entry.
    pub offset: u64,
    /// Where a preemption there resumes, when not the PC itself.
    #[serde(with = "twixt_report::model::hex_opt")]
    pub resume_pc: Option<u64>,
    /// The instruction at the boundary.
    pub instruction: String,
    /// Which unwinder breaks there (`go` or `fp` in JSON).
    pub unwinder: Unwinder,
    /// How it breaks (`unexpected-return-pc`, `fp-below-sp`, ...).
    pub verdict: Verdict,
    /// `preemptible` or `signal-only`.
    pub severity: Severity,
}

impl Window {
    fn from_finding(f: &Finding) -> Window {
        Window {
            function: f.function.clone(),
            pc: f.pc,
            offset: f.offset,
            resume_pc: f.resume_pc,
            instruction: f.instruction.clone(),
            unwinder: f.unwinder,
            verdict: f.verdict,
            severity: f.severity,
        }
    }

    /// A preemptible window of the Go unwinder: a stress run should crash there.
    pub fn crashes(&self) -> bool {
        self.unwinder == Unwinder::Go && self.severity == Severity::Preemptible
    }

    /// A preemptible frame-pointer window: the tracer can record a wrong stack there.
    pub fn traces_wrong(&self) -> bool {
        self.unwinder == Unwinder::Fp && self.severity == Severity::Preemptible
    }

    /// `main.leaf70000+0xe8 (0xa2f98)`.
    pub fn label(&self) -> String {
        format!("{}+{:#x} ({:#x})", self.function, self.offset, self.pc)
    }
}

/// The scan's preemptible windows in the binary at `path` (both unwinders), sorted by PC,
/// and its Go version.
pub fn predict(path: &Path) -> Result<(String, Vec<Window>), String> {
    predict_in(path, None)
}

/// [`predict`] for the functions `filter` accepts only.
pub fn predict_in(
    path: &Path,
    filter: Option<&(dyn Fn(&str) -> bool + Sync)>,
) -> Result<(String, Vec<Window>), String> {
    let image = Image::open(path).map_err(|e| e.to_string())?;
    let go_version = image.go_version().unwrap_or("unknown").to_string();
    let prog = GoProgram::new(&image).map_err(|e| e.to_string())?;
    let options = ScanOptions {
        filter,
        severity: Some(Severity::Preemptible),
        jobs: std::thread::available_parallelism().map_or(1, usize::from),
        ..ScanOptions::default()
    };
    let report = twixt_check::scan(&prog, &options).map_err(|e| e.to_string())?;
    let windows = report
        .findings
        .iter()
        .map(Window::from_finding)
        .collect::<Vec<_>>();
    Ok((go_version, windows))
}

/// Every finding of any unwinder and severity in the functions `wanted` accepts, by PC:
/// `go unexpected-return-pc (preemptible)`. A boundary with none is one twixt calls safe.
pub fn findings_by_pc(
    path: &Path,
    wanted: &(dyn Fn(&str) -> bool + Sync),
) -> Result<std::collections::BTreeMap<u64, Vec<String>>, String> {
    let image = Image::open(path).map_err(|e| e.to_string())?;
    let prog = GoProgram::new(&image).map_err(|e| e.to_string())?;
    let options = ScanOptions {
        filter: Some(wanted),
        jobs: std::thread::available_parallelism().map_or(1, usize::from),
        ..ScanOptions::default()
    };
    let report = twixt_check::scan(&prog, &options).map_err(|e| e.to_string())?;
    let mut by_pc: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
    for f in &report.findings {
        by_pc.entry(f.pc).or_default().push(format!(
            "{} {} ({})",
            f.unwinder,
            f.verdict,
            f.severity.name()
        ));
    }
    Ok(by_pc)
}

/// The offset of `pc` from the entry of the function that holds it, in the binary at `path`.
pub fn offset_in(path: &Path, pc: u64) -> Option<u64> {
    let image = Image::open(path).ok()?;
    let prog = GoProgram::new(&image).ok()?;
    prog.func_at(pc).map(|f| pc - f.info.entry)
}

/// How a crash site relates to the predicted windows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Match {
    /// The predicted window the crash belongs to (its PC, or its resume PC, is the PC the
    /// runtime printed; or it is the only crash window of the function named).
    pub window: Option<Window>,
    /// When the runtime printed only the function: its predicted crash windows.
    pub candidates: Vec<Window>,
    /// In words.
    pub how: String,
}

/// Relates a crash site to the predicted windows.
pub fn relate(site: &Site, windows: &[Window]) -> Match {
    let crash: Vec<&Window> = windows.iter().filter(|w| w.crashes()).collect();
    if let Some(pc) = site.pc {
        if let Some(w) = crash.iter().find(|w| w.pc == pc || w.resume_pc == Some(pc)) {
            return Match {
                window: Some((*w).clone()),
                candidates: vec![],
                how: format!(
                    "the runtime stopped {} at {:#x}: predicted window {}",
                    site.function,
                    pc,
                    w.label()
                ),
            };
        }
        return Match {
            window: None,
            candidates: vec![],
            how: format!(
                "the runtime stopped {}+{:#x} ({pc:#x}), where twixt predicts no preemptible \
                 window",
                site.function,
                site.offset.unwrap_or(0)
            ),
        };
    }
    let inside: Vec<Window> = crash
        .iter()
        .filter(|w| w.function == site.function)
        .map(|w| (*w).clone())
        .collect();
    match inside.len() {
        0 => Match {
            window: None,
            candidates: vec![],
            how: format!(
                "the runtime names {} but prints no PC, and twixt predicts no preemptible \
                 window in it",
                site.function
            ),
        },
        1 => Match {
            window: inside.first().cloned(),
            candidates: vec![],
            how: format!(
                "the runtime names {} (no PC printed): its only predicted window",
                site.function
            ),
        },
        n => Match {
            window: None,
            how: format!(
                "the runtime names {} (no PC printed): one of its {n} predicted windows",
                site.function
            ),
            candidates: inside,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(function: &str, pc: u64, unwinder: Unwinder) -> Window {
        Window {
            function: function.into(),
            pc,
            offset: pc & 0xff,
            resume_pc: None,
            instruction: "add sp, sp, #0x11, lsl #12".into(),
            unwinder,
            verdict: Verdict::UnexpectedReturnPc,
            severity: Severity::Preemptible,
        }
    }

    fn site(function: &str, pc: Option<u64>) -> Site {
        Site {
            goroutine: Some(21),
            function: function.into(),
            offset: pc.map(|p| p & 0xff),
            pc,
            from: "test".into(),
        }
    }

    #[test]
    fn a_crash_matches_by_pc_then_by_function() {
        let ws = vec![
            w("main.leaf70000", 0xa2f80, Unwinder::Go),
            w("main.leaf70000", 0xa2f78, Unwinder::Fp),
            w("main.leaf70000", 0xa2f98, Unwinder::Go),
            w("main.nonleaf70000", 0xa30c0, Unwinder::Go),
        ];
        let m = relate(&site("main.leaf70000", Some(0xa2f98)), &ws);
        assert_eq!(m.window.unwrap().pc, 0xa2f98);
        // An fp window's PC is never a crash match.
        let m = relate(&site("main.leaf70000", Some(0xa2f78)), &ws);
        assert!(
            m.window.is_none() && m.how.contains("predicts no"),
            "{}",
            m.how
        );
        let m = relate(&site("main.leaf70000", None), &ws);
        assert!(m.window.is_none());
        assert_eq!(m.candidates.len(), 2);
        let m = relate(&site("main.nonleaf70000", None), &ws);
        assert_eq!(m.window.unwrap().pc, 0xa30c0);
        let m = relate(&site("main.other", None), &ws);
        assert!(m.window.is_none() && m.candidates.is_empty());
    }
}
