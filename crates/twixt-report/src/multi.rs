//! Several binaries in one report (`twixt scan BIN... DIR...`): the per-binary reports, the
//! binaries that could not be scanned, and a combined summary; reading either shape back
//! for baselines, and diffs that pair reports by binary.
//!
//! JSON shape: a single binary keeps the plain [`ScanReport`] object. Several binaries give
//! `{"summary": {...}, "reports": [ScanReport, ...], "failed": [{"binary", "error"}, ...]}`,
//! reports in the order the binaries were given and found.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::{ScanReport, Summary};
use serde::{Deserialize, Serialize};

use crate::diff::{diff, diff_text};

/// A binary that could not be scanned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The binary, as named in the reports.
    pub binary: String,
    /// Why (one line, naming the file).
    pub error: String,
}

/// Counts over every binary of a multi-binary scan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiSummary {
    /// Binaries scanned (each has a report).
    pub binaries: usize,
    /// Binaries that could not be scanned (each has a [`Failure`]).
    pub failed: usize,
    /// Files in the given directories that are not arm64 Go ELF binaries, skipped.
    pub skipped: usize,
    /// The reports' summaries added up.
    #[serde(flatten)]
    pub total: Summary,
}

/// The result of `twixt scan` over several binaries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiReport {
    /// Counts over all binaries.
    pub summary: MultiSummary,
    /// One report per binary scanned, in the order given.
    pub reports: Vec<ScanReport>,
    /// The binaries that could not be scanned.
    #[serde(default)]
    pub failed: Vec<Failure>,
}

impl MultiReport {
    /// Collects reports and failures and adds up the summary.
    pub fn new(reports: Vec<ScanReport>, failed: Vec<Failure>, skipped: usize) -> MultiReport {
        let mut total = Summary::default();
        for r in &reports {
            let s = &r.summary;
            total.functions += s.functions;
            total.boundaries += s.boundaries;
            total.windows += s.windows;
            total.unanalysed += s.unanalysed;
            total.preemptible += s.preemptible;
            total.signal_only += s.signal_only;
            for (k, n) in &s.by_verdict {
                *total.by_verdict.entry(k.clone()).or_insert(0) += n;
            }
            for (k, n) in &s.by_unwinder {
                *total.by_unwinder.entry(k.clone()).or_insert(0) += n;
            }
        }
        MultiReport {
            summary: MultiSummary {
                binaries: reports.len(),
                failed: failed.len(),
                skipped,
                total,
            },
            reports,
            failed,
        }
    }
}

/// Renders the multi-binary JSON report (pretty-printed, with a trailing newline).
pub fn json_multi(multi: &MultiReport) -> String {
    let mut s =
        serde_json::to_string_pretty(multi).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// Renders the multi-binary text report: each binary's report, each failure, then a table
/// of the binaries and the combined summary.
pub fn text_multi(multi: &MultiReport) -> String {
    let mut s = String::new();
    for r in &multi.reports {
        s.push_str(&crate::text(r));
        s.push('\n');
    }
    for f in &multi.failed {
        let _ = writeln!(s, "twixt scan {}: error: {}\n", f.binary, f.error);
    }
    let sum = &multi.summary;
    let _ = writeln!(
        s,
        "== {} binaries scanned, {} failed, {} other files skipped",
        sum.binaries, sum.failed, sum.skipped
    );
    let width = multi
        .reports
        .iter()
        .map(|r| r.binary.len())
        .chain(multi.failed.iter().map(|f| f.binary.len()))
        .chain(["BINARY".len()])
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        s,
        "{:<width$}  {:<10} {:>9} {:>10} {:>7} {:>11} {:>10}",
        "BINARY", "GO", "FUNCTIONS", "BOUNDARIES", "WINDOWS", "PREEMPTIBLE", "UNANALYSED"
    );
    for r in &multi.reports {
        let m = &r.summary;
        let _ = writeln!(
            s,
            "{:<width$}  {:<10} {:>9} {:>10} {:>7} {:>11} {:>10}",
            r.binary,
            r.go_version,
            m.functions,
            m.boundaries,
            m.windows,
            m.preemptible,
            m.unanalysed
        );
    }
    for f in &multi.failed {
        let _ = writeln!(s, "{:<width$}  error", f.binary);
    }
    let t = &sum.total;
    let _ = writeln!(
        s,
        "total: {} functions, {} boundaries checked, {} windows ({} preemptible, {} signal-only), {} unanalysed",
        t.functions, t.boundaries, t.windows, t.preemptible, t.signal_only, t.unanalysed
    );
    for (verdict, n) in &t.by_verdict {
        let _ = writeln!(s, "    {verdict}: {n}");
    }
    s
}

/// Reads a JSON report of either shape (one binary, or several) as a list of reports.
pub fn read_reports(text: &str) -> Result<Vec<ScanReport>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a twixt JSON report: {e}"))?;
    if value.get("reports").is_some() {
        let multi: MultiReport = serde_json::from_value(value)
            .map_err(|e| format!("not a twixt multi-binary JSON report: {e}"))?;
        Ok(multi.reports)
    } else {
        serde_json::from_value(value)
            .map(|r| vec![r])
            .map_err(|e| format!("not a twixt JSON report: {e}"))
    }
}

/// The last path component of a binary's name (a single-binary report names only that).
fn file_name(binary: &str) -> &str {
    binary.rsplit('/').next().unwrap_or(binary)
}

