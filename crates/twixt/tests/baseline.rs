//! Baselines and diffs over the corpus goldens: moving from a pre-fix toolchain to a fixed
//! one lists the #73259 windows as fixed (exit 0); the reverse lists them as new (exit 1).

mod common;

use std::process::Command;

use common::corpus;

fn twixt(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(args)
        .output()
        .expect("run twixt");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

fn golden(path: &str) -> String {
    corpus().join(path).to_str().unwrap().to_string()
}

#[test]
fn pre_fix_to_fixed_lists_the_73259_windows_as_fixed() {
    let (code, out) = twixt(&[
        "diff",
        &golden("go1.24.3/frames.scan.json"),
        &golden("go1.24.11/frames.scan.json"),
    ]);
    let fixed = out.split("fixed windows").nth(1).unwrap_or("");
    for name in ["main.nonleaf70000+", "main.nonleaf1052688+"] {
        assert!(fixed.contains(name), "{name} not listed as fixed:\n{out}");
    }
    assert!(!out.contains("new windows"), "{out}");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn fixed_to_pre_fix_fails_and_lists_them_as_new() {
    let (code, out) = twixt(&[
        "diff",
        &golden("go1.24.11/frames.scan.json"),
        &golden("go1.24.3/frames.scan.json"),
    ]);
    let new = out.split("new windows").nth(1).unwrap_or("");
    for name in ["main.nonleaf70000+", "main.nonleaf1052688+"] {
        assert!(new.contains(name), "{name} not listed as new:\n{out}");
    }
    assert_eq!(code, 1, "{out}");
}

#[test]
fn scan_against_its_own_golden_is_unchanged() {
    let (code, out) = twixt(&[
        "scan",
        &golden("go1.23.4/frames"),
        "--baseline",
        &golden("go1.23.4/frames.scan.json"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 new, 0 fixed"), "{out}");
}

#[test]
fn a_baseline_that_is_not_a_report_is_an_error() {
    let (code, _) = twixt(&[
        "scan",
        &golden("go1.23.4/frames"),
        "--baseline",
        &golden("manifest.json"),
    ]);
    assert_eq!(code, 2);
}
