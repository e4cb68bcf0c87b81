//! `twixt fuzz --go` from the command line: the exit statuses, the summary on stdout and
//! the reproducer it writes (go1.23.4, installed with pip by the command when missing).

use std::process::Command;

fn twixt(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(args)
        .output()
        .expect("run twixt")
}

#[test]
fn unsupported_versions_are_errors() {
    for v in ["1.20.3", "1.27.4", "banana"] {
        let out = twixt(&["fuzz", "--go", v, "--cases", "1"]);
        assert_eq!(out.status.code(), Some(2), "{v}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a supported Go version"), "{v}: {err}");
    }
}

#[test]
fn one_case_finds_shrinks_and_writes_a_reproducer() {
    let dir = std::env::temp_dir().join(format!("twixt-fuzz-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_text = dir.to_str().expect("utf-8 temp dir");
    // Seed 3's first case has a leaf function whose frame needs a split epilogue (a window
    // in every toolchain up to go1.27.3); it shrinks in 27 more builds to the smallest such
    // frame, 0x10010. The same seed always draws the same programs.
    let out = twixt(&[
        "fuzz",
        "--go",
        "1.23.4",
        "--cases",
        "1",
        "--functions-per-package",
        "2",
        "--seed",
        "3",
        "--out",
        dir_text,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("cases: 1,"), "{stdout}");
    assert!(
        stdout.contains("class: leaf unexpected-return-pc add sp, sp, #N, lsl #N"),
        "{stdout}"
    );
    assert!(
        stdout.contains("f0: leaf func frame 65552 (0x10010)"),
        "{stdout}"
    );
    let repro = dir.join("go1.23.4-seed3-1");
    let main_go = std::fs::read_to_string(repro.join("main.go")).expect("main.go");
    assert!(main_go.contains("func f0("), "{main_go}");
    let report = std::fs::read_to_string(repro.join("twixt-report.txt")).expect("report");
    assert!(report.contains("main.f0+"), "{report}");

    // The reproducer is a stress driver: `twixt confirm DIR` rebuilds it with its own BUILD
    // and runs it for real under qemu-user, and the runtime crashes at the leaf window. The
    // budget is a budget, not a speed assertion: at least 20 times the median time to crash
    // measured for this reproducer (README, "Confirming a window with the real runtime").
    let out = twixt(&[
        "confirm",
        repro.to_str().expect("utf-8"),
        "--timeout",
        "90",
        "--format",
        "json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert_eq!(r["outcome"], "crashed");
    assert_eq!(r["agreement"], "confirmed");
    assert_eq!(r["matched"]["window"]["function"], "main.f0");
    let _ = std::fs::remove_dir_all(&dir);
}