/// Pairs old and new reports by binary: one report on each side pair whatever their names
/// (as single-binary baselines always did); otherwise the same name first, then the same
/// file name when that is unique on both sides (so a single-binary baseline, named
/// `frames`, matches `build/frames` in a multi-binary scan). In the new reports' order,
/// then old reports that matched nothing.
pub fn pair_reports<'a>(
    old: &'a [ScanReport],
    new: &'a [ScanReport],
) -> Vec<(Option<&'a ScanReport>, Option<&'a ScanReport>)> {
    if let ([o], [n]) = (old, new) {
        return vec![(Some(o), Some(n))];
    }
    let mut used = vec![false; old.len()];
    let mut matched: Vec<Option<usize>> = new
        .iter()
        .map(|n| {
            let i = old.iter().position(|o| o.binary == n.binary)?;
            used[i] = true;
            Some(i)
        })
        .collect();
    let count = |list: &mut dyn Iterator<Item = &str>, name: &str| {
        list.filter(|b| file_name(b) == name).count()
    };
    for (j, n) in new.iter().enumerate() {
        if matched[j].is_some() {
            continue;
        }
        let name = file_name(&n.binary);
        let unique_new = count(&mut new.iter().map(|r| r.binary.as_str()), name) == 1;
        let unique_old = count(&mut old.iter().map(|r| r.binary.as_str()), name) == 1;
        if let Some(i) = old.iter().position(|o| file_name(&o.binary) == name)
            && unique_new
            && unique_old
            && !used[i]
        {
            used[i] = true;
            matched[j] = Some(i);
        }
    }
    let mut pairs: Vec<_> = new
        .iter()
        .zip(&matched)
        .map(|(n, m)| (m.map(|i| &old[i]), Some(n)))
        .collect();
    pairs.extend(
        old.iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|(o, _)| (Some(o), None)),
    );
    pairs
}

/// Compares old and new reports binary by binary. A binary with no old report has every
/// window new; an old report with no new one is listed as not scanned. Returns the text and
/// whether any window is new.
pub fn diff_multi_text(
    old: &[ScanReport],
    new: &[ScanReport],
    old_name: &str,
    new_name: &str,
) -> (String, bool) {
    let mut s = String::new();
    let _ = writeln!(s, "twixt diff {old_name} -> {new_name}");
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    let mut any_new = false;
    let empty = |r: &ScanReport| ScanReport {
        findings: Vec::new(),
        ..r.clone()
    };
    for (o, n) in pair_reports(old, new) {
        let (o, n, note) = match (o, n) {
            (Some(o), Some(n)) if o.binary == n.binary => (o.clone(), n, String::new()),
            (Some(o), Some(n)) => (o.clone(), n, format!(" (baseline: {})", o.binary)),
            (None, Some(n)) => (
                empty(n),
                n,
                " (not in the baseline: every window is new)".into(),
            ),
            (Some(o), None) => {
                let _ = writeln!(s, "\n== {}: in the baseline only, not scanned", o.binary);
                continue;
            }
            (None, None) => continue,
        };
        let d = diff(&o, n);
        any_new |= d.has_new();
        *totals.entry("new").or_insert(0) += d.new.len();
        *totals.entry("fixed").or_insert(0) += d.fixed.len();
        *totals.entry("unchanged").or_insert(0) += d.unchanged;
        let _ = writeln!(s, "\n== {}{note}", n.binary);
        // The single-binary rendering without its first line (the names are above).
        let body = diff_text(&d, &o.binary, &n.binary);
        s.push_str(body.split_once('\n').map_or("", |(_, rest)| rest));
    }
    let _ = writeln!(
        s,
        "\ntotal: {} new, {} fixed, {} unchanged",
        totals.get("new").unwrap_or(&0),
        totals.get("fixed").unwrap_or(&0),
        totals.get("unchanged").unwrap_or(&0)
    );
    (s, any_new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(binary: &str) -> ScanReport {
        ScanReport {
            binary: binary.into(),
            go_version: "go1.23.4".into(),
            go_version_source: "buildinfo".into(),
            go_version_rules: None,
            summary: Summary::default(),
            findings: Vec::new(),
            unanalysed: Vec::new(),
            stats: Vec::new(),
        }
    }

    #[test]
    fn reports_pair_by_name_then_by_unique_file_name() {
        let old = [report("frames"), report("a/hello"), report("gone")];
        let new = [report("x/frames"), report("b/hello"), report("a/hello")];
        let pairs: Vec<(Option<&str>, Option<&str>)> = pair_reports(&old, &new)
            .into_iter()
            .map(|(o, n)| (o.map(|r| r.binary.as_str()), n.map(|r| r.binary.as_str())))
            .collect();
        assert_eq!(
            pairs,
            [
                (Some("frames"), Some("x/frames")),
                // Two new `hello`s: only the exact name pairs.
                (None, Some("b/hello")),
                (Some("a/hello"), Some("a/hello")),
                (Some("gone"), None),
            ]
        );
    }

    #[test]
    fn both_shapes_read_back() {
        let one = report("frames");
        let single = crate::json(&one);
        assert_eq!(read_reports(&single).unwrap(), std::slice::from_ref(&one));
        let multi = MultiReport::new(vec![one.clone(), report("b/x")], Vec::new(), 3);
        let text = json_multi(&multi);
        assert_eq!(read_reports(&text).unwrap(), [one, report("b/x")]);
        let back: MultiReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, multi);
        assert!(read_reports("{\"reports\": 3}").is_err());
    }
}
