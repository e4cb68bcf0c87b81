//! `twixt confirm --at` preempts the real runtime (under qemu-user's GDB stub) at exactly the
//! boundary named: every preemptible Go-unwinder window of the corpus stress driver that its
//! workload runs crashes the runtime on every corpus toolchain that has one, the safe
//! boundary before each (its control) and every safe boundary of a function's hot path do
//! not, and the window of `corpus/go1.24.3/bigtable` (an s2-style encoder with a 64 KiB table
//! on its stack, which a stress run does not crash) is confirmed.
//!
//! Each run takes well under a second (the times are printed, not asserted); budgets are
//! what a run may take on a loaded machine before it counts as not reached.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

mod common;

/// The budget of one targeted run. A reached window crashes within a second; only an
/// unreached boundary costs the whole budget, and these tests name reached ones.
const BUDGET: &str = "30";

fn confirm_at(bin: &str, at: &[String], extra: &[&str], args: &[&str]) -> (Option<i32>, Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_twixt"));
    cmd.arg("confirm").arg(common::corpus().join(bin));
    for a in at {
        cmd.args(["--at", a]);
    }
    cmd.args(["--timeout", BUDGET, "--format", "json"])
        .args(extra)
        .arg("--")
        .args(args);
    let out = cmd.output().expect("run twixt confirm --at");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "twixt confirm --at printed no JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

/// The lines of `func NAME(` and of its `return i >> 1` in the stress driver's source: the
/// return the driver's calls take (the big locals' branch never runs).
fn func_and_hot_return_lines(function: &str) -> (u64, u64) {
    let src = std::fs::read_to_string(common::corpus().join("src/stress/main.go")).unwrap();
    let name = function.trim_start_matches("main.");
    let lines: Vec<&str> = src.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(&format!("func {name}(")))
        .unwrap_or_else(|| panic!("no func {name} in the stress driver"));
    let at = lines[start..]
        .iter()
        .position(|l| l.trim() == "return i >> 1")
        .expect("the hot return");
    ((start + 1) as u64, (start + at + 1) as u64)
}

fn hot_return_line(function: &str) -> u64 {
    func_and_hot_return_lines(function).1
}

