//! The model against reality: for every `main.leafN` and `main.nonleafN` of every
//! `corpus/go*/frames` binary, the synthesized prologue and epilogue (for the binary's
//! generation and the function's frame size, its pcsp maximum) are the same words as the
//! real function's, and carry the same pcsp and UnsafePoint values (-3 and -4 are the
//! same restartable mark; which one the assembler picks depends on the body).
//!
//! The real prologue and epilogue are found by structure, not address: the prologue
//! starts after the stack-bound check (after its `b.ls`, or at the entry without one) and
//! ends at `sub x29, sp, #8`; the epilogue is the run of instructions before the first
//! `ret` that write SP, R29, R30 or R27.

use std::path::{Path, PathBuf};

use twixt_check::program::{GoProgram, run_at};
use twixt_image::Image;
use twixt_synth::model::Shape;
use twixt_synth::{Generation, synthesize};
use twixt_unwind::preempt::GoVersion;

const SIZES: [u64; 12] = [
    96, 4000, 4096, 4112, 5008, 8176, 65536, 70000, 1048576, 1052688, 8388608, 16781328,
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

fn binaries() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("corpus directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("frames"))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn norm(up: i32) -> i32 {
    if up == -4 { -3 } else { up }
}

#[test]
fn synthesized_prologues_and_epilogues_equal_the_real_ones() {
    let bins = binaries();
    assert_eq!(bins.len(), 11, "every corpus toolchain has a frames binary");
    let mut compared = 0;
    let mut failures = Vec::new();
    for path in &bins {
        let image = Image::open(path).expect("corpus binary opens");
        let prog = GoProgram::new(&image).expect("corpus binary has Go metadata");
        assert!(
            prog.version_info().rules_for_range().is_none(),
            "{}: the exact Go version is known",
            path.display()
        );
        let version = prog.version();
        let generation = Generation::of(version).expect("a modelled generation");
        let label = format!("{} ({})", path.display(), version);
        for n in SIZES {
            for shape in Shape::ALL {
                let name = format!("main.{}{n}", shape.name());
                let f = prog.func_named(&name).expect("function in the corpus");
                let frame = f.frame_size();
                let s = synthesize(generation, frame, shape).expect("a frame the model covers");
                let entry = f.info.entry;
                let count = ((f.code_end - entry) / 4) as usize;
                let words: Vec<u32> = (0..count)
                    .map(|i| prog.word(entry + 4 * i as u64).unwrap())
                    .collect();
                let ups = prog.unsafe_point_runs(f);
                let up_at = |i: usize| run_at(&ups, entry + 4 * i as u64).map_or(-1, |r| r.value);
                let pcsp_at = |i: usize| f.pcsp_at(entry + 4 * i as u64).unwrap();

                // The prologue, by structure.
                let start = if words[0] == 0xf940_0b90 {
                    words
                        .iter()
                        .position(|w| w & 0xff00_001f == 0x5400_0009)
                        .expect("the stack check ends with b.ls")
                        + 1
                } else {
                    0
                };
                let end = words
                    .iter()
                    .position(|&w| w == 0xd100_23fd)
                    .expect("sub x29, sp, #8");
                // The epilogue, by structure.
                let ret = words.iter().position(|&w| w == 0xd65f_03c0).expect("ret");
                let mut first = ret;
                while first > 0 {
                    let e = twixt_arm64::classify(entry + 4 * (first as u64 - 1), words[first - 1]);
                    if e.writes_sp || e.writes_fp || e.writes_lr || e.written.contains_x(27) {
                        first -= 1;
                    } else {
                        break;
                    }
                }
                let mut check = |what: &str,
                                 real: std::ops::RangeInclusive<usize>,
                                 model: std::ops::Range<usize>| {
                    compared += 1;
                    let rw = &words[real.clone()];
                    let mw = &s.words[model.clone()];
                    if rw != mw {
                        failures.push(format!(
                            "{label} {name} {what} (A={frame:#x}): real {rw:08x?}, model {mw:08x?}"
                        ));
                        return;
                    }
                    for (ri, mi) in real.zip(model) {
                        if pcsp_at(ri) != s.pcsp[mi] || norm(up_at(ri)) != norm(s.unsafe_point[mi])
                        {
                            failures.push(format!(
                                "{label} {name} {what} +{:#x}: real pcsp {:#x} unsafe {}, model pcsp {:#x} unsafe {}",
                                4 * ri, pcsp_at(ri), up_at(ri), s.pcsp[mi], s.unsafe_point[mi]
                            ));
                        }
                        // A restartable run starts where the model says: at its Prog.
                        if norm(up_at(ri)) == -3 && mi > 0 {
                            let model_starts = s.unsafe_point[mi - 1] != s.unsafe_point[mi];
                            let real_starts = up_at(ri - 1) != up_at(ri);
                            if model_starts != real_starts {
                                failures.push(format!(
                                    "{label} {name} {what} +{:#x}: restartable run start differs",
                                    4 * ri
                                ));
                            }
                        }
                    }
                };
                check("prologue", start..=end, s.prologue.clone());
                check("epilogue", first..=ret, s.epilogue.clone());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(compared, 11 * 12 * 2 * 2);
}

#[test]
fn every_corpus_version_has_a_generation() {
    for v in [
        "go1.19.8",
        "go1.21.13",
        "go1.22.10",
        "go1.23.4",
        "go1.23.9",
        "go1.24.3",
        "go1.24.11",
        "go1.25.0",
        "go1.25.5",
        "go1.26.6",
        "go1.27.3",
    ] {
        assert!(
            Generation::of(GoVersion::parse(v).unwrap()).is_some(),
            "{v}"
        );
    }
}
