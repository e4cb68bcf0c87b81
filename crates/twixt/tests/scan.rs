//! `twixt scan` over the corpus: golden reports per (binary, view), the #73259 windows
//! where the toolchains have them and nowhere else, agreement with the corpus's own
//! objdump-based epilogue analysis, coverage (every boundary once, unanalysed under 1%),
//! and that every window is a boundary where the metadata and the machine disagree.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{check_golden, corpus, manifest, scan};

/// The binaries with golden reports; `golden_list_matches_manifest` keeps it complete.
const BINARIES: &[&str] = &[
    "go1.19.8/frames",
    "go1.19.8/stress",
    "go1.21.13/frames",
    "go1.22.10/frames",
    "go1.23.4/belowsp",
    "go1.23.4/frames",
    "go1.23.4/frames-stripped",
    "go1.23.4/hello",
    "go1.23.4/hostile",
    "go1.23.4/stress",
    "go1.23.9/frames",
    "go1.24.3/bigtable",
    "go1.24.3/frames",
    "go1.24.3/stress",
    "go1.24.11/frames",
    "go1.24.11/stress",
    "go1.25.0/frames",
    "go1.25.5/frames",
    "go1.25.5/hello",
    "go1.25.5/stress",
    "go1.26.6/frames",
    "go1.26.6/frames-stripped",
    "go1.27.3/belowsp",
    "go1.27.3/frames",
    "go1.27.3/stress",
];

macro_rules! goldens {
    ($($name:ident => $path:literal),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn text() {
                    let report = super::scan($path);
                    let golden = super::corpus().join(concat!($path, ".scan.txt"));
                    super::check_golden(&golden, &twixt_report::text(&report));
                }

                #[test]
                fn json() {
                    let report = super::scan($path);
                    let golden = super::corpus().join(concat!($path, ".scan.json"));
                    super::check_golden(&golden, &twixt_report::json(&report));
                }
            }
        )*
    };
}

goldens! {
    go1_19_8_frames => "go1.19.8/frames",
    go1_19_8_stress => "go1.19.8/stress",
    go1_21_13_frames => "go1.21.13/frames",
    go1_22_10_frames => "go1.22.10/frames",
    go1_23_4_belowsp => "go1.23.4/belowsp",
    go1_23_4_frames => "go1.23.4/frames",
    go1_23_4_frames_stripped => "go1.23.4/frames-stripped",
    go1_23_4_hello => "go1.23.4/hello",
    go1_23_4_hostile => "go1.23.4/hostile",
    go1_23_4_stress => "go1.23.4/stress",
    go1_23_9_frames => "go1.23.9/frames",
    go1_24_3_bigtable => "go1.24.3/bigtable",
    go1_24_3_frames => "go1.24.3/frames",
    go1_24_3_stress => "go1.24.3/stress",
    go1_24_11_frames => "go1.24.11/frames",
    go1_24_11_stress => "go1.24.11/stress",
    go1_25_0_frames => "go1.25.0/frames",
    go1_25_5_frames => "go1.25.5/frames",
    go1_25_5_hello => "go1.25.5/hello",
    go1_25_5_stress => "go1.25.5/stress",
    go1_26_6_frames => "go1.26.6/frames",
    go1_26_6_frames_stripped => "go1.26.6/frames-stripped",
    go1_27_3_belowsp => "go1.27.3/belowsp",
    go1_27_3_frames => "go1.27.3/frames",
    go1_27_3_stress => "go1.27.3/stress",
}

#[test]
fn golden_list_matches_manifest() {
    let listed: BTreeSet<&str> = BINARIES.iter().copied().collect();
    let manifest: Vec<String> = manifest().into_iter().map(|e| e.path).collect();
    let in_manifest: BTreeSet<&str> = manifest.iter().map(String::as_str).collect();
    assert_eq!(
        listed, in_manifest,
        "add new corpus binaries to BINARIES and goldens!"
    );
}

fn pc(hex: &str) -> u64 {
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
}

