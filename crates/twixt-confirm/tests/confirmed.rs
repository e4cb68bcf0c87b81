//! `docs/confirmed.md` is what `scripts/confirm-matrix` measured, rendered from
//! `docs/confirmed.json`, and every cell agrees with a fresh `twixt scan` of the corpus
//! binary: crashed where scan predicts a preemptible Go-unwinder window in the function,
//! survived where it predicts none, each crash at a predicted window, and the predicted
//! windows the document lists are the ones scan finds today. Every stress cell with a
//! predicted window was confirmed by `twixt confirm --at all` too (its control survived),
//! and the s2-style `bigtable`, which stress does not crash, was. Outcomes, not timings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use twixt_confirm::matrix::{COLUMNS, Cell, STRESS, render, window_label};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cells() -> Vec<Cell> {
    let text = std::fs::read_to_string(repo().join("docs/confirmed.json"))
        .expect("docs/confirmed.json (scripts/confirm-matrix writes it)");
    serde_json::from_str(&text).expect("docs/confirmed.json is the cells' JSON")
}

#[test]
fn the_document_is_rendered_from_the_data() {
    let have =
        std::fs::read_to_string(repo().join("docs/confirmed.md")).expect("docs/confirmed.md");
    assert!(
        have == render(&cells()),
        "docs/confirmed.md is not the rendering of docs/confirmed.json: run scripts/confirm-matrix"
    );
}

#[test]
fn every_cell_agrees_with_a_fresh_scan() {
    let cells = cells();
    // The rows the issue asks for, each with every column.
    let versions: BTreeSet<&str> = cells
        .iter()
        .filter(|c| c.program == STRESS)
        .map(|c| c.go_version.as_str())
        .collect();
    for v in [
        "go1.19.8",
        "go1.23.4",
        "go1.24.3",
        "go1.24.11",
        "go1.25.5",
        "go1.27.3",
    ] {
        assert!(versions.contains(v), "no row for {v}");
        for (f, _) in COLUMNS {
            assert!(
                cells.iter().any(|c| c.go_version == v && c.function == f),
                "{v}: no cell for {f}"
            );
        }
    }
    let mut crashed = 0;
    let binaries: BTreeSet<(&str, &str)> = cells
        .iter()
        .map(|c| (c.program.as_str(), c.go_version.as_str()))
        .collect();
    for (program, v) in binaries {
        let bin = repo().join("corpus").join(v).join(program);
        let main_only = |name: &str| name.starts_with("main.");
        let (go_version, windows) =
            twixt_confirm::predict::predict_in(&bin, Some(&main_only)).expect("scan");
        assert_eq!(go_version, v);
        for c in cells
            .iter()
            .filter(|c| c.go_version == v && c.program == program)
        {
            let label = |crashes: bool| -> Vec<String> {
                windows
                    .iter()
                    .filter(|w| w.function == c.function)
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
            assert_eq!(
                c.predicted_go,
                label(true),
                "{v} {}: go windows",
                c.function
            );
            assert_eq!(
                c.predicted_fp,
                label(false),
                "{v} {}: fp windows",
                c.function
            );
            assert!(
                c.agrees(),
                "{v} {}: {} but scan predicts {:?}",
                c.function,
                c.outcome,
                c.predicted_go
            );
            if let Some(t) = &c.tracer {
                assert!(
                    t.agrees(&c.predicted_fp),
                    "{v} {}: the tracer recorded wrong stacks where no fp window is predicted: {t:?}",
                    c.function
                );
                if t.result == "confirmed (trace)" {
                    assert!(!t.wrong.is_empty());
                }
            }
            if !c.predicted_go.is_empty() {
                let t = c.targeted.as_ref().unwrap_or_else(|| {
                    panic!("{v} {}: no targeted confirmation (--at all)", c.function)
                });
                assert!(
                    t.agrees(&c.predicted_go),
                    "{v} {}: targeted {t:?}",
                    c.function
                );
                assert!(!t.controls.is_empty(), "{v} {}: no control", c.function);
            }
            if c.outcome == "crashed" {
                crashed += 1;
                assert!(
                    c.runs.len() >= 5,
                    "{v} {}: a crash cell needs at least 5 runs",
                    c.function
                );
                assert!(
                    c.runs.iter().all(|r| r.outcome == "crashed"),
                    "{v} {}: every run of a crash cell crashed",
                    c.function
                );
            }
        }
    }
    // golang/go#73259 (non-leaf, go1.19.8 to go1.24.3) and the leaf split in every row.
    assert!(crashed >= 9, "{crashed} crash cells");
    // The s2-style encoder: stress survives its window, targeted confirmation crashes it.
    let big = cells
        .iter()
        .find(|c| c.program == "bigtable")
        .expect("a bigtable cell");
    assert_eq!(big.outcome, "survived");
    assert!(!big.stress_agrees() && big.agrees(), "{big:?}");
}
