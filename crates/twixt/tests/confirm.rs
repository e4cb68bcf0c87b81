//! `twixt confirm` runs the corpus stress driver for real under qemu-user: it crashes at the
//! golang/go#73259 window twixt predicts in go1.23.4, survives the fixed go1.27.3 build of the
//! same function, contains a program that tries to escape, and says how to install QEMU when
//! there is none.
//!
//! Budgets are at least 20 times the median time measured for the crash (see
//! docs/confirmed.md and README's "Confirming a window with the real runtime"), so that a
//! crash test never flakes; a survive test costs its whole budget, so it is the smallest
//! budget that is still 20 times that median. They are budgets, not assertions on speed.

use std::process::Command;

use serde_json::Value;

mod common;

/// Median time to crash of `corpus/go1.23.4/stress -func nonleaf70000`, measured by
/// `scripts/confirm-matrix` (docs/confirmed.json: 2.72 s over 10 runs, max 9.03 s), in
/// seconds, rounded up.
const NONLEAF_MEDIAN_SECONDS: f64 = 3.0;
/// The crash test's budget: 40 times that median (it costs only the time to the crash).
const CRASH_BUDGET: f64 = 40.0 * NONLEAF_MEDIAN_SECONDS;
/// The survive test's budget: 20 times that median (it costs the whole budget).
const SURVIVE_BUDGET: f64 = 20.0 * NONLEAF_MEDIAN_SECONDS;
// Both budgets are at least 20 times the median (checked when this file compiles).
const _: () = assert!(CRASH_BUDGET >= 20.0 * NONLEAF_MEDIAN_SECONDS);
const _: () = assert!(SURVIVE_BUDGET >= 20.0 * NONLEAF_MEDIAN_SECONDS);

fn confirm(args: &[&str]) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .arg("confirm")
        .args(args)
        .output()
        .expect("run twixt confirm");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("twixt confirm printed no JSON ({e}):\n{stdout}\n{stderr}");
    });
    (out.status.code(), json, stderr)
}

fn corpus(path: &str) -> String {
    common::corpus().join(path).display().to_string()
}

#[test]
fn the_median_is_the_measured_one() {
    // NONLEAF_MEDIAN_SECONDS is at least the median scripts/confirm-matrix measured.
    let cells: Value = serde_json::from_str(
        &std::fs::read_to_string(common::corpus().join("../docs/confirmed.json")).unwrap(),
    )
    .unwrap();
    let cell = cells
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["go_version"] == "go1.23.4" && c["function"] == "main.nonleaf70000")
        .expect("the go1.23.4 non-leaf cell");
    let mut t: Vec<f64> = cell["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seconds"].as_f64().unwrap())
        .collect();
    t.sort_by(f64::total_cmp);
    let median = twixt_confirm::matrix::median(&t).unwrap();
    assert!(
        median <= NONLEAF_MEDIAN_SECONDS,
        "measured median {median} s"
    );
}

