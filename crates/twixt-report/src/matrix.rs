//! The version matrix: how many windows of each class one program has under each Go
//! toolchain, as a Markdown document (`docs/matrix.md`, written by `scripts/matrix`).
//!
//! The classes are read off the findings alone, so the table is a pure function of the
//! reports:
//!
//! - **non-leaf epilogue**: preemptible findings in `main.nonleaf*` (the #73259 window:
//!   a large frame popped by two `ADD`s to SP, fixed in go1.24.11/go1.25);
//! - **leaf epilogue**: preemptible findings in `main.leaf*` (the same split in leaf
//!   functions, which the fix did not touch);
//! - **runtime asm split epilogue**: signal-only findings at an `add sp, sp, ...` where the
//!   real SP and pcsp disagree (hand-written assembly such as `runtime.call65536`);
//! - **return address lost (asm)**: signal-only findings where SP and pcsp agree, so the
//!   frame size is right but the return address is not where the unwinder looks for it
//!   (assembly that moves LR or switches stacks);
//! - **fp: popped leaf record**: preemptible frame-pointer findings `fp-below-sp` in
//!   `main.leaf*` (golang/go#63830: the leaf epilogue pops SP before it restores R29);
//! - **fp: half-built R29**: preemptible `fp-wrong-return-pc` findings in `main.leaf*` (a
//!   leaf epilogue that rebuilds R29 with two ADDs);
//! - **fp: asm**: signal-only frame-pointer findings (runtime assembly that switches stacks
//!   or overwrites its own saved-LR slot).
//!
//! The first four classes count Go-unwinder findings only; the totals count both.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::model::{Finding, ScanReport, Severity, Unwinder, Verdict};

/// The window counts of one report, by class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowCounts {
    /// Preemptible findings in `main.nonleaf*` functions.
    pub non_leaf_epilogue: usize,
    /// Preemptible findings in `main.leaf*` functions.
    pub leaf_epilogue: usize,
    /// Signal-only findings at an `add sp, sp, ...` where SP and pcsp disagree.
    pub runtime_asm_split_epilogue: usize,
    /// Signal-only findings where SP and pcsp agree (the return address is elsewhere).
    pub return_address_lost: usize,
    /// Preemptible `fp-below-sp` findings in `main.leaf*`.
    pub fp_popped_leaf_record: usize,
    /// Preemptible `fp-wrong-return-pc` findings in `main.leaf*`.
    pub fp_half_built_r29: usize,
    /// Signal-only frame-pointer findings.
    pub fp_signal_only: usize,
    /// All preemptible findings.
    pub preemptible: usize,
    /// All signal-only findings.
    pub signal_only: usize,
    /// Functions not (fully) analysed.
    pub unanalysed: usize,
}

/// Whether the real SP differs from the frame pcsp records.
fn sp_mismatch(f: &Finding) -> bool {
    i64::try_from(f.pcsp) != Ok(f.sp_below_caller)
}

impl WindowCounts {
    /// Classifies the findings of one report.
    pub fn of(report: &ScanReport) -> WindowCounts {
        let mut c = WindowCounts {
            unanalysed: report.unanalysed.len(),
            ..WindowCounts::default()
        };
        for f in &report.findings {
            if f.unwinder == Unwinder::Fp {
                match f.severity {
                    Severity::Preemptible => {
                        c.preemptible += 1;
                        if f.function.starts_with("main.leaf") {
                            match f.verdict {
                                Verdict::FpBelowSp => c.fp_popped_leaf_record += 1,
                                Verdict::FpWrongReturnPc => c.fp_half_built_r29 += 1,
                                _ => {}
                            }
                        }
                    }
                    Severity::SignalOnly => {
                        c.signal_only += 1;
                        c.fp_signal_only += 1;
                    }
                }
                continue;
            }
            match f.severity {
                Severity::Preemptible => {
                    c.preemptible += 1;
                    if f.function.starts_with("main.nonleaf")
                        || f.function.starts_with("main.chain")
                    {
                        c.non_leaf_epilogue += 1;
                    } else if f.function.starts_with("main.leaf") {
                        c.leaf_epilogue += 1;
                    }
                }
                Severity::SignalOnly => {
                    c.signal_only += 1;
                    if !sp_mismatch(f) {
                        c.return_address_lost += 1;
                    } else if f.instruction.starts_with("add sp, sp,") {
                        c.runtime_asm_split_epilogue += 1;
                    }
                }
            }
        }
        c
    }
}

/// A sort key for Go versions: `go1.24.11` → `[1, 24, 11]` (so go1.9 sorts before go1.19),
/// with the full string as the tie-break for pre-releases and unknown forms.
fn version_key(version: &str) -> (Vec<u64>, &str) {
    let numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(u64::MAX))
        .collect();
    (numbers, version)
}