/// The hot-path windows of every stress binary: (binary, function) -> PCs, from its golden
/// scan report.
fn hot_windows() -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for e in common::manifest()
        .into_iter()
        .filter(|e| e.program == "stress")
    {
        let scan: Value = serde_json::from_str(
            &std::fs::read_to_string(common::corpus().join(format!("{}.scan.json", e.path)))
                .unwrap(),
        )
        .unwrap();
        for f in scan["findings"].as_array().unwrap() {
            let function = f["function"].as_str().unwrap();
            if function.starts_with("main.")
                && f["severity"] == "preemptible"
                && f["unwinder"] == "go"
                && f["line"].as_u64() == Some(hot_return_line(function))
            {
                out.entry((e.path.clone(), function.to_string()))
                    .or_default()
                    .push(f["pc"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

fn targets(r: &Value) -> &Vec<Value> {
    r["targets"].as_array().unwrap()
}

#[test]
fn every_hot_stress_window_crashes_the_runtime_and_its_control_does_not() {
    let windows = hot_windows();
    // golang/go#73259 in go1.19.8, go1.23.4 and go1.24.3 (non-leaf), and the leaf split
    // frame in every toolchain.
    let toolchains: std::collections::BTreeSet<&str> =
        windows.keys().map(|(b, _)| b.as_str()).collect();
    assert_eq!(toolchains.len(), 6, "{windows:?}");
    assert_eq!(
        windows.values().map(Vec::len).sum::<usize>(),
        9,
        "{windows:?}"
    );
    let mut controls = 0;
    for ((bin, function), pcs) in &windows {
        let name = function.trim_start_matches("main.");
        let (code, r) = confirm_at(bin, pcs, &[], &["-func", name]);
        assert_eq!(code, Some(1), "{r:#}");
        for t in targets(&r) {
            let at = format!(
                "{bin} {}+{:#x}",
                t["function"].as_str().unwrap(),
                t["offset"].as_u64().unwrap()
            );
            let secs = t["seconds"].as_f64().unwrap();
            match t["role"].as_str().unwrap() {
                "window" => {
                    assert_eq!(t["agreement"], "confirmed", "{at}: {t:#}");
                    assert!(t["site_is_treated"].as_bool().unwrap(), "{at}");
                    let fatal = t["fatal_error"].as_str().unwrap();
                    assert!(
                        ["traceback did not unwind completely", "unknown caller pc"]
                            .contains(&fatal),
                        "{at}: {fatal}"
                    );
                    eprintln!(
                        "{at}: crashed in {secs:.2} s ({:.1} ms after the signal)",
                        t["watched"]["exit_after_signal"].as_f64().unwrap_or(0.0) * 1e3
                    );
                }
                "control" => {
                    controls += 1;
                    assert_eq!(t["agreement"], "agrees", "{at}: {t:#}");
                    assert!(t["scan"].as_array().unwrap().is_empty(), "{at}");
                    eprintln!("{at}: control {} in {secs:.2} s", t["outcome"]);
                }
                role => panic!("{at}: role {role}"),
            }
        }
    }
    assert_eq!(controls, 9, "one control per window");
}

#[test]
fn the_safe_boundaries_of_a_hot_path_do_not_crash_it() {
    // Every boundary of main.nonleaf70000 (go1.23.4) that the driver's calls run and where
    // scan finds nothing: the prologue, the branch, the hot return.
    let bin = "go1.23.4/stress";
    let disasm = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .arg("disasm")
        .arg(common::corpus().join(bin))
        .arg("main.nonleaf70000")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&disasm.stdout);
    let (first, ret) = func_and_hot_return_lines("main.nonleaf70000");
    // The function's line (prologue), `if big {`, and the hot return.
    let hot: Vec<u64> = vec![first, first + 1, ret];
    let scan: Value = serde_json::from_str(
        &std::fs::read_to_string(common::corpus().join(format!("{bin}.scan.json"))).unwrap(),
    )
    .unwrap();
    let found: Vec<&str> = scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pc"].as_str().unwrap())
        .collect();
    let safe: Vec<String> = text
        .lines()
        // Instructions, not the alignment padding after the function (`udf #0`).
        .filter(|l| l.starts_with("0x") && !l.contains(" udf "))
        .filter(|l| {
            let line = l
                .rsplit(':')
                .next()
                .and_then(|n| n.trim().parse::<u64>().ok());
            line.is_some_and(|n| hot.contains(&n))
        })
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .filter(|pc| !found.contains(&pc.as_str()))
        .collect();
    assert!(safe.len() >= 15, "{safe:?}\n{text}");
    let (code, r) = confirm_at(
        bin,
        &safe,
        &["--treatments", "2"],
        &["-func", "nonleaf70000"],
    );
    assert_eq!(code, Some(0), "{r:#}");
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for t in targets(&r) {
        assert_eq!(t["role"], "requested");
        assert_eq!(t["agreement"], "agrees", "{t:#}");
        *by.entry(t["outcome"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    eprintln!(
        "{} safe boundaries of main.nonleaf70000: {by:?}",
        safe.len()
    );
    // The runtime preempted, and a GC scanned the goroutine, at most of them (the others
    // are unsafe points, where it declines).
    assert!(by.get("survived").copied().unwrap_or(0) >= 5, "{by:?}");
}

#[test]
fn all_lists_the_windows_the_workload_never_reaches() {
    // go1.27.3's leaf70000: the hot return's window is confirmed, the big branch's is never
    // reached (a short budget: an unreached window costs all of it).
    let out = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .arg("confirm")
        .arg(common::corpus().join("go1.27.3/stress"))
        .args(["--at", "all", "--timeout", "5", "--format", "json"])
        .args(["--", "-func", "leaf70000"])
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    let agreements: Vec<(&str, &str)> = targets(&r)
        .iter()
        .map(|t| {
            (
                t["role"].as_str().unwrap(),
                t["agreement"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        agreements,
        [
            ("window", "not-reached"),
            ("window", "confirmed"),
            ("control", "agrees")
        ],
        "{r:#}"
    );
    let not_reached = r["not_reached"].as_array().unwrap();
    assert_eq!(not_reached.len(), 1);
    assert!(
        not_reached[0]
            .as_str()
            .unwrap()
            .starts_with("main.leaf70000+0xe8 "),
        "{not_reached:?}"
    );
}

#[test]
fn the_big_table_window_is_confirmed() {
    // An s2-style encoder: a 64 KiB table zeroed on every call and real work per call.
    // A stress run does not crash it (docs/confirmed.md); --at does, at the treated
    // goroutine and boundary, and the control before it survives.
    let (code, r) = confirm_at("go1.24.3/bigtable", &["all".to_string()], &[], &[]);
    assert_eq!(code, Some(1), "{r:#}");
    assert_eq!(
        r["environment"],
        serde_json::json!(["GOMAXPROCS=1", "GOGC=1"])
    );
    let t = targets(&r);
    assert_eq!(t.len(), 2, "{r:#}");
    assert_eq!(t[0]["function"], "main.encodeBlock");
    assert_eq!(t[0]["role"], "window");
    assert_eq!(t[0]["agreement"], "confirmed", "{r:#}");
    assert_eq!(t[1]["role"], "control");
    assert_eq!(t[1]["agreement"], "agrees", "{r:#}");
    eprintln!(
        "bigtable: main.encodeBlock+{:#x} crashed in {:.2} s; its control {} in {:.2} s",
        t[0]["offset"].as_u64().unwrap(),
        t[0]["seconds"].as_f64().unwrap(),
        t[1]["outcome"],
        t[1]["seconds"].as_f64().unwrap()
    );
}

#[test]
fn a_bad_at_is_an_error_not_a_run() {
    for bad in ["main.nonleaf70000", "main.nosuch+0x4", "0x2", "+0x10"] {
        let out = Command::new(env!("CARGO_BIN_EXE_twixt"))
            .arg("confirm")
            .arg(common::corpus().join("go1.23.4/stress"))
            .args(["--at", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(out.stdout.is_empty(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--at"), "{bad}: {err}");
    }
}