#[test]
fn the_73259_window_crashes_the_real_runtime() {
    let budget = CRASH_BUDGET.to_string();
    let (code, r, err) = confirm(&[
        &corpus("go1.23.4/stress"),
        "--timeout",
        &budget,
        "--format",
        "json",
        "--",
        "-func",
        "nonleaf70000",
    ]);
    assert_eq!(code, Some(1), "{r:#}\n{err}");
    assert_eq!(r["outcome"], "crashed");
    assert_eq!(r["agreement"], "confirmed");
    assert_eq!(r["go_version"], "go1.23.4");
    assert_eq!(r["stressed"], "nonleaf70000");
    assert!(r["stress_driver"].as_bool().unwrap());
    let fatal = r["fatal_error"].as_str().unwrap();
    assert!(
        ["traceback did not unwind completely", "unknown caller pc"].contains(&fatal),
        "{fatal}"
    );
    // The goroutine's site is a window scan predicts (by PC), in the stressed function.
    let window = &r["matched"]["window"];
    assert_eq!(window["function"], "main.nonleaf70000");
    assert_eq!(window["unwinder"], "go");
    assert_eq!(r["site"]["pc"], window["pc"]);
    let predicted: Vec<&Value> = r["predicted"].as_array().unwrap().iter().collect();
    assert!(predicted.contains(&window));
    assert!(
        r["first_lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("fatal error: "))
    );
    assert!(r["qemu"]["flag"] == "-singlestep" || r["qemu"]["flag"] == "-one-insn-per-tb");
}

#[test]
fn the_fixed_toolchain_survives() {
    let budget = SURVIVE_BUDGET.to_string();
    let (code, r, err) = confirm(&[
        &corpus("go1.27.3/stress"),
        "--timeout",
        &budget,
        "--format",
        "json",
        "--",
        "-func",
        "nonleaf70000",
    ]);
    assert_eq!(code, Some(0), "{r:#}\n{err}");
    assert_eq!(r["outcome"], "survived");
    assert_eq!(r["agreement"], "agrees");
    assert_eq!(r["expected_crash_windows"], 0);
    let run = &r["runs"][0];
    assert_eq!(run["outcome"], "survived");
    // It really ran: the driver reported its calls.
    assert!(run["calls_per_second"].as_f64().unwrap() > 0.0, "{run}");
    assert!(run["gc_cycles"].as_u64().unwrap() > 0, "{run}");
}

#[test]
fn a_hostile_program_is_contained_and_reported() {
    // A listener on the host's loopback that the program will try to reach.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let marker = format!("twixt-hostile-{}", std::process::id());
    // The budget: the program ends only when killed (it sleeps, or qemu wedges when its own
    // threads meet the process limit), and a fork bomb under qemu on a loaded 2-core machine
    // takes seconds to reach the limit.
    let (code, r, err) = confirm(&[
        &corpus("go1.23.4/hostile"),
        "--timeout",
        "60",
        "--format",
        "json",
        "--",
        "-marker",
        &marker,
        "-port",
        &port,
    ]);
    let lines: Vec<&str> = r["first_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let said = |prefix: &str| -> &str {
        lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {lines:#?}\n{err}"))
    };
    // Its own directory is writable, nothing else is.
    assert!(said("hostile: write inside-").ends_with(": ok"));
    for outside in ["/tmp/", "../", "/var/tmp/", "/dev/shm/"] {
        let l = said(&format!("hostile: write {outside}"));
        assert!(l.contains("refused: "), "{l}");
    }
    for dir in ["/tmp", "/var/tmp", "/dev/shm"] {
        let p = std::path::Path::new(dir).join(&marker);
        assert!(!p.exists(), "{} was written", p.display());
    }
    // No network: the host's listener was never reached.
    let l = said("hostile: connect ");
    assert!(l.contains("refused: "), "{l}");
    assert!(
        listener.accept().is_err(),
        "the program reached the host's loopback"
    );
    // The fork bomb hit the process limit.
    let l = said("hostile: fork: started ");
    assert!(l.contains("resource temporarily unavailable"), "{l}");
    // Nothing it started outlives the run, and the work directory is gone.
    let leftover: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let env = std::fs::read(e.path().join("environ")).ok()?;
            let needle = format!("TWIXT_HOSTILE={marker}");
            env.windows(needle.len())
                .any(|w| w == needle.as_bytes())
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    assert!(leftover.is_empty(), "processes left behind: {leftover:?}");
    let work_dirs: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("twixt-confirm-{}-", std::process::id()))
        })
        .collect();
    assert!(work_dirs.is_empty());
    // Reported: the run did not crash the runtime; the containment in force is named.
    assert_ne!(r["outcome"], "crashed", "{r:#}");
    assert_ne!(code, Some(1));
    let c = &r["containment"];
    assert!(
        c["network"]
            .as_str()
            .unwrap()
            .starts_with("new network namespace"),
        "{c}"
    );
    assert!(c["limits"]["processes"].as_u64().unwrap() >= 128);
}

#[test]
fn without_qemu_the_error_says_how_to_install_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(["confirm", &corpus("go1.23.4/stress")])
        .env("PATH", "/nonexistent")
        .output()
        .expect("run twixt");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apt-get install qemu-user-static"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn the_help_says_it_executes_its_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .args(["confirm", "--help"])
        .output()
        .expect("run twixt");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("EXECUTES ITS INPUT"), "{help}");
    assert!(help.contains("not a sandbox"), "{help}");
}
