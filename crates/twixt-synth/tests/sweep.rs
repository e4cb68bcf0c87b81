//! Small sweeps (0..=0x12000 and ranges around 1 MiB, 8 MiB and 16 MiB) against the real
//! corpus: for every `main.leafN`/`main.nonleafN` of every `corpus/go*/frames` whose frame
//! size falls in a swept range, the windows the golden scan report lists for that function
//! (`frames.scan.json`, per unwinder, go and fp, and severity) are exactly what the sweep
//! predicts for the binary's generation. And the predicates read as the assembler's classes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use twixt_synth::Generation;
use twixt_synth::check::{Severity, Unwinder};
use twixt_synth::model::Shape;
use twixt_synth::sweep::{ShapeSweep, sweep};
use twixt_unwind::preempt::GoVersion;

const RANGES: [(u64, u64); 4] = [
    (0, 0x12000),
    (0xff000, 0x102000),
    (0x7ff000, 0x801000),
    (0xfff000, 0x1002000),
];

fn sweeps() -> BTreeMap<(Generation, Shape), Vec<ShapeSweep>> {
    let mut out = BTreeMap::new();
    for g in Generation::ALL {
        for shape in Shape::ALL {
            let v: Vec<ShapeSweep> = RANGES
                .iter()
                .map(|&(lo, hi)| sweep(g, shape, lo, hi, &mut |_| {}).expect("sweep runs"))
                .collect();
            out.insert((g, shape), v);
        }
    }
    out
}

fn unsafe_in(v: &[ShapeSweep], key: (Unwinder, Severity), a: u64) -> Option<bool> {
    for (s, &(lo, hi)) in v.iter().zip(&RANGES) {
        if (lo..=hi).contains(&a) {
            return Some(s.sets[&key].sizes.binary_search(&a).is_ok());
        }
    }
    None
}

#[test]
fn small_sweeps_agree_with_the_corpus_scans() {
    let all = sweeps();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus");
    let mut dirs: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("frames.scan.json").is_file())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 11);
    let mut compared = 0;
    for dir in dirs {
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("frames.scan.json")).unwrap())
                .unwrap();
        let version = GoVersion::parse(report["go_version"].as_str().unwrap()).unwrap();
        let g = Generation::of(version).unwrap();
        // (function, unwinder, severity) with a window in the golden report.
        let mut golden: BTreeSet<(String, String, String)> = BTreeSet::new();
        for f in report["findings"].as_array().unwrap() {
            golden.insert((
                f["function"].as_str().unwrap().to_string(),
                f["unwinder"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            ));
        }
        for n in [
            96u64, 4000, 4096, 4112, 5008, 8176, 65536, 70000, 1048576, 1052688, 8388608, 16781328,
        ] {
            for shape in Shape::ALL {
                let name = format!("main.{}{n}", shape.name());
                for (u, sev) in Unwinder::ALL
                    .into_iter()
                    .flat_map(|u| Severity::ALL.map(|s| (u, s)))
                {
                    let Some(model) = unsafe_in(&all[&(g, shape)], (u, sev), n) else {
                        continue;
                    };
                    let real = golden.contains(&(
                        name.clone(),
                        u.name().to_string(),
                        sev.name().to_string(),
                    ));
                    assert_eq!(
                        model,
                        real,
                        "{} {name} {} {}: model says {model}, the scan of the real binary says {real}",
                        dir.display(),
                        u.name(),
                        sev.name()
                    );
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 11 * 12 * 2 * 2 * 2);
}

#[test]
fn the_predicates_name_the_split_class() {
    let all = sweeps();
    let split = "(0xffff < A <= 0xffffff and A & 0xfff != 0 and A is not a logical immediate)";
    let go_pre = (Unwinder::Go, Severity::Preemptible);
    for g in Generation::ALL {
        let leaf = &all[&(g, Shape::Leaf)][0];
        assert_eq!(leaf.predicates[&go_pre].as_deref(), Ok(split), "{g} leaf");
        let nonleaf = &all[&(g, Shape::NonLeaf)][0];
        if g == Generation::Fixed {
            assert!(nonleaf.sets[&go_pre].sizes.is_empty());
        } else {
            assert_eq!(
                nonleaf.predicates[&go_pre].as_deref(),
                Ok(split),
                "{g} non-leaf"
            );
            // 70000 = 0x11170 splits; 0x1fff0 is a logical immediate and does not.
            assert!(nonleaf.sets[&go_pre].sizes.contains(&70000));
        }
    }
    // golang/go#63830: before 1.21.7 every leaf frame is popped before R29 is rebuilt.
    let old = &all[&(Generation::G1_19, Shape::Leaf)][0];
    let fp_pre = (Unwinder::Fp, Severity::Preemptible);
    assert_eq!(old.sets[&fp_pre].sizes.len() as u64, old.checked - 1);
    assert_eq!(
        old.predicates[&fp_pre].as_deref(),
        Ok("A > 0 (every frame)")
    );
    let new = &all[&(Generation::G1_21_7, Shape::Leaf)][0];
    assert!(!new.sets[&fp_pre].sizes.contains(&96));
}
