//! `docs/matrix.md` is what `scripts/matrix` generates from the corpus: regenerated here from
//! the committed reports `corpus/go*/frames.scan.json` (exactly what `twixt scan --format
//! json` prints), it must match byte for byte, and it must show the expected shape (the
//! #73259 fix removes the non-leaf window, the leaf window stays).

use std::path::{Path, PathBuf};

use twixt_report::model::ScanReport;
use twixt_report::{WindowCounts, matrix};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `frames` reports of every Go version in the corpus (not `frames-stripped`).
fn reports() -> Vec<(String, ScanReport)> {
    let corpus = repo().join("corpus");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&corpus).expect("corpus/") {
        let dir = entry.expect("entry").path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let path = dir.join("frames.scan.json");
        if !name.starts_with("go") || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read golden");
        let report =
            twixt_report::read_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(report.go_version, name, "{}", path.display());
        out.push((report.go_version.clone(), report));
    }
    assert!(out.len() >= 10, "only {} frames reports", out.len());
    out
}

fn parse_version(v: &str) -> Vec<u64> {
    v.trim_start_matches("go")
        .split('.')
        .map(|n| n.parse().expect("numeric version"))
        .collect()
}

#[test]
fn docs_matrix_is_up_to_date() {
    let generated = matrix(&reports());
    let path = repo().join("docs/matrix.md");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/matrix)", path.display()));
    if generated != committed {
        let first = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(generated.lines().count().min(committed.lines().count()));
        panic!(
            "docs/matrix.md is stale: run scripts/matrix (first difference at line {}):\n\
             generated: {:?}\ncommitted: {:?}",
            first + 1,
            generated.lines().nth(first),
            committed.lines().nth(first)
        );
    }
}

#[test]
fn the_fix_removes_the_non_leaf_window_only() {
    let reports = reports();
    for (version, report) in &reports {
        let c = WindowCounts::of(report);
        let fixed = parse_version(version) >= vec![1, 24, 11];
        assert_eq!(
            c.non_leaf_epilogue,
            // nonleaf70000, nonleaf1052688 and the three frames of main.chain1.
            if fixed { 0 } else { 5 },
            "{version}: non-leaf epilogue windows"
        );
        let go1_19 = parse_version(version) < vec![1, 21];
        assert_eq!(
            c.fp_popped_leaf_record,
            if go1_19 { 14 } else { 0 },
            "{version}: golang/go#63830 windows in leaf epilogues"
        );
        assert_eq!(
            c.fp_half_built_r29,
            if go1_19 { 0 } else { 2 },
            "{version}: half-built R29 in split leaf epilogues"
        );
        assert_eq!(c.leaf_epilogue, 2, "{version}: leaf epilogue windows");
        assert_eq!(c.preemptible, report.summary.preemptible, "{version}");
        assert_eq!(c.signal_only, report.summary.signal_only, "{version}");
        assert_eq!(c.unanalysed, report.summary.unanalysed, "{version}");
        assert!(
            c.runtime_asm_split_epilogue + c.return_address_lost <= c.signal_only,
            "{version}"
        );
        assert!(
            c.runtime_asm_split_epilogue > 0,
            "{version}: runtime.call* windows"
        );
    }
    // Rows are sorted by version number, not as strings (go1.9 < go1.19 < go1.24.3 < go1.24.11).
    let table = matrix(&reports);
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| go"))
        .map(|l| l.split('|').nth(1).unwrap().trim())
        .collect();
    let mut sorted = rows.clone();
    sorted.sort_by_key(|v| parse_version(v));
    assert_eq!(rows, sorted);
    assert_eq!(rows.len(), reports.len());
}
