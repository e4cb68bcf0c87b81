//! `twixt run` on the corpus: golden reports (text and JSON) for the chain of large frames
//! before and after the #73259 fix, injections on ordinary frames (no clobber) and on the
//! assembly function that keeps live data below SP (needed), the `--all-boundaries`
//! classification of the large-frame prologue's `mov sp, x20`, and the budget of a function
//! that never returns. PCs are never hard-coded: assertions go by function and instruction.

mod common;

use std::process::Command;

use common::{check_golden, corpus};

/// Runs the CLI; returns (exit code, stdout).
fn twixt(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_twixt"))
        .current_dir(corpus().parent().expect("corpus has a parent"))
        .args(args)
        .output()
        .expect("twixt runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8 report"),
    )
}

fn json(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (code, out) = twixt(&all);
    (code, serde_json::from_str(&out).expect("JSON report"))
}

fn golden(name: &str, text: &str) {
    check_golden(&corpus().join(name), text);
}

#[test]
fn chain_of_large_frames_on_go1_23_4() {
    let args = [
        "run",
        "corpus/go1.23.4/frames",
        "main.chain1",
        "--args",
        "5",
    ];
    let (code, text) = twixt(&args);
    assert_eq!(code, 1, "windows found: exit 1\n{text}");
    golden("go1.23.4/frames.run-chain1.txt", &text);
    let (_, report) = json(&args);
    golden(
        "go1.23.4/frames.run-chain1.json",
        &format!("{}\n", serde_json::to_string_pretty(&report).unwrap()),
    );
    let call = &report["calls"][0];
    assert_eq!(call["outcome"]["kind"], "returned");
    let go: Vec<&serde_json::Value> = call["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["unwinder"] == "go")
        .collect();
    // The callee frames' split epilogues, at their depth, with the whole chain.
    for (function, depth) in [("main.chain2", 1), ("main.chain3", 2)] {
        let f = go
            .iter()
            .find(|f| f["function"] == function)
            .unwrap_or_else(|| panic!("no go window in {function}:\n{text}"));
        assert_eq!(f["depth"], depth);
        assert_eq!(f["preemptible"], true);
        assert!(
            f["instruction"]
                .as_str()
                .unwrap()
                .starts_with("add sp, sp, #0x")
        );
        let chain = f["chain"].as_array().unwrap();
        assert_eq!(chain.len(), depth + 2, "{function}: frames up to goexit");
        assert!(
            chain.last().unwrap()["truth"]
                .as_str()
                .unwrap()
                .starts_with("runtime.goexit+")
        );
        assert!(
            chain[1]["truth"]
                .as_str()
                .unwrap()
                .starts_with(if depth == 1 {
                    "main.chain1+"
                } else {
                    "main.chain2+"
                })
        );
    }
}

#[test]
fn chain_of_large_frames_is_fixed_in_go1_25_5() {
    let args = [
        "run",
        "corpus/go1.25.5/frames",
        "main.chain1",
        "--args",
        "5",
    ];
    let (_, text) = twixt(&args);
    golden("go1.25.5/frames.run-chain1.txt", &text);
    let (_, report) = json(&args);
    let call = &report["calls"][0];
    assert_eq!(call["outcome"]["kind"], "returned");
    assert_eq!(call["max_depth"], 3, "chain1 -> chain2 -> chain3 -> callee");
    let go = call["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["unwinder"] == "go")
        .count();
    assert_eq!(go, 0, "the non-leaf windows are gone in go1.25.5:\n{text}");
}

#[test]
fn injection_on_ordinary_frames_changes_nothing() {
    let args = [
        "run",
        "corpus/go1.23.4/frames",
        "main.nonleaf96",
        "--args",
        "3",
        "--inject",
    ];
    let (code, text) = twixt(&args);
    golden("go1.23.4/frames.run-nonleaf96-inject.txt", &text);
    assert_eq!(code, 0, "{text}");
    let (_, report) = json(&args);
    let inj = &report["calls"][0]["inject"];
    assert!(inj["injected"].as_u64().unwrap() > 10, "{text}");
    assert_eq!(inj["clobbers"].as_array().unwrap().len(), 0, "{text}");
}

fn classification(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["calls"][0]["inject"]["classification"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn live_data_below_sp_is_clobbered_in_assembly() {
    for version in ["go1.23.4", "go1.27.3"] {
        let bin = format!("corpus/{version}/belowsp");
        let args = [
            "run",
            &bin,
            "main.useBelow",
            "--args",
            "9",
            "--inject",
            "--all-boundaries",
        ];
        let (_, text) = twixt(&args);
        golden(&format!("{version}/belowsp.run-useBelow-all.txt"), &text);
        let (_, report) = json(&args);
        // The runtime never preempts the assembly function: no clobber window as such...
        assert_eq!(
            report["calls"][0]["inject"]["clobbers"]
                .as_array()
                .unwrap()
                .len(),
            0,
            "{text}"
        );
        // ...but injecting there destroys the word kept at -16(RSP), which is then read.
        let k = classification(&report);
        let needed: Vec<_> = k
            .iter()
            .filter(|c| c["class"] == "needed")
            .filter(|c| c["at"].as_str().unwrap().starts_with("main.keepBelow+"))
            .collect();
        assert!(!needed.is_empty(), "{version}:\n{text}");
        assert!(
            needed.iter().any(|c| c["clobbered_slots"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["location"] == "sp-0x10")),
            "{version}: the slot at -16(RSP)\n{text}"
        );
        assert!(
            needed.iter().all(|c| c["refused"] == "assembly function"),
            "{text}"
        );
    }
}

#[test]
fn large_frame_prologue_unsafe_mark_is_needed() {
    let args = [
        "run",
        "corpus/go1.23.4/frames",
        "main.nonleaf70000",
        "--args",
        "1",
        "--inject",
        "--all-boundaries",
    ];
    let (_, text) = twixt(&args);
    golden("go1.23.4/frames.run-nonleaf70000-all.txt", &text);
    let (_, report) = json(&args);
    let k = classification(&report);
    let mov = k
        .iter()
        .find(|c| c["instruction"] == "mov sp, x20")
        .unwrap_or_else(|| panic!("mov sp, x20 not classified:\n{text}"));
    assert_eq!(mov["class"], "needed", "{text}");
    assert_eq!(mov["refused"], "marked unsafe (UnsafePoint -2)");
    // The saved R29 and LR, stored below SP by the STP before it, are what is destroyed.
    let slots = mov["clobbered_slots"].as_array().unwrap();
    assert_eq!(slots.len(), 2, "{text}");
    assert!(
        slots
            .iter()
            .all(|s| s["location"].as_str().unwrap().starts_with("sp-0x1117")),
        "{text}"
    );
}

#[test]
fn a_function_that_never_returns_is_stopped_by_its_budget() {
    let args = [
        "run",
        "corpus/go1.23.4/frames",
        "main.forever",
        "--args",
        "1",
        "--max-instructions",
        "20000",
    ];
    let (code, text) = twixt(&args);
    golden("go1.23.4/frames.run-forever.txt", &text);
    assert_eq!(code, 0, "{text}");
    let (_, report) = json(&args);
    let outcome = &report["calls"][0]["outcome"];
    assert_eq!(outcome["kind"], "unanalysed");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .starts_with("budget: instruction budget of 20000 exhausted at main.forever+"),
        "{text}"
    );
}

#[test]
fn random_arguments_are_deterministic_and_reach_results() {
    let args = [
        "run",
        "corpus/go1.23.4/frames",
        "main.callee",
        "--random",
        "6",
        "--seed",
        "3",
    ];
    let (_, a) = json(&args);
    let (_, b) = json(&args);
    assert_eq!(a, b);
    for call in a["calls"].as_array().unwrap() {
        // callee(x) = 3x + 1.
        let x = u64::from_str_radix(
            call["args"][0].as_str().unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap();
        let r = call["outcome"]["results"][0].as_str().unwrap();
        assert_eq!(r, format!("{:#x}", x.wrapping_mul(3).wrapping_add(1)));
    }
}

#[test]
fn unemulated_runtime_calls_end_the_run() {
    let (_, report) = json(&["run", "corpus/go1.23.4/hello", "main.main"]);
    let outcome = &report["calls"][0]["outcome"];
    assert_eq!(outcome["kind"], "unanalysed");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .starts_with("calls runtime.")
    );
}

#[test]
fn bad_input_is_an_error() {
    let (code, _) = twixt(&["run", "corpus/go1.23.4/frames", "main.nosuch"]);
    assert_eq!(code, 2);
    let (code, _) = twixt(&[
        "run",
        "corpus/go1.23.4/frames",
        "main.callee",
        "--args",
        "x",
    ]);
    assert_eq!(code, 2);
}

#[test]
fn frame_pointer_observer_sees_63830_only_before_1_22() {
    let fp_findings = |version: &str| -> Vec<(String, String)> {
        let bin = format!("corpus/{version}/frames");
        let (_, report) = json(&["run", &bin, "main.leaf96", "--args", "3"]);
        report["calls"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["unwinder"] == "fp")
            .map(|f| {
                (
                    f["verdict"].as_str().unwrap().to_string(),
                    f["instruction"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    // The epilogue popped the frame before R29 was restored: R29 names the popped record.
    assert_eq!(
        fp_findings("go1.19.8"),
        vec![("fp-below-sp".to_string(), "sub x29, sp, #0x8".to_string())]
    );
    assert_eq!(fp_findings("go1.23.4"), vec![]);
}

/// One finding type and one constructor serve `scan` and `run`: at the same boundary they
/// give the same finding, field for field, but for what each reads from its own stack. Scan
/// plants a synthetic caller chain and poison; run executes the real call under a
/// `runtime.goexit` root, over memory the program wrote. So the value in the slot the
/// unwinder reads, the true return PC, the walk's wording and the context lines scan adds
/// may differ, and with the value read, the verdict (a 0 ends the Go walk: "did not unwind
/// completely"; poison is "unexpected return pc"). Where both read the same value, the
/// verdict must agree too. Both unwinders: the #73259 window, and go1.19.8's leaf
/// frame-pointer window (golang/go#63830).
#[test]
fn scan_and_run_give_the_same_finding_at_the_same_boundary() {
    let environment = [
        "read_value",
        "read_symbol",
        "expected_return_pc",
        "outcome",
        "context",
    ];
    let site = |f: &serde_json::Value| {
        let mut f = f.clone();
        let o = f.as_object_mut().unwrap();
        for k in environment
            .iter()
            .chain(&["verdict", "depth", "chain", "visits"])
        {
            o.remove(*k);
        }
        f
    };
    for (binary, function, unwinder) in [
        ("go1.23.4/frames", "main.nonleaf70000", "go"),
        ("go1.19.8/frames", "main.leaf96", "fp"),
    ] {
        let path = format!("corpus/{binary}");
        let (_, run) = json(&["run", &path, function, "--args", "3"]);
        let ran: Vec<serde_json::Value> = run["calls"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["depth"] == 0 && f["unwinder"] == unwinder)
            .cloned()
            .collect();
        let image = common::image(binary);
        let prog = twixt_check::GoProgram::new(&image).unwrap();
        let accept = |n: &str| n == function;
        let options = twixt_check::ScanOptions {
            filter: Some(&accept),
            ..twixt_check::ScanOptions::default()
        };
        let report = twixt_check::scan(&prog, &options).unwrap();
        let scanned: Vec<serde_json::Value> = report
            .findings
            .iter()
            .filter(|f| f.unwinder.name() == unwinder)
            .map(|f| serde_json::to_value(f).unwrap())
            .collect();
        assert!(
            !scanned.is_empty(),
            "{binary} {function}: scan finds a window"
        );
        for f in &scanned {
            let same = ran.iter().find(|r| site(r) == site(f)).unwrap_or_else(|| {
                panic!("{binary} {function}: run has no finding at scan's\n{f:#}\nrun:\n{ran:#?}")
            });
            // The same keys: one type, one constructor.
            let keys = |v: &serde_json::Value| {
                v.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| !["depth", "chain", "visits", "context"].contains(&k.as_str()))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(same), keys(f), "{binary} {function}");
            if same["read_value"] == f["read_value"] {
                assert_eq!(same["verdict"], f["verdict"], "{binary} {function}");
            }
        }
    }
}