/// The column headings, in order.
const COLUMNS: [&str; 11] = [
    "Go version",
    "non-leaf epilogue",
    "leaf epilogue",
    "runtime asm split epilogue",
    "return address lost (asm)",
    "fp: popped leaf record",
    "fp: half-built R29",
    "fp: asm",
    "total preemptible",
    "total signal-only",
    "unanalysed",
];

/// Renders the Markdown document: one row per Go version (sorted by version), one column
/// per window class. `reports` pairs each report with its Go version.
pub fn matrix(reports: &[(String, ScanReport)]) -> String {
    let mut rows: Vec<(&str, WindowCounts)> = reports
        .iter()
        .map(|(version, report)| (version.as_str(), WindowCounts::of(report)))
        .collect();
    rows.sort_by(|a, b| version_key(a.0).cmp(&version_key(b.0)));
    let programs: Vec<&str> = reports
        .iter()
        .map(|(_, r)| r.binary.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let programs = if programs.is_empty() {
        "no program".to_string()
    } else {
        programs
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };

    let mut s = String::new();
    let _ = writeln!(s, "# Version matrix");
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Generated by `scripts/matrix`, which scans every `frames` binary in \
         `corpus/manifest.json` with `twixt scan --format json` and renders the reports with \
         `cargo run -p twixt-report --example matrix -- REPORT.json...`. Do not edit by hand: \
         `crates/twixt-report/tests/matrix.rs` checks this file against the committed reports \
         `corpus/<version>/frames.scan.json`."
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Windows found in {programs}, by Go toolchain and window class:"
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "| {} |", COLUMNS.join(" | "));
    let _ = writeln!(
        s,
        "|{}",
        COLUMNS
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { " --- |" } else { " ---: |" })
            .collect::<String>()
    );
    for (version, c) in &rows {
        let _ = writeln!(
            s,
            "| {version} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.non_leaf_epilogue,
            c.leaf_epilogue,
            c.runtime_asm_split_epilogue,
            c.return_address_lost,
            c.fp_popped_leaf_record,
            c.fp_half_built_r29,
            c.fp_signal_only,
            c.preemptible,
            c.signal_only,
            c.unanalysed
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Columns:");
    let _ = writeln!(s);
    for line in [
        "- **non-leaf epilogue**: preemptible Go-unwinder windows in `main.nonleaf*` and \
         `main.chain*`, the \
         [golang/go#73259](https://github.com/golang/go/issues/73259) window (a large frame \
         popped by two `ADD`s to SP, the return PC read from the wrong slot). The fixed \
         toolchains have none.",
        "- **leaf epilogue**: preemptible windows in `main.leaf*`, the same split epilogue in \
         leaf functions, which the #73259 fix did not change.",
        "- **runtime asm split epilogue**: signal-only windows at an `add sp, sp, ...` where \
         the real SP and the frame size pcsp records disagree (hand-written runtime assembly \
         such as `runtime.call65536`).",
        "- **return address lost (asm)**: signal-only windows where SP and pcsp agree but the \
         return address is not where the unwinder reads it (assembly that moves LR or \
         switches stacks).",
        "- **fp: popped leaf record**: preemptible frame-pointer windows in `main.leaf*` \
         where R29 still names the record of a frame already popped \
         ([golang/go#63830](https://github.com/golang/go/issues/63830): Go 1.19 leaf \
         epilogues pop SP before they recompute R29).",
        "- **fp: half-built R29**: preemptible frame-pointer windows in `main.leaf*` where a \
         leaf epilogue rebuilds R29 with two `ADD`s and the walk reads a local as the \
         return PC in between (frames whose size needs two immediates; every corpus toolchain \
         from go1.21.13 on).",
        "- **fp: asm**: signal-only frame-pointer windows, all in runtime assembly that \
         switches stacks, calls C or the vDSO, or overwrites its own saved-LR slot.",
        "- **total preemptible** / **total signal-only**: every window of that severity, \
         from both unwinders, including those in no class above.",
        "- **unanalysed**: functions twixt could not fully run (see each report's reasons).",
    ] {
        let _ = writeln!(s, "{line}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically() {
        let mut v = vec!["go1.24.11", "go1.9.2", "go1.24.3", "go1.19.8", "go1.25.0"];
        v.sort_by(|a, b| version_key(a).cmp(&version_key(b)));
        assert_eq!(
            v,
            ["go1.9.2", "go1.19.8", "go1.24.3", "go1.24.11", "go1.25.0"]
        );
    }
}
