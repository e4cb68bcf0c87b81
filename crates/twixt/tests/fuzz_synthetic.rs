//! `twixt fuzz --synthetic` end to end: a small sweep's exit status, report and JSON.

use std::process::Command;

fn twixt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(args)
        .output()
        .expect("twixt runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_pre_fix_sweep_finds_the_split_class_and_exits_1() {
    let (code, out, _) = twixt(&[
        "fuzz",
        "--synthetic",
        "--generation",
        "1.21.7",
        "--shape",
        "nonleaf",
        "--frames",
        "0x10000..=0x12000",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("generation 1.21.7 (go1.21.7 to go1.23.11)"),
        "{out}"
    );
    assert!(
        out.contains("go unwinder, preemptible: 510 unsafe frame sizes in 2 ranges"),
        "{out}"
    );
    assert!(
        out.contains("0x10010..=0x10ff0 step 16, 0x11010..=0x11ff0 step 16"),
        "{out}"
    );
    assert!(out.contains(
        "predicate: (0xffff < A <= 0xffffff and A & 0xfff != 0 and A is not a logical immediate)"
    ));
}

#[test]
fn the_fixed_non_leaf_epilogue_has_no_window_and_exits_0() {
    let (code, out, _) = twixt(&[
        "fuzz",
        "--synthetic",
        "--generation",
        "go1.25.5",
        "--shape",
        "nonleaf",
        "--frames",
        "0..=0x12000",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(v["sweeps"][0]["generation"], "fixed");
    assert_eq!(v["sweeps"][0]["frame_sizes"], 0x1200);
    assert_eq!(v["sweeps"][0]["skipped"], 1);
    for set in v["sweeps"][0]["unsafe"].as_array().unwrap() {
        assert_eq!(set["count"], 0, "{set}");
    }
}

#[test]
fn bad_arguments_are_errors_with_status_2() {
    let (code, _, err) = twixt(&["fuzz", "--synthetic", "--generation", "1.17"]);
    assert_eq!(code, 2);
    assert!(err.contains("--generation \"1.17\""), "{err}");
    let (code, _, err) = twixt(&["fuzz", "--synthetic", "--frames", "9..=1"]);
    assert_eq!(code, 2);
    assert!(err.contains("LO is above HI"), "{err}");
}
