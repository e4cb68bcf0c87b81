//! Comparing two scan reports, for CI baselines: which windows are new, which were fixed,
//! how many stayed. Windows are matched by function name, offset in the function, verdict
//! and unwinder, so code moving elsewhere in the binary does not register as a change.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::{Finding, ScanReport, Unwinder, Verdict};

/// The identity of a window across builds.
type Key = (String, u64, Verdict, Unwinder);

fn key(f: &Finding) -> Key {
    (f.function.clone(), f.offset, f.verdict, f.unwinder)
}

/// What changed between an old and a new report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Windows in the new report only.
    pub new: Vec<Finding>,
    /// Windows in the old report only.
    pub fixed: Vec<Finding>,
    /// Windows in both.
    pub unchanged: usize,
}

impl Diff {
    /// Whether the new report has windows the old one did not.
    pub fn has_new(&self) -> bool {
        !self.new.is_empty()
    }
}

/// Compares `old` with `new`.
pub fn diff(old: &ScanReport, new: &ScanReport) -> Diff {
    let old_keys: BTreeMap<Key, &Finding> = old.findings.iter().map(|f| (key(f), f)).collect();
    let new_keys: BTreeMap<Key, &Finding> = new.findings.iter().map(|f| (key(f), f)).collect();
    Diff {
        new: new_keys
            .iter()
            .filter(|(k, _)| !old_keys.contains_key(*k))
            .map(|(_, f)| (*f).clone())
            .collect(),
        fixed: old_keys
            .iter()
            .filter(|(k, _)| !new_keys.contains_key(*k))
            .map(|(_, f)| (*f).clone())
            .collect(),
        unchanged: new_keys
            .keys()
            .filter(|k| old_keys.contains_key(*k))
            .count(),
    }
}

/// Renders a diff: new windows (with their evidence), fixed windows, then counts.
pub fn diff_text(d: &Diff, old_name: &str, new_name: &str) -> String {
    let mut s = String::new();
    let line = |f: &Finding| {
        format!(
            "{}+{:#x}  {}  {}  [{} unwinder]  {}",
            f.function,
            f.offset,
            f.verdict,
            f.severity.name(),
            f.unwinder,
            f.instruction
        )
    };
    let _ = writeln!(s, "twixt diff {old_name} -> {new_name}");
    if !d.new.is_empty() {
        let _ = writeln!(s, "\nnew windows ({}):", d.new.len());
        for f in &d.new {
            let _ = writeln!(s, "  + {}", line(f));
        }
    }
    if !d.fixed.is_empty() {
        let _ = writeln!(s, "\nfixed windows ({}):", d.fixed.len());
        for f in &d.fixed {
            let _ = writeln!(s, "  - {}", line(f));
        }
    }
    let _ = writeln!(
        s,
        "\n{} new, {} fixed, {} unchanged",
        d.new.len(),
        d.fixed.len(),
        d.unchanged
    );
    s
}