/// Toolchains whose non-leaf epilogues still pop a large frame with two ADDs.
fn pre_fix(version: &str) -> bool {
    matches!(
        version,
        "go1.19.8" | "go1.21.13" | "go1.22.10" | "go1.23.4" | "go1.23.9" | "go1.24.3"
    )
}

/// Non-leaf `frames` functions whose epilogue is split, per the corpus's objdump analysis.
fn epilogues() -> serde_json::Value {
    let text =
        std::fs::read_to_string(corpus().join("epilogues.json")).expect("corpus/epilogues.json");
    serde_json::from_str(&text).expect("epilogues.json is JSON")
}

#[test]
fn non_leaf_split_epilogues_are_preemptible_windows_before_the_fix_only() {
    let analysis = epilogues();
    for path in BINARIES.iter().filter(|p| p.contains("/frames")) {
        let version = path.split('/').next().unwrap();
        let report = scan(path);
        let funcs = analysis[*path]["functions"]
            .as_object()
            .expect("binary analysed");
        let mut split = 0;
        for (name, f) in funcs {
            if !name.starts_with("main.nonleaf") {
                continue;
            }
            for e in f["epilogues"].as_array().unwrap() {
                let windows: Vec<_> = report
                    .findings
                    .iter()
                    .filter(|x| &x.function == name && x.preemptible && x.unwinder.name() == "go")
                    .collect();
                if e["kind"] == "split-add" {
                    split += 1;
                    let at = e["window"].as_str().unwrap();
                    assert!(
                        windows
                            .iter()
                            .any(|w| w.pc == pc(at) && w.verdict.name() == "unexpected-return-pc"),
                        "{path}: {name}: no preemptible window at the second ADD {at}: {windows:#?}"
                    );
                } else {
                    assert!(
                        windows.is_empty(),
                        "{path}: {name}: single-write epilogue reported: {windows:#?}"
                    );
                }
            }
        }
        if pre_fix(version) {
            assert!(
                split >= 2,
                "{path}: expected split non-leaf epilogues, found {split}"
            );
        } else {
            assert_eq!(
                split, 0,
                "{path}: a fixed toolchain split a non-leaf epilogue"
            );
        }
    }
}

