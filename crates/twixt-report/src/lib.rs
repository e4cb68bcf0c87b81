//! Deterministic report renderers: the text a person reads and the JSON a program reads.
//!
//! Architecture invariant: rendering is a pure function of the report; the same report
//! always renders to the same bytes (sorted input, no clocks, no absolute paths).

mod diff;
mod matrix;
pub mod model;
mod multi;
mod sarif;

use std::fmt::Write as _;

use crate::model::{Finding, ScanReport, Unwinder};
pub use diff::{Diff, diff, diff_text};
pub use matrix::{WindowCounts, matrix};
pub use multi::{
    Failure, MultiReport, MultiSummary, diff_multi_text, json_multi, pair_reports, read_reports,
    text_multi,
};
pub use sarif::{sarif, sarif_multi};

/// Reads a JSON report written by [`json`] (a baseline).
pub fn read_json(text: &str) -> Result<ScanReport, String> {
    serde_json::from_str(text).map_err(|e| format!("not a twixt JSON report: {e}"))
}

/// Renders the JSON report (pretty-printed, with a trailing newline).
pub fn json(report: &ScanReport) -> String {
    let mut s =
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// Formats a signed distance as `caller-0x1170` / `caller+0x8` / `caller`.
fn rel_caller(below: i64) -> String {
    match below {
        0 => "caller".into(),
        b if b > 0 => format!("caller-{b:#x}"),
        b => format!("caller+{:#x}", -b),
    }
}

fn signed_hex(v: i64) -> String {
    if v < 0 {
        format!("-{:#x}", -v)
    } else {
        format!("+{v:#x}")
    }
}

/// Renders one finding as a block of text: the headline, the explanation, the window.
pub fn finding_text(f: &Finding) -> String {
    let mut s = String::new();
    let place = match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        _ => "?".into(),
    };
    let _ = writeln!(
        s,
        "{}  {}+{:#x} ({:#x})  {}  [{} unwinder]",
        f.verdict,
        f.function,
        f.offset,
        f.pc,
        f.severity.name(),
        f.unwinder
    );
    let _ = writeln!(s, "    at {place}: {}", f.instruction);
    let _ = writeln!(
        s,
        "    SP is {} but pcsp says the frame is {:#x} bytes",
        rel_caller(f.sp_below_caller),
        f.pcsp
    );
    if let Some(resume) = f.resume_pc {
        let _ = writeln!(
            s,
            "    a preemption here resumes at {resume:#x} (restartable sequence)"
        );
    }
    if let Some(err) = f.computed_caller_sp_error
        && err != 0
    {
        let _ = writeln!(
            s,
            "    the unwinder computes the caller's SP {:#x} bytes {} the true one",
            err.unsigned_abs(),
            if err < 0 { "above" } else { "below" }
        );
    }
    if let Some(r29) = f.r29_sp_offset {
        let _ = writeln!(s, "    R29 is sp{}", signed_hex(r29));
    }
    if let (Some(off), Some(value), Some(sym)) = (f.slot_sp_offset, f.read_value, &f.read_symbol) {
        let _ = write!(
            s,
            "    it reads the return PC at [sp{}] = {value:#x} ({sym})",
            signed_hex(off)
        );
        match f.expected_slot_sp_offset {
            Some(e) => {
                let _ = writeln!(
                    s,
                    "; the saved LR {:#x} is at [sp{}]",
                    f.expected_return_pc,
                    signed_hex(e)
                );
            }
            None => {
                let _ = writeln!(s, "; the true return PC is {:#x}", f.expected_return_pc);
            }
        }
    }
    let who = if f.unwinder == Unwinder::Fp {
        "walk"
    } else {
        "runtime"
    };
    let _ = writeln!(s, "    {who}: {}", f.outcome);
    for line in &f.context {
        let sp = match line.sp_below_caller {
            Some(b) => format!("sp={}", rel_caller(b)),
            None => "sp=?".into(),
        };
        let pcsp = match line.pcsp {
            Some(v) => format!("pcsp={v:#x}"),
            None => "pcsp=?".into(),
        };
        let _ = writeln!(
            s,
            "    {} {:>10} +{:<5x} {:<36} {:<20} {}",
            if line.here { ">" } else { " " },
            format!("{:#x}", line.pc),
            line.offset,
            line.instruction,
            sp,
            pcsp
        );
    }
    s
}

/// The first line of a text report: binary, Go version and where the version came from
/// (`twixt scan frames (go1.23.4 from buildinfo)`). An inferred range also names the
/// rules applied, and a second line gives the evidence.
pub fn header(report: &ScanReport) -> String {
    let source = &report.go_version_source;
    let (name, version) = (&report.binary, &report.go_version);
    if let Some(evidence) = source.strip_prefix("inferred: ") {
        let rules = report.go_version_rules.as_deref().unwrap_or("?");
        format!(
            "twixt scan {name} ({version} inferred; preemption rules of {rules})\n    go version evidence: {evidence}\n"
        )
    } else if source.is_empty() {
        format!("twixt scan {name} ({version})\n")
    } else {
        format!("twixt scan {name} ({version} from {source})\n")
    }
}

/// Renders the text report: each finding, then the unanalysed functions, then a summary.
pub fn text(report: &ScanReport) -> String {
    let mut s = String::new();
    s.push_str(&header(report));
    let _ = writeln!(s);
    for f in &report.findings {
        s.push_str(&finding_text(f));
        s.push('\n');
    }
    if !report.unanalysed.is_empty() {
        let _ = writeln!(s, "unanalysed:");
        for u in &report.unanalysed {
            let _ = writeln!(s, "    {} ({:#x}): {}", u.function, u.pc, u.reason);
        }
        let _ = writeln!(s);
    }
    let sum = &report.summary;
    let _ = writeln!(
        s,
        "summary: {} functions, {} boundaries checked, {} windows ({} preemptible, {} signal-only), {} unanalysed",
        sum.functions,
        sum.boundaries,
        sum.windows,
        sum.preemptible,
        sum.signal_only,
        sum.unanalysed
    );
    for (verdict, n) in &sum.by_verdict {
        let _ = writeln!(s, "    {verdict}: {n}");
    }
    if !sum.not_judged.is_empty() {
        let parts: Vec<String> = sum
            .not_judged
            .iter()
            .map(|(why, n)| format!("{why}: {n}"))
            .collect();
        let _ = writeln!(
            s,
            "not judged (checked, but the planted call chain does not describe them): {}",
            parts.join(", ")
        );
    }
    s
}