#[test]
fn every_window_in_the_objdump_analysis_is_found_with_its_severity() {
    let analysis = epilogues();
    let mut checked = 0;
    for path in BINARIES {
        let report = scan(path);
        let Some(funcs) = analysis[*path]["functions"].as_object() else {
            continue;
        };
        for (name, f) in funcs {
            for e in f["epilogues"].as_array().unwrap() {
                let Some(at) = e["window"].as_str() else {
                    continue;
                };
                let preemptible = e["window_async_preemptible"].as_bool().unwrap();
                let found = report
                    .findings
                    .iter()
                    .find(|x| x.pc == pc(at) && x.unwinder.name() == "go");
                let found =
                    found.unwrap_or_else(|| panic!("{path}: {name}: window {at} not reported"));
                assert_eq!(
                    found.preemptible, preemptible,
                    "{path}: {name} at {at}: severity differs"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 50, "only {checked} windows cross-checked");
}

#[test]
fn functions_whose_sp_moves_in_one_instruction_have_no_window() {
    let analysis = epilogues();
    for path in BINARIES {
        let report = scan(path);
        let Some(funcs) = analysis[*path]["functions"].as_object() else {
            continue;
        };
        for (name, f) in funcs {
            let single = f["epilogues"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["kind"] != "split-add" && e["fp"] != "split-add");
            if single && name.starts_with("main.") {
                let hits: Vec<_> = report
                    .findings
                    .iter()
                    .filter(|x| &x.function == name && x.unwinder.name() == "go")
                    .collect();
                assert!(hits.is_empty(), "{path}: {name}: {hits:#?}");
            }
        }
    }
}

#[test]
fn every_function_is_analysed_or_explained_and_boundaries_are_counted_once() {
    for path in BINARIES {
        let report = scan(path);
        let s = &report.summary;
        assert!(s.functions > 1000, "{path}: {} functions", s.functions);
        assert!(
            s.unanalysed * 100 < s.functions,
            "{path}: {} of {} functions unanalysed: {:#?}",
            s.unanalysed,
            s.functions,
            report.unanalysed
        );
        for u in &report.unanalysed {
            assert!(!u.reason.is_empty(), "{path}: {} has no reason", u.function);
        }
        let analysed_instructions: usize = report
            .stats
            .iter()
            .filter(|f| f.analysed)
            .map(|f| f.instructions)
            .sum();
        assert_eq!(
            s.boundaries, analysed_instructions,
            "{path}: boundaries != instructions of analysed functions"
        );
        for f in report.stats.iter().filter(|f| f.analysed) {
            assert_eq!(
                f.boundaries, f.instructions,
                "{path}: {} observed {} of {} boundaries",
                f.name, f.boundaries, f.instructions
            );
        }
        assert_eq!(
            s.functions,
            report.stats.len() + report.unanalysed.iter().filter(|u| u.pc == 0).count()
        );
    }
}

/// The kinds of window: for the Go unwinder, SP disagrees with pcsp, or SP agrees but the
/// return address is not where the unwinder looks (a clobbered LR slot or register); for
/// the frame-pointer walk, R29 names no valid record.
fn kind(f: &twixt_check::Finding) -> &'static str {
    if f.unwinder.name() == "fp" {
        "frame-pointer"
    } else if f.sp_below_caller as u64 != f.pcsp {
        "sp-mismatch"
    } else {
        "return-address-lost"
    }
}

#[test]
fn every_window_is_a_real_disagreement() {
    let mut table: BTreeMap<(String, &str, &str), usize> = BTreeMap::new();
    for path in BINARIES {
        let report = scan(path);
        for f in &report.findings {
            let k = kind(f);
            if k == "frame-pointer" {
                // R29 is neither the caller's R29 nor SP-8 with the record built.
                let r29 = f.r29_sp_offset.expect("fp findings give R29");
                assert!(
                    r29 != -8 || f.verdict.name() != "fp-below-sp",
                    "{path}: {f:#?}"
                );
            }
            if k == "return-address-lost" {
                // Then the unwinder's view of the caller must differ from the truth.
                assert_ne!(f.read_value, Some(f.expected_return_pc), "{path}: {f:#?}");
            }
            *table
                .entry((path.to_string(), k, f.severity.name()))
                .or_default() += 1;
        }
    }
    for ((path, k, sev), n) in &table {
        println!("{path:28} {k:20} {sev:12} {n}");
    }
}

#[test]
fn stripped_binaries_scan_like_their_twins() {
    for (stripped, twin) in [
        ("go1.23.4/frames-stripped", "go1.23.4/frames"),
        ("go1.26.6/frames-stripped", "go1.26.6/frames"),
    ] {
        let a = scan(stripped);
        let b = scan(twin);
        assert_eq!(a.findings, b.findings, "{stripped} vs {twin}");
        assert_eq!(a.summary, b.summary);
    }
}

#[test]
fn prologues_establish_the_frame_pcsp_records() {
    for path in BINARIES {
        let report = scan(path);
        for f in report.stats.iter().filter(|f| f.analysed && !f.asm) {
            assert_eq!(
                f.frame_established, f.max_pcsp,
                "{path}: {}: executing the prologue moves SP by {:#x}, pcsp says {:#x}",
                f.name, f.frame_established, f.max_pcsp
            );
        }
    }
}

#[test]
fn a_function_scanned_alone_reports_what_the_full_scan_reports() {
    // The harness restores every byte a region wrote, so order and filters do not matter.
    use twixt_check::{GoProgram, ScanOptions};
    let path = "go1.23.4/frames";
    let full = scan(path);
    let image = common::image(path);
    let prog = GoProgram::new(&image).unwrap();
    for name in [
        "main.nonleaf70000",
        "main.leaf1052688",
        "internal/chacha8rand.block",
        "runtime.asmcgocall",
    ] {
        let accept = |n: &str| n == name;
        let options = ScanOptions {
            filter: Some(&accept),
            ..ScanOptions::default()
        };
        let alone = twixt_check::scan(&prog, &options).unwrap();
        let from_full: Vec<_> = full
            .findings
            .iter()
            .filter(|f| f.function == name)
            .cloned()
            .collect();
        assert!(!from_full.is_empty(), "{name} has windows in the full scan");
        assert_eq!(alone.findings, from_full, "{name}");
    }
}

#[test]
fn frame_pointer_walks_find_the_63830_leaf_epilogue_in_go1_19_only() {
    for path in BINARIES.iter().filter(|p| p.ends_with("/frames")) {
        let version = path.split('/').next().unwrap();
        let report = scan(path);
        let image = common::image(path);
        let prog = twixt_check::GoProgram::new(&image).unwrap();
        let below: Vec<&twixt_check::Finding> = report
            .findings
            .iter()
            .filter(|f| f.function.starts_with("main.") && f.verdict.name() == "fp-below-sp")
            .collect();
        if version == "go1.19.8" {
            // Every leaf with a frame pops SP before it recomputes R29 (`ADD $A, RSP, RSP;
            // SUB $8, RSP, R29`): the boundary before the SUB has R29 in the popped frame.
            let leaves = prog
                .funcs()
                .iter()
                .filter(|f| f.info.name.starts_with("main.leaf"))
                .count();
            assert_eq!(leaves, 12);
            for f in prog
                .funcs()
                .iter()
                .filter(|f| f.info.name.starts_with("main.leaf"))
            {
                let hit = below
                    .iter()
                    .find(|w| *w.function == *f.info.name && w.instruction == "sub x29, sp, #0x8")
                    .unwrap_or_else(|| panic!("{path}: {}: no fp-below-sp window", f.info.name));
                assert_eq!(hit.sp_below_caller, 0, "{path}: {hit:#?}");
                assert!(hit.preemptible, "{path}: {hit:#?}");
            }
        } else {
            assert!(below.is_empty(), "{path}: {below:#?}");
        }
    }
}

#[test]
fn split_leaf_epilogues_half_compute_r29_in_every_later_version() {
    // From Go 1.21.7 the leaf epilogue rebuilds R29 before popping, but for frame sizes that
    // need two ADDs it builds R29 in two steps too: between them R29 is SP+A-8-0x...000, a
    // slot inside the frame, and the walk reads a local as the return PC.
    for path in BINARIES.iter().filter(|p| p.ends_with("/frames")) {
        if path.starts_with("go1.19.8") {
            continue;
        }
        let report = scan(path);
        let wrong: BTreeSet<&str> = report
            .findings
            .iter()
            .filter(|f| f.function.starts_with("main.") && f.verdict.name() == "fp-wrong-return-pc")
            .map(|f| {
                assert!(
                    f.instruction.starts_with("add x29, x29, #"),
                    "{path}: {f:#?}"
                );
                f.function.as_str()
            })
            .collect();
        assert_eq!(
            wrong,
            BTreeSet::from(["main.leaf1052688", "main.leaf70000"]),
            "{path}"
        );
    }
}

/// The scan reuses a boundary's verdicts at the next ones while nothing the walks read has
/// changed (SP, R29, R30, the metadata at the PC, where the runtime would resume, and every
/// memory word the walks read). Judging every boundary afresh gives the same reports.
#[test]
fn judging_every_boundary_gives_the_golden_reports() {
    for path in BINARIES {
        let image = common::image(path);
        let prog = twixt_check::GoProgram::new(&image).unwrap();
        let options = twixt_check::ScanOptions {
            judge_every_boundary: true,
            jobs: 2,
            ..twixt_check::ScanOptions::default()
        };
        let mut every = twixt_check::scan(&prog, &options).unwrap();
        every.binary = scan(path).binary.clone();
        let golden = corpus().join(format!("{path}.scan.json"));
        assert_eq!(
            twixt_report::json(&every),
            std::fs::read_to_string(&golden).unwrap(),
            "{path}: judging every boundary changes the report"
        );
    }
}
